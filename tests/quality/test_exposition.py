"""The tracker's families are catalogued and pass the real ``promtool check metrics``."""

from __future__ import annotations

import subprocess

import numpy as np
from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry

from mlscope import catalogue
from mlscope.engine.batch import Batch
from mlscope.engine.quality.tracker import QualityTracker
from mlscope.engine.windows import DEFAULT_WINDOWS
from tests.quality._profiles import FakeFeature, FakeProfile


def _busy_trackers() -> list[QualityTracker]:
    rng = np.random.default_rng(0)
    n = 400
    feats = [FakeFeature("age", 23), FakeFeature("plan", 5)]
    clf = QualityTracker(
        "churn",
        FakeProfile("classification", ["no", "yes"], feats,
                    {"accuracy": 0.9, "roc_auc": 0.95, "log_loss": 0.3}),
    )
    reg = QualityTracker("price", FakeProfile("regression", [], feats, {"mae": 3.0}))
    bins = np.stack([rng.integers(0, 23, n), rng.integers(0, 5, n)], axis=1)
    ids = np.arange(n)
    p = rng.uniform(size=n)
    clf.observe_predictions(
        Batch(n_rows=n, scores=np.stack([1 - p, p], 1), score_classes=("no", "yes"), ids=ids), bins, now=1e9
    )
    clf.observe_labels(ids, np.where(rng.random(n) < p, "yes", "no"), now=1e9 + 60)
    reg.observe_predictions(Batch(n_rows=n, predictions=rng.normal(50, 5, n), ids=ids), bins, now=1e9)
    reg.observe_labels(ids, rng.normal(50, 5, n), now=1e9 + 60)
    for t in (clf, reg):
        t.compute(now=1e9 + 60)
    return [clf, reg]


def test_every_family_is_in_the_catalogue_with_its_type_and_labels() -> None:
    seen = set()
    for tracker in _busy_trackers():
        for fam in tracker.collect():
            name = fam.name + "_total" if fam.type == "counter" else fam.name
            spec = catalogue.spec(name)
            assert spec.type == fam.type, name
            for s in fam.samples:
                assert set(s.labels) - {"le"} == set(spec.labels), (name, s.labels)
            seen.add(name)
    quality_specs = {m.name for m in catalogue.METRICS if m.component == "quality"}
    assert seen == quality_specs  # every quality metric is produced by one tracker or the other


def test_exposition_passes_promtool_check_metrics(promtool: str) -> None:
    body = ""
    for tracker in _busy_trackers():  # one registry per model: merging models is the Engine's job
        registry = CollectorRegistry()
        registry.register(tracker)
        text = generate_latest(registry)
        out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
        assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
        body += text.decode()
    for window in (w.name for w in DEFAULT_WINDOWS):
        assert f'mlscope_model_quality_ratio{{metric="accuracy",model="churn",window="{window}"}}' in body
        # split by unit: errors in the target's units, the log loss in nats, ratios
        assert f'mlscope_regression_error{{metric="mae",model="price",window="{window}"}}' in body
        assert f'mlscope_model_quality_ratio{{metric="mape",model="price",window="{window}"}}' in body
        assert f'mlscope_model_quality_ratio{{metric="mae",model="price",window="{window}"}}' not in body
        estimated = "mlscope_model_estimated_quality_ratio"
        assert f'{estimated}{{metric="accuracy",model="churn",window="{window}"}}' in body
    assert 'mlscope_model_quality_reference_ratio{metric="roc_auc",model="churn"} 0.95' in body
