"""Quality alerts: model accuracy, its labels, and the quality of the input rows."""

from __future__ import annotations

from mlscope.config_gen.alert_specs import estimated
from mlscope.config_gen.alert_specs import page_context as ctx
from mlscope.config_gen.alert_specs.scenarios import (
    AlertCheck,
    Fires,
    Scenario,
    Standard,
    above,
    at_minute,
    fires_at,
    num,
    pct,
    silent_at,
    whole_minutes,
)
from mlscope.config_gen.alert_specs.spec import MODEL_TESTS, SLOW_TESTS, AlertSpec, Rule
from mlscope.config_gen.alert_specs.timeline import (
    BREAK_STEP,
    Timeline,
    counter,
    first_firing,
    notation,
    steps_of,
    window_increase,
    window_mix,
)
from mlscope.config_gen.config import Config, duration_seconds

ROWS = ('mlscope_rows_total{model="churn"}', "0+100x120")  # 100 rows a minute


def specs(cfg: Config) -> list[AlertSpec]:
    return [
        accuracy_below_baseline(cfg),
        accuracy_swing(cfg),
        data_quality_spike(cfg),
        labels_stopped(cfg),
        labels_unmatched(cfg),
        outlier_rate_high(cfg),
    ]


def accuracy_series(cfg: Config) -> str:
    qw = cfg.get("quality.window")
    return f'mlscope_model_quality_ratio{{model="churn", metric="accuracy", window="{qw}"}}'


def accuracy_below_baseline(cfg: Config) -> AlertSpec:
    qw, drop = cfg.get("quality.window"), cfg.get("quality.accuracy_drop")
    acc, ref = accuracy_series(cfg), 'mlscope_model_quality_reference_ratio{model="churn", metric="accuracy"}'
    # 90% reference; twice the allowed drop fires, half of it does not.
    low, fine = round(0.9 - 2 * float(drop), 6), round(0.9 - float(drop) / 2, 6)
    keys = ("quality.window", "quality.accuracy_drop", "drift.min_rows", "quality.accuracy_for")
    estimated_rule = estimated.rule(
        qw, drop, cfg.get("quality.accuracy_for"), "ticket", cfg.get("drift.min_rows"), keys
    )
    return AlertSpec(
        name="MlscopeAccuracyBelowBaseline",
        summary="Model accuracy fell below its validation baseline.",
        rules=(
            Rule(
                expr=f'max by (job, model) (mlscope_model_quality_ratio{{metric="accuracy",window="{qw}"}}) '
                f"< on (job, model) (max by (job, model) "
                f'(mlscope_model_quality_reference_ratio{{metric="accuracy"}}) - {drop})',
                for_=cfg.get("quality.accuracy_for"),
                severity="ticket",
                description="Accuracy of model {{ $labels.model }} is {{ $value | humanizePercentage }} over "
                f"the {qw} window, more than {drop} below its baseline of {ctx.accuracy_baseline()}."
                f"{ctx.top_error_features(qw)}",
                thresholds=("quality.window", "quality.accuracy_drop", "quality.accuracy_for"),
                labels=estimated.LABELS,
            ),
            estimated_rule,
        ),
        dashboard="model",
        samples="/v1/samples/errors?model={model}" + f"&window={qw}",
        meaning="Labelled production traffic (`basis=labels`), or the accuracy estimated from the "
        "model's confidence (`basis=estimated`), shows the model doing clearly worse than at "
        "validation, slowly (a sudden collapse pages as MlscopeAccuracyCollapse).",
        actions=(
            "Open the samples link: the wrong predictions of the window, newest first, with their "
            "features; compare them with the features the description names (error attribution).",
            "Check drift and data quality of the same model for a cause.",
            "Check label delay: a partial window can bias accuracy.",
            "Roll back to the previous model or retrain on recent data.",
        ),
        blind_when_down=True,
        timelines=(
            _accuracy_timeline(cfg),
            estimated.timeline(
                "MlscopeAccuracyBelowBaseline", "ticket", qw, float(drop), cfg.get("quality.accuracy_for")
            ),
        ),
        standard=Standard(
            start_min=0,
            firing=((acc, f"{low!r}x90"), (ref, "0.9x90"), *ctx.attribution_series(qw, 90)),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn", **estimated.LABELS},
                    f"Accuracy of model churn is {pct(low)} over the {qw} window, more than {drop} below its "
                    f"baseline of 90%.{ctx.top_error_features_text()}",
                ),
            ),
            healthy=((acc, f"{fine!r}x90"), (ref, "0.9x90")),
            blip=((acc, f"{fine!r}x5 {low!r}x10 {fine!r}x75"), (ref, "0.9x90")),
            blip_eval="60m",
        ),
    )


