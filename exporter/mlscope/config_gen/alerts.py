"""Alert rules, each with its runbook text, generated from the one configuration.

Every alert carries a ``severity`` label (``page`` wakes someone, ``ticket`` waits for
working hours, ``none`` is the Watchdog), a fixed ``summary``, a ``description`` that
names the model/feature/job and the value, a ``runbook_url`` into docs/runbooks.md
(one heading per alert name) and a ``dashboard_url`` into the Grafana dashboard where
the cause is visible. The runbook sections are generated from the same objects, so an
alert without a runbook cannot exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlscope import catalogue
from mlscope.config_gen.config import Config

DASHBOARDS = {
    "service": ("mlscope-service", "mlscope-service"),
    "model": ("mlscope-model-health", "mlscope-model-health"),
    "resources": ("mlscope-resources", "mlscope-resources"),
}

HTTP = catalogue.HTTP_REQUEST_DURATION


@dataclass(frozen=True)
class Alert:
    """One alerting rule plus the text of its runbook section."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    dashboard: str
    meaning: str
    actions: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    var: str = "model"  # dashboard variable filled from the alert's labels
    thresholds: tuple[str, ...] = ()  # config keys the alert reads (docs/alerts.md)
    # The sidecar's drill-down rows behind the alert (GET /v1/samples...): path and query
    # with label names in braces, e.g. "/v1/samples?model={model}"; "" for none.
    samples: str = ""

    def samples_url(self, cfg: Config, labels: Mapping[str, str] | None = None) -> str | None:
        """The ``samples_url`` annotation: templated for the rule, or filled from ``labels``."""
        if not self.samples:
            return None
        def fill(name: str) -> str:
            return labels[name] if labels is not None else f"{{{{ $labels.{name} }}}}"
        path = re.sub(r"\{(\w+)\}", lambda m: fill(m.group(1)), self.samples)
        return f"{cfg.get('samples_base_url')}{path}"

    @property
    def anchor(self) -> str:
        """The GitHub anchor of the runbook heading ``## <name>``."""
        return self.name.lower()

    def rule(self, cfg: Config) -> dict[str, Any]:
        uid, slug = DASHBOARDS[self.dashboard]
        url = f"{cfg.get('grafana_url')}/d/{uid}/{slug}"
        if self.var:
            url += f"?var-{self.var}={{{{ $labels.{self.var} }}}}"
        return {
            "alert": self.name,
            "expr": " ".join(self.expr.split()),
            "for": self.for_,
            "labels": {"severity": self.severity, **self.labels},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{cfg.get('runbook_base_url')}#{self.anchor}",
                "dashboard_url": url,
                **({"samples_url": s} if (s := self.samples_url(cfg)) else {}),
            },
        }


def _burn_alerts(cfg: Config) -> list[Alert]:
    """Multi-window, multi-burn-rate alerts of the SRE Workbook (chapter 5), from one target."""
    budget = 1.0 - cfg.slo_target
    tiers = cfg.burn_tiers()
    out = []

    def listed(severity: str) -> str:
        return " and ".join(f"{t.rate:g}x ({t.long_window}/{t.short_window})" for t in tiers
                            if t.severity == severity)

    pages, tickets = listed("page"), listed("ticket")
    for tier in tiers:
        sev, rate, for_ = tier.severity, tier.rate, tier.for_
        long_w, short_w = tier.long_window, tier.short_window
        limit = f"{rate * budget:.6g}"
        out.append(
            Alert(
                name="MlscopeErrorBudgetBurn",
                expr=f"job:mlscope_slo_errors_per_request:ratio_rate{long_w} > {limit} "
                f"and job:mlscope_slo_errors_per_request:ratio_rate{short_w} > {limit}",
                for_=for_,
                severity=sev,
                labels={"long": long_w, "short": short_w},
                summary="The serving app is burning its error budget too fast.",
                description=(
                    f"{{{{ $labels.job }}}} answered {{{{ $value | humanizePercentage }}}} of requests "
                    f"with 5xx over the last {long_w} (and {short_w}), {rate:g}x the rate the "
                    f"{cfg.slo_target:g} availability objective allows."
                ),
                dashboard="service",
                var="job",
                thresholds=("slo.target", *(f"slo.burn.{tier.name}.{k}" for k in
                                              ("rate", "long_window", "short_window", "for"))),
                meaning=f"At this burn rate the error budget of the {cfg.slo_target:g} objective runs out "
                f"early; page alerts at {pages or 'none'}, tickets at {tickets or 'none'}, as in the "
                "SRE Workbook.",
                actions=(
                    "Open the Service dashboard and find the routes with the highest error ratio.",
                    "Check recent deploys, dependencies and the app's logs for the failing route.",
                    "Roll back or shed load if a release is the cause.",
                ),
            )
        )
    return out


