"""The one-shot model: representations -> fusion -> metric head.

For a batch of clips {mod: (B, ...)}:
    R^m    = encoder.encode(all modalities present).pooled                      (B, D)
    feats  = shared:  {m: encoder.encode({m: x_m}).tokens[m]}  (B, N_m, D)     one modality at a time
             scratch: {m: unimodal[m](x_m)}                    (B, N_m, D_m)   separate encoders
    clip feature = fusion(R^m, feats)                                           (B, D_out)
and an episode is scored by the head: process_support_set(support feats, labels) then head(query feats).

Per-clip fusion (`fusion_scope == "clip"`) makes a clip's feature independent of the episode, so evaluation
can encode each clip once (`clip_features`, mumae_core/eval/features.py). The reference episode-scope fusion
mixes the clips of an episode (transductive) and only `episode_scores` applies.

Freezing (cfg.oneshot.freeze): frozen = the encoder gets no gradient (run in eval mode under no_grad);
partial = only the last `trainable_blocks` blocks and `fc_norm` train; full = the whole encoder trains.
The MAE decoders are never trained here.
"""

from __future__ import annotations

import torch
from torch import nn

from mumae_core.errors import ConfigError, DataError
from mumae_core.models.fusion import Fusion, build_fusion
from mumae_core.models.heads import FewShotHead, build_head
from mumae_core.models.stats_readout import input_statistics
from mumae_core.models.unimodal import UnimodalEncoders, build_unimodal

_DECODER_PREFIXES = ("decoders.", "encoder_to_decoder.")


def encoder_param_names(encoder: nn.Module) -> list[str]:
    """Names of the encoder's parameters (the MAE without its decoders)."""
    return [n for n, _ in encoder.named_parameters() if not n.startswith(_DECODER_PREFIXES)]


def apply_freeze(encoder: nn.Module, freeze: str, trainable_blocks: int = 1) -> list[str]:
    """Set requires_grad on the encoder per `freeze`; return the names of its trainable parameters."""
    if freeze not in ("frozen", "partial", "full"):
        raise ConfigError(f"oneshot.freeze must be one of frozen, partial, full; got {freeze!r}")
    encoder.requires_grad_(False)
    if freeze == "full":
        trainable = set(encoder_param_names(encoder))
    elif freeze == "partial":
        blocks = getattr(encoder, "blocks", None)
        if not isinstance(blocks, nn.ModuleList) or not hasattr(encoder, "fc_norm"):
            raise ConfigError(
                f"oneshot.freeze='partial' needs an encoder with `blocks` (ModuleList) and `fc_norm`; "
                f"{type(encoder).__name__} has none"
            )
        if not 0 < trainable_blocks <= len(blocks):
            raise ConfigError(
                f"oneshot.trainable_blocks={trainable_blocks} must be in 1..{len(blocks)} (encoder depth)"
            )
        first = len(blocks) - trainable_blocks
        keep = tuple(f"blocks.{i}." for i in range(first, len(blocks))) + ("fc_norm.",)
        trainable = {n for n in encoder_param_names(encoder) if n.startswith(keep)}
    else:
        trainable = set()
    for n, p in encoder.named_parameters():
        if n in trainable:
            p.requires_grad_(True)
    return sorted(trainable)


