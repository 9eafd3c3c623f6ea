"""Mask generators: exact counts, tube and synchronized properties, seeding, errors."""

import pytest
import torch

from mumae_core.config import get_config
from mumae_core.errors import ConfigError
from mumae_core.masking import make_masks, random_mask, sensor_masks, tube_mask


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n,ratio", [(16, 0.9), (196, 0.9), (10, 0.5), (7, 0.3)])
def test_random_mask_exact_count(n, ratio):
    m = random_mask(64, n, ratio, gen(0))
    assert m.dtype == torch.bool and m.shape == (64, n)
    assert (m.sum(1) == int(ratio * n)).all()
    assert len({tuple(r.tolist()) for r in m}) > 1  # drawn per sample, not one mask for the batch


def test_random_mask_is_uniform_over_positions():
    m = random_mask(4000, 16, 0.5, gen(1)).float()
    freq = m.mean(0)
    assert torch.allclose(freq, torch.full_like(freq, 0.5), atol=0.04), freq


@pytest.mark.parametrize("t,hw,ratio", [(8, 196, 0.9), (2, 4, 0.5), (4, 49, 0.75)])
def test_tube_mask_counts_and_tube_property(t, hw, ratio):
    m = tube_mask(16, t, hw, ratio, gen(0))
    assert m.shape == (16, t * hw)
    assert (m.sum(1) == t * int(ratio * hw)).all()
    grid = m.view(16, t, hw)  # t-major: index = ti * hw + si
    assert (grid == grid[:, :1]).all(), "a tube mask hides the same spatial positions at every t"
    assert (grid[:, 0].sum(1) == int(ratio * hw)).all()


def test_tube_mask_reference_numbers():
    m = tube_mask(2, 8, 196, 0.9, gen(0))
    assert m.shape == (2, 1568) and (m.sum(1) == 1408).all() and ((~m).sum(1) == 160).all()


def test_sensor_masks_synchronized_independent_none():
    names = ["acc_phone", "acc_watch", "gyro", "orientation"]
    sync = sensor_masks(8, names, 64, 0.5, "synchronized", gen(0))
    assert list(sync) == names
    for n in names:
        assert torch.equal(sync[n], sync[names[0]]) and (sync[n].sum(1) == 32).all()
    sync[names[0]][0, 0] ^= True  # each sensor owns its tensor
    assert not torch.equal(sync[names[0]], sync[names[1]])

    ind = sensor_masks(8, names, 64, 0.5, "independent", gen(0))
    for n in names:
        assert (ind[n].sum(1) == 32).all()
    for a in names:
        for b in names:
            if a < b:
                assert not torch.equal(ind[a], ind[b]), f"independent masks of {a} and {b} are identical"

    none = sensor_masks(8, names, 64, 0.5, "none", gen(0))
    assert all(v.shape == (8, 64) and not v.any() for v in none.values())


def test_reproducible_for_a_seed_and_different_across_seeds():
    a, b, c = (tube_mask(4, 2, 64, 0.75, gen(s)) for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    a, b, c = (sensor_masks(4, ["x", "y"], 32, 0.5, "independent", gen(s)) for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["x"], c["x"])


@pytest.mark.parametrize("ratio", [0.0, 0.01, 1.0, -0.5])
def test_ratio_that_hides_none_or_all_is_an_error(ratio):
    with pytest.raises(ConfigError, match="ratio"):
        random_mask(2, 16, ratio, gen(0))
    with pytest.raises(ConfigError, match="ratio"):
        tube_mask(2, 2, 16, ratio, gen(0))


def test_bad_sensor_mode_is_an_error():
    with pytest.raises(ConfigError, match="synchronized"):
        sensor_masks(2, ["a"], 16, 0.5, "tube", gen(0))


def test_make_masks_paper_profile():
    cfg = get_config("paper").validate()
    masks = make_masks(cfg, 3, gen(0))
    assert list(masks) == list(cfg.data.modalities)
    assert masks["video"].shape == (3, 1568) and (masks["video"].sum(1) == 1408).all()
    v = masks["video"].view(3, 8, 196)
    assert (v == v[:, :1]).all()
    for s in cfg.sensor_modalities:
        assert masks[s].shape == (3, 16) and (masks[s].sum(1) == 14).all()
        assert torch.equal(masks[s], masks["acc_phone"])  # synchronized by default


def test_make_masks_switches_and_subsets():
    cfg = get_config("smoke", {"mask.video_mask": "random", "mask.sensor_mask": "independent"}).validate()
    masks = make_masks(cfg, 64, gen(0))
    n_video = (32 // 16) ** 2 * (4 // 2)
    assert (masks["video"].sum(1) == int(0.75 * n_video)).all()
    assert not (masks["video"].view(64, 2, 4) == masks["video"].view(64, 2, 4)[:, :1]).all()  # not tubes
    assert not torch.equal(masks["gyro"], masks["acc_phone"])

    hapt = get_config("smoke", {"data.dataset": "hapt", "data.modalities": "acc,gyro"}).validate()
    m = make_masks(hapt, 2, gen(0))
    assert list(m) == ["acc", "gyro"] and torch.equal(m["acc"], m["gyro"])
    vid = get_config("smoke", {"data.modalities": "video"}).validate()
    assert list(make_masks(vid, 2, gen(0))) == ["video"]


def test_make_masks_names_the_parameter():
    cfg = get_config("smoke", {"mask.video_ratio": 0.1})  # 0.1 * 4 spatial positions hides none
    with pytest.raises(ConfigError, match="mask.video_ratio"):
        make_masks(cfg, 2, gen(0))
    cfg = get_config("smoke", {"mask.sensor_ratio": 1.0})
    with pytest.raises(ConfigError, match="mask.sensor_ratio"):
        make_masks(cfg, 2, gen(0))
