"""SynthAct video: perspective cameras, scenes and a depth-ordered stick-figure rasteriser (cv2).

Cameras stand on a circle around the scene centre at 4 azimuths (front, left, right, back-oblique) with a
small per-clip pose jitter. Each scene has a floor, a wall colour, a door (frame + panel that can open) and
its own decor (1 gradient wall, 2 floor line, 3 contrasting door frame, 4 a table). Limbs are thick lines,
drawn far-to-near so a far limb hides behind the torso. Small props (phone, cup) are a few pixels wide.
A clip is rendered in batch (`body_items`, `prop_items`: all frames' points in one `Camera.project`), with
the same depths, order and cv2 arguments as projecting and painting each frame's primitives one by one
(tests/test_synthact_render.py keeps that per-frame renderer as the reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .skeleton import J, Subject, mv

CAM_AZ = {1: 0.0, 2: -90.0, 3: 90.0, 4: 135.0}  # degrees; camera position (r sin az, -r cos az, h)
DOOR_AZ = {1: 190.0, 2: 210.0, 3: 225.0, 4: 200.0}
DOOR_R = 2.4
SCENE_WALL = {1: (170, 190, 210), 2: (200, 195, 180), 3: (180, 200, 180), 4: (210, 200, 200)}
SCENE_FLOOR = {1: (110, 100, 90), 2: (90, 110, 120), 3: (130, 120, 110), 4: (100, 90, 110)}
PROP_COLOURS = {"phone": (20, 20, 25), "cup": (240, 240, 245), "box": (150, 105, 55),
                "small_box": (60, 120, 200), "ball": (220, 30, 30)}  # fmt: skip
# part-coloured limbs (v2): sleeves and socks in one colour per body part, the same for every subject, so
# a limb's pose shows in the pixels of any view (bare forearms stay skin)
LIMB_COLOURS = {"l_forearm": (240, 150, 20), "r_forearm": (30, 110, 235), "l_shin": (190, 50, 190),
                "r_shin": (20, 190, 160)}  # fmt: skip
SHIFT = 4  # cv2 sub-pixel bits
SCALE = float(1 << SHIFT)


def door_geometry(scene: int) -> tuple[np.ndarray, np.ndarray]:
    """Door centre `(2,)` and the unit vector from the door towards the scene centre `(2,)`."""
    a = np.radians(DOOR_AZ[scene])
    xy = DOOR_R * np.array([np.sin(a), -np.cos(a)])
    return xy, -xy / DOOR_R


@dataclass
class Camera:
    """Pinhole camera: world point p -> camera coords `rot @ (p - pos)` (x right, y down, z forward)."""

    pos: np.ndarray
    rot: np.ndarray
    f: float
    size: int
    pp: tuple[float, float] | None = None  # principal point (pixels); None: the image centre

    @property
    def centre(self) -> np.ndarray:
        return np.array(self.pp if self.pp is not None else (self.size / 2, self.size / 2))

    def project(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points `(..., 3)` -> pixel coordinates `(..., 2)` and depth `(...)` (metres)."""
        c = mv(self.rot, p - self.pos)
        z = np.maximum(c[..., 2], 1e-3)
        uv = self.f * c[..., :2] / z[..., None] + self.centre
        return uv, c[..., 2]

    def crop(self, u0: float, v0: float, side: float) -> Camera:
        """The camera whose `size`-pixel image is the square `[u0, u0 + side) x [v0, v0 + side)` of this
        one's, rendered at full resolution (a crop of a pinhole image is a pinhole camera: scaled focal
        length, shifted principal point)."""
        k = self.size / side
        c = self.centre
        pp = (float((c[0] - u0) * k), float((c[1] - v0) * k))
        return Camera(self.pos, self.rot, self.f * k, self.size, pp)


CROP_MARGIN = 0.18  # person crop: the clip's body box grown by this fraction of its larger side, each way
CROP_MIN = 0.3  # ... and never smaller than this fraction of the full view (limits the zoom to 1 / CROP_MIN)


