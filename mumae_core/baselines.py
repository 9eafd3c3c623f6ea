"""Non-learned baselines, scored on the same saved test episodes with the same head as the headline model.

Feature functions take a dataset and return `(N, F)` float32 features in dataset order (no learning):

    sensor_stats(ds, mods)  per channel of each sensor (L, 3): mean, std, min, max, the 10/50/90% quantiles,
                            RMS energy, and the dominant frequency (index of the largest |rFFT| bin above DC,
                            as a fraction of the bins) -> 9 numbers per channel, 27 per sensor
    sensor_mean_std(ds, mods)  per channel of each sensor: mean and std only -> 2 numbers per channel, 6 per
                            sensor (HAPT acc + gyro: the 12 numbers of the review's baseline)
    raw_signal(ds, mods)    the resampled signals themselves, (L x 3) per sensor, flattened
    pixels(ds)              the RGB frames area-downsampled to 16 x 16, flattened
    silhouettes(ds, bg)     |frame - background| > 0.1 (max over RGB, frames in [0, 1]) as a fraction per
                            cell of a 16 x 16 grid; the background of a (scene, camera) is the per-pixel
                            median over the TRAIN split's frames of that view
    encoder_probe(ds, mae)  the MAE encoder's pooled representation R^m (`encode(...).pooled`), no training;
                            random init = `runs.random_init_mae(cfg)`, the encoder the random-init one-shot
                            rows start from (drawn once from pretrain.seed)

Each feature block is z-scored per dimension with the statistics of the TRAIN split's features (base classes
minus validation: fitted without seeing a novel class), then every test episode is scored by cosine prototypes
(`PrototypeHead("cosine")`: the headline's head and distance) through the kit's one evaluation path.
Rows (`baselines_for`): "statistics: <sensor>" and "mean and std: <sensor>" per sensor, the same of "all
sensors" (when there are several), "raw signal: all sensors", the two video rows, the two encoder probes.
`run_baselines(..., features=)` takes features computed elsewhere (e.g. R^m encoded for a one-shot row);
`others=` scores validation- and training-class episodes too (02's "validation classes vs test" table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mumae_core.data.clips import collate
from mumae_core.errors import DataError
from mumae_core.modalities import IMAGENET_MEAN, IMAGENET_STD, VIDEO, has_video, sensors

GRID = 16  # video features: a GRID x GRID image per frame
SILHOUETTE_THRESHOLD = 0.1  # |frame - background| in [0, 1] units, max over RGB
QUANTILES = (0.1, 0.5, 0.9)
STAT_NAMES = ("mean", "std", "min", "max", "q10", "q50", "q90", "rms", "dominant_freq")


def _batches(ds, modalities: Sequence[str], batch_size: int = 64):
    """Batches {mod: (B, ...)} of `ds` in order, with the clips' meta."""
    for b in DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate):
        yield {m: b[m] for m in modalities}, b["meta"]


# ---------------------------------------------------------------------- sensor features
def channel_stats(x: torch.Tensor) -> torch.Tensor:
    """x (B, L, C) -> (B, C * 9): STAT_NAMES per channel (see the module docstring), channel-major."""
    q = torch.quantile(x, torch.tensor(QUANTILES, dtype=x.dtype), dim=1)  # (3, B, C)
    spec = torch.fft.rfft(x - x.mean(1, keepdim=True), dim=1).abs()[:, 1:]  # (B, L//2, C), DC dropped
    dom = (spec.argmax(1).float() + 1) / spec.shape[1]  # (B, C)
    parts = [x.mean(1), x.std(1), x.amin(1), x.amax(1), *q, x.pow(2).mean(1).sqrt(), dom]
    return torch.stack(parts, -1).flatten(1)  # (B, C, 9) -> (B, C * 9)


def sensor_stats(ds, modalities: Sequence[str]) -> np.ndarray:
    """(N, 27 * len(modalities)) per-channel statistics of the given sensors."""
    out = [
        torch.cat([channel_stats(b[m].float()) for m in modalities], 1) for b, _ in _batches(ds, modalities)
    ]
    return torch.cat(out).numpy()


def channel_mean_std(x: torch.Tensor) -> torch.Tensor:
    """x (B, L, C) -> (B, C * 2): mean and std (unbiased) over time per channel, channel-major."""
    return torch.stack([x.mean(1), x.std(1)], -1).flatten(1)  # (B, C, 2) -> (B, C * 2)


