"""Build the train / val / test datasets of a config (DESIGN.md §3, §5).

For MMAct-layout data (synthact, mmact): train = trainlist clips minus the validation classes, val =
trainlist clips of the validation classes (model selection), test = testlist clips (novel classes). Each
dataset's labels are 0..n-1 over the sorted class names of that split. Z-score sensor statistics come from
the train split only and are cached as JSON under `data_home()/cache/` (data roots may be read-only).

Stages: "pretrain" reads the train split with `data.pretrain_span`: "clip" (default, the reference's
behaviour) spreads the frames over the whole clip with one random frame per segment (on the `frame_stride`
grid) and the sensors over the whole clip, so pretraining and the one-shot stage see the sensors on the same
time scale; "window" takes random windows of T frames at `frame_stride`, with the sensors resampled on that
short window (val and test in centred windows). "oneshot" spreads every clip's frames over the whole clip,
deterministically.

Class lists and clip lists are read from the dataset root's splits/ first, then from the repository's
splits/<dataset>/ (`split_search_dirs`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from mumae_core import paths, runtime
from mumae_core.config import Config
from mumae_core.data.clips import SensorStats
from mumae_core.data.folds import check_val_classes
from mumae_core.data.mmact import MMActDataset, read_split, recording_name
from mumae_core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# data settings that only change what a PRETRAINING clip spans: the one-shot stage's datasets do not read them
PRETRAIN_ONLY_SETTINGS = ("data.pretrain_span", "data.frame_stride")
CACHE_BUDGET_BYTES = 4 * 2**30  # cache="auto" keeps decoded frames in memory when they fit in this


def dataset_root(cfg: Config) -> Path:
    """cfg.data.root, or data_home()/synthact-<size> for SynthAct; raises if it does not exist."""
    d = cfg.data
    if d.root:
        root = Path(d.root).expanduser()
    elif d.dataset == "synthact":
        root = runtime.data_home() / f"synthact-{d.synth_size}"
    else:
        raise ConfigError(
            f"data.root is not set: point it at your {d.dataset} dataset (data.root=/path/to/it)"
        )
    if not root.is_dir():
        hint = (
            f"; generate it with `mumae synth --size {d.synth_size} --out {root}`"
            if d.dataset == "synthact"
            else ""
        )
        raise DataError(f"dataset root {root} does not exist{hint}")
    return root


def split_search_dirs(dataset: str, root: Path) -> tuple[Path, Path]:
    """Where class lists and clip lists are looked for, in this order (the first folder holding a file wins):

    1. `<dataset root>/splits/`: a dataset that ships its own lists (a generated SynthAct tree writes its
       clip lists there) describes itself best;
    2. the repository's `splits/<dataset>/` (`paths.splits_dir()`): the committed defaults (class splits of
       MMAct, SynthAct, HAPT; the MMAct reference clip lists).
    Class lists (`<kind>_classes.txt`) and split lists (`trainlist<k>.txt`, `testlist<k>.txt`) use the same
    order, file by file.
    """
    return root / "splits", paths.splits_dir() / dataset


def _find_list(dataset: str, root: Path, name: str, what: str) -> Path:
    dirs = split_search_dirs(dataset, root)
    for d in dirs:
        if (d / name).is_file():
            return d / name
    raise DataError(f"{what} {name} not found in {dirs[0]} or {dirs[1]}")


def _class_list(dataset: str, root: Path, kind: str) -> list[str]:
    p = _find_list(dataset, root, f"{kind}_classes.txt", "class list")
    names = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    if not names:
        raise DataError(f"class list {p} is empty")
    return names


def _split_file(dataset: str, root: Path, name: str) -> Path:
    return _find_list(dataset, root, name, "split list")


def split_clips(cfg: Config, root: Path) -> dict[str, list[str]]:
    """`{"train", "val", "test"}` -> `<class>/<clip>` entries, with the class-split checks."""
    ds = cfg.data.dataset
    base, novel = (_class_list(ds, root, k) for k in ("base", "novel"))
    val = list(cfg.data.val_classes) or _class_list(ds, root, "val")
    check_val_classes(val, base, "data.val_classes" if cfg.data.val_classes else f"{ds} val_classes.txt")
    if set(base) & set(novel):
        raise DataError(f"{ds}: classes {sorted(set(base) & set(novel))} are both base and novel")
    trainlist = read_split(_split_file(ds, root, f"trainlist{cfg.data.split}.txt"), known_classes=base)
    testfile = _split_file(ds, root, f"testlist{cfg.data.split}.txt")
    test = read_split(testfile, known_classes=set(base) | set(novel))
    vs = set(val)
    out = {
        "train": [c for c in trainlist if c.split("/")[0] not in vs],
        "val": [c for c in trainlist if c.split("/")[0] in vs],
        "test": test,
    }
    overlap = {c.split("/")[0] for c in out["test"]} & {c.split("/")[0] for c in trainlist}
    if overlap:
        raise DataError(f"test split {testfile} shares classes {sorted(overlap)} with the train list")
    return out


def _stats_path(cfg: Config, root: Path, train_clips: list[str], sensors: tuple[str, ...]) -> Path:
    """The cache file of the train split's z-score statistics. Its key covers the settings they depend on
    and the (size, mtime_ns) of every sensor file they read, so a file edited in place makes a new key."""
    d = cfg.data
    files = []
    for rec in sorted({(c.split("/")[0], recording_name(c.split("/")[1])) for c in train_clips}):
        for m in sensors:
            p = root / f"{m}_clip" / rec[0] / f"{rec[1]}.csv"
            try:
                st = p.stat()
                files.append([str(p.relative_to(root)), st.st_size, st.st_mtime_ns])
            except OSError:
                files.append([str(p.relative_to(root)), None, None])
    checks = [d.on_error, d.sensor_max_gap, d.sensor_span_tol, d.sensor_time_unit]
    parts = [str(root.resolve()), d.split, list(sensors), d.sensor_len, train_clips, checks, files]
    key = json.dumps(parts, sort_keys=True)
    h = hashlib.sha1(key.encode()).hexdigest()[:16]
    return runtime.data_home() / "cache" / f"sensor_stats-{cfg.data.dataset}-{h}.json"


def _cache_setting(cache: bool | str) -> bool | str:
    """True, False or "auto" from a bool or the config's string ("auto" | "true" | "false")."""
    if isinstance(cache, str) and cache != "auto":
        return cache.lower() in ("true", "1", "yes", "on")
    return cache if cache == "auto" else bool(cache)


