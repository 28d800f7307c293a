"""The per-request form of :attr:`HttpMetrics.record`, kept as the oracle of its fold.

The package counts a request by appending one tuple and folding many at once, column-wise
(``HttpMetrics._local_record``, ``HttpMetrics.fold``). This is the straightforward way, one
request at a time: bisect for the bucket, increment under the lock. Tests run both on the
same requests and compare the counts.
"""

from __future__ import annotations

import time
from bisect import bisect_left

from prometheus_client.samples import Exemplar

from mlscope.middleware._metrics import SIZE_BUCKETS, HttpMetrics


def record_per_request(m: HttpMetrics, method: str, route: str, status: int, error_type: str,
                       duration: float, request_bytes: int, response_bytes: int, ttfb: float,
                       exemplar: dict[str, str] | None, scheme: str | None = None,
                       protocol: str | None = None) -> None:
    """Count one finished request in ``m``'s single-process store at once; ``ttfb`` 0: no body byte."""
    conn = m.connection(scheme, protocol)
    cell = m.cell(method, route, status, error_type, scheme, protocol)
    b = m.buckets
    i = bisect_left(b, duration)
    q = bisect_left(SIZE_BUCKETS, request_bytes) if request_bytes else 0
    r = bisect_left(SIZE_BUCKETS, response_bytes) if response_bytes else 0
    with m._lock:
        m._finished[(method, conn[0])] += 1
        cell.d[i] += 1
        cell.d_sum += duration
        cell.q[q] += 1
        cell.q_sum += request_bytes
        cell.r[r] += 1
        cell.r_sum += response_bytes
        if ttfb:
            cell.t[bisect_left(b, ttfb)] += 1
            cell.t_sum += ttfb
        if exemplar is not None:
            if cell.exemplars is None:
                cell.exemplars = [None] * len(cell.d)
            cell.exemplars[i] = Exemplar(exemplar, duration, time.time())
