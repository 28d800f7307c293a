"""The background thread's conversion: runs of web-request calls against a piece per call.

:class:`mlscope.logged_columns.Runs` lays consecutive calls of the usual web shape end to
end without a piece each, one call at a time (``add``) or a take's calls at once
(``add_all``); the oracle is the general path, :func:`piece_of` for every call, gathered
the same way. Any mix of shapes, in any order, must give the same columns. The one-row
calls that ``Monitor.log`` lays into columns itself (:class:`RowColumns`) must give the
same rows as the oracle, taken at any moment, beside the calls it refuses.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlscope.errors import InputError
from mlscope.logged_columns import LoggedColumns, RowColumns, Runs, gather, piece_of
from mlscope.shipper import EVENTS

NAMES = ("age", "plan")
CLASSES = ("no", "yes")


def _row(i: int) -> dict[str, Any]:
    return {"age": float(i), "plan": "pro" if i % 2 else "free"}


def _call(rng: random.Random, i: int) -> tuple[Any, ...]:
    """One ``log`` call as the Monitor buffers it, in one of many shapes."""
    n = rng.choice([1, 1, 1, 3])
    rows = [_row(i + k) for k in range(n)]
    p = np.array([0.3 + 0.01 * k for k in range(n)])
    kind = rng.randrange(10)
    features: Any = tuple(rows) if kind < 5 else rows
    predictions: Any = [f"c{i + k}" for k in range(n)]
    ids: Any = [f"r{i}-{k}" for k in range(n)]
    scores: Any = np.column_stack([1 - p, p])
    if kind == 1:
        predictions, ids = np.array(predictions), None
    elif kind == 2:
        scores = [dict(zip(CLASSES, (1 - x, x), strict=True)) for x in p]
    elif kind == 3:
        scores, predictions = None, None
    elif kind == 4 and n == 1:
        predictions, ids = "yes", i  # one plain value for one row
    elif kind == 5:
        features = pd.DataFrame(rows)  # not a web shape: a piece of its own
    elif kind == 6:
        features = {"age": [r["age"] for r in rows], "plan": [r["plan"] for r in rows]}
    elif kind == 7:
        scores = p  # the positive class only
    elif kind == 8 and n == 1:
        features, predictions, ids = rows[0], predictions[0], ids[0]  # one dict, one value each
    return (EVENTS, 1000.0 + i, features, predictions, ids, scores)


def _oracle(items: list[tuple[Any, ...]]) -> LoggedColumns:
    return gather([piece_of(it, NAMES, CLASSES) for it in items])


def _runs(items: list[tuple[Any, ...]]) -> LoggedColumns:
    runs = Runs(NAMES, CLASSES)
    for it in items:
        runs.add(it)
    return gather(runs.done())


def _taken(items: list[tuple[Any, ...]], rng: random.Random) -> LoggedColumns:
    """What the Monitor's thread makes of ``items`` taken in chunks of random size."""
    runs = Runs(NAMES, CLASSES)
    at = 0
    while at < len(items):
        chunk = items[at:at + rng.randrange(1, 12)]
        at += len(chunk)
        if not runs.add_all(chunk):
            for it in chunk:
                runs.add(it)
    return gather(runs.done())


#: How one take's calls are all made by :func:`_web_call`: features, rows, predictions, ids, scores.
_SHAPES = [
    (f, n, p, i, sc)
    for f in ("dict", "list", "tuple")
    for n in ((1,) if f == "dict" else (1, 3))
    for p in ("list", "array", "plain", None)
    for i in ("list", "plain", None)
    for sc in ("matrix", "maps", None)
    if n == 1 or "plain" not in (p, i)
]


