"""Global view: the shipped recording rules stay correct on a remote-write receiver.

Two "cluster" Prometheus servers (external labels ``cluster=a`` and ``cluster=b``) scrape
three real sidecars between them (two in a, one in b), evaluate the shipped rules for
their own cluster, and remote-write with the documented block
(deploy/remote-write/prometheus-remote-write.yml) to a third, real Prometheus started with
``--web.enable-remote-write-receiver`` that loads the same rule files: the global
Thanos/Mimir/VictoriaMetrics ruler of a real deployment. The documented block keeps the
raw ``mlscope_*`` series and not the clusters' recorded ``level:metric:ops`` ones, so the
receiver aggregates counters once, across clusters. Its fleet figures must equal the
engine on the union of all three replicas' data; cluster a's own figures equal the engine
on cluster a's data (tolerance: tests/scale/_fleet.py).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._prom import Prometheus
from tests._servers import REPO
from tests.scale._fleet import (
    INTERVAL_S,
    MODEL,
    RULES,
    SETTLE_S,
    assert_close,
    bin_counts,
    engine_figures,
    hits,
    make_labelled_profile,
    prometheus_config,
    replica_rows,
    rule_figures,
    tolerance,
    wait_value,
)
from tests.sidecar._sidecar import metrics, ndjson, post, sidecar

SNIPPET = REPO / "deploy" / "remote-write" / "prometheus-remote-write.yml"


def _remote_write(receiver_url: str) -> list[dict[str, Any]]:
    block = yaml.safe_load(SNIPPET.read_text())["remote_write"]
    block[0]["url"] = receiver_url + "/api/v1/write"
    block[0]["queue_config"]["batch_send_deadline"] = "250ms"  # shipped 5s; a test waits less
    return list(block)


@pytest.mark.timeout(150)
def test_receiver_evaluating_the_shipped_rules_sees_the_union_of_two_clusters(
    tmp_path: Path, prometheus_bin: str
) -> None:
    profile_path = tmp_path / "ref.json"
    profile = make_labelled_profile(profile_path)
    rows = [
        replica_rows(11, 220, age_mean=42, plans=["free", "pro"], accuracy=0.85, prefix="a1"),
        replica_rows(12, 150, age_mean=55, plans=["team", "pro", ""], accuracy=0.55, prefix="a2"),
        replica_rows(13, 180, age_mean=30, plans=["enterprise", "team"], accuracy=0.65, prefix="b1"),
    ]
    interval = f"{int(INTERVAL_S * 1000)}ms"
    with contextlib.ExitStack() as stack:
        scs = [
            stack.enter_context(sidecar(tmp_path, "--profile", str(profile_path), "--model", MODEL))
            for _ in range(3)
        ]
        receiver = stack.enter_context(
            Prometheus(
                prometheus_bin,
                {"global": {"evaluation_interval": interval}, "rule_files": [str(p) for p in RULES]},
                tmp_path / "global",
                extra_args=("--web.enable-remote-write-receiver",),
            )
        )
        clusters = {}
        for name, members in (("a", scs[:2]), ("b", scs[2:])):
            cfg = prometheus_config(
                [f"127.0.0.1:{sc.port}" for sc in members], RULES, interval, {"cluster": name}
            )
            cfg["remote_write"] = _remote_write(receiver.url)
            clusters[name] = stack.enter_context(Prometheus(prometheus_bin, cfg, tmp_path / name))
        # Every replica's zero must reach the receiver before data arrives.
        wait_value(receiver, "count(count_over_time(mlscope_rows_total[1h]) >= 2)", 3)
        ready = time.time()
        for sc, batch in zip(scs, rows, strict=True):
            status, body = post(sc.url + "/v1/events", ndjson(batch), content_type="application/x-ndjson")
            assert status == 200 and body["accepted"] == len(batch), body
        wait_value(receiver, "sum(mlscope_rows_total)", sum(map(len, rows)))
        time.sleep(SETTLE_S)

        counts = [bin_counts(metrics(sc.url), profile) for sc in scs]
        # The receiver's own evaluation has no cluster label; anything recorded by a
        # cluster would carry one (and the documented block does not ship it).
        got, t_rule = rule_figures(receiver, ', cluster=""')
        assert receiver.query('{__name__=~".+:.+", cluster!=""}') == []
        # Bound on the extrapolation: remote-written samples keep their scrape timestamps.
        eps = 1.1 * INTERVAL_S / (t_rule - 1.1 * INTERVAL_S - ready)
        tol = tolerance(profile, counts, [hits(r) for r in rows], eps)
        want = engine_figures(profile, [r for batch in rows for r in batch])
        assert_close(got, want, tol, "global view over both clusters")

        got_a, t_a = rule_figures(clusters["a"])
        tol_a = tolerance(
            profile,
            counts[:2],
            [hits(r) for r in rows[:2]],
            1.1 * INTERVAL_S / (t_a - 1.1 * INTERVAL_S - ready),
        )
        assert_close(got_a, engine_figures(profile, [*rows[0], *rows[1]]), tol_a, "cluster a alone")
        # The global figure is not cluster a's: the union matters.
        assert abs(got.psi["plan"] - got_a.psi["plan"]) > tol.psi["plan"] + tol_a.psi["plan"]
