"""The pretraining loop: AdamW + per-step lr schedule, AMP, gradient accumulation, DDP, checkpoint + resume.

    pretrain(cfg, out_dir) -> summary dict        (`mumae pretrain`, also under `torchrun --nproc_per_node=N`)

One optimizer step = accum_steps micro-batches of batch_size clips on each of world_size processes. Everything
random is a function of the seed and the position in the run, so an interrupted run resumes exactly:
  * data order: DistributedSampler(seed) + set_epoch(epoch); a mid-epoch resume skips the batches done;
  * masks: a torch.Generator seeded from (seed, rank, micro-step);
  * model randomness (drop path): the global torch RNG re-seeded from (seed, rank, step) before each step;
  * DataLoader workers: a generator seeded from (seed, rank, epoch) and `seed_worker`.
The train split only is used for training; the val split (held-out classes) only for the final report of the
hidden-token loss against the mean predictor (no selection happens on it).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from mumae_core import provenance, runtime
from mumae_core.config import Config
from mumae_core.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    MumaeError,
    StorageError,
    describe_os_error,
)
from mumae_core.modalities import SENSOR_CHANNELS, is_video
from mumae_core.train import dist, runlog
from mumae_core.train.checkpoint import (
    FINAL,
    FORMAT,
    LAST,
    PREV,
    copy_checkpoint,
    kept_name,
    load_checkpoint,
    load_state_strict,
    remove_stale_temp_files,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from mumae_core.train.schedule import LRSchedule, effective_batch
from mumae_core.train.tensorboard import RunWriter

# config keys that may change between a run and its resume (they do not change the numbers)
RESUME_FREE_KEYS = (
    "profile",
    "data.root",
    "data.num_workers",
    "data.on_error",
    "pretrain.device",
    "pretrain.ckpt_every",
    "pretrain.log_every",
    "pretrain.tensorboard",
    "data.video_backend",
    "pretrain.compile",  # the same function, traced
    "pretrain.prefetch_factor",
    "pretrain.keep_at",  # extra copies of the weights along the run
    "model.attention",  # the same function on another kernel (outputs agree to rounding)
    "model.attention_explicit_max_tokens",
)
RESUME_FREE_SECTIONS = ("oneshot", "report")
# what a checkpoint must hold to resume from it
_STATE_KEYS = ("model", "optimizer", "scaler", "rng", "step", "elapsed", "epoch_stats", "window")

log = logging.getLogger(__name__)


class NonFiniteLossError(MumaeError, FloatingPointError):
    """The loss became NaN or inf; the run stopped and the last good checkpoint is kept."""


# ---------------------------------------------------------------------- seeding
def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, rank, step, ...), well mixed (numpy SeedSequence)."""
    a, b = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return (int(a) << 31) ^ int(b)


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: seed python and numpy from the worker's torch seed."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


class SkipSampler(Sampler):
    """The indices of `sampler` after the first `skip` (a mid-epoch resume skips the clips already seen)."""

    def __init__(self, sampler: Sampler, skip: int):
        self.sampler, self.skip = sampler, skip

    def __iter__(self):
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)


