"""Issue 13 (hardening): one test per numbered defect of the bad-input, fault and disk sweep, named after
it. Each fails on the code before the fix. Resume tests run the smoke profile; kills are real SIGKILLs of
the `mumae` console script (tests/_hardening.py), a full disk is a save that raises OSError(ENOSPC)."""

import errno
import gzip
import json
import logging
import os
import shutil
import signal

import numpy as np
import pytest
import torch
from _fixtures import T0_MS, make_tree, write_csv, write_split
from _hardening import fault_dir, metrics, mumae, same_state, synth_smoke
from test_pretrain import _Clips

from mumae_core.config import get_config
from mumae_core.data import hapt
from mumae_core.data.arrays import ArrayDataset
from mumae_core.data.build import build_datasets
from mumae_core.data.clips import collate, read_sensor_csv
from mumae_core.data.mmact import MMActDataset, read_split, recording_name
from mumae_core.errors import CheckpointError, ConfigError, DataError, StorageError, describe_os_error
from mumae_core.train import checkpoint as ck
from mumae_core.train.pretrain import pretrain

SENS = ("acc_watch", "gyro")


def _smoke(*extra):
    """The smoke profile on in-memory clips (video + gyro), 2 epochs of 3 steps, a checkpoint every 2 (no
    kept copies: the fault tests count the saves)."""
    over = ["data.modalities=video,gyro", "pretrain.ckpt_every=2", "pretrain.keep_at=", *extra]
    return get_config("smoke", over).validate()


