"""The deferred count (``HttpMetrics.fold``): what the WSGI hot path appends unconverted
(status lines, ``CONTENT_LENGTH`` strings, clock readings) must count exactly as the
per-request oracle (``tests/middleware/_oracle.py``) counts the converted values; the
pending list stays bounded; and no request is lost or counted twice while threads serve
and a scraper folds."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import mlscope
from mlscope.middleware._metrics import FOLD_AT, OTEL_DURATION_BUCKETS, HttpMetrics, scheme_label
from tests.middleware import _scrape
from tests.middleware._oracle import record_per_request

# Raw entries as the WSGI middleware appends them, and the record() call each means:
# (method, route, status line, error, CONTENT_LENGTH, start, first byte, end, bytes, exemplar,
#  wsgi.url_scheme, SERVER_PROTOCOL)
H11, H2S = ("http", "HTTP/1.1"), ("https", "HTTP/2.0")
RAW: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = [
    (("GET", "/items/<int:id>", "200 OK", "", None, 10.0, 10.001, 10.003, 2, None, *H11),
     ("GET", "/items/<int:id>", 200, "", 10.003 - 10.0, 0, 2, 10.001 - 10.0, None, *H11)),
    (("POST", "/predict", "201 CREATED", "", "5000", 20.0, 20.05, 20.2, 70_000, None, *H2S),
     ("POST", "/predict", 201, "", 20.2 - 20.0, 5000, 70_000, 20.05 - 20.0, None, *H2S)),
    # A 5xx the app returned (no exception): the error type is the code.
    (("POST", "/predict", "503 SERVICE UNAVAILABLE", "", "", 30.0, 30.1, 30.4, 9, None, *H11),
     ("POST", "/predict", 503, "503", 30.4 - 30.0, 0, 9, 30.1 - 30.0, None, *H11)),
    # The body ended but start_response was never called: the server answers 500. No route
    # matched (no http_route), and a server that said nothing about the connection.
    (("GET", "", 0, "", "garbage", 40.0, 0.0, 40.5, 0, None, None, None),
     ("GET", "", 500, "500", 40.5 - 40.0, 0, 0, 0.0, None, None, None)),
    # No body byte: no time-to-first-byte observation. An odd scheme and protocol: bounded.
    (("HEAD", "/items/<int:id>", "200 OK", "", None, 50.0, 0.0, 50.002, 0, None, "gopher", "SPDY"),
     ("HEAD", "/items/<int:id>", 200, "", 50.002 - 50.0, 0, 0, 0.0, None, "gopher", "SPDY")),
]


def _scheme(entry: tuple[Any, ...]) -> str:
    return scheme_label(entry[-2])


def _store() -> HttpMetrics:
    return HttpMetrics(CollectorRegistry(), buckets=OTEL_DURATION_BUCKETS, group_status_codes=False,
                       exemplars=True)


def _lines(m: HttpMetrics) -> list[bytes]:
    return sorted(line for line in generate_latest(m.registry).splitlines() if b"_created" not in line)


def test_raw_wsgi_entries_fold_to_what_record_counts() -> None:
    folded, reference = _store(), _store()
    for raw, call in RAW * 3:
        folded.begin(raw[0], _scheme(raw))
        folded._pending.append(raw)
        reference.begin(call[0], _scheme(call))
        record_per_request(reference, *call)
    a, b = _lines(folded), _lines(reference)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if x != y:  # sums may differ in the last bit: the fold adds per cell, record per request
            name_x, val_x = x.rsplit(b" ", 1)
            name_y, val_y = y.rsplit(b" ", 1)
            assert name_x == name_y and b"_sum" in name_x
            assert float(val_x) == pytest.approx(float(val_y), rel=1e-12)
    text = generate_latest(folded.registry).decode()
    assert _scrape.request_counts(text)[("POST", "/predict", "503", "503")] == 3
    assert _scrape.request_counts(text)[("GET", "", "500", "500")] == 3
    # url_scheme and network_protocol_version as OTel spells them, bounded
    assert _scrape.value(text, "http_server_request_duration_seconds_count", http_request_method="POST",
                         http_route="/predict", http_response_status_code="201", error_type="",
                         url_scheme="https", network_protocol_version="2") == 3
    assert _scrape.value(text, "http_server_request_body_size_bytes_count", http_request_method="HEAD",
                         http_route="/items/<int:id>", http_response_status_code="200", error_type="",
                         url_scheme="_OTHER", network_protocol_version="_OTHER") == 3
    assert _scrape.value(text, "http_server_active_requests", http_request_method="POST",
                         url_scheme="https") == 0
    assert 'http_route=""' in text  # no route: the label is empty, which Prometheus reads as absent
    assert not folded._pending


def test_the_pending_list_never_exceeds_fold_at() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    reg = CollectorRegistry()
    wrapped = mlscope.WSGIMiddleware(app, registry=reg, traces=False)
    pending = wrapped._pending
    longest = 0
    for _ in range(3 * FOLD_AT + 7):
        body = wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "wsgi.input": io.BytesIO()},
                       lambda *a: None)
        for _chunk in body:
            pass
        body.close()  # type: ignore[attr-defined]
        longest = max(longest, len(pending))
    assert 0 < longest < FOLD_AT
    # A scrape folds what is pending: every request is visible at once.
    text = generate_latest(reg).decode()
    assert _scrape.request_counts(text) == {("GET", "", "200", ""): 3 * FOLD_AT + 7}
    assert not pending


def test_no_request_is_lost_or_doubled_while_threads_serve_and_a_scraper_folds() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    reg = CollectorRegistry()
    wrapped = mlscope.WSGIMiddleware(app, registry=reg, traces=False)
    threads, per_thread = 6, 2_500
    stop = threading.Event()
    seen: list[float] = []

    def serve() -> None:
        for _ in range(per_thread):
            body = wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "wsgi.input": io.BytesIO()},
                           lambda *a: None)
            for _chunk in body:
                pass
            body.close()  # type: ignore[attr-defined]

    def scrape() -> None:
        while not stop.is_set():
            counts = _scrape.request_counts(generate_latest(reg).decode())
            seen.append(counts.get(("GET", "", "200", ""), 0.0))

    scraper = threading.Thread(target=scrape)
    scraper.start()
    workers = [threading.Thread(target=serve) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    scraper.join()
    text = generate_latest(reg).decode()
    assert _scrape.request_counts(text) == {("GET", "", "200", ""): threads * per_thread}
    assert _scrape.value(text, "http_server_active_requests", http_request_method="GET",
                         url_scheme="http") == 0
    assert seen == sorted(seen) and len(seen) > 1  # counts only ever grow between scrapes


def test_an_entry_no_fold_can_read_is_contained_and_the_others_are_counted() -> None:
    m = _store()
    good = RAW[0][0]
    bad = ("GET", "/items/<int:id>", ["not", "a", "status"], "", None, 1.0, 0.0, 1.5, 0, None, *H11)
    for entry in (good, bad, good):
        m.begin("GET")
        m._pending.append(entry)
    m.fold()
    text = generate_latest(m.registry).decode()
    assert _scrape.request_counts(text) == {("GET", "/items/<int:id>", "200", ""): 2}
    assert _scrape.value(text, "mlscope_internal_errors_total", component="middleware") == 1
