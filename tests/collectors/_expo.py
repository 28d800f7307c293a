"""Read an exposition back: render with prometheus_client, parse, check with promtool."""

from __future__ import annotations

import subprocess

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

Key = tuple[str, frozenset[tuple[str, str]]]


def render(*collectors: Collector) -> str:
    reg = CollectorRegistry()
    for c in collectors:
        reg.register(c)
    return generate_latest(reg).decode()


def samples(text: str) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, metric: str, /, **labels: str) -> float:
    return samples(text)[(metric, frozenset(labels.items()))]


def names(text: str) -> set[str]:
    return {k[0] for k in samples(text)}


# promtool's lint of dcgm-exporter's label spelling (UUID, modelName, Hostname), which the
# GPU families keep on purpose so that dashboards and alerts written for dcgm-exporter join.
_DCGM_CASE = " label names should be written in 'snake_case' not 'camelCase'"


def promtool_check(promtool: str, text: str) -> None:
    """``promtool check metrics`` must accept the exposition (lint problems are fatal).

    The one problem allowed is the camelCase lint on a GPU family (dcgm-exporter's names).
    """
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line and not (line.startswith("mlscope_gpu_") and line.endswith(_DCGM_CASE))]
    assert proc.returncode == 0 or not problems, \
        f"promtool check metrics failed:\n{proc.stdout}{proc.stderr}\n---\n{text}"


def openmetrics_families(*collectors: Collector) -> set[str]:
    """Render as OpenMetrics (what Prometheus negotiates first) and parse it strictly."""
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

    reg = CollectorRegistry()
    for c in collectors:
        reg.register(c)
    text = generate_openmetrics(reg).decode()  # type: ignore[no-untyped-call]
    return {f.name for f in parse_openmetrics(text)}  # type: ignore[no-untyped-call]
