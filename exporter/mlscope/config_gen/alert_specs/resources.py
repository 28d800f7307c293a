"""Resource alerts: GPU memory and utilisation, host CPU and memory.

Scenarios: over the threshold (twice it, at most halfway to 100%), healthy at half the
threshold; memory alerts when the available share is *below* its threshold.
"""

from __future__ import annotations

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

_GPU = {"gpu": "0", "uuid": "GPU-1", "name": "NVIDIA H100"}


def specs(cfg: Config) -> list[AlertSpec]:
    return [gpu_memory_near_full(cfg), gpu_saturated(cfg), cpu_saturated(cfg), memory_pressure(cfg)]


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
            description="GPU {{ $labels.gpu }} ({{ $labels.name }}) on {{ $labels.instance }} uses "
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
            description="GPU {{ $labels.gpu }} ({{ $labels.name }}) on {{ $labels.instance }} was busy "
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
