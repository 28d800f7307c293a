"""tools/gpu_check.py: the one command to run on a real GPU; here its no-GPU and fake paths."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.collectors._fakes import FakeDevice, FakeNVML

TOOL = Path(__file__).resolve().parents[2] / "tools" / "gpu_check.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_as_one_command_and_says_whether_nvml_found_a_gpu() -> None:
    proc = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True, timeout=120)
    assert "mlscope_gpu_devices" in proc.stdout
    if proc.returncode == 1:  # no driver here: the documented no-GPU answer
        assert "FAIL: NVML found no GPU device" in proc.stderr
    else:  # a GPU machine: every required family with dcgm-exporter's labels
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_passes_on_a_full_fake_device_and_fails_on_a_missing_family(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = _load()
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "NVIDIA H100")])
    monkeypatch.setattr(tool, "GPUCollector", functools.partial(tool.GPUCollector, nvml=nvml))
    assert tool.main() == 0
    assert 'UUID="GPU-aaaa"' in capsys.readouterr().out
    nvml.fail["nvmlDeviceGetPcieReplayCounter"] = FakeNVML.NVML_ERROR_UNKNOWN
    assert tool.main() == 2
    assert "mlscope_gpu_pcie_replays_total" in capsys.readouterr().err
