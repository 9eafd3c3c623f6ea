"""Episode sampler: determinism, counts, disjointness, group constraint, protocols, files, errors."""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from mumae_core import paths
from mumae_core.data.arrays import ArrayDataset
from mumae_core.data.episodes import (
    Episode,
    EpisodeStore,
    EpisodicSampler,
    collate_episode,
    episode_filename,
    load_episode,
    load_episodes,
    sample_episodes,
    save_episodes,
    validate_episodes,
)
from mumae_core.errors import EpisodeError

# 6 classes x 8 items; class c = items 8c..8c+7; each class has 4 recordings of 2 items each
LABELS = [i // 8 for i in range(48)]
GROUPS = [f"c{i // 8}_rec{(i % 8) // 2}" for i in range(48)]
NAMES = [f"act{c}" for c in range(6)]


def _class_counts(idx, labels=LABELS):
    return Counter(labels[i] for i in idx)


def test_golden_episode_seed0():
    """Pinned values for seed 0 (numpy PCG64 default_rng): a change here changes every saved episode list."""
    ep = sample_episodes(LABELS, n=1, way=3, shot=1, query=1, seed=0)[0]
    assert ep == Episode(
        classes=[4, 5, 3],
        support=[39, 41, 30],
        query=[32, 46, 28],
        support_labels=[0, 1, 2],
        query_labels=[0, 1, 2],
    )


def test_same_seed_same_episodes_other_seed_differs():
    a = sample_episodes(LABELS, 20, 5, 1, 2, seed=3, groups=GROUPS)
    b = sample_episodes(LABELS, 20, 5, 1, 2, seed=3, groups=GROUPS)
    c = sample_episodes(LABELS, 20, 5, 1, 2, seed=4, groups=GROUPS)
    assert a == b
    assert a != c


@pytest.mark.parametrize("shot,query", [(1, 1), (2, 3)])
def test_per_class_counts_and_disjoint(shot, query):
    eps = sample_episodes(LABELS, 50, 4, shot, query, protocol="per_class", seed=1)
    validate_episodes(eps, LABELS)  # labels consistent with classes, support/query disjoint
    seen = Counter()
    for ep in eps:
        assert len(set(ep.classes)) == 4
        assert _class_counts(ep.support) == {c: shot for c in ep.classes}
        assert _class_counts(ep.query) == {c: query for c in ep.classes}
        assert ep.support_labels == [i for i in range(4) for _ in range(shot)]
        assert [ep.classes[y] for y in ep.query_labels] == [LABELS[i] for i in ep.query]
        assert not set(ep.support) & set(ep.query)
        assert len(set(ep.support + ep.query)) == len(ep.support) + len(ep.query)
        seen.update(ep.classes)
    assert set(seen) == set(range(6))  # every class gets drawn


def test_single_protocol_one_query_class():
    eps = sample_episodes(LABELS, 60, 5, 1, 1, protocol="single", seed=2)
    validate_episodes(eps, LABELS)
    positions = Counter()
    for ep in eps:
        assert len(ep.support) == 5 and len(ep.query) == 1
        assert _class_counts(ep.support) == {c: 1 for c in ep.classes}
        positions[ep.query_labels[0]] += 1
    assert len(positions) == 5  # the query class is chosen at random among the episode's classes
    eps3 = sample_episodes(LABELS, 10, 5, 1, 3, protocol="single", seed=2)
    for ep in eps3:
        assert len(ep.query) == 3 and len(set(ep.query_labels)) == 1


def test_group_constraint_never_splits_a_group():
    for protocol in ("per_class", "single"):
        eps = sample_episodes(LABELS, 200, 5, 2, 3, protocol=protocol, seed=5, groups=GROUPS)
        validate_episodes(eps, LABELS, GROUPS)
        for ep in eps:
            for y in range(ep.way):
                gs = {GROUPS[i] for i, l in zip(ep.support, ep.support_labels) if l == y}
                gq = {GROUPS[i] for i, l in zip(ep.query, ep.query_labels) if l == y}
                assert not gs & gq


def test_group_constraint_forces_the_only_feasible_split():
    """Class 0: group A holds 5 items, group B one; shot=1, query=2 -> the support must be B's item."""
    labels = [0] * 6 + [1] * 3
    groups = ["A"] * 5 + ["B"] + ["x", "y", "z"]
    eps = sample_episodes(labels, 40, 2, 1, 2, seed=0, groups=groups)
    validate_episodes(eps, labels, groups)
    for ep in eps:
        y0 = ep.classes.index(0)
        assert [i for i, l in zip(ep.support, ep.support_labels) if l == y0] == [5]


def test_errors_name_the_class():
    with pytest.raises(EpisodeError, match="act2"):
        sample_episodes([0, 0, 1, 1, 2], 1, 2, 1, 1, class_names=["act0", "act1", "act2"])
    with pytest.raises(EpisodeError, match="label 2"):
        sample_episodes([0, 0, 1, 1, 2], 1, 2, 1, 1)
    with pytest.raises(EpisodeError, match=r"act1.*disjoint groups"):
        sample_episodes([0, 0, 1, 1], 1, 2, 1, 1, groups=["a", "b", "c", "c"], class_names=["act0", "act1"])
    with pytest.raises(EpisodeError, match="way=7 but only 6 classes"):
        sample_episodes(LABELS, 1, 7, 1, 1)
    with pytest.raises(EpisodeError, match="protocol"):
        sample_episodes(LABELS, 1, 5, 1, 1, protocol="transductive")
    with pytest.raises(EpisodeError, match="groups has 3 entries"):
        sample_episodes(LABELS, 1, 5, 1, 1, groups=["a", "b", "c"])
    with pytest.raises(EpisodeError, match="shot"):
        sample_episodes(LABELS, 1, 5, 0, 1)


def test_validate_catches_tampering():
    ep = sample_episodes(LABELS, 1, 3, 1, 1, seed=0)[0]
    bad = Episode(ep.classes, ep.support, [ep.support[0]], ep.support_labels, [0])
    with pytest.raises(EpisodeError, match="share items"):
        validate_episodes([bad], LABELS)
    wrong = Episode(ep.classes, ep.support, ep.query, ep.support_labels, [1, 2, 0])
    with pytest.raises(EpisodeError, match="dataset label"):
        validate_episodes([wrong], LABELS)
    with pytest.raises(EpisodeError, match="out of range"):
        validate_episodes([ep], LABELS[:10])


def test_save_load_round_trip(tmp_path):
    eps = sample_episodes(LABELS, 7, 5, 2, 2, protocol="single", seed=9, groups=GROUPS)
    path = save_episodes(eps, tmp_path / "sub" / "e.json", {"dataset": "toy", "seed": 9})
    got, meta = load_episodes(path)
    assert got == eps
    assert meta == {"dataset": "toy", "seed": 9}
    json.loads(path.read_text())  # plain JSON
    (tmp_path / "broken.json").write_text('{"format": 1, "n": 2, "episodes": [')
    with pytest.raises(EpisodeError, match="broken.json"):
        load_episodes(tmp_path / "broken.json")


def test_episode_file_names_and_store_paths(monkeypatch, tmp_path):
    assert episode_filename(5, 1, 2000, 1) == "episodes_5w1s_2000_seed1.json"
    assert (
        episode_filename(5, 1, 100, 0, query=3, protocol="single") == "episodes_5w1s_q3_single_100_seed0.json"
    )
    monkeypatch.delenv("MUMAE_EPISODES_DIR", raising=False)
    monkeypatch.setenv("MUMAE_DATA", str(tmp_path / "home"))
    store = EpisodeStore()
    assert store.root == tmp_path / "home" / "episodes" and store.reference == paths.splits_dir()
    assert store.path("hapt", 5, 1, 2000, 1) == tmp_path / "home/episodes/hapt/episodes_5w1s_2000_seed1.json"
    # the committed reference lists are found where they are
    for name in ("synthact-default", "hapt"):
        assert (
            store.reference_path(name, 5, 1, 1000, 1)
            == paths.splits_dir() / name / "episodes_5w1s_1000_seed1.json"
        )
    monkeypatch.setenv("MUMAE_EPISODES_DIR", "/elsewhere")
    store = EpisodeStore()
    assert store.root == Path("/elsewhere") and store.reference is None  # this folder only


def test_store_saves_once_and_checks(tmp_path):
    store = EpisodeStore(tmp_path, reference=None)
    a, path = store.load_or_create(LABELS, "toy", 12, 4, 1, 1, seed=2, groups=GROUPS)
    assert path == tmp_path / "toy" / "episodes_4w1s_12_seed2.json"
    mtime = path.stat().st_mtime_ns
    b, _ = store.load_or_create(LABELS, "toy", 12, 4, 1, 1, seed=2, groups=GROUPS)
    assert a == b and path.stat().st_mtime_ns == mtime
    with pytest.raises(EpisodeError, match="other data or settings"):
        store.load_or_create(LABELS[::-1], "toy", 12, 4, 1, 1, seed=2, groups=GROUPS)
    with pytest.raises(EpisodeError, match="other data or settings"):
        store.load_or_create(LABELS, "toy", 12, 4, 1, 2, seed=2, groups=GROUPS, path=path)  # other query


def _reference(tmp_path):
    """A read-only reference folder holding one list for LABELS / GROUPS, like splits/."""
    ref = tmp_path / "splits"
    EpisodeStore(ref, reference=None).load_or_create(LABELS, "toy", 12, 4, 1, 1, seed=2, groups=GROUPS)
    return ref, sorted(p.relative_to(ref) for p in ref.rglob("*")), (ref / "toy").stat().st_mtime_ns


def test_reference_list_is_used_when_it_matches_and_never_written(tmp_path):
    ref, before, mtime = _reference(tmp_path)
    store = EpisodeStore(tmp_path / "store", reference=ref)
    eps, path = store.load_or_create(LABELS, "toy", 12, 4, 1, 1, seed=2, groups=GROUPS)
    assert path == ref / "toy" / "episodes_4w1s_12_seed2.json"
    assert eps == load_episodes(path)[0]
    _, other = store.load_or_create(LABELS, "toy", 12, 4, 1, 1, seed=3, groups=GROUPS)  # no reference for it
    assert other == tmp_path / "store" / "toy" / "episodes_4w1s_12_seed3.json" and other.is_file()
    assert sorted(p.relative_to(ref) for p in ref.rglob("*")) == before  # nothing added under the reference
    assert (ref / "toy").stat().st_mtime_ns == mtime
    with pytest.raises(EpisodeError, match="refusing to write"):
        store.load_or_create(LABELS, "toy", 12, 4, 1, 1, seed=4, path=ref / "toy" / "new.json")


def test_reference_mismatch_says_keep_it_and_write_elsewhere(tmp_path, monkeypatch):
    """Issue 13 item 13: the old message said "delete the file to redraw", of a committed list in splits/."""
    ref, before, _ = _reference(tmp_path)
    store = EpisodeStore(tmp_path / "store", reference=ref)
    with pytest.raises(EpisodeError) as err:
        store.load_or_create(LABELS[::-1], "toy", 12, 4, 1, 1, seed=2, groups=GROUPS[::-1])
    msg = str(err.value)
    assert "delete" not in msg.lower() and "keep it" in msg
    assert "MUMAE_EPISODES_DIR" in msg and "EpisodeStore(<folder>, reference=None)" in msg
    # following the advice draws a new list elsewhere and leaves the reference alone
    monkeypatch.setenv("MUMAE_EPISODES_DIR", str(tmp_path / "mine"))
    _, path = EpisodeStore().load_or_create(LABELS[::-1], "toy", 12, 4, 1, 1, seed=2, groups=GROUPS[::-1])
    assert path.parent == tmp_path / "mine" / "toy"
    assert sorted(p.relative_to(ref) for p in ref.rglob("*")) == before


@pytest.mark.parametrize("way", [1, 0, True])
def test_way_below_two_is_refused(way):
    """Issue 13 item 10: sample_episodes(way=1) was accepted though the config forbids oneshot.way < 2."""
    with pytest.raises(EpisodeError, match="way must be an integer >= 2"):
        sample_episodes(LABELS, 3, way=way, shot=1, query=1)
    with pytest.raises(EpisodeError, match="way must be an integer >= 2"):
        EpisodicSampler(LABELS, way, 1, 1, n_episodes=2)


def _toy_dataset():
    rng = np.random.default_rng(0)
    return ArrayDataset(
        {"acc": rng.normal(size=(48, 16, 3)), "gyro": rng.normal(size=(48, 16, 3))}, LABELS, groups=GROUPS
    )


def test_episodic_sampler_reproducible_and_dataloader():
    s1 = EpisodicSampler(LABELS, 5, 1, 2, n_episodes=6, seed=3, groups=GROUPS)
    s2 = EpisodicSampler(LABELS, 5, 1, 2, n_episodes=6, seed=3, groups=GROUPS)
    e0, e1 = list(s1), list(s1)
    assert len(e0) == 6 and e0 != e1  # the epoch advances
    assert list(s2) == e0
    s2.set_epoch(1)
    assert list(s2) == e1
    validate_episodes(e0 + e1, LABELS, GROUPS)

    ds = _toy_dataset()
    s3 = EpisodicSampler(LABELS, 5, 1, 2, n_episodes=3, seed=7, groups=GROUPS)
    loader = torch.utils.data.DataLoader(
        ds, batch_sampler=s3.batch_sampler(), collate_fn=functools.partial(collate_episode, n_support=5)
    )
    s3_again = EpisodicSampler(LABELS, 5, 1, 2, n_episodes=3, seed=7, groups=GROUPS)
    for batch, ep in zip(loader, s3_again):
        direct = load_episode(ds, ep)
        assert batch.support["acc"].shape == (5, 16, 3) and batch.query["gyro"].shape == (10, 16, 3)
        assert batch.classes == ep.classes
        assert torch.equal(batch.support_labels, direct.support_labels)
        assert torch.equal(batch.query_labels, direct.query_labels)
        assert torch.equal(batch.query["acc"], direct.query["acc"])