def _web_call(shape: tuple[Any, ...], i: int) -> tuple[Any, ...]:
    form, n, pform, iform, sform = shape
    rows = [_row(i + k) for k in range(n)]
    p = np.array([0.3 + 0.01 * k for k in range(n)])
    features = rows[0] if form == "dict" else tuple(rows) if form == "tuple" else rows
    labels = [f"c{i + k}" for k in range(n)]
    predictions = {"list": labels, "array": np.array(labels, dtype=object), "plain": labels[0],
                   None: None}[pform]
    ids = {"list": [f"r{i}-{k}" for k in range(n)], "plain": i, None: None}[iform]
    scores = {"matrix": np.column_stack([1 - p, p]),
              "maps": [dict(zip(CLASSES, (1 - x, x), strict=True)) for x in p], None: None}[sform]
    return (EVENTS, 1000.0 + i, features, predictions, ids, scores)


def _same(a: LoggedColumns, b: LoggedColumns) -> None:
    assert a.n_rows == b.n_rows
    assert a.timestamps == b.timestamps
    assert a.ids == b.ids
    assert a.predictions == b.predictions
    assert a.score_classes == b.score_classes
    if a.scores is None or b.scores is None:
        assert a.scores is None and b.scores is None
    else:
        np.testing.assert_array_equal(a.scores, b.scores)
    assert a.features.keys() == b.features.keys()
    for k in a.features:
        assert list(a.features[k]) == list(b.features[k]), k


@pytest.mark.parametrize("seed", range(30))
def test_runs_give_the_columns_of_a_piece_per_call(seed: int) -> None:
    rng = random.Random(seed)
    items = [_call(rng, 10 * i) for i in range(rng.randrange(1, 40))]
    _same(_runs(items), _oracle(items))


@pytest.mark.parametrize("seed", range(30))
def test_calls_taken_at_once_give_the_columns_of_a_piece_per_call(seed: int) -> None:
    rng = random.Random(seed)
    items = [_call(rng, 10 * i) for i in range(rng.randrange(1, 40))]
    _same(_taken(items, rng), _oracle(items))


@pytest.mark.parametrize("shape", _SHAPES, ids=lambda s: "-".join(map(str, s)))
def test_a_take_of_one_web_shape_is_added_at_once(shape: tuple[Any, ...]) -> None:
    items = [_web_call(shape, 10 * i) for i in range(5)]
    runs = Runs(NAMES, CLASSES)
    assert runs.add_all(items[:3]) and runs.add_all(items[3:])
    _same(gather(runs.done()), _oracle(items))


@pytest.mark.parametrize("seed", range(10))
def test_takes_of_changing_web_shapes_give_the_columns_of_a_piece_per_call(seed: int) -> None:
    rng = random.Random(seed)
    items = [_web_call(shape, 100 * k + 10 * i) for k, shape in enumerate(rng.sample(_SHAPES, 6))
             for i in range(rng.randrange(1, 6))]
    _same(_taken(items, rng), _oracle(items))


def test_a_take_with_one_unlike_call_is_refused_whole() -> None:
    good = [_web_call(("list", 1, "list", "list", "matrix"), 10 * i) for i in range(3)]
    bad = [
        (EVENTS, 5.0, (_row(5),), ("yes", "no"), ("b",), np.array([[0.2, 0.8]])),  # two predictions, one row
        (EVENTS, 5.0, (_row(5),), ("yes",), ("b", "c"), np.array([[0.2, 0.8]])),  # two ids for one row
        (EVENTS, 5.0, (_row(5),), ("yes",), ("b",), np.array([[0.2, 0.8], [0.3, 0.7]])),  # two score rows
        (EVENTS, 5.0, (_row(5),), ("yes",), ("b",), np.array([[0.2, 0.3, 0.5]])),  # three classes
        (EVENTS, 5.0, (_row(5),), ("yes",), ("b",), np.array([[1, 0]])),  # integer scores
        (EVENTS, 5.0, (), (), (), None),  # no rows
    ]
    for b in bad:
        runs = Runs(NAMES, CLASSES)
        assert not runs.add_all([*good, b])
        assert runs.done() == []


