"""Ingest runs off the event loop, bounded: health answers while ingest is stuck, a flood gets 503.

The sidecar's own app under a real uvicorn server; the ingest thread is held by taking
the engine's own lock (what a long batch does to it), nothing is replaced.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import uvicorn

from mlscope.sidecar.app import IngestWorker, build_app
from mlscope.sidecar.config import SidecarConfig
from mlscope.sidecar.service import Service
from tests._servers import free_port, wait_http
from tests.sidecar._sidecar import make_profile, metrics, value


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Service, IngestWorker]]:
    profile = make_profile(tmp_path / "ref.json")
    service = Service(
        SidecarConfig.model_validate({"models": {"churn": {"profile": str(profile)}}, "max_body_bytes": 4096})
    )
    app = build_app(service)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    t = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    t.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", 30)
        yield url, service, app.state.ingest_worker
    finally:
        server.should_exit = True
        t.join(30)


def _post(url: str, out: list[tuple[int, dict[str, str]]]) -> None:
    body = orjson.dumps({"n_rows": 1, "features": {"age": [30.0], "plan": ["pro"], "pad": ["x" * 3000]}})
    req = urllib.request.Request(
        url + "/v1/events",
        data=body,
        headers={"Content-Type": "application/vnd.mlscope.columns+json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            out.append((r.status, {k.lower(): v for k, v in r.headers.items()}))
    except urllib.error.HTTPError as e:
        out.append((e.code, {k.lower(): v for k, v in e.headers.items()}))


def test_health_answers_while_ingest_is_held_and_a_flood_gets_503(
    served: tuple[str, Service, IngestWorker],
) -> None:
    url, service, worker = served
    slots = worker.max_waiting_bytes // 3100  # bodies of ~3,050 bytes that fit (4 x 4096 bytes)
    assert slots == 5
    replies: list[tuple[int, dict[str, str]]] = []
    with service.engine._lock:  # the ingest thread blocks inside the engine
        clients = [threading.Thread(target=_post, args=(url, replies)) for _ in range(slots)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 30
        while worker.taken < slots and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.taken == slots
        # Every slot is in hand and the ingest thread is stuck: health still answers ...
        with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
            assert r.status == 200
        # ... and one more request is refused at once, without waiting for a slot.
        _post(url, replies)
        assert replies[-1][0] == 503 and replies[-1][1]["retry-after"] == "1"
    for c in clients:
        c.join(30)
    assert sorted(status for status, _ in replies) == [200] * slots + [503]
    text = metrics(url)
    assert value(text, "mlscope_ingest_events_total", model="churn") == slots
    assert value(text, "mlscope_ingest_rejected_total", reason="busy") == 1
