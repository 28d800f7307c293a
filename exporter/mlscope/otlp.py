"""Push the Prometheus metrics of a registry over OTLP (HTTP/protobuf or gRPC).

Design: a *producer* bridge. Every ``interval_s`` a background thread calls
``collect()`` on the prometheus_client registry (or collectors), turns each family into
the OpenTelemetry SDK's metric data model (``Sum``, ``Gauge``, ``Histogram`` points inside
``MetricsData``) and hands it to the SDK's own OTLP exporter, which does the encoding,
compression and retries. Why not observable instruments on a MeterProvider: the SDK has
no observable histogram, and re-aggregating values that prometheus_client has already
aggregated would lose the bucket layout and the counters' start (``_created``) times.
The values pushed are exactly the values ``/metrics`` shows at that moment.

Names: each family gets the name that Prometheus' OTLP translation (the collector's
``prometheus`` exporter, Prometheus' ``/api/v1/otlp`` receiver, both with unit and type
suffixes on) turns back into the Prometheus name:

* the unit suffix moves into the OTel unit (``_seconds`` -> ``s``, ``_bytes`` -> ``By``,
  ``_ratio`` -> ``1``, ``_celsius`` -> ``Cel``, ``_watts`` -> ``W``, ``_hertz`` -> ``Hz``);
* counters lose ``_total`` and become monotonic cumulative sums (the translation adds it back);
* HTTP server families take their OpenTelemetry semantic-convention names
  (``http_server_request_duration_seconds`` -> ``http.server.request.duration``, unit ``s``).

Temporality is cumulative only (that is what Prometheus counters are); summaries and
gauge histograms, which mlscope does not produce, are skipped with one log line.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from mlscope import catalogue
from mlscope._version import __version__
from mlscope.errors import ConfigError

log = logging.getLogger("mlscope.otlp")

Protocol_ = Literal["http/protobuf", "grpc"]
AttributeValue = str | bool | int | float | Sequence[str]

# Prometheus unit word -> UCUM unit, as Prometheus' OTLP translation maps them back.
_UNITS: tuple[tuple[str, str], ...] = (
    ("seconds", "s"),
    ("bytes", "By"),
    ("ratio", "1"),
    ("celsius", "Cel"),
    ("watts", "W"),
    ("hertz", "Hz"),
)

# OpenTelemetry HTTP semantic conventions (v1.26 stable): catalogued Prometheus name ->
# (OTel name, unit). spec() fails at import for a name the catalogue no longer has.
_SEMCONV: dict[str, tuple[str, str]] = {
    catalogue.spec(name).name: otel
    for name, otel in (
        (catalogue.HTTP_REQUEST_DURATION, ("http.server.request.duration", "s")),
        ("http_server_active_requests", ("http.server.active_requests", "{request}")),
        ("http_server_request_body_size_bytes", ("http.server.request.body.size", "By")),
        ("http_server_response_body_size_bytes", ("http.server.response.body.size", "By")),
    )
}


def otel_name_and_unit(prometheus_name: str) -> tuple[str, str]:
    """The OTel name and UCUM unit for a Prometheus family name (counters without ``_total``)."""
    if prometheus_name in _SEMCONV:
        return _SEMCONV[prometheus_name]
    for word, ucum in _UNITS:
        if prometheus_name.endswith("_" + word):
            return prometheus_name[: -len(word) - 1], ucum
    return prometheus_name, ""


class _Source(Protocol):
    def collect(self) -> Iterable[Any]: ...


@dataclass(frozen=True)
class _Shape:
    """One family converted: OTel name, unit, help and the SDK data object."""

    name: str
    unit: str
    description: str
    data: Any


class PrometheusBridge:
    """Turn prometheus_client families into OpenTelemetry SDK ``MetricsData``.

    Separate from the push loop so that it can be read and tested alone.
    """

    def __init__(self, sources: Sequence[_Source], resource: Any) -> None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._sources = tuple(sources)
        self._resource = resource
        self._scope = InstrumentationScope("mlscope", __version__)
        self._start_ns = time.time_ns()
        self._skipped: set[str] = set()

    def produce(self, now_ns: int | None = None) -> Any:
        """Collect every source now and return one ``MetricsData``."""
        from opentelemetry.sdk.metrics.export import Metric as OtelMetric
        from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics

        now = time.time_ns() if now_ns is None else now_ns
        metrics: list[OtelMetric] = []
        for source in self._sources:
            try:
                families = list(source.collect())
            except Exception as exc:  # noqa: BLE001 - one broken collector must not stop the push
                log.warning("OTLP push: collecting %r failed: %r", source, exc)
                continue
            for fam in families:
                shape = self._convert(fam, now)
                if shape is not None and shape.data.data_points:
                    metrics.append(
                        OtelMetric(
                            name=shape.name, description=shape.description, unit=shape.unit, data=shape.data
                        )
                    )
        return MetricsData(
            resource_metrics=[
                ResourceMetrics(
                    resource=self._resource,
                    scope_metrics=[ScopeMetrics(scope=self._scope, metrics=metrics, schema_url="")],
                    schema_url="",
                )
            ]
        )

    # -- one family ---------------------------------------------------------------
    def _convert(self, fam: Any, now: int) -> _Shape | None:
        from opentelemetry.sdk.metrics.export import AggregationTemporality, Gauge, Sum

        kind: str = fam.type
        if kind == "counter":
            name, unit = otel_name_and_unit(fam.name)
            points = self._number_points(fam.samples, fam.name + "_total", fam.name + "_created", now)
            data: Any = Sum(
                data_points=points,
                aggregation_temporality=AggregationTemporality.CUMULATIVE,
                is_monotonic=True,
            )
            return _Shape(name, unit, fam.documentation, data)
        if kind == "histogram":
            name, unit = otel_name_and_unit(fam.name)
            return _Shape(name, unit, fam.documentation, self._histogram(fam, now))
        if kind in ("gauge", "unknown", "untyped", "info", "stateset"):
            if kind == "info":
                name, unit = fam.name + "_info", ""
            else:
                name, unit = otel_name_and_unit(fam.name)
            points = self._number_points(fam.samples, None, None, now)
            return _Shape(name, unit, fam.documentation, Gauge(data_points=points))
        if fam.name not in self._skipped:  # summary, gaugehistogram: not produced by mlscope
            self._skipped.add(fam.name)
            log.info("OTLP push: skipping %s family %s (no OTLP equivalent in the bridge)", kind, fam.name)
        return None

    def _number_points(
        self, samples: Sequence[Sample], value_name: str | None, created_name: str | None, now: int
    ) -> list[Any]:
        from opentelemetry.sdk.metrics.export import NumberDataPoint

        created: dict[tuple[tuple[str, str], ...], int] = {}
        if created_name is not None:
            for s in samples:
                if s.name == created_name:
                    created[_key(s.labels)] = int(s.value * 1e9)
        points = []
        for s in samples:
            if value_name is not None and s.name != value_name:
                continue
            key = _key(s.labels)
            start = created.get(key, self._start_ns) if value_name is not None else 0
            points.append(
                NumberDataPoint(
                    attributes=dict(s.labels), start_time_unix_nano=start, time_unix_nano=now, value=s.value
                )
            )
        return points

    def _histogram(self, fam: Any, now: int) -> Any:
        from opentelemetry.sdk.metrics.export import AggregationTemporality, Histogram, HistogramDataPoint

        groups: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for s in fam.samples:
            labels = {k: v for k, v in s.labels.items() if k != "le"}
            g = groups.setdefault(
                _key(labels), {"labels": labels, "buckets": [], "count": 0.0, "sum": 0.0, "created": None}
            )
            if s.name == fam.name + "_bucket":
                g["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name == fam.name + "_count":
                g["count"] = s.value
            elif s.name == fam.name + "_sum":
                g["sum"] = s.value
            elif s.name == fam.name + "_created":
                g["created"] = int(s.value * 1e9)
        points = []
        for g in groups.values():
            buckets = sorted(g["buckets"])
            bounds = [le for le, _ in buckets if le != float("inf")]
            # Prometheus buckets are cumulative (le); OTLP's are per bucket, the last one
            # (above the highest bound) included.
            counts: list[int] = []
            prev = 0.0
            for _, cum in buckets:
                counts.append(int(round(cum - prev)))
                prev = cum
            if not buckets or buckets[-1][0] != float("inf"):
                counts.append(int(round(g["count"] - prev)))
            points.append(
                HistogramDataPoint(
                    attributes=g["labels"],
                    start_time_unix_nano=g["created"] or self._start_ns,
                    time_unix_nano=now,
                    count=int(round(g["count"])),
                    sum=g["sum"],
                    bucket_counts=counts,
                    explicit_bounds=bounds,
                    # Prometheus histograms keep no min/max; None leaves the optional OTLP fields unset.
                    min=None,  # type: ignore[arg-type]
                    max=None,  # type: ignore[arg-type]
                )
            )
        return Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE)


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _resource(resource_attributes: Mapping[str, AttributeValue] | None, models: Sequence[str]) -> Any:
    """Resource attributes: defaults < OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME < arguments."""
    from opentelemetry.sdk.resources import Resource

    attrs: dict[str, AttributeValue] = {
        "service.name": "mlscope",
        "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
        "service.version": __version__,
    }
    env = dict(Resource.create({}).attributes)
    if str(env.get("service.name", "")).startswith("unknown_service"):
        env.pop("service.name")
    attrs.update(env)  # type: ignore[arg-type]
    if models:
        attrs["mlscope.models"] = list(models)
        if len(models) == 1:
            attrs["mlscope.model"] = models[0]
    attrs.update(resource_attributes or {})
    return Resource(attrs)


def _exporter(protocol: Protocol_, endpoint: str, headers: Mapping[str, str] | None, timeout_s: float) -> Any:
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HTTPExporter

        url = endpoint.rstrip("/")
        if not url.endswith("/v1/metrics"):  # a base URL as in OTEL_EXPORTER_OTLP_ENDPOINT
            url += "/v1/metrics"
        return HTTPExporter(endpoint=url, headers=dict(headers or {}), timeout=timeout_s)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GRPCExporter

        insecure = not endpoint.startswith("https://")
        return GRPCExporter(
            endpoint=endpoint, insecure=insecure, headers=dict(headers or {}), timeout=timeout_s
        )
    raise ConfigError(f"'otlp.protocol' must be one of 'http/protobuf', 'grpc' (got {protocol!r})")


class OTLPPush:
    """A running push loop; :meth:`shutdown` sends a last batch and stops it."""

    def __init__(self, bridge: PrometheusBridge, exporter: Any, interval_s: float, timeout_s: float) -> None:
        self.bridge = bridge
        self._exporter = exporter
        self._interval_s = interval_s
        self._timeout_ms = timeout_s * 1000.0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # exporters must not export concurrently (OTel spec)
        self.exports_ok = 0
        self.exports_failed = 0
        self._thread = threading.Thread(target=self._run, name="mlscope-otlp-push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.force_flush()

    def force_flush(self) -> bool:
        """Collect and export now; True when the receiver accepted the batch."""
        from opentelemetry.sdk.metrics.export import MetricExportResult

        with self._lock:
            try:
                result = self._exporter.export(self.bridge.produce(), timeout_millis=self._timeout_ms)
            except Exception as exc:  # noqa: BLE001 - the push never takes the process down
                log.warning("OTLP push failed: %r", exc)
                result = MetricExportResult.FAILURE
        ok = bool(result == MetricExportResult.SUCCESS)
        if ok:
            self.exports_ok += 1
        else:
            self.exports_failed += 1
        return ok

    def shutdown(self, *, flush: bool = True) -> None:
        """Stop the loop, push once more (unless ``flush=False``) and close the exporter."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=self._interval_s + self._timeout_ms / 1000.0)
        if flush:
            self.force_flush()
        try:
            self._exporter.shutdown()
        except Exception as exc:  # noqa: BLE001
            log.debug("OTLP exporter shutdown failed: %r", exc)


