"""The catalogue of every metric mlscope exposes: the single source of truth.

Each entry gives the name as it appears in the Prometheus exposition (counters with
their ``_total``), the type, the label names, the unit and one plain help sentence.
Code that creates a metric looks its spec up here (:func:`spec`), ``docs/metrics.md`` is
generated from it (``python -m mlscope.catalogue > docs/metrics.md``, checked by a test),
and the dashboard and rule checks refuse any metric name that is not listed.

Why one table: names drift apart between code, rules, dashboards and docs unless one
place owns them. A metric that is not here does not exist.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

from mlscope.misconfigurations import HOLD_S, KINDS

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric family as exposed to Prometheus."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    component: str = ""
    dcgm: str = ""  # the dcgm-exporter equivalent, for GPU metrics

    @property
    def base_name(self) -> str:
        """Name as given to prometheus_client (counters without ``_total``)."""
        if self.type == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        if self.type == "info" and self.name.endswith("_info"):
            return self.name[: -len("_info")]
        return self.name

    @property
    def series_names(self) -> tuple[str, ...]:
        """Every sample name this family can produce in the exposition."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        # No "_created": mlscope's exposition leaves it out (mlscope._scrape_format).
        return (self.name,)


#: The HTTP request histogram: rules, alerts and dashboards name it through this constant.
HTTP_REQUEST_DURATION = "http_server_request_duration_seconds"

# OTel's attributes of http.server.request.duration and the body sizes: required method
# and scheme, conditional status, route and error type, recommended protocol version.
_HTTP = ("http_request_method", "http_route", "http_response_status_code", "error_type", "url_scheme",
         "network_protocol_version")
_M = ("model",)
# dcgm-exporter's device labels, spelled as it spells them, so GPU dashboards and alerts
# written for dcgm-exporter join mlscope's GPU series.
_GPU = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname")

