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
# # 01 · Pretraining the multimodal MAE
#
# Pretrains Mu-MAE on SynthAct (video + 4 sensors, synthetic data) with
# `mumae_core.train.pretrain.pretrain`, reusing a finished run with the same settings (`mumae_core.runs`),
# then plots the total and per-modality losses and compares the hidden-token loss on held-out
# (validation-class) clips with the loss of predicting each patch's mean. With `report.hapt` it also
# pretrains a sensor-only model on UCI HAPT (real smartphone data). Change the experiment with `overrides`,
# e.g. `["data.modalities=video,acc_watch", "pretrain.epochs=3"]`; real MMAct: `["data.dataset=mmact",
# "data.root=/path/to/mmact"]`.

# %% tags=["parameters"]
profile = "smoke"  # smoke | default | paper: every size, epoch and episode count comes from the profile
overrides = []  # "section.key=value" strings, exactly as `mumae ... --set` (e.g. "pretrain.epochs=3")
out_dir = None  # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
data_dir = None  # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None  # None: runs/<profile> (pretraining and one-shot runs, found again by their settings)

# %%
import pandas as pd
from IPython.display import display

from mumae_core import notebook, runs
from mumae_core.metrics import write_metrics
from mumae_core.train.runlog import read_metrics
from mumae_core.viz import style, tables
from mumae_core.viz.results import plot_losses

P = notebook.setup("01_pretrain", globals())
style.inline_defaults()  # readable inline figures; saved files are 150 dpi
cfg = notebook.config(P)


def report_run(name, summary, run_dir, cfg):
    """Loss curves and the held-out hidden-token loss against the mean predictor, as a table."""
    recs = read_metrics(run_dir)
    keys = ["loss"] + [k for k in recs[-1] if k.startswith("loss_")] if recs else ["loss"]
    val = summary.get("val_hidden_token_loss", {})
    base = {"val: predicting the mean": val["mean"]["total"]} if "mean" in val else None
    title = f"{name}: pretraining losses ({cfg.pretrain.epochs} epochs)"
    fig = plot_losses(recs, keys, title=title, baseline=base)
    style.save_figure(fig, P.figures_dir, f"01_pretrain_{name}_losses")
    rows = [
        {
            "dataset": name,
            "loss term": k,
            "model (val hidden tokens)": val["model"][k],
            "predicting the mean": m,
        }
        for k, m in val.get("mean", {}).items()
    ]
    if rows:
        tables.save_table(rows, P.tables_dir, f"01_pretrain_{name}_val_loss")
    print(summary.get("headline", "no validation comparison in the summary"))
    return rows


# %% [markdown]
# ## SynthAct: video + sensors

# %%
run_dir, summary = runs.pretrain_or_reuse(cfg, P.runs_dir)
display(pd.DataFrame(report_run(cfg.data.dataset, summary, run_dir, cfg)))

# %% [markdown]
# ## HAPT: sensor-only pretraining (real smartphone accelerometer + gyroscope)

# %%
hapt_summary = None
if cfg.report.hapt:
    cfg_h = notebook.config(P, "data.dataset=hapt")
    hapt_dir, hapt_summary = runs.pretrain_or_reuse(cfg_h, P.runs_dir)
    display(pd.DataFrame(report_run("hapt", hapt_summary, hapt_dir, cfg_h)))
else:
    print("report.hapt is off in this profile: HAPT pretraining skipped")


# %% [markdown]
# ## Does pretraining help a frozen encoder, and when?
#
# Copies of the weights were kept along each run (`pretrain.keep_at`: step 0 is the random initialisation).
# Each is scored by the training-free frozen probe (R^m, z-scored, cosine prototypes) on validation-class
# episodes only, so the curve can guide how long to pretrain without touching the test classes. `diff` is
# the paired difference to step 0 over the same episodes (± 95% CI over episodes).

# %%
from mumae_core.ablations import Runner
from mumae_core.curve import pretraining_curve
from mumae_core.viz.results import plot_curve

curves = {cfg.data.dataset: (cfg, run_dir)}
if hapt_summary:
    curves["hapt"] = (cfg_h, hapt_dir)
curve_rows = {}
for name, (c, rd) in curves.items():
    curve = pretraining_curve(c, rd, Runner(c, P.runs_dir, progress=False).datasets(c))
    curve_rows[name] = curve
    fig = plot_curve(curve, chance=100 / c.oneshot.way, title=f"{name}: frozen probe along pretraining")
    style.save_figure(fig, P.figures_dir, f"01_pretrain_{name}_curve")
    tables.save_table(curve.to_dict("records"), P.tables_dir, f"01_pretrain_{name}_curve")
    display(curve)


# %%
def numbers(prefix, s):
    v = s.get("val_hidden_token_loss", {})
    out = {f"{prefix}_wall_time_s": s.get("wall_time_s"), f"{prefix}_steps": s.get("steps")}
    if "model" in v:
        out[f"{prefix}_val_loss"] = v["model"]["total"]
        out[f"{prefix}_val_mean_predictor_loss"] = v["mean"]["total"]
    return out


m = numbers(cfg.data.dataset, summary)
if hapt_summary:
    m.update(numbers("hapt", hapt_summary))
for name, curve in curve_rows.items():
    m[f"{name}_curve"] = curve.to_dict("records")
write_metrics(
    P.metrics_path,
    "01_pretrain",
    P.profile,
    metrics=m,
    runs={cfg.data.dataset: run_dir.name, **({"hapt": hapt_dir.name} if hapt_summary else {})},
)
display(m)
