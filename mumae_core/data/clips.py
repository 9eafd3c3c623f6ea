"""The sample contract shared by every dataset: sensor reading, resampling, normalisation, collate.

A sample is `{modality: FloatTensor, "label": int, "meta": dict}` (DESIGN.md §3). Video is `(C, T, H, W)`,
a sensor is `(L, 3)` on the video clip's clock. This module holds the pieces that do not depend on the
on-disk layout:

- `read_sensor_csv`: a timestamp column then x, y, z; header row optional; uneven sampling allowed.
- `resample_sensor` / `interp_sensor`: linear interpolation on timestamps (the reference picks the nearest
  lower index over the whole clip, unaligned with the video window; we interpolate on the window's span).
- `SensorStats` (dataset z-score from train statistics) and `normalize_sensor` (zscore | minmax | none).
- `normalize_video`: uint8 `(T, H, W, C)` -> float `(C, T, H, W)`, imagenet | none.
- `collate`: a list of samples -> a batch dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mumae_core.errors import DataError
from mumae_core.modalities import IMAGENET_MEAN, IMAGENET_STD

STD_FLOOR = 1e-8  # a train-set channel with std below this is constant: SensorStats raises


# ---------------------------------------------------------------------- sensor files
def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_sensor_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a sensor CSV: column 0 a timestamp, columns 1-3 x, y, z (extra columns are ignored).

    A header row is detected (first row not numeric) and skipped. A header that starts with an unnamed
    column (`,timestamp,x,y,z`: a pandas index written by `DataFrame.to_csv`) shifts the columns by one.
    Rows are sorted by time and rows with an exactly repeated timestamp are dropped (the first is kept).

    Returns:
        t: float64 `(L,)` strictly increasing timestamps, in the file's own unit.
        xyz: float32 `(L, 3)`.
    Raises:
        DataError naming the file: missing or empty file, fewer than 4 columns, a non-numeric or NaN value,
        fewer than 2 distinct samples.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"sensor file {path} does not exist")
    text = path.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"sensor file {path} is empty")
    first = [f.strip() for f in lines[0].split(",")]
    header = 1 if not all(_is_number(f) for f in first[:4]) else 0
    rows = lines[header:]
    if not rows:
        raise DataError(f"sensor file {path} has a header but no data rows")
    skip = 1 if header and _is_index_header(first) else 0
    if skip and len(first) < 5:
        raise DataError(
            f"sensor file {path}: the header {lines[0]!r} starts with a pandas index column "
            f"({first[0]!r}) but has no timestamp, x, y, z after it"
        )
    try:
        cols = tuple(range(skip, skip + 4))
        data = np.loadtxt(rows, delimiter=",", usecols=cols, dtype=np.float64, ndmin=2)
    except ValueError as e:
        ncol = min(len(r.split(",")) for r in rows) - skip
        if ncol < 4:
            raise DataError(
                f"sensor file {path}: expected 4 columns (timestamp, x, y, z), a row has {ncol}"
            ) from e
        raise DataError(
            f"sensor file {path}: non-numeric value: {e} (rows counted from 0 after any header)"
        ) from e
    if not skip and len(rows[0].split(",")) >= 5 and len(data) > 2:
        if np.array_equal(data[:, 0], np.arange(len(data))) and np.all(np.diff(data[:, 1]) > 0):
            raise DataError(
                f"sensor file {path}: column 1 counts 0, 1, 2, ... and column 2 increases like a timestamp: "
                f"it looks like a pandas index written without a header. Write the file without the index "
                f"(DataFrame.to_csv(index=False)) or with its header (',timestamp,x,y,z')"
            )
    bad = np.isnan(data) | np.isinf(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"sensor file {path}: {int(bad.sum())} NaN/inf value(s), first at data row {r + 1} column {c + 1}"
        )
    order = np.argsort(data[:, 0], kind="stable")
    data = data[order]
    keep = np.concatenate([[True], np.diff(data[:, 0]) > 0])
    data = data[keep]
    if len(data) < 2:
        raise DataError(f"sensor file {path}: fewer than 2 samples with distinct timestamps ({len(data)})")
    return data[:, 0].copy(), data[:, 1:4].astype(np.float32)


def _is_index_header(fields: list[str]) -> bool:
    """A header whose first column is a pandas index (`DataFrame.to_csv` with the index): an empty name,
    'Unnamed: 0' or 'index', followed by named columns."""
    name = fields[0].strip().strip('"').lower()
    return len(fields) >= 2 and (name in ("", "index") or name.startswith("unnamed"))


def sensor_gaps(t: np.ndarray, max_gap: float) -> np.ndarray:
    """Indices k where `t[k + 1] - t[k]` exceeds `max_gap` mean sample periods -> int64 `(n_gaps,)`.

    The mean period is the recording's span over its sample count (robust to uneven sampling, where the
    median interval can be much shorter than a typical pause between samples).
    """
    if len(t) < 3:
        return np.zeros(0, dtype=np.int64)
    period = (t[-1] - t[0]) / (len(t) - 1)
    return np.flatnonzero(np.diff(t) > max_gap * period).astype(np.int64)


def check_sensor_gaps(t: np.ndarray, path: str | Path, max_gap: float, unit: float) -> None:
    """DataError naming the file and the longest gap when the recording has a gap longer than `max_gap`
    mean sample periods (`unit`: seconds per timestamp unit); interpolation would bridge it silently."""
    gaps = sensor_gaps(t, max_gap)
    if gaps.size:
        d = np.diff(t)[gaps]
        k = int(gaps[np.argmax(d)])
        period = (t[-1] - t[0]) / (len(t) - 1)
        raise DataError(
            f"sensor file {path}: {gaps.size} gap(s) longer than data.sensor_max_gap={max_gap:g} sample "
            f"periods ({max_gap * period * unit:.3g} s); the longest is {d.max() * unit:.3g} s after "
            f"timestamp {t[k]:.6g} (data row {k + 1} after sorting). A dropout would be bridged by "
            f"interpolation: fix the file, or use data.on_error=skip to skip the clip"
        )


def interp_sensor(t: np.ndarray, xyz: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of `xyz (L_in, 3)` sampled at `t (L_in,)` onto `times (L,)` -> float32 `(L, 3)`.

    Times outside `[t[0], t[-1]]` hold the edge value (np.interp).
    """
    out = np.empty((len(times), xyz.shape[1]), dtype=np.float32)
    for c in range(xyz.shape[1]):
        out[:, c] = np.interp(times, t, xyz[:, c])
    return out


