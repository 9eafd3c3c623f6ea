"""`mumae report` machinery on tiny fake notebooks: failures, skips, missing notebooks, links in index.md."""

from __future__ import annotations

import datetime as dt
import json
import re

import jupytext
import nbformat
import pytest

from mumae_core.metrics import read_metrics, write_metrics
from mumae_core.report import (
    NotebookResult,
    _this_run,
    _when,
    path_roots,
    rows_to_markdown,
    run_report,
    scrub_text,
)


def _nb(*cells: str, params: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


PARAMS = "profile = 'smoke'\noverrides = []\nout_dir = None\ndata_dir = None\nruns_dir = None\n"

OK_CELLS = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nfrom pathlib import Path\n"
    "seed = 0\nfigures_dir, tables_dir = Path(out_dir) / 'figures', Path(out_dir) / 'tables'\n"
    "metrics_path = Path(out_dir) / 'metrics' / '00_tour.json'",
    "fig, ax = plt.subplots()\nax.plot([0, 1], [seed, 1])\n"
    "Path(figures_dir).mkdir(parents=True, exist_ok=True)\n"
    "fig.savefig(Path(figures_dir) / '00_tour_line.png')\n"
    "for name in ('01_pretrain_synthact_losses', '02_one_shot_synthact_rows',\n"
    "             '05_ablations_SynthAct_fusion'):\n"
    "    fig.savefig(Path(figures_dir) / f'{name}.png')",
    # what real notebooks do: print their paths, show a Path as a cell's value, say a run was reused
    "print('reusing the finished pretraining run', Path(runs_dir) / 'mumae')\n"
    "print({'figures_dir': figures_dir, 'data_dir': data_dir})\nPath(figures_dir).resolve()",
    "Path(tables_dir).mkdir(parents=True, exist_ok=True)\n"
    "(Path(tables_dir) / '00_tour_t.csv').write_text('a\\n1\\n')",
    "from mumae_core.metrics import write_metrics\n"
    "write_metrics(metrics_path, '00_tour', profile, metrics={'answer': 42},\n"
    "              headline=[{'dataset': 'synthact', 'model': 'fake', 'accuracy': 50.0, 'ci95': 10.0}],\n"
    "              runs={'synthact': str(Path(runs_dir) / 'mumae')})",
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
    (bench / "data.json").write_text(
        json.dumps(
            {
                "benchmark": "data",
                "load_average_1min": {"before": 1.5, "after": 1.75},
                "source": f"existing SynthAct at {root / 'data'}",
                "rows": [
                    {"stage": "pretrain", "modalities": "all", "cache": False, "clips_per_s": 153.75},
                    {"stage": "pretrain", "modalities": "all", "cache": True, "clips_per_s": 2400.4},
                ],
            }
        )
    )
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
    return code, out, root


def test_exit_code_nonzero_on_failure(report):
    code, _, _ = report
    assert code == 1


def test_index_lists_failure_with_cell_and_error(report):
    _, out, _ = report
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
    _, out, _ = report
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
    _, out, _ = report
    m = read_metrics(out / "metrics" / "00_tour.json")
    assert m["metrics"]["answer"] == 42
    index = (out / "index.md").read_text()
    assert "50.0 ± 10.0 %" in index
    assert "synthetic" in index.lower()
    assert "clips_per_s" in index
    assert "git_commit" in index


def test_index_links_exist(report):
    _, out, _ = report
    index = (out / "index.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", index)
    assert "00_tour.ipynb" in links and "00_tour.html" in links
    assert "figures/00_tour_line.png" in links and "tables/00_tour_t.csv" in links
    for link in links:
        assert (out / link).is_file(), f"index.md links to {link}, which does not exist"


def test_only_keeps_previous_status(report):
    code, out, _ = report
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
        bench_dir=out.parent / "bench",
    )
    assert code == 0
    status = json.loads((out / "status.json").read_text())["notebooks"]
    assert status["00_tour"]["status"] == "ok" and status["01_pretrain"]["status"] == "failed"
    # the time line counts only what this invocation executed and names what it kept
    first = (out / "index.md").read_text().split("\n> ")[0]
    assert "executed 1 notebook in" in first
    assert "Kept from an earlier run (not executed now): 01_pretrain" in first


