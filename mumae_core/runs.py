"""Run directories named by the settings that matter, and reuse of finished runs.

    pretrain_id(cfg)            'pretrain-synthact-default-3f2a9c1d0e'  (data/model/mask/pretrain settings)
    oneshot_id(cfg, checkpoint) 'oneshot-synthact-default-8b1e07c2aa'   (every setting + its checkpoint)
    random_init_mae(cfg)        the random-init MAE, drawn from pretrain.seed (one draw for every user)
    RandomInit(cfg)             a "checkpoint" that stands for that draw (tag 'random-init:seed<k>:<hash>')
    fresh_encoder(checkpoint)   a new MAE for a run dir / RandomInit (None -> None: train_oneshot draws one)
    pretrain_or_reuse(cfg, runs_dir)            -> (run_dir, summary)
    oneshot_or_reuse(cfg, checkpoint, datasets, runs_dir, keep_model=False) -> metrics dict

An id hashes the resolved config without the keys that never change the numbers (`FREE_KEYS`: paths, devices,
logging, and the whole `report` section), so two notebooks that build the same experiment find the same run
directory, and any setting that matters gives another directory: nothing is reused by a hand-built name.
A finished run (summary.json / metrics.json) is reused; an unfinished pretraining run resumes.

Random init: a one-shot run "from" `RandomInit(pre)` starts from `random_init_mae(pre)`, the MAE drawn once
from `pre.pretrain.seed`, so the one-shot seeds of a random-init row share one encoder (its frozen
representations are encoded once, like a pretrained one's) and the "encoder, random init" probe of
`mumae_core.baselines` is that same encoder. The one-shot seed still draws the fusion and the head.
`checkpoint=None` keeps the older meaning (`train_oneshot(cfg, None)` draws the MAE after
`seed_everything(oneshot.seed)`, one encoder per seed) under the tag 'scratch'.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mumae_core.config import Config

# keys that never change a run's numbers (a run may move to another machine, device or data copy)
FREE_KEYS = (
    "profile",
    "data.root",
    "data.num_workers",
    "data.on_error",
    "data.cache",
    "pretrain.device",
    "pretrain.ckpt_every",
    "pretrain.log_every",
    "pretrain.tensorboard",
    "data.video_backend",  # decord and PyAV decode the same frames (data/video.py)
    "pretrain.compile",  # the same function, traced
    "pretrain.prefetch_factor",
    "pretrain.keep_at",  # extra copies of the weights along the run
    "model.attention",  # the same function on another kernel (outputs agree to rounding)
    "model.attention_explicit_max_tokens",
    "oneshot.device",
    "oneshot.seeds",  # how many seeded runs an experiment has, not a setting of one run
)
FREE_SECTIONS = ("report",)
PRETRAIN_SECTIONS = ("data", "model", "mask", "pretrain")
REUSE_TAG = "reuse_tag.json"
MODEL_FILE = "model.pt"


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def settings(cfg: Config, sections: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The flat {key: value} settings of `cfg` that matter, from `sections` (None: all but FREE_SECTIONS)."""
    flat = _flat(cfg.to_dict())
    keep = {}
    for k, v in flat.items():
        section = k.split(".", 1)[0]
        if k in FREE_KEYS or section in FREE_SECTIONS or (sections is not None and section not in sections):
            continue
        keep[k] = v
    return keep


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def dataset_label(cfg: Config) -> str:
    """synthact-<size> for SynthAct, else data.dataset (names episode lists and run dirs)."""
    d = cfg.data
    return f"synthact-{d.synth_size}" if d.dataset == "synthact" else d.dataset


def pretrain_id(cfg: Config) -> str:
    """Run id of the pretraining `cfg` describes: dataset + hash of its data/model/mask/pretrain settings."""
    return f"pretrain-{dataset_label(cfg)}-{_digest(settings(cfg, PRETRAIN_SECTIONS))}"


def random_init_mae(cfg: Config):
    """The random-init MultimodalMAE of `cfg` (a pretraining config): `build_mae(cfg)` right after
    `torch.manual_seed(cfg.pretrain.seed)`; the global RNG state is restored afterwards. The same weights on
    every call, so every user of "random init" (the seeds of a row, the probe baseline) shares one encoder."""
    from mumae_core.models.mae import build_mae

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.pretrain.seed)
        return build_mae(cfg)