def sensor_mean_std(ds, modalities: Sequence[str]) -> np.ndarray:
    """(N, 6 * len(modalities)) per-channel mean and std of the given sensors."""
    out = [
        torch.cat([channel_mean_std(b[m].float()) for m in modalities], 1)
        for b, _ in _batches(ds, modalities)
    ]
    return torch.cat(out).numpy()


def raw_signal(ds, modalities: Sequence[str]) -> np.ndarray:
    """(N, sum L * 3) the resampled signals, flattened."""
    out = [torch.cat([b[m].float().flatten(1) for m in modalities], 1) for b, _ in _batches(ds, modalities)]
    return torch.cat(out).numpy()


# ---------------------------------------------------------------------- video features
def _frames01(video: torch.Tensor, video_norm: str) -> torch.Tensor:
    """(B, C, T, H, W) as the dataset gives it -> (B, T, C, GRID, GRID) in [0, 1], area-downsampled."""
    v = video.float()
    if video_norm == "imagenet":
        v = v * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1) + torch.tensor(IMAGENET_MEAN).view(
            1, 3, 1, 1, 1
        )
    B, C, T, H, W = v.shape
    small = F.adaptive_avg_pool2d(v.transpose(1, 2).reshape(B * T, C, H, W), GRID)
    return small.reshape(B, T, C, GRID, GRID).clamp(0, 1)


def pixels(ds, video_norm: str = "imagenet") -> np.ndarray:
    """(N, T * 3 * GRID * GRID) downsampled RGB frames."""
    return torch.cat([_frames01(b[VIDEO], video_norm).flatten(1) for b, _ in _batches(ds, [VIDEO])]).numpy()


def _view(meta: dict) -> tuple:
    return (meta.get("scene"), meta.get("camera"))


def backgrounds(ds, video_norm: str = "imagenet") -> dict:
    """{(scene, camera): (3, GRID, GRID)} per-pixel median over every frame of `ds` (the train split)."""
    frames: dict[tuple, list[torch.Tensor]] = {}
    for b, meta in _batches(ds, [VIDEO]):
        f = _frames01(b[VIDEO], video_norm)  # (B, T, 3, G, G)
        for i, m in enumerate(meta):
            frames.setdefault(_view(m), []).append(f[i])
    out = {k: torch.cat(v).median(0).values for k, v in frames.items()}
    out[None] = torch.cat([torch.cat(v) for v in frames.values()]).median(0).values  # views absent from train
    return out


def silhouettes(ds, bg: dict, video_norm: str = "imagenet") -> np.ndarray:
    """(N, T * GRID * GRID) foreground fraction per cell against the clip's (scene, camera) background."""
    out = []
    for b, meta in _batches(ds, [VIDEO]):
        f = _frames01(b[VIDEO], video_norm)
        ref = torch.stack([bg.get(_view(m), bg[None]) for m in meta]).unsqueeze(1)  # (B, 1, 3, G, G)
        out.append(((f - ref).abs().amax(2) > SILHOUETTE_THRESHOLD).float().flatten(1))
    return torch.cat(out).numpy()


# ---------------------------------------------------------------------- encoder probe
@torch.no_grad()
def encoder_probe(ds, mae, modalities: Sequence[str]) -> np.ndarray:
    """(N, D) R^m of a (random or pretrained) MAE encoder on the given modalities, no training."""
    mae.eval()
    return torch.cat([mae.encode(b).pooled.float() for b, _ in _batches(ds, modalities, 32)]).numpy()


# ---------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Baseline:
    """One baseline row: `features(dataset) -> (N, F)` float32."""

    name: str
    features: Callable


class _Silhouettes:
    """Silhouette features against the backgrounds of `train` (computed once, on first use)."""

    def __init__(self, train, video_norm: str):
        self.train, self.video_norm, self.bg = train, video_norm, None

    def __call__(self, ds) -> np.ndarray:
        if self.bg is None:
            self.bg = backgrounds(self.train, self.video_norm)
        return silhouettes(ds, self.bg, self.video_norm)