def _data(cfg):
    return {"train": _Clips(cfg, 26)}  # 26 clips / batch 8 -> 3 steps per epoch


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted in-process smoke run to compare resumed runs with."""
    run = tmp_path_factory.mktemp("reference")
    cfg = _smoke()
    pretrain(cfg, run, datasets=_data(cfg), progress=False)
    return run


# ---------------------------------------------------------------------- 1, 4: config values
def test_item01_negative_clip_grad_is_refused(tmp_path):
    for v in ("-1", "0", "nan"):
        with pytest.raises(ConfigError, match="pretrain.clip_grad"):
            get_config("smoke", [f"pretrain.clip_grad={v}"]).validate()
    with pytest.raises(ConfigError, match="pretrain.clip_grad"):
        pretrain(get_config("smoke", ["pretrain.clip_grad=-1"]), tmp_path / "run", datasets={})
    assert not (tmp_path / "run").exists()
    assert get_config("smoke", ["pretrain.clip_grad=1.0"]).validate().pretrain.clip_grad == 1.0
    assert get_config("smoke", ["pretrain.clip_grad=none"]).validate().pretrain.clip_grad is None


BAD_SETTINGS = [
    "pretrain.ckpt_every=0", "pretrain.log_every=0", "pretrain.seed=-1", "pretrain.betas=0.9",
    "pretrain.betas=0.9,1.0", "pretrain.betas=0.9,x", "pretrain.device=banana", "pretrain.device=cuda:99",
    "data.num_workers=-1", "model.drop_path=2.0", "model.drop_path=1.0", "pretrain.weight_decay=-1",
    "model.mlp_ratio=0", "pretrain.base_lr=nan", "pretrain.min_lr=-1", "pretrain.warmup_epochs=-1",
    "pretrain.loss_hyper=-0.5", "model.tubelet=0", "model.patch=0", "model.sensor_patches=0",
    "oneshot.lr=0", "oneshot.weight_decay=-1", "oneshot.seed=-1", "oneshot.episode_seed=-1",
    "oneshot.train_episodes=0", "oneshot.episodes_per_step=0", "oneshot.fusion_heads=0",
    "oneshot.val_classes_eval_every=0", "oneshot.test_episodes=0", "oneshot.trainable_blocks=-1",
    "oneshot.device=banana", "data.split= ", "data.sensor_span_tol=-1", "data.sensor_max_gap=0.5",
    "data.sensor_time_unit=0", "data.video_fps=-30",
]  # fmt: skip


@pytest.mark.parametrize("setting", BAD_SETTINGS)
def test_item04_bad_settings_are_config_errors_naming_the_key(setting):
    key = setting.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        get_config("smoke", [setting]).validate()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_item04_cuda_without_cuda_and_portable_run_configs(tmp_path, reference):
    with pytest.raises(ConfigError, match="pretrain.device='cuda' but CUDA is not available"):
        get_config("smoke", ["pretrain.device=cuda"]).validate()
    # a run recorded on a GPU machine still loads here (the device does not change the weights)
    rec = json.loads((reference / "config.json").read_text())
    rec["config"]["pretrain"]["device"] = "cuda"
    for name in ("config.json", ck.FINAL):
        (tmp_path / name).write_bytes((reference / name).read_bytes())
    (tmp_path / "config.json").write_text(json.dumps(rec))
    model, cfg = ck.load_mae(tmp_path)
    assert cfg.pretrain.device == "auto" and not model.training


# ---------------------------------------------------------------------- 2: half-written metrics line
def test_item02_half_written_metrics_line_resumes_and_restarts(tmp_path, reference):
    cfg = _smoke()
    run = tmp_path / "run"
    pretrain(cfg, run, datasets=_data(cfg), progress=False)
    (run / ck.FINAL).unlink()
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 19, "lo')  # the reproduction: an append cut short by a full disk
    pretrain(cfg, run, datasets=_data(cfg), progress=False)
    assert metrics(run) == metrics(reference)
    assert same_state(run / ck.FINAL, reference / ck.FINAL)
    # a bad line before the last is not a partial append: named, not skipped
    (run / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(CheckpointError, match="metrics.jsonl line 2"):
        pretrain(cfg, run, datasets=_data(cfg), progress=False)


# ---------------------------------------------------------------------- 3: stale statistics
def test_item03_zscore_cache_sees_sensor_files_edited_in_place(tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("MUMAE_DATA", str(tmp_path / "home"))
    root = tmp_path / "sa"
    src = synth_smoke(tmp_path_factory.getbasetemp())
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("video"))
    cfg = get_config("smoke", [f"data.root={root}", "data.modalities=acc_watch,gyro"]).validate()
    before = build_datasets(cfg, splits=("train",), progress=False)["train"]
    edited = before.items[0]["sensors"]["gyro"]
    t, xyz = read_sensor_csv(edited)
    write_csv(edited, t, 1000 * xyz)  # edited in place: same name, new values
    after = build_datasets(cfg, splits=("train",), progress=False)["train"]
    fresh = after.compute_sensor_stats(progress=False)
    assert after.sensor_stats.std["gyro"] == pytest.approx(fresh.std["gyro"])
    assert after.sensor_stats.std["gyro"][0] > 5 * before.sensor_stats.std["gyro"][0]
    assert after.sensor_stats.mean["acc_watch"] == pytest.approx(before.sensor_stats.mean["acc_watch"])


# ---------------------------------------------------------------------- 5: OS errors
def test_item05_full_disk_names_the_file_and_the_surviving_checkpoint(tmp_path, reference, monkeypatch):
    cfg = _smoke()
    run = tmp_path / "run"
    real, calls = torch.save, [0]

    def save(obj, f, *a, **k):  # the 2nd save hits a full disk, as torch reports it
        calls[0] += 1
        if calls[0] == 2:
            f.write(b"partial")
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 4224 vs 4112")
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(ck.shutil, "disk_usage", lambda p: type("U", (), {"free": 0})())
    with pytest.raises(StorageError) as e:
        pretrain(cfg, run, datasets=_data(cfg), progress=False)
    msg = str(e.value)
    assert "the disk is full" in msg and f"{run / ck.LAST} (step 2)" in msg and "unexpected pos" not in msg
    assert ck.load_checkpoint(run / ck.LAST)["step"] == 2 and not list(run.glob(".*.tmp*"))
    monkeypatch.setattr(torch, "save", real)
    pretrain(cfg, run, datasets=_data(cfg), progress=False)  # room again: the same command resumes
    assert same_state(run / ck.FINAL, reference / ck.FINAL) and metrics(run) == metrics(reference)
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(StorageError, match=f"{f} is a file"):
        pretrain(cfg, f, datasets=_data(cfg), progress=False)
    assert "read-only" in describe_os_error(OSError(errno.EROFS, "x", "/ro/run"))
    assert "disk is full" in describe_os_error(OSError(errno.ENOSPC, "x", "/d/c.pt"))


# ---------------------------------------------------------------------- 6: kill -9, dead temp files
def test_item06_kill9_dead_temp_files_and_truncated_checkpoint_resume_bit_identical(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    root, site, home = synth_smoke(base), fault_dir(base), base / "resume-home"

    def run(out, fault=None):
        args = [
            "pretrain",
            "--profile",
            "smoke",
            "--set",
            f"data.root={root}",
            "--set",
            "pretrain.ckpt_every=4",
            "--set",
            "pretrain.epochs=2",  # 18 steps: the kills below land at steps 11 and 12
            "--set",
            "pretrain.keep_at=",  # no kept copies: kill_in_save counts the saves
        ]
        return mumae([*args, "--out", str(out)], home, fault=fault, site=site)

    ref, out = base / "resume-ref", base / "resume-run"
    assert run(ref).returncode == 0
    r = run(out, fault="kill_in_forward:11")  # SIGKILL inside optimizer step 11 (checkpoints at 4, 8)
    assert r.returncode == -signal.SIGKILL
    assert ck.load_checkpoint(out / ck.LAST)["step"] == 8 and ck.load_checkpoint(out / ck.PREV)["step"] == 4
    r = run(out, fault="kill_in_save:1")  # resumed at 8; killed half-way through writing step 12
    assert r.returncode == -signal.SIGKILL
    dead = list(out.glob(".checkpoint-last.pt.tmp*"))
    assert len(dead) == 1 and ck.load_checkpoint(out / ck.LAST)["step"] == 8
    data = (out / ck.LAST).read_bytes()
    (out / ck.LAST).write_bytes(data[: len(data) // 2])  # and then checkpoint-last.pt is truncated
    r = run(out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not dead[0].exists(), "the dead temp file was not removed"
    assert "resuming from the older good checkpoint" in r.stderr
    assert same_state(out / ck.FINAL, ref / ck.FINAL)
    assert metrics(out) == metrics(ref)
    resumes = json.loads((out / "config.json").read_text())["resumes"]
    assert [x["step"] for x in resumes] == [8, 4]


def test_item06_only_dead_temp_files_of_the_run_are_removed(tmp_path):
    import subprocess
    import sys

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        names = {
            ".checkpoint-last.pt.tmp999999999": False,  # dead pid: removed
            f".checkpoint-last.pt.tmp{alive.pid}": True,  # a writer still running: kept
            ".metrics.jsonl.tmp999999999": False,
            ".bashrc.tmp1": True,  # not a run-directory file: kept
            "notes.tmp1": True,
        }
        for n in names:
            (tmp_path / n).write_text("x")
        removed = ck.remove_stale_temp_files(tmp_path)
    finally:
        alive.kill()
        alive.wait()
    assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items() if not keep)
    assert all((tmp_path / n).exists() == keep for n, keep in names.items())


# ---------------------------------------------------------------------- 7, 8: sensor times and columns
def _clip_tree(root, n_rec=2, n_frames=60, sensors=SENS):
    entries = make_tree(root, {"closing": n_rec}, cams=(1,), n_frames=n_frames, sensors=sensors)
    return entries


def _rewrite(root, entry, m, t_s, xyz=None):
    """Rewrite sensor m of a clip with timestamps t_s (seconds from the video start)."""
    rec = recording_name(entry.split("/")[1])
    xyz = np.stack([t_s, np.sin(t_s), np.cos(t_s)], 1) if xyz is None else xyz
    write_csv(root / f"{m}_clip" / "closing" / f"{rec}.csv", T0_MS + 1000 * t_s, xyz)


def _mmact(root, entries, **kw):
    args = dict(
        num_frames=4, frame_stride=0, img_size=32, sensor_len=16, sensor_norm="none", video_norm="none"
    )
    return MMActDataset(root, entries, ["closing"], ("video", *SENS), **{**args, **kw})


@pytest.mark.parametrize(
    "case, sensor_times, match",
    [
        ("a third of the clip", np.linspace(0, 2 / 3, 40), "spans 0.667 s but the video has 60 frames"),
        ("starts 0.5 s early", np.linspace(-0.5, 2, 120), "spans 2.500 s"),
        ("ends 0.4 s early", np.linspace(0, 1.6, 80), "spans 1.600 s"),
        ("0.6 s dropout", np.r_[np.linspace(0, 0.7, 36), np.linspace(1.3, 2, 36)], "gap"),
    ],
)
def test_item07_sensor_time_spans_are_checked(tmp_path, caplog, case, sensor_times, match):
    entries = _clip_tree(tmp_path)  # 60 frames = 2 s at 30 fps; sensors over [0, 2] s
    _rewrite(tmp_path, entries[0], "gyro", sensor_times)
    with pytest.raises(DataError, match=match):
        _mmact(tmp_path, entries)[0]
    assert _mmact(tmp_path, entries)[1]["gyro"].shape == (16, 3)  # the other clip is fine
    ds = _mmact(tmp_path, entries, on_error="skip")
    with caplog.at_level(logging.WARNING):
        s = ds[0]
    assert s["meta"]["clip"] == entries[1].split("/")[1] and ds.skipped_at_read == 1
    assert "on_error=skip" in caplog.text and entries[0] in caplog.text


def test_item07_sensors_of_a_clip_must_agree_without_video(tmp_path):
    entries = _clip_tree(tmp_path)
    _rewrite(tmp_path, entries[0], "gyro", np.linspace(-0.5, 1.5, 100))  # same length, 0.5 s earlier
    ds = MMActDataset(tmp_path, entries, ["closing"], SENS, sensor_len=16, sensor_norm="none")
    ds.video_fps = 0  # no check against the clip: only the sensors against each other
    with pytest.raises(DataError, match="sensor acc_watch starts 0.500 s after sensor gyro"):
        ds[0]
    with pytest.raises(DataError, match="starts 0.500 s after"):
        ds.compute_sensor_stats(progress=False)


def test_item08_pandas_index_column_is_detected(tmp_path):
    t = T0_MS + np.arange(5) * 20.0
    rows = "".join(f"{i},{a},{i + 0.5},{2 * i},{3 * i}\n" for i, a in enumerate(t))
    p = tmp_path / "indexed.csv"
    p.write_text(",timestamp,x,y,z\n" + rows)
    tt, xyz = read_sensor_csv(p)
    assert np.array_equal(tt, t) and np.allclose(xyz[:, 0], np.arange(5) + 0.5)
    p.write_text(rows)  # the same without its header: refused, not misread
    with pytest.raises(DataError, match="pandas index"):
        read_sensor_csv(p)


# ---------------------------------------------------------------------- 9: on_error=skip everywhere
def test_item09_on_error_skip_is_honoured_when_reading(tmp_path, caplog):
    entries = _clip_tree(tmp_path, n_rec=3, n_frames=20)
    ds = _mmact(tmp_path, entries, on_error="skip")
    strict = _mmact(tmp_path, entries)
    video = ds.items[1]["video"]
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # truncated after construction
    with pytest.raises(DataError, match="cannot decode video"):
        strict[1]
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)
    with caplog.at_level(logging.WARNING):
        batch = next(iter(loader))  # the epoch goes on: the bad clip is replaced by the next good one
    assert [m["clip"] for m in batch["meta"]] == [
        e.split("/")[1] for e in (entries[0], entries[2], entries[2])
    ]
    assert ds.skipped_at_read == 1 and "cannot decode video" in caplog.text

    csv = ds.items[0]["sensors"]["gyro"]
    csv.write_text(csv.read_text().replace(",", ";", 30))  # a malformed CSV, met while computing z-scores
    with pytest.raises(DataError, match=str(csv)):
        strict.compute_sensor_stats(progress=False)
    stats = _mmact(tmp_path, entries, on_error="skip").compute_sensor_stats(progress=False)
    assert stats.count["gyro"] == 2 * 16  # the two good recordings


# ---------------------------------------------------------------------- 10: duplicates, shapes, HAPT files
def test_item10_duplicates_degenerate_shapes_and_hapt_files(tmp_path):
    split = write_split(tmp_path / "trainlist03.txt", ["closing/a_b", "jumping/c", "closing/a_b.mp4"])
    with pytest.raises(DataError, match=r"line 3: clip 'closing/a_b' is listed again \(first on line 1\)"):
        read_split(split)
    with pytest.raises(DataError, match=r"'acc' has shape \(3, 0, 3\)"):
        ArrayDataset({"acc": np.zeros((3, 0, 3))}, [0, 1, 0])
    with pytest.raises(DataError, match=r"'acc' has shape \(3, 8, 0\)"):
        ArrayDataset({"acc": np.zeros((3, 8, 0))}, [0, 1, 0])
    with pytest.raises(DataError, match="does not exist"):
        hapt.load_hapt_arrays(cache=False, path=tmp_path / "missing.pkl.gz")
    (tmp_path / "plain.pkl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip file"):
        hapt.load_hapt_arrays(cache=False, path=tmp_path / "plain.pkl.gz")
    with gzip.open(tmp_path / "evil.pkl.gz", "wb") as f:
        f.write(b"cposix\nsystem\n(S'true'\ntR.")
    with pytest.raises(DataError, match="refused global posix.system"):
        hapt.load_hapt_arrays(cache=False, path=tmp_path / "evil.pkl.gz")


# ---------------------------------------------------------------------- 12: unsafe advice
def test_item12_refused_pickle_says_it_tried_to_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as e:
        ck.load_checkpoint(tmp_path / "evil.pt")
    msg = str(e.value)
    assert "tried to run code (posix.system)" in msg and "Nothing in it ran" in msg
    assert "will likely succeed" not in msg and "weights_only` set to `False" not in msg
    assert not (tmp_path / "pwned").exists()
