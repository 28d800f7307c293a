"""The fast tier of the model alerts: a severe break of the inputs or outputs pages.

The slow tier (drift, data-quality share, accuracy on the long windows) files tickets
after tens of minutes; a feature that suddenly arrives all missing or in other units,
predictions that collapse onto one class and an accuracy collapse page within minutes,
read on short windows (``severe.*``). While a page fires, Alertmanager holds back the
tickets of the same model and feature (``inhibits``).

Each spec's timelines (15 s steps, see ``timeline``) are its promtool tests and the
timing table of docs/alerts.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlscope.config_gen.alert_specs import drift, estimated
from mlscope.config_gen.alert_specs import page_context as ctx
from mlscope.config_gen.alert_specs.scenarios import AlertCheck, Fires, Scenario, pct
from mlscope.config_gen.alert_specs.spec import AlertSpec, Rule
from mlscope.config_gen.alert_specs.timeline import (
    BREAK_STEP,
    TIMELINE_TESTS,
    Timeline,
    bin_series,
    counter,
    first_firing,
    grown_bins,
    moved_bins,
    notation,
    window_increase,
)
from mlscope.config_gen.config import Config, duration_seconds
from mlscope.config_gen.rules import accuracy_rate_rule
from mlscope.engine import stats
from mlscope.engine.drift import score_metric

#: The engine's score of each numeric method on bin counts, for the timelines.
_SCORES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "psi": stats.psi,
    "jensenshannon": stats.jensen_shannon,
    "hellinger": stats.hellinger,
    "ks": lambda ref, cur: stats.ks(ref, cur).statistic,
    "chisquare": lambda ref, cur: stats.chi_square(ref, cur).statistic,
    # in bins, not reference sds: the timeline only needs a score that grows with the shift
    "wasserstein": lambda ref, cur: stats.wasserstein(ref, cur, np.arange(len(ref), dtype=float)),
}

RATE = 300  # rows per 15 s step: 20 events a second, the traffic of issue 16's trial
STEPS = BREAK_STEP + 24  # six minutes after the failure: every fast page fires by then
FD = 'model="churn", feature="age"'
PO = 'model="churn", output="class"'


def specs(cfg: Config) -> list[AlertSpec]:
    return [
        feature_broken(cfg),
        prediction_broken(cfg),
        feature_drift_severe(cfg),
        prediction_collapse(cfg),
        accuracy_collapse(cfg),
    ]


def broken(step: int) -> bool:
    """Whether the failure shows in the interval ending at sample ``step``."""
    return step > BREAK_STEP


def rows_series() -> tuple[str, str]:
    return ('mlscope_rows_total{model="churn"}', notation(counter(lambda _: RATE, STEPS)))


def feature_broken(cfg: Config) -> AlertSpec:
    g = cfg.get
    rw, ratio = g("severe.rate_window"), g("severe.data_quality_ratio")
    return AlertSpec(
        name="MlscopeFeatureBroken",
        summary="A feature suddenly arrives missing, mistyped, out of range or unseen.",
        rules=(
            Rule(
                expr=f"sum by (job, model, feature, issue) (rate(mlscope_data_quality_issues_total[{rw}])) "
                "/ on (job, model) group_left () "
                f"(sum by (job, model) (rate(mlscope_rows_total[{rw}])) > 0) > {ratio} "
                f"and on (job, model) sum by (job, model) (increase(mlscope_rows_total[{rw}])) "
                f">= {g('severe.min_rows')}",
                for_=g("severe.for"),
                severity="page",
                description="{{ $value | humanizePercentage }} of rows of model {{ $labels.model }} had "
                f"{{{{ $labels.issue }}}} values in {ctx.feature_named(capital=False)} over the last {rw} "
                f"(pages above {pct(float(ratio))}).",
                thresholds=(
                    "severe.rate_window",
                    "severe.data_quality_ratio",
                    "severe.min_rows",
                    "severe.for",
                ),
            ),
        ),
        dashboard="model",
        samples="/v1/samples?model={model}&feature={feature}" + f"&window={cfg.severe_window()}",
        meaning="Most rows of the last minute have a data-quality problem in one feature: an upstream "
        "schema, unit or encoding change, or a broken join. The model is answering on garbage.",
        actions=(
            "Open the samples link: the rows of the feature in the last minutes, by bin (missing, out "
            "of range and unseen values have their own bins).",
            "Find the release or data source that changed the feature (schema, units, encoding).",
            "Roll back the producer, or stop serving the model's answers until the input is fixed.",
        ),
        blind_when_down=True,
        inhibits=("MlscopeDataQualitySpike", "MlscopeFeatureDrift"),
        inhibit_equal=("job", "model", "feature"),
        scenarios={TIMELINE_TESTS: (healthy_hour(cfg),)},
        timelines=(
            _broken_timeline(cfg, "missing", "feature arrives all missing"),
            _broken_timeline(cfg, "out_of_range", "feature arrives in other units (x1000)"),
        ),
    )


def _bad_share(cfg: Config) -> tuple[list[float], list[float], int]:
    """1% of rows bad, then all of them: the bad counter, its share of the rows on the rate
    window at every step, and the step a share rule with the ``severe.*`` defaults fires."""
    g = cfg.get
    rw = g("severe.rate_window")
    bad = counter(lambda i: RATE if broken(i) else RATE // 100, STEPS)
    rows = counter(lambda _: RATE, STEPS)
    share = [
        b / r if r else 0.0 for b, r in zip(window_increase(bad, rw), window_increase(rows, rw), strict=True)
    ]
    n_rows = window_increase(rows, rw)
    cond = [
        s > float(g("severe.data_quality_ratio")) and n >= int(g("severe.min_rows"))
        for s, n in zip(share, n_rows, strict=True)
    ]
    return bad, share, first_firing(cond, g("severe.for"))


def _broken_timeline(cfg: Config, issue: str, failure: str) -> Timeline:
    """1% of rows with ``issue`` in feature age, then all of them."""
    g = cfg.get
    rw = g("severe.rate_window")
    bad, share, at = _bad_share(cfg)
    fires = Fires(
        {"severity": "page", "model": "churn", "feature": "age", "issue": issue},
        f"{pct(share[at])} of rows of model churn had {issue} values in feature age over the last {rw} "
        f"(pages above {pct(float(g('severe.data_quality_ratio')))}).",
    )
    dq = f'mlscope_data_quality_issues_total{{{FD}, issue="{issue}"}}'
    return Timeline(
        "MlscopeFeatureBroken", "page", failure, (rows_series(), (dq, notation(bad))), at, (fires,)
    )


_SHARE_KEYS = ("severe.rate_window", "severe.data_quality_ratio", "severe.min_rows", "severe.for")


def prediction_broken(cfg: Config) -> AlertSpec:
    g = cfg.get
    rw, ratio = g("severe.rate_window"), g("severe.data_quality_ratio")
    key = "job, model, output"
    return AlertSpec(
        name="MlscopePredictionBroken",
        summary="A model's outputs suddenly arrive missing, mistyped, out of range or as unseen classes.",
        rules=(
            Rule(
                expr=f"sum by ({key}, issue) (rate(mlscope_prediction_data_quality_issues_total[{rw}])) "
                f"/ on ({key}) group_left () (sum by ({key}) (rate(mlscope_prediction_bin_total[{rw}])) > 0) "
                f"> {ratio} and on ({key}) sum by ({key}) (increase(mlscope_prediction_bin_total[{rw}])) "
                f">= {g('severe.min_rows')}",
                for_=g("severe.for"),
                severity="page",
                description="{{ $value | humanizePercentage }} of the {{ $labels.output }} outputs of model "
                f"{{{{ $labels.model }}}} had {{{{ $labels.issue }}}} values over the last {rw} "
                f"(pages above {pct(float(ratio))}).",
                thresholds=_SHARE_KEYS,
            ),
        ),
        dashboard="model",
        meaning="Most of the model's answers of the last minute are unusable: missing or NaN, of the "
        "wrong type, outside the range of the reference's outputs, or a class the reference never "
        "saw. A new model version with another output mapping, a fallback path answering a "
        "default, or a serving bug between the model and the caller.",
        actions=(
            "Read the issue in the description; the dashboard's Prediction data-quality panel shows "
            "when it started and which outputs (prediction, class scores) it hits.",
            "Check the model's last release: class names, output scaling, a fallback answer.",
            "Roll back the model or serve the previous version.",
        ),
        blind_when_down=True,
        inhibits=("MlscopePredictionCollapse", "MlscopePredictionDrift"),
        inhibit_equal=("job", "model", "output"),
        timelines=(
            _prediction_timeline(cfg, "missing", "predictions arrive missing (null or NaN)"),
            _prediction_timeline(cfg, "unseen_category", "predictions arrive as a class never seen before"),
        ),
    )


def _prediction_timeline(cfg: Config, issue: str, failure: str) -> Timeline:
    """1% of the class predictions with ``issue``, then all of them."""
    rw = cfg.get("severe.rate_window")
    bad, share, at = _bad_share(cfg)
    fires = Fires(
        {"severity": "page", "model": "churn", "output": "class", "issue": issue},
        f"{pct(share[at])} of the class outputs of model churn had {issue} values over the last {rw} "
        f"(pages above {pct(float(cfg.get('severe.data_quality_ratio')))}).",
    )
    series = (
        (f'mlscope_prediction_bin_total{{{PO}, bin="yes"}}', notation(counter(lambda _: RATE, STEPS))),
        (f'mlscope_prediction_data_quality_issues_total{{{PO}, issue="{issue}"}}', notation(bad)),
    )
    return Timeline("MlscopePredictionBroken", "page", failure, series, at, (fires,))


def feature_drift_severe(cfg: Config) -> AlertSpec:
    g = cfg.get
    w, k = cfg.severe_window(), g("severe.drift_factor")
    key, win = "job, model, feature, method", f'window="{w}"'
    return AlertSpec(
        name="MlscopeFeatureDriftSevere",
        summary="A feature's distribution is far from its reference on the short window.",
        rules=(
            Rule(
                expr=f"max by ({key}) ({drift.default_scores(cfg, win)}) "
                f"> on ({key}) ({k} * max by ({key}) (mlscope_feature_drift_threshold)) "
                f'and on (job, model) max by (job, model) (mlscope_window_rows{{window="{w}"}}) '
                f">= {g('severe.min_rows')}",
                for_=g("severe.for"),
                severity="page",
                description=f"{ctx.feature_named()} of model {{{{ $labels.model }}}} is far from its "
                f'reference: {{{{ $labels.method }}}} score {{{{ $value | printf "%.3f" }}}} over the {w} '
                f"window, more than {k:g}x its threshold.{ctx.bins_grew(w)}",
                thresholds=("severe.drift_factor", "severe.min_rows", "severe.for"),
            ),
        ),
        dashboard="model",
        samples="/v1/samples?model={model}&feature={feature}" + f"&window={w}",
        meaning="Not a slow drift: within minutes the feature's values moved far from anything the "
        "reference holds (a unit change, a constant, a swapped column).",
        actions=(
            "Read which bins grew in the description, then open the samples link for their rows.",
            "Check the producer of the feature for a release or a unit/encoding change.",
            "Roll back the producer, or stop serving the model's answers until the input is fixed.",
        ),
        blind_when_down=True,
        inhibits=("MlscopeFeatureDrift",),
        inhibit_equal=("job", "model", "feature"),
        timelines=(_drift_timeline(cfg),),
    )


def _drift_timeline(cfg: Config) -> Timeline:
    """x1000 at 20 rows a second: the window's rows above the reference's range grow by 300
    a step; the score is the engine's PSI of that window against ten reference deciles."""
    g = cfg.get
    w, k = cfg.severe_window(), float(g("severe.drift_factor"))
    nm, win = str(g("drift.numeric_method")), f'window="{w}"'
    n_win = RATE * int(duration_seconds(w) / 15)
    ref = np.array([0.0, *[10_000.0] * 10, 0.0])  # ten deciles and the two open-ended bins

    def score(step: int) -> float:
        moved = min(n_win, RATE * max(0, step - BREAK_STEP))
        cur = np.array([0.0, *[(n_win - moved) / 10] * 10, float(moved)])
        return round(_SCORES[nm](ref, cur), 6)

    scores = [score(i) for i in range(STEPS)]
    threshold = float(g("drift.numeric_threshold"))
    at = first_firing([s > k * threshold for s in scores], g("severe.for"))
    bins = moved_bins(STEPS)
    grown = grown_bins(bins, w, at)
    fires = Fires(
        {"severity": "page", "model": "churn", "feature": "age", "method": nm},
        f"Feature age of model churn is far from its reference: {nm} score {scores[at]:.3f} over the {w} "
        f"window, more than {k:g}x its threshold.{ctx.bins_grew_text(grown)}",
    )
    series = (
        (drift.series_name(score_metric("mlscope_feature_drift", nm), f'{FD}, {win}'), notation(scores)),
        (f'mlscope_feature_drift_threshold{{{FD}, method="{nm}"}}', f"{threshold:g}x{STEPS}"),
        (f'mlscope_window_rows{{model="churn", window="{w}"}}', f"{n_win}x{STEPS}"),
        *bin_series(FD, bins),
    )
    return Timeline(
        "MlscopeFeatureDriftSevere", "page", "feature arrives in other units (x1000)", series, at, (fires,)
    )


