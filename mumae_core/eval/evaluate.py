"""Evaluate a one-shot model on episodes: pick the feature source, score, summarise.

    evaluate(model, dataset, episodes, ...) -> summary dict (`summary.summarise`) plus modalities used and
    missing, the source kind ("cache" | "representations" | "live") under "path", and timings.

Used by training-time validation and the test of `train/oneshot.py`, by the notebooks and (through the same
feature sources and `score_episodes`) by `mumae bench evaluate`.
"""

from __future__ import annotations

import time

import torch

from mumae_core.errors import ConfigError, DataError, EpisodeError
from mumae_core.eval.features import CachedFeatures, CachedRepresentations, FeatureSource, LiveFeatures
from mumae_core.eval.score import score_episodes
from mumae_core.eval.summary import summarise
from mumae_core.runtime import autocast_dtype


def feature_source(
    model,
    dataset,
    modalities=None,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    use_cache: bool | None = None,
    reps: dict | None = None,
    batch_size: int = 32,
    num_workers: int = 0,
    progress: bool = True,
) -> FeatureSource:
    """The feature source for scoring `dataset` with `model`.

    reps: cached representations of `dataset` (`encode_representations`, a fixed encoder) ->
    CachedRepresentations.
    use_cache: None = CachedFeatures (every clip encoded once now) when the fusion is per clip, else
    LiveFeatures; True / False force one (True with the episode-scope fusion is a ConfigError).
    """
    if reps is not None:
        return CachedRepresentations(model, reps, device)
    cache = not model.transductive if use_cache is None else use_cache
    if cache and model.transductive:
        raise ConfigError("evaluate: use_cache=True with the episode-scope (transductive) fusion")
    if cache:
        return CachedFeatures.encode(
            model, dataset, modalities, batch_size, device, amp_dtype, num_workers, progress
        )
    return LiveFeatures(model, dataset, modalities, device, amp_dtype)


def evaluate(
    model,
    dataset,
    episodes,
    modalities=None,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    amp: str = "off",
    use_cache: bool | None = None,
    num_workers: int = 0,
    progress: bool = True,
    reps: dict | None = None,
) -> dict:
    """Score `episodes` (indices into `dataset`) with `model`; return the summary dict (see `summarise`).

    modalities: feed only these (default: the model's modalities present in the dataset); the others are
    reported under "missing_modalities". use_cache / reps: see `feature_source`.
    """
    if not episodes:
        raise EpisodeError("evaluate: no episodes")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    have = set(getattr(dataset, "modalities", model.modalities))
    wanted = set(modalities) if modalities is not None else set(model.modalities)
    unknown = wanted - set(model.modalities)
    if unknown:
        raise DataError(f"evaluate: modalities {sorted(unknown)} are not modalities of the model")
    used = [m for m in model.modalities if m in have and m in wanted]
    if not used:
        raise DataError(f"evaluate: none of the model's modalities {model.modalities} can be fed from {have}")
    t0 = time.perf_counter()
    source = feature_source(model, dataset, used, device, autocast_dtype(device, amp), use_cache, reps,
                            batch_size, num_workers, progress)  # fmt: skip
    t1 = time.perf_counter()
    scores = score_episodes(source, episodes, progress=progress and isinstance(source, LiveFeatures))
    out = summarise(scores, episodes, list(dataset.class_names))
    out.update(
        modalities=used,
        missing_modalities=[m for m in model.modalities if m not in used],
        path=source.kind,
        seconds_encode=t1 - t0,
        seconds_total=time.perf_counter() - t0,
    )
    return out
