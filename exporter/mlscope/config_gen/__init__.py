"""Configuration as code: Prometheus rules and tests, Alertmanager routing, Grafana dashboards.

``mlscope config --out DIR [--settings FILE]`` writes every generated file below DIR
(``python -m mlscope.config_gen`` defaults DIR to the current folder, the repository's
``make generate``) and never replaces a file it did not write. Output is deterministic
(sorted keys, fixed uids and panel ids), so the committed files can be checked for
staleness by regenerating them into a temporary folder and comparing.
"""

from __future__ import annotations

from mlscope.config_gen.config import Config, load
from mlscope.config_gen.generate import generate, write

__all__ = ["Config", "generate", "load", "write"]
