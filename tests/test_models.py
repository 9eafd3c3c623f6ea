"""MultimodalMAE and its parts, in the style of timm's tests: forward + backward for every size, switch and
modality subset on tiny inputs; attention paths; tokenizer layouts; targets; loss only on hidden tokens."""

import math

import numpy as np
import pytest
import torch
from einops import rearrange

from mumae_core.config import MODEL_SIZES, get_config
from mumae_core.errors import ConfigError, DataError
from mumae_core.masking import make_masks
from mumae_core.models.blocks import Attention, Block
from mumae_core.models.mae import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MAEOutput,
    ModalityDecoder,
    build_mae,
    mask_indices,
    mean_predictor_loss,
)
from mumae_core.models.pos_embed import sincos_1d
from mumae_core.models.tokenizers import SensorTokenizer, VideoTokenizer

SENSORS = ("acc_phone", "acc_watch", "gyro", "orientation")

# A very small model and clip: 2 frames of 32x32 (4 video tokens), sensors of 16 samples in 4 tokens.
TINY = {
    "model.size": "tiny", "model.embed_dim": 32, "model.depth": 2, "model.num_heads": 2,
    "model.decoder_dim": 16, "model.decoder_depth": 1, "model.decoder_heads": 2,
    "data.num_frames": 2, "data.img_size": 32, "model.patch": 16, "model.tubelet": 2,
    "data.sensor_len": 16, "model.sensor_patches": 4, "mask.video_ratio": 0.5, "mask.sensor_ratio": 0.5,
}  # fmt: skip


def make_cfg(**over):
    o = dict(TINY)
    o.update({k.replace("__", "."): v for k, v in over.items()})
    return get_config("smoke", o).validate()


