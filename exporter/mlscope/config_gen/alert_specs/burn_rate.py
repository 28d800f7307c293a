"""Scenarios of MlscopeErrorBudgetBurn, from the configured burn-rate tiers.

Page tiers are checked in 1-minute steps (service file), ticket tiers with their 1d/3d
windows in 5-minute steps (slow file). Errors run at ``e`` failed per 100 good requests
a minute, over every tier's threshold; the expected ``$value`` is that error ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlscope import catalogue
from mlscope.config_gen.alert_specs.scenarios import APP_LABELS, AlertCheck, Fires, Scenario, at_minute
from mlscope.config_gen.config import BurnTier, Config, duration_seconds

HTTP = catalogue.HTTP_REQUEST_DURATION
ALERT = "MlscopeErrorBudgetBurn"


def scenarios(cfg: Config) -> tuple[tuple[Scenario, ...], tuple[Scenario, ...]]:
    """(page tier scenarios in 1-minute steps, ticket tier scenarios in 5-minute steps)."""
    burn = _Burn.of(cfg)
    return burn.fast_scenarios(), burn.slow_scenarios()


@dataclass(frozen=True)
class _Burn:
    """The burn-rate scenarios' inputs: ``e`` failed per 100 good requests a minute."""

    app: str
    target: float
    tiers: tuple[BurnTier, ...]
    e: int

    @classmethod
    def of(cls, cfg: Config) -> _Burn:
        budget = 1 - cfg.slo_target
        tiers = tuple(cfg.burn_tiers())
        top = max(t.rate for t in tiers)
        # An error ratio of (top + 5.6)x the budget (20x for the shipped 14.4x top tier):
        # over every burn-rate threshold.
        over = top + 5.6
        e = math.ceil(100 * over * budget / (1 - over * budget)) if over * budget < 0.9 else 900
        assert e / (100 + e) > top * budget, f"slo.target {cfg.slo_target} leaves no room for a {top:g}x burn"
        return cls(cfg.job("app"), cfg.slo_target, tiers, e)

    @property
    def budget(self) -> float:
        return 1 - self.target

    @property
    def ok(self) -> str:
        return f'{HTTP}_count{{{self._labels}, http_response_status_code="200"}}'

    @property
    def bad(self) -> str:
        return f'{HTTP}_count{{{self._labels}, http_response_status_code="500"}}'

    @property
    def _labels(self) -> str:
        return f'job="{self.app}", {APP_LABELS}, http_request_method="POST", http_route="/predict"'

    def of_severity(self, severity: str) -> list[BurnTier]:
        return [t for t in self.tiers if t.severity == severity]

    def fires(self, t: BurnTier, value: float | None = None, short: float | None = None) -> Fires:
        """``value``, ``short``: the long- and short-window error ratios (default: the steady one)."""
        steady = self.e / (100 + self.e)
        value = steady if value is None else value
        short = steady if short is None else short
        return Fires(
            {"severity": t.severity, "long": t.long_window, "short": t.short_window, "job": self.app},
            f"{self.app} answered {value * 100:.4g}% of requests with 5xx over the last {t.long_window} "
            f"and {short * 100:.4g}% over the last {t.short_window}, {t.rate:g}x the rate the "
            f"{self.target:g} availability objective allows.",
        )

    def fire_min(self, t: BurnTier, step: int) -> int | None:
        """The first step (minutes) the tier fires at when errors start with the series.

        A rate needs two samples in its window, so a window shorter than the step never
        gives a ratio in this file and the tier stays silent (``None``). Otherwise the
        alert turns pending at the first step with two samples and fires once ``for`` passed.
        """
        if min(duration_seconds(t.long_window), duration_seconds(t.short_window)) < 60 * step:
            return None
        return step + math.ceil(duration_seconds(t.for_) / (60 * step)) * step

    def checks(self, step: int, which: list[BurnTier]) -> tuple[AlertCheck, ...]:
        """At each watched tier's firing step and the step before: exactly the tiers firing by then."""
        at = {t: self.fire_min(t, step) for t in self.tiers}
        times = sorted({x for t in which if (f := at[t]) is not None for x in (f - step, f)})
        return tuple(
            AlertCheck(
                at_minute(x),
                ALERT,
                tuple(self.fires(t) for t in self.tiers if (f := at[t]) is not None and f <= x),
            )
            for x in times
        )

    def length(self, step: int, which: list[BurnTier]) -> int:
        """Samples enough to pass the last firing step of the watched tiers."""
        last = max((f for t in which if (f := self.fire_min(t, step)) is not None), default=0)
        return last // step + 5

    def fast_scenarios(self) -> tuple[Scenario, ...]:
        pages = self.of_severity("page")
        n = max(40, self.length(1, pages))
        ok, bad = (self.ok, f"0+100x{n}"), (self.bad, f"0+{self.e}x{n}")
        return (
            Scenario(
                "error budget burn: each page tier fires once its for has passed, not a step earlier",
                (ok, bad),
                self.checks(1, pages),
            ),
            Scenario(
                "error budget burn: healthy traffic without 5xx is silent", (ok,), (AlertCheck("30m", ALERT),)
            ),
            *_burn_window_scenario(self, pages),
        )

    def slow_scenarios(self) -> tuple[Scenario, ...]:
        # The slow file steps by 5 minutes (hours of data): counts are per 5 minutes and each
        # alert turns pending at the first step with two samples, 5m.
        tickets = self.of_severity("ticket")
        n5 = max(40, self.length(5, tickets))
        # The blip: 6h of clean traffic, then one step of errors, half of what would push the
        # long-window ratio of any tier over its threshold (100 requests a minute): the short
        # windows jump, but no tier's long window does, so nothing pages.
        blip = max(
            1,
            math.floor(
                min(100 * duration_seconds(t.long_window) / 60 * t.rate * self.budget for t in self.tiers) / 2
            ),
        )
        return (
            Scenario(
                "error budget burn: ticket tiers fire once their for has passed",
                ((self.ok, f"0+500x{n5}"), (self.bad, f"0+{5 * self.e}x{n5}")),
                self.checks(5, tickets),
                interval="5m",
            ),
            Scenario(
                "error budget burn: a blip of errors does not page",
                ((self.ok, "0+500x84"), (self.bad, f"0x72 {blip}x12")),
                (AlertCheck("380m", ALERT),),
                interval="5m",
            ),
        )


