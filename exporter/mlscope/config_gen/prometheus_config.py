"""prometheus.yml (local processes) and prometheus.compose.yml (docker compose service names).

Both files differ only in the scrape targets; they are generated from the same job table
so that a job renamed in the configuration is renamed in both, and in every rule that
selects it.
"""

from __future__ import annotations

from typing import Any

from mlscope.config_gen.config import Config

ROLES = ("prometheus", "alertmanager", "app", "sidecar")


def prometheus_config(cfg: Config, where: str) -> dict[str, Any]:
    """The Prometheus configuration for ``where`` in {"local", "compose"}."""
    if where not in ("local", "compose"):
        raise ValueError(f"where must be 'local' or 'compose' (got {where!r})")
    return {
        "global": {
            "scrape_interval": cfg.get("scrape_interval"),
            "evaluation_interval": cfg.get("evaluation_interval"),
            "external_labels": {"monitor": "mlscope"},
        },
        "rule_files": ["rules/*.yml"],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [cfg.get(f"jobs.alertmanager.{where}")]}]},
            ],
        },
        "scrape_configs": [
            {
                "job_name": cfg.job(role),
                "static_configs": [{"targets": [cfg.get(f"jobs.{role}.{where}")]}],
            }
            for role in ROLES
        ],
    }
