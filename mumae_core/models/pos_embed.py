"""Fixed sinusoidal position tables.

The reference (VideoMAE `get_sinusoid_encoding_table`) uses one 1-D table over the flattened token order:
for video the t-major tubelet order (ti, hi, wi), for each sensor its 16 patch positions. The kit keeps this
1-D table for faithfulness: a video token's table row is its flattened index, so spatial and temporal
neighbours are not encoded separately (a 3-D factorised table would be the alternative).
"""

from __future__ import annotations

import torch


def sincos_1d(n: int, dim: int) -> torch.Tensor:
    """(n, dim) float32 table: row p, column j = sin(p / 10000^(2*(j//2)/dim)) for even j, cos for odd j.

    Sine and cosine columns are interleaved, exactly as in VideoMAE's `get_sinusoid_encoding_table`.
    """
    if n <= 0 or dim <= 0:
        raise ValueError(f"sincos_1d: n and dim must be positive; got n={n}, dim={dim}")
    pos = torch.arange(n, dtype=torch.float64).unsqueeze(1)  # (n, 1)
    j = torch.arange(dim, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)  # (n, dim)
    table = torch.empty(n, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.float()