def test_this_run_within_one_second():
    """A notebook of the previous invocation that started earlier in the same second as this invocation (a
    fast `--only` re-run) is kept, not this run's; the index still shows its time to the second."""
    started = dt.datetime(2026, 12, 6, 18, 6, 41, 900_000, tzinfo=dt.timezone.utc)
    before = NotebookResult("01_pretrain", executed_at=(started - dt.timedelta(milliseconds=500)).isoformat())
    after = NotebookResult("00_tour", executed_at=(started + dt.timedelta(milliseconds=50)).isoformat())
    assert not _this_run(before, started) and _this_run(after, started)
    assert _when(before) == "2026-12-06T18:06:41+00:00" and _when(NotebookResult("x")) is None
    # a status.json written before timestamps had microseconds: an earlier second is kept, as before
    old = NotebookResult("01_pretrain", executed_at="2026-12-06T18:06:40+00:00")
    assert not _this_run(old, started) and _when(old) == "2026-12-06T18:06:40+00:00"
    odd = NotebookResult("01_pretrain", executed_at=20261206)  # not a time: kept, and shown as it is
    assert not _this_run(odd, started) and _when(odd) == "20261206"


def test_write_metrics_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="metrics.accuracy"):
        write_metrics(tmp_path / "m.json", "x", "smoke", accuracy=float("nan"))


def test_rows_to_markdown():
    md = rows_to_markdown([{"row": "a", "accuracy": 25.0, "ci95": 5.0}, {"row": "b|c", "n": 3}])
    lines = md.splitlines()
    assert lines[0] == "| row | n | accuracy ± 95% CI |"
    assert "25.0 ± 5.0 %" in lines[2]
    assert "b\\|c" in lines[3]


def test_no_absolute_path_in_any_report_file(report):
    """Executed notebooks (papermill's injected parameters and metadata, printed paths, a Path shown as a
    cell's value), HTML, metrics JSON, status.json and index.md: none holds the machine's temp dir."""
    _, out, root = report
    needles = {str(root), str(root.resolve())}
    files = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".ipynb", ".html", ".json", ".md")]
    assert {p.name for p in files} >= {
        "00_tour.ipynb",
        "00_tour.html",
        "00_tour.json",
        "index.md",
        "status.json",
    }
    for p in files:
        text = p.read_text(encoding="utf-8")
        for needle in needles:
            assert needle not in text, f"{p.relative_to(out)} contains the absolute path {needle}"
    # the paths became relative to the report folder, so they still say where things are
    m = read_metrics(out / "metrics" / "00_tour.json")
    assert m["runs"]["synthact"] == "../runs/mumae"
    nb = (out / "00_tour.ipynb").read_text()
    assert "reusing the finished pretraining run ../runs/mumae" in nb
    assert "PosixPath('./figures')" in nb


def test_index_shows_benchmark_numbers_and_load(report):
    _, out, _ = report
    index = (out / "index.md").read_text()
    bench = index.split("## Benchmarks")[1].split("## Machine")[0]
    assert "| stage | modalities | cache | clips_per_s |" in bench
    assert "| pretrain | all | True | 2400 |" in bench and "153.8" in bench
    assert "load average (1 min) before 1.50, after 1.75" in bench
    assert "12.5" in bench  # an older file with a `results` key still shows its numbers


def test_index_embeds_key_figures_and_says_what_was_reused(report):
    _, out, _ = report
    index = (out / "index.md").read_text()
    for name in ("02_one_shot_synthact_rows", "01_pretrain_synthact_losses", "05_ablations_SynthAct_fusion"):
        assert re.search(rf"!\[[^\]]*\]\(figures/{name}\.png\)", index), name
    assert not re.search(r"!\[[^\]]*\]\(figures/00_tour_line\.png\)", index)  # others are only linked
    head = index.split("\n> ")[0]
    assert "do not include training the runs that were reused" in head
    assert "00_tour reused 1 run" in head


def test_scrub_text_rewrites_whole_path_prefixes_only(tmp_path):
    out = tmp_path / "reports" / "smoke"
    roots = path_roots(out, tmp_path / "data", tmp_path / "runs", "/")  # "/" itself is never a root
    assert "/" not in roots
    text = (
        f"{out}/figures/a.png | {tmp_path / 'runs'}/mumae | {tmp_path / 'runs-old'} | "
        f"PosixPath('{tmp_path / 'data'}') | a / b"
    )
    got = scrub_text(text, roots)
    assert got == "./figures/a.png | ../../runs/mumae | ../../runs-old | PosixPath('../../data') | a / b"