def alerts(cfg: Config) -> list[Alert]:
    """Every alert, in the order they appear in the rule file."""
    app, sidecar = cfg.job("app"), cfg.job("sidecar")
    g = cfg.get
    dw = g("drift.window")
    qw = g("quality.window")
    jobs = [cfg.job(r) for r in ("app", "sidecar", "alertmanager", "prometheus")]
    job_re = "|".join(sorted(jobs))
    out = _burn_alerts(cfg)
    q = g("slo.latency_quantile")
    out.append(
        Alert(
            name="MlscopeLatencyHigh",
            expr=f"histogram_quantile({q}, sum by (job, http_route, le) "
            f'(rate({HTTP}_bucket{{job="{app}"}}[{g("slo.latency_window")}]))) '
            f'> {g("slo.latency_objective_s")}',
            for_=g("slo.latency_for"),
            severity="ticket",
            summary="Requests are slower than the latency objective.",
            description=(
                f"p{q * 100:g} latency of {{{{ $labels.job }}}} route {{{{ $labels.http_route }}}} is "
                f"{{{{ $value | humanizeDuration }}}}, over the objective of {g('slo.latency_objective_s')}s."
            ),
            dashboard="service",
            var="job",
            thresholds=(
                "slo.latency_quantile", "slo.latency_objective_s", "slo.latency_window", "slo.latency_for"
            ),
            meaning="The slow tail of one route is over the objective for a sustained period.",
            actions=(
                "Compare the latency heatmap with the request rate: is it load or a slow dependency?",
                "Check CPU and GPU saturation on the Resources dashboard.",
                "Look for large request bodies or a model change on that route.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeTargetDown",
            expr=f'up{{job=~"{job_re}"}} == 0',
            for_=g("availability.down_for"),
            severity="page",
            summary="Prometheus cannot scrape an mlscope target.",
            description="{{ $labels.job }} at {{ $labels.instance }} has not answered scrapes for "
            f"{g('availability.down_for')}; its metrics, drift and quality alerts are blind.",
            dashboard="service",
            var="job",
            thresholds=("availability.down_for",),
            meaning="A scrape target is down: the process crashed, is unreachable or its /metrics fails.",
            actions=(
                "Check the process or container and its logs (`docker compose ps`, `docker compose logs`).",
                "Open the target page of Prometheus (/targets) for the scrape error.",
                "Drift and quality alerts of this job are inhibited while it is down.",
            ),
        )
    )
    for role in ("app", "sidecar"):
        job = cfg.job(role)
        out.append(
            Alert(
                name="MlscopeTargetAbsent",
                expr=f'absent(up{{job="{job}"}})',
                for_=g("availability.absent_for"),
                severity="page",
                labels={"job": job},
                summary="An mlscope scrape job has no targets at all.",
                description="Prometheus has no target for job {{ $labels.job }}: service discovery or "
                            "the scrape "
                "configuration lost it, so nothing from it is monitored.",
                dashboard="service",
                var="job",
                thresholds=("availability.absent_for",),
                meaning="A job that should exist has no `up` series: it vanished from the configuration or "
                "from service discovery, which `MlscopeTargetDown` cannot see.",
                actions=(
                    "Check prometheus.yml (or the compose overlay) for the job.",
                    "Check /service-discovery in the Prometheus UI.",
                ),
            )
        )
    tw, tb = g("availability.traffic_window"), g("availability.traffic_before_window")
    out.append(
        Alert(
            name="MlscopeTrafficStopped",
            expr=f'sum by (job) (rate({HTTP}_count{{job="{app}"}}[{tw}])) == 0 '
            f'and sum by (job) (increase({HTTP}_count{{job="{app}"}}[{tb}] offset {tw})) > 0',
            for_=g("availability.traffic_for"),
            severity="ticket",
            summary="The serving app stopped receiving requests.",
            description=f"{{{{ $labels.job }}}} served no requests in the last {tw} although it had "
            f"traffic in the {tb} before.",
            dashboard="service",
            var="job",
            thresholds=(
                "availability.traffic_window",
                "availability.traffic_before_window",
                "availability.traffic_for",
            ),
            meaning="Traffic fell to zero: a load balancer, DNS or client change sends requests elsewhere.",
            actions=(
                "Check the upstream (ingress, load balancer, clients).",
                "Check that the app still listens on its port.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeFeatureDrift",
            expr=f'max by (job, model, feature, method) (mlscope_feature_drift_score{{window="{dw}"}}) '
            "and on (job, model, feature, method) max by (job, model, feature, method) "
            "(mlscope_feature_drift_threshold) "
            f'and on (job, model, feature) (max by (job, model, feature) '
            f'(mlscope_feature_drift_detected{{window="{dw}"}}) == 1)',
            for_=g("drift.for"),
            severity="ticket",
            summary="A feature's production distribution drifted from the reference.",
            description="Feature {{ $labels.feature }} of model {{ $labels.model }} drifted: "
            f'{{{{ $labels.method }}}} score {{{{ $value | printf "%.3f" }}}} over the {dw} window.',
            dashboard="model",
            thresholds=("drift.window", "drift.for"),
            samples="/v1/samples?model={model}&feature={feature}" + f"&window={dw}",
            meaning="The sidecar flags the feature: its default method's score is over the threshold "
            "(`mlscope_feature_drift_threshold`) with enough rows in the window.",
            actions=(
                "Open Model health, look at the feature's drift over time and the root-cause ranking.",
                "Check the upstream data source of the feature (schema change, unit change, new client).",
                "If the new distribution is the new normal, rebuild the reference profile.",
            ),
        )
    )
    fw = g("drift.fleet_window")
    out.append(
        Alert(
            name="MlscopeFleetFeatureDrift",
            expr=f"mlscope:feature_psi:{fw} > {g('drift.fleet_psi_threshold')} "
            f"and on (model, feature) mlscope:feature_rows:increase{fw} >= {g('drift.fleet_min_rows')}",
            for_=g("drift.for"),
            severity="ticket",
            summary="Fleet-wide PSI of a feature is over the threshold.",
            description="PSI of feature {{ $labels.feature }} of model {{ $labels.model }} over the last "
            f'{fw}, summed over all replicas, is {{{{ $value | printf "%.3f" }}}}.',
            dashboard="model",
            thresholds=(
                "drift.fleet_psi_threshold", "drift.fleet_min_rows", "drift.fleet_window", "drift.for"
            ),
            meaning="Computed in PromQL from the bin counters of every replica: drift the fleet sees as a "
            "whole, even when each replica's window is too small to judge.",
            actions=(
                "Compare with the per-replica drift scores on Model health.",
                "Proceed as for MlscopeFeatureDrift.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopePredictionDrift",
            expr=f'max by (job, model, output) (mlscope_prediction_drift_score{{window="{dw}"}}) '
            f'and on (job, model, output) (max by (job, model, output) '
            f'(mlscope_prediction_drift_detected{{window="{dw}"}}) == 1)',
            for_=g("drift.for"),
            severity="ticket",
            summary="The distribution of a model's predictions drifted.",
            description="Output {{ $labels.output }} of model {{ $labels.model }} drifted from the reference "
            f'(highest score {{{{ $value | printf "%.3f" }}}} over the {dw} window).',
            dashboard="model",
            thresholds=("drift.window", "drift.for"),
            meaning="The model answers differently than on the reference data: a leading sign of quality "
            "loss before labels arrive.",
            actions=(
                "Check the prediction distribution panel and which features drifted at the same time.",
                "Check for a model or preprocessing release.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeDatasetDrift",
            expr=f'max by (job, model) (mlscope_dataset_drift_share_ratio{{window="{dw}"}}) > '
                 f'{g("drift.dataset_share_threshold")}',
            for_=g("drift.for"),
            severity="ticket",
            summary="A large share of a model's features drifted at once.",
            description="{{ $value | humanizePercentage }} of the features of model {{ $labels.model }} "
            f"drifted in the {dw} window.",
            dashboard="model",
            thresholds=("drift.dataset_share_threshold", "drift.window", "drift.for"),
            meaning="Many features shift together: usually a pipeline change upstream, not the world.",
            actions=(
                "Look for a shared cause: a new data source, a join, a unit or encoding change.",
                "Compare the drifted features in the ranked table.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeAccuracyBelowBaseline",
            expr=f'max by (job, model) (mlscope_model_quality{{metric="accuracy",window="{qw}"}}) '
            f'< on (job, model) (max by (job, model) '
            f'(mlscope_model_quality_reference{{metric="accuracy"}}) - {g("quality.accuracy_drop")})',
            for_=g("quality.accuracy_for"),
            severity="page",
            summary="Model accuracy fell below its validation baseline.",
            description="Accuracy of model {{ $labels.model }} is {{ $value | humanizePercentage }} over "
            f"the {qw} window, more than {g('quality.accuracy_drop')} below the reference.",
            dashboard="model",
            thresholds=("quality.window", "quality.accuracy_drop", "quality.accuracy_for"),
            meaning="Labelled production traffic shows the model doing clearly worse than at validation.",
            actions=(
                "Check drift and data quality of the same model for a cause.",
                "Check label delay: a partial window can bias accuracy.",
                "Roll back to the previous model or retrain on recent data.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeAccuracySwing",
            expr=f'abs(max by (job, model) (mlscope_model_quality{{metric="accuracy",window="{qw}"}}) '
            f'- max by (job, model) (mlscope_model_quality{{metric="accuracy",window="{qw}"}} offset '
            f'{g("quality.swing_window")})) > {g("quality.swing")} '
            f'unless on (job, model) (max by (job, model) '
            f'(mlscope_dataset_drift_detected{{window="{dw}"}}) == 1)',
            for_=g("quality.swing_for"),
            severity="ticket",
            summary="Model accuracy jumped or fell sharply with no drift to explain it.",
            description="Accuracy of model {{ $labels.model }} moved by {{ $value | humanizePercentage }} "
            f"within {g('quality.swing_window')} while no dataset drift is detected.",
            dashboard="model",
            thresholds=("quality.swing", "quality.swing_window", "quality.swing_for"),
            meaning="A swing without drift points at the labels (a labelling bug, a delayed batch) or "
            "at the join of labels with predictions.",
            actions=(
                "Check the label delay and label outcome panels.",
                "Check the labelling pipeline for a bulk correction or replay.",
            ),
        )
    )
    dqw = g("data_quality.window")
    out.append(
        Alert(
            name="MlscopeDataQualitySpike",
            expr=f"sum by (job, model, feature, issue) (rate(mlscope_data_quality_issues_total[{dqw}])) "
            f"/ on (job, model) group_left () (sum by (job, model) (rate(mlscope_rows_total[{dqw}])) > 0) "
            f"> {g('data_quality.ratio')}",
            for_=g("data_quality.for"),
            severity="ticket",
            summary="Many input values of a feature have a data-quality problem.",
            description="{{ $value | humanizePercentage }} of rows of model {{ $labels.model }} have "
            "{{ $labels.issue }} values in feature {{ $labels.feature }}.",
            dashboard="model",
            thresholds=("data_quality.ratio", "data_quality.window", "data_quality.for"),
            meaning="Missing, NaN, out-of-range or unseen values arrive at a high rate: the model "
            "is fed input it was not trained for.",
            actions=(
                "Find the client or pipeline stage that sends the bad values.",
                "Check the schema: a renamed or retyped feature shows up as missing_feature or wrong_type.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeLabelsStopped",
            expr=f"time() - max by (job, model) (mlscope_last_label_timestamp_seconds) > "
                 f"{g('quality.labels_stale_s')} "
            "and on (job, model) sum by (job, model) "
            f"(rate(mlscope_rows_total[{g('quality.labels_rows_window')}])) > 0",
            for_=g("quality.labels_for"),
            severity="ticket",
            summary="Ground-truth labels stopped arriving while predictions continue.",
            description="No label was joined for model {{ $labels.model }} for "
            "{{ $value | humanizeDuration }}; its accuracy figures are going stale.",
            dashboard="model",
            thresholds=("quality.labels_stale_s", "quality.labels_rows_window", "quality.labels_for"),
            meaning="The label feed is broken: accuracy cannot be measured until it resumes.",
            actions=(
                "Check the job that posts labels to /v1/labels or Monitor.log_labels.",
                "Check `mlscope_labels_total` by outcome for unmatched ids.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeOutlierRateHigh",
            expr=f"sum by (job, model) (rate(mlscope_outliers_total[{g('outliers.window')}])) "
            f"/ (sum by (job, model) (rate(mlscope_rows_total[{g('outliers.window')}])) > 0) "
            f"> {g('outliers.ratio')}",
            for_=g("outliers.for"),
            severity="ticket",
            summary="Many rows look unlike the reference data.",
            description="{{ $value | humanizePercentage }} of rows of model {{ $labels.model }} are "
                        "outliers.",
            dashboard="model",
            thresholds=("outliers.ratio", "outliers.window", "outliers.for"),
            meaning="A rising share of rows lies far from the reference profile: edge cases pile up.",
            actions=(
                "Inspect the outlier score histogram and the features with the most drift.",
                "Sample recent inputs from the prediction log.",
            ),
        )
    )
    res_for, res_w = g("resources.for"), g("resources.window")
    out.append(
        Alert(
            name="MlscopeGPUMemoryNearFull",
            expr="mlscope_gpu_memory_used_bytes / mlscope_gpu_memory_total_bytes "
            f"> {g('resources.gpu_memory_ratio')}",
            for_=res_for,
            severity="ticket",
            summary="A GPU's memory is almost full.",
            description="GPU {{ $labels.gpu }} ({{ $labels.name }}) on {{ $labels.instance }} uses "
            "{{ $value | humanizePercentage }} of its memory.",
            dashboard="resources",
            var="instance",
            thresholds=("resources.gpu_memory_ratio", "resources.for"),
            meaning="The next larger batch or model load may fail with an out-of-memory error.",
            actions=(
                "Check the per-process GPU memory for a leak or a second model on the device.",
                "Reduce batch size or move a model to another device.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeGPUSaturated",
            expr=f"avg_over_time(mlscope_gpu_utilization_ratio[{res_w}]) > "
                 f"{g('resources.gpu_utilization_ratio')}",
            for_=res_for,
            severity="ticket",
            summary="A GPU has been busy nearly all the time.",
            description="GPU {{ $labels.gpu }} ({{ $labels.name }}) on {{ $labels.instance }} was busy "
            f"{{{{ $value | humanizePercentage }}}} of the last {res_w}.",
            dashboard="resources",
            var="instance",
            thresholds=("resources.gpu_utilization_ratio", "resources.window", "resources.for"),
            meaning="Requests queue for the GPU; latency grows with load.",
            actions=(
                "Compare with request rate and latency on the Service dashboard.",
                "Scale out or batch more.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeCPUSaturated",
            expr=f"avg_over_time(mlscope_host_cpu_utilization_ratio[{res_w}]) > "
                 f"{g('resources.cpu_utilization_ratio')}",
            for_=res_for,
            severity="ticket",
            summary="The host's CPUs have been busy nearly all the time.",
            description="CPU of {{ $labels.instance }} was busy {{ $value | humanizePercentage }} "
            f"of the last {res_w}.",
            dashboard="resources",
            var="instance",
            thresholds=("resources.cpu_utilization_ratio", "resources.window", "resources.for"),
            meaning="The host is CPU-bound: preprocessing, inference or a noisy neighbour.",
            actions=(
                "Check the serving process's CPU on the Resources dashboard.",
                "Scale out or add workers.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeMemoryPressure",
            expr="mlscope_host_memory_available_bytes / mlscope_host_memory_total_bytes "
            f"< {g('resources.memory_available_ratio')}",
            for_=res_for,
            severity="ticket",
            summary="The host is running out of memory.",
            description="Only {{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} "
                        "is available.",
            dashboard="resources",
            var="instance",
            thresholds=("resources.memory_available_ratio", "resources.for"),
            meaning="The OOM killer may soon end the serving process or the sidecar.",
            actions=(
                "Check the serving process's resident memory for growth.",
                "Add memory or reduce workers.",
            ),
        )
    )
    xw = g("exporter.window")
    out.append(
        Alert(
            name="MlscopeEventsDropped",
            expr=f"sum by (job, instance, model, reason) (rate(mlscope_events_dropped_total[{xw}])) > 0",
            for_=g("exporter.for"),
            severity="ticket",
            summary="mlscope drops prediction events before they reach the engine.",
            description="{{ $labels.job }} at {{ $labels.instance }} drops events of model {{ "
                        "$labels.model }} "
            '({{ $labels.reason }}) at {{ $value | printf "%.2f" }}/s.',
            dashboard="model",
            thresholds=("exporter.window", "exporter.for"),
            meaning="Drift and quality figures are computed on a sample only: the buffer is full, the "
            "sidecar is unreachable or events are malformed.",
            actions=(
                "Check the reason label: buffer_full means the sidecar is too slow or unreachable.",
                "Check the sidecar's logs and `mlscope_ingest_rejected_total`.",
            ),
        )
    )
    out.append(
        Alert(
            name="MlscopeInternalErrors",
            expr=f"sum by (job, instance, component) (rate(mlscope_internal_errors_total[{xw}])) > 0",
            for_=g("exporter.for"),
            severity="ticket",
            summary="mlscope contains errors in its own code.",
            description="{{ $labels.job }} at {{ $labels.instance }} hits internal errors in "
            '{{ $labels.component }} at {{ $value | printf "%.2f" }}/s.',
            dashboard="service",
            var="job",
            thresholds=("exporter.window", "exporter.for"),
            meaning="A part of mlscope fails and keeps going; its figures may be incomplete.",
            actions=("Read the logs of the job for the stack trace.", "File a bug with the trace."),
        )
    )
    sw = g("staleness.metrics_window")
    out.append(
        Alert(
            name="MlscopeDriftMetricsStale",
            expr=f"max by (job, model) (changes(mlscope_feature_drift_score[{sw}])) == 0 "
            f"and on (job, model) sum by (job, model) (rate(mlscope_rows_total[{sw}])) > 0",
            for_=g("staleness.metrics_for"),
            severity="ticket",
            summary="Drift figures stopped updating while rows keep arriving.",
            description=f"No drift score of model {{{{ $labels.model }}}} changed in {sw} although rows "
                        f"are ingested.",
            dashboard="model",
            thresholds=("staleness.metrics_window", "staleness.metrics_for"),
            meaning="The drift computation is stuck or skipped: drift alerts would stay silent.",
            actions=("Check MlscopeSidecarComputeStale and the sidecar logs.", "Restart the sidecar."),
        )
    )
    out.append(
        Alert(
            name="MlscopeQualityMetricsStale",
            expr=f"max by (job, model) (changes(mlscope_model_quality[{sw}])) == 0 "
            f'and on (job, model) sum by (job, model) '
            f'(rate(mlscope_labels_total{{outcome="matched"}}[{sw}])) > 0',
            for_=g("staleness.metrics_for"),
            severity="ticket",
            summary="Model quality figures stopped updating while labels keep arriving.",
            description=f"No quality figure of model {{{{ $labels.model }}}} changed in {sw} although "
                        f"labels are joined.",
            dashboard="model",
            thresholds=("staleness.metrics_window", "staleness.metrics_for"),
            meaning="The quality computation is stuck: accuracy alerts would stay silent.",
            actions=("Check the sidecar logs for errors in the quality tracker.", "Restart the sidecar."),
        )
    )
    out.append(
        Alert(
            name="MlscopeSidecarComputeStale",
            expr=f'time() - max by (job, instance, model) '
                 f'(mlscope_last_compute_timestamp_seconds{{job="{sidecar}"}}) '
            f"> {g('staleness.compute_s')}",
            for_=g("staleness.compute_for"),
            severity="ticket",
            summary="The sidecar stopped computing drift and quality figures.",
            description="{{ $labels.job }} at {{ $labels.instance }} last computed figures of model "
            "{{ $labels.model }} {{ $value | humanizeDuration }} ago.",
            dashboard="model",
            thresholds=("staleness.compute_s", "staleness.compute_for"),
            meaning="The sidecar answers scrapes but its compute loop is stuck or failing.",
            actions=("Check the sidecar logs and `mlscope_internal_errors_total`.", "Restart the sidecar."),
        )
    )
    out.append(
        Alert(
            name="Watchdog",
            expr="vector(1)",
            for_="0s",
            severity="none",
            summary="Always firing: proves the alerting pipeline works end to end.",
            description="This alert always fires. If its receiver stops getting it, Prometheus, "
            "Alertmanager or the notification path is broken.",
            dashboard="service",
            var="",
            thresholds=(),
            meaning="A dead-man switch. It is routed to its own receiver (a heartbeat service) that "
            "raises the alarm when the notifications stop.",
            actions=(
                "Nothing to do while it fires.",
                "If the heartbeat service reports it missing, check Prometheus, Alertmanager and the "
                "receiver.",
            ),
        )
    )
    return out


def alert_group(cfg: Config) -> dict[str, Any]:
    """The one alerting group of prometheus/rules/mlscope-alerts.yml."""
    return {"name": "mlscope.alerts", "rules": [a.rule(cfg) for a in alerts(cfg)]}
