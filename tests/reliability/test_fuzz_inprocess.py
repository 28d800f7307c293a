"""Property-based fuzzing of the in-process edges: Monitor, ingest parsing, profile loader.

The promises under test (docs/reliability.md):

- ``Monitor.log`` / ``Monitor.log_labels`` never raise and never block; every event is
  either delivered or counted in ``mlscope_events_dropped_total{reason}``.
- The ingest parser raises only :class:`RequestError` (a 4xx with a reason) and accounts
  for every record: accepted or listed as a record error.
- ``Profile.load`` on a damaged file raises only :class:`ProfileError`, naming the field.

Hypothesis runs derandomised (fixed seed per test) with modest example counts, so CI
sees the same inputs every run and the suite stays fast.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from mlscope import Monitor
from mlscope.engine.profile import Profile
from mlscope.errors import ProfileError
from mlscope.shipper import Shipping
from mlscope.sidecar.config import SidecarConfig
from mlscope.sidecar.ingest import RequestError, decode_body, validate_records
from mlscope.sidecar.service import Service
from tests.reliability._strategies import feature_payloads, json_values, scalars, text
from tests.sidecar._sidecar import make_profile

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_DROP_REASONS = ("buffer_full", "sidecar_unavailable", "rejected", "invalid_input", "closed", "shutdown")


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_profile(tmp_path_factory.mktemp("profile") / "ref.json", n_features=3)


def _v(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return reg.get_sample_value(name, labels) or 0.0


class _Counts:
    """The Monitor's own counters, read from its private registry."""

    def __init__(self, reg: CollectorRegistry, model: str) -> None:
        self.reg, self.model = reg, model

    def __call__(self) -> dict[str, float]:
        m = self.model
        out = {
            "logged": _v(self.reg, "mlscope_events_logged_total", model=m),
            "shipped": _v(self.reg, "mlscope_events_shipped_total", model=m),
            "rows": _v(self.reg, "mlscope_rows_total", model=m),
        }
        for r in _DROP_REASONS:
            out[r] = _v(self.reg, "mlscope_events_dropped_total", model=m, reason=r)
        return out


@pytest.fixture(scope="module")
def local_monitor(profile_path: Path) -> Iterator[tuple[Monitor, _Counts]]:
    reg = CollectorRegistry()
    mon = Monitor(
        "churn",
        profile=str(profile_path),
        sidecar=None,
        registry=reg,
        feature_names=["age", "plan", "f2"],
        shipping=Shipping(interval_s=0.05),
    )
    yield mon, _Counts(reg, "churn")
    mon.close()


@FUZZ
@given(
    features=feature_payloads,
    predictions=st.one_of(st.none(), scalars, st.lists(scalars, max_size=6)),
    ids=st.one_of(st.none(), scalars, st.lists(scalars, max_size=6)),
    scores=st.one_of(
        st.none(), st.floats(), st.lists(st.floats(), max_size=6), st.dictionaries(text, scalars)
    ),
)
def test_monitor_log_never_raises_and_accounts_for_every_event(
    local_monitor: tuple[Monitor, _Counts], features: Any, predictions: Any, ids: Any, scores: Any
) -> None:
    mon, counts = local_monitor
    before = counts()
    mon.log(features, predictions=predictions, ids=ids, scores=scores)  # must not raise
    delivered = mon.flush(10)
    after = counts()
    # flush() answers True exactly when nothing logged since the previous flush was dropped.
    assert delivered == (_dropped(after) == _dropped(before)), (before, after)
    logged = after["logged"] - before["logged"]
    shipped = after["shipped"] - before["shipped"]
    invalid = after["invalid_input"] - before["invalid_input"]
    # Local mode: rows taken into the buffer (logged) are either ingested by the engine
    # (shipped) or, when predictions/ids/scores do not fit them, counted as invalid_input.
    # Features that cannot be read as rows at all are logged as nothing and counted as
    # invalid_input; only an input with zero rows may leave every counter unchanged.
    if logged > 0:
        assert shipped + invalid == logged, (before, after)
    else:
        assert shipped == 0 and (invalid > 0 or _empty(features)), (before, after)
    assert after["rows"] - before["rows"] == shipped
    # The engine is still healthy: a well-formed event right after is counted.
    mon.log({"age": 33.0, "plan": "pro", "f2": 0.1}, predictions="yes")
    assert mon.flush(10)
    assert counts()["rows"] == after["rows"] + 1