def resample_sensor(
    t: np.ndarray, xyz: np.ndarray, t0: float, t1: float, L: int, tol: float | None = None
) -> np.ndarray:
    """Resample onto `L` evenly spaced times in `[t0, t1]` by linear interpolation -> float32 `(L, 3)`.

    `tol` (default: one median sampling interval) is how far the window may reach outside the recording;
    there the edge value is held. Further out raises DataError.
    """
    if L < 1:
        raise DataError(f"resample_sensor: L must be >= 1; got {L}")
    if t1 < t0:
        raise DataError(f"resample_sensor: window end {t1} is before its start {t0}")
    if tol is None:
        tol = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    if t0 < t[0] - tol or t1 > t[-1] + tol:
        raise DataError(
            f"resample_sensor: window [{t0:.6g}, {t1:.6g}] lies outside the recording "
            f"[{t[0]:.6g}, {t[-1]:.6g}] by more than the tolerance {tol:.3g}"
        )
    return interp_sensor(t, xyz, np.linspace(t0, t1, L))


# ---------------------------------------------------------------------- sensor normalisation
@dataclass
class SensorStats:
    """Per-modality, per-channel mean and std over the train split (dataset z-score).

    `mean[m]`, `std[m]` are lists of 3 floats. A channel whose std is below `STD_FLOOR` is constant over the
    whole train split, which means broken data; `check()` raises a DataError naming it.
    """

    mean: dict[str, list[float]] = field(default_factory=dict)
    std: dict[str, list[float]] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, arrays: dict[str, list[np.ndarray]]) -> SensorStats:
        """Statistics from `{modality: [(L_i, 3) arrays]}` (all samples pooled, float64 accumulation)."""
        s = cls()
        for m, xs in arrays.items():
            if not xs:
                raise DataError(f"SensorStats: no data for modality {m!r}")
            x = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1, np.shape(a)[-1]) for a in xs])
            s.mean[m] = x.mean(0).tolist()
            s.std[m] = x.std(0).tolist()
            s.count[m] = int(len(x))
        return s.check()

    def check(self) -> SensorStats:
        for m, sd in self.std.items():
            for c, v in enumerate(sd):
                if not np.isfinite(v) or v < STD_FLOOR or not np.isfinite(self.mean[m][c]):
                    raise DataError(
                        f"SensorStats: modality {m!r} channel {c} has std {v} over the train split (constant "
                        f"or invalid): z-score would divide by zero. Check the sensor files, drop the "
                        f"modality, or use data.sensor_norm=minmax"
                    )
        return self

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"mean": self.mean, "std": self.std, "count": self.count}, indent=1))

    @classmethod
    def from_json(cls, path: str | Path) -> SensorStats:
        try:
            d = json.loads(Path(path).read_text())
            return cls(mean=d["mean"], std=d["std"], count=d.get("count", {})).check()
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"cannot read sensor statistics {path}: {e}") from e


