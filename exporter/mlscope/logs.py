"""Structured logging for mlscope processes: one JSON object per line, secrets redacted.

Why: when an alert fires, a person should find out what happened from logs and metrics
without shipping new code. JSON lines (python-json-logger on stdlib ``logging``) are
what log pipelines (Loki, Elasticsearch, Cloud Logging) parse without configuration;
each line carries ``level``, ``logger``, ``component``, ``model`` when the call gave one
(``log.info(..., extra={"model": "churn"})``) and ``trace_id``/``span_id`` when an
OpenTelemetry span is active, so a log line leads to its trace.

Two rules hold for every line, whichever code logged it:

* **No secrets.** :class:`RedactionFilter` replaces the values of fields whose name
  looks like a credential (``password``, ``token``, ``authorization``, ...) and scrubs
  ``Bearer``/``Basic`` credentials, ``key=value`` secrets and passwords in URLs from the
  message text and tracebacks.
* **No raw feature values.** Fields that carry rows (``features``, ``rows``, ``payload``,
  ``body``, ...) are replaced by ``"[REDACTED]"``. mlscope logs aggregates (scores,
  counts, thresholds), never inputs.

:class:`StateChangeLogger` logs a drift or quality state once per change, not on every
evaluation, so a drifting feature is one line when it starts and one when it stops.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import threading
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import IO, Any, Literal

from mlscope.errors import ConfigError

__all__ = ["RateLimitedLog", "RedactionFilter", "StateChangeLogger", "configure_logging"]

REDACTED = "[REDACTED]"

# Field names (lower case, matched as substrings) whose values are credentials.
SECRET_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "credential",
    "private_key",
    "bearer",
)
# Field names (exact, lower case) whose values are rows or raw inputs.
DATA_KEYS: frozenset[str] = frozenset(
    {
        "features",
        "feature_values",
        "row",
        "rows",
        "payload",
        "body",
        "record",
        "records",
        "event",
        "events",
        "inputs",
        "x",
        "values",
    }
)

_SECRET_WORDS = "|".join(
    (
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api[_-]?key",
        "apikey",
        "access[_-]?key",
        "client[_-]?secret",
    )
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 " + REDACTED),
    # key=value, key: value, "key": "value" (JSON), for secret-looking keys
    (
        re.compile(
            r"""(?i)(["']?\b[\w.-]*(?:""" + _SECRET_WORDS + r""")["']?\s*[:=]\s*)(["']?)[^\s"',&;}]+(\2)"""
        ),
        r"\1\2" + REDACTED + r"\3",
    ),
    # passwords in URLs: scheme://user:password@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + REDACTED + "@"),
)

# LogRecord attributes that are not user data (never redacted, never treated as extras).
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def scrub(text: str) -> str:
    """Remove credentials from free text (messages, tracebacks)."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactionFilter(logging.Filter):
    """Replace secrets and raw feature values in a record before any handler formats it.

    Parameters
    ----------
    extra_keys
        More field names (exact, case-insensitive) to redact, e.g. the names of features
        marked sensitive in the configuration.
    """

    def __init__(self, extra_keys: Iterable[str] = ()) -> None:
        super().__init__()
        self._data_keys = DATA_KEYS | {k.lower() for k in extra_keys}

    def _is_sensitive(self, key: str) -> bool:
        k = key.lower()
        return k in self._data_keys or any(s in k for s in SECRET_KEYS)

    def _clean(self, value: Any, depth: int = 0) -> Any:
        if depth > 5:
            return value
        if isinstance(value, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and self._is_sensitive(k) else self._clean(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, str):
            return scrub(value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if record.args:
                args = record.args
                if isinstance(args, Mapping):
                    record.args = self._clean(args)
                record.msg = record.getMessage()
                record.args = None
            if isinstance(record.msg, str):
                record.msg = scrub(record.msg)
            elif isinstance(record.msg, Mapping):
                record.msg = self._clean(record.msg)
            for key in [k for k in vars(record) if k not in _RECORD_ATTRS]:
                value = getattr(record, key)
                setattr(record, key, REDACTED if self._is_sensitive(key) else self._clean(value))
            if record.exc_info:
                # Format the traceback now, scrubbed, and drop exc_info so no formatter
                # renders the unscrubbed original.
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            elif record.exc_text:
                record.exc_text = scrub(record.exc_text)
        except Exception:  # noqa: BLE001 - a filter must never lose the log line
            record.msg, record.args = "[log record could not be redacted]", None
        return True


class ContextFilter(logging.Filter):
    """Add ``component`` (from the logger name unless given) and the active trace ids."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from opentelemetry import trace

            self._get_span: Any = trace.get_current_span
        except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
            self._get_span = None

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "component", None):
            parts = record.name.split(".")
            # "mlscope.sidecar.app" -> "sidecar"; "mlscope.collectors.gpu" -> "gpu"
            if parts[0] == "mlscope" and len(parts) > 1:
                record.component = parts[-1] if parts[1] == "collectors" else parts[1]
            else:
                record.component = record.name
        if self._get_span is not None and not getattr(record, "trace_id", None):
            ctx = self._get_span().get_span_context()
            if ctx.is_valid:
                record.trace_id = format(ctx.trace_id, "032x")
                record.span_id = format(ctx.span_id, "016x")
        return True


