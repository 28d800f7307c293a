"""Drift alerts: a feature, the fleet's view of a feature, the predictions, the dataset."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from mlscope.config_gen import rules
from mlscope.config_gen.alert_specs import fleet_drift
from mlscope.config_gen.alert_specs import page_context as ctx
from mlscope.config_gen.alert_specs.scenarios import (
    AlertCheck,
    Fires,
    Scenario,
    Series,
    Standard,
    above,
    fires_at,
    pct,
)
from mlscope.config_gen.alert_specs.spec import DRIFT_TESTS, MODEL_TESTS, AlertSpec, Rule
from mlscope.config_gen.alert_specs.timeline import (
    BREAK_STEP,
    STEP_S,
    Timeline,
    bin_series,
    first_firing,
    flip,
    grown_bins,
    moved_bins,
    notation,
)
from mlscope.config_gen.config import Config, duration_seconds
from mlscope.engine.drift import score_metric


def specs(cfg: Config) -> list[AlertSpec]:
    return [feature_drift(cfg), fleet_feature_drift(cfg), prediction_drift(cfg), dataset_drift(cfg)]


def default_scores(cfg: Config, matchers: str) -> str:
    """PromQL for the default methods' feature scores, each with a ``method`` label (one
    scale per score metric, issue 17: distances share one metric, the others have their own)."""
    methods = dict.fromkeys((str(cfg.get("drift.numeric_method")), str(cfg.get("drift.categorical_method"))))
    parts, distances = [], []
    for m in methods:
        name, extra = score_metric("mlscope_feature_drift", m)
        if extra:
            distances.append(m)
        else:
            parts.append(f'label_replace({name}{{{matchers}}}, "method", "{m}", "", "")')
    if distances:
        name = score_metric("mlscope_feature_drift", distances[0])[0]
        parts.insert(0, f'{name}{{{matchers}, method=~"{"|".join(distances)}"}}')
    return " or ".join(parts)


def series_name(metric: tuple[str, dict[str, str]], matchers: str) -> str:
    """A test input series of a score metric (``metric`` as :func:`score_metric` gives it)."""
    name, extra = metric
    labels = "".join(f', {k}="{v}"' for k, v in extra.items())
    return f"{name}{{{matchers}{labels}}}"


def feature_drift(cfg: Config) -> AlertSpec:
    dw = cfg.get("drift.window")
    fd = 'model="churn", feature="age"'
    detected = f'mlscope_feature_drift_detected{{{fd}, window="{dw}"}}'
    nm, win = str(cfg.get("drift.numeric_method")), f'window="{dw}"'
    other = "hellinger" if nm != "hellinger" else "ks"  # a method that is not the default
    scores = tuple(
        (series_name(score_metric("mlscope_feature_drift", m), f"{fd}, {win}"), v)
        for m, v in ((nm, "0.4x60"), (other, "0.3x60"))
    ) + ((f'mlscope_feature_drift_threshold{{{fd}, method="{nm}"}}', "0.2x60"),)
    return AlertSpec(
        name="MlscopeFeatureDrift",
        summary="A feature's production distribution drifted from the reference.",
        rules=tuple(_feature_drift_rule(cfg, w) for w in cfg.drift_windows()),
        dashboard="model",
        samples="/v1/samples?model={model}&feature={feature}&window={window}",
        meaning="The sidecar flags the feature: its default method's score is over the threshold "
        "(`mlscope_feature_drift_threshold`) with enough rows in the window.",
        actions=(
            "Open Model health, look at the feature's drift over time and the root-cause ranking.",
            "Check the upstream data source of the feature (schema change, unit change, new client).",
            "If the new distribution is the new normal, rebuild the reference profile.",
            ctx.DERIVED_ACTION,
        ),
        blind_when_down=True,
        scenarios={MODEL_TESTS: (_odd_names_scenario(cfg), _derived_features_scenario(cfg))},
        timelines=tuple(_feature_verdict(cfg, w) for w in cfg.drift_windows()),
        standard=Standard(
            start_min=0,
            firing=(*scores, (detected, "1x60")),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn", "feature": "age", "method": nm, "window": dw},
                    f"Feature age of model churn drifted: {nm} score 0.400 over the {dw} window.",
                ),
            ),
            healthy=(*scores, (detected, "0x60")),
            blip=(*scores, (detected, "1x5 0x55")),
            blip_eval="30m",
        ),
    )


def _feature_drift_rule(cfg: Config, w: str) -> Rule:
    """The ticket on one drift window: the long one catches mild drift, the short one a
    strong shift long before it fills the long window (issue 16's 20 minutes)."""
    sel = f'window="{w}"'
    # label_replace: the window is an output label, so the samples link can read it
    return Rule(
        expr=f"label_replace(max by (job, model, feature, method) ({default_scores(cfg, sel)}) "
        "and on (job, model, feature, method) max by (job, model, feature, method) "
        "(mlscope_feature_drift_threshold) "
        f"and on (job, model, feature) (max by (job, model, feature) "
        f'(mlscope_feature_drift_detected{{window="{w}"}}) == 1), "window", "{w}", "", "")',
        for_=cfg.get("drift.for"),
        severity="ticket",
        description=f"{ctx.feature_named()} of model {{{{ $labels.model }}}} drifted: "
        f'{{{{ $labels.method }}}} score {{{{ $value | printf "%.3f" }}}} over the {w} window.'
        f"{ctx.bins_grew(w)}",
        labels={"window": w},
        thresholds=(_window_key(cfg, w), "drift.for"),
    )


def _window_key(cfg: Config, w: str) -> str:
    return "drift.window" if w == cfg.get("drift.window") else "drift.short_window"


def fleet_feature_drift(cfg: Config) -> AlertSpec:
    fw = cfg.get("drift.fleet_window")
    return AlertSpec(
        name="MlscopeFleetFeatureDrift",
        summary="Fleet-wide PSI of a feature is over the threshold.",
        rules=(
            Rule(
                expr=f"{rules.fleet_psi_rule(cfg)} > {cfg.get('drift.fleet_psi_threshold')} "
                f"and on (model, feature) {rules.fleet_rows_rule(cfg)} "
                f">= {cfg.get('drift.fleet_min_rows')}",
                for_=cfg.get("drift.for"),
                severity="ticket",
                description=f"PSI of {ctx.feature_named(capital=False)} of model {{{{ $labels.model }}}} "
                "over the last "
                f'{fw}, summed over all replicas, is {{{{ $value | printf "%.3f" }}}}.',
                thresholds=(
                    "drift.fleet_psi_threshold",
                    "drift.fleet_min_rows",
                    "drift.fleet_window",
                    "drift.for",
                ),
            ),
        ),
        dashboard="model",
        samples="/v1/samples?model={model}&feature={feature}" + f"&window={cfg.get('drift.window')}",
        meaning="Computed in PromQL from the bin counters of every replica: drift the fleet sees as a "
        "whole, even when each replica's window is too small to judge.",
        actions=(
            "Compare with the per-replica drift scores on Model health.",
            "Proceed as for MlscopeFeatureDrift.",
        ),
        # Beside the recording rules it reads: the first scenario checks the whole chain.
        scenarios={DRIFT_TESTS: fleet_drift.scenarios(cfg)},
    )


def prediction_drift(cfg: Config) -> AlertSpec:
    dw = cfg.get("drift.window")
    po = 'model="churn", output="class"'
    detected = f'mlscope_prediction_drift_detected{{{po}, window="{dw}"}}'
    scores = (
        (f'mlscope_prediction_drift_chisquare_statistic{{{po}, window="{dw}"}}', "12.5x60"),
        (f'mlscope_prediction_drift_distance{{{po}, method="jensenshannon", window="{dw}"}}', "0.3x60"),
    )
    return AlertSpec(
        name="MlscopePredictionDrift",
        summary="The distribution of a model's predictions drifted.",
        rules=tuple(_prediction_drift_rule(cfg, w) for w in cfg.drift_windows()),
        dashboard="model",
        meaning="The model answers differently than on the reference data: a leading sign of quality "
        "loss before labels arrive.",
        actions=(
            "Check the prediction distribution panel and which features drifted at the same time.",
            "Check for a model or preprocessing release.",
        ),
        blind_when_down=True,
        timelines=tuple(_prediction_verdict(cfg, w) for w in cfg.drift_windows()),
        standard=Standard(
            start_min=0,
            firing=(*scores, (detected, "1x60")),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn", "output": "class", "window": dw},
                    "Output class of model churn drifted from the reference (highest distance 0.300 over the "
                    f"{dw} window).",
                ),
            ),
            healthy=(*scores, (detected, "0x60")),
            blip=(*scores, (detected, "1x5 0x55")),
            blip_eval="30m",
        ),
    )


