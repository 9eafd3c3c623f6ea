"""The 33 SynthAct class programs: joint angles, root path, props and the phone's holder over time.

A program is a function `prog(c: Ctx) -> None` that fills `c.ang` (degrees, arrays `(n,)`), `c.root` `(n, 2)`,
`c.props` and `c.phone_hand` from smooth keyframes of the time `c.t` `(n,)` (seconds, video clock; the clip
spans `[0, c.D]`). Per-recording variation comes from `c.rng`: tempo, event times, poses, paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mumae_core.errors import DataError

# (flex, abd, rot, elbow, pron) in degrees; rot > 0 = internal (hand towards the midline)
HANG = (0, 6, 0, 10, 0)
LOW_HOLD = (12, 14, 10, 22, 10)  # hands at the sides of a box held low
CARRY = (35, 15, 30, 75, 70)
REACH = (68, 10, 0, 25, 0)
PULLED = (38, 28, 10, 80, 20)
AT_MOUTH = (32, 14, 32, 128, 10)
AT_EAR = (28, 30, 12, 140, 60)
CHEST = (28, 10, 35, 95, 60)
WATCH = (40, 10, 55, 105, 90)
TYPE = (25, 12, 22, 85, 80)
LAP = (14, 10, 18, 62, 60)


@dataclass
class Prop:
    """A prop carried by a hand. `carrier (n,)`: 0 rest, 1 left hand, 2 right hand, 3 both, 4 thrown."""

    kind: str  # phone | cup | box | ball | small_box
    carrier: np.ndarray
    size: float


@dataclass
class Ctx:
    """Everything a program reads and writes for one recording."""

    t: np.ndarray
    D: float
    rng: np.random.Generator
    dom: str
    door_xy: np.ndarray  # (2,) door centre in the world
    door_n: np.ndarray  # (2,) unit vector from the door towards the scene centre
    tempo: float = 1.0
    ang: dict = field(default_factory=dict)
    root: np.ndarray | None = None
    props: list = field(default_factory=list)
    phone_hand: np.ndarray | None = None  # (n,) weight in [0, 1] of "phone in the right/left hand"
    phone_side: str = "r"
    door_angle: np.ndarray | None = None  # (n,) degrees, 0 = closed
    table: bool = False
    lift: np.ndarray | None = None  # (n,) metres above the ground-contact height (jumps)

    def __post_init__(self):
        n = len(self.t)
        self.root = np.zeros((n, 2))
        self.phone_hand = np.zeros(n)
        self.door_angle = np.zeros(n)
        self.lift = np.zeros(n)

    # ------------------------------------------------------------------------------- helpers
    @property
    def other(self) -> str:
        return "l" if self.dom == "r" else "r"

    def ev(self, x: float, sd: float = 0.04) -> float:
        """An event at fraction `x` of the clip, jittered per recording."""
        return float(np.clip(x + self.rng.normal(0, sd), 0.02, 0.98) * self.D)

    def dur(self, d: float) -> float:
        """A duration of `d` seconds at this recording's tempo."""
        return d / self.tempo

    def kf(self, keys) -> np.ndarray:
        """Smooth (C2, smootherstep) interpolation of keyframes `[(time, value), ...]` -> `(n, m)`."""
        keys = sorted(keys, key=lambda k: k[0])
        times = np.array([k[0] for k in keys], dtype=float)
        vals = np.array([np.atleast_1d(np.asarray(k[1], dtype=float)) for k in keys])
        if len(keys) == 1:
            return np.repeat(vals, len(self.t), 0)
        i = np.clip(np.searchsorted(times, self.t, side="right") - 1, 0, len(keys) - 2)
        s = np.clip((self.t - times[i]) / np.maximum(times[i + 1] - times[i], 1e-6), 0, 1)
        s = s * s * s * (10 - 15 * s + 6 * s * s)
        return vals[i] + (vals[i + 1] - vals[i]) * s[:, None]

    def set(self, name: str, v) -> None:
        self.ang[name] = np.broadcast_to(np.asarray(v, dtype=float), self.t.shape).copy()

    def add(self, name: str, v) -> None:
        self.ang[name] = self.ang.get(name, np.zeros_like(self.t)) + v

    def arm(self, side: str, keys) -> None:
        """Arm keyframes `[(time, (flex, abd, rot, elbow, pron)), ...]`."""
        v = self.kf(keys)
        for j, k in enumerate(("flex", "abd", "rot", "elbow", "pron")):
            self.set(f"{side}_{k}", v[:, j])

    def legs(self, keys) -> None:
        """Both legs, keyframes `[(time, (hip, knee)), ...]`."""
        v = self.kf(keys)
        for s in "lr":
            self.set(f"{s}_hip", v[:, 0])
            self.set(f"{s}_knee", v[:, 1])

    def place(self, xy, yaw_deg: float) -> None:
        self.root[:] = np.asarray(xy, dtype=float)
        self.set("yaw", yaw_deg)

    def place_random(self, spread: float = 0.4, turn: float = 50.0) -> None:
        """Stand near the scene centre, roughly facing camera 1 (world -y)."""
        self.place(self.rng.uniform(-spread, spread, 2), -90 + self.rng.uniform(-turn, turn))

    def carrier(self, keys) -> np.ndarray:
        """Step function `[(time, carrier), ...]` -> `(n,)` int."""
        out = np.full(len(self.t), keys[0][1], dtype=np.int8)
        for tk, v in keys[1:]:
            out[self.t >= tk] = v
        return out

    def hand_code(self, side: str) -> int:
        return 1 if side == "l" else 2

    def gait(self, phase: np.ndarray, amp: np.ndarray | float = 1.0, run: bool = False) -> None:
        """Gait cycle from its phase `(n,)` (radians) with amplitude factor `amp` (0 = standing still)."""
        a = np.broadcast_to(amp, phase.shape)
        hip, knee0, knee, arm, elb = (38, 25, 70, 35, 85) if run else (24, 6, 48, 16, 18)
        for side, off in (("l", 0.0), ("r", np.pi)):
            ph = phase + off
            self.set(f"{side}_hip", a * hip * np.sin(ph) + (8 if run else 0))
            sw = np.clip(np.sin(ph + 1.0), 0, None) ** 2
            self.set(f"{side}_knee", a * (knee0 + knee * sw) + 3)
            self.add(f"{side}_flex", -a * arm * np.sin(ph))
            self.add(f"{side}_elbow", elb)
        self.add("t_yaw", a * 5 * np.sin(phase))
        self.add("t_pitch", a * 2 * np.sin(2 * phase) + (10 if run else 2))

    def walk_path(self, start, heading: float, speed: float) -> None:
        d = np.array([np.cos(heading), np.sin(heading)])
        self.root[:] = np.asarray(start)[None] + (speed * self.t)[:, None] * d[None]
        self.set("yaw", np.degrees(heading))


