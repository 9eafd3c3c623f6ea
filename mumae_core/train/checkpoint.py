"""Checkpoints: atomic save, `weights_only=True` load, strict model loading with clear errors.

A pretraining checkpoint is a dict:
    model, optimizer, scaler     state dicts (model: the unwrapped MultimodalMAE, never the DDP wrapper)
    step                         optimizer steps done
    epoch, epoch_step            epoch of the next step and optimizer steps already done within it
    steps_per_epoch, world_size  the data layout it was written under (resume checks them)
    rng                          python / numpy / torch (/ cuda) RNG states of rank 0
    config                       Config.to_dict()
    elapsed, epoch_stats, format run bookkeeping

Save writes a temp file in the same directory and renames it over the target (`os.replace`), so a run killed
mid-write keeps the previous checkpoint. Pretraining also keeps the checkpoint before the last one
(`checkpoint-prev.pt`, rotated by hard link + rename) and resumes from it when `checkpoint-last.pt` is
unreadable; temp files of killed runs are removed at the next start (`remove_stale_temp_files`). A full disk
is an OSError(ENOSPC) naming the file, also where torch reports it as "unexpected pos". Load never runs
pickled code (`torch.load(weights_only=True)`); a refused file is reported as trying to run code.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mumae_core.config import Config
from mumae_core.errors import CheckpointError

FORMAT = 1
LAST = "checkpoint-last.pt"
PREV = "checkpoint-prev.pt"  # the checkpoint before LAST, kept as a fallback when LAST is unreadable
FINAL = "checkpoint-final.pt"
KEPT_PREFIX = "checkpoint-step"  # weights kept along a run (pretrain.keep_at): checkpoint-step000180.pt


def kept_name(step: int) -> str:
    """File name of the weights kept at optimizer step `step`."""
    return f"{KEPT_PREFIX}{step:06d}.pt"


def kept_checkpoints(run_dir: str | os.PathLike) -> dict[int, Path]:
    """{step: path} of the weights kept along a pretraining run (pretrain.keep_at), plus the final ones."""
    run = Path(run_dir)
    out = {int(p.stem[len(KEPT_PREFIX) :]): p for p in run.glob(f"{KEPT_PREFIX}*.pt")}
    if (run / FINAL).is_file():
        summary = run / "summary.json"  # its step count, without loading the weights and optimizer state
        steps = json.loads(summary.read_text())["steps"] if summary.is_file() else None
        out[int(steps if steps is not None else load_checkpoint(run / FINAL)["step"])] = run / FINAL
    return dict(sorted(out.items()))


def save_checkpoint(path: str | os.PathLike, state: dict, keep_previous: bool = False) -> None:
    """torch.save `state` to a temp file beside `path`, fsync, then os.replace over `path`.

    keep_previous: first make the current `path` (if any) the previous checkpoint (`checkpoint-prev.pt`
    for `checkpoint-last.pt`, see `previous_of`), by hard link + rename, so at every instant both a last and
    (after the second save) a previous good checkpoint exist. A full disk, which torch reports as
    "[enforce fail at inline_container.cc] unexpected pos", raises OSError(ENOSPC) naming the file; the
    old checkpoints are untouched and the temp file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        try:
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
        except RuntimeError as e:  # torch's zip writer turns a failed write into a RuntimeError
            if "inline_container" not in str(e) and "unexpected pos" not in str(e):
                raise
            raise _write_failure(path, tmp, e) from e
        except OSError as e:
            if e.filename is None:  # a failed write() does not say which file
                raise OSError(e.errno, e.strerror, str(path)) from e
            raise
        if keep_previous and path.exists():
            _rotate(path, previous_of(path))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def previous_of(path: str | os.PathLike) -> Path:
    """checkpoint-last.pt -> checkpoint-prev.pt (any other name: <stem>-prev<suffix>)."""
    path = Path(path)
    if path.name == LAST:
        return path.with_name(PREV)
    return path.with_name(f"{path.stem}-prev{path.suffix}")


def _rotate(path: Path, prev: Path) -> None:
    """Make `path` also `prev` without a moment with neither: hard link to a temp name, then rename;
    where hard links are not supported, copy."""
    tmp = prev.with_name(f".{prev.name}.tmp{os.getpid()}")
    try:
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, prev)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_failure(path: Path, tmp: Path, e: RuntimeError) -> OSError:
    """The OSError behind torch's "unexpected pos": ENOSPC when the disk has no room left, else EIO."""
    try:
        free = shutil.disk_usage(tmp.parent).free
        written = tmp.stat().st_size if tmp.exists() else 0
    except OSError:
        free, written = 0, 0
    full = free < max(written, 1 << 20)
    code = errno.ENOSPC if full else errno.EIO
    msg = "No space left on device" if full else f"write failed ({str(e).splitlines()[0][:200]})"
    return OSError(code, msg, str(path))


