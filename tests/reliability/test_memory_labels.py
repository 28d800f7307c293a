"""The sidecar's memory growth under the app load run is the label-join store filling up.

``benchmarks/load.py --only app`` showed the sidecar's RSS growing by ~7 MiB over 60 s
while the pure-ingest run stayed flat. tracemalloc snapshots of the sidecar during a
longer app run (docs/reliability.md, "Memory") put all of the growth in
``engine/quality/join.py``: the ring of pending predictions starts at 1,024 rows and doubles
as predictions come, up to its capacity (100,000 rows for the demo model), and the app
run at ~1,000 events/s takes 60-100 s to get there; the ingest run (80,000 events/s)
gets there inside its warm-up. These tests drive the store directly, well past its cap,
and check that it then stops growing, and that what it holds stays inside the
``max_bytes`` budget its capacity is derived from.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from mlscope.engine.quality.join import LabelStore

# The demo model's shape (mlscope.demo): 2 classes, 7 features.
N_SCORES, N_FEATURES = 2, 7
BATCH = 500


def _ring_bytes(store: LabelStore) -> int:
    """Every row array of the ring, the id and liveness columns included."""
    arrays = (store._ts, store._pred, store._scores, store._bins, store._slot_id, store._live)
    return sum(int(a.nbytes) for a in arrays)


def _feed(store: LabelStore, ids: list[str], t0: float) -> None:
    n = len(ids)
    rng = np.random.default_rng(len(ids[0]) + n)
    store.add(
        ids,
        np.full(n, t0),
        rng.integers(0, N_SCORES, n).astype(np.float64),
        rng.random((n, N_SCORES)),
        rng.integers(0, 10, (n, N_FEATURES)),
    )


def test_ring_grows_to_capacity_then_stops_even_for_one_repeated_id() -> None:
    """The load run's traffic: every request carries the same id ("r0").

    Only one prediction is ever pending, but each one takes the next slot of the ring
    (the replaced one is freed in place), so the ring grows by doubling until it wraps
    at ``capacity`` rows: bounded, and reached after ``capacity`` predictions.
    """
    store = LabelStore(n_scores=N_SCORES, n_features=N_FEATURES, max_pending=20_000)
    cap = store.capacity
    assert cap == 20_000
    sizes = []
    for i in range(3 * cap // BATCH):
        _feed(store, ["r0"] * BATCH, 1000.0 + i)
        sizes.append(store._size)
    assert store.pending == 1
    assert sizes[0] == 1024  # starts small: a quiet model does not hold its whole budget
    for k, size in enumerate(sizes):  # rows taken so far: (k + 1) * BATCH
        taken = (k + 1) * BATCH
        assert min(cap, taken) <= size <= max(1024, 2 * taken), (k, size)  # doubling
    filled = sizes.index(cap)
    assert set(sizes[filled:]) == {cap}  # full at `capacity` rows, and never past it
    per_row = 8 + 8 + 8 * N_SCORES + 2 * N_FEATURES + 8 + 1  # ts, pred, scores, bins, id ref, live
    assert _ring_bytes(store) == cap * per_row


def test_store_memory_levels_off_at_its_cap_and_stays_inside_max_bytes() -> None:
    """Unique ids, no labels: the worst case (every prediction waits, ids pile up).

    Traced memory is sampled after every batch over 12 x capacity predictions. Once the
    store is full and its remembered-id sets have compacted (after 4 x capacity), the
    memory of the second half of the run may not exceed the first half's peak by more
    than 1% (dict tables resize in steps; a leak of even one small object per event
    would add ~1 MB per 20,000 events here and fail). The whole store, ids included,
    stays under ``max_bytes``, the budget its capacity is derived from.
    """
    max_bytes = 8 * 1024 * 1024
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        store = LabelStore(n_scores=N_SCORES, n_features=N_FEATURES, max_pending=10**9, max_bytes=max_bytes)
        cap = store.capacity
        assert 5_000 < cap < 20_000  # sized by max_bytes here, not by max_pending
        used: list[int] = []
        for i in range(12 * cap // BATCH):
            # ids like a request id: distinct, 12-20 characters
            _feed(store, [f"req-{i:06d}-{j:05d}" for j in range(BATCH)], 1000.0 + i)
            used.append(tracemalloc.get_traced_memory()[0] - base)
        peak_store = max(used)
    finally:
        tracemalloc.stop()
    assert store.pending == cap
    assert store._size == cap
    assert len(store._dropped._d) < 2 * cap
    steady = used[4 * cap // BATCH :]
    first, second = steady[: len(steady) // 2], steady[len(steady) // 2 :]
    assert max(second) <= max(first) * 1.01, (max(first), max(second))
    assert peak_store <= max_bytes, f"store peaked at {peak_store} bytes, budget {max_bytes}"
