"""Background batching and transport for :class:`mlscope.Monitor`.

Two pieces, each testable alone:

- :class:`Shipper`: a bounded buffer and one daemon thread. Callers ``put`` references
  (O(1), no conversion, never blocks); the thread takes what is buffered every
  ``take_interval_s`` (while calls come) into the owner's outgoing batch, with what the
  owner's lane holds, and sends that batch every
  ``interval_s`` or when it is full. ``flush`` and ``close`` wait (bounded) until what
  was put before them is handled.
- :class:`HTTPTransport`: POST of a body to the sidecar over one keep-alive connection
  (``http.client``), and :func:`post_with_retry` around any :class:`Transport` with
  exponential backoff. The transport is a protocol so tests can replace the network,
  as httpx's ``MockTransport`` does; the real one is used against a real sidecar.
"""

from __future__ import annotations

import gzip
import http.client
import ipaddress
import logging
import os
import ssl
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

log = logging.getLogger("mlscope.monitor")


class TransportError(OSError):
    """The sidecar could not be reached or answered with a server error."""


@dataclass(frozen=True)
class Response:
    """What a transport returns: the status and the (JSON) body."""

    status: int
    body: bytes


class Transport(Protocol):
    """Sends one request body to a path of the sidecar."""

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response: ...

    def close(self) -> None: ...


