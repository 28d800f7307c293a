"""Render the ``/metrics`` exposition served from inside the wrapped app.

One core returns status, headers and body; the ASGI and WSGI middleware wrap it. The
format follows the scraper's ``Accept`` header (OpenMetrics 1.0.0, which carries exemplars,
when Prometheus asks for it; the text format 0.0.4 otherwise; see
:mod:`mlscope._scrape_format`), and mlscope's own families come without ``_created``.
Under ``PROMETHEUS_MULTIPROC_DIR`` the body is merged from every worker's files, read
under the directory's shared lock (see :mod:`mlscope.middleware.multiprocess`).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from mlscope._scrape_format import OPENMETRICS, WithoutCreated, negotiate
from mlscope.middleware import multiprocess

# Gzip only when it pays: small bodies cost more to compress than to send.
_GZIP_MIN_BYTES = 4096


def render(registry: CollectorRegistry, multiprocess_dir: str | None, accept: str,
           accept_encoding: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Return ``(status, headers, body)`` of one scrape."""
    content_type = negotiate(accept)
    encoder: Callable[[Any], bytes] = generate_openmetrics if content_type == OPENMETRICS else generate_latest
    if multiprocess_dir:
        with multiprocess.locked(multiprocess_dir, exclusive=False):
            body = encoder(WithoutCreated(multiprocess.multiprocess_registry(multiprocess_dir)))
    else:
        body = encoder(WithoutCreated(registry))
    headers = [("Content-Type", content_type)]
    if "gzip" in accept_encoding and len(body) >= _GZIP_MIN_BYTES:
        body = gzip.compress(body, compresslevel=1)
        headers.append(("Content-Encoding", "gzip"))
    headers.append(("Content-Length", str(len(body))))
    return 200, headers, body