def person_crop(cam: Camera, joints: np.ndarray, rng: np.random.Generator) -> Camera:
    """`cam` cropped to a square around the body over the whole clip (`joints (n, J, 3)`), as a person
    detector's clip-level box would be: the union of the frames' joint boxes, grown by `CROP_MARGIN`, with a
    detector-like jitter of the centre (±4% of the side) and the side (±6%)."""
    uv, _ = cam.project(joints.reshape(-1, 3))  # (n J, 2)
    lo, hi = uv.min(0), uv.max(0)
    side = max(float((hi - lo).max()) * (1 + 2 * CROP_MARGIN), CROP_MIN * cam.size)
    side *= 1 + rng.uniform(-0.06, 0.06)
    mid = (lo + hi) / 2 + rng.uniform(-0.04, 0.04, 2) * side
    return cam.crop(float(mid[0] - side / 2), float(mid[1] - side / 2), side)


def make_camera(cam: int, size: int, rng: np.random.Generator) -> Camera:
    """Camera `cam` (1-4) with per-clip jitter in azimuth, distance, height, aim and focal length."""
    az = np.radians(CAM_AZ[cam] + rng.normal(0, 1.0))
    r, h = 4.3 + rng.uniform(-0.1, 0.1), 1.45 + rng.uniform(-0.05, 0.05)
    pos = np.array([r * np.sin(az), -r * np.cos(az), h])
    target = np.array([0.0, 0.0, 0.85]) + rng.normal(0, 0.02, 3)
    fwd = (target - pos) / np.linalg.norm(target - pos)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return Camera(
        pos=pos, rot=np.stack([right, down, fwd]), f=1.35 * size * (1 + rng.uniform(-0.02, 0.02)), size=size
    )


def background(cam: Camera, scene: int, rng: np.random.Generator) -> np.ndarray:
    """Static background `(H, W, 3)` uint8 (RGB): floor (ray-cast), wall, scene decor on the floor."""
    s = cam.size
    v, u = np.mgrid[0:s, 0:s].astype(float) + 0.5
    c = cam.centre
    d = mv(cam.rot.T, np.stack([(u - c[0]) / cam.f, (v - c[1]) / cam.f, np.ones_like(u)], -1))
    hit = -cam.pos[2] / np.minimum(d[..., 2], -1e-6)
    fx, fy = cam.pos[0] + hit * d[..., 0], cam.pos[1] + hit * d[..., 1]
    floor = (d[..., 2] < 0) & (np.hypot(fx, fy) < 6.0)
    tint = rng.uniform(0.97, 1.03)
    wall = np.array(SCENE_WALL[scene], float) * tint
    img = np.empty((s, s, 3))
    if scene == 1:  # vertical gradient wall (in world height: a crop sees its part of the gradient)
        g = np.clip(0.5 - d[..., 2:3] / np.hypot(d[..., 0:1], d[..., 1:2]) * 1.35, 0, 1)
        img[:] = wall * (0.65 + 0.5 * g)
    else:
        img[:] = wall
    shade = np.clip(1.15 - 0.08 * np.hypot(fx, fy), 0.6, 1.2)[..., None]
    img = np.where(floor[..., None], np.array(SCENE_FLOOR[scene], float) * tint * shade, img)
    if scene == 2:  # a painted line on the floor
        line = floor & (np.abs(fx * 0.6 + fy * 0.8 - 0.9) < 0.05)
        img[line] = (235, 225, 120)
    return np.clip(img, 0, 255).astype(np.uint8)


