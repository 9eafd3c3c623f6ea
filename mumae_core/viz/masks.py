"""Video plots: frames, camera views, the tubelet grid, and video masks drawn over frames.

Frames are (T, H, W, 3) in [0, 1] (see `style.video_frames`). A video mask is (T'*H'*W',) bool, True =
hidden, t-major over the token grid (T', H', W'); token (ti, hi, wi) covers frames [ti*tubelet,
(ti+1)*tubelet) and the patch x patch square at (hi, wi).
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from mumae_core.viz.style import subplots, to_numpy


def _frames(frames) -> np.ndarray:
    f = to_numpy(frames)
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ValueError(f"expected frames (T, H, W, 3) in [0, 1]; got shape {f.shape}")
    return np.clip(f, 0, 1)


def plot_views(views: dict, title: str | None = None):
    """One image per entry: views {label: (H, W, 3)} (e.g. the middle frame of each camera)."""
    fig, axes = subplots(1, len(views), cell=(2.4, 2.4))
    for ax, (label, img) in zip(axes[0], views.items()):
        ax.imshow(np.clip(to_numpy(img), 0, 1))
        ax.set_title(str(label), fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_frames(frames, idx=None, title: str | None = None, labels: list[str] | None = None):
    """A row of frames (T, H, W, 3); idx picks which (default all)."""
    f = _frames(frames)
    idx = list(range(f.shape[0])) if idx is None else list(idx)
    fig, axes = subplots(1, len(idx), cell=(2.0, 2.0))
    for k, (ax, t) in enumerate(zip(axes[0], idx)):
        ax.imshow(f[t])
        ax.set_title(labels[k] if labels else f"frame {t}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_tubelet_grid(frames, tubelet: int, patch: int, title: str | None = None):
    """Frames with the patch grid drawn over them, titled by the tubelet (temporal token) they belong to."""
    f = _frames(frames)
    T, H, W, _ = f.shape
    fig, axes = subplots(1, T, cell=(2.0, 2.0))
    for t, ax in enumerate(axes[0]):
        ax.imshow(f[t])
        for y in range(0, H + 1, patch):
            ax.axhline(y - 0.5, color="w", lw=0.8)
        for x in range(0, W + 1, patch):
            ax.axvline(x - 0.5, color="w", lw=0.8)
        ax.set_title(f"frame {t} -> tubelet {t // tubelet}", fontsize=8)
        ax.axis("off")
    fig.suptitle(
        title
        or f"tokens: tubelets of {tubelet} frames x {patch}x{patch} pixels "
        f"({T // tubelet} x {H // patch} x {W // patch} = {(T // tubelet) * (H // patch) * (W // patch)} "
        "tokens)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def token_mask_to_pixels(mask, grid: tuple[int, int, int], tubelet: int, patch: int) -> np.ndarray:
    """(T'*H'*W',) bool -> (T, H, W) bool pixel mask (True = hidden)."""
    m = to_numpy(mask).astype(bool).reshape(grid)
    return m.repeat(tubelet, 0).repeat(patch, 1).repeat(patch, 2)


def masked_frames(frames, mask, grid, tubelet: int, patch: int, fill: float = 0.5) -> np.ndarray:
    """Frames with the hidden patches replaced by grey `fill`: (T, H, W, 3)."""
    f = _frames(frames).copy()
    px = token_mask_to_pixels(mask, grid, tubelet, patch)
    f[px] = fill
    return f


def plot_video_masks(frames, masks: dict, grid, tubelet: int, patch: int, title: str | None = None):
    """Rows = mask variants ({label: (N,) bool}), columns = frames; hidden patches greyed and outlined."""
    f = _frames(frames)
    T = f.shape[0]
    fig, axes = subplots(len(masks), T, cell=(1.9, 1.9))
    for i, (label, mk) in enumerate(masks.items()):
        mf = masked_frames(f, mk, grid, tubelet, patch)
        m = to_numpy(mk).astype(bool).reshape(grid)
        for t in range(T):
            ax = axes[i, t]
            ax.imshow(mf[t])
            for hi, wi in zip(*np.nonzero(m[t // tubelet])):
                ax.add_patch(
                    Rectangle((wi * patch - 0.5, hi * patch - 0.5), patch, patch, fill=False, ec="k", lw=0.4)
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(f"{label}\n{m.mean():.0%} hidden", fontsize=8)
            if i == 0:
                ax.set_title(f"frame {t}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
