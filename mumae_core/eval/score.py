"""Scoring episodes: one function from a feature source and episodes to per-episode scores.

    score_episodes(source, episodes) -> [(Q_e, way) fp32 scores]   evaluation (validation, test, benchmark)
    episode_scores(source, support_labels, ep, batch) -> (Q, way)  one episode, with grad (training)

Both end in `head_scores`: the head takes the support rows of the fused features, then scores the query rows.
When the source has a table of per-clip features (`source.table()`) and the head has `batched_scores`
(prototype heads), episodes of one shape are scored together: (E, S) / (E, Q) index tensors gathered into
(E, way, D) prototypes. Otherwise episodes are scored one at a time, under `source.context()`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from mumae_core.errors import EpisodeError
from mumae_core.progress import progress as progress_bar

BATCH_EPISODES = 2048  # episodes scored at once by a batched head


def head_scores(head, feats: torch.Tensor, support_labels: torch.Tensor) -> torch.Tensor:
    """feats (S + Q, D) support first, support_labels (S,) -> scores (Q, way)."""
    n_s = support_labels.shape[0]
    head.process_support_set(feats[:n_s], support_labels)
    return head(feats[n_s:])


def episode_scores(source, support_labels: torch.Tensor, ep=None, batch: dict | None = None) -> torch.Tensor:
    """Scores (Q, way) of one episode from `source` (episode `ep`, or an already loaded `batch`)."""
    return head_scores(source.head, source.episode_features(ep, batch), support_labels)


def episode_tensors(episodes: Sequence) -> dict[str, torch.Tensor]:
    """Stack episodes of one shape: support, support_labels (E, S); query, query_labels (E, Q)."""
    sizes = {(len(ep.classes), len(ep.support), len(ep.query)) for ep in episodes}
    if len(sizes) != 1:
        raise EpisodeError(f"eval.score.episode_tensors: episodes of several shapes {sorted(sizes)}")
    keys = ("support", "support_labels", "query", "query_labels")
    return {k: torch.from_numpy(np.array([getattr(ep, k) for ep in episodes], dtype=np.int64)) for k in keys}


def _batched(head, feats: torch.Tensor, episodes: Sequence, out: list, chunk: int) -> None:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, ep in enumerate(episodes):
        groups[(len(ep.classes), len(ep.support), len(ep.query))].append(i)
    for (way, _, _), idx in groups.items():
        for start in range(0, len(idx), chunk):
            part = idx[start : start + chunk]
            t = {k: v.to(feats.device) for k, v in episode_tensors([episodes[i] for i in part]).items()}
            s = head.batched_scores(feats[t["support"]], t["support_labels"], feats[t["query"]], way)
            for i, si in zip(part, s.float().cpu().unbind(0)):
                out[i] = si


@torch.no_grad()
def score_episodes(
    source, episodes: Sequence, chunk: int = BATCH_EPISODES, progress: bool = False
) -> list[torch.Tensor]:
    """Scores of every episode from a feature source: a list of (Q_e, way) fp32 tensors on the CPU.

    The source's module is put in eval mode for the call and restored after.
    """
    if not episodes:
        raise EpisodeError("eval.score_episodes: no episodes")
    module = source.module
    was_training = module.training
    module.eval()
    try:
        table = source.table()
        out: list[torch.Tensor | None] = [None] * len(episodes)
        if table is not None and hasattr(source.head, "batched_scores"):
            _batched(source.head, table, episodes, out, chunk)
        else:
            device = table.device if table is not None else getattr(source, "device", None)
            for i, ep in enumerate(
                progress_bar(episodes, desc="score episodes", disable=not progress, leave=False)
            ):
                labels = torch.tensor(ep.support_labels, dtype=torch.long, device=device)
                with source.context():
                    if table is not None:
                        s = head_scores(source.head, table[ep.support + ep.query], labels)
                    else:
                        s = episode_scores(source, labels, ep)
                out[i] = s.float().cpu()
    finally:
        module.train(was_training)
    return out  # type: ignore[return-value]
