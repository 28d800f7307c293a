"""Every alert as a spec (rules, runbook, inhibition, promtool scenarios), grouped by domain.

``alerts(cfg)`` lists the specs in the order of the rule file; the rule group, the
runbooks, the alert table, the inhibitions and the promtool test files are loops over it.
"""

from __future__ import annotations

from typing import Any

from mlscope.config_gen.alert_specs import (
    availability,
    drift,
    misconfiguration,
    quality,
    resources,
    self_health,
    severe,
    slo,
)
from mlscope.config_gen.alert_specs.spec import DASHBOARDS, AlertSpec, Rule
from mlscope.config_gen.config import Config

__all__ = ["DASHBOARDS", "AlertSpec", "Rule", "alerts", "tier_inhibit_rules"]

_DOMAINS = (slo, availability, severe, drift, quality, misconfiguration, resources, self_health)


def alerts(cfg: Config) -> list[AlertSpec]:
    """Every alert spec, in the order they appear in the rule file."""
    return [spec for domain in _DOMAINS for spec in domain.specs(cfg)]


def tier_inhibit_rules(cfg: Config) -> list[dict[str, Any]]:
    """Alertmanager inhibit rules of the tiers: a fast-tier page holds back the slow tier's
    tickets of the same model and feature (read by ``alertmanager_config``)."""
    return [rule for spec in alerts(cfg) for rule in spec.inhibit_rules()]
