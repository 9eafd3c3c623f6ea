"""mumae_core.viz on tiny inputs: colorbars with units, hidden tokens drawn distinctly, video attention on
the token grid, axis labels that say what they show, chance lines, and figures saved at >= 150 dpi."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from mumae_core.viz import attention, results, signals, style


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _colorbars(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _legend_texts(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def _hatched(fig) -> list:
    return [p for ax in fig.axes for p in ax.patches if p.get_hatch()]


GRID = (2, 3, 3)  # (T', H', W'): 18 tokens
TUBELET, PATCH = 2, 4


def _frame_inputs(hidden_tokens=(0, 4, 13)):
    rng = np.random.default_rng(0)
    frames = rng.random((GRID[0] * TUBELET, GRID[1] * PATCH, GRID[2] * PATCH, 3))
    w = rng.random(int(np.prod(GRID))).astype(np.float32)
    w /= w.sum()
    mask = np.zeros(w.shape, bool)
    mask[list(hidden_tokens)] = True
    return frames, np.ma.masked_array(w, mask=mask)


def test_frame_attention_colorbar_and_hidden_legend():
    frames, w = _frame_inputs()
    fig = attention.plot_frame_attention(frames, w, GRID, TUBELET, PATCH, title="t")
    (cb,) = _colorbars(fig)
    assert cb.get_ylabel() == attention.FUSION_UNITS
    assert any(t.startswith("hidden") for t in _legend_texts(fig))
    # token 0 and 4 are hidden at t'=0 (frames 0, 1), token 13 at t'=1 (frames 2, 3): one hatched square each
    assert len(_hatched(fig)) == 2 * 2 + 1 * 2


def test_frame_attention_without_hidden_has_no_hidden_entry():
    frames, w = _frame_inputs(hidden_tokens=())
    fig = attention.plot_frame_attention(
        frames, w.data, GRID, TUBELET, PATCH, units="mean attention received"
    )
    assert _colorbars(fig)[0].get_ylabel() == "mean attention received"
    assert not _hatched(fig) and not any(t.startswith("hidden") for t in _legend_texts(fig))


def test_signal_attention_colorbar_and_hidden_spans():
    rng = np.random.default_rng(1)
    sig = {"acc_watch": rng.normal(size=(16, 3)), "gyro": rng.normal(size=(16, 3))}
    mask = np.array([True, False, False, True])
    wts = {m: np.ma.masked_array(rng.random(4), mask=mask) for m in sig}
    fig = attention.plot_signal_attention(sig, wts, mode="contiguous")
    (cb,) = _colorbars(fig)
    assert cb.get_ylabel() == attention.FUSION_UNITS
    assert any(t.startswith("hidden") for t in _legend_texts(fig))
    assert len(_hatched(fig)) == 2 * 2  # two hidden runs (token 0, token 3) on each of 2 sensors
    # one colour scale shared by the rows: the largest visible weight of any sensor
    vmax = max(float(w.compressed().max()) for w in wts.values())
    for ax in fig.axes[:2]:
        assert ax.images[0].norm.vmax == pytest.approx(vmax)


def test_class_attention_on_the_token_grid():
    T, H, W = GRID
    per_class = {}
    for k, name in enumerate(("a", "b", "c")):
        v = np.zeros(GRID)
        v[0, k % H, 0] = 2.0  # time step 0 only: the map shows the mean over T' = 1.0
        v[1, k % H, 0] = 0.0
        per_class[name] = v.ravel()
    fig = attention.plot_class_attention(per_class, title="video", grid=GRID)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3
    first = np.asarray(images[0].get_array())
    assert first.shape == (H, W)
    assert first[0, 0] == pytest.approx(1.0) and first.sum() == pytest.approx(1.0)
    assert len(_colorbars(fig)) == 1


def test_time_repeat_correlation():
    rng = np.random.default_rng(3)
    spatial = rng.random(GRID[1] * GRID[2])
    repeated = {"a": np.tile(spatial, GRID[0])}  # the same spatial pattern at every time step
    fresh = {"a": rng.random(int(np.prod(GRID)))}
    assert attention.time_repeat_correlation(repeated, GRID) == pytest.approx(1.0)
    assert abs(attention.time_repeat_correlation(fresh, GRID)) < 0.8


def test_class_attention_flat_for_sensors_and_grid_mismatch():
    fig = attention.plot_class_attention({"a": np.ones(8) / 8, "b": np.arange(8) / 28}, xlabel="time window")
    assert len(_colorbars(fig)) == 1
    with pytest.raises(ValueError, match="grid"):
        attention.plot_class_attention({"a": np.ones(10)}, grid=GRID)


def test_sensor_reconstruction_axis_labels():
    rng = np.random.default_rng(2)
    x = {"gyro": rng.normal(size=(16, 3))}
    m = {"gyro": np.array([False, True, False, True])}
    fig = signals.plot_sensor_reconstruction(x, x, m, units="z-scored")
    axes = fig.axes
    assert axes[-1].get_xlabel() == "time (samples)"
    assert "z-scored value" in axes[0].get_ylabel()
    assert "sample (" not in " ".join(ax.get_xlabel() for ax in axes)
    fig = signals.plot_sensor_reconstruction(x, x, m, sample_rate=50.0)
    assert fig.axes[-1].get_xlabel() == "time (s)"


def test_sensor_plots_label_hidden_spans():
    rng = np.random.default_rng(4)
    x = {"acc": rng.normal(size=(16, 3))}
    m = {"acc": np.array([True, False, True, False])}
    fig = signals.plot_sensors(x, masks=m, n_patches=4)
    assert "hidden" in _legend_texts(fig) and fig.axes[-1].get_xlabel() == "time (samples)"
    fig = signals.plot_sensor_masks(x, {"synchronized": m, "none": {"acc": np.zeros(4, bool)}})
    assert _legend_texts(fig).count("hidden") == 1


def test_accuracy_rows_chance_line():
    rows = [{"row": "full", "accuracy": 60.0, "ci95": 2.0}, {"row": "no pretraining", "accuracy": 40.0}]
    fig = results.plot_accuracy_rows(rows, label="row", chance=20.0)
    ax = fig.axes[0]
    assert any(np.allclose(ln.get_xdata(), 20.0) for ln in ax.lines)
    assert "chance 20 %" in _legend_texts(fig)


def test_save_figure_returns_none_at_150_dpi(tmp_path):
    rows = [{"row": "full model", "accuracy": 60.0, "ci95": 2.0}, {"row": "b", "accuracy": 40.0, "ci95": 1.0}]
    fig = results.plot_accuracy_rows(rows, label="row", title="SynthAct: fusion", chance=20.0)
    width_in, height_in = fig.get_size_inches()
    assert style.save_figure(fig, tmp_path / "figs", "05 ablations: fusion") is None
    path = style.figure_path(tmp_path / "figs", "05 ablations: fusion")
    assert path.is_file() and path.name == "05_ablations_fusion.png"
    img = mpimg.imread(path)
    h_px, w_px = img.shape[:2]
    # bbox_inches='tight' trims the margins: allow 15 %; 90 dpi (the old default) would give 630 px wide
    assert w_px >= 0.85 * width_in * 150 and h_px >= 0.85 * height_in * 150, (w_px, h_px)


def test_frame_attention_saves_readably(tmp_path):
    frames, w = _frame_inputs()
    fig = attention.plot_frame_attention(frames, w, GRID, TUBELET, PATCH)
    style.save_figure(fig, tmp_path, "frame_attention")
    img = mpimg.imread(tmp_path / "frame_attention.png")
    assert img.shape[1] >= 0.85 * fig.get_size_inches()[0] * 150
