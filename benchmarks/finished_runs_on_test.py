"""What finished one-shot runs scored on the saved test episodes, paired with a non-learned baseline.
Trains nothing and chooses nothing: every one-shot run scores the test episodes once, when it finishes, and
the other benchmarks never read them. This one reads them, AFTER a choice was made on validation classes,
to ask how robust a test result is (for example: over pretraining seeds). Never pick a setting from it.

python benchmarks/finished_runs_on_test.py synthact runs/validation_choices "statistics: acc_watch"

Arguments: dataset, a runs folder, the baseline's name (a row of the report's 02 table). Reads the
baseline's per-episode test accuracies from runs/default/baselines-<dataset>-*/baselines.json and, for each
finished one-shot run of that dataset under the folder made at this code version, its per-episode test
accuracies; runs with the same checkpoint and settings but for `oneshot.seed` are one configuration's
seeds. Prints one JSON line per configuration: its checkpoint and pretraining settings, each seed's test
accuracy, the seed-mean, and the paired difference to the baseline over the same episodes with its 95% CI
(`stats.paired_difference` of the per-episode mean over seeds, as the report's 02 table).
"""

import json
import sys
from pathlib import Path

import numpy as np

from mumae_core import runs
from mumae_core.ablations import BASELINES_FILE
from mumae_core.config import Config, get_config
from mumae_core.stats import paired_difference


def read(path: Path):
    return json.loads(path.read_text())


dataset, folder, baseline = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
label = runs.dataset_label(get_config("default", [f"data.dataset={dataset}"]))
found = sorted(Path("runs/default").glob(f"baselines-{label}-*/{BASELINES_FILE}"))
if len(found) != 1:
    sys.exit(f"runs/default/baselines-{label}-*: need exactly one (the report's 02 makes it); found {found}")
rows = {b["baseline"]: b["test"]["episode_accuracy"] for b in read(found[0])}
if baseline not in rows:
    sys.exit(f"{found[0]}: no baseline {baseline!r}; it has {sorted(rows)}")
version = runs.code_version()
configs: dict[str, list[Path]] = {}  # checkpoint + settings less the one-shot seed -> its seeds' runs
for run in sorted(folder.glob(f"oneshot-{label}-*")):
    if not (run / "metrics.json").exists() or not (run / "reuse_tag.json").exists():
        continue  # unfinished, or trained from a random init
    if read(run / "provenance.json").get("code_version") != version:
        continue
    cfg = read(run / "config.json")
    made = runs.settings(Config.from_dict(cfg.get("config", cfg)))
    del made["oneshot.seed"]
    key = json.dumps([read(run / "reuse_tag.json"), made], sort_keys=True, default=str)
    configs.setdefault(key, []).append(run)
for key, seeds in configs.items():
    tag, made = json.loads(key)
    acc = np.array([read(r / "metrics.json")["test"]["episode_accuracy"] for r in seeds])  # (seeds, episodes)
    diff, ci = paired_difference(acc.mean(0), rows[baseline])  # raises on other episodes than the baseline's
    line = dict(checkpoint=tag.split(":")[0], pretrain_seed=made["pretrain.seed"],
                epochs=made["pretrain.epochs"], sensor_ratio=made["mask.sensor_ratio"],
                seeds=[round(float(a.mean()), 1) for a in acc],
                test=round(float(acc.mean()), 1), baseline=baseline,
                baseline_test=round(float(np.mean(rows[baseline])), 1), diff=round(diff, 1),
                diff_ci95=round(ci, 1))  # fmt: skip
    print(json.dumps(line), flush=True)
