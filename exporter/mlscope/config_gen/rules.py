"""Recording rules: service RED figures, SLO error ratios, fleet-wide drift and quality.

Names follow the Prometheus ``level:metric:operations`` convention. Each group is
evaluated in order and a rule sees the results of the rules above it in the same group
at the same evaluation time, which the drift and quality chains rely on.

Fleet-wide drift
----------------
The engine counts production values per reference bin in ``mlscope_feature_bin_total``
and publishes the reference share of each bin (``mlscope_feature_reference_ratio``) and
the reference rows behind those shares (``mlscope_feature_reference_rows``). Counters
from any number of replicas merge exactly, so over the last hour, per model and feature
with ``k`` bins, production counts ``c_i`` (``n`` in all), reference counts ``r_i``
(``N`` in all) and a pseudo-count ``a`` per bin, the rules compute exactly what
``mlscope.engine.stats`` computes on the same counts::

    p_i = (r_i + a) / (N + a k)        q_i = (c_i + a) / (n + a k)       (smoothed shares)
    PSI = sum_i (q_i - p_i) * ln(q_i / p_i)
    JS  = sqrt(0.5 * sum_i x_i log2(x_i / m_i) + 0.5 * sum_i y_i log2(y_i / m_i))

where JS (the Jensen-Shannon *distance*, base 2, in [0, 1], as
``scipy.spatial.distance.jensenshannon(x, y, base=2)``) uses the raw shares
``x = r / N`` and ``y = c / n``, ``m = (x + y) / 2``, and leaves out the zero terms
(0 log 0 = 0). Smoothing keeps every PSI term finite, so an empty bin never gives +Inf.
The pseudo-count ``a`` is the engine's own, ``mlscope.engine.stats.SMOOTHING``: not a
setting, so the two cannot disagree.

Rule names
----------
``level:metric:operations``: the level lists the labels the result keeps (``job``,
``model_feature_bin``, ...), the metric is the source's name, the operations what was done
(``increase1h``, ``ratio_rate5m``). Dashboards, alerts and rule tests take a recorded
series' name from the function below that names it, never from a copy of the string, so
a configured window changes both ends.
"""

from __future__ import annotations

from typing import Any

from mlscope import catalogue
from mlscope.config_gen.config import Config, duration_seconds
from mlscope.engine.stats import SMOOTHING

HTTP = catalogue.HTTP_REQUEST_DURATION
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


def _rec(name: str, expr: str) -> dict[str, Any]:
    return {"record": name, "expr": " ".join(expr.split())}


def requests_increase_rule(window: str) -> str:
    """Requests served per job over ``window`` (recorded for 1m, 1h and 1d)."""
    return f"job:http_server_requests:increase{window}"


def slo_error_ratio_rule(window: str) -> str:
    """The serving app's 5xx share over ``window`` (one per window of :func:`slo_windows`)."""
    return f"job:mlscope_slo_errors_per_request:ratio_rate{window}"


def fleet_psi_rule(cfg: Config) -> str:
    """Fleet-wide PSI per model and feature over ``drift.fleet_window``."""
    return f"model_feature:mlscope_feature_psi:{cfg.get('drift.fleet_window')}"


def fleet_jensenshannon_rule(cfg: Config) -> str:
    """Fleet-wide Jensen-Shannon distance per model and feature over ``drift.fleet_window``."""
    return f"model_feature:mlscope_feature_jensenshannon:{cfg.get('drift.fleet_window')}"


def fleet_rows_rule(cfg: Config) -> str:
    """Rows per model and feature over ``drift.fleet_window``, all replicas."""
    return f"model_feature:mlscope_feature_rows:increase{cfg.get('drift.fleet_window')}"


def fleet_bin_count_rule(cfg: Config) -> str:
    """Production rows per model, feature and bin over ``drift.fleet_window``, all replicas."""
    return f"model_feature_bin:mlscope_feature_bin:increase{cfg.get('drift.fleet_window')}"


def fleet_production_share_rule(cfg: Config, *, smoothed: bool = False) -> str:
    """Each bin's share of the production rows over ``drift.fleet_window`` (raw or smoothed)."""
    op = "ratio_smoothed" if smoothed else "ratio"
    return f"model_feature_bin:mlscope_feature_production:{op}{cfg.get('drift.fleet_window')}"


def reference_share_rule(*, smoothed: bool = False) -> str:
    """Each bin's share of the reference rows, one copy per model and feature (raw or smoothed)."""
    return f"model_feature_bin:mlscope_feature_reference:{'ratio_smoothed' if smoothed else 'ratio'}"


def reference_rows_rule() -> str:
    """Reference rows per model and feature, one copy over the replicas."""
    return "model_feature:mlscope_feature_reference_rows:max"


def outcomes_rule(cfg: Config) -> str:
    """Labelled predictions per model and confusion cell over ``quality.recording_window``."""
    w = cfg.get("quality.recording_window")
    return f"model_actual_predicted:mlscope_classification_outcomes:increase{w}"


