"""Progress bars that suit where the code runs: `progress(iterable, total=..., desc=..., disable=...)`.

One call, three renderings (all tqdm objects: `update`, `set_postfix`, `close`, iteration, `with`):
  live     a terminal (stderr is a tty) -> tqdm's text bar; a Jupyter kernel -> the ipywidgets bar when
           ipywidgets is importable, else the text bar (never `TqdmWarning: IProgress not found`)
  plain    a non-interactive run (papermill, nbconvert --execute, a log file, CI) -> nothing while it runs,
           then ONE line when the bar closes: `desc: 40/40 rec in 12.3 s (3.25 rec/s)`
  off      nothing at all (same as disable=True)

The mode comes from `$MUMAE_PROGRESS` (`live`, `plain`, `off`) when set; `mumae report` sets it to `plain` for
the notebooks it executes, since a kernel cannot tell whether a browser is watching. `$PAPERMILL_EXECUTION`
(any non-empty value) and a Kaggle batch run (`$KAGGLE_KERNEL_RUN_TYPE=Batch`, "Save & Run All", whose
rendered output shows no widgets) also mean plain. Otherwise: a Jupyter kernel is live, a terminal is
live, anything else (stdout/stderr redirected) is plain.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.std import tqdm as _std_tqdm

ENV = "MUMAE_PROGRESS"
PAPERMILL_ENV = "PAPERMILL_EXECUTION"
MODES = ("live", "plain", "off")


def _in_jupyter_kernel() -> bool:
    """True inside an IPython kernel that talks to a frontend (JupyterLab, classic, VS Code)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def progress_mode() -> str:
    """'live', 'plain' or 'off' for this process (see the module docstring)."""
    env = os.environ.get(ENV, "").strip().lower()
    if env in MODES:
        return env
    if os.environ.get(PAPERMILL_ENV) or os.environ.get("KAGGLE_KERNEL_RUN_TYPE") == "Batch":
        return "plain"
    if _in_jupyter_kernel():
        return "live"
    try:
        return "live" if sys.stderr.isatty() else "plain"
    except (AttributeError, ValueError):  # a closed or replaced stream
        return "plain"


def _fmt_elapsed(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class _Null:
    """A text stream that drops everything (what a plain bar hands tqdm as its `file`)."""

    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass


_NULL = _Null()


class PlainBar(_std_tqdm):
    """A tqdm that draws nothing while it runs and prints one summary line to stdout when it closes."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._printed = False
        kwargs["file"] = _NULL  # tqdm must write nowhere while running
        kwargs.pop("dynamic_ncols", None)
        kwargs.pop("ncols", None)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:  # noqa: ARG002 - tqdm API
        return True  # nothing while running

    def summary_line(self) -> str:
        """`desc: n/total unit in elapsed (rate unit/s)`, the one line a plain bar prints."""
        elapsed = self.format_dict["elapsed"]
        unit = self.unit or "it"
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        r = self.n / elapsed if elapsed > 0 else 0.0
        rate = f"{r:.2f} {unit}/s" if r < 100 else f"{r:,.0f} {unit}/s"
        post = f", {self.postfix}" if self.postfix else ""
        head = f"{self.desc.rstrip(': ')}: " if self.desc else ""
        return f"{head}{count} {unit} in {_fmt_elapsed(elapsed)} ({rate}){post}"

    def close(self) -> None:
        if self.disable:
            return
        if not self._printed:
            self._printed = True
            print(self.summary_line(), file=sys.stdout, flush=True)
        super().close()


def _live_class() -> type:
    """tqdm.notebook's widget bar in a Jupyter kernel with ipywidgets, else the text bar."""
    if _in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is not None:
        try:
            from tqdm.notebook import IProgress, tqdm_notebook

            if IProgress is not None:
                return tqdm_notebook
        except ImportError:
            pass
    return _std_tqdm


def progress(
    iterable: Iterable | None = None,
    total: float | None = None,
    desc: str | None = None,
    disable: bool = False,
    **kwargs: Any,
) -> _std_tqdm:
    """A tqdm-like bar over `iterable` (or updated by hand up to `total`) rendered for this process.

    kwargs go to tqdm (`unit`, `initial`, `leave`, ...). Returns a tqdm object in every mode.
    """
    mode = progress_mode()
    if mode == "off":
        disable = True
    if mode == "plain":
        cls: type = PlainBar
    else:
        cls = _live_class()
        if cls is _std_tqdm:
            kwargs.setdefault("file", sys.stderr)
    return cls(iterable, total=total, desc=desc, disable=disable, **kwargs)