def _hold_arms(c: Ctx, pose=HANG) -> None:
    for s in "lr":
        c.arm(s, [(0, pose)])


def _stand(c: Ctx) -> None:
    c.place_random()
    _hold_arms(c)


# ------------------------------------------------------------------------------------- locomotion
def walking(c: Ctx) -> None:
    _hold_arms(c, (0, 6, 0, 0, 0))
    v = 1.15 * c.tempo
    side = np.array([-c.door_n[1], c.door_n[0]]) * c.rng.choice([-1, 1])
    heading = np.arctan2(side[1], side[0]) + np.radians(c.rng.uniform(-20, 20))
    mid = c.rng.uniform(-0.5, 0.5, 2)
    c.walk_path(mid - v * c.D / 2 * np.array([np.cos(heading), np.sin(heading)]), heading, v)
    c.gait(2 * np.pi * 0.92 * c.tempo * c.t + c.rng.uniform(0, 2 * np.pi))


def _door_walk(c: Ctx, inward: bool) -> None:
    _hold_arms(c, (0, 6, 0, 0, 0))
    v = 1.15 * c.tempo
    n = c.door_n if inward else -c.door_n
    heading = np.arctan2(n[1], n[0]) + np.radians(c.rng.uniform(-12, 12))
    d = np.array([np.cos(heading), np.sin(heading)])
    start = c.door_xy + c.door_n * 0.1 if inward else c.door_xy + c.door_n * 0.1 - d * v * c.D
    c.walk_path(start + c.rng.normal(0, 0.1, 2), heading, v)
    c.gait(2 * np.pi * 0.92 * c.tempo * c.t + c.rng.uniform(0, 2 * np.pi))
    c.door_angle[:] = c.rng.uniform(70, 95)


