"""Helpers for the hardening tests: a SynthAct smoke tree shared by the session, the real `mumae` console
script run in a subprocess, and fault injection in that subprocess through a `sitecustomize` module.

Faults (`MUMAE_TEST_FAULT=kind:arg`, read by the sitecustomize written by `fault_dir`):
    kill_in_forward:N   SIGKILL the process at the N-th model forward (mid optimizer step)
    kill_in_save:N      the N-th torch.save writes half its bytes, then SIGKILL (a kill while writing)
    enospc_in_save:N    the N-th torch.save writes half its bytes, then raises OSError(ENOSPC) (a full disk)
    readonly:DIR        every write under DIR raises OSError(EROFS) (a read-only folder, also as root)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

MUMAE = Path(sys.executable).with_name("mumae")

SITECUSTOMIZE = """
import os

_fault = os.environ.get("MUMAE_TEST_FAULT", "")
if _fault:
    import builtins, errno, io, signal

    _kind, _, _arg = _fault.partition(":")
    if _kind in ("kill_in_save", "enospc_in_save"):
        import torch

        _real_save, _calls = torch.save, [0]

        def _save(obj, f, *a, **k):
            _calls[0] += 1
            if _calls[0] != int(_arg):
                return _real_save(obj, f, *a, **k)
            _real_save(obj, f, *a, **k)
            f.flush()
            f.truncate(f.tell() // 2)
            if _kind == "kill_in_save":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(errno.ENOSPC, "No space left on device")

        torch.save = _save
    elif _kind == "kill_in_forward":
        from mumae_core.models import mae

        _real_forward, _calls = mae.MultimodalMAE.forward, [0]

        def _forward(self, *a, **k):
            _calls[0] += 1
            if _calls[0] == int(_arg):
                os.kill(os.getpid(), signal.SIGKILL)
            return _real_forward(self, *a, **k)

        mae.MultimodalMAE.forward = _forward
    elif _kind == "readonly":
        _ro = os.path.abspath(_arg)

        def _guard(path):
            p = os.path.abspath(os.fspath(path))
            if p == _ro or p.startswith(_ro + os.sep):
                raise OSError(errno.EROFS, "Read-only file system", p)

        _open = builtins.open

        def _ro_open(file, mode="r", *a, **k):
            if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+"):
                _guard(file)
            return _open(file, mode, *a, **k)

        builtins.open = io.open = _ro_open
        for _name in ("mkdir", "replace", "rename", "link"):
            def _wrap(real, name=_name):
                def f(src, *a, **k):
                    _guard(src)
                    if name in ("replace", "rename", "link") and a:
                        _guard(a[0])
                    return real(src, *a, **k)
                return f
            setattr(os, _name, _wrap(getattr(os, _name)))
"""


def synth_smoke(base: Path) -> Path:
    """The SynthAct smoke tree under `base` (written once per test session, ~20 s on 2 cores)."""
    root = base / "synthact-smoke"
    if not (root / "synthact.json").is_file():
        from mumae_core.data.synthact import generate

        generate(out=root, size="smoke", seed=0, workers=1, progress=False)
    return root


def fault_dir(base: Path) -> Path:
    d = base / "fault-site"
    d.mkdir(exist_ok=True)
    (d / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return d


def mumae(args: list[str], data_home: Path, fault: str | None = None, site: Path | None = None):
    """Run `.venv/bin/mumae args` -> CompletedProcess (text). `fault` needs `site` (from fault_dir)."""
    env = dict(os.environ, MUMAE_DATA=str(data_home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("MUMAE_TEST_FAULT", None)
    if fault:
        env["MUMAE_TEST_FAULT"] = fault
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return subprocess.run([str(MUMAE), *args], capture_output=True, text=True, env=env, timeout=600)


def error_line(r: subprocess.CompletedProcess, command: str) -> str:
    """The one error line of a failed run: exit 2, no traceback, `mumae <command>: error: ...`."""
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(f"mumae {command}: error: ")]
    assert len(lines) == 1, r.stderr[-3000:]
    return lines[0]


def weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def same_state(a: Path, b: Path) -> bool:
    """Model weights, optimizer state and step of two checkpoints are bit-identical."""
    x, y = weights(a), weights(b)
    if x["step"] != y["step"] or x["model"].keys() != y["model"].keys():
        return False
    if not all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"]):
        return False
    ox, oy = x["optimizer"]["state"], y["optimizer"]["state"]
    return ox.keys() == oy.keys() and all(
        torch.equal(ox[k][n], oy[k][n]) for k in ox for n in ox[k] if torch.is_tensor(ox[k][n])
    )


def metrics(run: Path) -> list[dict]:
    """metrics.jsonl rows without the wall-clock column."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]
