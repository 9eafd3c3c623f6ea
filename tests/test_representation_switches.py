"""The two representation switches of issue 11 on a tiny model: the readout of R^m (model.pooling =
tokens | per_modality | cls) and the sensor reconstruction target (model.sensor_target = per_token |
dataset), their run ids (a readout-only pooling shares the pretraining run) and their ablation rows."""

from pathlib import Path

import pytest
import torch
from test_models import make_batch, make_cfg, masks_for, run_and_check_grads

from mumae_core import ablations, runs
from mumae_core.config import get_config
from mumae_core.errors import ConfigError
from mumae_core.modalities import is_input_key
from mumae_core.models.mae import build_mae
from mumae_core.models.oneshot import build_oneshot_model

KEYS_FILE = Path(__file__).parent / "golden" / "mae_tiny_state_keys.txt"
SENSORS = ("acc_phone", "acc_watch", "gyro", "orientation")


def last_block_output(model, batch, masks=None):
    """(EncoderOutput, (B, S, D) output of the last encoder block) for one encode call."""
    seen = {}
    hook = model.blocks[-1].register_forward_hook(lambda m, i, o: seen.update(h=o))  # returns None
    try:
        out = model.encode(batch, masks)
    finally:
        hook.remove()
    return out, seen["h"]


def unequal_masks(cfg, b=2):
    """Masks on two sensors only: video and the other sensors keep all 4 tokens, gyro/acc_watch 2."""
    m = masks_for(cfg, b)
    return {k: m[k] for k in ("gyro", "acc_watch")}


# ---------------------------------------------------------------------- defaults
def test_defaults_are_the_reference_readout_and_targets():
    cfg = make_cfg()
    assert cfg.model.pooling == "tokens" and cfg.model.sensor_target == "per_token"
    torch.manual_seed(0)
    model = build_mae(cfg).eval()
    assert model.cls_token is None and model.n_prefix == 0
    assert sorted(model.state_dict()) == KEYS_FILE.read_text().split()
    batch = make_batch(cfg)
    out, h = last_block_output(model, batch, unequal_masks(cfg))
    assert torch.equal(out.pooled, model.fc_norm(h.mean(dim=1)))  # mean over all tokens, as before
    assert list(out.segments.values())[0][0] == 0


def test_switch_values_are_validated():
    with pytest.raises(ConfigError, match="model.pooling"):
        make_cfg(model__pooling="max")
    with pytest.raises(ConfigError, match="model.sensor_target"):
        make_cfg(model__sensor_target="clip")


# ---------------------------------------------------------------------- pooling = per_modality
def test_per_modality_pooling_is_the_mean_of_segment_means():
    cfg = make_cfg(model__pooling="per_modality")
    torch.manual_seed(0)
    model = build_mae(cfg).eval()
    batch, masks = make_batch(cfg), unequal_masks(cfg)
    out, h = last_block_output(model, batch, masks)
    seg_means = [h[:, s:e].mean(dim=1) for s, e in out.segments.values()]
    assert [e - s for s, e in out.segments.values()] == [4, 4, 2, 2, 4]  # unequal: the two readouts differ
    want = model.fc_norm(torch.stack(seg_means).mean(dim=0))
    assert torch.allclose(out.pooled, want, atol=1e-6)
    tokens_readout = model.fc_norm(h.mean(dim=1))
    assert not torch.allclose(out.pooled, tokens_readout, atol=1e-4)

    model.set_pooling("tokens")  # same weights, the other readout; tokens are unaffected
    again = model.encode(batch, masks)
    assert torch.allclose(again.pooled, tokens_readout, atol=1e-6)
    for m in out.tokens:
        assert torch.equal(again.tokens[m], out.tokens[m])
    # a subset: only the modalities present are averaged
    model.set_pooling("per_modality")
    sub, hs = last_block_output(model, {"gyro": batch["gyro"]})
    assert torch.allclose(sub.pooled, model.fc_norm(hs.mean(dim=1)), atol=1e-6)


