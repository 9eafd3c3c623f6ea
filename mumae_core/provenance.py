"""Where a run's numbers came from: the code version, the git commit, and each run dir's provenance.json.

    code_version()              '3f2a9c1d0e': digest of the source files that can change a run's numbers
    git_commit()                ('9a25990...', dirty) of the checkout; None outside one (never raises)
    record()                    {commit, dirty, code_version, created (UTC), mumae_core}: this process now
    start_run(run_dir)          write <run_dir>/provenance.json (atomically) as a run starts; returns it
    note_resume(run_dir)        a resumed pretraining run: append this process to its "resumed_by" list
    read(run_dir)               the run's provenance.json, or None (a run made before it was recorded)
    stale_reason(run_dir)       why the run was not made by this code (None: it was)

The code version hashes file CONTENTS (not mtimes, not git), so it is the same in a checkout, an sdist and
a Kaggle copy of the package. It covers every `.py` under mumae_core except `NOT_CODE`, modules that can
not change a pretraining or one-shot run's numbers:
  * presentation: viz/, report.py, notebook.py, progress.py (progress bars), cli.py, api.py (the user-facing
    classifier, not a run), metrics.py (notebooks' metrics JSON), errors.py (exception classes);
  * benchmarks: bench/ (timings, not runs);
  * notebook-level analysis that picks WHICH runs to make (by config, already in the run id) and computes
    numbers outside any run: ablations.py, headline.py, baselines.py;
  * this module (bookkeeping).
Everything else (models, data, masking, training, evaluation, stats, config, runtime, paths, runs) counts:
a change there may change a run's numbers, so finished runs made by the old code are not reused
(`runs.pretrain_or_reuse` / `oneshot_or_reuse`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"
PACKAGE_DIR = Path(__file__).resolve().parent
# paths relative to the package (a folder ends with "/") whose source cannot change a run's numbers
NOT_CODE = (
    "viz/",
    "bench/",
    "report.py",
    "notebook.py",
    "progress.py",
    "cli.py",
    "api.py",
    "metrics.py",
    "errors.py",
    "ablations.py",
    "headline.py",
    "baselines.py",
    "provenance.py",
)
UNKNOWN = "unknown"  # the code version of a run started before provenance was recorded


def code_files(root: str | os.PathLike | None = None, exclude: tuple[str, ...] = NOT_CODE) -> list[Path]:
    """The `.py` files under the package `root` (default: mumae_core) that count, in a stable order."""
    root = Path(root) if root is not None else PACKAGE_DIR
    keep = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if any(rel.startswith(x) if x.endswith("/") else rel == x for x in exclude):
            continue
        keep.append(p)
    return keep


@functools.cache
def code_version(root: str | os.PathLike | None = None, exclude: tuple[str, ...] = NOT_CODE) -> str:
    """10-hex digest of the relative paths and contents of `code_files(root, exclude)` (cached per process;
    `code_version.cache_clear()` after editing the files in the same process)."""
    root = Path(root) if root is not None else PACKAGE_DIR
    h = hashlib.sha1()
    for p in code_files(root, exclude):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:10]


def git_commit() -> tuple[str, bool] | None:
    """(HEAD commit, dirty) of the kit's checkout; None when the package is not in a git checkout of the kit
    (an sdist, a wheel, a Kaggle copy) or git is unavailable. Never raises."""
    try:
        from mumae_core import paths, runtime

        if not paths.in_checkout():
            return None
        sha = runtime.git_commit()
    except Exception:  # noqa: BLE001 - provenance is best effort: a run never fails for want of git
        return None
    if not sha:
        return None
    return sha.removesuffix("+dirty"), sha.endswith("+dirty")


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def record() -> dict[str, Any]:
    """{commit, dirty, code_version, created, mumae_core}: the provenance of a run this process starts now."""
    from mumae_core import __version__

    git = git_commit()
    return {
        "commit": git[0] if git else None,
        "dirty": git[1] if git else None,
        "code_version": code_version(),
        "created": _utc_now(),
        "mumae_core": __version__,
    }


def _write(run_dir: Path, rec: dict) -> None:
    from mumae_core.train.runlog import write_json_atomic

    write_json_atomic(run_dir / PROVENANCE_FILE, rec)


def start_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Write <run_dir>/provenance.json for a run starting now (replacing any older one); return it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = record()
    _write(run_dir, rec)
    return rec


def read(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's provenance.json, or None when it has none (or an unreadable one)."""
    path = Path(run_dir) / PROVENANCE_FILE
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def note_resume(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A pretraining run resumed by this process: append {commit, dirty, code_version, created} to its
    provenance's "resumed_by" list (a run started before provenance was recorded gets code_version
    'unknown'), warn when the code differs from the code that started it, and return the record."""
    run_dir = Path(run_dir)
    rec = read(run_dir)
    if rec is None:
        rec = {"commit": None, "dirty": None, "code_version": UNKNOWN, "created": None, "mumae_core": None}
    now = record()
    keys = ("commit", "dirty", "code_version", "created")
    rec.setdefault("resumed_by", []).append({k: now[k] for k in keys})
    if rec.get("code_version") != now["code_version"]:
        log.warning(
            "%s: resuming a run started by code version %s with code version %s; its provenance records both",
            run_dir.name,
            rec.get("code_version"),
            now["code_version"],
        )
    _write(run_dir, rec)
    return rec


def versions(rec: dict[str, Any] | None) -> set[str]:
    """Every code version that trained a run with provenance `rec` (its start and its resumes)."""
    if rec is None:
        return {UNKNOWN}
    out = {str(rec.get("code_version") or UNKNOWN)}
    out |= {str(r.get("code_version") or UNKNOWN) for r in rec.get("resumed_by", [])}
    return out


def stale_reason(run_dir: str | os.PathLike) -> str | None:
    """None when every step of the run in `run_dir` was made by this code version, else a sentence why not."""
    rec = read(run_dir)
    here = code_version()
    if rec is None:
        return (
            f"run {Path(run_dir).name} has no {PROVENANCE_FILE} (made before code versions were recorded), "
            f"this code is {here}"
        )
    made = versions(rec)
    if made == {here}:
        return None
    return f"run {Path(run_dir).name} was made by code version {'+'.join(sorted(made))}, this code is {here}"
