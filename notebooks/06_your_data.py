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
# # 06 · Your own clips: embed them, classify new ones from one labelled example per class
#
# The request few-shot users make most: "I have a checkpoint and a few labelled clips of my own — classify
# new ones." `mumae_core.api` does it in three lines: `load_encoder(run)`, `OneShotClassifier(mae,
# cfg).fit(support)`, `.predict(queries)`. Clips are a folder in the MMAct layout (class folders give the
# labels) or an `.npz` of sensor arrays. Here "your data" is cut from SynthAct's novel (test) classes, so it
# is synthetic; the checkpoint is the headline pretraining run of 01. No training happens: R^m features and
# cosine prototypes. The same from the command line: `mumae classify --checkpoint RUN --support DIR --query
# DIR` and `mumae embed --checkpoint RUN --data DIR --out feats.npy`.

# %% tags=["parameters"]
profile = "smoke"  # smoke | default | paper: every size, epoch and episode count comes from the profile
overrides = []  # "section.key=value" strings, exactly as `mumae ... --set` (e.g. "pretrain.epochs=3")
out_dir = None  # None: reports/<profile> (/kaggle/working/reports/<profile> on Kaggle)
data_dir = None  # None: $MUMAE_DATA, ./data, or /kaggle/working/data (inputs under /kaggle/input are used)
runs_dir = None  # None: runs/<profile> (pretraining and one-shot runs, found again by their settings)

# %%
import shutil

import numpy as np
import pandas as pd
from IPython.display import display

from mumae_core import notebook, runs
from mumae_core.api import OneShotClassifier, embed, load_clips, load_encoder
from mumae_core.data.build import build_datasets, dataset_root, split_clips
from mumae_core.data.mmact import recording_name
from mumae_core.metrics import write_metrics
from mumae_core.modalities import sensors
from mumae_core.viz import style
from mumae_core.viz.results import plot_confusion

P = notebook.setup("06_your_data", globals())
style.inline_defaults()  # readable inline figures; saved files are 150 dpi
cfg = notebook.config(P)
run_dir, _ = runs.pretrain_or_reuse(cfg, P.runs_dir)  # the headline run of 01 (reused)
mae, run_cfg = load_encoder(run_dir)

# %% [markdown]
# ## "Your" clips, in the MMAct layout
# One support clip per class for `oneshot.way` novel classes, and as queries every clip of those classes
# from the *other* recordings (a query is never another camera view of its support's recording).

# %%
root = dataset_root(cfg)
entries = split_clips(cfg, root)["test"]
classes = sorted({e.split("/")[0] for e in entries})[: cfg.oneshot.way]
mine = P.runs_dir / "your_data"
shutil.rmtree(mine, ignore_errors=True)


def copy_clip(entry: str, dst: str) -> None:
    """Copy one clip's video and sensor files from the dataset into `mine/dst`, in the MMAct layout."""
    cls, clip = entry.split("/")
    rels = [f"{m}_clip/{cls}/{recording_name(clip)}.csv" for m in sensors(cfg.data.modalities)]
    for rel in [f"video/{cls}/{clip}.mp4", *rels]:
        (mine / dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, mine / dst / rel)


for cls in classes:
    clips = [e for e in entries if e.startswith(cls + "/")]
    support = clips[0]
    copy_clip(support, "support")
    for e in clips[1:]:
        if recording_name(e.split("/")[1]) != recording_name(support.split("/")[1]):
            copy_clip(e, "queries")
print(
    f"support: {len(classes)} clips, queries: {len(list((mine / 'queries' / 'video').glob('*/*.mp4')))} clips"
)

# %% [markdown]
# ## Classify the queries from one example per class

# %%
clf = OneShotClassifier(mae, run_cfg).fit(mine / "support")
queries = load_clips(mine / "queries", run_cfg, stats=clf.stats)
pred = clf.predict(queries)
names = clf.classes  # predict returns the support's class names
truth = [queries.class_names[y] for y in queries.labels]
table = pd.DataFrame({"clip": queries.ids, "true": truth, "predicted": list(pred)})
accuracy = 100 * float((table["true"] == table["predicted"]).mean())
print(
    f"accuracy {accuracy:.1f}% on {len(table)} queries, {len(names)} classes (chance {100 / len(names):.1f}%)"
)
display(table.head(len(names)))
conf = pd.crosstab(table["true"], table["predicted"]).reindex(index=names, columns=names, fill_value=0)
fig = plot_confusion(conf.to_numpy(), names, title="your queries: true vs predicted (row-normalised)")
style.save_figure(fig, P.figures_dir, "06_your_data_confusion")

# %% [markdown]
# ## Sensor arrays instead of files: an `.npz` of `{modality: (N, L, 3)}`
# Any subset of the model's modalities works: here only the sensors, as a phone-only user would have.

# %%
test = build_datasets(cfg, stage="oneshot", splits=("test",), progress=False)["test"]
sens = sensors(cfg.data.modalities)
pick = [i for i, y in enumerate(test.labels) if test.class_names[y] in classes]
first = {}
for i in pick:
    first.setdefault(test.labels[i], i)
arrays = {m: np.stack([test[i][m].numpy() for i in pick]) for m in sens}
labels = np.array([classes.index(test.class_names[test.labels[i]]) for i in pick])
is_support = np.isin(pick, list(first.values()))
for name, keep in (("support", is_support), ("queries", ~is_support)):
    np.savez(
        mine / f"{name}.npz",
        **{m: a[keep] for m, a in arrays.items()},
        labels=labels[keep],
        class_names=classes,
    )
feats = embed(mine / "queries.npz", mae, run_cfg)
print("embeddings of the sensor-only queries:", feats.shape)
clf_s = OneShotClassifier(mae, run_cfg).fit(mine / "support.npz")
pred_s = clf_s.predict(mine / "queries.npz")
accuracy_s = 100 * float((pred_s == np.array(classes)[labels[~is_support]]).mean())
print(
    f"sensor-only accuracy {accuracy_s:.1f}% on {int((~is_support).sum())} queries "
    f"(chance {100 / len(classes):.1f}%)"
)

# %%
write_metrics(
    P.metrics_path,
    "06_your_data",
    P.profile,
    metrics={"folder_accuracy": accuracy, "npz_sensor_accuracy": accuracy_s, "queries": len(table)},
)
