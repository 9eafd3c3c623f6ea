"""SynthAct calibration on VALIDATION episodes (issue 11): non-learned baselines under the one-shot protocol.

The 1-NN complementarity check of the tour (`data/synthact/check.py`) compares every clip with every other one
(same-camera clips of other sessions included); the one-shot protocol draws support and query from
independent cameras. This script scores the baselines the way the headline is scored (same episode sampler,
cosine prototypes, features z-scored with the train split's statistics) on validation-class episodes, and
checks the calibration targets a SynthAct v2 must meet:

  1. the best video baseline clearly above chance: >= 40% (5-way 1-shot);
  2. no single sensor's statistics above ~70%;
  3. statistics + video together above either (each block z-scored, scaled by 1/sqrt(its dimension),
     concatenated).

python benchmarks/synthact_calibration.py [episodes=300] [synth_size=default]

Test episodes are never drawn. Run it alone (it decodes the train and validation clips: ~1 min on 2 cores).
"""

import json
import os
import sys
import time

import numpy as np
import torch

from mumae_core import baselines as B
from mumae_core.config import get_config
from mumae_core.data.build import build_datasets
from mumae_core.data.episodes import sample_episodes
from mumae_core.eval import CachedFeatures, score_episodes, summarise
from mumae_core.modalities import sensors
from mumae_core.models.heads import PrototypeHead
from mumae_core.stats import paired_difference
from mumae_core.train.oneshot import val_way

n_eps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
size = sys.argv[2] if len(sys.argv) > 2 else "default"
t0 = time.time()
cfg = get_config("default", [f"data.synth_size={size}"]).validate()
o = cfg.oneshot
data = build_datasets(cfg, stage="oneshot", splits=("train", "val"), progress=False)
train, val = data["train"], data["val"]
eps = sample_episodes(
    list(val.labels), n_eps, val_way(cfg, val), o.shot, o.query, o.query_protocol, seed=o.episode_seed,
    groups=getattr(val, "groups", None), class_names=list(val.class_names),
)  # fmt: skip
sens = sensors(cfg.data.modalities)
vn = cfg.data.video_norm
bg = B.backgrounds(train, vn)
feats = {f"statistics: {m}": (B.sensor_stats(train, [m]), B.sensor_stats(val, [m])) for m in sens}
feats["statistics: all sensors"] = (B.sensor_stats(train, sens), B.sensor_stats(val, sens))
feats["video: downsampled pixels"] = (B.pixels(train, vn), B.pixels(val, vn))
feats["video: silhouettes"] = (B.silhouettes(train, bg, vn), B.silhouettes(val, bg, vn))


def blocks(*names):
    """z-score each block with the train statistics, scale by 1/sqrt(dim), concatenate -> (train, val)."""
    tr, va = [], []
    for n in names:
        a, b = B.zscore_with(*feats[n])
        tr.append(a / np.sqrt(a.shape[1]))
        va.append(b / np.sqrt(b.shape[1]))
    return np.concatenate(tr, 1), np.concatenate(va, 1)


head = PrototypeHead("cosine")
rows, per_ep = {}, {}


def score(name: str, va: np.ndarray) -> None:
    s = summarise(score_episodes(CachedFeatures(torch.from_numpy(va), head), eps), eps, list(val.class_names))
    rows[name], per_ep[name] = (s["accuracy"], s["ci95"]), s["episode_accuracy"]


for name in list(feats):
    score(name, B.zscore_with(*feats[name])[1])
video = {n: a for n, (a, _) in rows.items() if n.startswith("video")}
best_video = max(video, key=video.get)
combined = f"statistics: all sensors + {best_video}"
score(combined, blocks("statistics: all sensors", best_video)[1])
gain = paired_difference(per_ep[combined], per_ep["statistics: all sensors"])

single = {n: a for n, (a, _) in rows.items() if n.startswith("statistics: ") and n[12:] in sens}
checks = {
    "best video baseline >= 40%": video[best_video] >= 40,
    "no single sensor's statistics above 70%": max(single.values()) <= 70,
    # above the better of the two (sensor statistics here), by a paired difference whose 95% CI excludes 0
    "statistics + video above either": rows[combined][0] > max(video.values()) and gain[0] - gain[1] > 0,
}
print(f"SynthAct {size}, {n_eps} validation episodes ({val_way(cfg, val)}-way {o.shot}-shot, classes "
      f"{list(val.class_names)}), chance {100 / val_way(cfg, val):.0f}%")  # fmt: skip
for n, (a, ci) in rows.items():
    print(f"  {n:<55} {a:5.1f} ± {ci:.1f}")
print(f"  {combined} vs statistics: all sensors: paired difference {gain[0]:+.1f} ± {gain[1]:.1f}")
for c, ok in checks.items():
    print(f"  [{'pass' if ok else 'FAIL'}] {c}")
out = {"rows": rows, "gain": gain, "checks": checks, "seconds": round(time.time() - t0)}
print(json.dumps({**out, "load": os.getloadavg()[0]}))
