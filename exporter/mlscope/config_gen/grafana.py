"""Grafana provisioning and the three dashboards, built with grafana-foundation-sdk.

Dashboards: "Service" (RED, latency, SLO burn), "Model health" (drift, data quality,
outliers, accuracy, labels, root cause, text and embedding inputs) and "Resources" (host,
process, GPU). Each has
the variables datasource/job/instance/model, shows firing alerts as annotations and links
to the other two. Every query runs on ``${datasource}``, selects with the job/instance/
model variables, and reads counters only through ``rate``/``increase`` over
``$__rate_interval`` (which Grafana derives from the datasource's ``timeInterval``, set
to the scrape interval here). Uids and panel ids are fixed so links from alerts stay valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from mlscope import catalogue
from mlscope.config_gen import rules
from mlscope.config_gen.alerts import DASHBOARDS
from mlscope.config_gen.config import Config
from mlscope.engine import derived, embedding, text

# The SDK types the enums as StrEnum (3.11); mypy runs for 3.10 and sees a str.
_LINK: Any = DashboardLinkType.LINK
_ABSOLUTE: Any = ThresholdsMode.ABSOLUTE

DATASOURCE_UID = "mlscope-prometheus"
SCHEMA_VERSION = 39
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")

HTTP = catalogue.HTTP_REQUEST_DURATION
JI = 'job=~"$job", instance=~"$instance"'
JIM = f'{JI}, model=~"$model"'


@dataclass(frozen=True)
class Q:
    """One panel query: PromQL, legend, and whether it is a table/heatmap/instant query."""

    expr: str
    legend: str = ""
    instant: bool = False
    fmt: str = ""


def _target(q: Q, ref: str) -> Any:
    t = prom.Dataquery().expr(" ".join(q.expr.split())).ref_id(ref).datasource(DS)
    if q.legend:
        t = t.legend_format(q.legend)
    if q.instant:
        t = t.instant()
    else:
        t = t.range()
    if q.fmt == "table":
        t = t.format(PromQueryFormat.TABLE)
    elif q.fmt == "heatmap":
        t = t.format(PromQueryFormat.HEATMAP)
    return t


_KINDS: dict[str, Any] = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "table": table.Panel,
    "heatmap": heatmap.Panel,
    "state-timeline": statetimeline.Panel,
}


def _panel(
    kind: str, title: str, description: str, unit: str, queries: list[Q], w: int = 12, h: int = 8
) -> Any:
    p = _KINDS[kind]().title(title).description(description).unit(unit).datasource(DS).span(w).height(h)
    for i, q in enumerate(queries):
        p = p.with_target(_target(q, chr(ord("A") + i)))
    return p


def _variables(b: db.Dashboard, model_metric: str) -> db.Dashboard:
    b = b.with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    for name, query, label in (
        ("job", "label_values(up, job)", "Job"),
        ("instance", 'label_values(up{job=~"$job"}, instance)', "Instance"),
        ("model", f'label_values({model_metric}{{job=~"$job"}}, model)', "Model"),
    ):
        b = b.with_variable(
            db.QueryVariable(name)
            .label(label)
            .datasource(DS)
            .query(query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    return b


def _dashboard(
    cfg: Config,
    key: str,
    title: str,
    description: str,
    rows: list[tuple[str, list[Any]]],
    extra_vars: tuple[Any, ...] = (),
) -> dict[str, Any]:
    uid, _slug = DASHBOARDS[key]
    b = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["mlscope"])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .editable()
    )
    b = _variables(b, "mlscope_rows_total")
    for v in extra_vars:
        b = b.with_variable(v)
    b = b.annotation(
        db.AnnotationQuery()
        .name("Firing alerts")
        .datasource(DS)
        .enable(True)
        .icon_color("red")
        .expr('ALERTS{alertstate="firing", alertname!="Watchdog", job=~"$job"}')
    )
    # The SDK types the enum as StrEnum (3.11); mypy runs for 3.10 and sees a str.
    link_type: Any = DashboardLinkType.DASHBOARDS
    b = b.link(
        db.DashboardLink("mlscope")
        .type(link_type)
        .tags(["mlscope"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )
    for row_title, panels in rows:
        b = b.with_row(db.Row(row_title))
        for p in panels:
            b = b.with_panel(p)
    built = b.build()
    built.schema_version = SCHEMA_VERSION
    data: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    # Stable panel ids in layout order (rows included): links to a panel keep working.
    for i, panel in enumerate(data["panels"], start=1):
        panel["id"] = i
        if panel.get("options") is None and panel["type"] != "row":
            panel["options"] = {}
    data["id"] = None
    return data


RI = "[$__rate_interval]"
WIN = 'window="$window"'


def _series(title: str, description: str, unit: str, *queries: Q, w: int = 12, h: int = 8) -> Any:
    return _panel("timeseries", title, description, unit, list(queries), w, h)


def _ranked(title: str, description: str, unit: str, expr: str) -> Any:
    """A table of the current values, largest first (an instant query)."""
    return _panel("table", title, description, unit, [Q(f"sort_desc({expr})", instant=True, fmt="table")])


def _colors(*steps: tuple[float | None, str]) -> Any:
    """Absolute thresholds: each (from value, colour); the first starts at -inf (None)."""
    return (
        db.ThresholdsConfig()
        .mode(_ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def _service_traffic(cfg: Config, cnt: str, err: str, ok: str) -> list[Any]:
    # A count has no good or bad value: one neutral colour (Grafana's default turns red at 80).
    neutral = _colors((None, "blue"))

    def stat(title: str, description: str, unit: str, q: Q, colors: Any = neutral) -> Any:
        return _panel("stat", title, description, unit, [q], w=6, h=4).thresholds(colors)

    return [
        _series("Request rate", "Requests per second by route template.", "reqps",
                Q(f"sum by (http_route) (rate({cnt}{RI}))", "{{http_route}}")),
        _series("Error ratio (5xx)", "Share of requests answered with a 5xx status, by route.", "percentunit",
                Q(f"sum by (http_route) (rate({err}{RI})) / sum by (http_route) (rate({cnt}{RI}))",
                  "{{http_route}}")),
        stat("2xx ratio", "Share of requests answered with a 2xx status over the range; green from the "
             "availability objective.", "percentunit", Q(f"sum(rate({ok}{RI})) / sum(rate({cnt}{RI}))"),
             _colors((None, "red"), (cfg.slo_target, "green"))),
        stat("Requests, last hour", "Requests served in the last hour (recording rule).", "short",
             Q(f'sum({rules.requests_increase_rule("1h")}{{job=~"$job"}})', instant=True)),
        stat("Requests, last day", "Requests served in the last 24 hours (recording rule).", "short",
             Q(f'sum({rules.requests_increase_rule("1d")}{{job=~"$job"}})', instant=True)),
        stat("In flight", "Requests being handled right now.", "short",
             Q(f"sum(http_server_active_requests{{{JI}}})")),
    ]


def _service_latency(bucket: str) -> list[Any]:
    return [
        _series("Latency percentiles", "p50, p90 and p99 of request duration over all routes.", "s",
                *(Q(f"histogram_quantile({q}, sum by (le) (rate({bucket}{RI})))", f"p{int(q * 100)}")
                  for q in (0.5, 0.9, 0.99))),
        _panel("heatmap", "Latency distribution", "Requests per duration bucket over time.", "s",
               [Q(f"sum by (le) (increase({bucket}{RI}))", "{{le}}", fmt="heatmap")]),
        _series("p99 by route", "p99 request duration per route template.", "s",
                Q(f"histogram_quantile(0.99, sum by (http_route, le) (rate({bucket}{RI})))",
                  "{{http_route}}")),
        _series("Active requests by method", "Requests in flight per HTTP method.", "short",
                Q(f"sum by (http_request_method) (http_server_active_requests{{{JI}}})",
                  "{{http_request_method}}")),
    ]


def _service_slo(cfg: Config) -> list[Any]:
    budget = 1.0 - cfg.slo_target
    pages = " and ".join(f"{t.rate:g} ({t.long_window})" for t in cfg.burn_tiers() if t.severity == "page")
    description = (f"Error ratio divided by the budget (1 - {cfg.slo_target:g}): 1 spends the budget exactly "
                   f"over the SLO period; the page alerts fire at {pages}.")
    queries = [Q(f'{rules.slo_error_ratio_rule(w)}{{job=~"$job"}} / {budget:.6g}', w)
               for w in ("5m", "1h", "6h", "1d")]
    return [_series("Error budget burn rate", description, "short", *queries, w=24)]


def service(cfg: Config) -> dict[str, Any]:
    cnt = f"{HTTP}_count{{{JI}}}"
    err = f'{HTTP}_count{{{JI}, http_response_status_code=~"5.."}}'
    ok = f'{HTTP}_count{{{JI}, http_response_status_code=~"2.."}}'
    rows = [
        ("Traffic", _service_traffic(cfg, cnt, err, ok)),
        ("Latency", _service_latency(f"{HTTP}_bucket{{{JI}}}")),
        ("SLO", _service_slo(cfg)),
    ]
    description = "Request rate, errors and duration of the serving app (RED), its SLO burn and volume."
    return _dashboard(cfg, "service", "mlscope / Service", description, rows)


def _model_drift(cfg: Config) -> list[Any]:
    fw = str(cfg.get("drift.fleet_window"))
    # Distances in [0, 1] only (one scale per metric): PSI is on the fleet panel.
    drift = f"max by (model, feature, method) (mlscope_feature_drift_distance{{{JIM}, {WIN}}})"
    rows_link = (
        db.DashboardLink("The rows behind this drift").type(_LINK)
        .url(f"{cfg.get('samples_base_url')}/v1/samples?model=${{__data.fields.model}}"
             "&feature=${__data.fields.feature}&window=$window")
        .target_blank(True)
    )
    return [
        _series("Feature drift distance", "Drift distance in [0, 1] of each feature in the window, per "
                "method (Jensen-Shannon, Hellinger, KS).", "short",
                Q(drift, "{{model}} {{feature}} {{method}}")),
        _ranked("Features ranked by drift", "Features flagged or closest to their threshold first. Click a "
                "row for the recent rows behind it (the sidecar's GET /v1/samples).", "short", drift
                ).data_links([rows_link]),
        _series("Dataset drift share", "Share of a model's features flagged as drifted.", "percentunit",
                Q(f"max by (model) (mlscope_dataset_drift_share_ratio{{{JIM}, {WIN}}})", "{{model}}")),
        _series(f"Fleet PSI and Jensen-Shannon ({fw})",
                "Drift per feature over all replicas, computed in PromQL from the bin counters.", "short",
                Q(f'{rules.fleet_psi_rule(cfg)}{{model=~"$model"}}', "PSI {{model}} {{feature}}"),
                Q(f'{rules.fleet_jensenshannon_rule(cfg)}{{model=~"$model"}}', "JS {{model}} {{feature}}")),
        _series("Prediction distribution", "Predictions per second by output bin (stacked).", "short",
                Q(f"sum by (model, output, bin) (rate(mlscope_prediction_bin_total{{{JIM}}}{RI}))",
                  "{{model}} {{output}}={{bin}}")),
        _series("Prediction drift distance",
                "Drift distance in [0, 1] of each model output in the window, per method.",
                "short",
                Q(f"max by (model, output, method) "
                  f"(mlscope_prediction_drift_distance{{{JIM}, {WIN}}})",
                  "{{model}} {{output}} {{method}}")),
    ]


def _model_data_quality() -> list[Any]:
    def per_second(metric: str, by: str) -> str:
        return f"sum by ({by}) (rate({metric}{{{JIM}}}{RI}))"

    return [
        _series("Data-quality issues", "Input values with a problem per second, by feature and kind.",
                "short",
                Q(per_second("mlscope_data_quality_issues_total", "model, feature, issue"),
                  "{{model}} {{feature}} {{issue}}")),
        _series("Prediction data-quality issues",
                "Model outputs with a problem per second (missing, wrong type, outside the reference range, "
                "a class the reference never saw), by output and kind.", "short",
                Q(per_second("mlscope_prediction_data_quality_issues_total", "model, output, issue"),
                  "{{model}} {{output}} {{issue}}")),
        _series("Outlier share", "Share of rows whose outlier score is over the threshold.", "percentunit",
                Q(f"{per_second('mlscope_outliers_total', 'model')} "
                  f"/ {per_second('mlscope_rows_total', 'model')}", "{{model}}")),
        _series("Rows ingested", "Prediction rows per second reaching the engine.", "short",
                Q(per_second("mlscope_rows_total", "model"), "{{model}}")),
        _series("Events dropped", "Events dropped before the engine, by reason.", "short",
                Q(per_second("mlscope_events_dropped_total", "model, reason"), "{{model}} {{reason}}")),
    ]


def _model_quality(cfg: Config) -> list[Any]:
    accuracy = [
        Q(f'max by (model) (mlscope_model_quality_ratio{{{JIM}, metric="accuracy", {WIN}}})',
          "{{model}} accuracy"),
        Q(f'max by (model) (mlscope_model_estimated_quality_ratio{{{JIM}, metric="accuracy", {WIN}}})',
          "{{model}} estimated"),
        Q(f'max by (model) (mlscope_model_quality_reference_ratio{{{JIM}, metric="accuracy"}})',
          "{{model}} baseline"),
        Q(f'{rules.accuracy_rule(cfg)}{{model=~"$model"}}',
          f"{{{{model}}}} fleet ({cfg.get('quality.recording_window')})"),
    ]
    delay = [
        Q(f"histogram_quantile({q}, sum by (model, le) "
          f"(rate(mlscope_label_delay_seconds_bucket{{{JIM}}}{RI})))", f"{{{{model}}}} p{int(q * 100)}")
        for q in (0.5, 0.9)
    ]
    compute_age = Q(f"time() - max by (model) (mlscope_last_compute_timestamp_seconds{{{JIM}}})", "{{model}}")
    return [
        _series("Accuracy vs baseline", "Accuracy with labels, estimated accuracy without labels, and the "
                "validation baseline.", "percentunit", *accuracy, w=24),
        _series("Label delay", "Time from prediction to label, median and p90.", "s", *delay),
        _series("Labels by outcome", "Labels received per second, by outcome of the join.", "short",
                Q(f"sum by (model, outcome) (rate(mlscope_labels_total{{{JIM}}}{RI}))",
                  "{{model}} {{outcome}}")),
        _ranked("Root cause: drift contribution", "Each feature's share of the model's summed drift.",
                "percentunit",
                f"max by (model, feature) (mlscope_feature_drift_contribution_ratio{{{JIM}, {WIN}}})"),
        _ranked("Root cause: error attribution", "How much the error rate depends on each feature's bin.",
                "short", f"max by (model, feature) (mlscope_feature_error_attribution{{{JIM}, {WIN}}})"),
        _panel("stat", "Seconds since last compute", "Age of the sidecar's newest drift and quality figures.",
               "s", [compute_age], w=24, h=4),
    ]


def derived_matcher(kind: str, parts: tuple[str, ...] | None = None) -> str:
    """``feature=~"..."`` selecting the derived features of ``kind`` (all parts, or ``parts``).

    A derived feature is ``<raw>:<part>`` (:mod:`mlscope.engine.derived`); the part names
    come from the engine's modules, so a new descriptor shows without editing this.
    """
    every = {"text": "|".join(text.DESCRIPTORS), "embedding": "pc[0-9]+|" + "|".join(embedding.SCORES)}
    alternatives = "|".join(parts) if parts else every[kind]
    return f'feature=~"[^{derived.SEPARATOR}]+{derived.SEPARATOR}({alternatives})"'


def _bin_shares(feature: str, legend: str = "{{model}} {{feature}} {{bin}}") -> Q:
    """Share of the rows in each bin of the selected features (production, stacked to 1)."""
    counts = f"rate(mlscope_feature_bin_total{{{JIM}, {feature}}}{RI})"
    return Q(f"sum by (model, feature, bin) ({counts}) / ignoring (bin) group_left () "
             f"sum by (model, feature) ({counts})", legend)


def _model_derived_inputs() -> list[Any]:
    def distance(kind: str) -> Q:
        return Q(f"max by (model, feature, method) "
                 f"(mlscope_feature_drift_distance{{{JIM}, {WIN}, {derived_matcher(kind)}}})",
                 "{{model}} {{feature}} {{method}}")

    def issues(kind: str) -> Q:
        return Q(f"sum by (model, feature, issue) "
                 f"(rate(mlscope_data_quality_issues_total{{{JIM}, {derived_matcher(kind)}}}{RI}))",
                 "{{model}} {{feature}} {{issue}}")

    script = derived_matcher("text", ("script",))
    return [
        _series("Text descriptors: drift distance", "Drift distance in [0, 1] of each descriptor of each "
                "text input (feature <input>:<descriptor>) in the window, per method.", "short",
                distance("text")),
        _series("Text inputs: data-quality issues", "Descriptor values with a problem per second: "
                "out_of_range on length_chars or empty (longer, shorter or emptier texts than any in the "
                "reference), unseen_category on script, wrong_type (no string), missing.", "short",
                issues("text")),
        _series("Script mix", "Share of the texts per writing system (production, by script), beside the "
                "reference's share; a script the reference never had counts in its other bin.", "percentunit",
                _bin_shares(script),
                Q(f"max by (model, feature, bin) (mlscope_feature_reference_ratio{{{JIM}, {script}}})",
                  "{{model}} {{feature}} {{bin}} reference")),
        _series("Out-of-vocabulary share", "Share of the texts per bin of their out-of-vocabulary share "
                "(bins in increasing order, above: more unknown words than any reference text).",
                "percentunit", _bin_shares(derived_matcher("text", ("oov_share",)))),
        _series("Empty texts", "Share of the texts per bin of the empty descriptor (1 for an empty or "
                "blank text; with a reference without empty texts they land in the above bin).",
                "percentunit", _bin_shares(derived_matcher("text", ("empty",)))),
        _series("Embeddings: drift distance", "Drift distance in [0, 1] of each principal component (pcN) "
                "and score (distance from the reference mean, residual outside the components, norm) of "
                "each embedding input, per method.", "short", distance("embedding")),
        _series("Embedding distance from the reference", "Share of the rows per bin of the whitened "
                "distance from the reference mean (bins in increasing order).", "percentunit",
                _bin_shares(derived_matcher("embedding", ("distance",)))),
    ]


def model_health(cfg: Config) -> dict[str, Any]:
    # The windows the sidecar computes; the one the drift alerts watch is selected.
    windows = ",".join(w["duration"] for w in cfg.get("windows"))
    window_var = (
        db.CustomVariable("window").label("Window").values(windows).current(_option(cfg.get("drift.window")))
    )
    rows = [
        ("Drift", _model_drift(cfg)),
        ("Data quality and outliers", _model_data_quality()),
        ("Model quality", _model_quality(cfg)),
        ("Text and embedding inputs", _model_derived_inputs()),
    ]
    return _dashboard(cfg, "model", "mlscope / Model health",
                      "Drift, data quality, outliers and model quality of the monitored models.", rows,
                      extra_vars=(window_var,))


def _option(value: str) -> Any:
    from grafana_foundation_sdk.models.dashboard import VariableOption

    return VariableOption(selected=True, text=value, value=value)


def _resources_host() -> list[Any]:
    def host(metric: str, legend: str = "{{instance}}", by: str = "instance") -> Q:
        return Q(f"max by ({by}) ({metric}{{{JI}}})", legend)

    def rate(metric: str, legend: str, by: str = "instance") -> Q:
        return Q(f"sum by ({by}) (rate({metric}{{{JI}}}{RI}))", legend)

    return [
        _series("Host CPU utilisation", "Share of host CPU time not idle.", "percentunit",
                host("mlscope_host_cpu_utilization_ratio")),
        _series("Host memory", "Memory in use and available.", "bytes",
                host("mlscope_host_memory_used_bytes", "{{instance}} used"),
                host("mlscope_host_memory_available_bytes", "{{instance}} available")),
        _series("Serving process CPU", "CPU seconds per second of the watched process (cores).", "short",
                rate("mlscope_process_cpu_seconds_total", "{{instance}} {{process}}", "instance, process")),
        _series("Serving process memory", "Resident memory of the watched process.", "bytes",
                host("mlscope_process_resident_memory_bytes", "{{instance}} {{process}}",
                     "instance, process")),
        _series("Load average", "Host load average by period.", "short",
                host("mlscope_host_load_average", "{{instance}} {{period}}", "instance, period")),
        _series("Disk and network", "Bytes per second read, written, received and sent.", "Bps",
                rate("mlscope_host_disk_read_bytes_total", "{{instance}} disk read"),
                rate("mlscope_host_disk_written_bytes_total", "{{instance}} disk write"),
                rate("mlscope_host_network_receive_bytes_total", "{{instance}} rx"),
                rate("mlscope_host_network_transmit_bytes_total", "{{instance}} tx")),
    ]


def _resources_gpu() -> list[Any]:
    by_dev = "instance, gpu, modelName"  # dcgm-exporter's label names

    def dev(metric: str) -> str:
        return f"max by ({by_dev}) ({metric}{{{JI}}})"

    legend = "{{instance}} GPU {{gpu}}"
    return [
        _series("GPU utilisation", "Share of time a kernel ran, per device.", "percentunit",
                Q(dev("mlscope_gpu_utilization_ratio"), legend)),
        _series("GPU memory used", "Framebuffer memory in use as a share of the total, per device.",
                "percentunit",
                Q(f"{dev('mlscope_gpu_memory_used_bytes')} / {dev('mlscope_gpu_memory_total_bytes')}",
                  legend)),
        _series("GPU temperature", "Core temperature per device.", "celsius",
                Q(dev("mlscope_gpu_temperature_celsius"), legend)),
        _series("GPU power", "Power draw and limit per device.", "watt",
                Q(dev("mlscope_gpu_power_watts"), f"{legend} draw"),
                Q(dev("mlscope_gpu_power_limit_watts"), f"{legend} limit")),
        _panel("state-timeline", "GPU clock events", "1 while the clocks are held down, by reason.", "short",
               [Q(f"max by (instance, gpu, reason) (mlscope_gpu_clock_event_reason_active{{{JI}}})",
                  f"{legend} {{{{reason}}}}")]),
        _series("GPU hardware errors", "XID errors by code and rows remapped after uncorrectable errors, "
                "per device (points where they happened).", "short",
                Q("sum by (instance, gpu, xid) (increase(mlscope_gpu_xid_errors_total"
                  f"{{{JI}}}[$__rate_interval])) > 0", f"{legend} XID {{{{xid}}}}"),
                Q("sum by (instance, gpu) (increase(mlscope_gpu_remapped_rows_total"
                  f'{{{JI}, type="uncorrectable"}}[$__rate_interval])) > 0', f"{legend} remapped rows")),
        _panel("stat", "GPUs visible", "NVIDIA GPUs visible through NVML (0: no GPU or no driver).", "short",
               [Q(f"sum(mlscope_gpu_devices{{{JI}}})")]),
    ]


def resources(cfg: Config) -> dict[str, Any]:
    rows = [("Host and process", _resources_host()), ("GPU", _resources_gpu())]
    return _dashboard(cfg, "resources", "mlscope / Resources",
                      "Host, serving process and GPU resources beside the model.", rows)

def dashboards(cfg: Config) -> dict[str, dict[str, Any]]:
    """grafana/dashboards/<uid>.json -> dashboard model."""
    out = {}
    for build in (service, model_health, resources):
        d = build(cfg)
        out[f"grafana/dashboards/{d['uid']}.json"] = d
    return out


def provisioning(cfg: Config) -> dict[str, dict[str, Any]]:
    """The datasource (fixed uid, timeInterval = scrape interval) and the dashboard provider."""
    return {
        "grafana/provisioning/datasources/prometheus.yml": {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Prometheus",
                    "type": "prometheus",
                    "uid": DATASOURCE_UID,
                    "access": "proxy",
                    "url": cfg.get("grafana_datasource_url"),
                    "isDefault": True,
                    "editable": False,
                    # $__rate_interval is max(4 x timeInterval, step): with timeInterval equal to
                    # the scrape interval every rate() window holds at least four samples.
                    "jsonData": {"timeInterval": cfg.get("scrape_interval"), "httpMethod": "POST"},
                }
            ],
        },
        "grafana/provisioning/dashboards/mlscope.yml": {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "mlscope",
                    "folder": "mlscope",
                    "type": "file",
                    "disableDeletion": False,
                    "allowUiUpdates": False,
                    "updateIntervalSeconds": 30,
                    # docker compose mounts grafana/dashboards here.
                    "options": {"path": "/var/lib/grafana/dashboards", "foldersFromFilesStructure": False},
                }
            ],
        },
    }
