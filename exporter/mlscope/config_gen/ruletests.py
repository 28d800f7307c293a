"""promtool unit tests of every recording rule and alert, generated beside the rules.

Why generated: thresholds and ``for`` durations come from the configuration, so a user
who overrides them gets rule tests that still match. The *expected* figures are not
derived from the rules: they are written out per scenario (the sums, ratios and rendered
descriptions a person computes from the input series) or, for the drift statistics,
computed with numpy/scipy from the same counts (an independent implementation of the
PromQL chain). Each alert has a scenario where it fires with its exact labels and
annotations, and scenarios where it stays silent: a healthy series, a blip shorter than
its ``for``, and the minute before ``for`` ends.

Floats that PromQL computes in a different order than Python are compared with an
explicit absolute tolerance (``abs(expr - expected) < bool tol`` must be 1), since
promtool compares sample values exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlscope import catalogue
from mlscope.config_gen.alerts import DASHBOARDS, Alert, alerts
from mlscope.config_gen.config import BurnTier, Config, duration_seconds
from mlscope.config_gen.rules import recording_groups, slo_windows

HTTP = catalogue.HTTP_REQUEST_DURATION
APP_LABELS = 'instance="app-1:8000"'
TOL = 1e-9  # absolute: values are O(1) ratios/seconds; PromQL and numpy differ by ~1e-16


@dataclass(frozen=True)
class Fires:
    """An alert expected to fire: its exact labels (besides alertname) and description."""

    labels: Mapping[str, str]
    description: str


@dataclass(frozen=True)
class AlertCheck:
    eval_time: str
    alert: str
    fires: tuple[Fires, ...] = ()


@dataclass(frozen=True)
class ExprCheck:
    eval_time: str
    expr: str
    samples: tuple[tuple[str, float], ...]
    approx: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    series: tuple[tuple[str, str], ...]
    alert_checks: tuple[AlertCheck, ...] = ()
    expr_checks: tuple[ExprCheck, ...] = ()
    interval: str = "1m"


@dataclass
class TestFile:
    name: str
    scenarios: list[Scenario] = field(default_factory=list)
    evaluation_interval: str = "1m"


def _m(minutes: float) -> str:
    return f"{int(minutes)}m"


def _minutes(duration: str) -> int:
    """A duration in whole minutes, rounded up."""
    return math.ceil(duration_seconds(duration) / 60)


def _labels(d: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"


def drift_reference(ref_counts: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """(PSI, Jensen-Shannon distance) as the sidecar's engine computes them on these counts.

    The promtool tests hold the PromQL chain to these figures: the fleet-wide drift and
    the sidecar's own must agree on the same data.
    """
    from mlscope.engine import stats  # the engine's own statistics, not a re-implementation

    return stats.psi(ref_counts, counts), stats.jensen_shannon(ref_counts, counts)


# --------------------------------------------------------------------------- scenarios


def _http_scenarios(cfg: Config) -> list[Scenario]:
    app = cfg.job("app")
    j = f'job="{app}", {APP_LABELS}'
    pred = f'{j}, http_request_method="POST", http_route="/predict"'
    health = f'{j}, http_request_method="GET", http_route="/health"'
    series = (
        # /predict: 114 ok + 6 failed requests a minute (2/s, 5% errors); /health 60 a minute.
        (f'{HTTP}_count{{{pred}, http_response_status_code="200"}}', "0+114x200"),
        (f'{HTTP}_count{{{pred}, http_response_status_code="500"}}', "0+6x200"),
        (f'{HTTP}_count{{{health}, http_response_status_code="200"}}', "0+60x200"),
        # Buckets: of /predict's 120 a minute, 63 under 100 ms (57 ok + 6 failed), all under 500 ms.
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="200", le="0.1"}}', "0+57x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="200", le="0.5"}}', "0+114x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="200", le="+Inf"}}', "0+114x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="500", le="0.1"}}', "0+6x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="500", le="0.5"}}', "0+6x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="500", le="+Inf"}}', "0+6x200"),
        (f'{HTTP}_bucket{{{health}, http_response_status_code="200", le="0.1"}}', "0+60x200"),
        (f'{HTTP}_bucket{{{health}, http_response_status_code="200", le="0.5"}}', "0+60x200"),
        (f'{HTTP}_bucket{{{health}, http_response_status_code="200", le="+Inf"}}', "0+60x200"),
    )
    p_route = f'{{http_route="/predict", job="{app}"}}'
    h_route = f'{{http_route="/health", job="{app}"}}'
    job = f'{{job="{app}"}}'

    def q_pred(q: float) -> float:
        # Linear interpolation inside the bucket holding rank q*120 (63 below 0.1, 120 below 0.5).
        rank = q * 120
        return 0.1 * rank / 63 if rank <= 63 else 0.1 + 0.4 * (rank - 63) / (120 - 63)

    checks = [
        ExprCheck("180m", "job_route:http_server_requests:rate5m", ((p_route, 2.0), (h_route, 1.0)), True),
        ExprCheck(
            "180m",
            "job_route:http_server_request_errors:ratio_rate5m",
            ((p_route, 0.05), (h_route, 0.0)),
            True,
        ),
        ExprCheck(
            "180m", "job_route:http_server_requests_2xx:ratio_rate5m", ((p_route, 0.95), (h_route, 1.0)), True
        ),
        ExprCheck("180m", "job:http_server_requests:rate5m", ((job, 3.0),), True),
        ExprCheck("180m", "job:http_server_requests:increase1m", ((job, 180.0),), True),
        ExprCheck("180m", "job:http_server_requests:increase1h", ((job, 180.0 * 60),), True),
        # The series start at 0, so the 1d window holds all 180 minutes (no extrapolation
        # below zero): 180 requests a minute for 180 minutes.
        ExprCheck("180m", "job:http_server_requests:increase1d", ((job, 180.0 * 180),), True),
    ]
    for tag, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        checks.append(
            ExprCheck(
                "180m", f"job_route:{HTTP}:{tag}_rate5m", ((p_route, q_pred(q)), (h_route, 0.1 * q)), True
            )
        )
    for w in slo_windows(cfg):
        # 6 failed of 180 requests a minute, in every window (all series start together).
        checks.append(
            ExprCheck("180m", f"job:mlscope_slo_errors_per_request:ratio_rate{w}", ((job, 6 / 180),), True)
        )
    return [
        Scenario(
            "HTTP recording rules: rates, ratios, quantiles, volumes and SLO ratios",
            series,
            expr_checks=tuple(checks),
        )
    ]


def _burn_scenarios(cfg: Config) -> tuple[list[Scenario], list[Scenario]]:
    """Fast (page) scenarios and slow (ticket, 1d/3d windows) ones, from the configured tiers."""
    app = cfg.job("app")
    lbl = f'job="{app}", {APP_LABELS}, http_request_method="POST", http_route="/predict"'
    budget = 1 - cfg.slo_target
    tiers = cfg.burn_tiers()
    top = max(t.rate for t in tiers)
    # e failed per 100 good requests a minute, an error ratio of (top + 5.6)x the budget
    # (20x for the shipped 14.4x top tier): over every burn-rate threshold.
    over = top + 5.6
    e = math.ceil(100 * over * budget / (1 - over * budget)) if over * budget < 0.9 else 900
    ratio = e / (100 + e)
    assert ratio > top * budget, f"slo.target {cfg.slo_target} leaves no room for a {top:g}x burn"
    target = f"{cfg.slo_target:g}"

    def fires(t: BurnTier, value: float = ratio) -> Fires:
        """``value``: the long-window error ratio, the alert's $value."""
        return Fires(
            {"severity": t.severity, "long": t.long_window, "short": t.short_window, "job": app},
            f"{app} answered {value * 100:.4g}% of requests with 5xx over the last {t.long_window} "
            f"(and {t.short_window}), {t.rate:g}x the rate the {target} availability objective allows.",
        )

    def fire_min(t: BurnTier, step: int) -> int | None:
        """The first step (minutes) the tier fires at when errors start with the series.

        A rate needs two samples in its window, so a window shorter than the step never
        gives a ratio in this file and the tier stays silent (``None``). Otherwise the
        alert turns pending at the first step with two samples and fires once ``for`` passed.
        """
        if min(duration_seconds(t.long_window), duration_seconds(t.short_window)) < 60 * step:
            return None
        return step + math.ceil(duration_seconds(t.for_) / (60 * step)) * step

    def checks(step: int, which: list[BurnTier]) -> tuple[AlertCheck, ...]:
        """At each watched tier's firing step and the step before: exactly the tiers firing by then."""
        at = {t: fire_min(t, step) for t in tiers}
        times = sorted({m for t in which if (f := at[t]) is not None for m in (f - step, f)})
        return tuple(
            AlertCheck(_m(m), "MlscopeErrorBudgetBurn",
                       tuple(fires(t) for t in tiers if (f := at[t]) is not None and f <= m))
            for m in times
        )

    def length(step: int, which: list[BurnTier]) -> int:
        """Samples enough to pass the last firing step of the watched tiers."""
        last = max((f for t in which if (f := fire_min(t, step)) is not None), default=0)
        return last // step + 5

    pages = [t for t in tiers if t.severity == "page"]
    tickets = [t for t in tiers if t.severity == "ticket"]
    n = max(40, length(1, pages))
    ok = (f'{HTTP}_count{{{lbl}, http_response_status_code="200"}}', f"0+100x{n}")
    bad = (f'{HTTP}_count{{{lbl}, http_response_status_code="500"}}', f"0+{e}x{n}")
    fast = [
        Scenario(
            "error budget burn: each page tier fires once its for has passed, not a step earlier",
            (ok, bad),
            checks(1, pages),
        ),
        Scenario(
            "error budget burn: healthy traffic without 5xx is silent",
            (ok,),
            (AlertCheck("30m", "MlscopeErrorBudgetBurn"),),
        ),
        *_burn_window_scenario(cfg, pages, e, fires),
    ]
    # The slow file steps by 5 minutes (hours of data): counts are per 5 minutes and each
    # alert turns pending at the first step with two samples, 5m.
    n5 = max(40, length(5, tickets))
    ok5 = (ok[0], f"0+500x{n5}")
    bad5 = (bad[0], f"0+{5 * e}x{n5}")
    # The blip: 6h of clean traffic, then one step of errors, half of what would push the
    # long-window ratio of any tier over its threshold (100 requests a minute): the short
    # windows jump, but no tier's long window does, so nothing pages.
    blip = max(1, math.floor(min(100 * duration_seconds(t.long_window) / 60 * t.rate * budget
                                 for t in tiers) / 2))
    slow = [
        Scenario(
            "error budget burn: ticket tiers fire once their for has passed",
            (ok5, bad5),
            checks(5, tickets),
            interval="5m",
        ),
        Scenario(
            "error budget burn: a blip of errors does not page",
            (
                (ok[0], "0+500x84"),
                (bad[0], f"0x72 {blip}x12"),
            ),
            (AlertCheck("380m", "MlscopeErrorBudgetBurn"),),
            interval="5m",
        ),
    ]
    return fast, slow