def true_positives_rule(cfg: Config) -> str:
    """The diagonal cells of :func:`outcomes_rule` (actual == predicted)."""
    w = cfg.get("quality.recording_window")
    return f"model_actual_predicted:mlscope_classification_true_positives:increase{w}"


def accuracy_rule(cfg: Config) -> str:
    """Fleet-wide accuracy per model over ``quality.recording_window``."""
    return f"model:mlscope_accuracy:ratio{cfg.get('quality.recording_window')}"


def accuracy_rate_rule(cfg: Config) -> str:
    """Accuracy per job and model of the labels joined over ``severe.rate_window`` (the fast tier)."""
    return f"job_model:mlscope_accuracy:ratio_rate{cfg.get('severe.rate_window')}"


def error_attribution_top_rule() -> str:
    """The three features per job, model and window most tied to the model's errors."""
    return "job_model_feature_window:mlscope_feature_error_attribution:top3"


def http_rules() -> list[dict[str, Any]]:
    """Per job and route: request rate, error and 2xx ratios, latency quantiles, volumes."""
    by = "job, http_route"
    total = f"sum by ({by}) (rate({HTTP}_count[5m]))"
    rules = [
        _rec("job_route:http_server_requests:rate5m", total),
        # A route with no 5xx series yet still gets a 0 ratio (the "or" branch).
        _rec(
            "job_route:http_server_request_errors:ratio_rate5m",
            f'(sum by ({by}) (rate({HTTP}_count{{http_response_status_code=~"5.."}}[5m])) '
            f"or 0 * {total}) / {total}",
        ),
        _rec(
            "job_route:http_server_requests_2xx:ratio_rate5m",
            f'(sum by ({by}) (rate({HTTP}_count{{http_response_status_code=~"2.."}}[5m])) '
            f"or 0 * {total}) / {total}",
        ),
    ]
    for tag, q in QUANTILES:
        rules.append(
            _rec(
                f"job_route:{HTTP}:{tag}_rate5m",
                f"histogram_quantile({q}, sum by ({by}, le) (rate({HTTP}_bucket[5m])))",
            )
        )
    rules.append(_rec("job:http_server_requests:rate5m", f"sum by (job) (rate({HTTP}_count[5m]))"))
    for w in ("1m", "1h", "1d"):
        rules.append(_rec(requests_increase_rule(w), f"sum by (job) (increase({HTTP}_count[{w}]))"))
    return rules


def slo_windows(cfg: Config) -> list[str]:
    """The SRE Workbook windows (the dashboards draw them) plus any the burn tiers add, shortest first."""
    extra = {w for t in cfg.burn_tiers() for w in (t.long_window, t.short_window)}
    return sorted(set(SLO_WINDOWS) | extra, key=duration_seconds)


def slo_rules(cfg: Config) -> list[dict[str, Any]]:
    """Error ratio of the serving app over every window the burn-rate alerts read."""
    sel = f'job="{cfg.job("app")}"'
    rules = []
    for w in slo_windows(cfg):
        total = f"sum by (job) (rate({HTTP}_count{{{sel}}}[{w}]))"
        errors = f'sum by (job) (rate({HTTP}_count{{{sel},http_response_status_code=~"5.."}}[{w}]))'
        rules.append(
            _rec(slo_error_ratio_rule(w), f"({errors} or 0 * {total}) / {total}")
        )
    return rules


def drift_rules(cfg: Config) -> list[dict[str, Any]]:
    """Fleet-wide PSI and Jensen-Shannon distance per model and feature over ``drift.fleet_window``."""
    a = repr(float(SMOOTHING))
    w = str(cfg.get("drift.fleet_window"))
    key = "model, feature"
    on = f"on ({key}) group_left ()"
    counts = fleet_bin_count_rule(cfg)
    ref = reference_share_rule()
    ref_rows = reference_rows_rule()
    rows = fleet_rows_rule(cfg)
    cur_share = fleet_production_share_rule(cfg)
    p = reference_share_rule(smoothed=True)
    q = fleet_production_share_rule(cfg, smoothed=True)
    k = f"count by ({key}) ({ref})"
    # Every reference bin takes part, a bin with no production rows as a 0 count.
    all_counts = f"({counts} or 0 * {ref})"
    m = f"(({ref} + on ({key}, bin) {cur_share}) / 2)"
    return [
        _rec(counts, f"sum by ({key}, bin) (increase(mlscope_feature_bin_total[{w}]))"),
        # Replicas publish the same reference; max keeps one copy of each bin.
        _rec(ref, f"max by ({key}, bin) (mlscope_feature_reference_ratio)"),
        _rec(ref_rows, f"max by ({key}) (mlscope_feature_reference_rows)"),
        _rec(rows, f"sum by ({key}) ({counts})"),
        # Features with no rows in the window are left out: no data is not "no drift".
        _rec(cur_share, f"{all_counts} / {on} ({rows} > 0)"),
        _rec(p, f"({ref} * {on} {ref_rows} + {a}) / {on} ({ref_rows} + {a} * {k})"),
        _rec(q, f"({all_counts} + {a}) / {on} (({rows} > 0) + {a} * {k})"),
        _rec(
            fleet_psi_rule(cfg),
            f"sum by ({key}) (({q} - on ({key}, bin) {p}) * ln({q} / on ({key}, bin) {p}))",
        ),
        # "> 0" drops the zero shares, whose terms are 0 (and NaN if computed as 0 * -Inf).
        _rec(
            fleet_jensenshannon_rule(cfg),
            f"sqrt((0.5 * sum by ({key}) (({ref} > 0) * log2(({ref} > 0) / on ({key}, bin) {m}))"
            f" + 0.5 * sum by ({key}) (({cur_share} > 0) * log2(({cur_share} > 0) / on ({key}, bin) {m}))))",
        ),
    ]


