"""Each drift statistic against its scipy reference on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from scipy.spatial import distance

from mlscope.engine import stats
from mlscope.engine.feature import fit_numeric

RNG = np.random.default_rng(20261127)


def _counts(k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    ref = RNG.integers(0, 500, size=k).astype(float)
    cur = RNG.integers(0, 80, size=k).astype(float)
    return ref, cur


def test_chi_square_equals_scipy_chisquare_with_smoothed_expected() -> None:
    for _ in range(20):
        ref, cur = _counts()
        ref[0] = 0  # a bin the reference never saw: its smoothed expectation is small but > 0
        got = stats.chi_square(ref, cur)
        expected = cur.sum() * (ref + 0.5) / (ref.sum() + 0.5 * ref.size)
        want = st.chisquare(cur, expected)
        # Same formula, same float operations up to summation order: 1e-9 relative.
        assert got.statistic == pytest.approx(want.statistic, rel=1e-9)
        assert got.p_value == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)


def test_jensen_shannon_equals_scipy_distance_base_2() -> None:
    for _ in range(20):
        ref, cur = _counts()
        # scipy normalises the vectors itself; both work in float64: 1e-12 absolute.
        assert stats.jensen_shannon(ref, cur) == pytest.approx(
            distance.jensenshannon(ref, cur, base=2), abs=1e-12
        )


def test_hellinger_equals_scaled_euclidean_distance_of_root_shares() -> None:
    for _ in range(20):
        ref, cur = _counts()
        p, q = ref / ref.sum(), cur / cur.sum()
        want = distance.euclidean(np.sqrt(p), np.sqrt(q)) / np.sqrt(2)
        # H = ||sqrt p - sqrt q|| / sqrt 2 = sqrt(1 - BC); the two forms differ by rounding: 1e-9.
        assert stats.hellinger(ref, cur) == pytest.approx(want, abs=1e-9)


def test_psi_equals_symmetrised_scipy_entropy_of_smoothed_shares() -> None:
    for _ in range(20):
        ref, cur = _counts()
        ref[3] = 0
        p, q = stats.smoothed_shares(ref), stats.smoothed_shares(cur)
        want = st.entropy(q, p) + st.entropy(p, q)  # KL(q||p) + KL(p||q) = PSI
        assert stats.psi(ref, cur) == pytest.approx(want, rel=1e-9)


def test_wasserstein_equals_scipy_on_bin_positions() -> None:
    for _ in range(20):
        ref, cur = _counts()
        pos = np.sort(RNG.normal(size=ref.size)) * 3
        want = st.wasserstein_distance(pos, pos, ref, cur) / 2.5
        # Both integrate |F - G| between sorted positions: 1e-9 relative.
        assert stats.wasserstein(ref, cur, pos, scale=2.5) == pytest.approx(want, rel=1e-9)


def test_binned_wasserstein_is_close_to_raw_data_wasserstein() -> None:
    ref_x = RNG.normal(size=50_000)
    cur_x = RNG.normal(0.5, 1.0, size=5_000)
    fp = fit_numeric("x", ref_x, bins=50)
    r, _ = fp.bin(ref_x, ref_x.size)
    c, _ = fp.bin(cur_x, cur_x.size)
    rc, cc = np.bincount(r, minlength=fp.n_bins)[:-1], np.bincount(c, minlength=fp.n_bins)[:-1]
    got = stats.wasserstein(rc, cc, fp.positions(), scale=1.0)
    want = st.wasserstein_distance(ref_x, cur_x)
    # Binning moves each value by at most half a bin (and tail values to the range edge);
    # with 50 equal-frequency bins on N(0,1) that is within 0.05 of the exact 0.5.
    assert abs(got - want) < 0.05


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.3, 1.0])
def test_binned_ks_is_within_bin_resolution_of_ks_2samp(shift: float) -> None:
    ref_x = RNG.normal(size=20_000)
    cur_x = RNG.normal(shift, 1.0, size=2_000)
    fp = fit_numeric("x", ref_x, bins=20)
    r, _ = fp.bin(ref_x, ref_x.size)
    c, _ = fp.bin(cur_x, cur_x.size)
    rc, cc = np.bincount(r, minlength=fp.n_bins)[:-1], np.bincount(c, minlength=fp.n_bins)[:-1]
    got = stats.ks(rc, cc)
    exact = st.ks_2samp(ref_x, cur_x)
    max_bin_share = max((rc / rc.sum()).max(), (cc / cc.sum()).max())
    # The binned D samples the CDF gap at bin edges only: never above the exact D, and
    # short of it by at most the largest bin share (the gap can grow inside one bin).
    assert got.statistic <= exact.statistic + 1e-12
    assert exact.statistic - got.statistic <= max_bin_share + 1e-12


def test_ks_p_value_is_scipy_asymptotic_kolmogorov_with_effective_size() -> None:
    ref_x = RNG.normal(size=3_000)
    cur_x = RNG.normal(0.1, 1.0, size=1_000)
    # With one bin per distinct value the binned D is the exact D.
    allv = np.sort(np.concatenate([ref_x, cur_x]))
    rc = np.bincount(np.searchsorted(allv, ref_x), minlength=allv.size)
    cc = np.bincount(np.searchsorted(allv, cur_x), minlength=allv.size)
    got = stats.ks(rc, cc)
    exact = st.ks_2samp(ref_x, cur_x, method="asymp")
    assert got.statistic == pytest.approx(exact.statistic, abs=1e-12)
    en = 3000 * 1000 / 4000
    assert got.p_value == pytest.approx(st.kstwobign.sf(np.sqrt(en) * exact.statistic), rel=1e-12)
    # scipy's "asymp" uses the finite-n two-sided distribution kstwo(round(en)); the
    # limiting Kolmogorov law is within a few percent of it at en = 750.
    assert got.p_value == pytest.approx(exact.pvalue, rel=0.1)


def test_benjamini_hochberg_equals_scipy_false_discovery_control() -> None:
    p = RNG.uniform(size=40) ** 3
    want = st.false_discovery_control(p, method="bh")
    np.testing.assert_allclose(stats.benjamini_hochberg(p), want, rtol=1e-12)
    with_nan = np.concatenate([p[:5], [np.nan]])
    got = stats.benjamini_hochberg(with_nan)
    assert np.isnan(got[-1])
    np.testing.assert_allclose(got[:5], st.false_discovery_control(p[:5], method="bh"), rtol=1e-12)


def test_empty_side_gives_nan_not_an_error() -> None:
    z, r = np.zeros(5), np.ones(5)
    assert np.isnan(stats.psi(r, z)) and np.isnan(stats.jensen_shannon(z, r))
    assert np.isnan(stats.hellinger(r, z)) and np.isnan(stats.ks(r, z).statistic)
    assert np.isnan(stats.chi_square(r, z).statistic)
    assert np.isnan(stats.wasserstein(r, z, np.arange(5.0)))
