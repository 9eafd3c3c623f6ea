"""Run directories named by the settings that matter, and reuse of finished runs.

    pretrain_id(cfg)            'pretrain-synthact-default-3f2a9c1d0e'  (data/model/mask/pretrain settings)
    oneshot_id(cfg, checkpoint) 'oneshot-synthact-default-8b1e07c2aa'   (every setting + its checkpoint)
    pretrain_or_reuse(cfg, runs_dir)            -> (run_dir, summary)
    oneshot_or_reuse(cfg, checkpoint, datasets, runs_dir, keep_model=False) -> metrics dict

An id hashes the resolved config without the keys that never change the numbers (`FREE_KEYS`: paths, devices,
logging, and the whole `report` section), so two notebooks that build the same experiment find the same run
directory, and any setting that matters gives another directory: nothing is reused by a hand-built name.
A finished run (summary.json / metrics.json) is reused; an unfinished pretraining run resumes.
"""

from __future__ import annotations

import hashlib
import json
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
    "model.attention",  # the same function on another kernel (outputs agree to rounding)
    "model.attention_explicit_max_tokens",
    "oneshot.device",
    "oneshot.seeds",  # how many seeded runs an experiment has, not a setting of one run
)
FREE_SECTIONS = ("report",)
PRETRAIN_SECTIONS = ("data", "model", "mask", "pretrain")
# settings of the pretraining sections that, at these values, only change how the one-shot stage reads the
# encoder out: left out of the pretraining id (the weights are the same), kept in the one-shot id
# (model.pooling: tokens and per_modality differ only in fc_norm's input, which the pretraining loss never
# uses; cls adds a token to the encoder, so it is a pretraining setting)
READOUT_SETTINGS = {"model.pooling": ("tokens", "per_modality")}
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


def pretrain_settings(cfg: Config) -> dict[str, Any]:
    """The settings that make a pretraining run: its sections' `settings` less the READOUT_SETTINGS values."""
    keep = settings(cfg, PRETRAIN_SECTIONS)
    for k, readout in READOUT_SETTINGS.items():
        if keep.get(k) in readout:
            del keep[k]
    return keep


def pretrain_id(cfg: Config) -> str:
    """Run id of the pretraining `cfg` describes: dataset + hash of its data/model/mask/pretrain settings
    (`pretrain_settings`)."""
    return f"pretrain-{dataset_label(cfg)}-{_digest(pretrain_settings(cfg))}"


def checkpoint_tag(run_dir: str | Path | None) -> str:
    """A pretraining run's final weights (run id + size + mtime, no machine path); 'scratch' for None."""
    if run_dir is None:
        return "scratch"
    from mumae_core.train.checkpoint import find_checkpoint

    ck = find_checkpoint(run_dir)
    st = ck.stat()
    return f"{Path(run_dir).name}:{ck.name}:{st.st_size}:{st.st_mtime_ns}"


def oneshot_id(cfg: Config, checkpoint: str | Path | None) -> str:
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
    checkpoint: str | Path | None,
    datasets: dict,
    runs_dir: str | Path,
    keep_model: bool = False,
    progress: bool = True,
    reps=None,
) -> dict:
    """train_oneshot from `checkpoint` (a pretraining run dir; None = random init), or the metrics of the
    finished run with the same id. keep_model: also save / reload the trained one-shot model ("model").
    reps: a function returning precomputed frozen-encoder representations (or None), called only to train."""
    from mumae_core.models.oneshot import build_oneshot_model
    from mumae_core.train.checkpoint import load_mae
    from mumae_core.train.oneshot import METRICS_JSON, train_oneshot

    out = Path(runs_dir) / oneshot_id(cfg, checkpoint)
    mfile, wfile = out / METRICS_JSON, out / MODEL_FILE
    mae = load_mae(checkpoint, None)[0] if checkpoint is not None else None
    if mfile.is_file() and (wfile.is_file() or not keep_model):
        print(f"reusing one-shot results in {out.name}", flush=True)
        saved = json.loads(mfile.read_text())
        if keep_model:
            model = build_oneshot_model(cfg, mae)
            model.load_state_dict(torch.load(wfile, map_location="cpu", weights_only=True))
            saved["model"] = model.eval()
        saved["run_dir"] = str(out)
        return saved
    res = train_oneshot(cfg, mae, datasets, out_dir=out, progress=progress, reps=reps() if reps else None)
    if keep_model:
        torch.save(res["model"].state_dict(), wfile)
    (out / REUSE_TAG).write_text(json.dumps(checkpoint_tag(checkpoint)))
    res["run_dir"] = str(out)
    return res
