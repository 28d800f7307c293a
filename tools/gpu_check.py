"""Print the GPU series mlscope collects on this machine (run where an NVIDIA GPU is).

Usage: ``python tools/gpu_check.py`` (from the repository root, or with mlscope
installed). It initialises NVML through the real ``pynvml``, scrapes
:class:`mlscope.collectors.gpu.GPUCollector` twice with prometheus_client's
``generate_latest`` (the second scrape also drains the XID event set the first one
registered) and prints the exposition, followed by the device list NVML itself reports
so a reader can compare the two, and which families the card left out (row remapping
or page retirement, NVLink, memory temperature depend on the GPU). Exit status: 0 when
NVML finds at least one device and every required family is present with dcgm-exporter's
device labels, 1 when NVML finds no device (no driver, no GPU), 2 when devices exist but
a required family or label is missing.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exporter"))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from mlscope.collectors.gpu import GPUCollector  # noqa: E402

# Families every NVIDIA data-centre GPU (Volta or later) should give; the rest depend on
# the card and on what runs, so they are reported, not required.
REQUIRED = (
    "mlscope_gpu_utilization_ratio",
    "mlscope_gpu_memory_used_bytes",
    "mlscope_gpu_memory_total_bytes",
    "mlscope_gpu_temperature_celsius",
    "mlscope_gpu_power_watts",
    "mlscope_gpu_power_limit_watts",
    "mlscope_gpu_energy_joules_total",
    "mlscope_gpu_sm_clock_hertz",
    "mlscope_gpu_pcie_replays_total",
    "mlscope_gpu_xid_errors_total",  # the fatal codes at 0 once the event set is registered
)
OPTIONAL = (
    "mlscope_gpu_clock_event_reason_active",
    "mlscope_gpu_ecc_errors_total",
    "mlscope_gpu_memory_temperature_celsius",
    "mlscope_gpu_remapped_rows_total",
    "mlscope_gpu_row_remap_pending",
    "mlscope_gpu_row_remap_failed",
    "mlscope_gpu_retired_pages_total",
    "mlscope_gpu_retired_pages_pending",
    "mlscope_gpu_nvlink_errors_total",
    "mlscope_gpu_process_memory_used_bytes",
    "mlscope_nvml_errors_total",
)
DCGM_LABELS = {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    collector = GPUCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    generate_latest(registry)  # first scrape initialises NVML
    text = generate_latest(registry).decode()
    sys.stdout.write(text)
    found: dict[str, int] = {}
    devices = 0.0
    unlabelled: set[str] = set()
    for fam in text_string_to_metric_families(text):
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        found[name] = len(fam.samples)
        if fam.name == "mlscope_gpu_devices":
            devices = fam.samples[0].value
        elif name != "mlscope_nvml_errors_total":
            unlabelled |= {name for s in fam.samples if not DCGM_LABELS <= set(s.labels)}
    print(f"# devices reported: {devices:g}")
    try:
        import pynvml

        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            print(
                f"# nvml device {i}: {pynvml.nvmlDeviceGetName(h)} {pynvml.nvmlDeviceGetUUID(h)} "
                f"driver {pynvml.nvmlSystemGetDriverVersion()}"
            )
    except Exception as exc:  # noqa: BLE001 - informative only
        print(f"# nvml direct query failed: {exc!r}")
    collector.close()
    if devices < 1:
        print("FAIL: NVML found no GPU device", file=sys.stderr)
        return 1
    missing = [name for name in REQUIRED if not found.get(name)]
    print(f"# optional families (series count): { {n: found.get(n, 0) for n in OPTIONAL} }")
    if missing:
        print(f"FAIL: device families missing: {missing}", file=sys.stderr)
        return 2
    if unlabelled:
        print(f"FAIL: families without dcgm-exporter's labels {sorted(DCGM_LABELS)}: {sorted(unlabelled)}",
              file=sys.stderr)
        return 2
    print("OK: all required GPU families present")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
