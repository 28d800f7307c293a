"""Gunicorn configuration used by the multi-process tests (and shown in docs/middleware.md)."""

from mlscope.middleware.multiprocess import child_exit, on_starting  # noqa: F401

# Recycle workers often so that the tests see many dead workers' files being folded.
max_requests = 25
max_requests_jitter = 0
