"""SynthAct output: H.264 mp4 (PyAV, libx264, one thread for determinism), sensor CSV, MMAct layout paths."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def clip_name(subject: int, cam: int, scene: int, session: int, cls: str) -> str:
    """MMAct clip name `subject<k>_cam<c>_scene<s>_session<e>_<class>`."""
    return f"subject{subject}_cam{cam}_scene{scene}_session{session}_{cls}"


def recording_name(subject: int, scene: int, session: int, cls: str) -> str:
    """The clip name without its `cam` token: all camera views share the sensor files."""
    return f"subject{subject}_scene{scene}_session{session}_{cls}"


def video_path(root: Path, cls: str, clip: str) -> Path:
    return root / "video" / cls / f"{clip}.mp4"


def sensor_path(root: Path, sensor: str, cls: str, recording: str) -> Path:
    return root / f"{sensor}_clip" / cls / f"{recording}.csv"


def write_mp4(path: Path, frames: Iterable[np.ndarray], size: int, fps: int) -> int:
    """Encode RGB frames `(H, W, 3)` uint8 to H.264 (yuv420p, constant QP 18); returns the frame count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    n = 0
    with av.open(str(tmp), mode="w") as box:
        st = box.add_stream("libx264", rate=fps)
        st.width = st.height = size
        st.pix_fmt = "yuv420p"
        # Constant QP, not CRF: CRF rate control through PyAV gave different decoded frames from run to run
        # (measured: 3 distinct results in 15 encodes of the same frames); constant QP is bit-exact.
        st.options = {"qp": "18", "preset": "veryfast", "threads": "1"}
        st.codec_context.thread_count = 1
        for fr in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                box.mux(pkt)
            n += 1
        for pkt in st.encode():
            box.mux(pkt)
    tmp.replace(path)
    return n


def write_csv(path: Path, ts_ms: np.ndarray, xyz: np.ndarray) -> None:
    """Sensor CSV: header `timestamp,x,y,z`, timestamp in ms, fixed decimals (byte-identical for a seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{t:.3f},{x:.5f},{y:.5f},{z:.5f}" for t, (x, y, z) in zip(ts_ms.tolist(), xyz.tolist())]
    path.write_text("timestamp,x,y,z\n" + "\n".join(rows) + "\n")
