"""DDP: two CPU processes (gloo), started the way torchrun starts them (RANK / WORLD_SIZE / MASTER_* env),
train a tiny model with gradient accumulation; both ranks must end with identical, updated weights."""

import json
import os
import socket

import numpy as np
import torch
import torch.multiprocessing as mp

from mumae_core.config import get_config
from mumae_core.train import checkpoint as ck

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cfg():
    return get_config(
        "smoke",
        ["data.dataset=hapt", "data.modalities=acc,gyro", "pretrain.epochs=2", "pretrain.batch_size=4",
         "pretrain.accum_steps=2", "pretrain.ckpt_every=3", "pretrain.device=cpu", "pretrain.base_lr=1e-2"],
    ).validate()  # fmt: skip


def _data(cfg):
    from mumae_core.data.arrays import ArrayDataset

    rng = np.random.default_rng(0)
    n = 40  # 20 clips per rank -> 5 batches of 4 -> 2 steps of 2 micro-batches per epoch
    arrays = {m: rng.normal(size=(n, cfg.data.sensor_len, 3)).astype(np.float32) for m in cfg.data.modalities}
    return {"train": ArrayDataset(data=arrays, labels=[i % 4 for i in range(n)])}


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    from mumae_core.models.mae import build_mae
    from mumae_core.train.pretrain import pretrain

    models = []

    def model_fn(cfg):
        models.append(build_mae(cfg))
        return models[-1]

    cfg = _cfg()
    summary = pretrain(cfg, os.path.join(out, "run"), datasets=_data(cfg), progress=False, model_fn=model_fn)
    torch.save(models[0].state_dict(), os.path.join(out, f"rank{rank}.pt"))
    with open(os.path.join(out, f"summary{rank}.json"), "w") as f:
        json.dump(summary, f)


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    w0, w1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD))
    assert w0.keys() == w1.keys()
    assert all(torch.equal(w0[k], w1[k]) for k in w0), "ranks diverged"
    saved = ck.load_checkpoint(tmp_path / "run" / ck.FINAL)
    assert saved["world_size"] == WORLD and saved["step"] == 4
    assert all(torch.equal(saved["model"][k], w0[k]) for k in w0)  # rank 0 wrote what both ranks hold
    s0, s1 = (json.loads((tmp_path / f"summary{r}.json").read_text()) for r in range(WORLD))
    assert s0 == s1 and s0["world_size"] == WORLD and s0["effective_batch"] == 4 * 2 * WORLD
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4], "rank 0 alone logs, once per step"
    assert rows[-1]["loss"] < rows[0]["loss"], "the loss did not go down: did the ranks train?"
