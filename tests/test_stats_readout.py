"""The statistics readouts (oneshot.token_stats, oneshot.input_stats): cosine mix, train-only statistics,
the input statistics carried with the representations, config checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_oneshot import sensor_cfg, sensor_splits

from mumae_core.baselines import channel_stats
from mumae_core.config import get_config
from mumae_core.errors import ConfigError, DataError
from mumae_core.eval import encode_representations
from mumae_core.eval.features import CachedRepresentations, LiveFeatures
from mumae_core.models.fusion import ConcatFusion
from mumae_core.models.oneshot import build_oneshot_model
from mumae_core.models.stats_readout import InputStatsReadout, TokenStatsReadout, input_key, input_statistics
from mumae_core.train.oneshot import train_oneshot

DIMS = {"acc": 8, "gyro": 8}


def feats(b=6, n=5, seed=0):
    """{mod: (B, N, D)} random tokens with a per-modality offset and scale."""
    g = torch.Generator().manual_seed(seed)
    return {m: 3.0 + (i + 2) * torch.randn(b, n, d, generator=g) for i, (m, d) in enumerate(DIMS.items())}


def readout(w=0.3):
    torch.manual_seed(0)
    return TokenStatsReadout(ConcatFusion(DIMS, 8), w)


def test_cosine_is_the_weighted_mix_of_the_two_cosines():
    r, x = readout(0.3).eval(), feats()
    out = r(None, x)  # (B, 8 + 2 * 16)
    assert out.shape == (6, 8 + 32) and r.out_dim == 40
    fused, stats = r.inner(None, x), r.statistics(x)
    cos = F.normalize(out, dim=-1) @ F.normalize(out, dim=-1).T
    mix = 0.7 * (F.normalize(fused, dim=-1) @ F.normalize(fused, dim=-1).T) + 0.3 * (
        F.normalize(stats, dim=-1) @ F.normalize(stats, dim=-1).T
    )
    assert torch.allclose(cos, mix, atol=1e-5)


def test_statistics_are_z_scored_with_training_clips_only():
    r, x = readout(), feats(b=64)
    before = r.eval().statistics(x)  # no training clip seen: the raw statistics
    assert torch.allclose(before[:, :8] * 16**0.5, x["acc"].mean(1), atol=1e-5)
    r.train()(None, x)  # one training forward fits the running statistics
    r.eval()
    z = r.statistics(x)[:, :16] * 16**0.5  # acc's block, undone its 1/sqrt(2 D) scale
    assert torch.allclose(z.mean(0), torch.zeros(16), atol=1e-4)
    assert torch.allclose(z.std(0, unbiased=False), torch.ones(16), atol=1e-3)
    counts = r.count_acc.item()
    r(None, feats(seed=1))  # eval: the statistics do not move
    assert r.count_acc.item() == counts == 64


def test_missing_modality_gives_a_zero_block():
    r, x = readout().eval(), feats()
    s = r.statistics({"acc": x["acc"]})
    assert s.shape == (6, 32) and torch.equal(s[:, 16:], torch.zeros(6, 16))
    assert r(None, {"acc": x["acc"]}).shape == (6, 40) and r.missing == ["gyro"]


@pytest.mark.parametrize(
    "extra, match",
    [
        (["oneshot.token_stats=1.0"], "token_stats"),
        (["oneshot.token_stats=-0.1"], "token_stats"),
        (["oneshot.token_stats=0.3", "oneshot.fusion_scope=episode"], "transductive"),
        (["oneshot.input_stats=1.0"], "input_stats"),
        (["oneshot.input_stats=0.3", "oneshot.fusion_scope=episode"], "transductive"),
        (["oneshot.input_stats=0.3", "oneshot.token_stats=0.3"], "choose one"),
        (["oneshot.input_stats=0.3", "data.modalities=video"], "no sensor"),
    ],
)
def test_config_errors(extra, match):
    with pytest.raises(ConfigError, match=match):
        get_config("smoke", extra).validate()


def test_one_shot_model_and_training_use_it(tmp_path):
    cfg = sensor_cfg("oneshot.token_stats=0.3")
    model = build_oneshot_model(cfg)
    assert isinstance(model.fusion, TokenStatsReadout) and model.fusion.needs_rm
    assert "fusion.count_acc" in model.state_dict()
    x = sensor_splits()["train"]
    model.eval().clip_features({m: torch.stack([x[i][m] for i in range(4)]) for m in ("acc", "gyro")})
    assert set(model.fusion.attn) == {"acc", "gyro"}, "the inner cross-attention's weights (04's plots)"
    m = train_oneshot(cfg, datasets=sensor_splits(), out_dir=tmp_path, progress=False)
    assert np.isfinite(m["test"]["accuracy"]) and len(m["test"]["episode_accuracy"]) == 12
    off = train_oneshot(sensor_cfg(), datasets=sensor_splits(), out_dir=tmp_path / "off", progress=False)
    assert off["test"]["episode_accuracy"] != m["test"]["episode_accuracy"]


def sensor_batch(b=6, seed=0):
    """{sensor: (B, L, 3)} signals with a per-sensor level."""
    g = torch.Generator().manual_seed(seed)
    return {m: i + torch.randn(b, 32, 3, generator=g) for i, m in enumerate(DIMS)}


def test_input_statistics_are_the_baselines_features_z_scored_with_training_clips():
    torch.manual_seed(0)
    r = InputStatsReadout(ConcatFusion(DIMS, 8), 0.4)
    assert r.widths == {"acc": 27, "gyro": 27} and r.out_dim == 8 + 54
    x, sig = feats(b=64), sensor_batch(b=64)
    inputs = {input_key(m): channel_stats(v)[:, None] for m, v in sig.items()}
    r.train()(None, {**x, **inputs})
    r.eval()
    z = r.statistics({**x, **inputs})[:, :27] * 27**0.5  # acc's block, undone its 1/sqrt(27) scale
    raw = channel_stats(sig["acc"]).double()
    want = (raw - raw.mean(0)) / (raw.std(0, unbiased=False) + 1e-6)
    assert torch.allclose(z.double(), want, atol=1e-3)
    out = r(None, {**x, **inputs})
    fused, stats = r.inner(None, x), r.statistics({**x, **inputs})
    cos = F.normalize(out, dim=-1) @ F.normalize(out, dim=-1).T
    mix = 0.6 * (F.normalize(fused, dim=-1) @ F.normalize(fused, dim=-1).T) + 0.4 * (
        F.normalize(stats, dim=-1) @ F.normalize(stats, dim=-1).T
    )
    assert torch.allclose(cos, mix, atol=1e-5)


def test_input_statistics_missing_is_an_error_and_a_missing_sensor_a_zero_block():
    torch.manual_seed(0)
    r, x = InputStatsReadout(ConcatFusion(DIMS, 8), 0.3).eval(), feats()
    with pytest.raises(DataError, match="acc:input"):
        r(None, x)
    only_acc = {"acc": x["acc"], input_key("acc"): channel_stats(sensor_batch()["acc"])[:, None]}
    s = r.statistics(only_acc)
    assert torch.equal(s[:, 27:], torch.zeros(6, 27)) and s[:, :27].abs().sum() > 0
    assert r(None, only_acc).shape == (6, 62) and r.missing == ["gyro"]


def test_input_statistics_travel_with_cached_representations(tmp_path):
    cfg = sensor_cfg("oneshot.input_stats=0.3")
    model = build_oneshot_model(cfg).eval()
    assert isinstance(model.fusion, InputStatsReadout)
    ds = sensor_splits()["test"]
    reps = encode_representations(model, ds, progress=False)
    assert set(reps["feats"]) == {"acc", "gyro", "acc:input", "gyro:input"}
    assert reps["feats"]["acc:input"].shape == (len(ds), 1, 27)
    cached = CachedRepresentations(model, reps, "cpu").table()
    one = [type("Ep", (), {"support": [i], "query": []}) for i in range(len(ds))]
    live = torch.cat([LiveFeatures(model, ds).episode_features(ep=e) for e in one])
    assert torch.allclose(cached, live.float(), atol=1e-4), "cached and live readouts must agree"
    m = train_oneshot(cfg, datasets=sensor_splits(), out_dir=tmp_path, progress=False)
    assert np.isfinite(m["test"]["accuracy"]) and m["model"].fusion.count_acc.item() > 0
    off = train_oneshot(sensor_cfg(), datasets=sensor_splits(), out_dir=tmp_path / "off", progress=False)
    assert off["test"]["episode_accuracy"] != m["test"]["episode_accuracy"]


def test_input_statistics_skip_video_and_absent_sensors():
    batch = {"video": torch.randn(2, 3, 4, 8, 8), "acc": torch.randn(2, 32, 3)}
    out = input_statistics(batch)
    assert list(out) == ["acc:input"] and torch.equal(out["acc:input"][:, 0], channel_stats(batch["acc"]))


def test_every_fusion_shares_the_representations_with_input_statistics():
    """One cached set serves every fusion: the representations always carry the sensors' input statistics,
    and a fusion that does not read them gives the same features with or without them."""
    model = build_oneshot_model(sensor_cfg()).eval()
    ds = sensor_splits()["test"]
    reps = encode_representations(model, ds, progress=False)
    assert set(reps["feats"]) == {"acc", "gyro", "acc:input", "gyro:input"}
    tokens_only = {"rm": reps["rm"], "feats": {m: reps["feats"][m] for m in ("acc", "gyro")}}
    with_stats = CachedRepresentations(model, reps, "cpu").table()
    assert torch.equal(with_stats, CachedRepresentations(model, tokens_only, "cpu").table())
    with pytest.raises(DataError, match="not configured"):
        model.fusion(reps["rm"], {**tokens_only["feats"], "magnet": reps["feats"]["acc"]})