@dataclass(frozen=True, eq=False)
class RandomInit:
    """Stands where a pretraining run dir would: the encoder is `random_init_mae(cfg)`, no pretraining."""

    cfg: Config

    @property
    def tag(self) -> str:
        """'random-init:seed<k>:<hash of the data and model settings>' (the settings build_mae reads)."""
        return f"random-init:seed{self.cfg.pretrain.seed}:{_digest(settings(self.cfg, ('data', 'model')))}"

    def __repr__(self) -> str:
        return f"RandomInit({self.tag})"


def fresh_encoder(checkpoint: str | Path | RandomInit | None):
    """A fresh MAE for `checkpoint`: the pretraining run's weights, the shared random-init draw, or None
    (train_oneshot then draws its own after seeding the one-shot seed)."""
    if checkpoint is None:
        return None
    if isinstance(checkpoint, RandomInit):
        return random_init_mae(checkpoint.cfg)
    from mumae_core.train.checkpoint import load_mae

    return load_mae(checkpoint, None)[0]


def checkpoint_tag(run_dir: str | Path | RandomInit | None) -> str:
    """A pretraining run's final weights (run id + size + mtime, no machine path); `RandomInit.tag` for the
    shared random init; 'scratch' for None."""
    if run_dir is None:
        return "scratch"
    if isinstance(run_dir, RandomInit):
        return run_dir.tag
    from mumae_core.train.checkpoint import find_checkpoint

    ck = find_checkpoint(run_dir)
    st = ck.stat()
    return f"{Path(run_dir).name}:{ck.name}:{st.st_size}:{st.st_mtime_ns}"


def oneshot_id(cfg: Config, checkpoint: str | Path | RandomInit | None) -> str:
    """Run id of a one-shot experiment: every setting that matters plus the checkpoint it starts from."""
    return f"oneshot-{dataset_label(cfg)}-{_digest([settings(cfg), checkpoint_tag(checkpoint)])}"


# ---------------------------------------------------------------------------------------------------
def pretrain_or_reuse(cfg: Config, runs_dir: str | Path, progress: bool = True) -> tuple[Path, dict]:
    """(run_dir, summary) of the pretraining `cfg` describes: reused when finished, resumed when not."""
    from mumae_core.train.pretrain import pretrain

    run = Path(runs_dir) / pretrain_id(cfg)
    summary = run / "summary.json"
    if summary.is_file():
        print(f"reusing the finished pretraining run {run.name}", flush=True)
        return run, json.loads(summary.read_text())
    return run, pretrain(cfg, run, progress=progress)


def oneshot_or_reuse(
    cfg: Config,
    checkpoint: str | Path | RandomInit | None,
    datasets: dict,
    runs_dir: str | Path,
    keep_model: bool = False,
    progress: bool = True,
    reps=None,
) -> dict:
    """train_oneshot from `checkpoint` (a pretraining run dir; `RandomInit` = the shared random init; None =
    a random init drawn by train_oneshot per seed), or the metrics of the finished run with the same id.
    keep_model: also save / reload the trained one-shot model ("model").
    reps: a function returning precomputed frozen-encoder representations (or None), called only to train."""
    from mumae_core.models.oneshot import build_oneshot_model
    from mumae_core.train.oneshot import METRICS_JSON, train_oneshot

    out = Path(runs_dir) / oneshot_id(cfg, checkpoint)
    mfile, wfile = out / METRICS_JSON, out / MODEL_FILE
    if mfile.is_file() and (wfile.is_file() or not keep_model):
        print(f"reusing one-shot results in {out.name}", flush=True)
        saved = json.loads(mfile.read_text())
        if keep_model:
            model = build_oneshot_model(cfg, fresh_encoder(checkpoint))
            model.load_state_dict(torch.load(wfile, map_location="cpu", weights_only=True))
            saved["model"] = model.eval()
        saved["run_dir"] = str(out)
        return saved
    mae = fresh_encoder(checkpoint)
    res = train_oneshot(cfg, mae, datasets, out_dir=out, progress=progress, reps=reps() if reps else None)
    if keep_model:
        torch.save(res["model"].state_dict(), wfile)
    (out / REUSE_TAG).write_text(json.dumps(checkpoint_tag(checkpoint)))
    res["run_dir"] = str(out)
    return res
