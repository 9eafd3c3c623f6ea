"""SynthAct: a synthetic MMAct-layout dataset in which video and wearable sensors are two views of one body.

`generate(out, size="default", seed=0, workers=None, progress=True) -> Path` writes it; see docs/synthact.md.
"""

from .generate import BASE_CLASSES, NOVEL_CLASSES, SIZES, VAL_CLASSES, generate, simulate
from .programs import CLASSES, SENSOR_GROUPS, VIDEO_GROUPS

__all__ = [
    "generate",
    "simulate",
    "CLASSES",
    "BASE_CLASSES",
    "NOVEL_CLASSES",
    "VAL_CLASSES",
    "SIZES",
    "VIDEO_GROUPS",
    "SENSOR_GROUPS",
]