def test_calls_of_one_shape_make_one_piece() -> None:
    rng = random.Random(0)
    runs = Runs(NAMES, CLASSES)
    for i in range(100):
        p = rng.random()
        runs.add((EVENTS, float(i), (_row(i),), ("yes",), (f"r{i}",), np.array([[1 - p, p]])))
    pieces = runs.done()
    assert len(pieces) == 1 and pieces[0].n_rows == 100
    assert pieces[0].timestamp == [float(i) for i in range(100)]


def test_a_bad_call_raises_and_leaves_the_run_intact() -> None:
    runs = Runs(NAMES, CLASSES)
    good = (EVENTS, 1.0, (_row(1),), ("yes",), ("a",), np.array([[0.2, 0.8]]))
    runs.add(good)
    with pytest.raises(InputError, match="'predictions' has 2 values for 1 rows"):
        runs.add((EVENTS, 2.0, (_row(2),), ("yes", "no"), ("b",), None))
    with pytest.raises(InputError, match="'scores' has 3 columns"):
        runs.add((EVENTS, 3.0, (_row(3),), ("yes",), ("c",), np.array([[0.2, 0.3, 0.5]])))
    runs.add(good)
    cols = gather(runs.done())
    assert cols.n_rows == 2 and cols.ids == ["a", "a"]


# ----------------------------------------------------------------- one-row calls in log()
def _rows_of(cols: LoggedColumns) -> list[tuple[Any, ...]]:
    """Each row with every field, in timestamp order (the order pieces were taken in aside)."""
    classes = cols.score_classes
    out = []
    for i in range(cols.n_rows):
        scores = None
        if cols.scores is not None:
            scores = {c: v for c, v in zip(classes, cols.scores[i].tolist(), strict=True) if v == v}
        features = {k: v[i] for k, v in cols.features.items() if v[i] is not None}
        out.append((cols.timestamps[i], cols.ids and cols.ids[i], cols.predictions and cols.predictions[i],
                    scores or None, sorted(features.items())))
    return sorted(out, key=lambda r: r[0])


def _laned(items: list[tuple[Any, ...]], rng: random.Random) -> tuple[LoggedColumns, int]:
    """What the Monitor makes of ``items``: the lane takes what it can, the buffer the rest."""
    lane, runs, buffered, laned = RowColumns(CLASSES, 10_000), Runs(NAMES, CLASSES), [], 0
    for it in items:
        if lane.add(*it[1:]):
            laned += 1
        else:
            buffered.append(it)
        if rng.random() < 0.2:  # the thread's take, between any two calls
            piece = lane.take(10_000)
            if piece is not None:
                runs.add_piece(piece)
            for b in buffered:
                runs.add(b)
            buffered = []
    piece = lane.take(10_000)
    if piece is not None:
        runs.add_piece(piece)
    for b in buffered:
        runs.add(b)
    return gather(runs.done()), laned


@pytest.mark.parametrize("seed", range(30))
def test_calls_laid_in_columns_at_log_time_give_the_rows_of_a_piece_per_call(seed: int) -> None:
    rng = random.Random(seed)
    items = [_call(rng, 10 * i) for i in range(rng.randrange(1, 40))]
    got, _ = _laned(items, rng)
    assert _rows_of(got) == _rows_of(_oracle(items))


@pytest.mark.parametrize("shape", _SHAPES, ids=lambda s: "-".join(map(str, s)))
def test_one_row_web_calls_go_to_the_lane_and_others_to_the_buffer(shape: tuple[Any, ...]) -> None:
    items = [_web_call(shape, 10 * i) for i in range(5)]
    got, laned = _laned(items, random.Random(0))
    assert _rows_of(got) == _rows_of(_oracle(items))
    # One row each (with one prediction and id, a matrix or a map of scores): laid in
    # columns; several rows per call: buffered.
    assert laned == (5 if shape[1] == 1 else 0)


