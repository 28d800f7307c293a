"""mlscope: make silent ML failures loud.

The public API is small and re-exported here; everything else is private. Names are
imported lazily (PEP 562) so that ``import mlscope`` in a serving app stays cheap and
pulls in scipy only when the engine is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlscope._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from mlscope.engine.profile import Profile
    from mlscope.engine.report import DriftReport
    from mlscope.middleware.asgi import ASGIMiddleware
    from mlscope.middleware.wsgi import WSGIMiddleware
    from mlscope.monitor import Monitor
    from mlscope.offline.compare import compare

__all__ = [
    "ASGIMiddleware",
    "DriftReport",
    "Monitor",
    "Profile",
    "WSGIMiddleware",
    "__version__",
    "compare",
]

_LAZY = {
    "ASGIMiddleware": "mlscope.middleware.asgi",
    "WSGIMiddleware": "mlscope.middleware.wsgi",
    "Monitor": "mlscope.monitor",
    "Profile": "mlscope.engine.profile",
    "DriftReport": "mlscope.engine.report",
    "compare": "mlscope.offline.compare",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
