"""The multi-model engine: a registry of ModelEngines and one prometheus_client Collector.

Cardinality is capped: at most ``max_models`` models and ``max_features`` features per
model; what is over a cap is counted in ``mlscope_cardinality_overflow_total{kind}``
(``kind="model"``: models refused; ``kind="feature"``: profile features left out).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from mlscope._families import Families
from mlscope.engine.batch import Batch
from mlscope.engine.drift import DriftConfig
from mlscope.engine.drilldown import SampleConfig
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from mlscope.engine.quality.tracker import QualityConfig
from mlscope.engine.report import DriftReport
from mlscope.engine.windows import DEFAULT_WINDOWS, WindowSpec
from mlscope.errors import ConfigError, InputError
from mlscope.misconfigurations import Misconfigurations


class Engine:
    """Every monitored model of a process; register it with a prometheus_client registry."""

    def __init__(
        self,
        *,
        max_models: int = 100,
        max_features: int = 1000,
        windows: Sequence[WindowSpec] = DEFAULT_WINDOWS,
        config: DriftConfig | None = None,
        quality: QualityConfig | None = None,
        misconfigurations: Misconfigurations | None = None,
    ) -> None:
        if not (isinstance(max_models, int) and max_models >= 1):
            raise ConfigError(f"'max_models' must be an int >= 1 (got {max_models!r})")
        if not (isinstance(max_features, int) and max_features >= 1):
            raise ConfigError(f"'max_features' must be an int >= 1 (got {max_features!r})")
        self.max_models = max_models
        self.max_features = max_features
        self.windows = tuple(windows)
        self.config = config or DriftConfig()
        self.quality = quality
        self._lock = threading.Lock()
        self._models: dict[str, ModelEngine] = {}
        self._overflow = {"model": 0, "feature": 0}
        # Given: its owner (the Monitors' registry) exposes it; else this collector does.
        self._owns_misconfig = misconfigurations is None
        self.misconfig = misconfigurations if misconfigurations is not None else Misconfigurations()

    # ----------------------------------------------------------------- models
    @property
    def models(self) -> Mapping[str, ModelEngine]:
        """A snapshot of the registered models by name."""
        with self._lock:
            return dict(self._models)

    def model(self, name: str) -> ModelEngine:
        with self._lock:
            m = self._models.get(name)
        if m is None:
            raise InputError(f"model {name!r} is not registered (have {sorted(self.models)})")
        return m

    def _capped(self, profile: Profile) -> Profile:
        excess = len(profile.features) - self.max_features
        if excess > 0:
            with self._lock:
                self._overflow["feature"] += excess
            return profile.restrict(self.max_features)
        return profile

    def add_model(
        self,
        name: str,
        profile: Profile,
        *,
        windows: Sequence[WindowSpec] | None = None,
        config: DriftConfig | None = None,
        samples: SampleConfig | None = None,
    ) -> bool:
        """Register a model; False (counted as overflow) when ``max_models`` is reached."""
        if not name:
            raise InputError("'model' must be a non-empty name")
        with self._lock:
            if name in self._models:
                raise InputError(f"model {name!r} is already registered; use replace_profile")
            if len(self._models) >= self.max_models:
                self._overflow["model"] += 1
                return False
        engine = ModelEngine(
            name,
            self._capped(profile),
            windows=windows or self.windows,
            config=config or self.config,
            samples=samples,
            quality=self.quality,
            misconfig=self.misconfig,
        )
        with self._lock:
            self._models[name] = engine
        return True

    def replace_profile(self, name: str, profile: Profile) -> bool:
        """Swap a model's profile (e.g. on SIGHUP). Counts restart unless the hash is unchanged.

        Returns True when the counts were kept (same profile content).
        """
        old = self.model(name)
        capped = self._capped(profile)
        if capped.hash == old.profile_hash:
            return True
        self.misconfig.forget(name)  # the new profile is checked afresh
        engine = ModelEngine(name, capped, windows=old.windows, config=old.config, samples=old.sample_config,
                             quality=old.quality_config, misconfig=self.misconfig)
        with self._lock:
            self._models[name] = engine
        return False

    def remove_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)
        self.misconfig.forget(name)

    # ----------------------------------------------------------------- data
    def ingest(self, model: str, batch: Batch, now: float) -> None:
        """Count a batch for ``model`` (InputError naming it when not registered)."""
        self.model(model).ingest(batch, now)

    def ingest_labels(self, model: str, ids: Any, labels: Any, now: float) -> None:
        self.model(model).ingest_labels(np.asarray(ids), np.asarray(labels), now)

    def compute(self, now: float) -> dict[str, dict[str, DriftReport]]:
        """Refresh the drift and quality gauges of every model; returns the reports."""
        return {name: m.compute(now) for name, m in self.models.items()}

    # ----------------------------------------------------------------- collector
    def describe(self) -> Iterable[Metric]:
        """Nothing up front: families depend on the profiles loaded at scrape time."""
        return []

    def collect(self) -> Iterable[Metric]:
        fams = Families()
        internal = 0
        for m in self.models.values():
            m.collect_into(fams)
            internal += m.internal_errors
        with self._lock:
            overflow = dict(self._overflow)
        fams.add(
            "mlscope_cardinality_overflow_total",
            [
                Sample("mlscope_cardinality_overflow_total", {"kind": k}, v)
                for k, v in sorted(overflow.items())
            ],
        )
        if self._owns_misconfig:
            fams.merge([self.misconfig.family()])
        if internal:
            fams.add(
                "mlscope_internal_errors_total",
                [Sample("mlscope_internal_errors_total", {"component": "engine"}, internal)],
            )
        return list(fams)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Window state of every model; the overflow counter is not kept (see load_state)."""
        return {"models": {name: m.state_dict() for name, m in self.models.items()}}

    @property
    def overflow(self) -> dict[str, int]:
        with self._lock:
            return dict(self._overflow)

    def load_state(self, state: Mapping[str, Any]) -> list[str]:
        """Restore registered models from a snapshot; returns the names restored.

        Models whose profile changed since the snapshot start empty (their bins differ).
        Exported counters (``mlscope_cardinality_overflow_total`` here, an older snapshot's
        "overflow") are not restored: a counter starts from 0 in a new process, which
        ``increase()`` counts exactly, while one restored to a value older than the last
        scrape would be counted twice.
        """
        restored: list[str] = []
        models = state.get("models") if isinstance(state, Mapping) else None
        if not isinstance(models, Mapping):
            return restored
        for name, m in self.models.items():
            s = models.get(name)
            if s is not None and m.load_state(s):
                restored.append(name)
        return restored