class HTTPTransport:
    """POST over one persistent HTTP(S) connection, reopened after any failure."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'sidecar' must be an http:// or https:// URL (got {base_url!r})")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        #: True for a sidecar on this machine: bodies then go uncompressed (gzip would
        #: cost both processes more CPU than the loopback bytes it saves).
        self.loopback = _is_loopback(parts.hostname)
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._ssl = ssl_context
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._conn: http.client.HTTPConnection | None = None
        self._pid = os.getpid()

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            ctx = self._ssl or ssl.create_default_context()
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s, context=ctx)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        if self._pid != os.getpid():
            # A forked child shares the parent's socket: never talk over it (left open,
            # the parent still owns it), open our own.
            self._pid, self._conn = os.getpid(), None
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.request("POST", self._prefix + path, body=body, headers={**headers, **self._auth})
            r = self._conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise TransportError(f"POST {path} to {self._host}:{self._port} failed: {e}") from e
        if r.will_close:
            self.close()
        return Response(r.status, data)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post_with_retry(
    transport: Transport,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    retries: int = 3,
    backoff_s: float = 0.1,
    max_backoff_s: float = 2.0,
    stop: threading.Event | None = None,
) -> Response:
    """POST, retrying connection failures and 5xx/429 with exponential backoff.

    4xx other than 429 is returned at once: sending the same body again cannot help.
    Raises :class:`TransportError` when every attempt failed.
    """
    delay = backoff_s
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            r = transport.post(path, body, headers)
        except OSError as e:
            last = e
        else:
            if r.status < 500 and r.status != 429:
                return r
            last = TransportError(f"POST {path}: sidecar answered {r.status}")
        if attempt == retries or (stop is not None and stop.is_set()):
            break
        time.sleep(delay)
        delay = min(delay * 2, max_backoff_s)
    raise TransportError(str(last))


def gzip_body(data: bytes) -> bytes:
    """Gzip at level 1: NDJSON shrinks 5-10x at a small CPU cost on the background thread."""
    return gzip.compress(data, compresslevel=1, mtime=0)


@dataclass(frozen=True)
class Shipping:
    """How a Monitor's background thread buffers, batches and delivers (one group of knobs).

    ``capacity``: buffered ``log`` calls before new ones are dropped (``buffer_full``);
    ``batch_events``: rows per request at most; ``interval_s``: how often the thread
    sends a partial batch; ``take_interval_s``: how often it takes the buffered calls
    into that batch while any come (converted while fresh; see :class:`Shipper`);
    ``retries``/``backoff_s``: for connection failures, 5xx and 429 (exponential, capped
    at 2 s); ``timeout_s``: per HTTP request;
    ``close_timeout_s``: what ``close()`` (and exit) may spend delivering the buffer;
    ``compute_interval_s``: local mode's drift recomputation.
    """

    capacity: int = 10_000
    batch_events: int = 5000
    interval_s: float = 0.5
    take_interval_s: float = 0.05
    retries: int = 3
    backoff_s: float = 0.1
    timeout_s: float = 5.0
    close_timeout_s: float = 5.0
    compute_interval_s: float = 5.0

    def __post_init__(self) -> None:
        for key in ("capacity", "batch_events"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"'shipping.{key}' must be an int >= 1 (got {v!r})")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"'shipping.retries' must be an int >= 0 (got {self.retries!r})")
        for key in ("interval_s", "take_interval_s", "backoff_s", "timeout_s", "close_timeout_s",
                    "compute_interval_s"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"'shipping.{key}' must be a number of seconds >= 0 (got {v!r})")


# item kinds in the buffer
EVENTS = 0
LABELS = 1
MARKER = 2

Item = tuple[Any, ...]
B = TypeVar("B")
B_in = TypeVar("B_in", contravariant=True)


class Lane(Protocol[B_in]):
    """Calls an owner holds beside the buffer (already converted), taken with it."""

    def __len__(self) -> int: ...

    def collect(self, batch: B_in, room: int) -> int:
        """Move the calls held into ``batch`` (how many); at most ``room`` more until the next."""
        ...

    def clear(self) -> None: ...


class Shipper(Generic[B]):
    """Bounded buffer + one daemon thread: takes what is buffered often, sends it in batches.

    Callers ``put`` references (O(1), never blocks; a full buffer makes it return False so
    the caller counts the drop; ``capacity`` bounds the calls buffered or taken and not
    yet sent). Every ``take_interval_s`` the thread hands the buffered items to
    ``take(batch, items)``, which converts them into the owner's outgoing ``batch`` (made
    by ``new_batch``); ``send(batch)`` delivers it when ``batch_items`` calls (or half the
    capacity) were taken, ``interval_s`` passed since the last send, a flush waits, or on
    close.

    Why take more often than send: a call's tuple (and the caller's containers it holds)
    then lives a few dozen milliseconds, not half a second. Buffered that long, they
    outlived the young garbage-collector generations and brought on a full collection of
    the app's heap every few seconds (80 to 100 ms each in the demo app); taken fresh they die
    young, and the conversion reads them while they are still in the CPU's cache.
    ``take`` and ``send`` must not raise (exceptions are logged and handed to ``on_error``).

    A ``lane`` holds calls its owner converted as they were logged; each take collects
    them first, and they count against ``capacity`` with the buffered ones. They need no
    early take (no object per call for the collector), so while nothing is buffered the
    thread sleeps until its next send, and ``put`` wakes it for the first buffered call.
    """

    def __init__(
        self,
        new_batch: Callable[[], B],
        take: Callable[[B, list[Item]], None],
        send: Callable[[B], None],
        *,
        capacity: int = 10_000,
        batch_items: int = 1000,
        interval_s: float = 0.5,
        take_interval_s: float = 0.05,
        on_error: Callable[[BaseException], None] | None = None,
        periodic: Callable[[], None] | None = None,
        lane: Lane[B] | None = None,
        name: str = "mlscope-shipper",
    ) -> None:
        if capacity < 1:
            raise ValueError(f"'capacity' must be >= 1 (got {capacity!r})")
        self._new_batch, self._take, self._send = new_batch, take, send
        self._on_error = on_error
        self._periodic = periodic
        self._lane = lane
        self.capacity = capacity
        self._batch_items = batch_items
        self._interval_s = interval_s
        self._take_interval_s = min(take_interval_s, interval_s)
        self._wake_at = max(1, min(batch_items, capacity // 2))
        self._closed = False
        self._name = name
        self._start()
        # A thread does not survive fork (gunicorn --preload, multiprocessing): the child
        # would buffer forever and ship nothing. It gets its own thread and an empty buffer
        # (what the parent buffered is the parent's to deliver; both would double-count).
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart_in_child(ref()))

    def _start(self) -> None:
        if self._lane is not None:
            self._lane.clear()
        self._q: deque[Item] = deque()
        self._batch = self._new_batch()
        self._taken = 0  # calls in the batch, not yet sent
        self._idle = False  # the thread sleeps until its next send (no buffered calls came)
        self._wake = threading.Event()
        self.stopping = threading.Event()
        if self._lane is not None:
            self._collect()  # gives the lane its room
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        if not self._closed:
            self._start()

    def __len__(self) -> int:
        """Calls buffered or taken and not yet sent."""
        return len(self._q) + self._taken + (len(self._lane) if self._lane is not None else 0)

    def put(self, item: Item) -> bool:
        """Enqueue ``item``; False (and nothing enqueued) when full or closed. Never blocks."""
        q = self._q
        if len(self) >= self.capacity or self._closed:
            return False
        q.append(item)
        if len(q) >= self._wake_at or (self._idle and len(q) == 1):
            self._wake.set()
        return True

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything put before this call was delivered; False on timeout."""
        if not self._thread.is_alive():
            return not self._q
        done = threading.Event()
        self._q.append((MARKER, done))
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 10.0) -> list[Item]:
        """Stop accepting, deliver what is buffered (bounded by ``timeout_s``), stop the thread.

        Returns the items that could not be delivered in time, so the owner can count them.
        """
        if self._closed:
            return []
        self._closed = True
        self.flush(timeout_s)
        self.stopping.set()
        self._wake.set()
        self._thread.join(max(0.1, timeout_s))
        left = [it for it in self._q if it[0] != MARKER]
        self._q.clear()
        return left

    def _run(self) -> None:
        next_send = next_periodic = time.monotonic() + self._interval_s
        wait = self._take_interval_s
        while not self.stopping.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            taking = bool(self._q)
            self._drain()
            now = time.monotonic()
            if now >= next_send:
                next_send = now + self._interval_s
                self._send_taken()
            if self._periodic is not None and now >= next_periodic:
                next_periodic = now + self._interval_s
                self._safe(self._periodic)
            # Buffered calls are taken every take_interval_s, young; a lane's are columns
            # already (nothing for the collector), so without buffered ones the thread
            # sleeps until the next send, and the first call buffered wakes it (``put``).
            self._idle = not taking
            due = next_send if self._periodic is None else min(next_send, next_periodic)
            wait = self._take_interval_s if taking else max(0.0, due - now)
        self._drain()
        self._send_taken()

    def _drain(self) -> None:
        """Take everything buffered; send on the way when a batch is full or a flush waits."""
        q = self._q
        if self._lane is not None:
            self._safe(self._collect)
        while q:
            items: list[Item] = []
            marker: threading.Event | None = None
            while q and len(items) < self._batch_items:
                it = q.popleft()
                if it[0] == MARKER:
                    marker = it[1]
                    break  # take what came before the marker, send it, then release it
                items.append(it)
            if items:
                self._safe(lambda b=self._batch, i=items: self._take(b, i))  # type: ignore[misc]
                self._taken += len(items)
            if marker is not None or self._taken >= self._wake_at:
                self._send_taken()
            if marker is not None:
                marker.set()

    def _collect(self) -> None:
        assert self._lane is not None
        # At most as many as wake the thread: the next call is then buffered, and wakes it.
        room = min(self._wake_at, self.capacity - len(self._q) - self._taken)
        self._taken += self._lane.collect(self._batch, room)

    def _send_taken(self) -> None:
        if not self._taken:
            return
        batch, self._batch, self._taken = self._batch, self._new_batch(), 0
        self._safe(lambda: self._send(batch))

    def _safe(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as e:  # the thread must survive anything a batch does
            log.exception("mlscope background delivery failed")
            if self._on_error is not None:
                try:
                    self._on_error(e)
                except Exception:  # pragma: no cover - last line of defence
                    pass


def _restart_in_child(shipper: Shipper[Any] | None) -> None:
    if shipper is not None:
        shipper._after_fork()
