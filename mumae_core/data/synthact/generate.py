"""`generate(out, size, seed)`: write a SynthAct dataset in the MMAct layout, one recording per worker task.

Every recording draws from `numpy.random.default_rng([seed, subject, session, class, stream])`, so the output
does not depend on the number of workers or their order: same seed, same CSV bytes and decoded frames.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mumae_core.errors import ConfigError, DataError
from mumae_core.progress import progress as progress_bar

from .programs import CLASSES, Ctx, run_program
from .render import (
    background,
    body_items,
    body_spec,
    door_geometry,
    make_camera,
    paint,
    person_crop,
    project_prims,
    prop_items,
    static_prims,
)
from .sensors import RATES, SENSORS, SIM_RATE, sensor_streams
from .skeleton import ANGLES, J, Kinematics, Subject, forward, make_subject
from .writer import clip_name, recording_name, sensor_path, video_path, write_csv, write_mp4

VERSION = "2.0"  # 1.1: constant-QP H.264 (bit-exact frames for a seed); 2.0: person crop, limb colours
FPS = 30
SIZES = {
    "smoke": {"subjects": 2, "cameras": (1, 2), "sessions": 1, "resolution": 64, "duration_s": 1.5},
    "default": {"subjects": 8, "cameras": (1, 2, 3, 4), "sessions": 2, "resolution": 112, "duration_s": 3.0},
}
# MMAct one-shot split 3 (reference/mmact_split3): 23 base (train) and 10 novel (test) classes.
NOVEL_CLASSES = ("carrying", "checking_time", "exiting", "kicking", "pointing", "pulling", "setting_down",
                 "transferring_object", "walking", "waving_hand")  # fmt: skip
BASE_CLASSES = tuple(c for c in CLASSES if c not in NOVEL_CLASSES)
VAL_CLASSES = ("closing", "jumping", "looking_around", "pocket_out", "throwing")
_PAD = 0.5  # seconds simulated before and after the clip (clock offsets, finite differences)


@dataclass
class Recording:
    """One simulated recording: the motion at the simulation rate and its sensor streams."""

    subject: Subject
    session: int
    cls: str
    scene: int
    n_frames: int
    t: np.ndarray  # (n,) seconds on the video clock
    ctx: Ctx
    kin: Kinematics
    sensors: dict  # sensor -> (timestamps_ms (m,), values (m, 3))

    @property
    def name(self) -> str:
        return recording_name(self.subject.index, self.scene, self.session, self.cls)


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, amp: float) -> np.ndarray:
    f, ph = rng.uniform(0.15, 1.0, 2), rng.uniform(0, 2 * np.pi, 2)
    return amp * (np.sin(2 * np.pi * f[0] * t + ph[0]) + np.sin(2 * np.pi * f[1] * t + ph[1])) / 2


def simulate(seed: int, size: str, subject: int, session: int, cls: str) -> Recording:
    """Simulate recording (subject, session, class) of dataset `seed`: motion, scene and sensor streams."""
    cfg = _size(size)
    rng = np.random.default_rng([seed, subject, session, CLASSES.index(cls), 0])
    subj = make_subject(seed, subject)
    scene = int(rng.integers(1, 5))
    n_frames = int(round(cfg["duration_s"] * rng.uniform(0.9, 1.1) * FPS))
    D = n_frames / FPS
    t = np.arange(-_PAD, D + _PAD, 1.0 / SIM_RATE)
    door_xy, door_n = door_geometry(scene)
    c = Ctx(t=t, D=D, rng=rng, dom=subj.dom, door_xy=door_xy, door_n=door_n, tempo=rng.uniform(0.8, 1.2))
    run_program(cls, c)
    ang = {}
    for k in ANGLES:
        v = c.ang.get(k, np.zeros_like(t))
        if k == "yaw":
            ang[k] = np.radians(v + _smooth_noise(rng, t, 3.0))
        else:  # amplitude ±15% and small smooth noise on every angle
            v = v * rng.uniform(0.85, 1.15) + _smooth_noise(rng, t, 1.5)
            ang[k] = np.radians(np.clip(v, -90, 90) if k in ("body_pitch", "body_roll") else v)
    kin = forward(subj, ang, c.root, c.lift)
    srng = np.random.default_rng([seed, subject, 99])
    sens = sensor_streams(kin, t, D, subj, c.phone_hand, c.phone_side, rng, srng)
    return Recording(subj, session, cls, scene, n_frames, t, c, kin, sens)


def prop_positions(rec: Recording) -> list:
    """`[(kind, size, positions (n, 3) with NaN where hidden)]` for the recording's props."""
    p = rec.kin.joints
    hands = {1: p[:, J["l_wrist"]], 2: p[:, J["r_wrist"]], 3: (p[:, J["l_wrist"]] + p[:, J["r_wrist"]]) / 2}
    out = []
    for pr in rec.ctx.props:
        pos = np.full((len(rec.t), 3), np.nan)
        code = pr.carrier.astype(int)
        held = np.isin(code, (1, 2, 3))
        for k, h in hands.items():
            pos[code == k] = h[code == k]
        if pr.kind in ("box", "small_box") and (code == 3).any():  # a box sits in front of both hands
            fwd = rec.kin.frames["trunk"][:, :, 0]
            pos[code == 3] += (fwd[code == 3] * pr.size / 2) - [0, 0, pr.size * 0.2]
        idx = np.flatnonzero(held)
        for i in np.flatnonzero(code == 0):  # resting: where it was released / will be grabbed, on the floor
            j = idx[idx < i][-1] if (idx < i).any() else (idx[idx > i][0] if (idx > i).any() else None)
            if j is not None:
                pos[i] = pos[j]
                pos[i, 2] = pr.size / 2
        thrown = np.flatnonzero(code == 4)
        if len(thrown):
            i0 = thrown[0]
            v0 = (pos[i0 - 1] - pos[i0 - 6]) / (5 / SIM_RATE)
            dt = (np.arange(len(thrown)) + 1) / SIM_RATE
            traj = pos[i0 - 1] + v0 * dt[:, None] + 0.5 * np.array([0, 0, -9.81]) * dt[:, None] ** 2
            traj[:, 2] = np.maximum(traj[:, 2], pr.size / 2)
            pos[thrown] = traj
        out.append((pr.kind, pr.size, pos))
    return out


