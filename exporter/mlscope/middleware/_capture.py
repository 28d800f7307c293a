"""Hand JSON request/response bodies to a Monitor after the response (opt-in).

With ``monitor=`` and ``extract=`` given, the middleware keeps copies of the request and
response bodies (each up to ``max_body_bytes``; a larger body is not captured) and, once
the response is complete and its status is 2xx, calls
``extract(request_json, response_json)``. A dict it returns is passed on as
``monitor.log(**extracted)``; ``None`` means "nothing to log". A body that is empty or not
JSON is passed as ``None``. Any exception is counted in ``mlscope_internal_errors_total``
``{component="monitor_hook"}`` and swallowed: the response has already been sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

from mlscope.errors import ConfigError

DEFAULT_MAX_BODY_BYTES = 1 << 20


class SupportsLog(Protocol):
    """What the middleware needs of a Monitor."""

    def log(self, *, features: Any = ..., predictions: Any = ..., ids: Any = ...,
            scores: Any = ...) -> Any: ...


Extract = Callable[[Any, Any], "dict[str, Any] | None"]


def validate(monitor: SupportsLog | None, extract: Extract | None) -> None:
    """Both or neither; errors name the option."""
    if (monitor is None) != (extract is None):
        raise ConfigError("'monitor' and 'extract' must be given together "
                          f"(got monitor={monitor!r}, extract={extract!r})")
    if monitor is not None and not callable(getattr(monitor, "log", None)):
        raise ConfigError(f"'monitor' must have a callable 'log' method (got {monitor!r})")
    if extract is not None and not callable(extract):
        raise ConfigError(f"'extract' must be callable (got {extract!r})")


def _parse(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def deliver(monitor: SupportsLog, extract: Extract, request_body: bytes | None,
            response_body: bytes | None, errors: Any) -> None:
    """Run ``extract`` and ``monitor.log``; never raises (failures bump ``errors``)."""
    try:
        extracted = extract(_parse(request_body), _parse(response_body))
        if extracted is not None:
            monitor.log(**extracted)
    except Exception:
        errors.inc()
