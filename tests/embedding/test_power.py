"""Drift verdicts on embedding features, by simulation (windows of 1,000 rows, several seeds).

The reference is 5,000 rows of the tests' synthetic embeddings (384 dimensions, six
directions carrying three quarters of the variance, isotropic noise). Under no shift at
most 1% of feature-windows may be flagged; each known shift must be flagged in every
window, on the derived feature that is meant to see it:

- a mean shift spread over all 384 dimensions (random signs, 0.08 per dimension: 0.14 of
  a dimension's standard deviation), which no single coordinate shows: ``:residual``;
- a shift orthogonal to the reference's top components (length 2.0, a third of the
  typical residual's length): ``:residual``;
- a shift spread across the six top components (0.4 of each one's standard deviation);
- a 10% scale change about the centre: ``:distance``, ``:residual`` and ``:norm``;
- a collapse (every row the same vector): every part.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mlscope.engine.profile import Profile
from mlscope.offline.compare import compare
from tests.embedding._data import BASIS, DIM, SPREAD, direction, embeddings

WINDOW = 1_000
SEEDS = range(5)


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.from_frame({"vec": embeddings(5_000, 1)}, embeddings=["vec"])


def _flagged(profile: Profile, x: np.ndarray) -> set[str]:
    return set(compare(profile, {"vec": x}).drifted_features)


def test_no_shift_flags_at_most_one_percent_of_feature_windows(profile: Profile) -> None:
    windows = 20
    flags = sum(len(_flagged(profile, embeddings(WINDOW, 100 + s))) for s in range(windows))
    assert flags <= 0.01 * windows * len(profile.features)


def _signs(seed: int, n: int) -> np.ndarray:
    return np.sign(np.random.default_rng(seed).normal(size=n))


@pytest.mark.parametrize(
    ("shift", "seen_by"),
    [
        pytest.param(lambda s: 0.08 * _signs(s, DIM), {"vec:residual"}, id="spread over all dimensions"),
        pytest.param(lambda s: 2.0 * direction(s, outside=BASIS), {"vec:residual"}, id="orthogonal"),
        pytest.param(
            lambda s: (0.4 * SPREAD * _signs(s, len(SPREAD))) @ BASIS, set(), id="across components"
        ),
    ],
)
def test_a_mean_shift_is_flagged_in_every_window(
    profile: Profile, shift: Callable[[int], np.ndarray], seen_by: set[str]
) -> None:
    for s in SEEDS:
        flagged = _flagged(profile, embeddings(WINDOW, 200 + s, shift=shift(s)))
        assert flagged, s
        assert seen_by <= flagged, (s, flagged)


def test_the_components_see_a_shift_along_them(profile: Profile) -> None:
    for s in SEEDS:
        flagged = _flagged(profile, embeddings(WINDOW, 300 + s, shift=(0.4 * SPREAD * _signs(s, 6)) @ BASIS))
        assert any(f.startswith("vec:pc") for f in flagged), (s, flagged)


def test_a_scale_change_is_flagged_in_every_window(profile: Profile) -> None:
    for s in SEEDS:
        flagged = _flagged(profile, embeddings(WINDOW, 400 + s, scale=1.1))
        assert {"vec:distance", "vec:residual", "vec:norm"} <= flagged, (s, flagged)


def test_a_collapse_to_one_vector_is_flagged_everywhere(profile: Profile) -> None:
    one = embeddings(1, 500)
    assert _flagged(profile, np.repeat(one, WINDOW, axis=0)) == set(profile.feature_names)
