"""Shared benchmark helpers: timing (warmup + median of repeats), JSON reports with machine info, tables.

Every benchmark writes `reports/benchmarks/<name>.json` (`paths.benchmarks_dir()`) by default:
`{"benchmark": name, "created": ISO time, "machine": runtime.environment_info(), **results}`.
"""

from __future__ import annotations

import datetime as _dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from mumae_core import paths, runtime
from mumae_core.train.runlog import write_json_atomic


def timeit(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, sync: Callable | None = None) -> dict:
    """Run `fn` `warmup` times untimed, then `repeats` times timed.

    `sync` (e.g. `torch.cuda.synchronize`) is called after each run, inside the timing.
    Returns `{"median_s", "min_s", "max_s", "times_s": [...], "repeats", "warmup"}`.
    """
    if repeats < 1:
        raise ValueError(f"timeit: repeats must be >= 1; got {repeats}")
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return dict(
        median_s=statistics.median(times), min_s=min(times), max_s=max(times), times_s=times,
        repeats=repeats, warmup=warmup,
    )  # fmt: skip


def default_path(name: str) -> Path:
    """`paths.benchmarks_dir()/<name>.json` (reports/benchmarks/ of the checkout)."""
    return paths.benchmarks_dir() / f"{name}.json"


def write_report(name: str, results: dict, out: str | Path | None = None) -> Path:
    """Write `results` with the benchmark name, time and machine info as JSON; returns the path."""
    path = Path(out) if out else default_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": runtime.environment_info(),
        **results,
    }
    write_json_atomic(path, payload)
    return path


def format_table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = ".3g") -> str:
    """A plain-text table of `rows` (dicts) over `columns` (default: the first row's keys)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])

    def cell(v) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line, sep] + ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body])
