"""Wearable sensors from the simulated body: phone (accelerometer, gyroscope, orientation) and watch.

The phone sits in the right front trouser pocket (rigid on the right thigh) unless the program puts it in a
hand (`Ctx.phone_hand`); the watch is on the left wrist. Physics at the simulation rate (200 Hz):
accelerometer `f = Rᵀ (a − g)`, g = (0, 0, −9.81), so a resting sensor reads +9.81 on its up axis;
gyroscope = angular velocity in the sensor frame from `Rᵀ dR/dt`; orientation = azimuth, pitch, roll of `R`
(degrees, Android convention). Then realism: each device samples at its own rate with timestamp jitter and a
clock offset to the video (±40 ms), white noise, a per-subject bias, a slow drift, range clipping and
occasional dropped samples.
"""

from __future__ import annotations

import numpy as np

from .skeleton import J, Kinematics, Subject, mm, mv, rx, ry, rz

SIM_RATE = 200.0
RATES = {"acc_phone": 50.0, "acc_watch": 32.0, "gyro": 50.0, "orientation": 50.0}
SENSORS = tuple(RATES)
G = np.array([0.0, 0.0, -9.81])

# (white noise sd, subject bias sd, drift amplitude, clip range) per sensor, in its units
REALISM = {
    "acc_phone": (0.12, 0.3, 0.1, 39.2),  # m/s², ±4 g
    "acc_watch": (0.18, 0.3, 0.1, 19.6),  # m/s², ±2 g
    "gyro": (0.03, 0.02, 0.01, 8.7),  # rad/s, ±500 °/s
    "orientation": (0.5, 0.0, 3.0, 180.0),  # degrees
}

# Phone axes (columns) in the right-thigh frame: x left, y up along the thigh, z forward (screen out).
M_POCKET = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# Watch axes in the left-hand frame: x towards the fingers, z out of the dorsal side.
M_WATCH = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])


def _m_hand(side: str) -> np.ndarray:
    """Phone axes in a hand frame: y along the fingers, screen away from the palm (up when held to read)."""
    y = np.array([0.0, 0.0, -1.0])
    z = np.array([0.0, -1.0 if side == "r" else 1.0, 0.0])
    return np.stack([np.cross(y, z), y, z], 1)


def _small_rot(rng: np.random.Generator, deg: float) -> np.ndarray:
    a = np.radians(rng.uniform(-deg, deg, 3))[:, None]
    return mm(rx(a[0]), ry(a[1]), rz(a[2]))[0]


def _polar(m: np.ndarray) -> np.ndarray:
    """Nearest rotation to each matrix `(n, 3, 3)` (blending two rotations)."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(mm(u, vt)))
    u[:, :, 2] *= d[:, None]
    return mm(u, vt)


def device_poses(kin: Kinematics, subject: Subject, phone_hand: np.ndarray, phone_side: str,
                 rng: np.random.Generator, flip_habit: bool) -> dict:  # fmt: skip
    """World position `(n, 3)` and rotation `(n, 3, 3)` of the phone and the watch."""
    p = kin.joints
    r_th = kin.frames["r_thigh"]
    mount = _small_rot(rng, 25)
    if flip_habit ^ bool(rng.random() < 0.1):  # phone upside down in the pocket
        mount = mm(mount, np.diag([-1.0, -1.0, 1.0]))
    pocket_r = mm(r_th, mm(M_POCKET, mount))
    pocket_p = p[:, J["r_hip"]] + mv(r_th, [0.08, -0.04, -0.17 * subject.scale])
    hand_r = mm(kin.frames[f"{phone_side}_hand"], mm(_m_hand(phone_side), _small_rot(rng, 10)))
    hand_p = p[:, J[f"{phone_side}_wrist"]] + mv(kin.frames[f"{phone_side}_hand"], [0, 0, -0.07])
    w = np.clip(phone_hand, 0, 1)[:, None]
    phone_p = (1 - w) * pocket_p + w * hand_p
    phone_r = _polar((1 - w[:, :, None]) * pocket_r + w[:, :, None] * hand_r)
    watch_r = mm(kin.frames["l_hand"], mm(M_WATCH, _small_rot(rng, 8)))
    return {"phone": (phone_p, phone_r), "watch": (p[:, J["l_wrist"]], watch_r)}


def specific_force(pos: np.ndarray, rot: np.ndarray, dt: float) -> np.ndarray:
    """Accelerometer `(n, 3)`: `Rᵀ (a − g)` with `a` the second derivative of `pos (n, 3)`."""
    a = np.gradient(np.gradient(pos, dt, axis=0), dt, axis=0)
    return np.einsum("nji,nj->ni", rot, a - G)


def angular_velocity(rot: np.ndarray, dt: float) -> np.ndarray:
    """Gyroscope `(n, 3)` rad/s in the sensor frame, the axial vector of `Rᵀ dR/dt`."""
    w = np.einsum("nji,njk->nik", rot, np.gradient(rot, dt, axis=0))
    return 0.5 * np.stack([w[:, 2, 1] - w[:, 1, 2], w[:, 0, 2] - w[:, 2, 0], w[:, 1, 0] - w[:, 0, 1]], -1)


def orientation_angles(rot: np.ndarray, north_deg: float) -> np.ndarray:
    """Azimuth, pitch, roll `(n, 3)` in degrees (Android getOrientation; world x east, y north, z up)."""
    r = mm(rz(np.full(len(rot), np.radians(north_deg))), rot)
    az = np.degrees(np.arctan2(r[:, 0, 1], r[:, 1, 1]))
    pitch = np.degrees(np.arcsin(np.clip(-r[:, 2, 1], -1, 1)))
    roll = np.degrees(np.arctan2(-r[:, 2, 0], r[:, 2, 2]))
    return np.stack([az, pitch, roll], -1)


def sample_times(D: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor-clock sample times (s) spanning `[0, D]`: nominal grid + jitter, with dropped samples."""
    rate = rate * (1 + rng.normal(0, 0.005))
    n = int(np.floor(D * rate)) + 1
    t = np.arange(n) / rate + np.clip(rng.normal(0, 0.12 / rate, n), -0.3 / rate, 0.3 / rate)
    t[0], t[-1] = 0.0, D
    keep = rng.random(n) >= 0.01
    if rng.random() < 0.3:  # a short burst of lost samples
        i = int(rng.integers(1, max(2, n - 8)))
        keep[i : i + int(rng.integers(2, 7))] = False
    keep[0] = keep[-1] = True
    return np.sort(t[keep])


