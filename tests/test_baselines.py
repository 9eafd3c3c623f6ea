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


def test_run_baselines_scores_other_splits_with_the_train_statistics(monkeypatch):
    """`others` scores validation- and training-class episodes too: a mean whose direction separates the
    classes is found on every split."""
    from mumae_core.data.episodes import sample_episodes

    rng = np.random.default_rng(0)

    def split(n_cls, offset):
        y = np.repeat(np.arange(n_cls), 6)
        angle = 2 * np.pi * y / n_cls + offset
        x = rng.normal(size=(len(y), 16, 3)).astype(np.float32) * 0.1
        x[:, :, 0] += 3 * np.cos(angle)[:, None]
        x[:, :, 1] += 3 * np.sin(angle)[:, None]
        return ArrayDataset(data={"acc": x}, labels=y.tolist())

    data = {"train": split(5, 0.0), "val": split(3, 1.0), "test": split(5, 2.0)}
    means = lambda ds: baselines.sensor_mean_std(ds, ["acc"])[:, [0, 2]]  # noqa: E731 - channels 0, 1
    row = baselines.Baseline("mean and std: acc", means)
    monkeypatch.setattr(baselines, "baselines_for", lambda *a, **k: [row])
    eps = {
        k: sample_episodes(d.labels, 20, min(5, len(set(d.labels))), 1, 2, seed=0) for k, d in data.items()
    }
    (r,) = baselines.run_baselines(None, data, eps["test"], others={"val": eps["val"], "train": eps["train"]})
    assert set(r) == {"baseline", "test", "val", "train"}
    assert all(r[k]["n_episodes"] == 20 and r[k]["accuracy"] > 95 for k in ("test", "val", "train"))
    given = {
        "mean and std: acc": {k: np.zeros((len(d), 2), np.float32) + np.arange(2) for k, d in data.items()}
    }
    given["mean and std: acc"]["train"][0, 0] = 1.0  # not constant: z-scoring keeps the column
    (g,) = baselines.run_baselines(None, data, eps["test"], features=given, others={"val": eps["val"]})
    assert g["val"]["accuracy"] < 70, "given features are used instead of computing them"
