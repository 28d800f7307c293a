"""``mlscope serve``: wire config, service, collectors, OTLP and tailers, then run uvicorn.

uvicorn handles SIGTERM/SIGINT as a graceful shutdown: it stops accepting, finishes
in-flight requests, then runs the app's lifespan shutdown, which stops the tailers,
computes once more and writes the snapshot. SIGHUP (installed in the lifespan) reloads
the reference profiles without dropping windows.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import Any

from mlscope.errors import ConfigError, MlscopeError
from mlscope.sidecar.config import SidecarConfig, load_config

log = logging.getLogger("mlscope.sidecar")

#: Variables that set the size of BLAS / OpenMP thread pools: when one is set, the
#: sidecar leaves the pools as the user asked.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def limit_math_threads() -> bool:
    """Run BLAS / OpenMP on one thread unless the environment sizes the pools; True if limited.

    The engine's matrix products are small (features x features times a block of rows):
    spread over a pool they cost more CPU than they save (outlier scoring of 25 features
    took 6.6 ms of CPU per 1,000 events on a 2-thread OpenBLAS pool, 0.9 ms on one), and
    pool threads spin on cores the serving app beside the sidecar needs. Called once the
    engine is built, since threadpoolctl can only limit the libraries already loaded.
    """
    if any(os.environ.get(v) for v in THREAD_ENV):
        return False
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    return True


def _setup_logging(cfg: SidecarConfig) -> None:
    """JSON lines (or text) on stderr through :func:`mlscope.logs.configure_logging`.

    One formatter for every mlscope process: level, logger, component, model and the
    active trace/span ids, with secrets and the names of sensitive features redacted.
    """
    from mlscope.logs import configure_logging

    # Values of features marked sensitive are redacted from log lines too.
    sensitive = {f for m in cfg.models.values() for f in m.samples.sensitive}
    configure_logging(cfg.log_format, cfg.log_level, redact_keys=sensitive)


def _register_collectors(cfg: SidecarConfig, registry: Any) -> None:
    """Host/process and GPU collectors (with no GPU or no NVML the GPU one yields nothing)."""
    from mlscope.collectors import GPUCollector, SystemCollector

    registry.register(SystemCollector(pid=cfg.pid, process_name=cfg.process_name))
    registry.register(GPUCollector())


def _start_otlp(cfg: SidecarConfig, registry: Any) -> Any:
    """OTLP push of the same registry that ``/metrics`` serves, when an endpoint is configured."""
    if not cfg.otlp_endpoint:
        return None
    from mlscope.otlp import start_otlp_push

    handle = start_otlp_push(
        registry, cfg.otlp_endpoint, {"service.name": "mlscope-sidecar"}, models=tuple(cfg.models)
    )
    log.info("pushing metrics over OTLP to %s", cfg.otlp_endpoint)
    return handle


def build(cfg: SidecarConfig) -> tuple[Any, Any, dict[str, Any]]:
    """Build (service, app, uvicorn ssl options) from a validated config.

    Collectors and the OTLP push are wired here too, so what ``/metrics`` serves and what
    OTLP pushes come from the same registry; the push's final flush runs in the app's
    lifespan shutdown.
    """
    from mlscope.sidecar.app import build_app, tail_sink
    from mlscope.sidecar.auth import WebConfig, load_token, load_web_config
    from mlscope.sidecar.service import Service
    from mlscope.sidecar.tail import Tailer

    web = load_web_config(cfg.web_config) if cfg.web_config else WebConfig()
    token = load_token(cfg.ingest_token_file) if cfg.ingest_token_file else None
    service = Service(cfg)
    _register_collectors(cfg, service.registry)
    otlp = _start_otlp(cfg, service.registry)
    sink = tail_sink(service)
    tailers = [Tailer(p, sink, from_start=cfg.tail_from_start) for p in cfg.tail]
    hooks = [otlp.shutdown] if otlp is not None else []
    hooks.append(service.close)
    app = build_app(service, ingest_token=token, web=web, tailers=tailers, on_shutdown=hooks)
    ssl: dict[str, Any] = {}
    if web.tls is not None:
        ssl = {"ssl_certfile": str(web.tls.cert_file), "ssl_keyfile": str(web.tls.key_file)}
        if web.tls.client_ca_file is not None:
            import ssl as _ssl

            ssl.update(ssl_ca_certs=str(web.tls.client_ca_file), ssl_cert_reqs=_ssl.CERT_REQUIRED)
    return service, app, ssl


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` now, so a busy port fails before anything says ready.

    uvicorn binds only after the app's startup ran (and logged "sidecar ready"); given
    this socket it serves on it instead. Raises :class:`ConfigError` naming the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP; with 0 every small answer waited ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"'port': cannot listen on {host}:{port} ({e.strerror or e}): another process may hold it; "
            "stop it or choose a free port with --port (or MLSCOPE_PORT)"
        ) from None
    return sock


def serve_command(args: argparse.Namespace) -> int:
    """Entry point of ``mlscope serve``; returns the exit status (2 on bad config or a busy port)."""
    try:
        cfg = load_config(args)
        sock = listen_socket(cfg.host, cfg.port)
    except ConfigError as e:
        print(f"mlscope serve: error: {e}", file=sys.stderr)
        return 2
    _setup_logging(cfg)
    try:
        service, app, ssl = build(cfg)
    except (MlscopeError, ValueError) as e:
        sock.close()
        print(f"mlscope serve: error: {e}", file=sys.stderr)
        return 2
    limit_math_threads()

    import uvicorn

    config = uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        **ssl,
    )
    server = uvicorn.Server(config)
    log.info("listening on %s:%d", cfg.host, sock.getsockname()[1])
    server.run(sockets=[sock])
    return 0 if server.started else 1