def sensor_streams(kin: Kinematics, t_sim: np.ndarray, D: float, subject: Subject, phone_hand: np.ndarray,
                   phone_side: str, rng: np.random.Generator, srng: np.random.Generator) -> dict:  # fmt: skip
    """`{sensor: (timestamps_ms (m,), values (m, 3))}` for the 4 MMAct sensor streams of one recording.

    `rng` draws this recording's randomness, `srng` the subject's habits and biases (all its recordings).
    """
    flip_habit = bool(srng.random() < 0.3)
    bias = {k: srng.normal(0, REALISM[k][1], 3) for k in SENSORS}
    dt = 1.0 / SIM_RATE
    poses = device_poses(kin, subject, phone_hand, phone_side, rng, flip_habit)
    sig = {
        "acc_phone": specific_force(*poses["phone"], dt),
        "gyro": angular_velocity(poses["phone"][1], dt),
        "orientation": orientation_angles(poses["phone"][1], rng.uniform(0, 360)),
        "acc_watch": specific_force(*poses["watch"], dt),
    }
    offsets = {"phone": rng.uniform(-0.04, 0.04), "watch": rng.uniform(-0.04, 0.04)}
    times = {
        "phone": sample_times(D, RATES["acc_phone"], rng),
        "watch": sample_times(D, RATES["acc_watch"], rng),
    }
    out = {}
    for name in SENSORS:
        dev = "watch" if name == "acc_watch" else "phone"
        ts = times[dev]
        if dev == "phone" and name != "acc_phone":  # the phone's streams drop samples independently
            ts = ts[np.sort(rng.choice(len(ts), len(ts) - int(rng.integers(0, 3)), replace=False))]
            ts[0], ts[-1] = 0.0, D
        tv = ts + offsets[dev]  # video time at which the sample was taken
        x = np.stack([np.interp(tv, t_sim, sig[name][:, k]) for k in range(3)], -1)
        if name == "orientation":  # unwrap-safe interpolation of the azimuth
            az = np.unwrap(np.radians(sig[name][:, 0]))
            x[:, 0] = np.degrees(np.interp(tv, t_sim, az))
        noise, _, drift, clip = REALISM[name]
        ph = rng.uniform(0, 2 * np.pi, 3)
        if name != "orientation":  # per-recording gain error (uncalibrated MEMS)
            x = x * rng.uniform(0.97, 1.03, 3)
        x = x + bias[name] + drift * np.sin(2 * np.pi * ts[:, None] / rng.uniform(20, 60) + ph)
        x = x + rng.normal(0, noise, x.shape)
        if name == "orientation":
            x[:, 0] = (x[:, 0] + 180) % 360 - 180
            x[:, 2] = (x[:, 2] + 180) % 360 - 180
        out[name] = (ts * 1000.0, np.clip(x, -clip, clip))
    return out
