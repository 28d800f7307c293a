"""Estimated accuracy beside the realised one: the accuracy alerts' second rule.

Labels come late or never; the sidecar estimates accuracy from the model's calibrated
confidence (``mlscope_model_estimated_quality_ratio``) on its windows as rows arrive. Each
accuracy alert has a rule on the estimate beside the one on labels (``basis`` label
``estimated`` / ``labels``): the fast tier reads the short window and pages, the slow
tier reads the long window and files a ticket.
"""

from __future__ import annotations

from mlscope.config_gen.alert_specs import page_context as ctx
from mlscope.config_gen.alert_specs.scenarios import Fires, pct
from mlscope.config_gen.alert_specs.spec import Rule
from mlscope.config_gen.alert_specs.timeline import (
    BREAK_STEP,
    Timeline,
    first_firing,
    notation,
    steps_of,
    window_mix,
)
from mlscope.config_gen.config import duration_seconds

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
        description=description(window, drop, ctx.accuracy_baseline(), "{{ $value | humanizePercentage }}"),
        thresholds=keys,
    )


def description(window: str, drop: str, baseline: str, value: str) -> str:
    return (
        "Estimated accuracy (from the model's confidence, before labels) of model "
        f"{{{{ $labels.model }}}} is {value} over the {window} window, more than {drop} below its "
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
    text = description(window, f"{drop:g}", "90%", pct(est[at])).replace("{{ $labels.model }}", "churn")
    fires = Fires({"severity": tier, "model": "churn", **ESTIMATED}, text)
    failure = f"estimated accuracy falls from 90% to {pct(0.9 - 2 * drop)} (a {window} window's mean)"
    return Timeline(alert, tier, failure, series, at, (fires,))
