"""The one configuration behind every generated rule, alert, route and dashboard.

Why one place: the SLO target, thresholds, windows, ``for`` durations and selectors are
read by the recording rules, the alerts, their unit tests, the runbook tables and the
dashboards. Kept here once, they cannot disagree. Users override any value with a YAML
file (``python -m mlscope.config_gen --config overrides.yml``) holding the same nested
keys; an unknown key, a value of the wrong type or a required value left unset (``null``)
stops generation with a message naming the key path.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlscope.errors import ConfigError

# Every value generation reads. ``None`` marks a required value the user must set;
# the shipped defaults set them all, so `make generate` works out of the box.
DEFAULTS: dict[str, Any] = {
    "jobs": {
        # Scrape jobs of the local demo (prometheus.yml) and of docker compose
        # (prometheus.compose.yml): job name -> target for each.
        "app": {"name": "mlscope-demo-app", "local": "127.0.0.1:8000", "compose": "demo-app:8000"},
        "sidecar": {"name": "mlscope-sidecar", "local": "127.0.0.1:9108", "compose": "sidecar:9108"},
        "alertmanager": {"name": "alertmanager", "local": "127.0.0.1:9093", "compose": "alertmanager:9093"},
        "prometheus": {"name": "prometheus", "local": "127.0.0.1:9090", "compose": "localhost:9090"},
    },
    "scrape_interval": "15s",
    "evaluation_interval": "15s",
    "grafana_url": "http://localhost:3000",
    # Where Grafana (in docker compose) reaches Prometheus.
    "grafana_datasource_url": "http://prometheus:9090",
    "runbook_base_url": "https://github.com/mlscope/mlscope/blob/main/docs/runbooks.md",
    # Where a person's browser reaches the sidecar: alerts link to its drill-down rows.
    "samples_base_url": "http://localhost:9108",
    "slo": {
        # Availability objective of the serving app: share of requests not answered 5xx.
        "target": 0.999,
        "latency_quantile": 0.99,
        "latency_objective_s": 0.5,
        "latency_for": "10m",
        # The rate window of the latency quantile the alert compares with the objective.
        "latency_window": "5m",
        # Multi-window, multi-burn-rate alerts (SRE Workbook, chapter 5): each fires when
        # the error ratio over both windows exceeds ``rate`` x the error budget for ``for``.
        # Names starting with "page" page, "ticket" ones open a ticket.
        "burn": {
            "page_fast": {"rate": 14.4, "long_window": "1h", "short_window": "5m", "for": "2m"},
            "page_slow": {"rate": 6.0, "long_window": "6h", "short_window": "30m", "for": "15m"},
            "ticket_fast": {"rate": 3.0, "long_window": "1d", "short_window": "2h", "for": "1h"},
            "ticket_slow": {"rate": 1.0, "long_window": "3d", "short_window": "6h", "for": "3h"},
        },
    },
    "drift": {
        # The sidecar's window whose figures the alerts watch.
        "window": "1h",
        "for": "15m",
        "dataset_share_threshold": 0.5,
        # Fleet-wide PSI from the bin counters (PromQL); 0.25 is the usual "major shift".
        "fleet_psi_threshold": 0.25,
        "fleet_min_rows": 500,
        # The range of the fleet-wide drift recording rules (their names end with it).
        "fleet_window": "1h",
        # Pseudo-count added to every bin before shares enter a logarithm (see rules.py);
        # must equal the engine's (mlscope.engine.stats.SMOOTHING) for the figures to agree.
        "pseudo_count": 0.5,
    },
    "quality": {
        "window": "1h",
        "accuracy_drop": 0.05,
        "accuracy_for": "30m",
        "swing": 0.1,
        "swing_for": "15m",
        "labels_stale_s": 21600,
        "labels_for": "30m",
        # Rows must have arrived within this window for missing labels to count.
        "labels_rows_window": "30m",
        # How far back a swing compares the accuracy (an ``offset``).
        "swing_window": "1h",
        "recording_window": "1h",
    },
    "data_quality": {"ratio": 0.05, "window": "10m", "for": "10m"},
    "outliers": {"ratio": 0.05, "window": "10m", "for": "15m"},
    "resources": {
        "gpu_memory_ratio": 0.95,
        "gpu_utilization_ratio": 0.95,
        "cpu_utilization_ratio": 0.9,
        "memory_available_ratio": 0.1,
        # The averaging window of the GPU/CPU saturation alerts.
        "window": "15m",
        "for": "15m",
    },
    "exporter": {"window": "10m", "for": "10m"},
    "staleness": {"compute_s": 300, "compute_for": "5m", "metrics_window": "1h", "metrics_for": "15m"},
    "availability": {
        "down_for": "5m",
        "absent_for": "10m",
        # Traffic stopped: no request in ``traffic_window`` although some arrived in the
        # ``traffic_before_window`` before it.
        "traffic_window": "10m",
        "traffic_before_window": "1h",
        "traffic_for": "10m",
    },
}

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """Seconds in a single-unit Prometheus duration such as ``15m``."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(f"not a Prometheus duration: {text!r} (expected e.g. '15s', '10m', '1h')")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def _merge(base: dict[str, Any], over: Mapping[str, Any], path: str) -> None:
    """Merge ``over`` into ``base`` in place; keys and types must match the defaults."""
    for key, value in over.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in base:
            raise ConfigError(f"unknown config key {where!r} (known: {', '.join(sorted(base))})")
        current = base[key]
        if isinstance(current, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key {where!r} must be a mapping (got {value!r})")
            _merge(current, value, where)
            continue
        if value is not None and current is not None:
            if isinstance(current, bool) or isinstance(value, bool):
                ok = isinstance(value, bool) and isinstance(current, bool)
            elif isinstance(current, (int, float)):
                ok = isinstance(value, (int, float))
            else:
                ok = isinstance(value, type(current))
            if not ok:
                raise ConfigError(f"config key {where!r} must be {type(current).__name__} (got {value!r})")
        base[key] = value


def _check(tree: Mapping[str, Any], path: str) -> None:
    """Refuse unset required values and malformed durations, naming the key path."""
    for key, value in tree.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, Mapping):
            _check(value, where)
        elif value is None:
            raise ConfigError(f"required config value {where!r} is unset")
        elif (
            key == "for" or key.endswith("_for") or key.endswith("window") or key.endswith("interval")
        ) and isinstance(value, str):
            try:
                duration_seconds(value)
            except ConfigError as e:
                raise ConfigError(f"config key {where!r}: {e}") from None