def test_the_lane_refuses_what_is_not_one_web_row() -> None:
    lane = RowColumns(CLASSES, 10_000)
    row, proba = _row(1), np.array([[0.2, 0.8]])
    refused = [
        ({"age": [1.0, 2.0], "plan": ["a", "b"]}, None, None, None),  # a dict of columns
        ([row, row], ["a", "b"], None, None),  # two rows
        ([], None, None, None),
        ({}, None, None, None),
        (row, ["yes", "no"], None, None),  # two predictions for one row
        (row, None, np.array(["a", "b"]), None),  # two ids
        (row, None, None, np.array([[0.2, 0.3, 0.5]])),  # three classes
        (row, None, None, np.array([[1, 0]])),  # integer scores
        (row, None, None, np.array([[0.2, 0.8]], dtype=np.float32)),  # buffered, as float64 there
        (row, None, None, np.array([0.8])),  # the positive class only
        (pd.DataFrame([row]), None, None, None),
    ]
    for call in refused:
        assert not lane.add(1.0, *call), call
    assert lane.n == 0 and lane.take(10_000) is None
    assert lane.add(1.0, row, "yes", "a", proba)
    assert lane.add(2.0, {"plan": "pro", "age": 3.0}, "yes", "b", proba)  # its names in another order
    assert not lane.add(2.0, {"age": 3.0, "tier": "pro"}, "yes", "b", proba)  # other names
    assert not lane.add(2.0, row, "yes", None, proba)  # no id where the run has them
    assert not RowColumns(None, 10_000).add(1.0, row, "yes", "a", proba)  # a matrix of unknown classes


def test_the_lane_holds_at_most_its_room_and_nothing_once_closed() -> None:
    lane = RowColumns(CLASSES, 3)
    assert [lane.add(float(i), _row(i), None, None, None) for i in range(5)] == [True] * 3 + [False] * 2
    piece = lane.take(10)  # 10 calls in all, 3 of them taken now: 7 more until the next take
    assert piece is not None and piece.n_rows == 3 and piece.columns == {"age": [0.0, 1.0, 2.0],
                                                                        "plan": ["free", "pro", "free"]}
    assert sum(lane.add(float(i), _row(i), None, None, None) for i in range(10)) == 7
    lane.close()
    assert lane.take(10) is not None and not lane.add(1.0, _row(1), None, None, None)


def test_rows_logged_from_many_threads_keep_their_values_together() -> None:
    lane, pieces, refused, done = RowColumns(CLASSES, 1_000_000), [], [], threading.Event()

    def log(k: int) -> None:
        for i in range(2000):
            v = k * 10_000 + i
            if not lane.add(float(v), {"age": float(v), "plan": str(v)}, str(v), v,
                            np.array([[v / 1e5, 1 - v / 1e5]])):
                refused.append(v)  # the lock was held: Monitor.log buffers such a call instead

    def take() -> None:
        while not done.is_set():
            p = lane.take(1_000_000)
            if p is not None:
                pieces.append(p)
            time.sleep(0.0005)

    taker = threading.Thread(target=take)
    taker.start()
    loggers = [threading.Thread(target=log, args=(k,)) for k in range(4)]
    for t in loggers:
        t.start()
    for t in loggers:
        t.join()
    done.set()
    taker.join()
    last = lane.take(0)
    cols = gather(pieces + ([last] if last is not None else []))
    assert cols.n_rows + len(refused) == 8000 and cols.n_rows and cols.scores is not None
    assert sorted((cols.ids or []) + refused) == sorted(k * 10_000 + i for k in range(4) for i in range(2000))
    for i, v in enumerate(cols.ids or []):
        assert (cols.timestamps[i], cols.features["age"][i], cols.features["plan"][i]) == (v, v, str(v))
        assert cols.predictions is not None and cols.predictions[i] == str(v)
        assert cols.scores[i, 1] == 1 - v / 1e5
