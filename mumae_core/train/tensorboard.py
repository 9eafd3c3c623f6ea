"""TensorBoard event files beside metrics.jsonl, for watching a pretraining run live.

    tb = RunWriter(run_dir, enabled=cfg.pretrain.tensorboard, purge_step=step)
    tb.log(row)     # a metrics.jsonl row {step, epoch, lr, loss, loss_<modality>..., time} -> scalars
    tb.close()

Then `tensorboard --logdir RUN_DIR` (the optional extra `pip install mumae-kit[tb]`). The writer is
torch's `torch.utils.tensorboard.SummaryWriter`, which needs the `tensorboard` package: without it a run
with `pretrain.tensorboard=true` warns once and goes on writing metrics.jsonl only. On resume, `purge_step`
drops events at or after the resumed step, as metrics.jsonl is truncated there.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

# scalar tag of each metrics.jsonl key; "step" is the x axis, "epoch" and "time" are not plotted
_SKIP = ("step", "epoch", "time")


def _tag(key: str) -> str:
    """'loss' -> 'loss/total', 'loss_video' -> 'loss/video', 'lr' -> 'lr'."""
    if key == "loss":
        return "loss/total"
    if key.startswith("loss_"):
        return f"loss/{key[5:]}"
    return key


class RunWriter:
    """A SummaryWriter on `run_dir`, or a no-op when disabled or when tensorboard is not installed."""

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True, purge_step: int | None = None):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # torch raises ImportError when the tensorboard package is missing
            warnings.warn(
                f"pretrain.tensorboard=true but TensorBoard cannot be imported ({e}); {run_dir} gets "
                "metrics.jsonl only. Install it (pip install tensorboard) or set pretrain.tensorboard=false",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        self.writer = SummaryWriter(log_dir=str(Path(run_dir)), purge_step=purge_step or None, flush_secs=30)

    @property
    def active(self) -> bool:
        return self.writer is not None

    def log(self, row: dict) -> None:
        """Write the numeric values of a metrics row as scalars at row["step"]."""
        if self.writer is None:
            return
        for k, v in row.items():
            if k not in _SKIP and isinstance(v, int | float):
                self.writer.add_scalar(_tag(k), v, global_step=int(row["step"]))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
