"""The four ``scipy.special`` functions the drift statistics use, in numpy alone.

Why not scipy: importing ``scipy.special`` costs the sidecar about 27 MiB of resident
memory for four functions. Each one here takes scalars or arrays like its scipy
namesake and agrees with it to about 1e-12 relative (tests/engine/test_special.py
checks them against scipy, the oracle, over the ranges drift produces).

- :func:`rel_entr`: elementwise ``x * log(x / y)``, the Jensen-Shannon building block.
- :func:`chdtrc`: the chi-square survival function ``Q(v / 2, x / 2)``.
- :func:`kolmogorov`: the survival function of the Kolmogorov distribution.
- :func:`chndtr`: the non-central chi-square CDF (the categorical minimum-effect test).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Relative size of the last term at which a series or continued fraction stops.
_EPS = 1e-15
#: Upper bound on iterations (the fractions converge in tens of steps for df <= 10^4).
_MAX_ITER = 2000
_TINY = 1e-300


def _out(a: np.ndarray) -> Any:
    """A 0-d result as a Python-compatible numpy scalar, as scipy's ufuncs return."""
    return a[()] if a.ndim == 0 else a


def rel_entr(x: Any, y: Any) -> Any:
    """``x * log(x / y)`` for ``x, y > 0``; 0 for ``x == 0, y >= 0``; ``inf`` otherwise."""
    xa, ya = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    both = (xa > 0) & (ya > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = xa * np.log(np.where(both, xa, 1.0) / np.where(both, ya, 1.0))
    out = np.where(both, inner, np.where((xa == 0) & (ya >= 0), 0.0, np.inf))
    out = np.where(np.isnan(xa) | np.isnan(ya), np.nan, out)
    return _out(out)


def kolmogorov(y: Any) -> Any:
    """``P(K > y)`` for the Kolmogorov distribution (``scipy.special.kolmogorov``).

    Two series, each used where it converges within a dozen terms: the alternating
    ``2 sum (-1)^(k-1) exp(-2 k^2 y^2)`` for ``y >= 1``, and the theta-function form of
    the CDF, ``sqrt(2 pi) / y * sum exp(-(2k-1)^2 pi^2 / (8 y^2))``, below.
    """
    ya = np.asarray(y, dtype=np.float64)
    k = np.arange(1, 21, dtype=np.float64)[:, None]
    flat = ya.reshape(-1)
    big = np.maximum(flat, 1.0)
    sign = np.where(k % 2 == 1, 1.0, -1.0)
    sf_big = 2.0 * np.sum(sign * np.exp(-2.0 * k**2 * big**2), axis=0)
    small = np.clip(flat, 1e-3, 1.0)
    theta = np.sum(np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * small**2)), axis=0)
    cdf = math.sqrt(2.0 * math.pi) / small * theta
    out = np.where(flat >= 1.0, sf_big, 1.0 - cdf)
    out = np.where(flat <= 1e-3, 1.0, np.clip(out, 0.0, 1.0))
    out = np.where(np.isnan(flat), np.nan, out)
    return _out(out.reshape(ya.shape))


def chdtrc(v: Any, x: Any) -> Any:
    """Chi-square survival function with ``v`` degrees of freedom (``scipy.special.chdtrc``).

    One scalar evaluation per element: drift calls it with a few dozen columns at a
    time, where plain floats beat whole-array steps by an order of magnitude.
    """
    va, xa = np.broadcast_arrays(np.asarray(v, dtype=np.float64), np.asarray(x, dtype=np.float64))
    pairs = zip(va.ravel().tolist(), xa.ravel().tolist(), strict=True)
    flat = np.fromiter((gammaincc(a / 2.0, b / 2.0) for a, b in pairs), dtype=np.float64, count=va.size)
    return _out(flat.reshape(va.shape))


def chndtr(x: float, df: float, nc: float) -> float:
    """Non-central chi-square CDF ``P(X <= x)``, ``df`` degrees of freedom, non-centrality
    ``nc`` (``scipy.special.chndtr``).

    The Poisson mixture ``sum_j Pois(j; nc / 2) P(df / 2 + j, x / 2)``, summed over the
    weights that matter: from the Poisson mode outwards while they are above 1e-17 of it.
    """
    if not (x >= 0 and df > 0 and nc >= 0):  # also catches NaN
        return math.nan if math.isnan(x) or math.isnan(df) or math.isnan(nc) else 0.0
    if nc == 0:
        return 1.0 - gammaincc(df / 2.0, x / 2.0)
    mu, half, a = nc / 2.0, x / 2.0, df / 2.0
    width = int(10.0 * math.sqrt(mu + 1.0)) + 40
    j = np.arange(max(0, math.floor(mu) - width), math.floor(mu) + width + 1, dtype=np.float64)
    lg_j = np.fromiter((math.lgamma(v + 1.0) for v in j.tolist()), np.float64, j.size)
    lg_a = np.fromiter((math.lgamma(a + v + 1.0) for v in j.tolist()), np.float64, j.size)
    weights = np.exp(-mu + j * math.log(mu) - lg_j)
    # P(a + j, x) from the top down, P(s, x) = P(s + 1, x) + x^s e^-x / Gamma(s + 1): adding
    # positive terms is stable where the upward direction would cancel.
    log_half = math.log(half) if half > 0 else -math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.exp((a + j) * log_half - half - lg_a)
    top = 1.0 - gammaincc(a + float(j[-1]) + 1.0, half)
    lower = top + np.cumsum(terms[::-1])[::-1]
    return float(min(1.0, max(0.0, float(np.dot(weights, lower)))))


def gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma ``Q(a, x)`` (NaN outside ``a > 0, x >= 0``).

    The power series gives ``P = 1 - Q`` where ``x < a + 1``; the continued fraction
    gives ``Q`` directly above (Lentz's method); both converge fast in their range.
    """
    if not (a > 0 and x >= 0):  # also catches NaN
        return math.nan
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1:
        return min(1.0, max(0.0, 1.0 - _lower_series(a, x)))
    return min(1.0, _upper_fraction(a, x))


def _lower_series(a: float, x: float) -> float:
    """``P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n))``."""
    term = total = 1.0
    denom = a
    for _ in range(_MAX_ITER):
        denom += 1.0
        term *= x / denom
        total += term
        if term < total * _EPS:
            break
    return math.exp(a * math.log(x) - x - math.lgamma(a + 1.0)) * total


def _upper_fraction(a: float, x: float) -> float:
    """``Q(a, x) = x^a e^-x / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - ...))``."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return math.exp(a * math.log(x) - x - math.lgamma(a)) * h
