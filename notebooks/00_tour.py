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
# # 00 · A tour of Mu-MAE on one SynthAct clip
#
# What the multimodal masked autoencoder sees and hides, on one clip of **SynthAct** (a synthetic dataset
# this kit generates: one simulated body rendered to several camera views and to phone/watch inertial
# sensors; its numbers are synthetic). In order: the recording's camera views and the clip's frames, its
# sensor channels, how both are cut into tokens, tube vs random masking of the video, synchronized vs
# independent masking of the sensors, and one forward pass of a tiny MAE. Runs in well under a minute on a
# CPU.

# %% tags=["parameters"]
profile = "smoke"  # smoke | default | paper: every size, epoch and episode count comes from the profile
overrides = []  # "section.key=value" strings, exactly as `mumae ... --set` (e.g. "pretrain.epochs=3")
out_dir = None  # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
data_dir = None  # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None  # None: runs/<profile> (pretraining and one-shot runs, found again by their settings)
clip_index = 0  # which train clip of the tour's dataset to show

# %%
import pandas as pd
import torch
from IPython.display import display

from mumae_core import masking, notebook
from mumae_core.data.build import build_datasets
from mumae_core.data.clips import collate
from mumae_core.errors import ConfigError
from mumae_core.metrics import write_metrics
from mumae_core.models.mae import build_mae, mean_predictor_loss
from mumae_core.viz import style, tables
from mumae_core.viz.masks import plot_frames, plot_tubelet_grid, plot_video_masks, plot_views
from mumae_core.viz.signals import plot_sensor_masks, plot_sensors

P = notebook.setup("00_tour", globals())
style.inline_defaults()  # readable inline figures; saved files are 150 dpi
tour = notebook.settings(P).report
cfg = notebook.config(P, f"data.synth_size={tour.tour_size}")  # the tour always uses the small dataset
seed = cfg.pretrain.seed

# %% [markdown]
# ## The data: one clip, all its modalities
# The small SynthAct is generated on first use (seconds).

# %%
ds = build_datasets(cfg, stage="oneshot", splits=("train",), progress=False)["train"]
if not 0 <= clip_index < len(ds):
    raise ConfigError(f"clip_index={clip_index} is out of range: the tour's train split has {len(ds)} clips")
sample = ds[clip_index]
meta = sample["meta"]
print(
    f"{len(ds)} train clips, {len(ds.class_names)} classes; clip {clip_index}: {meta['clip']} "
    f"(class {ds.class_names[sample['label']]})"
)
print({m: tuple(sample[m].shape) for m in cfg.data.modalities})

# %%
views = {
    ds[i]["meta"]["clip"].split("_")[1]: style.video_frames(ds[i]["video"], cfg.data.video_norm)[
        cfg.data.num_frames // 2
    ]
    for i, g in enumerate(ds.groups)
    if g == ds.groups[clip_index]
}
print(f"recording {ds.groups[clip_index]} is seen by {len(views)} cameras in this dataset: {sorted(views)}")
fig = plot_views(
    views, title=f"the {len(views)} camera views of recording {ds.groups[clip_index]} (middle frame)"
)
style.save_figure(fig, P.figures_dir, "00_tour_camera_views")
frames = style.video_frames(sample["video"], cfg.data.video_norm)
fig = plot_frames(frames, title=f"the {len(frames)} frames the model sees ({meta['clip']})")
style.save_figure(fig, P.figures_dir, "00_tour_frames")

# %%
sensors = {m: sample[m] for m in cfg.sensor_modalities}
fig = plot_sensors(sensors, title="sensor channels, resampled onto the video clip's time span (z-scored)")
style.save_figure(fig, P.figures_dir, "00_tour_sensors")

# %% [markdown]
# ## Tokenisation
# Video: tubelets of `tubelet` frames × `patch`×`patch` pixels, one token each. Sensors: each stream of `L`
# samples × 3 axes is cut into `sensor_patches` windows (contiguous by default; the reference interleaves
# them: "strided").

# %%
torch.manual_seed(seed)  # the untrained model's weights: the same on every render
mae = build_mae(cfg).eval()
print("tokens per modality:", mae.token_counts(), "| video token grid (T', H', W'):", mae.token_grid("video"))
fig = plot_tubelet_grid(frames, cfg.model.tubelet, cfg.model.patch)
style.save_figure(fig, P.figures_dir, "00_tour_tubelets")
fig = plot_sensors(
    sensors,
    n_patches=cfg.model.sensor_patches,
    mode=cfg.model.sensor_patch_mode,
    title=f"{cfg.model.sensor_patches} sensor tokens per stream ({cfg.model.sensor_patch_mode})",
)
style.save_figure(fig, P.figures_dir, "00_tour_sensor_patches")

