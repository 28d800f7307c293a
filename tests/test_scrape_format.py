"""Content negotiation of /metrics (sidecar and middleware share it)."""

from __future__ import annotations

import pytest

from mlscope._scrape_format import OPENMETRICS, TEXT, negotiate
from tests._prom import PROMETHEUS_ACCEPT


@pytest.mark.parametrize(("accept", "expected"), [
    (PROMETHEUS_ACCEPT, OPENMETRICS),
    (None, TEXT),
    ("", TEXT),
    ("*/*", TEXT),
    ("text/plain;version=0.0.4", TEXT),
    ("text/plain", TEXT),
    ("application/openmetrics-text", OPENMETRICS),
    ("application/openmetrics-text; version=1.0.0", OPENMETRICS),
    # a version mlscope does not serve is no match: the next acceptable range wins
    ("application/openmetrics-text;version=0.0.1,text/plain;version=0.0.4;q=0.5", TEXT),
    ("text/plain;version=1.0.0", TEXT),  # nothing acceptable: the text format anyway
    ("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.2", TEXT),
    ("application/openmetrics-text;version=1.0.0;q=0,text/plain", TEXT),
    ("application/openmetrics-text;q=0.5,text/plain;q=0.5", OPENMETRICS),  # tie: the first
    ("application/json, text/html", TEXT),
    ("application/openmetrics-text;q=abc,text/plain;q=0.1", TEXT),
])
def test_negotiate(accept: str | None, expected: str) -> None:
    assert negotiate(accept) == expected