def _burn_window_scenario(b: _Burn, pages: list[BurnTier]) -> tuple[Scenario, ...]:
    """Errors start after a clean spell and stop again: each page tier fires and resolves
    when *its* windows say so, which a constant error ratio cannot show.

    With 100 good requests a minute from t=0 and ``e`` failed ones a minute in (S, S+D],
    a window of W whole minutes ending at minute t >= W holds samples at both ends, so
    rate() extrapolates nothing and the recorded ratio is exactly
    bad(t) - bad(t-W) over ok + bad of the same span. The expected firing sets below come
    from simulating that ratio and each tier's ``for`` minute by minute (the alert reads the
    ratios recorded at the same evaluation). Left out when a window is not whole minutes.
    """
    if not pages:
        return ()
    wins = [(t, duration_seconds(t.long_window) / 60, duration_seconds(t.short_window) / 60) for t in pages]
    if any(w != int(w) or w < 1 for _, lw, sw in wins for w in (lw, sw)):
        return ()
    sim = _BurnSimulation.of(b, tuple((t, int(lw), int(sw)) for t, lw, sw in wins))
    # D: long enough for every page tier to fire (searched), then a clean tail in which all resolve.
    horizon = sim.start + 3 * sim.start + 200
    d = next(
        (d for d in range(1, 3 * sim.start + 60) if all(any(v) for v in sim.states(d, horizon).values())),
        None,
    )
    if d is None:
        return ()
    states = sim.states(d, horizon)
    end = max(max(i for i, v in enumerate(vs) if v) for vs in states.values()) + 2
    times = sorted(
        {x for vs in states.values() for i in range(1, end + 1) if vs[i] != vs[i - 1] for x in (i - 1, i)}
    )
    checks = tuple(
        AlertCheck(
            at_minute(x),
            ALERT,
            tuple(
                b.fires(t, sim.ratio(x, lw, d), sim.ratio(x, sw, d)) for t, lw, sw in sim.wins if states[t][x]
            ),
        )
        for x in times
    )
    start, e = sim.start, b.e
    return (
        Scenario(
            "error budget burn: page tiers fire and resolve as their own windows see the errors",
            ((b.ok, f"0+100x{end + 1}"), (b.bad, f"0x{start - 1} 0+{e}x{d} {e * d}x{end - start - d}")),
            checks,
        ),
    )


@dataclass(frozen=True)
class _BurnSimulation:
    """The recorded error ratios and each page tier's state, minute by minute."""

    burn: _Burn
    wins: tuple[tuple[BurnTier, int, int], ...]  # tier, long and short window in minutes
    start: int  # S: errors start once every window lies inside the data

    @classmethod
    def of(cls, burn: _Burn, wins: tuple[tuple[BurnTier, int, int], ...]) -> _BurnSimulation:
        return cls(burn, wins, max(lw for _, lw, _ in wins))

    def ratio(self, t: int, w: int, d: int) -> float:
        """The error ratio over the ``w`` minutes up to minute ``t``."""
        errors = self._bad(np.array([t]), d) - self._bad(np.array([t - w]), d)
        return float(errors[0] / (100 * w + errors[0]))

    def _bad(self, t: np.ndarray, d: int) -> np.ndarray:
        """Failed requests counted by minute ``t``."""
        bad: np.ndarray = self.burn.e * np.clip(t - self.start, 0, d)
        return bad

    def states(self, d: int, end: int) -> dict[BurnTier, list[bool]]:
        """Per tier, whether it is firing at each minute 0..end.

        Whole arrays: the search for D runs this for every candidate D. Exact, as the
        counts are integers far below 2**53 and the ratio one IEEE division either way.
        """
        t = np.arange(end + 1)
        out: dict[BurnTier, list[bool]] = {}
        for tier, lw, sw in self.wins:
            limit = float(f"{tier.rate * self.burn.budget:.6g}")  # as printed into the rule
            need = duration_seconds(tier.for_) / 60
            cond = t >= self.start
            for w in (lw, sw):
                errors = self._bad(t, d) - self._bad(t - w, d)
                cond &= errors / (100 * w + errors) > limit
            # Pending since the first minute of the current run of true conditions.
            since = np.maximum.accumulate(np.where(cond, -1, t)) + 1
            out[tier] = (cond & (t - since >= need)).tolist()
        return out
