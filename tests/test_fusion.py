"""Fusion modules (mumae_core/models/fusion.py) and the scratch unimodal encoders (unimodal.py)."""

import pytest
import torch

from mumae_core.config import get_config
from mumae_core.errors import ConfigError, DataError
from mumae_core.models.fusion import (
    ConcatFusion,
    CrossAttentionFusion,
    EpisodeCrossAttentionFusion,
    MeanFusion,
    SingleModalityFusion,
    build_fusion,
)
from mumae_core.models.unimodal import SensorCNN, UnimodalEncoders, VideoCNN

D = 16
DIMS = {"video": 8, "acc": 12, "gyro": 12}
N_TOK = {"video": 6, "acc": 4, "gyro": 4}


def inputs(B=5, mods=("video", "acc", "gyro"), seed=0):
    g = torch.Generator().manual_seed(seed)
    rm = torch.randn(B, D, generator=g, requires_grad=True)
    feats = {m: torch.randn(B, N_TOK[m], DIMS[m], generator=g, requires_grad=True) for m in mods}
    return rm, feats


FUSIONS = {
    "cross_attn": lambda: CrossAttentionFusion(D, DIMS, out_dim=D, heads=4),
    "episode": lambda: EpisodeCrossAttentionFusion(D, DIMS, out_dim=D, heads=4),
    "concat": lambda: ConcatFusion(DIMS, out_dim=D),
    "mean": lambda: MeanFusion(DIMS, out_dim=D),
    "single": lambda: SingleModalityFusion("acc", DIMS, out_dim=D),
}


@pytest.mark.parametrize("name", list(FUSIONS))
def test_forward_backward(name):
    torch.manual_seed(0)
    f = FUSIONS[name]()
    rm, feats = inputs()
    out = f(rm, feats)
    assert out.shape == (5, D) and torch.isfinite(out).all()
    out.square().sum().backward()
    for n, p in f.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n
    used = ("acc",) if name == "single" else tuple(DIMS)
    for m in used:
        assert feats[m].grad is not None and feats[m].grad.abs().sum() > 0, m
    assert f.missing == []


@pytest.mark.parametrize("name", ["cross_attn", "episode", "concat", "mean"])
@pytest.mark.parametrize("mods", [("acc",), ("video", "gyro"), ("acc", "gyro")])
def test_modality_subsets_and_missing(name, mods):
    f = FUSIONS[name]()
    rm, feats = inputs(mods=mods)
    out = f(rm, feats)
    assert out.shape == (5, D) and torch.isfinite(out).all()
    assert f.missing == [m for m in DIMS if m not in mods]
    if name in ("cross_attn", "episode"):
        assert set(f.attn) == set(mods)


def test_single_modality_missing_is_an_error():
    f = FUSIONS["single"]()
    rm, feats = inputs(mods=("video", "gyro"))
    with pytest.raises(DataError, match="'acc' is missing"):
        f(rm, feats)


def test_cross_attention_weights_and_per_clip_independence():
    torch.manual_seed(0)
    f = FUSIONS["cross_attn"]()
    rm, feats = inputs(B=4)
    out = f(rm, feats)
    for m in DIMS:
        a = f.attn[m]
        assert a.shape == (4, 4, N_TOK[m])
        assert torch.allclose(a.sum(-1), torch.ones(4, 4), atol=1e-5)
    one = f(rm[2:3], {m: x[2:3] for m, x in feats.items()})  # clip 2 alone gives the same feature
    assert torch.allclose(one, out[2:3], atol=1e-5)
    assert not f.transductive


def test_episode_fusion_is_transductive():
    torch.manual_seed(0)
    f = FUSIONS["episode"]()
    assert f.transductive
    rm, feats = inputs(B=4)
    out = f(rm, feats)
    assert f.attn["acc"].shape == (4, 4, 4)  # heads x clips x clips
    feats2 = {m: x.clone() for m, x in feats.items()}
    feats2["acc"][3] += 5.0  # change another clip of the episode: clip 0's output changes
    assert not torch.allclose(f(rm, feats2)[0], out[0])


