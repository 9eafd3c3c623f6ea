"""Reconstructions of a masked clip, back in pixel / signal space, and their plot.

The MAE predicts per-patch normalised targets ((x - mean) / std over each hidden patch). To draw a
prediction we map it back with the TRUE mean and std of that hidden patch, as the MAE papers do for their
figures: the reconstruction then shows the predicted structure within a patch, while its brightness and
offset come from the original. Say so in every figure that uses it.
"""

from __future__ import annotations

import torch

from mumae_core.viz.masks import masked_frames
from mumae_core.viz.style import subplots, video_frames

DISPLAY_NOTE = "hidden patches un-normalised with their true per-patch mean and std (as in the MAE papers)"


@torch.no_grad()
def reconstruct(model, batch: dict, masks: dict) -> dict[str, dict[str, torch.Tensor]]:
    """Run the MAE on a masked batch; return per modality {'original', 'recon', 'mask'}.

    model: a MultimodalMAE; batch {mod: (B, ...)}; masks {mod: (B, N_m) bool}. 'original' / 'recon' are in
    the model's target space before per-patch normalisation: video (B, C, T, H, W) in [0, 1] pixels, a
    sensor (B, L, 3) in its input (normalised) units. 'recon' equals the original on visible tokens.
    """
    was_training = model.training
    model.eval()
    try:
        out = model(batch, masks)
        res = {}
        for mod, pred in out.pred.items():
            x = batch[mod]
            t, mu, sd = model.target(mod, x, return_stats=True)  # (B, N, P) each
            m = out.masks[mod]
            B = x.shape[0]
            full = t * sd + mu  # raw target values of every token (p0 p1 p2 c layout for video)
            rec = full.clone()
            rec[m] = (
                pred.float() * sd[m].reshape(B, -1, sd.shape[-1]) + mu[m].reshape(B, -1, mu.shape[-1])
            ).reshape(-1, sd.shape[-1])
            res[mod] = {
                "original": model.unpatchify(mod, full),
                "recon": model.unpatchify(mod, rec),
                "mask": m.cpu(),
            }
        return res
    finally:
        model.train(was_training)


def plot_video_reconstruction(
    original, recon, mask, grid, tubelet: int, patch: int, title: str | None = None
):
    """Rows original / masked input / reconstruction, columns = frames. original, recon: (C, T, H, W) in
    [0, 1]; mask (N,) bool."""
    o = video_frames(original, "none")
    r = video_frames(recon, "none")
    mk = masked_frames(o, mask, grid, tubelet, patch)
    T = o.shape[0]
    fig, axes = subplots(3, T, cell=(1.9, 1.9))
    for i, (label, fr) in enumerate((("original", o), ("masked input", mk), ("reconstruction", r))):
        for t in range(T):
            ax = axes[i, t]
            ax.imshow(fr[t])
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(label, fontsize=8)
            if i == 0:
                ax.set_title(f"frame {t}", fontsize=8)
    fig.suptitle((title + "\n" if title else "") + DISPLAY_NOTE, fontsize=8)
    fig.tight_layout()
    return fig