def _accuracy_timeline(cfg: Config) -> Timeline:
    """Accuracy falls by twice the allowed drop for good: the window's accuracy slides from
    90% to the new level as the window fills with the new labels (a window's accuracy is
    the mean over its rows, so linear in the share of new ones)."""
    qw, drop = cfg.get("quality.window"), float(cfg.get("quality.accuracy_drop"))
    steps = BREAK_STEP + steps_of(qw) + steps_of(cfg.get("quality.accuracy_for")) + 8
    acc = window_mix(0.9, 0.9 - 2 * drop, qw, steps)
    at = first_firing([a < 0.9 - drop for a in acc], cfg.get("quality.accuracy_for"))
    fires = Fires(
        {"severity": "ticket", "model": "churn", **estimated.LABELS},
        f"Accuracy of model churn is {pct(acc[at])} over the {qw} window, "
        f"more than {cfg.get('quality.accuracy_drop')} below its baseline of 90%."
        f"{ctx.top_error_features_text()}",
    )
    series = (
        (accuracy_series(cfg), notation(acc)),
        ('mlscope_model_quality_reference_ratio{model="churn", metric="accuracy"}', f"0.9x{steps}"),
        *ctx.attribution_series(qw, steps),
    )
    return Timeline(
        "MlscopeAccuracyBelowBaseline", "ticket", f"accuracy declines by {2 * drop:g}", series, at, (fires,)
    )


def accuracy_swing(cfg: Config) -> AlertSpec:
    g = cfg.get
    qw, dw = g("quality.window"), g("drift.window")
    standard, explained = _swing_scenarios(cfg)
    return AlertSpec(
        name="MlscopeAccuracySwing",
        summary="Model accuracy jumped or fell sharply with no drift to explain it.",
        rules=(
            Rule(
                expr="abs(max by (job, model) "
                f'(mlscope_model_quality_ratio{{metric="accuracy",window="{qw}"}}) - max by (job, model) '
                f'(mlscope_model_quality_ratio{{metric="accuracy",window="{qw}"}} offset '
                f"{g('quality.swing_window')})) > {g('quality.swing')} "
                f"unless on (job, model) (max by (job, model) "
                f'(mlscope_dataset_drift_detected{{window="{dw}"}}) == 1)',
                for_=g("quality.swing_for"),
                severity="ticket",
                description="Accuracy of model {{ $labels.model }} moved by "
                f"{{{{ $value | humanizePercentage }}}} within {g('quality.swing_window')} "
                "while no dataset drift is detected.",
                thresholds=("quality.swing", "quality.swing_window", "quality.swing_for"),
            ),
        ),
        dashboard="model",
        meaning="A swing without drift points at the labels (a labelling bug, a delayed batch) or "
        "at the join of labels with predictions.",
        actions=(
            "Check the label delay and label outcome panels.",
            "Check the labelling pipeline for a bulk correction or replay.",
        ),
        blind_when_down=True,
        standard=standard,
        scenarios={MODEL_TESTS: (explained,)},
    )


