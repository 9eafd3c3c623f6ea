"""SynthAct kinematic body: subject parameters and vectorised forward kinematics.

World frame: x, y horizontal, z up (metres). Body frame: x forward, y left, z up. Every angle is an
array over time `(n,)` in radians; every rotation is `(n, 3, 3)` and maps body-part coordinates to world
coordinates (its columns are the part's axes in the world).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JOINTS = (
    "pelvis", "chest", "neck", "head",
    "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
    "l_hip", "l_knee", "l_ankle", "l_toe", "r_hip", "r_knee", "r_ankle", "r_toe",
)  # fmt: skip
J = {name: i for i, name in enumerate(JOINTS)}

# Angles a program may set (degrees in programs, radians here); anything unset is 0.
ANGLES = (
    "yaw", "body_pitch", "body_roll", "t_yaw", "t_pitch", "t_roll", "h_yaw", "h_pitch",
    "l_flex", "l_abd", "l_rot", "l_elbow", "l_pron", "r_flex", "r_abd", "r_rot", "r_elbow", "r_pron",
    "l_hip", "l_hip_abd", "l_knee", "r_hip", "r_hip_abd", "r_knee",
)  # fmt: skip

PALETTE_SHIRT = np.array(
    [[200, 40, 40], [40, 90, 200], [40, 160, 60], [220, 180, 40], [150, 60, 170], [230, 120, 30],
     [60, 170, 180], [210, 210, 210], [90, 90, 90], [170, 110, 70]], dtype=np.uint8,
)  # fmt: skip
PALETTE_TROUSERS = np.array(
    [[30, 40, 90], [40, 40, 40], [110, 90, 60], [70, 70, 80], [20, 70, 50], [120, 120, 130]], dtype=np.uint8
)
SKIN = np.array([[235, 200, 170], [200, 150, 110], [150, 100, 70], [100, 65, 45]], dtype=np.uint8)


@dataclass(frozen=True)
class Subject:
    """Body and appearance of one subject; constant across classes and sessions."""

    index: int
    scale: float  # overall height factor (1.0 = 1.75 m)
    lengths: dict  # segment lengths in metres
    left_handed: bool
    shirt: tuple
    trousers: tuple
    skin: tuple

    @property
    def dom(self) -> str:
        """'l' or 'r': the dominant hand used by one-hand actions."""
        return "l" if self.left_handed else "r"


def make_subject(seed: int, index: int) -> Subject:
    """Subject `index` (1-based) for dataset seed `seed`: height ±10%, limbs ±5%, handedness, colours."""
    rng = np.random.default_rng([seed, 7919, index])
    s = float(rng.uniform(0.9, 1.1))

    def ln(base: float) -> float:
        return float(base * s * rng.uniform(0.95, 1.05))

    lengths = {
        "spine": ln(0.45), "neck": ln(0.10), "head": ln(0.13), "shoulder": ln(0.19), "upper_arm": ln(0.30),
        "forearm": ln(0.27), "hip": ln(0.10), "thigh": ln(0.44), "shank": ln(0.43), "foot": ln(0.14),
        "ankle": 0.07 * s,
    }  # fmt: skip
    # About one in four subjects is left-handed; subject 1 is always right-handed, subject 2 left-handed,
    # so that even the 2-subject smoke size has both.
    left = {1: False, 2: True}.get(index, bool(rng.random() < 0.25))
    return Subject(
        index=index, scale=s, lengths=lengths, left_handed=left,
        shirt=tuple(int(v) for v in PALETTE_SHIRT[rng.integers(len(PALETTE_SHIRT))]),
        trousers=tuple(int(v) for v in PALETTE_TROUSERS[rng.integers(len(PALETTE_TROUSERS))]),
        skin=tuple(int(v) for v in SKIN[rng.integers(len(SKIN))]),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------- rotations
def rx(a: np.ndarray) -> np.ndarray:
    """Rotation about x, `(n,) -> (n, 3, 3)`."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def ry(a: np.ndarray) -> np.ndarray:
    """Rotation about y, `(n,) -> (n, 3, 3)`; positive tilts +z towards +x."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rz(a: np.ndarray) -> np.ndarray:
    """Rotation about z, `(n,) -> (n, 3, 3)`; positive turns +x towards +y."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def mm(*mats: np.ndarray) -> np.ndarray:
    """Product of (stacks of) 3x3 matrices `(..., 3, 3)`, left to right.

    Written as explicit element-wise sums rather than `@`: BLAS kernels may round differently with the
    thread count or CPU path, which would break byte-identical output across processes.
    """
    out = mats[0]
    for b in mats[1:]:
        a = out
        out = a[..., :, 0, None] * b[..., None, 0, :] + a[..., :, 1, None] * b[..., None, 1, :]
        out = out + a[..., :, 2, None] * b[..., None, 2, :]
    return out


