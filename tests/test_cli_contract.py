"""The CLI contract (issue 13): every failure of the real `mumae` console script exits 2 with one line
`mumae <cmd>: error: ...` naming the path or parameter, never a traceback. Smoke profile, tiny runs."""

import os

import pytest
import torch
from _hardening import error_line, fault_dir, mumae, synth_smoke

SMOKE = ["--profile", "smoke"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    return {"root": synth_smoke(base), "home": base / "cli-data-home", "site": fault_dir(base)}


def _pretrain(env, out, *sets, fault=None):
    args = ["pretrain", *SMOKE, "--set", f"data.root={env['root']}", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return mumae(args, env["home"], fault=fault, site=env["site"])


@pytest.mark.parametrize(
    "setting, key",
    [
        ("pretrain.clip_grad=-1", "pretrain.clip_grad"),
        ("pretrain.ckpt_every=0", "pretrain.ckpt_every"),
        ("pretrain.log_every=0", "pretrain.log_every"),
        ("pretrain.seed=-1", "pretrain.seed"),
        ("pretrain.betas=0.9", "pretrain.betas"),
        ("pretrain.betas=0.9,x", "pretrain.betas"),
        ("pretrain.device=banana", "pretrain.device"),
        ("pretrain.weight_decay=-1", "pretrain.weight_decay"),
        ("data.num_workers=-1", "data.num_workers"),
        ("model.drop_path=2.0", "model.drop_path"),
        ("model.mlp_ratio=0", "model.mlp_ratio"),
        ("data.sensor_span_tol=-1", "data.sensor_span_tol"),
    ],
)
def test_bad_setting_is_one_line_naming_the_key(env, tmp_path, setting, key):
    line = error_line(_pretrain(env, tmp_path / "run", setting), "pretrain")
    assert key in line
    assert not (tmp_path / "run").exists(), "nothing may be written before the config is valid"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_device_without_cuda(env, tmp_path):
    line = error_line(_pretrain(env, tmp_path / "run", "pretrain.device=cuda"), "pretrain")
    assert "pretrain.device" in line and "CUDA is not available" in line


def test_out_naming_an_existing_file(env, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("keep me")
    line = error_line(_pretrain(env, f), "pretrain")
    assert str(f) in line and "is a file" in line
    assert f.read_text() == "keep me"


def test_read_only_output_folder(env, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root ignores permission bits: simulate the read-only file system
        r = _pretrain(env, ro / "run", fault=f"readonly:{ro}")
    else:
        ro.chmod(0o555)
        try:
            r = _pretrain(env, ro / "run")
        finally:
            ro.chmod(0o755)
    line = error_line(r, "pretrain")
    assert str(ro / "run") in line and ("read-only" in line or "permission denied" in line)
    assert "no checkpoint was written yet" in line


def test_full_disk_says_so_and_names_the_surviving_checkpoint(env, tmp_path):
    run = tmp_path / "run"
    r = _pretrain(env, run, "pretrain.ckpt_every=4", "pretrain.keep_at=", fault="enospc_in_save:2")
    line = error_line(r, "pretrain")
    assert "disk is full" in line and f"{run / 'checkpoint-last.pt'} (step 4)" in line
    assert "unexpected pos" not in line
    assert torch.load(run / "checkpoint-last.pt", weights_only=True)["step"] == 4
    assert not list(run.glob(".*.tmp*")), "the half-written temp file was left behind"


def test_unreadable_checkpoint_without_fallback(env, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint-last.pt").write_bytes(b"PK\x03\x04 truncated")
    line = error_line(_pretrain(env, run), "pretrain")
    assert str(run / "checkpoint-last.pt") in line and "cannot be read" in line


def test_evaluate_refuses_a_checkpoint_that_runs_code(env, tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, path)
    r = mumae(["evaluate", *SMOKE, "--checkpoint", str(path)], env["home"])
    line = error_line(r, "evaluate")
    assert str(path) in line and "tried to run code" in line and "posix.system" in line
    assert "weights_only set to False" not in r.stderr and "will likely succeed" not in r.stderr
    assert not (tmp_path / "pwned").exists()


def test_missing_dataset_root(env, tmp_path):
    r = mumae(["pretrain", *SMOKE, "--set", f"data.root={tmp_path}/nope", "--out", str(tmp_path / "r")],
              env["home"])  # fmt: skip
    assert f"{tmp_path}/nope" in error_line(r, "pretrain")
