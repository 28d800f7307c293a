"""ASGIMiddleware in real uvicorn processes (FastAPI and Starlette) on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import _servers
from tests.middleware import _scrape
from tests.middleware._scrape import DURATION

APPS = ["tests.middleware.apps.asgi_apps:starlette_app", "tests.middleware.apps.asgi_apps:fastapi_app"]


@pytest.fixture(params=APPS, ids=["starlette", "fastapi"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    port = _servers.free_port()
    log = tmp_path / "uvicorn.log"
    with _servers.Proc([_servers.PYTHON, "-m", "uvicorn", "--factory", request.param, "--host",
                        "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                       cwd=_servers.REPO, log=log) as proc:
        base = f"http://127.0.0.1:{port}"
        _servers.wait_http(base + "/healthz", proc=proc)
        yield base


def _scrape_until(client: httpx.Client, base: str, done: object, timeout_s: float = 10.0) -> str:
    # /bg's observation lands after its background task (0.5 s): poll until it is there.
    deadline = time.monotonic() + timeout_s
    while True:
        text = client.get(base + "/metrics").text
        if callable(done) and done(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_counts_per_route_template_status_and_error(server: str, promtool: str) -> None:
    with httpx.Client(timeout=10) as c:
        for i in range(7):
            assert c.get(f"{server}/items/{i}").status_code == 200
        for uid in ("ann", "bob", "cy"):
            assert c.get(f"{server}/api/users/{uid}").status_code == 200
        for i in range(4):
            assert c.get(f"{server}/no/such/path/{i}").status_code == 404
        assert c.get(f"{server}/api/nothing-here").status_code == 404
        for _ in range(2):
            # uvicorn drops the connection after an app exception: do not reuse it.
            assert c.get(f"{server}/boom", headers={"Connection": "close"}).status_code == 500
            assert c.get(f"{server}/stream").text == "chunk0\nchunk1\nchunk2\n"
            assert c.post(f"{server}/predict", json={"x": [1, 2]}).status_code == 200
            assert c.get(f"{server}/healthz").status_code == 200  # excluded
        assert c.get(f"{server}/bg").status_code == 200
        text = _scrape_until(c, server, lambda t: ("GET", "/bg", "200", "") in _scrape.request_counts(t))
        om = c.get(server + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    counts = _scrape.request_counts(text)
    assert counts == {
        ("GET", "/items/{item_id}", "200", ""): 7,
        ("GET", "/api/users/{uid}", "200", ""): 3,
        ("GET", "", "404", ""): 5,
        ("GET", "/boom", "500", "BoomError"): 2,
        ("GET", "/stream", "200", ""): 2,
        ("POST", "/predict", "200", ""): 2,
        ("GET", "/bg", "200", ""): 1,
    }
    # Streaming is timed to the last chunk: two gaps of STREAM_GAP_S per request at least.
    stream = {"http_request_method": "GET", "http_route": "/stream", "http_response_status_code": "200"}
    assert _scrape.value(text, DURATION + "_sum", **stream, error_type="") >= 2 * 2 * 0.05
    ttfb_count = _scrape.value(text, "mlscope_http_server_time_to_first_byte_seconds_count", **stream)
    assert ttfb_count == 2
    assert (_scrape.value(text, "mlscope_http_server_time_to_first_byte_seconds_sum", **stream)
            < _scrape.value(text, DURATION + "_sum", **stream, error_type=""))
    # The background task (0.5 s) runs after the last byte: not request time.
    bg = {"http_request_method": "GET", "http_route": "/bg", "http_response_status_code": "200",
          "error_type": ""}
    assert _scrape.value(text, DURATION + "_bucket", **bg, le="0.25") == 1
    # Bodies: /predict's JSON request body was counted.
    predict = {"http_request_method": "POST", "http_route": "/predict",
               "http_response_status_code": "200"}
    request_bytes = _scrape.value(text, "http_server_request_body_size_bytes_sum", **predict)
    assert request_bytes == 2 * len(b'{"x":[1,2]}')
    assert _scrape.value(text, "http_server_response_body_size_bytes_count", **predict) == 2
    # Nothing in flight at scrape time except the scrape itself, which is excluded.
    assert _scrape.value(text, "http_server_active_requests", http_request_method="GET") == 0
    # What uvicorn reports of the connection (OTel: url.scheme, network.protocol.version)
    assert _scrape.value(text, DURATION + "_count", **predict, url_scheme="http",
                         network_protocol_version="1.1") == 2
    assert _scrape.value(text, "http_server_active_requests", http_request_method="GET",
                         url_scheme="http") == 0
    assert 'url_scheme="http"' in text and 'http_route=""' in text  # unmatched: route left out
    assert _scrape.value(text, "mlscope_internal_errors_total", component="middleware") == 0
    assert not any("/no/such" in line for line in text.splitlines())
    _scrape.promtool_check(promtool, text)
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")


def test_flood_of_distinct_unmatched_paths_gives_bounded_series(tmp_path: Path, promtool: str) -> None:
    port = _servers.free_port()
    with _servers.Proc([_servers.PYTHON, "-m", "uvicorn", "--factory", APPS[0], "--host", "127.0.0.1",
                        "--port", str(port), "--log-level", "warning"], cwd=_servers.REPO,
                       log=tmp_path / "uvicorn.log") as proc:
        base = f"http://127.0.0.1:{port}"
        _servers.wait_http(base + "/healthz", proc=proc)
        with httpx.Client(timeout=10) as c:
            for i in range(10_000):
                c.get(f"{base}/flood/{i}/x?q={i}")
            text = c.get(base + "/metrics").text
    counts = _scrape.request_counts(text)
    assert counts == {("GET", "", "404", ""): 10_000}
    series = [line for line in text.splitlines() if line.startswith("http_server_")]
    # 4 histograms x (15 or 12 buckets + sum + count) + 9 method gauges: one route value only.
    assert len(series) < 100, len(series)
    assert "/flood/" not in text
    _scrape.promtool_check(promtool, text)
