"""Transformer building blocks: attention (SDPA path + explicit path returning weights), MLP, block.

As in the reference (VideoMAE): pre-norm blocks, LayerNorm eps 1e-6, MLP ratio 4 with GELU, no layer scale,
no dropout, optional stochastic depth (drop_path). Attention uses **q and v biases only** (the k bias is
fixed at 0, as in the reference): a k bias adds q·b_k, the same for every key, which softmax cancels, so it
would be a parameter that never learns anything (its gradient is exactly zero in exact arithmetic).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-6
ATTENTION_MODES = ("auto", "sdpa", "explicit")


def use_explicit(mode: str, device: torch.device, n_tokens: int, explicit_max_tokens: int | None) -> bool:
    """The attention path rule. 'auto': the explicit path on the CPU for sequences of at most
    `explicit_max_tokens` (None = any length), SDPA elsewhere (CUDA's fused kernels).

    Measured (torch 2.13, one thread, AVX-512 CPU): explicit softmax(q kᵀ) v with its backward is several
    times faster than CPU flash attention at the kit's lengths (48-800 tokens); see benchmarks/README.md.
    """
    if mode == "explicit":
        return True
    if mode == "sdpa":
        return False
    return device.type == "cpu" and (explicit_max_tokens is None or n_tokens <= explicit_max_tokens)


class Attention(nn.Module):
    """Multi-head self-attention. x: (B, N, D) -> (B, N, D).

    Two paths (nanoGPT keeps the same two): `F.scaled_dot_product_attention` (fused, never materialises the
    weights) and softmax(Q Kᵀ / √d) V computed explicitly. `mode` (auto | sdpa | explicit) picks one per
    call by `use_explicit`; forward(x, return_attn=True) always takes the explicit path and returns
    (out, weights) with weights (B, heads, N, N).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        mode: str = "auto",
        explicit_max_tokens: int | None = None,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Attention: dim={dim} is not divisible by num_heads={num_heads}")
        if mode not in ATTENTION_MODES:
            raise ValueError(f"Attention: mode must be one of {list(ATTENTION_MODES)}; got {mode!r}")
        self.mode, self.explicit_max_tokens = mode, explicit_max_tokens
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.proj = nn.Linear(dim, dim)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, N, D = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)  # (B, N, 3D)
        qkv = qkv.reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]  # each (B, heads, N, head_dim)

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        B, N, D = x.shape
        q, k, v = self._qkv(x)
        attn = None
        if return_attn or use_explicit(self.mode, x.device, N, self.explicit_max_tokens):
            attn = (q * self.scale) @ k.transpose(-2, -1)  # (B, heads, N, N)
            attn = attn.softmax(dim=-1)
            out = attn @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(out.transpose(1, 2).reshape(B, N, D))
        return (out, attn) if return_attn else out

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, mode={self.mode!r}, explicit_max_tokens={self.explicit_max_tokens}"


def set_attention(module: nn.Module, mode: str, explicit_max_tokens: int | None = None) -> None:
    """Set the attention path rule (`use_explicit`) of every `Attention` inside `module`."""
    if mode not in ATTENTION_MODES:
        raise ValueError(f"set_attention: mode must be one of {list(ATTENTION_MODES)}; got {mode!r}")
    for m in module.modules():
        if isinstance(m, Attention):
            m.mode, m.explicit_max_tokens = mode, explicit_max_tokens


class Mlp(nn.Module):
    """Linear -> GELU -> Linear. (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DropPath(nn.Module):
    """Stochastic depth per sample (identity in eval mode or when p == 0)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropPath: drop probability must be in [0, 1); got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)). (B, N, D) -> (B, N, D)."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_path: float = 0.0
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        """x: (B, N, D). Returns x, or (x, weights (B, heads, N, N)) when return_attn."""
        if return_attn:
            a, attn = self.attn(self.norm1(x), return_attn=True)
        else:
            a, attn = self.attn(self.norm1(x)), None
        x = x + self.drop_path(a)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return (x, attn) if return_attn else x


# ---------------------------------------------------------------------- initialisation
def init_weights(module: nn.Module) -> None:
    """Reference init, for `model.apply`: xavier-uniform Linear weights, zero biases, LayerNorm (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        if module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def init_conv_as_linear(conv: nn.Conv3d | nn.Conv1d | nn.Conv2d) -> None:
    """Xavier-uniform on the conv weight viewed as a (out, in * kernel) Linear (as MAE's patch_embed)."""
    w = conv.weight.data
    nn.init.xavier_uniform_(w.view(w.shape[0], -1))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def init_token(t: torch.Tensor, std: float = 0.02) -> None:
    """Truncated normal (std 0.02, cut at ±2 std) for mask tokens and learned embeddings."""
    nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)


def drop_path_rates(max_rate: float, depth: int) -> list[float]:
    """Stochastic-depth rate per block, rising linearly from 0 to max_rate (torch.linspace(0, r, depth))."""
    return [max_rate * i / max(depth - 1, 1) for i in range(depth)]
