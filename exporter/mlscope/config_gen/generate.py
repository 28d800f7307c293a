"""Render every generated file from the configuration; write them atomically."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mlscope.config_gen import ruletests
from mlscope.config_gen.alertmanager_config import TEMPLATE_PATH, alertmanager_config, secret_placeholders
from mlscope.config_gen.alerts import alert_group
from mlscope.config_gen.config import Config
from mlscope.config_gen.docs import alerts_doc, runbooks
from mlscope.config_gen.grafana import dashboards, provisioning
from mlscope.config_gen.output import GENERATED_BY, write_all
from mlscope.config_gen.prometheus_config import prometheus_config
from mlscope.config_gen.rules import recording_groups

HEADER = f"# {GENERATED_BY}; do not edit by hand (see docs/alerts.md).\n"


class _Dumper(yaml.SafeDumper):
    """Block-style YAML; long PromQL lines are never folded."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    """Deterministic YAML: sorted keys, no line folding, a header naming the generator."""
    return HEADER + yaml.dump(data, Dumper=_Dumper, sort_keys=True, width=1_000_000, allow_unicode=True)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def generate(cfg: Config) -> dict[str, str]:
    """Every generated file: relative path -> content."""
    out: dict[str, str] = {
        "prometheus/prometheus.yml": dump_yaml(prometheus_config(cfg, "local")),
        "prometheus/prometheus.compose.yml": dump_yaml(prometheus_config(cfg, "compose")),
        "prometheus/rules/mlscope-recording.yml": dump_yaml({"groups": recording_groups(cfg)}),
        "prometheus/rules/mlscope-alerts.yml": dump_yaml({"groups": [alert_group(cfg)]}),
        "alertmanager/alertmanager.yml": dump_yaml(alertmanager_config(cfg)),
        f"alertmanager/{TEMPLATE_PATH}": _templates(),
        "docs/runbooks.md": runbooks(cfg),
        "docs/alerts.md": alerts_doc(cfg),
    }
    for tf in ruletests.test_files(cfg):
        out[f"prometheus/tests/{tf.name}"] = dump_yaml(ruletests.render(cfg, tf))
    for name, data in provisioning(cfg).items():
        out[name] = dump_yaml(data)
    for name, data in dashboards(cfg).items():
        out[name] = dump_json(data)
    return dict(sorted(out.items()))


def _templates() -> str:
    text = files("mlscope.config_gen").joinpath("mlscope.tmpl").read_text()
    return "{{/* " + HEADER.strip().lstrip("# ") + " */}}\n" + text


def secret_files(cfg: Config) -> dict[str, str]:
    """Placeholders of the relative secret files alertmanager.yml names (absolute ones are the user's)."""
    return {
        f"alertmanager/{rel}": text
        for rel, text in secret_placeholders(cfg).items()
        if not PurePosixPath(rel).is_absolute()
    }


def write(cfg: Config, root: Path) -> list[Path]:
    """Write every generated file under ``root``, and the secret placeholders that are missing.

    Refuses (:class:`~mlscope.errors.ConfigError`) when a file to write exists and
    ``root``'s manifest does not list it (see :mod:`mlscope.config_gen.output`).
    """
    return write_all(root, generate(cfg), secret_files(cfg))
