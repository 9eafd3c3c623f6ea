"""Class folds: several validation splits carved from the base classes, for choices a few classes cannot make.

    class_folds(base, size, k, seed) -> k tuples of `size` base classes, each a `data.val_classes`
    check_val_classes(val, base, where)  DataError unless val is 2 to len(base) - 2 of the base classes

One validation split of a few classes ranks settings by those classes' behaviour (HAPT's is 2 classes, both
transitions, while its novel classes are mostly postures). Folds hold out other base classes in turn: each
fold is a `data.val_classes` override, so each fold pretrains and trains its one-shot stage without its
classes, as the default split does without its own. A choice is then the mean over folds (and seeds).
The base classes are shuffled once with `numpy.random.default_rng(seed)` and cut into consecutive blocks,
wrapping around, so with k * size >= len(base) every base class is held out at least once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mumae_core.errors import ConfigError, DataError


def check_val_classes(val: Sequence[str], base: Sequence[str], where: str) -> None:
    """DataError (naming `where`) unless `val` are base classes, at least 2 of them, leaving at least 2
    training classes: episodes on both sides need 2 classes."""
    bad = sorted(set(val) - set(base))
    if bad:
        raise DataError(f"{where}: classes {bad} are not base classes (base classes: {', '.join(base)})")
    if not 2 <= len(set(val)) <= len(set(base)) - 2:
        raise DataError(
            f"{where}: {len(set(val))} validation classes of {len(set(base))} base classes; an episode needs "
            "at least 2 validation classes and 2 training classes"
        )


def class_folds(base: Sequence[str], size: int, k: int, seed: int = 0) -> list[tuple[str, ...]]:
    """k folds of `size` distinct base classes each, sorted within a fold; the same arguments give the
    same folds. Leaves at least 2 training classes per fold."""
    base = list(dict.fromkeys(base))
    if not 2 <= size <= len(base) - 2:
        raise ConfigError(
            f"class_folds: size={size} validation classes of {len(base)} base classes; it must be 2 to "
            f"{len(base) - 2} (an episode needs 2 classes, and so does the one-shot training)"
        )
    if k < 1:
        raise ConfigError(f"class_folds: k={k} folds; it must be at least 1")
    order = [base[i] for i in np.random.default_rng(seed).permutation(len(base))]
    return [tuple(sorted(order[(f * size + j) % len(order)] for j in range(size))) for f in range(k)]
