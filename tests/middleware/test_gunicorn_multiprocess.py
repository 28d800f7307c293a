"""Gunicorn with 2 workers and PROMETHEUS_MULTIPROC_DIR: exact counts, bounded files.

Between batches of requests the test stops every worker (SIGTERM, as a deploy or
``max_requests`` recycling would) and gunicorn starts new ones, so the run leaves four dead
workers behind; mlscope's ``child_exit`` hook folds their files into archives. The scraped
totals must still equal the requests sent, exactly, and the directory must hold only the
live workers' files plus the archives.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests import _servers
from tests.middleware import _scrape

CONF = str(_servers.REPO / "tests/middleware/apps/gunicorn_conf.py")

CASES = {
    "fastapi-uvicorn-worker": (
        ["-k", "uvicorn_worker.UvicornWorker", "tests.middleware.apps.asgi_apps:fastapi_app()"],
        {"items": "/items/{item_id}", "users": "/api/users/{uid}", "boom_error": "BoomError"},
    ),
    "flask-sync": (
        ["-k", "sync", "tests.middleware.apps.wsgi_apps:flask_app()"],
        {"items": "/items/<int:item_id>", "users": "/api/users/<uid>", "boom_error": "500"},
    ),
    "django-sync": (
        ["-k", "sync", "tests.middleware.apps.wsgi_apps:django_app()"],
        {"items": "/items/<int:item_id>", "users": "/api/users/<str:uid>", "boom_error": "500"},
    ),
}


def _post_json(url: str, payload: object) -> int:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status)


def _recycle_workers(master: int) -> None:
    """Stop each current worker and wait until gunicorn has started two new ones."""
    old = {c.pid for c in psutil.Process(master).children()}
    for pid in old:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = {c.pid for c in psutil.Process(master).children() if c.status() != psutil.STATUS_ZOMBIE}
        if len(now) == 2 and not now & old:
            return
        time.sleep(0.05)
    raise TimeoutError(f"gunicorn did not replace workers {old}")


def _files_ok(mp: Path, master: int) -> tuple[bool, list[str]]:
    names = sorted(p.name for p in mp.glob("*.db"))
    live = {c.pid for c in psutil.Process(master).children()}
    pids = {int(m.group(1)) for n in names if (m := re.search(r"_(\d+)\.db$", n))}
    return pids <= live, names


@pytest.mark.parametrize("case", list(CASES))
def test_two_workers_count_exactly_and_dead_workers_are_folded(case: str, tmp_path: Path,
                                                                promtool: str) -> None:
    args, expect = CASES[case]
    mp = tmp_path / "mp"
    mp.mkdir()
    (mp / "counter_999999.db").write_bytes(b"")  # left from an earlier run: on_starting wipes it
    port = _servers.free_port()
    base = f"http://127.0.0.1:{port}"
    with _servers.Proc([_servers.PYTHON, "-m", "gunicorn", "-c", CONF, "-w", "2", "-b",
                        f"127.0.0.1:{port}", *args], cwd=_servers.REPO, log=tmp_path / "gunicorn.log",
                       env={"PROMETHEUS_MULTIPROC_DIR": str(mp)}) as proc:
        _servers.wait_http(base + "/healthz", proc=proc, timeout_s=30)
        for i in range(40):
            if i in (10, 25):
                _recycle_workers(proc.pid)
                _servers.wait_http(base + "/healthz", proc=proc, timeout_s=30)
            assert _servers.get(f"{base}/items/{i}")[0] == 200
        for i in range(10):
            assert _servers.get(f"{base}/api/users/u{i}")[0] == 200
            assert _servers.get(f"{base}/nothing/{i}")[0] == 404
            assert _post_json(f"{base}/predict", {"x": [1.0, i]}) == 200
        for _ in range(4):
            assert _servers.get(f"{base}/boom")[0] == 500
            status, body = _servers.get(f"{base}/stream")
            assert (status, body) == (200, "chunk0\nchunk1\nchunk2\n")
        # The master folds a dead worker's files when it reaps it: wait until no dead
        # worker's file is left.
        deadline = time.monotonic() + 15
        ok, names = _files_ok(mp, proc.pid)
        while not (ok and "histogram_archive.db" in names) and time.monotonic() < deadline:
            time.sleep(0.1)
            ok, names = _files_ok(mp, proc.pid)
        # A streamed response is recorded just after its last chunk went out, so the
        # client can scrape before the worker wrote it: scrape until all 78 are in.
        while True:
            status, text = _servers.get(base + "/metrics")
            done = sum(_scrape.request_counts(text).values()) >= 78
            if status != 200 or done or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200
        log = (tmp_path / "gunicorn.log").read_text(errors="replace")

    assert ok, (names, log[-3000:])
    assert "counter_999999.db" not in names
    # Four workers died during the run and were folded.
    assert "histogram_archive.db" in names, (names, log[-3000:])
    assert len(names) <= 3 + 2 * 3, names  # archives + (counter, histogram, livesum gauge) x 2
    counts = _scrape.request_counts(text)
    assert counts == {
        ("GET", expect["items"], "200", ""): 40,
        ("GET", expect["users"], "200", ""): 10,
        ("GET", "", "404", ""): 10,
        ("POST", "/predict", "200", ""): 10,
        ("GET", "/boom", "500", expect["boom_error"]): 4,
        ("GET", "/stream", "200", ""): 4,
    }, log[-3000:]
    stream = {"http_request_method": "GET", "http_route": "/stream", "http_response_status_code": "200"}
    # Timed to the last chunk (two 50 ms gaps per response), in both server models.
    assert _scrape.value(text, "http_server_request_duration_seconds_sum", **stream, error_type="") >= 0.4
    assert _scrape.value(text, "http_server_active_requests", http_request_method="GET") == 0
    _scrape.promtool_check(promtool, text)