# ---------------------------------------------------------------------- pooling = cls
def test_cls_token_is_the_readout_and_nothing_else():
    cfg = make_cfg(model__pooling="cls")
    torch.manual_seed(0)
    model = build_mae(cfg).eval()
    assert model.cls_token.shape == (1, 1, 32) and model.n_prefix == 1
    assert sorted(model.state_dict()) == sorted(KEYS_FILE.read_text().split() + ["cls_token"])
    assert "cls_token" in model.no_weight_decay()
    batch, masks = make_batch(cfg), masks_for(cfg)
    counts = model.token_counts()

    out, h = last_block_output(model, batch)
    assert torch.equal(out.pooled, model.fc_norm(h[:, 0]))  # the cls output
    assert {m: t.shape[1] for m, t in out.tokens.items()} == counts  # no cls token in any modality's tokens
    assert h.shape[1] == 1 + sum(counts.values())
    starts = [s for s, _ in out.segments.values()]
    assert starts[0] == 1 and torch.allclose(
        out.tokens["video"], model.norm(h[:, 1 : 1 + counts["video"]]), atol=1e-6
    )

    att = model.encode(batch, masks, return_attn=True)
    n_vis = {m: int((~masks[m][0]).sum()) for m in masks}
    assert att.attn[0].shape[-1] == 1 + sum(n_vis.values())  # a true softmax over the whole sequence
    assert {m: e - s for m, (s, e) in att.segments.items()} == n_vis
    assert all(torch.equal(att.masks[m], masks[m]) for m in masks)  # masks unaffected: cls is never hidden


def test_cls_pretraining_loss_and_every_gradient():
    cfg = make_cfg(model__pooling="cls")
    seen = {}
    torch.manual_seed(0)
    model = build_mae(cfg)
    for mod, dec in model.decoders.items():
        dec.register_forward_pre_hook(lambda m, a, mod=mod: seen.update({mod: a[0].shape}))
    masks = masks_for(cfg)
    out = model(make_batch(cfg), masks)
    assert torch.isfinite(out.loss)
    n_vis = {m: int((~masks[m][0]).sum()) for m in masks}
    assert {m: s[1] for m, s in seen.items()} == n_vis  # decoders get their visible tokens, no cls token
    model, _ = run_and_check_grads(cfg)  # finite loss; every parameter but fc_norm (cls_token too) learns
    assert model.cls_token.requires_grad


def test_cls_is_fixed_by_the_checkpoint():
    cls = build_mae(make_cfg(model__pooling="cls"))
    plain = build_mae(make_cfg())
    with pytest.raises(ConfigError, match="cls token"):
        cls.set_pooling("per_modality")
    with pytest.raises(ConfigError, match="pretrain with model.pooling=cls"):
        plain.set_pooling("cls")
    with pytest.raises(ConfigError, match="model.pooling"):
        plain.set_pooling("mean")


def test_oneshot_model_reads_the_pretrained_encoder_out_as_its_config_says():
    mae = build_mae(make_cfg())
    model = build_oneshot_model(make_cfg(model__pooling="per_modality"), mae)
    assert model.encoder.pooling == "per_modality"
    with pytest.raises(ConfigError, match="cls token"):
        build_oneshot_model(make_cfg(model__pooling="cls"), build_mae(make_cfg()))


# ---------------------------------------------------------------------- sensor_target = dataset
def test_dataset_sensor_target_is_the_input_as_given():
    torch.manual_seed(0)
    per_token = build_mae(make_cfg())
    torch.manual_seed(0)
    dataset = build_mae(make_cfg(model__sensor_target="dataset"))
    assert sorted(dataset.state_dict()) == sorted(per_token.state_dict())  # a target switch, no parameter
    batch = make_batch(make_cfg(), b=3)
    for m in SENSORS:
        x = batch[m]
        t, mu, sd = dataset.target(m, x, return_stats=True)
        assert torch.equal(t, dataset.patchify(m, x).float())  # raw (z-scored) patches, levels kept
        assert torch.equal(dataset.unpatchify(m, t * sd + mu), x)  # pred * std + mean round trip
        t0, mu0, sd0 = per_token.target(m, x, return_stats=True)
        assert torch.allclose(t0.mean(dim=-1), torch.zeros(()), atol=1e-5)  # per token: level removed
        assert not torch.allclose(t0, t)
        assert torch.allclose(per_token.unpatchify(m, t0 * sd0 + mu0), x, atol=1e-5)
    v = batch["video"]
    assert torch.equal(dataset.target("video", v), per_token.target("video", v))  # video keeps norm_target
    out = dataset(batch, masks_for(make_cfg(), b=3))
    assert torch.isfinite(out.loss)
    hide = masks_for(make_cfg(), b=3)["gyro"].nonzero()[:, 1].view(3, -1)
    raw = torch.gather(dataset.patchify("gyro", batch["gyro"]), 1, hide.unsqueeze(-1).expand(-1, -1, 12))
    assert torch.equal(out.target["gyro"], raw)


