"""A re-implementation of the reference's pretraining step, as a SPEED BASELINE ONLY.

`mumae bench pretrain --compare-reference` times the kit's step against this one in the same process. It
re-states the computation of the authors' code (VideoMAE-style model + engine, see
`shared/reference/method_reference.md` §2-3) with the kit's dims, so that "kit step / reference step" says
how much faster the kit's implementation is for the same FLOPs (the benchmark asserts equal FLOP counts):

* timm-style pre-norm blocks; attention with one fused qkv Linear, q/v biases, explicit softmax(q kᵀ) v;
* video tubelets by Conv3d, each sensor's 24-value tokens by its own Conv1d(kernel 1); fixed sin-cos tables;
* the encoder keeps visible tokens by boolean indexing; one shared encoder_to_decoder; per modality a
  decoder over [visible + pos ; mask token + pos] with its head on the last N_hidden tokens;
* the target computed per step as the reference engine does: un-normalise the whole video, per-patch
  normalise every token in fp32, then keep the hidden ones; MSE per modality, L = L_v + loss_hyper * sum L_s;
* plain `torch.optim.AdamW` (torch's default implementation choice), no fused kernels, no compile.

It is not a model to train or to load weights into; nothing else in the kit imports it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from mumae_core.modalities import IMAGENET_MEAN, IMAGENET_STD, SENSOR_CHANNELS, is_video
from mumae_core.models.pos_embed import sincos_1d

EPS = 1e-6


class RefAttention(nn.Module):
    """(B, N, D) -> (B, N, D): VideoMAE's attention (qkv Linear, no bias; q/v biases; explicit softmax)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias, requires_grad=False), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(B, N, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class RefBlock(nn.Module):
    """timm pre-norm block. (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=EPS), nn.LayerNorm(dim, eps=EPS)
        self.attn = RefAttention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class RefDecoder(nn.Module):
    """[visible + pos ; mask token + pos] -> blocks -> head on the last n_hidden tokens."""

    def __init__(self, n_tokens: int, dim: int, depth: int, heads: int, mlp_ratio: float, patch_dim: int):
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos", sincos_1d(n_tokens, dim).unsqueeze(0), persistent=False)
        self.blocks = nn.ModuleList(RefBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.head = nn.Linear(dim, patch_dim)

    def forward(self, vis: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """vis: (B, V, D_dec), mask: (B, N) bool True = hidden -> (B, H, patch_dim)."""
        B, _, C = vis.shape
        pos = self.pos.expand(B, -1, -1).type_as(vis)
        pos_vis, pos_hid = pos[~mask].reshape(B, -1, C), pos[mask].reshape(B, -1, C)
        x = torch.cat([vis + pos_vis, self.mask_token + pos_hid], dim=1)
        for blk in self.blocks:
            x = blk(x)
        n_hid = pos_hid.shape[1]
        return self.head(self.norm(x[:, -n_hid:]))


class ReferenceMAE(nn.Module):
    """The reference model at the kit's dims; `cfg` gives the shapes (data, model, mask, loss_hyper)."""

    def __init__(self, cfg):
        super().__init__()
        d, m = cfg.data, cfg.model
        dims = m.dims()
        D, Dd = dims["embed_dim"], dims["decoder_dim"]
        self.modalities, self.loss_hyper = tuple(d.modalities), cfg.pretrain.loss_hyper
        self.tubelet, self.patch, self.sensor_patches = m.tubelet, m.patch, m.sensor_patches
        n_video = (d.num_frames // m.tubelet) * (d.img_size // m.patch) ** 2
        s_dim = d.sensor_len // m.sensor_patches * SENSOR_CHANNELS
        self.embed = nn.ModuleDict()
        n_tok, p_dim = {}, {}
        for mod in self.modalities:
            if is_video(mod):
                k = (m.tubelet, m.patch, m.patch)
                self.embed[mod] = nn.Conv3d(3, D, kernel_size=k, stride=k)
                n_tok[mod], p_dim[mod] = n_video, m.tubelet * m.patch * m.patch * 3
            else:
                self.embed[mod] = nn.Conv1d(s_dim, D, kernel_size=1)
                n_tok[mod], p_dim[mod] = m.sensor_patches, s_dim
            self.register_buffer(f"pos_{mod}", sincos_1d(n_tok[mod], D).unsqueeze(0), persistent=False)
        self.blocks = nn.ModuleList(RefBlock(D, dims["num_heads"], m.mlp_ratio) for _ in range(dims["depth"]))
        self.norm = nn.LayerNorm(D, eps=EPS)
        self.encoder_to_decoder = nn.Linear(D, Dd, bias=False)
        self.decoders = nn.ModuleDict(
            {
                mod: RefDecoder(
                    n_tok[mod], Dd, dims["decoder_depth"], dims["decoder_heads"], m.mlp_ratio, p_dim[mod]
                )
                for mod in self.modalities
            }
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)

    def _tokens(self, mod: str, x: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, N_m, D) with positions."""
        if is_video(mod):
            t = self.embed[mod](x).flatten(2).transpose(1, 2)
        else:  # "b c (t p) l s -> b p (t l s c)" with c = l = 1, then Conv1d(24 -> D, 1)
            patches = rearrange(x, "b (t p) s -> b (t s) p", p=self.sensor_patches)
            t = self.embed[mod](patches).transpose(1, 2)
        return t + self.pos_embed(mod).type_as(t)

    def pos_embed(self, mod: str) -> torch.Tensor:
        return getattr(self, f"pos_{mod}")

    @torch.no_grad()
    def _target(self, mod: str, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The reference engine's labels: every token normalised, then the hidden ones kept. (B, H, P)."""
        B = x.shape[0]
        if is_video(mod):
            u = x * self.std + self.mean
            p0, p = self.tubelet, self.patch
            sq = rearrange(u, "b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c", p0=p0, p1=p, p2=p)
            sd = sq.var(dim=-2, unbiased=True, keepdim=True).sqrt() + EPS
            sq = (sq - sq.mean(dim=-2, keepdim=True)) / sd
            patches = rearrange(sq, "b n p c -> b n (p c)")
        else:
            patches = rearrange(x, "b (t p) s -> b p (t s)", p=self.sensor_patches)
            patches = (patches - patches.mean(dim=-1, keepdim=True)) / (
                patches.var(dim=-1, unbiased=True, keepdim=True).sqrt() + EPS
            )
        return patches[mask].reshape(B, -1, patches.shape[-1])

    def forward(self, batch: dict, masks: dict) -> torch.Tensor:
        """batch {mod: (B, ...)}, masks {mod: (B, N_m) bool} -> scalar loss."""
        B = next(iter(batch.values())).shape[0]
        vis = [self._tokens(mod, batch[mod]) for mod in self.modalities]
        vis = [t[~masks[mod]].reshape(B, -1, t.shape[-1]) for mod, t in zip(self.modalities, vis)]
        counts = [t.shape[1] for t in vis]
        x = torch.cat(vis, dim=1)
        for blk in self.blocks:
            x = blk(x)
        y = self.encoder_to_decoder(self.norm(x))
        loss = 0.0
        for mod, part in zip(self.modalities, y.split(counts, dim=1)):
            pred = self.decoders[mod](part, masks[mod])
            target = self._target(mod, batch[mod], masks[mod])
            w = 1.0 if is_video(mod) else self.loss_hyper
            loss = loss + w * F.mse_loss(pred.float(), target)
        return loss


def reference_optimizer(model: nn.Module, lr: float, weight_decay: float, betas) -> torch.optim.AdamW:
    """Plain AdamW with the reference's two groups (no decay for 1-D parameters and mask tokens)."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and not n.endswith("mask_token")]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1 or n.endswith("mask_token")]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=1e-8)
