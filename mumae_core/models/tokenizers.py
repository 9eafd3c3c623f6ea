"""Tokenizers: video tubelets and sensor patches, each with exact patchify / unpatchify inverses.

Video: a Conv3d with kernel = stride = (tubelet, patch, patch) maps (B, C, T, H, W) to T'*H'*W' tokens in
t-major order (index = (ti * H' + hi) * W' + wi). `patchify` gives the raw patch values in the reference's
target order (p0 p1 p2 c): the pixels of a tubelet, channel fastest.

Sensor: (B, L, C) is cut into P tokens of s = L / P samples x C axes, time-major with the axes interleaved,
then a per-token Linear(s*C -> D) (the reference's Conv1d with kernel 1). Two layouts:
  contiguous  token p holds samples [p*s, (p+1)*s)                       "b (p s) c -> b p (s c)"
  strided     token p holds samples {p, p+P, p+2P, ...} (the reference)   "b (s p) c -> b p (s c)"
The strided pattern is the reference's "b c (t p) l s -> b p (t l s c)" on its (B, 1, L, 1, 3) tensor, with
its singleton c and l dropped (its t is our s, its s our axis c).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from mumae_core.models.blocks import init_conv_as_linear

SENSOR_PATCH_MODES = ("contiguous", "strided")


class VideoTokenizer(nn.Module):
    """(B, C, T, H, W) -> (B, T'*H'*W', D) with T' = T/tubelet, H' = H/patch, W' = W/patch (t-major)."""

    def __init__(self, tubelet: int, patch: int, in_chans: int = 3, dim: int = 384):
        super().__init__()
        self.tubelet, self.patch, self.in_chans = tubelet, patch, in_chans
        self.patch_dim = tubelet * patch * patch * in_chans
        self.proj = nn.Conv3d(
            in_chans, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch)
        )
        init_conv_as_linear(self.proj)

    def grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """(T', H', W') for a (T, H, W) clip; raises ValueError if a size is not divisible."""
        if t % self.tubelet or h % self.patch or w % self.patch:
            raise ValueError(
                f"VideoTokenizer: clip (T={t}, H={h}, W={w}) is not divisible by the tubelet "
                f"({self.tubelet}, {self.patch}, {self.patch})"
            )
        return t // self.tubelet, h // self.patch, w // self.patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, H, W) -> (B, N, D)."""
        return self.proj(x).flatten(2).transpose(1, 2)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, N, tubelet*patch*patch*C), values in (p0 p1 p2 c) order."""
        p0, p = self.tubelet, self.patch
        return rearrange(x, "b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2 c)", p0=p0, p1=p, p2=p)

    def unpatchify(self, patches: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """(B, N, tubelet*patch*patch*C) -> (B, C, T, H, W); the exact inverse of `patchify` for `grid`."""
        t, h, w = grid
        p0, p = self.tubelet, self.patch
        return rearrange(
            patches, "b (t h w) (p0 p1 p2 c) -> b c (t p0) (h p1) (w p2)", t=t, h=h, w=w, p0=p0, p1=p, p2=p
        )


class SensorTokenizer(nn.Module):
    """(B, L, C) -> (B, n_patches, D): patchify (contiguous | strided), then Linear(s*C -> D)."""

    def __init__(
        self, n_patches: int, sensor_len: int, channels: int = 3, dim: int = 384, mode: str = "contiguous"
    ):
        super().__init__()
        if mode not in SENSOR_PATCH_MODES:
            raise ValueError(f"SensorTokenizer: mode must be one of {list(SENSOR_PATCH_MODES)}; got {mode!r}")
        if n_patches <= 0 or sensor_len % n_patches:
            raise ValueError(
                f"SensorTokenizer: sensor_len={sensor_len} is not divisible by n_patches={n_patches}"
            )
        self.n_patches, self.sensor_len, self.channels, self.mode = n_patches, sensor_len, channels, mode
        self.samples = sensor_len // n_patches  # s: samples per token
        self.patch_dim = self.samples * channels
        self.proj = nn.Linear(self.patch_dim, dim)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) -> (B, P, s*C), time-major with the C axes interleaved."""
        if self.mode == "contiguous":
            return rearrange(x, "b (p s) c -> b p (s c)", p=self.n_patches)
        return rearrange(x, "b (s p) c -> b p (s c)", p=self.n_patches)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, P, s*C) -> (B, L, C); the exact inverse of `patchify`."""
        if self.mode == "contiguous":
            return rearrange(patches, "b p (s c) -> b (p s) c", c=self.channels)
        return rearrange(patches, "b p (s c) -> b (s p) c", c=self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, C) -> (B, P, D)."""
        return self.proj(self.patchify(x))

    def extra_repr(self) -> str:
        return f"n_patches={self.n_patches}, sensor_len={self.sensor_len}, mode={self.mode!r}"
