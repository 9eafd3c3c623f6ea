"""Settings compared over class folds (mumae_core.data.folds): each fold holds out other base classes as its
validation classes (`data.val_classes`), pretrains and trains its one-shot stage without them, and scores
its validation-class episodes; a setting's score is the mean of val_best over folds x one-shot seeds.
Prints ONLY validation numbers. The one-shot runs also score the test episodes, as every run does; this
script never reads them.

python benchmarks/class_folds.py hapt 2 4 '{"E5": [], "E10": ["pretrain.epochs=10"]}'

python benchmarks/class_folds.py synthact 5 4 '{"S": []}' '{"S": "runs/default/pretrain-synthact-..."}'

Arguments: dataset, classes per fold, number of folds, {name: [overrides on top of the default profile]},
and optionally {name: finished pretraining run dir}: every fold's one-shot stage then starts from that one
run (its settings must be the experiment's, the validation classes aside). Such a run was pretrained on
the default split's training classes, so a fold's validation classes were among its (unlabelled)
pretraining clips: a fold then tests the one-shot stage, or compares encoders on an equal footing, not the
encoder on unseen classes. Run it alone: two torch jobs thrash 2 cores.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from mumae_core import runs
from mumae_core.ablations import Row, Runner
from mumae_core.config import Config, get_config
from mumae_core.data.folds import class_folds
from mumae_core.paths import splits_dir

RUNS = "runs/class_folds"
dataset, size, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
configs = json.loads(sys.argv[4])  # {name: [overrides]}
given = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}  # {name: finished pretraining run dir}
base_classes = (splits_dir() / dataset / "base_classes.txt").read_text().split()
folds = class_folds(base_classes, size, k)
base = ["data.dataset=hapt"] if dataset == "hapt" else []
for name, over in configs.items():
    per_fold = []
    for f, val_classes in enumerate(folds):
        t0 = time.time()
        fold = [f"data.val_classes={','.join(val_classes)}", "oneshot.val_episodes=300", "pretrain.keep_at=0"]
        cfg = get_config("default", [*base, *fold, *over]).validate()
        r = Runner(cfg, RUNS, progress=False)
        if name in given:
            run = Path(given[name])
            saved = json.loads((run / "config.json").read_text())
            made = Config.from_dict(saved.get("config", saved)).with_overrides(
                {"data.val_classes": ",".join(val_classes)}
            )
            if runs.pretrain_settings(made) != runs.pretrain_settings(cfg):
                sys.exit(f"{run}: its pretraining settings are not those of {name}")
            r.checkpoint = lambda pre, schedule, run=run: run if schedule != "none" else runs.RandomInit(pre)
        seeds = r.train(Row("exp", name))["val_best"]["seed_accuracy"]
        per_fold.append(float(np.mean(seeds)))
        line = dict(dataset=dataset, name=name, overrides=over, fold=f, val_classes=val_classes,
                    val_oneshot=per_fold[-1], val_seeds=seeds, seconds=round(time.time() - t0),
                    load=os.getloadavg()[0])  # fmt: skip
        print(json.dumps(line), flush=True)
        Path(RUNS).mkdir(parents=True, exist_ok=True)
        with open(Path(RUNS) / "results.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")
    print(json.dumps(dict(dataset=dataset, name=name, fold_mean=float(np.mean(per_fold)), folds=per_fold)))
