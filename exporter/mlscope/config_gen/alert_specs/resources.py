"""Resource alerts: GPU memory and utilisation, GPU hardware failures, host CPU and memory.

Scenarios: over the threshold (twice it, at most halfway to 100%), healthy at half the
threshold; memory alerts when the available share is *below* its threshold. The GPU
hardware alerts (fatal XID, row remapping) read flags and counters, not thresholds: a
fatal XID or a failed row remapping pages, a remapping waiting for a reset is a ticket.
"""

from __future__ import annotations

from mlscope.collectors.gpu_xid import FATAL_XIDS
from mlscope.config_gen.alert_specs.availability import SIDECAR_INSTANCE
from mlscope.config_gen.alert_specs.scenarios import (
    Fires,
    Standard,
    above,
    at_minute,
    num,
    pct,
    whole_minutes,
)
from mlscope.config_gen.alert_specs.spec import AlertSpec, Rule
from mlscope.config_gen.config import Config

# A device as the GPU collector labels it (dcgm-exporter's label names).
_GPU = {"gpu": "0", "UUID": "GPU-1", "pci_bus_id": "00000000:3B:00.0", "device": "nvidia0",
        "modelName": "NVIDIA H100", "Hostname": "node-1"}
_FATAL_XID = "|".join(str(x) for x in FATAL_XIDS)
_DEVICE_TEXT = "GPU {{ $labels.gpu }} ({{ $labels.modelName }}, {{ $labels.UUID }}) on {{ $labels.Hostname }}"
_DEVICE_SAMPLE = "GPU 0 (NVIDIA H100, GPU-1) on node-1"


def specs(cfg: Config) -> list[AlertSpec]:
    return [gpu_memory_near_full(cfg), gpu_saturated(cfg), gpu_fatal_xid(cfg), gpu_row_remap_failed(cfg),
            gpu_row_remap_pending(cfg), cpu_saturated(cfg), memory_pressure(cfg)]


def _resource_spec(
    *,
    name: str,
    summary: str,
    rule: Rule,
    meaning: str,
    actions: tuple[str, ...],
    standard: Standard,
) -> AlertSpec:
    """Resource alerts link the Resources dashboard by instance."""
    return AlertSpec(
        name=name,
        summary=summary,
        rules=(rule,),
        dashboard="resources",
        var="instance",
        meaning=meaning,
        actions=actions,
        standard=standard,
    )


def _host(cfg: Config) -> dict[str, str]:
    return {"job": cfg.job("sidecar"), "instance": SIDECAR_INSTANCE}


def _sel(labels: dict[str, str]) -> str:
    """Series labels in the order the scenarios write them."""
    return ", ".join(f'{k}="{v}"' for k, v in labels.items())


def _blip_eval(cfg: Config) -> str:
    """The blips (3 busy minutes from 10m) have left the averaging window by then."""
    return at_minute(max(40, 15 + whole_minutes(cfg.get("resources.window"))))


def gpu_memory_near_full(cfg: Config) -> AlertSpec:
    gpu = {**_host(cfg), **_GPU}
    t = float(cfg.get("resources.gpu_memory_ratio"))
    f, h = above(t), t / 2
    used, total = (
        f"mlscope_gpu_memory_used_bytes{{{_sel(gpu)}}}",
        f"mlscope_gpu_memory_total_bytes{{{_sel(gpu)}}}",
    )
    return _resource_spec(
        name="MlscopeGPUMemoryNearFull",
        summary="A GPU's memory is almost full.",
        rule=Rule(
            expr="mlscope_gpu_memory_used_bytes / mlscope_gpu_memory_total_bytes "
            f"> {cfg.get('resources.gpu_memory_ratio')}",
            for_=cfg.get("resources.for"),
            severity="ticket",
            description="GPU {{ $labels.gpu }} ({{ $labels.modelName }}) on {{ $labels.instance }} uses "
            "{{ $value | humanizePercentage }} of its memory.",
            thresholds=("resources.gpu_memory_ratio", "resources.for"),
        ),
        meaning="The next larger batch or model load may fail with an out-of-memory error.",
        actions=(
            "Check the per-process GPU memory for a leak or a second model on the device.",
            "Reduce batch size or move a model to another device.",
        ),
        standard=Standard(
            start_min=0,
            firing=((used, f"{num(1e11 * f)}x60"), (total, "1e11x60")),
            fires=(
                Fires(
                    {"severity": "ticket", **gpu},
                    f"GPU 0 (NVIDIA H100) on {SIDECAR_INSTANCE} uses {pct(f)} of its memory.",
                ),
            ),
            healthy=((used, f"{num(1e11 * h)}x60"), (total, "1e11x60")),
            blip=((used, f"{num(1e11 * h)}x5 1e11x5 {num(1e11 * h)}x50"), (total, "1e11x60")),
            blip_eval="40m",
        ),
    )


