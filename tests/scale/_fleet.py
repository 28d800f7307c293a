"""Shared parts of the scale-out tests: a labelled profile, replica data, the engine on a union,
and the tolerance that Prometheus' ``increase()`` extrapolation allows.

Why a tolerance at all: the shipped rules read ``increase(counter[1h])``. For a series
that starts at 0 inside the window (the sidecar exports every bin at 0 before the first
event, so the first scrape is 0), Prometheus 2.x computes ``last - first`` and then
stretches it to the end of the window by ``e / S``, where ``S`` is the time the series
was sampled and ``e`` is the gap between its last sample and the evaluation time when
that gap is under 1.1 average scrape intervals (else half an interval). Every series of
one replica is scraped at the same instants, so within a replica all bins are scaled by
the same factor ``f_r`` in ``[1, 1 + eps]`` with ``eps = 1.1 * interval / S``, and shares
inside one replica are exact; across replicas the factors differ, so the fleet shares
are the union weighted by ``f_r``. The tolerance is the largest change of each figure
when each replica's counts are scaled by ``1`` or ``1 + eps`` (all corners; the figures
are smooth, and for ``eps`` of a few per cent first order, so the corners bound them).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from mlscope.engine import stats
from mlscope.engine.events import batch_from_records
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from tests._prom import Prometheus
from tests._servers import REPO

MODEL = "churn"
INTERVAL_S = 0.25  # scrape and evaluation interval: small, so the extrapolation bound is tight
SETTLE_S = 12.0  # time sampled after the data arrives: eps ~ 1.1 * 0.25 / 12, about 2%
RULES = sorted((REPO / "prometheus" / "rules").glob("*.yml"))
FEATURES = ("age", "plan")
CLASSES = ("yes", "no")


def make_labelled_profile(path: Path, seed: int = 0) -> Profile:
    """A reference with a numeric and a categorical feature, a target and a prediction."""
    rng = np.random.default_rng(seed)
    n = 2000
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "plan": rng.choice(["free", "pro", "team"], n),
            "y": rng.choice(list(CLASSES), n),
            "pred": rng.choice(list(CLASSES), n),
        }
    )
    profile = Profile.from_frame(frame, target="y", prediction="pred", bins=10, model=MODEL)
    profile.save(path)
    return profile


def replica_rows(
    seed: int, n: int, *, age_mean: float, plans: Sequence[str], accuracy: float, prefix: str
) -> list[dict[str, Any]]:
    """``n`` labelled events of one replica; each replica gets its own distribution."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = str(rng.choice(CLASSES))
        right = bool(rng.random() < accuracy)
        pred = label if right else ("no" if label == "yes" else "yes")
        plan = rng.choice(list(plans))
        out.append(
            {
                "model": MODEL,
                "id": f"{prefix}-{i}",
                "features": {
                    "age": float(rng.normal(age_mean, 10)),
                    "plan": None if plan == "" else str(plan),
                },
                "prediction": pred,
                "label": label,
            }
        )
    return out


@dataclass(frozen=True)
class Figures:
    """Fleet figures: PSI and JS per feature, accuracy."""

    psi: Mapping[str, float]
    js: Mapping[str, float]
    accuracy: float


def engine_figures(profile: Profile, rows: Sequence[Mapping[str, Any]]) -> Figures:
    """What mlscope's own engine says about ``rows`` in its 1h window."""
    eng = ModelEngine(MODEL, profile)
    now = time.time()
    batch, errors = batch_from_records(list(rows))
    assert not errors, errors
    eng.ingest(batch, now)
    report = eng.compute(now)["1h"]
    registry = CollectorRegistry()
    registry.register(eng)
    acc = float("nan")
    for fam in registry.collect():
        for s in fam.samples:
            if s.name == "mlscope_model_quality_ratio" and s.labels == {
                "model": MODEL,
                "metric": "accuracy",
                "window": "1h",
            }:
                acc = s.value
    return Figures(
        psi={f: report.feature(f).scores["psi"] for f in FEATURES},
        js={f: report.feature(f).scores["jensenshannon"] for f in FEATURES},
        accuracy=acc,
    )


