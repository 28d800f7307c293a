"""Gunicorn configuration used by the multi-process tests (and shown in docs/middleware.md)."""

from mlscope.middleware.multiprocess import child_exit, on_starting  # noqa: F401