# ---------------------------------------------------------------------- run ids and ablation rows
def test_readout_pooling_shares_the_pretraining_run():
    cfg = get_config("default")
    pid = runs.pretrain_id(cfg)
    per_mod = cfg.with_overrides(["model.pooling=per_modality"])
    assert runs.pretrain_id(per_mod) == pid  # fc_norm is unused by the pretraining loss: same weights
    assert runs.oneshot_id(per_mod, None) != runs.oneshot_id(cfg, None)  # but another one-shot run
    assert runs.pretrain_id(cfg.with_overrides(["model.pooling=cls"])) != pid
    assert runs.pretrain_id(cfg.with_overrides(["model.sensor_target=per_token"])) != pid


def test_rows_run_for_the_default_profile_not_for_smoke():
    new = {
        "R^m: mean of per-modality means",
        "R^m: learned cls token",
        "sensor targets: per token (the reference's), not the dataset z-score",
    }
    names = lambda cfg: {r.name for r in ablations.select_rows(cfg)}  # noqa: E731
    assert new <= names(get_config("paper"))
    # the short-schedule rows are not in the default's budget (decided on validation, opt-in)
    assert new - names(get_config("default")) == {
        "R^m: learned cls token",
        "sensor targets: per token (the reference's), not the dataset z-score",
    }
    assert not new & names(get_config("smoke"))
    video = names(get_config("paper", ["data.modalities=video"]))
    assert new & video == {"R^m: learned cls token"}  # one modality: per_modality = tokens; no sensors
    rows = {r.name: r for r in ablations.ROWS}
    cfg = get_config("default")
    pre, one = ablations.row_configs(cfg, rows["R^m: mean of per-modality means"])
    assert runs.pretrain_id(pre) == runs.pretrain_id(cfg) and one.model.pooling == "per_modality"
    targets = "sensor targets: per token (the reference's), not the dataset z-score"
    for name in ("R^m: learned cls token", targets):
        pre, _ = ablations.row_configs(cfg, rows[name])
        assert rows[name].schedule == "short" and runs.pretrain_id(pre) != runs.pretrain_id(cfg)


def test_cls_consumers_get_per_modality_tokens():
    """04's encoder attention (segments index the sequence behind the cls token) and the one-shot fusion
    (one modality's tokens, no cls token) on a cls model."""
    from mumae_core.viz.attention import encoder_attention_received

    cfg = make_cfg(model__pooling="cls")
    torch.manual_seed(0)
    mae = build_mae(cfg).eval()
    batch, masks = make_batch(cfg), masks_for(cfg)
    enc = mae.encode(batch, masks, return_attn=True)
    got = encoder_attention_received(enc, mae.token_counts())
    received = enc.attn[-1].float().mean(dim=1).mean(dim=1)  # (B, 1 + S)
    s, e = enc.segments["gyro"]
    assert torch.allclose(torch.from_numpy(got["gyro"].compressed()), received[:, s:e].reshape(-1), atol=1e-6)

    model = build_oneshot_model(cfg, mae)
    rm, feats = model.representations(batch)
    tokens = {m: f.shape[1] for m, f in feats.items() if not is_input_key(m)}  # beside: input statistics
    assert rm.shape == (2, 32) and tokens == mae.token_counts()
    assert model.clip_features(batch).shape == (2, 32)
