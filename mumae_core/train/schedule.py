"""Learning-rate schedule of MAE pretraining (method_reference.md §3), updated per optimizer step.

    eff_batch = batch_size * accum_steps * world_size
    peak_lr   = base_lr * eff_batch / 256          min_lr is scaled the same way
    lr(step)  = peak_lr * step / warmup_steps                                   step <  warmup_steps
              = min_lr + (peak_lr - min_lr) * (1 + cos(pi * progress)) / 2      otherwise

with warmup_steps = round(warmup_epochs * steps_per_epoch) and progress the fraction of the post-warmup steps
done. The warmup starts at 0 (the reference computes a warmup_lr but never passes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mumae_core.config import PretrainConfig
from mumae_core.errors import ConfigError


def effective_batch(p: PretrainConfig, world_size: int = 1) -> int:
    """Clips per optimizer step over all processes: batch_size * accum_steps * world_size."""
    return p.batch_size * p.accum_steps * world_size


def scaled_lrs(p: PretrainConfig, world_size: int = 1) -> tuple[float, float]:
    """(peak_lr, min_lr): base_lr and min_lr scaled by effective_batch / 256."""
    scale = effective_batch(p, world_size) / 256
    return p.base_lr * scale, p.min_lr * scale


@dataclass(frozen=True)
class LRSchedule:
    """lr as a function of the optimizer step (0-based): linear warmup from 0, then cosine to min_lr."""

    peak_lr: float
    min_lr: float
    warmup_steps: int
    total_steps: int

    @classmethod
    def from_config(cls, p: PretrainConfig, steps_per_epoch: int, world_size: int = 1) -> LRSchedule:
        if steps_per_epoch <= 0:
            raise ConfigError(f"LRSchedule: steps_per_epoch must be > 0; got {steps_per_epoch}")
        if p.warmup_epochs < 0:
            raise ConfigError(f"pretrain.warmup_epochs must be >= 0; got {p.warmup_epochs}")
        peak, low = scaled_lrs(p, world_size)
        if low > peak:
            raise ConfigError(f"pretrain.min_lr={p.min_lr} is larger than pretrain.base_lr={p.base_lr}")
        total = p.epochs * steps_per_epoch
        warmup = min(round(p.warmup_epochs * steps_per_epoch), total)
        return cls(peak_lr=peak, min_lr=low, warmup_steps=warmup, total_steps=total)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.peak_lr * step / self.warmup_steps
        decay = self.total_steps - self.warmup_steps
        progress = min(max((step - self.warmup_steps) / decay, 0.0), 1.0) if decay > 0 else 1.0
        return self.min_lr + (self.peak_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
