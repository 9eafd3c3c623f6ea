"""Your checkpoint, your clips: embed them and classify new ones from a few labelled examples.

How to use
----------
    from mumae_core.api import OneShotClassifier, embed, load_encoder

    mae, cfg = load_encoder("runs/smoke")                  # a pretraining run dir (or a checkpoint file)
    feats = embed("my_clips/", mae, cfg)                   # (N, D) numpy: one R^m vector per clip
    clf = OneShotClassifier(mae, cfg).fit("support/")      # one (or a few) labelled clips per class
    labels = clf.predict("queries/")                       # the support class of each query
    scores = clf("queries/")                               # (Q, way) torch scores, higher = more likely

Data, wherever a function takes clips:
  * a folder in the MMAct layout: `video/<class>/<clip>.mp4` and `<sensor>_clip/<class>/<recording>.csv`
    (clip = `subject<k>_cam<c>_scene<s>_session<e>_<class>`, recording = the clip name without `cam<c>`);
    the class folders give the labels, the clip names the ids. Frames are spread over the whole clip.
  * an `.npz` of sensor arrays: `{modality: (N, L, 3)}` with L = the model's `data.sensor_len`, plus
    `labels` (N,) ints (optional for queries), and optional `ids` (N,) and `class_names`;
  * a kit dataset (`ds[i] -> {modality: tensor, "label": int, "meta": dict}`), e.g. from `build_datasets`.
Only the modalities the model knows are read; any subset works (a video-only folder, a sensor-only .npz).
Sensors are normalised as in pretraining (`data.sensor_norm`); z-score statistics come from the data itself
(for the classifier: from the support set, then reused for the queries).

Features are R^m, the pooled encoder output over all the clip's modalities (no masking, no gradient), and
the classifier is a prototype head (easyfsl's shape): `process_support_set(support, labels)` then
`forward(queries) -> scores`; `fit` does the first and returns the classifier. No training happens: for
the episodically trained fusion of the paper, see `mumae evaluate`. Command line:

    mumae embed --checkpoint RUN --data DIR_OR_NPZ --out feats.npy           (+ feats.ids.txt)
    mumae classify --checkpoint RUN --support DIR_OR_NPZ --query DIR_OR_NPZ [--out preds.csv]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mumae_core.config import Config
from mumae_core.data.clips import SensorStats, collate
from mumae_core.errors import ConfigError, DataError
from mumae_core.modalities import VIDEO, sensors

__all__ = ["ClipSet", "OneShotClassifier", "embed", "load_clips", "load_encoder"]

HEADS = {"proto_cos": "cosine", "proto_euclid": "euclidean"}
Source = str | os.PathLike | Dataset


@dataclass
class ClipSet:
    """A dataset with the id and class name of each item (`labels[i]` indexes `class_names`)."""

    dataset: Dataset
    ids: list[str]
    labels: list[int]
    class_names: list[str]
    stats: SensorStats | None = None

    def __len__(self) -> int:
        return len(self.ids)


# ---------------------------------------------------------------------- loading
def load_encoder(checkpoint_or_run_dir: str | os.PathLike, device: str = "cpu") -> tuple[nn.Module, Config]:
    """The pretrained MultimodalMAE of a run dir or checkpoint file (eval mode) and its Config."""
    from mumae_core.train.checkpoint import load_mae

    mae, cfg = load_mae(checkpoint_or_run_dir, map_location=device)
    return mae.to(device).eval(), cfg


def load_clips(source: Source | ClipSet, cfg: Config, stats: SensorStats | None = None) -> ClipSet:
    """A folder (MMAct layout), an .npz of sensor arrays or a kit dataset -> ClipSet (see the module doc).

    stats: z-score statistics to use (None: computed from this data when `data.sensor_norm` is zscore).
    """
    if isinstance(source, ClipSet):
        return source
    if isinstance(source, Dataset):
        return _from_dataset(source)
    path = Path(source)
    if path.is_file() and path.suffix == ".npz":
        return _from_npz(path, cfg, stats)
    if path.is_dir():
        return _from_folder(path, cfg, stats)
    raise DataError(f"{path}: expected a folder in the MMAct layout or an .npz of sensor arrays")


def _from_dataset(ds: Dataset) -> ClipSet:
    labels = [int(y) for y in getattr(ds, "labels", [0] * len(ds))]
    names = list(getattr(ds, "class_names", [str(i) for i in range(max(labels, default=0) + 1)]))
    items = getattr(ds, "items", None)
    ids = [it["clip"] for it in items] if items is not None else [str(i) for i in range(len(ds))]
    return ClipSet(ds, ids, labels, names)


def _from_folder(root: Path, cfg: Config, stats: SensorStats | None) -> ClipSet:
    from mumae_core.data.mmact import MMActDataset

    video = root / VIDEO
    entries = sorted(f"{p.parent.name}/{p.stem}" for p in video.glob("*/*.mp4"))
    if not entries:
        raise DataError(
            f"{root}: no clips at {video}/<class>/<clip>.mp4 (the MMAct layout); for sensor-only data "
            "pass an .npz of {modality: (N, L, 3)} arrays"
        )
    classes = sorted({e.split("/")[0] for e in entries})
    mods = _folder_modalities(root, cfg)
    d = cfg.data

    def make(s: SensorStats | None, norm: str) -> MMActDataset:
        return MMActDataset(
            root, entries, classes, mods, num_frames=d.num_frames, frame_stride=0, img_size=d.img_size,
            sensor_len=d.sensor_len, sensor_norm=norm, sensor_stats=s, video_norm=d.video_norm,
            resize=d.resize, video_backend=d.video_backend,
        )  # fmt: skip

    norm = d.sensor_norm if sensors(mods) else "none"
    if norm == "zscore" and stats is None:
        stats = make(None, "none").compute_sensor_stats(progress=False)
    ds = make(stats, norm)
    return ClipSet(ds, [it["clip"] for it in ds.items], list(ds.labels), classes, stats)


def _folder_modalities(root: Path, cfg: Config) -> tuple[str, ...]:
    """The model's modalities this folder has (video/ and <sensor>_clip/ folders)."""
    have = tuple(m for m in cfg.data.modalities if (root / (VIDEO if m == VIDEO else f"{m}_clip")).is_dir())
    if not have:
        raise DataError(
            f"{root}: none of the model's modalities {list(cfg.data.modalities)} is there "
            "(expected video/ and/or <sensor>_clip/ folders)"
        )
    return have