def remove_stale_temp_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete `.<name>.tmp<pid>` files left in `run_dir` by killed runs (each can be a whole checkpoint);
    files of a process that is still alive are kept. Returns the removed paths."""
    removed = []
    for p in Path(run_dir).glob(".*.tmp*"):
        m = _TEMP_RE.match(p.name)
        if m is None or (int(m.group(1)) != os.getpid() and _alive(int(m.group(1)))):
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


# temp files of the run directory's own writers: checkpoints, config.json, metrics.jsonl, summary.json
_TEMP_RE = re.compile(
    r"^\.(?:checkpoint-[\w.-]+\.pt|config\.json|metrics\.jsonl|summary\.json|write-test)\.tmp(\d+)$"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def copy_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Atomic copy of a checkpoint file (temp file + rename)."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """torch.load(path, weights_only=True); CheckpointError naming the file if it is missing or unreadable,
    or if it is refused for naming code to run."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(_refusal(path, e)) from None
    except Exception as e:  # noqa: BLE001 - any unpickling failure is reported the same way
        first = str(e).strip().splitlines()[0].split(". ")[0][:300] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated, corrupt or not a torch file): {first}"
        ) from e
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} is not a mumae checkpoint (no 'model' entry)")
    return state


def _refusal(path: Path, e: Exception) -> str:
    """The message for a pickle that weights_only refused: it names code to run. Torch's own advice (load
    with weights_only=False) is left out on purpose: for such a file that would run the code."""
    text = str(e)
    m = re.search(r"(?:GLOBAL|global:?)\s+([\w.]+)", text)
    what = f" ({m.group(1)})" if m else ""
    if "Weights only load failed" in text or "Unsupported" in text or m:
        return (
            f"checkpoint {path} was refused by torch.load(weights_only=True): the file tried to run code"
            f"{what}, which a checkpoint of weights never needs. Nothing in it ran. Do not load this file; "
            f"get the checkpoint again from a source you trust"
        )
    first = text.strip().splitlines()[0][:300] if text.strip() else type(e).__name__
    return f"checkpoint {path} cannot be unpickled (corrupt?): {first}"


def load_state_strict(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Load `state_dict` into `model` only if keys and shapes match exactly; otherwise load nothing and raise
    CheckpointError listing the missing, unexpected and shape-mismatched keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or shapes:
        parts = [f"{source} does not match {type(model).__name__}; nothing was loaded."]
        for name, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        ):
            if keys:
                shown = ", ".join(keys[:20]) + (f", ... ({len(keys) - 20} more)" if len(keys) > 20 else "")
                parts.append(f"{name} ({len(keys)}): {shown}")
        raise CheckpointError("\n  ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def find_checkpoint(run_dir_or_file: str | os.PathLike) -> Path:
    """A checkpoint file itself, or in a run directory checkpoint-final.pt, else checkpoint-last.pt."""
    p = Path(run_dir_or_file)
    if p.is_file():
        return p
    if p.is_dir():
        for name in (FINAL, LAST):
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"run directory {p} has neither {FINAL} nor {LAST}")
    raise CheckpointError(f"checkpoint path {p} does not exist")


def load_mae(run_dir_or_file: str | os.PathLike, cfg: Config | None = None, map_location="cpu"):
    """Build the MultimodalMAE a checkpoint was trained with and load its weights strictly.

    cfg: the Config to build with; None = the run's config.json (beside the checkpoint), else the config
    stored in the checkpoint. Returns (model in eval mode, cfg). Raises CheckpointError on any key or shape
    mismatch (never a partial load).
    """
    from mumae_core.models.mae import build_mae
    from mumae_core.train.runlog import CONFIG_FILE, read_config

    path = find_checkpoint(run_dir_or_file)
    state = load_checkpoint(path, map_location=map_location)
    if cfg is None:
        if (path.parent / CONFIG_FILE).is_file():
            cfg = read_config(path.parent)
        elif "config" in state:
            cfg = Config.from_dict(state["config"])
        else:
            raise CheckpointError(f"{path}: no config.json beside it and no config inside; pass cfg=")
        _portable_devices(cfg)
    model = build_mae(cfg)
    load_state_strict(model, state["model"], source=str(path))
    model.eval()
    return model, cfg


def _portable_devices(cfg: Config) -> None:
    """A run recorded with a device this machine lacks (pretrain.device=cuda, read on a CPU machine) is
    loaded with device 'auto': the device does not change the weights, and Config.validate() refuses an
    unavailable one."""
    from mumae_core.config import _device
    from mumae_core.errors import ConfigError

    for section in (cfg.pretrain, cfg.oneshot):
        try:
            _device("device", section.device)
        except ConfigError:
            section.device = "auto"


# ---------------------------------------------------------------------- RNG state
def rng_state() -> dict:
    """python / numpy / torch (and CUDA) global RNG states in a weights_only-loadable form."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"]).astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of rng_state()."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