def entering(c: Ctx) -> None:
    _door_walk(c, inward=True)


def exiting(c: Ctx) -> None:
    _door_walk(c, inward=False)


def running(c: Ctx) -> None:
    _hold_arms(c, (0, 10, 0, 0, 0))
    v, r = 2.3 * c.tempo, c.rng.uniform(1.1, 1.6)
    sgn = c.rng.choice([-1, 1])
    th = c.rng.uniform(0, 2 * np.pi) + sgn * v / r * c.t
    c.root[:] = np.stack([r * np.cos(th), r * np.sin(th)], -1) * 0.9
    c.set("yaw", np.degrees(th + sgn * np.pi / 2))
    c.set("body_roll", -sgn * 8)
    c.gait(2 * np.pi * 1.4 * c.tempo * c.t + c.rng.uniform(0, 2 * np.pi), run=True)


def loitering(c: Ctx) -> None:
    _hold_arms(c, (0, 6, 0, 0, 0))
    keys, tk, on = [], 0.0, bool(c.rng.random() < 0.5)
    while tk < c.D + 1:
        keys += [(tk, float(on)), (tk + c.dur(c.rng.uniform(0.5, 1.1)), float(on))]
        tk, on = keys[-1][0] + 0.3, not on
    m = c.kf(keys)[:, 0]
    f = 0.6 * c.tempo
    dt = np.gradient(c.t)
    phase = 2 * np.pi * np.cumsum(f * m * dt) + c.rng.uniform(0, 2 * np.pi)
    heading = np.radians(c.rng.uniform(0, 360)) + np.cumsum(c.rng.normal(0, 1) * 0.6 * m * dt)
    vel = (0.55 * m)[:, None] * np.stack([np.cos(heading), np.sin(heading)], -1)
    c.root[:] = c.rng.uniform(-0.6, 0.6, 2) + np.cumsum(vel * dt[:, None], 0) - vel[0] * 0
    c.set("yaw", np.degrees(heading))
    c.gait(phase, amp=0.7 * m)
    c.add("h_yaw", 25 * np.sin(2 * np.pi * 0.3 * c.t + c.rng.uniform(0, 6)))


# ------------------------------------------------------------------------------------ posture changes
SIT = (88, 92)
CROUCH = (112, 128)


def _sit_transition(c: Ctx, down: bool) -> None:
    c.place_random()
    t0 = c.ev(0.3, 0.06)
    t1 = t0 + c.dur(1.2)
    a, b = ((0, 3), SIT) if down else (SIT, (0, 3))
    c.legs([(t0, a), (t1, b)])
    c.set("t_pitch", c.kf([(t0, 0), ((t0 + t1) / 2, 32), (t1, 4)])[:, 0])
    la, lb = (HANG, LAP) if down else (LAP, HANG)
    mid = (30, 12, 10, 40, 20)
    for s in "lr":
        c.arm(s, [(t0, la), ((t0 + t1) / 2, mid), (t1, lb)])


def sitting_down(c: Ctx) -> None:
    _sit_transition(c, down=True)


def standing_up(c: Ctx) -> None:
    _sit_transition(c, down=False)


