"""mlscope.engine.special against scipy.special, the oracle, over the ranges drift produces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special as scipy_special

from mlscope.engine import special

RNG = np.random.default_rng(20261207)


def _close(got: np.ndarray, want: np.ndarray, rel: float) -> None:
    """Equal NaN positions; elsewhere ``rel`` relative (absolute below 1e-290: underflow)."""
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    err = np.abs(got[ok] - want[ok])
    assert np.all(err <= rel * np.abs(want[ok]) + 1e-290), float(np.max(err / np.maximum(want[ok], 1e-300)))


def test_chdtrc_equals_scipy_for_small_and_large_degrees_of_freedom() -> None:
    v = np.concatenate([np.arange(1, 300), RNG.integers(1, 5000, 1000)]).astype(float)
    # Statistics around the mean (v), far in the tail, near zero and exactly zero.
    x = np.concatenate([np.abs(RNG.normal(v, 3 * np.sqrt(2 * v) + 1)), RNG.uniform(0, 6, v.size) * v, v * 0])
    vv = np.tile(v, 3)
    _close(special.chdtrc(vv, x), scipy_special.chdtrc(vv, x), 1e-10)


def test_chdtrc_edges_equal_scipy() -> None:
    v = np.array([1.0, 3.0, 3.0, 3.0, 3.0, 0.5, np.nan])
    x = np.array([0.0, np.inf, np.nan, -1.0, 1e-300, 2.0, 1.0])
    _close(special.chdtrc(v, x), scipy_special.chdtrc(v, x), 1e-12)
    assert special.chdtrc(19, 25.0) == pytest.approx(scipy_special.chdtrc(19, 25.0), rel=1e-12)
    assert np.ndim(special.chdtrc(19, 25.0)) == 0


def test_kolmogorov_equals_scipy_over_its_range() -> None:
    y = np.concatenate(
        [np.linspace(-1.0, 25.0, 5001), RNG.uniform(0, 3, 500), [0.0, 1e-4, 1.0, np.inf, np.nan]]
    )
    _close(special.kolmogorov(y), scipy_special.kolmogorov(y), 1e-12)
    assert special.kolmogorov(0.5) == pytest.approx(scipy_special.kolmogorov(0.5), rel=1e-14)


def test_rel_entr_equals_scipy_including_zeros_negatives_and_nan() -> None:
    vals = np.array([0.0, 1e-300, 0.2, 0.5, 1.0, -1.0, np.inf, np.nan])
    x, y = np.meshgrid(vals, vals)
    got, want = special.rel_entr(x, y), scipy_special.rel_entr(x, y)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.allclose(got[ok], want[ok], rtol=1e-14, atol=0.0)
    m = RNG.dirichlet(np.ones(20), size=30)
    p = RNG.dirichlet(np.ones(20), size=30)
    # Near x == y the log of a ratio close to 1 carries the division's rounding.
    assert np.allclose(special.rel_entr(p, m), scipy_special.rel_entr(p, m), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("df", [1, 4, 19, 60])
def test_chndtr_equals_scipy_over_the_js_test_range(df: int) -> None:
    # the categorical verdict's non-centralities run from a few (small windows) to ~1,000
    for nc in (0.0, 0.5, 3.0, 40.0, 231.0, 924.0):
        for x in np.linspace(0.0, 2.0 * (df + nc) + 20.0, 9):
            assert special.chndtr(float(x), df, nc) == pytest.approx(
                float(scipy_special.chndtr(x, df, nc)), rel=1e-9, abs=1e-13
            ), (x, df, nc)
