"""Tests that would fail on a model that does not learn: the one-shot stage must rise well above chance on an
easy toy dataset, and the same check must fail for a head whose scores carry no information (a training loss
that stays at ln(way)); and pretraining must make the frozen probe of a toy task better than the same
network's initial weights, a check that must fail when pretraining moves nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mumae_core.config import get_config
from mumae_core.data.arrays import ArrayDataset
from mumae_core.stats import mean_ci
from mumae_core.train.oneshot import train_oneshot

WAY = 5
CHANCE = 100 / WAY


def toy(freqs, n, seed, length=32):
    """Class k: a sinusoid of frequency freqs[k] with random phase and amplitude, plus noise (novel
    frequencies at test time: the model must have learned 'frequency', not the training classes)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(freqs)), n)
    t = np.arange(length) / length
    x = rng.uniform(0.5, 2.0, (len(labels), 1)) * np.sin(
        2 * np.pi * np.asarray(freqs)[labels][:, None] * t + rng.uniform(0, 2 * np.pi, (len(labels), 1))
    )
    data = (x[..., None] * np.ones(3) + 0.2 * rng.standard_normal((len(labels), length, 3))).astype(
        np.float32
    )
    return ArrayDataset({"acc": data}, labels, class_names=[f"f{f:.1f}" for f in freqs])


@pytest.fixture(scope="module")
def splits():
    return {
        "train": toy(np.linspace(1, 12, 10), 20, 0),
        "val": toy([2.5, 6.5, 9.5], 12, 1),
        "test": toy([1.6, 3.3, 5.1, 7.7, 10.4], 12, 2),
    }


def _cfg(*extra):
    over = [
        "data.dataset=arrays", "data.modalities=acc", "oneshot.train_episodes=40",
        "oneshot.episodes_per_step=2",
        "oneshot.val_classes_eval_every=10", "oneshot.val_episodes=20", "oneshot.test_episodes=60",
        "oneshot.lr=3e-3", "oneshot.device=cpu", "oneshot.amp=off", *extra,
    ]  # fmt: skip
    return get_config("smoke", over).validate()


def learned(result: dict) -> bool:
    """Above chance with room to spare: the 95% CI over episodes starts 15 points above chance."""
    m, ci = mean_ci(result["test"]["episode_accuracy"])
    return m - ci > CHANCE + 15


def test_oneshot_learns_an_easy_task_well_above_chance(splits, tmp_path):
    torch.set_num_threads(1)
    res = train_oneshot(_cfg(), datasets=splits, out_dir=tmp_path, progress=False)
    assert learned(res), f"one-shot accuracy {res['test']['accuracy']:.1f} ± {res['test']['ci95']:.1f}"
    losses = [h["train_loss"] for h in res["history"] if h["train_loss"] is not None]
    assert losses[-1] < math.log(WAY) - 0.1, f"the training loss stayed near ln(way): {losses}"


def test_the_check_fails_for_a_model_that_does_not_learn(splits, monkeypatch, tmp_path):
    """A head whose scores are constant (loss exactly ln(way) forever) must not pass `learned`."""
    from mumae_core.models import heads

    monkeypatch.setattr(heads.PrototypeHead, "_scores", lambda self, p, q: (q @ p.transpose(-1, -2)) * 0.0)
    monkeypatch.setattr(
        heads.PrototypeHead,
        "batched_scores",
        lambda self, s, lab, q, way: q.new_zeros(q.shape[0], q.shape[1], way),
    )
    res = train_oneshot(_cfg(), datasets=splits, out_dir=tmp_path, progress=False)
    assert not learned(res)
    assert res["test"]["accuracy"] == pytest.approx(CHANCE, abs=8)


# ---------------------------------------------------------------------- pretraining must help a frozen probe
def wave_toy(freqs, n, seed, length=64):
    """Class k: a unit sinusoid of frequency freqs[k] (cycles per clip) with random phase, identical on the
    three axes, plus a little noise. Reconstructing a hidden 4-sample token needs the phase and frequency the
    visible tokens show, so an encoder that learned to reconstruct carries the frequency in R^m."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(freqs)), n)
    t = np.arange(length) / length
    x = np.sin(
        2 * np.pi * np.asarray(freqs)[labels][:, None] * t + rng.uniform(0, 2 * np.pi, (len(labels), 1))
    )
    data = (x[..., None] * np.ones(3) + 0.1 * rng.standard_normal((len(labels), length, 3))).astype(
        np.float32
    )
    return ArrayDataset({"acc": data}, labels, class_names=[f"f{f:.1f}" for f in freqs])


def probe_gain(tmp_path, base_lr: float) -> tuple[float, float]:
    """Pretrain on the base frequencies; (paired difference, its 95% CI) of the frozen probe (R^m, z-score,
    cosine prototypes) of the final weights over the same network's initial weights (keep_at 0), on 5-way
    1-shot episodes of novel frequencies."""
    from mumae_core.baselines import encoder_probe, zscore_with
    from mumae_core.data.episodes import sample_episodes
    from mumae_core.eval import CachedFeatures, score_episodes, summarise
    from mumae_core.models.heads import PrototypeHead
    from mumae_core.stats import paired_difference
    from mumae_core.train.checkpoint import kept_checkpoints, load_mae
    from mumae_core.train.pretrain import pretrain

    torch.set_num_threads(1)
    train, test = wave_toy(np.linspace(0.5, 6, 10), 30, 0), wave_toy([0.8, 1.8, 2.9, 4.1, 5.4], 20, 2)
    over = [
        "data.dataset=arrays", "data.modalities=acc", "data.sensor_len=64", "model.sensor_patches=16",
        "mask.sensor_ratio=0.5", "pretrain.epochs=30", f"pretrain.base_lr={base_lr}",
        f"pretrain.min_lr={base_lr / 100}", "pretrain.device=cpu",
        "pretrain.amp=off", "pretrain.tensorboard=false", "pretrain.keep_at=0",
    ]  # fmt: skip
    cfg = get_config("smoke", over).validate()
    pretrain(cfg, tmp_path, datasets={"train": train, "val": wave_toy([1.4, 3.7], 10, 1)}, progress=False)
    eps = sample_episodes(list(test.labels), 200, WAY, 1, 1, "per_class", seed=1)
    acc = {}
    for step, path in kept_checkpoints(tmp_path).items():
        mae = load_mae(path)[0]
        _, te = zscore_with(encoder_probe(train, mae, ["acc"]), encoder_probe(test, mae, ["acc"]))
        scores = score_episodes(CachedFeatures(torch.from_numpy(te), PrototypeHead("cosine")), eps)
        acc[step] = summarise(scores, eps, list(test.class_names))["episode_accuracy"]
    first, last = acc[min(acc)], acc[max(acc)]
    assert min(acc) == 0 and max(acc) > 0
    return paired_difference(last, first)


def helps(diff: tuple[float, float]) -> bool:
    """Pretraining helped: the lower end of the paired difference's 95% CI is 5 points above 0."""
    return diff[0] - diff[1] > 5


def test_pretrained_frozen_probe_beats_its_random_init(tmp_path):
    diff = probe_gain(tmp_path, base_lr=3e-2)
    assert helps(diff), f"pretraining moved the frozen probe by {diff[0]:+.1f} ± {diff[1]:.1f} points"


def test_the_probe_check_fails_when_pretraining_learns_nothing(tmp_path):
    """Pretraining at a learning rate too small to move the weights: the same check must fail."""
    diff = probe_gain(tmp_path, base_lr=1e-9)
    assert not helps(diff) and abs(diff[0]) < 3
