"""The alerting rule group of prometheus/rules/mlscope-alerts.yml, rendered from the specs.

The alerts themselves are specs in ``alert_specs`` (one per alert, grouped by domain).
"""

from __future__ import annotations

from typing import Any

from mlscope.config_gen.alert_specs import DASHBOARDS, AlertSpec, alerts
from mlscope.config_gen.config import Config

__all__ = ["DASHBOARDS", "AlertSpec", "alert_group", "alerts"]


def alert_group(cfg: Config) -> dict[str, Any]:
    """The one alerting group of prometheus/rules/mlscope-alerts.yml."""
    return {"name": "mlscope.alerts", "rules": [r for a in alerts(cfg) for r in a.rule_entries(cfg)]}
