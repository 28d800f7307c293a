"""Alerts on mlscope itself: dropped events, internal errors, stale figures, the Watchdog."""

from __future__ import annotations

from mlscope.config_gen.alert_specs.availability import SIDECAR_INSTANCE
from mlscope.config_gen.alert_specs.quality import ROWS, accuracy_series
from mlscope.config_gen.alert_specs.scenarios import (
    APP_LABELS,
    AlertCheck,
    Fires,
    Scenario,
    Standard,
    at_minute,
    fires_at,
    silent_then_fires,
    whole_minutes,
)
from mlscope.config_gen.alert_specs.spec import MODEL_TESTS, SERVICE_TESTS, AlertSpec, Rule
from mlscope.config_gen.config import Config, duration_seconds


def specs(cfg: Config) -> list[AlertSpec]:
    return [
        events_dropped(cfg),
        internal_errors(cfg),
        drift_metrics_stale(cfg),
        quality_metrics_stale(cfg),
        sidecar_compute_stale(cfg),
        watchdog(),
    ]


def _error_rate(cfg: Config) -> str:
    """6 errors a minute = 0.10/s once the rate window is full. Before, the series (from 0
    at t=0) covers T of the W minutes and rate() gives 0.10 * T / W (no extrapolation past
    a counter's zero point), which a `for` shorter than the window shows."""
    x_w = whole_minutes(cfg.get("exporter.window"))
    x_t = whole_minutes(fires_at(cfg.get("exporter.for"), 1)[1])
    return f"{0.1 * min(x_t, x_w) / x_w:.2f}"


def _counter_standard(cfg: Config, counter: str, fires: Fires) -> Standard:
    """A counter growing 6 a minute from 0 fires; flat is healthy; one step of 6 is a blip."""
    return Standard(
        start_min=1,
        firing=((counter, "0+6x60"),),
        fires=(fires,),
        healthy=((counter, "0x60"),),
        blip=((counter, "0x5 6 6x55"),),
        blip_eval=at_minute(max(30, 8 + whole_minutes(cfg.get("exporter.window")))),
    )


def events_dropped(cfg: Config) -> AlertSpec:
    xw, app = cfg.get("exporter.window"), cfg.job("app")
    dropped = (
        f'mlscope_events_dropped_total{{job="{app}", {APP_LABELS}, model="churn", reason="buffer_full"}}'
    )
    labels = {
        "severity": "ticket",
        "job": app,
        "instance": "app-1:8000",
        "model": "churn",
        "reason": "buffer_full",
    }
    return AlertSpec(
        name="MlscopeEventsDropped",
        summary="mlscope drops prediction events before they reach the engine.",
        rules=(
            Rule(
                expr=f"sum by (job, instance, model, reason) (rate(mlscope_events_dropped_total[{xw}])) > 0",
                for_=cfg.get("exporter.for"),
                severity="ticket",
                description="{{ $labels.job }} at {{ $labels.instance }} drops events of model "
                '{{ $labels.model }} ({{ $labels.reason }}) at {{ $value | printf "%.2f" }}/s.',
                thresholds=("exporter.window", "exporter.for"),
            ),
        ),
        dashboard="model",
        meaning="Drift and quality figures are computed on a sample only: the buffer is full, the "
        "sidecar is unreachable or events are malformed.",
        actions=(
            "Check the reason label: buffer_full means the sidecar is too slow or unreachable.",
            "Check the sidecar's logs and `mlscope_ingest_rejected_total`.",
        ),
        blind_when_down=True,
        standard=_counter_standard(
            cfg,
            dropped,
            Fires(
                labels,
                f"{app} at app-1:8000 drops events of model churn (buffer_full) at {_error_rate(cfg)}/s.",
            ),
        ),
    )


