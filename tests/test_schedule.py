"""The pretraining lr schedule: batch scaling, linear warmup from 0, cosine to min_lr (per optimizer step)."""

import math

import pytest

from mumae_core.config import PretrainConfig
from mumae_core.errors import ConfigError
from mumae_core.train.schedule import LRSchedule, effective_batch, scaled_lrs


def _p(**kw) -> PretrainConfig:
    base = dict(epochs=10, batch_size=16, accum_steps=2, base_lr=1.5e-4, min_lr=1e-5, warmup_epochs=2)
    base.update(kw)
    return PretrainConfig(**base)


def test_lr_scales_with_the_effective_batch():
    p = _p()
    assert effective_batch(p, world_size=2) == 16 * 2 * 2
    peak, low = scaled_lrs(p, world_size=2)
    assert peak == pytest.approx(1.5e-4 * 64 / 256)
    assert low == pytest.approx(1e-5 * 64 / 256)
    # the reference's 32 per GPU x 2 GPUs gives a peak of 3.75e-5 (method_reference.md §3)
    assert scaled_lrs(_p(batch_size=32, accum_steps=1), world_size=2)[0] == pytest.approx(3.75e-5)


def test_warmup_from_zero_then_cosine_to_min_lr():
    p = _p()
    s = LRSchedule.from_config(p, steps_per_epoch=5, world_size=1)
    assert (s.warmup_steps, s.total_steps) == (10, 50)
    lrs = [s(i) for i in range(s.total_steps + 1)]
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(s.peak_lr / 2)  # linear
    assert lrs[10] == pytest.approx(s.peak_lr)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # increasing in warmup
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # non-increasing after
    assert lrs[30] == pytest.approx((s.peak_lr + s.min_lr) / 2)  # cosine midpoint
    assert lrs[50] == pytest.approx(s.min_lr)
    mid = 10 + 40 * 0.25
    want = s.min_lr + (s.peak_lr - s.min_lr) * 0.5 * (1 + math.cos(math.pi * 0.25))
    assert s(int(mid)) == pytest.approx(want)


def test_no_warmup_starts_at_peak():
    s = LRSchedule.from_config(_p(warmup_epochs=0), steps_per_epoch=3)
    assert s(0) == pytest.approx(s.peak_lr)


def test_bad_values_raise():
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        LRSchedule.from_config(_p(), steps_per_epoch=0)
    with pytest.raises(ConfigError, match="min_lr"):
        LRSchedule.from_config(_p(min_lr=1.0), steps_per_epoch=3)