def _from_npz(path: Path, cfg: Config, stats: SensorStats | None) -> ClipSet:
    from mumae_core.data.arrays import ArrayDataset

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.keys()}
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read arrays from {path}: {e}") from e
    mods = [m for m in sensors(cfg.data.modalities) if m in arrays]
    if not mods:
        raise DataError(
            f"{path}: no array for any sensor modality of the model {list(sensors(cfg.data.modalities))} "
            f"(arrays: {sorted(arrays)})"
        )
    data = {m: arrays[m] for m in mods}
    for m, x in data.items():
        if x.ndim != 3 or x.shape[1:] != (cfg.data.sensor_len, 3):
            raise DataError(
                f"{path}: array {m!r} has shape {x.shape}; the model wants (N, {cfg.data.sensor_len}, 3) "
                "(data.sensor_len samples of x, y, z)"
            )
    n = len(next(iter(data.values())))
    labels = arrays["labels"] if "labels" in arrays else np.zeros(n, np.int64)
    names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    ids = [str(i) for i in arrays["ids"]] if "ids" in arrays else [str(i) for i in range(n)]
    if len(ids) != n:
        raise DataError(f"{path}: 'ids' has {len(ids)} entries but the arrays have {n} items")
    norm = cfg.data.sensor_norm
    if norm == "zscore" and stats is None:
        stats = ArrayDataset(data, labels, class_names=names).compute_sensor_stats()
    ds = ArrayDataset(data, labels, class_names=names, groups=ids, sensor_norm=norm, stats=stats)
    return ClipSet(ds, ids, list(ds.labels), list(ds.class_names), stats)


