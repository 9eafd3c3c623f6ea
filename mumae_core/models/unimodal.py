"""Separate unimodal encoders trained from scratch: the reference variant (`oneshot.unimodal = "scratch"`).

The reference one-shot stage (method_reference.md §4.1-4.2) uses four SensorCNNs and a TimeSformer ViT-B
initialised from an external image-MAE checkpoint of unresolved provenance. Here:
  * SensorCNN is the reference network with its bug fixed: the input (B, L, 3) is PERMUTED to (B, 3, L)
    (the reference `view`s it, which mixes the x/y/z axes). Conv1d(3->16, k=3) -> ReLU -> MaxPool(2) ->
    flatten -> Linear(-> 64). Output one token per clip: (B, 1, 64).
  * VideoCNN is a small 3D CNN STANDING IN for the TimeSformer (no external weights, CPU friendly): three
    strided Conv3d + ReLU layers, its last feature map read as tokens (B, T'*H'*W', 128) with a LayerNorm.
Both are trained from scratch by the episodic loss.
"""

from __future__ import annotations

import torch
from torch import nn

from mumae_core.errors import ConfigError, DataError
from mumae_core.modalities import is_video

SENSOR_DIM = 64  # reference SensorCNN output
VIDEO_DIM = 128  # stand-in video CNN width (the reference TimeSformer is 768-d)


class SensorCNN(nn.Module):
    """x (B, L, 3) -> (B, 1, out_dim). The reference SensorCNN with a correct permute."""

    def __init__(self, sensor_len: int, out_dim: int = SENSOR_DIM, channels: int = 16):
        super().__init__()
        if sensor_len < 4:
            raise ConfigError(f"SensorCNN: data.sensor_len={sensor_len} is too short (need >= 4)")
        self.conv = nn.Conv1d(3, channels, 3)
        self.pool = nn.MaxPool1d(2)
        self.fc = nn.Linear(channels * ((sensor_len - 2) // 2), out_dim)
        self.sensor_len = sensor_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.sensor_len or x.shape[2] != 3:
            raise DataError(f"SensorCNN: expected (B, {self.sensor_len}, 3); got {tuple(x.shape)}")
        h = self.pool(torch.relu(self.conv(x.permute(0, 2, 1))))  # (B, 16, (L-2)//2)
        return self.fc(h.flatten(1)).unsqueeze(1)


class VideoCNN(nn.Module):
    """x (B, 3, T, H, W) -> tokens (B, T'*H'*W', out_dim); a small stand-in for the reference TimeSformer."""

    def __init__(self, out_dim: int = VIDEO_DIM):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(3, 32, (1, 5, 5), stride=(1, 4, 4), padding=(0, 2, 2)),
            nn.ReLU(),
            nn.Conv3d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv3d(64, out_dim, 3, stride=(1, 2, 2), padding=1),
            nn.ReLU(),
        )
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != 3:
            raise DataError(f"VideoCNN: expected (B, 3, T, H, W); got {tuple(x.shape)}")
        return self.norm(self.net(x).flatten(2).transpose(1, 2))


class UnimodalEncoders(nn.Module):
    """One encoder per modality. forward(batch {mod: tensor}) -> {mod: (B, N_m, D_m)} for those given."""

    def __init__(self, modalities: tuple[str, ...], sensor_len: int):
        super().__init__()
        if not modalities:
            raise ConfigError("UnimodalEncoders: empty modality list")
        self.encoders = nn.ModuleDict(
            {m: VideoCNN() if is_video(m) else SensorCNN(sensor_len) for m in modalities}
        )
        self.dims = {m: VIDEO_DIM if is_video(m) else SENSOR_DIM for m in modalities}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: enc(batch[m]) for m, enc in self.encoders.items() if m in batch}


def build_unimodal(cfg) -> UnimodalEncoders:
    return UnimodalEncoders(tuple(cfg.data.modalities), cfg.data.sensor_len)
