"""The single-process ``HttpMetrics.record`` (``_local_record``: the request appends, the
fold counts) must count exactly as the per-request oracle (``tests/middleware/_oracle.py``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from mlscope.middleware._metrics import OTEL_DURATION_BUCKETS, HttpMetrics
from tests.middleware._oracle import record_per_request

# method, route, status, error, duration, request bytes, response bytes, ttfb, exemplar,
# scheme, protocol as the server reported them
CALLS = [
    ("GET", "/items/{id}", 200, "", 0.003, 0, 2, 0.001, None, "http", "1.1"),
    ("GET", "/items/{id}", 200, "", 0.2, 0, 70_000, 0.0, {"trace_id": "ab" * 16, "span_id": "cd" * 8},
     "http", "1.1"),
    ("POST", "/predict", 500, "500", 12.0, 5_000, 0, 0.0, None, "https", "2"),
    ("POST", "/predict", 499, "CancelledError", 0.05, 64, 0, 0.02, None, "http", "1.1"),
    ("_OTHER", "", 404, "", 0.0, 0, 9, 0.0, None, None, None),
]


def _store() -> HttpMetrics:
    return HttpMetrics(CollectorRegistry(), buckets=OTEL_DURATION_BUCKETS, group_status_codes=False,
                       exemplars=True)


def _exposition(m: HttpMetrics) -> list[bytes]:
    # *_created samples are creation timestamps of the two registries: they differ.
    return [line for line in generate_latest(m.registry).splitlines() if b"_created" not in line]


def test_the_closure_counts_like_the_per_request_oracle() -> None:
    fast, slow = _store(), _store()
    assert "record" in vars(fast)  # the closure is installed on the instance
    for call in CALLS:
        for m in (fast, slow):
            m.begin(call[0], m.connection(call[-2], call[-1])[0])
        fast.record(*call)
        record_per_request(slow, *call)
    assert _exposition(fast) == _exposition(slow)
    fast_cells = {c.labels: c for c, *_ in fast.snapshot()[1]}
    slow_cells = {c.labels: c for c, *_ in slow.snapshot()[1]}
    assert fast_cells.keys() == slow_cells.keys() and len(fast_cells) == 4
    for key, c in fast_cells.items():
        s = slow_cells[key]
        assert (c.d, c.q, c.r, c.t) == (s.d, s.q, s.r, s.t)
        assert (c.d_sum, c.q_sum, c.r_sum, c.t_sum) == (s.d_sum, s.q_sum, s.r_sum, s.t_sum)
        fast_ex = None if c.exemplars is None else [e and (e.labels, e.value) for e in c.exemplars]
        slow_ex = None if s.exemplars is None else [e and (e.labels, e.value) for e in s.exemplars]
        assert fast_ex == slow_ex
    assert fast_cells[("GET", "/items/{id}", "200", "", "http", "1.1")].exemplars is not None
    assert ("POST", "/predict", "500", "500", "https", "2") in fast_cells
    assert fast.snapshot()[0] == slow.snapshot()[0] == {m: 0 for m in fast.snapshot()[0]}
