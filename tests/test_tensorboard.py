"""TensorBoard event files of a pretraining run (mumae_core/train/tensorboard.py): the scalars read back equal
metrics.jsonl, the switch turns them off, and a missing tensorboard package warns once without a crash."""

from __future__ import annotations

import json
import sys
import warnings

import pytest
from test_pretrain import _cfg, _Clips

from mumae_core.train.pretrain import pretrain


def _run(tmp_path, *extra):
    cfg = _cfg("pretrain.epochs=2", "pretrain.log_every=2", *extra)
    data = {"train": _Clips(cfg, 32), "val": _Clips(cfg, 8, seed=1)}
    pretrain(cfg, tmp_path, datasets=data, progress=False)
    return [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]


def _events(run_dir):
    return sorted(run_dir.glob("events.out.tfevents.*"))


def test_event_files_hold_the_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows = _run(tmp_path)
    assert _events(tmp_path), "no TensorBoard event file beside metrics.jsonl"
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert tags == {"loss/total", "loss/acc", "loss/gyro", "lr"}
    for tag, key in (("loss/total", "loss"), ("loss/gyro", "loss_gyro"), ("lr", "lr")):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [r["step"] for r in rows] == [2, 4, 6, 8]
        assert [e.value for e in events] == pytest.approx([r[key] for r in rows], rel=1e-6)


def test_switched_off_writes_no_event_files(tmp_path):
    _run(tmp_path, "pretrain.tensorboard=false")
    assert not _events(tmp_path)
    assert (tmp_path / "metrics.jsonl").is_file()


def test_missing_tensorboard_warns_once_and_trains(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = _run(tmp_path)
    tb = [w for w in caught if "pretrain.tensorboard" in str(w.message)]
    assert len(tb) == 1 and "metrics.jsonl only" in str(tb[0].message)
    assert rows and not _events(tmp_path)
