"""Feature sources: where the fused features of an episode's clips come from, cached or live.

Every way of scoring an episode ends the same: fused features of its clips (S + Q, D), support first, go to
the head (`score.head_scores`). A feature source says how those features are made:

  CachedFeatures         per-clip fusion (`fusion_scope="clip"`): a clip's fused feature does not depend on
                         the episode, so every clip is encoded once (`encode_clips`) into a table (N, D) and
                         thousands of episodes are scored from it (prototype heads vectorised over episodes).
  CachedRepresentations  a fixed encoder (`freeze="frozen"`, shared features): encoder representations of
                         every clip are encoded once (`encode_representations`); the fusion (which may train)
                         runs on gathered rows -- once per clip into a table for per-clip fusion, per episode
                         for the episode-scope fusion.
  LiveFeatures           re-encode the episode's clips every time: the transductive episode-scope fusion (no
                         clip has a feature outside an episode) and an encoder that trains.

`table()` is the (N, D) table of fused features when they do not depend on the episode (else None);
`episode_features(ep, batch)` the fused features (S + Q, D) of one episode; `context()` the autocast context
in which the source is scored (live sources score under autocast, features and head, as they always did;
cached sources score their fp32 features in fp32). `module` is the nn.Module whose train/eval mode scoring
switches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from mumae_core.data.clips import collate
from mumae_core.errors import DataError, EpisodeError
from mumae_core.progress import progress as progress_bar
from mumae_core.runtime import autocast

FUSE_CHUNK = 256  # clips fused at once when a cached-representation table is built


def _to_device(batch: dict, modalities: Sequence[str], device: torch.device) -> dict:
    missing = [m for m in modalities if m not in batch]
    if missing:
        raise DataError(f"eval.features: the dataset has no modality {missing}; it has {sorted(batch)}")
    return {m: batch[m].to(device, non_blocking=True) for m in modalities}


def _loader(dataset, batch_size: int, num_workers: int) -> DataLoader:
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
    )


# ---------------------------------------------------------------------- encoding every clip once
@torch.no_grad()
def encode_clips(
    model,
    dataset,
    modalities: Sequence[str] | None = None,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """Fused features of every clip of `dataset`, in dataset order: (N, D_out) fp32 on the CPU.

    modalities: the modalities to feed (default: the model's modalities); others are treated as missing.
    Raises EpisodeError for the transductive episode-scope fusion (use LiveFeatures).
    """
    if model.transductive:
        raise EpisodeError(
            "eval.features.encode_clips: the episode-scope fusion is transductive (a clip's feature depends "
            "on its episode); use LiveFeatures"
        )
    device = torch.device(device)
    mods = list(modalities if modalities is not None else model.modalities)
    was_training = model.training
    model.eval()
    out = []
    loader = _loader(dataset, batch_size, num_workers)
    for batch in progress_bar(loader, desc="encode clips", disable=not progress, leave=False):
        with autocast(device, amp_dtype):
            f = model.clip_features(_to_device(batch, mods, device))
        out.append(f.float().cpu())
    model.train(was_training)
    if not out:
        raise DataError("eval.features.encode_clips: the dataset is empty")
    feats = torch.cat(out)
    if not torch.isfinite(feats).all():
        raise DataError("eval.features.encode_clips: non-finite clip features (NaN/inf) from the model")
    return feats


@torch.no_grad()
def encode_representations(
    model,
    dataset,
    modalities: Sequence[str] | None = None,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    num_workers: int = 0,
    progress: bool = True,
    with_rm: bool | None = None,
) -> dict:
    """Encoder representations of every clip, for a FIXED encoder (freeze='frozen', shared features):
    {"rm": (N, D) or None, "feats": {mod: (N, N_m, D_m), input_key(sensor): (N, 1, F_m)}}, fp32 on the CPU,
    in dataset order ("feats" holds each sensor's input statistics beside the tokens). with_rm: R^m too when
    True, without when False, as the model's fusion needs when None (`OneShotModel.representations`)."""
    if not model.encoder_is_fixed:
        raise EpisodeError(
            "eval.features.encode_representations: the encoder (or the unimodal encoders) train; "
            "representations change with every step and cannot be cached"
        )
    device = torch.device(device)
    mods = list(modalities if modalities is not None else model.modalities)
    was_training = model.training
    model.eval()
    rms, feats = [], {}
    for batch in progress_bar(_loader(dataset, batch_size, num_workers), desc="encode clips (frozen encoder)",
                      disable=not progress, leave=False):  # fmt: skip
        with autocast(device, amp_dtype):
            rm, f = model.representations(_to_device(batch, mods, device), with_rm=with_rm)
        if rm is not None:
            rms.append(rm.float().cpu())
        for k, v in f.items():  # the modalities' tokens and the sensors' input statistics
            feats.setdefault(k, []).append(v.float().cpu())
    model.train(was_training)
    return {"rm": torch.cat(rms) if rms else None, "feats": {m: torch.cat(v) for m, v in feats.items()}}


def gather_representations(reps: dict, idx: list[int], device) -> tuple:
    """Rows `idx` of cached representations -> (rm (n, D) or None, {mod: (n, N_m, D_m)}) on `device`."""
    rm = None if reps["rm"] is None else reps["rm"][idx].to(device)
    return rm, {m: f[idx].to(device) for m, f in reps["feats"].items()}


# ---------------------------------------------------------------------- sources
class FeatureSource:
    """Base class: fused features of episodes for `head`. See the module docstring."""

    kind = "?"
    head: nn.Module
    module: nn.Module

    def table(self) -> torch.Tensor | None:
        """(N, D) fused features of every clip when they do not depend on the episode, else None."""
        return None

    def episode_features(self, ep=None, batch: dict | None = None) -> torch.Tensor:
        """Fused features (S + Q, D) of episode `ep`'s clips, support first (or of a loaded `batch`)."""
        raise NotImplementedError

    def context(self):
        """The context in which this source is scored (autocast for live sources)."""
        return contextlib.nullcontext()


class CachedFeatures(FeatureSource):
    """A table (N, D) of per-clip fused features, scored by `head` (e.g. `model.head`)."""

    kind = "cache"

    def __init__(self, feats: torch.Tensor, head: nn.Module):
        if feats.dim() != 2:
            raise DataError(f"CachedFeatures: features must be (N, D); got {tuple(feats.shape)}")
        self.feats, self.head, self.module = feats, head, head

    @classmethod
    def encode(cls, model, dataset, modalities=None, batch_size=32, device="cpu", amp_dtype=None,
               num_workers=0, progress=True) -> CachedFeatures:  # fmt: skip
        """Encode every clip of `dataset` once (`encode_clips`); the table lives on `device`."""
        feats = encode_clips(model, dataset, modalities, batch_size, device, amp_dtype, num_workers, progress)
        return cls(feats.to(device), model.head)

    def table(self) -> torch.Tensor:
        return self.feats

    def episode_features(self, ep=None, batch: dict | None = None) -> torch.Tensor:
        return self.feats[ep.support + ep.query]


class CachedRepresentations(FeatureSource):
    """Cached encoder representations (`encode_representations`) of a fixed encoder; the fusion runs here."""

    kind = "representations"

    def __init__(self, model, reps: dict, device):
        self.model, self.reps, self.device = model, reps, torch.device(device)
        self.head, self.module = model.head, model

    def table(self) -> torch.Tensor | None:
        if self.model.transductive:
            return None
        n = next(iter(self.reps["feats"].values())).shape[0]
        chunks = [self.model.fusion(*gather_representations(self.reps, list(range(a, min(a + FUSE_CHUNK, n))),
                                                             self.device))
                  for a in range(0, n, FUSE_CHUNK)]  # fmt: skip
        return torch.cat(chunks).float()

    def episode_features(self, ep=None, batch: dict | None = None) -> torch.Tensor:
        return self.model.fusion(*gather_representations(self.reps, ep.support + ep.query, self.device))


class LiveFeatures(FeatureSource):
    """Re-encode an episode's clips (support + query together) on every call: any fusion, any encoder."""

    kind = "live"

    def __init__(self, model, dataset=None, modalities=None, device="cpu", amp_dtype=None):
        self.model, self.dataset, self.device, self.amp_dtype = (
            model,
            dataset,
            torch.device(device),
            amp_dtype,
        )
        self.modalities = list(modalities if modalities is not None else model.modalities)
        self.head, self.module = model.head, model

    def context(self):
        return autocast(self.device, self.amp_dtype)

    def episode_features(self, ep=None, batch: dict | None = None) -> torch.Tensor:
        if batch is None:
            if self.dataset is None:
                raise EpisodeError("LiveFeatures: no dataset to read the episode's clips from; pass batch=")
            batch = _to_device(collate([self.dataset[i] for i in ep.support + ep.query]), self.modalities,
                               self.device)  # fmt: skip
        rm, feats = self.model.representations(batch)
        return self.model.fusion(rm, feats)