def _cache_on(cache: bool | str, n_clips: int, frames_per_clip: int, img: int) -> bool:
    if cache != "auto":
        return bool(cache)
    return n_clips * frames_per_clip * img * img * 3 <= CACHE_BUDGET_BYTES


def build_datasets(
    cfg: Config,
    stage: str = "pretrain",
    splits: tuple[str, ...] = ("train", "val", "test"),
    cache: bool | str | None = None,
    progress: bool = True,
) -> dict:
    """`{split: Dataset}` for the config's dataset.

    stage: "pretrain" (train split as `data.pretrain_span` says) | "oneshot" (frames spread over the
    clip, deterministic). cache: True | False | "auto" (default: `cfg.data.cache` if the config has it, else
    "auto": keep decoded frames in memory when the estimate for the split fits in 4 GiB).
    """
    if stage not in ("pretrain", "oneshot"):
        raise ConfigError(f"build_datasets: stage must be 'pretrain' or 'oneshot'; got {stage!r}")
    bad = [s for s in splits if s not in ("train", "val", "test")]
    if bad:
        raise ConfigError(f"build_datasets: unknown splits {bad}; choose from train, val, test")
    d = cfg.data
    if d.dataset == "hapt":
        from mumae_core.data.hapt import hapt_datasets

        return {k: v for k, v in hapt_datasets(cfg).items() if k in splits}
    if d.dataset == "arrays":
        raise ConfigError(
            "data.dataset='arrays': build the datasets yourself with "
            "mumae_core.data.arrays.ArrayDataset(data={modality: (N, L, C) array}, labels=...) and pass them "
            "to the training functions (datasets=...)"
        )
    if d.dataset not in ("synthact", "mmact"):
        raise ConfigError(f"data.dataset must be synthact, mmact, hapt or arrays; got {d.dataset!r}")

    root = dataset_root(cfg)
    clips = split_clips(cfg, root)
    sensors = tuple(m for m in d.modalities if m != "video")
    cache = _cache_setting(getattr(d, "cache", "auto") if cache is None else cache)

    def make(split: str, stats: SensorStats | None) -> MMActDataset:
        entries = clips[split]
        classes = sorted({c.split("/")[0] for c in entries})
        if not entries:
            raise DataError(f"{d.dataset} split {split!r} is empty under {root}")
        random_windows = stage == "pretrain" and split == "train"
        window = stage == "pretrain" and d.pretrain_span == "window"
        stride = d.frame_stride if window else 0
        jitter = d.frame_stride if random_windows and not window else 0
        grid = max(stride, jitter, 1)
        per_clip = 100 // grid if random_windows else d.num_frames  # ~3 s clips at 30 fps
        if "video" in d.modalities:
            use_cache = _cache_on(cache, len(entries), per_clip, d.img_size)
        else:
            use_cache = cache is not False  # sensor recordings only: a few kB per clip
        return MMActDataset(
            root, entries, classes, d.modalities, num_frames=d.num_frames, frame_stride=stride,
            img_size=d.img_size, sensor_len=d.sensor_len, sensor_norm=d.sensor_norm, sensor_stats=stats,
            video_norm=d.video_norm, on_error=d.on_error, train=random_windows, seed=cfg.pretrain.seed,
            cache=use_cache, resize=d.resize, video_backend=d.video_backend,
            sensor_span_tol=d.sensor_span_tol, sensor_max_gap=d.sensor_max_gap,
            sensor_time_unit=d.sensor_time_unit, video_fps=d.video_fps, jitter=jitter,
        )  # fmt: skip

    stats = None
    train_ds = None
    if d.sensor_norm == "zscore" and sensors:
        path = _stats_path(cfg, root, clips["train"], sensors)
        if path.is_file():
            stats = SensorStats.from_json(path)
        else:
            train_ds = make("train", None)
            stats = train_ds.compute_sensor_stats(progress=progress)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            stats.to_json(tmp)
            tmp.replace(path)
            log.info("sensor statistics of the train split written to %s", path)
    out = {}
    for s in splits:
        if s == "train" and train_ds is not None:
            train_ds.set_sensor_stats(stats)
            out[s] = train_ds
        else:
            out[s] = make(s, stats)
    return out