def internal_errors(cfg: Config) -> AlertSpec:
    xw, sidecar = cfg.get("exporter.window"), cfg.job("sidecar")
    errors = (
        f'mlscope_internal_errors_total{{job="{sidecar}", instance="{SIDECAR_INSTANCE}", component="engine"}}'
    )
    labels = {"severity": "ticket", "job": sidecar, "instance": SIDECAR_INSTANCE, "component": "engine"}
    return AlertSpec(
        name="MlscopeInternalErrors",
        summary="mlscope contains errors in its own code.",
        rules=(
            Rule(
                expr=f"sum by (job, instance, component) (rate(mlscope_internal_errors_total[{xw}])) > 0",
                for_=cfg.get("exporter.for"),
                severity="ticket",
                description="{{ $labels.job }} at {{ $labels.instance }} hits internal errors in "
                '{{ $labels.component }} at {{ $value | printf "%.2f" }}/s.',
                thresholds=("exporter.window", "exporter.for"),
            ),
        ),
        dashboard="service",
        var="job",
        meaning="A part of mlscope fails and keeps going; its figures may be incomplete.",
        actions=("Read the logs of the job for the stack trace.", "File a bug with the trace."),
        standard=_counter_standard(
            cfg,
            errors,
            Fires(
                labels,
                f"{sidecar} at {SIDECAR_INSTANCE} hits internal errors in engine at {_error_rate(cfg)}/s.",
            ),
        ),
    )


def _stale_blip_eval(cfg: Config) -> str:
    """Updated for 10 minutes, then frozen: changes over the window stay > 0 until
    10m + window, so a pause shorter than the window never counts as stale."""
    return at_minute(10 + duration_seconds(cfg.get("staleness.metrics_window")) // 60 - 1)


def drift_metrics_stale(cfg: Config) -> AlertSpec:
    sw, dw = cfg.get("staleness.metrics_window"), cfg.get("drift.window")
    score = f'mlscope_feature_drift_distance{{model="churn", feature="age", method="ks", window="{dw}"}}'
    return AlertSpec(
        name="MlscopeDriftMetricsStale",
        summary="Drift figures stopped updating while rows keep arriving.",
        rules=(
            Rule(
                expr=f"max by (job, model) (changes(mlscope_feature_drift_distance[{sw}])) == 0 "
                f"and on (job, model) sum by (job, model) (rate(mlscope_rows_total[{sw}])) > 0",
                for_=cfg.get("staleness.metrics_for"),
                severity="ticket",
                description=f"No drift score of model {{{{ $labels.model }}}} changed in {sw} although rows "
                f"are ingested.",
                thresholds=("staleness.metrics_window", "staleness.metrics_for"),
            ),
        ),
        dashboard="model",
        meaning="The drift computation is stuck or skipped: drift alerts would stay silent.",
        actions=("Check MlscopeSidecarComputeStale and the sidecar logs.", "Restart the sidecar."),
        blind_when_down=True,
        standard=Standard(
            start_min=1,
            firing=(ROWS, (score, "0.1x120")),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn"},
                    f"No drift score of model churn changed in {sw} although rows are ingested.",
                ),
            ),
            healthy=(ROWS, (score, "0.1+0.01x120")),
            blip=(ROWS, (score, "0.1+0.01x10 0.2x110")),
            blip_eval=_stale_blip_eval(cfg),
        ),
    )


def quality_metrics_stale(cfg: Config) -> AlertSpec:
    sw = cfg.get("staleness.metrics_window")
    matched = ('mlscope_labels_total{model="churn", outcome="matched"}', "0+10x120")
    acc = accuracy_series(cfg)
    return AlertSpec(
        name="MlscopeQualityMetricsStale",
        summary="Model quality figures stopped updating while labels keep arriving.",
        rules=(
            Rule(
                expr=f"max by (job, model) (changes(mlscope_model_quality_ratio[{sw}])) == 0 "
                f"and on (job, model) sum by (job, model) "
                f'(rate(mlscope_labels_total{{outcome="matched"}}[{sw}])) > 0',
                for_=cfg.get("staleness.metrics_for"),
                severity="ticket",
                description=f"No quality figure of model {{{{ $labels.model }}}} changed in {sw} although "
                f"labels are joined.",
                thresholds=("staleness.metrics_window", "staleness.metrics_for"),
            ),
        ),
        dashboard="model",
        meaning="The quality computation is stuck: accuracy alerts would stay silent.",
        actions=("Check the sidecar logs for errors in the quality tracker.", "Restart the sidecar."),
        blind_when_down=True,
        standard=Standard(
            start_min=1,
            firing=(matched, (acc, "0.9x120")),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn"},
                    f"No quality figure of model churn changed in {sw} although labels are joined.",
                ),
            ),
            healthy=(matched, (acc, "0.9+0.001x120")),
            blip=(matched, (acc, "0.9+0.001x10 0.91x110")),
            blip_eval=_stale_blip_eval(cfg),
        ),
    )


