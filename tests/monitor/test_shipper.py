"""The Monitor's background thread: it takes buffered calls often and sends them in batches.

Taking soon is what keeps a call's objects young for the garbage collector (see
:class:`mlscope.shipper.Shipper`); sending in batches is what keeps requests to the
sidecar few. Both are checked here on the Shipper with plain callbacks; the Monitor's
side of it (no reference kept to a caller's list) is in test_monitor.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mlscope.shipper import EVENTS, Shipper


class _Calls:
    def __init__(self) -> None:
        self.took: list[Any] = []
        self.sent: list[list[Any]] = []
        self.lock = threading.Lock()

    def take(self, batch: list[Any], items: list[Any]) -> None:
        with self.lock:
            self.took.extend(items)
        batch.extend(items)

    def send(self, batch: list[Any]) -> None:
        with self.lock:
            self.sent.append(batch)


def _until(cond: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_calls_are_taken_soon_and_sent_together() -> None:
    c = _Calls()
    s: Shipper[list[Any]] = Shipper(list, c.take, c.send, capacity=1000, batch_items=500,
                                    interval_s=60, take_interval_s=0.02)
    for i in range(10):
        assert s.put((EVENTS, i))
        time.sleep(0.01)
    assert _until(lambda: len(c.took) == 10)
    assert c.sent == []  # taken, not sent: the send interval has not passed
    assert len(s) == 10  # still counted as buffered until sent
    assert s.flush(5)
    assert c.sent == [[(EVENTS, i) for i in range(10)]]  # one batch, in order
    assert len(s) == 0
    s.close()


def test_a_full_batch_is_sent_without_waiting_for_the_interval() -> None:
    c = _Calls()
    s: Shipper[list[Any]] = Shipper(list, c.take, c.send, capacity=1000, batch_items=20,
                                    interval_s=60, take_interval_s=0.02)
    for i in range(45):
        s.put((EVENTS, i))
    assert _until(lambda: sum(map(len, c.sent)) == 40)
    assert all(len(b) == 20 for b in c.sent)
    s.close()
    assert [it[1] for b in c.sent for it in b] == list(range(45))  # close sent the rest


def test_the_interval_sends_a_partial_batch() -> None:
    c = _Calls()
    s: Shipper[list[Any]] = Shipper(list, c.take, c.send, capacity=1000, batch_items=500,
                                    interval_s=0.1, take_interval_s=0.02)
    s.put((EVENTS, 0))
    assert _until(lambda: c.sent == [[(EVENTS, 0)]], 2.0)
    s.close()


class _Lane:
    """Calls held beside the buffer, as the Monitor's one-row calls are; counts the takes."""

    def __init__(self) -> None:
        self.held, self.takes = 0, 0

    def __len__(self) -> int:
        return self.held

    def collect(self, batch: list[Any], room: int) -> int:
        self.takes += 1
        n, self.held = self.held, 0
        batch.extend([(EVENTS, "lane")] * n)
        return n

    def clear(self) -> None:
        self.held = 0


def test_without_buffered_calls_the_thread_wakes_once_per_send() -> None:
    c, lane = _Calls(), _Lane()
    s: Shipper[list[Any]] = Shipper(list, c.take, c.send, capacity=1000, batch_items=500,
                                    interval_s=0.2, take_interval_s=0.01, lane=lane)
    lane.held = 3
    assert _until(lambda: len(c.sent) == 1)  # the lane's calls went at the first send
    takes = lane.takes
    time.sleep(0.5)  # 50 take intervals, 2 or 3 sends
    assert lane.takes - takes <= 4
    assert s.put((EVENTS, 0))  # a buffered call wakes it, and it takes soon again
    assert _until(lambda: c.took == [(EVENTS, 0)], 0.15)
    assert len(s) == 1
    assert s.flush(5) and c.sent[-1] == [(EVENTS, 0)] and c.sent[0] == [(EVENTS, "lane")] * 3
    s.close()
