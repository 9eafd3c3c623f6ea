"""Provenance: the code version, each run's provenance.json, reuse only by the same code, index.md's table."""

import datetime as dt
import json
import shutil

import pytest
from test_oneshot import sensor_cfg, sensor_splits
from test_pretrain import _cfg, _Clips

from mumae_core import provenance, report, runs
from mumae_core.config import get_config
from mumae_core.metrics import read_metrics, write_metrics
from mumae_core.train.pretrain import pretrain

OTHER = "0123456789"  # a code version that is not this code's


@pytest.fixture(autouse=True)
def _fresh_registry():
    runs.clear_used_runs()
    yield
    runs.clear_used_runs()


def _fake_run(run_dir, version, files=("summary.json",)):
    """A run dir made by code `version` (None: made before provenance.json existed)."""
    run_dir.mkdir(parents=True)
    for f in files:
        (run_dir / f).write_text(json.dumps({"fake": f}))
    if version is not None:
        rec = {"commit": "f" * 40, "dirty": False, "code_version": version, "created": "2026-01-01T00:00:00Z"}
        (run_dir / provenance.PROVENANCE_FILE).write_text(json.dumps(rec))


def _fake_pretrain(calls):
    def fake(cfg, run_dir, progress=True):
        calls.append(sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else [])
        provenance.start_run(run_dir)
        summary = {"fresh": True}
        (run_dir / "summary.json").write_text(json.dumps(summary))
        return summary

    return fake


