# ruff: noqa: E501  (the strings below are notebook cells, kept as they read in Jupyter)
"""Write the kit's notebooks (00..05) from the cell lists below: `python notebooks/_build.py`.

Edit the notebooks here, not in Jupyter, so they stay thin, reviewable and without outputs. Each notebook has
a `parameters` cell (papermill) in which `None` means "the profile's value" (mumae_core/nbparams.py), then
cells that call mumae_core and plot. `mumae report` executes them; `make test` runs them in the smoke profile.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

COMMON_PARAMS = """\
profile = "smoke"      # smoke | default | paper: sizes, epochs and episodes come from the profile
out_dir = None         # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
figures_dir = None     # None: <out_dir>/figures
tables_dir = None      # None: <out_dir>/tables
metrics_path = None    # None: <out_dir>/metrics/<notebook>.json
data_dir = None        # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None        # None: runs/<profile> (pretraining and one-shot run directories)
seed = 0
device = "auto"        # auto: the GPU when there is one
"""

SETUP = """\
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mumae_core import nbparams
from mumae_core.viz import style, tables

P = nbparams.resolve({nb!r}, globals())
torch.manual_seed(P.seed)
plt.rcParams["figure.dpi"] = 64  # inline copies stay small (executed notebooks + HTML are committed reports)
print({{k: v for k, v in vars(P).items()}})
"""


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip())


def params(extra: str) -> nbformat.NotebookNode:
    c = code(COMMON_PARAMS + extra)
    c.metadata["tags"] = ["parameters"]
    return c


# ---------------------------------------------------------------------------------------------------------------
NB00 = [
    md("""
# 00 · A tour of Mu-MAE on one SynthAct clip

What the multimodal masked autoencoder sees and hides, on one clip of **SynthAct** (a synthetic dataset this kit
generates: one simulated body rendered to four camera views and to phone/watch inertial sensors; its numbers are
synthetic). In order: the clip's camera views and frames, its sensor channels, how both are cut into tokens, tube
vs random masking of the video, synchronized vs independent masking of the sensors, and one forward pass of a tiny
MAE. Runs in well under a minute on a CPU.
"""),
    params(
        'synth_size = None     # the tour uses the small "smoke" SynthAct\nclip_index = None\n'
        "check_size = None     # SynthAct size for the complementarity check (smoke; default in the report)\n"
    ),
    code(SETUP.format(nb="00_tour")),
    md("## The data: one clip, all its modalities\nThe smoke SynthAct is generated on first use (seconds)."),
    code("""
from mumae_core.data.build import build_datasets

cfg = nbparams.make_config(P, "synthact")
ds = build_datasets(cfg, stage="oneshot", splits=("train",), progress=False)["train"]
sample = ds[P.clip_index]
meta = sample["meta"]
print(f"{len(ds)} train clips, {len(ds.class_names)} classes; clip {P.clip_index}: {meta['clip']} "
      f"(class {ds.class_names[sample['label']]})")
print({m: tuple(sample[m].shape) for m in cfg.data.modalities})
"""),
    code("""
from mumae_core.viz.masks import plot_frames, plot_views