def quality_rules(cfg: Config) -> list[dict[str, Any]]:
    """Accuracy, and per-class precision and recall, from the confusion counters."""
    w = str(cfg.get("quality.recording_window"))
    o = outcomes_rule(cfg)
    tp = true_positives_rule(cfg)
    # TP: keep the diagonal cells (actual == predicted). PromQL cannot compare two
    # labels, so the right-hand side copies `actual` into `predicted` after summing the
    # predicted classes away (unique per model and class), and `and` keeps matching cells.
    diagonal = (
        f"{o} and on (model, actual, predicted) "
        f'label_replace(sum by (model, actual) ({o}), "predicted", "$1", "actual", "(.*)")'
    )
    per_class_tp = f'sum by (model, class) (label_replace({tp}, "class", "$1", "actual", "(.*)"))'
    predicted = f'sum by (model, class) (label_replace({o}, "class", "$1", "predicted", "(.*)"))'
    actual = f'sum by (model, class) (label_replace({o}, "class", "$1", "actual", "(.*)"))'
    return [
        _rec(o, f"sum by (model, actual, predicted) (increase(mlscope_classification_outcomes_total[{w}]))"),
        _rec(tp, diagonal),
        _rec(
            accuracy_rule(cfg),
            # No labelled row in the window: no sample rather than NaN (0 / 0).
            f"(sum by (model) ({tp}) or 0 * sum by (model) ({o})) / (sum by (model) ({o}) > 0)",
        ),
        # A class never predicted correctly has no TP cell: "or 0 * ..." makes it a 0.
        _rec(
            f"model_class:mlscope_precision:ratio{w}",
            f"({per_class_tp} or 0 * {predicted}) / ({predicted} > 0)",
        ),
        _rec(f"model_class:mlscope_recall:ratio{w}", f"({per_class_tp} or 0 * {actual}) / ({actual} > 0)"),
    ]


def page_rules(cfg: Config) -> list[dict[str, Any]]:
    """What the model pages read: accuracy on fresh labels, the features behind the errors."""
    o = f"rate(mlscope_classification_outcomes_total[{cfg.get('severe.rate_window')}])"
    # The diagonal (actual == predicted), as in quality_rules: `and` against a copy of
    # `actual` into `predicted` keeps the matching cells.
    correct = (
        f"sum by (job, model) ({o} and on (job, model, actual, predicted) "
        f'label_replace(sum by (job, model, actual) ({o}), "predicted", "$1", "actual", "(.*)"))'
    )
    total = f"sum by (job, model) ({o})"
    return [
        _rec(accuracy_rate_rule(cfg), f"({correct} or 0 * {total}) / ({total} > 0)"),
        _rec(
            error_attribution_top_rule(),
            "topk by (job, model, window) (3, max by (job, model, feature, window) "
            "(mlscope_feature_error_attribution))",
        ),
    ]


def model_rules() -> list[dict[str, Any]]:
    """Per-model traffic, the denominator of the outlier and data-quality ratios."""
    return [_rec("model:mlscope_rows:rate5m", "sum by (model) (rate(mlscope_rows_total[5m]))")]


def recording_groups(cfg: Config) -> list[dict[str, Any]]:
    """All recording-rule groups, in evaluation order."""
    return [
        {"name": "mlscope.http.rules", "rules": http_rules()},
        {"name": "mlscope.slo.rules", "rules": slo_rules(cfg)},
        {"name": "mlscope.model.rules", "rules": model_rules()},
        {"name": "mlscope.drift.rules", "rules": drift_rules(cfg)},
        {"name": "mlscope.quality.rules", "rules": quality_rules(cfg)},
        {"name": "mlscope.page.rules", "rules": page_rules(cfg)},
    ]


def recorded_names(cfg: Config) -> frozenset[str]:
    """Every series name the recording rules produce (known to the dashboard checks)."""
    return frozenset(r["record"] for g in recording_groups(cfg) for r in g["rules"])
