"""Attention plots: fusion attention of R^m over a modality's tokens, and encoder attention on visible tokens.

Fusion (CrossAttentionFusion): for each modality m the query from R^m attends over m's tokens;
`fusion.attn[m]` is (B, heads, N_m). Here it is averaged over heads and drawn over the sensor signal (a
weight per time window) or over the video frames (a weight per tubelet patch).
Encoder: `encode(..., return_attn=True).attn` is a list of (B, heads, S, S) over the visible tokens of all
modalities; `encoder_attention_received` gives, per visible token, the mean attention it receives.

Every plot has a colorbar with its units, and hidden (masked) tokens, which the encoder never saw, are drawn
grey and hatched with a legend entry "hidden", so they cannot be read as zero attention.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
import torch
from matplotlib.patches import Patch, Rectangle

from mumae_core.viz.signals import _runs, sample_mask
from mumae_core.viz.style import AXIS_COLORS, HIDDEN_COLOR, HIDDEN_HATCH, subplots, to_numpy

FUSION_UNITS = "attention weight\n(sums to 1 over the tokens)"  # a clip's weights over one modality
RECEIVED_UNITS = "mean attention received\n(over queries and heads)"  # encoder_attention_received


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


def _hidden_patch(label: str = "hidden (masked: not in the encoder input)") -> Patch:
    return Patch(facecolor=HIDDEN_COLOR, edgecolor="k", alpha=0.45, hatch=HIDDEN_HATCH, label=label)


def _vmax(weights) -> float:
    vals = [np.ma.asarray(w).compressed() for w in weights]
    vals = [v for v in vals if v.size]
    return float(max(v.max() for v in vals)) if vals and max(v.max() for v in vals) > 0 else 1.0


def plot_signal_attention(
    signals: dict,
    weights: dict,
    mode: str = "contiguous",
    title: str | None = None,
    units: str = FUSION_UNITS,
):
    """Rows = sensors: the 3 axes over time with the per-token attention drawn as a shaded band behind them.

    signals {sensor: (L, 3)}; weights {sensor: (P,)} (masked entries = hidden tokens, drawn grey and hatched
    with a legend entry). One colour scale (0 .. the largest weight) for all rows, with a colorbar in `units`.
    """
    names = [n for n in signals if n in weights]
    fig, axes = subplots(len(names), 1, cell=(8.0, 1.5), sharex=True)
    vmax = _vmax([weights[n] for n in names])
    im, any_hidden = None, False
    for ax, name in zip(axes[:, 0], names):
        x = to_numpy(signals[name])
        w = np.ma.asarray(weights[name])
        L, P = x.shape[0], w.shape[0]
        hidden = sample_mask(np.ma.getmaskarray(w), L, mode)
        per_sample = np.ma.masked_array(np.asarray(w.filled(0.0))[_token_of_sample(L, P, mode)], mask=hidden)
        lo, hi = float(x.min()), float(x.max())
        im = ax.imshow(
            per_sample[None, :],
            aspect="auto",
            cmap="Oranges",
            extent=(-0.5, L - 0.5, lo, hi),
            alpha=0.8,
            vmin=0,
            vmax=vmax,
            origin="lower",
        )
        for a, b in _runs(hidden):
            any_hidden = True
            ax.axvspan(a - 0.5, b - 0.5, facecolor=HIDDEN_COLOR, alpha=0.45, hatch=HIDDEN_HATCH, lw=0)
        for c in range(x.shape[1]):
            ax.plot(x[:, c], color=AXIS_COLORS[c % 3], lw=0.9)
        ax.set_ylim(lo, hi)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel(
        "time (samples); shading: attention weight of the token covering each sample", fontsize=8
    )
    if any_hidden:
        axes[0, 0].legend(handles=[_hidden_patch()], loc="upper right", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if im is not None:
        cb = fig.colorbar(im, ax=axes[:, 0].tolist(), fraction=0.03, pad=0.01)
        cb.set_label(units, fontsize=7)
        cb.ax.tick_params(labelsize=6)
    return fig


def _token_of_sample(L: int, P: int, mode: str) -> np.ndarray:
    s = L // P
    return np.repeat(np.arange(P), s) if mode == "contiguous" else np.tile(np.arange(P), s)


def plot_frame_attention(
    frames, weights, grid, tubelet: int, patch: int, title: str | None = None, units: str = FUSION_UNITS
):
    """Frames (T, H, W, 3) with the attention of each video token (N,) overlaid as a heat map (colorbar in
    `units`); hidden tokens (np.ma masked) are drawn grey and hatched, with a legend entry "hidden"."""
    f = np.clip(to_numpy(frames), 0, 1)
    w = np.ma.asarray(weights).reshape(grid)
    T = f.shape[0]
    vmax = _vmax([w])
    fig, axes = subplots(1, T, cell=(2.0, 2.0))
    im, any_hidden = None, False
    for t, ax in enumerate(axes[0]):
        ax.imshow(f[t])
        heat = w[t // tubelet]
        hid = np.ma.getmaskarray(heat)
        up = np.ma.masked_array(
            np.asarray(heat.filled(0.0)).repeat(patch, 0).repeat(patch, 1),
            mask=hid.repeat(patch, 0).repeat(patch, 1),
        )
        im = ax.imshow(up, cmap="inferno", alpha=0.55, vmin=0, vmax=vmax)
        for hi, wi in zip(*np.nonzero(hid)):
            any_hidden = True
            ax.add_patch(
                Rectangle(
                    (wi * patch - 0.5, hi * patch - 0.5),
                    patch,
                    patch,
                    facecolor=HIDDEN_COLOR,
                    edgecolor="k",
                    alpha=0.45,
                    hatch=HIDDEN_HATCH,
                    lw=0.3,
                )
            )
        ax.set_title(f"frame {t}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if any_hidden:
        axes[0, -1].legend(
            handles=[_hidden_patch("hidden")],
            loc="lower right",
            bbox_to_anchor=(1.0, 1.12),
            fontsize=7,
            frameon=False,
            borderaxespad=0,
        )
    cb = fig.colorbar(im, ax=axes[0].tolist(), fraction=0.02, pad=0.01)
    cb.ax.tick_params(labelsize=6)
    cb.set_label(units, fontsize=7)
    return fig


def plot_class_attention(
    per_class: dict,
    title: str | None = None,
    xlabel: str = "token",
    grid: tuple[int, int, int] | None = None,
    units: str = "mean attention weight over the class's clips",
):
    """Per-class mean attention weights. per_class {class name: (N,)}.

    Without `grid` (sensors): a heat map classes x tokens. With `grid` = (T', H', W') (video, t-major
    tokens): one H' x W' map per class of the weights averaged over the T' time steps, so the spatial
    layout is visible; a flat 0..N-1 index would show the same spatial pattern T' times (period H'*W').

    The "peaks repeat every H'W' = 49 tokens" of the flat plot are content, not position or a sink: with a
    tiny model at the default video geometry (smoke SynthAct, 4 x 7 x 7 tokens, 2 pretraining epochs, 40 test
    clips) the class-mean attention's lag-49 autocorrelation is 0.59, drops to 0.11 when the patches are
    permuted differently at each time step (positions unchanged), and the attention follows the moved patches
    (r = 0.65, vs 0.28 staying in place); the weights are near-uniform (max 1.3 x uniform: no sink). The
    SynthAct scene barely changes across the T' = 4 steps (frame correlation 0.97), so its pattern repeats.
    `time_repeat_correlation` gives the lag-H'W' number for any per-class map.
    """
    names = list(per_class)
    mat = np.stack([to_numpy(per_class[c]) for c in names])
    if grid is not None:
        return _plot_class_grid(mat, names, grid, title, units)
    fig, axes = subplots(1, 1, cell=(min(0.35 * mat.shape[1] + 2.5, 12.0), 0.3 * len(names) + 1.2))
    sns.heatmap(
        mat,
        ax=axes[0, 0],
        cmap="viridis",
        vmin=0,
        yticklabels=names,
        xticklabels=max(1, mat.shape[1] // 16),
        cbar_kws={"label": units},
    )
    axes[0, 0].set_xlabel(xlabel)
    axes[0, 0].tick_params(labelsize=7)
    if title:
        axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _plot_class_grid(mat: np.ndarray, names: list[str], grid, title: str | None, units: str):
    """(C, T'*H'*W') -> one H' x W' panel per class (mean over T'), shared colour scale and colorbar."""
    Tp, Hp, Wp = grid
    if mat.shape[1] != Tp * Hp * Wp:
        raise ValueError(
            f"plot_class_attention: {mat.shape[1]} tokens per class do not fill grid {tuple(grid)} "
            f"({Tp * Hp * Wp} tokens)"
        )
    maps = mat.reshape(len(names), Tp, Hp, Wp).mean(axis=1)  # (C, H', W')
    ncols = min(len(names), 6)
    nrows = -(-len(names) // ncols)
    fig, axes = subplots(nrows, ncols, cell=(1.7, 1.8))
    vmax = float(maps.max()) if maps.size and maps.max() > 0 else 1.0
    im = None
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= len(names):
            continue
        im = ax.imshow(maps[k], cmap="viridis", vmin=0, vmax=vmax)
        ax.set_title(names[k], fontsize=7)
    fig.suptitle(
        (title + "\n" if title else "") + f"mean over the {Tp} time steps, on the {Hp} x {Wp} patch grid",
        fontsize=9,
    )
    fig.tight_layout()
    cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02)
    cb.set_label(units, fontsize=7)
    cb.ax.tick_params(labelsize=6)
    return fig


def time_repeat_correlation(per_class: dict, grid: tuple[int, int, int]) -> float:
    """Mean over classes of the autocorrelation of the (N,) attention at lag H'*W' (the same patch one time
    step later): ~1 when the spatial pattern repeats at every time step, ~0 when it does not."""
    _Tp, Hp, Wp = grid
    lag = Hp * Wp
    rs = []
    for v in per_class.values():
        a, b = to_numpy(v)[:-lag].astype(np.float64), to_numpy(v)[lag:].astype(np.float64)
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        rs.append(float((a * b).sum() / den) if den > 0 else 0.0)
    return float(np.mean(rs)) if rs else float("nan")
