"""Fusion of the multimodal representation R^m with per-modality features, behind one interface.

    fusion(rm (B, D) or None, feats {mod: (B, N_m, D_m)}) -> (B, D_out)
    fusion.attn     {mod: attention weights} of the last forward, for plots
    fusion.missing  modalities the fusion was built for but that were absent in the last forward

Any subset of the configured modalities may be given at test time: the fusion runs over the modalities present
and records the missing ones. Combining modalities by "concat + Linear" is written as a sum of per-modality
linear maps (the same function when all are present); with a modality missing the sum runs over the present
ones, rescaled by M / M_present. `feats` may also hold the sensors' input statistics under `input_key(m)`
(`OneShotModel.representations` adds them); only the input-statistics readout reads them.

Modality dropout (`oneshot.modality_dropout = p`, `Fusion.set_modality_dropout`): in training forwards only,
each present modality is hidden from the fusion with probability p (at least one is kept), drawn once per
forward (one training episode: support and query alike) from the fusion's own generator, so that the fused
feature does not lean on the modalities that happen to separate the training classes.

CrossAttentionFusion       kit default: per clip, queries from R^m attend over a modality's tokens.
EpisodeCrossAttentionFusion  the reference variant: attention across the N clips of an episode (TRANSDUCTIVE).
ConcatFusion, MeanFusion, SingleModalityFusion   baselines on mean-pooled per-modality features.
"""

from __future__ import annotations

import torch
from torch import nn

from mumae_core.errors import ConfigError, DataError
from mumae_core.modalities import is_input_key


class Fusion(nn.Module):
    """Base class. `modalities` and `dims` ({mod: D_m}) fix the modalities the fusion was built for."""

    transductive = False  # True when a clip's output depends on the other clips of the batch (episode)
    needs_rm = False

    def __init__(self, dims: dict[str, int], out_dim: int):
        super().__init__()
        if not dims:
            raise ConfigError(f"{type(self).__name__}: empty modality list; name at least one modality")
        self.modalities = tuple(dims)
        self.dims = dict(dims)
        self.out_dim = out_dim
        self.attn: dict[str, torch.Tensor] = {}
        self.missing: list[str] = []
        self.drop_p, self._drop_gen = 0.0, None  # modality dropout: off

    def set_modality_dropout(self, p: float, seed: int) -> None:
        """Hide each present modality with probability p in training forwards (at least one kept); the draws
        come from a generator seeded with `seed` (the one-shot seed), so a run is reproducible."""
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"oneshot.modality_dropout must lie in [0, 1); got {p}")
        self.drop_p = float(p)
        self._drop_gen = torch.Generator().manual_seed(int(seed)) if p > 0 else None

    def _dropped(self, present: list[str]) -> list[str]:
        """The modalities a training forward keeps: each dropped with probability drop_p, never all."""
        if not (self.training and self.drop_p > 0 and len(present) > 1):
            return present
        keep = torch.rand(len(present), generator=self._drop_gen) >= self.drop_p
        if not keep.any():
            keep[torch.randint(len(present), (1,), generator=self._drop_gen)] = True
        return [m for m, k in zip(present, keep.tolist()) if k]

    def _present(self, feats: dict[str, torch.Tensor]) -> list[str]:
        unknown = [m for m in feats if m not in self.dims and not is_input_key(m)]  # statistics: not read
        if unknown:
            raise DataError(
                f"{type(self).__name__}: modalities {unknown} were not configured "
                f"(built for {self.modalities})"
            )
        present = [m for m in self.modalities if m in feats]
        if not present:
            raise DataError(
                f"{type(self).__name__}: none of the modalities {self.modalities} is in the input"
            )
        for m in present:
            x = feats[m]
            if x.dim() != 3 or x.shape[-1] != self.dims[m]:
                raise DataError(
                    f"{type(self).__name__}: features of {m!r} must be (B, N, {self.dims[m]}); "
                    f"got {tuple(x.shape)}"
                )
        self.missing = [m for m in self.modalities if m not in feats]
        return self._dropped(present)

    def _check_rm(self, rm: torch.Tensor | None) -> torch.Tensor:
        if rm is None:
            raise ConfigError(
                f"{type(self).__name__} needs the multimodal representation R^m (an MAE encoder); got None"
            )
        return rm


class _GatedSum(nn.Module):
    """Gates (1, D_m) per modality, then concat + Linear(sum D_m -> out), written as a sum over modalities."""

    def __init__(self, dims: dict[str, int], out_dim: int, gate_init: str = "ones"):
        super().__init__()
        init = torch.randn if gate_init == "randn" else torch.ones
        self.gates = nn.ParameterDict({m: nn.Parameter(init(1, d)) for m, d in dims.items()})
        self.proj = nn.ModuleDict({m: nn.Linear(d, out_dim, bias=False) for m, d in dims.items()})
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, z: dict[str, torch.Tensor]) -> torch.Tensor:
        """z {mod: (B, D_m)} over the present modalities -> (B, out)."""
        total = sum(self.proj[m](self.gates[m] * x) for m, x in z.items())
        return total * (len(self.gates) / len(z)) + self.bias