def zscore_with(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Standardise every block with the mean and std of `train` (per dimension; constant dims dropped)."""
    mu, sd = train.mean(0), train.std(0)
    keep = sd > 1e-8
    if not keep.any():
        raise DataError("baselines: every feature is constant over the train split")
    return [((x - mu) / np.where(keep, sd, 1))[:, keep].astype(np.float32) for x in (train, *others)]


class _Probe:
    """encoder_probe with an encoder made on first use (`make()`: the random-init draw or a checkpoint)."""

    def __init__(self, make: Callable, modalities: Sequence[str]):
        self.make, self.modalities, self.mae = make, tuple(modalities), None

    def __call__(self, ds) -> np.ndarray:
        if self.mae is None:
            self.mae = self.make()
        return encoder_probe(ds, self.mae, self.modalities)


RANDOM_PROBE = "encoder, random init (no training)"
PRETRAINED_PROBE = "encoder, pretrained (no training)"


def baselines_for(cfg, train, checkpoint=None) -> list[Baseline]:
    """The baseline rows that apply to cfg's modalities (the pretrained probe when `checkpoint` is given);
    `train` is the train split (silhouette backgrounds). Nothing is computed or loaded before a row's
    features are asked for."""
    from mumae_core.runs import fresh_encoder, random_init_mae

    mods = tuple(cfg.data.modalities)
    sens = sensors(mods)
    vn = cfg.data.video_norm
    rows = []
    for prefix, fn in (("statistics", sensor_stats), ("mean and std", sensor_mean_std)):
        rows += [Baseline(f"{prefix}: {m}", lambda ds, m=m, fn=fn: fn(ds, [m])) for m in sens]
        if len(sens) > 1:
            rows.append(Baseline(f"{prefix}: all sensors", lambda ds, fn=fn: fn(ds, sens)))
    if sens:
        rows.append(Baseline("raw signal: all sensors", lambda ds: raw_signal(ds, sens)))
    if has_video(mods):
        rows.append(Baseline("video: downsampled pixels", lambda ds: pixels(ds, vn)))
        rows.append(Baseline("video: silhouettes", _Silhouettes(train, vn)))
    rows.append(Baseline(RANDOM_PROBE, _Probe(lambda: random_init_mae(cfg), mods)))
    if checkpoint is not None:
        rows.append(Baseline(PRETRAINED_PROBE, _Probe(lambda: fresh_encoder(checkpoint), mods)))
    return rows


def score_blocks(
    blocks: Sequence[tuple[np.ndarray, np.ndarray]], episodes, class_names: Sequence[str]
) -> dict:
    """Score feature blocks [(train (N_train, F_b), eval (N_eval, F_b)), ...] on `episodes` of the eval split.

    Each block is z-scored with its train statistics; several blocks are each scaled by 1/sqrt(F_b) (so each
    weighs the same in the cosine) and concatenated. -> summary (accuracy, ci95, episode_accuracy, ...)."""
    from mumae_core.eval import CachedFeatures, score_episodes, summarise
    from mumae_core.models.heads import PrototypeHead

    parts = []
    for tr, ev in blocks:
        _, ev = zscore_with(np.asarray(tr, dtype=np.float32), np.asarray(ev, dtype=np.float32))
        parts.append(ev / np.sqrt(ev.shape[1]) if len(blocks) > 1 else ev)
    x = torch.from_numpy(np.concatenate(parts, 1))  # (N_eval, sum F_b)
    scores = score_episodes(CachedFeatures(x, PrototypeHead("cosine")), episodes)
    return summarise(scores, episodes, list(class_names))


def run_baselines(
    cfg, datasets: dict, episodes, checkpoint=None, features: dict | None = None, others: dict | None = None
) -> list[dict]:
    """Every baseline of `baselines_for(cfg, ...)` scored on `episodes` of datasets["test"].

    others: {split: episodes of datasets[split]} scored too, e.g. {"val": ..., "train": ...}: how each
    baseline fares on the validation classes and on the training classes themselves (z-scored with the same
    train statistics; no label is used), beside the novel classes.
    features: {baseline name: {split: (N_split, F)}} computed elsewhere (e.g. the R^m of a frozen encoder a
    one-shot row encoded already); those splits use them instead of computing their own.
    -> [{"baseline": name, "test": summary (accuracy, ci95, episode_accuracy, ...), split: summary ...}].
    """
    train = datasets["train"]
    others = others or {}
    out = []
    for b in baselines_for(cfg, train, checkpoint):
        given = (features or {}).get(b.name, {})
        feats = {}
        for split in ("train", "test", *[s for s in others if s not in ("train", "test")]):
            feats[split] = given[split] if split in given else b.features(datasets[split])
            if len(feats[split]) != len(datasets[split]):
                raise DataError(
                    f"run_baselines: features of {b.name!r} have {len(feats[split])} rows, the {split} split "
                    f"{len(datasets[split])} clips"
                )
        r = {"baseline": b.name}
        for split, eps in (("test", episodes), *others.items()):
            r[split] = score_blocks([(feats["train"], feats[split])], eps, datasets[split].class_names)
        out.append(r)
    return out
