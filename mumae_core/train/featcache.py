"""Feature cache for episodic evaluation, and the naive per-episode path it replaces.

With per-clip fusion (`oneshot.fusion_scope == "clip"`) a clip's fused feature does not depend on the episode:
`encode_clips` runs every clip of a dataset through the model once (batched, no grad, autocast), giving an
(N, D) matrix, and `score_from_cache` scores thousands of episodes from it. Prototype heads are vectorised
over episodes (support/query indices gathered as (E, S) / (E, Q) tensors, (E, way, D) prototypes, batched
cosine or euclidean scores). Heads without `batched_scores` (the reference self+cross head, which is
episode-dependent) are applied one episode at a time, still from the cached features.

The episode-scope fusion (reference, transductive) mixes the clips of each episode: no clip has a feature
outside an episode, so it CANNOT use the cache and `naive_scores` re-encodes the clips of every episode.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from mumae_core.data.clips import collate
from mumae_core.errors import DataError, EpisodeError
from mumae_core.progress import progress as progress_bar
from mumae_core.runtime import autocast


def can_use_cache(model) -> bool:
    """True when clip features are independent of the episode (per-clip fusion)."""
    return not model.transductive


def _to_device(batch: dict, modalities: Sequence[str], device: torch.device) -> dict:
    missing = [m for m in modalities if m not in batch]
    if missing:
        raise DataError(f"featcache: the dataset has no modality {missing}; it has {sorted(batch)}")
    return {m: batch[m].to(device, non_blocking=True) for m in modalities}


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
    """
    if not can_use_cache(model):
        raise EpisodeError(
            "featcache.encode_clips: the episode-scope fusion is transductive (a clip's feature depends on "
            "its episode); use naive_scores"
        )
    device = torch.device(device)
    mods = list(modalities if modalities is not None else model.modalities)
    was_training = model.training
    model.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
    )
    out = []
    for batch in progress_bar(loader, desc="encode clips", disable=not progress, leave=False):
        with autocast(device, amp_dtype):
            f = model.clip_features(_to_device(batch, mods, device))
        out.append(f.float().cpu())
    model.train(was_training)
    if not out:
        raise DataError("featcache.encode_clips: the dataset is empty")
    feats = torch.cat(out)
    if not torch.isfinite(feats).all():
        raise DataError("featcache.encode_clips: non-finite clip features (NaN/inf) from the model")
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
) -> dict:
    """Encoder representations of every clip, for a FIXED encoder (freeze='frozen', shared features):
    {"rm": (N, D) or None, "feats": {mod: (N, N_m, D_m)}}, fp32 on the CPU, in dataset order.

    Training and validation then run only the fusion and the head on gathered rows
    (`model.scores_from_representations`), for either fusion scope.
    """
    if not model.encoder_is_fixed:
        raise EpisodeError(
            "featcache.encode_representations: the encoder (or the unimodal encoders) train; representations "
            "change with every step and cannot be cached"
        )
    device = torch.device(device)
    mods = list(modalities if modalities is not None else model.modalities)
    was_training = model.training
    model.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
    )
    rms, feats = [], {m: [] for m in mods}
    for batch in progress_bar(
        loader, desc="encode clips (frozen encoder)", disable=not progress, leave=False
    ):
        with autocast(device, amp_dtype):
            rm, f = model.representations(_to_device(batch, mods, device))
        if rm is not None:
            rms.append(rm.float().cpu())
        for m in mods:
            feats[m].append(f[m].float().cpu())
    model.train(was_training)
    return {"rm": torch.cat(rms) if rms else None, "feats": {m: torch.cat(v) for m, v in feats.items()}}


def episode_tensors(episodes: Sequence) -> dict[str, torch.Tensor]:
    """Stack episodes of one shape: support, support_labels (E, S); query, query_labels (E, Q)."""
    sizes = {(len(ep.classes), len(ep.support), len(ep.query)) for ep in episodes}
    if len(sizes) != 1:
        raise EpisodeError(f"featcache.episode_tensors: episodes of several shapes {sorted(sizes)}")
    keys = ("support", "support_labels", "query", "query_labels")
    return {k: torch.from_numpy(np.array([getattr(ep, k) for ep in episodes], dtype=np.int64)) for k in keys}


@torch.no_grad()
def score_from_cache(
    head, feats: torch.Tensor, episodes: Sequence, chunk: int = 2048, progress: bool = False
) -> list[torch.Tensor]:
    """Scores of every episode from cached features (N, D): a list of (Q_e, way) fp32 tensors.

    Vectorised over episodes of the same shape when the head has `batched_scores`; else episode by episode.
    """
    if not episodes:
        raise EpisodeError("featcache.score_from_cache: no episodes")
    was_training = head.training
    head.eval()
    device = feats.device
    out: list[torch.Tensor | None] = [None] * len(episodes)
    if hasattr(head, "batched_scores"):
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, ep in enumerate(episodes):
            groups[(len(ep.classes), len(ep.support), len(ep.query))].append(i)
        for (way, _, _), idx in groups.items():
            for start in range(0, len(idx), chunk):
                part = idx[start : start + chunk]
                t = {k: v.to(device) for k, v in episode_tensors([episodes[i] for i in part]).items()}
                s = head.batched_scores(feats[t["support"]], t["support_labels"], feats[t["query"]], way)
                for i, si in zip(part, s.float().cpu().unbind(0)):
                    out[i] = si
    else:
        for i, ep in enumerate(
            progress_bar(episodes, desc="score episodes", disable=not progress, leave=False)
        ):
            head.process_support_set(feats[ep.support], torch.tensor(ep.support_labels, device=device))
            out[i] = head(feats[ep.query]).float().cpu()
    head.train(was_training)
    return out  # type: ignore[return-value]


@torch.no_grad()
def naive_scores(
    model,
    dataset,
    episodes: Sequence,
    modalities: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    progress: bool = True,
) -> list[torch.Tensor]:
    """Scores of every episode by re-encoding its clips (support + query together): list of (Q_e, way)."""
    device = torch.device(device)
    mods = list(modalities if modalities is not None else model.modalities)
    was_training = model.training
    model.eval()
    out = []
    for ep in progress_bar(episodes, desc="episodes (naive)", disable=not progress, leave=False):
        sup = _to_device(collate([dataset[i] for i in ep.support]), mods, device)
        qry = _to_device(collate([dataset[i] for i in ep.query]), mods, device)
        labels = torch.tensor(ep.support_labels, dtype=torch.long, device=device)
        with autocast(device, amp_dtype):
            s = model.episode_scores(sup, labels, qry)
        out.append(s.float().cpu())
    model.train(was_training)
    return out
