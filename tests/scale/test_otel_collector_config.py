"""The OpenTelemetry Collector example (deploy/otel-collector/config.yaml) holds together.

No collector binary can be installed here, so this checks its structure the way the
collector resolves it at start: every component a pipeline names is defined, every
defined component is used, the OTLP receiver listens where docs tell the sidecar to push
(HTTP on 4318), and the metrics reach a Prometheus remote-write endpoint.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests._servers import REPO

CONFIG = REPO / "deploy" / "otel-collector" / "config.yaml"


def _load() -> dict[str, Any]:
    data = yaml.safe_load(CONFIG.read_text())
    assert isinstance(data, dict)
    return data


def test_every_pipeline_component_is_defined_and_every_defined_one_is_used() -> None:
    cfg = _load()
    pipelines = cfg["service"]["pipelines"]
    assert "metrics" in pipelines
    for kind in ("receivers", "processors", "exporters"):
        defined = set(cfg.get(kind) or {})
        used = {c for p in pipelines.values() for c in p.get(kind, [])}
        assert used <= defined, (kind, used - defined)
        assert defined <= used, (kind, "defined but unused", defined - used)


def test_receiver_takes_the_sidecars_otlp_http_push_and_writes_prometheus_remote_write() -> None:
    cfg = _load()
    http = cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http.rsplit(":", 1)[1] == "4318"  # docs: mlscope serve --otlp-endpoint http://otel-collector:4318
    assert "4318" in (REPO / "docs" / "scaling.md").read_text()
    rw = cfg["exporters"]["prometheusremotewrite"]
    assert rw["endpoint"].endswith("/api/v1/write")
    # Resource attributes (service.instance.id, mlscope.model) must become labels, or
    # replicas' counters would collide in the backend.
    assert rw["resource_to_telemetry_conversion"]["enabled"] is True
