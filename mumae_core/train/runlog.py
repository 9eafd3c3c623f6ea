"""The run directory (DESIGN.md §8): config.json, metrics.jsonl, summary.json.

    config.json    {"config": resolved Config dict, "seed", "world_size", "created", "environment",
                    "resumes": [{step, time, environment}, ...]}
    metrics.jsonl  one JSON object per logged step: {step, epoch, lr, loss, loss_<modality>..., time}
    summary.json   the run's final numbers (written once at the end)
    provenance.json  which code made the run (`mumae_core.provenance`, written when the run starts)

Only rank 0 writes; every writer here is a plain function of the run directory.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from mumae_core.config import Config
from mumae_core.errors import CheckpointError
from mumae_core.runtime import environment_info

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON to a temp file beside `path`, then rename over it (never a half-written file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(_jsonable(obj), indent=2) + "\n")
    os.replace(tmp, path)


def write_config(run_dir: str | os.PathLike, cfg: Config, world_size: int = 1) -> dict:
    """Write config.json for a fresh run: resolved config, seed, versions and git commit."""
    rec = {
        "config": cfg.to_dict(),
        "seed": cfg.pretrain.seed,
        "world_size": world_size,
        "created": _now(),
        "environment": environment_info(),
        "resumes": [],
    }
    write_json_atomic(Path(run_dir) / CONFIG_FILE, rec)
    return rec


def note_resume(run_dir: str | os.PathLike, step: int) -> None:
    """Append {step, time, environment} to config.json's "resumes" list."""
    path = Path(run_dir) / CONFIG_FILE
    rec = json.loads(path.read_text()) if path.exists() else {"resumes": []}
    rec.setdefault("resumes", []).append({"step": step, "time": _now(), "environment": environment_info()})
    write_json_atomic(path, rec)


def read_config(run_dir: str | os.PathLike) -> Config:
    """The Config recorded in <run_dir>/config.json."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read the run's config ({e})") from e
    if "config" not in rec:
        raise CheckpointError(f"{path}: no 'config' entry (not a mumae run directory?)")
    return Config.from_dict(rec["config"])


def append_metrics(run_dir: str | os.PathLike, row: dict) -> None:
    """Append one JSON line to metrics.jsonl (flushed, so a killed run keeps its log)."""
    path = Path(run_dir) / METRICS_FILE
    try:
        with open(path, "a") as f:
            f.write(json.dumps(_jsonable(row)) + "\n")
            f.flush()
    except OSError as e:
        if e.filename is None:  # a failed write() does not say which file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """All rows of metrics.jsonl ([] when there is none yet).

    A last line that is not valid JSON is a row whose append was cut short (disk full, kill): it is
    skipped with a warning. An invalid line before the last raises CheckpointError naming file and line.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    lines = [(i, ln) for i, ln in enumerate(path.read_text(errors="replace").splitlines(), 1) if ln.strip()]
    rows = []
    for k, (i, line) in enumerate(lines):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {type(row).__name__}")
        except ValueError as e:
            if k == len(lines) - 1:
                log.warning("%s line %d is a half-written row (%s): ignored", path, i, e)
                break
            raise CheckpointError(f"{path} line {i} is not a JSON object ({e}): {line[:80]!r}") from e
        rows.append(row)
    return rows


def truncate_metrics(run_dir: str | os.PathLike, max_step: int) -> None:
    """Drop rows with step > max_step (written by a killed run after its last checkpoint) and a half-written
    last row before resuming."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return
    keep = [r for r in read_metrics(run_dir) if r.get("step", 0) <= max_step]
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
    os.replace(tmp, path)


def write_summary(run_dir: str | os.PathLike, summary: dict) -> None:
    write_json_atomic(Path(run_dir) / SUMMARY_FILE, summary)


def _jsonable(obj: Any) -> Any:
    """Tuples -> lists, non-finite floats -> None (JSON has no NaN), tensors/numpy scalars -> python."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
