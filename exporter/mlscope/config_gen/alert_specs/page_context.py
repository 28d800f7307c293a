"""Context a page carries beside its ``$value``: template snippets that query Prometheus.

An alert has one value; the root cause needs more (the baseline it fell below, which
bins grew, which features the wrong rows share). Prometheus expands ``query`` in
annotation templates at each evaluation, so the description states them as they were
when the alert fired. Label values go into the queries through ``printf %q`` (Go
quoting, which PromQL strings accept), never spliced as text.

The ``*_text`` functions give what a snippet renders for the promtool scenarios' series.
"""

from __future__ import annotations

import re

from mlscope.config_gen.alert_specs.scenarios import pct
from mlscope.config_gen.rules import error_attribution_top_rule, slo_error_ratio_rule
from mlscope.engine import derived, embedding

#: Features and attribution scores of the scenarios (the top three are listed).
ATTRIBUTION = (("age", 0.42), ("income", 0.13), ("plan", 0.05), ("region", 0.01))


def _query(fmt: str, *args: str) -> str:
    """``printf fmt args | query`` as a template pipeline."""
    return f'printf "{fmt}" {" ".join(args)} | query'


#: The runbook step of the per-feature alerts for a feature derived from a text or embedding input.
DERIVED_ACTION = (
    "A feature named `<input>:<part>` is derived from a text or embedding input: see "
    "[Text and embedding inputs](#text-and-embedding-inputs) for what the part means."
)


def embedding_part_pattern() -> str:
    """RE2 of the part after ':' that an embedding input derives (``pc1``.., the scores)."""
    return "pc[0-9]+|" + "|".join(embedding.SCORES)


def feature_named(*, capital: bool = True) -> str:
    """A template naming the alert's feature, and for a derived one its raw input and part.

    ``Feature age``; ``Text input review, descriptor script (feature review:script)``;
    ``Embedding input vec, component pc2 (feature vec:pc2)`` or ``..., score distance``.
    A derived feature is ``<raw>:<part>`` (:mod:`mlscope.engine.derived`); the embedding's
    parts are told apart by name, every other derived part is a text descriptor (the two
    kinds there are).
    """
    sep = derived.SEPARATOR
    f = "$labels.feature"
    raw = f'({f} | reReplaceAll "{sep}.*$" "")'
    part = f'({f} | reReplaceAll "^[^{sep}]*{sep}" "")'
    text, emb, plain = ("Text", "Embedding", "Feature") if capital else ("text", "embedding", "feature")
    return (
        f'{{{{ if match "^[^{sep}]+{sep}({embedding_part_pattern()})$" {f} }}}}'
        f"{emb} input {{{{ {raw} }}}}, "
        f'{{{{ if match "{sep}pc[0-9]+$" {f} }}}}component{{{{ else }}}}score{{{{ end }}}} {{{{ {part} }}}}'
        f" (feature {{{{ {f} }}}})"
        f'{{{{ else if match "^[^{sep}]+{sep}." {f} }}}}'
        f"{text} input {{{{ {raw} }}}}, descriptor {{{{ {part} }}}} (feature {{{{ {f} }}}})"
        f"{{{{ else }}}}{plain} {{{{ {f} }}}}{{{{ end }}}}"
    )


def feature_named_text(feature: str, *, capital: bool = True) -> str:
    """What :func:`feature_named` renders for ``feature`` (the promtool scenarios' expectations)."""
    raw, _, part = feature.partition(derived.SEPARATOR)
    if not part:
        return f"{'Feature' if capital else 'feature'} {feature}"
    if re.fullmatch(embedding_part_pattern(), part):
        what = "component" if re.fullmatch("pc[0-9]+", part) else "score"
        return f"{'Embedding' if capital else 'embedding'} input {raw}, {what} {part} (feature {feature})"
    return f"{'Text' if capital else 'text'} input {raw}, descriptor {part} (feature {feature})"


def bins_grew(window: str) -> str:
    """'Bins that grew most: b +x%, ...' (share of the window minus the reference share)."""
    sel = "{job=%[1]q,model=%[2]q,feature=%[3]q}"
    counts = f"increase(mlscope_feature_bin_total{sel}[{window}])"
    grew = (
        f"sort_desc(topk(3, (sum by (bin) ({counts}) / scalar(sum({counts})) "
        f"- on (bin) max by (bin) (mlscope_feature_reference_ratio{sel})) > 0))"
    )
    return (
        "{{ with " + _query(grew, "$labels.job", "$labels.model", "$labels.feature") + " }}"
        " Bins that grew most: {{ range $i, $b := . }}{{ if $i }}, {{ end }}"
        "{{ $b.Labels.bin }} +{{ $b.Value | humanizePercentage }}{{ end }}.{{ end }}"
    )


def bins_grew_text(grown: list[tuple[str, float]]) -> str:
    return " Bins that grew most: " + ", ".join(f"{b} +{pct(v)}" for b, v in grown) + "."


def slo_error_ratio(window: str) -> str:
    """The job's recorded 5xx share over ``window`` (the burn rate's other window)."""
    q = _query(f"{slo_error_ratio_rule(window)}{{job=%q}}", "$labels.job")
    return "{{ with " + q + " }}{{ . | first | value | humanizePercentage }}{{ end }}"


def reference_share() -> str:
    """The reference's share of the alert's prediction bin."""
    sel = "{job=%q,model=%q,output=%q,bin=%q}"
    q = _query(
        f"max(mlscope_prediction_reference_ratio{sel})",
        "$labels.job",
        "$labels.model",
        "$labels.output",
        "$labels.bin",
    )
    return "{{ with " + q + " }}{{ . | first | value | humanizePercentage }}{{ end }}"


def accuracy_baseline() -> str:
    """The model's validation accuracy (``mlscope_model_quality_reference_ratio``)."""
    q = _query(
        "max(mlscope_model_quality_reference_ratio{job=%q,model=%q,metric=%q})",
        "$labels.job",
        "$labels.model",
        '"accuracy"',
    )
    return "{{ with " + q + " }}{{ . | first | value | humanizePercentage }}{{ end }}"


def top_error_features(window: str) -> str:
    """'Features most tied to the errors (error attribution): f score, ...', ranked."""
    q = _query(
        f"sort_desc({error_attribution_top_rule()}{{job=%q,model=%q,window=%q}})",
        "$labels.job",
        "$labels.model",
        f'"{window}"',
    )
    return (
        "{{ with " + q + " }} Features most tied to the errors (error attribution): "
        '{{ range $i, $f := . }}{{ if $i }}, {{ end }}{{ $f.Labels.feature }} {{ $f.Value | printf "%.2f" }}'
        "{{ end }}.{{ end }}"
    )


def top_error_features_text() -> str:
    top = sorted(ATTRIBUTION, key=lambda fv: -fv[1])[:3]
    return (
        " Features most tied to the errors (error attribution): "
        + ", ".join(f"{f} {v:.2f}" for f, v in top)
        + "."
    )


def attribution_series(window: str, steps: int) -> tuple[tuple[str, str], ...]:
    """The sidecar's error attribution per feature behind :func:`top_error_features_text`."""
    return tuple(
        (
            f'mlscope_feature_error_attribution{{model="churn", feature="{f}", window="{window}"}}',
            f"{v:g}x{steps}",
        )
        for f, v in ATTRIBUTION
    )
