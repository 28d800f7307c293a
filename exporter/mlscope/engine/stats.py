"""Drift statistics computed from bin counts (never from raw values).

Every function takes the reference counts and the window counts of the same bins, so
the numbers depend only on what Prometheus counters also hold: a fleet-wide figure
computed in PromQL from summed counters equals the one computed here.

Conventions shared by all functions:

* ``ref`` and ``cur`` are 1-D arrays of non-negative counts over the same bins.
* Shares that enter a logarithm are *smoothed* with a pseudo-count of 0.5 per bin
  (Jeffreys' prior), so an empty bin never yields ``inf``; the functions whose scipy
  reference takes plain probability vectors (Jensen-Shannon, Hellinger, Wasserstein,
  KS, chi-square's observed side) use the raw shares.
* An empty side gives ``nan``: no data, no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlscope.engine import special

#: Pseudo-count added to every bin before shares go into a logarithm (Jeffreys prior).
SMOOTHING = 0.5

_F = np.ndarray


@dataclass(frozen=True)
class TestResult:
    """A statistic with its p-value (``nan`` where the method defines none)."""

    statistic: float
    p_value: float = float("nan")


def _as_counts(x: _F, name: str) -> _F:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name!r} must be a 1-D array of counts (got shape {a.shape})")
    return a


def smoothed_shares(counts: _F, *, alpha: float = SMOOTHING) -> _F:
    """Shares ``(c + alpha) / (n + alpha * k)``: never zero, sum to one."""
    c = _as_counts(counts, "counts")
    out: _F = (c + alpha) / (c.sum() + alpha * c.size)
    return out


def _shares(c: _F) -> _F | None:
    total = c.sum()
    return None if total <= 0 else c / total


def psi(ref: _F, cur: _F) -> float:
    """Population stability index of the window against the reference.

    Parameters
    ----------
    ref, cur : array_like
        Counts per bin of the reference and of the window.

    Returns
    -------
    float
        ``sum((q - p) * ln(q / p))`` over bins with smoothed shares ``p`` (reference) and
        ``q`` (window); ``nan`` when either side is empty.

    Notes
    -----
    PSI is the symmetrised Kullback-Leibler divergence. For two unit-variance normals a
    mean shift of ``d`` standard deviations gives a PSI of about ``d**2``. Common reading:
    below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 major shift [1]_. Under no
    shift, ``n * PSI`` is roughly chi-square with ``k - 1`` degrees of freedom, so its
    noise floor shrinks as ``(k - 1) / n``.

    References
    ----------
    .. [1] Yurdakul, B. "Statistical properties of population stability index", 2018.
    """
    r, c = _as_counts(ref, "ref"), _as_counts(cur, "cur")
    if r.sum() <= 0 or c.sum() <= 0:
        return float("nan")
    p, q = smoothed_shares(r), smoothed_shares(c)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(ref: _F, cur: _F) -> float:
    """Jensen-Shannon *distance* (square root of the divergence), base 2, in [0, 1].

    Equals ``scipy.spatial.distance.jensenshannon(p, q, base=2)`` on the raw shares.
    """
    r, c = _as_counts(ref, "ref"), _as_counts(cur, "cur")
    p, q = _shares(r), _shares(c)
    if p is None or q is None:
        return float("nan")
    m = 0.5 * (p + q)
    # xlogy-style: 0 * log(0/x) is 0 (scipy uses rel_entr the same way).
    js = 0.5 * (np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / np.log(2.0)
    return float(np.sqrt(max(js, 0.0)))


def hellinger(ref: _F, cur: _F) -> float:
    """Hellinger distance ``sqrt(1 - sum(sqrt(p * q)))`` on the raw shares, in [0, 1]."""
    r, c = _as_counts(ref, "ref"), _as_counts(cur, "cur")
    p, q = _shares(r), _shares(c)
    if p is None or q is None:
        return float("nan")
    bc = float(np.sum(np.sqrt(p * q)))
    return float(np.sqrt(max(1.0 - bc, 0.0)))


def wasserstein(ref: _F, cur: _F, positions: _F, *, scale: float = 1.0) -> float:
    """Wasserstein-1 distance between two binned distributions, divided by ``scale``.

    Parameters
    ----------
    ref, cur : array_like
        Counts of ordered bins.
    positions : array_like
        A representative value per bin (bin midpoints; the range edges for the
        below/above-range bins), increasing.
    scale : float
        The reference spread (standard deviation); the result is then unit-free, so one
        threshold fits every feature.

    Notes
    -----
    Equals ``scipy.stats.wasserstein_distance(positions, positions, ref, cur) / scale``.
    In one dimension W1 is the area between the two CDFs; with sorted positions that is
    ``sum(|F_i - G_i| * (x_{i+1} - x_i))``. Mass beyond the reference range sits at the
    range edge, so W1 is a lower bound when values leave the range (the out-of-range
    data-quality counter reports those).
    """
    r, c = _as_counts(ref, "ref"), _as_counts(cur, "cur")
    x = np.asarray(positions, dtype=np.float64)
    p, q = _shares(r), _shares(c)
    if p is None or q is None:
        return float("nan")
    cdf_gap = np.abs(np.cumsum(p) - np.cumsum(q))[:-1]
    w = float(np.sum(cdf_gap * np.diff(x)))
    return w / scale if scale > 0 else w


def ks(ref: _F, cur: _F) -> TestResult:
    """Two-sample Kolmogorov-Smirnov statistic from ordered bin counts, with p-value.

    Notes
    -----
    ``D`` is the largest gap between the two empirical CDFs at the bin edges; it is at
    most the exact ``scipy.stats.ks_2samp`` statistic and falls short of it by at most
    the largest bin share (the CDFs can separate inside a bin). The p-value is the
    asymptotic Kolmogorov distribution ``P(K > sqrt(en) * D)`` with the effective sample
    size ``en = n * m / (n + m)``. Binning makes the test conservative. Numeric columns
    pass every bin, the missing bin last (missing values sort after every number, as
    NaN does in ``numpy.sort``), so a jump in missing values moves ``D`` too.
    """
    r, c = _as_counts(ref, "ref"), _as_counts(cur, "cur")
    n, m = r.sum(), c.sum()
    if n <= 0 or m <= 0:
        return TestResult(float("nan"))
    d = float(np.max(np.abs(np.cumsum(r) / n - np.cumsum(c) / m)))
    return TestResult(d, float(ks_beyond(d, n, m, 0.0)))


def ks_beyond(d: _F | float, n: _F | float, m: _F | float, delta: float) -> _F:
    """p-value of "the two distributions are at most ``delta`` apart in KS distance".

    Notes
    -----
    A minimum-effect test: whatever the true distance ``D0 <= delta``, the observed
    ``D`` exceeds ``D0`` only by the sampling error of the two CDFs, and
    ``sqrt(en) * sup|F_n - F|`` follows the Kolmogorov distribution, so
    ``P(D - delta > t) <= kolmogorov(sqrt(en) * t)``. Rejecting at level ``alpha`` thus
    flags a true distance at or below ``delta`` at most ``alpha`` of the time at every
    window size, while a distance above ``delta`` is flagged more often the more rows
    there are: the verdict is monotone in the window's size. ``delta = 0`` is the
    ordinary KS test. Vectorised over arrays of ``d``, ``n`` and ``m``.
    """
    n_a, m_a = np.asarray(n, dtype=np.float64), np.asarray(m, dtype=np.float64)
    en = n_a * m_a / np.where(n_a + m_a > 0, n_a + m_a, 1.0)
    # special.kolmogorov is kstwobign.sf without the distribution-object overhead.
    p: _F = special.kolmogorov(np.sqrt(en) * np.maximum(np.asarray(d, dtype=np.float64) - delta, 0.0))
    return p


def js_beyond(js: float, bins: int, n: float, m: float, delta: float) -> float:
    """p-value of "the two distributions are at most ``delta`` apart in JS distance".

    Notes
    -----
    The minimum-effect counterpart of :func:`ks_beyond` for unordered bins. For close
    distributions ``8 ln 2 * JS**2`` (JS distance base 2) is the chi-square divergence
    ``sum((p - q)**2 / pbar)`` to first order, so ``8 ln 2 * en * JS**2`` with
    ``en = n m / (n + m)`` is the two-sample Pearson statistic: chi-square with ``bins - 1``
    degrees of freedom, non-central with ``8 ln 2 * en * D**2`` when the true distance is
    ``D``. The p-value takes the least favourable ``D = delta``, so a distance at or under
    ``delta`` is flagged about ``alpha`` of the time or less at every window size.
    ``bins`` counts the bins seen on either side.
    """
    if not np.isfinite(js) or bins < 2 or n <= 0 or m <= 0:
        return float("nan") if not np.isfinite(js) else 1.0
    scale = 8.0 * np.log(2.0) * n * m / (n + m)
    # special.chndtr is the non-central chi-square CDF (ncx2.cdf without the object).
    return float(1.0 - special.chndtr(scale * js * js, bins - 1, scale * delta * delta))


def chi_square(ref: _F, cur: _F) -> TestResult:
    """Pearson chi-square goodness of fit of the window counts to the reference shares.

    Notes
    -----
    Expected counts are ``n * p`` with the smoothed reference shares ``p`` (so a bin the
    reference never saw still has a small positive expectation); the result equals
    ``scipy.stats.chisquare(cur, n * p)``. Degrees of freedom ``k - 1``. Bins empty on
    both sides are dropped first (they add nothing but a degree of freedom). The test
    treats the reference as exact, which holds when it is much larger than the window.
    """
    r, c = _as_counts(ref, "ref"), _as_counts(cur, "cur")
    n = c.sum()
    if r.sum() <= 0 or n <= 0:
        return TestResult(float("nan"))
    keep = (r > 0) | (c > 0)
    r, c = r[keep], c[keep]
    if r.size < 2:
        return TestResult(0.0, 1.0)
    expected = n * smoothed_shares(r)
    stat = float(np.sum((c - expected) ** 2 / expected))
    # special.chdtrc is chi2.sf without the distribution-object overhead.
    return TestResult(stat, float(special.chdtrc(r.size - 1, stat)))


def benjamini_hochberg(p_values: _F) -> _F:
    """Benjamini-Hochberg adjusted p-values (``nan`` stays ``nan``).

    Rejecting the hypotheses whose adjusted p-value is below ``alpha`` controls the false
    discovery rate at ``alpha`` for independent or positively dependent tests. Equals
    ``scipy.stats.false_discovery_control(p, method="bh")`` on the finite entries.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    k = int(ok.sum())
    if k == 0:
        return out
    v = p[ok]
    order = np.argsort(v)
    ranked = v[order] * k / np.arange(1, k + 1)
    # Step-up: the adjusted value is the running minimum from the largest p downwards.
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(k)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out
