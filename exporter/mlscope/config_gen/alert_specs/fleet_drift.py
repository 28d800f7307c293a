"""Scenarios of MlscopeFleetFeatureDrift and the fleet drift recording rules it reads.

Two replicas, four reference bins (one empty in production), one stable feature. The
expected PSI and Jensen-Shannon figures are the engine's own statistics on the same
counts (an independent implementation of the PromQL chain): the fleet-wide drift and
the sidecar's own must agree on the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlscope.config_gen import rules
from mlscope.config_gen.alert_specs.scenarios import (
    AlertCheck,
    ExprCheck,
    Fires,
    Scenario,
    at_minute,
    fires_at,
    silent_at,
    whole_minutes,
)
from mlscope.config_gen.config import Config
from mlscope.engine import stats

ALERT = "MlscopeFleetFeatureDrift"
N_REF = 1000
REF = np.array([0.1, 0.2, 0.3, 0.4])  # reference shares of feature age's bins b0..b3
PER_MIN = {"a": [30, 10, 5, 0], "b": [40, 10, 5, 0]}  # rows a minute per bin; b3 never seen
AGE = '{feature="age", model="churn"}'
PLAN = '{feature="plan", model="churn"}'


def drift_reference(ref_counts: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """(PSI, Jensen-Shannon distance) as the sidecar's engine computes them on these counts.

    The engine's own statistics, not a re-implementation: the rule tests check the PromQL
    against them.
    """
    return stats.psi(ref_counts, counts), stats.jensen_shannon(ref_counts, counts)


@dataclass(frozen=True)
class _Fleet:
    cfg: Config
    fw: str  # the fleet window
    W: int  # the checks run at W minutes, when the window holds all rows since 0
    L: int  # samples per series
    pseudo_count: float  # the engine's smoothing, which the PromQL uses too

    @classmethod
    def of(cls, cfg: Config) -> _Fleet:
        fw = str(cfg.get("drift.fleet_window"))
        w = whole_minutes(fw)
        return cls(cfg, fw, w, max(120, 2 * w), stats.SMOOTHING)

    @property
    def counts(self) -> np.ndarray:
        """Rows a minute per bin, both replicas together."""
        both: np.ndarray = np.array(PER_MIN["a"]) + np.array(PER_MIN["b"])
        return both

    def reference(
        self, inst: str, feature: str, bins: list[str], shares: list[float]
    ) -> list[tuple[str, str]]:
        """Every replica publishes the same reference shares and rows."""
        sel = f'instance="{inst}", model="churn", feature="{feature}"'
        out = [
            (f'mlscope_feature_reference_ratio{{{sel}, bin="{b}"}}', f"{float(r)!r}x{self.L}")
            for b, r in zip(bins, shares, strict=True)
        ]
        out.append((f"mlscope_feature_reference_rows{{{sel}}}", f"{N_REF}x{self.L}"))
        return out

    def bins(self, inst: str, values: list[str]) -> list[tuple[str, str]]:
        """Bin counters b0.. of feature age of replica ``inst``."""
        return [
            (f'mlscope_feature_bin_total{{instance="{inst}", model="churn", feature="age", bin="b{i}"}}', v)
            for i, v in enumerate(values)
        ]


def scenarios(cfg: Config) -> tuple[Scenario, ...]:
    fx = _Fleet.of(cfg)
    ref_counts = REF * N_REF
    psi = drift_reference(ref_counts, fx.counts * float(fx.W))[0]
    thr = float(cfg.get("drift.fleet_psi_threshold"))
    assert psi > thr, "fleet drift scenario must exceed the PSI threshold"
    # 100 rows a minute reach fleet_min_rows after min_rows/100 minutes; pending from then.
    silent_t, fire_t = fires_at(cfg.get("drift.for"), math.ceil(float(cfg.get("drift.fleet_min_rows")) / 100))
    fw = fx.fw

    def fires(value: float) -> Fires:
        return Fires(
            {"severity": "ticket", "model": "churn", "feature": "age"},
            f"PSI of feature age of model churn over the last {fw}, summed over all replicas, "
            f"is {value:.3f}.",
        )

    # PSI moves a little while the window fills (the smoothing weighs less as rows grow).
    psi_fire = drift_reference(ref_counts, fx.counts * float(min(whole_minutes(fire_t), fx.W)))[0]
    healthy, blip = _quiet_series(fx, thr)
    at = at_minute(fx.W)
    return (
        Scenario(
            "fleet drift: PSI and Jensen-Shannon over replicas agree with the engine's statistics",
            _drifted_series(fx),
            (
                *silent_at(silent_t, ALERT),
                AlertCheck(fire_t, ALERT, (fires(psi_fire),)),
                AlertCheck(at_minute(max(fx.W, whole_minutes(fire_t))), ALERT, (fires(psi),)),
            ),
            _recording_checks(fx),
        ),
        Scenario(
            f"{ALERT} stays silent when production matches the reference",
            healthy,
            (AlertCheck(at, ALERT),),
            (
                ExprCheck(
                    at,
                    rules.fleet_psi_rule(fx.cfg),
                    ((AGE, drift_reference(ref_counts, REF * 100 * fx.W)[0]),),
                    True,
                ),
            ),
        ),
        Scenario(f"{ALERT} stays silent on a 3-minute burst", blip, (AlertCheck(at, ALERT),)),
    )


def _drifted_series(fx: _Fleet) -> tuple[tuple[str, str], ...]:
    """Both replicas: feature age drifted (PER_MIN), feature plan as in the reference."""
    age_bins = [f"b{i}" for i in range(len(REF))]
    series: list[tuple[str, str]] = []
    for inst, row in PER_MIN.items():
        series += [s for s, c in zip(fx.bins(inst, [f"0+{c}x{fx.L}" for c in row]), row, strict=True) if c]
        series += fx.reference(inst, "age", age_bins, list(REF))
        series += [
            (
                f'mlscope_feature_bin_total{{instance="{inst}", model="churn", feature="plan", bin="{b}"}}',
                f"0+25x{fx.L}",
            )
            for b in ("pro", "basic")
        ]
        series += fx.reference(inst, "plan", ["pro", "basic"], [0.5, 0.5])
    return tuple(series)


def _quiet_series(fx: _Fleet, thr: float) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Healthy: production matches the reference shares (PSI near 0). Blip: 3 minutes of
    all-b0 traffic (from b0) inside a window of matching traffic keeps its PSI under the threshold."""
    b0, L = min(30, fx.W // 2), fx.L
    reference = fx.reference("a", "age", [f"b{i}" for i in range(len(REF))], list(REF))
    rates = [int(r * 100) for r in REF]
    bursts = [100 if i == 0 else 0 for i in range(len(REF))]
    healthy = fx.bins("a", [f"0+{rate}x{L}" for rate in rates])
    blip = fx.bins(
        "a",
        [
            f"0+{rate}x{b0} {b0 * rate + burst}+{burst}x2 {b0 * rate + 3 * burst}+{rate}x{L - b0 - 3}"
            for rate, burst in zip(rates, bursts, strict=True)
        ],
    )
    blip_counts = REF * 100 * (fx.W - 3) + np.array([300, 0, 0, 0])
    assert drift_reference(REF * N_REF, blip_counts)[0] < thr, "blip scenario must stay under the threshold"
    return tuple(reference + healthy), tuple(reference + blip)


def _recording_checks(fx: _Fleet) -> tuple[ExprCheck, ...]:
    """Every fleet drift recording rule at W minutes, from the counts written out."""
    return _count_checks(fx) + _statistic_checks(fx)


def _per_bin(values: np.ndarray) -> tuple[tuple[str, float], ...]:
    """One expected sample per bin of feature age."""
    return tuple((f'{{bin="b{i}", feature="age", model="churn"}}', float(v)) for i, v in enumerate(values))


def _count_checks(fx: _Fleet) -> tuple[ExprCheck, ...]:
    """Bin counts and rows over the window, the reference shares and rows."""
    W, counts, at = fx.W, fx.counts, at_minute(fx.W)
    plan_bins = ("basic", "pro")
    return (
        ExprCheck(
            at,
            rules.fleet_bin_count_rule(fx.cfg),
            tuple(
                (f'{{bin="b{i}", feature="age", model="churn"}}', float(c * W))
                for i, c in enumerate(counts)
                if c
            )
            + tuple((f'{{bin="{b}", feature="plan", model="churn"}}', 50.0 * W) for b in plan_bins),
            True,
        ),
        ExprCheck(
            at,
            rules.reference_share_rule(),
            _per_bin(REF) + tuple((f'{{bin="{b}", feature="plan", model="churn"}}', 0.5) for b in plan_bins),
        ),
        ExprCheck(at, rules.reference_rows_rule(), ((AGE, float(N_REF)), (PLAN, float(N_REF)))),
        ExprCheck(
            at,
            rules.fleet_rows_rule(fx.cfg),
            ((AGE, float(counts.sum() * W)), (PLAN, 100.0 * W)),
            True,
        ),
    )


def _statistic_checks(fx: _Fleet) -> tuple[ExprCheck, ...]:
    """Production shares, smoothed shares (the engine's pseudo count), PSI and Jensen-Shannon."""
    W, a, counts, at = fx.W, fx.pseudo_count, fx.counts, at_minute(fx.W)
    ref_counts = REF * N_REF
    n = counts.sum() * W  # rows in the window at eval time W
    psi, js = drift_reference(ref_counts, counts * float(W))
    k = len(REF)
    p_s = (ref_counts + a) / (N_REF + a * k)
    q_s = (counts * W + a) / (n + a * k)
    plan_psi = drift_reference(np.array([500.0, 500.0]), np.array([50.0 * W, 50.0 * W]))[0]
    return (
        ExprCheck(
            at,
            rules.fleet_production_share_rule(fx.cfg) + '{feature="age"}',
            _per_bin(counts / counts.sum()),
            True,
        ),
        ExprCheck(at, rules.reference_share_rule(smoothed=True) + '{feature="age"}', _per_bin(p_s), True),
        ExprCheck(
            at,
            rules.fleet_production_share_rule(fx.cfg, smoothed=True) + '{feature="age"}',
            _per_bin(q_s),
            True,
        ),
        # The PromQL chain against the engine's own statistics on the same counts.
        ExprCheck(at, rules.fleet_psi_rule(fx.cfg), ((AGE, psi), (PLAN, plan_psi)), True),
        ExprCheck(at, rules.fleet_jensenshannon_rule(fx.cfg), ((AGE, js), (PLAN, 0.0)), True),
    )
