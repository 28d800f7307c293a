"""The sidecar's state behind the HTTP edge: engine, ingest counters, snapshot, reload.

The Starlette app (:mod:`mlscope.sidecar.app`) and the log tailers both call
:meth:`Service.ingest_body` / :meth:`Service.ingest_values`; this class owns what they
share, so the HTTP layer stays a thin translation of requests into calls.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from mlscope import catalogue
from mlscope._families import Families
from mlscope._version import __version__
from mlscope.engine.batch import Batch
from mlscope.engine.drilldown import SampleConfig
from mlscope.engine.engine import Engine
from mlscope.engine.events import event_of
from mlscope.engine.profile import Profile
from mlscope.errors import ConfigError, ProfileError
from mlscope.predlog import PredictionLog
from mlscope.sidecar.auth import read_secret_file
from mlscope.sidecar.config import SamplesConfig, SidecarConfig
from mlscope.sidecar.ingest import (
    COLUMNS_TYPE,
    FRAMED_TYPE,
    Parsed,
    RequestError,
    decode_body,
    decode_columns,
    media_type,
    validate_columns,
    validate_records,
)
from mlscope.sidecar.snapshot import SnapshotError, read_snapshot, write_snapshot
from mlscope.sidecar.states import StateLog

log = logging.getLogger("mlscope.sidecar")

# Batch sizes of ingest requests: from single events to large NDJSON bodies.
_BATCH_BUCKETS = (1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000)


def _family(cls: Any, name: str, registry: CollectorRegistry | None, **kw: Any) -> Any:
    s = catalogue.spec(name)
    return cls(s.base_name, s.help, s.labels, registry=registry, **kw)


class SidecarMetrics:
    """The sidecar's own families, created once from the catalogue.

    ``mlscope_internal_errors_total`` is not registered directly: the engine yields the
    same family (``component="engine"``), so :class:`_EngineCollector` merges the two
    into one family, as the exposition format requires.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events: Counter = _family(Counter, "mlscope_ingest_events_total", registry)
        self.rejected: Counter = _family(Counter, "mlscope_ingest_rejected_total", registry)
        self.batch_size: Histogram = _family(
            Histogram, "mlscope_ingest_batch_size_events", registry, buckets=_BATCH_BUCKETS
        )
        self.auth_failures: Counter = _family(Counter, "mlscope_auth_failures_total", registry)
        self.last_event: Gauge = _family(Gauge, "mlscope_last_event_timestamp_seconds", registry)
        self.snapshot_errors: Counter = _family(Counter, "mlscope_snapshot_errors_total", registry)
        self.internal_errors: Counter = _family(Counter, "mlscope_internal_errors_total", None)
        build: Gauge = _family(Gauge, "mlscope_build_info", registry)
        build.labels(__version__, platform.python_version()).set(1)
        # Pre-create the children a dashboard expects to see at 0 before any traffic.
        rejected = ("bad_json", "wrong_type", "unknown_model", "too_large", "bad_gzip", "too_deep", "busy")
        for reason in rejected:
            self.rejected.labels(reason)
        for endpoint in ("ingest", "metrics"):
            self.auth_failures.labels(endpoint)


class _EngineCollector:
    """The engine's families plus the sidecar's internal-error counter, merged by name."""

    def __init__(self, engine: Engine, internal_errors: Counter) -> None:
        self._engine = engine
        self._internal = internal_errors

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the profiles loaded at scrape time

    def collect(self) -> Iterable[Metric]:
        fams = Families()
        fams.merge(self._engine.collect())
        fams.merge(self._internal.collect())
        return list(fams)


@dataclass
class ModelState:
    """What the sidecar knows of one configured model."""

    name: str
    profile_path: Path
    profile_hash: str = ""
    samples: SamplesConfig = field(default_factory=lambda: SamplesConfig.model_validate({}))
    profile_key: str = ""  # how errors name the profile (``'--profile'``); default: its key path