def sidecar_compute_stale(cfg: Config) -> AlertSpec:
    sidecar = cfg.job("sidecar")
    return AlertSpec(
        name="MlscopeSidecarComputeStale",
        summary="The sidecar stopped computing drift and quality figures.",
        rules=(
            Rule(
                expr=f"time() - max by (job, instance, model) "
                f'(mlscope_last_compute_timestamp_seconds{{job="{sidecar}"}}) '
                f"> {cfg.get('staleness.compute_s')}",
                for_=cfg.get("staleness.compute_for"),
                severity="ticket",
                description="{{ $labels.job }} at {{ $labels.instance }} last computed figures of model "
                "{{ $labels.model }} {{ $value | humanizeDuration }} ago.",
                thresholds=("staleness.compute_s", "staleness.compute_for"),
            ),
        ),
        dashboard="model",
        meaning="The sidecar answers scrapes but its compute loop is stuck or failing.",
        actions=("Check the sidecar logs and `mlscope_internal_errors_total`.", "Restart the sidecar."),
        blind_when_down=True,
        scenarios={MODEL_TESTS: _compute_stale_scenarios(cfg)},
    )


def _compute_stale_scenarios(cfg: Config) -> tuple[Scenario, ...]:
    """Computed every minute until 10m, then stuck at t=600 s."""
    name, sidecar = "MlscopeSidecarComputeStale", cfg.job("sidecar")
    labels = f'job="{sidecar}", instance="{SIDECAR_INSTANCE}", model="churn"'
    lc = f"mlscope_last_compute_timestamp_seconds{{{labels}}}"
    start = (600 + int(cfg.get("staleness.compute_s"))) // 60 + 1
    silent_t, fire_t = fires_at(cfg.get("staleness.compute_for"), start)
    mins, secs = divmod(int(duration_seconds(fire_t)) - 600, 60)
    fires = Fires(
        {"severity": "ticket", "job": sidecar, "instance": SIDECAR_INSTANCE, "model": "churn"},
        f"{sidecar} at {SIDECAR_INSTANCE} last computed figures of model churn {mins}m {secs}s ago.",
    )
    return (
        Scenario(
            f"{name} fires when the compute loop stops",
            ((lc, "0+60x10 600x60"),),
            silent_then_fires(name, silent_t, fire_t, (fires,)),
        ),
        Scenario(f"{name} stays silent while computing", ((lc, "0+60x70"),), (AlertCheck(fire_t, name),)),
        Scenario(
            f"{name} stays silent on one late compute",
            ((lc, "0+60x10 600x3 840+60x60"),),
            (AlertCheck(fire_t, name),),
        ),
    )


def watchdog() -> AlertSpec:
    description = (
        "This alert always fires. If its receiver stops getting it, Prometheus, "
        "Alertmanager or the notification path is broken."
    )
    return AlertSpec(
        name="Watchdog",
        summary="Always firing: proves the alerting pipeline works end to end.",
        rules=(Rule(expr="vector(1)", for_="0s", severity="none", description=description),),
        dashboard="service",
        var="",
        meaning="A dead-man switch. It is routed to its own receiver (a heartbeat service) that "
        "raises the alarm when the notifications stop.",
        actions=(
            "Nothing to do while it fires.",
            "If the heartbeat service reports it missing, check Prometheus, Alertmanager and the receiver.",
        ),
        scenarios={
            SERVICE_TESTS: (
                Scenario(
                    "Watchdog always fires",
                    (),
                    (AlertCheck("0m", "Watchdog", (Fires({"severity": "none"}, description),)),),
                ),
            )
        },
    )
