from typing import Any
from mlscope.config_gen.config import Config
def provisioning(cfg: Config) -> dict[str, Any]:
    return {}
def dashboards(cfg: Config) -> dict[str, Any]:
    return {}