def gpu_saturated(cfg: Config) -> AlertSpec:
    gpu = {**_host(cfg), **_GPU}
    rw = cfg.get("resources.window")
    t = float(cfg.get("resources.gpu_utilization_ratio"))
    f, h = above(t), t / 2
    util = f"mlscope_gpu_utilization_ratio{{{_sel(gpu)}}}"
    return _resource_spec(
        name="MlscopeGPUSaturated",
        summary="A GPU has been busy nearly all the time.",
        rule=Rule(
            expr=f"avg_over_time(mlscope_gpu_utilization_ratio[{rw}]) > "
            f"{cfg.get('resources.gpu_utilization_ratio')}",
            for_=cfg.get("resources.for"),
            severity="ticket",
            description="GPU {{ $labels.gpu }} ({{ $labels.modelName }}) on {{ $labels.instance }} was busy "
            f"{{{{ $value | humanizePercentage }}}} of the last {rw}.",
            thresholds=("resources.gpu_utilization_ratio", "resources.window", "resources.for"),
        ),
        meaning="Requests queue for the GPU; latency grows with load.",
        actions=(
            "Compare with request rate and latency on the Service dashboard.",
            "Scale out or batch more.",
        ),
        standard=Standard(
            start_min=0,
            firing=((util, f"{f!r}x60"),),
            fires=(
                Fires(
                    {"severity": "ticket", **gpu},
                    f"GPU 0 (NVIDIA H100) on {SIDECAR_INSTANCE} was busy {pct(f)} of the last {rw}.",
                ),
            ),
            healthy=((util, f"{h!r}x60"),),
            blip=((util, f"{h!r}x10 1x3 {h!r}x47"),),
            blip_eval=_blip_eval(cfg),
        ),
    )


def gpu_fatal_xid(cfg: Config) -> AlertSpec:
    gpu = {**_host(cfg), **_GPU}
    xw = cfg.get("resources.xid_window")
    fatal, app = (f"mlscope_gpu_xid_errors_total{{{_sel({**gpu, 'xid': x})}}}" for x in ("79", "13"))
    return _resource_spec(
        name="MlscopeGPUFatalXid",
        summary="A GPU reported an XID error that means a hardware failure.",
        rule=Rule(
            # The fatal codes are exported at 0 from the start, so increase() sees the first one.
            expr=f'increase(mlscope_gpu_xid_errors_total{{xid=~"{_FATAL_XID}"}}[{xw}]) > 0',
            for_=cfg.get("resources.xid_for"),
            severity="page",
            description=f"{_DEVICE_TEXT} reported XID {{{{ $labels.xid }}}}, a hardware failure "
            f"({{{{ $value }}}} in the last {xw}).",
            thresholds=("resources.xid_window", "resources.xid_for"),
        ),
        meaning="The GPU failed (fallen off the bus, uncontained ECC error, NVLink or GSP failure); "
        "work on it is lost or wrong until it is reset or replaced.",
        actions=(
            "Drain the node (cordon it) so no new work lands on the GPU.",
            "Look up the XID in NVIDIA's XID catalogue and the kernel log (dmesg: 'NVRM: Xid').",
            "Reset the GPU (nvidia-smi -r) or reboot; replace it if the XID comes back.",
        ),
        standard=Standard(
            start_min=10,
            firing=((fatal, "0x9 1x50"),),
            fires=(
                Fires(
                    {"severity": "page", **gpu, "xid": "79"},
                    f"{_DEVICE_SAMPLE} reported XID 79, a hardware failure (1 in the last {xw}).",
                ),
            ),
            healthy=((fatal, "0x60"),),
            # An application fault (XID 13) is counted but does not page.
            blip=((fatal, "0x60"), (app, "0x9 1x50")),
            blip_eval="15m",
        ),
    )


