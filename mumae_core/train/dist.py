"""Distributed data parallel helpers for runs launched by `torchrun` (DESIGN.md §9).

`torchrun --nproc_per_node=N` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT;
`init_distributed` reads them and joins the process group (NCCL on CUDA, gloo on CPU). Without them the
run is a single process and every helper here is a no-op. There is no home-made launcher.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch.utils.data import Dataset, DistributedSampler

from mumae_core.errors import ConfigError
from mumae_core.runtime import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank / world_size / local_rank, its device, and whether DDP is on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    enabled: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the torchrun environment variables are present with WORLD_SIZE > 1."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one; pick this process's device.

    device: 'auto' | 'cpu' | 'cuda' | 'cuda:k'. Under torchrun on CUDA each process takes cuda:LOCAL_RANK.
    """
    if not launched_by_torchrun():
        return DistInfo(0, 1, 0, resolve_device(device), enabled=False)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    dev = resolve_device(device)
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ConfigError(
                f"dist: LOCAL_RANK={local} but only {torch.cuda.device_count()} CUDA devices are visible; "
                f"use --nproc_per_node <= the number of GPUs, or pretrain.device=cpu"
            )
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local, dev, enabled=True)


def cleanup(info: DistInfo) -> None:
    """Leave the process group (call once at the end of a run)."""
    if info.enabled and tdist.is_initialized():
        tdist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        tdist.barrier()


def all_reduce_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of `x` over ranks (x itself when single-process). Returns a new tensor."""
    if not info.enabled:
        return x.clone()
    y = x.clone()
    tdist.all_reduce(y, op=tdist.ReduceOp.SUM)
    return y / info.world_size


def broadcast_object(obj, info: DistInfo, src: int = 0):
    """Rank `src`'s python object on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=src)
    return box[0]


def make_sampler(dataset: Dataset, info: DistInfo, seed: int, shuffle: bool = True) -> DistributedSampler:
    """A seeded DistributedSampler (also for one process: its order depends only on seed and epoch).

    drop_last=True so every rank sees the same number of clips; call `.set_epoch(epoch)` each epoch.
    """
    return DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=True
    )
