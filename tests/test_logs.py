"""Structured logs: JSON lines parse, carry context and trace ids, and are redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from mlscope.errors import ConfigError
from mlscope.logs import StateChangeLogger, configure_logging, scrub


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """Configure the ``mlscope`` logger into a buffer; restore it afterwards."""
    buf = io.StringIO()
    logger = logging.getLogger("mlscope")
    old_level, old_propagate = logger.level, logger.propagate
    handler = configure_logging("json", "DEBUG", stream=buf, logger="mlscope")
    logger.propagate = False
    try:
        yield buf
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def _lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_json_lines_parse_and_carry_level_logger_component_and_model(out: io.StringIO) -> None:
    logging.getLogger("mlscope.sidecar.app").info("ingested %d events", 12, extra={"model": "churn"})
    logging.getLogger("mlscope.collectors.gpu").warning("NVML call failed")
    first, second = _lines(out)
    assert first["message"] == "ingested 12 events"
    assert first["level"] == "INFO" and first["logger"] == "mlscope.sidecar.app"
    assert first["component"] == "sidecar" and first["model"] == "churn"
    assert "timestamp" in first and "trace_id" not in first
    assert second["component"] == "gpu" and second["level"] == "WARNING"


def test_lines_carry_trace_and_span_id_when_a_span_is_active(out: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")  # a real SDK tracer, not the global one
    with tracer.start_as_current_span("predict") as span:
        logging.getLogger("mlscope.monitor").info("logged batch")
        ctx = span.get_span_context()
    logging.getLogger("mlscope.monitor").info("outside")
    inside, outside = _lines(out)
    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")
    assert len(inside["trace_id"]) == 32 and "trace_id" not in outside


def test_secrets_and_feature_values_never_reach_the_output(out: io.StringIO) -> None:
    log = logging.getLogger("mlscope.sidecar.auth")
    log.info("client sent Authorization: Bearer s3cr3tT0ken", extra={"api_token": "abc123", "model": "m"})
    log.info("bad record", extra={"features": {"age": 42, "ssn": "123-45-6789"}, "model": "m"})
    log.info("config %s", {"url": "https://bob:hunter2@db.example/x", "password": "pw1"})
    log.warning("posting to %s with password=%s", "http://h", "letmein")
    try:
        raise ValueError('upstream said {"token": "tok-999"}')
    except ValueError:
        log.exception("failed")
    text = out.getvalue()
    for secret in ("s3cr3tT0ken", "abc123", "123-45-6789", "hunter2", "pw1", "letmein", "tok-999"):
        assert secret not in text, secret
    lines = _lines(out)
    assert lines[0]["api_token"] == "[REDACTED]" and lines[0]["model"] == "m"
    assert lines[1]["features"] == "[REDACTED]"
    assert "bob:[REDACTED]@db.example" in lines[2]["message"]
    assert "ValueError" in lines[4]["exc_info"]  # the traceback stays, scrubbed


def test_scrub_leaves_ordinary_text_alone() -> None:
    msg = "token bucket refilled; 3 passwords rotated; drift score 0.31 > 0.2"
    assert scrub(msg) == msg


def test_state_changes_are_logged_once_per_change(out: io.StringIO) -> None:
    states = StateChangeLogger(logging.getLogger("mlscope.engine.drift"))
    seq = [False, False, True, True, True, False, False, True]
    changed = [states.observe("feature_drift", s, model="churn", subject="age", score=0.3) for s in seq]
    assert changed == [False, False, True, False, False, True, False, True]
    lines = _lines(out)
    assert [(r["level"], r["state_from"], r["state_to"]) for r in lines] == [
        ("WARNING", "False", "True"),
        ("INFO", "True", "False"),
        ("WARNING", "False", "True"),
    ]
    assert all(r["model"] == "churn" and r["subject"] == "age" and r["score"] == 0.3 for r in lines)
    # another feature's state is tracked on its own; forgetting a model resets it
    assert states.observe("feature_drift", True, model="churn", subject="plan")
    states.forget("churn")
    assert not states.observe("feature_drift", False, model="churn", subject="age")


def test_text_format_and_reconfiguring_replace_the_handler() -> None:
    buf = io.StringIO()
    logger = logging.getLogger("mlscope")
    try:
        configure_logging("json", stream=io.StringIO(), logger="mlscope")
        configure_logging("text", "INFO", stream=buf, logger="mlscope")
        assert [h.get_name() for h in logger.handlers].count("mlscope") == 1
        logging.getLogger("mlscope.sidecar").info("up with password=x1", extra={"model": "churn"})
        logging.getLogger("mlscope.sidecar").debug("not shown at INFO")
    finally:
        for h in [h for h in logger.handlers if h.get_name() == "mlscope"]:
            logger.removeHandler(h)
        logger.setLevel(logging.NOTSET)
    (line,) = buf.getvalue().splitlines()
    assert " INFO sidecar mlscope.sidecar: up with password=[REDACTED]" in line
    assert line.endswith("[model=churn]")


def test_invalid_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match="'log.format'"):
        configure_logging("xml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'log.level'"):
        configure_logging("json", "LOUD")