def _settings(endpoint: str | None, protocol: Protocol_ | None, interval_s: float) -> tuple[str, Protocol_]:
    """The endpoint and protocol, from the arguments or the OTEL_* environment; checked."""
    if endpoint is None:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
    if protocol is None:
        env_protocol = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") or os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        protocol = cast(Protocol_, env_protocol.strip())
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigError(f"'otlp.endpoint' must be a non-empty URL (got {endpoint!r})")
    if not (isinstance(interval_s, (int, float)) and interval_s > 0):
        raise ConfigError(f"'otlp.interval_s' must be a number > 0 (got {interval_s!r})")
    if protocol not in ("http/protobuf", "grpc"):
        raise ConfigError(f"'otlp.protocol' must be one of 'http/protobuf', 'grpc' (got {protocol!r})")
    return endpoint.strip(), protocol


def start_otlp_push(
    registry_or_collectors: CollectorRegistry | Collector | Iterable[Collector],
    endpoint: str | None,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    *,
    protocol: Protocol_ | None = None,
    interval_s: float = 15.0,
    models: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> OTLPPush:
    """Start pushing the metrics of a registry (or collectors) to an OTLP receiver.

    Parameters
    ----------
    registry_or_collectors
        A ``CollectorRegistry``, one collector or several: what ``/metrics`` serves.
    endpoint
        For ``http/protobuf`` a base URL as in ``OTEL_EXPORTER_OTLP_ENDPOINT``
        (``http://collector:4318``; ``/v1/metrics`` is appended unless present); for
        ``grpc`` ``http://collector:4317`` (plain text) or ``https://...`` (TLS). ``None``:
        ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``.
    resource_attributes
        Added to (and overriding) ``service.name`` ("mlscope"), ``service.instance.id``
        (host:pid), ``service.version`` and what ``OTEL_RESOURCE_ATTRIBUTES`` gives.
    protocol
        ``"http/protobuf"`` or ``"grpc"``. ``None``: ``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL``
        or ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``"http/protobuf"``.
    interval_s
        Seconds between pushes (> 0).
    models
        Model names served, as resource attributes ``mlscope.models`` (and ``mlscope.model``
        when there is exactly one).
    headers, timeout_s
        Sent with each export (authentication), and the per-export time limit.

    Returns
    -------
    OTLPPush
        With ``shutdown()`` (final push, then stop) and ``force_flush()``.
    """
    endpoint, protocol = _settings(endpoint, protocol, interval_s)
    sources: list[_Source]
    if isinstance(registry_or_collectors, CollectorRegistry) or hasattr(registry_or_collectors, "collect"):
        sources = [cast(_Source, registry_or_collectors)]
    else:
        sources = list(cast(Iterable[_Source], registry_or_collectors))
    bridge = PrometheusBridge(sources, _resource(resource_attributes, models))
    exporter = _exporter(protocol, endpoint, headers, timeout_s)
    log.info("OTLP push to %s (%s) every %ss", endpoint, protocol, interval_s)
    return OTLPPush(bridge, exporter, float(interval_s), float(timeout_s))
