"""Configuration as code: Prometheus rules and tests, Alertmanager routing, Grafana dashboards.

``python -m mlscope.config_gen [--out DIR] [--config overrides.yml]`` writes every
generated file below DIR (default: the repository root). Output is deterministic
(sorted keys, fixed uids and panel ids), so the committed files can be checked for
staleness by regenerating them into a temporary folder and comparing.
"""

from __future__ import annotations

from mlscope.config_gen.config import Config, load
from mlscope.config_gen.generate import generate, write

__all__ = ["Config", "generate", "load", "write"]