# %% [markdown]
# ## Masking (True = hidden)
# **Tube** masking hides the same spatial patches in every tubelet, so the model cannot copy a patch from
# the neighbouring frame; **random** masking hides tokens independently. For sensors, **synchronized**
# masking hides the same time windows in every sensor (the model cannot read the phone's hidden window off
# the watch), **independent** draws a mask per sensor.

# %%
g = torch.Generator().manual_seed(seed)
T_, H_, W_ = mae.token_grid("video")
vmasks = {
    "tube": masking.tube_mask(1, T_, H_ * W_, cfg.mask.video_ratio, g)[0],
    "random": masking.random_mask(1, T_ * H_ * W_, cfg.mask.video_ratio, g)[0],
}
fig = plot_video_masks(
    frames,
    vmasks,
    (T_, H_, W_),
    cfg.model.tubelet,
    cfg.model.patch,
    title=f"video masks at ratio {cfg.mask.video_ratio}",
)
style.save_figure(fig, P.figures_dir, "00_tour_video_masks")
names = list(cfg.sensor_modalities)
smasks = {
    mode: {
        k: v[0]
        for k, v in masking.sensor_masks(
            1, names, cfg.model.sensor_patches, cfg.mask.sensor_ratio, mode, g
        ).items()
    }
    for mode in ("synchronized", "independent")
}
fig = plot_sensor_masks(
    sensors,
    smasks,
    mode=cfg.model.sensor_patch_mode,
    title=f"sensor masks at ratio {cfg.mask.sensor_ratio} (hidden spans shaded)",
)
style.save_figure(fig, P.figures_dir, "00_tour_sensor_masks")

# %% [markdown]
# ## One forward pass of a tiny (untrained) MAE
# The loss is the mean squared error over the **hidden** tokens of per-patch normalised targets, `L =
# L_video + loss_hyper · Σ_sensors L_s`. The table sets it beside the loss of predicting each hidden patch's
# own mean (about 1 per modality for normalised targets). An untrained model sits well **above** that line:
# its random outputs add variance of their own. Pretraining (notebook 01) has to bring it below.

# %%
batch = collate([ds[i] for i in range(min(cfg.pretrain.batch_size, len(ds)))])
masks = masking.make_masks(cfg, batch["label"].shape[0], torch.Generator().manual_seed(seed))
with torch.no_grad():
    out = mae(batch, masks)
base = mean_predictor_loss(out)
loss_rows = [
    {
        "modality": m,
        "hidden tokens": int(masks[m][0].sum()),
        "of": masks[m].shape[1],
        "loss": float(out.losses[m]),
        "mean predictor": float(base[m]),
        "weight": out.weights[m],
    }
    for m in out.losses
]
loss_rows.append({"modality": "total", "loss": float(out.loss), "mean predictor": float(base["loss"])})
tables.save_table(loss_rows, P.tables_dir, "00_tour_losses")
display(pd.DataFrame(loss_rows))

# %% [markdown]
# ## Does each modality matter? (the one-shot protocol, on validation classes)
# SynthAct is designed so that video and the sensors each carry class information. The test that counts is
# the one-shot protocol itself: 5-way 1-shot episodes whose support and query come from independently drawn
# cameras, scored with the non-learned baselines exactly as 02 scores them. These are **validation**-class
# episodes, never the test ones. Targets: the best video baseline at 40% or more (chance 20%), no single
# sensor's statistics above 70%, and statistics + video above either.

# %%
from mumae_core.calibration import calibrate

# the course tour uses the small data; the report's default profile checks the default dataset (generated
# here if absent: about 2.5 min) and decodes its train and validation clips (about 1 min)
check_cfg = notebook.config(P, f"data.synth_size={tour.check_size}")
cal = calibrate(check_cfg, n_episodes=tour.check_episodes)
check_rows = cal.table()
tables.save_table(
    check_rows,
    P.tables_dir,
    "00_tour_calibration",
    note=f"SynthAct {tour.check_size} (synthetic), {cal.episodes} validation episodes, {cal.way}-way 1-shot "
    f"over {', '.join(cal.classes)}: accuracy % of non-learned baselines",
)
display(pd.DataFrame(check_rows).round(1))
for check, ok in cal.checks.items():
    print(f"[{'pass' if ok else 'FAIL'}] {check}")

# %%
write_metrics(
    P.metrics_path,
    "00_tour",
    P.profile,
    metrics={
        "untrained_loss": float(out.loss),
        "mean_predictor_loss": float(base["loss"]),
        **{f"tokens_{m}": n for m, n in mae.token_counts().items()},
    },
    calibration=check_rows,
    calibration_checks=cal.checks,
)
