"""Device, precision and reproducibility helpers shared by training, evaluation and benchmarks."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from mumae_core.paths import data_home, in_kaggle  # noqa: F401  (kept here: many callers use runtime.*)


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else cpu. Anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {
        f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()
    }


def cpu_has_amx_bf16() -> bool:
    """True when the CPU advertises AMX bf16 tiles (Linux: /proc/cpuinfo flags)."""
    return "amx_bf16" in _cpu_flags()


def cpu_has_fast_bf16() -> bool:
    """True when bf16 matmuls run natively on this CPU: AMX tiles or AVX-512 BF16 instructions.

    Measured here: ~4x the fp32 matmul rate on an AVX-512 BF16 EPYC; ~5x with AMX (DEVELOPERS.md).
    """
    return bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})


def autocast_dtype(device: torch.device, amp: str = "auto") -> torch.dtype | None:
    """The autocast dtype to use, or None for full fp32.

    amp: 'auto' (bf16 on CUDA with bf16 support, fp16 on older CUDA, bf16 on CPUs with native bf16
    matmuls (AMX or AVX-512 BF16), else off),
    'bf16', 'fp16', or 'off'.
    """
    if amp == "off":
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    if amp != "auto":
        raise ValueError(f"amp must be one of auto, bf16, fp16, off; got {amp!r}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for (device, dtype); a null context when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU torch.Generator seeded with `seed`."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The kit's git commit; '+dirty' when tracked code outside reports/ is modified."""
    from mumae_core.paths import repo_root

    cwd = cwd or repo_root()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            # generated reports are outputs, not code: rewriting them does not make the code dirty
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"],
            cwd=cwd,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def environment_info() -> dict:
    """Machine and version facts recorded in config.json, reports and benchmarks."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "amx_bf16": cpu_has_amx_bf16(),
        "fast_bf16": cpu_has_fast_bf16(),
        "cuda": torch.cuda.is_available(),
        "git_commit": git_commit(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