def test_fusion_errors():
    rm, feats = inputs()
    with pytest.raises(ConfigError, match="empty modality list"):
        ConcatFusion({}, out_dim=D)
    with pytest.raises(ConfigError, match="needs the multimodal representation"):
        FUSIONS["cross_attn"]()(None, feats)
    with pytest.raises(DataError, match="not configured"):
        FUSIONS["mean"]()(rm, {**feats, "orientation": feats["acc"]})
    with pytest.raises(DataError, match="none of the modalities"):
        FUSIONS["concat"]()(rm, {})
    with pytest.raises(DataError, match="must be"):
        FUSIONS["concat"]()(rm, {"acc": feats["acc"][..., :5]})
    with pytest.raises(ConfigError, match="divisible"):
        CrossAttentionFusion(D, {"acc": 10}, D, heads=4)
    cfg = get_config("smoke", {"oneshot.fusion_scope": "episode", "oneshot.fusion": "concat"})
    with pytest.raises(ConfigError, match="fusion_scope"):
        build_fusion(cfg, D, DIMS, D)


@pytest.mark.parametrize("name", ["cross_attn", "concat", "mean"])
def test_modality_dropout_hides_modalities_in_training_only(name):
    torch.manual_seed(0)
    f = FUSIONS[name]()
    rm, feats = inputs(B=3)
    f.eval()
    ref = f(rm, feats)
    f.set_modality_dropout(0.5, seed=7)
    assert torch.equal(f(rm, feats), ref)  # evaluation sees every modality
    f.train()
    outs, kept = [], []
    for _ in range(40):
        outs.append(f(rm, feats))
        kept.append(tuple(f._dropped(list(DIMS))))
    f.eval()
    assert torch.equal(f(rm, feats), ref)
    assert all(len(k) >= 1 for k in kept)  # never all hidden
    assert len(set(kept)) > 3 and any(len(k) < 3 for k in kept) and (tuple(DIMS) in kept)
    assert any(not torch.allclose(o, ref) for o in outs)
    # a training forward is the evaluation forward over the modalities it kept (the same draw, same seed)
    twin = FUSIONS[name]()
    twin.set_modality_dropout(0.5, seed=11)
    twin.train()
    kept_first = twin._dropped(list(DIMS))
    f.set_modality_dropout(0.5, seed=11)
    f.train()
    out = f(rm, feats)
    f.eval()
    assert torch.allclose(out, f(rm, {m: feats[m] for m in kept_first}), atol=1e-6)


def test_modality_dropout_is_seeded_and_checked():
    draws = []
    for seed in (3, 3, 4):
        f = FUSIONS["mean"]()
        f.set_modality_dropout(0.5, seed=seed)
        f.train()
        draws.append([tuple(f._dropped(list(DIMS))) for _ in range(20)])
    assert draws[0] == draws[1] and draws[0] != draws[2]
    f.set_modality_dropout(0.0, seed=3)
    assert f._dropped(list(DIMS)) == list(DIMS)
    with pytest.raises(ConfigError, match="modality_dropout"):
        f.set_modality_dropout(1.0, seed=0)
    with pytest.raises(ConfigError, match="oneshot.modality_dropout"):
        get_config("smoke", {"oneshot.modality_dropout": 1.0}).validate()
    cfg = get_config("smoke", {"oneshot.modality_dropout": 0.25, "oneshot.seed": 5}).validate()
    built = build_fusion(cfg, D, DIMS, D)
    assert built.drop_p == 0.25


def test_sensor_cnn_keeps_axes_apart():
    """The reference `view`s (B, L, 3) as (B, 3, L), mixing axes; ours permutes. With the conv reading only
    input channel 0 (x), the output must not depend on y and z."""
    torch.manual_seed(0)
    net = SensorCNN(32)
    with torch.no_grad():
        net.conv.weight[:, 1:] = 0
    x = torch.randn(2, 32, 3)
    y = x.clone()
    y[..., 1:] = torch.randn(2, 32, 2)
    assert net(x).shape == (2, 1, 64)
    assert torch.allclose(net(x), net(y))
    z = x.clone()
    z[..., 0] += 1.0
    assert not torch.allclose(net(x), net(z))


def test_unimodal_encoders_shapes():
    enc = UnimodalEncoders(("video", "acc"), sensor_len=32)
    out = enc({"video": torch.randn(2, 3, 4, 32, 32), "acc": torch.randn(2, 32, 3)})
    assert out["video"].shape == (2, 8, 128) and out["acc"].shape == (2, 1, 64)
    assert enc.dims == {"video": 128, "acc": 64}
    with pytest.raises(DataError):
        VideoCNN()(torch.randn(2, 4, 32, 32))
