"""Video readers behind one interface: decord when it is importable, else PyAV (FFmpeg bindings).

    vr = open_video(path, size=112, resize="squash", backend="auto")
    len(vr)                      -> number of frames
    vr.get_batch([0, 2, 4])      -> uint8 (T, size, size, 3) RGB

decord has wheels for x86_64 only; PyAV has them everywhere (macOS arm64, Linux aarch64). Both decode the
frame at its native size (the two agree bit for bit there: same FFmpeg decoder, same YUV->RGB conversion)
and then one `cv2.resize` brings it to `size x size`, so the two backends return identical frames. (Asking
each library to scale inside the decoder does not: their swscale filters differ by up to 35 grey levels.)

resize: squash (the whole frame to size x size, aspect ratio not kept) | center_crop (the centred square of
side min(H, W), then resized) | short_side (short side to `size` keeping the aspect ratio, then the centred
size x size crop). A broken or empty stream raises DataError naming the file.
"""

from __future__ import annotations

import os
from typing import Protocol

import cv2
import numpy as np

from mumae_core.errors import ConfigError, DataError

BACKENDS = ("auto", "decord", "pyav")
RESIZE_MODES = ("squash", "center_crop", "short_side")


class VideoReader(Protocol):
    def __len__(self) -> int: ...

    def get_batch(self, indices) -> np.ndarray: ...


def resolve_backend(backend: str = "auto") -> str:
    """'decord' or 'pyav': auto = decord if it imports, else PyAV."""
    if backend not in BACKENDS:
        raise ConfigError(f"data.video_backend must be one of {list(BACKENDS)}; got {backend!r}")
    try:
        import decord  # noqa: F401
    except ImportError:
        if backend == "decord":
            raise ConfigError(
                "data.video_backend='decord' but decord cannot be imported (it has wheels for x86_64 only); "
                "use data.video_backend=pyav or auto"
            ) from None
        return "pyav"
    return "decord" if backend == "auto" else backend


def resize_frame(frame: np.ndarray, size: int, resize: str = "squash") -> np.ndarray:
    """uint8 (H, W, 3) at native size -> uint8 (size, size, 3) by the `resize` mode."""
    h, w = frame.shape[:2]
    if resize == "center_crop":
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        frame = frame[y : y + s, x : x + s]
    elif resize == "short_side":
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        if (nh, nw) != (h, w):
            frame = cv2.resize(frame, (nw, nh), interpolation=_interp(h, nh))
        y, x = (nh - size) // 2, (nw - size) // 2
        return np.ascontiguousarray(frame[y : y + size, x : x + size])
    elif resize != "squash":
        raise ConfigError(f"data.resize must be one of {list(RESIZE_MODES)}; got {resize!r}")
    if frame.shape[:2] == (size, size):
        return np.ascontiguousarray(frame)
    return cv2.resize(frame, (size, size), interpolation=_interp(frame.shape[0], size))


def _interp(src: int, dst: int) -> int:
    """Area averaging to shrink (no aliasing), bilinear to enlarge."""
    return cv2.INTER_AREA if dst < src else cv2.INTER_LINEAR


class _DecordReader:
    def __init__(self, path: str, size: int, resize: str):
        import decord

        self.path, self.size, self.resize = path, size, resize
        try:
            self.vr = decord.VideoReader(path, num_threads=1)
            self.n = len(self.vr)
        except (RuntimeError, decord.DECORDError) as e:
            raise DataError(f"cannot decode video {path}: {str(e).splitlines()[0][:200]}") from e

    def __len__(self) -> int:
        return self.n

    def get_batch(self, indices) -> np.ndarray:
        """uint8 (T, size, size, 3)."""
        idx = [int(i) for i in indices]
        try:
            frames = self.vr.get_batch(idx).asnumpy()  # (T, H, W, 3) native size
        except Exception as e:  # decord raises its own error types on broken streams
            raise DataError(f"cannot decode frames {idx} of video {self.path}: {e}") from e
        return _stack([resize_frame(f, self.size, self.resize) for f in frames], self.size)


class _PyAVReader:
    """Sequential decoding: frame k is the k-th frame the decoder outputs (decord's numbering)."""

    def __init__(self, path: str, size: int, resize: str):
        import av

        self.path, self.size, self.resize, self._av = path, size, resize, av
        try:
            with av.open(path) as c:
                stream = c.streams.video[0]
                self.n = sum(1 for p in c.demux(stream) if p.size)  # packets with data, not decoded
        except (av.FFmpegError, IndexError, OSError) as e:
            raise DataError(f"cannot decode video {path}: {str(e).splitlines()[0][:200]}") from e

    def __len__(self) -> int:
        return self.n

    def get_batch(self, indices) -> np.ndarray:
        """uint8 (T, size, size, 3)."""
        idx = [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < self.n]
        if bad:
            raise DataError(f"frames {bad} are outside video {self.path} ({self.n} frames)")
        wanted, got = set(idx), {}
        try:
            with self._av.open(self.path) as c:
                stream = c.streams.video[0]
                stream.thread_type = "NONE"
                for k, frame in enumerate(c.decode(stream)):
                    if k in wanted:
                        got[k] = resize_frame(frame.to_ndarray(format="rgb24"), self.size, self.resize)
                    if len(got) == len(wanted):
                        break
        except self._av.FFmpegError as e:
            raise DataError(f"cannot decode frames {idx} of video {self.path}: {e}") from e
        missing = sorted(wanted - set(got))
        if missing:
            raise DataError(f"video {self.path}: frames {missing} could not be decoded (stream ends early)")
        return _stack([got[i] for i in idx], self.size)


def _stack(frames: list[np.ndarray], size: int) -> np.ndarray:
    return np.stack(frames) if frames else np.zeros((0, size, size, 3), np.uint8)


def open_video(
    path: str | os.PathLike, size: int, resize: str = "squash", backend: str = "auto"
) -> VideoReader:
    """A reader with len() and get_batch(indices) -> uint8 (T, size, size, 3); DataError if unreadable."""
    if resize not in RESIZE_MODES:
        raise ConfigError(f"data.resize must be one of {list(RESIZE_MODES)}; got {resize!r}")
    name = resolve_backend(backend)
    reader = _DecordReader if name == "decord" else _PyAVReader
    vr = reader(str(path), int(size), resize)
    if len(vr) < 1:
        raise DataError(f"video {path} has no frames")
    return vr
