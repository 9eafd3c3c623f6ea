"""Checkpoints: atomic writes, weights_only loads, strict key/shape checks (no partial load), load_mae."""

import os

import pytest
import torch
from torch import nn

from mumae_core.config import get_config
from mumae_core.errors import CheckpointError
from mumae_core.train import checkpoint as ck
from mumae_core.train.pretrain import pretrain


class _Clips(torch.utils.data.Dataset):
    """n random sensor clips of the config's shape (a stand-in for any dataset)."""

    def __init__(self, cfg, n, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.modalities = tuple(cfg.data.modalities)
        self.x = {m: torch.randn(n, cfg.data.sensor_len, 3, generator=g) for m in self.modalities}
        self.labels = [i % 3 for i in range(n)]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {**{m: v[i] for m, v in self.x.items()}, "label": self.labels[i], "meta": {}}


def _sensor_cfg(*extra):
    return get_config(
        "smoke", ["data.dataset=hapt", "data.modalities=acc,gyro", "pretrain.epochs=1", *extra]
    ).validate()


def test_atomic_save_keeps_the_old_file_when_a_write_fails(tmp_path):
    path = tmp_path / "c.pt"
    ck.save_checkpoint(path, {"model": {"w": torch.ones(2)}})
    with pytest.raises(Exception):  # noqa: B017 - a lambda cannot be pickled; which error is torch's business
        ck.save_checkpoint(path, {"model": {"w": torch.zeros(2)}, "bad": lambda: 0})
    assert torch.equal(ck.load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["c.pt"], "a temp file was left behind"


def test_load_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "obj": _Clips(_sensor_cfg(), 2)}, path)  # an arbitrary class: not weights-only
    with pytest.raises(CheckpointError, match="weights_only"):
        ck.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        ck.load_checkpoint(tmp_path / "nope.pt")


def test_strict_load_lists_every_problem_and_loads_nothing():
    a = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    b = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    before = {k: v.clone() for k, v in a.state_dict().items()}
    with pytest.raises(CheckpointError) as e:
        ck.load_state_strict(a, b.state_dict(), source="b.pt")
    msg = str(e.value)
    assert "b.pt" in msg and "nothing was loaded" in msg
    assert "missing keys (2): 1.bias, 1.weight" in msg
    assert "unexpected keys (2): 2.bias, 2.weight" in msg
    assert "0.weight: checkpoint (5, 4) vs model (3, 4)" in msg
    assert all(torch.equal(before[k], v) for k, v in a.state_dict().items())


def test_rng_state_round_trips_through_weights_only(tmp_path):
    import random

    import numpy as np

    ck.save_checkpoint(tmp_path / "r.pt", {"model": {}, "rng": ck.rng_state()})
    first = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    ck.set_rng_state(ck.load_checkpoint(tmp_path / "r.pt")["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == first


def test_load_mae_from_a_run_dir(tmp_path):
    cfg = _sensor_cfg()
    pretrain(cfg, tmp_path, datasets={"train": _Clips(cfg, 16)}, progress=False)
    model, cfg2 = ck.load_mae(tmp_path)
    assert cfg2.to_dict() == cfg.to_dict()
    state = ck.load_checkpoint(tmp_path / ck.FINAL)
    assert all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())
    assert not model.training
    # the checkpoint file alone (config from inside it) works too
    model3, _ = ck.load_mae(tmp_path / ck.LAST)
    assert all(torch.equal(v, state["model"][k]) for k, v in model3.state_dict().items())
    # a different architecture is a clear error naming the mismatched keys
    with pytest.raises(CheckpointError, match="shape mismatches"):
        ck.load_mae(tmp_path, cfg=_sensor_cfg("model.embed_dim=32"))
    with pytest.raises(CheckpointError, match="neither"):
        ck.load_mae(tmp_path.parent)  # a directory without checkpoints