def render_frames(rec: Recording, cam: int, size: int, seed: int):
    """Yield the `rec.n_frames` RGB frames `(size, size, 3)` uint8 of camera `cam`.

    All frames' points are projected at once and the scene primitives once per door angle; the per-frame
    noise is one draw of the whole clip (the same stream as one draw per frame).
    """
    crng = np.random.default_rng([seed, rec.subject.index, rec.session, CLASSES.index(rec.cls), 2, cam])
    idx = [int(round((k / FPS + _PAD) * SIM_RATE)) for k in range(rec.n_frames)]  # sim. sample of frame k
    camera = person_crop(make_camera(cam, size, crng), rec.kin.joints[idx], crng)
    bg = background(camera, rec.scene, crng)
    sleeves = rec.subject.index % 3 != 0
    c = rec.ctx
    table_at = None
    if c.table:
        mid = len(rec.t) // 2
        yaw = np.radians(c.ang["yaw"][mid]) if "yaw" in c.ang else 0.0
        table_at = (c.root[mid] + 0.55 * np.array([np.cos(yaw), np.sin(yaw)]), yaw)
    body = body_items(camera, rec.kin.joints[idx], body_spec(rec.subject, sleeves))
    props = [prop_items(camera, kind, sz, pos[idx]) for kind, sz, pos in prop_positions(rec)]
    scene: dict[float, list] = {}  # door angle -> painter's items of the scene
    frames = np.empty((rec.n_frames, size, size, 3), np.uint8)
    for k, i in enumerate(idx):
        angle = float(c.door_angle[i])
        if angle not in scene:
            scene[angle] = project_prims(camera, static_prims(rec.scene, angle, table_at))
        frames[k] = bg
        paint(frames[k], camera, scene[angle] + body[k] + [it for p in props for it in p[k]])
    noisy = frames.astype(np.int16) + crng.normal(0, 3.0, frames.shape).astype(np.int16)
    yield from np.clip(noisy, 0, 255).astype(np.uint8)


