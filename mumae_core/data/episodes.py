"""N-way K-shot episodes: a seeded sampler, fixed episode lists saved as JSON, and an episodic loader.

An `Episode` holds indices into a dataset. `classes[i]` is the dataset label of episode class i; support and
query items carry episode labels 0..way-1. Support items are class-major (all shots of class 0, then class 1,
...), queries likewise; the order of `classes` is random, so an episode label says nothing about a class.

Protocols (DESIGN.md §4, "episode queries"):
  per_class  `query` queries from each of the `way` classes (the kit's default; way * query queries).
  single     the reference's protocol: `query` queries from ONE randomly chosen class of the episode.

Groups: items that share a group (camera views of one recording, overlapping windows of one HAPT segment)
are never split between the support and the queries of a class, so a query is never a near-copy of its
support. Every class must hold `shot + query` items (and, with groups, enough distinct groups), else
`EpisodeError` names the class: a class is never dropped silently.

Evaluation draws episodes once from a seed and saves them (`EpisodeStore.load_or_create`), so every
ablation row is scored on the same episodes. The committed reference lists in splits/ are read-only inputs;
new lists go to a writable store folder (`paths.episodes_dir()`), never into the source tree. Training
draws them on the fly (`EpisodicSampler`), in the manner of easyfsl's TaskSampler, and
`collate_episode` / `load_episode` turn one into tensors (`EpisodeBatch`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mumae_core import paths
from mumae_core.errors import EpisodeError

PROTOCOLS = ("per_class", "single")
EPISODES_FORMAT = 1
_MAX_REDRAWS = 50  # group-constrained draws retried before the deterministic fallback partition


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot task, as indices into a dataset.

    classes: dataset labels of the episode classes, (way,); support: dataset indices, (way*shot,) class-major;
    query: dataset indices; support_labels / query_labels: episode labels in 0..way-1, aligned with them.
    """

    classes: list[int]
    support: list[int]
    query: list[int]
    support_labels: list[int]
    query_labels: list[int]

    @property
    def way(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, list[int]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Episode:
        try:
            return cls(**{k: [int(x) for x in d[k]] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError) as e:
            raise EpisodeError(f"malformed episode record {str(d)[:200]}: {e}") from e


# ---------------------------------------------------------------------- sampling
class _ClassIndex:
    """Items per class (and per group within a class), validated for `shot + query` draws."""

    def __init__(
        self,
        labels: Sequence[int],
        shot: int,
        query: int,
        groups: Sequence[str] | None,
        class_names: Sequence[str] | None,
    ):
        labels_arr = np.asarray(labels, dtype=np.int64)
        if labels_arr.ndim != 1 or labels_arr.size == 0:
            raise EpisodeError(f"labels must be a non-empty 1-D sequence; got shape {labels_arr.shape}")
        if groups is not None and len(groups) != len(labels_arr):
            raise EpisodeError(f"groups has {len(groups)} entries but labels has {len(labels_arr)}")
        for name, v in (("shot", shot), ("query", query)):
            if not isinstance(v, int | np.integer) or v < 1:
                raise EpisodeError(f"{name} must be a positive integer; got {v!r}")
        self.classes = np.unique(labels_arr)
        self.items = {int(c): np.flatnonzero(labels_arr == c) for c in self.classes}
        self.groups = None if groups is None else np.asarray([str(g) for g in groups])
        self.shot, self.query = int(shot), int(query)
        for c, idx in self.items.items():
            name = _class_name(c, class_names)
            if len(idx) < shot + query:
                raise EpisodeError(
                    f"class {name} has {len(idx)} items; an episode needs shot + query = {shot} + {query}"
                )
            if self.groups is not None and self._partition(idx, np.random.default_rng(0)) is None:
                n_groups = len(set(self.groups[idx].tolist()))
                raise EpisodeError(
                    f"class {name} has {len(idx)} items in {n_groups} group(s): cannot draw {shot} support "
                    f"and {query} query items from disjoint groups (items of one group, e.g. one recording, "
                    "must not be split between support and query)"
                )

    def _partition(self, idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """Support and query candidates from disjoint groups (random group order), or None if impossible."""
        assert self.groups is not None
        g = self.groups[idx]
        uniq = np.unique(g)
        uniq = uniq[rng.permutation(len(uniq))]
        sizes = np.array([np.sum(g == u) for u in uniq])
        # greedy both ways: fill the support first, or the query first, from the largest groups
        order = np.argsort(-sizes, kind="stable")
        for need_first, need_second, first_is_support in (
            (self.shot, self.query, True),
            (self.query, self.shot, False),
        ):
            taken = np.cumsum(sizes[order]) >= need_first
            if not taken.any():
                continue
            k = int(np.argmax(taken)) + 1
            first, second = set(uniq[order[:k]].tolist()), set(uniq[order[k:]].tolist())
            if sizes[order[k:]].sum() < need_second:
                continue
            a, b = idx[np.isin(g, list(first))], idx[np.isin(g, list(second))]
            return (a, b) if first_is_support else (b, a)
        return None

    def draw(self, c: int, n_query: int, rng: np.random.Generator) -> tuple[list[int], list[int]]:
        """`shot` support and `n_query` query indices of class c (n_query may be 0)."""
        idx = self.items[c]
        if self.groups is None:
            pick = idx[rng.choice(len(idx), size=self.shot + n_query, replace=False)]
            return pick[: self.shot].tolist(), pick[self.shot :].tolist()
        for _ in range(_MAX_REDRAWS):
            perm = idx[rng.permutation(len(idx))]
            support = perm[: self.shot]
            rest = perm[self.shot :]
            rest = rest[~np.isin(self.groups[rest], self.groups[support])]
            if len(rest) >= n_query:
                return support.tolist(), rest[:n_query].tolist()
        parts = self._partition(idx, rng)  # feasible: checked in __init__
        assert parts is not None
        s, q = parts
        return rng.permutation(s)[: self.shot].tolist(), rng.permutation(q)[:n_query].tolist()


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= c < len(class_names):
        return f"{class_names[c]!r} (label {c})"
    return f"label {c}"


def _check_way(way: int, n_classes: int, classes: np.ndarray) -> None:
    if not isinstance(way, int | np.integer) or isinstance(way, bool) or way < 2:
        raise EpisodeError(
            f"way must be an integer >= 2 (an episode compares at least two classes; oneshot.way has the "
            f"same rule); got {way!r}"
        )
    if way > n_classes:
        raise EpisodeError(
            f"way={way} but only {n_classes} classes are available (labels {classes.tolist()})"
        )


def _draw_episode(index: _ClassIndex, way: int, protocol: str, rng: np.random.Generator) -> Episode:
    classes = rng.choice(index.classes, size=way, replace=False).tolist()
    query_class = int(rng.integers(way)) if protocol == "single" else -1
    support, query, s_lab, q_lab = [], [], [], []
    for i, c in enumerate(classes):
        n_q = index.query if protocol == "per_class" or i == query_class else 0
        s, q = index.draw(int(c), n_q, rng)
        support += s
        query += q
        s_lab += [i] * len(s)
        q_lab += [i] * len(q)
    return Episode([int(c) for c in classes], support, query, s_lab, q_lab)


def sample_episodes(
    labels: Sequence[int],
    n: int,
    way: int,
    shot: int,
    query: int,
    protocol: str = "per_class",
    seed: int = 0,
    groups: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> list[Episode]:
    """`n` episodes drawn with numpy's default_rng(seed): the same arguments give the same episodes.

    labels: dataset label per item, (N,); groups: group id per item, (N,) or None; class_names only
    improves error messages. Raises EpisodeError when way exceeds the number of classes, when a class has
    fewer than shot + query items, or when groups make disjoint support/query draws impossible.
    """
    if protocol not in PROTOCOLS:
        raise EpisodeError(f"protocol must be one of {list(PROTOCOLS)}; got {protocol!r}")
    if not isinstance(n, int | np.integer) or n < 1:
        raise EpisodeError(f"n (number of episodes) must be a positive integer; got {n!r}")
    index = _ClassIndex(labels, shot, query, groups, class_names)
    _check_way(way, len(index.classes), index.classes)
    rng = np.random.default_rng(seed)
    return [_draw_episode(index, way, protocol, rng) for _ in range(n)]


def validate_episodes(
    episodes: Sequence[Episode], labels: Sequence[int], groups: Sequence[str] | None = None
) -> None:
    """Check episodes against a dataset: indices in range, labels consistent, support/query disjoint.

    Raises EpisodeError naming the first bad episode (e.g. saved episodes used with a changed dataset).
    """
    n = len(labels)
    for k, ep in enumerate(episodes):
        if len(ep.support) != len(ep.support_labels) or len(ep.query) != len(ep.query_labels):
            raise EpisodeError(f"episode {k}: index and label lists differ in length")
        for idx, lab in ((ep.support, ep.support_labels), (ep.query, ep.query_labels)):
            for i, y in zip(idx, lab):
                if not 0 <= i < n:
                    raise EpisodeError(f"episode {k}: index {i} out of range for a dataset of {n} items")
                if not 0 <= y < ep.way or labels[i] != ep.classes[y]:
                    raise EpisodeError(
                        f"episode {k}: item {i} has dataset label {labels[i]} but episode label {y} "
                        f"(class {ep.classes[y] if 0 <= y < ep.way else '?'})"
                    )
        if set(ep.support) & set(ep.query):
            raise EpisodeError(
                f"episode {k}: support and query share items {sorted(set(ep.support) & set(ep.query))}"
            )
        if groups is not None:
            for y in range(ep.way):
                gs = {groups[i] for i, l in zip(ep.support, ep.support_labels) if l == y}
                gq = {groups[i] for i, l in zip(ep.query, ep.query_labels) if l == y}
                if gs & gq:
                    raise EpisodeError(
                        f"episode {k}: class {ep.classes[y]} has support and query in group(s) {gs & gq}"
                    )


# ---------------------------------------------------------------------- fixed episode lists
def episode_filename(
    way: int, shot: int, n: int, seed: int, query: int = 1, protocol: str = "per_class"
) -> str:
    """episodes_<way>w<shot>s_<n>_seed<k>.json; other query counts or the 'single' protocol add `_q<query>` /
    `_single` after `<shot>s`, so differently drawn lists never share a file."""
    tag = "" if query == 1 else f"_q{query}"
    tag += "" if protocol == "per_class" else f"_{protocol}"
    return f"episodes_{way}w{shot}s{tag}_{n}_seed{seed}.json"


def labels_fingerprint(labels: Sequence[int], groups: Sequence[str] | None = None) -> str:
    """A short hash of the labels (and groups): saved episodes record it to detect a changed dataset."""
    h = hashlib.sha1(np.asarray(labels, dtype=np.int64).tobytes())
    if groups is not None:
        h.update("\n".join(map(str, groups)).encode())
    return h.hexdigest()[:16]


def save_episodes(
    episodes: Sequence[Episode], path: str | os.PathLike, meta: dict[str, Any] | None = None
) -> Path:
    """Write episodes as JSON (one episode per line, atomically); `meta` records how they were drawn."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps({"format": EPISODES_FORMAT, "n": len(episodes), "meta": meta or {}}, sort_keys=True)
    lines = ",\n".join(json.dumps(ep.to_dict(), separators=(",", ":")) for ep in episodes)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(head[:-1] + ', "episodes": [\n' + lines + "\n]}\n")
    os.replace(tmp, path)
    return path


def load_episodes(path: str | os.PathLike) -> tuple[list[Episode], dict[str, Any]]:
    """Read a file written by `save_episodes` -> (episodes, meta). Raises EpisodeError if unreadable."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EpisodeError(f"{path}: cannot read episodes: {e}") from e
    if not isinstance(d, dict) or d.get("format") != EPISODES_FORMAT or "episodes" not in d:
        raise EpisodeError(f"{path}: not an episode file of format {EPISODES_FORMAT}")
    episodes = [Episode.from_dict(e) for e in d["episodes"]]
    if len(episodes) != d.get("n"):
        raise EpisodeError(f"{path}: header says {d.get('n')} episodes, file holds {len(episodes)}")
    return episodes, d.get("meta", {})


_REFERENCE = object()  # EpisodeStore's default reference folder (paths.splits_dir(), see its docstring)


class EpisodeStore:
    """Fixed episode lists: committed reference lists (read-only) and a writable folder for new ones.

    root: where new lists are written, as `<root>/<dataset>/<episode_filename>`; default
        `paths.episodes_dir()` ($MUMAE_EPISODES_DIR, else data_home()/episodes).
    reference: a folder of committed lists, laid out the same way, that is read and never written; default
        the repository's splits/ (which holds synthact-default/ and hapt/ lists), or None (no references)
        when $MUMAE_EPISODES_DIR is set: that variable means "episode lists live in this folder only" (the
        test suite points it at a temporary folder; so can anyone whose data differs from the reference).

    `load_or_create` returns the reference list when one exists for the request and matches it, else the
    store's list (drawn and written on first use). Reading never writes into the reference folder, and the
    store refuses to write into it.
    """

    def __init__(self, root: str | os.PathLike | None = None, reference: Any = _REFERENCE):
        self.root = Path(root) if root is not None else paths.episodes_dir()
        if reference is _REFERENCE:
            reference = None if os.environ.get("MUMAE_EPISODES_DIR") else paths.splits_dir()
        self.reference = Path(reference) if reference is not None else None

    def __repr__(self) -> str:
        return f"EpisodeStore(root={str(self.root)!r}, reference={self.reference and str(self.reference)!r})"

    def path(self, dataset: str, *args, **kwargs) -> Path:
        """Where this store writes a list: root/<dataset>/episode_filename(*args, **kwargs)."""
        return self.root / dataset / episode_filename(*args, **kwargs)

    def reference_path(self, dataset: str, *args, **kwargs) -> Path | None:
        """The committed reference list for a request (reference/<dataset>/<filename>), or None if absent."""
        if self.reference is None:
            return None
        p = self.reference / dataset / episode_filename(*args, **kwargs)
        return p if p.is_file() else None

    def load_or_create(
        self,
        labels: Sequence[int],
        dataset: str,
        n: int,
        way: int,
        shot: int,
        query: int,
        protocol: str = "per_class",
        seed: int = 0,
        groups: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
        path: str | os.PathLike | None = None,
    ) -> tuple[list[Episode], Path]:
        """(episodes, the file they were read from or written to) for a request.

        path: use exactly this file (read it, or draw and write it there) instead of the reference / store
        lookup. A saved list drawn on other labels / groups (fingerprint) or with other settings raises
        EpisodeError instead of being silently reused or overwritten.
        """
        meta = dict(
            dataset=dataset, n=n, way=way, shot=shot, query=query, protocol=protocol, seed=seed,
            fingerprint=labels_fingerprint(labels, groups), grouped=groups is not None,
        )  # fmt: skip
        key = (way, shot, n, seed, query, protocol)
        if path is None:
            ref = self.reference_path(dataset, *key)
            if ref is not None:
                return self._read(ref, meta, labels, groups, reference=True), ref
            path = self.path(dataset, *key)
        path = Path(path)
        if path.exists():
            return self._read(path, meta, labels, groups, reference=False), path
        if self.reference is not None and _inside(path, self.reference):
            raise EpisodeError(
                f"EpisodeStore: refusing to write {path} into the committed reference folder "
                f"{self.reference} (read-only); write it to a store folder (EpisodeStore(<dir>)) and copy it "
                "there deliberately"
            )
        episodes = sample_episodes(labels, n, way, shot, query, protocol, seed, groups, class_names)
        save_episodes(episodes, path, meta)
        return episodes, path

    def _read(self, path: Path, meta: dict, labels, groups, reference: bool) -> list[Episode]:
        episodes, saved = load_episodes(path)
        diff = {k: (saved.get(k), v) for k, v in meta.items() if saved.get(k) != v}
        if diff:
            what = "committed reference episode list (read-only: keep it)" if reference else "episode list"
            raise EpisodeError(
                f"{path}: this {what} was drawn for other data or settings (saved, requested): {diff}. To "
                "draw a new list for this data, write it elsewhere: set $MUMAE_EPISODES_DIR=<folder> (lists "
                "are then read from and written to that folder only), or in Python use "
                "EpisodeStore(<folder>, reference=None).load_or_create(...) or pass path=<new file>"
            )
        validate_episodes(episodes, list(labels), groups)
        return episodes


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------- training: episodes on the fly
class EpisodicSampler:
    """Endless-style episode source for training, like easyfsl's TaskSampler.

    Iterating yields `n_episodes` Episodes drawn from default_rng([seed, epoch]); the epoch advances on each
    iteration (or is set with `set_epoch`, as with DistributedSampler), so runs are reproducible.
    `batch_sampler()` yields each episode's index list (support then query) for a DataLoader's
    `batch_sampler=`, paired with `collate_fn=functools.partial(collate_episode, n_support=way * shot)`.
    """

    def __init__(
        self,
        labels: Sequence[int],
        way: int,
        shot: int,
        query: int,
        n_episodes: int,
        protocol: str = "per_class",
        seed: int = 0,
        groups: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ):
        if protocol not in PROTOCOLS:
            raise EpisodeError(f"protocol must be one of {list(PROTOCOLS)}; got {protocol!r}")
        self._index = _ClassIndex(labels, shot, query, groups, class_names)
        _check_way(way, len(self._index.classes), self._index.classes)
        self.way, self.shot, self.query, self.protocol = way, shot, query, protocol
        self.n_episodes, self.seed, self.epoch = int(n_episodes), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_episodes

    def __iter__(self) -> Iterator[Episode]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        for _ in range(self.n_episodes):
            yield _draw_episode(self._index, self.way, self.protocol, rng)

    def batch_sampler(self) -> _IndexLists:
        return _IndexLists(self)


class _IndexLists:
    """DataLoader batch_sampler view of an EpisodicSampler: one index list (support + query) per episode."""

    def __init__(self, sampler: EpisodicSampler):
        self.sampler = sampler

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[list[int]]:
        for ep in self.sampler:
            yield ep.support + ep.query


@dataclass
class EpisodeBatch:
    """One episode as tensors. support / query: {modality: (n_support | n_query, ...)};
    support_labels / query_labels: LongTensor episode labels; classes: dataset labels per episode class."""

    support: dict[str, torch.Tensor]
    support_labels: torch.Tensor
    query: dict[str, torch.Tensor]
    query_labels: torch.Tensor
    classes: list[int]
    support_meta: list[dict]
    query_meta: list[dict]


def _stack(samples: Sequence[dict]) -> dict[str, torch.Tensor]:
    keys = [k for k in samples[0] if k not in ("label", "meta")]
    return {k: torch.stack([s[k] for s in samples]) for k in keys}


def collate_episode(samples: Sequence[dict], n_support: int) -> EpisodeBatch:
    """Samples (support class-major, then queries) -> EpisodeBatch; episode labels follow support order."""
    if not 0 < n_support < len(samples):
        raise EpisodeError(f"collate_episode: n_support={n_support} for {len(samples)} samples")
    sup, qry = samples[:n_support], samples[n_support:]
    classes: list[int] = []
    for s in sup:
        if int(s["label"]) not in classes:
            classes.append(int(s["label"]))
    try:
        q_lab = [classes.index(int(s["label"])) for s in qry]
    except ValueError as e:
        raise EpisodeError(
            f"collate_episode: a query's class is not among the support classes {classes}"
        ) from e
    return EpisodeBatch(
        support=_stack(sup),
        support_labels=torch.tensor([classes.index(int(s["label"])) for s in sup], dtype=torch.long),
        query=_stack(qry),
        query_labels=torch.tensor(q_lab, dtype=torch.long),
        classes=classes,
        support_meta=[s.get("meta", {}) for s in sup],
        query_meta=[s.get("meta", {}) for s in qry],
    )


def load_episode(dataset: Any, episode: Episode) -> EpisodeBatch:
    """Read an episode's items from `dataset` (ds[i] -> sample dict) into an EpisodeBatch."""
    sup = [dataset[i] for i in episode.support]
    qry = [dataset[i] for i in episode.query]
    return EpisodeBatch(
        support=_stack(sup),
        support_labels=torch.tensor(episode.support_labels, dtype=torch.long),
        query=_stack(qry),
        query_labels=torch.tensor(episode.query_labels, dtype=torch.long),
        classes=list(episode.classes),
        support_meta=[s.get("meta", {}) for s in sup],
        query_meta=[s.get("meta", {}) for s in qry],
    )