def _prediction_drift_rule(cfg: Config, w: str) -> Rule:
    return Rule(
        expr=f'max by (job, model, output) (mlscope_prediction_drift_distance{{window="{w}"}}) '
        f"and on (job, model, output) (max by (job, model, output) "
        f'(mlscope_prediction_drift_detected{{window="{w}"}}) == 1)',
        for_=cfg.get("drift.for"),
        severity="ticket",
        description="Output {{ $labels.output }} of model {{ $labels.model }} drifted from the "
        f'reference (highest distance {{{{ $value | printf "%.3f" }}}} over the {w} window).',
        labels={"window": w},
        thresholds=(_window_key(cfg, w), "drift.for"),
    )


def dataset_drift(cfg: Config) -> AlertSpec:
    dw = cfg.get("drift.window")
    share = f'mlscope_dataset_drift_share_ratio{{model="churn", window="{dw}"}}'
    t = float(cfg.get("drift.dataset_share_threshold"))
    f, h = above(t), t / 2  # over the threshold (halfway to 100%), healthy at half of it
    return AlertSpec(
        name="MlscopeDatasetDrift",
        summary="A large share of a model's features drifted at once.",
        rules=(
            Rule(
                expr=f'max by (job, model) (mlscope_dataset_drift_share_ratio{{window="{dw}"}}) > '
                f"{cfg.get('drift.dataset_share_threshold')}",
                for_=cfg.get("drift.for"),
                severity="ticket",
                description="{{ $value | humanizePercentage }} of the features of model {{ $labels.model }} "
                f"drifted in the {dw} window.",
                thresholds=("drift.dataset_share_threshold", "drift.window", "drift.for"),
            ),
        ),
        dashboard="model",
        meaning="Many features shift together: usually a pipeline change upstream, not the world.",
        actions=(
            "Look for a shared cause: a new data source, a join, a unit or encoding change.",
            "Compare the drifted features in the ranked table.",
        ),
        blind_when_down=True,
        standard=Standard(
            start_min=0,
            firing=((share, f"{f!r}x60"),),
            fires=(
                Fires(
                    {"severity": "ticket", "model": "churn"},
                    f"{pct(f)} of the features of model churn drifted in the {dw} window.",
                ),
            ),
            healthy=((share, f"{h!r}x60"),),
            blip=((share, f"{h!r}x5 {f!r}x5 {h!r}x50"),),
            blip_eval="30m",
        ),
    )


