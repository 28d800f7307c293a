"""One settings model: the sidecar and the generator read the same keys with the same meaning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlscope import _settingsdoc
from mlscope.config_gen import load
from mlscope.durations import parse_duration
from mlscope.engine.drift import DriftConfig
from mlscope.errors import ConfigError
from mlscope.settings import Settings, sidecar_window_keys
from mlscope.sidecar.config import load_config
from mlscope.sidecar.service import Service
from tests._servers import REPO
from tests.sidecar._sidecar import make_profile


def test_docs_settings_md_is_generated_from_the_model() -> None:
    committed = (REPO / "docs" / "settings.md").read_text()
    assert committed == _settingsdoc.render_markdown(), (
        "docs/settings.md is stale: python -m mlscope._settingsdoc > docs/settings.md"
    )


def test_every_key_of_the_model_is_in_the_settings_doc() -> None:
    doc = _settingsdoc.render_markdown()
    for key in ("windows", "drift.alpha", "drift.dataset_share_threshold", "labels.max_pending",
                "labels.max_bytes", "labels.ttl", "quality.recording_window", "slo.burn.page_fast.for",
                "models.<name>.samples.per_bin", "max_body_bytes"):
        assert f"| `{key}`" in doc, key


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("7d", 604800.0), ("250ms", 0.25), ("0s", 0.0),
     ("1w", 604800.0), ("1y", 31536000.0)],
)
def test_one_duration_grammar_prometheus_s(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    from mlscope.config_gen.config import duration_seconds

    assert duration_seconds(text) == seconds  # the generator's name for the same parser


@pytest.mark.parametrize("text", ["1.5h", "30m1h", "5 m", "", "1hour", "h"])
def test_durations_outside_the_grammar_are_refused_naming_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^'drift\.window' must be a duration like"):
        parse_duration(text, key="drift.window")


def test_errors_name_the_key_path_what_was_expected_and_what_came() -> None:
    cases: dict[str, dict[str, Any]] = {
        "'drift.alpha' must be a number in (0, 1) (got 2.0)": {"drift": {"alpha": 2}},
        "'drift.numeric_method' must be one of": {"drift": {"numeric_method": "magic"}},
        "'windows.1.duration': must be a positive duration (got '0s')": {"windows": ["5m", "0s"]},
        "'windows.0.buckets': Input should be greater than or equal to 1 (got 0)":
            {"windows": [{"duration": "1h", "buckets": 0}]},
        "'windows': window names must be unique": {"windows": ["1h", "1h"]},
        "'labels.ttl': must be a duration like": {"labels": {"ttl": "a week"}},
        "'labels.max_pending': Input should be greater than or equal to 1 (got 0)":
            {"labels": {"max_pending": 0}},
        "'labels.max_pendng': unknown key": {"labels": {"max_pendng": 5}},
    }
    for expected, data in cases.items():
        with pytest.raises(ConfigError) as e:
            load(data)
        assert expected in str(e.value), (expected, str(e.value))


def test_the_dataset_share_threshold_has_one_name_for_sidecar_and_alert() -> None:
    cfg = load({"drift": {"dataset_share_threshold": 0.3}})
    assert cfg.settings.drift.engine_config().dataset_share_threshold == 0.3
    assert cfg.get("drift.dataset_share_threshold") == 0.3
    alerts = (REPO / "prometheus/rules/mlscope-alerts.yml").read_text()
    assert "mlscope_dataset_drift_share_ratio{window=\"1h\"}) > 0.5" in alerts
    with pytest.raises(ConfigError, match="'drift.dataset_drift_share': unknown key"):
        load({"drift": {"dataset_drift_share": 0.3}})


def test_the_engine_defaults_are_the_settings_defaults() -> None:
    assert Settings.model_validate({}).drift.engine_config() == DriftConfig()
    from mlscope.engine.quality.tracker import QualityConfig

    assert Settings.model_validate({}).labels.engine_config() == QualityConfig()


def test_an_alert_on_a_window_the_sidecar_does_not_compute_stops_generation() -> None:
    assert list(sidecar_window_keys()) == [
        "drift.window", "drift.short_window", "quality.window", "severe.window"
    ]
    ok = load({"windows": ["10m", "2h"], "drift": {"window": "2h"}, "quality": {"window": "10m"}})
    assert [w.name for w in ok.settings.window_specs()] == ["10m", "2h"]
    with pytest.raises(ConfigError, match=r"^'drift\.window' must be one of the sidecar's windows "
                                          r"\['10m', '2h'\] \(got '3h'\)"):
        load({"windows": ["10m", "2h"], "drift": {"window": "3h"}, "quality": {"window": "2h"}})
    # The same length under another name is another `window` label: refused too.
    with pytest.raises(ConfigError, match=r"^'quality\.window' must be one of the sidecar's windows"):
        load({"windows": ["10m", "2h"], "drift": {"window": "2h"}, "quality": {"window": "120m"}})


def test_one_file_drives_the_sidecar_and_the_generator(tmp_path: Path) -> None:
    make_profile(tmp_path / "churn.json")
    conf = tmp_path / "mlscope.yml"
    conf.write_text(
        "port: 0\nmodels: {churn: {profile: churn.json}}\n"
        "windows: [10m, {duration: 2h, buckets: 24}]\n"
        "drift: {window: 2h, min_rows: 50, dataset_share_threshold: 0.4}\n"
        "quality: {window: 2h}\n"
        "labels: {ttl: 2d, max_pending: 500, max_bytes: 1048576}\n"
    )
    import argparse

    sidecar = load_config(argparse.Namespace(config=str(conf)), env={})
    generator = load(path=conf)
    assert sidecar.tree() == generator.settings.tree()
    # The sidecar's engine runs on those settings.
    service = Service(sidecar)
    model = service.engine.model("churn")
    windows = [(w.name, w.length_s, w.buckets) for w in model.windows]
    assert windows == [("10m", 600.0, 12), ("2h", 7200.0, 24)]
    assert (model.config.min_rows, model.config.dataset_share_threshold) == (50, 0.4)
    assert model.quality_config is not None
    assert (model.quality_config.label_ttl_s, model.quality_config.max_pending) == (172800.0, 500)
