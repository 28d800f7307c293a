"""A middleware built before ``trace.set_tracer_provider()`` starts making spans after it.

The ASGI middleware decides "no provider configured" per request by reading
``opentelemetry.trace._TRACER_PROVIDER`` (one attribute read, see
``ServerSpans.global_provider_module``); this checks that the same middleware instance
makes no span before the global provider is set and one per request after it. The
global provider can be set once per process, hence the subprocess.
"""

from __future__ import annotations

import subprocess
import textwrap

from tests._servers import PYTHON

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry
    import mlscope
    from tests.monitor.test_monitor import Recorder
    from tests.observability.test_tracing import _app, _requests

    reg = CollectorRegistry()
    monitor = mlscope.Monitor("churn", transport=Recorder(), registry=reg)
    mw = mlscope.ASGIMiddleware(_app(monitor), registry=reg)
    assert mw._otel is trace  # the fast check is the one in use
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    asyncio.run(_requests(mw))
    print("before", len(exporter.get_finished_spans()))
    trace.set_tracer_provider(provider)
    asyncio.run(_requests(mw))
    spans = exporter.get_finished_spans()
    print("after", len(spans), sorted(s.name for s in spans))
    monitor.close()
    """
)


def test_a_global_provider_set_after_construction_is_used_by_the_same_middleware() -> None:
    out = subprocess.run([PYTHON, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "before 0",
        "after 3 ['GET /boom', 'GET /items/{item_id}', 'GET /items/{item_id}']",
    ]
