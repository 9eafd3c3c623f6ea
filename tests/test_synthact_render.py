"""SynthAct rendering: pinned frame hashes; the batched renderer equals the per-frame, per-primitive one."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mumae_core.data.synthact import CLASSES, simulate
from mumae_core.data.synthact.generate import _PAD, FPS, prop_positions, render_frames
from mumae_core.data.synthact.render import (
    SCALE,
    background,
    body_spec,
    make_camera,
    paint,
    person_crop,
    prop_prim,
    static_prims,
)
from mumae_core.data.synthact.sensors import SIM_RATE

# sha256 (first 32 hex digits) of the raw frames (before the encoder) of smoke cameras 1 and 2, seed 0, of
# generator 2.0 (person crop, part-coloured limbs), recorded with numpy 2.4.6 and opencv 5.0.0. A change here
# changes SynthAct itself (bump generate.VERSION), or numpy / cv2 arithmetic.
GOLDEN = {
    (1, 1, "sitting"): "83afc1352c5cf1350c857919ab21f1b7",  # scene 4: a table in the scene and at the subject
    (1, 1, "closing"): "e53a28114c56050fc90f6e94b68479ec",  # scene 2: the door angle changes every frame
    (2, 1, "picking_up"): "9a279c0d0ca6b9c296a0643f6b19c5cf",  # scene 3: a box, resting then held
    (1, 1, "throwing"): "93d978149235fa220fb4cb49237722ff",  # scene 4: a thrown ball
    (2, 1, "using_phone"): "5dff8c57c5e32eeb1ff80985f69c496a",  # scene 4: a phone in the hand
}


def _body_prims(p: np.ndarray, spec: list) -> list:
    """One frame's body primitives from joints `p (J, 3)`, as the renderer built them before batching."""
    return [(kind, p[list(idx)] if kind == "line" else p[idx[0]], size, col) for kind, idx, size, col in spec]


def _draw(img: np.ndarray, camera, prims: list) -> None:
    """The painter before batching: one `project` per primitive, depth its mean z, nearer than 0.2 m out."""
    items = []
    for pr in prims:
        uv, z = camera.project(pr[1].reshape(-1, 3))
        if z.min() < 0.2:
            continue
        items.append((float(z.mean()), pr, np.round(uv * SCALE).astype(np.int32)))
    paint(img, camera, items)


def _reference_frames(rec, cam: int, size: int, seed: int):
    """The renderer before batching: per frame, rebuild the primitives, `draw`, then that frame's noise."""
    crng = np.random.default_rng([seed, rec.subject.index, rec.session, CLASSES.index(rec.cls), 2, cam])
    idx = [int(round((k / FPS + _PAD) * SIM_RATE)) for k in range(rec.n_frames)]
    camera = person_crop(make_camera(cam, size, crng), rec.kin.joints[idx], crng)
    bg = background(camera, rec.scene, crng)
    sleeves = rec.subject.index % 3 != 0
    c = rec.ctx
    table_at = None
    if c.table:
        mid = len(rec.t) // 2
        yaw = np.radians(c.ang["yaw"][mid]) if "yaw" in c.ang else 0.0
        table_at = (c.root[mid] + 0.55 * np.array([np.cos(yaw), np.sin(yaw)]), yaw)
    props = prop_positions(rec)
    for i in idx:
        prims = static_prims(rec.scene, float(c.door_angle[i]), table_at)
        prims += _body_prims(rec.kin.joints[i], body_spec(rec.subject, sleeves))
        prims += [prop_prim(kind, pos[i], sz) for kind, sz, pos in props if not np.isnan(pos[i, 0])]
        img = bg.copy()
        _draw(img, camera, prims)
        noisy = img.astype(np.int16) + crng.normal(0, 3.0, img.shape).astype(np.int16)
        yield np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_rendered_frames_match_golden_hash(key):
    subject, session, cls = key
    rec = simulate(0, "smoke", subject, session, cls)
    h = hashlib.sha256()
    for cam in (1, 2):
        for fr in render_frames(rec, cam, 64, 0):
            h.update(fr.tobytes())
    assert h.hexdigest()[:32] == GOLDEN[key]


@pytest.mark.parametrize("cls", ["opening", "carrying"])
def test_batched_renderer_equals_per_frame_reference(cls):
    rec = simulate(3, "smoke", 2, 1, cls)
    for cam in (1, 4):
        new = np.stack(list(render_frames(rec, cam, 64, 3)))
        ref = np.stack(list(_reference_frames(rec, cam, 64, 3)))
        assert new.shape == (rec.n_frames, 64, 64, 3)
        np.testing.assert_array_equal(new, ref)


def test_a_crop_is_the_pinhole_image_cropped_and_scaled():
    rng = np.random.default_rng(0)
    cam = make_camera(1, 64, rng)
    sub = cam.crop(10.0, 5.0, 32.0)
    p = rng.normal(0, 0.5, (20, 3)) + [0, 0, 1]
    uv, z = cam.project(p)
    uv2, z2 = sub.project(p)
    np.testing.assert_allclose(uv2, (uv - [10.0, 5.0]) * 2.0, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(z, z2)


@pytest.mark.parametrize("cls", ["walking", "sitting", "fall"])
def test_person_crop_keeps_the_whole_body_in_the_frame(cls):
    rec = simulate(0, "smoke", 1, 1, cls)
    joints = rec.kin.joints[::10]
    for cam in (1, 2, 3, 4):
        crop = person_crop(make_camera(cam, 64, np.random.default_rng(cam)), joints, np.random.default_rng(9))
        uv, _ = crop.project(joints.reshape(-1, 3))
        assert uv.min() >= 0 and uv.max() <= 64, (cls, cam, uv.min(), uv.max())
        assert np.ptp(uv, 0).max() > 0.6 * 64  # the body fills the crop: a larger actor than the full view
