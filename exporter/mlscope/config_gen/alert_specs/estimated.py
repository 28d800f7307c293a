"""Estimated accuracy beside the realised one: the accuracy alerts' second rule.

Labels come late or never; the sidecar estimates accuracy from the model's calibrated
confidence as rows arrive. Each accuracy alert has a rule on the estimate beside the one
on labels (``basis`` label ``estimated`` / ``labels``). The slow tier reads the long
window's mean (``mlscope_model_estimated_quality_ratio``) and files a ticket; the fast
tier pages on the rate of two counters over ``severe.rate_window`` (predictions, and
their summed calibrated confidence), like the realised accuracy's page: a window's mean
would only cross the threshold once the broken rows fill enough of the window (3m 45s
for the 5m window).
"""

from __future__ import annotations

from mlscope.config_gen.alert_specs import page_context as ctx
from mlscope.config_gen.alert_specs.scenarios import Fires, pct
from mlscope.config_gen.alert_specs.spec import Rule
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
from mlscope.config_gen.config import duration_seconds

RATE = 300  # predictions per 15 s step: 20 a second, as severe.RATE
ESTIMATED = {"basis": "estimated"}
LABELS = {"basis": "labels"}


def rule(window: str, drop: str, for_: str, severity: str, min_rows: int, keys: tuple[str, ...]) -> Rule:
    """Estimated accuracy on sidecar ``window`` more than ``drop`` below the baseline, with
    at least ``min_rows`` rows in the window."""
    return Rule(
        expr=f"max by (job, model) (mlscope_model_estimated_quality_ratio"
        f'{{metric="accuracy",window="{window}"}}) < on (job, model) (max by (job, model) '
        f'(mlscope_model_quality_reference_ratio{{metric="accuracy"}}) - {drop}) '
        f'and on (job, model) max by (job, model) (mlscope_window_rows{{window="{window}"}}) >= {min_rows}',
        for_=for_,
        severity=severity,
        labels=ESTIMATED,
        description=description(f"the {window} window", drop, ctx.accuracy_baseline(), _VALUE),
        thresholds=keys,
    )


_VALUE = "{{ $value | humanizePercentage }}"
_ROWS = "mlscope_model_estimated_predictions_total"
_RIGHT = "mlscope_model_estimated_correct_total"


def rate_rule(rate_window: str, drop: str, for_: str, min_rows: int, keys: tuple[str, ...]) -> Rule:
    """The page: estimated accuracy of the predictions of the last ``rate_window`` (the rate
    of the expected right ones over that of all) more than ``drop`` below the baseline."""
    rw = rate_window
    return Rule(
        expr=f"sum by (job, model) (rate({_RIGHT}[{rw}])) / (sum by (job, model) (rate({_ROWS}[{rw}])) > 0) "
        f"< on (job, model) (max by (job, model) "
        f'(mlscope_model_quality_reference_ratio{{metric="accuracy"}}) - {drop}) '
        f"and on (job, model) sum by (job, model) (increase({_ROWS}[{rw}])) >= {min_rows}",
        for_=for_,
        severity="page",
        labels=ESTIMATED,
        description=description(f"the predictions of the last {rw}", drop, ctx.accuracy_baseline(), _VALUE),
        thresholds=keys,
    )


def description(span: str, drop: str, baseline: str, value: str) -> str:
    return (
        "Estimated accuracy (from the model's confidence, before labels) of model "
        f"{{{{ $labels.model }}}} is {value} over {span}, more than {drop} below its "
        f"baseline of {baseline}."
    )


def timeline(alert: str, tier: str, window: str, drop: float, for_: str) -> Timeline:
    """The estimate on ``window`` slides from 90% to twice the drop below as the window fills."""
    steps = BREAK_STEP + steps_of(window) + steps_of(for_) + 8
    est = window_mix(0.9, 0.9 - 2 * drop, window, steps)
    at = first_firing([a < 0.9 - drop for a in est], for_)
    model = 'model="churn"'
    acc = f'{model}, metric="accuracy", window="{window}"'
    series = (
        (f"mlscope_model_estimated_quality_ratio{{{acc}}}", notation(est)),
        (f'mlscope_model_quality_reference_ratio{{{model}, metric="accuracy"}}', f"0.9x{steps}"),
        (
            f'mlscope_window_rows{{{model}, window="{window}"}}',
            f"{300 * duration_seconds(window) / 15:g}x{steps}",
        ),
    )
    text = description(f"the {window} window", f"{drop:g}", "90%", pct(est[at])).replace(
        "{{ $labels.model }}", "churn"
    )
    fires = Fires({"severity": tier, "model": "churn", **ESTIMATED}, text)
    failure = f"estimated accuracy falls from 90% to {pct(0.9 - 2 * drop)} (a {window} window's mean)"
    return Timeline(alert, tier, failure, series, at, (fires,))


def rate_timeline(alert: str, rate_window: str, drop: float, for_: str, min_rows: int) -> Timeline:
    """Predictions at 20 a second whose calibrated confidence falls from 90% to twice the
    drop below at the failure."""
    steps = BREAK_STEP + 24
    low = 0.9 - 2 * drop
    rows = counter(lambda _: RATE, steps)
    right = counter(lambda i: RATE * (low if i > BREAK_STEP else 0.9), steps)
    d_rows, d_right = window_increase(rows, rate_window), window_increase(right, rate_window)
    est = [r / n if n else 1.0 for r, n in zip(d_right, d_rows, strict=True)]
    cond = [a < 0.9 - drop and n >= min_rows for a, n in zip(est, d_rows, strict=True)]
    at = first_firing(cond, for_)
    model = 'model="churn"'
    series = (
        (f"{_ROWS}{{{model}}}", notation(rows)),
        (f"{_RIGHT}{{{model}}}", notation(right)),
        (f'mlscope_model_quality_reference_ratio{{{model}, metric="accuracy"}}', f"0.9x{steps}"),
    )
    text = description(f"the predictions of the last {rate_window}", f"{drop:g}", "90%", pct(est[at]))
    text = text.replace("{{ $labels.model }}", "churn")
    fires = Fires({"severity": "page", "model": "churn", **ESTIMATED}, text)
    failure = f"estimated accuracy falls from 90% to {pct(low)} (the model's confidence drops)"
    return Timeline(alert, "page", failure, series, at, (fires,))
