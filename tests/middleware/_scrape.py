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
    """``{(method, route, status, error_type): count}`` from the duration histogram (summed
    over ``url_scheme`` and ``network_protocol_version``)."""
    out: dict[tuple[str, str, str, str], float] = {}
    for (name, labels), value in samples(text).items():
        if name == DURATION + "_count":
            d = dict(labels)
            key = (d["http_request_method"], d["http_route"], d["http_response_status_code"],
                   d["error_type"])
            out[key] = out.get(key, 0.0) + value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The summed value of the ``name`` samples that carry ``labels`` (among others); 0: none.

    Tests name the labels they are about: ``url_scheme`` and ``network_protocol_version``
    (one value each in most tests) need not be spelled out.
    """
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and want <= ls)


def promtool_check(promtool: str, text: str) -> None:
    """Fail with promtool's own message unless it accepts the exposition."""
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=30, check=False)
    assert r.returncode == 0, f"promtool check metrics failed:\n{r.stdout.decode()}{r.stderr.decode()}"