#: A model and feature name with what a URL query must encode: space, &, #, +, =, unicode.
ODD_MODEL, ODD_FEATURE = "churn v2/β", "mean radius & #1 +x=ü"


def _odd_names_scenario(cfg: Config) -> Scenario:
    """The page's links stay one query each when the names hold URL syntax: the rule's
    ``urlquery`` output is checked against Python's ``quote_plus`` in exp_annotations."""
    dw, nm = cfg.get("drift.window"), str(cfg.get("drift.numeric_method"))
    fd = f'model="{ODD_MODEL}", feature="{ODD_FEATURE}"'
    series = (
        (series_name(score_metric("mlscope_feature_drift", nm), f'{fd}, window="{dw}"'), "0.4x20"),
        (f'mlscope_feature_drift_threshold{{{fd}, method="{nm}"}}', "0.2x20"),
        (f'mlscope_feature_drift_detected{{{fd}, window="{dw}"}}', "1x20"),
    )
    fires = Fires(
        {"severity": "ticket", "model": ODD_MODEL, "feature": ODD_FEATURE, "method": nm, "window": dw},
        f"Feature {ODD_FEATURE} of model {ODD_MODEL} drifted: {nm} score 0.400 over the {dw} window.",
    )
    return Scenario(
        "MlscopeFeatureDrift links encode names with spaces, &, #, + and unicode",
        series,
        (AlertCheck(fires_at(cfg.get("drift.for"), 0)[1], "MlscopeFeatureDrift", (fires,)),),
    )


#: Derived features of a text input and of an embedding input (mlscope.engine.derived).
DERIVED_FEATURES = ("review:script", "vec:pc2", "vec:distance")


