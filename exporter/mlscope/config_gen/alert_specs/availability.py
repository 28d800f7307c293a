"""Availability alerts: a target down, a job without targets, traffic that stopped."""

from __future__ import annotations

import math

from mlscope import catalogue
from mlscope.config_gen.alert_specs.scenarios import APP_LABELS, Fires, Standard, at_minute
from mlscope.config_gen.alert_specs.spec import AlertSpec, Rule
from mlscope.config_gen.config import Config, duration_seconds

HTTP = catalogue.HTTP_REQUEST_DURATION
SIDECAR_INSTANCE = "127.0.0.1:9108"  # the instance label of sidecar series in the scenarios


def specs(cfg: Config) -> list[AlertSpec]:
    return [target_down(cfg), target_absent(cfg), traffic_stopped(cfg)]


def target_down(cfg: Config) -> AlertSpec:
    down_for = cfg.get("availability.down_for")
    jobs = [cfg.job(r) for r in ("app", "sidecar", "alertmanager", "prometheus")]
    sidecar = cfg.job("sidecar")
    up = f'up{{job="{sidecar}", instance="{SIDECAR_INSTANCE}"}}'
    return AlertSpec(
        name="MlscopeTargetDown",
        summary="Prometheus cannot scrape an mlscope target.",
        rules=(
            Rule(
                expr=f'up{{job=~"{"|".join(sorted(jobs))}"}} == 0',
                for_=down_for,
                severity="page",
                description="{{ $labels.job }} at {{ $labels.instance }} has not answered scrapes for "
                f"{down_for}; its metrics, drift and quality alerts are blind.",
                thresholds=("availability.down_for",),
            ),
        ),
        dashboard="service",
        var="job",
        meaning="A scrape target is down: the process crashed, is unreachable or its /metrics fails.",
        actions=(
            "Check the process or container and its logs (`docker compose ps`, `docker compose logs`).",
            "Open the target page of Prometheus (/targets) for the scrape error.",
            "Drift and quality alerts of this job are inhibited while it is down.",
        ),
        standard=Standard(
            start_min=2,
            firing=((up, "1 1 0x30"),),
            fires=(
                Fires(
                    {"severity": "page", "job": sidecar, "instance": SIDECAR_INSTANCE},
                    f"{sidecar} at {SIDECAR_INSTANCE} has not answered scrapes for {down_for}; its metrics, "
                    "drift and quality alerts are blind.",
                ),
            ),
            healthy=((up, "1x30"),),
            blip=((up, "1 1 0 0 1x30"),),
            blip_eval="15m",
        ),
    )


def target_absent(cfg: Config) -> AlertSpec:
    app, sidecar = cfg.job("app"), cfg.job("sidecar")
    up_app = (f'up{{job="{app}", {APP_LABELS}}}', "1x40")
    up_sidecar = f'up{{job="{sidecar}", instance="{SIDECAR_INSTANCE}"}}'
    return AlertSpec(
        name="MlscopeTargetAbsent",
        summary="An mlscope scrape job has no targets at all.",
        rules=tuple(
            Rule(
                expr=f'absent(up{{job="{job}"}})',
                for_=cfg.get("availability.absent_for"),
                severity="page",
                labels={"job": job},
                description="Prometheus has no target for job {{ $labels.job }}: service discovery or "
                "the scrape configuration lost it, so nothing from it is monitored.",
                thresholds=("availability.absent_for",),
            )
            for job in (app, sidecar)
        ),
        dashboard="service",
        var="job",
        meaning="A job that should exist has no `up` series: it vanished from the configuration or "
        "from service discovery, which `MlscopeTargetDown` cannot see.",
        actions=(
            "Check prometheus.yml (or the compose overlay) for the job.",
            "Check /service-discovery in the Prometheus UI.",
        ),
        standard=Standard(
            start_min=0,
            firing=(up_app,),
            fires=(
                Fires(
                    {"severity": "page", "job": sidecar},
                    f"Prometheus has no target for job {sidecar}: service discovery or the scrape "
                    "configuration lost it, so nothing from it is monitored.",
                ),
            ),
            healthy=(up_app, (up_sidecar, "1x40")),
            # A 3-minute gap in the samples stays inside the 5m lookback: never absent.
            blip=(up_app, (up_sidecar, "1x5 _x3 1x30")),
            blip_eval="20m",
        ),
    )


def traffic_stopped(cfg: Config) -> AlertSpec:
    app = cfg.job("app")
    tw, tb = cfg.get("availability.traffic_window"), cfg.get("availability.traffic_before_window")
    return AlertSpec(
        name="MlscopeTrafficStopped",
        summary="The serving app stopped receiving requests.",
        rules=(
            Rule(
                expr=f'sum by (job) (rate({HTTP}_count{{job="{app}"}}[{tw}])) == 0 '
                f'and sum by (job) (increase({HTTP}_count{{job="{app}"}}[{tb}] offset {tw})) > 0',
                for_=cfg.get("availability.traffic_for"),
                severity="ticket",
                description=f"{{{{ $labels.job }}}} served no requests in the last {tw} although it had "
                f"traffic in the {tb} before.",
                thresholds=(
                    "availability.traffic_window",
                    "availability.traffic_before_window",
                    "availability.traffic_for",
                ),
            ),
        ),
        dashboard="service",
        var="job",
        meaning="Traffic fell to zero: a load balancer, DNS or client change sends requests elsewhere.",
        actions=(
            "Check the upstream (ingress, load balancer, clients).",
            "Check that the app still listens on its port.",
        ),
        standard=_traffic_standard(cfg),
    )


def _traffic_standard(cfg: Config) -> Standard:
    """60 requests a minute for 70 minutes, then none. rate[window] is 0 from 70m + window,
    so the alert is pending from then and fires after its for."""
    app = cfg.job("app")
    tw, tb = cfg.get("availability.traffic_window"), cfg.get("availability.traffic_before_window")
    tw_m = math.ceil(duration_seconds(tw) / 60)
    t_start = 70 + tw_m
    t_len = t_start + math.ceil(duration_seconds(cfg.get("availability.traffic_for")) / 60) + 30
    # The blip: the counter stays flat for a span shorter than the window (from 70m to
    # 72m + pause), so the rate never reaches 0. A window under 3m leaves no room for a
    # pause in 1-minute samples: traffic halves for ten minutes instead.
    if tw_m >= 3:
        pause = tw_m - 3
        t_blip = f"0+60x70 4200x{pause} 4200+60x{t_len - 72 - pause}"
    else:
        t_blip = f"0+60x70 4230+30x9 4560+60x{t_len - 80}"
    count = (
        f'{HTTP}_count{{job="{app}", {APP_LABELS}, http_request_method="POST", http_route="/predict", '
        'http_response_status_code="200"}'
    )
    return Standard(
        start_min=t_start,
        firing=((count, f"0+60x70 4200x{t_len - 70}"),),
        fires=(
            Fires(
                {"severity": "ticket", "job": app},
                f"{app} served no requests in the last {tw} although it had traffic in the {tb} before.",
            ),
        ),
        healthy=((count, f"0+60x{t_len}"),),
        blip=((count, t_blip),),
        blip_eval=at_minute(t_len - 10),
    )