class Service:
    """Engine + counters + snapshot for one ``mlscope serve`` process."""

    def __init__(self, cfg: SidecarConfig, registry: CollectorRegistry | None = None) -> None:
        self.cfg = cfg
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
        self.metrics = SidecarMetrics(self.registry)
        self.models: dict[str, ModelState] = {
            n: ModelState(n, m.profile, samples=m.samples, profile_key=m.profile_key(n))
            for n, m in cfg.models.items()
        }
        self.model_names = tuple(self.models)
        self._lock = threading.Lock()  # guards reload/snapshot against each other
        self.ready = False
        self.events_ingested = 0
        self.engine = Engine(
            max_models=cfg.max_models,
            windows=cfg.window_specs(),
            config=cfg.drift.engine_config(),
            quality=cfg.labels.engine_config(),
        )
        for name, m in self.models.items():
            sc = m.samples
            profile = self._load_profile(m)  # its errors name the profile file, not the samples
            try:
                self.engine.add_model(
                    name,
                    profile,
                    samples=SampleConfig(
                        enabled=sc.enabled,
                        per_bin=sc.per_bin,
                        top_outliers=sc.top_outliers,
                        wrong_predictions=sc.wrong_predictions,
                        sensitive=tuple(sc.sensitive),
                        text=sc.text,
                    ),
                )
            except ConfigError as e:
                raise ConfigError(f"'models.{name}.samples': {e}") from None
        self.registry.register(_EngineCollector(self.engine, self.metrics.internal_errors))
        self._event_children = {n: self.metrics.events.labels(n) for n in self.model_names}
        self._batch_children = {n: self.metrics.batch_size.labels(n) for n in self.model_names}
        self._last_children = {n: self.metrics.last_event.labels(n) for n in self.model_names}
        self.states = StateLog()
        self.prediction_log: PredictionLog | None = None
        if cfg.prediction_log is not None:
            # The ingested events, sampled, in the event schema: the record of production
            # that ``--tail`` and ``mlscope replay`` read back. Failures are counted in
            # mlscope_internal_errors_total{component="predlog"}, never raised.
            self.prediction_log = PredictionLog(
                cfg.prediction_log,
                sample=cfg.prediction_log_sample,
                redact=cfg.prediction_log_redact,
                hash_fields=cfg.prediction_log_hash,
                # Without a salt file one is drawn per start: digests then change across
                # restarts and replicas (ids no longer join), which PredictionLog logs.
                salt=(read_secret_file(cfg.prediction_log_salt_file, "prediction_log_salt_file")
                      if cfg.prediction_log_salt_file else None),
                max_bytes=cfg.prediction_log_max_bytes,
                errors_counter=self.metrics.internal_errors,
            )

    # --- profiles -------------------------------------------------------------------
    @staticmethod
    def _load_profile(m: ModelState) -> Profile:
        try:
            profile = Profile.load(m.profile_path)
        except ProfileError as e:
            raise ConfigError(f"{m.profile_key or repr(f'models.{m.name}.profile')}: {e}") from None
        m.profile_hash = profile.hash
        return profile

    def reload_profiles(self) -> list[str]:
        """Re-read every model's profile (SIGHUP); a bad file keeps the old profile.

        An unchanged profile keeps its windows; a changed one starts empty windows,
        because counts over the old bins cannot be compared with the new reference.
        """
        problems = []
        with self._lock:
            for m in self.models.values():
                try:
                    kept = self.engine.replace_profile(m.name, self._load_profile(m))
                    if not kept:
                        self.states.forget(m.name)  # new bins, empty windows: states start over
                    log.info(
                        "reloaded profile of model %s from %s (%s)",
                        m.name,
                        m.profile_path,
                        "unchanged" if kept else f"new hash {m.profile_hash}",
                    )
                except Exception as e:  # keep serving with the previous profile
                    problems.append(f"{m.name}: {e}")
                    self.metrics.internal_errors.labels("reload").inc()
                    log.error("cannot reload profile of model %s: %s (keeping the previous one)", m.name, e)
        return problems

    # --- ingest -----------------------------------------------------------------------
    def ingest_body(
        self, body: bytes, *, content_type: str, content_encoding: str, kind: str = "events"
    ) -> Parsed:
        """Decode, validate and ingest one request body; raises :class:`RequestError`.

        The columnar body (:data:`COLUMNS_TYPE`, or :data:`FRAMED_TYPE` with its numbers
        as raw bytes) carries events or labels of one model as column arrays; any other
        type is read as rows (JSON object, array or NDJSON).
        """
        max_bytes, max_depth = self.cfg.max_body_bytes, self.cfg.max_json_depth
        try:
            mtype = media_type(content_type)
            if mtype in (COLUMNS_TYPE, FRAMED_TYPE):
                value, area = decode_columns(
                    body, content_encoding=content_encoding, max_bytes=max_bytes, framed=mtype == FRAMED_TYPE
                )
                parsed = validate_columns(
                    value,
                    models=self.model_names,
                    kind=kind,
                    default_now=time.time(),
                    max_depth=max_depth,
                    area=area,
                )
                self._ingest_parsed(parsed, kind)
                return parsed
            values = decode_body(
                body,
                content_type=content_type,
                content_encoding=content_encoding,
                max_bytes=max_bytes,
                max_depth=max_depth,
            )
        except RequestError as e:
            self.metrics.rejected.labels(e.reason).inc()
            raise
        return self.ingest_values(values, kind=kind)

    def ingest_values(self, values: Iterable[Any], *, kind: str = "events") -> Parsed:
        """Validate decoded records and hand the valid ones to the engine."""
        rows = values if isinstance(values, list) else list(values)
        parsed = validate_records(rows, models=self.model_names, kind=kind, default_now=time.time())
        self._ingest_parsed(parsed, kind)
        return parsed

    def _ingest_parsed(self, parsed: Parsed, kind: str) -> None:
        now = time.time()
        for model, batch in parsed.batches.items():
            if kind == "events":
                self._ingest_events(model, batch, now)
            elif batch.n_rows:
                self.engine.ingest_labels(model, batch.ids, batch.labels, now=now)
        if parsed.errors:
            counts: dict[str, int] = {}
            for err in parsed.errors:
                counts[err.reason] = counts.get(err.reason, 0) + 1
            for reason, n in counts.items():
                self.metrics.rejected.labels(reason).inc(n)

    def _ingest_events(self, model: str, batch: Batch, now: float) -> None:
        n = batch.n_rows
        if not n:
            return
        # Odd values inside features are counted by the engine as data-quality issues.
        self.engine.ingest(model, batch, now=now)
        if self.prediction_log is not None:
            self.prediction_log.write_rows(n, batch.ids, lambda i: event_of(batch, model, i))
        self._event_children[model].inc(n)
        self._batch_children[model].observe(n)
        ts = batch.timestamps
        self._last_children[model].set(float(np.nanmax(ts)) if ts is not None and n else now)
        self.events_ingested += n

    # --- periodic work ----------------------------------------------------------------
    def compute(self, now: float | None = None) -> None:
        """Refresh drift and quality gauges (called every ``compute_interval_s``).

        Drift and quality state changes are logged here, once per change.
        """
        reports = self.engine.compute(now=time.time() if now is None else now)
        try:
            self.states.observe(self.engine, reports)
        except Exception:  # a log line must never stop the gauges from refreshing
            self.metrics.internal_errors.labels("state_log").inc()
            log.exception("cannot log drift/quality state changes")

    def close(self) -> None:
        """Close the prediction log (lifespan shutdown); later events are not written."""
        if self.prediction_log is not None:
            self.prediction_log.close()

    def save_snapshot(self) -> bool:
        """Write the window state to ``cfg.snapshot`` (if set); False and counted on failure."""
        path = self.cfg.snapshot
        if path is None:
            return True
        with self._lock:
            try:
                state = self._state()
                write_snapshot(path, state)
            except Exception as e:
                self.metrics.snapshot_errors.inc()
                log.error("cannot write snapshot %s: %s", path, e)
                return False
        return True

    def restore_snapshot(self) -> bool:
        """Load window state from ``cfg.snapshot`` if it exists; a bad file is logged and ignored."""
        path = self.cfg.snapshot
        if path is None:
            return False
        try:
            state = read_snapshot(path)
        except SnapshotError as e:
            log.error("%s; starting with empty windows", e)
            return False
        if state is None:
            return False
        try:
            self._load_state(state)
        except Exception as e:
            log.error("cannot restore snapshot %s: %s; starting with empty windows", path, e)
            self.metrics.internal_errors.labels("snapshot").inc()
            return False
        log.info("restored window state from %s", path)
        return True

    def _state(self) -> dict[str, Any]:
        return {"engine": self.engine.state_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        # Window state only. The counters (mlscope_ingest_events_total and the engine's
        # cumulative totals) start from 0 in this process: the snapshot's values are lower
        # than what Prometheus last scraped after a crash, and increase() would read the
        # drop as a reset and count the restored total twice. A format 1 snapshot's
        # "ingest_events" is therefore ignored (read_snapshot logs that once).
        if isinstance(state.get("engine"), dict):
            restored = self.engine.load_state(state["engine"])
            log.info("restored windows of models %s", restored)