# ---------------------------------------------------------------------- code version
def test_code_version_follows_code_files_not_presentation_ones(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(provenance.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    v0 = provenance.code_version(pkg)
    assert v0 == provenance.code_version()  # contents, not the location, make the version
    (pkg / "viz" / "tables.py").write_text("# presentation only\n", encoding="utf-8")
    (pkg / "report.py").write_text("# presentation only\n", encoding="utf-8")
    provenance.code_version.cache_clear()
    assert provenance.code_version(pkg) == v0
    with open(pkg / "models" / "heads.py", "a", encoding="utf-8") as f:
        f.write("\n# a change that may move the numbers\n")
    provenance.code_version.cache_clear()
    assert provenance.code_version(pkg) != v0
    names = {p.relative_to(pkg).as_posix() for p in provenance.code_files(pkg)}
    assert "models/heads.py" in names and "train/pretrain.py" in names
    assert "report.py" not in names and not any(n.startswith(("viz/", "bench/")) for n in names)


def test_git_commit_is_a_pair_or_none():
    git = runs.git_commit()
    assert git is None or (len(git[0]) == 40 and isinstance(git[1], bool))


def test_git_commit_outside_a_checkout_is_none(monkeypatch):
    monkeypatch.setattr("mumae_core.paths.in_checkout", lambda: False)
    assert runs.git_commit() is None


# ---------------------------------------------------------------------- reuse by code version
def test_pretrain_reuses_only_a_run_made_by_this_code(tmp_path, monkeypatch):
    cfg = get_config("smoke")
    calls = []
    monkeypatch.setattr("mumae_core.train.pretrain.pretrain", _fake_pretrain(calls))
    run = tmp_path / runs.pretrain_id(cfg)
    _fake_run(run, runs.code_version())
    _, summary = runs.pretrain_or_reuse(cfg, tmp_path)
    assert calls == [] and summary == {"fake": "summary.json"}
    assert runs.used_runs()[0]["action"] == "reused"


@pytest.mark.parametrize("version", [OTHER, None])
def test_pretrain_with_another_code_version_is_set_aside_and_trained_again(
    tmp_path, monkeypatch, capsys, version
):
    cfg = get_config("smoke")
    calls = []
    monkeypatch.setattr("mumae_core.train.pretrain.pretrain", _fake_pretrain(calls))
    run = tmp_path / runs.pretrain_id(cfg)
    _fake_run(run, version)
    _, summary = runs.pretrain_or_reuse(cfg, tmp_path)
    assert calls == [[]] and summary == {"fresh": True}  # trained again in an empty dir
    tag = version or provenance.UNKNOWN
    kept = tmp_path / f"{run.name}.stale-{tag}"
    assert json.loads((kept / "summary.json").read_text()) == {"fake": "summary.json"}  # never deleted
    out = capsys.readouterr().out
    assert f"this code is {runs.code_version()}: training it again" in out
    assert not out.startswith("reusing")
    assert provenance.read(run)["code_version"] == runs.code_version()
    assert [(u["run"], u["action"]) for u in runs.used_runs()] == [(run.name, "made")]


def test_unfinished_pretraining_of_other_code_is_not_resumed(tmp_path, monkeypatch):
    cfg = get_config("smoke")
    calls = []
    monkeypatch.setattr("mumae_core.train.pretrain.pretrain", _fake_pretrain(calls))
    run = tmp_path / runs.pretrain_id(cfg)
    _fake_run(run, OTHER, files=("checkpoint-last.pt", "metrics.jsonl"))
    runs.pretrain_or_reuse(cfg, tmp_path)
    assert calls == [[]]  # the checkpoint was moved aside, not handed to pretrain to resume
    assert (tmp_path / f"{run.name}.stale-{OTHER}" / "checkpoint-last.pt").is_file()
    rec = provenance.read(run)
    (run / provenance.PROVENANCE_FILE).write_text(json.dumps({**rec, "code_version": OTHER}))
    runs.pretrain_or_reuse(cfg, tmp_path)  # a second stale copy does not overwrite the first
    assert (tmp_path / f"{run.name}.stale-{OTHER}" / "checkpoint-last.pt").is_file()
    assert (tmp_path / f"{run.name}.stale-{OTHER}-2" / "summary.json").is_file()


def test_a_resume_by_other_code_makes_the_run_stale(tmp_path):
    _fake_run(tmp_path / "r", runs.code_version(), files=("checkpoint-last.pt",))
    assert provenance.stale_reason(tmp_path / "r") is None
    rec = json.loads((tmp_path / "r" / provenance.PROVENANCE_FILE).read_text())
    rec["code_version"] = OTHER  # started by other code, resumed by this one
    (tmp_path / "r" / provenance.PROVENANCE_FILE).write_text(json.dumps(rec))
    provenance.note_resume(tmp_path / "r")
    assert provenance.versions(provenance.read(tmp_path / "r")) == {OTHER, runs.code_version()}
    assert "was made by code version" in provenance.stale_reason(tmp_path / "r")


def test_oneshot_reuses_only_a_run_made_by_this_code(tmp_path, monkeypatch):
    cfg = get_config("smoke")
    made = []

    def fake_train(cfg, mae, datasets, out_dir, progress, reps):
        made.append(out_dir)
        provenance.start_run(out_dir)
        (out_dir / "metrics.json").write_text(json.dumps({"test": {"accuracy": 50.0}}))
        return {"test": {"accuracy": 50.0}}

    monkeypatch.setattr("mumae_core.train.oneshot.train_oneshot", fake_train)
    out = tmp_path / runs.oneshot_id(cfg, None)
    _fake_run(out, OTHER, files=("metrics.json",))
    runs.oneshot_or_reuse(cfg, None, {}, tmp_path, progress=False)
    assert made == [out] and (tmp_path / f"{out.name}.stale-{OTHER}" / "metrics.json").is_file()
    again = runs.oneshot_or_reuse(cfg, None, {}, tmp_path, progress=False)
    assert made == [out] and again["test"]["accuracy"] == 50.0  # same code now: reused
    used = runs.used_runs()
    assert [(u["run"], u["kind"], u["action"]) for u in used] == [(out.name, "oneshot", "made")]
    assert used[0]["code_version"] == runs.code_version()


# ---------------------------------------------------------------------- real runs write provenance.json
def test_pretraining_and_oneshot_runs_write_provenance(tmp_path):
    cfg = _cfg("pretrain.epochs=1")
    s = pretrain(
        cfg, tmp_path / "pre", datasets={"train": _Clips(cfg, 16), "val": _Clips(cfg, 8, 1)}, progress=False
    )
    rec = provenance.read(tmp_path / "pre")
    assert rec["code_version"] == runs.code_version() and rec["created"].endswith("Z")
    assert set(rec) >= {"commit", "dirty", "code_version", "created", "mumae_core"}
    assert s["provenance"] == rec
    from mumae_core.train.oneshot import train_oneshot

    m = train_oneshot(sensor_cfg(), datasets=sensor_splits(), out_dir=tmp_path / "one", progress=False)
    assert m["provenance"] == provenance.read(tmp_path / "one")
    assert json.loads((tmp_path / "one" / "metrics.json").read_text())["provenance"]["code_version"] == (
        runs.code_version()
    )


# ---------------------------------------------------------------------- metrics and index.md
def test_write_metrics_records_the_used_runs_and_index_shows_them(tmp_path):
    _fake_run(tmp_path / "runs" / "pretrain-x-1", OTHER)
    runs.record_use(tmp_path / "runs" / "pretrain-x-1", "pretrain", "reused")
    _fake_run(tmp_path / "runs" / "oneshot-x-2", runs.code_version(), files=("metrics.json",))
    runs.record_use(tmp_path / "runs" / "oneshot-x-2", "oneshot", "made")
    out = tmp_path / "report"
    write_metrics(out / "metrics" / "02_one_shot.json", "02_one_shot", "smoke", metrics={"a": 1.0})
    m = read_metrics(out / "metrics" / "02_one_shot.json")
    assert [(r["run"], r["action"]) for r in m["provenance"]] == [
        ("pretrain-x-1", "reused"),
        ("oneshot-x-2", "made"),
    ]
    results = {"02_one_shot": report.NotebookResult("02_one_shot", status=report.OK, seconds=1.0)}
    started = dt.datetime.now().astimezone()
    index = report.write_index(
        out, "smoke", results, {"git_commit": "abc"}, started, 1.0, "python3", tmp_path
    )
    text = index.read_text()
    assert "## Provenance" in text and "Rendered" in text and "at git commit `abc`" in text
    assert f"| 02_one_shot | `pretrain-x-1` | reused | `{'f' * 12}` | `{OTHER}` |" in text
    assert (
        f"| 02_one_shot | `oneshot-x-2` | made | `{'f' * 12}` | `{runs.code_version()}` (this code) |" in text
    )
    assert str(tmp_path) not in text and str(tmp_path) not in json.dumps(m)  # no absolute paths