def normalize_sensor(
    x: np.ndarray, mode: str, stats: SensorStats | None = None, modality: str = ""
) -> np.ndarray:
    """Normalise one sensor clip `x (L, 3)` -> float32 `(L, 3)`.

    mode: `zscore` (dataset statistics from `stats[modality]`), `minmax` (per clip and axis to [0, 1], the
    reference; a constant channel maps to 0, never NaN), or `none`.
    """
    x = np.asarray(x, dtype=np.float32)
    if mode == "zscore":
        if stats is None or modality not in stats.mean:
            raise DataError(
                f"sensor_norm='zscore' needs SensorStats for modality {modality!r} (computed on the train "
                f"split)"
            )
        mean = np.asarray(stats.mean[modality], dtype=np.float32)
        std = np.asarray(stats.std[modality], dtype=np.float32)
        return (x - mean) / std
    if mode == "minmax":
        lo, hi = x.min(0), x.max(0)
        rng = hi - lo
        out = np.where(rng > 0, (x - lo) / np.where(rng > 0, rng, 1), 0.0)
        return out.astype(np.float32)
    if mode == "none":
        return x
    raise DataError(f"sensor_norm must be zscore, minmax or none; got {mode!r}")


# ---------------------------------------------------------------------- video
def normalize_video(x: np.ndarray | torch.Tensor, mode: str = "imagenet") -> torch.Tensor:
    """uint8 frames `(T, H, W, C)` -> float32 `(C, T, H, W)` in [0, 1], then ImageNet mean/std (imagenet)."""
    v = torch.as_tensor(x)
    if v.dtype != torch.uint8 or v.ndim != 4:
        raise DataError(f"normalize_video expects uint8 (T, H, W, C); got {v.dtype} {tuple(v.shape)}")
    v = (
        v.permute(3, 0, 1, 2).contiguous().float()
    )  # one pass to float, one fused affine pass: x * scale + shift
    if mode == "imagenet":
        scale = torch.tensor([1.0 / (255.0 * s) for s in IMAGENET_STD]).view(3, 1, 1, 1)
        shift = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]).view(3, 1, 1, 1)
        return torch.addcmul(shift, v, scale)
    if mode == "none":
        return v.mul_(1.0 / 255.0)
    raise DataError(f"video_norm must be imagenet or none; got {mode!r}")


# ---------------------------------------------------------------------- batching
def collate(samples: list[dict]) -> dict:
    """Samples `[{mod: tensor, "label": int, "meta": dict}]` -> a batch dict.

    Returns `{mod: (B, ...), "label": LongTensor (B,), "meta": list[dict]}`.
    """
    if not samples:
        raise DataError("collate: empty list of samples")
    keys = [k for k in samples[0] if k not in ("label", "meta")]
    out: dict = {}
    for k in keys:
        try:
            out[k] = torch.stack([torch.as_tensor(s[k]) for s in samples])
        except (KeyError, RuntimeError) as e:
            clips = [s.get("meta", {}).get("clip") for s in samples]
            raise DataError(
                f"collate: modality {k!r} missing or of unequal shape in clips {clips}: {e}"
            ) from e
    out["label"] = torch.tensor([int(s["label"]) for s in samples], dtype=torch.long)
    out["meta"] = [s.get("meta", {}) for s in samples]
    return out