def crouching(c: Ctx) -> None:
    c.place_random()
    t0 = c.ev(0.2, 0.06)
    t1 = t0 + c.dur(0.8)
    keys = [(t0, (0, 3)), (t1, CROUCH)]
    if c.rng.random() < 0.5:
        keys += [(c.ev(0.8), CROUCH), (c.ev(0.8) + c.dur(0.8), (0, 3))]
    c.legs(keys)
    tp = c.kf([(k[0], 0 if k[1][0] == 0 else 38) for k in keys])[:, 0]
    c.set("t_pitch", tp)
    for s in "lr":
        c.set(f"{s}_flex", tp * 0.9)
        c.set(f"{s}_elbow", 10 + tp)
        c.set(f"{s}_abd", 8)


def fall(c: Ctx) -> None:
    c.place_random()
    _hold_arms(c)
    tf = c.ev(0.3, 0.06)
    T = c.dur(0.75)
    s = np.clip((c.t - tf) / T, 0, 1) ** 2
    direction = c.rng.integers(4)
    ang = 86 * s
    if direction < 2:
        c.set("body_pitch", ang if direction == 0 else -ang)
    else:
        c.set("body_roll", ang if direction == 2 else -ang)
    buckle = c.kf([(tf, 0), (tf + T * 0.5, 45), (tf + T * 1.5, 10)])[:, 0]
    for side in "lr":
        c.set(f"{side}_knee", buckle)
        c.set(f"{side}_hip", buckle * 0.6)
        c.arm(side, [(tf, HANG), (tf + T * 0.7, (80, 30, 0, 20, 0)), (tf + T * 2, (40, 40, 0, 30, 0))])


def jumping(c: Ctx) -> None:
    c.place_random()
    n = int(c.rng.integers(1, 4))
    ts = np.linspace(0.25, 0.75, n) * c.D if n > 1 else [c.ev(0.5, 0.08)]
    lift = np.zeros_like(c.t)
    keys = [(0, (0, 3))]
    akeys = [(0, HANG)]
    for tc in ts:
        h = c.rng.uniform(0.08, 0.3)
        half = np.sqrt(2 * h / 9.81)
        lift = np.maximum(lift, h - 0.5 * 9.81 * (c.t - tc) ** 2)
        keys += [(tc - half - 0.35, (0, 3)), (tc - half - 0.1, (45, 70)), (tc - half, (0, 2)),
                 (tc + half, (5, 10)), (tc + half + 0.15, (40, 60)), (tc + half + 0.45, (0, 3))]  # fmt: skip
        akeys += [(tc - half - 0.35, HANG), (tc - half - 0.1, (-35, 10, 0, 10, 0)), (tc, (120, 15, 0, 15, 0)),
                  (tc + half + 0.3, HANG)]  # fmt: skip
    c.lift = np.maximum(lift, 0)
    c.legs(keys)
    for s in "lr":
        c.arm(s, akeys)
    c.set("t_pitch", c.ang["l_hip"] * 0.4)


# ---------------------------------------------------------------------------------------------- static
def standing(c: Ctx) -> None:
    c.place_random()
    pose = HANG if c.rng.random() < 0.6 else (15, 10, 40, 60, 40)
    _hold_arms(c, pose)
    shift = c.kf([(0, 0), (c.ev(0.5, 0.15), 0), (c.ev(0.5, 0.15) + 0.8, c.rng.uniform(-4, 4))])[:, 0]
    c.set("l_hip_abd", shift)
    c.set("r_hip_abd", -shift)
    c.set("body_roll", shift * 0.5)


def sitting(c: Ctx) -> None:
    c.place_random(turn=35)
    c.legs([(0, SIT)])
    c.table = True
    pose = TYPE if c.rng.random() < 0.6 else LAP
    _hold_arms(c, pose)
    c.set("t_pitch", c.rng.uniform(-4, 12))
    c.set("h_yaw", 12 * np.sin(2 * np.pi * 0.15 * c.t + c.rng.uniform(0, 6)))