def _flag_blip(cfg: Config) -> tuple[str, str]:
    """A GPU flag set for half of ``resources.for`` from minute 10, and when to check it."""
    n = max(1, whole_minutes(cfg.get("resources.for")) // 2)
    return f"0x9 1x{n - 1} 0x{59 - 9 - n}", at_minute(20 + 2 * n)


def gpu_row_remap_failed(cfg: Config) -> AlertSpec:
    gpu = {**_host(cfg), **_GPU}
    failed = f"mlscope_gpu_row_remap_failed{{{_sel(gpu)}}}"
    blip, blip_eval = _flag_blip(cfg)
    return _resource_spec(
        name="MlscopeGPURowRemapFailed",
        summary="A GPU could not remap a failing memory row.",
        rule=Rule(
            expr="mlscope_gpu_row_remap_failed == 1",
            for_=cfg.get("resources.for"),
            severity="page",
            description=f"{_DEVICE_TEXT} failed to remap a memory row: its memory is no longer reliable.",
            thresholds=("resources.for",),
        ),
        meaning="The GPU ran out of spare memory rows; uncorrectable errors will reach running work.",
        actions=(
            "Drain the node so no new work lands on the GPU.",
            "Replace the GPU (NVIDIA's guidance for a row remapping failure).",
        ),
        standard=Standard(
            start_min=10,
            firing=((failed, "0x9 1x50"),),
            fires=(
                Fires(
                    {"severity": "page", **gpu},
                    f"{_DEVICE_SAMPLE} failed to remap a memory row: its memory is no longer reliable.",
                ),
            ),
            healthy=((failed, "0x60"),),
            blip=((failed, blip),),
            blip_eval=blip_eval,
        ),
    )


def gpu_row_remap_pending(cfg: Config) -> AlertSpec:
    gpu = {**_host(cfg), **_GPU}
    pending = f"mlscope_gpu_row_remap_pending{{{_sel(gpu)}}}"
    blip, blip_eval = _flag_blip(cfg)
    return _resource_spec(
        name="MlscopeGPURowRemapPending",
        summary="A GPU has memory rows waiting to be remapped at its next reset.",
        rule=Rule(
            expr="mlscope_gpu_row_remap_pending == 1",
            for_=cfg.get("resources.for"),
            severity="ticket",
            description=f"{_DEVICE_TEXT} has a row remapping pending: reset the GPU to apply it.",
            thresholds=("resources.for",),
        ),
        meaning="A memory row had errors; the GPU keeps working, but the remap takes effect only after "
        "a reset.",
        actions=(
            "Plan a GPU reset (drain the node, nvidia-smi -r or reboot) at the next quiet time.",
            "Watch mlscope_gpu_remapped_rows_total: a growing count means failing memory.",
        ),
        standard=Standard(
            start_min=10,
            firing=((pending, "0x9 1x50"),),
            fires=(
                Fires(
                    {"severity": "ticket", **gpu},
                    f"{_DEVICE_SAMPLE} has a row remapping pending: reset the GPU to apply it.",
                ),
            ),
            healthy=((pending, "0x60"),),
            blip=((pending, blip),),
            blip_eval=blip_eval,
        ),
    )


def cpu_saturated(cfg: Config) -> AlertSpec:
    host = _host(cfg)
    rw = cfg.get("resources.window")
    t = float(cfg.get("resources.cpu_utilization_ratio"))
    f, h = above(t), t / 2
    cpu = f"mlscope_host_cpu_utilization_ratio{{{_sel(host)}}}"
    return _resource_spec(
        name="MlscopeCPUSaturated",
        summary="The host's CPUs have been busy nearly all the time.",
        rule=Rule(
            expr=f"avg_over_time(mlscope_host_cpu_utilization_ratio[{rw}]) > "
            f"{cfg.get('resources.cpu_utilization_ratio')}",
            for_=cfg.get("resources.for"),
            severity="ticket",
            description="CPU of {{ $labels.instance }} was busy {{ $value | humanizePercentage }} "
            f"of the last {rw}.",
            thresholds=("resources.cpu_utilization_ratio", "resources.window", "resources.for"),
        ),
        meaning="The host is CPU-bound: preprocessing, inference or a noisy neighbour.",
        actions=("Check the serving process's CPU on the Resources dashboard.", "Scale out or add workers."),
        standard=Standard(
            start_min=0,
            firing=((cpu, f"{f!r}x60"),),
            fires=(
                Fires(
                    {"severity": "ticket", **host},
                    f"CPU of {SIDECAR_INSTANCE} was busy {pct(f)} of the last {rw}.",
                ),
            ),
            healthy=((cpu, f"{h!r}x60"),),
            blip=((cpu, f"{h!r}x10 1x3 {h!r}x47"),),
            blip_eval=_blip_eval(cfg),
        ),
    )


def memory_pressure(cfg: Config) -> AlertSpec:
    host = _host(cfg)
    t = float(cfg.get("resources.memory_available_ratio"))
    f, h = t / 2, above(t)  # alerts *below* the threshold: fire at half of it
    avail = f"mlscope_host_memory_available_bytes{{{_sel(host)}}}"
    total = f"mlscope_host_memory_total_bytes{{{_sel(host)}}}"
    return _resource_spec(
        name="MlscopeMemoryPressure",
        summary="The host is running out of memory.",
        rule=Rule(
            expr="mlscope_host_memory_available_bytes / mlscope_host_memory_total_bytes "
            f"< {cfg.get('resources.memory_available_ratio')}",
            for_=cfg.get("resources.for"),
            severity="ticket",
            description="Only {{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} "
            "is available.",
            thresholds=("resources.memory_available_ratio", "resources.for"),
        ),
        meaning="The OOM killer may soon end the serving process or the sidecar.",
        actions=("Check the serving process's resident memory for growth.", "Add memory or reduce workers."),
        standard=Standard(
            start_min=0,
            firing=((avail, f"{num(1e10 * f)}x60"), (total, "1e10x60")),
            fires=(
                Fires(
                    {"severity": "ticket", **host},
                    f"Only {pct(f)} of the memory of {SIDECAR_INSTANCE} is available.",
                ),
            ),
            healthy=((avail, f"{num(1e10 * h)}x60"), (total, "1e10x60")),
            blip=((avail, f"{num(1e10 * h)}x10 0x5 {num(1e10 * h)}x45"), (total, "1e10x60")),
            blip_eval="40m",
        ),
    )