def prediction_collapse(cfg: Config) -> AlertSpec:
    g = cfg.get
    rw = g("severe.rate_window")
    key = "job, model, output"
    share = (
        f"sum by ({key}, bin) (rate(mlscope_prediction_bin_total[{rw}])) / on ({key}) group_left () "
        f"(sum by ({key}) (rate(mlscope_prediction_bin_total[{rw}])) > 0)"
    )
    return AlertSpec(
        name="MlscopePredictionCollapse",
        summary="A model's predictions collapsed onto one class or value.",
        rules=(
            Rule(
                expr=f"{share} > {g('severe.collapse_ratio')} "
                f"and on ({key}, bin) (max by ({key}, bin) (mlscope_prediction_reference_ratio) "
                f"<= {g('severe.collapse_reference_max')}) "
                f"and on ({key}) sum by ({key}) (increase(mlscope_prediction_bin_total[{rw}])) "
                f">= {g('severe.min_rows')}",
                for_=g("severe.for"),
                severity="page",
                description="{{ $value | humanizePercentage }} of the predictions of model "
                "{{ $labels.model }} ({{ $labels.output }}) fell in bin {{ $labels.bin }} "
                f"over the last {rw}; "
                f"the reference puts {ctx.reference_share()} there.",
                thresholds=(
                    "severe.rate_window",
                    "severe.collapse_ratio",
                    "severe.collapse_reference_max",
                    "severe.min_rows",
                    "severe.for",
                ),
            ),
        ),
        dashboard="model",
        meaning="The model answers (almost) the same for every row: a broken input that every row "
        "shares, a default value upstream, or a model that lost its weights.",
        actions=(
            "Check the fast-tier feature pages of the same model: a broken input often comes first.",
            "Check the model artefact and its release (a fallback model, an empty model file).",
            "Roll back the model or serve the previous version.",
        ),
        blind_when_down=True,
        inhibits=("MlscopePredictionDrift",),
        inhibit_equal=("job", "model", "output"),
        timelines=(_collapse_timeline(cfg),),
    )


