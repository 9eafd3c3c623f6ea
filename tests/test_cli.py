"""The `mumae` console script: argument parsing, clear errors with exit code 2, and `synth`."""

import subprocess
import sys

import pytest

from mumae_core.cli import build_parser, main


def test_parser_knows_every_command():
    p = build_parser()
    for argv in (
        ["synth", "--size", "smoke", "--out", "x"],
        ["pretrain", "--profile", "smoke", "--out", "r", "--set", "pretrain.epochs=1"],
        ["evaluate", "--profile", "smoke"],
        ["report", "--profile", "smoke", "--only", "00_tour"],
        ["bench", "data", "--out", "b.json"],
    ):
        assert p.parse_args(argv).command == argv[0]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["pretrain", "--profile", "default", "--set", "data.num_frames=7", "--out", "{tmp}/r"],
            "data.num_frames=7",
        ),
        (["pretrain", "--profile", "nope", "--out", "{tmp}/r"], "unknown profile"),
        (["pretrain", "--set", "pretrain.epoch=3", "--out", "{tmp}/r"], "pretrain.epoch"),
    ],
)
def test_bad_config_exits_2_with_a_named_parameter(argv, needle, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "r").exists(), "nothing may be written before the config is valid"


def test_synth_writes_the_mmact_layout_and_rejects_bad_sizes(tmp_path):
    out = tmp_path / "sa"
    code = (
        "from mumae_core.data.synthact import generate; "
        f"generate(out={str(out)!r}, size='smoke', seed=0, workers=1, progress=False, "
        "classes=['waving_hand'])"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "acc_phone_clip", "acc_watch_clip", "gyro_clip", "orientation_clip", "splits", "synthact.json",
        "video",
    ]  # fmt: skip
    clips = sorted((out / "video" / "waving_hand").glob("*.mp4"))
    assert clips and all(c.stat().st_size > 0 for c in clips)
    r = subprocess.run(
        [sys.executable, "-m", "mumae_core.cli", "synth", "--size", "huge", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2 and "invalid choice" in r.stderr


# ---------------------------------------------------------------------- help, version, config
def _subparsers(p):
    action = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def test_every_option_has_help_and_the_choices_are_listed():
    from mumae_core.config import PROFILES

    p = build_parser()
    subs = _subparsers(p)
    assert {"synth", "pretrain", "evaluate", "report", "bench", "config", "embed", "classify"} <= set(subs)
    for name, sp in subs.items():
        for a in sp._actions:
            assert a.help, f"mumae {name} {a.option_strings or a.dest}: no help text"
    for name in ("pretrain", "evaluate", "report", "config", "bench"):
        text = subs[name].format_help()
        assert all(prof in text for prof in PROFILES), (name, text)
    assert "smoke" in subs["synth"].format_help() and "default" in subs["synth"].format_help()
    bench = subs["bench"].format_help()
    assert "all" in bench and "default and paper" in bench


def test_version_and_examples(capsys):
    from mumae_core import __version__

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"mumae {__version__}"
    text = build_parser().format_help()
    for example in ("mumae config --keys", "mumae classify --checkpoint", "bench pretrain --profile all"):
        assert example in text


def test_config_prints_the_resolved_config(capsys):
    import json

    from mumae_core.config import get_config

    main(["config", "--profile", "smoke", "--set", "data.img_size=64", "--set", "pretrain.epochs=3"])
    got = json.loads(capsys.readouterr().out)
    want = get_config("smoke", ["data.img_size=64", "pretrain.epochs=3"]).to_dict()
    assert got == json.loads(json.dumps(want)) and got["data"]["img_size"] == 64


def test_config_keys_lists_every_set_key_with_type_default_and_comment(capsys):
    import dataclasses

    from mumae_core.cli import config_keys
    from mumae_core.config import Config

    cfg = Config()
    keys = {r["key"]: r for r in config_keys()}
    every = {
        f"{s.name}.{f.name}"
        for s in dataclasses.fields(Config)
        if s.name != "profile"
        for f in dataclasses.fields(getattr(cfg, s.name))
    }
    assert set(keys) == every
    assert keys["data.num_frames"] == dict(
        key="data.num_frames", type="int", default=8, comment="T frames per clip"
    )
    # a comment written on the lines above a field is found too
    assert "reference's 1.5e-4" in keys["pretrain.base_lr"]["comment"]
    assert keys["oneshot.freeze"]["comment"].startswith("frozen (default")
    main(["config", "--keys"])
    out = capsys.readouterr().out
    assert "pretrain.tensorboard" in out and "data.resize" in out and "squash" in out
    assert len(out.strip().splitlines()) == len(every) + 1  # a header + one line per key


def test_package_ships_py_typed():
    from importlib.resources import files
    from pathlib import Path

    import tomllib

    assert files("mumae_core").joinpath("py.typed").is_file()
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["mumae_core"]
