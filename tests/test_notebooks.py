"""The six notebooks: committed without outputs with a `parameters` cell, in sync with notebooks/_build.py,
and each one executes in the smoke profile (papermill, in order, sharing one temp data / runs / report
dir) and writes its metrics JSON and at least one figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

from mumae_core import nbparams
from mumae_core.report import pick_kernel

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
PRESENT = [nb for nb in nbparams.NOTEBOOKS if (NB_DIR / f"{nb}.ipynb").is_file()]

# What each notebook needs from the rest of the kit; it is skipped (with the reason) while one is absent.
NEEDS = {
    "00_tour": (
        "mumae_core.data.synthact",
        "mumae_core.data.build",
        "mumae_core.masking",
        "mumae_core.models.mae",
    ),
    "01_pretrain": ("mumae_core.train.pretrain", "mumae_core.train.checkpoint"),
    "02_one_shot": ("mumae_core.train.oneshot", "mumae_core.stats", "mumae_core.models.oneshot"),
    "03_reconstructions": ("mumae_core.train.checkpoint",),
    "04_attention_maps": ("mumae_core.models.fusion", "mumae_core.train.oneshot"),
    "05_ablations": ("mumae_core.stats", "mumae_core.train.oneshot", "mumae_core.data.episodes"),
}
SPLIT_FILES = [ROOT / "splits" / "synthact" / f"{k}_classes.txt" for k in ("base", "novel", "val")]


def _missing(nb: str) -> list[str]:
    miss = [m for m in NEEDS.get(nb, ()) if importlib.util.find_spec(m) is None]
    miss += [str(p.relative_to(ROOT)) for p in SPLIT_FILES if not p.is_file()]
    return miss


def test_notebooks_present():
    assert PRESENT, "no notebooks in notebooks/"
    extra = sorted(p.stem for p in NB_DIR.glob("*.ipynb") if p.stem not in nbparams.NOTEBOOKS)
    assert not extra, f"notebooks not run by the report: {extra}"


@pytest.mark.parametrize("nb", PRESENT)
def test_committed_clean_with_parameters_cell(nb):
    book = nbformat.read(str(NB_DIR / f"{nb}.ipynb"), as_version=4)
    assert book.metadata["kernelspec"]["name"] == "python3"
    for i, c in enumerate(book.cells):
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{nb}: cell {i} has outputs (strip them)"
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{nb}: needs exactly one cell tagged 'parameters'"
    # every parameter the report passes that the notebook declares must be a plain assignment there
    for name in ("profile", "out_dir", "figures_dir", "metrics_path", "seed"):
        assert f"{name} =" in tagged[0].source, f"{nb}: parameters cell lacks {name}"


def test_notebooks_match_build_script(tmp_path, monkeypatch):
    sys.path.insert(0, str(NB_DIR))
    try:
        import _build
    finally:
        sys.path.remove(str(NB_DIR))
    monkeypatch.setattr(_build, "HERE", tmp_path)
    for path in _build.build():
        fresh = nbformat.read(str(path), as_version=4)
        committed = nbformat.read(str(NB_DIR / path.name), as_version=4)
        assert [c.source for c in fresh.cells] == [c.source for c in committed.cells], (
            f"{path.name} differs from notebooks/_build.py: run `python notebooks/_build.py`"
        )


# ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def smoke_env(tmp_path_factory):
    """One temp data / runs / report dir for the session; the smoke SynthAct generated once into it."""
    root = tmp_path_factory.mktemp("nb_smoke")
    data, runs, out = root / "data", root / "runs", root / "report"
    old = os.environ.get("MUMAE_DATA")
    os.environ["MUMAE_DATA"] = str(data)  # the kernels inherit it
    state = {"data": data, "runs": runs, "out": out, "done": {}, "kernel": pick_kernel()}
    yield state
    if old is None:
        os.environ.pop("MUMAE_DATA", None)
    else:
        os.environ["MUMAE_DATA"] = old


def _execute(nb: str, env: dict) -> tuple[str, float]:
    """Execute `nb` once per session (after the notebooks it needs); ('ok' | error, seconds)."""
    import papermill

    if nb in env["done"]:
        return env["done"][nb]
    for dep in nbparams.DEPENDS.get(nb, ()):
        status, _ = _execute(dep, env)
        if status != "ok":
            env["done"][nb] = (f"dependency {dep} failed: {status}", 0.0)
            return env["done"][nb]
    params = nbparams.report_parameters("smoke", env["out"], data_dir=env["data"], runs_dir=env["runs"])[nb]
    env["out"].mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(NB_DIR / f"{nb}.ipynb"), str(env["out"] / f"{nb}.ipynb"), parameters=params,
            kernel_name=env["kernel"], progress_bar=False, cwd=str(NB_DIR),
        )  # fmt: skip
        status = "ok"
    except Exception as e:  # noqa: BLE001 - reported by the test with the notebook's error
        status = f"{type(e).__name__}: {e}"
    env["done"][nb] = (status, time.perf_counter() - t0)
    return env["done"][nb]


@pytest.mark.slow
@pytest.mark.parametrize("nb", PRESENT)
def test_notebook_executes_in_smoke_profile(nb, smoke_env):
    missing = _missing(nb) + [m for d in nbparams.DEPENDS.get(nb, ()) for m in _missing(d)]
    if missing:
        pytest.skip(f"{nb} needs {sorted(set(missing))}, not yet in the tree")
    status, seconds = _execute(nb, smoke_env)
    assert status == "ok", f"{nb} failed in the smoke profile: {status}"
    out = smoke_env["out"]
    metrics = out / "metrics" / f"{nb}.json"
    assert metrics.is_file(), f"{nb} wrote no metrics JSON"
    doc = json.loads(metrics.read_text())
    assert doc["notebook"] == nb and doc["profile"] == "smoke"
    figs = list((out / "figures").glob(f"{nb[:2]}_*.png"))
    assert figs, f"{nb} saved no figure"
    # The 2-minute smoke budget is tracked in the report's index.md timings, not asserted here:
    # timed tests are flaky on shared machines.
    print(f"{nb}: {seconds:.1f} s")
