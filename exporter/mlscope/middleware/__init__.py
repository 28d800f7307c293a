"""HTTP server metrics for ASGI and WSGI apps (the serving app's operational metrics).

``ASGIMiddleware`` and ``WSGIMiddleware`` are re-exported from :mod:`mlscope`;
:mod:`mlscope.middleware.multiprocess` holds the gunicorn hooks for multi-process mode.
"""

from __future__ import annotations

from mlscope.middleware.asgi import ASGIMiddleware
from mlscope.middleware.wsgi import WSGIMiddleware

__all__ = ["ASGIMiddleware", "WSGIMiddleware"]