def using_pc(c: Ctx) -> None:
    sitting(c)
    _hold_arms(c, TYPE)
    burst = c.kf([(0, 1.0), (c.ev(0.5, 0.2), 1.0), (c.ev(0.5, 0.2) + 0.3, c.rng.uniform(0.2, 1.0))])[:, 0]
    for s, ph in (("l", 0.0), ("r", 1.7)):
        f = c.rng.uniform(5.0, 8.0)
        jit = np.sin(2 * np.pi * f * c.t + ph) + 0.5 * np.sin(2 * np.pi * 1.7 * f * c.t + 2 * ph)
        c.add(f"{s}_elbow", burst * c.rng.uniform(0.15, 0.3) * jit)
        c.add(f"{s}_pron", burst * c.rng.uniform(0.2, 0.4) * jit)
    c.set("h_pitch", 12)


def looking_around(c: Ctx) -> None:
    c.place_random()
    _hold_arms(c)
    a = c.rng.uniform(40, 70)
    sgn = c.rng.choice([-1, 1])
    keys = [(0, 0), (c.ev(0.2), sgn * a), (c.ev(0.45), sgn * a * 0.8), (c.ev(0.7), -sgn * a), (c.ev(0.9), 0)]
    hy = c.kf(keys)[:, 0]
    c.set("h_yaw", hy * 0.7)
    c.set("t_yaw", hy * 0.3)
    c.set("h_pitch", 8 * np.sin(2 * np.pi * 0.4 * c.t + c.rng.uniform(0, 6)))


def talking(c: Ctx) -> None:
    c.place_random()
    for s in "lr":
        f, ph = c.rng.uniform(0.7, 1.6), c.rng.uniform(0, 2 * np.pi)
        amp = c.rng.uniform(5, 18) * (1.0 if s == c.dom else 0.5)
        osc = np.sin(2 * np.pi * f * c.t + ph)
        c.arm(s, [(0, (18, 12, 15, 70, 40))])
        c.add(f"{s}_elbow", amp * osc)
        c.add(f"{s}_rot", amp * 0.8 * np.cos(2 * np.pi * f * c.t + ph))
    c.set("h_pitch", 4 * np.sin(2 * np.pi * 1.1 * c.t))


# ------------------------------------------------------------------------------------------ arm, door
def _door(c: Ctx, opening: bool) -> None:
    c.place(
        c.door_xy + c.door_n * c.rng.uniform(0.7, 0.85), np.degrees(np.arctan2(-c.door_n[1], -c.door_n[0]))
    )
    c.add("yaw", c.rng.uniform(-10, 10))
    t0, t1, t2, t3 = c.ev(0.15), c.ev(0.32), c.ev(0.68), c.ev(0.86)
    a, b = (REACH, PULLED) if opening else (PULLED, REACH)
    c.arm(c.dom, [(t0, HANG), (t1, a), (t2, b), (t3, HANG)])
    c.arm(c.other, [(0, HANG)])
    full = c.rng.uniform(60, 85)
    d0, d1 = (0, full) if opening else (full, 0)
    c.door_angle[:] = c.kf([(t1, d0), (t2, d1)])[:, 0]
    c.set("t_pitch", c.kf([(t0, 0), (t1, 8), (t2, 8), (t3, 0)])[:, 0])


def opening(c: Ctx) -> None:
    _door(c, opening=True)


def closing(c: Ctx) -> None:
    _door(c, opening=False)


# --------------------------------------------------------------------------------------- arm, objects
def _push_pull(c: Ctx, push: bool) -> None:
    _hold_arms(c, (0, 6, 0, 0, 0))
    v = 0.45 * c.tempo
    heading = np.radians(-90 + c.rng.uniform(-60, 60))
    d = np.array([np.cos(heading), np.sin(heading)])
    sgn = 1 if push else -1
    c.walk_path(c.rng.uniform(-0.4, 0.4, 2) - sgn * d * v * c.D / 2, heading, 0)
    c.root[:] += (sgn * v * c.t)[:, None] * d[None]
    c.gait(sgn * 2 * np.pi * 0.7 * c.tempo * c.t + c.rng.uniform(0, 6), amp=0.6)
    for s in "lr":
        c.set(f"{s}_flex", 62)
        c.set(f"{s}_elbow", 35)
        c.set(f"{s}_rot", 12)
    c.add("t_pitch", 14 if push else -2)
    c.props.append(Prop("box", np.full(len(c.t), 3, np.int8), 0.45))


