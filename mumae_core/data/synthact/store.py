"""Where a SynthAct dataset lives, and generating it once when it is not there yet.

Locally: `<data_dir or data_home()>/synthact-<size>`. On Kaggle a read-only copy attached under
/kaggle/input is used when one is found (`paths.find_kaggle_input`), else it is generated under
/kaggle/working/data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mumae_core import paths
from mumae_core.errors import ConfigError


def synthact_root(size: str, data_dir: str | os.PathLike | None = None) -> Path:
    """SynthAct of `size`: a Kaggle input copy if attached, else <data_dir>/synthact-<size>."""
    name = f"synthact-{size}"
    if paths.in_kaggle():
        found = paths.find_kaggle_input(name)
        if found is not None:
            return found
    return Path(data_dir or paths.data_home()) / name


def ensure_synthact(size: str, data_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """The SynthAct dataset of `size`, generated (once) when it is not there yet. Returns its root."""
    root = synthact_root(size, data_dir)
    if _complete(root, size, seed):
        return root
    if paths.in_kaggle() and str(root).startswith(str(paths.KAGGLE_INPUT)):
        raise ConfigError(f"{root} under /kaggle/input is incomplete and read-only; attach a full copy")
    from .generate import generate

    print(f"generating SynthAct ({size}) into {root} ...", flush=True)
    generate(out=root, size=size, seed=seed)
    return root


def _complete(root: Path, size: str, seed: int) -> bool:
    """synthact.json is written last by `generate`; its size, seed and generator version must match."""
    meta = root / "synthact.json"
    if not meta.is_file():
        return False
    try:
        m = json.loads(meta.read_text())
    except ValueError:
        return False
    from .generate import VERSION

    if m.get("generator_version") != VERSION:
        print(
            f"{root} was made by SynthAct {m.get('generator_version')}, not {VERSION}: regenerating",
            flush=True,
        )
        return False
    if m.get("size") != size or m.get("seed") != seed:
        raise ConfigError(
            f"{root} holds SynthAct size={m.get('size')!r} seed={m.get('seed')}, not size={size!r} "
            f"seed={seed}; point data_dir elsewhere or delete it"
        )
    return True
