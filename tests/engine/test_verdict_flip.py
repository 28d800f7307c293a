"""How soon each default window's drift verdict flips after a 0.5 sd shift at 20 events/s.

The alert timing table (docs/alerts.md) starts the drift tickets' clock at the verdict's
flip and quotes these minutes (``VERDICT_FLIP_MIN``); this simulation is where they come
from. The slowest case: the window is full of healthy rows when the shift starts, so after
``t`` minutes a share ``t / window`` of its rows is shifted. The flip must come by the
quoted minute in at least 4 of 5 seeds, and not already a minute before it in all of them
(the figure is not padded).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlscope
from mlscope.config_gen.alert_specs.drift import VERDICT_FLIP_MIN
from mlscope.durations import parse_duration
from mlscope.engine.profile import Profile

RATE = 20  # events a second, as issue 16's trial
SHIFT_SD = 0.5
SEEDS = range(5)


def _flagged(profile: Profile, window_s: int, minutes: int, seed: int) -> bool:
    rng = np.random.default_rng(1000 + seed)
    rows, shifted = RATE * window_s, RATE * 60 * minutes
    x = np.concatenate([rng.normal(size=rows - shifted), rng.normal(SHIFT_SD, 1.0, size=shifted)])
    report = mlscope.compare(profile, pd.DataFrame({"x": x, "z": rng.normal(size=rows)}))
    return next(c for c in report.features if c.name == "x").drifted


@pytest.fixture(scope="module")
def profile() -> Profile:
    rng = np.random.default_rng(7)
    return Profile.from_frame(pd.DataFrame({"x": rng.normal(size=20_000), "z": rng.normal(size=20_000)}))


@pytest.mark.parametrize("window", sorted(VERDICT_FLIP_MIN))
def test_the_quoted_flip_minute_is_what_the_engine_does(window: str, profile: Profile) -> None:
    window_s, flip = int(parse_duration(window)), VERDICT_FLIP_MIN[window]
    at_flip = sum(_flagged(profile, window_s, flip, s) for s in SEEDS)
    before = sum(_flagged(profile, window_s, flip - 1, s) for s in SEEDS)
    assert at_flip >= 4, f"{window}: flagged in {at_flip}/5 windows {flip} min after the shift"
    assert before < 5, f"{window}: already flagged in every window {flip - 1} min after: quote less"