def _size(size: str) -> dict:
    if size not in SIZES:
        raise ConfigError(f"synthact size must be one of {sorted(SIZES)}; got {size!r}")
    return SIZES[size]


def _work(task: tuple) -> list[str]:
    """Simulate and write one recording (4 sensor CSVs, one mp4 per camera); returns `<class>/<clip>`s."""
    out, seed, size, subject, session, cls = task
    import cv2

    cv2.setNumThreads(1)
    cfg = _size(size)
    rec = simulate(seed, size, subject, session, cls)
    root = Path(out)
    for s in SENSORS:
        write_csv(sensor_path(root, s, cls, rec.name), *rec.sensors[s])
    clips = []
    for cam in cfg["cameras"]:
        clip = clip_name(subject, cam, rec.scene, session, cls)
        n = write_mp4(video_path(root, cls, clip), render_frames(rec, cam, cfg["resolution"], seed),
                      cfg["resolution"], FPS)  # fmt: skip
        if n != rec.n_frames:
            raise DataError(f"SynthAct: wrote {n} of {rec.n_frames} frames for {clip}")
        clips.append(f"{cls}/{clip}")
    return clips


def generate(out, size: str = "default", seed: int = 0, workers: int | None = None, progress: bool = True,
             classes=None) -> Path:  # fmt: skip
    """Write SynthAct (`size` smoke|default, `seed`) to `out` in the MMAct layout; returns the root Path.

    Writes `video/<class>/<clip>.mp4`, `<sensor>_clip/<class>/<recording>.csv`, `splits/trainlist03.txt`,
    `splits/testlist03.txt` (23 base classes / 10 novel classes) and `synthact.json`. `workers` processes
    (default: all CPU cores); `classes` restricts generation to some classes (tests), the recordings written
    are identical to those of a full generation.
    """
    cfg = _size(size)
    classes = CLASSES if classes is None else tuple(classes)
    unknown = sorted(set(classes) - set(CLASSES))
    if unknown:
        raise ConfigError(f"synthact: unknown classes {unknown}")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    (root / "synthact.json").unlink(missing_ok=True)  # written last: its presence marks a complete dataset
    tasks = [(str(root), int(seed), size, k, e, c) for c in classes for k in range(1, cfg["subjects"] + 1)
             for e in range(1, cfg["sessions"] + 1)]  # fmt: skip
    workers = min(len(tasks), workers or os.cpu_count() or 1)
    bar = progress_bar(total=len(tasks), desc=f"SynthAct {size}", unit="rec", disable=not progress)
    clips: list[str] = []
    if workers <= 1:
        for task in tasks:
            clips += _work(task)
            bar.update()
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for res in pool.imap_unordered(_work, tasks):
                clips += res
                bar.update()
    bar.close()
    clips.sort()
    (root / "splits").mkdir(exist_ok=True)
    train = [c for c in clips if c.split("/")[0] in BASE_CLASSES]
    test = [c for c in clips if c.split("/")[0] in NOVEL_CLASSES]
    (root / "splits" / "trainlist03.txt").write_text("".join(f"{c}\n" for c in train))
    (root / "splits" / "testlist03.txt").write_text("".join(f"{c}\n" for c in test))
    meta = {
        "dataset": "synthact", "generator_version": VERSION, "size": size, "seed": int(seed),
        "fps": FPS, "resolution": [cfg["resolution"], cfg["resolution"]], "duration_s": cfg["duration_s"],
        "sensor_rates_hz": RATES, "simulation_rate_hz": SIM_RATE, "subjects": cfg["subjects"],
        "cameras": list(cfg["cameras"]), "sessions": cfg["sessions"], "classes": list(classes),
        "base_classes": list(BASE_CLASSES), "novel_classes": list(NOVEL_CLASSES),
        "val_classes": list(VAL_CLASSES),
        "counts": {"recordings": len(tasks), "clips": len(clips), "train_clips": len(train),
                   "test_clips": len(test)},
    }  # fmt: skip
    (root / "synthact.json").write_text(json.dumps(meta, indent=2) + "\n")
    return root
