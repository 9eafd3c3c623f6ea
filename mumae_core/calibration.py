"""Does each modality carry class information under the one-shot protocol? (validation episodes only)

The non-learned baselines (`mumae_core.baselines`) are scored the way the headline is scored (the same
episode sampler, cosine prototypes, features z-scored with the train split's statistics), on episodes of the
**validation** classes: support and query from independently drawn cameras, as in the test episodes. Test
episodes are never drawn. Rows: the statistics of each sensor and of all sensors, the two video baselines,
and "statistics: all sensors + <best video>" (each block z-scored, scaled by 1/sqrt(its dimension),
concatenated), with its paired difference over the statistics alone.

The three targets a dataset meant to need both modalities should meet (SynthAct's design, docs/synthact.md):
  1. the best video baseline clearly above chance: >= VIDEO_FLOOR % (5-way 1-shot: chance 20%);
  2. no single sensor's statistics above SENSOR_CEILING %;
  3. statistics + video above either, by a paired difference whose 95% CI excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from mumae_core import baselines as B
from mumae_core.data.build import build_datasets
from mumae_core.errors import ConfigError
from mumae_core.modalities import has_video, sensors
from mumae_core.stats import paired_difference
from mumae_core.train.oneshot import split_episodes, val_way

VIDEO_FLOOR = 40.0  # % 5-way 1-shot
SENSOR_CEILING = 70.0  # %


@dataclass
class Calibration:
    """Baseline accuracies on validation episodes: `rows` {name: (accuracy %, 95% CI)}, the combined row's
    paired `gain` over the statistics alone (mean, CI), the three `checks` and the episodes' description."""

    rows: dict[str, tuple[float, float]]
    combined: str
    gain: tuple[float, float]
    checks: dict[str, bool]
    classes: list[str]
    way: int
    episodes: int

    def table(self) -> list[dict]:
        """One dict per row: baseline, accuracy, ci95 (and the gain on the combined row)."""
        out = []
        for n, (a, ci) in self.rows.items():
            r = {"baseline": n, "accuracy": a, "ci95": ci}
            if n == self.combined:
                r["gain_over_statistics"], r["gain_ci95"] = self.gain
            out.append(r)
        return out


def calibrate(cfg, n_episodes: int = 300, progress: bool = False) -> Calibration:
    """Score the baselines on `n_episodes` validation-class episodes of `cfg`'s dataset (video + sensors).

    Decodes the train and validation clips (about 1 min for SynthAct default on 2 cores)."""
    mods = cfg.data.modalities
    sens = sensors(mods)
    if not has_video(mods) or not sens:
        raise ConfigError(f"calibrate: needs video and a sensor in data.modalities; got {list(mods)}")
    data = build_datasets(cfg, stage="oneshot", splits=("train", "val"), progress=progress)
    train, val = data["train"], data["val"]
    way = val_way(cfg, val)
    eps = split_episodes(cfg, val, n_episodes)
    stats_all = "statistics: all sensors" if len(sens) > 1 else f"statistics: {sens[0]}"
    wanted = [
        *(f"statistics: {m}" for m in sens),
        stats_all,
        "video: downsampled pixels",
        "video: silhouettes",
    ]
    feats = {
        b.name: (b.features(train), b.features(val)) for b in B.baselines_for(cfg, train) if b.name in wanted
    }
    rows, per_ep = {}, {}

    def score(name: str, blocks: list) -> None:
        s = B.score_blocks(blocks, eps, val.class_names)
        rows[name], per_ep[name] = (s["accuracy"], s["ci95"]), s["episode_accuracy"]

    for name, block in feats.items():
        score(name, [block])
    video = {n: a for n, (a, _) in rows.items() if n.startswith("video")}
    best_video = max(video, key=video.get)
    combined = f"{stats_all} + {best_video}"
    score(combined, [feats[stats_all], feats[best_video]])
    gain = paired_difference(per_ep[combined], per_ep[stats_all])
    single = [rows[f"statistics: {m}"][0] for m in sens]
    checks = {
        f"best video baseline >= {VIDEO_FLOOR:.0f}%": video[best_video] >= VIDEO_FLOOR,
        f"no single sensor's statistics above {SENSOR_CEILING:.0f}%": max(single) <= SENSOR_CEILING,
        "statistics + video above either": rows[combined][0] > max(video.values()) and gain[0] - gain[1] > 0,
    }
    return Calibration(rows, combined, gain, checks, list(val.class_names), way, n_episodes)
