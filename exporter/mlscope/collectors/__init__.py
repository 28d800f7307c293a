"""Scrape-time collectors for the host, the serving process and NVIDIA GPUs.

Both read their source only when Prometheus scrapes, take that source as an argument
(so tests inject a fake), and lose only their own series when the source fails.
"""

from __future__ import annotations

from mlscope.collectors.gpu import GPUCollector
from mlscope.collectors.system import SystemCollector

__all__ = ["GPUCollector", "SystemCollector"]