class OneShotModel(nn.Module):
    """encoder (a MultimodalMAE, or None when nothing needs R^m and unimodal is given) + fusion + head.

    unimodal: None = shared unimodal features from `encoder`; a UnimodalEncoders = the scratch variant.
    """

    def __init__(
        self,
        encoder: nn.Module | None,
        fusion: Fusion,
        head: FewShotHead,
        cfg,
        unimodal: UnimodalEncoders | None = None,
    ):
        super().__init__()
        if encoder is None and unimodal is None:
            raise ConfigError("OneShotModel: give an encoder, unimodal encoders, or both")
        if encoder is None and fusion.needs_rm:
            raise ConfigError(
                f"OneShotModel: {type(fusion).__name__} needs R^m from an MAE encoder; encoder is None"
            )
        self.encoder, self.fusion, self.head, self.unimodal = encoder, fusion, head, unimodal
        self.modalities = fusion.modalities
        if encoder is not None:
            enc_mods = tuple(getattr(encoder, "modalities", self.modalities))
            bad = [m for m in cfg.data.modalities if m not in enc_mods]
            if bad:
                raise ConfigError(
                    f"OneShotModel: data.modalities {bad} are not modalities of the encoder {enc_mods}"
                )
            self.rm_modalities = tuple(m for m in enc_mods if m in cfg.data.modalities)
        else:
            self.rm_modalities = ()
        self.freeze = cfg.oneshot.freeze
        self.encoder_trainable: list[str] = []
        if encoder is not None:
            self.encoder_trainable = apply_freeze(encoder, cfg.oneshot.freeze, cfg.oneshot.trainable_blocks)
        self.train(self.training)  # puts a frozen encoder in eval mode

    @property
    def transductive(self) -> bool:
        return self.fusion.transductive

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder is not None and self.freeze == "frozen":
            self.encoder.eval()  # a frozen encoder never runs dropout / drop-path
        return self

    # ---------------------------------------------------------------------- representations
    def representations(
        self, batch: dict, with_rm: bool | None = None
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """batch {mod: (B, ...)} -> (R^m (B, D) or None, {mod: (B, N_m, D_m)}) over the modalities present,
        and {input_key(m): (B, 1, F_m)} per sensor present: its input statistics (cheap; the input-statistics
        readout reads them, every other fusion ignores them, so one cached set serves every fusion).
        with_rm: compute R^m (None: when the fusion reads it; True for a cache that fusions without it share
        with fusions that read it; needs the shared encoder)."""
        present = [m for m in self.modalities if m in batch]
        if not present:
            raise DataError(
                f"OneShotModel: the batch has none of the modalities {list(self.modalities)}; "
                f"got keys {sorted(k for k in batch if k not in ('label', 'meta'))}"
            )
        grad = torch.is_grad_enabled() and self.freeze != "frozen"
        rm = None
        with torch.set_grad_enabled(grad):
            if self.fusion.needs_rm if with_rm is None else with_rm:
                rm_in = {m: batch[m] for m in self.rm_modalities if m in batch}
                rm = self.encoder.encode(rm_in).pooled
            if self.unimodal is None:
                feats = {m: self.encoder.encode({m: batch[m]}).tokens[m] for m in present}
        if self.unimodal is not None:
            feats = self.unimodal({m: batch[m] for m in present})
        feats.update(input_statistics({m: batch[m] for m in present}))  # {m:input: (B, 1, F_m)}, sensors
        return rm, feats

    def clip_features(self, batch: dict) -> torch.Tensor:
        """Per-clip fused features (B, D_out); independent of any episode. Not for episode-scope fusion."""
        if self.transductive:
            raise ConfigError(
                "OneShotModel.clip_features: the episode-scope fusion (oneshot.fusion_scope='episode') is "
                "transductive; a clip has no feature outside an episode. Use episode_scores."
            )
        rm, feats = self.representations(batch)
        return self.fusion(rm, feats)

    def episode_scores(
        self, support_batch: dict, support_labels: torch.Tensor, query_batch: dict
    ) -> torch.Tensor:
        """Scores (Q, way) of the queries against the support set. Support and query are encoded together."""
        mods = [m for m in self.modalities if m in support_batch]
        if [m for m in self.modalities if m in query_batch] != mods:
            raise DataError(
                "OneShotModel.episode_scores: support and query batches hold different modalities"
            )
        joint = {m: torch.cat([support_batch[m], query_batch[m]]) for m in mods}
        rm, feats = self.representations(joint)
        return self.scores_from_representations(rm, feats, support_labels)

    def scores_from_representations(
        self, rm: torch.Tensor | None, feats: dict[str, torch.Tensor], support_labels: torch.Tensor
    ) -> torch.Tensor:
        """Scores (Q, way) from representations of the episode's clips, support first then query:
        rm (S + Q, D) or None, feats {mod: (S + Q, N_m, D_m)} (e.g. gathered from a frozen-encoder cache)."""
        n_s = support_labels.shape[0]
        f = self.fusion(rm, feats)  # (S + Q, D_out); episode scope mixes all clips of the episode
        self.head.process_support_set(f[:n_s], support_labels)
        return self.head(f[n_s:])

    @property
    def encoder_is_fixed(self) -> bool:
        """True when nothing before the fusion trains: representations can be computed once and reused."""
        return self.unimodal is None and (self.encoder is None or self.freeze == "frozen")

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]


def build_oneshot_model(cfg, mae: nn.Module | None = None) -> OneShotModel:
    """The one-shot model for `cfg`. mae: a (pretrained) MultimodalMAE, its readout set to cfg.model.pooling;
    None = a randomly initialised one."""
    o = cfg.oneshot
    if not cfg.data.modalities:
        raise ConfigError("data.modalities is empty: name at least one modality")
    if mae is None:
        from mumae_core.models.mae import build_mae

        mae = build_mae(cfg)
    elif hasattr(mae, "set_pooling"):
        # R^m is read out as this config says (model.pooling): tokens and per_modality share the pretrained
        # weights (runs.READOUT_SETTINGS); cls must match the checkpoint (a clear error otherwise)
        mae.set_pooling(cfg.model.pooling)
    rm_dim = int(mae.embed_dim)
    unimodal = build_unimodal(cfg) if o.unimodal == "scratch" else None
    dims = unimodal.dims if unimodal is not None else {m: rm_dim for m in cfg.data.modalities}
    fusion = build_fusion(cfg, rm_dim, dims, out_dim=rm_dim)
    head = build_head(cfg, fusion.out_dim)
    if unimodal is not None and not fusion.needs_rm:
        mae = None  # scratch features and a fusion without R^m: the MAE encoder plays no part
    return OneShotModel(mae, fusion, head, cfg, unimodal=unimodal)