class Prefetcher:
    """Iterate `iterable` in a background thread, up to `depth` items ahead, so that decoding and collating
    the next batches overlap the step (with data.num_workers = 0: the frame cache stays in this process
    and `set_epoch` reaches the dataset). Items come in the same order; an exception is re-raised here."""

    _END = object()

    def __init__(self, iterable, depth: int = 2):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(iterable,), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, iterable) -> None:
        try:
            for item in iterable:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as e:  # noqa: BLE001  handed to the consumer
            self._put(e)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._q.get()
        if item is self._END:
            self._q.put(self._END)  # stays exhausted
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the thread (it may be waiting to put an item) and drop what it prepared."""
        self._stop.set()
        self._thread.join()
        while not self._q.empty():
            self._q.get_nowait()


# ---------------------------------------------------------------------- optimizer
def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay, and no decay for biases, 1-D parameters (norms) and model.no_weight_decay()."""
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(".bias") or name in skip or name.split(".")[-1] in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def unused_parameters(model: nn.Module, cfg: Config, device: torch.device) -> list[nn.Parameter]:
    """Trainable parameters that get no gradient from the pretraining loss, found with one probe
    forward/backward on a random batch of one clip (no RNG state other than a local generator is used)."""
    from mumae_core.masking import make_masks

    d, g = cfg.data, torch.Generator().manual_seed(0)
    shape = {
        m: (3, d.num_frames, d.img_size, d.img_size) if is_video(m) else (d.sensor_len, SENSOR_CHANNELS)
        for m in d.modalities
    }
    batch = {m: torch.randn(1, *s, generator=g).to(device) for m, s in shape.items()}
    masks = make_masks(cfg, 1, g)  # CPU masks (the model moves them)
    state = torch.get_rng_state()
    model(batch, masks).loss.backward()
    torch.set_rng_state(state)
    unused = [p for p in model.parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    return unused


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.AdamW:
    """AdamW over `param_groups`; torch's fused kernel where it has one for the parameters' device (CPU and
    CUDA since torch 2.4), else its multi-tensor (foreach) implementation. Same update either way."""
    p = cfg.pretrain
    groups = param_groups(model, p.weight_decay)
    devices = {q.device.type for g in groups for q in g["params"]}
    kw = {"fused": True} if devices <= {"cpu", "cuda"} else {"foreach": True}
    try:
        return torch.optim.AdamW(groups, lr=0.0, betas=tuple(p.betas), eps=1e-8, **kw)
    except (RuntimeError, TypeError):  # an older torch without a fused kernel for this device
        return torch.optim.AdamW(groups, lr=0.0, betas=tuple(p.betas), eps=1e-8, foreach=True)


def use_compile(cfg: Config, device: torch.device) -> bool:
    """pretrain.compile: 'on' / 'off', or 'auto' = on where it was measured faster with its compile time
    amortised over a default-profile run (CUDA); off on the CPU (benchmarks/README.md)."""
    mode = cfg.pretrain.compile
    return mode == "on" or (mode == "auto" and device.type == "cuda")


def maybe_compile(model: nn.Module, cfg: Config, device: torch.device) -> nn.Module:
    """`torch.compile(model)` when `use_compile`, else the model itself (parameters are shared)."""
    return torch.compile(model) if use_compile(cfg, device) else model


def make_scaler(device: torch.device, dtype: torch.dtype | None):
    """A GradScaler, enabled only for fp16 autocast (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


# ---------------------------------------------------------------------- resume checks
def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


def config_differences(
    saved: dict, now: dict, free_sections: tuple[str, ...] = RESUME_FREE_SECTIONS
) -> list[str]:
    """'key: checkpoint X vs now Y' for every key that matters and differs.

    Keys in RESUME_FREE_KEYS (device, logging) never matter; whole `free_sections` are skipped too (the
    default, for resuming pretraining: the one-shot section). One-shot reuse passes () to compare everything.
    """
    a, b = _flat(saved), _flat(now)
    diffs = []
    for k in sorted(set(a) | set(b)):
        if k in RESUME_FREE_KEYS or k.split(".")[0] in free_sections:
            continue
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            diffs.append(f"{k}: checkpoint {a.get(k, '<absent>')!r} vs now {b.get(k, '<absent>')!r}")
    return diffs


def _check_resume(state: dict, cfg: Config, path: Path, steps_per_epoch: int, world_size: int) -> None:
    diffs = config_differences(state.get("config", {}), cfg.to_dict())
    if diffs:
        raise ConfigError(
            f"{path} was written with a different config, so this run cannot resume it:\n  "
            + "\n  ".join(diffs)
            + "\nUse a new --out directory, or the same settings as the checkpoint."
        )
    for key, now in (("world_size", world_size), ("steps_per_epoch", steps_per_epoch)):
        if state.get(key) != now:
            raise ConfigError(
                f"{path}: {key} was {state.get(key)} and is {now} now (different number of processes or a "
                f"different train split); the data order would differ. Resume under the same layout."
            )


# ---------------------------------------------------------------------- the run
def pretrain(
    cfg: Config,
    out_dir: str | Path,
    datasets: dict[str, Dataset] | None = None,
    progress: bool = True,
    model_fn: Callable[[Config], nn.Module] | None = None,
) -> dict:
    """Pretrain the multimodal MAE on the train split; write the run dir; return the summary dict.

    datasets: {"train", "val", ...} (default: build_datasets(cfg, stage="pretrain")); items
    {modality: tensor, "label", "meta"}. model_fn: builds the model from cfg (default build_mae); it must
    follow the MultimodalMAE interface (forward(batch, masks) -> MAEOutput). Resumes from
    <out_dir>/checkpoint-last.pt when present. Under torchrun, runs DDP; rank 0 writes the run dir.
    """
    import torch.distributed as tdist

    cfg.validate()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise StorageError(f"pretrain: the run directory (--out) {out} is a file; give a directory path")
    owned = not (tdist.is_available() and tdist.is_initialized())
    info = dist.init_distributed(cfg.pretrain.device)
    run = None
    try:
        if info.is_main:
            _prepare_run_dir(out)
        run = _Run(cfg, out, datasets, progress, model_fn, info)
        return run.run()
    except OSError as e:
        if isinstance(e, MumaeError):
            raise
        raise StorageError(f"pretrain: {describe_os_error(e)}; {_survivor(out, run)}") from e
    finally:
        if owned:
            dist.cleanup(info)


def _prepare_run_dir(out: Path) -> None:
    """Create the run directory, check it is writable (before any data is read) and delete the temp files
    of killed runs (`.checkpoint-last.pt.tmp<pid>`: each can be a whole checkpoint)."""
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write-test.tmp{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()
    for p in remove_stale_temp_files(out):
        log.info("removed %s, left by a killed run", p)


def _survivor(out: Path, run: _Run | None) -> str:
    """Which checkpoint an OS error left intact (for the error message)."""
    if run is not None and run.ckpt_step is not None:
        return (
            f"the last good checkpoint survived: {out / LAST} (step {run.ckpt_step}); rerun the same "
            f"command to resume from it"
        )
    if (out / LAST).is_file():
        return f"the checkpoint from before survived: {out / LAST}"
    return "no checkpoint was written yet"


class _Run:
    """State of one pretraining run (one process)."""

    def __init__(self, cfg, out, datasets, progress, model_fn, info: dist.DistInfo):
        self.cfg, self.out, self.progress, self.info = cfg, out, progress, info
        p = cfg.pretrain
        self.device = info.device
        self.dtype = runtime.autocast_dtype(self.device, p.amp)
        self.mods = tuple(cfg.data.modalities)
        runtime.seed_everything(derive_seed(p.seed, info.rank))

        if datasets is None:
            from mumae_core.data.build import build_datasets

            datasets = build_datasets(cfg, stage="pretrain", splits=("train", "val"))
        self.datasets = datasets
        self.train_ds = datasets["train"]
        n = len(self.train_ds)
        if n == 0:
            raise DataError("pretrain: the train split is empty")
        have = getattr(self.train_ds, "modalities", None)
        if have is not None and not set(self.mods) <= set(have):
            raise DataError(
                f"pretrain: the train split has modalities {tuple(have)}; config wants {self.mods}"
            )
        self.sampler = dist.make_sampler(self.train_ds, info, seed=p.seed, shuffle=True)
        n_batches = len(self.sampler) // p.batch_size
        self.spe = n_batches // p.accum_steps  # optimizer steps per epoch
        if self.spe == 0:
            raise ConfigError(
                f"pretrain: {n} train clips give no full optimizer step with "
                f"pretrain.batch_size={p.batch_size} x accum_steps={p.accum_steps} x {info.world_size} "
                f"processes; lower pretrain.batch_size"
            )
        self.total = p.epochs * self.spe
        self.sched = LRSchedule.from_config(p, self.spe, info.world_size)

        if model_fn is None:
            from mumae_core.models.mae import build_mae as model_fn
        self.model = model_fn(cfg).to(self.device)
        # modalities with a loss term (a model built with mask.sensor_mask="none" decodes no sensor)
        self.loss_mods = tuple(getattr(self.model, "decoded", self.mods))
        self.frozen = unused_parameters(self.model, cfg, self.device) if info.enabled else []
        self.opt = build_optimizer(self.model, cfg)
        self.scaler = make_scaler(self.device, self.dtype)
        self.step, self.elapsed = 0, 0.0
        self.epoch_stats = {"epoch": 0, "sum": None, "n": 0}
        self.window = {"sum": None, "n": 0}
        self.last_vals: list[float] | None = None
        self.ckpt_step: int | None = None
        self._resume()

        self.net = maybe_compile(self.model, cfg, self.device)
        if info.enabled:
            # Parameters the loss never reaches (fc_norm serves encode() only) are frozen for the run, so
            # DDP can skip find_unused_parameters' graph search every step. AdamW skips them either way.
            for p_ in self.frozen:
                p_.requires_grad_(False)
            self.net = nn.parallel.DistributedDataParallel(
                self.net,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=False,
            )

    # ------------------------------------------------------------------ resume / checkpoint
    def _resume(self) -> None:
        if self.info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        found = self._newest_good_checkpoint()
        if found is None:
            if self.info.is_main:
                provenance.start_run(self.out)  # before any step: which code made this run
                runlog.truncate_metrics(self.out, 0)
                runlog.write_config(self.out, self.cfg, self.info.world_size)
            return
        path, state = found
        _check_resume(state, self.cfg, path, self.spe, self.info.world_size)
        load_state_strict(self.model, state["model"], source=str(path))
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.epoch_stats, self.window = state["epoch_stats"], state["window"]
        self.last_vals = state.get("last_vals")
        self.ckpt_step = self.step
        if self.info.is_main:
            if path.name != LAST:  # LAST was unreadable: replace it by the good one, keeping two good copies
                copy_checkpoint(path, self.out / LAST)
            runlog.truncate_metrics(self.out, self.step)
            runlog.note_resume(self.out, self.step)
            provenance.note_resume(self.out)

    def _newest_good_checkpoint(self) -> tuple[Path, dict] | None:
        """(path, state) of checkpoint-last.pt, or of checkpoint-prev.pt when the last one is unreadable
        (truncated, corrupt, refused); None when there is neither. CheckpointError when both are bad."""
        tried = []
        for path in (self.out / LAST, self.out / PREV):
            if not path.exists():
                continue
            try:
                state = load_checkpoint(path, map_location=self.device)
                missing = [k for k in _STATE_KEYS if k not in state]
                if missing:
                    raise CheckpointError(f"checkpoint {path} lacks {missing} (not a pretraining checkpoint)")
            except CheckpointError as e:
                log.warning("cannot resume from %s: %s", path, e)
                tried.append(str(e))
                continue
            if tried:
                log.warning("resuming from the older good checkpoint %s (step %s)", path, state["step"])
            return path, state
        if tried:
            raise CheckpointError(
                f"pretrain: no readable checkpoint to resume in {self.out}: "
                + "; ".join(tried)
                + ". Move the run directory aside to start over, or use a new --out"
            )
        return None

    def _state(self) -> dict:
        return {
            "format": FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.step // self.spe,
            "epoch_step": self.step % self.spe,
            "steps_per_epoch": self.spe,
            "world_size": self.info.world_size,
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
            "elapsed": self.elapsed,
            "epoch_stats": self.epoch_stats,
            "window": self.window,
            "last_vals": self.last_vals,
        }

    @functools.cached_property
    def kept_steps(self) -> frozenset[int]:
        """Optimizer steps at which a copy of the weights is kept (pretrain.keep_at fractions of the run)."""
        return frozenset(int(round(f * self.total)) for f in self.cfg.pretrain.keep_at) - {self.total}

    def _keep(self) -> None:
        """Keep the weights of this step (`checkpoint-step<k>.pt`, for the pretraining curve)."""
        if self.info.is_main and self.step in self.kept_steps:
            state = {"model": self.model.state_dict(), "step": self.step, "config": self.cfg.to_dict()}
            save_checkpoint(self.out / kept_name(self.step), state)

    def _save(self, final: bool = False) -> None:
        if self.info.is_main:
            save_checkpoint(self.out / LAST, self._state(), keep_previous=True)
            if final:
                copy_checkpoint(self.out / LAST, self.out / FINAL)
        self.ckpt_step = self.step

    # ------------------------------------------------------------------ data
    def _loader(self, dataset: Dataset, sampler: Sampler | None, epoch: int, train: bool) -> DataLoader:
        p, d = self.cfg.pretrain, self.cfg.data
        from mumae_core.data.clips import collate

        g = torch.Generator()
        g.manual_seed(derive_seed(p.seed, self.info.rank, epoch, 0 if train else 1))
        # workers decode and collate ahead of the step (prefetch); each holds its own frame cache
        workers = {"prefetch_factor": p.prefetch_factor} if d.num_workers > 0 else {}
        return DataLoader(
            dataset,
            batch_size=p.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=d.num_workers,
            collate_fn=collate,
            drop_last=train,
            pin_memory=self.device.type == "cuda",
            generator=g,
            worker_init_fn=seed_worker,
            **workers,
        )

    def _to_device(self, batch: dict) -> dict:
        try:
            return {m: batch[m].to(self.device, non_blocking=True) for m in self.mods}
        except KeyError as e:
            raise DataError(f"pretrain: a batch has no modality {e}; it has {sorted(batch)}") from e

    def _masks(self, batch_size: int, *seed_parts: int) -> dict:
        from mumae_core.masking import make_masks

        g = torch.Generator()
        g.manual_seed(derive_seed(*seed_parts))
        # kept on the CPU: the model checks them and builds gather indices there without device syncs,
        # then moves them to the input's device itself
        return make_masks(self.cfg, batch_size, g)

    # ------------------------------------------------------------------ training
    def run(self) -> dict:
        from mumae_core.progress import progress as progress_bar

        p = self.cfg.pretrain
        bar = progress_bar(
            total=self.total,
            initial=self.step,
            desc="pretrain",
            unit="step",
            disable=not (self.progress and self.info.is_main),
            dynamic_ncols=True,
        )
        self.tb = RunWriter(self.out, p.tensorboard and self.info.is_main, purge_step=self.step)
        self.model.train()
        t0 = time.perf_counter()
        prior = self.elapsed
        try:
            if self.step == 0:
                self._keep()
            while self.step < self.total:
                epoch, done = divmod(self.step, self.spe)
                self.sampler.set_epoch(epoch)
                if hasattr(self.train_ds, "set_epoch"):
                    self.train_ds.set_epoch(epoch)
                skip = done * p.accum_steps * p.batch_size
                loader = self._loader(self.train_ds, SkipSampler(self.sampler, skip), epoch, True)
                # workers prefetch by themselves; without workers a thread prepares the next batches
                batches = Prefetcher(loader, p.prefetch_factor) if loader.num_workers == 0 else iter(loader)
                try:
                    for _ in range(done, self.spe):
                        vals, lr = self._train_step(batches)
                        self.elapsed = prior + time.perf_counter() - t0
                        self._record(vals, lr)
                        bar.update(1)
                        bar.set_postfix(loss=f"{vals[0]:.4f}", lr=f"{lr:.2e}", refresh=False)
                        self._keep()
                        if self.step % p.ckpt_every == 0 and self.step < self.total:
                            self._save()
                finally:
                    if isinstance(batches, Prefetcher):
                        batches.close()
            self.elapsed = prior + time.perf_counter() - t0
            self._save(final=True)
        finally:
            bar.close()
            self.tb.close()
            for p_ in self.frozen:
                p_.requires_grad_(True)
        summary = self._summary() if self.info.is_main else {}
        if self.info.is_main:
            runlog.write_summary(self.out, summary)
        dist.barrier(self.info)
        return dist.broadcast_object(summary, self.info)

    def _train_step(self, batches) -> tuple[list[float], float]:
        """One optimizer step over accum_steps micro-batches; returns ([loss, loss_<mod>...], lr)."""
        p, info = self.cfg.pretrain, self.info
        lr = self.sched(self.step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        torch.manual_seed(derive_seed(p.seed, info.rank, self.step, 2))  # drop path etc.
        acc = torch.zeros(1 + len(self.loss_mods), device=self.device)
        for micro in range(p.accum_steps):
            batch = self._to_device(next(batches))
            b = next(iter(batch.values())).shape[0]
            masks = self._masks(b, p.seed, info.rank, self.step * p.accum_steps + micro)
            sync = micro == p.accum_steps - 1 or not info.enabled
            ctx = contextlib.nullcontext() if sync else self.net.no_sync()
            with ctx:
                with runtime.autocast(self.device, self.dtype):
                    out = self.net(batch, masks)
                loss = out.loss.float()
                self.scaler.scale(loss / p.accum_steps).backward()
            parts = [loss.detach()] + [out.losses[m].detach().float() for m in self.loss_mods]
            acc += torch.stack(parts) / p.accum_steps
        vals = dist.all_reduce_mean(acc, info).tolist()
        if not all(math.isfinite(v) for v in vals):
            detail = ", ".join(f"loss_{m}={v:.4g}" for m, v in zip(self.loss_mods, vals[1:]))
            self.opt.zero_grad(set_to_none=True)
            kept = (
                f"the last good checkpoint is {self.out / LAST} (step {self.ckpt_step})"
                if self.ckpt_step is not None
                else "no checkpoint was written yet"
            )
            raise NonFiniteLossError(
                f"pretrain: non-finite loss at optimizer step {self.step} (epoch {self.step // self.spe}): "
                f"loss={vals[0]:.4g}, {detail}. Nothing was applied; {kept}. "
                f"Try a lower pretrain.base_lr, pretrain.clip_grad, or pretrain.amp=off."
            )
        if p.clip_grad:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.model.parameters(), p.clip_grad)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        return vals, lr

    def _record(self, vals: list[float], lr: float) -> None:
        """Update the epoch and log-window means; write a metrics row every log_every steps."""
        epoch = (self.step - 1) // self.spe
        if self.epoch_stats["epoch"] != epoch or self.epoch_stats["sum"] is None:
            self.epoch_stats = {"epoch": epoch, "sum": [0.0] * len(vals), "n": 0}
        for st in (self.epoch_stats, self.window):
            st["sum"] = [a + v for a, v in zip(st["sum"] or [0.0] * len(vals), vals)]
            st["n"] += 1
        self.last_vals = vals
        if self.step % self.cfg.pretrain.log_every == 0 or self.step == self.total:
            mean = [s / self.window["n"] for s in self.window["sum"]]
            row = {"step": self.step, "epoch": round(self.step / self.spe, 4), "lr": lr, "loss": mean[0]}
            row.update({f"loss_{m}": v for m, v in zip(self.loss_mods, mean[1:])})
            row["time"] = round(self.elapsed, 3)
            if self.info.is_main:
                runlog.append_metrics(self.out, row)
                self.tb.log(row)
            self.window = {"sum": None, "n": 0}

    # ------------------------------------------------------------------ summary
    def _named(self, vals: list[float] | None) -> dict | None:
        if vals is None:
            return None
        return {"total": vals[0], **{m: v for m, v in zip(self.loss_mods, vals[1:])}}

    @torch.no_grad()
    def _evaluate_val(self) -> dict:
        """Hidden-token loss of the model and of the mean predictor on the val split (fixed, seeded masks)."""
        from mumae_core.models.mae import mean_predictor_loss

        ds = self.datasets.get("val")
        if ds is None or len(ds) == 0:
            return {"note": "no val split given: the mean-predictor comparison was not computed"}
        self.model.eval()
        n_mod = len(self.loss_mods)
        tot_model, tot_mean, n = torch.zeros(1 + n_mod), torch.zeros(1 + n_mod), 0
        for i, raw in enumerate(self._loader(ds, None, 0, train=False)):
            batch = self._to_device(raw)
            b = next(iter(batch.values())).shape[0]
            masks = self._masks(b, self.cfg.pretrain.seed, 10**6, i)
            with runtime.autocast(self.device, self.dtype):
                out = self.model(batch, masks)
            mp = mean_predictor_loss(out)
            tot_model += b * torch.tensor(
                [out.loss.float().item()] + [out.losses[m].float().item() for m in self.loss_mods]
            )
            tot_mean += b * torch.tensor(_loss_list(mp, self.loss_mods))
            n += b
        self.model.train()
        return {
            "clips": n,
            "model": self._named((tot_model / n).tolist()),
            "mean": self._named((tot_mean / n).tolist()),
        }

    def _summary(self) -> dict:
        p = self.cfg.pretrain
        ep = self.epoch_stats
        last_epoch = [s / ep["n"] for s in ep["sum"]] if ep.get("sum") else None
        val = self._evaluate_val()
        eff = effective_batch(p, self.info.world_size)
        summary = {
            "profile": self.cfg.profile,
            "dataset": self.cfg.data.dataset,
            "modalities": list(self.mods),
            "steps": self.step,
            "epochs": p.epochs,
            "steps_per_epoch": self.spe,
            "effective_batch": eff,
            "peak_lr": self.sched.peak_lr,
            "train_loss": {"final": self._named(self.last_vals), "last_epoch_mean": self._named(last_epoch)},
            "val_hidden_token_loss": val,
            "wall_time_s": round(self.elapsed, 2),
            "clips_per_s": round(self.step * eff / self.elapsed, 2) if self.elapsed > 0 else None,
            "device": str(self.device),
            "world_size": self.info.world_size,
            "dtype": str(self.dtype or torch.float32).replace("torch.", ""),
            "checkpoint": str(self.out / FINAL),
            "peak_memory_mb": round(peak_memory_mb(self.device), 1),
            "provenance": provenance.read(self.out),  # a copy of provenance.json
        }
        if "model" in val:
            summary["headline"] = (
                f"val hidden-token loss {val['model']['total']:.4f} vs predicting the mean "
                f"{val['mean']['total']:.4f} (train last-epoch mean {last_epoch[0]:.4f})"
                if last_epoch
                else f"val hidden-token loss {val['model']['total']:.4f} vs predicting the mean "
                f"{val['mean']['total']:.4f}"
            )
        return summary


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: CUDA max allocated on a GPU, else this process's peak RSS (Linux ru_maxrss, kB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _loss_list(mp: dict, mods: tuple[str, ...]) -> list[float]:
    """[total, per-modality...] from mean_predictor_loss's {mod: MSE, "loss": total}."""
    return [float(mp["loss"])] + [float(mp[m]) for m in mods]
