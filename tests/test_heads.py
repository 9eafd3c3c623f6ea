"""Metric one-shot heads (mumae_core/models/heads.py): easyfsl API, prototypes, reference self+cross."""

import pytest
import torch
import torch.nn.functional as F

from mumae_core.config import get_config
from mumae_core.errors import ConfigError, EpisodeError
from mumae_core.models.heads import PrototypeHead, SelfCrossHead, build_head


def clusters(way=5, shot=3, query=4, dim=16, noise=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(way, dim, generator=g) * 3
    s_lab = torch.arange(way).repeat_interleave(shot)
    q_lab = torch.arange(way).repeat_interleave(query)
    support = centers[s_lab] + noise * torch.randn(len(s_lab), dim, generator=g)
    query_x = centers[q_lab] + noise * torch.randn(len(q_lab), dim, generator=g)
    return support, s_lab, query_x, q_lab


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_prototype_head_separates_clusters(metric):
    s, sl, q, ql = clusters()
    head = PrototypeHead(metric)
    head.process_support_set(s, sl)
    scores = head(q)
    assert scores.shape == (len(q), 5)
    assert (scores.argmax(1) == ql).all()


def test_prototype_head_chance_on_noise():
    # labels unrelated to the features: accuracy must not be near 100% (the test can fail)
    g = torch.Generator().manual_seed(3)
    s, q = torch.randn(50, 8, generator=g), torch.randn(500, 8, generator=g)
    sl, ql = torch.arange(5).repeat(10), torch.randint(0, 5, (500,), generator=g)
    head = PrototypeHead("cosine")
    head.process_support_set(s, sl)
    acc = (head(q).argmax(1) == ql).float().mean().item()
    assert acc < 0.45


def test_cosine_scale_is_learnable():
    s, sl, q, ql = clusters(noise=1.0)
    head = PrototypeHead("cosine")
    assert head.scale.requires_grad and head.scale.item() == pytest.approx(10.0)
    head.process_support_set(s, sl)
    loss = F.cross_entropy(head(q), ql)
    loss.backward()
    assert head.scale.grad is not None and head.scale.grad.abs().item() > 0
    with torch.no_grad():
        base = head(q)
        head.scale.mul_(2)
        assert torch.allclose(head(q), 2 * base)


def test_euclidean_sign_and_value():
    head = PrototypeHead("euclidean")
    s = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    head.process_support_set(s, torch.tensor([0, 1]))
    q = torch.tensor([[1.0, 0.0], [9.0, 1.0]])
    scores = head(q)
    expected = -(torch.cdist(q, s) ** 2)
    assert torch.allclose(scores, expected, atol=1e-5)
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_batched_scores_match_per_episode(metric):
    head = PrototypeHead(metric)
    g = torch.Generator().manual_seed(1)
    E, way, shot, Q, D = 4, 3, 2, 6, 8
    sup, qry = torch.randn(E, way * shot, D, generator=g), torch.randn(E, Q, D, generator=g)
    lab = torch.arange(way).repeat_interleave(shot).repeat(E, 1)
    lab[1] = lab[1].flip(0)  # labels in another order
    batched = head.batched_scores(sup, lab, qry, way)
    for e in range(E):
        head.process_support_set(sup[e], lab[e])
        assert torch.allclose(batched[e], head(qry[e]), atol=1e-5)


def test_selfcross_shapes_and_gradient():
    s, sl, q, ql = clusters(dim=32, noise=0.5)
    s.requires_grad_(True)
    head = SelfCrossHead(32)
    head.process_support_set(s, sl)
    scores = head(q)
    assert scores.shape == (len(q), 5) and torch.isfinite(scores).all()
    F.cross_entropy(scores, ql).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    for name, p in head.named_parameters():
        if name.startswith("cross."):  # the cross meta-learner shapes the score
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    head.eval()
    head.process_support_set(s.detach(), sl)
    assert (head(q).argmax(1) == ql).float().mean() > 0.9  # clusters are still separated


def test_head_errors():
    head = PrototypeHead("cosine")
    with pytest.raises(EpisodeError, match="process_support_set"):
        head(torch.randn(2, 4))
    with pytest.raises(EpisodeError, match="0..way-1"):
        head.process_support_set(torch.randn(3, 4), torch.tensor([0, 2, 2]))
    with pytest.raises(ConfigError, match="metric"):
        PrototypeHead("manhattan")
    with pytest.raises(ConfigError, match="divisible"):
        SelfCrossHead(30)


def test_build_head():
    for name, kind in (
        ("proto_cos", PrototypeHead),
        ("proto_euclid", PrototypeHead),
        ("selfcross", SelfCrossHead),
    ):
        cfg = get_config("smoke", {"oneshot.head": name})
        assert isinstance(build_head(cfg, 64), kind)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_support_centre_is_the_support_mean(metric):
    """center="support": scores equal the plain head's on features less the support mean; with a large
    offset shared by every feature the plain cosine head is nearly blind, the centred one is not."""
    s, sl, q, ql = clusters(noise=0.5)
    s, q = s + 50.0, q + 50.0  # a common component that swamps the classes' directions
    head, plain = PrototypeHead(metric, center="support"), PrototypeHead(metric)
    head.process_support_set(s, sl)
    c = s.mean(0, keepdim=True)
    plain.process_support_set(s - c, sl)
    assert torch.allclose(head(q), plain(q - c), atol=1e-4)
    batched = head.batched_scores(s[None], sl[None], q[None], 5)[0]
    assert torch.allclose(batched, head(q), atol=1e-4)
    if metric == "cosine":
        raw = PrototypeHead("cosine")
        raw.process_support_set(s, sl)
        spread = lambda x: (x.max(1).values - x.min(1).values).mean()  # noqa: E731
        assert spread(head(q)) > 20 * spread(raw(q))


def test_train_centre_is_a_running_mean_of_training_supports():
    """center="train": training episodes move the running mean (the first sets it, later ones by
    CENTER_MOMENTUM); evaluation uses it unchanged, per episode and batched alike; the state saves it."""
    from mumae_core.models.heads import CENTER_MOMENTUM

    head = PrototypeHead("cosine", center="train", dim=16)
    s1, sl, q, _ = clusters(seed=1)
    s2 = clusters(seed=2)[0] + 1.0
    head.eval()  # before any training episode the centre is 0: the plain head
    plain = PrototypeHead("cosine")
    head.process_support_set(s1, sl)
    plain.process_support_set(s1, sl)
    assert torch.allclose(head(q), plain(q))
    head.train()
    head.process_support_set(s1, sl)
    assert torch.allclose(head.train_mean, s1.mean(0))
    head(q)  # scoring the queries does not move it again
    head.process_support_set(s2, sl)
    expected = (1 - CENTER_MOMENTUM) * s1.mean(0) + CENTER_MOMENTUM * s2.mean(0)
    assert torch.allclose(head.train_mean, expected, atol=1e-6)
    head.eval()
    before = head.train_mean.clone()
    head.process_support_set(s1, sl)
    centred = head(q)
    assert torch.equal(head.train_mean, before)  # evaluation never moves it
    plain.process_support_set(s1 - before, sl)
    assert torch.allclose(centred, plain(q - before), atol=1e-5)
    assert torch.allclose(head.batched_scores(s1[None], sl[None], q[None], 5)[0], centred, atol=1e-5)
    twin = PrototypeHead("cosine", center="train", dim=16)
    twin.load_state_dict(head.state_dict())  # strict: the centre travels with the checkpoint
    assert torch.equal(twin.train_mean, before) and bool(twin.train_seen)


def test_centre_errors():
    with pytest.raises(ConfigError, match="oneshot.center"):
        PrototypeHead("cosine", center="median")
    with pytest.raises(ConfigError, match="dim"):
        PrototypeHead("cosine", center="train")
    head = PrototypeHead("cosine", center="train", dim=8)
    with pytest.raises(EpisodeError, match="size 16"):
        head.process_support_set(torch.randn(5, 16), torch.arange(5))
    with pytest.raises(ConfigError, match="oneshot.center"):
        get_config("smoke", {"oneshot.center": "median"}).validate()
    with pytest.raises(ConfigError, match="prototype head"):
        get_config("smoke", {"oneshot.center": "support", "oneshot.head": "selfcross"}).validate()
    for c in ("support", "train"):
        h = build_head(get_config("smoke", {"oneshot.center": c}), 64)
        assert h.center == c
