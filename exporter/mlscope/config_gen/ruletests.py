"""promtool unit tests of every recording rule and alert, generated beside the rules.

Why generated: thresholds and ``for`` durations come from the configuration, so a user
who overrides them gets rule tests that still match. The *expected* figures are not
derived from the rules: they are written out per scenario (the sums, ratios and rendered
descriptions a person computes from the input series) or, for the drift statistics,
computed with the engine's numpy/scipy statistics from the same counts (an independent
implementation of the PromQL chain). Each alert's scenarios live in its spec
(``alert_specs``): one where it fires with its exact labels and annotations, and ones
where it stays silent (a healthy series, a blip shorter than its ``for``, the minute
before ``for`` ends). This module holds the recording-rule scenarios, gathers the alert
scenarios into files and renders them.

Floats that PromQL computes in a different order than Python are compared with an
explicit absolute tolerance (``abs(expr - expected) < bool tol`` must be 1), since
promtool compares sample values exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlscope import catalogue
from mlscope.config_gen.alert_specs import AlertSpec, alerts
from mlscope.config_gen.alert_specs.scenarios import (
    APP_LABELS,
    AlertCheck,
    ExprCheck,
    Scenario,
    at_minute,
    from_job,
)
from mlscope.config_gen.alert_specs.spec import DRIFT_TESTS, MODEL_TESTS, SERVICE_TESTS, SLOW_TESTS
from mlscope.config_gen.alert_specs.timeline import STEP_S, TIMELINE_TESTS
from mlscope.config_gen.config import Config, duration_seconds
from mlscope.config_gen.rules import (
    accuracy_rate_rule,
    accuracy_rule,
    error_attribution_top_rule,
    outcomes_rule,
    recording_groups,
    slo_windows,
    true_positives_rule,
)

HTTP = catalogue.HTTP_REQUEST_DURATION
TOL = 1e-9  # absolute: values are O(1) ratios/seconds; PromQL and numpy differ by ~1e-16


@dataclass
class TestFile:
    """One file under prometheus/tests/."""

    name: str
    scenarios: list[Scenario] = field(default_factory=list)
    evaluation_interval: str = "1m"


# --------------------------------------------------------------------------- scenarios


def _http_series(app: str) -> tuple[tuple[str, str], ...]:
    """/predict and /health of the app, counters from 0 for 200 minutes."""
    j = f'job="{app}", {APP_LABELS}'
    pred = f'{j}, http_request_method="POST", http_route="/predict"'
    health = f'{j}, http_request_method="GET", http_route="/health"'
    return (
        # /predict: 114 ok + 6 failed requests a minute (2/s, 5% errors); /health 60 a minute.
        (f'{HTTP}_count{{{pred}, http_response_status_code="200"}}', "0+114x200"),
        (f'{HTTP}_count{{{pred}, http_response_status_code="500"}}', "0+6x200"),
        (f'{HTTP}_count{{{health}, http_response_status_code="200"}}', "0+60x200"),
        # Buckets: of /predict's 120 a minute, 63 under 100 ms (57 ok + 6 failed), all under 500 ms.
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="200", le="0.1"}}', "0+57x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="200", le="0.5"}}', "0+114x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="200", le="+Inf"}}', "0+114x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="500", le="0.1"}}', "0+6x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="500", le="0.5"}}', "0+6x200"),
        (f'{HTTP}_bucket{{{pred}, http_response_status_code="500", le="+Inf"}}', "0+6x200"),
        (f'{HTTP}_bucket{{{health}, http_response_status_code="200", le="0.1"}}', "0+60x200"),
        (f'{HTTP}_bucket{{{health}, http_response_status_code="200", le="0.5"}}', "0+60x200"),
        (f'{HTTP}_bucket{{{health}, http_response_status_code="200", le="+Inf"}}', "0+60x200"),
    )


def _http_scenarios(cfg: Config) -> list[Scenario]:
    app = cfg.job("app")
    series = _http_series(app)
    p_route = f'{{http_route="/predict", job="{app}"}}'
    h_route = f'{{http_route="/health", job="{app}"}}'
    job = f'{{job="{app}"}}'

    def q_pred(q: float) -> float:
        # Linear interpolation inside the bucket holding rank q*120 (63 below 0.1, 120 below 0.5).
        rank = q * 120
        return 0.1 * rank / 63 if rank <= 63 else 0.1 + 0.4 * (rank - 63) / (120 - 63)

    checks = [
        ExprCheck("180m", "job_route:http_server_requests:rate5m", ((p_route, 2.0), (h_route, 1.0)), True),
        ExprCheck(
            "180m",
            "job_route:http_server_request_errors:ratio_rate5m",
            ((p_route, 0.05), (h_route, 0.0)),
            True,
        ),
        ExprCheck(
            "180m", "job_route:http_server_requests_2xx:ratio_rate5m", ((p_route, 0.95), (h_route, 1.0)), True
        ),
        ExprCheck("180m", "job:http_server_requests:rate5m", ((job, 3.0),), True),
        ExprCheck("180m", "job:http_server_requests:increase1m", ((job, 180.0),), True),
        ExprCheck("180m", "job:http_server_requests:increase1h", ((job, 180.0 * 60),), True),
        # The series start at 0, so the 1d window holds all 180 minutes (no extrapolation
        # below zero): 180 requests a minute for 180 minutes.
        ExprCheck("180m", "job:http_server_requests:increase1d", ((job, 180.0 * 180),), True),
    ]
    for tag, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        checks.append(
            ExprCheck(
                "180m", f"job_route:{HTTP}:{tag}_rate5m", ((p_route, q_pred(q)), (h_route, 0.1 * q)), True
            )
        )
    for w in slo_windows(cfg):
        # 6 failed of 180 requests a minute, in every window (all series start together).
        checks.append(
            ExprCheck("180m", f"job:mlscope_slo_errors_per_request:ratio_rate{w}", ((job, 6 / 180),), True)
        )
    return [
        Scenario(
            "HTTP recording rules: rates, ratios, quantiles, volumes and SLO ratios",
            series,
            expr_checks=tuple(checks),
        )
    ]


def _quality_scenarios(cfg: Config) -> list[Scenario]:
    w = str(cfg.get("quality.recording_window"))
    cells = {("yes", "yes"): 8, ("yes", "no"): 2, ("no", "no"): 6, ("no", "yes"): 4}
    series = tuple(
        (
            f'mlscope_classification_outcomes_total{{instance="a", model="churn", '
            f'actual="{a}", predicted="{p}"}}',
            f"0+{n}x120",
        )
        for (a, p), n in cells.items()
    )
    mins = duration_seconds(w) / 60
    tp = {"yes": 8 * mins, "no": 6 * mins}
    pred_tot = {"yes": 12 * mins, "no": 8 * mins}
    act_tot = {"yes": 10 * mins, "no": 10 * mins}
    ev = at_minute(mins + 10)
    return [
        Scenario(
            "quality recording rules: accuracy, precision, recall from the confusion counters",
            series,
            expr_checks=(
                ExprCheck(
                    ev,
                    outcomes_rule(cfg),
                    tuple(
                        (f'{{actual="{a}", model="churn", predicted="{p}"}}', n * mins)
                        for (a, p), n in sorted(cells.items())
                    ),
                    True,
                ),
                ExprCheck(
                    ev,
                    true_positives_rule(cfg),
                    (
                        ('{actual="no", model="churn", predicted="no"}', tp["no"]),
                        ('{actual="yes", model="churn", predicted="yes"}', tp["yes"]),
                    ),
                    True,
                ),
                ExprCheck(ev, accuracy_rule(cfg), (('{model="churn"}', 14 / 20),), True),
                ExprCheck(
                    ev,
                    f"model_class:mlscope_precision:ratio{w}",
                    tuple((f'{{class="{c}", model="churn"}}', tp[c] / pred_tot[c]) for c in ("no", "yes")),
                    True,
                ),
                ExprCheck(
                    ev,
                    f"model_class:mlscope_recall:ratio{w}",
                    tuple((f'{{class="{c}", model="churn"}}', tp[c] / act_tot[c]) for c in ("no", "yes")),
                    True,
                ),
            ),
        ),
        Scenario(
            "quality recording rules: no labelled row in the window gives no accuracy, not NaN",
            tuple((name, f"5x{int(mins) + 20}") for name, _ in series),
            expr_checks=(ExprCheck(ev, accuracy_rule(cfg), ()),),
        ),
    ]


def _page_scenarios(cfg: Config) -> list[Scenario]:
    """Accuracy of fresh labels per job (two replicas summed) and the top-3 attribution."""
    rw = str(cfg.get("severe.rate_window"))
    cells = {("yes", "yes"): 6, ("no", "no"): 3, ("no", "yes"): 1}  # per replica, a minute
    series = tuple(
        (
            f'mlscope_classification_outcomes_total{{job="s", instance="{i}", model="churn", '
            f'actual="{a}", predicted="{p}"}}',
            f"0+{n}x30",
        )
        for i in ("a", "b")
        for (a, p), n in cells.items()
    )
    scores = {"age": 0.4, "income": 0.3, "plan": 0.2, "region": 0.1}
    attribution = tuple(
        (
            f'mlscope_feature_error_attribution{{job="s", instance="a", model="churn", feature="{f}", '
            f'window="5m"}}',
            f"{v}x30",
        )
        for f, v in scores.items()
    )
    top = tuple(
        (f'{{feature="{f}", job="s", model="churn", window="5m"}}', v) for f, v in list(scores.items())[:3]
    )
    return [
        Scenario(
            "page recording rules: accuracy of the labels of the last minutes, top features by attribution",
            series + attribution,
            expr_checks=(
                ExprCheck("20m", accuracy_rate_rule(cfg), (('{job="s", model="churn"}', 0.9),), True),
                ExprCheck("20m", error_attribution_top_rule(), top, True),
            ),
        ),
        Scenario(
            f"page recording rules: no label in the last {rw} gives no accuracy",
            tuple((name, "0x30") for name, _ in series),
            expr_checks=(ExprCheck("20m", accuracy_rate_rule(cfg), ()),),
        ),
    ]


def _model_scenarios() -> list[Scenario]:
    return [
        Scenario(
            "model traffic: rows per second summed over replicas",
            (
                ('mlscope_rows_total{instance="a", model="churn"}', "0+60x30"),
                ('mlscope_rows_total{instance="b", model="churn"}', "0+120x30"),
            ),
            expr_checks=(ExprCheck("20m", "model:mlscope_rows:rate5m", (('{model="churn"}', 3.0),), True),),
        )
    ]


# --------------------------------------------------------------------------- rendering


def test_files(cfg: Config) -> list[TestFile]:
    """The promtool test files, by name under prometheus/tests/."""
    specs, sidecar = alerts(cfg), cfg.job("sidecar")
    recording = [*_http_scenarios(cfg), *_model_scenarios(), *_quality_scenarios(cfg), *_page_scenarios(cfg)]
    return [
        TestFile("recording_test.yml", recording),
        TestFile(DRIFT_TESTS, _scenarios_of(specs, DRIFT_TESTS)),
        # Split in two so that the checks can run two promtool processes side by side.
        TestFile(MODEL_TESTS, _scenarios_of(specs, MODEL_TESTS, sidecar)),
        TestFile(SERVICE_TESTS, _scenarios_of(specs, SERVICE_TESTS, sidecar)),
        # Hours of data (1d/3d windows, 6h label staleness): 5m steps keep promtool quick.
        TestFile(SLOW_TESTS, _scenarios_of(specs, SLOW_TESTS, sidecar), evaluation_interval="5m"),
        # Failure timelines at the shipped 15 s scrape and evaluation (docs/alerts.md's timing table).
        TestFile(
            TIMELINE_TESTS, _scenarios_of(specs, TIMELINE_TESTS, sidecar), evaluation_interval=f"{STEP_S}s"
        ),
    ]


def _scenarios_of(specs: list[AlertSpec], file: str, job: str | None = None) -> list[Scenario]:
    """The scenarios of every spec that go in ``file``, in spec order; ML series without a
    job get ``job`` (the alert scenarios write them as the sidecar exports them)."""
    out = [sc for spec in specs for sc in spec.test_scenarios().get(file, ())]
    return out if job is None else [from_job(sc, job) for sc in out]


def render(cfg: Config, tf: TestFile) -> dict[str, Any]:
    """One promtool test file as a YAML-ready mapping."""
    by = {a.name: a for a in alerts(cfg)}
    tests = []
    for sc in tf.scenarios:
        t: dict[str, Any] = {
            "name": sc.name,
            "interval": sc.interval,
            "input_series": [{"series": s, "values": v} for s, v in sc.series],
        }
        if sc.alert_checks:
            t["alert_rule_test"] = [_alert_test(cfg, by[c.alert], c) for c in sc.alert_checks]
        if sc.expr_checks:
            t["promql_expr_test"] = [test for c in sc.expr_checks for test in _expr_tests(c)]
        tests.append(t)
    return {
        "rule_files": ["../rules/mlscope-recording.yml", "../rules/mlscope-alerts.yml"],
        "evaluation_interval": tf.evaluation_interval,
        # Recording rules first, so alerts read this step's recorded values.
        "group_eval_order": [g["name"] for g in recording_groups(cfg)] + ["mlscope.alerts"],
        "tests": tests,
    }


def _labels(cfg: Config, labels: Mapping[str, str]) -> dict[str, str]:
    """An alert's expected labels: its tier becomes the configured ``severity`` value."""
    return dict(sorted({**labels, "severity": cfg.severity(labels["severity"])}.items()))