def bin_counts(exposition: str, profile: Profile) -> dict[str, np.ndarray]:
    """Per feature, one sidecar's ``mlscope_feature_bin_total`` in the profile's bin order."""
    got: dict[tuple[str, str], float] = {}
    for fam in text_string_to_metric_families(exposition):
        for s in fam.samples:
            if s.name == "mlscope_feature_bin_total" and s.labels.get("model") == MODEL:
                got[(s.labels["feature"], s.labels["bin"])] = s.value
    return {
        fp.name: np.array([got[(fp.name, b)] for b in fp.bin_labels])
        for fp in profile.features
        if fp.name in FEATURES
    }


def tolerance(
    profile: Profile,
    per_replica: Sequence[Mapping[str, np.ndarray]],
    hits: Sequence[tuple[int, int]],
    eps: float,
) -> Figures:
    """The largest change of each figure when replica ``r``'s counts are scaled by 1 or 1 + eps.

    ``per_replica`` holds each replica's bin counts; ``hits`` its (right predictions,
    labelled rows). A floor of 1e-9 covers float rounding in the rules' arithmetic.
    """
    ref = {fp.name: np.asarray(fp.counts, dtype=float) for fp in profile.features}

    def spread(fn: Callable[[Sequence[float]], float]) -> float:
        base = fn([1.0] * len(per_replica))
        worst = max(
            abs(fn(list(w)) - base) for w in itertools.product((1.0, 1.0 + eps), repeat=len(per_replica))
        )
        return worst + 1e-9

    def merged(f: str, w: Sequence[float]) -> np.ndarray:
        return sum((wi * c[f] for wi, c in zip(w, per_replica, strict=True)), np.zeros_like(ref[f]))

    return Figures(
        psi={f: spread(lambda w, f=f: stats.psi(ref[f], merged(f, w))) for f in FEATURES},  # type: ignore[misc]
        js={f: spread(lambda w, f=f: stats.jensen_shannon(ref[f], merged(f, w))) for f in FEATURES},  # type: ignore[misc]
        accuracy=spread(
            lambda w: (
                sum(wi * h[0] for wi, h in zip(w, hits, strict=True))
                / sum(wi * h[1] for wi, h in zip(w, hits, strict=True))
            )
        ),
    )


def hits(rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(right predictions, labelled rows) of some events."""
    return sum(r["prediction"] == r["label"] for r in rows), len(rows)


def prometheus_config(
    targets: Sequence[str],
    rules: Sequence[Path],
    interval: str,
    external_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The shipped rule files as they are, scraping ``targets``, with short intervals."""
    glob: dict[str, Any] = {"scrape_interval": interval, "evaluation_interval": interval}
    if external_labels:
        glob["external_labels"] = dict(external_labels)
    return {
        "global": glob,
        "rule_files": [str(p) for p in rules],
        "scrape_configs": [{"job_name": "mlscope-sidecar", "static_configs": [{"targets": list(targets)}]}],
    }


def rule_figures(prom: Prometheus, extra: str = "") -> tuple[Figures, float]:
    """The recorded fleet figures (and the evaluation time they were recorded at)."""
    psi, js, ts = {}, {}, []
    for f in FEATURES:
        sel = f'{{model="{MODEL}",feature="{f}"{extra}}}'
        (p,) = prom.query(f"model_feature:mlscope_feature_psi:1h{sel}")
        (j,) = prom.query(f"model_feature:mlscope_feature_jensenshannon:1h{sel}")
        psi[f], js[f] = float(p["value"][1]), float(j["value"][1])
        ts += [float(p["value"][0])]
    (a,) = prom.query(f'model:mlscope_accuracy:ratio1h{{model="{MODEL}"{extra}}}')
    return Figures(psi, js, float(a["value"][1])), min(ts)


def assert_close(got: Figures, want: Figures, tol: Figures, what: str) -> None:
    for f in FEATURES:
        assert abs(got.psi[f] - want.psi[f]) <= tol.psi[f], (
            what,
            f,
            "psi",
            got.psi[f],
            want.psi[f],
            tol.psi[f],
        )
        assert abs(got.js[f] - want.js[f]) <= tol.js[f], (what, f, "js", got.js[f], want.js[f], tol.js[f])
    assert abs(got.accuracy - want.accuracy) <= tol.accuracy, (
        what,
        got.accuracy,
        want.accuracy,
        tol.accuracy,
    )


def wait_value(prom: Prometheus, promql: str, want: float, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    got: Any = None
    while time.monotonic() < deadline:
        got = prom.query(promql)
        if got and float(got[0]["value"][1]) == want:
            return
        time.sleep(INTERVAL_S)
    raise AssertionError(f"{promql} never reached {want} (last {got})")
