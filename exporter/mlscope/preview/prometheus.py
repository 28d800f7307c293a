"""The preview's Prometheus client: range and instant queries, label values, scrape interval."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import yaml

from mlscope.durations import parse_duration
from mlscope.preview.templating import TimeRange

PROMETHEUS_DEFAULT_SCRAPE = "1m"  # Prometheus' own default when global.scrape_interval is unset


class PrometheusError(RuntimeError):
    """Prometheus answered with an error (the message is Prometheus' own)."""


class Prometheus:
    """A Prometheus server's HTTP API at ``url``."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._scrape_s: float | None = None

    def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        full = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(full, timeout=self.timeout_s) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            with e:
                text = e.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except ValueError:
                message = text
            raise PrometheusError(f"{path} answered {e.code}: {message}") from None
        except OSError as e:
            raise PrometheusError(f"{self.url}{path}: {e}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('error', body)}")
        return body["data"]

    def query_range(self, expr: str, rng: TimeRange) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_range", [("query", expr), ("start", f"{rng.start:.3f}"),
                                                 ("end", f"{rng.end:.3f}"), ("step", f"{rng.step_s:g}")])
        return list(data["result"])

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """An instant query; a scalar answer comes back as one series without labels."""
        data = self._get("/api/v1/query", [("query", expr), ("time", f"{at:.3f}")])
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def label_values(self, label: str, match: str | None, rng: TimeRange) -> list[str]:
        params = [("start", f"{rng.start:.3f}"), ("end", f"{rng.end:.3f}")]
        if match:
            params.append(("match[]", match))
        return sorted(str(v) for v in self._get(f"/api/v1/label/{urllib.parse.quote(label)}/values", params))

    def scrape_interval_s(self) -> float:
        """The global scrape interval of the running configuration (Grafana's ``timeInterval``)."""
        if self._scrape_s is None:
            config = yaml.safe_load(self._get("/api/v1/status/config", [])["yaml"]) or {}
            text = (config.get("global") or {}).get("scrape_interval", PROMETHEUS_DEFAULT_SCRAPE)
            self._scrape_s = parse_duration(str(text), key="global.scrape_interval")
        return self._scrape_s
