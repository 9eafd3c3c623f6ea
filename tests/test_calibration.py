"""The one-shot calibration check: non-learned baselines on validation episodes, and its three targets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mumae_core.calibration import SENSOR_CEILING, VIDEO_FLOOR, calibrate
from mumae_core.config import get_config
from mumae_core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    from mumae_core.data.synthact import generate

    out = tmp_path_factory.mktemp("cal") / "synthact-smoke"
    return generate(out=out, size="smoke", seed=0, progress=False)


def test_calibration_on_smoke_scores_every_row_on_validation_classes(smoke_root):
    from mumae_core.data.synthact import VAL_CLASSES

    cfg = get_config("smoke", [f"data.root={smoke_root}"]).validate()
    cal = calibrate(cfg, n_episodes=20)
    assert set(cal.classes) <= set(VAL_CLASSES)  # never a test class
    assert cal.episodes == 20 and cal.way == len(cal.classes)
    sens = [m for m in cfg.data.modalities if m != "video"]
    names = [f"statistics: {m}" for m in sens]
    assert (
        names + ["statistics: all sensors", "video: downsampled pixels", "video: silhouettes"]
        == list(cal.rows)[:-1]
    )
    assert cal.combined == list(cal.rows)[-1] and cal.combined.startswith("statistics: all sensors + video: ")
    assert all(0.0 <= a <= 100.0 and ci >= 0 for a, ci in cal.rows.values())
    assert len(cal.checks) == 3 and all(isinstance(v, bool) for v in cal.checks.values())
    rows = cal.table()
    assert [r["baseline"] for r in rows] == list(cal.rows)
    assert "gain_over_statistics" in rows[-1] and "gain_over_statistics" not in rows[0]


def test_calibration_needs_video_and_a_sensor(smoke_root):
    cfg = get_config("smoke", [f"data.root={smoke_root}", "data.modalities=acc_watch,gyro"]).validate()
    with pytest.raises(ConfigError, match="needs video"):
        calibrate(cfg, n_episodes=5)


@pytest.mark.slow
@pytest.mark.skipif(
    not (REPO / "data" / "synthact-default" / "synthact.json").is_file() or os.environ.get("MUMAE_SKIP_SLOW"),
    reason="needs the default dataset in data/synthact-default (mumae synth --size default)",
)
def test_default_synthact_meets_the_calibration_targets():
    """SynthAct default's design, checked under the one-shot protocol on validation episodes."""
    cfg = get_config("default", [f"data.root={REPO / 'data' / 'synthact-default'}"]).validate()
    cal = calibrate(cfg, n_episodes=300)
    assert max(a for n, (a, _) in cal.rows.items() if n.startswith("video")) >= VIDEO_FLOOR
    single = [a for n, (a, _) in cal.rows.items() if n.startswith("statistics: ") and "all" not in n]
    assert max(single) <= SENSOR_CEILING
    assert cal.gain[0] - cal.gain[1] > 0, cal.gain
    assert all(cal.checks.values()), cal.checks
