"""mumae_core.progress: one summary line per bar in non-interactive runs, live tqdm bars elsewhere."""

from __future__ import annotations

import os
import re
import warnings

import pytest
from tqdm.std import tqdm as std_tqdm

from mumae_core import progress as P

LINE = re.compile(r"^(?P<desc>[^:]+): (?P<count>\d+(/\d+)?) (?P<unit>\S+) in [\d.]+ s \([\d.,]+ \S+/s\)")


@pytest.fixture
def plain(monkeypatch):
    monkeypatch.setenv(P.ENV, "plain")


def test_plain_iterable_prints_one_line(plain, capsys):
    for _ in P.progress(range(40), desc="SynthAct smoke", unit="rec"):
        pass
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1 and err == ""
    m = LINE.match(lines[0])
    assert m, lines[0]
    assert m["desc"] == "SynthAct smoke" and m["count"] == "40/40" and m["unit"] == "rec"


def test_plain_manual_bar_once_with_postfix(plain, capsys):
    bar = P.progress(total=10, desc="pretrain", unit="step", leave=False, dynamic_ncols=True)
    for _ in range(7):
        bar.update(1)
        bar.set_postfix(loss="0.1234", refresh=False)
    bar.close()
    bar.close()  # a second close (finally blocks) prints nothing more
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pretrain: 7/10 step in ") and "loss=0.1234" in lines[0]


def test_plain_context_manager_and_unknown_total(plain, capsys):
    with P.progress(desc="encode clips") as bar:
        bar.update(3)
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1 and LINE.match(lines[0])
    assert lines[0].startswith("encode clips: 3 it in ")


def test_disabled_and_off_print_nothing(monkeypatch, capsys):
    monkeypatch.setenv(P.ENV, "plain")
    for _ in P.progress(range(3), desc="x", disable=True):
        pass
    monkeypatch.setenv(P.ENV, "off")
    bar = P.progress(total=2, desc="y")
    bar.update(2)
    bar.close()
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_mode_detection(monkeypatch):
    monkeypatch.delenv(P.ENV, raising=False)
    monkeypatch.delenv(P.PAPERMILL_ENV, raising=False)
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.setattr(P, "_in_jupyter_kernel", lambda: False)
    # pytest captures stderr: not a tty -> a log file / CI run -> plain
    assert P.progress_mode() == "plain"
    monkeypatch.setattr(P, "_in_jupyter_kernel", lambda: True)
    assert P.progress_mode() == "live"
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert P.progress_mode() == "live"
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")  # "Save & Run All": no live frontend
    assert P.progress_mode() == "plain"
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    monkeypatch.setenv(P.PAPERMILL_ENV, "1")
    assert P.progress_mode() == "plain"
    monkeypatch.setenv(P.ENV, "live")
    assert P.progress_mode() == "live"


def test_jupyter_without_ipywidgets_falls_back_silently(monkeypatch):
    """A kernel with no ipywidgets gets tqdm's text bar and no `TqdmWarning: IProgress not found`."""
    monkeypatch.setenv(P.ENV, "live")
    monkeypatch.setattr(P, "_in_jupyter_kernel", lambda: True)
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda name: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = P.progress(total=2, desc="live")
        bar.update(2)
        bar.close()
    assert type(bar) is std_tqdm


def test_live_terminal_is_tqdm(monkeypatch):
    monkeypatch.setenv(P.ENV, "live")
    monkeypatch.setattr(P, "_in_jupyter_kernel", lambda: False)
    bar = P.progress(range(2), desc="t")
    assert type(bar) is std_tqdm and not isinstance(bar, P.PlainBar)
    list(bar)


@pytest.mark.slow
def test_report_notebook_has_one_line_per_bar(tmp_path, monkeypatch):
    """The tour under `mumae report` (papermill) generates smoke SynthAct: its executed notebook and HTML
    hold one summary line for that bar, no redraws, and no TqdmWarning anywhere."""
    import nbformat

    from mumae_core.report import pick_kernel, run_report

    data = tmp_path / "data"
    monkeypatch.setenv("MUMAE_DATA", str(data))  # the kernel inherits it: generation happens here
    monkeypatch.delenv(P.ENV, raising=False)  # the report sets it for its kernels, not the caller
    out = tmp_path / "out"
    code = run_report(
        "smoke",
        out=out,
        only=["00"],
        kernel_name=pick_kernel(),
        data_dir=data,
        runs_dir=tmp_path / "runs",
        progress=False,
        bench_dir=tmp_path / "no-bench",
    )
    assert code == 0, (out / "index.md").read_text()
    assert (data / "synthact-smoke" / "synthact.json").is_file()
    assert P.ENV not in os.environ  # restored after the run

    book = nbformat.read(str(out / "00_tour.ipynb"), as_version=4)
    streams = [
        o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "stream"
    ]
    text = "\n".join(o.get("text", "") for o in streams)
    assert "\r" not in text and "%|" not in text, "a tqdm bar redrew itself into the executed notebook"
    bar_lines = [ln for ln in text.splitlines() if LINE.match(ln)]
    descs = [LINE.match(ln)["desc"] for ln in bar_lines]
    assert descs.count("SynthAct smoke") == 1, bar_lines
    assert len(descs) == len(set(descs)), f"more than one line for a bar: {bar_lines}"

    html = (out / "00_tour.html").read_text(encoding="utf-8")
    assert html.count("SynthAct smoke:") == 1
    raw = (out / "00_tour.ipynb").read_text(encoding="utf-8")
    for doc in (raw, html):
        assert "TqdmWarning" not in doc and "IProgress" not in doc
