"""Class folds: validation splits carved from the base classes."""

from __future__ import annotations

import pytest

from mumae_core.data.folds import class_folds
from mumae_core.errors import ConfigError

BASE = [f"c{i}" for i in range(7)]


def test_folds_are_seeded_distinct_and_cover_every_base_class():
    folds = class_folds(BASE, 2, 4, seed=0)
    assert folds == class_folds(BASE, 2, 4, seed=0) and folds != class_folds(BASE, 2, 4, seed=1)
    assert len(folds) == 4 and all(len(set(f)) == 2 and list(f) == sorted(f) for f in folds)
    assert set().union(*folds) == set(BASE)  # 4 * 2 >= 7: every class is held out at least once
    assert all(set(f) <= set(BASE) for f in class_folds(BASE, 5, 3))


@pytest.mark.parametrize("size, k", [(1, 3), (6, 3), (2, 0)])
def test_fold_errors_name_the_argument(size, k):
    with pytest.raises(ConfigError, match="class_folds"):
        class_folds(BASE, size, k)


def test_check_val_classes_names_the_place_and_the_problem():
    from mumae_core.data.folds import check_val_classes
    from mumae_core.errors import DataError

    check_val_classes(["c0", "c1"], BASE, "here")
    with pytest.raises(DataError, match=r"here: classes \['x'\] are not base classes"):
        check_val_classes(["c0", "x"], BASE, "here")
    for val in (["c0"], BASE[:6]):
        with pytest.raises(DataError, match="here: .* at least 2 validation classes and 2 training classes"):
            check_val_classes(val, BASE, "here")
