"""The MMAct-layout reader (mumae_core.data.mmact) on tiny trees written by tests/_fixtures.py."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch
from _fixtures import SENSORS, clip_name, frame_value, make_tree, write_csv, write_split, write_video_ffmpeg

from mumae_core.data.clips import collate
from mumae_core.data.mmact import MMActDataset, frame_window, parse_clip_name, read_split, recording_name
from mumae_core.errors import DataError

N_FRAMES = 20
CLASSES = ["closing", "jumping"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmact")
    entries = make_tree(root, {"closing": 2, "jumping": 1}, cams=(1, 2), n_frames=N_FRAMES)
    return root, entries


def _ds(root, entries, **kw):
    args = dict(
        num_frames=4, frame_stride=2, img_size=32, sensor_len=16, sensor_norm="none", video_norm="none"
    )
    args.update(kw)
    mods = args.pop("modalities", ("video",) + SENSORS)
    return MMActDataset(root, entries, CLASSES, mods, **args)


def _frame_ids(video: torch.Tensor) -> list[int]:
    """Recover fixture frame indices from the grey level of each frame of a (C, T, H, W) video in [0, 1]."""
    levels = video.mean(dim=(0, 2, 3)).numpy() * 255
    table = np.array([frame_value(k) for k in range(30)])
    return [int(np.abs(table - v).argmin()) for v in levels]


# ---------------------------------------------------------------------- names and lists
def test_parse_clip_name_and_recording():
    name = "subject12_cam3_scene2_session5_looking_around"
    assert parse_clip_name(name) == dict(subject=12, camera=3, scene=2, session=5, cls="looking_around")
    assert recording_name(name) == "subject12_scene2_session5_looking_around"
    with pytest.raises(DataError, match="does not follow"):
        parse_clip_name("clip_0001")


def test_read_split(tmp_path):
    p = write_split(tmp_path / "list.txt", ["closing/a", "", "jumping/b", "  "])
    assert read_split(p) == ["closing/a", "jumping/b"]
    assert read_split(p, known_classes=CLASSES) == ["closing/a", "jumping/b"]
    with pytest.raises(DataError, match=r"list\.txt line 3: unknown class 'jumping'"):
        read_split(p, known_classes=["closing"])
    write_split(tmp_path / "bad.txt", ["closing/a", "nonsense"])
    with pytest.raises(DataError, match=r"bad\.txt line 2"):
        read_split(tmp_path / "bad.txt")
    with pytest.raises(DataError, match="does not exist"):
        read_split(tmp_path / "missing.txt")


def test_frame_window():
    idx, a, b = frame_window(20, 4, 2, train=False)
    assert idx.tolist() == [6, 8, 10, 12] and (a, b) == (6, 12)  # centred
    idx, a, b = frame_window(20, 4, 0, train=False)
    assert idx[0] == 0 and idx[-1] == 19 and (a, b) == (0, 19)
    idx, a, b = frame_window(5, 4, 2, train=False)  # shorter than the window: last frame repeats
    assert idx.tolist() == [0, 2, 4, 4] and (a, b) == (0, 6)
    starts = {int(frame_window(30, 4, 3, True, np.random.default_rng(s))[0][0]) for s in range(60)}
    assert all(s % 3 == 0 for s in starts) and len(starts) > 3 and max(starts) <= 30 - 10


def test_frame_window_jittered_whole_clip():
    """pretrain_span=clip: one random frame per segment of the grid, window = the whole clip."""
    draws = [frame_window(40, 4, 0, True, np.random.default_rng(s), jitter=2) for s in range(50)]
    grid = set(range(0, 40, 2)) | {39}
    for idx, a, b in draws:
        assert (a, b) == (0, 39) and len(idx) == 4 and set(idx.tolist()) <= grid
        assert (np.diff(idx) > 0).all()  # one frame per consecutive segment, in order
    firsts = {int(i[0]) for i, _, _ in draws}
    assert firsts == {0, 2, 4, 6, 8, 10}  # the first segment of the 21-frame grid holds 6 frames; all drawn
    same = frame_window(40, 4, 0, True, np.random.default_rng(7), jitter=2)[0]
    assert same.tolist() == draws[7][0].tolist()  # deterministic per rng
    assert frame_window(40, 4, 0, False, jitter=2)[0].tolist() == [0, 13, 26, 39]  # eval: the spread
    short = frame_window(5, 8, 0, True, np.random.default_rng(0), jitter=2)[0]  # fewer grid frames than T
    assert short.tolist() == [0, 0, 2, 2, 2, 2, 4, 4]


# ---------------------------------------------------------------------- items
def test_items_shapes_labels_groups(tree):
    root, entries = tree
    ds = _ds(root, entries, video_norm="imagenet", sensor_norm="minmax")
    assert len(ds) == 6 and ds.class_names == CLASSES and ds.modalities == ("video",) + SENSORS
    assert ds.labels == [0, 0, 0, 0, 1, 1]
    assert ds.groups[0] == ds.groups[1] != ds.groups[2]  # two camera views of one recording
    s = ds[4]
    assert s["video"].shape == (3, 4, 32, 32) and s["video"].dtype == torch.float32
    for m in SENSORS:
        assert s[m].shape == (16, 3) and s[m].dtype == torch.float32 and torch.isfinite(s[m]).all()
    assert s["label"] == 1
    meta = s["meta"]
    assert meta["cls"] == "jumping" and meta["camera"] == 1 and meta["recording"] == ds.groups[4]
    assert meta["path"].endswith(f"{meta['clip']}.mp4")
    b = collate([ds[0], ds[5]])
    assert b["video"].shape == (2, 3, 4, 32, 32) and b["label"].tolist() == [0, 1]


def test_frames_read_are_the_window(tree):
    root, entries = tree
    ds = _ds(root, entries)
    s = ds[0]
    assert s["meta"]["frames"] == [6, 8, 10, 12]  # centred in 20 frames
    assert _frame_ids(s["video"]) == s["meta"]["frames"]
    spread = _ds(root, entries, frame_stride=0, num_frames=5)[0]
    assert spread["meta"]["frames"] == [0, 5, 10, 14, 19]
    assert _frame_ids(spread["video"]) == spread["meta"]["frames"]


def test_sensor_window_follows_the_video_window(tree):
    root, entries = tree
    for kw in (
        dict(), dict(frame_stride=0), dict(frame_stride=3, train=True, seed=5),
        dict(frame_stride=0, jitter=2, train=True, seed=5),
    ):  # fmt: skip
        s = _ds(root, entries, **kw)[2]
        f = s["meta"]["frames"]
        if kw.get("jitter"):  # jittered frames, the sensors over the whole clip
            f = [0, s["meta"]["num_frames_clip"] - 1]
        # fixture: sensor x = seconds since the recording start; frame k is at k / 30 s
        x = s["acc_watch"][:, 0].numpy()
        np.testing.assert_allclose([x[0], x[-1]], [f[0] / 30, f[-1] / 30], atol=1e-4)
        np.testing.assert_allclose(x, np.linspace(f[0], f[-1], 16) / 30, atol=1e-4)


def test_random_windows_deterministic_per_seed_epoch_index(tree):
    root, entries = tree
    ds = _ds(root, entries, frame_stride=1, train=True, seed=3)
    a = [ds[i]["meta"]["frames"][0] for i in range(len(ds))]
    assert a == [ds[i]["meta"]["frames"][0] for i in range(len(ds))]
    ds.set_epoch(1)
    b = [ds[i]["meta"]["frames"][0] for i in range(len(ds))]
    ds2 = _ds(root, entries, frame_stride=1, train=True, seed=3)
    ds2.set_epoch(1)
    assert b == [ds2[i]["meta"]["frames"][0] for i in range(len(ds2))]
    assert a != b  # 17 possible starts for 6 clips: a collision on all six is a bug
    assert torch.equal(ds[3]["acc_phone"], ds2[3]["acc_phone"])


def test_cache_gives_identical_items_and_skips_decoding(tree, monkeypatch):
    root, entries = tree
    plain = _ds(root, entries, train=True, seed=1)
    cached = _ds(root, entries, train=True, seed=1, cache=True)
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(plain)):
            p, c = plain[i], cached[i]
            for m in ("video",) + SENSORS:
                assert torch.equal(p[m], c[m]), (epoch, i, m)
    # stride 2 over 20 frames: the cache holds the 10 grid frames of each clip (+ sensor recordings)
    assert cached.cache_nbytes() >= len(cached) * 10 * 32 * 32 * 3
    monkeypatch.setattr(MMActDataset, "_open", lambda *a: pytest.fail("decoded again despite the cache"))
    monkeypatch.setattr("mumae_core.data.mmact.read_sensor_csv", lambda p: pytest.fail("CSV read again"))
    for epoch in range(2, 6):
        cached.set_epoch(epoch)
        for i in range(len(cached)):
            cached[i]


def test_dataloader_workers_match_the_main_process(tree):
    root, entries = tree
    ds = _ds(root, entries, train=True, seed=2, frame_stride=1)
    ds.set_epoch(4)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=1, collate_fn=collate)
    batches = list(loader)
    assert [m["frames"] for b in batches for m in b["meta"]] == [
        ds[i]["meta"]["frames"] for i in range(len(ds))
    ]
    assert torch.equal(batches[1]["gyro"], collate([ds[3], ds[4], ds[5]])["gyro"])


def test_video_only_and_sensor_only(tree):
    root, entries = tree
    v = _ds(root, entries, modalities=("video",))[0]
    assert set(v) == {"video", "label", "meta"}
    s = _ds(root, entries, modalities=("gyro",))[1]
    assert set(s) == {"gyro", "label", "meta"} and s["gyro"].shape == (16, 3)
    assert s["meta"]["frames"] == [6, 8, 10, 12]  # the window still comes from the video's length


def test_sensor_only_without_video_files(tmp_path):
    entries = make_tree(tmp_path, {"closing": 1}, cams=(1,), n_frames=10, sensors=("gyro",))
    shutil.rmtree(tmp_path / "video")
    s = MMActDataset(tmp_path, entries, ["closing"], ("gyro",), sensor_len=8, sensor_norm="none")[0]
    x = s["gyro"][:, 0].numpy()  # the whole recording
    assert x[0] == pytest.approx(0, abs=1e-5) and x[-1] == pytest.approx(10 / 30, abs=1e-5)


def test_real_h264_written_by_ffmpeg(tmp_path):
    name = clip_name(1, 1, 1, 1, "closing")
    write_video_ffmpeg(tmp_path / "video" / "closing" / f"{name}.mp4", seconds=1.0, size=64)
    ds = MMActDataset(tmp_path, [f"closing/{name}"], ["closing"], ("video",), num_frames=8, img_size=32)
    v = ds[0]["video"]
    assert v.shape == (3, 8, 32, 32) and torch.isfinite(v).all() and v.std() > 0.1
    assert ds[0]["meta"]["num_frames_clip"] == 30


def test_recording_shorter_than_the_window(tmp_path):
    entries = make_tree(tmp_path, {"closing": 1}, cams=(1,), n_frames=5, sensors=("acc_phone",))
    ds = MMActDataset(
        tmp_path, entries, ["closing"], ("video", "acc_phone"), num_frames=4, frame_stride=2, img_size=32,
        sensor_len=7, sensor_norm="none", video_norm="none", train=True,
    )  # fmt: skip
    s = ds[0]
    assert s["meta"]["frames"] == [0, 2, 4, 4]
    assert _frame_ids(s["video"]) == [0, 2, 4, 4]
    x = s["acc_phone"][:, 0].numpy()  # window spans frames 0..6, the clip ends at frame 4: hold
    np.testing.assert_allclose(x, np.minimum(np.linspace(0, 6, 7), 4) / 30, atol=1e-4)


# ---------------------------------------------------------------------- bad inputs
def _broken_tree(tmp_path):
    entries = make_tree(tmp_path, {"closing": 3}, cams=(1,), n_frames=8, sensors=("acc_phone", "gyro"))
    return entries, ("video", "acc_phone", "gyro")


def test_missing_and_empty_files_raise_or_skip(tmp_path, caplog):
    entries, mods = _broken_tree(tmp_path)
    rec = recording_name(entries[1].split("/")[1])
    (tmp_path / "gyro_clip" / "closing" / f"{rec}.csv").write_text("")  # empty sensor CSV
    (tmp_path / "video" / "closing" / f"{entries[2].split('/')[1]}.mp4").write_bytes(b"")  # empty video
    ghost = "closing/" + clip_name(9, 1, 1, 1, "closing")  # listed, not on disk
    clips = entries + [ghost]
    with pytest.raises(DataError, match="3 of 4 clips") as e:
        MMActDataset(tmp_path, clips, ["closing"], mods, sensor_norm="none")
    msg = str(e.value)
    assert "subject9_cam1" in msg and "missing" in msg and f"{rec}.csv (empty)" in msg
    with caplog.at_level(logging.WARNING, logger="mumae_core.data.mmact"):
        ds = MMActDataset(tmp_path, clips, ["closing"], mods, sensor_norm="none", on_error="skip")
    assert len(ds) == 1 and ds.skipped == 3
    assert "skipped 3 of 4 clips" in caplog.text
    # the video-only view of the same tree only needs the videos
    assert len(MMActDataset(tmp_path, clips, ["closing"], ("video",), on_error="skip")) == 2


def test_missing_sensor_csv(tmp_path):
    entries, mods = _broken_tree(tmp_path)
    rec = recording_name(entries[0].split("/")[1])
    (tmp_path / "acc_phone_clip" / "closing" / f"{rec}.csv").unlink()
    with pytest.raises(DataError, match=rf"acc_phone_clip/closing/{rec}\.csv \(missing\)"):
        MMActDataset(tmp_path, entries, ["closing"], mods, sensor_norm="none")


def test_empty_dataset_is_an_error(tmp_path):
    entries, mods = _broken_tree(tmp_path)
    shutil.rmtree(tmp_path / "gyro_clip")
    with pytest.raises(DataError, match="empty dataset"):
        MMActDataset(tmp_path, entries, ["closing"], mods, sensor_norm="none", on_error="skip")
    with pytest.raises(DataError, match="empty dataset"):
        MMActDataset(tmp_path, [], ["closing"], mods, sensor_norm="none")


def test_corrupt_video_names_the_file(tmp_path):
    entries, mods = _broken_tree(tmp_path)
    bad = tmp_path / "video" / "closing" / f"{entries[0].split('/')[1]}.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    ds = MMActDataset(tmp_path, entries, ["closing"], mods, sensor_norm="none", img_size=32)
    with pytest.raises(DataError, match="cannot decode video") as e:
        ds[0]
    assert str(bad) in str(e.value)
    assert ds[1]["video"].shape[1] == 8


def test_bad_sensor_values_name_the_file(tmp_path):
    entries, mods = _broken_tree(tmp_path)
    rec = recording_name(entries[0].split("/")[1])
    p = tmp_path / "gyro_clip" / "closing" / f"{rec}.csv"
    p.write_text("t,x,y,z\n0,1,2,3\n10,1,oops,3\n")
    ds = MMActDataset(tmp_path, entries, ["closing"], mods, sensor_norm="none", img_size=32)
    with pytest.raises(DataError, match="non-numeric") as e:
        ds[0]
    assert str(p) in str(e.value)


def test_class_and_name_checks(tree):
    root, entries = tree
    with pytest.raises(DataError, match="class 'jumping' is not in class_names"):
        MMActDataset(root, entries, ["closing"], ("video",))
    wrong = "closing/" + entries[-1].split("/")[1]  # a jumping clip filed under closing
    with pytest.raises(DataError, match="differs from its folder"):
        MMActDataset(root, [wrong], CLASSES, ("video",))
    with pytest.raises(DataError, match="does not exist"):
        MMActDataset(root / "nope", entries, CLASSES, ("video",))


def test_constant_sensor_channel(tmp_path):
    entries = make_tree(tmp_path, {"closing": 2}, cams=(1,), n_frames=8, sensors=("orientation",))
    for e in entries:
        rec = recording_name(e.split("/")[1])
        t = np.linspace(0, 1000 * 8 / 30, 30)  # the 8-frame clip's span (a longer one is refused)
        xyz = np.stack([np.sin(t), np.full(30, 180.0), np.cos(t)], 1)
        write_csv(tmp_path / "orientation_clip" / "closing" / f"{rec}.csv", t, xyz, header=False)
    ds = MMActDataset(tmp_path, entries, ["closing"], ("orientation",), sensor_len=8, sensor_norm="minmax")
    x = ds[0]["orientation"]
    assert torch.isfinite(x).all() and (x[:, 1] == 0).all()
    with pytest.raises(DataError, match="'orientation' channel 1"):
        ds.compute_sensor_stats(progress=False)


def test_zscore_needs_stats(tree):
    root, entries = tree
    ds = _ds(root, entries, sensor_norm="zscore")
    with pytest.raises(DataError, match="SensorStats"):
        ds[0]
    stats = ds.compute_sensor_stats(progress=False)
    assert set(stats.mean) == set(SENSORS) and stats.count["gyro"] == 3 * 16  # one per recording
    ds.set_sensor_stats(stats)
    assert torch.isfinite(ds[0]["gyro"]).all()
