"""SynthAct generator: layout, sensor CSVs, physics, determinism, committed splits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import decord
import numpy as np
import pandas as pd
import pytest

from mumae_core.data.synthact import BASE_CLASSES, CLASSES, NOVEL_CLASSES, VAL_CLASSES, generate, simulate
from mumae_core.data.synthact.sensors import SENSORS, angular_velocity, specific_force
from mumae_core.data.synthact.skeleton import rz

REPO = Path(__file__).resolve().parent.parent
SPLITS = REPO / "splits" / "synthact"
CLIP_RE = re.compile(r"^subject(\d+)_cam(\d)_scene([1-4])_session(\d+)_([a-z_]+)$")
SUBSET = ("standing", "pocket_in")  # regenerated for the determinism tests


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("sa") / "smoke", size="smoke", seed=0, workers=2, progress=False)


def _frames(path: Path) -> np.ndarray:
    return decord.VideoReader(str(path), num_threads=1).get_batch(list(range(5))).asnumpy()


def test_layout_and_names(smoke):
    meta = json.loads((smoke / "synthact.json").read_text())
    clips = sorted(p.relative_to(smoke / "video").as_posix()[:-4] for p in (smoke / "video").glob("*/*.mp4"))
    assert len(clips) == meta["counts"]["clips"] == 33 * 2 * 2 * 1  # classes x subjects x cameras x sessions
    assert {c.split("/")[0] for c in clips} == set(CLASSES)
    recordings = set()
    for c in clips:
        cls, clip = c.split("/")
        m = CLIP_RE.match(clip)
        assert m and m.group(5) == cls and m.group(2) in ("1", "2"), clip
        rec = re.sub(r"_cam\d", "", clip)
        recordings.add(rec)
        for s in SENSORS:
            assert (smoke / f"{s}_clip" / cls / f"{rec}.csv").is_file(), (s, rec)
    assert len(recordings) == meta["counts"]["recordings"] == len(clips) // 2  # cameras share sensor files
    train = (smoke / "splits" / "trainlist03.txt").read_text().split()
    test = (smoke / "splits" / "testlist03.txt").read_text().split()
    assert {c.split("/")[0] for c in train} == set(BASE_CLASSES) and len(BASE_CLASSES) == 23
    assert {c.split("/")[0] for c in test} == set(NOVEL_CLASSES) and len(NOVEL_CLASSES) == 10
    assert sorted(train + test) == clips
    assert set(VAL_CLASSES) <= set(BASE_CLASSES)


def test_committed_splits_match_generated(smoke):
    for name in ("trainlist03.txt", "testlist03.txt"):
        assert (SPLITS / "smoke" / name).read_text() == (smoke / "splits" / name).read_text(), name
    assert (SPLITS / "base_classes.txt").read_text().split() == list(BASE_CLASSES)
    assert (SPLITS / "novel_classes.txt").read_text().split() == list(NOVEL_CLASSES)
    assert (SPLITS / "val_classes.txt").read_text().split() == list(VAL_CLASSES)


def test_csv_header_timestamps_and_rates(smoke):
    path = next((smoke / "acc_phone_clip" / "walking").glob("subject1_*.csv"))
    clip = next((smoke / "video" / "walking").glob(path.stem.replace("subject1_", "subject1_cam1_") + ".mp4"))
    duration_ms = len(decord.VideoReader(str(clip))) / 30 * 1000
    for s, rate in (("acc_phone", 50), ("gyro", 50), ("orientation", 50), ("acc_watch", 32)):
        p = smoke / f"{s}_clip" / "walking" / path.name
        assert p.read_text().splitlines()[0] == "timestamp,x,y,z"
        df = pd.read_csv(p)
        t = df["timestamp"].to_numpy()
        assert np.all(np.diff(t) > 0), s
        assert abs((t[-1] - t[0]) - duration_ms) < 2.0, (s, t[-1] - t[0], duration_ms)
        assert abs(np.median(np.diff(t)) - 1000 / rate) < 0.1 * 1000 / rate, s
        assert np.isfinite(df[["x", "y", "z"]].to_numpy()).all()


def test_resting_accelerometer_reads_plus_g_on_up_axis(smoke):
    # the physics: a sensor at rest, upright (R = I), reads +9.81 on z; a rotating one reads its rate on z
    n, dt = 50, 0.005
    pos = np.zeros((n, 3))
    rot = rz(np.linspace(0, 1.0, n))
    f = specific_force(pos, rot, dt)
    np.testing.assert_allclose(f[5:-5], np.tile([0, 0, 9.81], (n - 10, 1)), atol=1e-9)
    np.testing.assert_allclose(angular_velocity(rot, dt)[5:-5, 2], 1.0 / ((n - 1) * dt), rtol=1e-3)
    # generated data: a standing subject's phone (thigh pocket, y along the thigh) reads about g on its y axis
    for p in (smoke / "acc_phone_clip" / "standing").glob("*.csv"):
        m = pd.read_csv(p)[["x", "y", "z"]].to_numpy().mean(0)
        assert abs(np.linalg.norm(m) - 9.81) < 1.2, (p.name, m)  # bias + gain error
        assert np.argmax(np.abs(m)) == 1 and abs(m[1]) > 7.0, (p.name, m)


def test_determinism_same_seed_identical_other_seed_differs(smoke, tmp_path):
    again = generate(tmp_path / "again", size="smoke", seed=0, workers=1, progress=False, classes=SUBSET)
    other = generate(tmp_path / "other", size="smoke", seed=1, workers=1, progress=False, classes=SUBSET)
    for cls in SUBSET:
        for s in SENSORS:
            for p in (again / f"{s}_clip" / cls).glob("*.csv"):
                assert p.read_bytes() == (smoke / f"{s}_clip" / cls / p.name).read_bytes(), p.name
        clip = next((again / "video" / cls).glob("*.mp4"))
        np.testing.assert_array_equal(_frames(clip), _frames(smoke / "video" / cls / clip.name))
    a = sorted((smoke / "acc_phone_clip" / "standing").glob("*.csv"))[0]
    b = sorted((other / "acc_phone_clip" / "standing").glob("*.csv"))[0]
    assert a.read_bytes() != b.read_bytes()
    va, vb = (
        sorted((smoke / "video" / "standing").glob("*.mp4"))[0],
        sorted((other / "video" / "standing").glob("*.mp4"))[0],
    )
    assert not np.array_equal(_frames(va), _frames(vb))


def test_phone_follows_the_hand_in_pocket_transitions():
    # pocket_in: the phone is in the hand at the start and in the pocket at the end; pocket_out the reverse
    for cls, start, end in (("pocket_in", 1.0, 0.0), ("pocket_out", 0.0, 1.0)):
        rec = simulate(0, "smoke", 1, 1, cls)
        w = rec.ctx.phone_hand
        assert w[0] == start and w[-1] == end, cls
