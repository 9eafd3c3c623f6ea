"""Can the support set alone say which sensor separates an episode's classes? A non-learned check on the
validation episodes of each class fold (`benchmarks/class_folds.py`); no test episode is drawn.

python benchmarks/fold_sensor_selection.py synthact 5 4

Per sensor s: the statistics baseline's block (`baselines.channel_stats`, z-scored with the fold's
training classes, unit-normalised), scored with cosine prototypes. Within-class spread W_s: the mean cosine
distance of a training clip to its class mean. In an episode, the support spread B_s: the mean pairwise
cosine distance of the way support clips (one per class). r_s = B_s / W_s says how far apart the classes
lie against their usual spread, from the support only. Scores (query q, class c) =
sum_s w_s cos_s(q, support_c), with
  equal      w_s = 1                  (the statistics of all sensors)
  ratio      w_s = r_s / sum r
  argmax     w = one-hot at argmax r_s (one sensor per episode)
  only s     each sensor alone (the fold's best of them bounds argmax; it is not a rule)
Prints one JSON line per fold: accuracy (%) of each rule and of each single sensor, and how often argmax
picks the fold's best sensor.
"""

import json
import sys

import numpy as np

from mumae_core import baselines as B
from mumae_core.config import get_config
from mumae_core.data.build import build_datasets
from mumae_core.data.folds import class_folds
from mumae_core.modalities import sensors
from mumae_core.paths import splits_dir
from mumae_core.train.oneshot import split_episodes


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def within_spread(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine distance of unit rows x (N, F) to their class mean direction."""
    d = []
    for c in np.unique(labels):
        xc = x[labels == c]
        mu = unit(xc.mean(0, keepdims=True))
        d.append(1.0 - xc @ mu[0])
    return float(np.concatenate(d).mean())


def episode_accuracy(blocks: dict, weights: dict, ep) -> float:
    """blocks {s: (N, F) unit rows of the eval split}; weights {s: w} -> the episode's query accuracy."""
    sup, qry = np.asarray(ep.support), np.asarray(ep.query)
    scores = sum(w * (blocks[s][qry] @ blocks[s][sup].T) for s, w in weights.items() if w)
    pred = np.asarray(ep.support_labels)[scores.argmax(1)]
    return float((pred == np.asarray(ep.query_labels)).mean())


dataset, size, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base_classes = (splits_dir() / dataset / "base_classes.txt").read_text().split()
base = ["data.dataset=hapt"] if dataset == "hapt" else []
for f, val_classes in enumerate(class_folds(base_classes, size, k)):
    cfg = get_config("default", [*base, f"data.val_classes={','.join(val_classes)}"])
    mods = sensors(cfg.data.modalities)
    cfg = cfg.with_overrides({"data.modalities": ",".join(mods)}).validate()
    data = build_datasets(cfg, stage="oneshot", splits=("train", "val"))
    train, val = data["train"], data["val"]
    eps = split_episodes(cfg, val, 300)
    blocks, spread = {}, {}
    for s in mods:
        b = next(b for b in B.baselines_for(cfg, train) if b.name == f"statistics: {s}")
        tr, ev = B.zscore_with(b.features(train), b.features(val))
        tr, ev = unit(tr), unit(ev)
        blocks[s], spread[s] = ev, within_spread(tr, np.asarray(train.labels))
    acc = {r: [] for r in ("equal", "ratio", "argmax", *[f"only {s}" for s in mods])}
    picks = []
    for ep in eps:
        sup = np.asarray(ep.support)
        r = {}
        for s in mods:
            x = blocks[s][sup]
            d = 1.0 - x @ x.T
            r[s] = float(d[np.triu_indices(len(sup), 1)].mean()) / spread[s]
        top = max(r, key=r.get)
        picks.append(top)
        acc["equal"].append(episode_accuracy(blocks, {s: 1.0 for s in mods}, ep))
        acc["ratio"].append(episode_accuracy(blocks, {s: r[s] / sum(r.values()) for s in mods}, ep))
        acc["argmax"].append(episode_accuracy(blocks, {top: 1.0}, ep))
        for s in mods:
            acc[f"only {s}"].append(episode_accuracy(blocks, {s: 1.0}, ep))
    mean = {name: round(100 * float(np.mean(v)), 1) for name, v in acc.items()}
    best = max(mods, key=lambda s: mean[f"only {s}"])
    out = dict(dataset=dataset, fold=f, val_classes=list(val_classes), accuracy=mean, best_sensor=best,
               argmax_picks_best=round(100 * float(np.mean([p == best for p in picks])), 1),
               within_spread={s: round(v, 3) for s, v in spread.items()})  # fmt: skip
    print(json.dumps(out), flush=True)