def _alert_test(cfg: Config, spec: AlertSpec, c: AlertCheck) -> dict[str, Any]:
    """An ``alert_rule_test`` entry: exact labels and the annotations filled from them."""
    return {
        "eval_time": c.eval_time,
        "alertname": c.alert,
        "exp_alerts": [
            {
                "exp_labels": _labels(cfg, f.labels),
                "exp_annotations": spec.annotations(cfg, f.description, f.labels),
            }
            for f in c.fires
        ],
    }


def _expr_tests(c: ExprCheck) -> list[dict[str, Any]]:
    """``promql_expr_test`` entries of one check."""
    if not c.approx:
        samples = [{"labels": c.expr.split("{")[0] + labels, "value": v} for labels, v in c.samples]
        return [{"expr": c.expr, "eval_time": c.eval_time, "exp_samples": samples}]
    # One test per sample: |got - expected| < TOL must hold (value 1)...
    out = [
        {
            "expr": f"abs({_with(c.expr, labels[1:-1])} - {float(value)!r}) < bool {TOL}",
            "eval_time": c.eval_time,
            "exp_samples": [{"labels": labels, "value": 1}],
        }
        for labels, value in c.samples
    ]
    # ...and no other series than those expected.
    out.append(
        {
            "expr": f"count({c.expr})",
            "eval_time": c.eval_time,
            "exp_samples": [{"labels": "{}", "value": len(c.samples)}],
        }
    )
    return out


def _with(expr: str, matchers: str) -> str:
    """``expr`` (a bare or selector-bearing series name) narrowed by extra matchers."""
    if "{" in expr:
        return expr[:-1] + ", " + matchers + "}"
    return f"{expr}{{{matchers}}}"
