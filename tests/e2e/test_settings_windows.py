"""End to end: one settings file with non-default windows drives the sidecar and the rules.

A real ``mlscope serve`` reads ``windows: [10m, 2h]`` and ``drift.window: 2h`` from the
file the generator reads; a real Prometheus scrapes it every second with the rules
generated from that file; the drift alert fires on the 2h window. The same file with
``drift.window: 3h`` (a window the sidecar does not compute) stops generation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlscope.config_gen import load, write
from mlscope.errors import ConfigError
from tests._prom import Prometheus
from tests.sidecar._sidecar import make_profile, ndjson, post, sidecar

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTINGS = """\
models: {churn: {profile: churn.json}}
compute_interval_s: 0.5
windows: [10m, {duration: 2h, buckets: 24}]
drift: {window: %(window)s, for: 0s}
quality: {window: 2h}
scrape_interval: 1s
evaluation_interval: 1s
"""


def _settings(tmp_path: Path, window: str) -> Path:
    path = tmp_path / f"mlscope-{window}.yml"
    path.write_text(SETTINGS % {"window": window})
    return path


def _drifted_events(n: int) -> list[dict[str, object]]:
    """Rows far from the reference (age ~ N(40, 10), plan spread over three values)."""
    rng = np.random.default_rng(1)
    return [
        {"model": "churn", "id": f"r{i}", "features": {"age": float(a), "plan": "team"}, "prediction": "yes"}
        for i, a in enumerate(rng.normal(90, 5, n))
    ]


def test_a_window_the_sidecar_does_not_compute_stops_generation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^'drift\.window' must be one of the sidecar's windows "
                                          r"\['10m', '2h'\] \(got '3h'\)"):
        load(path=_settings(tmp_path, "3h"))


def test_drift_alert_on_a_configured_2h_window_fires(tmp_path: Path, prometheus_bin: str) -> None:
    make_profile(tmp_path / "churn.json", model="churn")
    conf = _settings(tmp_path, "2h")
    out = tmp_path / "generated"
    write(load(path=conf), out)
    rules = [str(out / "prometheus/rules" / f) for f in ("mlscope-recording.yml", "mlscope-alerts.yml")]
    with sidecar(tmp_path, "--config", str(conf)) as sc:
        status, reply = post(sc.url + "/v1/events", ndjson(_drifted_events(400)),
                             content_type="application/x-ndjson")
        assert (status, reply["accepted"]) == (200, 400), reply
        prom_cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rules,
            "scrape_configs": [
                {"job_name": "mlscope-sidecar", "static_configs": [{"targets": [f"127.0.0.1:{sc.port}"]}]}
            ],
        }
        with Prometheus(prometheus_bin, prom_cfg, tmp_path / "prom") as prom:
            # The sidecar computes the configured windows, and only those.
            windows = prom.wait_for('count by (window) (mlscope_dataset_drift_share_ratio{model="churn"})')
            assert sorted(r["metric"]["window"] for r in windows) == ["10m", "2h"]
            firing = prom.wait_for(
                'ALERTS{alertname="MlscopeDatasetDrift", alertstate="firing", model="churn"}', timeout_s=60
            )
            assert firing[0]["metric"]["job"] == "mlscope-sidecar"
            features = prom.wait_for(
                'ALERTS{alertname="MlscopeFeatureDrift", alertstate="firing", model="churn"}', timeout_s=30
            )
            assert {r["metric"]["feature"] for r in features} == {"age", "plan"}