def _collapse_timeline(cfg: Config) -> Timeline:
    """A classifier answering no 70% and yes 30% answers yes only."""
    g = cfg.get
    rw = g("severe.rate_window")
    yes = counter(lambda i: RATE if broken(i) else RATE * 3 // 10, STEPS)
    no = counter(lambda i: 0 if broken(i) else RATE * 7 // 10, STEPS)
    d_yes, d_no = window_increase(yes, rw), window_increase(no, rw)
    shares = [y / (y + n) if y + n else 0.0 for y, n in zip(d_yes, d_no, strict=True)]
    cond = [
        s > float(g("severe.collapse_ratio")) and y + n >= int(g("severe.min_rows"))
        for s, y, n in zip(shares, d_yes, d_no, strict=True)
    ]
    at = first_firing(cond, g("severe.for"))
    series = (
        (f'mlscope_prediction_bin_total{{{PO}, bin="yes"}}', notation(yes)),
        (f'mlscope_prediction_bin_total{{{PO}, bin="no"}}', notation(no)),
        (f'mlscope_prediction_reference_ratio{{{PO}, bin="yes"}}', f"0.3x{STEPS}"),
        (f'mlscope_prediction_reference_ratio{{{PO}, bin="no"}}', f"0.7x{STEPS}"),
    )
    fires = Fires(
        {"severity": "page", "model": "churn", "output": "class", "bin": "yes"},
        f"{pct(shares[at])} of the predictions of model churn (class) fell in bin yes over the last {rw}; "
        "the reference puts 30% there.",
    )
    return Timeline(
        "MlscopePredictionCollapse", "page", "predictions collapse onto one class", series, at, (fires,)
    )


def accuracy_collapse(cfg: Config) -> AlertSpec:
    g = cfg.get
    rw, drop = g("severe.rate_window"), g("severe.accuracy_drop")
    return AlertSpec(
        name="MlscopeAccuracyCollapse",
        summary="Model accuracy collapsed on the labels of the last minutes.",
        rules=(
            Rule(
                expr=f"{accuracy_rate_rule(cfg)} < on (job, model) (max by (job, model) "
                f'(mlscope_model_quality_reference_ratio{{metric="accuracy"}}) - {drop}) '
                "and on (job, model) sum by (job, model) "
                f"(increase(mlscope_classification_outcomes_total[{rw}])) >= {g('severe.min_rows')}",
                for_=g("severe.for"),
                severity="page",
                description="Accuracy of model {{ $labels.model }} on the labels joined over the last "
                f"{rw} is {{{{ $value | humanizePercentage }}}}, more than {drop} below its baseline of "
                f"{ctx.accuracy_baseline()}.{ctx.top_error_features(cfg.severe_window())}",
                thresholds=("severe.rate_window", "severe.accuracy_drop", "severe.min_rows", "severe.for"),
                labels=estimated.LABELS,
            ),
            estimated.rate_rule(
                rw,
                drop,
                g("severe.for"),
                g("severe.min_rows"),
                ("severe.rate_window", "severe.accuracy_drop", "severe.min_rows", "severe.for"),
            ),
        ),
        dashboard="model",
        samples="/v1/samples/errors?model={model}" + f"&window={cfg.severe_window()}",
        meaning="Most of the freshly labelled predictions are wrong (`basis=labels`): the model or its "
        "inputs broke, or the labels did (a swapped class mapping in the label feed). With "
        "`basis=estimated`, the model's own confidence says so before any label arrived.",
        actions=(
            "Open the samples link: the wrong rows, newest first; compare them with the features the "
            "description names (error attribution).",
            "Check the fast-tier feature and prediction pages of the same model for the cause.",
            "Check the label feed for a class mapping change before rolling back the model.",
        ),
        blind_when_down=True,
        inhibits=("MlscopeAccuracyBelowBaseline", "MlscopeAccuracySwing"),
        inhibit_equal=("job", "model"),
        timelines=(
            _accuracy_timeline(cfg),
            estimated.rate_timeline(
                "MlscopeAccuracyCollapse", rw, float(drop), g("severe.for"), int(g("severe.min_rows"))
            ),
        ),
    )


def _accuracy_timeline(cfg: Config) -> Timeline:
    """Labels of 90% right predictions, then of 30% right ones, every row labelled."""
    g = cfg.get
    rw, drop = g("severe.rate_window"), float(g("severe.accuracy_drop"))
    right = counter(lambda i: RATE * 3 // 10 if broken(i) else RATE * 9 // 10, STEPS)
    wrong = counter(lambda i: RATE * 7 // 10 if broken(i) else RATE // 10, STEPS)
    d_r, d_w = window_increase(right, rw), window_increase(wrong, rw)
    acc = [r / (r + w) if r + w else 1.0 for r, w in zip(d_r, d_w, strict=True)]
    cond = [
        a < 0.9 - drop and r + w >= int(g("severe.min_rows")) for a, r, w in zip(acc, d_r, d_w, strict=True)
    ]
    at = first_firing(cond, g("severe.for"))
    cell = 'mlscope_classification_outcomes_total{model="churn", actual="%s", predicted="%s"}'
    series = (
        (cell % ("yes", "yes"), notation(right)),
        (cell % ("no", "yes"), notation(wrong)),
        ('mlscope_model_quality_reference_ratio{model="churn", metric="accuracy"}', f"0.9x{STEPS}"),
        *ctx.attribution_series(cfg.severe_window(), STEPS),
    )
    fires = Fires(
        {"severity": "page", "model": "churn", **estimated.LABELS},
        f"Accuracy of model churn on the labels joined over the last {rw} is {pct(acc[at])}, more than "
        f"{g('severe.accuracy_drop')} below its baseline of 90%.{ctx.top_error_features_text()}",
    )
    return Timeline(
        "MlscopeAccuracyCollapse",
        "page",
        "accuracy collapses from 90% to 30%",
        series,
        at,
        (fires,),
        note="the first labels of the broken predictions arriving",
    )


#: The model alerts of both tiers that an hour of healthy traffic must leave silent.
MODEL_ALERTS = (
    "MlscopeFeatureBroken",
    "MlscopePredictionBroken",
    "MlscopeFeatureDriftSevere",
    "MlscopePredictionCollapse",
    "MlscopeAccuracyCollapse",
    "MlscopeFeatureDrift",
    "MlscopePredictionDrift",
    "MlscopeDatasetDrift",
    "MlscopeAccuracyBelowBaseline",
    "MlscopeAccuracySwing",
    "MlscopeDataQualitySpike",
    "MlscopeOutlierRateHigh",
)


def healthy_hour(cfg: Config) -> Scenario:
    """65 minutes of healthy traffic at 20 rows a second, as the sidecar exports it: 1% of
    values missing, drift scores a fifth of the threshold, predictions and accuracy as in
    the reference. No model alert of either tier fires."""
    steps = 65 * 4 + 1
    series = (
        *((name, f"0+{n}x{steps}") for name, n in _healthy_counters().items()),
        *((name, f"{v:g}x{steps}") for name, v in _healthy_gauges(cfg).items()),
        *ctx.attribution_series(cfg.get("quality.window"), steps),
    )
    checks = tuple(AlertCheck(t, name) for t in ("30m", "60m", "65m") for name in MODEL_ALERTS)
    return Scenario(
        "an hour of healthy traffic raises no model alert of either tier", series, checks, interval="15s"
    )


def _healthy_counters() -> dict[str, int]:
    """Counter growth per 15 s step."""
    cell = 'mlscope_classification_outcomes_total{model="churn", '
    return {
        'mlscope_rows_total{model="churn"}': RATE,
        f'mlscope_data_quality_issues_total{{{FD}, issue="missing"}}': RATE // 100,
        f'mlscope_prediction_data_quality_issues_total{{{PO}, issue="unseen_category"}}': RATE // 100,
        'mlscope_outliers_total{model="churn"}': RATE // 100,
        f'mlscope_prediction_bin_total{{{PO}, bin="yes"}}': RATE * 3 // 10,
        f'mlscope_prediction_bin_total{{{PO}, bin="no"}}': RATE * 7 // 10,
        cell + 'actual="yes", predicted="yes"}': RATE * 9 // 10,
        cell + 'actual="no", predicted="yes"}': RATE // 10,
        'mlscope_model_estimated_predictions_total{model="churn"}': RATE,
        'mlscope_model_estimated_correct_total{model="churn"}': RATE * 88 // 100,
    }


def _healthy_gauges(cfg: Config) -> dict[str, float]:
    """The reference's gauges, and the window gauges of every window an alert reads."""
    nm = str(cfg.get("drift.numeric_method"))
    gauges = {
        f'mlscope_feature_drift_threshold{{{FD}, method="{nm}"}}': 0.1,
        f'mlscope_prediction_reference_ratio{{{PO}, bin="yes"}}': 0.3,
        f'mlscope_prediction_reference_ratio{{{PO}, bin="no"}}': 0.7,
        'mlscope_model_quality_reference_ratio{model="churn", metric="accuracy"}': 0.9,
    }
    for w in sorted({cfg.severe_window(), cfg.get("drift.window"), cfg.get("quality.window")}):
        gauges |= {
            drift.series_name(score_metric("mlscope_feature_drift", nm), f'{FD}, window="{w}"'): 0.02,
            f'mlscope_feature_drift_detected{{{FD}, window="{w}"}}': 0,
            f'mlscope_prediction_drift_distance{{{PO}, method="jensenshannon", window="{w}"}}': 0.01,
            f'mlscope_prediction_drift_detected{{{PO}, window="{w}"}}': 0,
            f'mlscope_dataset_drift_share_ratio{{model="churn", window="{w}"}}': 0,
            f'mlscope_dataset_drift_detected{{model="churn", window="{w}"}}': 0,
            f'mlscope_window_rows{{model="churn", window="{w}"}}': RATE * duration_seconds(w) / 15,
            f'mlscope_model_quality_ratio{{model="churn", metric="accuracy", window="{w}"}}': 0.9,
            f'mlscope_model_estimated_quality_ratio{{model="churn", metric="accuracy", window="{w}"}}': 0.88,
        }
    return gauges
