"""``AlertSpec``: one alert as data (rules, runbook, inhibition, test scenarios).

Every alert carries a ``severity`` label (``page`` wakes someone, ``ticket`` waits for
working hours, ``none`` is the Watchdog), a fixed ``summary``, a ``description`` that
names the model/feature/job and the value, a ``runbook_url`` into docs/runbooks.md
(one heading per alert name) and a ``dashboard_url`` into the Grafana dashboard where
the cause is visible. The rule file, the runbooks, the inhibitions and the promtool
tests are all rendered from the same spec, so an alert without a runbook or a test
cannot exist.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlscope.config_gen.alert_specs.scenarios import Scenario, Standard, standard_scenarios
from mlscope.config_gen.alert_specs.timeline import TIMELINE_TESTS, Timeline
from mlscope.config_gen.config import Config

DASHBOARDS = {
    "service": ("mlscope-service", "mlscope-service"),
    "model": ("mlscope-model-health", "mlscope-model-health"),
    "resources": ("mlscope-resources", "mlscope-resources"),
}

# The promtool test files alert scenarios go in (prometheus/tests/).
MODEL_TESTS = "alerts_model_test.yml"
SERVICE_TESTS = "alerts_service_test.yml"
SLOW_TESTS = "slow_alerts_test.yml"  # 5m steps: hours of data stay quick
DRIFT_TESTS = "drift_test.yml"


@dataclass(frozen=True)
class Rule:
    """One alerting rule of a spec; most specs have one, burn tiers and per-job checks several."""

    expr: str
    for_: str
    severity: str
    description: str
    thresholds: tuple[str, ...] = ()  # config keys the rule reads (docs/alerts.md)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertSpec:
    """One alert: its rules, runbook text, inhibition and promtool scenarios."""

    name: str
    summary: str
    rules: tuple[Rule, ...]
    dashboard: str
    meaning: str
    actions: tuple[str, ...]
    var: str = "model"  # dashboard variable filled from the alert's labels
    # The sidecar's drill-down rows behind the alert (GET /v1/samples...): path and query
    # with label names in braces, e.g. "/v1/samples?model={model}"; "" for none.
    samples: str = ""
    # Inhibited while MlscopeTargetDown fires for the same job: its figures are stale then.
    blind_when_down: bool = False
    standard: Standard | None = None  # fires / silent before for / healthy / blip
    scenarios: Mapping[str, tuple[Scenario, ...]] = field(default_factory=dict)  # more, by file
    # A fast-tier page holds back these slower alerts while it fires for the same objects
    # (Alertmanager inhibition; ``inhibit_equal``: the labels that must agree).
    inhibits: tuple[str, ...] = ()
    inhibit_equal: tuple[str, ...] = ("job", "model")
    # Failures in 15 s steps and when this alert answers them (promtool + docs/alerts.md).
    timelines: tuple[Timeline, ...] = ()

    @property
    def anchor(self) -> str:
        """The GitHub anchor of the runbook heading ``## <name>``."""
        return self.name.lower()

    def annotations(
        self, cfg: Config, description: str, labels: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Templated for the rule (``labels`` None), or filled from an alert's ``labels``."""

        def fill(name: str) -> str:
            """A label value inside a URL query: encoded as Go's ``urlquery`` encodes it."""
            if labels is not None:
                return urllib.parse.quote_plus(labels[name], safe="")
            return f"{{{{ $labels.{name} | urlquery }}}}"

        uid, slug = DASHBOARDS[self.dashboard]
        url = f"{cfg.get('grafana_url')}/d/{uid}/{slug}"
        if self.var:
            url += f"?var-{self.var}={fill(self.var)}"
        out = {
            "summary": self.summary,
            "description": description,
            "runbook_url": f"{cfg.get('runbook_base_url')}#{self.anchor}",
            "dashboard_url": url,
        }
        if self.samples:
            path = re.sub(r"\{(\w+)\}", lambda mt: fill(mt.group(1)), self.samples)
            out["samples_url"] = f"{cfg.get('samples_base_url')}{path}"
        return out

    def rule_entries(self, cfg: Config) -> list[dict[str, Any]]:
        """The spec's entries of the alerting rule group."""
        return [
            {
                "alert": self.name,
                "expr": " ".join(r.expr.split()),
                "for": r.for_,
                "labels": {"severity": cfg.severity(r.severity), **r.labels},
                "annotations": self.annotations(cfg, r.description),
            }
            for r in self.rules
        ]

    def test_scenarios(self) -> dict[str, tuple[Scenario, ...]]:
        """Every scenario of the spec, by test file: the standard three first."""
        out: dict[str, tuple[Scenario, ...]] = {}
        if self.standard is not None:
            file = MODEL_TESTS if self.dashboard == "model" else SERVICE_TESTS
            out[file] = standard_scenarios(self.name, self.rules[0].for_, self.standard)
        for file, scs in self.scenarios.items():
            out[file] = out.get(file, ()) + scs
        if self.timelines:
            out[TIMELINE_TESTS] = out.get(TIMELINE_TESTS, ()) + tuple(t.scenario() for t in self.timelines)
        return out

    def inhibit_rules(self) -> list[dict[str, Any]]:
        """Alertmanager inhibit rules: this alert firing holds back ``inhibits``."""
        if not self.inhibits:
            return []
        return [
            {
                "source_matchers": [f'alertname="{self.name}"'],
                "target_matchers": [f'alertname=~"{"|".join(self.inhibits)}"'],
                "equal": list(self.inhibit_equal),
            }
        ]
