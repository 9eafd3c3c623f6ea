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
# # 05 · Ablations
#
# Every row is scored on the **same saved test episodes**, so each row's difference to its reference is a
# paired difference with its own 95% CI (`mumae_core.stats`). The rows are data: `mumae_core.ablations.ROWS`
# (group, name, overrides, reference, pretraining schedule); `report.ablation_groups` picks the groups (the
# default profile runs the groups that fit its time budget; the paper profile runs them all; add any with
# `overrides=["report.ablation_groups=sensor_mask,mask_ratio,..."]`). The **non-learned baselines** of 02
# follow the reference row as its comparators (`report.ablation_baselines`).
#
# Rows that need their own pretraining use a **shorter schedule** (`report.ablation_epochs`) than the
# headline run and are compared with a reference pretrained on that same short schedule; rows that differ
# only in the one-shot stage share the headline checkpoint (and reuse 02's runs). "X missing at test" feeds
# the headline model without X; "trained without X" trains the one-shot stage without X
# (`report.trained_without` says for which X): the first mixes what X carries with the shift of R^m when X
# is removed, the second not.
# SynthAct is synthetic; HAPT is real, sensor-only.

# %% tags=["parameters"]
profile = "smoke"  # smoke | default | paper: every size, epoch and episode count comes from the profile
overrides = []  # "section.key=value" strings, exactly as `mumae ... --set` (e.g. "pretrain.epochs=3")
out_dir = None  # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
data_dir = None  # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None  # None: runs/<profile> (pretraining and one-shot runs, found again by their settings)

# %%
import pandas as pd
from IPython.display import display

from mumae_core import ablations, notebook
from mumae_core.metrics import write_metrics
from mumae_core.viz import style, tables
from mumae_core.viz.results import plot_accuracy_rows

P = notebook.setup("05_ablations", globals())
style.inline_defaults()  # readable inline figures; saved files are 150 dpi
cfg = notebook.config(P)
table = ablations.run_ablations(cfg, P.runs_dir, dataset="SynthAct")
if cfg.report.hapt:
    table = pd.concat(
        [table, ablations.run_ablations(notebook.config(P, "data.dataset=hapt"), P.runs_dir, dataset="HAPT")]
    )
display(table)

# %%
note = (
    "5-way 1-shot accuracy (%) on the same saved test episodes. accuracy ± ci95: mean and 95% CI over "
    "episodes of the accuracy averaged over the one-shot seeds (seeds = how many; pretraining runs once per "
    "row); seed_sd: SD of the seeds' accuracies. diff ± diff_ci95: paired difference over the same episodes "
    "to the row named in 'reference'; diff_seed_sd: SD over seeds of the per-seed difference; p: two-sided; "
    "p_holm: Holm-corrected over the compared rows of the table (baselines included); significant: "
    f"p_holm < 0.05. Rows marked 'short ({cfg.report.ablation_epochs} ep)' were pretrained on a shorter "
    "schedule than the headline run and are compared with a reference pretrained on that same short "
    "schedule. Non-learned baselines have no seed (seeds 0). SynthAct is synthetic."
)
rows = table.to_dict("records")
tables.save_table(rows, P.tables_dir, "05_ablations", note=note)
for (dataset, group), g in table.groupby(["dataset", "group"], sort=False):
    if group in ("reference", "short-schedule reference"):
        continue
    refs = table[(table["dataset"] == dataset) & (table["row"] == g["reference"].iloc[0])]
    rows_g = pd.concat([refs, g]).to_dict("records")
    fig = plot_accuracy_rows(rows_g, label="row", chance=100 / cfg.oneshot.way, title=f"{dataset}: {group}")
    style.save_figure(fig, P.figures_dir, f"05_ablations_{dataset}_{group.replace(' ', '_')}")

# %%
write_metrics(
    P.metrics_path,
    "05_ablations",
    P.profile,
    ablations=rows,
    notes=[note],
    metrics={"rows": len(rows), "ablation_epochs": cfg.report.ablation_epochs},
)
