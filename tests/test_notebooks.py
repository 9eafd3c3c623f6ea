"""The notebooks: jupytext percent-format sources (`notebooks/<nb>.py`) with one `parameters` cell, that
round-trip through JupyterLab's paired .ipynb, and that each execute in the smoke profile (papermill, in
order, sharing one temp data / runs / report dir) and write their metrics JSON and at least one figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

from mumae_core import notebook
from mumae_core.report import build_notebook, pick_kernel

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"


def _source(nb: str) -> Path:
    return NB_DIR / f"{nb}.py"


def test_every_notebook_has_a_source_and_no_other_exists():
    missing = [nb for nb in notebook.NOTEBOOKS if not _source(nb).is_file()]
    assert not missing, f"notebooks without a source: {missing}"
    extra = sorted(p.stem for p in NB_DIR.glob("*.py") if p.stem not in notebook.NOTEBOOKS)
    assert not extra, f"notebook sources the report does not run: {extra}"
    assert not (NB_DIR / "_build.py").exists()


@pytest.mark.parametrize("nb", notebook.NOTEBOOKS)
def test_source_has_one_parameters_cell_and_the_kit_kernel(nb):
    book = jupytext.read(str(_source(nb)))
    assert book.metadata["kernelspec"]["name"] == "mumae"
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{nb}: needs exactly one cell tagged 'parameters'"
    assigned = {ln.split("=")[0].strip() for ln in tagged[0].source.splitlines() if "=" in ln}
    assert set(notebook.PARAMETERS) <= assigned, (
        f"{nb}: parameters cell lacks {set(notebook.PARAMETERS) - assigned}"
    )
    assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code")


@pytest.mark.parametrize("nb", notebook.NOTEBOOKS)
def test_a_notebook_saved_from_jupyterlab_round_trips(nb, tmp_path):
    """JupyterLab (with jupytext) saves the paired .ipynb with outputs and rewrites the .py: the .py must come
    back identical, and the .ipynb is ignored by git and ruff, so a save cannot break `make test`."""
    book = jupytext.read(str(_source(nb)))
    for c in book.cells:
        if c.cell_type == "code":
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an output\n")]
            c.execution_count = 1
    saved = tmp_path / f"{nb}.ipynb"
    nbformat.write(book, str(saved))
    again = jupytext.writes(jupytext.read(str(saved)), fmt="py:percent")
    versionless = lambda t: [ln for ln in t.splitlines() if "jupytext_version" not in ln]  # noqa: E731
    assert versionless(again) == versionless(_source(nb).read_text()), f"{nb}: the .py changes when saved"
    ignored = subprocess.run(["git", "check-ignore", "-q", f"notebooks/{nb}.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "notebooks/*.ipynb must be git-ignored (they are built or saved by Lab)"


# ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def smoke_env(tmp_path_factory):
    """One temp data / runs / report dir for the session; the smoke SynthAct generated once into it."""
    root = tmp_path_factory.mktemp("nb_smoke")
    data, runs, out = root / "data", root / "runs", root / "report"
    old = os.environ.get("MUMAE_DATA")
    os.environ["MUMAE_DATA"] = str(data)  # the kernels inherit it
    state = {"root": root, "data": data, "runs": runs, "out": out, "done": {}, "kernel": pick_kernel()}
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
    for dep in notebook.DEPENDS.get(nb, ()):
        status, _ = _execute(dep, env)
        if status != "ok":
            env["done"][nb] = (f"dependency {dep} failed: {status}", 0.0)
            return env["done"][nb]
    params = notebook.parameters("smoke", env["out"], data_dir=env["data"], runs_dir=env["runs"])
    env["out"].mkdir(parents=True, exist_ok=True)
    src = build_notebook(_source(nb), env["root"] / "src" / f"{nb}.ipynb")
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(src), str(env["out"] / f"{nb}.ipynb"), parameters=params,
            kernel_name=env["kernel"], progress_bar=False, cwd=str(NB_DIR),
        )  # fmt: skip
        status = "ok"
    except Exception as e:  # noqa: BLE001 - reported by the test with the notebook's error
        status = f"{type(e).__name__}: {e}"
    env["done"][nb] = (status, time.perf_counter() - t0)
    return env["done"][nb]


@pytest.mark.slow
@pytest.mark.parametrize("nb", notebook.NOTEBOOKS)
def test_notebook_executes_in_smoke_profile(nb, smoke_env):
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


@pytest.mark.slow
def test_tour_names_a_clip_index_out_of_range(smoke_env):
    """papermill -p clip_index 100000: a clear error naming the parameter, not a bare IndexError."""
    import papermill

    _execute("00_tour", smoke_env)  # the smoke data exists after it
    params = dict(
        notebook.parameters("smoke", smoke_env["root"] / "bad", data_dir=smoke_env["data"]), clip_index=100000
    )
    src = build_notebook(_source("00_tour"), smoke_env["root"] / "src" / "00_tour_bad.ipynb")
    with pytest.raises(papermill.PapermillExecutionError) as e:
        papermill.execute_notebook(
            str(src), str(smoke_env["root"] / "bad.ipynb"), parameters=params,
            kernel_name=smoke_env["kernel"], progress_bar=False, cwd=str(NB_DIR),
        )  # fmt: skip
    assert e.value.ename == "ConfigError" and "clip_index=100000" in e.value.evalue