def _table_prims(centre: np.ndarray, yaw: float, size=(1.0, 0.6), h=0.72):
    c, s = np.cos(yaw), np.sin(yaw)
    ax, ay = np.array([c, s, 0]) * size[1] / 2, np.array([-s, c, 0]) * size[0] / 2
    top = np.array([centre[0], centre[1], h])
    corners = np.stack([top + ax + ay, top + ax - ay, top - ax - ay, top - ax + ay])
    prims = [("poly", corners, (120, 85, 50))]
    for k in corners:
        prims.append(("line", np.stack([k, k * [1, 1, 0]]), 0.05, (90, 60, 35)))
    return prims


def static_prims(scene: int, door_angle: float, table_at: tuple | None) -> list:
    """3-D primitives of the scene for one frame: door frame/doorway/panel, tables."""
    dxy, n = door_geometry(scene)
    t = np.array([-n[1], n[0]])
    hinge = dxy - 0.45 * t
    frame_col = (200, 40, 40) if scene == 3 else (235, 235, 230)
    prims = []
    z0, z1 = np.array([0, 0, 0.0]), np.array([0, 0, 2.05])
    h3, e3 = np.r_[hinge, 0], np.r_[hinge + 0.9 * t, 0]
    prims.append(("poly", np.stack([h3, e3, e3 + z1, h3 + z1]) - np.r_[n, 0] * 0.02, (40, 35, 30)))  # doorway
    a = np.radians(door_angle)
    pd = np.r_[np.cos(a) * t + np.sin(a) * n, 0]
    prims.append(("poly", np.stack([h3, h3 + 0.88 * pd, h3 + 0.88 * pd + z1, h3 + z1]), (165, 115, 70)))
    w = 0.1 if scene == 3 else 0.06
    for p0, p1 in ((h3, h3 + z1), (e3, e3 + z1), (h3 + z1, e3 + z1)):
        prims.append(("line", np.stack([p0 + z0, p1]), w, frame_col))
    if scene == 4:
        prims += _table_prims(np.array([1.7, 1.3]), 0.6, size=(1.4, 0.7))
    if table_at is not None:
        prims += _table_prims(*table_at)
    return prims


def body_spec(subject: Subject, sleeves: bool) -> list:
    """The body as `(kind, joint indices, size, colour)`: thick segments, then the head and the wrists.

    Sleeved forearms and the shins wear the fixed `LIMB_COLOURS`; the rest takes the subject's colours."""
    sh, tr, sk = subject.shirt, subject.trousers, subject.skin
    fa = sh if sleeves else sk
    L = [("pelvis", "chest", 0.30, sh), ("chest", "neck", 0.11, sk), ("l_shoulder", "r_shoulder", 0.13, sh),
         ("l_hip", "r_hip", 0.17, tr)]  # fmt: skip
    for s in "lr":
        fore, shin = (LIMB_COLOURS[f"{s}_forearm"] if sleeves else fa), LIMB_COLOURS[f"{s}_shin"]
        L += [(f"{s}_shoulder", f"{s}_elbow", 0.10, sh), (f"{s}_elbow", f"{s}_wrist", 0.08, fore),
              (f"{s}_hip", f"{s}_knee", 0.15, tr), (f"{s}_knee", f"{s}_ankle", 0.11, shin),
              (f"{s}_ankle", f"{s}_toe", 0.07, (35, 30, 30))]  # fmt: skip
    spec = [("line", (J[a], J[b]), w, c) for a, b, w, c in L]
    spec.append(("ball", (J["head"],), 0.115, sk))
    for s in "lr":
        spec.append(("ball", (J[f"{s}_wrist"],), 0.045, sk))
    return spec


def project_prims(cam: Camera, prims: list) -> list:
    """Painter's items `(depth, prim, q (k, 2) int32 sub-pixel)` of the primitives `cam` sees, in order.

    One `project` call for the points of all primitives; depth is the mean camera z of a primitive's points
    (the same reduction over the same values as per primitive); a primitive nearer than 0.2 m is dropped.
    """
    pts = [pr[1].reshape(-1, 3) for pr in prims]
    uv, z = cam.project(np.concatenate(pts))  # (P, 2), (P,)
    q = np.round(uv * SCALE).astype(np.int32)
    items, i = [], 0
    for pr, p in zip(prims, pts):
        zk = z[i : i + len(p)]
        if not zk.min() < 0.2:
            items.append((float(zk.mean()), pr, q[i : i + len(p)]))
        i += len(p)
    return items


