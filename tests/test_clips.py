"""Sensor reading, resampling, normalisation, video normalisation and collate (mumae_core.data.clips)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mumae_core.data.clips import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SensorStats,
    collate,
    normalize_sensor,
    normalize_video,
    read_sensor_csv,
    resample_sensor,
)
from mumae_core.errors import DataError


def _write(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------------- read_sensor_csv
def test_csv_with_and_without_header_read_the_same(tmp_path):
    rows = "0.0,1,2,3\n0.02,4,5,6\n0.05,7,8,9.5\n"
    t1, x1 = read_sensor_csv(_write(tmp_path, "timestamp,x,y,z\n" + rows, "a.csv"))
    t2, x2 = read_sensor_csv(_write(tmp_path, rows, "b.csv"))
    assert t1.dtype == np.float64 and x1.dtype == np.float32 and x1.shape == (3, 3)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_allclose(x1[2], [7, 8, 9.5])


def test_csv_unsorted_and_duplicate_timestamps(tmp_path):
    p = _write(tmp_path, "t,x,y,z\n3,30,0,0\n1,10,0,0\n2,20,0,0\n2,99,0,0\n\n4,40,0,0,extra\n")
    t, xyz = read_sensor_csv(p)
    np.testing.assert_array_equal(t, [1, 2, 3, 4])
    np.testing.assert_array_equal(xyz[:, 0], [10, 20, 30, 40])  # the first row of a repeated time is kept


def test_csv_epoch_millisecond_timestamps_keep_precision(tmp_path):
    p = _write(tmp_path, "1540000000000.5,1,1,1\n1540000000020.5,2,2,2\n")
    t, _ = read_sensor_csv(p)
    assert t[1] - t[0] == 20.0


@pytest.mark.parametrize(
    "text, words",
    [
        (None, "does not exist"),
        ("", "empty"),
        ("\n  \n", "empty"),
        ("t,x,y,z\n", "no data rows"),
        ("0,1,2\n1,2,3\n", "4 columns"),
        ("0,1,2,3\n1,2,3\n", "4 columns"),
        ("0,1,2,3\n1,2,abc,3\n", "non-numeric"),
        ("0,1,2,3\n1,2,,3\n", "non-numeric"),
        ("0,1,2,3\n1,2,nan,3\n", "NaN"),
        ("0,1,2,3\n", "fewer than 2"),
        ("5,1,2,3\n5,1,2,3\n", "fewer than 2"),
    ],
)
def test_csv_bad_inputs_name_the_file(tmp_path, text, words):
    p = tmp_path / "bad_sensor.csv"
    if text is not None:
        p.write_text(text)
    with pytest.raises(DataError, match=words) as e:
        read_sensor_csv(p)
    assert "bad_sensor.csv" in str(e.value)


# ---------------------------------------------------------------------- resampling
def test_resample_uneven_sine_matches_analytic_values():
    rng = np.random.default_rng(0)
    t = np.arange(0, 2, 0.01) + rng.uniform(-0.004, 0.004, 200)  # 100 Hz with timestamp jitter
    f = 1.5
    xyz = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t), 3 * t], 1)
    out = resample_sensor(t, xyz, 0.3, 1.7, 64)
    tt = np.linspace(0.3, 1.7, 64)
    truth = np.stack([np.sin(2 * np.pi * f * tt), np.cos(2 * np.pi * f * tt), 3 * tt], 1)
    assert out.shape == (64, 3) and out.dtype == np.float32
    err = np.abs(out - truth).max(0)
    assert err[0] < 5e-3 and err[1] < 5e-3 and err[2] < 1e-5  # linear channel is exact
    # nearest-lower-index selection (the reference) is far worse on the same data
    near = xyz[np.searchsorted(t, tt, side="right") - 1]
    assert np.abs(near[:, 0] - truth[:, 0]).max() > 3 * err[0]


def test_resample_window_outside_the_recording():
    t = np.linspace(0, 1, 11)
    xyz = np.stack([t, t, t], 1)
    out = resample_sensor(t, xyz, 0.0, 1.05, 5)  # within one sample interval: the edge value is held
    assert out[-1, 0] == pytest.approx(1.0)
    with pytest.raises(DataError, match="outside the recording"):
        resample_sensor(t, xyz, 0.5, 1.5, 5)
    with pytest.raises(DataError, match="outside the recording"):
        resample_sensor(t, xyz, -0.5, 0.5, 5)


# ---------------------------------------------------------------------- normalisation
def test_sensor_stats_values_json_and_zscore(tmp_path):
    rng = np.random.default_rng(1)
    a = [rng.normal(2.0, 3.0, (50, 3)) for _ in range(4)]
    s = SensorStats.from_arrays({"acc": a})
    allx = np.concatenate(a)
    np.testing.assert_allclose(s.mean["acc"], allx.mean(0))
    np.testing.assert_allclose(s.std["acc"], allx.std(0))
    s.to_json(tmp_path / "st.json")
    s2 = SensorStats.from_json(tmp_path / "st.json")
    assert s2.mean == s.mean and s2.std == s.std
    z = normalize_sensor(allx, "zscore", s2, "acc")
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
    with pytest.raises(DataError, match="gyro"):
        normalize_sensor(allx, "zscore", s2, "gyro")
    with pytest.raises(DataError, match="zscore"):
        normalize_sensor(allx, "zscore", None, "acc")


def test_sensor_stats_constant_channel_is_an_error():
    x = np.random.default_rng(0).normal(size=(40, 3))
    x[:, 2] = 9.81
    with pytest.raises(DataError, match=r"'acc_watch' channel 2"):
        SensorStats.from_arrays({"acc_watch": [x, x]})


def test_minmax_per_clip_and_constant_channel():
    x = np.stack([np.linspace(-2, 6, 20), np.full(20, 4.0), np.sin(np.arange(20))], 1)
    y = normalize_sensor(x, "minmax")
    assert not np.isnan(y).any()
    np.testing.assert_allclose(y[:, 0], np.linspace(0, 1, 20), atol=1e-6)
    assert (y[:, 1] == 0).all()
    assert y[:, 2].min() == 0 and y[:, 2].max() == pytest.approx(1)
    with pytest.raises(DataError, match="sensor_norm"):
        normalize_sensor(x, "robust")


def test_normalize_video_layout_and_values():
    x = np.zeros((4, 6, 5, 3), dtype=np.uint8)
    x[2, :, :, 0] = 255
    v = normalize_video(x, "none")
    assert v.shape == (3, 4, 6, 5) and v.dtype == torch.float32
    assert v[0, 2].eq(1).all() and v[0, 1].eq(0).all() and v[1].eq(0).all()
    w = normalize_video(x, "imagenet")
    assert w[0, 2, 0, 0].item() == pytest.approx((1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], rel=1e-5)
    assert w[2, 0, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[2] / IMAGENET_STD[2], rel=1e-5)
    with pytest.raises(DataError, match="uint8"):
        normalize_video(x.astype(np.float32))


# ---------------------------------------------------------------------- collate
def test_collate_shapes_and_errors():
    s = [
        {"video": torch.zeros(3, 2, 4, 4), "acc": torch.ones(8, 3), "label": i, "meta": {"clip": f"c{i}"}}
        for i in range(3)
    ]
    b = collate(s)
    assert b["video"].shape == (3, 3, 2, 4, 4) and b["acc"].shape == (3, 8, 3)
    assert b["label"].dtype == torch.long and b["label"].tolist() == [0, 1, 2]
    assert [m["clip"] for m in b["meta"]] == ["c0", "c1", "c2"]
    s[1]["acc"] = torch.ones(7, 3)
    with pytest.raises(DataError, match="acc"):
        collate(s)
    with pytest.raises(DataError):
        collate([])
