"""Complementarity check: a 1-nearest-neighbour classifier on each modality alone and on both.

Features (deliberately simple, no learning):
- video: 8 frames spread over the clip; a silhouette per frame from background subtraction (the background
  of a scene and camera is the per-pixel median over all frames of its clips), area-downsampled to 16x16
  -> 2048 values in [0, 1];
- sensors: each of the 12 channels resampled to 128 samples on the clip's span, then mean, std, min, max,
  the means of the three thirds of the clip, and the first 4 FFT magnitudes -> 132 values;
- both: the two blocks, each z-scored and scaled by 1/sqrt(its dimension), concatenated.
Leave-one-recording-out: a clip's other camera views are never its neighbours. Group accuracy = 1-NN
accuracy with queries and candidates restricted to the group's classes (chance 1/k).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mumae_core.errors import DataError

from .generate import BASE_CLASSES
from .programs import SENSOR_GROUPS, VIDEO_GROUPS
from .sensors import SENSORS

N_FRAMES, FRAME_SIZE, SENSOR_LEN = 8, 16, 128


def _recording(clip: str) -> str:
    return "_".join(tok for tok in clip.split("_") if not tok.startswith("cam"))


def read_frames(path: Path, work: int = 56) -> np.ndarray:
    """`(N_FRAMES, work, work, 3)` uint8 frames spread over the clip (area-resized)."""
    import cv2
    import decord

    vr = decord.VideoReader(str(path), num_threads=1)
    idx = np.linspace(0, len(vr) - 1, N_FRAMES).round().astype(int)
    frames = vr.get_batch(list(idx)).asnumpy()
    return np.stack([cv2.resize(f, (work, work), interpolation=cv2.INTER_AREA) for f in frames])


def silhouettes(frames: np.ndarray, bg: np.ndarray, thr: float = 25.0) -> np.ndarray:
    """`(N_FRAMES * FRAME_SIZE**2,)` float32: fraction of foreground pixels per cell of a 16x16 grid."""
    import cv2

    fg = (np.abs(frames.astype(np.int16) - bg.astype(np.int16)).max(-1) > thr).astype(np.float32)
    return np.stack(
        [cv2.resize(f, (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_AREA) for f in fg]
    ).ravel()


def sensor_features(paths: list[Path]) -> np.ndarray:
    """`(12 * 11,)` statistics of the 4 sensors' 3 axes, resampled to SENSOR_LEN on their time span."""
    feats = []
    for p in paths:
        df = pd.read_csv(p)
        if len(df) < 2:
            raise DataError(f"sensor CSV {p} has {len(df)} rows; need at least 2")
        t = df.iloc[:, 0].to_numpy(float)
        tt = np.linspace(t[0], t[-1], SENSOR_LEN)
        for k in range(1, 4):
            x = np.interp(tt, t, df.iloc[:, k].to_numpy(float))
            thirds = [x[i * SENSOR_LEN // 3 : (i + 1) * SENSOR_LEN // 3].mean() for i in range(3)]
            fft = np.abs(np.fft.rfft(x - x.mean()))[1:5] / SENSOR_LEN
            feats += [x.mean(), x.std(), x.min(), x.max(), *thirds, *fft]
    return np.array(feats, dtype=np.float32)


def _zscore(x: np.ndarray, per_feature: bool = True) -> np.ndarray:
    """Centre, scale (per feature, or one global scale for pixels) and divide by sqrt(dim)."""
    x = x - x.mean(0)
    x = x / np.maximum(x.std(0) if per_feature else x.std(), 1e-6)
    return x / np.sqrt(x.shape[1])


def nn_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Leave-one-recording-out 1-NN accuracy on the rows `keep` (bool mask) of features `x (N, D)`."""
    if keep is not None:
        x, y, groups = x[keep], y[keep], groups[keep]
    sq = (x * x).sum(1)
    d = sq[:, None] + sq[None] - 2 * x @ x.T
    d[groups[:, None] == groups[None]] = np.inf
    return float((y[d.argmin(1)] == y).mean())


def modality_nn_check(root, split: str = "all", subjects=None, progress: bool = True) -> dict:
    """1-NN accuracy (overall, per designed group, per class) for video, sensors and both.

    `split`: 'train' (the 23 base classes) or 'all' (33 classes); `subjects`: subject numbers to keep.
    Returns `{"n_clips", "classes", "video"|"sensors"|"both": {"overall", "groups", "per_class"}, "summary"}`.
    """
    from mumae_core.progress import progress as progress_bar

    root = Path(root)
    if split not in ("train", "all"):
        raise DataError(f"modality_nn_check: split must be 'train' or 'all'; got {split!r}")
    clips = sorted(str(p.relative_to(root / "video"))[:-4] for p in (root / "video").glob("*/*.mp4"))
    if split == "train":
        clips = [c for c in clips if c.split("/")[0] in BASE_CLASSES]
    if subjects is not None:
        keep_s = {f"subject{s}" for s in subjects}
        clips = [c for c in clips if c.split("/")[1].split("_")[0] in keep_s]
    if not clips:
        raise DataError(f"modality_nn_check: no clips under {root / 'video'} for split={split!r}")
    classes = sorted({c.split("/")[0] for c in clips})
    y = np.array([classes.index(c.split("/")[0]) for c in clips])
    groups = np.array([_recording(c) for c in clips])
    xv, xs, cache, frames = [], [], {}, []
    for c in progress_bar(clips, desc="nn-check features", disable=not progress):
        cls, clip = c.split("/")
        frames.append(read_frames(root / "video" / cls / f"{clip}.mp4"))
        rec = _recording(clip)
        if rec not in cache:
            cache[rec] = sensor_features([root / f"{s}_clip" / cls / f"{rec}.csv" for s in SENSORS])
        xs.append(cache[rec])
    views = np.array(["_".join(c.split("/")[1].split("_")[1:3]) for c in clips])  # cam<c>_scene<s>
    for v in np.unique(views):
        idx = np.flatnonzero(views == v)
        bg = np.median(np.concatenate([frames[i] for i in idx]), axis=0)
        for i in idx:
            frames[i] = silhouettes(frames[i], bg)
    xv = frames
    feats = {"video": _zscore(np.stack(xv), per_feature=False), "sensors": _zscore(np.stack(xs))}
    feats["both"] = np.concatenate([feats["video"], feats["sensors"]], 1) / np.sqrt(2)
    all_groups = {**{f"video:{k}": v for k, v in VIDEO_GROUPS.items()},
                  **{f"sensor:{k}": v for k, v in SENSOR_GROUPS.items()}}  # fmt: skip
    present = {k: v for k, v in all_groups.items() if sum(c in classes for c in v) >= 2}
    out = {"n_clips": len(clips), "classes": classes}
    for mod, x in feats.items():
        res = {"overall": nn_accuracy(x, y, groups), "groups": {}, "per_class": {}}
        for gname, members in present.items():
            keep = np.isin(y, [classes.index(c) for c in members if c in classes])
            res["groups"][gname] = nn_accuracy(x, y, groups, keep)
        sq = (x * x).sum(1)
        d = sq[:, None] + sq[None] - 2 * x @ x.T
        d[groups[:, None] == groups[None]] = np.inf
        pred = y[d.argmin(1)]
        res["per_class"] = {c: float((pred[y == i] == i).mean()) for i, c in enumerate(classes)}
        out[mod] = res
    summary = {}
    for mod in feats:
        for kind in ("video", "sensor"):
            vals = [v for k, v in out[mod]["groups"].items() if k.startswith(kind + ":")]
            summary[f"{mod}_on_{kind}_groups"] = float(np.mean(vals)) if vals else float("nan")
    out["summary"] = summary
    return out
