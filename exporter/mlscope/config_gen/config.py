"""The generator's view of the settings: every rule, alert, route and dashboard reads it.

Why one place: the SLO target, thresholds, windows, ``for`` durations and selectors are
read by the recording rules, the alerts, their unit tests, the runbook tables and the
dashboards. They are declared once, in :class:`mlscope.settings.Settings`, the model the
sidecar reads too, so the rules watch what the sidecar computes. Users override any value
with a YAML file (``python -m mlscope.config_gen --config overrides.yml``) holding the same
nested keys (the sidecar's ``--config`` file works as it is); an unknown key, a value of
the wrong type, a required value left unset (``null``) or an alert on a window the sidecar
does not compute stops generation with a message naming the key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlscope.durations import parse_duration as duration_seconds
from mlscope.errors import ConfigError
from mlscope.settings import Settings, error_text
from mlscope.sidecar.config import SidecarConfig

__all__ = ["DEFAULTS", "BurnTier", "Config", "duration_seconds", "load"]

#: Every shipped value, keyed as in YAML (docs/settings.md describes each).
DEFAULTS: Mapping[str, Any] = Settings.model_validate({}).tree()


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, mapping by mapping (a later layer wins key by key)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


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
    """The validated settings; ``get("slo.target")`` reads one value by key path."""

    settings: Settings
    tree: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tree", self.settings.tree())

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

    def severity(self, tier: str) -> str:
        """The ``severity`` label value of an alert tier (``page``, ``ticket``, ``none``).

        Specs name the tier; the value is ``alerting.severity.<tier>`` (kube-prometheus's
        ``critical``/``warning`` by default), so routing trees that match on it work as is.
        """
        return str(self.get(f"alerting.severity.{tier}"))

    def burn_tiers(self) -> list[BurnTier]:
        """The burn-rate alert tiers of ``slo.burn``, in configuration order."""
        return [
            BurnTier(name, "page" if name.startswith("page") else "ticket", t.rate,
                     t.long_window, t.short_window, t.for_)
            for name, t in self.settings.slo.burn.items()
        ]

    def severe_window(self) -> str:
        """The sidecar window of the fast tier: ``severe.window``, else the shortest one."""
        return self._or_shortest(self.settings.severe.window)

    def drift_windows(self) -> list[str]:
        """The sidecar windows the drift tickets watch: ``drift.window`` and the short one."""
        short = self._or_shortest(self.settings.drift.short_window)
        return list(dict.fromkeys((self.get("drift.window"), short)))

    def _or_shortest(self, configured: str | None) -> str:
        if configured is not None:
            return configured
        return min(self.settings.window_specs(), key=lambda w: w.length_s).name

    @property
    def slo_target(self) -> float:
        return self.settings.slo.target


def load(overrides: Mapping[str, Any] | None = None, path: str | Path | None = None) -> Config:
    """Validate the settings of a YAML file and/or a mapping of overrides over the defaults.

    The file may be the sidecar's own (``mlscope serve --config``): its serving keys are
    checked and ignored here.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: top level must be a mapping (got {type(data).__name__})")
    if overrides:
        data = _merge(data, overrides)
    try:
        settings: Settings = SidecarConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError("invalid configuration: " + error_text(e)) from None
    settings.check_alert_windows()
    return Config(settings)