def _burn_window_scenario(
    cfg: Config, pages: list[BurnTier], e: int, fires: Any
) -> list[Scenario]:
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
        return []
    wins = [(t, duration_seconds(t.long_window) / 60, duration_seconds(t.short_window) / 60) for t in pages]
    if any(w != int(w) or w < 1 for _, lw, sw in wins for w in (lw, sw)):
        return []
    budget = 1 - cfg.slo_target
    start = int(max(lw for _, lw, _ in wins))  # S: every window lies inside the data

    def bad(t: int, d: int) -> int:
        return e * min(max(t - start, 0), d)

    def ratio(t: int, w: int, d: int) -> float:
        errors = bad(t, d) - bad(t - w, d)
        return errors / (100 * w + errors)

    def simulate(d: int, end: int) -> dict[BurnTier, list[bool]]:
        """Per tier, whether it is firing at each minute 0..end."""
        out: dict[BurnTier, list[bool]] = {}
        for tier, lw, sw in wins:
            limit = float(f"{tier.rate * budget:.6g}")  # as printed into the rule
            need = duration_seconds(tier.for_) / 60
            since: int | None = None
            states = []
            for t in range(end + 1):
                cond = t >= start and ratio(t, int(lw), d) > limit and ratio(t, int(sw), d) > limit
                since = (since if since is not None else t) if cond else None
                states.append(since is not None and t - since >= need)
            out[tier] = states
        return out

    # D: long enough for every page tier to fire (searched), then a clean tail in which all resolve.
    horizon = start + 3 * start + 200
    d = next((d for d in range(1, 3 * start + 60)
              if all(any(v) for v in simulate(d, horizon).values())), None)
    if d is None:
        return []
    states = simulate(d, horizon)
    end = max(max(i for i, v in enumerate(vs) if v) for vs in states.values()) + 2
    times = sorted({m for vs in states.values() for i in range(1, end + 1) if vs[i] != vs[i - 1]
                    for m in (i - 1, i)})
    checks = tuple(
        AlertCheck(_m(m), "MlscopeErrorBudgetBurn",
                   tuple(fires(t, ratio(m, int(lw), d)) for t, lw, _ in wins if states[t][m]))
        for m in times
    )
    lbl_ok, lbl_bad = _burn_series_names(cfg)
    return [
        Scenario(
            "error budget burn: page tiers fire and resolve as their own windows see the errors",
            ((lbl_ok, f"0+100x{end + 1}"), (lbl_bad, f"0x{start - 1} 0+{e}x{d} {e * d}x{end - start - d}")),
            checks,
        )
    ]


def _burn_series_names(cfg: Config) -> tuple[str, str]:
    lbl = f'job="{cfg.job("app")}", {APP_LABELS}, http_request_method="POST", http_route="/predict"'
    return (f'{HTTP}_count{{{lbl}, http_response_status_code="200"}}',
            f'{HTTP}_count{{{lbl}, http_response_status_code="500"}}')


