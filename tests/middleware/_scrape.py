"""Read scraped expositions in tests: sample lookup and ``promtool check metrics``."""

from __future__ import annotations

import subprocess

from prometheus_client.parser import text_string_to_metric_families

DURATION = "http_server_request_duration_seconds"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a text-format exposition, keyed by name and label set."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def request_counts(text: str) -> dict[tuple[str, str, str, str], float]:
    """``{(method, route, status, error_type): count}`` from the duration histogram."""
    out: dict[tuple[str, str, str, str], float] = {}
    for (name, labels), value in samples(text).items():
        if name == DURATION + "_count":
            d = dict(labels)
            key = (d["http_request_method"], d["http_route"], d["http_response_status_code"],
                   d["error_type"])
            out[key] = value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is absent."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def promtool_check(promtool: str, text: str) -> None:
    """Fail with promtool's own message unless it accepts the exposition."""
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=30, check=False)
    assert r.returncode == 0, f"promtool check metrics failed:\n{r.stdout.decode()}{r.stderr.decode()}"
