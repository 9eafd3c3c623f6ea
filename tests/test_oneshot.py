"""The one-shot stage: model, freezing, feature cache vs naive path, input checks, end-to-end training."""

import json

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from mumae_core import paths
from mumae_core.config import get_config
from mumae_core.data.arrays import ArrayDataset
from mumae_core.data.episodes import sample_episodes
from mumae_core.errors import CheckpointError, ConfigError, DataError, EpisodeError
from mumae_core.eval import (
    CachedFeatures,
    CachedRepresentations,
    LiveFeatures,
    encode_clips,
    encode_representations,
    evaluate,
    results_tables,
    score_episodes,
    summarise,
)
from mumae_core.models.mae import build_mae
from mumae_core.models.oneshot import build_oneshot_model, encoder_param_names
from mumae_core.train.checkpoint import save_checkpoint
from mumae_core.train.oneshot import evaluate_cli, train_oneshot

SENSOR_CFG = [
    "data.dataset=arrays", "data.modalities=acc,gyro", "oneshot.train_episodes=6",
    "oneshot.val_classes_eval_every=3", "oneshot.val_episodes=6", "oneshot.test_episodes=12",
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is faster than two fighting over a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def sensor_cfg(*extra):
    return get_config("smoke", SENSOR_CFG + list(extra)).validate()


def arrays(names, n_per_class, seed, length=32):
    """Class k: a sinusoid of frequency k+1 on every axis plus noise; two sensors."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(names)), n_per_class)
    t = np.linspace(0, 1, length)
    data = {
        m: (np.sin(2 * np.pi * (labels[:, None] + 1 + seed) * t + ph)[..., None] * np.ones(3)
            + 0.3 * rng.standard_normal((len(labels), length, 3))).astype(np.float32)
        for m, ph in (("acc", 0.0), ("gyro", 1.0))
    }  # fmt: skip
    return ArrayDataset(data, labels, class_names=names)


def sensor_splits(n_test_classes=5, n_per_class=5):
    return {
        "train": arrays([f"tr{i}" for i in range(6)], n_per_class, 0),
        "val": arrays([f"va{i}" for i in range(5)], n_per_class, 1),
        "test": arrays([f"te{i}" for i in range(n_test_classes)], n_per_class, 2),
    }


class ToyClips(Dataset):
    """Random video + sensor clips (modalities video, acc_watch) for the smoke clip size."""

    def __init__(self, n_classes=5, per_class=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.labels = [c for c in range(n_classes) for _ in range(per_class)]
        self.groups = [str(i) for i in range(len(self.labels))]
        self.class_names = [f"c{c}" for c in range(n_classes)]
        self.modalities = ("video", "acc_watch")
        self.video = torch.randn(len(self.labels), 3, 4, 32, 32, generator=g)
        self.acc = torch.randn(len(self.labels), 32, 3, generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"video": self.video[i], "acc_watch": self.acc[i], "label": self.labels[i], "meta": {}}


def video_cfg(*extra):
    return get_config("smoke", ["data.modalities=video,acc_watch", *extra]).validate()


# ---------------------------------------------------------------------- freezing
@pytest.mark.parametrize("freeze", ["frozen", "partial", "full"])
def test_freezing_options(freeze):
    cfg = sensor_cfg(f"oneshot.freeze={freeze}", "oneshot.trainable_blocks=1")
    model = build_oneshot_model(cfg)
    enc = {n for n, p in model.encoder.named_parameters() if p.requires_grad}
    depth = len(model.encoder.blocks)
    if freeze == "frozen":
        assert enc == set()
    elif freeze == "partial":
        assert enc and all(n.startswith((f"blocks.{depth - 1}.", "fc_norm.")) for n in enc)
        assert any(n.startswith("fc_norm.") for n in enc)
    else:
        assert enc == set(encoder_param_names(model.encoder))
    assert not any(n.startswith("decoders.") for n in enc)
    assert all(p.requires_grad for p in model.fusion.parameters())
    model.train()
    assert model.encoder.training == (freeze != "frozen")


def test_partial_trainable_blocks_checked():
    cfg = sensor_cfg("oneshot.freeze=partial", "oneshot.trainable_blocks=9")
    with pytest.raises(ConfigError, match="trainable_blocks"):
        build_oneshot_model(cfg)


# ---------------------------------------------------------------------- cache vs naive
@pytest.mark.parametrize("head", ["proto_cos", "proto_euclid", "selfcross"])
def test_cache_and_naive_paths_agree(head):
    torch.manual_seed(0)
    cfg = video_cfg(f"oneshot.head={head}", "oneshot.query=2")
    model = build_oneshot_model(cfg).eval()
    ds = ToyClips()
    eps = sample_episodes(ds.labels, 6, way=5, shot=1, query=2, seed=0, groups=ds.groups)
    feats = encode_clips(model, ds, batch_size=4, progress=False)
    assert feats.shape == (len(ds), model.fusion.out_dim)
    cached = score_episodes(CachedFeatures(feats, model.head), eps)
    naive = score_episodes(LiveFeatures(model, ds), eps)
    for c, n in zip(cached, naive):
        assert c.shape == n.shape == (10, 5)
        assert torch.allclose(c, n, atol=1e-4, rtol=1e-4)
        assert torch.equal(c.argmax(1), n.argmax(1))
    a = evaluate(model, ds, eps, use_cache=True, progress=False)
    b = evaluate(model, ds, eps, use_cache=False, progress=False)
    assert a["path"] == "cache" and b["path"] == "live"
    assert a["episode_accuracy"] == b["episode_accuracy"]


@pytest.mark.parametrize("scope", ["clip", "episode"])
def test_frozen_representation_cache_matches_evaluate(scope):
    torch.manual_seed(0)
    model = build_oneshot_model(video_cfg("oneshot.freeze=frozen", f"oneshot.fusion_scope={scope}")).eval()
    assert model.encoder_is_fixed
    ds = ToyClips()
    eps = sample_episodes(ds.labels, 4, way=5, shot=1, query=2, seed=0)
    reps = encode_representations(model, ds, batch_size=4, progress=False)
    fast = score_episodes(CachedRepresentations(model, reps, "cpu"), eps)
    ref = score_episodes(LiveFeatures(model, ds), eps)
    for a, b in zip(fast, ref):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert (
        summarise(fast, eps, ds.class_names)["episode_accuracy"]
        == summarise(ref, eps, ds.class_names)["episode_accuracy"]
    )
    partial = build_oneshot_model(video_cfg("oneshot.freeze=partial"))
    with pytest.raises(EpisodeError, match="cannot be cached"):
        encode_representations(partial, ds, progress=False)


def test_episode_scope_cannot_use_cache():
    model = build_oneshot_model(video_cfg("oneshot.fusion_scope=episode")).eval()
    assert model.transductive
    with pytest.raises(ConfigError, match="transductive"):
        model.clip_features(ToyClips()[0])
    ds = ToyClips()
    with pytest.raises(EpisodeError, match="transductive"):
        encode_clips(model, ds, progress=False)
    with pytest.raises(ConfigError, match="transductive"):
        evaluate(model, ds, sample_episodes(ds.labels, 2, way=5, shot=1, query=1, seed=0), use_cache=True)
    eps = sample_episodes(ds.labels, 3, way=5, shot=1, query=1, seed=0)
    r = evaluate(model, ds, eps, progress=False)
    assert r["path"] == "live" and len(r["episode_accuracy"]) == 3


def test_missing_modality_at_test():
    model = build_oneshot_model(video_cfg()).eval()
    ds = ToyClips()
    eps = sample_episodes(ds.labels, 4, way=5, shot=1, query=1, seed=0)
    r = evaluate(model, ds, eps, modalities=["acc_watch"], progress=False)
    assert r["modalities"] == ["acc_watch"] and r["missing_modalities"] == ["video"]
    assert np.isfinite(r["accuracy"])
    tables = results_tables(r)
    assert tables["confusion"].shape == (5, 5) and int(tables["confusion"].to_numpy().sum()) == 4 * 5


# ---------------------------------------------------------------------- bad input
def test_too_few_classes_for_way(tmp_path):
    cfg = sensor_cfg("oneshot.way=6")
    with pytest.raises(EpisodeError, match="oneshot.way=6"):
        train_oneshot(cfg, datasets=sensor_splits(), out_dir=tmp_path, progress=False)


def test_too_few_classes_for_train_way(tmp_path):
    cfg = sensor_cfg("oneshot.train_way=7")  # 6 training classes
    with pytest.raises(EpisodeError, match=r"train split: 6 classes .* but oneshot.train_way=7"):
        train_oneshot(cfg, datasets=sensor_splits(), out_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="train_way"):
        sensor_cfg("oneshot.train_way=1")


def test_too_few_clips_for_shot_and_query(tmp_path):
    cfg = sensor_cfg("oneshot.shot=3", "oneshot.query=3")
    with pytest.raises(EpisodeError, match="fewer clips"):
        train_oneshot(cfg, datasets=sensor_splits(), out_dir=tmp_path, progress=False)


def test_test_split_overlapping_training_classes(tmp_path):
    ds = sensor_splits()
    ds["test"] = arrays(["te0", "te1", "tr2", "te3", "te4"], 5, 2)
    with pytest.raises(DataError, match="shares classes"):
        train_oneshot(sensor_cfg(), datasets=ds, out_dir=tmp_path, progress=False)


def test_empty_modality_list():
    cfg = sensor_cfg()
    cfg.data.modalities = ()
    with pytest.raises(ConfigError, match="empty"):
        cfg.validate()
    with pytest.raises(ConfigError, match="empty"):
        build_oneshot_model(cfg, mae=build_mae(sensor_cfg()))


def test_checkpoint_of_another_size(tmp_path):
    small = sensor_cfg("model.embed_dim=32")
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, {"model": build_mae(small).state_dict(), "config": small.to_dict()})
    with pytest.raises(CheckpointError, match="shape"):
        evaluate_cli(sensor_cfg(), checkpoint=str(ckpt), out_dir=str(tmp_path / "out"))
    other = get_config("smoke", SENSOR_CFG + ["data.modalities=acc"]).validate()
    save_checkpoint(ckpt, {"model": build_mae(other).state_dict(), "config": other.to_dict()})
    with pytest.raises(CheckpointError, match="missing keys"):
        evaluate_cli(sensor_cfg(), checkpoint=str(ckpt), out_dir=str(tmp_path / "out"))


# ---------------------------------------------------------------------- end to end
@pytest.mark.parametrize("extra", [["oneshot.freeze=frozen"], ["oneshot.query_protocol=single"]])
def test_train_oneshot_variants(tmp_path, extra):
    m = train_oneshot(sensor_cfg(*extra), datasets=sensor_splits(), out_dir=tmp_path, progress=False)
    t = m["test"]
    assert len(t["episode_accuracy"]) == 12 and np.isfinite(t["accuracy"])
    if "oneshot.query_protocol=single" in extra:
        assert t["n_queries"] == 12 and set(t["episode_accuracy"]) <= {0.0, 100.0}
        assert "single" in m["test_episodes_file"]


@pytest.mark.parametrize("freeze", ["frozen", "full"])
def test_train_way_sets_the_training_episodes_only(tmp_path, freeze, monkeypatch):
    """oneshot.train_way=6: every training episode has 6 classes (6 support clips), validation and test keep
    oneshot.way=5; the training losses differ from 5-way training (other episodes)."""
    import mumae_core.train.oneshot as oneshot_mod

    seen = []
    real = oneshot_mod.episode_scores

    def spy(src, support_labels, ep, clips):
        seen.append(int(support_labels.max()) + 1)
        return real(src, support_labels, ep, clips)

    monkeypatch.setattr(oneshot_mod, "episode_scores", spy)
    six = train_oneshot(sensor_cfg("oneshot.train_way=6", f"oneshot.freeze={freeze}"),
                        datasets=sensor_splits(), progress=False)  # fmt: skip
    assert seen == [6] * 6
    five = train_oneshot(sensor_cfg(f"oneshot.freeze={freeze}"), datasets=sensor_splits(), progress=False)
    assert seen[6:] == [5] * 6
    assert six["test_episodes_fingerprint"] == five["test_episodes_fingerprint"]
    assert all(len(c) == 5 for c in six["test"]["confusion"]["matrix"])
    assert [h["train_loss"] for h in six["history"]] != [h["train_loss"] for h in five["history"]]


@pytest.mark.parametrize("freeze", ["frozen", "full"])
def test_train_centre_follows_the_selected_state(freeze):
    """oneshot.center=train end to end: the trained head holds a running mean of the training supports,
    the selected state's, and the test is scored with it: test scores equal the plain head's on features
    less that mean."""
    cfg = sensor_cfg("oneshot.center=train", f"oneshot.freeze={freeze}")
    data = sensor_splits()
    m = train_oneshot(cfg, datasets=data, progress=False)
    head = m["model"].head
    assert head.center == "train" and bool(head.train_seen) == (m["val_best"]["episode"] > 0)
    assert torch.isfinite(head.train_mean).all()
    eps = sample_episodes(list(data["test"].labels), 4, 5, 1, 1, seed=3)
    src = CachedFeatures.encode(m["model"], data["test"], progress=False)
    centred = score_episodes(src, eps)
    plain = type(head)("cosine")
    plain.scale.data.copy_(head.scale.data)
    shifted = score_episodes(CachedFeatures(src.feats - head.train_mean, plain), eps)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(centred, shifted))


def test_train_oneshot_end_to_end(tmp_path):
    cfg = sensor_cfg()
    m = train_oneshot(cfg, datasets=sensor_splits(), out_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    t = saved["test"]
    assert t["n_episodes"] == 12 and len(t["episode_accuracy"]) == 12
    assert 0 <= t["accuracy"] <= 100 and t["ci95"] >= 0
    assert t["modalities"] == ["acc", "gyro"] and t["missing_modalities"] == []
    assert t["path"] == "representations"  # frozen encoder: the test split is encoded once, fused per row
    assert len(t["confusion"]["matrix"]) == 5 and set(t["per_class_accuracy"]) <= {f"te{i}" for i in range(5)}
    assert [h["episode"] for h in saved["history"]] == [0, 3, 6]
    assert saved["val_best"]["episode"] in (0, 3, 6)
    rows = (tmp_path / "test_episodes.csv").read_text().strip().splitlines()
    assert len(rows) == 13  # header + one row per test episode
    assert (tmp_path / saved["test_episodes_file"].split("/")[-1]).exists()
    # the same seed gives the same result, on the same saved episodes
    m2 = train_oneshot(cfg, datasets=sensor_splits(), out_dir=tmp_path / "again", progress=False)
    assert m2["test"]["episode_accuracy"] == m["test"]["episode_accuracy"]
    assert m2["test_episodes_fingerprint"] == m["test_episodes_fingerprint"]


def test_test_episodes_never_written_into_splits(tmp_path, monkeypatch):
    """Reading a test episode list never writes into the source tree: a new list goes to the episode store
    (data_home()/episodes); the old code wrote splits/hapt/episodes_5w1s_12_seed1.json here."""
    monkeypatch.delenv("MUMAE_EPISODES_DIR", raising=False)
    monkeypatch.setenv("MUMAE_DATA", str(tmp_path / "home"))
    before = sorted(paths.splits_dir().rglob("*"))
    m = train_oneshot(sensor_cfg("data.dataset=hapt"), datasets=sensor_splits(), out_dir=tmp_path / "run",
                      progress=False)  # fmt: skip
    assert m["test_episodes_file"] == str(tmp_path / "home/episodes/hapt/episodes_5w1s_12_seed1.json")
    assert sorted(paths.splits_dir().rglob("*")) == before