def _above(t: float) -> float:
    """A value clearly over threshold ``t`` of a ratio: twice it, at most halfway to 1."""
    return round(min(2 * t, (1 + t) / 2), 6)


def _n(x: float) -> str:
    """A number for promtool series notation, without float noise."""
    return f"{round(x, 6):g}"


def _pct(x: float) -> str:
    """What Prometheus's humanizePercentage prints (``%.4g`` of the percentage)."""
    return f"{x * 100:.4g}%"


def _fires_at(alert: Alert, start_min: int, step: int = 1) -> tuple[str | None, str]:
    """(last silent step, first firing step) for a condition true from ``start_min``.

    The alert fires at the first evaluation step at least ``for`` after it turned pending;
    the step before is silent (``None`` when that would be before the series begin).
    """
    f = math.ceil(duration_seconds(alert.for_) / (60 * step)) * step
    silent = start_min + f - step
    return (_m(silent) if silent >= 0 else None), _m(start_min + f)


def _silent_then_fires(
    name: str, silent_t: str | None, fire_t: str, fires: tuple[Fires, ...]
) -> tuple[AlertCheck, ...]:
    return (*_opt(silent_t, name), AlertCheck(fire_t, name, fires))


def _opt(silent_t: str | None, name: str) -> tuple[AlertCheck, ...]:
    return (AlertCheck(silent_t, name),) if silent_t is not None else ()


def _humanize_duration(v: float) -> str:
    """What Prometheus's humanizeDuration prints for 0 < v < 60 seconds."""
    if v >= 1:
        return f"{v:.4g}s"
    return f"{v * 1000:.4g}ms"


