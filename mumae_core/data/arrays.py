"""Bring-your-own sensor arrays: `{modality: (N, L, C)}` numpy arrays + labels -> a kit dataset.

Sensor-only data from any source then works with the same episode samplers, collate and models:

    ds = ArrayDataset({"acc": acc, "gyro": gyro}, labels, subjects=subj, class_names=names)
    ds[0] -> {"acc": FloatTensor (L, C), "gyro": FloatTensor (L, C), "label": int, "meta": dict}

`groups` (one string per item) marks items cut from one recording, which episodes never split between
support and query; without it every item is its own group. Normalisation is optional (`sensor_norm`:
none | zscore with `stats`, e.g. `train.compute_sensor_stats()` | minmax per clip). `ArrayDataset.from_npz`
reads the same from an .npz file (without pickles), `select_classes` makes class-disjoint splits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mumae_core.data.clips import SensorStats, normalize_sensor
from mumae_core.errors import ConfigError, DataError

_RESERVED = ("label", "labels", "meta", "subjects", "groups", "class_names")


class ArrayDataset(Dataset):
    """A dataset over in-memory sensor arrays.

    data: {modality: (N, L, C) float array}, every modality with the same N (L and C may differ by modality);
    labels: (N,) ints in 0..len(class_names)-1; subjects: (N,) or None (goes to meta["subject"]);
    class_names: default `class_0`, `class_1`, ...; groups: (N,) strings or None (item index).
    Raises DataError naming the modality (and item) for a shape mismatch, NaN/inf, or a bad label.
    """

    def __init__(
        self,
        data: dict[str, np.ndarray],
        labels: Sequence[int] | np.ndarray,
        subjects: Sequence[Any] | None = None,
        class_names: Sequence[str] | None = None,
        groups: Sequence[Any] | None = None,
        sensor_norm: str = "none",
        stats: SensorStats | None = None,
    ):
        if not isinstance(data, dict) or not data:
            raise DataError("ArrayDataset: data must be a non-empty dict {modality: (N, L, C) array}")
        labels_arr = np.asarray(labels)
        if labels_arr.ndim != 1:
            raise DataError(f"ArrayDataset: labels must be 1-D (N,); got shape {labels_arr.shape}")
        if labels_arr.dtype.kind not in "iu" and not (
            labels_arr.dtype.kind == "f" and np.all(np.isfinite(labels_arr)) and np.all(labels_arr % 1 == 0)
        ):
            raise DataError(f"ArrayDataset: labels must be integers; got dtype {labels_arr.dtype}")
        n = len(labels_arr)
        if n == 0:
            raise DataError("ArrayDataset: no items (labels is empty)")
        self.data: dict[str, torch.Tensor] = {}
        for m, x in data.items():
            if m in _RESERVED or m == "video":
                raise DataError(f"ArrayDataset: {m!r} cannot be a sensor modality name")
            x = np.asarray(x)
            if x.ndim != 3:
                raise DataError(f"ArrayDataset: modality {m!r} must be (N, L, C); got shape {x.shape}")
            if x.shape[1] == 0 or x.shape[2] == 0:
                raise DataError(
                    f"ArrayDataset: modality {m!r} has shape {x.shape}: every item needs L >= 1 samples of "
                    f"C >= 1 channels"
                )
            if x.shape[0] != n:
                raise DataError(f"ArrayDataset: modality {m!r} has {x.shape[0]} items but labels has {n}")
            if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
                raise DataError(f"ArrayDataset: modality {m!r} must be real numbers; got dtype {x.dtype}")
            bad = ~np.isfinite(x)
            if bad.any():
                i, t, c = np.argwhere(bad)[0]
                raise DataError(
                    f"ArrayDataset: modality {m!r} has {int(bad.sum())} NaN/inf value(s); first at item {i} "
                    f"(sample {t}, channel {c})"
                )
            self.data[m] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.modalities = tuple(self.data)
        labels_int = labels_arr.astype(np.int64)
        if class_names is None:
            class_names = [f"class_{i}" for i in range(int(labels_int.max()) + 1)]
        self.class_names = [str(c) for c in class_names]
        if len(set(self.class_names)) != len(self.class_names):
            raise DataError(f"ArrayDataset: class_names has duplicates: {self.class_names}")
        out_of_range = np.flatnonzero((labels_int < 0) | (labels_int >= len(self.class_names)))
        if out_of_range.size:
            i = int(out_of_range[0])
            raise DataError(
                f"ArrayDataset: label {labels_int[i]} of item {i} is outside 0..{len(self.class_names) - 1} "
                f"(class_names has {len(self.class_names)} entries)"
            )
        self.labels: list[int] = labels_int.tolist()
        for name, v in (("subjects", subjects), ("groups", groups)):
            if v is not None and len(v) != n:
                raise DataError(f"ArrayDataset: {name} has {len(v)} entries but labels has {n}")
        self.subjects = None if subjects is None else [_plain(s) for s in subjects]
        self.groups: list[str] = [str(i) for i in range(n)] if groups is None else [str(g) for g in groups]
        if sensor_norm not in ("none", "zscore", "minmax"):
            raise ConfigError(
                f"ArrayDataset: sensor_norm must be none, zscore or minmax; got {sensor_norm!r}"
            )
        if sensor_norm == "zscore" and stats is None:
            raise DataError(
                "ArrayDataset: sensor_norm='zscore' needs stats (e.g. train.compute_sensor_stats()) so that "
                "every split uses the train split's statistics"
            )
        self.sensor_norm, self.stats = sensor_norm, stats
        if stats is not None:
            missing = [m for m in self.modalities if m not in stats.mean]
            if missing:
                raise DataError(f"ArrayDataset: stats have no statistics for modalities {missing}")

    @classmethod
    def from_npz(cls, path: str | os.PathLike, modalities: Sequence[str] | None = None, **kw) -> ArrayDataset:
        """Read `labels` and one (N, L, C) array per modality (+ optional `subjects`, `groups`,
        `class_names`) from an .npz written by `np.savez`; object arrays are refused (allow_pickle=False)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if "labels" not in keys:
                    raise DataError(f"{path}: no 'labels' array (found {keys})")
                mods = list(modalities) if modalities is not None else [k for k in keys if k not in _RESERVED]
                missing = [m for m in mods if m not in keys]
                if missing or not mods:
                    raise DataError(f"{path}: modalities {missing or mods} not found (arrays: {keys})")
                extra = {k: z[k].tolist() for k in ("subjects", "groups", "class_names") if k in keys}
                data = {m: z[m] for m in mods}
                labels = z["labels"]
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read arrays from {path}: {e}") from e
        return cls(data, labels, **{**extra, **kw})

    def compute_sensor_stats(self) -> SensorStats:
        """Per-modality, per-channel mean/std over all items (call it on the train split)."""
        return SensorStats.from_arrays({m: [x.numpy()] for m, x in self.data.items()})

    def select_classes(self, class_names: Sequence[str], **kw) -> ArrayDataset:
        """The items of these classes, relabelled 0..k-1 in the given order (for class-disjoint splits)."""
        unknown = [c for c in class_names if c not in self.class_names]
        if unknown:
            raise DataError(
                f"ArrayDataset.select_classes: unknown classes {unknown}; have {self.class_names}"
            )
        old = [self.class_names.index(c) for c in class_names]
        idx = [i for i, y in enumerate(self.labels) if y in old]
        if not idx:
            raise DataError(f"ArrayDataset.select_classes: no items of classes {list(class_names)}")
        kw = {"sensor_norm": self.sensor_norm, "stats": self.stats, **kw}
        return ArrayDataset(
            {m: x[idx].numpy() for m, x in self.data.items()},
            [old.index(self.labels[i]) for i in idx],
            subjects=None if self.subjects is None else [self.subjects[i] for i in idx],
            class_names=list(class_names),
            groups=[self.groups[i] for i in idx],
            **kw,
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        out: dict[str, Any] = {}
        for m, x in self.data.items():
            v = x[i]
            if self.sensor_norm == "none":
                out[m] = v.clone()
            else:
                out[m] = torch.from_numpy(normalize_sensor(v.numpy(), self.sensor_norm, self.stats, m))
        out["label"] = self.labels[i]
        meta: dict[str, Any] = {"recording": self.groups[i], "clip": str(i)}
        if self.subjects is not None:
            meta["subject"] = self.subjects[i]
        out["meta"] = meta
        return out


def _plain(v: Any) -> Any:
    """numpy scalars -> python scalars (meta must be JSON- and collate-friendly)."""
    return v.item() if isinstance(v, np.generic) else v
