"""Monitor: input shapes, buffering, drop counting, shipping and local mode.

The transport is replaced by a recorder (the shipper's test seam) where the test is about
what the Monitor sends or how it counts; the real HTTP path against a real sidecar is in
test_monitor_sidecar.py.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlscope import Monitor
from mlscope.shipper import Response, Shipping, TransportError
from tests._events import COLUMNS, FRAMED, records_of_post
from tests.sidecar._sidecar import make_profile, value


class Recorder:
    """A transport that records decoded columnar bodies (as records) and answers like the sidecar."""

    def __init__(self, *, fail: int = 0, status: int = 200, gate: threading.Event | None = None) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {"/v1/events": [], "/v1/labels": []}
        self.calls = 0
        self.fail = fail
        self.status = status
        self.gate = gate
        self.closed = False

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        if self.gate is not None:
            self.gate.wait(10)
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise TransportError("connection refused")
        assert headers["Content-Type"] == (FRAMED if path == "/v1/events" else COLUMNS)
        recs = records_of_post(body, headers)
        if self.status >= 400:
            return Response(self.status, b'{"error": "no", "reason": "unauthorized"}')
        self.records[path].extend(recs)
        return Response(200, orjson.dumps({"accepted": len(recs), "rejected": 0}))

    def close(self) -> None:
        self.closed = True


def _monitor(transport: Recorder, **kw: Any) -> tuple[Monitor, CollectorRegistry]:
    """A Monitor over ``transport``; Shipping settings given as keywords, fast backoff."""
    reg = CollectorRegistry()
    ship = {k: kw.pop(k) for k in list(kw) if k in Shipping.__dataclass_fields__}
    ship.setdefault("backoff_s", 0.001)
    return Monitor("churn", transport=transport, registry=reg, shipping=Shipping(**ship), **kw), reg


def _m(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return value(generate_latest(reg).decode(), name, model="churn", **labels)


def test_every_input_shape_becomes_the_same_records() -> None:
    t = Recorder()
    mon, reg = _monitor(t, feature_names=["age", "plan"], score_classes=["no", "yes"])
    mon.log({"age": 30, "plan": "pro"}, predictions="yes", ids="a", scores={"yes": 0.8, "no": 0.2})
    mon.log([{"age": 30, "plan": "pro"}], predictions=["yes"], ids=["a"], scores=[{"yes": 0.8, "no": 0.2}])
    mon.log(
        {"age": [30], "plan": ["pro"]},
        predictions=np.array(["yes"]),
        ids=["a"],
        scores=np.array([[0.2, 0.8]]),
    )
    mon.log(
        pd.DataFrame({"age": [30], "plan": ["pro"]}),
        predictions=pd.Series(["yes"]),
        ids=["a"],
        scores=np.array([[0.2, 0.8]]),
    )
    mon.log(
        np.array([[30, "pro"]], dtype=object), predictions=["yes"], ids=np.array(["a"]), scores=[[0.2, 0.8]]
    )
    assert mon.flush(10)
    recs = t.records["/v1/events"]
    assert len(recs) == 5
    for r in recs:
        r.pop("timestamp")
        assert r == {
            "model": "churn",
            "id": "a",
            "features": {"age": 30, "plan": "pro"},
            "prediction": "yes",
            "scores": {"no": 0.2, "yes": 0.8},
        }
    assert _m(reg, "mlscope_events_logged_total") == 5
    assert _m(reg, "mlscope_events_shipped_total") == 5
    mon.close()
    assert t.closed


def test_log_keeps_no_reference_to_the_callers_lists() -> None:
    """Lists are held as tuples: the caller may reuse them after the call, and the buffer
    holds nothing the garbage collector must keep tracking."""
    t = Recorder()
    mon, _ = _monitor(t, feature_names=["age"], interval_s=60)
    rows, preds, ids = [{"age": 30}], ["yes"], ["a"]
    before = [sys.getrefcount(x) for x in (rows, preds, ids)]
    mon.log(rows, predictions=preds, ids=ids)
    assert [sys.getrefcount(x) for x in (rows, preds, ids)] == before
    rows[0], preds[0], ids[0] = {"age": 99}, "no", "b"  # reused by the caller
    assert mon.flush(10)
    (rec,) = t.records["/v1/events"]
    assert (rec["features"], rec["prediction"], rec["id"]) == ({"age": 30}, "yes", "a")
    mon.close()


def test_numpy_values_and_nan_serialise() -> None:
    t = Recorder()
    mon, _ = _monitor(t, feature_names=["x", "y"])
    mon.log(np.array([[1.5, np.nan], [np.float32(2), 3]]), predictions=np.array([0, 1], dtype=np.int64))
    assert mon.flush(10)
    recs = t.records["/v1/events"]
    # Numbers travel raw, so NaN stays NaN (the engine's "nan" issue, as in local mode).
    assert repr([r["features"] for r in recs]) == repr([{"x": 1.5, "y": math.nan}, {"x": 2.0, "y": 3.0}])
    assert [r["prediction"] for r in recs] == [0, 1]
    mon.close()


def test_full_buffer_drops_and_counts_without_blocking() -> None:
    gate = threading.Event()  # holds the background thread inside the transport
    t = Recorder(gate=gate)
    mon, reg = _monitor(t, capacity=10)
    mon.log({"a": 1})
    for _ in range(200):
        mon.log({"a": 1})  # returns at once although nothing is being delivered
    mon.log(pd.DataFrame({"a": range(7)}))  # a dropped DataFrame counts its rows
    gate.set()
    assert not mon.flush(10)  # delivered what it holds, but not everything logged
    assert mon.flush(10)  # nothing logged since the previous flush was lost
    dropped = _m(reg, "mlscope_events_dropped_total", reason="buffer_full")
    shipped = _m(reg, "mlscope_events_shipped_total")
    assert shipped + dropped == 201 + 7
    # What got through is at most one full buffer taken by the background thread before
    # the gate held it (the batch in flight, <= capacity) plus the buffer refilled (capacity).
    assert dropped >= 201 + 7 - 2 * 10
    assert shipped == len(t.records["/v1/events"]) == _m(reg, "mlscope_events_logged_total")
    mon.close()


def test_bad_input_is_counted_and_does_not_spoil_its_batch() -> None:
    t = Recorder()
    mon, reg = _monitor(t)
    mon.log({"a": 1}, predictions=[1, 2])  # two predictions for one row
    mon.log(np.zeros((3, 2)))  # an array without feature names
    mon.log(object())
    mon.log({"a": 2}, predictions=1)
    mon.log_labels(["x", "y"], [1])  # lengths differ
    assert not mon.flush(10)  # some of what was logged was not delivered
    assert [r["features"] for r in t.records["/v1/events"]] == [{"a": 2}]
    assert _m(reg, "mlscope_events_dropped_total", reason="invalid_input") == 1 + 3 + 1 + 2
    mon.close()


def test_each_kind_of_bad_input_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    mon, _ = _monitor(Recorder())
    with caplog.at_level(logging.WARNING, "mlscope.monitor"):
        for _ in range(3):
            mon.log({"a": 1}, predictions=[1, 2])  # two predictions for one row
            mon.log(np.zeros((3, 2)))  # an array without feature names
        assert not mon.flush(10)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines  # two kinds of problem, each said once
    assert "'predictions' has 2 values for 1 rows" in lines[0]
    assert "'features' is an array: give Monitor(feature_names=[...])" in lines[1]
    mon.close()


def test_each_line_names_the_model_the_counter_and_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    # Without a logging setup only the message reaches stderr: it must say which Monitor
    # dropped what, where it is counted and what to do (the new-user trial of issue 15).
    mon, _ = _monitor(Recorder(), feature_names=["a", "b", "c"])
    t = Recorder(fail=100)
    down, _ = _monitor(t, retries=1)
    with caplog.at_level(logging.WARNING, "mlscope.monitor"):
        mon.log(np.zeros((2, 5)))  # 5 unnamed columns for 3 feature names
        assert not mon.flush(10)
        down.log({"a": 1})
        assert not down.flush(10)
    width, unreachable = (r.getMessage() for r in caplog.records)
    assert width.startswith("mlscope Monitor(model='churn'): Monitor.log input dropped: 'features' rows have")
    assert "pass a DataFrame or dicts to name them" in width
    assert width.endswith('[mlscope_events_dropped_total{reason="invalid_input"}]')
    assert unreachable.startswith("mlscope Monitor(model='churn'): sidecar unreachable, dropping 1 records")
    assert "is `mlscope serve` running there?" in unreachable
    mon.close()
    down.close()


def test_unreachable_sidecar_is_retried_then_counted() -> None:
    t = Recorder(fail=2)
    mon, reg = _monitor(t, retries=3)
    mon.log({"a": 1})
    assert mon.flush(10)
    assert len(t.records["/v1/events"]) == 1 and t.calls == 3  # two failures, then delivered
    t.fail = 100
    mon.log([{"a": 1}] * 4)
    assert not mon.flush(10)
    assert _m(reg, "mlscope_events_dropped_total", reason="sidecar_unavailable") == 4
    assert _m(reg, "mlscope_events_shipped_total") == 1
    mon.close()


def test_refused_batch_is_counted_as_rejected() -> None:
    t = Recorder(status=401)
    mon, reg = _monitor(t)
    mon.log([{"a": 1}] * 3)
    mon.log_labels("r1", "yes")
    assert not mon.flush(10)
    assert t.calls == 2  # a 4xx is not retried
    assert _m(reg, "mlscope_events_dropped_total", reason="rejected") == 3 + 1
    mon.close()


def test_labels_are_shipped_with_ids() -> None:
    t = Recorder()
    mon, _ = _monitor(t)
    mon.log_labels(["r1", "r2"], np.array([1, 0]))
    mon.log_labels("r3", "yes")
    assert mon.flush(10)
    got = [(r["id"], r["label"]) for r in t.records["/v1/labels"]]
    assert got == [("r1", 1), ("r2", 0), ("r3", "yes")]
    mon.close()


def test_close_delivers_the_buffer_and_later_logs_are_counted() -> None:
    t = Recorder()
    mon, reg = _monitor(t, interval_s=60)  # no timed wake-up: only close() can deliver
    for i in range(5):
        mon.log({"a": i})
    mon.close()
    assert len(t.records["/v1/events"]) == 5
    mon.log({"a": 9})  # after close: never raises, counted
    assert _m(reg, "mlscope_events_dropped_total", reason="closed") == 1


def test_two_monitors_share_a_registry() -> None:
    reg = CollectorRegistry()
    a = Monitor("a", transport=Recorder(), registry=reg)
    b = Monitor("b", transport=Recorder(), registry=reg)
    a.log({"x": 1})
    b.log([{"x": 1}, {"x": 2}])
    assert a.flush(10) and b.flush(10)
    text = generate_latest(reg).decode()
    assert value(text, "mlscope_events_shipped_total", model="a") == 1
    assert value(text, "mlscope_events_shipped_total", model="b") == 2
    a.close()
    b.close()


def test_local_mode_feeds_the_engine_in_the_app_registry(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    reg = CollectorRegistry()
    mon = Monitor(
        "churn",
        profile=str(profile),
        sidecar=None,
        registry=reg,
        shipping=Shipping(compute_interval_s=0.01, interval_s=0.01),
    )
    mon.log(
        pd.DataFrame({"age": [25.0, 35.0, 45.0], "plan": ["pro", "free", "pro"]}),
        predictions=["yes", "no", "yes"],
        ids=["a", "b", "c"],
    )
    mon.log_labels(["a", "b"], ["yes", "yes"])
    assert mon.flush(10)
    text = generate_latest(reg).decode()
    assert value(text, "mlscope_rows_total", model="churn") == 3
    assert value(text, "mlscope_events_shipped_total", model="churn") == 3
    assert value(text, "mlscope_feature_bin_total", model="churn", feature="plan", bin="pro") == 2
    mon.close()
    # close() frees the name: a second local Monitor of the same model on this registry.
    again = Monitor(
        "churn", profile=str(profile), sidecar=None, registry=reg, shipping=Shipping(interval_s=0.01)
    )
    again.log({"age": 30.0, "plan": "pro"})
    assert again.flush(10)
    text = generate_latest(reg).decode()
    assert value(text, "mlscope_rows_total", model="churn") == 1  # a new model: counts start over
    again.close()


def test_local_mode_needs_a_profile() -> None:
    from mlscope.errors import ConfigError

    with pytest.raises(ConfigError, match="'profile' is required"):
        Monitor("m", sidecar=None, registry=CollectorRegistry())


def test_one_row_calls_past_half_the_buffer_wake_the_thread_without_a_send_due() -> None:
    """One-row calls are held as columns and the idle thread sleeps until its next send,
    here a minute away; the call after half the capacity is buffered and wakes it."""
    t = Recorder()
    mon, reg = _monitor(t, capacity=100, interval_s=60)
    for i in range(60):
        mon.log({"age": float(i), "plan": "pro"}, predictions="yes", ids=str(i))
    deadline = time.monotonic() + 10
    while len(t.records["/v1/events"]) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["id"] for r in t.records["/v1/events"]] == [str(i) for i in range(60)]
    assert _m(reg, "mlscope_events_dropped_total", reason="buffer_full") == 0
    mon.close()