def _dropped(counts: dict[str, float]) -> float:
    return sum(counts[r] for r in _DROP_REASONS)


def _empty(features: Any) -> bool:
    """Inputs that legitimately hold zero rows (an empty list, columns of length 0)."""
    if isinstance(features, np.ndarray):
        return features.size == 0
    if isinstance(features, list):
        return len(features) == 0 or all(isinstance(r, list) and not r for r in features)
    if isinstance(features, dict):
        vals = list(features.values())
        return bool(vals) and all(isinstance(v, list) and not v for v in vals)
    return False


@FUZZ
@given(
    ids=st.one_of(scalars, st.lists(scalars, max_size=6), json_values),
    labels=st.one_of(scalars, st.lists(scalars, max_size=6), json_values),
)
def test_monitor_log_labels_never_raises(
    local_monitor: tuple[Monitor, _Counts], ids: Any, labels: Any
) -> None:
    mon, counts = local_monitor
    dropped = _dropped(counts())
    mon.log_labels(ids, labels)  # must not raise
    assert mon.flush(10) == (_dropped(counts()) == dropped)
    before = counts()["rows"]
    mon.log({"age": 41.0, "plan": "free", "f2": -0.2}, predictions="no", ids="after-labels")
    assert mon.flush(10)
    assert counts()["rows"] == before + 1  # the background thread survived whatever came