class _TextFormatter(logging.Formatter):
    """Plain text with the same context fields appended as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tail = [
            f"{k}={getattr(record, k)}" for k in ("model", "trace_id", "span_id") if getattr(record, k, None)
        ]
        return line if not tail else f"{line} [{' '.join(tail)}]"


def _json_formatter() -> logging.Formatter:
    try:
        from pythonjsonlogger.json import JsonFormatter
    except ImportError:  # python-json-logger < 3
        from pythonjsonlogger.jsonlogger import JsonFormatter  # type: ignore[no-redef,attr-defined,unused-ignore]
    fmt: logging.Formatter = JsonFormatter(
        "%(levelname)s %(name)s %(component)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )
    return fmt


def configure_logging(
    format: Literal["json", "text"] = "json",
    level: int | str = "INFO",
    *,  # noqa: A002
    stream: IO[str] | None = None,
    logger: str = "",
    redact_keys: Iterable[str] = (),
) -> logging.Handler:
    """Send log records to ``stream`` (stderr) as JSON lines or text, redacted.

    Parameters
    ----------
    format
        ``"json"`` (one object per line) or ``"text"``.
    level
        A level name (``"DEBUG"``, ``"INFO"``, ...) or number for ``logger``.
    stream
        Where lines go; default ``sys.stderr``.
    logger
        The logger to configure: ``""`` (root, for mlscope's own processes) or
        ``"mlscope"`` (inside a serving app that configures its own logging).
    redact_keys
        More field names to redact (sensitive feature names).

    Returns
    -------
    logging.Handler
        The installed handler. Calling again replaces it, so it is safe to call twice.
    """
    if format not in ("json", "text"):
        raise ConfigError(f"'log.format' must be one of 'json', 'text' (got {format!r})")
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ConfigError(
                f"'log.level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got {level!r})"
            )
        level = resolved
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name("mlscope")
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactionFilter(redact_keys))
    handler.setFormatter(
        _json_formatter()
        if format == "json"
        else _TextFormatter("%(asctime)s %(levelname)s %(component)s %(name)s: %(message)s")
    )
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if h.get_name() == "mlscope"]:
        target.removeHandler(old)
        old.close()
    target.addHandler(handler)
    target.setLevel(level)
    return handler


class StateChangeLogger:
    """Log a model's drift or quality state when it changes, once per change.

    The engine evaluates every few seconds; logging each evaluation would bury the one
    line that matters. This keeps the last state per ``(kind, model, subject)`` and logs
    only transitions: WARNING when leaving the normal state, INFO when returning to it.

    Parameters
    ----------
    logger
        Where lines go (default ``mlscope.engine``).
    normal
        The state assumed before the first observation: a feature that is fine from the
        start logs nothing; one drifted from the start logs once.
    component
        The ``component`` field of the lines.
    """

    def __init__(
        self, logger: logging.Logger | None = None, *, normal: Hashable = False, component: str = "engine"
    ) -> None:
        self._log = logger or logging.getLogger("mlscope.engine")
        self._normal = normal
        self._component = component
        self._states: dict[tuple[str, str, str], Hashable] = {}
        self._lock = threading.Lock()

    def observe(
        self, kind: str, state: Hashable, *, model: str, subject: str = "", **fields: float | int | str | None
    ) -> bool:
        """Record the current ``state``; log and return True when it differs from the last.

        ``kind`` names what is tracked (``"feature_drift"``, ``"accuracy_below_baseline"``),
        ``subject`` the feature or metric, ``fields`` aggregates worth seeing in the line
        (score, threshold, window). Never pass raw feature values.
        """
        key = (kind, model, subject)
        with self._lock:
            previous = self._states.get(key, self._normal)
            if previous == state:
                return False
            self._states[key] = state
        level = logging.INFO if state == self._normal else logging.WARNING
        what = f"{kind} of {subject!s} " if subject else f"{kind} "
        self._log.log(
            level,
            "%sfor model %s changed: %s -> %s",
            what,
            model,
            previous,
            state,
            extra={
                "model": model,
                "component": self._component,
                # not "event": that name is redacted as raw data (DATA_KEYS)
                "event_type": "state_change",
                "kind": kind,
                "subject": subject,
                "state_from": str(previous),
                "state_to": str(state),
                **fields,
            },
        )
        return True

    def forget(self, model: str) -> None:
        """Drop the remembered states of a model (removed, or its profile replaced)."""
        with self._lock:
            for key in [k for k in self._states if k[1] == model]:
                del self._states[key]


class RateLimitedLog:
    """Log a WARNING at most once per ``interval_s`` for each key.

    A problem that repeats on every call (a wrong input shape, a sidecar that is down)
    would otherwise bury everything else; one line per key per interval says it, and
    two *different* problems (two keys) are each said. The counters beside the line
    carry the volume.
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._log = logger
        self.interval_s = interval_s
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def due(self, key: Hashable) -> bool:
        """Whether a line for ``key`` would be logged now (to skip building a costly one)."""
        with self._lock:
            return time.monotonic() - self._last.get(key, -math.inf) >= self.interval_s

    def warning(self, key: Hashable, msg: str, *args: object, **extra: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged within the interval; True if logged."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -math.inf) < self.interval_s:
                return False
            self._last[key] = now
        self._log.warning(msg, *args, extra=extra or None)
        return True

    def forget(self, match: object) -> None:
        """Let every key that is ``match`` or a tuple starting with it log again at once."""
        with self._lock:
            for key in [k for k in self._last if k == match or (isinstance(k, tuple) and k[:1] == (match,))]:
                del self._last[key]
