"""Config is the only place numbers live: notebooks and their helpers hold no sizes, and a notebook builds the
same Config as the command line for the same profile and overrides."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from mumae_core import config as config_mod
from mumae_core import notebook
from mumae_core.cli import build_parser, config_from_args
from mumae_core.config import PROFILES, Config

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("*.py"))
HELPERS = [
    ROOT / "mumae_core" / f for f in ("notebook.py", "runs.py", "ablations.py", "metrics.py", "report.py")
]
# literals a notebook may hold: indices, halves, percent (100 / way), display rounding, a log epsilon
ALLOWED_NUMBERS = {0, 1, 2, 3, 100, 1e-12}
FIELDS = {
    f.name
    for sec in dataclasses.fields(Config())
    if sec.name != "profile"
    for f in dataclasses.fields(getattr(Config(), sec.name))
}


def _numbers(tree: ast.AST) -> set:
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
    }


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_notebooks_hold_no_profile_numbers(path):
    tree = ast.parse(path.read_text())
    extra = _numbers(tree) - ALLOWED_NUMBERS
    assert not extra, f"{path.name}: numeric literals {sorted(extra)}; sizes and counts belong in config.py"
    for n in ast.walk(tree):
        literal = isinstance(n, ast.keyword) and isinstance(n.value, ast.Constant) and _numbers(n.value)
        if literal and n.arg in FIELDS:
            raise AssertionError(
                f"{path.name}: {n.arg}={n.value.value!r} sets a config value outside config.py"
            )


@pytest.mark.parametrize("path", SOURCES + HELPERS, ids=lambda p: p.name)
def test_no_per_profile_tables_outside_config(path):
    """The old nbparams pattern, {"smoke": 8, "default": 300, ...}, must not come back outside config.py."""
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Dict):
            keys = {k.value for k in n.keys if isinstance(k, ast.Constant)}
            assert not keys & set(PROFILES), (
                f"{path.name}: a per-profile table {sorted(keys & set(PROFILES))}"
            )


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("overrides", [[], ["oneshot.lr=0.01", "pretrain.epochs=3"], ["data.dataset=hapt"]])
def test_the_cli_and_a_notebook_build_the_same_config(profile, overrides, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "mumae_core.data.synthact.store.ensure_synthact", lambda size, data_dir=None, seed=0: Path("/unused")
    )
    args = ["evaluate", "--profile", profile] + [x for o in overrides for x in ("--set", o)]
    cli = config_from_args(build_parser().parse_args(args))
    P = notebook.setup("02_one_shot", {"profile": profile, "overrides": overrides, "out_dir": tmp_path / "o",
                                       "runs_dir": tmp_path / "r"})  # fmt: skip
    assert notebook.config(P).to_dict() == cli.to_dict()


def test_dataset_settings_apply_where_the_dataset_is_switched():
    cfg = config_mod.get_config("default", ["data.dataset=hapt"])
    assert cfg.data.modalities == ("acc", "gyro") and cfg.mask.sensor_ratio == 0.5
    assert cfg.pretrain.epochs == 10, "chosen over 5 on class folds (docs/architecture.md)"
    assert config_mod.get_config("default", ["data.dataset=hapt", "pretrain.epochs=4"]).pretrain.epochs == 4
