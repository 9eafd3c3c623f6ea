"""Video readers (mumae_core.data.video): PyAV returns decord's frames, resize modes, broken streams, and the
pip marker that leaves decord out where it has no wheels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from _fixtures import SENSORS, make_tree

from mumae_core.data.mmact import MMActDataset
from mumae_core.data.video import open_video, resize_frame, resolve_backend
from mumae_core.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parent.parent
MODES = ("squash", "center_crop", "short_side")


def _no_decord(monkeypatch):
    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` now raises ImportError


def _ffmpeg_clip(path: Path, w: int = 96, h: int = 54, seconds: float = 1.0) -> Path:
    """A non-square H.264 clip written by the ffmpeg binary (another encoder than the kit's PyAV writer)."""
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
        "-i", f"testsrc=size={w}x{h}:rate=30", "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p",
        str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture(scope="module")
def synthact_clip(tmp_path_factory) -> Path:
    from mumae_core.data.synthact import generate

    out = tmp_path_factory.mktemp("sa")
    root = generate(out, size="smoke", seed=0, workers=1, progress=False, classes=["waving_hand"])
    return sorted((root / "video" / "waving_hand").glob("*.mp4"))[0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", ["synthact", "ffmpeg"])
def test_pyav_returns_the_same_frames_as_decord(source, mode, synthact_clip, tmp_path, monkeypatch):
    pytest.importorskip("decord")
    clip = synthact_clip if source == "synthact" else _ffmpeg_clip(tmp_path / "ff.mp4")
    ref = open_video(clip, 32, mode, backend="decord")
    idx = list(range(0, len(ref), 3)) + [len(ref) - 1]
    want = ref.get_batch(idx)
    _no_decord(monkeypatch)
    assert resolve_backend("auto") == "pyav"
    vr = open_video(clip, 32, mode, backend="auto")
    assert len(vr) == len(ref)
    got = vr.get_batch(idx)
    assert got.dtype == np.uint8 and got.shape == (len(idx), 32, 32, 3)
    assert np.array_equal(got, want), f"max difference {np.abs(got.astype(int) - want).max()}"


def test_dataset_without_decord_gives_identical_items(tmp_path, monkeypatch):
    pytest.importorskip("decord")
    entries = make_tree(tmp_path, {"closing": 1, "jumping": 1}, cams=(1,), n_frames=12)
    kw = dict(num_frames=4, frame_stride=2, img_size=32, sensor_len=16, sensor_norm="none", train=True)
    classes, mods = ["closing", "jumping"], ("video",) + SENSORS
    with_decord = [MMActDataset(tmp_path, entries, classes, mods, **kw)[i] for i in range(2)]
    _no_decord(monkeypatch)
    without = [MMActDataset(tmp_path, entries, classes, mods, **kw)[i] for i in range(2)]
    for a, b in zip(with_decord, without):
        assert torch.equal(a["video"], b["video"])
        assert a["meta"]["frames"] == b["meta"]["frames"]


def test_decord_asked_for_but_missing_is_a_config_error(monkeypatch):
    _no_decord(monkeypatch)
    with pytest.raises(ConfigError, match="data.video_backend='decord'"):
        resolve_backend("decord")
    with pytest.raises(ConfigError, match="data.video_backend"):
        resolve_backend("opencv")


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_broken_stream_names_the_file(backend, tmp_path):
    if backend == "decord":
        pytest.importorskip("decord")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="cannot decode video") as e:
        open_video(bad, 32, backend=backend).get_batch([0])
    assert str(bad) in str(e.value)


def test_pyav_refuses_frames_past_the_end(tmp_path):
    vr = open_video(_ffmpeg_clip(tmp_path / "ff.mp4", seconds=0.5), 16, backend="pyav")
    assert len(vr) == 15
    with pytest.raises(DataError, match=r"frames \[15\] are outside video"):
        vr.get_batch([0, 15])


def test_resize_modes_on_a_wide_frame():
    """A 2:1 frame: left quarter black, centre half grey, right quarter white."""
    f = np.full((40, 80, 3), 128, np.uint8)
    f[:, :20], f[:, 60:] = 0, 255
    squash = resize_frame(f, 20, "squash")
    assert squash.shape == (20, 20, 3)
    assert squash[:, :4].max() == 0 and squash[:, -4:].min() == 255  # the whole width survives
    for mode in ("center_crop", "short_side"):
        out = resize_frame(f, 20, mode)
        assert out.shape == (20, 20, 3)
        assert (out == 128).all(), mode  # only the centred square is kept, undistorted
    # the short side goes to the target size first: a 3:2 frame of 60x90 -> 20x30 -> centre 20x20 crop
    g = np.zeros((60, 90, 3), np.uint8)
    g[:, 15:75] = 200
    assert (resize_frame(g, 20, "short_side") == 200).all()
    assert (resize_frame(g, 20, "center_crop") == 200).all()
    with pytest.raises(ConfigError, match="data.resize"):
        resize_frame(f, 20, "stretch")


def test_config_validates_backend_and_resize():
    from mumae_core.config import get_config

    cfg = get_config("smoke", ["data.video_backend=pyav", "data.resize=short_side"]).validate()
    assert (cfg.data.video_backend, cfg.data.resize) == ("pyav", "short_side")
    with pytest.raises(ConfigError, match="data.resize"):
        get_config("smoke", ["data.resize=stretch"]).validate()
    with pytest.raises(ConfigError, match="data.video_backend"):
        get_config("smoke", ["data.video_backend=cv2"]).validate()


def test_decord_marker_leaves_it_out_where_it_has_no_wheels():
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    decord = next(Requirement(d) for d in deps if Requirement(d).name == "decord")
    assert decord.marker is not None, "decord must carry a platform marker"
    platforms = {
        ("darwin", "arm64"): False,  # macOS Apple silicon: no wheel
        ("linux", "aarch64"): False,  # Linux ARM: no wheel
        ("linux", "x86_64"): True,
        ("darwin", "x86_64"): True,
        ("win32", "AMD64"): True,
    }
    for (plat, machine), expected in platforms.items():
        env = dict(default_environment(), sys_platform=plat, platform_machine=machine)
        assert decord.marker.evaluate(env) is expected, (plat, machine)
    av = next(Requirement(d) for d in deps if Requirement(d).name == "av")
    assert av.marker is None, "PyAV is the fallback reader: it must be installed everywhere"
