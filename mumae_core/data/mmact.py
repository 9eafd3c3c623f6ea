"""Reader for the MMAct on-disk layout (DESIGN.md §3), which SynthAct also writes.

    <root>/video/<class>/<clip>.mp4                  clip = subject<k>_cam<c>_scene<s>_session<e>_<class>
    <root>/<sensor>_clip/<class>/<recording>.csv     recording = clip without its cam<c> token

All camera views of a recording share its sensor files. Split lists hold one `<class>/<clip>` per line.

Temporal alignment (the reference does none in pretraining): a clip of n frames spans n frame periods,
and its sensor CSVs are cut to the same span (as in MMAct; SynthAct writes timestamps over [0, n/fps]).
So frame f, shown at f/fps, maps to the sensor time `t_first + (f / n) * (t_last - t_first)` (fps cancels).
The video window's span, first to last frame shown, is mapped so, and each sensor is linearly interpolated
there onto `sensor_len` evenly spaced times. A clip shorter than the window repeats its last frame and the
sensor holds its value at that frame over the same stretch, so the two stay in step.

Time checks (when a clip is first read): each sensor's span must match the clip's duration (n frames /
`video_fps`) and the other sensors' start and end within `sensor_span_tol` seconds, and no gap between two
samples may exceed `sensor_max_gap` mean sample periods; otherwise the clip is a DataError (with
`on_error="skip"`: warned about, counted and replaced by the next good clip).

Cache (`cache=True`): decoded uint8 frames and parsed sensor recordings stay in memory after the first read.
For random training windows (`train=True`, `frame_stride=s>0`) the window start is always a multiple of s,
so every frame a window can show lies on the grid 0, s, 2s, ... (plus the last frame), and jittered
whole-clip sampling (`frame_stride=0`, `jitter=s`) draws from the same grid; the cache keeps that grid,
n/s frames of `img_size^2 * 3` bytes per clip (default profile: ~46 frames * 37.6 kB = 1.7 MB per 90-frame
clip). Deterministic datasets cache exactly the T frames they show. Results are identical with and
without the cache. The cache lives in the process that reads: use num_workers=0 or persistent workers.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mumae_core.data.clips import (
    SensorStats,
    check_sensor_gaps,
    interp_sensor,
    normalize_sensor,
    normalize_video,
    read_sensor_csv,
    resample_sensor,
)
from mumae_core.data.video import open_video
from mumae_core.errors import DataError

log = logging.getLogger(__name__)

_CLIP_RE = re.compile(r"^subject(\d+)_cam(\d+)_scene(\d+)_session(\d+)_(.+)$")
_CAM_RE = re.compile(r"^cam\d+$")


# ---------------------------------------------------------------------- names and lists
def parse_clip_name(name: str) -> dict:
    """`subject<k>_cam<c>_scene<s>_session<e>_<class>` -> dict(subject, camera, scene, session, cls)."""
    m = _CLIP_RE.match(Path(name).stem if name.endswith(".mp4") else name)
    if m is None:
        raise DataError(
            f"clip name {name!r} does not follow the MMAct layout "
            "subject<k>_cam<c>_scene<s>_session<e>_<class>"
        )
    k, c, s, e, cls = m.groups()
    return dict(subject=int(k), camera=int(c), scene=int(s), session=int(e), cls=cls)


def recording_name(clip: str) -> str:
    """The clip name without its `cam<c>` token: the name of the sensor files all camera views share."""
    return "_".join(t for t in clip.split("_") if not _CAM_RE.match(t))


def read_split(path: str | Path, known_classes=None) -> list[str]:
    """Read a split list: one `<class>/<clip>` per line (blank lines ignored) -> list of `<class>/<clip>`.

    With `known_classes`, a line whose class is not in it raises DataError naming the file, line and class.
    A clip listed twice raises DataError naming both lines (it would be trained on twice).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {path} does not exist")
    known = set(known_classes) if known_classes is not None else None
    out, seen = [], {}
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.split("/")
        if len(parts) != 2 or not all(parts):
            raise DataError(f"split file {path} line {i}: expected '<class>/<clip>', got {line!r}")
        if known is not None and parts[0] not in known:
            raise DataError(
                f"split file {path} line {i}: unknown class {parts[0]!r} (known: {sorted(known)})"
            )
        entry = line[:-4] if line.endswith(".mp4") else line
        if entry in seen:
            raise DataError(
                f"split file {path} line {i}: clip {entry!r} is listed again (first on line {seen[entry]}); "
                f"it would count twice. Remove the duplicate line"
            )
        seen[entry] = i
        out.append(entry)
    return out


