"""Sensor plots: channels over time with patch boundaries and hidden spans shaded; reconstructions.

A sensor is (L, 3); its P tokens are windows of s = L / P samples. `contiguous` token p covers samples
[p*s, (p+1)*s); `strided` token p covers {p, p+P, p+2P, ...} (the reference layout).

Axes say what they show: x is time, in samples of the resampled window (or in seconds when `sample_rate`
is given); y is the value in `units` (the kit's default normalisation is a z-score from train statistics).
"""

from __future__ import annotations

import numpy as np

from mumae_core.viz.style import AXIS_COLORS, AXIS_NAMES, HIDDEN_COLOR, subplots, to_numpy


def sample_mask(token_mask, sensor_len: int, mode: str = "contiguous") -> np.ndarray:
    """Token mask (P,) bool (True = hidden) -> per-sample mask (L,) bool for the token layout `mode`."""
    m = to_numpy(token_mask).astype(bool).reshape(-1)
    P = m.size
    if P == 0 or sensor_len % P:
        raise ValueError(f"sample_mask: sensor_len={sensor_len} is not divisible by {P} tokens")
    s = sensor_len // P
    if mode == "contiguous":
        return np.repeat(m, s)
    if mode == "strided":
        return np.tile(m, s)
    raise ValueError(f"sample_mask: mode must be 'contiguous' or 'strided'; got {mode!r}")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end)) of the runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def shade_hidden(
    ax, token_mask, sensor_len: int, mode: str = "contiguous", color: str = HIDDEN_COLOR
) -> None:
    """Shade the samples of hidden tokens on `ax` (x axis in samples); the first span is labelled "hidden"
    for the legend."""
    for k, (a, b) in enumerate(_runs(sample_mask(token_mask, sensor_len, mode))):
        ax.axvspan(a - 0.5, b - 0.5, color=color, alpha=0.25, lw=0, label="hidden" if k == 0 else None)


def time_label(sample_rate: float | None = None) -> str:
    """x-axis label of a sensor plot: samples, or seconds when the sampling rate (Hz) is known."""
    return "time (s)" if sample_rate else "time (samples)"


def value_label(units: str) -> str:
    """y-axis label: 'z-scored' -> 'z-scored value'; a unit that already says 'value' is kept."""
    return units if "value" in units else f"{units} value"


def _time_axis(ax, sample_rate: float | None) -> None:
    """Tick labels in seconds for an axis drawn in samples (the shading helpers work in samples)."""
    if sample_rate:
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x / sample_rate:g}")


def draw_patch_bounds(ax, sensor_len: int, n_patches: int, mode: str = "contiguous") -> None:
    """Vertical lines at the contiguous token boundaries (strided tokens interleave: tick every sample)."""
    s = sensor_len // n_patches
    if mode == "contiguous":
        for p in range(1, n_patches):
            ax.axvline(p * s - 0.5, color="k", lw=0.5, alpha=0.4)
    else:
        for i in range(0, sensor_len, n_patches):
            ax.axvline(i - 0.5, color="k", lw=0.3, alpha=0.25, ls=":")


def plot_sensors(
    signals: dict,
    masks: dict | None = None,
    n_patches: int | None = None,
    mode: str = "contiguous",
    title: str | None = None,
    units: str = "z-scored",
    sample_rate: float | None = None,
):
    """One row per sensor: its 3 axes over time. signals {name: (L, 3)}; masks {name: (P,) bool} shades
    the hidden spans; n_patches draws the token boundaries; `units` labels the y axes, `sample_rate` (Hz)
    puts the x axis in seconds. Returns the Figure."""
    names = list(signals)
    fig, axes = subplots(len(names), 1, cell=(8.0, 1.6), sharex=True)
    for ax, name in zip(axes[:, 0], names):
        x = to_numpy(signals[name])
        if x.ndim != 2:
            raise ValueError(f"plot_sensors: {name} must be (L, C); got shape {x.shape}")
        for c in range(x.shape[1]):
            ax.plot(x[:, c], color=AXIS_COLORS[c % 3], lw=1.0, label=AXIS_NAMES[c % 3])
        if n_patches:
            draw_patch_bounds(ax, x.shape[0], n_patches, mode)
        if masks is not None and name in masks:
            shade_hidden(ax, masks[name], x.shape[0], mode)
        ax.set_ylabel(f"{name}\n{value_label(units)}", fontsize=7)
        ax.tick_params(labelsize=7)
        _time_axis(ax, sample_rate)
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel(time_label(sample_rate), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_sensor_masks(signals: dict, masks: dict, mode: str = "contiguous", title: str | None = None):
    """Rows = sensors, columns = mask variants. masks {variant: {sensor: (P,) bool}}: the hidden spans of
    each variant shaded over the same signals (e.g. synchronized vs independent)."""
    names, variants = list(signals), list(masks)
    fig, axes = subplots(len(names), len(variants), cell=(4.2, 1.4), sharex=True)
    for j, var in enumerate(variants):
        for i, name in enumerate(names):
            ax = axes[i, j]
            x = to_numpy(signals[name])
            for c in range(x.shape[1]):
                ax.plot(x[:, c], color=AXIS_COLORS[c % 3], lw=0.8)
            shade_hidden(ax, masks[var][name], x.shape[0], mode)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
            if i == 0:
                ax.set_title(var, fontsize=9)
    labelled = [ax for ax in axes[0] if ax.get_legend_handles_labels()[0]]
    if labelled:
        labelled[0].legend(loc="upper right", fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel(time_label(), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_sensor_reconstruction(
    original: dict,
    recon: dict,
    masks: dict,
    mode: str = "contiguous",
    title: str | None = None,
    units: str = "z-scored",
    sample_rate: float | None = None,
):
    """Rows = sensors, columns = the 3 axes: original (solid) vs reconstruction (dashed, hidden spans only;
    visible spans are the input itself), hidden spans shaded. Each argument {sensor: (L, 3) | (P,)}.
    x axis: time in samples (seconds with `sample_rate` in Hz); y axis: the value in `units`."""
    names = list(original)
    fig, axes = subplots(len(names), 3, cell=(3.2, 1.35), sharex=True)
    for i, name in enumerate(names):
        x, r = to_numpy(original[name]), to_numpy(recon[name])
        hid = sample_mask(masks[name], x.shape[0], mode)
        for c in range(3):
            ax = axes[i, c]
            ax.plot(x[:, c], color=AXIS_COLORS[c], lw=1.0, label="original")
            ax.plot(np.where(hid, r[:, c], np.nan), color="k", lw=1.0, ls="--", label="reconstruction")
            shade_hidden(ax, masks[name], x.shape[0], mode)
            ax.tick_params(labelsize=6)
            _time_axis(ax, sample_rate)
            if c == 0:
                ax.set_ylabel(f"{name}\n{value_label(units)}", fontsize=7)
            if i == 0:
                ax.set_title(f"axis {AXIS_NAMES[c]}", fontsize=9)
    axes[0, 0].legend(fontsize=6, loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel(time_label(sample_rate), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