def test_monitor_never_blocks_on_a_sidecar_that_never_answers() -> None:
    """A sidecar that accepts the TCP connection but never replies: log() keeps returning."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1)  # never accept(): connections sit in the backlog, requests time out
    port = blackhole.getsockname()[1]
    reg = CollectorRegistry()
    mon = Monitor(
        "bh",
        sidecar=f"http://127.0.0.1:{port}",
        registry=reg,
        shipping=Shipping(capacity=50, retries=0, timeout_s=0.5, interval_s=0.05),
    )
    n = 20_000
    done = threading.Event()

    def app_thread() -> None:
        for i in range(n):
            mon.log({"age": float(i), "plan": "pro"}, predictions="yes", ids=i)
        done.set()

    t = threading.Thread(target=app_thread, daemon=True)
    t.start()
    # A hang detector, not a timing: 20,000 enqueue-or-drop calls take milliseconds; a
    # blocking log() would wait at least 0.5 s per call on the dead sidecar.
    assert done.wait(60), "Monitor.log blocked behind a sidecar that never answers"
    mon.close(timeout_s=1.0)
    counts = _Counts(reg, "bh")

    def accounted() -> float:
        c = counts()
        return c["shipped"] + sum(c[r] for r in _DROP_REASONS if r != "invalid_input")

    # The batch in flight when close() returned is counted by the background thread as
    # soon as its request times out; wait for it instead of racing it.
    for _ in range(100):
        if accounted() == n:
            break
        threading.Event().wait(0.1)
    c = counts()
    assert accounted() == n, c
    assert c["buffer_full"] > 0 and c["shipped"] == 0
    blackhole.close()


# --------------------------------------------------------------------- ingest parsing
_CTYPES = st.sampled_from(
    ["application/json", "application/x-ndjson", "text/plain", "", "application/json; charset=utf-8"]
)


def _hostile_bytes() -> st.SearchStrategy[bytes]:
    as_json = json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())  # NaN/Infinity literals
    records = st.lists(
        st.fixed_dictionaries(
            {"features": st.dictionaries(text, scalars, max_size=5)},
            optional={
                "model": st.one_of(st.just("churn"), text, json_values),
                "id": scalars,
                "timestamp": scalars,
                "prediction": json_values,
                "scores": json_values,
                "label": json_values,
            },
        ),
        max_size=5,
    ).map(lambda rs: b"\n".join(json.dumps(r, allow_nan=True).encode() for r in rs))
    return st.one_of(
        st.binary(max_size=300),  # invalid UTF-8 and everything else
        as_json,
        records,
        st.integers(1, 3000).map(lambda d: b"[" * d + b"0" + b"]" * d),  # deep nesting, written as bytes
        records.map(gzip.compress),
        records.map(lambda b: gzip.compress(b)[:-5]),  # truncated gzip
    )


@FUZZ
@given(body=_hostile_bytes(), ctype=_CTYPES, enc=st.sampled_from(["", "gzip", "identity", "br", "GZIP"]))
def test_ingest_parser_raises_only_request_errors_and_accounts_for_records(
    body: bytes, ctype: str, enc: str
) -> None:
    try:
        values = decode_body(body, content_type=ctype, content_encoding=enc, max_bytes=1 << 16, max_depth=32)
    except RequestError as e:
        assert 400 <= e.status < 500 and e.reason and e.message
        return
    parsed = validate_records(values, models=["churn", "fraud"], kind="events", default_now=1.0)
    assert parsed.n_accepted + len(parsed.errors) == len(values) == parsed.n_records
    for err in parsed.errors:
        assert err.reason in {"bad_json", "wrong_type", "unknown_model", "missing_model"} and err.message


@pytest.fixture(scope="module")
def service(profile_path: Path) -> Service:
    cfg = SidecarConfig.model_validate({"models": {"churn": {"profile": str(profile_path)}}})
    return Service(cfg)


@FUZZ
@given(body=_hostile_bytes(), ctype=_CTYPES, kind=st.sampled_from(["events", "labels"]))
def test_service_ingest_counts_every_rejection_and_never_crashes(
    service: Service, body: bytes, ctype: str, kind: str
) -> None:
    reg = service.registry

    def rejected() -> float:
        return sum(
            s.value
            for fam in service.metrics.rejected.collect()
            for s in fam.samples
            if s.name.endswith("_total")
        )

    ev0, rej0 = _v(reg, "mlscope_ingest_events_total", model="churn"), rejected()
    try:
        parsed = service.ingest_body(body, content_type=ctype, content_encoding="", kind=kind)
    except RequestError:
        assert rejected() == rej0 + 1  # one whole-request rejection, one increment
        return
    assert rejected() == rej0 + len(parsed.errors)
    expected_events = parsed.n_accepted if kind == "events" else 0
    assert _v(reg, "mlscope_ingest_events_total", model="churn") == ev0 + expected_events
    service.compute(now=2e9)  # drift/quality over whatever was ingested must not fail either


# --------------------------------------------------------------------- profile loader
def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, (*prefix, i))


@pytest.fixture(scope="module")
def profile_doc(profile_path: Path) -> tuple[str, list[tuple[Any, ...]]]:
    text_ = profile_path.read_text()
    return text_, [p for p in _paths(json.loads(text_)) if p]


def _mutate(doc: Any, path: tuple[Any, ...], op: str, new: Any) -> Any:
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "delete":
        del parent[last]
    else:
        parent[last] = new
    return doc


@FUZZ
@given(data=st.data(), op=st.sampled_from(["delete", "replace"]), new=json_values)
def test_profile_loader_raises_only_profile_errors_on_mutated_files(
    tmp_path_factory: pytest.TempPathFactory,
    profile_doc: tuple[str, list[tuple[Any, ...]]],
    data: st.DataObject,
    op: str,
    new: Any,
) -> None:
    text_, paths = profile_doc
    path = data.draw(st.sampled_from(paths))
    doc = _mutate(json.loads(text_), path, op, new)
    f = tmp_path_factory.mktemp("mut") / "p.json"
    f.write_text(json.dumps(doc, allow_nan=True))
    try:
        Profile.load(f)
    except ProfileError as e:
        msg = str(e)
        assert str(f) in msg  # the file is named
        if len(path) == 1 and op == "delete":
            assert repr(path[0])[1:-1] in msg or "format" in msg, msg  # a missing top-level field is named
    # any other exception type fails the test (hypothesis reports it with the input)


@FUZZ
@given(data=st.data(), garbage=st.binary(max_size=20))
def test_profile_loader_on_truncated_and_binary_files(
    tmp_path_factory: pytest.TempPathFactory,
    profile_doc: tuple[str, list[tuple[Any, ...]]],
    data: st.DataObject,
    garbage: bytes,
) -> None:
    raw = profile_doc[0].encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    f = tmp_path_factory.mktemp("trunc") / "p.json"
    f.write_bytes(raw[:cut] + garbage)
    with pytest.raises(ProfileError) as exc:
        Profile.load(f)
    assert str(f) in str(exc.value)


@pytest.mark.parametrize("version", [0, 2, "1", None, 1.5, [1]])
def test_profile_of_another_version_is_refused_naming_the_field(
    tmp_path: Path, profile_doc: tuple[str, list[tuple[Any, ...]]], version: Any
) -> None:
    doc = json.loads(profile_doc[0])
    doc["version"] = version
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(ProfileError, match="'version'"):
        Profile.load(f)
