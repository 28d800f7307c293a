"""The label store against a plain-Python model of its rules, on random operation sequences."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.engine.quality.join import LabelStore

CAPACITY = 8
TTL_S = 50.0

_ids = st.sampled_from([f"k{i}" for i in range(12)])
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(_ids, min_size=1, max_size=12)),
        st.tuples(st.just("join"), st.lists(_ids, min_size=1, max_size=6)),
        st.tuples(st.just("expire"), st.just([])),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_store_joins_exactly_what_the_rules_say(ops: list[tuple[str, list[str]]]) -> None:
    """Rules: a prediction can be joined once, while it is among the last CAPACITY rows
    added, its id was not added again since, and no expiry saw it older than the TTL.
    Every label gets one outcome, and a joined row is the latest prediction of its id."""
    store = LabelStore(n_scores=1, n_features=1, ttl_s=TTL_S, max_pending=CAPACITY)
    assert store.capacity == CAPACITY
    waiting: dict[str, tuple[int, float, float]] = {}  # id -> (row number, ts, pred)
    rows_added = 0
    now = 0.0
    for op, ids in ops:
        now += 10.0
        if op == "add":
            ts = np.full(len(ids), now)
            pred = rows_added + np.arange(len(ids), dtype=float)  # unique value per row
            store.add(ids, ts, pred, pred[:, None] / 1000.0, np.zeros((len(ids), 1), dtype=int))
            for i, key in enumerate(ids):
                waiting[key] = (rows_added + i, now, float(pred[i]))
            rows_added += len(ids)
            waiting = {k: v for k, v in waiting.items() if v[0] >= rows_added - CAPACITY}
        elif op == "expire":
            store.expire(now)
            waiting = {k: v for k, v in waiting.items() if v[1] >= now - TTL_S}
        else:
            res = store.join(ids)
            assert sum(res.outcomes.values()) == len(ids)
            expected_rows, expected_pred = [], []
            for i, key in enumerate(ids):
                if key in waiting:
                    expected_rows.append(i)
                    expected_pred.append(waiting.pop(key)[2])
            assert res.label_rows.tolist() == expected_rows
            assert res.pred.tolist() == expected_pred
            assert res.scores[:, 0].tolist() == [p / 1000.0 for p in expected_pred]
            assert res.outcomes["matched"] == len(expected_rows)
        assert store.pending == len(waiting) <= CAPACITY
