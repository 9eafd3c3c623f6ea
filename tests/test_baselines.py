"""Non-learned baselines: the features are what their docstrings say, and the rows follow the modalities."""

from __future__ import annotations

import numpy as np
import torch

from mumae_core import baselines
from mumae_core.config import get_config
from mumae_core.data.arrays import ArrayDataset


def test_mean_std_features_are_the_per_channel_mean_and_std():
    g = torch.Generator().manual_seed(0)
    x = {"acc": torch.randn(7, 16, 3, generator=g), "gyro": 2 * torch.randn(7, 16, 3, generator=g) + 1}
    ds = ArrayDataset(data={m: v.numpy() for m, v in x.items()}, labels=[0, 1, 2, 0, 1, 2, 0])
    f = baselines.sensor_mean_std(ds, ["acc", "gyro"])
    assert f.shape == (7, 2 * 3 * 2), "2 numbers per channel: HAPT acc + gyro = 12"
    want = torch.cat([torch.stack([x[m].mean(1), x[m].std(1)], -1).flatten(1) for m in ("acc", "gyro")], 1)
    np.testing.assert_allclose(f, want.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f[:, 1], x["acc"][:, :, 0].std(1).numpy(), rtol=1e-5)  # channel-major


def test_mean_std_rows_sit_beside_the_statistics_rows():
    names = [b.name for b in baselines.baselines_for(get_config("smoke", ["data.dataset=hapt"]), None)]
    for prefix in ("statistics", "mean and std"):
        assert [n for n in names if n.startswith(prefix)] == [f"{prefix}: acc", f"{prefix}: gyro",
                                                              f"{prefix}: all sensors"]  # fmt: skip
    one = [b.name for b in baselines.baselines_for(get_config("smoke", ["data.modalities=acc_watch"]), None)]
    assert "mean and std: acc_watch" in one and "mean and std: all sensors" not in one
    assert baselines.PRETRAINED_PROBE not in names, "no checkpoint, no pretrained probe"


def test_score_blocks_weighs_each_block_the_same_whatever_its_width():
    """Two classes told apart by a 2-dim block; a 200-dim block of noise beside it. Concatenated raw, the
    noise drowns the signal; scaled by 1/sqrt(width), each block counts once and the signal still wins."""
    from mumae_core.data.episodes import sample_episodes

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    signal = (labels[:, None] * 4.0 + rng.normal(size=(80, 2))).astype(np.float32)  # (N, 2)
    noise = rng.normal(size=(80, 200)).astype(np.float32)  # (N, 200)
    eps = sample_episodes(list(labels), 200, 2, 1, 1, "per_class", seed=0)
    names = ["a", "b"]
    alone = baselines.score_blocks([(signal, signal)], eps, names)["accuracy"]
    both = baselines.score_blocks([(signal, signal), (noise, noise)], eps, names)["accuracy"]
    raw = np.concatenate([signal, noise], 1)
    drowned = baselines.score_blocks([(raw, raw)], eps, names)["accuracy"]
    assert alone > 95 and drowned < 70, (alone, drowned)
    assert both > drowned + 10, (both, drowned)
    shifted = baselines.score_blocks([(3 * signal + 1, 3 * signal + 1)], eps, names)["accuracy"]
    assert shifted == alone, "each block is z-scored with its train statistics first"
