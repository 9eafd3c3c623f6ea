"""`mumae report` machinery on tiny fake notebooks: failures, skips, missing notebooks, links in index.md."""

from __future__ import annotations

import json
import re

import jupytext
import nbformat
import pytest

from mumae_core.metrics import read_metrics, write_metrics
from mumae_core.report import rows_to_markdown, run_report


def _nb(*cells: str, params: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


PARAMS = "profile = 'smoke'\noverrides = []\nout_dir = None\n"

OK_CELLS = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nfrom pathlib import Path\n"
    "seed = 0\nfigures_dir, tables_dir = Path(out_dir) / 'figures', Path(out_dir) / 'tables'\n"
    "metrics_path = Path(out_dir) / 'metrics' / '00_tour.json'",
    "fig, ax = plt.subplots()\nax.plot([0, 1], [seed, 1])\n"
    "Path(figures_dir).mkdir(parents=True, exist_ok=True)\n"
    "fig.savefig(Path(figures_dir) / '00_tour_line.png')",
    "Path(tables_dir).mkdir(parents=True, exist_ok=True)\n"
    "(Path(tables_dir) / '00_tour_t.csv').write_text('a\\n1\\n')",
    "from mumae_core.metrics import write_metrics\n"
    "write_metrics(metrics_path, '00_tour', profile, metrics={'answer': 42},\n"
    "              headline=[{'dataset': 'synthact', 'model': 'fake', 'accuracy': 50.0, 'ci95': 10.0}])",
)
FAIL_CELLS = ("x = 1", "raise ValueError('boom in the fake pretraining')", "print('never')")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    nbdir = root / "notebooks"
    nbdir.mkdir()
    jupytext.write(_nb(*OK_CELLS, params=PARAMS), str(nbdir / "00_tour.py"), fmt="py:percent")
    jupytext.write(_nb(*FAIL_CELLS, params=PARAMS), str(nbdir / "01_pretrain.py"), fmt="py:percent")
    # 03 needs 01's outputs: it must be skipped, not run. 02, 04, 05 do not exist.
    jupytext.write(
        _nb("print('should not run')", params=PARAMS), str(nbdir / "03_reconstructions.py"), fmt="py:percent"
    )
    out = root / "out"
    bench = root / "bench"
    bench.mkdir()
    (bench / "pretrain.json").write_text(json.dumps({"results": [{"size": "tiny", "clips_per_s": 12.5}]}))
    code = run_report(
        "smoke",
        out=out,
        notebooks_dir=nbdir,
        kernel_name="python3",
        data_dir=root / "data",
        runs_dir=root / "runs",
        progress=False,
        bench_dir=bench,
    )
    return code, out


def test_exit_code_nonzero_on_failure(report):
    code, _ = report
    assert code == 1


def test_index_lists_failure_with_cell_and_error(report):
    _, out = report
    index = (out / "index.md").read_text()
    assert "01_pretrain failed at cell" in index
    assert "ValueError: boom in the fake pretraining" in index
    assert "raise ValueError('boom in the fake pretraining')" in index
    status = json.loads((out / "status.json").read_text())["notebooks"]
    assert status["01_pretrain"]["status"] == "failed"
    # the execution count named in the index is the cell that raised in the executed notebook
    executed = nbformat.read(str(out / "01_pretrain.ipynb"), as_version=4)
    n = status["01_pretrain"]["exec_count"]
    assert f"In [{n}]" in index
    cell = next(c for c in executed.cells if c.cell_type == "code" and c.execution_count == n)
    assert "boom" in cell.source and any(o.get("ename") == "ValueError" for o in cell.outputs)


def test_missing_and_skipped(report):
    _, out = report
    index = (out / "index.md").read_text()
    status = json.loads((out / "status.json").read_text())["notebooks"]
    for nb in ("02_one_shot", "04_attention_maps", "05_ablations"):
        assert status[nb]["status"] == "not yet available"
        assert re.search(rf"\| {nb} \| not yet available", index)
    assert status["03_reconstructions"]["status"] == "skipped"
    assert "01_pretrain" in status["03_reconstructions"]["reason"]
    assert not (out / "03_reconstructions.ipynb").exists()
    assert status["00_tour"]["status"] == "ok"


def test_metrics_headline_and_benchmarks_in_index(report):
    _, out = report
    m = read_metrics(out / "metrics" / "00_tour.json")
    assert m["metrics"]["answer"] == 42
    index = (out / "index.md").read_text()
    assert "50.0 ± 10.0 %" in index
    assert "synthetic" in index.lower()
    assert "clips_per_s" in index
    assert "git_commit" in index


def test_index_links_exist(report):
    _, out = report
    index = (out / "index.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", index)
    assert "00_tour.ipynb" in links and "00_tour.html" in links
    assert "figures/00_tour_line.png" in links and "tables/00_tour_t.csv" in links
    for link in links:
        assert (out / link).is_file(), f"index.md links to {link}, which does not exist"


def test_only_keeps_previous_status(report, tmp_path):
    code, out = report
    # re-run only the tour: 01's previous failure is kept in the index, the tour's rerun succeeds
    nbdir = out.parent / "notebooks"
    code = run_report(
        "smoke",
        out=out,
        only=["00"],
        notebooks_dir=nbdir,
        kernel_name="python3",
        data_dir=out.parent / "data",
        runs_dir=out.parent / "runs",
        progress=False,
        bench_dir=tmp_path,
    )
    assert code == 0
    status = json.loads((out / "status.json").read_text())["notebooks"]
    assert status["00_tour"]["status"] == "ok" and status["01_pretrain"]["status"] == "failed"


def test_write_metrics_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="metrics.accuracy"):
        write_metrics(tmp_path / "m.json", "x", "smoke", accuracy=float("nan"))


def test_rows_to_markdown():
    md = rows_to_markdown([{"row": "a", "accuracy": 25.0, "ci95": 5.0}, {"row": "b|c", "n": 3}])
    lines = md.splitlines()
    assert lines[0] == "| row | n | accuracy ± 95% CI |"
    assert "25.0 ± 5.0 %" in lines[2]
    assert "b\\|c" in lines[3]
