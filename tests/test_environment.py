"""environment.yml (conda) must list the same dependencies as pyproject.toml."""

from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_reqs() -> dict[str, Requirement]:
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(proj["dependencies"]) + list(proj["optional-dependencies"]["dev"])
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in reqs}


def _conda_reqs() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in pip}


def test_same_package_names():
    py, conda = _pyproject_reqs(), _conda_reqs()
    only_py, only_conda = sorted(set(py) - set(conda)), sorted(set(conda) - set(py))
    assert not only_py and not only_conda, (
        f"only in pyproject: {only_py}; only in environment.yml: {only_conda}"
    )


def test_same_version_specs():
    py, conda = _pyproject_reqs(), _conda_reqs()
    for name, req in py.items():
        if name == "torch":
            # environment.yml pins the CPU build the Makefile installs; it must satisfy pyproject's range.
            pinned = next(iter(conda[name].specifier)).version
            assert req.specifier.contains(pinned), (
                f"torch pin {pinned} outside pyproject range {req.specifier}"
            )
        else:
            assert str(req.specifier) == str(conda[name].specifier), (
                f"{name}: {req.specifier} vs {conda[name].specifier}"
            )


def test_makefile_pins_the_same_torch():
    make = (ROOT / "Makefile").read_text()
    pinned = str(_conda_reqs()["torch"])
    assert f"TORCH_SPEC ?= {pinned}" in make


def _setup_recipe(tmp_path, *args: str) -> list[str]:
    """The commands `make setup` would run for a fresh venv (dry run, nothing executed)."""
    import subprocess

    venv = tmp_path / "fresh-venv"  # no stamp there, so the whole recipe is printed
    r = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "setup", f"VENV={venv}", *args], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    return [ln for ln in r.stdout.splitlines() if "pip install" in ln]


def test_torch_index_is_used_only_when_set(tmp_path):
    pinned = str(_conda_reqs()["torch"])
    plain = [ln for ln in _setup_recipe(tmp_path) if pinned in ln]
    assert len(plain) == 1 and "--index-url" not in plain[0], plain
    url = "https://download.pytorch.org/whl/cpu"
    cpu = [ln for ln in _setup_recipe(tmp_path, f"TORCH_INDEX={url}") if pinned in ln]
    assert len(cpu) == 1 and f'--index-url "{url}"' in cpu[0], cpu
    # only torch comes from that index: the package and its other dependencies still come from PyPI
    others = [ln for ln in _setup_recipe(tmp_path, f"TORCH_INDEX={url}") if pinned not in ln]
    assert others and not any("--index-url" in ln for ln in others)
    assert "TORCH_INDEX ?=\n" in (ROOT / "Makefile").read_text(), "TORCH_INDEX must be empty by default"
