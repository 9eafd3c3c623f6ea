"""Modality kinds, names and normalisation constants: the one place that knows which modality is video.

Modalities are dict keys everywhere (DESIGN.md §3). Exactly one kind is special: `video` (a clip
`(C, T, H, W)`); every other modality is a sensor stream `(L, SENSOR_CHANNELS)`. Code asks `is_video(m)` or
`sensors(mods)` instead of comparing with a string literal.
"""

from __future__ import annotations

from collections.abc import Iterable

VIDEO = "video"
MMACT_MODALITIES = (VIDEO, "acc_phone", "acc_watch", "gyro", "orientation")
HAPT_MODALITIES = ("acc", "gyro")
SENSOR_CHANNELS = 3  # every sensor stream is (L, 3)

# Video normalisation (ImageNet statistics, as the reference's pretraining): x = (pixel / 255 - mean) / std
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def is_video(modality: str) -> bool:
    """True for the video modality, False for a sensor stream."""
    return modality == VIDEO


def sensors(modalities: Iterable[str]) -> tuple[str, ...]:
    """The sensor modalities of `modalities`, in order."""
    return tuple(m for m in modalities if not is_video(m))


def has_video(modalities: Iterable[str]) -> bool:
    return any(is_video(m) for m in modalities)


INPUT_SUFFIX = ":input"


def input_key(m: str) -> str:
    """The representations key of sensor m's input statistics (B, 1, F_m), beside its tokens under m."""
    return f"{m}{INPUT_SUFFIX}"


def is_input_key(key: str) -> bool:
    """True for an input-statistics key (`input_key`), which is not a modality."""
    return key.endswith(INPUT_SUFFIX)
