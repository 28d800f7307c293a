"""mlscope._families: every family from its catalogue entry, one spelling of ``le``."""

from __future__ import annotations

from bisect import bisect_left

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.samples import Sample

from mlscope import _families, catalogue
from mlscope.engine.outliers import SCORE_BUCKETS
from mlscope.middleware._metrics import OTEL_DURATION_BUCKETS, SIZE_BUCKETS
from mlscope.predlog import PredictionLog


@pytest.mark.parametrize("spec", catalogue.METRICS, ids=lambda s: s.name)
def test_each_family_has_its_catalogue_name_type_help_and_unit(spec: catalogue.MetricSpec) -> None:
    fam = _families.family(spec.name)
    got = (fam.name, fam.type, fam.documentation, fam.unit)
    assert got == (spec.base_name, spec.type, spec.help, spec.unit)


def test_a_family_asked_for_as_another_type_names_both() -> None:
    with pytest.raises(TypeError, match="'mlscope_rows_total' is a counter in the catalogue, not a Gauge"):
        _families.gauge("mlscope_rows_total")
    with pytest.raises(KeyError, match="'no_such_metric' is not in mlscope.catalogue.METRICS"):
        _families.counter("no_such_metric")


@pytest.mark.parametrize("bounds", [OTEL_DURATION_BUCKETS, SIZE_BUCKETS, SCORE_BUCKETS])
def test_le_is_spelled_as_in_prometheus_client_histograms(bounds: tuple[float, ...]) -> None:
    reg = CollectorRegistry()
    Histogram("h", "A histogram.", registry=reg, buckets=bounds).observe(0)
    text = generate_latest(reg).decode()
    own = [line.split('le="')[1].split('"')[0] for line in text.splitlines() if line.startswith("h_bucket")]
    assert list(_families.le_values(bounds)) == own


def test_families_joins_a_merged_family_of_the_same_name() -> None:
    fams = _families.Families()
    name = "mlscope_internal_errors_total"
    fams.add(name, [Sample(name, {"component": "engine"}, 1)])
    other = _families.counter(name)
    other.add_metric(["snapshot"], 2)
    fams.merge([other])
    (only,) = list(fams)  # one family: the exposition format forbids a name twice
    assert {s.labels["component"] for s in only.samples if s.name == name} == {"engine", "snapshot"}


def test_components_of_one_registry_share_the_internal_errors_family() -> None:
    reg = CollectorRegistry()
    first = _families.internal_errors_counter(reg)
    assert isinstance(first, Counter) and _families.internal_errors_counter(reg) is first
    first.labels("middleware").inc()
    PredictionLog._resolve_counter(reg, None).inc(2)
    text = generate_latest(reg).decode()
    assert text.count("# TYPE mlscope_internal_errors_total counter") == 1
    assert 'mlscope_internal_errors_total{component="middleware"} 1.0' in text
    assert 'mlscope_internal_errors_total{component="predlog"} 2.0' in text


def test_buckets_from_per_bucket_counts_are_what_a_prometheus_client_histogram_exposes() -> None:
    bounds = (0.1, 0.5, 1.0)
    values = [0.05, 0.1, 0.3, 0.7, 0.7, 2.0, 9.0]
    reg = CollectorRegistry()
    h = Histogram("h", "A histogram.", registry=reg, buckets=bounds)
    per_bucket = [0] * (len(bounds) + 1)
    for v in values:
        h.observe(v)
        per_bucket[bisect_left(bounds, v)] += 1  # le is inclusive: 0.1 counts in "0.1"
    (fam,) = list(reg.collect())
    own = [(s.labels["le"], s.value) for s in fam.samples if s.name == "h_bucket"]
    assert _families.buckets(_families.le_values(bounds), per_bucket) == own
