# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Mu-MAE kit (.venv)
#     language: python
#     name: mumae
# ---

# %% [markdown]
# # 04 · Attention maps
#
# Where the model looks. (1) **Fusion attention**: in the one-shot model, for each modality m a query from
# the multimodal representation R^m attends over m's tokens; its weights are drawn over the sensor time
# windows and over the video patches, for single clips and averaged per class over the test clips. (2)
# **Encoder attention** over the visible tokens of a masked clip (the explicit attention path of the
# encoder). Uses the pretrained checkpoint of 01 and the headline one-shot model of 02 (reused when 02
# already trained it). SynthAct data are synthetic.

# %% tags=["parameters"]
profile = "smoke"  # smoke | default | paper: every size, epoch and episode count comes from the profile
overrides = []  # "section.key=value" strings, exactly as `mumae ... --set` (e.g. "pretrain.epochs=3")
out_dir = None  # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
data_dir = None  # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None  # None: runs/<profile> (pretraining and one-shot runs, found again by their settings)

# %%
import numpy as np
import torch
from torch.utils.data import DataLoader

from mumae_core import ablations, masking, notebook
from mumae_core.data.clips import collate
from mumae_core.metrics import write_metrics
from mumae_core.viz import style
from mumae_core.viz.attention import (
    RECEIVED_UNITS,
    encoder_attention_received,
    fusion_attention,
    plot_class_attention,
    plot_frame_attention,
    plot_signal_attention,
    time_repeat_correlation,
)

P = notebook.setup("04_attention_maps", globals())
style.inline_defaults()  # readable inline figures; saved files are 150 dpi
cfg = notebook.config(P, "oneshot.fusion=cross_attn")
runner = ablations.Runner(cfg, P.runs_dir)
res = runner.train(ablations.ROWS[0], keep_model=True)  # the headline model of 02 and 05 (reused)
model = res["model"].to("cpu").eval()
test = runner.datasets(cfg)["test"]
mods = list(cfg.data.modalities)
sensors = [m for m in mods if m != "video"]
grid = model.encoder.token_grid("video") if "video" in mods else None

# %% [markdown]
# ## Fusion attention of R^m on single test clips

# %%
n = cfg.report.attention_clips
idx = list(range(0, len(test), max(1, len(test) // n)))[:n]
batch = collate([test[i] for i in idx])
att = fusion_attention(model, {m: batch[m] for m in mods})
for k, i in enumerate(idx):
    name, cls = test[i]["meta"]["clip"], test.class_names[int(batch["label"][k])]
    if sensors:
        fig = plot_signal_attention(
            {m: batch[m][k] for m in sensors}, {m: att[m][k] for m in sensors},
            mode=cfg.model.sensor_patch_mode,
            title=f"{name} ({cls}): R^m attention over sensor windows",
        )  # fmt: skip
        style.save_figure(fig, P.figures_dir, f"04_attention_fusion_sensors_{k}")
    if grid is not None:
        frames = style.video_frames(batch["video"][k], cfg.data.video_norm)
        fig = plot_frame_attention(
            frames, att["video"][k], grid, cfg.model.tubelet, cfg.model.patch,
            title=f"{name} ({cls}): R^m attention over video patches",
        )  # fmt: skip
        style.save_figure(fig, P.figures_dir, f"04_attention_fusion_video_{k}")

# %% [markdown]
# ## Per-class average fusion attention (test clips)

# %%
sums, counts = {m: {} for m in mods}, {}
for b in DataLoader(test, batch_size=cfg.pretrain.batch_size, collate_fn=collate):
    a = fusion_attention(model, {m: b[m] for m in mods})
    for j, y in enumerate(b["label"].tolist()):
        c = test.class_names[y]
        counts[c] = counts.get(c, 0) + 1
        for m in mods:
            sums[m][c] = sums[m].get(c, 0) + a[m][j]
per_class = {m: {c: sums[m][c] / counts[c] for c in sorted(counts)} for m in mods}
for m in mods:
    xlabel = "token (time window)" if m != "video" else "video token (t-major)"
    fig = plot_class_attention(
        per_class[m],
        title=f"{m}: mean R^m attention per class",
        xlabel=xlabel,
        grid=grid if m == "video" else None,
    )
    style.save_figure(fig, P.figures_dir, f"04_attention_per_class_{m}")
if grid is not None:  # ~1: the same spatial pattern at every time step (SynthAct frames barely change)
    print(
        "video attention, lag-H'W' autocorrelation:",
        round(time_repeat_correlation(per_class["video"], grid), 3),
    )

# %% [markdown]
# ## Encoder attention over the visible tokens of a masked clip (last block, explicit path)

# %%
one = {m: batch[m][:1] for m in mods}
masks = masking.make_masks(cfg, 1, torch.Generator().manual_seed(cfg.pretrain.seed))
with torch.no_grad():
    enc = model.encoder.encode(one, masks, return_attn=True)
recv = encoder_attention_received(enc, model.encoder.token_counts())
if sensors:
    fig = plot_signal_attention(
        {m: one[m][0] for m in sensors}, {m: recv[m][0] for m in sensors}, mode=cfg.model.sensor_patch_mode,
        units=RECEIVED_UNITS, title="encoder: attention received by visible sensor tokens (hidden: hatched)",
    )  # fmt: skip
    style.save_figure(fig, P.figures_dir, "04_attention_encoder_sensors")
if grid is not None:
    fig = plot_frame_attention(
        style.video_frames(one["video"][0], cfg.data.video_norm), recv["video"][0], grid, cfg.model.tubelet,
        cfg.model.patch, units=RECEIVED_UNITS,
        title="encoder: attention received by visible video tokens (hidden: hatched)",
    )  # fmt: skip
    style.save_figure(fig, P.figures_dir, "04_attention_encoder_video")
share = {m: float(recv[m].sum() / sum(float(r.sum()) for r in recv.values())) for m in recv}
print("share of attention received per modality:", share)

# %%
entropy = {
    m: float(-(np.clip(a, 1e-12, 1) * np.log(np.clip(a, 1e-12, 1))).sum(-1).mean()) for m, a in att.items()
}
write_metrics(
    P.metrics_path,
    "04_attention_maps",
    P.profile,
    metrics={
        **{f"fusion_entropy_{m}": v for m, v in entropy.items()},
        **{f"encoder_share_{m}": v for m, v in share.items()},
    },
)
