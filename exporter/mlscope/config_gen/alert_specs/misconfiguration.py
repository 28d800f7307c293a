"""The ticket on ``mlscope_misconfiguration``: a wiring mistake, named with what to do.

The sidecar and the apps' Monitors raise ``mlscope_misconfiguration{model,kind}`` to 1
while a kind of mistake was seen within the last ``HOLD_S`` (a profile without a target,
features under other names...). One rule per kind of
:data:`mlscope.misconfigurations.KINDS` carries that kind's advice in its description, so
the ticket says what to do without a lookup; one more rule catches a kind this rule file
does not know yet (a newer sidecar), pointing at the log line, which always names it.
"""

from __future__ import annotations

from mlscope.config_gen.alert_specs.scenarios import (
    AlertCheck,
    Fires,
    Scenario,
    Standard,
    at_minute,
    whole_minutes,
)
from mlscope.config_gen.alert_specs.spec import MODEL_TESTS, AlertSpec, Rule
from mlscope.config_gen.config import Config
from mlscope.misconfigurations import HOLD_S, KINDS, NAME

ALERT = "MlscopeMisconfiguration"
_KEY = "exporter.misconfiguration_for"


def specs(cfg: Config) -> list[AlertSpec]:
    return [misconfiguration(cfg)]


def _rule(selector: str, advice: str, for_: str, kind: str = "") -> Rule:
    return Rule(
        expr=f"max by (job, model, kind) ({NAME}{{{selector}}}) == 1",
        for_=for_,
        severity="ticket",
        description=description("{{ $labels.model }}", "{{ $labels.kind }}", "{{ $labels.job }}", advice),
        thresholds=(_KEY,),
        labels={"kind": kind} if kind else {},  # the series' own label: names the rule in docs
    )


def description(model: str, kind: str, job: str, advice: str) -> str:
    return (
        f"Model {model} is misconfigured ({kind}, seen by job {job}): {advice}. The log line ending in "
        f'`[{NAME}{{kind="{kind}"}}]` names what exactly.'
    )


#: The advice of a kind this rule file does not know.
UNKNOWN_ADVICE = "see the log line for what to do"


def misconfiguration(cfg: Config) -> AlertSpec:
    for_ = str(cfg.get(_KEY))
    rules = tuple(_rule(f'kind="{kind}"', advice, for_, kind) for kind, advice in KINDS.items())
    unknown = _rule(f'kind!~"{"|".join(KINDS)}"', UNKNOWN_ADVICE, for_)
    return AlertSpec(
        name=ALERT,
        summary="mlscope is wired wrong for a model: a figure or an alert of it stays silent.",
        rules=(*rules, unknown),
        dashboard="model",
        meaning="A mistake in how mlscope is set up (the profile, the names the service logs under, "
        "the class order of scores) that fails no request but empties a figure or an alert: for "
        "example no accuracy alert can fire for a profile without a target. The gauge stays 1 for "
        f"{HOLD_S / 60:g} minutes after each sighting, so the `for` only lets a mistake that keeps "
        "happening (or a property of the profile) through.",
        actions=(
            "Do what the description says for the kind; the sidecar's (or the app's) log line of "
            "that kind names the model and the exact names or columns involved.",
            "After the fix the gauge falls to 0 within ten minutes of the last sighting "
            "(a profile property: once the sidecar loads the new profile).",
        ),
        standard=_standard(for_),
        scenarios={MODEL_TESTS: (_every_kind(for_),)},
    )


def _series(kind: str) -> str:
    return f'{NAME}{{job="mlscope-sidecar", model="churn", kind="{kind}"}}'


def _fires(kind: str, advice: str) -> Fires:
    text = description("churn", kind, "mlscope-sidecar", advice)
    return Fires({"severity": "ticket", "job": "mlscope-sidecar", "model": "churn", "kind": kind}, text)


def _standard(for_: str) -> Standard:
    kind = "unknown_feature_names"
    minutes = whole_minutes(for_)
    n = minutes + 30  # samples, one a minute
    # One sighting holds the gauge HOLD_S: silent while that is shorter than ``for``.
    blip = max(1, min(int(HOLD_S // 60), minutes - 1))
    return Standard(
        start_min=1,
        firing=((_series(kind), f"0 1x{n}"),),
        fires=(_fires(kind, KINDS[kind]),),
        healthy=((_series(kind), f"0x{n}"),),
        blip=((_series(kind), f"0 1x{blip - 1} 0x{n - blip}"),),
        blip_eval=at_minute(blip + minutes + 1),
    )


def _every_kind(for_: str) -> Scenario:
    """Every known kind, and one this file does not know, each with its own advice."""
    kinds = {**KINDS, "a_kind_from_a_newer_sidecar": UNKNOWN_ADVICE}
    minutes = whole_minutes(for_)
    return Scenario(
        f"{ALERT} names each kind with what to do about it",
        tuple((_series(kind), f"1x{minutes + 5}") for kind in kinds),
        (AlertCheck(at_minute(minutes + 2), ALERT, tuple(_fires(k, a) for k, a in kinds.items())),),
    )
