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

Code versions (`mumae_core.provenance`): every run writes provenance.json when it starts (commit, dirty,
code_version, created, mumae_core version). A run is reused (or, unfinished, resumed) only when the code
version that made it equals this code's; otherwise the line "run X was made by code version A, this code is B:
training it again" is printed, the old run dir is moved aside to `<id>.stale-<A>` (kept, never deleted; the
user deletes it) and the run is trained again in `<id>`. A run without provenance.json (made before it was
recorded) is stale (`<id>.stale-unknown`). The code version is NOT part of the run id, so a run dir always
holds the run of the current code and the id names a setting, not a code state.

Used runs: each call of pretrain_or_reuse / oneshot_or_reuse records {run, kind, action (made / reused),
commit, dirty, code_version} in a per-process registry (`used_runs()`); `metrics.write_metrics` copies it into
the notebook's metrics JSON as "provenance", and index.md's Provenance table lists them per notebook.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mumae_core import provenance
from mumae_core.config import Config
from mumae_core.provenance import code_version as code_version  # re-exported: runs.code_version()
from mumae_core.provenance import git_commit as git_commit  # re-exported: runs.git_commit()

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
_USED: dict[str, dict[str, Any]] = {}  # run id -> its entry, in first-use order (this process)


def record_use(run_dir: str | Path, kind: str, action: str) -> dict[str, Any]:
    """Add the run in `run_dir` to this process's registry (`action`: "made" or "reused"; a run made and
    then reused by the same process stays "made"); return its entry."""
    run_dir = Path(run_dir)
    rec = provenance.read(run_dir) or {}
    entry = {
        "run": run_dir.name,
        "kind": kind,
        "action": action,
        "commit": rec.get("commit"),
        "dirty": rec.get("dirty"),
        "code_version": "+".join(sorted(provenance.versions(rec))) if rec else provenance.UNKNOWN,
    }
    return _USED.setdefault(run_dir.name, entry)


def used_runs() -> list[dict[str, Any]]:
    """The runs this process made or reused (copies of the registry entries, in first-use order)."""
    return [dict(e) for e in _USED.values()]


def clear_used_runs() -> None:
    """Empty the registry (a new notebook in the same process, tests)."""
    _USED.clear()


def _set_aside_if_stale(run: Path) -> None:
    """When `run` holds files made by another code version, print why and move it to `<id>.stale-<A>`."""
    if not run.is_dir() or not any(run.iterdir()):
        return
    why = provenance.stale_reason(run)
    if why is None:
        return
    old = provenance.read(run)
    tag = str((old or {}).get("code_version") or provenance.UNKNOWN)
    dest = run.with_name(f"{run.name}.stale-{tag}")
    k = 2
    while dest.exists():
        dest, k = run.with_name(f"{run.name}.stale-{tag}-{k}"), k + 1
    print(f"{why}: training it again (the old run is kept in {dest.name})", flush=True)
    shutil.move(str(run), str(dest))


def pretrain_or_reuse(cfg: Config, runs_dir: str | Path, progress: bool = True) -> tuple[Path, dict]:
    """(run_dir, summary) of the pretraining `cfg` describes: reused when finished, resumed when not, both
    only when made by this code version (else moved aside and trained again)."""
    from mumae_core.train.pretrain import pretrain

    run = Path(runs_dir) / pretrain_id(cfg)
    _set_aside_if_stale(run)
    summary = run / "summary.json"
    if summary.is_file():
        print(f"reusing the finished pretraining run {run.name}", flush=True)
        record_use(run, "pretrain", "reused")
        return run, json.loads(summary.read_text())
    out = pretrain(cfg, run, progress=progress)
    record_use(run, "pretrain", "made")
    return run, out


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
    _set_aside_if_stale(out)
    mfile, wfile = out / METRICS_JSON, out / MODEL_FILE
    if mfile.is_file() and (wfile.is_file() or not keep_model):
        print(f"reusing one-shot results in {out.name}", flush=True)
        saved = json.loads(mfile.read_text())
        if keep_model:
            model = build_oneshot_model(cfg, fresh_encoder(checkpoint))
            model.load_state_dict(torch.load(wfile, map_location="cpu", weights_only=True))
            saved["model"] = model.eval()
        saved["run_dir"] = str(out)
        record_use(out, "oneshot", "reused")
        return saved
    mae = fresh_encoder(checkpoint)
    res = train_oneshot(cfg, mae, datasets, out_dir=out, progress=progress, reps=reps() if reps else None)
    if keep_model:
        torch.save(res["model"].state_dict(), wfile)
    (out / REUSE_TAG).write_text(json.dumps(checkpoint_tag(checkpoint)))
    res["run_dir"] = str(out)
    record_use(out, "oneshot", "made")
    return res