def pushing(c: Ctx) -> None:
    _push_pull(c, push=True)


def pulling(c: Ctx) -> None:
    _push_pull(c, push=False)


def throwing(c: Ctx) -> None:
    c.place_random()
    t0, t1 = c.ev(0.2), c.ev(0.45)
    t2 = t1 + c.dur(0.18)
    wind = (150, 20, -40, 100, 0)
    c.arm(c.dom, [(t0, HANG), (t1 - 0.2, wind), (t1, wind), (t2, (60, 15, 10, 10, 0)), (t2 + 0.7, HANG)])
    c.arm(c.other, [(t0, HANG), (t1, (60, 10, 0, 30, 0)), (t2 + 0.7, HANG)])
    sgn = 1 if c.dom == "r" else -1
    c.set("t_yaw", c.kf([(t0, 0), (t1, 20 * sgn), (t2, -15 * sgn), (t2 + 0.7, 0)])[:, 0])
    c.set("t_pitch", c.kf([(t1, -8), (t2, 18), (t2 + 0.7, 0)])[:, 0])
    c.props.append(Prop("ball", c.carrier([(0, c.hand_code(c.dom)), ((t1 + t2) / 2 + 0.02, 4)]), 0.09))


def _bend(c: Ctx, pick: bool) -> None:
    c.place_random()
    t0, t1 = c.ev(0.2), c.ev(0.45)
    t2 = c.ev(0.8)
    bent = (28, 14, 10, 18, 10)
    a, b = (HANG, LOW_HOLD) if pick else (LOW_HOLD, HANG)
    for s in "lr":
        c.arm(s, [(t0, a), (t1, bent), (t1 + 0.25, bent), (t2, b)])
    c.set("t_pitch", c.kf([(t0, 0), (t1, 68), (t1 + 0.25, 68), (t2, 0)])[:, 0])
    c.legs([(t0, (0, 3)), (t1, (30, 35)), (t1 + 0.25, (30, 35)), (t2, (0, 3))])
    tg = t1 + 0.12
    c.props.append(Prop("box", c.carrier([(0, 0), (tg, 3)] if pick else [(0, 3), (tg, 0)]), 0.32))


def picking_up(c: Ctx) -> None:
    _bend(c, pick=True)


def setting_down(c: Ctx) -> None:
    _bend(c, pick=False)


def carrying(c: Ctx) -> None:
    walking(c)
    for s in "lr":
        c.arm(s, [(0, CARRY)])
    c.add("t_pitch", -3)
    c.props.append(Prop("box", np.full(len(c.t), 3, np.int8), 0.32))


def transferring_object(c: Ctx) -> None:
    c.place_random()
    near = (30, 10, 45, 85, 60)
    far = (25, 10, 15, 80, 40)
    k = int(c.rng.integers(1, 3))
    ts = np.linspace(0.3, 0.75, k) * c.D + c.rng.normal(0, 0.05 * c.D)
    keys_d, keys_o, carr = [(0, far)], [(0, far)], [(0, c.hand_code(c.dom))]
    holder = c.dom
    for tk in ts:
        keys_d += [(tk - 0.35, far), (tk, near), (tk + 0.35, far)]
        keys_o += [(tk - 0.35, far), (tk, near), (tk + 0.35, far)]
        holder = c.other if holder == c.dom else c.dom
        carr.append((tk, c.hand_code(holder)))
    c.arm(c.dom, keys_d)
    c.arm(c.other, keys_o)
    c.set("h_pitch", 15)
    c.props.append(Prop("small_box", c.carrier(carr), 0.14))


# ------------------------------------------------------------------------------------- arm, gestures
def pointing(c: Ctx) -> None:
    c.place_random()
    t0, t1 = c.ev(0.2), c.ev(0.75)
    pose = (c.rng.uniform(75, 95), c.rng.uniform(-5, 35), 0, 5, c.rng.uniform(0, 60))
    c.arm(c.dom, [(t0, HANG), (t0 + c.dur(0.5), pose), (t1, pose), (t1 + c.dur(0.5), HANG)])
    c.arm(c.other, [(0, HANG)])
    sgn = 1 if c.dom == "l" else -1
    c.set(
        "h_yaw",
        c.kf([(t0, 0), (t0 + 0.5, sgn * pose[1] * 0.5), (t1, sgn * pose[1] * 0.5), (t1 + 0.5, 0)])[:, 0],
    )


