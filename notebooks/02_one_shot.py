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
# # 02 · One-shot activity recognition
#
# Episodic training on the base classes, model selection on the validation classes, and a single test on
# saved episodes of the novel classes (`splits/<dataset>/episodes_*.json`). It opens with the **verdict**:
# does Mu-MAE beat the best non-learned baseline, does pretraining beat random init, does fusion beat the best
# single modality, each with a paired difference. Rows (`report.headline_rows`): the pretrained Mu-MAE with
# cross-attention fusion, the same without pretraining, each modality alone, and the non-learned baselines of
# `mumae_core.baselines` on the same episodes and head; every learned row runs `oneshot.seeds` one-shot seeds.
# Then per-class accuracy, the confusion matrix and a PCA of the test clips' fused features; on HAPT
# (sensor-only, real data) the same questions. The same settings as `mumae evaluate --profile <profile>`.
# SynthAct numbers are synthetic.

# %% tags=["parameters"]
profile = "smoke"  # smoke | default | paper: every size, epoch and episode count comes from the profile
overrides = []  # "section.key=value" strings, exactly as `mumae ... --set` (e.g. "pretrain.epochs=3")
out_dir = None  # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
data_dir = None  # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None  # None: runs/<profile> (pretraining and one-shot runs, found again by their settings)

# %%
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from torch.utils.data import Subset

from mumae_core import notebook
from mumae_core.eval import encode_clips
from mumae_core.headline import CAPTION, SPLITS_CAPTION, headline
from mumae_core.metrics import write_metrics
from mumae_core.viz import style, tables
from mumae_core.viz.results import plot_accuracy_rows, plot_confusion, plot_embedding, plot_per_class

P = notebook.setup("02_one_shot", globals())
style.inline_defaults()  # readable inline figures; saved files are 150 dpi
cfg = notebook.config(P)
o = cfg.oneshot
print(
    f"{o.way}-way {o.shot}-shot; {o.train_episodes} training, {o.val_episodes} validation, "
    f"{o.test_episodes} test episodes; {o.seeds} one-shot seeds per row"
)

# %% [markdown]
# ## SynthAct

# %%
synth = headline(cfg, P.runs_dir, "SynthAct")
display(Markdown("\n\n".join(synth.verdict)))
rows, results = synth.rows, synth.results
display(pd.DataFrame(rows))

# %% [markdown]
# Do the validation classes rank like the test classes? Every choice of the default profile was made on the
# validation classes. The same baselines on validation-class and training-class episodes say how far the
# validation score can be trusted to predict the test score.

# %%
display(Markdown("\n\n".join(synth.context)))
display(pd.DataFrame(synth.splits))

# %%
main = next(iter(results.values()))
t = main["test"]
fig = plot_accuracy_rows(
    rows, label="model", chance=100 / o.way, title=f"SynthAct {o.way}-way {o.shot}-shot (synthetic data)"
)
style.save_figure(fig, P.figures_dir, "02_one_shot_synthact_rows")
fig = plot_per_class(t["per_class_accuracy"], title="per-class accuracy (novel classes), full model")
style.save_figure(fig, P.figures_dir, "02_one_shot_per_class")
fig = plot_confusion(
    np.array(t["confusion"]["matrix"]),
    t["confusion"]["classes"],
    title="confusion over test queries (row-normalised)",
)
style.save_figure(fig, P.figures_dir, "02_one_shot_confusion")
per_class = pd.Series(t["per_class_accuracy"], name="accuracy (%)").rename_axis("class").to_frame()
note = (
    f"accuracy (%) per novel class of the pretrained model, mean over {t['n_seeds']} one-shot seeds (no CI)"
)
tables.save_table(per_class, P.tables_dir, "02_one_shot_per_class", note=note)

# %%
test = synth.datasets["test"]
n = min(cfg.report.embedding_clips, len(test))
feats = encode_clips(main["model"].to("cpu"), Subset(test, range(n)), progress=False).numpy()
fig = plot_embedding(
    feats,
    np.asarray(test.labels[:n]),
    list(test.class_names),
    title="test clips (novel classes): PCA of fused features",
)
style.save_figure(fig, P.figures_dir, "02_one_shot_embedding")

# %% [markdown]
# ## HAPT (real data, sensor-only): pretrained vs not

# %%
if cfg.report.hapt:
    cfg_h = notebook.config(P, "data.dataset=hapt", "report.headline_rows=full,scratch")
    hapt = headline(cfg_h, P.runs_dir, "HAPT")
    display(Markdown("\n\n".join(hapt.verdict + hapt.context)))
    display(pd.DataFrame(hapt.splits))
    hrows, verdict = hapt.rows, synth.verdict + hapt.verdict
    splits, context = synth.splits + hapt.splits, synth.context + hapt.context
    rows = rows + hrows
    fig = plot_accuracy_rows(hrows, label="model", chance=100 / cfg_h.oneshot.way, title="HAPT (real data)")
    style.save_figure(fig, P.figures_dir, "02_one_shot_hapt_rows")
else:
    verdict, splits, context = synth.verdict, synth.splits, synth.context
    print("report.hapt is off in this profile: HAPT rows skipped")
tables.save_table(rows, P.tables_dir, "02_one_shot_headline", note=CAPTION + " SynthAct is synthetic.")
tables.save_table(splits, P.tables_dir, "02_one_shot_class_splits", note=SPLITS_CAPTION)
display(pd.DataFrame(rows))

# %%
write_metrics(
    P.metrics_path,
    "02_one_shot",
    P.profile,
    headline=rows,
    verdict=verdict,
    context=context,
    metrics={
        "synthact_full_accuracy": t["accuracy"],
        "synthact_full_ci95": t["ci95"],
        "synthact_full_seed_sd": t["seed_sd"],
        "val_best_accuracy": main["val_best"]["accuracy"],
    },
    test_episodes_fingerprint=main.get("test_episodes_fingerprint"),
)
