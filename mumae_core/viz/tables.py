"""Result tables: accuracy ± CI formatting, Markdown rendering, saving CSV + Markdown to tables/."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mumae_core.viz.style import _slug


def format_acc(mean: float, ci: float | None = None) -> str:
    """'61.2 ± 2.1 %' from accuracies in percent (the unit of train.oneshot results)."""
    s = f"{mean:.1f}"
    if ci is not None:
        s += f" ± {ci:.1f}"
    return s + " %"


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""  # an absent value (e.g. a column another row has); never printed as "nan"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def rows_to_markdown(rows: list[dict[str, Any]] | pd.DataFrame) -> str:
    """A Markdown table of flat row dicts (or a DataFrame). Columns `accuracy` and `ci95`
    become one 'accuracy ± 95% CI' column, and `diff` / `diff_ci95` one 'paired diff ± 95% CI' column
    (all in percent)."""
    if isinstance(rows, pd.DataFrame):
        rows = rows.reset_index().to_dict("records") if rows.index.name else rows.to_dict("records")
    if not rows:
        return "_(no rows)_"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    merged = [("accuracy", "ci95", "accuracy ± 95% CI"), ("diff", "diff_ci95", "paired diff ± 95% CI")]
    merged = [m for m in merged if m[0] in cols]
    cols = [c for c in cols if c not in {x for m in merged for x in m[:2]}]
    header = cols + [m[2] for m in merged]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [_cell(r.get(c, "")) for c in cols]
        for key, ci, _ in merged:
            v = r.get(key)
            cells.append("" if v is None else format_acc(v, r.get(ci)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_table(
    rows: list[dict[str, Any]] | pd.DataFrame,
    tables_dir: str | os.PathLike,
    name: str,
    note: str | None = None,
) -> tuple[Path, Path]:
    """Write <tables_dir>/<name>.csv (raw values) and <name>.md (formatted, with `note` above the table)."""
    d = Path(tables_dir)
    d.mkdir(parents=True, exist_ok=True)
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if df.empty:
        raise ValueError(f"save_table: table {name!r} has no rows")
    stem = _slug(name)
    csv, md = d / f"{stem}.csv", d / f"{stem}.md"
    df.to_csv(csv, index=df.index.name is not None)
    text = rows_to_markdown(df)
    md.write_text((f"{note}\n\n" if note else "") + text + "\n")
    return csv, md