def _swing_scenarios(cfg: Config) -> tuple[Standard, Scenario]:
    """90% for at least the swing window, then down by twice the swing from c minutes:
    true from c until c + window (the offset value is 90% until then)."""
    g = cfg.get
    acc, name = accuracy_series(cfg), "MlscopeAccuracySwing"
    after = round(0.9 - 2 * float(g("quality.swing")), 6)
    o_m, f_m = whole_minutes(g("quality.swing_window")), whole_minutes(g("quality.swing_for"))
    c = max(60, o_m)
    n = c + o_m + f_m + 40
    swing = ((acc, f"0.9x{c - 1} {after!r}x{n - c}"),)
    # The blip (5 bad minutes from c) shows again one window later (the offset side); the
    # check is before that echo, or after it has passed and its `for` with it.
    blip_t = c + 30 if 30 < o_m else c + o_m + 6 + f_m
    standard = Standard(  # the swing, after the minutes of 90%
        start_min=c,
        firing=swing,
        fires=(
            Fires(
                {"severity": "ticket", "model": "churn"},
                f"Accuracy of model churn moved by {pct(0.9 - after)} within {g('quality.swing_window')} "
                "while no dataset drift is detected.",
            ),
        ),
        healthy=((acc, f"0.9x{n}"),),
        blip=((acc, f"0.9x{c - 1} {after!r}x5 0.9x{n - c - 5}"),),
        blip_eval=at_minute(blip_t),
    )
    drift = (f'mlscope_dataset_drift_detected{{model="churn", window="{g("drift.window")}"}}', f"1x{n}")
    explained = Scenario(
        f"{name} stays silent when dataset drift explains the swing",
        (*swing, drift),
        (AlertCheck(fires_at(g("quality.swing_for"), c)[1], name),),
    )
    return standard, explained


def data_quality_spike(cfg: Config) -> AlertSpec:
    dqw = cfg.get("data_quality.window")
    dq = 'mlscope_data_quality_issues_total{model="churn", feature="age", issue="missing"}'
    t = float(cfg.get("data_quality.ratio"))
    f, h = above(t), t / 2  # a missing-value share of twice the threshold (capped), healthy at half
    return AlertSpec(
        name="MlscopeDataQualitySpike",
        summary="Many input values of a feature have a data-quality problem.",
        rules=(
            Rule(
                expr=f"sum by (job, model, feature, issue) (rate(mlscope_data_quality_issues_total[{dqw}])) "
                "/ on (job, model) group_left () "
                f"(sum by (job, model) (rate(mlscope_rows_total[{dqw}])) > 0) "
                f"> {cfg.get('data_quality.ratio')}",
                for_=cfg.get("data_quality.for"),
                severity="ticket",
                description="{{ $value | humanizePercentage }} of rows of model {{ $labels.model }} have "
                f"{{{{ $labels.issue }}}} values in {ctx.feature_named(capital=False)}.",
                thresholds=("data_quality.ratio", "data_quality.window", "data_quality.for"),
            ),
        ),
        dashboard="model",
        # the freshest rows of the feature, its bins ranked by growth (missing first when it grew)
        samples="/v1/samples?model={model}&feature={feature}" + f"&window={cfg.severe_window()}",
        meaning="Missing, NaN, out-of-range or unseen values arrive at a high rate: the model "
        "is fed input it was not trained for.",
        actions=(
            "Find the client or pipeline stage that sends the bad values.",
            "Check the schema: a renamed or retyped feature shows up as missing_feature or wrong_type.",
            ctx.DERIVED_ACTION,
        ),
        blind_when_down=True,
        timelines=(_data_quality_timeline(cfg),),
        standard=Standard(
            start_min=1,
            firing=(ROWS, (dq, f"0+{num(100 * f)}x120")),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn", "feature": "age", "issue": "missing"},
                    f"{pct(f)} of rows of model churn have missing values in feature age.",
                ),
            ),
            healthy=(ROWS, (dq, f"0+{num(100 * h)}x120")),
            # 2 bad minutes at 100%: the ratio over the window stays above the threshold for about
            # the window; evaluated after that has passed.
            blip=(ROWS, (dq, "0x10 100 200 200x100")),
            blip_eval=at_minute(max(40, 14 + whole_minutes(dqw))),
        ),
    )


