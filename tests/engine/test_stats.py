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


def test_digitize_matches_searchsorted_including_nan_and_inf() -> None:
    from mlscope.engine.feature import digitize

    cuts = np.concatenate([np.sort(RNG.normal(size=21)), [np.inf]])
    x = RNG.normal(size=200_000)
    x[::97], x[::101], x[::103] = np.nan, np.inf, -np.inf
    x[::107] = cuts[5]  # values exactly on a cut go right, as with side="right"
    np.testing.assert_array_equal(digitize(cuts, x), np.searchsorted(cuts, x, side="right"))
    np.testing.assert_array_equal(digitize(cuts, x[:0]), np.searchsorted(cuts, x[:0], side="right"))


def test_columnset_matrix_statistics_equal_the_per_column_functions() -> None:
    import pandas as pd

    from mlscope.engine.columnset import ColumnSet
    from mlscope.engine.feature import fit_categorical
    from tests.engine._oracle import column_scores

    ref = pd.DataFrame(
        {
            "a": RNG.normal(size=5_000),
            "b": RNG.poisson(2, 5_000),
            "c": RNG.exponential(size=5_000),
            "k": RNG.choice(list("abcdefg"), 5_000),
            "j": RNG.choice(list("xy"), 5_000),
        }
    )
    ref.loc[::50, "a"] = np.nan
    cols = [fit_numeric(n, ref[n].to_numpy(), bins=b) for n, b in (("a", 20), ("b", 20), ("c", 7))]
    cols += [fit_categorical(n, ref[n].to_numpy(), top_k=k) for n, k in (("k", 4), ("j", 5))]
    cs = ColumnSet(cols)
    for trial in range(5):
        counts = [RNG.integers(0, 40, size=c.n_bins) for c in cols]
        if trial == 1:
            counts[0][:] = 0  # an empty column: every score NaN
        if trial == 2:
            counts[2][-1] = 500  # only missing values in the ordered part
            counts[2][:-1] = 0
        for c, cnt, (scores, pvals) in zip(cols, counts, cs.scores(counts), strict=True):
            want_s, want_p = column_scores(c, cnt)
            assert scores.keys() == want_s.keys() and pvals.keys() == want_p.keys()
            for k in want_s:
                # Same formulas in a different summation order: 1e-12 relative.
                np.testing.assert_allclose(
                    scores[k], want_s[k], rtol=1e-12, atol=1e-15, err_msg=f"{c.name} {k}"
                )
            for k in want_p:
                np.testing.assert_allclose(
                    pvals[k], want_p[k], rtol=1e-10, atol=1e-300, err_msg=f"{c.name} {k}"
                )


def test_sorted_quantiles_match_numpy_quantile() -> None:
    from mlscope.engine.feature import sorted_quantiles

    for x in (RNG.normal(size=1001), RNG.exponential(size=17), RNG.integers(0, 5, 300).astype(float)):
        q = np.linspace(0, 1, 21)
        # Same interpolation, different rounding order: 1e-12 relative.
        np.testing.assert_allclose(sorted_quantiles(np.sort(x), q), np.quantile(x, q), rtol=1e-12, atol=1e-12)


def test_ks_beyond_is_the_ks_test_at_zero_and_one_up_to_the_threshold() -> None:
    r, c = np.array([30.0, 50.0, 20.0, 0.0]), np.array([10.0, 40.0, 45.0, 5.0])
    k = stats.ks(r, c)
    assert float(stats.ks_beyond(k.statistic, 100.0, 100.0, 0.0)) == k.p_value
    assert float(stats.ks_beyond(k.statistic, 100.0, 100.0, k.statistic)) == 1.0
    # The further the allowed distance, the weaker the evidence against it.
    p = stats.ks_beyond(np.full(3, k.statistic), 1e4, 1e4, 0.0), stats.ks_beyond(k.statistic, 1e4, 1e4, 0.1)
    assert float(p[0][0]) < float(p[1]) < 1.0


def test_js_beyond_is_the_pearson_test_at_zero_and_weaker_further_out() -> None:
    from scipy import stats as sps

    js, k, n, m = 0.08, 6, 2_000.0, 50_000.0
    x = 8 * np.log(2.0) * n * m / (n + m) * js**2
    assert stats.js_beyond(js, k, n, m, 0.0) == pytest.approx(sps.chi2.sf(x, k - 1), rel=1e-9)
    assert (
        stats.js_beyond(js, k, n, m, 0.0)
        < stats.js_beyond(js, k, n, m, 0.05)
        < stats.js_beyond(js, k, n, m, 0.08)
    )
    assert stats.js_beyond(js, 1, n, m, 0.05) == 1.0 and np.isnan(
        stats.js_beyond(float("nan"), k, n, m, 0.05)
    )
