"""Validation-class experiments behind the default profile's choices (docs/architecture.md, "Choices made on
validation classes"): each config -> pretraining (reused by id), 3 one-shot seeds with a frozen encoder;
prints ONLY validation numbers (val_best, mean over seeds, on 300 validation episodes, and the training-free
frozen probe of the first and final weights on validation episodes). The one-shot runs also score the test
episodes, as every run does; this script never reads them.

python benchmarks/validation_choices.py hapt '{"H2": ["pretrain.base_lr=6e-3", "pretrain.min_lr=4e-5"]}'
python benchmarks/validation_choices.py synthact '{"S1": ["pretrain.epochs=5", "data.pretrain_span=window"]}'
python benchmarks/validation_choices.py synthact '{"S4": []}' '{"S4": "runs/default/pretrain-synthact-..."}'

The optional third argument names finished pretraining runs to score instead of pretraining again ({name:
run dir}); a run is taken only when its config.json has the experiment's pretraining settings.

The overrides apply on top of the default profile. Run it alone: two torch jobs thrash 2 cores.
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
from mumae_core.curve import pretraining_curve

RUNS = "runs/validation_choices"
dataset = sys.argv[1]
configs = json.loads(sys.argv[2])  # {name: [overrides]}
given = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}  # {name: finished pretraining run dir}
out = []
for name, over in configs.items():
    t0 = time.time()
    base = ["data.dataset=hapt"] if dataset == "hapt" else []
    cfg = get_config("default", [*base, "oneshot.val_episodes=300", "pretrain.keep_at=0", *over]).validate()
    r = Runner(cfg, RUNS, progress=False)
    if name in given:
        run = Path(given[name])
        saved = json.loads((run / "config.json").read_text())
        made = Config.from_dict(saved.get("config", saved))
        if runs.pretrain_settings(made) != runs.pretrain_settings(cfg):
            sys.exit(f"{run}: its pretraining settings are not those of {name}")
        r.checkpoint = lambda pre, schedule, run=run: run if schedule != "none" else runs.RandomInit(pre)
    res = r.train(Row("exp", name))
    val = res["val_best"]["seed_accuracy"]
    ckpt = r.checkpoint(cfg, "headline")
    curve = pretraining_curve(cfg, ckpt, r.datasets(cfg))
    line = dict(
        dataset=dataset,
        name=name,
        overrides=over,
        val_oneshot=float(np.mean(val)),
        val_seeds=val,
        probe_step0=float(curve.accuracy.iloc[0]),
        probe_final=float(curve.accuracy.iloc[-1]),
        probe_ci=float(curve.ci95.iloc[-1]),
        seconds=round(time.time() - t0),
        load=os.getloadavg()[0],
    )
    print(json.dumps(line), flush=True)
    Path(RUNS).mkdir(parents=True, exist_ok=True)
    with open(Path(RUNS) / "results.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