METRICS: tuple[MetricSpec, ...] = (
    # --- HTTP server (OpenTelemetry HTTP semantic conventions, Prometheus rendering) ---
    MetricSpec(
        HTTP_REQUEST_DURATION, "histogram",
        "Duration of HTTP server requests, from the first byte received to the last byte sent.",
        _HTTP, "seconds", "middleware",
    ),
    MetricSpec(
        "http_server_active_requests", "gauge",
        "Number of HTTP server requests currently being handled.",
        ("http_request_method", "url_scheme"), "", "middleware",
    ),
    MetricSpec(
        "http_server_request_body_size_bytes", "histogram",
        "Size of HTTP server request bodies.",
        _HTTP, "bytes", "middleware",
    ),
    MetricSpec(
        "http_server_response_body_size_bytes", "histogram",
        "Size of HTTP server response bodies.",
        _HTTP, "bytes", "middleware",
    ),
    MetricSpec(
        "mlscope_http_server_time_to_first_byte_seconds", "histogram",
        "Time from the start of an HTTP request to the first byte of its response body (not an OTel metric).",
        _HTTP, "seconds", "middleware",
    ),
    MetricSpec(
        "mlscope_internal_errors_total", "counter",
        "Errors inside mlscope's own code that were contained instead of reaching the app.",
        ("component",), "", "all",
    ),
    MetricSpec(
        "mlscope_build_info", "gauge",
        "Always 1; labels give the mlscope and Python versions.",
        ("version", "python_version"), "", "all",
    ),
    MetricSpec(
        "mlscope_cardinality_overflow_total", "counter",
        "Values folded into an overflow bucket because a cardinality cap was reached.",
        ("kind",), "", "all",
    ),
    MetricSpec(
        "mlscope_misconfiguration", "gauge",
        f"1 while a misconfiguration of a model was seen in the last {HOLD_S / 60:g} minutes, else 0;"
        " kind is one of " + ", ".join(KINDS) + " (the WARNING log line of the kind says what to do).",
        (*_M, "kind"), "", "all",
    ),
    # --- Monitor (in the serving app) ---
    MetricSpec(
        "mlscope_events_logged_total", "counter",
        "Prediction events accepted by Monitor.log into its buffer.",
        _M, "", "monitor",
    ),
    MetricSpec(
        "mlscope_events_dropped_total", "counter",
        "Prediction or label events dropped before reaching the engine, by reason.",
        (*_M, "reason"), "", "monitor",
    ),
    MetricSpec(
        "mlscope_events_shipped_total", "counter",
        "Prediction events delivered to the sidecar or the local engine.",
        _M, "", "monitor",
    ),
    MetricSpec(
        "mlscope_monitor_buffer_events", "gauge",
        "Events waiting in the Monitor's bounded buffer.",
        _M, "", "monitor",
    ),
    # --- Sidecar ingest ---
    MetricSpec(
        "mlscope_ingest_events_total", "counter",
        "Events accepted by the sidecar for a model.",
        _M, "", "sidecar",
    ),
    MetricSpec(
        "mlscope_ingest_rejected_total", "counter",
        "Records or requests rejected by the sidecar, by reason.",
        ("reason",), "", "sidecar",
    ),
    MetricSpec(
        "mlscope_ingest_batch_size_events", "histogram",
        "Number of events per accepted ingest request.",
        _M, "", "sidecar",
    ),
    MetricSpec(
        "mlscope_auth_failures_total", "counter",
        "Requests refused for missing or wrong credentials, by endpoint.",
        ("endpoint",), "", "sidecar",
    ),
    MetricSpec(
        "mlscope_last_event_timestamp_seconds", "gauge",
        "Unix time of the newest event ingested for a model.",
        _M, "seconds", "sidecar",
    ),
    MetricSpec(
        "mlscope_last_compute_timestamp_seconds", "gauge",
        "Unix time the drift and quality figures of a model were last computed.",
        _M, "seconds", "sidecar",
    ),
    MetricSpec(
        "mlscope_profile_info", "gauge",
        "Always 1; labels identify the reference profile loaded for a model.",
        (*_M, "profile_version", "profile_hash"), "", "sidecar",
    ),
    MetricSpec(
        "mlscope_snapshot_errors_total", "counter",
        "Failed attempts to write the window snapshot to disk.",
        (), "", "sidecar",
    ),
    # --- Engine: binned distributions (mergeable across replicas) ---
    MetricSpec(
        "mlscope_rows_total", "counter",
        "Rows (predictions with their features) ingested by the engine.",
        _M, "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_bin_total", "counter",
        "Production values of a feature counted per reference bin.",
        (*_M, "feature", "bin"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_reference_ratio", "gauge",
        "Share of reference rows that fall in each bin of a feature.",
        (*_M, "feature", "bin"), "ratio", "engine",
    ),
    MetricSpec(
        "mlscope_feature_reference_rows", "gauge",
        "Reference rows counted in the bins of a feature (the denominator of its reference ratio).",
        (*_M, "feature"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_bin_total", "counter",
        "Production predictions counted per reference bin of a model output.",
        (*_M, "output", "bin"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_reference_ratio", "gauge",
        "Share of reference predictions that fall in each bin of a model output.",
        (*_M, "output", "bin"), "ratio", "engine",
    ),
    # --- Engine: drift ---
    MetricSpec(
        "mlscope_feature_drift_distance", "gauge",
        "Distance in [0, 1] of a feature's window distribution from the reference, per method "
        "(jensenshannon, hellinger, ks).",
        (*_M, "feature", "method", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_drift_psi", "gauge",
        "Population stability index of a feature's window distribution against the reference (>= 0).",
        (*_M, "feature", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_drift_wasserstein_normed", "gauge",
        "Wasserstein-1 distance of a feature's window distribution from the reference, in "
        "reference standard deviations (numeric columns).",
        (*_M, "feature", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_drift_chisquare_statistic", "gauge",
        "Pearson chi-square statistic of a feature's window counts against the reference shares "
        "(grows with the window's rows; its verdict is in the p-value).",
        (*_M, "feature", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_drift_p_value", "gauge",
        "p-value of the drift test of a feature (where the method defines one).",
        (*_M, "feature", "method", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_drift_threshold", "gauge",
        "Score above which the default method flags a feature as drifted.",
        (*_M, "feature", "method"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_drift_detected", "gauge",
        "1 when the feature is flagged as drifted in the window, else 0.",
        (*_M, "feature", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_dataset_drift_share_ratio", "gauge",
        "Share of features flagged as drifted in the window.",
        (*_M, "window"), "ratio", "engine",
    ),
    MetricSpec(
        "mlscope_dataset_drift_detected", "gauge",
        "1 when the dataset as a whole is flagged as drifted in the window, else 0.",
        (*_M, "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_drift_distance", "gauge",
        "Distance in [0, 1] of a model output's window distribution from the reference, per method "
        "(jensenshannon, hellinger, ks).",
        (*_M, "output", "method", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_drift_psi", "gauge",
        "Population stability index of a model output's window distribution against the reference (>= 0).",
        (*_M, "output", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_drift_wasserstein_normed", "gauge",
        "Wasserstein-1 distance of a model output's window distribution from the reference, in "
        "reference standard deviations (numeric columns).",
        (*_M, "output", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_drift_chisquare_statistic", "gauge",
        "Pearson chi-square statistic of a model output's window counts against the reference shares "
        "(grows with the window's rows; its verdict is in the p-value).",
        (*_M, "output", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_drift_p_value", "gauge",
        "p-value of the drift test of a model output (where the method defines one).",
        (*_M, "output", "method", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_drift_detected", "gauge",
        "1 when a model output is flagged as drifted in the window, else 0.",
        (*_M, "output", "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_window_rows", "gauge",
        "Rows currently held in a drift window.",
        (*_M, "window"), "", "engine",
    ),
    MetricSpec(
        "mlscope_feature_drift_contribution_ratio", "gauge",
        "A feature's share of the summed drift scores of the model in the window.",
        (*_M, "feature", "window"), "ratio", "engine",
    ),
    # --- Engine: data quality ---
    MetricSpec(
        "mlscope_data_quality_issues_total", "counter",
        "Input values with a data-quality problem, by feature and kind of problem.",
        (*_M, "feature", "issue"), "", "engine",
    ),
    MetricSpec(
        "mlscope_prediction_data_quality_issues_total", "counter",
        "Model outputs (prediction, class scores) with a data-quality problem: missing, NaN, wrong "
        "type, outside the reference range or a class the reference never saw. An output the "
        "caller does not log counts nothing.",
        (*_M, "output", "issue"), "", "engine",
    ),
    MetricSpec(
        "mlscope_schema_unexpected_features_total", "counter",
        "Input values under feature names the reference profile does not know.",
        _M, "", "engine",
    ),
    # --- Engine: outliers ---
    MetricSpec(
        "mlscope_outlier_score", "histogram",
        "Per-row outlier score against the reference profile.",
        _M, "", "engine",
    ),
    MetricSpec(
        "mlscope_outliers_total", "counter",
        "Rows whose outlier score is above the documented threshold.",
        _M, "", "engine",
    ),
    # --- Model quality with delayed labels ---
    MetricSpec(
        "mlscope_labels_total", "counter",
        "Ground-truth labels received, by outcome of the join with predictions.",
        (*_M, "outcome"), "", "quality",
    ),
    MetricSpec(
        "mlscope_label_delay_seconds", "histogram",
        "Time from a prediction to the arrival of its ground-truth label.",
        _M, "seconds", "quality",
    ),
    MetricSpec(
        "mlscope_pending_predictions", "gauge",
        "Predictions held in the label-join store waiting for their label.",
        _M, "", "quality",
    ),
    MetricSpec(
        "mlscope_last_label_timestamp_seconds", "gauge",
        "Unix time the newest ground-truth label was joined for a model.",
        _M, "seconds", "quality",
    ),
    MetricSpec(
        "mlscope_classification_outcomes_total", "counter",
        "Labelled predictions counted by actual and predicted class (a confusion matrix).",
        (*_M, "actual", "predicted"), "", "quality",
    ),
    MetricSpec(
        "mlscope_model_quality_ratio", "gauge",
        "A dimensionless model quality figure (accuracy, f1_macro, roc_auc, calibration_error,"
        " mape, r2, ...) in a window.",
        (*_M, "metric", "window"), "ratio", "quality",
    ),
    MetricSpec(
        "mlscope_regression_error", "gauge",
        "A regression error figure in the target's units (mae, rmse, mean_error) in a window.",
        (*_M, "metric", "window"), "", "quality",
    ),
    MetricSpec(
        "mlscope_classification_log_loss", "gauge",
        "Mean log loss (cross-entropy, nats) of a classifier's scores in a window.",
        (*_M, "window"), "", "quality",
    ),
    MetricSpec(
        "mlscope_model_quality_reference_ratio", "gauge",
        "The same dimensionless quality figure measured on the validation set at profile time.",
        (*_M, "metric"), "ratio", "quality",
    ),
    MetricSpec(
        "mlscope_regression_error_reference", "gauge",
        "The same regression error (target's units) measured on the validation set at profile time.",
        (*_M, "metric"), "", "quality",
    ),
    MetricSpec(
        "mlscope_classification_log_loss_reference", "gauge",
        "The log loss (nats) measured on the validation set at profile time.",
        _M, "", "quality",
    ),
    MetricSpec(
        "mlscope_model_estimated_predictions_total", "counter",
        "Classifier predictions with a confidence (the denominator of the estimated accuracy's rate).",
        _M, "", "quality",
    ),
    MetricSpec(
        "mlscope_model_estimated_correct_total", "counter",
        "Expected right predictions among them: each prediction's calibrated confidence, as of its "
        "arrival. Its rate over that of mlscope_model_estimated_predictions_total is the estimated "
        "accuracy of a short window, without labels.",
        _M, "", "quality",
    ),
    MetricSpec(
        "mlscope_model_estimated_quality_ratio", "gauge",
        "Quality (accuracy) estimated without labels from calibrated confidence, in a window.",
        (*_M, "metric", "window"), "ratio", "quality",
    ),
    MetricSpec(
        "mlscope_regression_absolute_residual", "histogram",
        "Absolute residuals (size of prediction minus label) of a regression model, in the target's"
        " units; buckets are multiples of the reference MAE, _sum / _count is the MAE.",
        _M, "", "quality",
    ),
    MetricSpec(
        "mlscope_regression_residual_total", "counter",
        "Residuals of a regression model summed by sign, in the target's units: direction=over"
        " (prediction above the label) or under (their size); (over - under) / count is the mean bias.",
        (*_M, "direction"), "", "quality",
    ),
    MetricSpec(
        "mlscope_feature_error_attribution", "gauge",
        "How much a model's error rate depends on a feature's bin (higher = more responsible).",
        (*_M, "feature", "window"), "", "quality",
    ),
    MetricSpec(
        "mlscope_quality_labelled_rows", "gauge",
        "Labelled predictions behind the quality figures of a window (by prediction time).",
        (*_M, "window"), "", "quality",
    ),
    MetricSpec(
        "mlscope_label_store_evictions_total", "counter",
        "Predictions dropped from the label-join store before their label came, by reason.",
        (*_M, "reason"), "", "quality",
    ),
    # --- Host and process (psutil) ---
    MetricSpec(
        "mlscope_host_cpu_utilization_ratio", "gauge",
        "Share of host CPU time spent not idle since the previous scrape.",
        (), "ratio", "system",
    ),
    MetricSpec(
        "mlscope_host_logical_cpus", "gauge",
        "Logical CPUs of the host.", (), "", "system",
    ),
    MetricSpec(
        "mlscope_host_load_average", "gauge",
        "Host load average over 1, 5 or 15 minutes.",
        ("period",), "", "system",
    ),
    MetricSpec(
        "mlscope_host_memory_total_bytes", "gauge",
        "Total physical memory of the host.", (), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_host_memory_available_bytes", "gauge",
        "Memory available to new processes without swapping.", (), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_host_memory_used_bytes", "gauge",
        "Memory in use on the host (total minus available).", (), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_host_disk_read_bytes_total", "counter",
        "Bytes read from all disks of the host.", (), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_host_disk_written_bytes_total", "counter",
        "Bytes written to all disks of the host.", (), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_host_network_receive_bytes_total", "counter",
        "Bytes received on all network interfaces of the host.", (), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_host_network_transmit_bytes_total", "counter",
        "Bytes sent on all network interfaces of the host.", (), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_process_cpu_seconds_total", "counter",
        "CPU time used by the watched serving process.",
        ("process",), "seconds", "system",
    ),
    MetricSpec(
        "mlscope_process_resident_memory_bytes", "gauge",
        "Resident memory of the watched serving process.",
        ("process",), "bytes", "system",
    ),
    MetricSpec(
        "mlscope_process_threads", "gauge",
        "Threads of the watched serving process.", ("process",), "", "system",
    ),
    MetricSpec(
        "mlscope_process_open_fds", "gauge",
        "Open file descriptors of the watched serving process.", ("process",), "", "system",
    ),
    # --- GPU (NVML) ---
    MetricSpec(
        "mlscope_gpu_devices", "gauge",
        "NVIDIA GPUs visible through NVML (0 when there is no GPU or no driver).",
        (), "", "gpu",
    ),
    MetricSpec(
        "mlscope_gpu_utilization_ratio", "gauge",
        "Share of time over the last sample period a kernel ran on the GPU.",
        _GPU, "ratio", "gpu", "DCGM_FI_DEV_GPU_UTIL (percent)",
    ),
    MetricSpec(
        "mlscope_gpu_memory_used_bytes", "gauge",
        "GPU framebuffer memory in use.",
        _GPU, "bytes", "gpu", "DCGM_FI_DEV_FB_USED (MiB)",
    ),
    MetricSpec(
        "mlscope_gpu_memory_total_bytes", "gauge",
        "GPU framebuffer memory in total.",
        _GPU, "bytes", "gpu", "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE (MiB)",
    ),
    MetricSpec(
        "mlscope_gpu_temperature_celsius", "gauge",
        "GPU core temperature.",
        _GPU, "celsius", "gpu", "DCGM_FI_DEV_GPU_TEMP",
    ),
    MetricSpec(
        "mlscope_gpu_memory_temperature_celsius", "gauge",
        "GPU memory (HBM) temperature, where the GPU reports one.",
        _GPU, "celsius", "gpu", "DCGM_FI_DEV_MEMORY_TEMP",
    ),
    MetricSpec(
        "mlscope_gpu_power_watts", "gauge",
        "GPU power draw.",
        _GPU, "watts", "gpu", "DCGM_FI_DEV_POWER_USAGE",
    ),
    MetricSpec(
        "mlscope_gpu_power_limit_watts", "gauge",
        "GPU power management limit.",
        _GPU, "watts", "gpu", "DCGM_FI_DEV_POWER_MGMT_LIMIT",
    ),
    MetricSpec(
        "mlscope_gpu_energy_joules_total", "counter",
        "Energy the GPU consumed since the driver loaded.",
        _GPU, "joules", "gpu", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION (mJ)",
    ),
    MetricSpec(
        "mlscope_gpu_sm_clock_hertz", "gauge",
        "GPU streaming-multiprocessor clock.",
        _GPU, "hertz", "gpu", "DCGM_FI_DEV_SM_CLOCK (MHz)",
    ),
    MetricSpec(
        "mlscope_gpu_clock_event_reason_active", "gauge",
        "1 when the GPU clocks are held down for the given clock event reason, else 0.",
        (*_GPU, "reason"), "", "gpu", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS (bitmask)",
    ),
    MetricSpec(
        "mlscope_gpu_ecc_errors_total", "counter",
        "ECC memory errors since the driver loaded, corrected or uncorrected.",
        (*_GPU, "type"), "", "gpu",
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL / DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    ),
    MetricSpec(
        "mlscope_gpu_xid_errors_total", "counter",
        "XID errors the driver reported for the GPU, by XID code (fatal codes exported from 0).",
        (*_GPU, "xid"), "", "gpu", "DCGM_FI_DEV_XID_ERRORS (the last XID code)",
    ),
    MetricSpec(
        "mlscope_gpu_remapped_rows_total", "counter",
        "GPU memory rows remapped over the GPU's life, by the kind of error behind the remap.",
        (*_GPU, "type"), "", "gpu",
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS / DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    ),
    MetricSpec(
        "mlscope_gpu_row_remap_pending", "gauge",
        "1 when a row remapping waits for a GPU reset, else 0.",
        _GPU, "", "gpu", "DCGM_FI_DEV_ROW_REMAP_PENDING",
    ),
    MetricSpec(
        "mlscope_gpu_row_remap_failed", "gauge",
        "1 when a row remapping ever failed on the GPU (it needs replacing), else 0.",
        _GPU, "", "gpu", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    ),
    MetricSpec(
        "mlscope_gpu_retired_pages_total", "counter",
        "GPU memory pages retired over the GPU's life, by cause (GPUs before Ampere).",
        (*_GPU, "cause"), "", "gpu", "DCGM_FI_DEV_RETIRED_SBE / DCGM_FI_DEV_RETIRED_DBE",
    ),
    MetricSpec(
        "mlscope_gpu_retired_pages_pending", "gauge",
        "1 when a page retirement waits for a GPU reset, else 0 (GPUs before Ampere).",
        _GPU, "", "gpu", "DCGM_FI_DEV_RETIRED_PENDING",
    ),
    MetricSpec(
        "mlscope_gpu_pcie_replays_total", "counter",
        "PCIe packets the GPU had to resend after a link error.",
        _GPU, "", "gpu", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    ),
    MetricSpec(
        "mlscope_gpu_nvlink_errors_total", "counter",
        "NVLink errors summed over the GPU's active links, by type (GPUs with NVLink).",
        (*_GPU, "type"), "", "gpu",
        "DCGM_FI_DEV_NVLINK_{REPLAY,RECOVERY,CRC_FLIT,CRC_DATA}_ERROR_COUNT_TOTAL",
    ),
    MetricSpec(
        "mlscope_gpu_process_memory_used_bytes", "gauge",
        "GPU memory used by the processes of one name (the largest few; the rest as other).",
        (*_GPU, "process"), "bytes", "gpu",
    ),
    MetricSpec(
        "mlscope_nvml_errors_total", "counter",
        "NVML calls that failed, by call.", ("call",), "", "gpu",
    ),
)

_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}


def spec(name: str) -> MetricSpec:
    """Return the catalogue entry for ``name`` (the exposition name, with ``_total``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not in mlscope.catalogue.METRICS") from None


def known_series_names() -> frozenset[str]:
    """Every sample name any catalogued family may produce (for query checks)."""
    out: set[str] = set()
    for m in METRICS:
        out.update(m.series_names)
    return frozenset(out)


def render_markdown() -> str:
    """Render the catalogue as the Markdown page ``docs/metrics.md``."""
    lines = [
        "# Metrics catalogue",
        "",
        "Generated from `exporter/mlscope/catalogue.py` by `python -m mlscope.catalogue`;"
        " do not edit by hand (a test fails when this page is stale).",
        "",
    ]
    components = sorted({m.component for m in METRICS})
    for comp in components:
        lines += [f"## {comp}", "", "| name | type | labels | unit | help |", "|---|---|---|---|---|"]
        for m in sorted((m for m in METRICS if m.component == comp), key=lambda m: m.name):
            labels = ", ".join(f"`{x}`" for x in m.labels) or "—"
            helptext = m.help + (f" dcgm-exporter: `{m.dcgm}`." if m.dcgm else "")
            lines.append(f"| `{m.name}` | {m.type} | {labels} | {m.unit or '—'} | {helptext} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - exercised through the docs staleness test
    sys.stdout.write(render_markdown())