def _alert_scenarios(cfg: Config, slow: list[Scenario]) -> list[Scenario]:
    by = {a.name: a for a in alerts(cfg)}
    g = cfg.get
    app, sidecar = cfg.job("app"), cfg.job("sidecar")
    out: list[Scenario] = []

    def standard(
        name: str,
        start: int,
        fire_series: tuple[tuple[str, str], ...],
        fires: tuple[Fires, ...],
        healthy: tuple[tuple[str, str], ...],
        blip: tuple[tuple[str, str], ...],
        blip_eval: str,
    ) -> None:
        """Fires after `for` (silent the minute before), silent when healthy and on a blip."""
        silent_t, fire_t = _fires_at(by[name], start)
        out.append(
            Scenario(
                f"{name} fires once its condition held for {by[name].for_}",
                fire_series,
                _silent_then_fires(name, silent_t, fire_t, fires),
            )
        )
        out.append(
            Scenario(
                f"{name} stays silent on a healthy series",
                healthy,
                (AlertCheck(fire_t, name), AlertCheck(blip_eval, name)),
            )
        )
        out.append(
            Scenario(
                f"{name} stays silent on a blip shorter than its for", blip, (AlertCheck(blip_eval, name),)
            )
        )

    # --- latency: buckets at a fifth of, at and at twice the objective; the slow requests
    # all fall in (objective, 2 x objective], so p(q) = objective * (1 + q).
    lb = (
        f'job="{app}", {APP_LABELS}, http_request_method="POST", http_route="/predict", '
        'http_response_status_code="200"'
    )
    obj = float(g("slo.latency_objective_s"))

    def buckets(slow: str, total: str) -> tuple[tuple[str, str], ...]:
        return (
            (f'{HTTP}_bucket{{{lb}, le="{obj / 5:g}"}}', slow),
            (f'{HTTP}_bucket{{{lb}, le="{obj:g}"}}', slow),
            (f'{HTTP}_bucket{{{lb}, le="{2 * obj:g}"}}', total),
            (f'{HTTP}_bucket{{{lb}, le="+Inf"}}', total),
        )

    q = float(g("slo.latency_quantile"))
    standard(
        "MlscopeLatencyHigh",
        1,
        buckets("0x60", "0+10x60"),
        (
            Fires(
                {"severity": "ticket", "job": app, "http_route": "/predict"},
                f"p{q * 100:g} latency of {app} route /predict is {_humanize_duration(obj * (1 + q))}, "
                f"over the objective of {g('slo.latency_objective_s')}s.",
            ),
        ),
        buckets("0+10x60", "0+10x60"),
        # 4 slow minutes, then fast: the window holds slow requests until 4m + window;
        # evaluated after that, and after the condition would have held for `for`.
        buckets("0 0 0 0 10+10x60", "0+10x60"),
        _m(max(14, 2 + duration_seconds(g("slo.latency_for")) // 60,
               6 + math.ceil(duration_seconds(g("slo.latency_window")) / 60))),
    )

    # --- target down / absent
    sc = f'job="{sidecar}", instance="127.0.0.1:9108"'
    down_for = g("availability.down_for")
    standard(
        "MlscopeTargetDown",
        2,
        ((f"up{{{sc}}}", "1 1 0x30"),),
        (
            Fires(
                {"severity": "page", "job": sidecar, "instance": "127.0.0.1:9108"},
                f"{sidecar} at 127.0.0.1:9108 has not answered scrapes for {down_for}; its metrics, "
                "drift and quality alerts are blind.",
            ),
        ),
        ((f"up{{{sc}}}", "1x30"),),
        ((f"up{{{sc}}}", "1 1 0 0 1x30"),),
        "15m",
    )
    up_app = (f'up{{job="{app}", {APP_LABELS}}}', "1x40")
    standard(
        "MlscopeTargetAbsent",
        0,
        (up_app,),
        (
            Fires(
                {"severity": "page", "job": sidecar},
                f"Prometheus has no target for job {sidecar}: service discovery or the scrape "
                "configuration lost it, so nothing from it is monitored.",
            ),
        ),
        (up_app, (f"up{{{sc}}}", "1x40")),
        # A 3-minute gap in the samples stays inside the 5m lookback: never absent.
        (up_app, (f"up{{{sc}}}", "1x5 _x3 1x30")),
        "20m",
    )

    # --- traffic stopped: 60 requests a minute for 70 minutes, then none. rate[window] is
    # 0 from 70m + window, so the alert is pending from then and fires after its for.
    tw, tb = g("availability.traffic_window"), g("availability.traffic_before_window")
    tw_m = math.ceil(duration_seconds(tw) / 60)
    t_start = 70 + tw_m
    t_len = t_start + math.ceil(duration_seconds(g("availability.traffic_for")) / 60) + 30
    # The blip: the counter stays flat for a span shorter than the window (from 70m to
    # 72m + pause), so the rate never reaches 0. A window under 3m leaves no room for a
    # pause in 1-minute samples: traffic halves for ten minutes instead.
    if tw_m >= 3:
        pause = tw_m - 3
        t_blip = f"0+60x70 4200x{pause} 4200+60x{t_len - 72 - pause}"
    else:
        t_blip = f"0+60x70 4230+30x9 4560+60x{t_len - 80}"
    tl = (
        f'job="{app}", {APP_LABELS}, http_request_method="POST", http_route="/predict", '
        'http_response_status_code="200"'
    )
    standard(
        "MlscopeTrafficStopped",
        t_start,
        ((f"{HTTP}_count{{{tl}}}", f"0+60x70 4200x{t_len - 70}"),),
        (
            Fires(
                {"severity": "ticket", "job": app},
                f"{app} served no requests in the last {tw} although it had traffic in the {tb} before.",
            ),
        ),
        ((f"{HTTP}_count{{{tl}}}", f"0+60x{t_len}"),),
        ((f"{HTTP}_count{{{tl}}}", t_blip),),
        _m(t_len - 10),
    )

    # --- feature drift (sidecar's own decision)
    dw = g("drift.window")
    fd = 'model="churn", feature="age"'
    drift_on = (
        (f'mlscope_feature_drift_score{{{fd}, method="psi", window="{dw}"}}', "0.4x60"),
        (f'mlscope_feature_drift_score{{{fd}, method="ks", window="{dw}"}}', "0.3x60"),
        (f'mlscope_feature_drift_threshold{{{fd}, method="psi"}}', "0.2x60"),
    )
    standard(
        "MlscopeFeatureDrift",
        0,
        (*drift_on, (f'mlscope_feature_drift_detected{{{fd}, window="{dw}"}}', "1x60")),
        (
            Fires(
                {"severity": "ticket", "model": "churn", "feature": "age", "method": "psi"},
                f"Feature age of model churn drifted: psi score 0.400 over the {dw} window.",
            ),
        ),
        (*drift_on, (f'mlscope_feature_drift_detected{{{fd}, window="{dw}"}}', "0x60")),
        (*drift_on, (f'mlscope_feature_drift_detected{{{fd}, window="{dw}"}}', "1x5 0x55")),
        "30m",
    )

    # --- prediction drift
    po = 'model="churn", output="class"'
    pred_on = (
        (f'mlscope_prediction_drift_score{{{po}, method="chi2", window="{dw}"}}', "12.5x60"),
        (f'mlscope_prediction_drift_score{{{po}, method="jensenshannon", window="{dw}"}}', "0.3x60"),
    )
    standard(
        "MlscopePredictionDrift",
        0,
        (*pred_on, (f'mlscope_prediction_drift_detected{{{po}, window="{dw}"}}', "1x60")),
        (
            Fires(
                {"severity": "ticket", "model": "churn", "output": "class"},
                f"Output class of model churn drifted from the reference (highest score 12.500 over the "
                f"{dw} window).",
            ),
        ),
        (*pred_on, (f'mlscope_prediction_drift_detected{{{po}, window="{dw}"}}', "0x60")),
        (*pred_on, (f'mlscope_prediction_drift_detected{{{po}, window="{dw}"}}', "1x5 0x55")),
        "30m",
    )

    # --- dataset drift share: over the threshold (halfway to 100%), healthy at half of it.
    ds = f'mlscope_dataset_drift_share_ratio{{model="churn", window="{dw}"}}'
    t = float(g("drift.dataset_share_threshold"))
    f, h = _above(t), t / 2
    standard(
        "MlscopeDatasetDrift",
        0,
        ((ds, f"{f!r}x60"),),
        (
            Fires(
                {"severity": "ticket", "model": "churn"},
                f"{_pct(f)} of the features of model churn drifted in the {dw} window.",
            ),
        ),
        ((ds, f"{h!r}x60"),),
        ((ds, f"{h!r}x5 {f!r}x5 {h!r}x50"),),
        "30m",
    )

    # --- accuracy below baseline: 90% reference; twice the allowed drop fires, half of it does not.
    qw = g("quality.window")
    acc = f'mlscope_model_quality{{model="churn", metric="accuracy", window="{qw}"}}'
    ref = 'mlscope_model_quality_reference{model="churn", metric="accuracy"}'
    drop = float(g("quality.accuracy_drop"))
    low, fine = round(0.9 - 2 * drop, 6), round(0.9 - drop / 2, 6)
    standard(
        "MlscopeAccuracyBelowBaseline",
        0,
        ((acc, f"{low!r}x90"), (ref, "0.9x90")),
        (
            Fires(
                {"severity": "page", "model": "churn"},
                f"Accuracy of model churn is {_pct(low)} over the {qw} window, more than "
                f"{g('quality.accuracy_drop')} below the reference.",
            ),
        ),
        ((acc, f"{fine!r}x90"), (ref, "0.9x90")),
        ((acc, f"{fine!r}x5 {low!r}x10 {fine!r}x75"), (ref, "0.9x90")),
        "60m",
    )

    # --- accuracy swing: 90% for at least the swing window, then down by twice the swing
    # from c minutes: true from c until c + window (the offset value is 90% until then).
    sw_by = float(g("quality.swing"))
    after = round(0.9 - 2 * sw_by, 6)
    o_m = math.ceil(duration_seconds(g("quality.swing_window")) / 60)
    f_m = math.ceil(duration_seconds(g("quality.swing_for")) / 60)
    c = max(60, o_m)
    n = c + o_m + f_m + 40
    swing = ((acc, f"0.9x{c - 1} {after!r}x{n - c}"),)
    # The blip (5 bad minutes from c) shows again one window later (the offset side); the
    # check is before that echo, or after it has passed and its `for` with it.
    blip_t = c + 30 if 30 < o_m else c + o_m + 6 + f_m
    standard(
        "MlscopeAccuracySwing",
        c,
        swing,
        (
            Fires(
                {"severity": "ticket", "model": "churn"},
                f"Accuracy of model churn moved by {_pct(0.9 - after)} within {g('quality.swing_window')} "
                "while no dataset drift is detected.",
            ),
        ),
        ((acc, f"0.9x{n}"),),
        ((acc, f"0.9x{c - 1} {after!r}x5 0.9x{n - c - 5}"),),
        _m(blip_t),
    )
    _, swing_fire_t = _fires_at(by["MlscopeAccuracySwing"], c)
    out.append(
        Scenario(
            "MlscopeAccuracySwing stays silent when dataset drift explains the swing",
            (*swing, (f'mlscope_dataset_drift_detected{{model="churn", window="{dw}"}}', f"1x{n}")),
            (AlertCheck(swing_fire_t, "MlscopeAccuracySwing"),),
        )
    )

    # --- data quality: a missing-value share of twice the threshold (capped), healthy at half.
    dq = 'mlscope_data_quality_issues_total{model="churn", feature="age", issue="missing"}'
    rows = ('mlscope_rows_total{model="churn"}', "0+100x120")
    t = float(g("data_quality.ratio"))
    f, h = _above(t), t / 2
    standard(
        "MlscopeDataQualitySpike",
        1,
        (rows, (dq, f"0+{_n(100 * f)}x120")),
        (
            Fires(
                {"severity": "ticket", "model": "churn", "feature": "age", "issue": "missing"},
                f"{_pct(f)} of rows of model churn have missing values in feature age.",
            ),
        ),
        (rows, (dq, f"0+{_n(100 * h)}x120")),
        # 2 bad minutes at 100%: the ratio over the window stays above the threshold for about
        # the window; evaluated after that has passed.
        (rows, (dq, "0x10 100 200 200x100")),
        _m(max(40, 14 + _minutes(g("data_quality.window")))),
    )

    # --- labels stopped (slow file, 5m steps): labels until 30m, then none; stale once
    # time() - 1800 > labels_stale_s, i.e. from the first step after 1800 + labels_stale_s.
    stale_s = int(g("quality.labels_stale_s"))
    start = ((1800 + stale_s) // 300 + 1) * 5
    silent_t, fire_t = _fires_at(by["MlscopeLabelsStopped"], start, step=5)
    age = int(duration_seconds(fire_t)) - 1800
    hours, rest = divmod(age, 3600)
    mins, secs = divmod(rest, 60)
    lab = 'mlscope_last_label_timestamp_seconds{model="churn"}'
    steps = int(duration_seconds(fire_t) // 300) + 2
    long_rows = ('mlscope_rows_total{model="churn"}', f"0+500x{steps}")
    slow.append(
        Scenario(
            "MlscopeLabelsStopped fires when labels stop while rows keep coming",
            (long_rows, (lab, f"0+300x6 1800x{steps}")),
            (
                *_opt(silent_t, "MlscopeLabelsStopped"),
                AlertCheck(
                    fire_t,
                    "MlscopeLabelsStopped",
                    (
                        Fires(
                            {"severity": "ticket", "model": "churn"},
                            f"No label was joined for model churn for {hours}h {mins}m {secs}s; "
                            "its accuracy figures are going stale.",
                        ),
                    ),
                ),
            ),
            interval="5m",
        )
    )
    slow.append(
        Scenario(
            "MlscopeLabelsStopped stays silent while labels arrive",
            (long_rows, (lab, f"0+300x{steps}")),
            (AlertCheck(fire_t, "MlscopeLabelsStopped"),),
            interval="5m",
        )
    )
    slow.append(
        Scenario(
            "MlscopeLabelsStopped stays silent when predictions stopped too",
            (('mlscope_rows_total{model="churn"}', f"0+500x6 3000x{steps}"), (lab, f"0+300x6 1800x{steps}")),
            (AlertCheck(fire_t, "MlscopeLabelsStopped"),),
            interval="5m",
        )
    )

    # --- outliers: a share of twice the threshold (capped), healthy at half.
    outl = 'mlscope_outliers_total{model="churn"}'
    t = float(g("outliers.ratio"))
    f, h = _above(t), t / 2
    standard(
        "MlscopeOutlierRateHigh",
        1,
        (rows, (outl, f"0+{_n(100 * f)}x120")),
        (Fires({"severity": "ticket", "model": "churn"}, f"{_pct(f)} of rows of model churn are outliers."),),
        (rows, (outl, f"0+{_n(100 * h)}x120")),
        (rows, (outl, "0x10 100 200 200x100")),
        _m(max(40, 14 + _minutes(g("outliers.window")))),
    )

    # --- resources: over the threshold (halfway to 100%), healthy at half the threshold.
    gl = f'job="{sidecar}", instance="127.0.0.1:9108", gpu="0", uuid="GPU-1", name="NVIDIA H100"'
    gpu_labels = {
        "job": sidecar,
        "instance": "127.0.0.1:9108",
        "gpu": "0",
        "uuid": "GPU-1",
        "name": "NVIDIA H100",
    }
    t = float(g("resources.gpu_memory_ratio"))
    f, h = _above(t), t / 2
    used, total = "mlscope_gpu_memory_used_bytes", "mlscope_gpu_memory_total_bytes"
    standard(
        "MlscopeGPUMemoryNearFull",
        0,
        ((f"{used}{{{gl}}}", f"{_n(1e11 * f)}x60"), (f"{total}{{{gl}}}", "1e11x60")),
        (
            Fires(
                {"severity": "ticket", **gpu_labels},
                f"GPU 0 (NVIDIA H100) on 127.0.0.1:9108 uses {_pct(f)} of its memory.",
            ),
        ),
        ((f"{used}{{{gl}}}", f"{_n(1e11 * h)}x60"), (f"{total}{{{gl}}}", "1e11x60")),
        ((f"{used}{{{gl}}}", f"{_n(1e11 * h)}x5 1e11x5 {_n(1e11 * h)}x50"), (f"{total}{{{gl}}}", "1e11x60")),
        "40m",
    )
    rf = g("resources.window")
    # The blips (3 busy minutes from 10m) have left the averaging window by then.
    res_blip_t = _m(max(40, 15 + _minutes(rf)))
    t = float(g("resources.gpu_utilization_ratio"))
    f, h = _above(t), t / 2
    util = "mlscope_gpu_utilization_ratio"
    standard(
        "MlscopeGPUSaturated",
        0,
        ((f"{util}{{{gl}}}", f"{f!r}x60"),),
        (
            Fires(
                {"severity": "ticket", **gpu_labels},
                f"GPU 0 (NVIDIA H100) on 127.0.0.1:9108 was busy {_pct(f)} of the last {rf}.",
            ),
        ),
        ((f"{util}{{{gl}}}", f"{h!r}x60"),),
        ((f"{util}{{{gl}}}", f"{h!r}x10 1x3 {h!r}x47"),),
        res_blip_t,
    )
    hl = f'job="{sidecar}", instance="127.0.0.1:9108"'
    host = {"job": sidecar, "instance": "127.0.0.1:9108"}
    t = float(g("resources.cpu_utilization_ratio"))
    f, h = _above(t), t / 2
    cpu = "mlscope_host_cpu_utilization_ratio"
    standard(
        "MlscopeCPUSaturated",
        0,
        ((f"{cpu}{{{hl}}}", f"{f!r}x60"),),
        (
            Fires(
                {"severity": "ticket", **host}, f"CPU of 127.0.0.1:9108 was busy {_pct(f)} of the last {rf}."
            ),
        ),
        ((f"{cpu}{{{hl}}}", f"{h!r}x60"),),
        ((f"{cpu}{{{hl}}}", f"{h!r}x10 1x3 {h!r}x47"),),
        res_blip_t,
    )
    # Memory alerts when the available share is *below* the threshold: fire at half of it.
    t = float(g("resources.memory_available_ratio"))
    f, h = t / 2, _above(t)
    avail, mtotal = "mlscope_host_memory_available_bytes", "mlscope_host_memory_total_bytes"
    standard(
        "MlscopeMemoryPressure",
        0,
        ((f"{avail}{{{hl}}}", f"{_n(1e10 * f)}x60"), (f"{mtotal}{{{hl}}}", "1e10x60")),
        (
            Fires(
                {"severity": "ticket", **host},
                f"Only {_pct(f)} of the memory of 127.0.0.1:9108 is available.",
            ),
        ),
        ((f"{avail}{{{hl}}}", f"{_n(1e10 * h)}x60"), (f"{mtotal}{{{hl}}}", "1e10x60")),
        ((f"{avail}{{{hl}}}", f"{_n(1e10 * h)}x10 0x5 {_n(1e10 * h)}x45"), (f"{mtotal}{{{hl}}}", "1e10x60")),
        "40m",
    )

    # --- exporter health: 6 drops a minute = 0.10/s once the rate window is full. Before,
    # the series (from 0 at t=0) covers T of the W minutes and rate() gives 0.10 * T / W
    # (no extrapolation past a counter's zero point), which a `for` shorter than the
    # window shows.
    x_w = _minutes(g("exporter.window"))
    x_t = _minutes(_fires_at(by["MlscopeEventsDropped"], 1)[1])
    x_rate = f"{0.1 * min(x_t, x_w) / x_w:.2f}"
    al = f'job="{app}", {APP_LABELS}'
    dropped = f'mlscope_events_dropped_total{{{al}, model="churn", reason="buffer_full"}}'
    standard(
        "MlscopeEventsDropped",
        1,
        ((dropped, "0+6x60"),),
        (
            Fires(
                {
                    "severity": "ticket",
                    "job": app,
                    "instance": "app-1:8000",
                    "model": "churn",
                    "reason": "buffer_full",
                },
                f"{app} at app-1:8000 drops events of model churn (buffer_full) at {x_rate}/s.",
            ),
        ),
        ((dropped, "0x60"),),
        ((dropped, "0x5 6 6x55"),),
        _m(max(30, 8 + _minutes(g("exporter.window")))),
    )
    ie = f'mlscope_internal_errors_total{{{hl}, component="engine"}}'
    standard(
        "MlscopeInternalErrors",
        1,
        ((ie, "0+6x60"),),
        (
            Fires(
                {"severity": "ticket", **host, "component": "engine"},
                f"{sidecar} at 127.0.0.1:9108 hits internal errors in engine at {x_rate}/s.",
            ),
        ),
        ((ie, "0x60"),),
        ((ie, "0x5 6 6x55"),),
        _m(max(30, 8 + _minutes(g("exporter.window")))),
    )

    # --- staleness of figures: scores frozen while rows flow.
    sw = g("staleness.metrics_window")
    stale_blip = _m(10 + duration_seconds(sw) // 60 - 1)
    score = f'mlscope_feature_drift_score{{model="churn", feature="age", method="psi", window="{dw}"}}'
    standard(
        "MlscopeDriftMetricsStale",
        1,
        (rows, (score, "0.1x120")),
        (
            Fires(
                {"severity": "ticket", "model": "churn"},
                f"No drift score of model churn changed in {sw} although rows are ingested.",
            ),
        ),
        (rows, (score, "0.1+0.01x120")),
        # updated for 10 minutes, then frozen: changes over the window stay > 0 until
        # 10m + window, so a pause shorter than the window never counts as stale.
        (rows, (score, "0.1+0.01x10 0.2x110")),
        stale_blip,
    )
    matched = ('mlscope_labels_total{model="churn", outcome="matched"}', "0+10x120")
    standard(
        "MlscopeQualityMetricsStale",
        1,
        (matched, (acc, "0.9x120")),
        (
            Fires(
                {"severity": "ticket", "model": "churn"},
                f"No quality figure of model churn changed in {sw} although labels are joined.",
            ),
        ),
        (matched, (acc, "0.9+0.001x120")),
        (matched, (acc, "0.9+0.001x10 0.91x110")),
        stale_blip,
    )

    # --- sidecar compute stale: computed every minute until 10m, then stuck at t=600 s.
    lc = (
        f'mlscope_last_compute_timestamp_seconds{{job="{sidecar}", instance="127.0.0.1:9108", model="churn"}}'
    )
    limit = int(g("staleness.compute_s"))
    start = (600 + limit) // 60 + 1
    silent_t, fire_t = _fires_at(by["MlscopeSidecarComputeStale"], start)
    age = int(duration_seconds(fire_t)) - 600
    mins, secs = divmod(age, 60)
    out.append(
        Scenario(
            "MlscopeSidecarComputeStale fires when the compute loop stops",
            ((lc, "0+60x10 600x60"),),
            (
                *_opt(silent_t, "MlscopeSidecarComputeStale"),
                AlertCheck(
                    fire_t,
                    "MlscopeSidecarComputeStale",
                    (
                        Fires(
                            {
                                "severity": "ticket",
                                "job": sidecar,
                                "instance": "127.0.0.1:9108",
                                "model": "churn",
                            },
                            f"{sidecar} at 127.0.0.1:9108 last computed figures of model churn {mins}m "
                            f"{secs}s ago.",
                        ),
                    ),
                ),
            ),
        )
    )
    out.append(
        Scenario(
            "MlscopeSidecarComputeStale stays silent while computing",
            ((lc, "0+60x70"),),
            (AlertCheck(fire_t, "MlscopeSidecarComputeStale"),),
        )
    )
    out.append(
        Scenario(
            "MlscopeSidecarComputeStale stays silent on one late compute",
            ((lc, "0+60x10 600x3 840+60x60"),),
            (AlertCheck(fire_t, "MlscopeSidecarComputeStale"),),
        )
    )

    # --- watchdog
    out.append(
        Scenario(
            "Watchdog always fires",
            (),
            (AlertCheck("0m", "Watchdog", (Fires({"severity": "none"}, by["Watchdog"].description),)),),
        )
    )
    slow[:] = [_from_job(sc, sidecar) for sc in slow]
    return [_from_job(sc, sidecar) for sc in out]


def _from_job(sc: Scenario, job: str) -> Scenario:
    """ML series above are written without ``job``: they come from the sidecar's scrape job."""
    series = tuple(
        (s.replace("{", f'{{job="{job}", ', 1) if s.startswith("mlscope_") and "job=" not in s else s, v)
        for s, v in sc.series
    )
    checks = tuple(
        AlertCheck(
            c.eval_time,
            c.alert,
            tuple(
                Fires(
                    {**f.labels, "job": job} if "model" in f.labels and "job" not in f.labels else f.labels,
                    f.description,
                )
                for f in c.fires
            ),
        )
        for c in sc.alert_checks
    )
    return Scenario(sc.name, series, checks, sc.expr_checks, sc.interval)


def _drift_scenarios(cfg: Config) -> list[Scenario]:
    """Fleet drift: two replicas, four reference bins (one empty in production), one stable feature."""
    a = float(cfg.get("drift.pseudo_count"))
    n_ref = 1000
    ref = np.array([0.1, 0.2, 0.3, 0.4])
    ref_counts = ref * n_ref
    fw = str(cfg.get("drift.fleet_window"))
    W = _minutes(fw)  # the checks run at W minutes, when the window holds all rows since 0
    at = _m(W)
    L = max(120, 2 * W)  # samples per series
    per_min = {"a": [30, 10, 5, 0], "b": [40, 10, 5, 0]}  # bin b3 never seen: no series at all
    counts = np.array(per_min["a"]) + np.array(per_min["b"])
    series: list[tuple[str, str]] = []

    def reference(inst: str, feature: str, bins: list[str], shares: list[float]) -> list[tuple[str, str]]:
        # Every replica publishes the same reference shares and rows.
        out = [
            (
                f'mlscope_feature_reference_ratio{{instance="{inst}", model="churn", '
                f'feature="{feature}", bin="{b}"}}',
                f"{float(r)!r}x{L}",
            )
            for b, r in zip(bins, shares, strict=True)
        ]
        out.append(
            (
                f'mlscope_feature_reference_rows{{instance="{inst}", model="churn", feature="{feature}"}}',
                f"{n_ref}x{L}",
            )
        )
        return out

    age_bins = [f"b{i}" for i in range(len(ref))]
    for inst, row in per_min.items():
        for i, c in enumerate(row):
            if c:
                series.append(
                    (
                        f'mlscope_feature_bin_total{{instance="{inst}", model="churn", '
                        f'feature="age", bin="b{i}"}}',
                        f"0+{c}x{L}",
                    )
                )
        series += reference(inst, "age", age_bins, list(ref))
        for b in ("pro", "basic"):
            series.append(
                (
                    f'mlscope_feature_bin_total{{instance="{inst}", model="churn", '
                    f'feature="plan", bin="{b}"}}',
                    f"0+25x{L}",
                )
            )
        series += reference(inst, "plan", ["pro", "basic"], [0.5, 0.5])
    n = counts.sum() * W  # rows in the window at eval time W
    psi, js = drift_reference(ref_counts, counts * float(W))
    age = '{feature="age", model="churn"}'
    plan = '{feature="plan", model="churn"}'
    k = len(ref)
    p_s = (ref_counts + a) / (n_ref + a * k)
    q_s = (counts * W + a) / (n + a * k)
    checks = [
        ExprCheck(
            at,
            f"mlscope:feature_bin_count:increase{fw}",
            tuple(
                (f'{{bin="b{i}", feature="age", model="churn"}}', float(c * W))
                for i, c in enumerate(counts)
                if c
            )
            + tuple((f'{{bin="{b}", feature="plan", model="churn"}}', 50.0 * W) for b in ("basic", "pro")),
            True,
        ),
        ExprCheck(
            at,
            "mlscope:feature_reference:ratio",
            tuple((f'{{bin="b{i}", feature="age", model="churn"}}', float(r)) for i, r in enumerate(ref))
            + tuple((f'{{bin="{b}", feature="plan", model="churn"}}', 0.5) for b in ("basic", "pro")),
        ),
        ExprCheck(at, "mlscope:feature_reference_rows:max", ((age, float(n_ref)), (plan, float(n_ref)))),
        ExprCheck(at, f"mlscope:feature_rows:increase{fw}", ((age, float(n)), (plan, 100.0 * W)), True),
        ExprCheck(
            at,
            f'mlscope:feature_bin_production:ratio{fw}{{feature="age"}}',
            tuple(
                (f'{{bin="b{i}", feature="age", model="churn"}}', float(c / counts.sum()))
                for i, c in enumerate(counts)
            ),
            True,
        ),
        ExprCheck(
            at,
            'mlscope:feature_bin_reference:ratio_smoothed{feature="age"}',
            tuple((f'{{bin="b{i}", feature="age", model="churn"}}', float(v)) for i, v in enumerate(p_s)),
            True,
        ),
        ExprCheck(
            at,
            f'mlscope:feature_bin_production:ratio_smoothed{fw}{{feature="age"}}',
            tuple((f'{{bin="b{i}", feature="age", model="churn"}}', float(v)) for i, v in enumerate(q_s)),
            True,
        ),
        # The PromQL chain against the engine's own statistics on the same counts.
        ExprCheck(
            at,
            f"mlscope:feature_psi:{fw}",
            ((age, psi),
             (plan, drift_reference(np.array([500.0, 500.0]), np.array([50.0 * W, 50.0 * W]))[0])),
            True,
        ),
        ExprCheck(at, f"mlscope:feature_jensenshannon:{fw}", ((age, js), (plan, 0.0)), True),
    ]
    thr = float(cfg.get("drift.fleet_psi_threshold"))
    assert psi > thr, "fleet drift scenario must exceed the PSI threshold"
    alert = next(x for x in alerts(cfg) if x.name == "MlscopeFleetFeatureDrift")
    # 100 rows a minute reach fleet_min_rows after min_rows/100 minutes; pending from then.
    start = math.ceil(float(cfg.get("drift.fleet_min_rows")) / 100)
    silent_t, fire_t = _fires_at(alert, start)

    def fires(value: float) -> Fires:
        return Fires(
            {"severity": "ticket", "model": "churn", "feature": "age"},
            f"PSI of feature age of model churn over the last {fw}, summed over all replicas, is "
            f"{value:.3f}.",
        )

    # PSI moves a little while the window fills (the smoothing weighs less as rows grow).
    psi_fire = drift_reference(ref_counts, counts * float(min(_minutes(fire_t), W)))[0]
    # Healthy: production matches the reference shares (PSI near 0). Blip: 3 minutes of
    # all-b0 traffic (from b0) inside a window of matching traffic keeps its PSI under the threshold.
    b0 = min(30, W // 2)
    healthy: list[tuple[str, str]] = reference("a", "age", age_bins, list(ref))
    blip: list[tuple[str, str]] = list(healthy)
    for i, r in enumerate(ref):
        rate = int(r * 100)
        healthy.append(
            (
                f'mlscope_feature_bin_total{{instance="a", model="churn", feature="age", bin="b{i}"}}',
                f"0+{rate}x{L}",
            )
        )
        burst = 100 if i == 0 else 0
        blip.append(
            (
                f'mlscope_feature_bin_total{{instance="a", model="churn", feature="age", bin="b{i}"}}',
                f"0+{rate}x{b0} {b0 * rate + burst}+{burst}x2 {b0 * rate + 3 * burst}+{rate}x{L - b0 - 3}",
            )
        )
    blip_counts = ref * 100 * (W - 3) + np.array([300, 0, 0, 0])
    assert drift_reference(ref_counts, blip_counts)[0] < thr, "blip scenario must stay under the threshold"
    return [
        Scenario(
            "fleet drift: PSI and Jensen-Shannon over replicas agree with the engine's statistics",
            tuple(series),
            (
                *_opt(silent_t, "MlscopeFleetFeatureDrift"),
                AlertCheck(fire_t, "MlscopeFleetFeatureDrift", (fires(psi_fire),)),
                AlertCheck(_m(max(W, _minutes(fire_t))), "MlscopeFleetFeatureDrift", (fires(psi),)),
            ),
            tuple(checks),
        ),
        Scenario(
            "MlscopeFleetFeatureDrift stays silent when production matches the reference",
            tuple(healthy),
            (AlertCheck(at, "MlscopeFleetFeatureDrift"),),
            (
                ExprCheck(
                    at,
                    f"mlscope:feature_psi:{fw}",
                    ((age, drift_reference(ref_counts, ref * 100 * W)[0]),),
                    True,
                ),
            ),
        ),
        Scenario(
            "MlscopeFleetFeatureDrift stays silent on a 3-minute burst",
            tuple(blip),
            (AlertCheck(at, "MlscopeFleetFeatureDrift"),),
        ),
    ]


def _quality_scenarios(cfg: Config) -> list[Scenario]:
    w = str(cfg.get("quality.recording_window"))
    cells = {("yes", "yes"): 8, ("yes", "no"): 2, ("no", "no"): 6, ("no", "yes"): 4}
    series = tuple(
        (
            f'mlscope_classification_outcomes_total{{instance="a", model="churn", '
            f'actual="{a}", predicted="{p}"}}',
            f"0+{n}x120",
        )
        for (a, p), n in cells.items()
    )
    mins = duration_seconds(w) / 60
    tp = {"yes": 8 * mins, "no": 6 * mins}
    pred_tot = {"yes": 12 * mins, "no": 8 * mins}
    act_tot = {"yes": 10 * mins, "no": 10 * mins}
    ev = _m(mins + 10)
    return [
        Scenario(
            "quality recording rules: accuracy, precision, recall from the confusion counters",
            series,
            expr_checks=(
                ExprCheck(
                    ev,
                    f"mlscope:classification_outcomes:increase{w}",
                    tuple(
                        (f'{{actual="{a}", model="churn", predicted="{p}"}}', n * mins)
                        for (a, p), n in sorted(cells.items())
                    ),
                    True,
                ),
                ExprCheck(
                    ev,
                    f"mlscope:classification_true_positives:increase{w}",
                    (
                        ('{actual="no", model="churn", predicted="no"}', tp["no"]),
                        ('{actual="yes", model="churn", predicted="yes"}', tp["yes"]),
                    ),
                    True,
                ),
                ExprCheck(ev, f"model:mlscope_accuracy:ratio{w}", (('{model="churn"}', 14 / 20),), True),
                ExprCheck(
                    ev,
                    f"model_class:mlscope_precision:ratio{w}",
                    tuple((f'{{class="{c}", model="churn"}}', tp[c] / pred_tot[c]) for c in ("no", "yes")),
                    True,
                ),
                ExprCheck(
                    ev,
                    f"model_class:mlscope_recall:ratio{w}",
                    tuple((f'{{class="{c}", model="churn"}}', tp[c] / act_tot[c]) for c in ("no", "yes")),
                    True,
                ),
            ),
        )
    ]


def _model_scenarios() -> list[Scenario]:
    return [
        Scenario(
            "model traffic: rows per second summed over replicas",
            (
                ('mlscope_rows_total{instance="a", model="churn"}', "0+60x30"),
                ('mlscope_rows_total{instance="b", model="churn"}', "0+120x30"),
            ),
            expr_checks=(ExprCheck("20m", "model:mlscope_rows:rate5m", (('{model="churn"}', 3.0),), True),),
        )
    ]


# --------------------------------------------------------------------------- rendering


def test_files(cfg: Config) -> list[TestFile]:
    """The promtool test files, by name under prometheus/tests/."""
    fast, slow = _burn_scenarios(cfg)
    others = _alert_scenarios(cfg, slow)
    return [
        TestFile(
            "recording_test.yml", [*_http_scenarios(cfg), *_model_scenarios(), *_quality_scenarios(cfg)]
        ),
        TestFile("drift_test.yml", _drift_scenarios(cfg)),
        # Split in two so that the checks can run two promtool processes side by side.
        TestFile("alerts_model_test.yml", [sc for sc in others if _dashboard_of(sc, cfg) == "model"]),
        TestFile(
            "alerts_service_test.yml", [*fast, *(sc for sc in others if _dashboard_of(sc, cfg) != "model")]
        ),
        # Hours of data (1d/3d windows, 6h label staleness): 5m steps keep promtool quick.
        TestFile("slow_alerts_test.yml", slow, evaluation_interval="5m"),
    ]


def _dashboard_of(sc: Scenario, cfg: Config) -> str:
    by = {a.name: a for a in alerts(cfg)}
    return by[sc.alert_checks[0].alert].dashboard


def _annotations(cfg: Config, alert: Alert, fires: Fires) -> dict[str, str]:
    uid, slug = DASHBOARDS[alert.dashboard]
    url = f"{cfg.get('grafana_url')}/d/{uid}/{slug}"
    if alert.var:
        url += f"?var-{alert.var}={fires.labels[alert.var]}"
    return {
        "summary": alert.summary,
        "description": fires.description,
        "runbook_url": f"{cfg.get('runbook_base_url')}#{alert.anchor}",
        "dashboard_url": url,
        **({"samples_url": s} if (s := alert.samples_url(cfg, fires.labels)) else {}),
    }


def render(cfg: Config, tf: TestFile) -> dict[str, Any]:
    """One promtool test file as a YAML-ready mapping."""
    by = {a.name: a for a in alerts(cfg)}
    tests = []
    for sc in tf.scenarios:
        t: dict[str, Any] = {
            "name": sc.name,
            "interval": sc.interval,
            "input_series": [{"series": s, "values": v} for s, v in sc.series],
        }
        if sc.alert_checks:
            t["alert_rule_test"] = [
                {
                    "eval_time": c.eval_time,
                    "alertname": c.alert,
                    "exp_alerts": [
                        {
                            "exp_labels": dict(sorted(f.labels.items())),
                            "exp_annotations": _annotations(cfg, by[c.alert], f),
                        }
                        for f in c.fires
                    ],
                }
                for c in sc.alert_checks
            ]
        if sc.expr_checks:
            exprs = []
            for c in sc.expr_checks:
                if c.approx:
                    # One test per sample: |got - expected| < TOL must hold (value 1).
                    for labels, value in c.samples:
                        sel = labels[1:-1]
                        exprs.append(
                            {
                                "expr": f"abs({_with(c.expr, sel)} - {float(value)!r}) < bool {TOL}",
                                "eval_time": c.eval_time,
                                "exp_samples": [{"labels": labels, "value": 1}],
                            }
                        )
                    # ...and no other series than those expected.
                    exprs.append(
                        {
                            "expr": f"count({c.expr})",
                            "eval_time": c.eval_time,
                            "exp_samples": [{"labels": "{}", "value": len(c.samples)}],
                        }
                    )
                else:
                    exprs.append(
                        {
                            "expr": c.expr,
                            "eval_time": c.eval_time,
                            "exp_samples": [
                                {"labels": c.expr.split("{")[0] + labels, "value": v}
                                for labels, v in c.samples
                            ],
                        }
                    )
            t["promql_expr_test"] = exprs
        tests.append(t)
    return {
        "rule_files": ["../rules/mlscope-recording.yml", "../rules/mlscope-alerts.yml"],
        "evaluation_interval": tf.evaluation_interval,
        # Recording rules first, so alerts read this step's recorded values.
        "group_eval_order": [g["name"] for g in recording_groups(cfg)] + ["mlscope.alerts"],
        "tests": tests,
    }


def _with(expr: str, matchers: str) -> str:
    """``expr`` (a bare or selector-bearing series name) narrowed by extra matchers."""
    if "{" in expr:
        return expr[:-1] + ", " + matchers + "}"
    return f"{expr}{{{matchers}}}"