def waving_hand(c: Ctx) -> None:
    c.place_random()
    t0, t1 = c.ev(0.15), c.ev(0.85)
    up = (c.rng.uniform(20, 50), c.rng.uniform(60, 90), -80, 85, 0)
    c.arm(c.dom, [(t0, HANG), (t0 + c.dur(0.4), up), (t1, up), (t1 + c.dur(0.4), HANG)])
    c.arm(c.other, [(0, HANG)])
    on = c.kf([(t0 + 0.3, 0), (t0 + 0.5, 1), (t1 - 0.2, 1), (t1, 0)])[:, 0]
    f = c.rng.uniform(1.8, 3.0) * c.tempo
    c.add(f"{c.dom}_elbow", on * c.rng.uniform(18, 30) * np.sin(2 * np.pi * f * c.t))


def checking_time(c: Ctx) -> None:
    c.place_random()
    t0, t1 = c.ev(0.2), c.ev(0.75)
    pose = (c.rng.uniform(30, 48), 10, c.rng.uniform(45, 65), c.rng.uniform(95, 115), c.rng.uniform(75, 100))
    c.arm("l", [(t0, HANG), (t0 + c.dur(0.6), pose), (t1, pose), (t1 + c.dur(0.6), HANG)])
    c.arm("r", [(0, HANG)])
    c.set("h_pitch", c.kf([(t0, 0), (t0 + 0.6, 25), (t1, 25), (t1 + 0.6, 0)])[:, 0])


def drinking(c: Ctx) -> None:
    c.place_random()
    keys, hk = [(0, AT_MOUTH)], [(0, 0)]
    for tk in c.rng.uniform(0.15, 0.85, int(c.rng.integers(1, 3))) * c.D:
        sip = (AT_MOUTH[0] + 6, AT_MOUTH[1], AT_MOUTH[2], 142, 45)
        keys += [(tk - 0.3, AT_MOUTH), (tk, sip), (tk + 0.5, sip), (tk + 0.8, AT_MOUTH)]
        hk += [(tk - 0.3, 0), (tk, -15), (tk + 0.5, -15), (tk + 0.8, 0)]
    c.arm(c.dom, keys)
    c.arm(c.other, [(0, HANG)])
    c.set("h_pitch", c.kf(hk)[:, 0])
    c.props.append(Prop("cup", np.full(len(c.t), c.hand_code(c.dom), np.int8), 0.09))


# ------------------------------------------------------------------------------------------------ phone
def talking_on_phone(c: Ctx) -> None:
    c.place_random()
    c.arm(c.dom, [(0, AT_EAR)])
    c.add(f"{c.dom}_elbow", 4 * np.sin(2 * np.pi * 0.3 * c.t + c.rng.uniform(0, 6)))
    c.arm(c.other, [(0, HANG if c.rng.random() < 0.6 else (15, 10, 40, 60, 40))])
    c.set("t_roll", 3 if c.dom == "l" else -3)
    c.phone_side, c.phone_hand[:] = c.dom, 1.0
    c.props.append(Prop("phone", np.full(len(c.t), c.hand_code(c.dom), np.int8), 0.14))


def using_phone(c: Ctx) -> None:
    c.place_random()
    c.arm(c.dom, [(0, CHEST)])
    c.add(f"{c.dom}_pron", c.rng.uniform(2, 4) * np.sin(2 * np.pi * c.rng.uniform(2.5, 4) * c.t))
    c.arm(c.other, [(0, HANG if c.rng.random() < 0.5 else CHEST)])
    c.set("h_pitch", 28)
    c.phone_side, c.phone_hand[:] = c.dom, 1.0
    c.props.append(Prop("phone", np.full(len(c.t), c.hand_code(c.dom), np.int8), 0.14))


