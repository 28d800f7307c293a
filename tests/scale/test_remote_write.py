"""The documented remote_write block ships mlscope's series to a second, real Prometheus."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tests._prom import Prometheus
from tests._servers import REPO, free_port

SNIPPET = REPO / "deploy" / "remote-write" / "prometheus-remote-write.yml"


def _remote_write_block(receiver_url: str) -> list[dict[str, Any]]:
    block = yaml.safe_load(SNIPPET.read_text())["remote_write"]
    block[0]["url"] = receiver_url + "/api/v1/write"
    block[0]["queue_config"]["batch_send_deadline"] = "1s"
    return list(block)


def test_documented_remote_write_block_passes_promtool(tmp_path: Path, promtool: str) -> None:
    cfg = {"global": {"scrape_interval": "15s"}, "remote_write": _remote_write_block("http://127.0.0.1:9091")}
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump(cfg))
    subprocess.run([promtool, "check", "config", str(path)], check=True, capture_output=True)


def test_remote_write_delivers_mlscope_series_and_drops_the_rest(tmp_path: Path, prometheus_bin: str) -> None:
    registry = CollectorRegistry()
    bins = Counter("mlscope_feature_bin", "bins", ["model", "feature", "bin"], registry=registry)
    bins.labels("churn", "age", "3").inc(7)
    Gauge("unrelated_metric", "dropped by write_relabel_configs", registry=registry).set(1)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with Prometheus(prometheus_bin, {"global": {"scrape_interval": "15s"}}, tmp_path / "global",
                        extra_args=("--web.enable-remote-write-receiver",)) as receiver:
            local_cfg = {
                "global": {"scrape_interval": "1s", "external_labels": {"cluster": "test", "replica": "a"}},
                "scrape_configs": [
                    {"job_name": "mlscope-sidecar", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                ],
                "remote_write": _remote_write_block(receiver.url),
            }
            with Prometheus(prometheus_bin, local_cfg, tmp_path / "local"):
                got = receiver.wait_for('mlscope_feature_bin_total{model="churn",feature="age",bin="3"}')
                assert float(got[0]["value"][1]) == 7.0
                # external labels identify the sender in the global view
                assert got[0]["metric"]["cluster"] == "test" and got[0]["metric"]["replica"] == "a"
                receiver.wait_for('up{job="mlscope-sidecar"}')
                assert receiver.query("unrelated_metric") == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
