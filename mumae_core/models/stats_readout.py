"""Statistics readouts: the fused clip feature beside training-free statistics of each modality.

    out = cat(sqrt(1 - w) * normalize(fusion(rm, feats)), sqrt(w) * normalize(stats))   (B, D_out + S)

so that the cosine of two outputs is (1 - w) * cos(fused) + w * cos(stats).

stats: per modality m a raw block (B, F_m), z-scored with running statistics of the training clips
(accumulated, without gradient, in every training forward; before any training the identity), divided by
sqrt(F_m) so that each block has about unit norm, and concatenated over the configured modalities (a missing
modality's block is zeros) -> (B, S), S = sum F_m. Two sources of the raw block:

TokenStatsReadout  (`oneshot.token_stats = w`) the mean and SD over the frozen encoder's tokens
                   (B, N_m, D_m) -> (B, 2 D_m), every modality.
InputStatsReadout  (`oneshot.input_stats = w`) the sensor's own per-channel statistics, the statistics
                   baseline's features (`baselines.channel_stats`: 9 per channel, 27 per sensor), sensors
                   only. They come with the representations (`OneShotModel.representations` adds
                   feats[input_key(m)] (B, 1, F_m) for every sensor present) and are cached with them.

Why (docs/architecture.md, "Choices made on validation classes"): the one-shot stage trains the fusion on the
base classes only, and what it learns to weigh need not be what separates new classes; the non-learned
statistics baselines show that per-stream levels (posture) separate SynthAct's test classes well. A
statistics branch keeps, untrained, what a stream says as a whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mumae_core.baselines import STAT_NAMES, channel_stats
from mumae_core.errors import ConfigError, DataError
from mumae_core.modalities import SENSOR_CHANNELS, input_key, is_video, sensors
from mumae_core.models.fusion import Fusion

STATS_PER_CHANNEL = len(STAT_NAMES)  # the statistics baseline's numbers per channel


def input_statistics(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """inputs {mod: (B, ...)} -> {input_key(m): (B, 1, 9 C)} for each sensor (B, L, C) among them (video is
    skipped), in fp32 outside autocast (quantiles and the rFFT need it)."""
    out = {}
    for m, x in inputs.items():
        if not is_video(m):
            with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
                out[input_key(m)] = channel_stats(x.float())[:, None, :]  # (B, 1, 9 C)
    return out


class StatsReadout(Fusion):
    """Wraps a per-clip fusion: cat(fused part, statistics part), cosine-mixed by weight w in (0, 1)."""

    option = "?"  # the config field, for errors

    def __init__(self, inner: Fusion, weight: float, widths: dict[str, int]):
        if not 0.0 < weight < 1.0:
            raise ConfigError(f"oneshot.{self.option} must lie in (0, 1) to mix in statistics; got {weight}")
        if inner.transductive:
            raise ConfigError(
                f"oneshot.{self.option}: the statistics readout is per clip; the episode-scope fusion "
                "(oneshot.fusion_scope='episode') is transductive"
            )
        if not widths:
            raise ConfigError(f"oneshot.{self.option}: no modality of {inner.modalities} has such statistics")
        self.stats_dim = sum(widths.values())
        super().__init__(inner.dims, inner.out_dim + self.stats_dim)
        self.inner, self.weight, self.widths = inner, float(weight), dict(widths)
        self.needs_rm = inner.needs_rm
        for m, f in widths.items():
            self.register_buffer(f"count_{m}", torch.zeros((), dtype=torch.float64))
            self.register_buffer(f"sum_{m}", torch.zeros(f, dtype=torch.float64))
            self.register_buffer(f"sumsq_{m}", torch.zeros(f, dtype=torch.float64))

    @property
    def attn(self) -> dict[str, torch.Tensor]:
        return self.inner.attn

    @attn.setter
    def attn(self, value: dict[str, torch.Tensor]) -> None:
        pass  # the inner fusion records attention

    def raw(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """{m: (B, F_m)} unscaled statistics of the modalities present."""
        raise NotImplementedError

    def _standardise(self, m: str, s: torch.Tensor) -> torch.Tensor:
        """s (B, F_m) -> z-scored with the running training statistics (updated first when training)."""
        count, total, sq = (getattr(self, f"{k}_{m}") for k in ("count", "sum", "sumsq"))
        if self.training:
            with torch.no_grad():
                s64 = s.detach().double()
                count += s64.shape[0]
                total += s64.sum(0)
                sq += (s64 * s64).sum(0)
        n = count.clamp_min(1)  # no host sync: before any training clip the statistics pass unchanged
        mean = total / n
        std = (sq / n - mean * mean).clamp_min(1e-12).sqrt()
        z = (s - mean.to(s.dtype)) / (std.to(s.dtype) + 1e-6)
        return torch.where(count > 0, z, s)

    def statistics(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """feats -> (B, S): the z-scored blocks, each scaled to about unit norm; zeros for a missing one."""
        raw = self.raw(feats)
        like = next(iter(feats.values()))  # (B, ...): the batch size and device of a zero block
        blocks = []
        for m, f in self.widths.items():
            if m in raw:
                blocks.append(self._standardise(m, raw[m].float()) / f**0.5)
            else:
                blocks.append(like.new_zeros(like.shape[0], f, dtype=torch.float32))
        return torch.cat(blocks, dim=-1)

    def forward(self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        fused = self.inner(rm, feats)  # (B, D_out); it checks the modalities and ignores input statistics
        self.missing = self.inner.missing
        stats = self.statistics(feats)  # (B, S)
        w = self.weight
        return torch.cat(
            [(1 - w) ** 0.5 * F.normalize(fused.float(), dim=-1), w**0.5 * F.normalize(stats, dim=-1)], dim=-1
        )


class TokenStatsReadout(StatsReadout):
    """Statistics = per modality the mean and SD over the encoder's tokens (B, N_m, D_m) -> (B, 2 D_m)."""

    option = "token_stats"

    def __init__(self, inner: Fusion, weight: float):
        super().__init__(inner, weight, {m: 2 * d for m, d in inner.dims.items()})

    def raw(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for m in self.widths:
            if m in feats:
                sd, mean = torch.std_mean(feats[m].float(), dim=1, unbiased=False)  # (B, D_m) each
                out[m] = torch.cat([mean, sd], dim=-1)  # (B, 2 D_m)
        return out


class InputStatsReadout(StatsReadout):
    """Statistics = each sensor's per-channel input statistics, feats[input_key(m)] (B, 1, 9 C) -> (B, 9C)."""

    option = "input_stats"

    def __init__(self, inner: Fusion, weight: float):
        widths = {m: STATS_PER_CHANNEL * SENSOR_CHANNELS for m in sensors(inner.modalities)}
        super().__init__(inner, weight, widths)

    def raw(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for m, f in self.widths.items():
            if m not in feats:
                continue
            s = feats.get(input_key(m))
            if s is None or s.dim() != 3 or s.shape[1:] != (1, f):
                got = None if s is None else tuple(s.shape)
                raise DataError(
                    f"InputStatsReadout: {m!r} is present but its input statistics feats[{input_key(m)!r}] "
                    f"are {got}, not (B, 1, {f}); they come from OneShotModel.representations"
                )
            out[m] = s[:, 0]
        return out
