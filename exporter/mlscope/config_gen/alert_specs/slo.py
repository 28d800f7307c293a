"""Service level alerts: error budget burn (SRE Workbook, chapter 5) and latency."""

from __future__ import annotations

import math

from mlscope import catalogue
from mlscope.config_gen.alert_specs import burn_rate
from mlscope.config_gen.alert_specs import page_context as ctx
from mlscope.config_gen.alert_specs.scenarios import (
    APP_LABELS,
    Fires,
    Standard,
    at_minute,
    humanize_duration,
)
from mlscope.config_gen.alert_specs.spec import SERVICE_TESTS, SLOW_TESTS, AlertSpec, Rule
from mlscope.config_gen.config import BurnTier, Config, duration_seconds

HTTP = catalogue.HTTP_REQUEST_DURATION


def specs(cfg: Config) -> list[AlertSpec]:
    return [error_budget_burn(cfg), latency_high(cfg)]


def error_budget_burn(cfg: Config) -> AlertSpec:
    """Multi-window, multi-burn-rate alerts of the SRE Workbook (chapter 5), from one target."""
    tiers = cfg.burn_tiers()

    def listed(severity: str) -> str:
        return " and ".join(
            f"{t.rate:g}x ({t.long_window}/{t.short_window})" for t in tiers if t.severity == severity
        )

    pages, tickets = listed("page"), listed("ticket")
    fast, slow = burn_rate.scenarios(cfg)
    return AlertSpec(
        name=burn_rate.ALERT,
        summary="The serving app is burning its error budget too fast.",
        rules=tuple(_burn_rule(cfg, tier) for tier in tiers),
        dashboard="service",
        var="job",
        meaning=f"At this burn rate the error budget of the {cfg.slo_target:g} objective runs out "
        f"early; page alerts at {pages or 'none'}, tickets at {tickets or 'none'}, as in the "
        "SRE Workbook.",
        actions=(
            "Open the Service dashboard and find the routes with the highest error ratio.",
            "Check recent deploys, dependencies and the app's logs for the failing route.",
            "Roll back or shed load if a release is the cause.",
        ),
        scenarios={SERVICE_TESTS: fast, SLOW_TESTS: slow},
    )


def _burn_rule(cfg: Config, tier: BurnTier) -> Rule:
    long_w, short_w, rate = tier.long_window, tier.short_window, tier.rate
    limit = f"{rate * (1.0 - cfg.slo_target):.6g}"
    return Rule(
        expr=f"job:mlscope_slo_errors_per_request:ratio_rate{long_w} > {limit} "
        f"and job:mlscope_slo_errors_per_request:ratio_rate{short_w} > {limit}",
        for_=tier.for_,
        severity=tier.severity,
        labels={"long": long_w, "short": short_w},
        description=(
            f"{{{{ $labels.job }}}} answered {{{{ $value | humanizePercentage }}}} of requests "
            f"with 5xx over the last {long_w} and {ctx.slo_error_ratio(short_w)} over the last {short_w}, "
            f"{rate:g}x the rate the {cfg.slo_target:g} availability objective allows."
        ),
        thresholds=(
            "slo.target",
            *(f"slo.burn.{tier.name}.{k}" for k in ("rate", "long_window", "short_window", "for")),
        ),
    )


def latency_high(cfg: Config) -> AlertSpec:
    g = cfg.get
    q = g("slo.latency_quantile")
    return AlertSpec(
        name="MlscopeLatencyHigh",
        summary="Requests are slower than the latency objective.",
        rules=(
            Rule(
                expr=f"histogram_quantile({q}, sum by (job, http_route, le) "
                f'(rate({HTTP}_bucket{{job="{cfg.job("app")}"}}[{g("slo.latency_window")}]))) '
                f"> {g('slo.latency_objective_s')}",
                for_=g("slo.latency_for"),
                severity="ticket",
                description=(
                    f"p{q * 100:g} latency of {{{{ $labels.job }}}} route {{{{ $labels.http_route }}}} is "
                    f"{{{{ $value | humanizeDuration }}}}, over the objective of "
                    f"{g('slo.latency_objective_s')}s."
                ),
                thresholds=(
                    "slo.latency_quantile",
                    "slo.latency_objective_s",
                    "slo.latency_window",
                    "slo.latency_for",
                ),
            ),
        ),
        dashboard="service",
        var="job",
        meaning="The slow tail of one route is over the objective for a sustained period.",
        actions=(
            "Compare the latency heatmap with the request rate: is it load or a slow dependency?",
            "Check CPU and GPU saturation on the Resources dashboard.",
            "Look for large request bodies or a model change on that route.",
        ),
        standard=_latency_standard(cfg),
    )


def _latency_standard(cfg: Config) -> Standard:
    """Buckets at a fifth of, at and at twice the objective; the slow requests all fall in
    (objective, 2 x objective], so p(q) = objective * (1 + q)."""
    g = cfg.get
    app = cfg.job("app")
    lb = (
        f'job="{app}", {APP_LABELS}, http_request_method="POST", http_route="/predict", '
        'http_response_status_code="200"'
    )
    obj = float(g("slo.latency_objective_s"))
    q = float(g("slo.latency_quantile"))

    def buckets(slow: str, total: str) -> tuple[tuple[str, str], ...]:
        return (
            (f'{HTTP}_bucket{{{lb}, le="{obj / 5:g}"}}', slow),
            (f'{HTTP}_bucket{{{lb}, le="{obj:g}"}}', slow),
            (f'{HTTP}_bucket{{{lb}, le="{2 * obj:g}"}}', total),
            (f'{HTTP}_bucket{{{lb}, le="+Inf"}}', total),
        )

    return Standard(
        start_min=1,
        firing=buckets("0x60", "0+10x60"),
        fires=(
            Fires(
                {"severity": "ticket", "job": app, "http_route": "/predict"},
                f"p{q * 100:g} latency of {app} route /predict is {humanize_duration(obj * (1 + q))}, "
                f"over the objective of {g('slo.latency_objective_s')}s.",
            ),
        ),
        healthy=buckets("0+10x60", "0+10x60"),
        # 4 slow minutes, then fast: the window holds slow requests until 4m + window;
        # evaluated after that, and after the condition would have held for `for`.
        blip=buckets("0 0 0 0 10+10x60", "0+10x60"),
        blip_eval=at_minute(
            max(
                14,
                2 + duration_seconds(g("slo.latency_for")) // 60,
                6 + math.ceil(duration_seconds(g("slo.latency_window")) / 60),
            )
        ),
    )