def _data_quality_timeline(cfg: Config) -> Timeline:
    """1% of a feature's values missing, then twice the threshold's share, 20 rows a second."""
    dqw, t = cfg.get("data_quality.window"), float(cfg.get("data_quality.ratio"))
    steps = BREAK_STEP + 2 * steps_of(dqw) + steps_of(cfg.get("data_quality.for")) + 8
    share = above(t)
    bad = counter(lambda i: 300 * share if i > BREAK_STEP else 3, steps)
    rows = counter(lambda _: 300, steps)
    ratio = [
        b / r if r else 0.0
        for b, r in zip(window_increase(bad, dqw), window_increase(rows, dqw), strict=True)
    ]
    at = first_firing([x > t for x in ratio], cfg.get("data_quality.for"))
    fires = Fires(
        {"severity": "ticket", "model": "churn", "feature": "age", "issue": "missing"},
        f"{pct(ratio[at])} of rows of model churn have missing values in feature age.",
    )
    dq = 'mlscope_data_quality_issues_total{model="churn", feature="age", issue="missing"}'
    series = (('mlscope_rows_total{model="churn"}', notation(rows)), (dq, notation(bad)))
    return Timeline(
        "MlscopeDataQualitySpike",
        "ticket",
        f"{pct(share)} of a feature's values missing",
        series,
        at,
        (fires,),
    )


def labels_stopped(cfg: Config) -> AlertSpec:
    g = cfg.get
    return AlertSpec(
        name="MlscopeLabelsStopped",
        summary="Ground-truth labels stopped arriving while predictions continue.",
        rules=(
            Rule(
                expr=f"time() - max by (job, model) (mlscope_last_label_timestamp_seconds) > "
                f"{g('quality.labels_stale_s')} "
                "and on (job, model) sum by (job, model) "
                f"(rate(mlscope_rows_total[{g('quality.labels_rows_window')}])) > 0",
                for_=g("quality.labels_for"),
                severity="ticket",
                description="No label was joined for model {{ $labels.model }} for "
                "{{ $value | humanizeDuration }}; its accuracy figures are going stale.",
                thresholds=("quality.labels_stale_s", "quality.labels_rows_window", "quality.labels_for"),
            ),
        ),
        dashboard="model",
        meaning="The label feed is broken: accuracy cannot be measured until it resumes.",
        actions=(
            "Check the job that posts labels to /v1/labels or Monitor.log_labels.",
            "Check `mlscope_labels_total` by outcome for unmatched ids.",
        ),
        blind_when_down=True,
        scenarios={SLOW_TESTS: _labels_stopped_scenarios(cfg)},
    )