def make_batch(cfg, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = cfg.data
    out = {}
    for m in d.modalities:
        if m == "video":
            out[m] = torch.randn(b, 3, d.num_frames, d.img_size, d.img_size, generator=g)
        else:
            out[m] = torch.randn(b, d.sensor_len, 3, generator=g)
    return out


def masks_for(cfg, b=2, seed=0):
    return make_masks(cfg, b, torch.Generator().manual_seed(seed))


def run_and_check_grads(cfg, b=2):
    """Forward + backward; finite loss; every trainable parameter but fc_norm gets a finite gradient."""
    torch.manual_seed(0)
    model = build_mae(cfg)
    batch, masks = make_batch(cfg, b), masks_for(cfg, b)
    out = model(batch, masks)
    assert isinstance(out, MAEOutput)
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    for mod in model.decoded:
        n_hid = int(masks[mod][0].sum())
        assert out.pred[mod].shape == out.target[mod].shape == (b, n_hid, model.patch_dim(mod))
        assert torch.isfinite(out.pred[mod]).all() and torch.isfinite(out.losses[mod])
    out.loss.backward()
    for name, p in model.named_parameters():
        if name.startswith("fc_norm."):  # serves encode().pooled only (one-shot stage)
            assert p.grad is None
            continue
        assert p.grad is not None, f"{name} received no gradient"
        l1 = torch.linalg.vector_norm(p.grad, 1)  # one pass: inf/NaN anywhere makes it non-finite
        assert torch.isfinite(l1), f"{name} has a non-finite gradient"
        assert l1 > 0, f"{name} has an all-zero gradient"
    return model, out


# ---------------------------------------------------------------------- sizes, switches, subsets
@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_every_size_forward_backward(size):
    none = {f"model__{k}": None for k in MODEL_SIZES[size]}  # take the preset dims, not TINY's
    mods = "video,acc_watch" if size == "base" else ",".join(("video",) + SENSORS)
    model, _ = run_and_check_grads(make_cfg(model__size=size, data__modalities=mods, **none))
    dims = MODEL_SIZES[size]
    assert model.embed_dim == dims["embed_dim"] and len(model.blocks) == dims["depth"]
    assert model.blocks[0].attn.num_heads == dims["num_heads"]
    dec = model.decoders["video"]
    assert len(dec.blocks) == dims["decoder_depth"] and dec.mask_token.shape[-1] == dims["decoder_dim"]


@pytest.mark.parametrize(
    "switch",
    [
        {"mask__video_mask": "tube"},
        {"mask__video_mask": "random"},
        {"mask__sensor_mask": "synchronized"},
        {"mask__sensor_mask": "independent"},
        {"mask__sensor_mask": "none"},
        {"model__sensor_patch_mode": "contiguous"},
        {"model__sensor_patch_mode": "strided"},
        {"model__modality_embed": True},
        {"model__modality_embed": False},
        {"model__norm_target": True},
        {"model__norm_target": False},
        {"model__drop_path": 0.1},
        {"data__video_norm": "none"},
    ],
    ids=lambda s: "-".join(f"{k.split('__')[1]}={v}" for k, v in s.items()),
)
def test_every_switch_forward_backward(switch):
    model, out = run_and_check_grads(make_cfg(**switch))
    if switch.get("mask__sensor_mask") == "none":
        assert model.decoded == ("video",) and set(out.losses) == {"video"}
        assert not any(k.startswith("decoders.gyro") for k, _ in model.named_parameters())
    if switch.get("model__modality_embed") is False:
        assert model.modality_embed is None


@pytest.mark.parametrize(
    "dataset,mods",
    [
        ("synthact", "video,acc_phone,acc_watch,gyro,orientation"),
        ("hapt", "acc,gyro"),
        ("synthact", "video"),
        ("synthact", "gyro"),
        ("arrays", "imu_left,imu_right"),
    ],
)
def test_modality_subsets(dataset, mods):
    cfg = make_cfg(data__dataset=dataset, data__modalities=mods)
    model, out = run_and_check_grads(cfg)
    assert model.modalities == tuple(mods.split(","))
    assert set(out.losses) == set(model.modalities)
    w = out.weights
    if "video" in model.modalities:
        assert w["video"] == 1.0 and all(
            w[m] == cfg.pretrain.loss_hyper for m in model.modalities if m != "video"
        )
    else:  # sensor-only: plain sum, loss_hyper only weighs sensors against video
        assert all(v == 1.0 for v in w.values())
    expect = sum(w[m] * out.losses[m] for m in out.losses)
    assert torch.allclose(out.loss, expect)


def test_sensor_only_with_no_masking_is_a_config_error():
    with pytest.raises(ConfigError, match="sensor_mask"):
        build_mae(make_cfg(data__modalities="gyro", mask__sensor_mask="none"))


def test_same_seed_same_model_and_loss():
    cfg = make_cfg()
    losses = []
    for _ in range(2):
        torch.manual_seed(7)
        losses.append(build_mae(cfg)(make_batch(cfg), masks_for(cfg)).loss.item())
    assert losses[0] == losses[1]


def test_autocast_bf16_keeps_loss_fp32():
    cfg = make_cfg()
    model = build_mae(cfg)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(make_batch(cfg), masks_for(cfg))
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    assert all(t.dtype == torch.float32 for t in out.target.values())
    out.loss.backward()


# ---------------------------------------------------------------------- attention
def test_sdpa_equals_explicit_attention():
    torch.manual_seed(0)
    attn = Attention(32, 4)
    torch.nn.init.normal_(attn.q_bias)
    torch.nn.init.normal_(attn.v_bias)
    x = torch.randn(3, 11, 32)
    fast = attn(x)
    slow, w = attn(x, return_attn=True)
    assert w.shape == (3, 4, 11, 11)
    assert torch.allclose(w.sum(-1), torch.ones(3, 4, 11), atol=1e-6)
    assert torch.allclose(fast, slow, atol=1e-5)
    blk = Block(32, 4)
    assert torch.allclose(blk(x), blk(x, return_attn=True)[0], atol=1e-5)


def test_attention_has_q_and_v_bias_only():
    attn = Attention(16, 2)
    assert attn.qkv.bias is None and attn.q_bias.shape == attn.v_bias.shape == (16,)
    assert not any("k_bias" in n for n, _ in attn.named_parameters())


def test_encode_attention_maps_and_subsets():
    cfg = make_cfg()
    model = build_mae(cfg).eval()
    batch, masks = make_batch(cfg), masks_for(cfg)
    full = model.encode(batch)
    counts = model.token_counts()
    assert {m: t.shape for m, t in full.tokens.items()} == {
        m: (2, counts[m], 32) for m in cfg.data.modalities
    }
    assert full.pooled.shape == (2, 32) and full.attn is None

    out = model.encode(batch, masks, return_attn=True)
    n_vis = {m: int((~masks[m][0]).sum()) for m in masks}
    S = sum(n_vis.values())
    assert len(out.attn) == len(model.blocks) and out.attn[0].shape == (2, 2, S, S)
    assert {m: e - s for m, (s, e) in out.segments.items()} == n_vis
    fast = model.encode(batch, masks)
    assert torch.allclose(fast.pooled, out.pooled, atol=1e-5)

    only_video = model.encode({"video": batch["video"], "label": torch.zeros(2)})
    assert list(only_video.tokens) == ["video"] and only_video.tokens["video"].shape == (
        2,
        counts["video"],
        32,
    )
    two = model.encode({"gyro": batch["gyro"], "acc_watch": batch["acc_watch"]}, {"gyro": masks["gyro"]})
    assert list(two.tokens) == ["acc_watch", "gyro"]  # model order
    assert two.tokens["gyro"].shape[1] == n_vis["gyro"] and two.tokens["acc_watch"].shape[1] == 4
    with pytest.raises(DataError, match="none of the model's modalities"):
        model.encode({"label": torch.zeros(2)})


# ---------------------------------------------------------------------- tokenizers and positions
def test_video_patchify_roundtrip_and_order():
    tok = VideoTokenizer(2, 4, 3, 8)
    x = torch.randn(2, 3, 4, 8, 12)
    p = tok.patchify(x)
    assert p.shape == (2, 2 * 2 * 3, 2 * 4 * 4 * 3)
    assert torch.equal(tok.unpatchify(p, tok.grid(4, 8, 12)), x)
    # token 1 is (t=0, h=0, w=1); its first values are pixel (t=0, y=0, x=4), channels fastest
    assert torch.equal(p[0, 1, :3], x[0, :, 0, 0, 4])
    # the Conv3d token order matches patchify's order: project the patches with the conv weight
    w = rearrange(tok.proj.weight, "d c p0 p1 p2 -> d (p0 p1 p2 c)")
    assert torch.allclose(tok(x), p @ w.T + tok.proj.bias, atol=1e-5)


def test_sensor_layouts_against_hand_built_example():
    x = (10 * torch.arange(8).view(1, 8, 1) + torch.arange(3).view(1, 1, 3)).float()  # x[l, c] = 10 l + c
    cont = SensorTokenizer(4, 8, 3, 8, "contiguous").patchify(x)
    strd = SensorTokenizer(4, 8, 3, 8, "strided").patchify(x)
    assert cont[0, 1].tolist() == [20, 21, 22, 30, 31, 32]  # samples 2, 3
    assert strd[0, 1].tolist() == [10, 11, 12, 50, 51, 52]  # samples 1, 5
    # the reference's pattern on its (B, 1, L, 1, 3) tensor
    ref = rearrange(x.view(1, 1, 8, 1, 3), "b c (t p) l s -> b p (t l s c)", p=4)
    assert torch.equal(strd, ref)


@pytest.mark.parametrize("mode", ["contiguous", "strided"])
def test_sensor_patchify_roundtrip(mode):
    tok = SensorTokenizer(16, 128, 3, 8, mode)
    x = torch.randn(3, 128, 3)
    p = tok.patchify(x)
    assert p.shape == (3, 16, 24) and torch.equal(tok.unpatchify(p), x)
    assert tok(x).shape == (3, 16, 8)


def test_model_patchify_roundtrip_and_grid():
    cfg = make_cfg(data__num_frames=4)
    model = build_mae(cfg)
    batch = make_batch(cfg)
    assert model.token_grid("video") == (2, 2, 2) and model.token_grid("gyro") == (4,)
    assert model.token_counts() == {"video": 8, **{s: 4 for s in SENSORS}}
    for m, x in batch.items():
        p = model.patchify(m, x)
        assert p.shape == (2, model.token_counts()[m], model.patch_dim(m))
        assert torch.equal(model.unpatchify(m, p), x)
    with pytest.raises(KeyError, match="unknown modality"):
        model.patchify("audio", batch["gyro"])


def test_sincos_table_matches_videomae_formula():
    n, d = 20, 16
    ref = np.array([[p / np.power(10000, 2 * (j // 2) / d) for j in range(d)] for p in range(n)])
    ref[:, 0::2], ref[:, 1::2] = np.sin(ref[:, 0::2]), np.cos(ref[:, 1::2])
    assert torch.allclose(sincos_1d(n, d), torch.from_numpy(ref).float(), atol=1e-6)


def test_position_tables_are_fixed_buffers():
    model = build_mae(make_cfg())
    assert model.pos_embed_video.shape == (4, 32) and not model.pos_embed_video.requires_grad
    assert "pos_embed_video" not in dict(model.named_parameters())
    assert model.decoders["gyro"].pos_embed.shape == (4, 16)


# ---------------------------------------------------------------------- targets and loss
def test_video_target_is_denormalised_and_per_patch_normalised():
    cfg = make_cfg(model__norm_target=False)
    model = build_mae(cfg)
    u = torch.rand(2, 3, 2, 32, 32)  # pixels in [0, 1]
    mean, std = (
        torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1),
        torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1),
    )
    x = (u - mean) / std
    assert torch.allclose(model.target("video", x), model.patchify("video", u), atol=1e-5)

    model = build_mae(make_cfg())
    t, mu, sd = model.target("video", x, return_stats=True)
    per_c = rearrange(t, "b n (p c) -> b n p c", c=3)  # normalised per channel over the patch
    assert torch.allclose(per_c.mean(-2), torch.zeros(2, 4, 3), atol=1e-5)
    assert torch.allclose(per_c.std(-2), torch.ones(2, 4, 3), atol=1e-4)
    assert torch.allclose(t * sd + mu, model.patchify("video", u), atol=1e-5)  # stats invert it

    s = torch.randn(2, 16, 3) * 5 + 3
    ts = model.target("gyro", s)
    assert torch.allclose(ts.mean(-1), torch.zeros(2, 4), atol=1e-5)
    assert torch.allclose(ts.std(-1), torch.ones(2, 4), atol=1e-4)


def test_constant_patches_give_finite_targets():
    cfg = make_cfg()
    model = build_mae(cfg)
    batch = {m: torch.zeros_like(x) for m, x in make_batch(cfg).items()}
    out = model(batch, masks_for(cfg))
    assert torch.isfinite(out.loss) and all(torch.isfinite(t).all() for t in out.target.values())


@pytest.mark.parametrize("mode", ["contiguous", "strided"])
def test_loss_only_on_hidden_tokens_and_no_leak(mode):
    cfg = make_cfg(model__sensor_patch_mode=mode, data__num_frames=4)
    torch.manual_seed(0)
    model = build_mae(cfg).eval()
    batch, masks = make_batch(cfg), masks_for(cfg)
    base = model(batch, masks)

    def perturbed(hidden: bool):
        out = {}
        for m, x in batch.items():
            p = model.patchify(m, x).clone()
            sel = masks[m] if hidden else ~masks[m]
            p[sel] += torch.randn_like(p[sel])
            out[m] = model.unpatchify(m, p)
        return out

    hid = model(perturbed(hidden=True), masks)  # the encoder never sees hidden tokens
    vis = model(perturbed(hidden=False), masks)  # the targets are the hidden tokens only
    for m in cfg.data.modalities:
        assert torch.allclose(hid.pred[m], base.pred[m], atol=1e-6), f"{m}: hidden inputs leak into pred"
        assert not torch.allclose(hid.target[m], base.target[m])
        assert torch.allclose(vis.target[m], base.target[m], atol=1e-6), f"{m}: target sees visible tokens"
        assert not torch.allclose(vis.pred[m], base.pred[m])
        # target = the full target gathered at the hidden tokens, in token order
        full = model.target(m, batch[m])
        assert torch.equal(base.target[m], full[masks[m]].view(2, -1, full.shape[-1]))


def test_decoder_matches_reference_layout():
    """The reference decodes [visible + pos_vis; mask_token + pos_hidden] and reads the last H rows; the
    kit decodes in token order. Both must give the same predictions, in the same (ascending) order."""
    torch.manual_seed(0)
    dec = ModalityDecoder(n_tokens=10, dim=16, depth=2, heads=2, mlp_ratio=4.0, patch_dim=5).eval()
    mask = torch.zeros(3, 10, dtype=torch.bool)
    for b, hidden in enumerate([[0, 3, 4, 9], [1, 2, 5, 6], [6, 7, 8, 9]]):
        mask[b, hidden] = True
    keep, hide = mask_indices(mask)
    assert torch.equal(hide[0], torch.tensor([0, 3, 4, 9])) and torch.equal(keep[2], torch.arange(6))
    vis = torch.randn(3, 6, 16)
    ours = dec(vis, keep, hide)

    pos = dec.pos_embed.expand(3, -1, -1)
    x = torch.cat([vis + pos[~mask].view(3, 6, 16), dec.mask_token + pos[mask].view(3, 4, 16)], dim=1)
    for blk in dec.blocks:
        x = blk(x)
    ref = dec.head(dec.norm(x[:, -4:]))
    assert ours.shape == (3, 4, 5) and torch.allclose(ours, ref, atol=1e-5)


def test_zero_predictions_give_loss_about_one_and_mean_predictor():
    cfg = make_cfg()
    model = build_mae(cfg)
    for dec in model.decoders.values():
        torch.nn.init.zeros_(dec.head.weight)
        torch.nn.init.zeros_(dec.head.bias)
    out = model(make_batch(cfg, b=4), masks_for(cfg, b=4))
    base = mean_predictor_loss(out)
    for m, loss in out.losses.items():
        n = model.patch_dim(m) // 3 if m == "video" else model.patch_dim(m)
        assert math.isclose(loss.item(), (n - 1) / n, rel_tol=1e-4), (m, loss.item())
        assert math.isclose(base[m].item(), loss.item(), rel_tol=1e-4)  # normalised: the token mean is 0
    assert math.isclose(base["loss"].item(), out.loss.item(), rel_tol=1e-4)

    raw = build_mae(make_cfg(model__norm_target=False))
    out = raw(make_batch(cfg, b=4), masks_for(cfg, b=4))
    base = mean_predictor_loss(out)
    t = out.target["gyro"]
    assert math.isclose(base["gyro"].item(), t.var(-1, unbiased=False).mean().item(), rel_tol=1e-5)


# ---------------------------------------------------------------------- parameters
def test_no_weight_decay_names():
    model = build_mae(make_cfg())
    nwd = model.no_weight_decay()
    params = dict(model.named_parameters())
    assert all(params[n].ndim <= 1 for n in nwd if "mask_token" not in n and "modality_embed" not in n)
    assert {f"decoders.{m}.mask_token" for m in model.decoded} <= nwd
    assert {f"modality_embed.{m}" for m in model.modalities} <= nwd
    assert "blocks.0.attn.q_bias" in nwd and "norm.weight" in nwd
    assert "blocks.0.attn.qkv.weight" not in nwd and "encoder_to_decoder.weight" not in nwd
    assert model.param_count() == sum(p.numel() for p in params.values())
    assert model.encoder_to_decoder.bias is None
    masks_tokens = [model.decoders[m].mask_token for m in model.decoded]
    assert len({id(t) for t in masks_tokens}) == len(masks_tokens)  # one mask token per modality


# ---------------------------------------------------------------------- input validation
def test_input_errors_are_clear():
    cfg = make_cfg()
    model = build_mae(cfg)
    batch, masks = make_batch(cfg), masks_for(cfg)
    with pytest.raises(DataError, match=r"lacks modalities \['gyro'\]"):
        model({k: v for k, v in batch.items() if k != "gyro"}, masks)
    with pytest.raises(DataError, match=r"batch\['video'\] has shape .*expected \(B, 3, 2, 32, 32\)"):
        model({**batch, "video": torch.randn(2, 3, 4, 32, 32)}, masks)
    with pytest.raises(DataError, match=r"batch\['acc_watch'\] has shape .*expected \(B, 16, 3\)"):
        model({**batch, "acc_watch": torch.randn(2, 16, 6)}, masks)
    with pytest.raises(DataError, match="batch size"):
        model({**batch, "gyro": torch.randn(3, 16, 3)}, masks)
    with pytest.raises(DataError, match="float tensor"):
        model({**batch, "gyro": torch.zeros(2, 16, 3, dtype=torch.long)}, masks)
    with pytest.raises(DataError, match="no mask for modality 'gyro'"):
        model(batch, {k: v for k, v in masks.items() if k != "gyro"})
    with pytest.raises(DataError, match="bool"):
        model(batch, {**masks, "gyro": masks["gyro"].long()})
    uneven = masks["gyro"].clone()
    uneven[0] = False
    with pytest.raises(DataError, match="different number"):
        model(batch, {**masks, "gyro": uneven})
    with pytest.raises(DataError, match="hides nothing"):
        model(batch, {**masks, "gyro": torch.zeros_like(masks["gyro"])})
    no_sensor_dec = build_mae(make_cfg(mask__sensor_mask="none"))
    with pytest.raises(DataError, match="no acc_phone decoder"):
        no_sensor_dec(batch, masks)
    with pytest.raises(ConfigError, match="identifier"):
        build_mae(make_cfg(data__dataset="arrays", data__modalities="imu.left"))
