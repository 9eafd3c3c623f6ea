"""Attention plots: fusion attention of R^m over a modality's tokens, and encoder attention on visible tokens.

Fusion (CrossAttentionFusion): for each modality m the query from R^m attends over m's tokens;
`fusion.attn[m]` is (B, heads, N_m). Here it is averaged over heads and drawn over the sensor signal (a
weight per time window) or over the video frames (a weight per tubelet patch).
Encoder: `encode(..., return_attn=True).attn` is a list of (B, heads, S, S) over the visible tokens of all
modalities; `encoder_attention_received` gives, per visible token, the mean attention it receives.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
import torch

from mumae_core.viz.signals import sample_mask
from mumae_core.viz.style import AXIS_COLORS, subplots, to_numpy


@torch.no_grad()
def fusion_attention(model, batch: dict) -> dict[str, np.ndarray]:
    """Run a one-shot model with cross-attention fusion on `batch`; {mod: (B, N_m)} head-averaged weights."""
    was = model.training
    model.eval()
    try:
        model.clip_features(batch)
    finally:
        model.train(was)
    attn = getattr(model.fusion, "attn", None)
    if not attn:
        raise ValueError(
            f"fusion_attention: {type(model.fusion).__name__} records no attention weights; use "
            "oneshot.fusion='cross_attn'"
        )
    return {m: to_numpy(a.float().mean(dim=1)) for m, a in attn.items()}


def encoder_attention_received(enc_out, token_counts: dict[str, int], layer: int = -1) -> dict:
    """Mean attention each visible token receives (over queries and heads) in block `layer`.

    enc_out: EncoderOutput from `encode(batch, masks, return_attn=True)`. Returns {mod: masked array (B, N_m)}
    with the hidden tokens masked out (they are not in the encoder's sequence).
    """
    if not enc_out.attn:
        raise ValueError("encoder_attention_received: encode(..., return_attn=True) was not used")
    a = to_numpy(enc_out.attn[layer].float().mean(dim=1).mean(dim=1))  # (B, S): attention received
    out = {}
    for mod, (s, e) in enc_out.segments.items():
        B, N = a.shape[0], token_counts[mod]
        full = np.zeros((B, N), dtype=np.float32)
        hidden = np.zeros((B, N), dtype=bool)
        if enc_out.masks is not None and mod in enc_out.masks:
            hidden = to_numpy(enc_out.masks[mod]).astype(bool)
        for b in range(B):
            full[b, ~hidden[b]] = a[b, s:e]
        out[mod] = np.ma.masked_array(full, mask=hidden)
    return out


def plot_signal_attention(signals: dict, weights: dict, mode: str = "contiguous", title: str | None = None):
    """Rows = sensors: the 3 axes over time with the per-token attention drawn as a shaded band behind them.
    signals {sensor: (L, 3)}; weights {sensor: (P,)} (masked entries = hidden tokens, drawn hatched)."""
    names = [n for n in signals if n in weights]
    fig, axes = subplots(len(names), 1, cell=(8.0, 1.5), sharex=True)
    for ax, name in zip(axes[:, 0], names):
        x = to_numpy(signals[name])
        w = np.ma.asarray(weights[name])
        L, P = x.shape[0], w.shape[0]
        per_sample = np.ma.masked_array(
            np.asarray(w.filled(0.0))[_token_of_sample(L, P, mode)],
            mask=sample_mask(np.ma.getmaskarray(w), L, mode),
        )
        lo, hi = float(x.min()), float(x.max())
        ax.imshow(
            per_sample[None, :],
            aspect="auto",
            cmap="Oranges",
            extent=(-0.5, L - 0.5, lo, hi),
            alpha=0.8,
            vmin=0,
            origin="lower",
        )
        for c in range(x.shape[1]):
            ax.plot(x[:, c], color=AXIS_COLORS[c % 3], lw=0.9)
        ax.set_ylim(lo, hi)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("sample (shading: attention weight of the token covering it)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _token_of_sample(L: int, P: int, mode: str) -> np.ndarray:
    s = L // P
    return np.repeat(np.arange(P), s) if mode == "contiguous" else np.tile(np.arange(P), s)


def plot_frame_attention(frames, weights, grid, tubelet: int, patch: int, title: str | None = None):
    """Frames (T, H, W, 3) with the attention of each video token (N,) overlaid as a heat map; tokens that
    are masked out (np.ma) are left clear."""
    f = np.clip(to_numpy(frames), 0, 1)
    w = np.ma.asarray(weights).reshape(grid)
    T = f.shape[0]
    vmax = float(w.max()) if w.count() else 1.0
    fig, axes = subplots(1, T, cell=(2.0, 2.0))
    for t, ax in enumerate(axes[0]):
        ax.imshow(f[t])
        heat = w[t // tubelet]
        up = np.ma.masked_array(
            np.asarray(heat.filled(0.0)).repeat(patch, 0).repeat(patch, 1),
            mask=np.ma.getmaskarray(heat).repeat(patch, 0).repeat(patch, 1),
        )
        ax.imshow(up, cmap="inferno", alpha=0.55, vmin=0, vmax=vmax)
        ax.set_title(f"frame {t}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_class_attention(per_class: dict, title: str | None = None, xlabel: str = "token"):
    """Heat map classes x tokens of mean attention weights. per_class {class name: (N,)}."""
    names = list(per_class)
    mat = np.stack([to_numpy(per_class[c]) for c in names])
    fig, axes = subplots(1, 1, cell=(min(0.35 * mat.shape[1] + 2.5, 12.0), 0.3 * len(names) + 1.2))
    sns.heatmap(
        mat,
        ax=axes[0, 0],
        cmap="viridis",
        yticklabels=names,
        xticklabels=max(1, mat.shape[1] // 16),
        cbar_kws={"label": "mean attention"},
    )
    axes[0, 0].set_xlabel(xlabel)
    axes[0, 0].tick_params(labelsize=7)
    if title:
        axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