def body_items(cam: Camera, joints: np.ndarray, spec: list) -> list:
    """Per frame, the painter's items of the body `spec` (`body_spec`) from joints `(n, J, 3)`: n lists."""
    uv, z = cam.project(joints)  # (n, J, 2), (n, J)
    q = np.round(uv * SCALE).astype(np.int32)
    cols = []  # per primitive: depths (n,) as floats, visible (n,), q (n, k, 2)
    for kind, idx, size, col in spec:
        zk = z[:, list(idx)]  # (n, k)
        # the mean of 1 or 2 values: (a + b) / 2 in any reduction order, as `z.mean()` of one primitive
        depth = zk[:, 0] if len(idx) == 1 else (zk[:, 0] + zk[:, 1]) / 2
        cols.append((depth.tolist(), (~(zk.min(1) < 0.2)).tolist(), q[:, list(idx)], (kind, None, size, col)))
    return [[(d[k], pr, qk[k]) for d, vis, qk, pr in cols if vis[k]] for k in range(len(joints))]


def prop_items(cam: Camera, kind: str, size: float, pos: np.ndarray) -> list:
    """Per frame, the painter's items of a prop at `pos (n, 3)` (NaN where hidden): n lists of 0 or 1."""
    out: list = [[] for _ in range(len(pos))]
    shown = np.flatnonzero(~np.isnan(pos[:, 0]))
    if len(shown) == 0:
        return out
    uv, z = cam.project(pos[shown])  # (m, 2), (m,)
    q = np.round(uv * SCALE).astype(np.int32)[:, None]  # (m, 1, 2)
    pr = prop_prim(kind, None, size)
    for j, (k, d) in enumerate(zip(shown.tolist(), z.tolist())):
        if not d < 0.2:
            out[k] = [(d, pr, q[j])]
    return out


def paint(img: np.ndarray, cam: Camera, items: list) -> None:
    """Rasterise painter's items `(depth, prim, q)` onto `img (H, W, 3)` in place, far to near.

    The sort is stable: equal depths keep the order of `items` (scene, body, props).
    """
    items.sort(key=lambda it: -it[0])
    for depth, pr, q in items:
        kind = pr[0]
        if kind == "line":
            th = max(1, int(round(cam.f * pr[2] / depth)))
            cv2.line(img, tuple(q[0]), tuple(q[1]), pr[3], th, cv2.LINE_AA, SHIFT)
        elif kind == "poly":
            cv2.fillPoly(img, [q], pr[2], cv2.LINE_AA, SHIFT)
        elif kind == "ball":
            r = max(SCALE * 0.6, cam.f * pr[2] / depth * SCALE)
            cv2.circle(img, tuple(q[0]), int(round(r)), pr[3], -1, cv2.LINE_AA, SHIFT)
        elif kind == "box":
            r = max(SCALE * 0.6, cam.f * pr[2] / depth * SCALE / 2)
            c = q[0]
            cv2.rectangle(img, (int(c[0] - r), int(c[1] - r)), (int(c[0] + r), int(c[1] + r)), pr[3], -1,
                          cv2.LINE_AA, SHIFT)  # fmt: skip


def prop_prim(kind: str, pos: np.ndarray | None, size: float) -> tuple:
    """A prop as a primitive at `pos (3,)`: boxes as squares, the rest as small discs."""
    col = PROP_COLOURS[kind]
    if kind in ("box", "small_box", "phone"):
        return ("box", pos, size * (0.5 if kind == "phone" else 1.0), col)
    return ("ball", pos, size / 2, col)
