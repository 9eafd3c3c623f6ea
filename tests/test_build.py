"""build_datasets: splits, stages, train-only sensor statistics and their cache, errors."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from _fixtures import make_tree, write_split

from mumae_core import runtime
from mumae_core.config import get_config
from mumae_core.data.build import build_datasets
from mumae_core.data.clips import SensorStats
from mumae_core.data.mmact import MMActDataset
from mumae_core.errors import ConfigError, DataError

TRAIN, VAL, TEST = ["opening", "running"], ["closing", "jumping"], ["kicking", "walking"]
MODS = ("video", "acc_phone", "gyro")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """An MMAct-layout tree using MMAct class names, with its own split lists in <root>/splits/."""
    root = tmp_path_factory.mktemp("mmact_build")
    entries = make_tree(root, {c: 2 for c in TRAIN + VAL + TEST}, cams=(1,), n_frames=12, sensors=MODS[1:])
    train = [e for e in entries if e.split("/")[0] in TRAIN + VAL]
    write_split(root / "splits" / "trainlist03.txt", train)
    write_split(root / "splits" / "testlist03.txt", [e for e in entries if e.split("/")[0] in TEST])
    return root, entries


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUMAE_DATA", str(tmp_path / "data_home"))
    return tmp_path / "data_home"


def _cfg(root, **over):
    o = {"data.dataset": "mmact", "data.root": str(root), "data.modalities": ",".join(MODS)}
    o.update(over)
    return get_config("smoke", o).validate()


def test_splits_classes_and_stages(tree):
    root, _ = tree
    out = build_datasets(_cfg(root), stage="pretrain", progress=False)
    assert set(out) == {"train", "val", "test"}
    assert (
        out["train"].class_names == TRAIN
        and out["val"].class_names == VAL
        and out["test"].class_names == TEST
    )
    for ds in out.values():
        assert sorted(set(ds.labels)) == [0, 1] and len(ds) == 4
    tr = out["train"]  # pretrain_span=clip (default): jittered frames over the whole clip, on the stride grid
    assert tr.train and tr.frame_stride == 0 and tr.jitter == 2
    assert not out["val"].train and out["val"].frame_stride == 0 and out["val"].jitter == 0
    s = tr[0]
    assert s["video"].shape == (3, 4, 32, 32) and s["gyro"].shape == (32, 3)
    win = build_datasets(_cfg(root).with_overrides(["data.pretrain_span=window"]), progress=False)
    assert win["train"].frame_stride == 2 and win["train"].jitter == 0 and win["val"].frame_stride == 2
    one = build_datasets(_cfg(root), stage="oneshot", splits=("val", "test"), progress=False)
    assert set(one) == {"val", "test"}
    assert all(ds.frame_stride == 0 and not ds.train for ds in one.values())
    f = one["test"][1]["meta"]["frames"]
    assert f[0] == 0 and f[-1] == 11  # spread over the whole 12-frame clip


def test_zscore_stats_from_train_only_and_cached(tree, data_home, monkeypatch):
    root, _ = tree
    out = build_datasets(_cfg(root), splits=("val",), progress=False)
    files = list((data_home / "cache").glob("sensor_stats-*.json"))
    assert len(files) == 1
    cached = SensorStats.from_json(files[0])
    # the statistics are those of the train classes alone (each fixture class has its own offset)
    train_only = build_datasets(_cfg(root, **{"data.sensor_norm": "minmax"}), splits=("train",))["train"]
    expected = train_only.compute_sensor_stats(progress=False)
    np.testing.assert_allclose(cached.mean["gyro"], expected.mean["gyro"], rtol=1e-6)
    np.testing.assert_allclose(cached.std["acc_phone"], expected.std["acc_phone"], rtol=1e-6)
    assert out["val"].sensor_stats.mean == cached.mean
    # a second build reads the cache instead of recomputing
    monkeypatch.setattr(MMActDataset, "compute_sensor_stats", lambda *a, **k: pytest.fail("recomputed"))
    again = build_datasets(_cfg(root), progress=False)
    assert again["train"].sensor_stats.std == cached.std
    z = np.stack([again["train"][i]["gyro"].numpy() for i in range(len(again["train"]))])
    assert np.isfinite(z).all() and abs(z.mean()) < 1.0
    # another sensor_len is another cache entry
    monkeypatch.undo()
    monkeypatch.setenv("MUMAE_DATA", str(data_home))
    build_datasets(_cfg(root, **{"data.sensor_len": 64}), splits=("test",), progress=False)
    assert len(list((data_home / "cache").glob("sensor_stats-*.json"))) == 2


def test_test_train_class_overlap_is_an_error(tree, tmp_path):
    root, entries = tree
    alt = tmp_path / "alt"
    alt.mkdir()
    for sub in ("video", "acc_phone_clip", "gyro_clip"):
        (alt / sub).symlink_to(root / sub)
    write_split(alt / "splits" / "trainlist03.txt", [e for e in entries if e.split("/")[0] in TRAIN])
    write_split(
        alt / "splits" / "testlist03.txt", [e for e in entries if e.split("/")[0] in TEST + ["opening"]]
    )
    with pytest.raises(DataError, match=r"shares classes \['opening'\]"):
        build_datasets(_cfg(alt), progress=False)
    write_split(
        alt / "splits" / "trainlist03.txt", [e for e in entries if e.split("/")[0] in TRAIN + ["walking"]]
    )
    with pytest.raises(DataError, match=r"trainlist03\.txt line \d+: unknown class 'walking'"):
        build_datasets(_cfg(alt), progress=False)


def test_missing_clip_in_split_raises_or_skips(tree, tmp_path):
    root, entries = tree
    alt = tmp_path / "alt"
    alt.mkdir()
    for sub in ("video", "acc_phone_clip", "gyro_clip"):
        (alt / sub).symlink_to(root / sub)
    ghost = "opening/subject7_cam1_scene1_session1_opening"
    write_split(
        alt / "splits" / "trainlist03.txt", [e for e in entries if e.split("/")[0] in TRAIN + VAL] + [ghost]
    )
    write_split(alt / "splits" / "testlist03.txt", [e for e in entries if e.split("/")[0] in TEST])
    with pytest.raises(DataError, match="subject7_cam1_scene1_session1_opening"):
        build_datasets(_cfg(alt), progress=False)
    out = build_datasets(_cfg(alt, **{"data.on_error": "skip"}), splits=("train",), progress=False)
    assert len(out["train"]) == 4 and out["train"].skipped == 1


def test_config_errors(tmp_path, data_home):
    with pytest.raises(DataError, match="mumae synth --size smoke"):
        build_datasets(get_config("smoke").validate())
    with pytest.raises(ConfigError, match="data.root"):
        build_datasets(get_config("smoke", {"data.dataset": "mmact"}).validate())
    with pytest.raises(ConfigError, match="ArrayDataset"):
        build_datasets(get_config("smoke", {"data.dataset": "arrays"}).validate())
    with pytest.raises(ConfigError, match="stage"):
        build_datasets(get_config("smoke").validate(), stage="finetune")


def test_hapt_branch_delegates(monkeypatch):
    fake = types.ModuleType("mumae_core.data.hapt")
    fake.hapt_datasets = lambda cfg: {"train": "T", "val": "V", "test": cfg.data.dataset}
    monkeypatch.setitem(sys.modules, "mumae_core.data.hapt", fake)
    cfg = get_config("smoke", {"data.dataset": "hapt", "data.modalities": "acc,gyro"}).validate()
    assert build_datasets(cfg, splits=("val", "test")) == {"val": "V", "test": "hapt"}


@pytest.fixture(scope="module")
def synthact_smoke(tmp_path_factory):
    """A SynthAct smoke dataset written by the real generator (seconds), in the MMAct layout."""
    from mumae_core.data.synthact import generate

    return generate(tmp_path_factory.mktemp("sa") / "smoke", size="smoke", seed=0, progress=False)


def test_builds_the_synthact_smoke_dataset(synthact_smoke):
    SMOKE = synthact_smoke
    cfg = get_config("smoke", {"data.root": str(SMOKE)}).validate()
    out = build_datasets(cfg, progress=False)
    assert set(out["train"].class_names).isdisjoint(out["test"].class_names)
    assert set(out["val"].class_names) == {"closing", "jumping", "looking_around", "pocket_out", "throwing"}
    assert len(out["train"].class_names) == 18 and len(out["test"].class_names) == 10
    s = out["train"][0]
    assert s["video"].shape == (3, cfg.data.num_frames, cfg.data.img_size, cfg.data.img_size)
    for m in cfg.sensor_modalities:
        assert s[m].shape == (cfg.data.sensor_len, 3) and np.isfinite(s[m].numpy()).all()


def test_data_home_is_isolated(data_home):
    assert runtime.data_home() == data_home


@pytest.mark.parametrize("setting, expected", [("false", False), ("true", True), ("auto", True)])
def test_cache_setting_is_honoured_for_sensor_only_data(synthact_smoke, setting, expected):
    over = {"data.root": str(synthact_smoke), "data.modalities": "acc_watch,gyro", "data.cache": setting}
    cfg = get_config("smoke", over).validate()
    ds = build_datasets(cfg, splits=("val",), progress=False)["val"]
    assert ds.cache is expected


def test_val_classes_override_moves_classes_between_train_and_val(tree):
    root, _ = tree
    out = build_datasets(_cfg(root, **{"data.val_classes": "opening,running"}), progress=False)
    assert out["train"].class_names == VAL and out["val"].class_names == TRAIN
    assert out["test"].class_names == TEST
    with pytest.raises(DataError, match=r"data\.val_classes: classes \['kicking'\] are not base classes"):
        build_datasets(_cfg(root, **{"data.val_classes": "opening,kicking"}), progress=False)
    with pytest.raises(DataError, match="at least 2 validation classes and 2 training classes"):
        build_datasets(_cfg(root, **{"data.val_classes": "opening"}), progress=False)