POCKET = (5, 14, -5, 25, 0)  # right hand at the front trouser pocket


def _pocket(c: Ctx, into: bool) -> None:
    """Hand at chest -> pocket -> chest in both directions; only the phone's holder differs."""
    c.place_random()
    t0, t1 = c.ev(0.3), c.ev(0.5)
    t2 = c.ev(0.75)
    c.arm("r", [(t0, CHEST), (t1, POCKET), (t1 + 0.2, POCKET), (t2, CHEST)])
    c.arm("l", [(0, HANG)])
    tg = t1 + 0.1
    c.phone_side = "r"
    c.phone_hand[:] = c.kf(
        [(tg - 0.1, 1.0), (tg + 0.1, 0.0)] if into else [(tg - 0.1, 0.0), (tg + 0.1, 1.0)]
    )[:, 0]
    c.set("h_pitch", c.kf([(t0, 15), (t1, 25), (t2, 15)])[:, 0])
    c.props.append(Prop("phone", c.carrier([(0, 2), (tg, 5)] if into else [(0, 5), (tg, 2)]), 0.14))


def pocket_in(c: Ctx) -> None:
    _pocket(c, into=True)


def pocket_out(c: Ctx) -> None:
    _pocket(c, into=False)


# ------------------------------------------------------------------------------------------ seated work
# (using_pc is defined with the static group, beside sitting)


def kicking(c: Ctx) -> None:
    c.place_random()
    _hold_arms(c)
    leg = c.dom
    keys = [(0, (0, 3))]
    for tk in np.sort(c.rng.uniform(0.25, 0.75, int(c.rng.integers(1, 3)))) * c.D:
        keys += [(tk - 0.45, (0, 3)), (tk - 0.15, (-20, 75)), (tk + 0.05, (c.rng.uniform(55, 80), 5)),
                 (tk + 0.5, (0, 3))]  # fmt: skip
    v = c.kf(keys)
    c.set(f"{leg}_hip", v[:, 0])
    c.set(f"{leg}_knee", v[:, 1])
    c.set("t_pitch", -v[:, 0] * 0.15)
    oth = "l" if leg == "r" else "r"
    c.set(f"{oth}_knee", 8)
    for s in "lr":
        c.add(f"{s}_abd", 10 * np.clip(v[:, 0], 0, None) / 70)


PROGRAMS = {
    f.__name__: f
    for f in (
        carrying, checking_time, closing, crouching, drinking, entering, exiting, fall, jumping, kicking,
        loitering, looking_around, opening, picking_up, pocket_in, pocket_out, pointing, pulling, pushing,
        running, setting_down, sitting, sitting_down, standing, standing_up, talking, talking_on_phone,
        throwing, transferring_object, using_pc, using_phone, walking, waving_hand,
    )
}  # fmt: skip
CLASSES = tuple(sorted(PROGRAMS))

# Designed confusable groups (SYNTHACT.md): which modality should separate each group.
VIDEO_GROUPS = {
    "entering/exiting/walking": ("entering", "exiting", "walking"),
    "opening/closing": ("opening", "closing"),
    "picking_up/setting_down": ("picking_up", "setting_down"),
    "pushing/pulling": ("pushing", "pulling"),
    "waving_hand/pointing": ("waving_hand", "pointing"),
}
SENSOR_GROUPS = {
    "pocket_in/pocket_out": ("pocket_in", "pocket_out"),
    "talking_on_phone/drinking": ("talking_on_phone", "drinking"),
    "checking_time/drinking": ("checking_time", "drinking"),
    "using_pc/sitting": ("using_pc", "sitting"),
    "using_phone/checking_time": ("using_phone", "checking_time"),
}


def run_program(name: str, c: Ctx) -> Ctx:
    """Fill `c` with class `name`'s motion; raises DataError for an unknown class."""
    if name not in PROGRAMS:
        raise DataError(f"SynthAct: unknown class {name!r}; known: {', '.join(CLASSES)}")
    PROGRAMS[name](c)
    return c