def _labels_stopped_scenarios(cfg: Config) -> tuple[Scenario, ...]:
    """Hours of data, 5m steps: labels until 30m, then none; stale once
    time() - 1800 > labels_stale_s, i.e. from the first step after 1800 + labels_stale_s."""
    name = "MlscopeLabelsStopped"
    stale_s = int(cfg.get("quality.labels_stale_s"))
    silent_t, fire_t = fires_at(cfg.get("quality.labels_for"), ((1800 + stale_s) // 300 + 1) * 5, step=5)
    hours, rest = divmod(int(duration_seconds(fire_t)) - 1800, 3600)
    mins, secs = divmod(rest, 60)
    lab = 'mlscope_last_label_timestamp_seconds{model="churn"}'
    steps = int(duration_seconds(fire_t) // 300) + 2
    rows = ('mlscope_rows_total{model="churn"}', f"0+500x{steps}")
    fires = Fires(
        {"severity": "ticket", "model": "churn"},
        f"No label was joined for model churn for {hours}h {mins}m {secs}s; "
        "its accuracy figures are going stale.",
    )
    return (
        Scenario(
            f"{name} fires when labels stop while rows keep coming",
            (rows, (lab, f"0+300x6 1800x{steps}")),
            (*silent_at(silent_t, name), AlertCheck(fire_t, name, (fires,))),
            interval="5m",
        ),
        Scenario(
            f"{name} stays silent while labels arrive",
            (rows, (lab, f"0+300x{steps}")),
            (AlertCheck(fire_t, name),),
            interval="5m",
        ),
        Scenario(
            f"{name} stays silent when predictions stopped too",
            ((rows[0], f"0+500x6 3000x{steps}"), (lab, f"0+300x6 1800x{steps}")),
            (AlertCheck(fire_t, name),),
            interval="5m",
        ),
    )


def labels_unmatched(cfg: Config) -> AlertSpec:
    g = cfg.get
    w, t = g("quality.unmatched_window"), float(g("quality.unmatched_ratio"))
    lab = 'mlscope_labels_total{model="churn", outcome="%s"}'
    f = above(t)
    return AlertSpec(
        name="MlscopeLabelsUnmatched",
        summary="Many ground-truth labels match no prediction.",
        rules=(
            Rule(
                expr=f'sum by (job, model) (rate(mlscope_labels_total{{outcome="unmatched"}}[{w}])) '
                f"/ (sum by (job, model) (rate(mlscope_labels_total[{w}])) > 0) "
                f"> {g('quality.unmatched_ratio')}",
                for_=g("quality.unmatched_for"),
                severity="ticket",
                description="{{ $value | humanizePercentage }} of the labels posted for model "
                f"{{{{ $labels.model }}}} over the last {w} matched no prediction (unknown ids); accuracy "
                "is measured on the rest only.",
                thresholds=("quality.unmatched_ratio", "quality.unmatched_window", "quality.unmatched_for"),
            ),
        ),
        dashboard="model",
        meaning="Labels arrive for ids the sidecar never saw or no longer holds: the label feed uses "
        "another id than `Monitor.log` (or another model name), or labels come after `labels.ttl`.",
        actions=(
            "Compare the ids the label job posts with the `prediction_id` the service logs.",
            "Check the model name in the label records, and `labels.ttl` against the label delay.",
            "Check the sidecar's log for the ids of the unmatched labels.",
        ),
        blind_when_down=True,
        standard=Standard(
            start_min=1,
            firing=(
                (lab % "matched", f"0+{num(100 * (1 - f))}x60"),
                (lab % "unmatched", f"0+{num(100 * f)}x60"),
            ),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn"},
                    f"{pct(f)} of the labels posted for model churn over the last {w} matched no prediction "
                    "(unknown ids); accuracy is measured on the rest only.",
                ),
            ),
            healthy=((lab % "matched", "0+95x60"), (lab % "unmatched", "0+5x60")),
            # One minute of labels for unknown ids: a small share of the window's labels.
            blip=((lab % "matched", "0+100x60"), (lab % "unmatched", "0x10 100x50")),
            blip_eval=at_minute(max(40, 12 + whole_minutes(g("quality.unmatched_for")))),
        ),
    )


def outlier_rate_high(cfg: Config) -> AlertSpec:
    ow = cfg.get("outliers.window")
    outl = 'mlscope_outliers_total{model="churn"}'
    t = float(cfg.get("outliers.ratio"))
    f, h = above(t), t / 2  # a share of twice the threshold (capped), healthy at half
    return AlertSpec(
        name="MlscopeOutlierRateHigh",
        summary="Many rows look unlike the reference data.",
        rules=(
            Rule(
                expr=f"sum by (job, model) (rate(mlscope_outliers_total[{ow}])) "
                f"/ (sum by (job, model) (rate(mlscope_rows_total[{ow}])) > 0) "
                f"> {cfg.get('outliers.ratio')}",
                for_=cfg.get("outliers.for"),
                severity="ticket",
                description="{{ $value | humanizePercentage }} of rows of model {{ $labels.model }} are "
                "outliers.",
                thresholds=("outliers.ratio", "outliers.window", "outliers.for"),
            ),
        ),
        dashboard="model",
        meaning="A rising share of rows lies far from the reference profile: edge cases pile up.",
        actions=(
            "Inspect the outlier score histogram and the features with the most drift.",
            "Sample recent inputs from the prediction log.",
        ),
        blind_when_down=True,
        standard=Standard(
            start_min=1,
            firing=(ROWS, (outl, f"0+{num(100 * f)}x120")),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn"}, f"{pct(f)} of rows of model churn are outliers."
                ),
            ),
            healthy=(ROWS, (outl, f"0+{num(100 * h)}x120")),
            blip=(ROWS, (outl, "0x10 100 200 200x100")),
            blip_eval=at_minute(max(40, 14 + whole_minutes(ow))),
        ),
    )
