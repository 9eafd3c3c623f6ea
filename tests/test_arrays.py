"""ArrayDataset: validation with clear errors, samples, normalisation, npz, class selection, episodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mumae_core.data.arrays import ArrayDataset
from mumae_core.data.clips import collate
from mumae_core.data.episodes import load_episode, sample_episodes, validate_episodes
from mumae_core.errors import DataError


def _data(n=12, L=20, seed=0):
    rng = np.random.default_rng(seed)
    return {"acc": rng.normal(1.0, 2.0, size=(n, L, 3)), "emg": rng.normal(size=(n, L, 2)).astype(np.float32)}


def test_sample_contract_and_defaults():
    labels = np.arange(12) % 3
    ds = ArrayDataset(_data(), labels, subjects=np.arange(12) // 4)
    assert len(ds) == 12 and ds.modalities == ("acc", "emg")
    assert ds.class_names == ["class_0", "class_1", "class_2"]
    assert ds.labels == labels.tolist() and all(type(y) is int for y in ds.labels)
    assert ds.groups == [str(i) for i in range(12)]
    s = ds[5]
    assert s["acc"].dtype == torch.float32 and s["acc"].shape == (20, 3) and s["emg"].shape == (20, 2)
    assert s["label"] == 2 and s["meta"]["subject"] == 1 and type(s["meta"]["subject"]) is int
    np.testing.assert_allclose(s["acc"].numpy(), _data()["acc"][5].astype(np.float32))
    s["acc"].zero_()  # a sample is a copy: editing it leaves the dataset alone
    assert ds[5]["acc"].abs().sum() > 0
    batch = collate([ds[i] for i in range(4)])
    assert batch["acc"].shape == (4, 20, 3) and batch["label"].tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(labels=[0] * 11), "'acc' has 12 items but labels has 11"),
        (dict(labels=np.zeros((12, 1), int)), "labels must be 1-D"),
        (dict(labels=["a"] * 12), "labels must be integers"),
        (dict(labels=[0] * 11 + [3], class_names=["a", "b", "c"]), "label 3 of item 11"),
        (dict(labels=[0] * 11 + [-1]), "label -1 of item 11"),
        (dict(groups=["g"] * 5), "groups has 5 entries"),
        (dict(subjects=[1, 2]), "subjects has 2 entries"),
        (dict(class_names=["a", "a"]), "duplicates"),
        (dict(sensor_norm="zscore"), "needs stats"),
    ],
)
def test_invalid_inputs(kwargs, match):
    args = dict(data=_data(), labels=[0] * 12)
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        ArrayDataset(**args)


def test_shape_and_nan_errors_name_modality_and_item():
    d = _data()
    d["emg"] = d["emg"][:, :, 0]
    with pytest.raises(DataError, match=r"'emg' must be \(N, L, C\)"):
        ArrayDataset(d, [0] * 12)
    d = _data()
    d["emg"] = d["emg"][:10]
    with pytest.raises(DataError, match="'emg' has 10 items"):
        ArrayDataset(d, [0] * 12)
    d = _data()
    d["acc"][7, 3, 1] = np.nan
    with pytest.raises(DataError, match=r"'acc' has 1 NaN/inf.*item 7 \(sample 3, channel 1\)"):
        ArrayDataset(d, [0] * 12)
    d = _data()
    d["emg"][2, 0, 0] = np.inf
    with pytest.raises(DataError, match="'emg'.*item 2"):
        ArrayDataset(d, [0] * 12)
    with pytest.raises(DataError, match="non-empty dict"):
        ArrayDataset({}, [0] * 12)
    with pytest.raises(DataError, match="'label' cannot be"):
        ArrayDataset({"label": _data()["acc"]}, [0] * 12)


def test_zscore_with_train_stats_and_minmax_constant_channel():
    train = ArrayDataset(_data(seed=1), np.arange(12) % 3)
    stats = train.compute_sensor_stats()
    test = ArrayDataset(_data(seed=2), np.arange(12) % 3, sensor_norm="zscore", stats=stats)
    raw = _data(seed=2)["acc"][4].astype(np.float32)
    expect = (raw - np.float32(stats.mean["acc"])) / np.float32(stats.std["acc"])
    np.testing.assert_allclose(test[4]["acc"].numpy(), expect, rtol=1e-5, atol=1e-6)
    allz = torch.cat(
        [
            ArrayDataset(_data(seed=1), np.arange(12) % 3, sensor_norm="zscore", stats=stats)[i]["acc"]
            for i in range(12)
        ]
    )
    np.testing.assert_allclose(allz.mean(0).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(allz.std(0, unbiased=False).numpy(), 1, atol=1e-4)

    d = _data()
    d["acc"][:, :, 2] = 5.0  # a constant channel
    mm = ArrayDataset(d, [0] * 12, sensor_norm="minmax")
    x = mm[0]["acc"]
    assert torch.isfinite(x).all() and float(x.min()) == 0.0 and float(x[:, :2].max()) == 1.0
    assert torch.all(x[:, 2] == 0)


def test_from_npz_and_select_classes(tmp_path):
    d = _data()
    labels = np.arange(12) % 3
    path = tmp_path / "toy.npz"
    np.savez(
        path,
        labels=labels,
        class_names=np.array(["run", "sit", "walk"]),
        groups=np.array([f"r{i // 2}" for i in range(12)]),
        **d,
    )
    ds = ArrayDataset.from_npz(path)
    assert ds.class_names == ["run", "sit", "walk"] and ds.groups[3] == "r1"
    np.testing.assert_allclose(ds[3]["emg"].numpy(), d["emg"][3])
    only = ArrayDataset.from_npz(path, modalities=["emg"])
    assert only.modalities == ("emg",)
    with pytest.raises(DataError, match="not found"):
        ArrayDataset.from_npz(path, modalities=["gyro"])

    sub = ds.select_classes(["walk", "run"])
    assert sub.class_names == ["walk", "run"] and len(sub) == 8
    assert sub.labels == [1, 0, 1, 0, 1, 0, 1, 0]  # items 0 (run), 2 (walk), 3 (run), ... relabelled
    np.testing.assert_allclose(sub[1]["acc"].numpy(), d["acc"][2].astype(np.float32))
    with pytest.raises(DataError, match="unknown classes"):
        ds.select_classes(["swim"])


def test_episodes_over_arrays_respect_groups():
    labels = np.repeat(np.arange(5), 6)
    groups = [f"rec{i // 3}" for i in range(30)]  # 2 recordings per class
    ds = ArrayDataset(_data(n=30), labels, groups=groups)
    eps = sample_episodes(ds.labels, 20, 5, 1, 2, seed=0, groups=ds.groups)
    validate_episodes(eps, ds.labels, ds.groups)
    b = load_episode(ds, eps[0])
    assert b.support["acc"].shape == (5, 20, 3) and b.query["emg"].shape == (10, 20, 2)
    assert [ds.labels[i] for i in eps[0].support] == eps[0].classes
