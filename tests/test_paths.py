"""paths.py: the one place that knows where the checkout, splits/, data, runs, reports, episode lists live."""

from pathlib import Path

import pytest

from mumae_core import paths, runtime
from mumae_core.bench import common
from mumae_core.data import build

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch):
    for k in ("MUMAE_DATA", "MUMAE_EPISODES_DIR", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_checkout_and_splits():
    assert paths.repo_root() == REPO and paths.in_checkout()
    assert paths.splits_dir() == REPO / "splits"
    for ref in ("synthact-default", "hapt"):  # the committed reference episode lists
        assert (paths.splits_dir() / ref / "episodes_5w1s_1000_seed1.json").is_file()


def test_data_home_and_episode_store_precedence(clean_env, tmp_path):
    assert paths.data_home() == REPO / "data"
    assert paths.episodes_dir() == REPO / "data" / "episodes"
    clean_env.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert paths.data_home() == Path("/kaggle/working/data")
    assert paths.runs_dir("smoke") == Path("/kaggle/working/runs/smoke")
    assert paths.reports_dir("default") == Path("/kaggle/working/reports/default")
    clean_env.setenv("MUMAE_DATA", str(tmp_path / "d"))
    assert paths.data_home() == runtime.data_home() == tmp_path / "d"  # $MUMAE_DATA wins, also on Kaggle
    assert paths.episodes_dir() == tmp_path / "d" / "episodes"
    clean_env.setenv("MUMAE_EPISODES_DIR", str(tmp_path / "e"))
    assert paths.episodes_dir() == tmp_path / "e"


def test_local_runs_reports_benchmarks(clean_env):
    assert paths.runs_dir("smoke") == REPO / "runs" / "smoke"
    assert paths.reports_dir("default") == REPO / "reports" / "default"
    assert paths.benchmarks_dir() == REPO / "reports" / "benchmarks"
    assert common.default_path("evaluate") == REPO / "reports" / "benchmarks" / "evaluate.json"


@pytest.mark.parametrize(
    "module", ["mumae_core/data/build.py", "mumae_core/data/episodes.py", "mumae_core/bench/common.py"]
)
def test_no_repo_root_from_file_outside_paths(module):
    assert "__file__" not in (REPO / module).read_text(), f"{module}: ask mumae_core.paths instead"


def test_class_and_split_lists_share_one_search_order(tmp_path):
    """Dataset root's splits/ first, then the repository's splits/<dataset>/, for both kinds of list. The old
    code read class lists repo-first (a dataset's own class lists were ignored) and split lists root-first."""
    root = tmp_path / "mmact"
    (root / "splits").mkdir(parents=True)
    assert build.split_search_dirs("mmact", root) == (root / "splits", REPO / "splits" / "mmact")
    # nothing in the root: both come from the repository
    assert (
        build._class_list("mmact", root, "val") == (REPO / "splits/mmact/val_classes.txt").read_text().split()
    )
    assert build._split_file("mmact", root, "trainlist03.txt") == REPO / "splits/mmact/trainlist03.txt"
    # the root ships its own: both come from the root
    (root / "splits" / "val_classes.txt").write_text("jumping\nthrowing\n")
    (root / "splits" / "trainlist03.txt").write_text("jumping/x\n")
    assert build._class_list("mmact", root, "val") == ["jumping", "throwing"]
    assert build._split_file("mmact", root, "trainlist03.txt") == root / "splits" / "trainlist03.txt"
    with pytest.raises(Exception, match="not found in"):
        build._class_list("mmact", root, "nonexistent")