@dataclass(frozen=True)
class BurnTier:
    """One multi-window burn-rate alert: ``rate`` x the budget over both windows for ``for_``."""

    name: str
    severity: str
    rate: float
    long_window: str
    short_window: str
    for_: str


@dataclass(frozen=True)
class Config:
    """The validated configuration; ``get("slo.target")`` reads one value by key path."""

    tree: Mapping[str, Any]

    def get(self, path: str) -> Any:
        node: Any = self.tree
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"config key {path!r} does not exist")
            node = node[part]
        return node

    def job(self, role: str) -> str:
        """The scrape job name of ``role`` (app, sidecar, alertmanager, prometheus)."""
        return str(self.get(f"jobs.{role}.name"))

    def burn_tiers(self) -> list[BurnTier]:
        """The burn-rate alert tiers of ``slo.burn``, in configuration order."""
        out = []
        for name, tier in self.get("slo.burn").items():
            rate = float(tier["rate"])
            if rate <= 0:
                raise ConfigError(f"config key 'slo.burn.{name}.rate' must be > 0 (got {rate!r})")
            out.append(BurnTier(name, "page" if name.startswith("page") else "ticket", rate,
                                str(tier["long_window"]), str(tier["short_window"]), str(tier["for"])))
        return out

    @property
    def slo_target(self) -> float:
        target = float(self.get("slo.target"))
        if not 0.0 < target < 1.0:
            raise ConfigError(f"config key 'slo.target' must be in (0, 1) (got {target!r})")
        return target


def load(overrides: Mapping[str, Any] | None = None, path: str | Path | None = None) -> Config:
    """Build the configuration from the defaults, a YAML file and/or a mapping of overrides."""
    tree = copy.deepcopy(DEFAULTS)
    if path is not None:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: top level must be a mapping (got {type(data).__name__})")
        _merge(tree, data, "")
    if overrides:
        _merge(tree, overrides, "")
    _check(tree, "")
    cfg = Config(tree)
    _ = cfg.slo_target  # validated early so a bad target names its key before any output
    _ = cfg.burn_tiers()
    return cfg
