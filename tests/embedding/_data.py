"""Synthetic embeddings: 384 dimensions, a low-rank structure plus isotropic noise.

A row is ``CENTRE + z @ BASIS + noise``: ``z`` holds ``len(SPREAD)`` independent normal
coordinates with standard deviations ``SPREAD`` along orthonormal directions ``BASIS``,
the noise has standard deviation ``NOISE`` in every dimension. The signal carries about
three quarters of the variance, as the top of a sentence encoder's spectrum does.
"""

from __future__ import annotations

import numpy as np

DIM = 384
SPREAD = np.array([6.0, 5.0, 4.0, 3.0, 2.5, 2.0])
NOISE = 0.3


def _structure() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20_261_207)
    q, _ = np.linalg.qr(rng.normal(size=(DIM, len(SPREAD))))
    return rng.normal(size=DIM), q.T


CENTRE, BASIS = _structure()


def embeddings(n: int, seed: int, *, scale: float = 1.0, shift: np.ndarray | None = None) -> np.ndarray:
    """``n`` rows; ``scale`` stretches them about the centre, ``shift`` moves every row."""
    rng = np.random.default_rng(seed)
    x: np.ndarray = (rng.normal(size=(n, len(SPREAD))) * SPREAD) @ BASIS + NOISE * rng.normal(size=(n, DIM))
    x *= scale
    x += CENTRE
    if shift is not None:
        x += shift
    return x


def direction(seed: int, *, outside: np.ndarray | None = None) -> np.ndarray:
    """A random unit vector, orthogonal to the rows of ``outside`` when given."""
    d = np.random.default_rng(seed).normal(size=DIM)
    if outside is not None:
        d -= outside.T @ (outside @ d)
    unit: np.ndarray = d / np.linalg.norm(d)
    return unit