def mv(r: np.ndarray, v) -> np.ndarray:
    """Rotations `(..., 3, 3)` applied to vectors `(..., 3)` (broadcast) -> `(..., 3)`; no BLAS (see `mm`)."""
    v = np.asarray(v, dtype=float)
    return r[..., :, 0] * v[..., None, 0] + r[..., :, 1] * v[..., None, 1] + r[..., :, 2] * v[..., None, 2]


def apply(r: np.ndarray, v) -> np.ndarray:
    """Rotate a fixed vector `(3,)` by each rotation `(n, 3, 3)` -> `(n, 3)`."""
    return mv(r, v)


def softmin(h: np.ndarray, tau: float = 0.015) -> np.ndarray:
    """Smooth minimum over the last axis `(n, k) -> (n,)`, so ground contact switches without kinks."""
    m = h.min(axis=-1, keepdims=True)
    return (m - tau * np.log(np.exp(-(h - m) / tau).sum(-1, keepdims=True)))[..., 0]


@dataclass
class Kinematics:
    """Forward-kinematics result: joint positions `(n, J, 3)` and the frames sensors attach to."""

    joints: np.ndarray
    frames: dict  # name -> (n, 3, 3): trunk, l_hand, r_hand, l_thigh, r_thigh, head


def forward(subject: Subject, ang: dict, root_xy: np.ndarray, lift: np.ndarray) -> Kinematics:
    """Joints `(n, J, 3)` for angles `ang[name]: (n,)` (rad), root path `root_xy (n, 2)`, flight `lift (n,)`.

    The pelvis height is solved so that the lowest contact point (feet, or any body part when lying)
    touches the floor (smooth minimum), plus `lift` during jumps.
    """
    L = subject.lengths
    n = root_xy.shape[0]
    g = {k: ang.get(k, np.zeros(n)) for k in ANGLES}
    r_root = mm(rz(g["yaw"]), ry(g["body_pitch"]), rx(g["body_roll"]))
    r_trunk = mm(r_root, rz(g["t_yaw"]), ry(g["t_pitch"]), rx(g["t_roll"]))
    r_head = mm(r_trunk, rz(g["h_yaw"]), ry(g["h_pitch"]))
    p = np.zeros((n, len(JOINTS), 3))
    p[:, J["chest"]] = apply(r_trunk, [0, 0, L["spine"]])
    p[:, J["neck"]] = apply(r_trunk, [0, 0, L["spine"] + L["neck"]])
    p[:, J["head"]] = p[:, J["neck"]] + apply(r_head, [0.02, 0, L["head"]])
    frames = {"trunk": r_trunk, "head": r_head}
    for side, sgn in (("l", 1.0), ("r", -1.0)):
        sh = p[:, J["chest"]] + apply(r_trunk, [0, sgn * L["shoulder"], -0.03])
        r_ua = mm(r_trunk, rx(sgn * g[f"{side}_abd"]), ry(-g[f"{side}_flex"]), rz(-sgn * g[f"{side}_rot"]))
        el = sh + apply(r_ua, [0, 0, -L["upper_arm"]])
        r_fa = mm(r_ua, ry(-g[f"{side}_elbow"]))
        wr = el + apply(r_fa, [0, 0, -L["forearm"]])
        frames[f"{side}_hand"] = mm(r_fa, rz(-sgn * g[f"{side}_pron"]))
        p[:, J[f"{side}_shoulder"]], p[:, J[f"{side}_elbow"]], p[:, J[f"{side}_wrist"]] = sh, el, wr
        hip = apply(r_root, [0, sgn * L["hip"], 0])
        r_th = mm(r_root, rx(sgn * g[f"{side}_hip_abd"]), ry(-g[f"{side}_hip"]))
        kn = hip + apply(r_th, [0, 0, -L["thigh"]])
        r_sh = mm(r_th, ry(g[f"{side}_knee"]))
        an = kn + apply(r_sh, [0, 0, -L["shank"]])
        frames[f"{side}_thigh"] = r_th
        p[:, J[f"{side}_hip"]], p[:, J[f"{side}_knee"]], p[:, J[f"{side}_ankle"]] = hip, kn, an
        p[:, J[f"{side}_toe"]] = an + apply(r_root, [L["foot"], 0, -L["ankle"] * 0.6])
    # contact heights: ankles carry the foot height, other parts a body radius (lying on the floor)
    pad = np.full(len(JOINTS), 0.09)
    pad[[J["l_ankle"], J["r_ankle"]]] = L["ankle"]
    pad[[J["l_toe"], J["r_toe"]]] = 0.02
    z0 = -softmin(p[:, :, 2] - pad)
    p[:, :, 0] += root_xy[:, None, 0]
    p[:, :, 1] += root_xy[:, None, 1]
    p[:, :, 2] += (z0 + lift)[:, None]
    return Kinematics(joints=p, frames=frames)
