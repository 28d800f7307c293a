"""Run a real Prometheus on loopback for a test and query it."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from tests._servers import Proc, free_port, get, wait_http

# The Accept header Prometheus 2.42 scrapes with (scrape.go): OpenMetrics first.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class Prometheus:
    """A Prometheus process with its own temporary storage, stopped on exit."""

    def __init__(
        self, binary: str, config: dict[str, Any], workdir: Path, *, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = workdir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        self._proc = Proc(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                *extra_args,
            ],
            log=workdir / "prometheus.log",
        )

    def __enter__(self) -> Prometheus:
        proc = self._proc.__enter__()
        wait_http(self.url + "/-/ready", timeout_s=30, proc=proc)
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.__exit__(*exc)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; returns the result vector (raises on a query error)."""
        status, body = get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        data = json.loads(body)
        if status != 200 or data.get("status") != "success":
            raise AssertionError(f"query {promql!r} failed ({status}): {body[:300]}")
        return list(data["data"]["result"])

    def wait_for(self, promql: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Poll ``promql`` until it returns a non-empty vector."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result:
                return result
            time.sleep(0.25)
        raise TimeoutError(f"{promql!r} returned nothing within {timeout_s}s")
