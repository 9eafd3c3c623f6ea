"""Confidence intervals and paired differences (mumae_core/stats.py)."""

import math

import numpy as np
import pytest

from mumae_core.stats import mean_ci, paired_difference, paired_table


def test_mean_ci_formula():
    x = [0.0, 100.0, 100.0, 0.0, 100.0]
    m, ci = mean_ci(x)
    sd = math.sqrt(sum((v - 60.0) ** 2 for v in x) / 4)  # sample std
    assert m == pytest.approx(60.0)
    assert ci == pytest.approx(1.96 * sd / math.sqrt(5))


def test_mean_ci_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, big = rng.normal(size=100), rng.normal(size=10000)
    assert mean_ci(big)[1] < mean_ci(small)[1] / 5


def test_paired_difference_is_tighter_than_separate_cis():
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(0, 100, size=500)  # shared per-episode difficulty
    a = difficulty + rng.normal(2.0, 1.0, size=500)
    b = difficulty
    d, dci = paired_difference(a, b)
    assert d == pytest.approx(np.mean(a - b))
    assert dci == pytest.approx(1.96 * np.std(a - b, ddof=1) / np.sqrt(500))
    assert dci < mean_ci(a)[1] / 10
    assert d - dci > 0  # the 2-point gain is detected


def test_stats_errors():
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci([1.0])
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="same episode list"):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])


def test_paired_table():
    t = paired_table({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 5.0]}, reference="a")
    assert t.loc["a", "diff"] == 0.0
    assert t.loc["b", "diff"] == pytest.approx(4.0 / 3.0)
    assert list(t.columns) == ["mean", "ci", "diff", "diff_ci"]