class CrossAttentionFusion(Fusion):
    """Per clip: for each modality, a query projected from R^m attends over that modality's tokens.

    Per modality m: Q = W_in R^m (D -> D_m); multi-head attention of Q over the tokens F_m (B, N_m, D_m);
    output projection; residual Q + out and LayerNorm -> z_m (B, D_m). Then learnable gates (1, D_m) per
    modality (init ones), concat + Linear -> (B, out_dim). attn[m]: (B, heads, N_m).
    """

    needs_rm = True

    def __init__(self, rm_dim: int, dims: dict[str, int], out_dim: int, heads: int = 4):
        super().__init__(dims, out_dim)
        for m, d in dims.items():
            if d % heads:
                raise ConfigError(
                    f"CrossAttentionFusion: feature dim {d} of {m!r} is not divisible by "
                    f"oneshot.fusion_heads={heads}"
                )
        self.heads = heads
        self.q_in = nn.ModuleDict({m: nn.Linear(rm_dim, d, bias=False) for m, d in dims.items()})
        self.q = nn.ModuleDict({m: nn.Linear(d, d) for m, d in dims.items()})
        self.kv = nn.ModuleDict({m: nn.Linear(d, 2 * d) for m, d in dims.items()})
        self.out = nn.ModuleDict({m: nn.Linear(d, d) for m, d in dims.items()})
        self.norm = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in dims.items()})
        self.combine = _GatedSum(dims, out_dim, gate_init="ones")

    def _attend(self, m: str, rm: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """rm (B, D), f (B, N, D_m) -> (B, D_m); stores attn[m] (B, heads, N)."""
        B, N, d = f.shape
        h = self.heads
        q0 = self.q_in[m](rm)  # (B, d)
        q = self.q[m](q0).view(B, h, 1, d // h)
        k, v = self.kv[m](f).view(B, N, 2, h, d // h).permute(2, 0, 3, 1, 4)  # (B, h, N, dh) each
        a = torch.softmax((q @ k.transpose(-1, -2)) * (d // h) ** -0.5, dim=-1)  # (B, h, 1, N)
        self.attn[m] = a[:, :, 0].detach()
        o = (a @ v).reshape(B, d)
        return self.norm[m](q0 + self.out[m](o))

    def forward(self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        rm = self._check_rm(rm)
        self.attn = {}
        present = self._present(feats)
        return self.combine({m: self._attend(m, rm, feats[m]) for m in present})


class EpisodeCrossAttentionFusion(Fusion):
    """The reference fusion (method_reference.md §4.4-4.5). TRANSDUCTIVE: the batch must be one episode.

    The "sequence" is the N clips of the episode (support + query): per modality, Q = W_in R^m (bias-free,
    D -> D_m) gives q = W_q Q, and the clip-pooled unimodal features F (N, D_m) give k = W_k F, v = W_v F;
    multi-head attention over the N clips (an N x N matrix per head), heads concatenated, no output
    projection, no residual, no norm. Then gates (1, D_m) per modality initialised with randn as in the
    reference, concat + Linear -> (N, out_dim). Every clip's output mixes the features of all clips of the
    episode. attn[m]: (heads, N, N).

    Observed property of this design (faithful, not a bug here): a clip's output is a convex mixture of the
    values of ALL clips and no residual carries the clip's own feature, so when features vary little across
    clips (e.g. a randomly initialised encoder) the attention rows are near-uniform, every clip gets nearly
    the same vector and the head's scores tie (chance accuracy, loss ~ log(way)) until training separates
    them.
    """

    transductive = True
    needs_rm = True

    def __init__(self, rm_dim: int, dims: dict[str, int], out_dim: int, heads: int = 4):
        super().__init__(dims, out_dim)
        for m, d in dims.items():
            if d % heads:
                raise ConfigError(
                    f"EpisodeCrossAttentionFusion: dim {d} of {m!r} is not divisible by "
                    f"oneshot.fusion_heads={heads}"
                )
        self.heads = heads
        self.q_in = nn.ModuleDict({m: nn.Linear(rm_dim, d, bias=False) for m, d in dims.items()})
        self.q = nn.ModuleDict({m: nn.Linear(d, d) for m, d in dims.items()})
        self.k = nn.ModuleDict({m: nn.Linear(d, d) for m, d in dims.items()})
        self.v = nn.ModuleDict({m: nn.Linear(d, d) for m, d in dims.items()})
        self.combine = _GatedSum(dims, out_dim, gate_init="randn")

    def forward(self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        rm = self._check_rm(rm)
        self.attn = {}
        z = {}
        for m in self._present(feats):
            f = feats[m].mean(1)  # (N, d): clip-pooled unimodal feature
            N, d = f.shape
            h = self.heads
            q = self.q[m](self.q_in[m](rm)).view(N, h, d // h).transpose(0, 1)  # (h, N, dh)
            k = self.k[m](f).view(N, h, d // h).transpose(0, 1)
            v = self.v[m](f).view(N, h, d // h).transpose(0, 1)
            a = torch.softmax((q @ k.transpose(-1, -2)) * (d // h) ** -0.5, dim=-1)  # (h, N, N)
            self.attn[m] = a.detach()
            z[m] = (a @ v).transpose(0, 1).reshape(N, d)
        return self.combine(z)


class ConcatFusion(Fusion):
    """Baseline: mean-pooled features of each modality, concat + Linear -> (B, out_dim). Ignores R^m."""

    def __init__(self, dims: dict[str, int], out_dim: int):
        super().__init__(dims, out_dim)
        self.combine = _GatedSum(dims, out_dim, gate_init="ones")
        for g in self.combine.gates.values():
            g.requires_grad_(False)  # no gates in the plain concat baseline

    def forward(self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        self.attn = {}
        return self.combine({m: feats[m].mean(1) for m in self._present(feats)})


class MeanFusion(Fusion):
    """Baseline: mean over present modalities of the mean-pooled, linearly projected features."""

    def __init__(self, dims: dict[str, int], out_dim: int):
        super().__init__(dims, out_dim)
        # a trainable projection per modality even when D_m == out_dim: over a frozen encoder a baseline with
        # no parameters cannot adapt at all, and would not be comparable to the trained fusions
        self.proj = nn.ModuleDict({m: nn.Linear(d, out_dim) for m, d in dims.items()})

    def forward(self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        self.attn = {}
        present = self._present(feats)
        return torch.stack([self.proj[m](feats[m].mean(1)) for m in present]).mean(0)


class SingleModalityFusion(Fusion):
    """Baseline: one modality's mean-pooled features, linearly projected (no R^m)."""

    def __init__(self, mod: str, dims: dict[str, int], out_dim: int):
        if mod not in dims:
            raise ConfigError(f"SingleModalityFusion: oneshot.single_modality={mod!r} is not in {list(dims)}")
        super().__init__({mod: dims[mod]}, out_dim)
        self.mod = mod
        d = dims[mod]
        self.proj = nn.Linear(d, out_dim)  # trainable even when d == out_dim (see MeanFusion)

    def forward(self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        self.attn = {}
        if self.mod not in feats:
            raise DataError(f"SingleModalityFusion: modality {self.mod!r} is missing from the input")
        self._present({self.mod: feats[self.mod]})
        return self.proj(feats[self.mod].mean(1))


CLIP_FUSIONS = {
    "cross_attn": CrossAttentionFusion,
    "concat": ConcatFusion,
    "mean": MeanFusion,
    "single": SingleModalityFusion,
}


def fusion_class(cfg) -> type[Fusion]:
    """The Fusion class cfg.oneshot names (fusion, fusion_scope), not built (e.g. for its `needs_rm`)."""
    o = cfg.oneshot
    if o.fusion_scope == "episode":
        if o.fusion != "cross_attn":
            raise ConfigError(
                f"oneshot.fusion_scope='episode' is the reference cross-attention; "
                f"oneshot.fusion={o.fusion!r} is per clip (use fusion_scope='clip')"
            )
        return EpisodeCrossAttentionFusion
    if o.fusion not in CLIP_FUSIONS:
        raise ConfigError(f"oneshot.fusion must be one of {', '.join(CLIP_FUSIONS)}; got {o.fusion!r}")
    return CLIP_FUSIONS[o.fusion]


def build_fusion(cfg, rm_dim: int, dims: dict[str, int], out_dim: int) -> Fusion:
    """The fusion named by cfg.oneshot.fusion / fusion_scope, for features {mod: D_m} and R^m (rm_dim);
    with oneshot.token_stats > 0 wrapped in a TokenStatsReadout (its out_dim grows by sum 2 D_m), with
    oneshot.input_stats > 0 in an InputStatsReadout (by 27 per sensor); models/stats_readout.py. With
    oneshot.modality_dropout > 0 the (inner) fusion hides modalities in training forwards."""
    o, cls = cfg.oneshot, fusion_class(cfg)
    if cls is SingleModalityFusion:
        fusion = cls(o.single_modality, dims, out_dim)
    elif cls.needs_rm:  # the cross-attentions, per clip or per episode
        fusion = cls(rm_dim, dims, out_dim, heads=o.fusion_heads)
    else:
        fusion = cls(dims, out_dim)
    fusion.set_modality_dropout(o.modality_dropout, o.seed)
    if o.token_stats:
        from mumae_core.models.stats_readout import TokenStatsReadout

        return TokenStatsReadout(fusion, o.token_stats)
    if o.input_stats:
        from mumae_core.models.stats_readout import InputStatsReadout

        return InputStatsReadout(fusion, o.input_stats)
    return fusion