views = {ds[i]["meta"]["clip"].split("_")[1]: style.video_frames(ds[i]["video"], cfg.data.video_norm)[cfg.data.num_frames // 2]
         for i, g in enumerate(ds.groups) if g == ds.groups[P.clip_index]}
fig = plot_views(views, title=f"camera views of recording {ds.groups[P.clip_index]} (middle frame)")
style.save_figure(fig, P.figures_dir, "00_tour_camera_views")
frames = style.video_frames(sample["video"], cfg.data.video_norm)
fig = plot_frames(frames, title=f"the {len(frames)} frames the model sees ({meta['clip']})")
style.save_figure(fig, P.figures_dir, "00_tour_frames")
"""),
    code("""
from mumae_core.viz.signals import plot_sensors

sensors = {m: sample[m] for m in cfg.sensor_modalities}
fig = plot_sensors(sensors, title="sensor channels, resampled onto the video clip's time span (z-scored)")
style.save_figure(fig, P.figures_dir, "00_tour_sensors")
"""),
    md("""
## Tokenisation
Video: tubelets of `tubelet` frames × `patch`×`patch` pixels, one token each. Sensors: each stream of `L` samples ×
3 axes is cut into `sensor_patches` windows (contiguous by default; the reference interleaves them: "strided").
"""),
    code("""
from mumae_core.models.mae import build_mae
from mumae_core.viz.masks import plot_tubelet_grid

mae = build_mae(cfg).eval()
print("tokens per modality:", mae.token_counts(), "| video token grid (T', H', W'):", mae.token_grid("video"))
fig = plot_tubelet_grid(frames, cfg.model.tubelet, cfg.model.patch)
style.save_figure(fig, P.figures_dir, "00_tour_tubelets")
fig = plot_sensors(sensors, n_patches=cfg.model.sensor_patches, mode=cfg.model.sensor_patch_mode,
                   title=f"{cfg.model.sensor_patches} sensor tokens per stream ({cfg.model.sensor_patch_mode})")
style.save_figure(fig, P.figures_dir, "00_tour_sensor_patches")
"""),
    md("""
## Masking (True = hidden)
**Tube** masking hides the same spatial patches in every tubelet, so the model cannot copy a patch from the
neighbouring frame; **random** masking hides tokens independently. For sensors, **synchronized** masking hides the
same time windows in every sensor (the model cannot read the phone's hidden window off the watch), **independent**
draws a mask per sensor.
"""),
    code("""
from mumae_core import masking
from mumae_core.viz.masks import plot_video_masks
from mumae_core.viz.signals import plot_sensor_masks

g = torch.Generator().manual_seed(P.seed)
T_, H_, W_ = mae.token_grid("video")
vmasks = {"tube": masking.tube_mask(1, T_, H_ * W_, cfg.mask.video_ratio, g)[0],
          "random": masking.random_mask(1, T_ * H_ * W_, cfg.mask.video_ratio, g)[0]}
fig = plot_video_masks(frames, vmasks, (T_, H_, W_), cfg.model.tubelet, cfg.model.patch,
                       title=f"video masks at ratio {cfg.mask.video_ratio}")
style.save_figure(fig, P.figures_dir, "00_tour_video_masks")
names = list(cfg.sensor_modalities)
smasks = {mode: {k: v[0] for k, v in masking.sensor_masks(1, names, cfg.model.sensor_patches, cfg.mask.sensor_ratio,
                                                           mode, g).items()}
          for mode in ("synchronized", "independent")}
fig = plot_sensor_masks(sensors, smasks, mode=cfg.model.sensor_patch_mode,
                        title=f"sensor masks at ratio {cfg.mask.sensor_ratio} (hidden spans shaded)")
style.save_figure(fig, P.figures_dir, "00_tour_sensor_masks")
"""),
    md("""
## One forward pass of a tiny (untrained) MAE
The loss is the mean squared error over the **hidden** tokens of per-patch normalised targets,
`L = L_video + loss_hyper · Σ_sensors L_s`. An untrained model sits near the loss of predicting each patch's mean (≈ 1).
"""),
    code("""
from mumae_core.data.clips import collate
from mumae_core.models.mae import mean_predictor_loss

batch = collate([ds[i] for i in range(min(4, len(ds)))])
masks = masking.make_masks(cfg, batch["label"].shape[0], torch.Generator().manual_seed(P.seed))
with torch.no_grad():
    out = mae(batch, masks)
base = mean_predictor_loss(out)
loss_rows = [{"modality": m, "hidden tokens": int(masks[m][0].sum()), "of": masks[m].shape[1],
              "loss": float(out.losses[m]), "mean predictor": float(base[m]), "weight": out.weights[m]}
             for m in out.losses]
loss_rows.append({"modality": "total", "loss": float(out.loss), "mean predictor": float(base["loss"])})
tables.save_table(loss_rows, P.tables_dir, "00_tour_losses")
pd.DataFrame(loss_rows)
"""),
    md("""
## Does each modality matter? (SynthAct's complementarity check)
A nearest-neighbour classifier on each modality alone, and on both: SynthAct is designed so that video separates
some classes the sensors confuse, and the other way round.
"""),
    code("""
from mumae_core.data.synthact.check import modality_nn_check

# 1-NN, leaving out the whole recording (its other camera views are never neighbours). The course tour uses the
# smoke data; the report's default profile runs it on the default dataset (generated here if absent).
check_root = nbparams.ensure_synthact(P.check_size, P.data_dir, P.seed)
res = modality_nn_check(check_root, split="all", progress=False)
check_rows = [{"classes": "all (overall)", **{m: res[m]["overall"] for m in ("video", "sensors", "both")}}]
for g in res["video"]["groups"]:
    check_rows.append({"classes": g, **{m: res[m]["groups"][g] for m in ("video", "sensors", "both")}})
tables.save_table(check_rows, P.tables_dir, "00_tour_complementarity",
                  note=f"SynthAct {P.check_size} (synthetic), {res['n_clips']} clips: 1-NN accuracy per modality")
display(pd.DataFrame(check_rows).round(3))
"""),
    code("""
nbparams.write_metrics(
    P.metrics_path, "00_tour", P.profile,
    metrics={"untrained_loss": float(out.loss), "mean_predictor_loss": float(base["loss"]),
             **{f"tokens_{m}": n for m, n in mae.token_counts().items()}},
    complementarity=check_rows,
)
"""),
]


NB01 = [
    md("""
# 01 · Pretraining the multimodal MAE

Pretrains Mu-MAE on SynthAct (video + 4 sensors, synthetic data) with `mumae_core.train.pretrain.pretrain`, reusing a
finished run with the same config in `runs_dir/run_name`, then plots the total and per-modality losses and compares
the hidden-token loss on held-out (validation-class) clips with the loss of predicting each patch's mean. With
`hapt=True` it also pretrains a sensor-only model on UCI HAPT (real smartphone recordings).
"""),
    params("""\
dataset = None         # synthact | mmact (your licensed copy, split 3: set data_root)
data_root = None       # MMAct layout root for dataset="mmact" (on Kaggle: found under /kaggle/input if None)
synth_size = None
modalities = None      # e.g. "video,acc_watch"; None: all of the dataset's
video_mask = None      # tube | random
video_ratio = None
sensor_mask = None     # synchronized | independent | none
sensor_ratio = None
model_size = None      # tiny | small | base
epochs = None
batch_size = None
lr = None              # base lr (scaled by batch / 256)
run_name = None
hapt = None            # also pretrain sensor-only on HAPT
hapt_epochs = None
hapt_run_name = None
"""),
    code(SETUP.format(nb="01_pretrain")),
    code("""
from mumae_core.train.runlog import read_metrics
from mumae_core.viz.results import plot_losses

def overrides(epochs):
    o = {"data.modalities": P.modalities, "mask.video_mask": P.video_mask, "mask.video_ratio": P.video_ratio,
         "mask.sensor_mask": P.sensor_mask, "mask.sensor_ratio": P.sensor_ratio, "model.size": P.model_size,
         "pretrain.epochs": epochs, "pretrain.batch_size": P.batch_size, "pretrain.base_lr": P.lr}
    return {k: v for k, v in o.items() if v is not None}

def report_run(name, summary, run_dir, cfg):
    recs = read_metrics(run_dir)
    keys = ["loss"] + [k for k in recs[-1] if k.startswith("loss_")] if recs else ["loss"]
    val = summary.get("val_hidden_token_loss", {})
    base = {"val: predicting the mean": val["mean"]["total"]} if "mean" in val else None
    fig = plot_losses(recs, keys, title=f"{name}: pretraining losses ({cfg.pretrain.epochs} epochs)", baseline=base)
    style.save_figure(fig, P.figures_dir, f"01_pretrain_{name}_losses")
    rows = []
    if "model" in val:
        for k in val["model"]:
            rows.append({"dataset": name, "loss term": k, "model (val hidden tokens)": val["model"][k],
                         "predicting the mean": val["mean"][k]})
        tables.save_table(rows, P.tables_dir, f"01_pretrain_{name}_val_loss")
    print(summary.get("headline", "no validation comparison in the summary"))
    return rows
"""),
    md("## SynthAct: video + sensors"),
    code("""
cfg = nbparams.make_config(P, P.dataset, overrides(P.epochs))
run_dir = Path(P.runs_dir) / P.run_name
summary = nbparams.pretrain_or_reuse(cfg, run_dir)
rows = report_run(P.dataset, summary, run_dir, cfg)
pd.DataFrame(rows)
"""),
    md("## HAPT: sensor-only pretraining (real smartphone accelerometer + gyroscope)"),
    code("""
hapt_summary = None
if P.hapt:
    o = overrides(P.hapt_epochs)
    o = {k: v for k, v in o.items() if not k.startswith(("mask.video", "data.modalities"))}
    cfg_h = nbparams.make_config(P, "hapt", o)
    hapt_dir = Path(P.runs_dir) / P.hapt_run_name
    hapt_summary = nbparams.pretrain_or_reuse(cfg_h, hapt_dir)
    display(pd.DataFrame(report_run("hapt", hapt_summary, hapt_dir, cfg_h)))
else:
    print("hapt=False: HAPT pretraining skipped in this profile")
"""),
    code("""
def numbers(prefix, s):
    v = s.get("val_hidden_token_loss", {})
    out = {f"{prefix}_wall_time_s": s.get("wall_time_s"), f"{prefix}_steps": s.get("steps")}
    if "model" in v:
        out[f"{prefix}_val_loss"] = v["model"]["total"]
        out[f"{prefix}_val_mean_predictor_loss"] = v["mean"]["total"]
    return out

m = numbers(P.dataset, summary)
if hapt_summary:
    m.update(numbers("hapt", hapt_summary))
nbparams.write_metrics(P.metrics_path, "01_pretrain", P.profile, metrics=m,
                       runs={P.dataset: str(run_dir), **({"hapt": str(hapt_dir)} if hapt_summary else {})})
m
"""),
]

NB02 = [
    md("""
# 02 · One-shot activity recognition

Episodic training on the base classes, model selection on the validation classes, and a single test on saved
episodes of the novel classes (`splits/<dataset>/episodes_*.json`): accuracy ± 95% CI, per-class accuracy, the
confusion matrix, and a PCA of the test clips' fused features. Rows: the pretrained Mu-MAE with cross-attention
fusion, the same without pretraining, and each modality alone; on HAPT (sensor-only, real data), pretrained vs not.
SynthAct numbers are synthetic.
"""),
    params("""\
run_name = None        # pretraining run (checkpoint) under runs_dir, from 01_pretrain
dataset = None
synth_size = None
way = None
shot = None
queries = None         # queries per class
head = None            # proto_cos | proto_euclid | selfcross
fusion = None          # cross_attn | concat | mean | single
modalities = None      # None: the checkpoint's
freeze = None          # frozen | partial | full
train_episodes = None
test_episodes = None
val_episodes = None
rows = None            # which rows: full, scratch, single
hapt = None
hapt_run_name = None
"""),
    code(SETUP.format(nb="02_one_shot")),
    code("""
from mumae_core.data.build import build_datasets
from mumae_core.train.checkpoint import load_mae
from mumae_core.train.runlog import read_config
from mumae_core.viz.results import plot_accuracy_rows, plot_confusion, plot_embedding, plot_per_class

run_dir = Path(P.runs_dir) / P.run_name
run_cfg = read_config(run_dir)
extra = {"data.modalities": P.modalities} if P.modalities else {}
cfg = nbparams.headline_oneshot_config(P, run_cfg, extra)
datasets = build_datasets(cfg, stage="oneshot")
print({k: len(v) for k, v in datasets.items()}, "clips;", cfg.oneshot.way, "way", cfg.oneshot.shot, "shot")

def run_row(name, cfg_row, pretrained=True, rdir=run_dir, ds=datasets, keep_model=False):
    mae = load_mae(rdir, run_cfg if rdir == run_dir else None)[0] if pretrained else None  # fresh weights per row
    tag = nbparams.checkpoint_tag(rdir if pretrained else None)
    return nbparams.oneshot_or_reuse(cfg_row, mae, ds, Path(P.runs_dir) / f"{rdir.name}-oneshot-{name}", tag=tag,
                                     keep_model=keep_model)

def row(dataset, name, res, mods):
    t = res["test"]
    return {"dataset": dataset, "model": name, "modalities": ",".join(mods), "accuracy": t["accuracy"],
            "ci95": t["ci95"], "n_episodes": t["n_episodes"]}
"""),
    md("## SynthAct"),
    code("""
results, headline = {}, []
mods = list(cfg.data.modalities)
if "full" in P.rows:
    results["full"] = run_row("full", cfg, keep_model=True)
    headline.append(row("SynthAct", "Mu-MAE pretrained, cross-attention fusion", results["full"], mods))
if "scratch" in P.rows:
    results["scratch"] = run_row("scratch", cfg, pretrained=False)
    headline.append(row("SynthAct", "same, without pretraining (random init)", results["scratch"], mods))
if "single" in P.rows:  # the same model (pretrained encoder + cross-attention fusion) given one modality
    for m in mods:
        c = nbparams.single_modality_config(cfg, m)
        results[f"single_{m}"] = run_row(f"single_{m}", c)
        headline.append(row("SynthAct", f"pretrained, {m} only", results[f"single_{m}"], [m]))
pd.DataFrame(headline)
"""),
    code("""
main = results.get("full") or next(iter(results.values()))
t = main["test"]
fig = plot_accuracy_rows(headline, label="model", chance=100 / cfg.oneshot.way,
                         title=f"SynthAct {cfg.oneshot.way}-way {cfg.oneshot.shot}-shot (synthetic data)")
style.save_figure(fig, P.figures_dir, "02_one_shot_synthact_rows")
fig = plot_per_class(t["per_class_accuracy"], title="per-class accuracy (novel classes), full model")
style.save_figure(fig, P.figures_dir, "02_one_shot_per_class")
fig = plot_confusion(np.array(t["confusion"]["matrix"]), t["confusion"]["classes"],
                     title="confusion over test queries (row-normalised)")
style.save_figure(fig, P.figures_dir, "02_one_shot_confusion")
tables.save_table(pd.Series(t["per_class_accuracy"], name="accuracy").rename_axis("class").to_frame(),
                  P.tables_dir, "02_one_shot_per_class")
"""),
    code("""
if "model" in main:
    feats, labels = nbparams.clip_features(main["model"].to("cpu"), datasets["test"], limit=400)
    fig = plot_embedding(feats, labels, list(datasets["test"].class_names),
                         title="test clips (novel classes): PCA of fused features")
    style.save_figure(fig, P.figures_dir, "02_one_shot_embedding")
"""),
    md("## HAPT (real data, sensor-only): pretrained vs not"),
    code("""
if P.hapt:
    hapt_dir = Path(P.runs_dir) / P.hapt_run_name
    hapt_run_cfg = read_config(hapt_dir)
    cfg_h = nbparams.headline_oneshot_config(P, hapt_run_cfg)
    ds_h = build_datasets(cfg_h, stage="oneshot")
    hmods = list(cfg_h.data.modalities)
    for name, pre in (("full", True), ("scratch", False)):
        r = run_row(name, cfg_h, pretrained=pre, rdir=hapt_dir, ds=ds_h)
        label = "Mu-MAE pretrained, cross-attention fusion" if pre else "same, without pretraining (random init)"
        headline.append(row("HAPT", label, r, hmods))
    hrows = [r for r in headline if r["dataset"] == "HAPT"]
    fig = plot_accuracy_rows(hrows, label="model", chance=100 / cfg_h.oneshot.way, title="HAPT (real data)")
    style.save_figure(fig, P.figures_dir, "02_one_shot_hapt_rows")
else:
    print("hapt=False: HAPT rows skipped in this profile")
tables.save_table(headline, P.tables_dir, "02_one_shot_headline",
                  note=f"{cfg.oneshot.way}-way {cfg.oneshot.shot}-shot accuracy (%) ± 95% CI over saved test episodes; "
                       "SynthAct is synthetic.")
pd.DataFrame(headline)
"""),
    code("""
nbparams.write_metrics(
    P.metrics_path, "02_one_shot", P.profile, headline=headline,
    metrics={"synthact_full_accuracy": t["accuracy"], "synthact_full_ci95": t["ci95"],
             "val_best_accuracy": main["val_best"]["accuracy"]},
    test_episodes_file=main.get("test_episodes_file"), test_episodes_fingerprint=main.get("test_episodes_fingerprint"),
)
"""),
]

NB03 = [
    md("""
# 03 · Reconstructions

What the pretrained MAE fills in: for held-out clips (validation classes, never trained on), every sensor channel
original vs reconstruction with the hidden spans shaded, and the video frames original / masked / reconstructed.
Targets are per-patch normalised; for display each hidden patch is mapped back to pixels (or sensor units) with the
**true** mean and std of that patch, as the MAE papers do: the brightness of a patch comes from the original, its
structure from the model. SynthAct data are synthetic.
"""),
    params("""\
run_name = None
synth_size = None
n_clips = None
"""),
    code(SETUP.format(nb="03_reconstructions")),
    code("""
from mumae_core import masking
from mumae_core.data.build import build_datasets
from mumae_core.data.clips import collate
from mumae_core.models.mae import mean_predictor_loss
from mumae_core.train.checkpoint import load_mae
from mumae_core.viz.recon import plot_video_reconstruction, reconstruct
from mumae_core.viz.signals import plot_sensor_reconstruction

run_dir = Path(P.runs_dir) / P.run_name
mae, cfg = load_mae(run_dir)
val = build_datasets(cfg, stage="pretrain", splits=("val",), progress=False)["val"]
step = max(1, len(val) // P.n_clips)
idx = list(range(0, len(val), step))[: P.n_clips]
batch = collate([val[i] for i in idx])
masks = masking.make_masks(cfg, len(idx), torch.Generator().manual_seed(P.seed))
rec = reconstruct(mae, batch, masks)
with torch.no_grad():
    out = mae(batch, masks)
base = mean_predictor_loss(out)
loss_rows = [{"modality": m, "model loss": float(out.losses[m]), "predicting the mean": float(base[m])} for m in out.losses]
tables.save_table(loss_rows, P.tables_dir, "03_reconstructions_losses")
pd.DataFrame(loss_rows)
"""),
    code("""
grid = mae.token_grid("video") if "video" in rec else None
for k, i in enumerate(idx):
    name = val[i]["meta"]["clip"]
    cls = val.class_names[int(batch["label"][k])]
    if "video" in rec:
        r = rec["video"]
        fig = plot_video_reconstruction(r["original"][k], r["recon"][k], r["mask"][k], grid, cfg.model.tubelet,
                                        cfg.model.patch, title=f"{name} ({cls})")
        style.save_figure(fig, P.figures_dir, f"03_reconstructions_video_{k}")
    sens = [m for m in rec if m != "video"]
    if sens:
        fig = plot_sensor_reconstruction({m: rec[m]["original"][k] for m in sens}, {m: rec[m]["recon"][k] for m in sens},
                                         {m: rec[m]["mask"][k] for m in sens}, mode=cfg.model.sensor_patch_mode,
                                         title=f"{name} ({cls}): sensors, hidden spans shaded", units="z-scored")
        style.save_figure(fig, P.figures_dir, f"03_reconstructions_sensors_{k}")
"""),
    code("""
nbparams.write_metrics(P.metrics_path, "03_reconstructions", P.profile,
                       metrics={f"loss_{r['modality']}": r["model loss"] for r in loss_rows}
                       | {f"mean_predictor_{r['modality']}": r["predicting the mean"] for r in loss_rows},
                       clips=[val[i]["meta"]["clip"] for i in idx])
"""),
]

NB04 = [
    md("""
# 04 · Attention maps

Where the model looks. (1) **Fusion attention**: in the one-shot model, for each modality m a query from the
multimodal representation R^m attends over m's tokens; its weights are drawn over the sensor time windows and over
the video patches, for single clips and averaged per class over the test clips. (2) **Encoder attention** over the
visible tokens of a masked clip (the explicit attention path of the encoder). Uses the pretrained checkpoint of
01 and the headline one-shot model of 02 (reused when 02 already trained it). SynthAct data are synthetic.
"""),
    params("""\
run_name = None
synth_size = None
n_clips = None
"""),
    code(SETUP.format(nb="04_attention_maps")),
    code("""
from mumae_core import masking
from mumae_core.data.build import build_datasets
from mumae_core.data.clips import collate
from mumae_core.train.checkpoint import load_mae
from mumae_core.viz.attention import (encoder_attention_received, fusion_attention, plot_class_attention,
                                      plot_frame_attention, plot_signal_attention)

run_dir = Path(P.runs_dir) / P.run_name
mae, run_cfg = load_mae(run_dir)
cfg = nbparams.headline_oneshot_config(P, run_cfg, {"oneshot.fusion": "cross_attn"})
datasets = build_datasets(cfg, stage="oneshot")
res = nbparams.oneshot_or_reuse(cfg, mae, datasets, Path(P.runs_dir) / f"{P.run_name}-oneshot-full",
                                tag=nbparams.checkpoint_tag(run_dir), keep_model=True)
model = res["model"].to("cpu").eval()
test = datasets["test"]
mods = list(cfg.data.modalities)
sensors = [m for m in mods if m != "video"]
grid = model.encoder.token_grid("video") if "video" in mods else None
"""),
    md("## Fusion attention of R^m on single test clips"),
    code("""
step = max(1, len(test) // P.n_clips)
idx = list(range(0, len(test), step))[: P.n_clips]
batch = collate([test[i] for i in idx])
att = fusion_attention(model, {m: batch[m] for m in mods})
for k, i in enumerate(idx):
    name, cls = test[i]["meta"]["clip"], test.class_names[int(batch["label"][k])]
    if sensors:
        fig = plot_signal_attention({m: batch[m][k] for m in sensors}, {m: att[m][k] for m in sensors},
                                    mode=cfg.model.sensor_patch_mode, title=f"{name} ({cls}): R^m attention over sensor windows")
        style.save_figure(fig, P.figures_dir, f"04_attention_fusion_sensors_{k}")
    if "video" in mods:
        fig = plot_frame_attention(style.video_frames(batch["video"][k], cfg.data.video_norm), att["video"][k], grid,
                                   cfg.model.tubelet, cfg.model.patch, title=f"{name} ({cls}): R^m attention over video patches")
        style.save_figure(fig, P.figures_dir, f"04_attention_fusion_video_{k}")
"""),
    md("## Per-class average fusion attention (test clips)"),
    code("""
from torch.utils.data import DataLoader

sums, counts = {m: {} for m in mods}, {}
for b in DataLoader(test, batch_size=32, collate_fn=collate):
    a = fusion_attention(model, {m: b[m] for m in mods})
    for j, y in enumerate(b["label"].tolist()):
        c = test.class_names[y]
        counts[c] = counts.get(c, 0) + 1
        for m in mods:
            sums[m][c] = sums[m].get(c, 0) + a[m][j]
per_class = {m: {c: sums[m][c] / counts[c] for c in sorted(counts)} for m in mods}
for m in mods:
    fig = plot_class_attention(per_class[m], title=f"{m}: mean R^m attention per class",
                               xlabel="token (time window)" if m != "video" else "video token (t-major)")
    style.save_figure(fig, P.figures_dir, f"04_attention_per_class_{m}")
"""),
    md("## Encoder attention over the visible tokens of a masked clip (last block, explicit path)"),
    code("""
one = {m: batch[m][:1] for m in mods}
masks = masking.make_masks(cfg, 1, torch.Generator().manual_seed(P.seed))
with torch.no_grad():
    enc = model.encoder.encode(one, masks, return_attn=True)
recv = encoder_attention_received(enc, model.encoder.token_counts())
if sensors:
    fig = plot_signal_attention({m: one[m][0] for m in sensors}, {m: recv[m][0] for m in sensors},
                                mode=cfg.model.sensor_patch_mode,
                                title="encoder: attention received by visible sensor tokens (hidden: no shading)")
    style.save_figure(fig, P.figures_dir, "04_attention_encoder_sensors")
if "video" in mods:
    fig = plot_frame_attention(style.video_frames(one["video"][0], cfg.data.video_norm), recv["video"][0], grid,
                               cfg.model.tubelet, cfg.model.patch,
                               title="encoder: attention received by visible video tokens (hidden tokens clear)")
    style.save_figure(fig, P.figures_dir, "04_attention_encoder_video")
share = {m: float(recv[m].sum() / sum(float(r.sum()) for r in recv.values())) for m in recv}
print("share of attention received per modality:", share)
"""),
    code("""
entropy = {m: float(-(np.clip(a, 1e-12, 1) * np.log(np.clip(a, 1e-12, 1))).sum(-1).mean()) for m, a in att.items()}
nbparams.write_metrics(P.metrics_path, "04_attention_maps", P.profile,
                       metrics={**{f"fusion_entropy_{m}": v for m, v in entropy.items()},
                                **{f"encoder_share_{m}": v for m, v in share.items()}})
"""),
]

NB05 = [
    md("""
# 05 · Ablations

Every row is scored on the **same saved test episodes**, so each row's difference to its reference is a paired
difference with its own 95% CI (`mumae_core.stats`). Groups: sensor masking (synchronized / independent / none), mask
ratio (0.9 vs 0.75), pretraining vs scratch, fusion (cross-attention / concat / mean / best single modality, the
single modality chosen on the validation classes), strided vs contiguous sensor patches, episode-level vs per-clip
fusion, dataset z-score vs per-clip min–max sensor normalisation, and each modality missing at test time.

Rows that need their own pretraining use a **shorter schedule** (`ablation_epochs`) than the headline run and are
compared with a reference pretrained on that same short schedule; rows that differ only in the one-shot stage share
the headline checkpoint (and reuse 02's trained rows). SynthAct is synthetic; HAPT is real, sensor-only.
"""),
    params("""\
run_name = None
synth_size = None
ablation_epochs = None  # pretraining epochs of the variants that need their own pretraining
train_episodes = None   # None: 02_one_shot's settings
test_episodes = None
val_episodes = None
hapt = None
hapt_run_name = None
groups = None           # which groups to run
"""),
    code(SETUP.format(nb="05_ablations")),
    code("""
from mumae_core.data.build import build_datasets
from mumae_core.data.episodes import load_episodes
from mumae_core.stats import paired_difference
from mumae_core.train.checkpoint import load_mae
from mumae_core.train.runlog import read_config
from mumae_core.train.oneshot import evaluate
from mumae_core.viz.results import plot_accuracy_rows

def ablate(dataset, run_dir):
    \"\"\"All rows of the selected groups for one dataset; returns the table rows.\"\"\"
    run_cfg = read_config(run_dir)
    cfg = nbparams.headline_oneshot_config(P, run_cfg)
    ds = build_datasets(cfg, stage="oneshot")
    mods = list(cfg.data.modalities)
    tag = nbparams.checkpoint_tag(run_dir)
    base = Path(P.runs_dir)
    per_ep, rows = {}, []

    def oneshot(name, c, rdir, pretrained=True, keep=False):
        mae = load_mae(rdir, None)[0] if pretrained else None
        t = nbparams.checkpoint_tag(rdir) if pretrained else "scratch"
        return nbparams.oneshot_or_reuse(c, mae, ds, base / f"{Path(rdir).name}-oneshot-{name}", tag=t, keep_model=keep)

    def add(group, name, res, ref, schedule, test=None):
        t = test or res["test"]
        per_ep[name] = t["episode_accuracy"]
        d = (0.0, 0.0) if name == ref else paired_difference(per_ep[name], per_ep[ref])
        rows.append({"dataset": dataset, "group": group, "row": name, "pretraining": schedule,
                     "accuracy": t["accuracy"], "ci95": t["ci95"], "reference": ref, "diff": d[0], "diff_ci95": d[1]})

    head_sched = f"headline ({run_cfg.pretrain.epochs} ep)"
    full = oneshot("full", cfg, run_dir, keep=True)
    add("reference", "full model", full, "full model", head_sched)

    def variant(key, overrides):
        \"\"\"A pretraining variant on the short schedule (own run dir, reused when finished).\"\"\"
        c = run_cfg.with_overrides({"pretrain.epochs": P.ablation_epochs, **overrides}).validate()
        rdir = base / f"abl-{dataset.lower()}-{key}"
        nbparams.pretrain_or_reuse(c, rdir)
        return rdir

    short = f"short ({P.ablation_epochs} ep)"
    needs_short = {"sensor_mask", "mask_ratio", "sensor_patches", "sensor_norm"} & set(P.groups)
    if needs_short:  # the short-schedule reference is the headline run itself when the schedules agree
        ref_dir = run_dir if P.ablation_epochs == run_cfg.pretrain.epochs else variant("ref", {})
        add("short-schedule reference", "full model, short schedule", oneshot("full", cfg, ref_dir), "full model, short schedule", short)
    ref_s = "full model, short schedule"
    if "sensor_mask" in P.groups:
        # "none" hides no sensor token: only meaningful when video is there to be reconstructed
        for mode in ("independent", "none") if "video" in mods else ("independent",):
            rd = variant(f"mask-{mode}", {"mask.sensor_mask": mode})
            c = nbparams.headline_oneshot_config(P, read_config(rd))
            add("sensor masking", f"sensor masking {mode}", oneshot("full", c, rd), ref_s, short)
    if "mask_ratio" in P.groups:
        r = 0.75 if run_cfg.mask.video_ratio >= 0.9 else 0.9
        rd = variant(f"ratio-{r}", {"mask.video_ratio": r, "mask.sensor_ratio": r})
        add("mask ratio", f"mask ratio {r} (vs {run_cfg.mask.video_ratio})",
            oneshot("full", nbparams.headline_oneshot_config(P, read_config(rd)), rd), ref_s, short)
    if "sensor_patches" in P.groups and any(m != "video" for m in mods):
        other = "strided" if run_cfg.model.sensor_patch_mode == "contiguous" else "contiguous"
        rd = variant(f"patches-{other}", {"model.sensor_patch_mode": other})
        add("sensor patches", f"{other} sensor patches", oneshot("full", nbparams.headline_oneshot_config(P, read_config(rd)), rd), ref_s, short)
    if "sensor_norm" in P.groups and any(m != "video" for m in mods):
        rd = variant("norm-minmax", {"data.sensor_norm": "minmax"})
        c = nbparams.headline_oneshot_config(P, read_config(rd))
        res = nbparams.oneshot_or_reuse(c, load_mae(rd)[0], build_datasets(c, stage="oneshot"),
                                        base / f"{rd.name}-oneshot-full", tag=nbparams.checkpoint_tag(rd))
        add("sensor normalisation", "per-clip min-max (vs dataset z-score)", res, ref_s, short)
    if "pretraining" in P.groups:
        add("pretraining", "no pretraining (random init)", oneshot("scratch", cfg, run_dir, pretrained=False), "full model", "none")
    if "fusion" in P.groups:
        for f in ("concat", "mean"):
            c = cfg.with_overrides({"oneshot.fusion": f}).validate()
            add("fusion", f"{f} fusion", oneshot(f"fusion-{f}", c, run_dir), "full model", head_sched)
        if len(mods) > 1:  # the single modality is chosen on the validation classes, never on the test
            single = {m: oneshot(f"single_{m}", nbparams.single_modality_config(cfg, m), run_dir) for m in mods}
            val_acc = {m: r["val_best"]["accuracy"] for m, r in single.items()}
            best = max(val_acc, key=val_acc.get)
            print("single modality, best validation-class accuracy:", val_acc, "-> best", best)
            add("fusion", f"best single modality ({best}, chosen on val)", single[best], "full model", head_sched)
    if "fusion_scope" in P.groups and len(mods) > 1:
        c = cfg.with_overrides({"oneshot.fusion_scope": "episode"}).validate()
        add("fusion scope", "episode-level fusion (transductive)", oneshot("scope-episode", c, run_dir), "full model", head_sched)
    if "missing" in P.groups and len(mods) > 1:
        eps, _ = load_episodes(full["test_episodes_file"])
        for m in mods:
            t = evaluate(full["model"], ds["test"], eps, modalities=[x for x in mods if x != m], progress=False)
            add("missing at test", f"{m} missing at test", None, "full model", head_sched, test=t)
    return rows

all_rows = ablate("SynthAct", Path(P.runs_dir) / P.run_name)
if P.hapt:
    all_rows += ablate("HAPT", Path(P.runs_dir) / P.hapt_run_name)
pd.DataFrame(all_rows)
"""),
    code("""
note = (f"Accuracy (%) ± 95% CI over the same saved test episodes; 'diff' is the paired difference to the row named in "
        f"'reference'. Rows marked 'short ({P.ablation_epochs} ep)' were pretrained on a shorter schedule than the "
        "headline run and are compared with a reference pretrained on that same short schedule. SynthAct is synthetic.")
tables.save_table(all_rows, P.tables_dir, "05_ablations", note=note)
for (dataset, group), g in pd.DataFrame(all_rows).groupby(["dataset", "group"], sort=False):
    if group in ("reference", "short-schedule reference"):
        continue
    refs = [r for r in all_rows if r["dataset"] == dataset and r["row"] == g["reference"].iloc[0]]
    fig = plot_accuracy_rows(refs + g.to_dict("records"), label="row", title=f"{dataset}: {group}")
    style.save_figure(fig, P.figures_dir, f"05_ablations_{dataset}_{group}")
"""),
    code("""
nbparams.write_metrics(P.metrics_path, "05_ablations", P.profile, ablations=all_rows, notes=[note],
                       metrics={"rows": len(all_rows), "ablation_epochs": P.ablation_epochs})
"""),
]

NOTEBOOKS = {
    "00_tour": NB00,
    "01_pretrain": NB01,
    "02_one_shot": NB02,
    "03_reconstructions": NB03,
    "04_attention_maps": NB04,
    "05_ablations": NB05,
}


def build(names=None) -> list[Path]:
    """Write the notebooks (all, or `names`) next to this file; returns their paths."""
    written = []
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = nbformat.v4.new_notebook()
        nb.cells = cells
        for i, cell in enumerate(nb.cells):  # stable cell ids keep diffs to what changed
            cell["id"] = f"{name[:2]}-cell-{i:02d}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        nbformat.validate(nb)
        path = HERE / f"{name}.ipynb"
        nbformat.write(nb, str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build(sys.argv[1:] or None):
        print(p)
