"""The non-learned statistics baselines on the validation episodes of each class fold (the folds of
`benchmarks/class_folds.py`): what a fold's Mu-MAE score should be compared with.
Validation classes only; no test episode is drawn.

python benchmarks/fold_baselines.py synthact 5 4

Arguments: dataset, classes per fold, number of folds. Prints, per fold, the accuracy (%) of every
"statistics: ..." and "mean and std: ..." baseline on 300 validation-class episodes, scored as 02 scores them
(`baselines.score_blocks`: z-scored with the fold's training classes, cosine prototypes).
"""

import json
import sys

from mumae_core import baselines as B
from mumae_core.config import get_config
from mumae_core.data.build import build_datasets
from mumae_core.data.folds import class_folds
from mumae_core.modalities import sensors
from mumae_core.paths import splits_dir
from mumae_core.train.oneshot import split_episodes

dataset, size, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base_classes = (splits_dir() / dataset / "base_classes.txt").read_text().split()
base = ["data.dataset=hapt"] if dataset == "hapt" else []
for f, val_classes in enumerate(class_folds(base_classes, size, k)):
    cfg = get_config("default", [*base, f"data.val_classes={','.join(val_classes)}"])
    cfg = cfg.with_overrides({"data.modalities": ",".join(sensors(cfg.data.modalities))}).validate()
    data = build_datasets(cfg, stage="oneshot", splits=("train", "val"))
    train, val = data["train"], data["val"]
    eps = split_episodes(cfg, val, 300)
    acc = {}
    for b in B.baselines_for(cfg, train):
        if b.name.startswith(("statistics", "mean and std")):
            s = B.score_blocks([(b.features(train), b.features(val))], eps, val.class_names)
            acc[b.name] = round(s["accuracy"], 1)
    print(json.dumps(dict(dataset=dataset, fold=f, val_classes=list(val_classes), baselines=acc)), flush=True)
