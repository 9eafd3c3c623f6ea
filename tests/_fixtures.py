"""Tiny MMAct-layout trees for the data tests (no dependency on SynthAct).

Videos encode their frame index in their brightness (`frame_value(k)`), so a test can tell which frames
were read. Sensor x is the time since the recording start in seconds (a ramp), so a test can tell which
time span was read.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

SENSORS = ("acc_phone", "acc_watch", "gyro", "orientation")
T0_MS = 1_540_000_000_000.0  # sensor clocks in epoch milliseconds, like phone logs


def frame_value(k: int) -> int:
    """Grey level of frame k in the fixture videos (distinct for k < 30)."""
    return 12 + 8 * (k % 30)


def write_video_pyav(path: Path, n_frames: int, size: int = 32, fps: int = 30) -> Path:
    """An H.264 mp4 of n_frames grey frames, frame k at grey level frame_value(k)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.options = {"crf": "10", "g": "8"}
        for k in range(n_frames):
            img = np.full((size, size, 3), frame_value(k), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_video_ffmpeg(path: Path, seconds: float = 1.0, size: int = 64, fps: int = 30) -> Path:
    """A real H.264 file written by another program: the ffmpeg binary's test pattern."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
        "-i", f"testsrc=size={size}x{size}:rate={fps}", "-t", str(seconds),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return path


def write_csv(path: Path, t: np.ndarray, xyz: np.ndarray, header: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["timestamp,x,y,z"] if header else []
    lines += [f"{a:.3f},{x:.6f},{y:.6f},{z:.6f}" for a, (x, y, z) in zip(t, xyz)]
    path.write_text("\n".join(lines) + "\n")
    return path


def sensor_signal(rng: np.random.Generator, duration_s: float, rate: float, offset: float = 0.0):
    """Uneven timestamps (ms) over [0, duration_s] (the clip's n/fps, as SynthAct writes them);
    x = time in seconds, y = sin, z = cos + offset."""
    n = max(int(duration_s * rate), 4)
    t = np.sort(rng.uniform(0, duration_s, n))
    t[0], t[-1] = 0.0, duration_s
    ms = T0_MS + 1000 * t
    xyz = np.stack([t, np.sin(2 * np.pi * t) + offset, np.cos(3 * t) + offset], 1)
    return ms, xyz


def clip_name(subject: int, cam: int, scene: int, session: int, cls: str) -> str:
    return f"subject{subject}_cam{cam}_scene{scene}_session{session}_{cls}"


def make_tree(
    root: Path,
    classes: dict[str, int],
    cams: tuple[int, ...] = (1, 2),
    n_frames: int = 20,
    sensors: tuple[str, ...] = SENSORS,
    size: int = 32,
    seed: int = 0,
    header: bool = True,
) -> list[str]:
    """Write `classes[cls]` recordings per class, each seen by `cams`; return the `<class>/<clip>` entries."""
    rng = np.random.default_rng(seed)
    entries = []
    for ci, (cls, n_rec) in enumerate(sorted(classes.items())):
        for r in range(n_rec):
            subject, session = r + 1, 1
            rec = f"subject{subject}_scene1_session{session}_{cls}"
            for m in sensors:
                t, xyz = sensor_signal(rng, n_frames / 30, rate=50 + 10 * ci, offset=ci)
                write_csv(root / f"{m}_clip" / cls / f"{rec}.csv", t, xyz, header=header)
            for cam in cams:
                name = clip_name(subject, cam, 1, session, cls)
                write_video_pyav(root / "video" / cls / f"{name}.mp4", n_frames, size=size)
                entries.append(f"{cls}/{name}")
    return entries


def write_split(path: Path, entries: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(entries) + "\n")
    return path