def _derived_features_scenario(cfg: Config) -> Scenario:
    """A derived feature's ticket names its raw input and the descriptor, component or score."""
    dw, nm = cfg.get("drift.window"), str(cfg.get("drift.numeric_method"))
    series: list[tuple[str, str]] = []
    fires = []
    for feature in DERIVED_FEATURES:
        fd = f'model="churn", feature="{feature}"'
        series += [
            (series_name(score_metric("mlscope_feature_drift", nm), f'{fd}, window="{dw}"'), "0.4x20"),
            (f'mlscope_feature_drift_threshold{{{fd}, method="{nm}"}}', "0.2x20"),
            (f'mlscope_feature_drift_detected{{{fd}, window="{dw}"}}', "1x20"),
        ]
        fires.append(Fires(
            {"severity": "ticket", "model": "churn", "feature": feature, "method": nm, "window": dw},
            f"{ctx.feature_named_text(feature)} of model churn drifted: {nm} score 0.400 "
            f"over the {dw} window.",
        ))
    return Scenario(
        "MlscopeFeatureDrift names the text or embedding input and the derived part",
        tuple(series),
        (AlertCheck(fires_at(cfg.get("drift.for"), 0)[1], "MlscopeFeatureDrift", tuple(fires)),),
    )


#: Minutes from a 0.5 sd mean shift of one feature at 20 events a second to the sidecar's
#: verdict flipping on each default window, the window full of healthy rows before (the
#: slowest case); tests/engine/test_verdict_flip.py checks them by simulation.
VERDICT_FLIP_MIN = {"5m": 2, "1h": 16}


def verdict_note(w: str) -> str:
    flip_min = VERDICT_FLIP_MIN.get(w)
    after = f" ({flip_min} min after a 0.5 sd shift at 20 ev/s)" if flip_min else ""
    return f"the sidecar's {w} verdict flipping{after}"


def _feature_verdict(cfg: Config, dw: str) -> Timeline:
    """The verdict on window ``dw`` flips as the feature's rows move out of the reference's
    range: the ticket names the bins that grew in that window."""
    fd = 'model="churn", feature="age"'
    nm = str(cfg.get("drift.numeric_method"))
    bins = moved_bins(verdict_steps(cfg))

    def fires(step: int) -> Fires:
        return Fires(
            {"severity": "ticket", "model": "churn", "feature": "age", "method": nm, "window": dw},
            f"Feature age of model churn drifted: {nm} score 0.400 over the {dw} window."
            f"{ctx.bins_grew_text(grown_bins(bins, dw, step))}",
        )

    gauges = (
        (series_name(score_metric("mlscope_feature_drift", nm), f'{fd}, window="{dw}"'), 0.4),
        (f'mlscope_feature_drift_threshold{{{fd}, method="{nm}"}}', 0.2),
    )
    detected = f'mlscope_feature_drift_detected{{{fd}, window="{dw}"}}'
    failure = f"the feature's distribution shifts (seen on the {dw} window)"
    return _verdict_timeline(
        cfg, "MlscopeFeatureDrift", failure, gauges, (dw, detected), fires, bin_series(fd, bins)
    )


def _prediction_verdict(cfg: Config, dw: str) -> Timeline:
    po = 'model="churn", output="class"'

    def fires(_: int) -> Fires:
        return Fires(
            {"severity": "ticket", "model": "churn", "output": "class", "window": dw},
            "Output class of model churn drifted from the reference "
            f"(highest distance 0.300 over the {dw} window).",
        )

    gauges = ((f'mlscope_prediction_drift_distance{{{po}, method="jensenshannon", window="{dw}"}}', 0.3),)
    detected = f'mlscope_prediction_drift_detected{{{po}, window="{dw}"}}'
    failure = f"the predictions' distribution shifts (seen on the {dw} window)"
    timeline = _verdict_timeline(cfg, "MlscopePredictionDrift", failure, gauges, (dw, detected), fires)
    # the flip times are a numeric feature's; an output's verdict flips as its classes move
    return dataclasses.replace(timeline, note=f"the sidecar's {dw} verdict flipping")


def _verdict_timeline(
    cfg: Config,
    name: str,
    failure: str,
    gauges: tuple[tuple[str, float], ...],
    window_detected: tuple[str, str],
    fires: Callable[[int], Fires],
    extra: Series = (),
) -> Timeline:
    """The sidecar's verdict on the drift window flips at the failure; the ticket follows
    after ``drift.for``."""
    steps, (window, detected) = verdict_steps(cfg), window_detected
    flag = flip(steps)
    at = first_firing([d == 1 for d in flag], cfg.get("drift.for"))
    series = (*((g, f"{v:g}x{steps}") for g, v in gauges), (detected, notation(flag)), *extra)
    return Timeline(name, "ticket", failure, series, at, (fires(at),), note=verdict_note(window))


def verdict_steps(cfg: Config) -> int:
    """Samples enough for the verdict's ticket: ``drift.for`` after the failure, and some."""
    return BREAK_STEP + math.ceil(duration_seconds(cfg.get("drift.for")) / STEP_S) + 8
