"""``mlscope serve`` runs BLAS/OpenMP on one thread unless the environment sizes the pools.

Each case runs in a fresh interpreter: the limit is process-wide and would leak into
the other tests. The pools are read back with threadpoolctl, as loaded by numpy and scipy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mlscope.sidecar.main import THREAD_ENV
from tests.conftest import require_cpus

_PROBE = """
import json
import numpy, scipy.linalg  # the BLAS the engine uses, loaded as build() loads it
from threadpoolctl import threadpool_info
from mlscope.sidecar.main import limit_math_threads
limited = limit_math_threads()
print(json.dumps({"limited": limited, "pools": [p["num_threads"] for p in threadpool_info()]}))
"""


def _probe(extra_env: dict[str, str]) -> tuple[bool, list[int]]:
    """(whether limit_math_threads limited the pools, the thread count of each pool)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    env.update(extra_env)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=60, check=True)
    result = json.loads(out.stdout)
    return bool(result["limited"]), [int(n) for n in result["pools"]]


def test_pools_are_limited_to_one_thread_by_default() -> None:
    limited, pools = _probe({})
    assert limited
    assert pools and set(pools) == {1}  # numpy's and scipy's OpenBLAS alike


def test_a_thread_count_set_in_the_environment_is_kept() -> None:
    # OpenBLAS caps its pool at the CPUs it may use: on one CPU a pool of 2 cannot be seen.
    require_cpus(2, "to tell a pool of 2 threads from the default of 1")
    limited, pools = _probe({"OPENBLAS_NUM_THREADS": "2"})
    assert not limited
    assert 2 in pools
