"""MultimodalMAE: one encoder over the visible tokens of all modalities, one decoder per modality.

Layout (MultiMAE-style dicts keyed by modality; mask convention: bool, True = hidden):

    batch[m] --tokenizers[m]--> (B, N_m, D) + pos_embed_m (fixed sin-cos) [+ modality_embed[m]]
             --keep visible (mask[m] False)--> (B, V_m, D)
    concat over m --> blocks x depth --> norm --> (B, sum V_m, D)
             --encoder_to_decoder (shared, no bias)--> (B, sum V_m, D_dec) --split per m-->
    decoders[m]: visible + mask tokens in the original order (unshuffle) + decoder pos --> blocks --> norm
             --> head on the hidden tokens only --> pred[m] (B, H_m, P_m)

`build_mae(cfg)` is the one place that reads the config: it builds the tokenizers, decoders and loss weights
and passes them in; the model itself knows no config.

Differences from the reference (method_reference.md §2), each deliberate:
* `modality_embed` (model.modality_embed, kit default on): a learned (1, 1, D) embedding per modality
  added to its tokens. The reference has none, so its sensors share one position table and are told apart
  by content only. Off = the reference.
* The mask token is **per modality** (one in each decoder); the reference shares one across modalities.
* The decoder sees its tokens in the original order rather than [visible; mask]: the blocks are
  permutation-equivariant and positions are added, so this gives the same predictions.
* Sensor decoders are built only when sensors can be hidden (`mask.sensor_mask != "none"`), so every
  parameter of the model receives a gradient from `forward` (DDP-friendly). `fc_norm` is the exception:
  it serves `encode(...).pooled` (the one-shot stage) and is unused by the pretraining loss.

Readout of R^m = `encode(...).pooled` (B, D), `pooling` (model.pooling; issue 11):
  tokens        fc_norm(mean over all tokens of the last block's output): the reference; with video the
                video tokens dominate (196 of 260 at the default profile)
  per_modality  fc_norm(mean over the modalities present of each modality's token mean)
  cls           a learned token (`cls_token`, (1, 1, D), no position or modality embedding) put first in the
                encoder sequence, in pretraining too (it is never masked and never decoded: it learns through
                the attention of the other tokens to it); pooled = fc_norm(its last block output).
`tokens` and `per_modality` only read the same weights differently (`set_pooling` switches between them);
`cls` is part of the encoder, so it must be chosen before pretraining.

Targets (fp32, even under autocast, computed on the hidden tokens only): video is de-normalised to [0, 1]
with the injected `video_stats` (data.video_norm == "imagenet": `modalities.IMAGENET_MEAN/STD`), cut into
(tubelet x patch x patch) patches and, with norm_target, normalised per
channel over each patch, (x - mean) / (unbiased std + 1e-6), then flattened (p0 p1 p2 c) as in the
reference. A sensor token is normalised over its s*3 values the same way, unless build_mae turns the
sensors' `norm_target` off (model.sensor_target='dataset': the target is the input as the data pipeline gives
it, z-scored with train statistics, so each token keeps its level). Loss per modality: MSE over the
hidden tokens; total `L = L_video + loss_hyper * sum_s L_s` when video is present, else `sum_s L_s`
(loss_hyper weighs sensors relative to video; without video there is nothing to weigh against).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mumae_core.errors import ConfigError, DataError
from mumae_core.modalities import IMAGENET_MEAN, IMAGENET_STD, SENSOR_CHANNELS, has_video, is_video
from mumae_core.models.blocks import LN_EPS, Block, drop_path_rates, init_token, init_weights, set_attention
from mumae_core.models.pos_embed import sincos_1d
from mumae_core.models.tokenizers import SensorTokenizer, VideoTokenizer

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "EncoderOutput", "MAEOutput", "MultimodalMAE", "build_mae"]
TARGET_EPS = 1e-6
POOLINGS = ("tokens", "per_modality", "cls")  # readouts of R^m (module docstring)


@dataclass
class MAEOutput:
    """What `MultimodalMAE.forward` returns.

    loss: scalar fp32; losses: {mod: scalar fp32} for each reconstructed modality;
    pred / target: {mod: (B, H_m, P_m)} over the hidden tokens only, in token order;
    masks: {mod: (B, N_m) bool}, True = hidden; weights: {mod: weight of losses[mod] in loss}.
    """

    loss: torch.Tensor
    losses: dict[str, torch.Tensor]
    pred: dict[str, torch.Tensor]
    target: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    weights: dict[str, float]


@dataclass
class EncoderOutput:
    """What `MultimodalMAE.encode` returns.

    tokens: {mod: (B, V_m, D)} after the final norm (all N_m tokens when unmasked), for the modalities given;
    pooled: (B, D) = fc_norm(readout of the last block's output), the model's `pooling` (module docstring);
      fc_norm as in the reference's one-shot encoder (which drops the final `norm` and pools with a new one);
    attn: per block (B, heads, S, S) over the encoder sequence (S = sum V_m, + 1 with the cls token first)
      when return_attn, else None;
    segments: {mod: (start, end)} of each modality in that sequence (starting at 1 behind a cls token), so
      `attn[..., s:e]` are its tokens; masks: the masks used (or None). The cls token is in no `tokens` entry.
    """

    tokens: dict[str, torch.Tensor]
    pooled: torch.Tensor
    attn: list[torch.Tensor] | None
    segments: dict[str, tuple[int, int]]
    masks: dict[str, torch.Tensor] | None


class ModalityDecoder(nn.Module):
    """Decoder of one modality: (B, V, D_dec) visible tokens + token indices -> (B, H, patch_dim)."""

    def __init__(self, n_tokens: int, dim: int, depth: int, heads: int, mlp_ratio: float, patch_dim: int):
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", sincos_1d(n_tokens, dim), persistent=False)  # (N, D_dec)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.head = nn.Linear(dim, patch_dim)

    def forward(self, vis: torch.Tensor, keep: torch.Tensor, hide: torch.Tensor) -> torch.Tensor:
        """vis: (B, V, D_dec) visible tokens; keep (B, V) / hide (B, H): their token indices (ascending)
        -> (B, H, patch_dim) predictions for the hidden tokens, in token order."""
        B, V, D = vis.shape
        N = V + hide.shape[1]
        # mask tokens everywhere, the visible tokens scattered into their places: (B, N, D_dec) in token order
        where = keep.unsqueeze(-1).expand(-1, -1, D)
        x = self.mask_token.to(vis.dtype).expand(B, N, D).scatter(1, where, vis)
        x = x + self.pos_embed.to(x.dtype)
        for blk in self.blocks:
            x = blk(x)
        x = torch.gather(x, 1, hide.unsqueeze(-1).expand(-1, -1, D))  # hidden tokens only
        return self.head(self.norm(x))


def mask_indices(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N) bool mask with the same count per row -> (keep (B, V), hide (B, H)) ascending token indices.

    Gathering with these indices equals boolean indexing (x[~mask], x[mask]) but needs no host sync on CUDA
    when the mask is built on the CPU and the indices are moved afterwards.
    """
    n_hid = int(mask[0].sum()) if mask.shape[0] else 0
    order = torch.argsort(mask.to(torch.int8), dim=1, stable=True)  # visible first, then hidden, ascending
    return order[:, : mask.shape[1] - n_hid], order[:, mask.shape[1] - n_hid :]


class MultimodalMAE(nn.Module):
    """Multimodal masked autoencoder from its parts (MultiMAE style; see the module docstring).

    tokenizers: {mod: VideoTokenizer | SensorTokenizer} (one per modality, in encoder order);
    input_shapes: {mod: per-sample input shape}, video (3, T, H, W), a sensor (L, 3);
    decoders: {mod: ModalityDecoder} for the modalities with a loss term (a subset of the tokenizers');
    loss_weights: {mod: weight of its MSE in the total loss}, one per decoder;
    video_stats: (mean, std) per channel that the video input was normalised with, undone by `target`
      (None: the input is already in [0, 1]); norm_target: per-patch normalised targets, one flag for all
      modalities or {mod: flag} naming each; pooling: the readout of R^m (POOLINGS, module docstring);
    attention / explicit_max_tokens: the attention path rule (`blocks.use_explicit`).
    `build_mae(cfg)` is the one place that reads a `Config` and builds these.
    """

    def __init__(
        self,
        tokenizers: dict[str, nn.Module],
        input_shapes: dict[str, tuple[int, ...]],
        decoders: dict[str, ModalityDecoder],
        loss_weights: dict[str, float],
        *,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        modality_embed: bool = True,
        norm_target: bool | dict[str, bool] = True,
        video_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = (IMAGENET_MEAN, IMAGENET_STD),
        attention: str = "auto",
        explicit_max_tokens: int | None = None,
        pooling: str = "tokens",
    ):
        super().__init__()
        self.modalities: tuple[str, ...] = tuple(tokenizers)
        for mod in self.modalities:
            if not mod.isidentifier():
                raise ConfigError(
                    f"MultimodalMAE: modality {mod!r} (data.modalities) must be a Python identifier "
                    f"(letters, digits, _)"
                )
        bad = sorted(set(decoders) - set(tokenizers)) or sorted(set(decoders) ^ set(loss_weights))
        if bad or not decoders:
            raise ConfigError(
                f"MultimodalMAE: decoders {sorted(decoders)} must be a non-empty subset of the tokenizers "
                f"{list(self.modalities)}, each with a loss weight (loss_weights has {sorted(loss_weights)})"
            )
        self.embed_dim = embed_dim
        if isinstance(norm_target, dict):
            if set(norm_target) != set(self.modalities):
                raise ConfigError(
                    f"MultimodalMAE: norm_target {sorted(norm_target)} must name every modality "
                    f"{list(self.modalities)} (or be one flag for all)"
                )
            self.norm_targets = {mod: bool(norm_target[mod]) for mod in self.modalities}
        else:
            self.norm_targets = {mod: bool(norm_target) for mod in self.modalities}
        if pooling not in POOLINGS:
            raise ConfigError(
                f"MultimodalMAE: pooling (model.pooling) must be one of {list(POOLINGS)}; got {pooling!r}"
            )
        self.has_video = has_video(self.modalities)
        D = embed_dim

        # ------------------------------------------------------------------ tokenizers + positions
        self.tokenizers = nn.ModuleDict(tokenizers)
        self._input_shape = {mod: tuple(input_shapes[mod]) for mod in self.modalities}
        self._grid: dict[str, tuple[int, ...]] = {
            mod: tok.grid(*self._input_shape[mod][1:]) if is_video(mod) else (tok.n_patches,)
            for mod, tok in self.tokenizers.items()
        }
        for mod in self.modalities:
            self.register_buffer(f"pos_embed_{mod}", sincos_1d(self.token_counts()[mod], D), persistent=False)
        self.modality_embed = (
            nn.ParameterDict({mod: nn.Parameter(torch.zeros(1, 1, D)) for mod in self.modalities})
            if modality_embed
            else None
        )

        # ------------------------------------------------------------------ encoder
        dpr = drop_path_rates(drop_path, depth)
        self.blocks = nn.ModuleList(Block(D, num_heads, mlp_ratio, drop_path=r) for r in dpr)
        self.norm = nn.LayerNorm(D, eps=LN_EPS)
        self.fc_norm = nn.LayerNorm(D, eps=LN_EPS)  # pooled features (one-shot stage); unused by the loss
        # pooling == "cls": the learned readout token, first in the encoder sequence (a parameter only then,
        # so the state-dict keys of the other readouts are unchanged)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D)) if pooling == "cls" else None
        self.pooling = pooling

        # ------------------------------------------------------------------ decoders
        self.decoded: tuple[str, ...] = tuple(mod for mod in self.modalities if mod in decoders)
        self.loss_weights = {mod: float(loss_weights[mod]) for mod in self.decoded}
        self.decoder_dim = decoders[self.decoded[0]].mask_token.shape[-1]
        self.encoder_to_decoder = nn.Linear(D, self.decoder_dim, bias=False)
        self.decoders = nn.ModuleDict({mod: decoders[mod] for mod in self.decoded})
        if video_stats is None:
            self.video_mean = self.video_std = None
        else:
            self.register_buffer("video_mean", torch.tensor(video_stats[0]).float(), persistent=False)
            self.register_buffer("video_std", torch.tensor(video_stats[1]).float(), persistent=False)

        # Linear: xavier uniform; LayerNorm: (1, 0). The video Conv3d is set by its tokenizer.
        self.apply(init_weights)
        for dec in self.decoders.values():
            init_token(dec.mask_token)
        if self.modality_embed is not None:
            for p in self.modality_embed.values():
                init_token(p)
        if self.cls_token is not None:
            init_token(self.cls_token)
        set_attention(self, attention, explicit_max_tokens)

    # ---------------------------------------------------------------------- sizes
    def token_counts(self) -> dict[str, int]:
        """{modality: N_m} tokens per sample."""
        out = {}
        for mod, g in self._grid.items():
            n = 1
            for s in g:
                n *= s
            out[mod] = n
        return out

    def token_grid(self, mod: str) -> tuple[int, ...]:
        """Video: (T', H', W'); a sensor: (P,)."""
        self._check_modality(mod)
        return self._grid[mod]

    def patch_dim(self, mod: str) -> int:
        """Values per token of `mod` (P_m): tubelet*patch*patch*3 for video, s*3 for a sensor."""
        self._check_modality(mod)
        return self.tokenizers[mod].patch_dim

    def set_pooling(self, pooling: str) -> None:
        """Read R^m out another way: tokens <-> per_modality share the weights; cls needs a model built with
        its token (model.pooling=cls before pretraining), and such a model reads out only through it."""
        if pooling not in POOLINGS:
            raise ConfigError(f"model.pooling must be one of {list(POOLINGS)}; got {pooling!r}")
        if (pooling == "cls") != (self.cls_token is not None):
            have = "has a cls token" if self.cls_token is not None else "has no cls token"
            raise ConfigError(
                f"model.pooling={pooling!r}: this MultimodalMAE was built with pooling={self.pooling!r} and "
                f"{have}; the cls token is part of the pretrained encoder (pretrain with model.pooling=cls), "
                f"only tokens and per_modality can be switched on a trained model"
            )
        self.pooling = pooling

    @property
    def n_prefix(self) -> int:
        """Tokens in front of the modalities' tokens in the encoder sequence: 1 (the cls token) or 0."""
        return 0 if self.cls_token is None else 1

    def param_count(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def no_weight_decay(self) -> set[str]:
        """Parameter names exempt from weight decay: biases, norm weights (all 1-D parameters), the mask
        tokens, the modality embeddings and the cls token. (Position tables are buffers, not parameters.)"""
        return {
            n
            for n, p in self.named_parameters()
            if p.ndim <= 1 or n.endswith("mask_token") or n.startswith("modality_embed.") or n == "cls_token"
        }

    # ---------------------------------------------------------------------- patches and targets
    def patchify(self, mod: str, x: torch.Tensor) -> torch.Tensor:
        """Raw input values per token: video (B, C, T, H, W) -> (B, N, P) in (p0 p1 p2 c) order;
        a sensor (B, L, 3) -> (B, P_tokens, s*3) in its tokenizer's layout."""
        self._check_modality(mod)
        return self.tokenizers[mod].patchify(x)

    def unpatchify(self, mod: str, patches: torch.Tensor) -> torch.Tensor:
        """The exact inverse of `patchify`: (B, N, P) -> video (B, C, T, H, W) or sensor (B, L, 3)."""
        self._check_modality(mod)
        tok = self.tokenizers[mod]
        return tok.unpatchify(patches, self._grid[mod]) if is_video(mod) else tok.unpatchify(patches)

    def target(self, mod: str, x: torch.Tensor, return_stats: bool = False, hide: torch.Tensor | None = None):
        """Reconstruction target (B, N, P) fp32 for every token, or (B, H, P) for the tokens `hide` (B, H)
        when given (see the module docstring).

        With return_stats, also (mean, std), each in the same layout, such that `pred * std + mean` maps a
        prediction back to [0, 1] pixels (video) or raw sensor values (mean 0, std 1 when norm_target is
        off for `mod`). The hidden tokens are gathered first, so no temporary spans the whole clip.
        """
        self._check_modality(mod)
        with torch.autocast(device_type=x.device.type, enabled=False):
            v = self._raw_patches(mod, x, hide)  # fresh fp32: video (B, n, C, p0*p1*p2), sensor (B, n, s*3)
            scale = shift = None
            if is_video(mod) and self.video_mean is not None:  # u = x * std + mean: [0, 1] pixels
                scale, shift = self.video_std.view(-1, 1), self.video_mean.view(-1, 1)  # (C, 1)
            if self.norm_targets[mod]:
                # per patch (and channel): (u - mean_u) / (unbiased std_u + eps) with u = x * s + m, i.e.
                # (x - mean_x) * s / (s * std_x + eps); sums and a norm, not var_mean (3x slower here)
                mu = v.mean(dim=-1, keepdim=True)
                v.sub_(mu)
                sd = torch.linalg.vector_norm(v, dim=-1, keepdim=True).div_(math.sqrt(v.shape[-1] - 1))
                if scale is not None:
                    mu, sd = mu * scale + shift, sd * scale
                sd = sd.add_(TARGET_EPS)
                factor = scale / sd if scale is not None else sd.reciprocal()
            else:
                if scale is not None:
                    v.mul_(scale).add_(shift)
                mu, sd = torch.zeros_like(v[..., :1]), torch.ones_like(v[..., :1])
                factor = torch.ones_like(sd)
            if return_stats:
                mu, sd = mu.expand_as(v), sd.expand_as(v)
            if is_video(mod):  # "b n c p -> b n (p c)": the reference's (p0 p1 p2 c) order
                flat = lambda a: a.transpose(-1, -2).reshape(*a.shape[:2], -1)  # noqa: E731
                out = v.new_empty(*v.shape[:2], v.shape[3], v.shape[2])  # (B, n, p, c)
                torch.mul(v, factor, out=out.transpose(-1, -2))  # scale and reorder in one pass
                v = out.flatten(-2)
                if return_stats:
                    mu, sd = flat(mu), flat(sd)
            else:
                v.mul_(factor)
        return (v, mu, sd) if return_stats else v

    def _raw_patches(self, mod: str, x: torch.Tensor, hide: torch.Tensor | None) -> torch.Tensor:
        """A fresh fp32 tensor of raw values: video (B, n, C, p0*p1*p2), sensor (B, n, s*3); n = N or H."""
        if not is_video(mod):
            v = self.tokenizers[mod].patchify(x)  # (B, P, s*3), small; may be a view of x
            if hide is None:
                return v.to(torch.float32, copy=True)
            return torch.gather(v, 1, hide.unsqueeze(-1).expand(-1, -1, v.shape[-1])).float()
        tok, (T, Hh, W) = self.tokenizers[mod], self._grid[mod]
        p0, p = tok.tubelet, tok.patch
        B, C = x.shape[:2]
        xv = x.view(B, C, T, p0, Hh, p, W, p)  # "b c (t p0) (h p1) (w p2)": a view, no copy
        if hide is None:
            v = xv.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, T * Hh * W, C, p0 * p * p)
            return v.to(torch.float32, copy=True)
        ti, rest = hide.div(Hh * W, rounding_mode="floor"), hide.remainder(Hh * W)
        hi, wi = rest.div(W, rounding_mode="floor"), rest.remainder(W)
        b = torch.arange(B, device=x.device).unsqueeze(1)
        v = xv[b, :, ti, :, hi, :, wi, :]  # (B, H, C, p0, p, p): one gather of the hidden tubelets
        return v.reshape(B, hide.shape[1], C, p0 * p * p).float()

    # ---------------------------------------------------------------------- encoder
    def _embed(self, mod: str, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, ...) -> (B, N_m, D) tokens with positions (and the modality embedding); with keep (B, V):
        only those tokens, (B, V, D), gathered before the additions."""
        t = self.tokenizers[mod](x)
        pos = getattr(self, f"pos_embed_{mod}")  # (N_m, D)
        if keep is not None:
            t = torch.gather(t, 1, keep.unsqueeze(-1).expand(-1, -1, t.shape[-1]))  # (B, V_m, D)
            pos = pos[keep]  # (B, V_m, D)
        t = t + pos.to(t.dtype)
        if self.modality_embed is not None:
            t = t + self.modality_embed[mod].to(t.dtype)
        return t

    def _run_encoder(self, inputs, index, return_attn):
        """Visible tokens of all modalities through the blocks -> (B, n_prefix + S, D) pre-norm (the cls token
        first when pooling=cls), counts per modality, attn list."""
        parts, counts = [], []
        for mod, x in inputs.items():
            keep = index[mod][0] if index is not None and mod in index else None
            t = self._embed(mod, x, keep)
            parts.append(t)
            counts.append(t.shape[1])
        if sum(counts) == 0:
            raise DataError("MultimodalMAE: the masks hide every token of every modality; nothing to encode")
        if self.cls_token is not None:  # never masked, no position: (B, 1, D) in front
            parts.insert(0, self.cls_token.to(parts[0].dtype).expand(parts[0].shape[0], -1, -1))
        h = torch.cat(parts, dim=1)
        attn = [] if return_attn else None
        for blk in self.blocks:
            if return_attn:
                h, a = blk(h, return_attn=True)
                attn.append(a)
            else:
                h = blk(h)
        return h, counts, attn

    def encode(self, batch: dict, masks: dict | None = None, return_attn: bool = False) -> EncoderOutput:
        """Encode the modalities of the model that are present in `batch` (any non-empty subset).

        masks: None (all tokens) or {mod: (B, N_m) bool}, True = hidden; a modality without a mask keeps
        all its tokens. return_attn: also the attention weights of every block (explicit path; slower).
        """
        mods = [mod for mod in self.modalities if mod in batch]
        if not mods:
            raise DataError(
                f"MultimodalMAE.encode: the batch has none of the model's modalities "
                f"{list(self.modalities)}; got keys {sorted(batch)}"
            )
        inputs, B = self._check_inputs(batch, mods)
        index = None
        if masks is not None:
            ref = next(iter(inputs.values()))
            masks, index = self._check_masks(masks, [m for m in mods if m in masks], B, ref)
        h, counts, attn = self._run_encoder(inputs, index, return_attn)
        n0 = self.n_prefix
        body = h if n0 == 0 else h[:, n0:]  # (B, S, D): the modalities' tokens
        pooled = self.fc_norm(self._readout(h, body, counts))
        tokens = dict(zip(mods, self.norm(body).split(counts, dim=1)))
        starts = [n0 + sum(counts[:i]) for i in range(len(counts))]
        segments = {mod: (s, s + c) for mod, s, c in zip(mods, starts, counts)}
        return EncoderOutput(tokens=tokens, pooled=pooled, attn=attn, segments=segments, masks=masks)

    def _readout(self, h: torch.Tensor, body: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """h (B, n_prefix + S, D), body (B, S, D) its modality tokens -> (B, D) before fc_norm (`pooling`)."""
        if self.pooling == "cls":
            return h[:, 0]
        if self.pooling == "per_modality":  # modalities with no visible token have no mean and are left out
            means = [part.mean(dim=1) for part in body.split(counts, dim=1) if part.shape[1]]
            return torch.stack(means).mean(dim=0)
        return body.mean(dim=1)

    # ---------------------------------------------------------------------- forward
    def forward(self, batch: dict, masks: dict) -> MAEOutput:
        """Masked reconstruction loss.

        batch: {mod: (B, C, T, H, W) video | (B, L, 3) sensor} for every modality of the model (other keys
        such as 'label' are ignored); masks: {mod: (B, N_m) bool}, True = hidden (`masking.make_masks`).
        """
        missing = [mod for mod in self.modalities if mod not in batch]
        if missing:
            raise DataError(
                f"MultimodalMAE.forward: batch lacks modalities {missing}; the model needs "
                f"{list(self.modalities)} (use encode() for a subset)"
            )
        inputs, B = self._check_inputs(batch, self.modalities)
        ref = next(iter(inputs.values()))
        masks, index = self._check_masks(masks, self.modalities, B, ref, for_loss=True)

        h, counts, _ = self._run_encoder(inputs, index, return_attn=False)
        if self.n_prefix:  # the cls token is no decoder's input
            h = h[:, self.n_prefix :]
        y = self.encoder_to_decoder(self.norm(h))  # (B, S, D_dec)
        parts = dict(zip(self.modalities, y.split(counts, dim=1)))

        pred, target, losses, weights = {}, {}, {}, {}
        for mod in self.decoded:
            keep, hide = index[mod]
            p = self.decoders[mod](parts[mod], keep, hide)  # (B, H_m, P_m)
            with torch.no_grad():
                t = self.target(mod, inputs[mod], hide=hide)  # (B, H_m, P_m) fp32
            with torch.autocast(device_type=p.device.type, enabled=False):
                p = p.float()
                losses[mod] = F.mse_loss(p, t)
            pred[mod], target[mod] = p, t
            weights[mod] = self.loss_weights[mod]
        loss = sum(weights[mod] * losses[mod] for mod in self.decoded)
        return MAEOutput(loss=loss, losses=losses, pred=pred, target=target, masks=masks, weights=weights)

    # ---------------------------------------------------------------------- validation
    def _check_modality(self, mod: str) -> None:
        if mod not in self.modalities:
            raise KeyError(f"MultimodalMAE: unknown modality {mod!r}; the model has {list(self.modalities)}")

    def _check_inputs(self, batch: dict, mods) -> tuple[dict[str, torch.Tensor], int]:
        inputs, B = {}, None
        for mod in mods:
            x = batch[mod]
            want = self._input_shape[mod]
            if not torch.is_tensor(x) or not x.is_floating_point():
                got = f"{x.dtype}" if torch.is_tensor(x) else type(x).__name__
                raise DataError(f"MultimodalMAE: batch[{mod!r}] must be a float tensor; got {got}")
            if tuple(x.shape[1:]) != want or x.ndim != len(want) + 1:
                raise DataError(
                    f"MultimodalMAE: batch[{mod!r}] has shape {tuple(x.shape)}, expected "
                    f"(B, {', '.join(map(str, want))}) from the config"
                )
            if B is not None and x.shape[0] != B:
                raise DataError(f"MultimodalMAE: batch[{mod!r}] has batch size {x.shape[0]}, others have {B}")
            B = x.shape[0]
            inputs[mod] = x
        return inputs, B

    def _check_masks(self, masks, mods, B, ref: torch.Tensor, for_loss: bool = False):
        """Check masks; -> ({mod: mask on ref's device}, {mod: (keep, hide) indices on ref's device})."""
        out, index = {}, {}
        counts = self.token_counts()
        for mod in mods:
            if mod not in masks:
                raise DataError(
                    f"MultimodalMAE.forward: no mask for modality {mod!r}; masks has {sorted(masks)}"
                )
            mk = masks[mod]
            if not torch.is_tensor(mk) or mk.dtype != torch.bool:
                raise DataError(f"MultimodalMAE: masks[{mod!r}] must be a bool tensor (True = hidden)")
            if tuple(mk.shape) != (B, counts[mod]):
                raise DataError(
                    f"MultimodalMAE: masks[{mod!r}] has shape {tuple(mk.shape)}, "
                    f"expected ({B}, {counts[mod]})"
                )
            n_hid = mk.sum(dim=1)
            if B and not bool((n_hid == n_hid[0]).all()):
                raise DataError(
                    f"MultimodalMAE: masks[{mod!r}] hides a different number of tokens per sample"
                )
            if for_loss:
                hid = int(n_hid[0]) if B else 0
                if mod in self.decoded and hid == 0:
                    raise DataError(
                        f"MultimodalMAE.forward: masks[{mod!r}] hides nothing; there is nothing to predict"
                    )
                if mod not in self.decoded and hid > 0:
                    raise DataError(
                        f"MultimodalMAE.forward: masks[{mod!r}] hides tokens but the model has no "
                        f"{mod} decoder (built with mask.sensor_mask='none')"
                    )
            keep, hide = mask_indices(mk)  # on the mask's device (usually the CPU: no sync)
            out[mod] = mk.to(ref.device, non_blocking=True)
            index[mod] = (keep.to(ref.device, non_blocking=True), hide.to(ref.device, non_blocking=True))
        return out, index


def build_mae(cfg) -> MultimodalMAE:
    """The MultimodalMAE for `cfg` (validated): the one place that reads the data, model, mask and loss
    settings and builds the tokenizers, decoders and loss weights the model is made of."""
    cfg.validate()
    d, m = cfg.data, cfg.model
    dims = m.dims()
    D = dims["embed_dim"]
    tokenizers, shapes, norm = {}, {}, {}
    for mod in d.modalities:
        if is_video(mod):
            tok = VideoTokenizer(m.tubelet, m.patch, 3, D)
            shapes[mod] = (3, d.num_frames, d.img_size, d.img_size)
        else:
            tok = SensorTokenizer(m.sensor_patches, d.sensor_len, SENSOR_CHANNELS, D, m.sensor_patch_mode)
            shapes[mod] = (d.sensor_len, SENSOR_CHANNELS)
        per_norm = tok.patch_dim // 3 if is_video(mod) else tok.patch_dim  # values one mean/std covers
        # video: norm_target; sensors: also sensor_target (dataset = the z-scored input as given)
        norm[mod] = m.norm_target and (is_video(mod) or m.sensor_target == "per_token")
        if norm[mod] and per_norm < 2:
            raise ConfigError(
                f"model.norm_target needs at least 2 values per normalised patch; {mod} has {per_norm} "
                f"(raise model.patch / model.tubelet, or data.sensor_len / model.sensor_patches)"
            )
        tokenizers[mod] = tok
    sensors_hidden = cfg.mask.sensor_mask != "none"
    decoded = [mod for mod in d.modalities if is_video(mod) or sensors_hidden]
    if not decoded:
        raise ConfigError(
            "mask.sensor_mask='none' with no video in data.modalities: nothing is hidden to learn from"
        )
    video = has_video(d.modalities)
    hyper = float(cfg.pretrain.loss_hyper)  # sensors against video; without video a plain sum
    weights = {mod: 1.0 if (is_video(mod) or not video) else hyper for mod in decoded}
    n_tokens = {
        mod: math.prod(tok.grid(*shapes[mod][1:])) if is_video(mod) else tok.n_patches
        for mod, tok in tokenizers.items()
    }
    decoders = {
        mod: ModalityDecoder(
            n_tokens[mod],
            dims["decoder_dim"],
            dims["decoder_depth"],
            dims["decoder_heads"],
            m.mlp_ratio,
            tokenizers[mod].patch_dim,
        )
        for mod in decoded
    }
    return MultimodalMAE(
        tokenizers,
        shapes,
        decoders,
        weights,
        embed_dim=D,
        depth=dims["depth"],
        num_heads=dims["num_heads"],
        mlp_ratio=m.mlp_ratio,
        drop_path=m.drop_path,
        modality_embed=m.modality_embed,
        norm_target=norm,
        video_stats=(IMAGENET_MEAN, IMAGENET_STD) if d.video_norm == "imagenet" else None,
        attention=m.attention,
        explicit_max_tokens=m.attention_explicit_max_tokens,
        pooling=m.pooling,
    )


def mean_predictor_loss(out: MAEOutput) -> dict[str, torch.Tensor]:
    """The loss of predicting each hidden token's own mean, for the same targets and weights as `out`.

    {mod: MSE, ..., "loss": weighted total}: the baseline the model loss should beat. For normalised targets
    the per-token mean is 0, so this is the loss of predicting zeros, about 1 ((n-1)/n with unbiased std).
    """
    res: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for mod, t in out.target.items():
            t = t.float()
            res[mod] = (t - t.mean(dim=-1, keepdim=True)).pow(2).mean()
        res["loss"] = sum(out.weights[mod] * res[mod] for mod in out.target)
    return res
