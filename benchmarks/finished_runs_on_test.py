"""What finished one-shot runs scored on the saved test episodes, paired with a non-learned baseline.
Trains nothing and chooses nothing: every one-shot run scores the test episodes once, when it finishes, and
the other benchmarks never read them. This one reads them, AFTER a choice was made on validation classes,
to ask how robust a test result is (for example: over pretraining seeds). Never pick a setting from it.

python benchmarks/finished_runs_on_test.py synthact runs/validation_choices "statistics: acc_watch"

Arguments: dataset, a runs folder, the baseline's name (a row of the report's 02 table). Reads the
baseline's per-episode test accuracies from runs/default/baselines-<dataset>-*/baselines.json and, for each
finished one-shot run of that dataset under the folder made at this code version, its per-episode test
accuracies; runs from one pretraining checkpoint are its one-shot seeds. Prints one JSON line per checkpoint:
its pretraining settings, each seed's test accuracy, the seed-mean, and the paired difference to the baseline
over the same episodes with its 95% CI (as the report computes it: the mean over seeds per episode, then
1.96 SD / sqrt(episodes)).
"""

import json
import sys
from pathlib import Path

import numpy as np

from mumae_core import runs

dataset, folder, baseline = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
stem = "synthact-default" if dataset == "synthact" else dataset
found = sorted(Path("runs/default").glob(f"baselines-{stem}-*/baselines.json"))
if not found:
    sys.exit(f"no runs/default/baselines-{stem}-*/baselines.json: run the report's 02 notebook first")
rows = {b["baseline"]: np.asarray(b["test"]["episode_accuracy"]) for b in json.loads(found[-1].read_text())}
if baseline not in rows:
    sys.exit(f"{found[-1]}: no baseline {baseline!r}; it has {sorted(rows)}")
ref = rows[baseline]
version = runs.code_version()
by_checkpoint: dict[str, list] = {}
for run in sorted(folder.glob(f"oneshot-{stem}-*")):
    metrics, tag = run / "metrics.json", run / "reuse_tag.json"
    if not metrics.exists() or not tag.exists():
        continue  # unfinished, or trained from a random init
    if json.loads((run / "provenance.json").read_text()).get("code_version") != version:
        continue
    checkpoint = json.loads(tag.read_text()).split(":")[0]
    by_checkpoint.setdefault(checkpoint, []).append(run)
for checkpoint, seeds in by_checkpoint.items():
    cfg = json.loads((seeds[0] / "config.json").read_text())
    cfg = cfg.get("config", cfg)
    acc = [json.loads((r / "metrics.json").read_text())["test"]["episode_accuracy"] for r in seeds]
    acc = [np.asarray(a) for a in acc]  # per seed (episodes,)
    if any(a.shape != ref.shape for a in acc):
        sys.exit(f"{checkpoint}: its runs scored other test episodes than the baseline's {ref.shape[0]}")
    diff = np.mean(acc, 0) - ref  # (episodes,)
    p = cfg["pretrain"]
    line = dict(checkpoint=checkpoint, pretrain_seed=p["seed"], epochs=p["epochs"],
                sensor_ratio=cfg["mask"]["sensor_ratio"], seeds=[round(float(a.mean()), 1) for a in acc],
                test=round(float(np.mean(acc)), 1), baseline=baseline,
                baseline_test=round(float(ref.mean()), 1), diff=round(float(diff.mean()), 1),
                diff_ci95=round(float(1.96 * diff.std(ddof=1) / np.sqrt(diff.size)), 1))  # fmt: skip
    print(json.dumps(line), flush=True)
