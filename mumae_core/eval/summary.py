"""Summaries of scored episodes: accuracy (%) with a 95% CI, per-class accuracy, confusion, per-episode.

summarise(scores [(Q_e, way)], episodes, class_names) -> dict   (the unit of every one-shot result)
results_tables(result) -> {"per_class", "confusion", "episodes"} DataFrames for a notebook
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mumae_core.errors import DataError
from mumae_core.stats import mean_ci


def summarise(scores: list[torch.Tensor], episodes, class_names) -> dict:
    """Per-episode scores (Q_e, way) -> accuracy (%) ± 95% CI, per-class accuracy, confusion, per-episode."""
    classes = sorted({c for ep in episodes for c in ep.classes})
    pos = np.full(max(classes) + 1, -1)
    pos[classes] = np.arange(len(classes))
    conf = np.zeros((len(classes), len(classes)), dtype=np.int64)
    ep_acc = np.empty(len(episodes))
    for k, (s, ep) in enumerate(zip(scores, episodes)):
        if not torch.isfinite(s).all():
            raise DataError(f"evaluate: non-finite scores in episode {k}")
        pred = s.argmax(1).numpy()
        y = np.asarray(ep.query_labels)
        ep_acc[k] = 100.0 * float((pred == y).mean())
        cls = np.asarray(ep.classes)
        np.add.at(conf, (pos[cls[y]], pos[cls[pred]]), 1)
    name = lambda c: class_names[c] if c < len(class_names) else str(c)  # noqa: E731
    names = [name(c) for c in classes]
    per_class = {n: float(100.0 * conf[i, i] / conf[i].sum()) for i, n in enumerate(names) if conf[i].sum()}
    m, ci = mean_ci(ep_acc)
    return {
        "accuracy": m,
        "ci95": ci,
        "n_episodes": len(episodes),
        "n_queries": int(conf.sum()),
        "episode_accuracy": ep_acc.tolist(),
        "per_class_accuracy": per_class,
        "confusion": {"classes": names, "matrix": conf.tolist()},
    }


def results_tables(result: dict) -> dict[str, pd.DataFrame]:
    """DataFrames for a notebook: per_class (accuracy %), confusion (true x predicted), episodes."""
    conf = result["confusion"]
    return {
        "per_class": pd.Series(result["per_class_accuracy"], name="accuracy").to_frame(),
        "confusion": pd.DataFrame(conf["matrix"], index=conf["classes"], columns=conf["classes"]),
        "episodes": pd.DataFrame({"accuracy": result["episode_accuracy"]}).rename_axis("episode"),
    }
