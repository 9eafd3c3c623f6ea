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
# # 03 · Reconstructions
#
# What the pretrained MAE fills in: for held-out clips (validation classes, never trained on), every sensor
# channel original vs reconstruction with the hidden spans shaded, and the video frames original / masked /
# reconstructed. Targets are per-patch normalised; for display each hidden patch is mapped back to pixels
# (or sensor units) with the **true** mean and std of that patch, as the MAE papers do: the brightness of a
# patch comes from the original, its structure from the model. SynthAct data are synthetic.

# %% tags=["parameters"]
profile = "smoke"  # smoke | default | paper: every size, epoch and episode count comes from the profile
overrides = []  # "section.key=value" strings, exactly as `mumae ... --set` (e.g. "pretrain.epochs=3")
out_dir = None  # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
data_dir = None  # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None  # None: runs/<profile> (pretraining and one-shot runs, found again by their settings)

# %%
import pandas as pd
import torch
from IPython.display import display

from mumae_core import masking, notebook, runs
from mumae_core.data.build import build_datasets
from mumae_core.data.clips import collate
from mumae_core.metrics import write_metrics
from mumae_core.models.mae import mean_predictor_loss
from mumae_core.train.checkpoint import load_mae
from mumae_core.viz import style, tables
from mumae_core.viz.recon import plot_video_reconstruction, reconstruct
from mumae_core.viz.signals import plot_sensor_reconstruction

P = notebook.setup("03_reconstructions", globals())
style.inline_defaults()  # readable inline figures; saved files are 150 dpi
cfg = notebook.config(P)
run_dir, _ = runs.pretrain_or_reuse(cfg, P.runs_dir)  # the headline run of 01 (reused)
mae, _ = load_mae(run_dir, cfg)
val = build_datasets(cfg, stage="pretrain", splits=("val",), progress=False)["val"]
n = cfg.report.recon_clips
idx = list(range(0, len(val), max(1, len(val) // n)))[:n]
batch = collate([val[i] for i in idx])
masks = masking.make_masks(cfg, len(idx), torch.Generator().manual_seed(cfg.pretrain.seed))
rec = reconstruct(mae, batch, masks)
with torch.no_grad():
    out = mae(batch, masks)
base = mean_predictor_loss(out)
loss_rows = [
    {"modality": m, "model loss": float(out.losses[m]), "predicting the mean": float(base[m])}
    for m in out.losses
]
tables.save_table(loss_rows, P.tables_dir, "03_reconstructions_losses")
display(pd.DataFrame(loss_rows))

# %%
grid = mae.token_grid("video") if "video" in rec else None
sens = [m for m in rec if m != "video"]
for k, i in enumerate(idx):
    name, cls = val[i]["meta"]["clip"], val.class_names[int(batch["label"][k])]
    if grid is not None:
        r = rec["video"]
        fig = plot_video_reconstruction(
            r["original"][k], r["recon"][k], r["mask"][k], grid, cfg.model.tubelet, cfg.model.patch,
            title=f"{name} ({cls})",
        )  # fmt: skip
        style.save_figure(fig, P.figures_dir, f"03_reconstructions_video_{k}")
    if sens:
        fig = plot_sensor_reconstruction(
            {m: rec[m]["original"][k] for m in sens}, {m: rec[m]["recon"][k] for m in sens},
            {m: rec[m]["mask"][k] for m in sens}, mode=cfg.model.sensor_patch_mode,
            title=f"{name} ({cls}): sensors, hidden spans shaded", units="z-scored",
        )  # fmt: skip
        style.save_figure(fig, P.figures_dir, f"03_reconstructions_sensors_{k}")

# %%
write_metrics(
    P.metrics_path,
    "03_reconstructions",
    P.profile,
    metrics={f"loss_{r['modality']}": r["model loss"] for r in loss_rows}
    | {f"mean_predictor_{r['modality']}": r["predicting the mean"] for r in loss_rows},
    clips=[val[i]["meta"]["clip"] for i in idx],
)
