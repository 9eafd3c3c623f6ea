"""Token-statistics readout: the fused clip feature beside training-free statistics of the encoder's tokens.

    out = cat(sqrt(1 - w) * normalize(fusion(rm, feats)), sqrt(w) * normalize(stats(feats)))   (B, D_out + S)

so that the cosine of two outputs is (1 - w) * cos(fused) + w * cos(stats): `w` = `oneshot.token_stats`.

stats(feats): per modality m, the mean and the SD over its tokens (B, N_m, D_m) -> (B, 2 D_m), z-scored with
running statistics of the training clips (accumulated, without gradient, in every training forward; before
any training the identity), divided by sqrt(2 D_m) so that each modality's block has about unit norm, and
concatenated over the configured modalities (a missing modality's block is zeros) -> (B, S), S = sum 2 D_m.

Why (docs/architecture.md, "Choices made on validation classes"): the one-shot stage trains the fusion on the
base classes only, and what it learns to weigh need not be what separates new classes; the non-learned
statistics baselines show that per-stream levels (posture) separate SynthAct's test classes well. The
statistics branch keeps, untrained, what the frozen encoder says about each modality's tokens as a whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mumae_core.errors import ConfigError
from mumae_core.models.fusion import Fusion


class TokenStatsReadout(Fusion):
    """Wraps a per-clip fusion: cat(fused part, token-statistics part), cosine-mixed by weight w in (0, 1)."""

    def __init__(self, inner: Fusion, weight: float):
        if not 0.0 < weight < 1.0:
            raise ConfigError(f"oneshot.token_stats must lie in (0, 1) to mix in statistics; got {weight}")
        if inner.transductive:
            raise ConfigError(
                "oneshot.token_stats: the token-statistics readout is per clip; the episode-scope fusion "
                "(oneshot.fusion_scope='episode') is transductive"
            )
        self.stats_dim = sum(2 * d for d in inner.dims.values())
        super().__init__(inner.dims, inner.out_dim + self.stats_dim)
        self.inner, self.weight = inner, float(weight)
        self.needs_rm = inner.needs_rm
        for m, d in inner.dims.items():
            self.register_buffer(f"count_{m}", torch.zeros((), dtype=torch.float64))
            self.register_buffer(f"sum_{m}", torch.zeros(2 * d, dtype=torch.float64))
            self.register_buffer(f"sumsq_{m}", torch.zeros(2 * d, dtype=torch.float64))

    @property
    def attn(self) -> dict[str, torch.Tensor]:
        return self.inner.attn

    @attn.setter
    def attn(self, value: dict[str, torch.Tensor]) -> None:
        pass  # the inner fusion records attention

    def _standardise(self, m: str, s: torch.Tensor) -> torch.Tensor:
        """s (B, 2 D_m) -> z-scored with the running training statistics (updated first when training)."""
        count, total, sq = (getattr(self, f"{k}_{m}") for k in ("count", "sum", "sumsq"))
        if self.training:
            with torch.no_grad():
                s64 = s.detach().double()
                count += s64.shape[0]
                total += s64.sum(0)
                sq += (s64 * s64).sum(0)
        if count.item() == 0:
            return s
        mean = total / count
        std = (sq / count - mean * mean).clamp_min(1e-12).sqrt()
        return (s - mean.to(s.dtype)) / (std.to(s.dtype) + 1e-6)

    def statistics(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """feats {mod: (B, N_m, D_m)} -> (B, S): z-scored token mean and SD per modality; zeros if missing."""
        present = self._present(feats)
        ref = feats[present[0]]
        blocks = []
        for m, d in self.dims.items():
            if m not in feats:
                blocks.append(ref.new_zeros(ref.shape[0], 2 * d, dtype=torch.float32))
                continue
            sd, mean = torch.std_mean(feats[m].float(), dim=1, unbiased=False)  # (B, D_m) each
            s = torch.cat([mean, sd], dim=-1)  # (B, 2 D_m)
            blocks.append(self._standardise(m, s) / (2 * d) ** 0.5)
        return torch.cat(blocks, dim=-1)

    def forward(self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        fused = self.inner(rm, feats)  # (B, D_out)
        self.missing = self.inner.missing
        stats = self.statistics(feats)  # (B, S)
        w = self.weight
        return torch.cat(
            [(1 - w) ** 0.5 * F.normalize(fused.float(), dim=-1), w**0.5 * F.normalize(stats, dim=-1)], dim=-1
        )
