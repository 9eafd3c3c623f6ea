"""The pretraining curve: does pretraining help a frozen encoder, and when?

    pretraining_curve(cfg, run_dir, datasets) -> DataFrame, one line per kept checkpoint

Every copy of the weights kept along one pretraining run (`pretrain.keep_at`: step 0 = the initial, random
weights; then fractions of the run; then the final weights) is scored by the training-free frozen probe of
`mumae_core.baselines.encoder_probe`: the encoder's R^m, z-scored per dimension, cosine prototypes. It is
scored on VALIDATION-class episodes only (`report.curve_episodes` of them), so the curve may guide choices
(how long to pretrain) without touching the test classes; the z-score statistics are those of the
validation split's own features (no train-split encode: the curve stays cheap). The paired difference of each
checkpoint to step 0 says whether pretraining moved the probe at all.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from mumae_core.config import Config
from mumae_core.errors import CheckpointError


def pretraining_curve(cfg: Config, run_dir: str | Path, datasets: dict) -> pd.DataFrame:
    """Columns: step, fraction (of the run's steps), accuracy and ci95 (95% CI over the validation
    episodes), diff and diff_ci95 (paired difference to step 0), n_episodes.
    `datasets`: build_datasets(cfg, "oneshot")."""
    from mumae_core.baselines import encoder_probe, zscore_with
    from mumae_core.eval import CachedFeatures, score_episodes, summarise
    from mumae_core.models.heads import PrototypeHead
    from mumae_core.stats import paired_difference
    from mumae_core.train.checkpoint import kept_checkpoints, load_mae
    from mumae_core.train.oneshot import split_episodes

    val = datasets["val"]
    kept = kept_checkpoints(run_dir)
    if not kept:
        raise CheckpointError(f"pretraining curve: {run_dir} holds no kept or final checkpoints")
    eps = split_episodes(cfg, val, cfg.report.curve_episodes)
    head, total = PrototypeHead("cosine"), max(kept)
    rows, first = [], None
    for step, path in kept.items():
        mae = load_mae(path, None)[0]
        (z,) = zscore_with(encoder_probe(val, mae, cfg.data.modalities))  # (N, D)
        scores = score_episodes(CachedFeatures(torch.from_numpy(z), head), eps)
        s = summarise(scores, eps, list(val.class_names))
        first = s["episode_accuracy"] if first is None else first
        diff = paired_difference(s["episode_accuracy"], first)
        rows.append(
            dict(step=step, fraction=step / total, accuracy=s["accuracy"], ci95=s["ci95"], diff=diff[0],
                 diff_ci95=diff[1], n_episodes=len(eps))
        )  # fmt: skip
    return pd.DataFrame(rows)
