"""Shared plotting helpers: array conversion, display-space video, modality colours, saving figures.

Every plotting function of `mumae_core.viz` takes arrays or tensors and returns a `matplotlib.figure.Figure`;
nothing depends on a "current" figure. Notebooks save with `save_figure(fig, figures_dir, name)` (PNG at
SAVE_DPI, returns None so a cell ending with it shows no `Out[]: PosixPath(...)`), and may call
`inline_defaults()` once for a readable inline size.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from mumae_core import modalities

IMAGENET_MEAN = np.array(modalities.IMAGENET_MEAN, dtype=np.float32)
IMAGENET_STD = np.array(modalities.IMAGENET_STD, dtype=np.float32)
AXIS_NAMES = ("x", "y", "z")
AXIS_COLORS = ("#1f77b4", "#2ca02c", "#d62728")
HIDDEN_COLOR = "#7f7f7f"
HIDDEN_HATCH = "////"  # hidden (masked) tokens in attention plots: grey and hatched, never "zero attention"
SAVE_DPI = 150  # saved figures: titles and tick labels stay readable in the HTML and index.md
INLINE_DPI = 100  # inline figures in notebooks
MODALITY_COLORS = {
    "video": "#4c72b0",
    "acc_phone": "#dd8452",
    "acc_watch": "#55a868",
    "gyro": "#c44e52",
    "orientation": "#8172b3",
    "acc": "#dd8452",
}


def to_numpy(x) -> np.ndarray:
    """A tensor (any device / dtype) or array -> float numpy array (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def modality_color(mod: str) -> str:
    return MODALITY_COLORS.get(mod, "#937860")


def video_frames(video, video_norm: str = "imagenet") -> np.ndarray:
    """Video (C, T, H, W) as the model sees it -> frames (T, H, W, 3) in [0, 1] for display.

    video_norm 'imagenet' undoes the ImageNet mean/std normalisation; 'none' takes values as [0, 1].
    """
    v = to_numpy(video)
    if v.ndim != 4 or v.shape[0] != 3:
        raise ValueError(f"video_frames: expected video (3, T, H, W); got shape {v.shape}")
    f = np.transpose(v, (1, 2, 3, 0))  # (T, H, W, C)
    if video_norm == "imagenet":
        f = f * IMAGENET_STD + IMAGENET_MEAN
    elif video_norm != "none":
        raise ValueError(f"video_frames: video_norm must be 'imagenet' or 'none'; got {video_norm!r}")
    return np.clip(f, 0.0, 1.0)


def subplots(nrows: int, ncols: int, cell: tuple[float, float] = (2.2, 2.2), **kw):
    """plt.subplots sized by cell, always returning a 2-D array of axes."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell[0] * ncols, cell[1] * nrows), squeeze=False, **kw)
    return fig, axes


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def figure_path(figures_dir: str | os.PathLike, name: str) -> Path:
    """<figures_dir>/<name>.png with the name made file-safe (where `save_figure` writes)."""
    return Path(figures_dir) / f"{_slug(name)}.png"


def save_figure(fig, figures_dir: str | os.PathLike, name: str, dpi: int = SAVE_DPI) -> None:
    """Save `fig` as <figures_dir>/<name>.png (name made file-safe; see `figure_path`) at `dpi` (>= 150 by
    default). Returns None, so a notebook cell that ends with it prints no `Out[]`."""
    path = figure_path(figures_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")


def inline_defaults(dpi: int = INLINE_DPI) -> None:
    """Inline figure resolution for notebooks (saved files use SAVE_DPI whatever this is)."""
    plt.rcParams["figure.dpi"] = dpi
    plt.rcParams["savefig.dpi"] = SAVE_DPI