# ---------------------------------------------------------------------- windows
def frame_grid(n: int, step: int) -> np.ndarray:
    """The frames a random window or jittered sample can show: 0, step, 2 step, ... and the last, (K,)."""
    return np.unique(np.concatenate([np.arange(0, n, step), [n - 1]])).astype(np.int64)


def frame_window(
    n: int, num_frames: int, stride: int, train: bool, rng: np.random.Generator | None = None,
    jitter: int = 0,
) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """Frame indices shown and the nominal window `[a, b]` in frame units.

    stride > 0: T frames at that stride; start random on the stride grid when `train` (needs `rng`),
    centred otherwise; indices past the clip repeat the last frame (then b > n - 1).
    stride == 0: T frames spread over the whole clip, window [0, n - 1]: a rounded linspace, or, when
    `train` and `jitter` > 0, one random frame of each of T consecutive segments of the grid
    `frame_grid(n, jitter)` (segment sampling as in TSN; the sensors still span the whole clip).
    Returns `(idx int64 (T,), a, b)`.
    """
    if n < 1:
        raise DataError("frame_window: a clip with no frames")
    if stride == 0:
        if train and jitter > 0:
            if rng is None:
                raise ValueError("frame_window: train=True needs an rng")
            grid = frame_grid(n, jitter)
            if len(grid) >= num_frames:
                segs = np.array_split(grid, num_frames)
                return np.array([s[rng.integers(len(s))] for s in segs], np.int64), 0.0, float(n - 1)
            pick = np.round(np.linspace(0, len(grid) - 1, num_frames)).astype(np.int64)
            return grid[pick], 0.0, float(n - 1)
        idx = np.round(np.linspace(0, n - 1, num_frames)).astype(np.int64)
        return idx, 0.0, float(n - 1)
    span = (num_frames - 1) * stride + 1
    max_start = max(n - span, 0)
    if train:
        if rng is None:
            raise ValueError("frame_window: train=True needs an rng")
        start = stride * int(rng.integers(0, max_start // stride + 1))
    else:
        start = max_start // 2
    nominal = start + stride * np.arange(num_frames)
    return np.minimum(nominal, n - 1).astype(np.int64), float(nominal[0]), float(nominal[-1])


# ---------------------------------------------------------------------- dataset
class MMActDataset(Dataset):
    """Clips of an MMAct-layout tree -> `{modality: tensor, "label": int, "meta": dict}`.

    Args:
        root: dataset root (holds `video/` and `<sensor>_clip/`).
        clips: `<class>/<clip>` entries (see `read_split`).
        class_names: label `i` is `class_names[i]`; every clip's class must be in it.
        modalities: any non-empty subset of `video` and sensor names (`<name>_clip/` folders).
        num_frames, frame_stride, img_size: video `(3, num_frames, img_size, img_size)`; frame_stride 0
            spreads the frames over the whole clip.
        sensor_len: L of each sensor `(L, 3)`.
        sensor_norm: zscore (needs `sensor_stats`, see `compute_sensor_stats`) | minmax | none.
        video_norm: imagenet | none.
        on_error: raise | skip, for clips whose files are missing or empty (checked here, at construction),
            and for clips found bad when read (a video that does not decode, a malformed sensor file, sensor
            spans that disagree, a gap): with skip such a clip is warned about once, counted in
            `skipped_at_read`, and the next good clip is returned in its place (deterministically).
        sensor_span_tol, sensor_max_gap, sensor_time_unit, video_fps: the sensor time checks (see the
            `data.` fields of the same names in mumae_core/config.py).
        train: random windows (deterministic from seed, epoch via `set_epoch`, and index); else centred.
        jitter: with frame_stride 0 and train, one random frame per segment of the grid 0, jitter, ... (see
            `frame_window`); 0 = the fixed spread.
        cache: keep decoded frames and sensor recordings in memory (see the module docstring).
        resize, video_backend: how frames reach img_size^2 and which library decodes (data/video.py).
    """

    def __init__(
        self,
        root: str | Path,
        clips: list[str],
        class_names: list[str],
        modalities: tuple[str, ...] | list[str],
        num_frames: int = 8,
        frame_stride: int = 2,
        img_size: int = 112,
        sensor_len: int = 128,
        sensor_norm: str = "zscore",
        sensor_stats: SensorStats | None = None,
        video_norm: str = "imagenet",
        on_error: str = "raise",
        train: bool = False,
        seed: int = 0,
        cache: bool = False,
        resize: str = "squash",
        video_backend: str = "auto",
        sensor_span_tol: float = 0.25,
        sensor_max_gap: float = 10.0,
        sensor_time_unit: float = 0.001,
        video_fps: float = 30.0,
        jitter: int = 0,
    ):
        self.root = Path(root)
        self.modalities = tuple(modalities)
        self.sensors = tuple(m for m in self.modalities if m != "video")
        self.class_names = list(class_names)
        self.num_frames, self.frame_stride, self.img_size = num_frames, frame_stride, img_size
        self.sensor_len, self.sensor_norm, self.video_norm = sensor_len, sensor_norm, video_norm
        self.train, self.seed, self.cache, self.epoch = train, seed, cache, 0
        self.resize, self.video_backend = resize, video_backend
        self.jitter = int(jitter)
        self._check_args(on_error)
        self.on_error = on_error
        self.span_tol, self.max_gap = float(sensor_span_tol), float(sensor_max_gap)
        self.time_unit, self.video_fps = float(sensor_time_unit), float(video_fps)
        self.sensor_stats = sensor_stats
        if sensor_stats is not None:
            self.set_sensor_stats(sensor_stats)
        if not self.root.is_dir():
            raise DataError(f"dataset root {self.root} does not exist")
        self.items = self._index(clips, on_error)
        if not self.items:
            raise DataError(f"empty dataset: no usable clips under {self.root} (of {len(clips)} listed)")
        self.labels = [it["label"] for it in self.items]
        self.groups = [it["recording"] for it in self.items]
        self._nframes: dict[int, int] = {}
        self._frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._sensor_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._warned_no_video = False
        self._times_ok: set[int] = set()  # clips whose sensor spans passed the checks
        self.bad_clips: dict[int, str] = {}  # index -> why it was skipped when read (on_error=skip)

    # ------------------------------------------------------------------ construction
    def _check_args(self, on_error: str) -> None:
        if not self.modalities:
            raise DataError("MMActDataset: modalities is empty")
        for name, v, opts in (
            ("sensor_norm", self.sensor_norm, ("zscore", "minmax", "none")),
            ("video_norm", self.video_norm, ("imagenet", "none")),
            ("on_error", on_error, ("raise", "skip")),
        ):
            if v not in opts:
                raise DataError(f"MMActDataset: {name} must be one of {list(opts)}; got {v!r}")
        for name in ("num_frames", "img_size", "sensor_len"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"MMActDataset: {name} must be >= 1; got {getattr(self, name)}")
        if self.frame_stride < 0:
            raise DataError(f"MMActDataset: frame_stride must be >= 0; got {self.frame_stride}")

    def _index(self, clips: list[str], on_error: str) -> list[dict]:
        label_of = {c: i for i, c in enumerate(self.class_names)}
        items, problems = [], []
        for entry in clips:
            cls, _, name = entry.partition("/")
            if cls not in label_of:
                raise DataError(f"clip {entry!r}: class {cls!r} is not in class_names {self.class_names}")
            info = parse_clip_name(name)
            if info["cls"] != cls:
                raise DataError(
                    f"clip {entry!r}: the name's class {info['cls']!r} differs from its folder {cls!r}"
                )
            rec = recording_name(name)
            video = self.root / "video" / cls / f"{name}.mp4"
            sensors = {m: self.root / f"{m}_clip" / cls / f"{rec}.csv" for m in self.sensors}
            needed = ([video] if "video" in self.modalities else []) + list(sensors.values())
            bad = [f"{p} ({'empty' if p.exists() else 'missing'})" for p in needed if not _nonempty(p)]
            if bad:
                problems.append(f"clip {entry}: {', '.join(bad)}")
                continue
            item = dict(info, clip=name, entry=entry, recording=rec, video=video, sensors=sensors)
            items.append(dict(item, label=label_of[cls]))
        if problems:
            listing = "\n  ".join(problems[:5]) + (
                f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
            )
            if on_error == "raise":
                raise DataError(
                    f"{len(problems)} of {len(clips)} clips under {self.root} have missing or empty files "
                    f"(use on_error='skip' to drop them):\n  {listing}"
                )
            log.warning(
                "skipped %d of %d clips with missing or empty files:\n  %s",
                len(problems),
                len(clips),
                listing,
            )
        self.skipped = len(problems)
        return items

    def set_sensor_stats(self, stats: SensorStats) -> None:
        missing = [m for m in self.sensors if m not in stats.mean]
        if missing and self.sensor_norm == "zscore":
            raise DataError(f"sensor_stats has no statistics for modalities {missing}")
        self.sensor_stats = stats

    def set_epoch(self, epoch: int) -> None:
        """Random windows depend on (seed, epoch, index): call once per epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    # ------------------------------------------------------------------ reading
    def _open(self, path: Path):
        vr = open_video(path, self.img_size, self.resize, self.video_backend)  # DataError if unreadable
        return vr, len(vr)

    def _num_frames(self, i: int) -> int | None:
        if i not in self._nframes:
            video = self.items[i]["video"]
            if "video" not in self.modalities and not _nonempty(video):
                return None
            self._nframes[i] = self._open(video)[1]
        return self._nframes[i]

    def _cache_plan(self, n: int, idx: np.ndarray) -> np.ndarray:
        if self.train and self.frame_stride > 0:
            return frame_grid(n, self.frame_stride)
        if self.train and self.jitter > 0:
            return frame_grid(n, self.jitter)
        return np.unique(idx)

    def _read_frames(self, i: int, idx: np.ndarray, vr=None) -> np.ndarray:
        """uint8 `(T, H, W, 3)` for frame indices idx (from the cache when it holds them)."""
        hit = self._frames.get(i)
        if hit is not None:
            have, frames = hit
            pos = np.searchsorted(have, idx)
            if (pos < len(have)).all() and (have[np.minimum(pos, len(have) - 1)] == idx).all():
                return frames[pos]
        path = self.items[i]["video"]
        if vr is None:
            vr, _ = self._open(path)
        want = self._cache_plan(len(vr), idx) if self.cache else np.unique(idx)
        frames = vr.get_batch(want.tolist())  # DataError naming the file on a broken stream
        if self.cache:
            self._frames[i] = (want, frames)
        return frames[np.searchsorted(want, idx)]

    def _read_sensor(self, m: str, i: int) -> tuple[np.ndarray, np.ndarray]:
        key = (m, str(self.items[i]["sensors"][m]))
        if key in self._sensor_cache:
            return self._sensor_cache[key]
        path = self.items[i]["sensors"][m]
        rec = read_sensor_csv(path)
        check_sensor_gaps(rec[0], path, self.max_gap, self.time_unit)
        if self.cache:
            self._sensor_cache[key] = rec
        return rec

    def _sensor_window(self, m: str, i: int, n: int | None, a: float, b: float) -> np.ndarray:
        """The sensor over video window [a, b] (frame units) of a clip with n frames -> float32 (L, 3)."""
        t, xyz = self._read_sensor(m, i)
        t0, dur = t[0], t[-1] - t[0]
        if n is None:
            return resample_sensor(t, xyz, t[0], t[-1], self.sensor_len)
        if b <= n - 1:
            return resample_sensor(t, xyz, t0 + dur * a / n, t0 + dur * b / n, self.sensor_len)
        # window past the clip's end: the video repeats its last frame, the sensor holds its value there
        frames = np.minimum(np.linspace(a, b, self.sensor_len), n - 1)
        return interp_sensor(t, xyz, t0 + dur * frames / n)

    @property
    def skipped_at_read(self) -> int:
        """Clips skipped when read (on_error=skip) in this process so far."""
        return len(self.bad_clips)

    def __getitem__(self, i: int) -> dict:
        if self.on_error == "raise":
            return self._load(i)
        n = len(self.items)
        for k in range(n):
            j = (i + k) % n
            if j in self.bad_clips:
                continue
            try:
                return self._load(j)
            except DataError as e:
                self.bad_clips[j] = str(e)
                log.warning(
                    "on_error=skip: clip %s skipped (%d so far in this process): %s",
                    self.items[j]["entry"],
                    len(self.bad_clips),
                    e,
                )
        raise DataError(f"on_error=skip: every one of the {n} clips under {self.root} failed to read")

    def _check_times(self, i: int, n: int | None) -> None:
        """The clip's sensor spans against the clip's duration (n / video_fps) and against each other;
        DataError naming the clip, the sensor files and the offsets beyond data.sensor_span_tol."""
        if i in self._times_ok or not self.sensors:
            return
        it, u, tol = self.items[i], self.time_unit, self.span_tol
        spans = {m: self._read_sensor(m, i)[0][[0, -1]] * u for m in self.sensors}  # seconds
        if n is not None and self.video_fps > 0:
            clip_s = n / self.video_fps
            for m, (a, b) in spans.items():
                if abs((b - a) - clip_s) > tol:
                    raise DataError(
                        f"clip {it['entry']}: sensor file {it['sensors'][m]} spans {b - a:.3f} s but the "
                        f"video has {n} frames = {clip_s:.3f} s at data.video_fps={self.video_fps:g} (more "
                        f"than data.sensor_span_tol={tol:g} s apart): the sensor would be stretched over it"
                    )
        for k, name in ((0, "starts"), (1, "ends")):
            at = {m: float(v[k]) for m, v in spans.items()}
            lo, hi = min(at, key=at.get), max(at, key=at.get)
            if at[hi] - at[lo] > tol:
                raise DataError(
                    f"clip {it['entry']}: sensor {hi} {name} {at[hi] - at[lo]:.3f} s after sensor {lo} "
                    f"({it['sensors'][hi]} vs {it['sensors'][lo]}; more than data.sensor_span_tol={tol:g} "
                    f"s): the sensors of a clip must cover the same time span"
                )
        self._times_ok.add(i)

    def _load(self, i: int) -> dict:
        it = self.items[i]
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        vr = None
        if "video" in self.modalities and i not in self._nframes:
            vr, self._nframes[i] = self._open(it["video"])
        n = self._num_frames(i)
        if n is None:
            if not self._warned_no_video and self.frame_stride > 0:
                log.warning("no video files to time the window: sensors span their whole recording")
                self._warned_no_video = True
            idx, a, b = np.zeros(self.num_frames, dtype=np.int64), 0.0, 0.0
        else:
            idx, a, b = frame_window(n, self.num_frames, self.frame_stride, self.train, rng, self.jitter)
        self._check_times(i, n)
        out: dict = {}
        if "video" in self.modalities:
            out["video"] = normalize_video(self._read_frames(i, idx, vr), self.video_norm)
        for m in self.sensors:
            x = self._sensor_window(m, i, n, a, b)
            out[m] = torch.from_numpy(normalize_sensor(x, self.sensor_norm, self.sensor_stats, m))
        out["label"] = it["label"]
        out["meta"] = dict(
            subject=it["subject"], camera=it["camera"], scene=it["scene"], session=it["session"],
            recording=it["recording"], clip=it["clip"], cls=it["cls"], path=str(it["video"]),
            frames=idx.tolist(), num_frames_clip=n,
        )  # fmt: skip
        return out

    # ------------------------------------------------------------------ statistics and cache
    def compute_sensor_stats(self, progress: bool = True) -> SensorStats:
        """Z-score statistics over this dataset's unique recordings (each resampled over its whole span to
        `sensor_len`, so every recording counts once whatever its sampling rate)."""
        from mumae_core.progress import progress as progress_bar

        first: dict[str, int] = {}
        for i, it in enumerate(self.items):
            first.setdefault(it["recording"], i)
        arrays: dict[str, list[np.ndarray]] = {m: [] for m in self.sensors}
        skipped = []
        for i in progress_bar(
            list(first.values()), desc="sensor statistics", disable=not progress, leave=False
        ):
            try:
                self._check_times(i, None)  # sensors against each other (the video is not decoded here)
                rec = {m: self._read_sensor(m, i) for m in self.sensors}
            except DataError as e:
                if self.on_error == "raise":
                    raise
                self.bad_clips[i] = str(e)
                skipped.append(f"{self.items[i]['recording']}: {e}")
                continue
            for m, (t, xyz) in rec.items():
                arrays[m].append(resample_sensor(t, xyz, t[0], t[-1], self.sensor_len))
        if skipped:
            log.warning(
                "on_error=skip: %d of %d recordings left out of the sensor statistics:\n  %s",
                len(skipped),
                len(first),
                "\n  ".join(skipped[:5]),
            )
        if not any(arrays.values()):
            raise DataError(f"sensor statistics: no readable recording under {self.root}")
        return SensorStats.from_arrays(arrays)

    def cache_nbytes(self) -> int:
        """Bytes held by the frame and sensor caches."""
        frames = sum(f.nbytes for _, f in self._frames.values())
        return frames + sum(t.nbytes + x.nbytes for t, x in self._sensor_cache.values())

    def clear_cache(self) -> None:
        self._frames.clear()
        self._sensor_cache.clear()


def _nonempty(p: Path) -> bool:
    try:
        return p.stat().st_size > 0
    except OSError:
        return False