# ---------------------------------------------------------------------- features
@torch.no_grad()
def embed(
    clips_or_dataset: Source | ClipSet, mae: nn.Module, cfg: Config, batch_size: int = 32, device=None
) -> np.ndarray:
    """R^m features (N, D) float32, one row per clip in the data's order (no masking, no gradient)."""
    return _embed(load_clips(clips_or_dataset, cfg), mae, batch_size, device).numpy()


def _embed(clips: ClipSet, mae: nn.Module, batch_size: int = 32, device=None) -> torch.Tensor:
    """(N, D) fp32 CPU tensor of pooled encoder features."""
    device = torch.device(device) if device is not None else next(mae.parameters()).device
    known = set(getattr(mae, "modalities", ()))
    was_training = mae.training
    mae.eval()
    out = []
    loader = DataLoader(clips.dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    with torch.no_grad():
        for batch in loader:
            x = {m: v.to(device) for m, v in batch.items() if m in known}  # {mod: (B, ...)}
            out.append(mae.encode(x).pooled.float().cpu())  # (B, D)
    mae.train(was_training)
    if not out:
        raise DataError("embed: no clips")
    feats = torch.cat(out)
    if not torch.isfinite(feats).all():
        raise DataError("embed: the encoder gave non-finite features (NaN/inf)")
    return feats


# ---------------------------------------------------------------------- classifier
class OneShotClassifier(nn.Module):
    """Prototype classifier on R^m features of a pretrained MAE (easyfsl's `process_support_set` / `forward`).

    head: proto_cos (scaled cosine to each class mean; the kit default) | proto_euclid (negative squared
    distance). Support labels may be ints or class names; `predict` returns the same kind.
    """

    def __init__(self, mae: nn.Module, cfg: Config, head: str = "proto_cos", batch_size: int = 32):
        super().__init__()
        from mumae_core.models.heads import PrototypeHead

        if head not in HEADS:
            raise ConfigError(f"OneShotClassifier: head must be one of {list(HEADS)}; got {head!r}")
        self.mae, self.cfg, self.batch_size = mae, cfg, batch_size
        self.head = PrototypeHead(HEADS[head])
        self.classes: list[Any] = []
        self.stats: SensorStats | None = None

    def process_support_set(self, support: Source | ClipSet, labels: Sequence | None = None) -> None:
        """Store the class prototypes of the support clips; labels default to the data's class names."""
        clips = load_clips(support, self.cfg)
        self.stats = clips.stats
        if labels is None:
            labels = [clips.class_names[y] for y in clips.labels]
        labels = list(labels)
        if len(labels) != len(clips):
            raise DataError(f"OneShotClassifier: {len(labels)} labels for {len(clips)} support clips")
        self.classes = sorted(set(labels), key=str)
        if len(self.classes) < 2:
            raise DataError(f"OneShotClassifier: the support set needs >= 2 classes; got {self.classes}")
        y = torch.tensor([self.classes.index(c) for c in labels])
        with torch.no_grad():
            self.head.process_support_set(_embed(clips, self.mae, self.batch_size), y)

    def fit(self, support: Source | ClipSet, labels: Sequence | None = None) -> OneShotClassifier:
        self.process_support_set(support, labels)
        return self

    @torch.no_grad()
    def forward(self, queries: Source | ClipSet) -> torch.Tensor:
        """Scores (Q, way) in the order of `self.classes`; higher = more likely."""
        if not self.classes:
            raise DataError("OneShotClassifier: call fit / process_support_set before scoring queries")
        clips = load_clips(queries, self.cfg, stats=self.stats)
        return self.head(_embed(clips, self.mae, self.batch_size))

    def predict(self, queries: Source | ClipSet) -> np.ndarray:
        """The support class of each query (Q,)."""
        best = self(queries).argmax(-1).tolist()
        return np.array([self.classes[i] for i in best])
