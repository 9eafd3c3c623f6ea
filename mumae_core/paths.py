"""Where things live: the checkout, its committed splits/, the data home, runs, reports, episode lists.

The one module that turns `__file__` into a location; everything else asks here.

    repo_root()       the directory above the `mumae_core` package: the repository root in a checkout
                      (`in_checkout()` says whether it is one: it holds pyproject.toml and splits/)
    splits_dir()      repo_root()/splits: committed class lists, clip lists and REFERENCE episode lists;
                      read-only inputs, the kit never writes there
    data_home()       generated datasets and caches: $MUMAE_DATA, else /kaggle/working/data on Kaggle,
                      else repo_root()/data
    episodes_dir()    where NEW episode lists are written: $MUMAE_EPISODES_DIR, else data_home()/episodes
    working_dir()     base of default runs and reports: /kaggle/working on Kaggle, else repo_root()
    runs_dir(p)       working_dir()/runs/<p>;  reports_dir(p): working_dir()/reports/<p>
    benchmarks_dir()  repo_root()/reports/benchmarks: benchmark results (`mumae bench`)
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
KAGGLE_INPUT = Path("/kaggle/input")  # read-only attached datasets
KAGGLE_WORKING = Path("/kaggle/working")  # writable


def in_kaggle() -> bool:
    """True inside a Kaggle kernel (KAGGLE_KERNEL_RUN_TYPE is set there)."""
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ


def find_kaggle_input(name: str, input_root: Path = KAGGLE_INPUT) -> Path | None:
    """A read-only copy of dataset folder `name` (e.g. 'synthact-default') attached under /kaggle/input."""
    if not input_root.is_dir():
        return None
    for cand in [
        input_root / name,
        *sorted(input_root.glob(f"*/{name}")),
        *sorted(input_root.glob(f"*/*/{name}")),
    ]:
        if cand.is_dir():
            return cand
    return None


def repo_root() -> Path:
    """The directory above the package: the repository root when running from a checkout."""
    return PACKAGE_DIR.parent


def in_checkout() -> bool:
    """True when repo_root() is a checkout of the kit (it has pyproject.toml and splits/)."""
    root = repo_root()
    return (root / "pyproject.toml").is_file() and (root / "splits").is_dir()


def splits_dir() -> Path:
    """The committed splits/ folder (class lists, clip lists, reference episode lists); read-only."""
    return repo_root() / "splits"


def data_home() -> Path:
    """Where generated datasets and caches go: $MUMAE_DATA, /kaggle/working/data on Kaggle, else ./data."""
    if os.environ.get("MUMAE_DATA"):
        return Path(os.environ["MUMAE_DATA"])
    if in_kaggle():
        return KAGGLE_WORKING / "data"
    return repo_root() / "data"


def episodes_dir() -> Path:
    """Where new episode lists are written: $MUMAE_EPISODES_DIR, else data_home()/episodes (never splits/)."""
    env = os.environ.get("MUMAE_EPISODES_DIR")
    return Path(env) if env else data_home() / "episodes"


def working_dir() -> Path:
    """Base of the default runs/ and reports/: /kaggle/working on Kaggle, else the repository root."""
    return KAGGLE_WORKING if in_kaggle() else repo_root()


def runs_dir(profile: str) -> Path:
    """Default run folder of a profile: runs/<profile>."""
    return working_dir() / "runs" / profile


def reports_dir(profile: str) -> Path:
    """Default report folder of a profile: reports/<profile>."""
    return working_dir() / "reports" / profile


def benchmarks_dir() -> Path:
    """Where benchmark results go by default: reports/benchmarks/ of the checkout."""
    return repo_root() / "reports" / "benchmarks"
