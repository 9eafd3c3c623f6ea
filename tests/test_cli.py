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
