"""Fleet aggregation: three real sidecars, one real Prometheus with the shipped rules.

The fleet-wide PSI and Jensen-Shannon per feature and the accuracy that the shipped
recording rules compute from the three replicas' counters equal the engine's own figures
on the union of all replicas' data, within the extrapolation tolerance explained in
tests/scale/_fleet.py. Then one replica is SIGKILLed: its counters were scraped, so its
last window stays inside ``increase(...[1h])``; "not distorted" means (1) at every rule
evaluation after the kill the figures are finite and stay within the tolerance of the
engine's figures on the union (no jump, no NaN/Inf), and (2) after the survivors ingest more data the
rules equal the engine on the union of everything scraped (survivors' two batches plus
the dead replica's one).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import urllib.parse
from pathlib import Path

import pytest

from tests._prom import Prometheus
from tests._servers import get
from tests.scale._fleet import (
    FEATURES,
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


def range_values(prom: Prometheus, promql: str, start: float, end: float) -> list[float]:
    q = urllib.parse.urlencode({"query": promql, "start": start, "end": end, "step": INTERVAL_S})
    status, body = get(prom.url + "/api/v1/query_range?" + q)
    assert status == 200, body[:300]
    return [float(v) for series in json.loads(body)["data"]["result"] for _, v in series["values"]]


@pytest.mark.timeout(150)
def test_fleet_rules_equal_the_engine_on_the_union_and_survive_a_dead_replica(
    tmp_path: Path, prometheus_bin: str
) -> None:
    profile_path = tmp_path / "ref.json"
    profile = make_labelled_profile(profile_path)
    # Three replicas with different data: the union differs from every single replica.
    first = [
        replica_rows(1, 240, age_mean=40, plans=["free", "pro", "team"], accuracy=0.8, prefix="a1"),
        replica_rows(2, 160, age_mean=52, plans=["team", "team", "pro"], accuracy=0.6, prefix="b1"),
        replica_rows(3, 120, age_mean=33, plans=["enterprise", "free", ""], accuracy=0.5, prefix="c1"),
    ]
    second = [
        replica_rows(4, 200, age_mean=45, plans=["pro", "free"], accuracy=0.7, prefix="a2"),
        replica_rows(5, 100, age_mean=60, plans=["team", ""], accuracy=0.4, prefix="b2"),
    ]
    with contextlib.ExitStack() as stack:
        scs = [
            stack.enter_context(sidecar(tmp_path, "--profile", str(profile_path), "--model", MODEL))
            for _ in range(3)
        ]
        targets = [f"127.0.0.1:{sc.port}" for sc in scs]
        prom = stack.enter_context(
            Prometheus(
                prometheus_bin,
                prometheus_config(targets, RULES, f"{int(INTERVAL_S * 1000)}ms"),
                tmp_path / "prom",
            )
        )
        # Every replica's counters must be scraped at 0 before data arrives (increase() starts there).
        wait_value(prom, "count(count_over_time(mlscope_rows_total[1h]) >= 2)", 3)
        wait_value(prom, "count(count by (instance) (mlscope_classification_outcomes_total))", 3)
        ready = time.time()
        for sc, rows in zip(scs, first, strict=True):
            status, body = post(sc.url + "/v1/events", ndjson(rows), content_type="application/x-ndjson")
            assert status == 200 and body["accepted"] == len(rows), body
        wait_value(prom, "sum(mlscope_rows_total)", sum(map(len, first)))
        time.sleep(SETTLE_S)

        got, t_rule = rule_figures(prom)
        eps = 1.1 * INTERVAL_S / (t_rule - 1.1 * INTERVAL_S - ready)
        counts = [bin_counts(metrics(sc.url), profile) for sc in scs]
        tol = tolerance(profile, counts, [hits(r) for r in first], eps)
        want = engine_figures(profile, [r for rows in first for r in rows])
        assert_close(got, want, tol, "three live replicas")
        # The union matters: a single replica's figures are outside the tolerance.
        alone = engine_figures(profile, first[0])
        assert abs(alone.psi["age"] - want.psi["age"]) > tol.psi["age"]

        scs[2].proc.proc.kill()
        scs[2].proc.proc.wait(10)
        killed = time.time()
        time.sleep(4.0)
        for sc, rows in zip(scs[:2], second, strict=True):
            status, body = post(sc.url + "/v1/events", ndjson(rows), content_type="application/x-ndjson")
            assert status == 200 and body["accepted"] == len(rows), body
        posted = time.time()
        wait_value(prom, 'count(up{job="mlscope-sidecar"} == 0)', 1)
        # (1) between the kill and the survivors' new data: finite, no jump.
        for f in FEATURES:
            for rule, before, t in (
                ("model_feature:mlscope_feature_psi:1h", want.psi[f], tol.psi[f]),
                ("model_feature:mlscope_feature_jensenshannon:1h", want.js[f], tol.js[f]),
            ):
                vals = range_values(
                    prom, f'{rule}{{model="{MODEL}",feature="{f}"}}', killed, posted - INTERVAL_S
                )
                assert vals, rule
                assert all(math.isfinite(v) and abs(v - before) <= t for v in vals), (rule, f, before, vals)
        vals = range_values(
            prom, f'model:mlscope_accuracy:ratio1h{{model="{MODEL}"}}', killed, posted - INTERVAL_S
        )
        assert vals and all(math.isfinite(v) and abs(v - want.accuracy) <= tol.accuracy for v in vals), vals

        # (2) the survivors' new data joins the dead replica's last window.
        wait_value(prom, "sum(mlscope_rows_total)", sum(map(len, second)) + sum(map(len, first[:2])))
        time.sleep(SETTLE_S / 2)
        got2, t_rule2 = rule_figures(prom)
        eps2 = 1.1 * INTERVAL_S / (t_rule2 - 1.1 * INTERVAL_S - ready)
        counts2 = [bin_counts(metrics(sc.url), profile) for sc in scs[:2]] + [counts[2]]
        all_rows = [*first[0], *second[0]], [*first[1], *second[1]], first[2]
        tol2 = tolerance(profile, counts2, [hits(r) for r in all_rows], eps2)
        want2 = engine_figures(profile, [r for rows in (*first, *second) for r in rows])
        assert_close(got2, want2, tol2, "after one replica died")
