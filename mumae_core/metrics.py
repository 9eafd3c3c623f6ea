"""Each notebook's metrics file: `<out>/metrics/<notebook>.json`, plain JSON (no scrapbook).

    {"notebook", "profile", "metrics": {name: number}, "headline": [row], "ablations": [row], ...}

"provenance" lists the training runs the notebook made or reused (`runs.used_runs()`: run id, made / reused,
commit, code version), added by write_metrics unless the caller passes its own; index.md's Provenance table
is built from it.

Rows are flat dicts; accuracy rows carry `accuracy` and `ci95` in percent (as train.oneshot reports them).
A NaN or inf anywhere is an error naming its key: a report never records a non-finite number.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from mumae_core.train.runlog import write_json_atomic


def _clean(x: Any, where: str) -> Any:
    """JSON-safe copy: numpy/torch scalars -> python; a NaN or inf is an error naming the key."""
    if isinstance(x, dict):
        return {str(k): _clean(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 0) == 0:
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"write_metrics: {where} is {x}; refusing to record a non-finite metric")
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"write_metrics: {where} has type {type(x).__name__}, which JSON cannot hold")


def write_metrics(path: str | os.PathLike, notebook: str, profile: str, **sections: Any) -> Path:
    """Write the notebook's metrics JSON (atomically) and return its path.

    sections: `metrics={name: number}`, `headline=[row]`, `ablations=[row]`, `notes=[str]`, anything else
    JSON can hold. `provenance` defaults to this process's `runs.used_runs()` (omitted when there are none).
    """
    from mumae_core.runs import used_runs

    if "provenance" not in sections and used_runs():
        sections["provenance"] = used_runs()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, _clean(dict(notebook=notebook, profile=profile, **sections), "metrics"))
    return path


def read_metrics(path: str | os.PathLike) -> dict[str, Any] | None:
    """The metrics JSON at `path`, or None when the notebook did not write one."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text())
