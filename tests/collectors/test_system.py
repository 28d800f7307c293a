"""SystemCollector against the real psutil of this process and against a fake."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import psutil
import pytest

from mlscope.collectors.system import SystemCollector
from tests.collectors._expo import names, promtool_check, render, value
from tests.collectors._fakes import CpuTimes, FakeProcess, FakePsutil

HOST_SERIES = {
    "mlscope_host_cpu_utilization_ratio",
    "mlscope_host_logical_cpus",
    "mlscope_host_load_average",
    "mlscope_host_memory_total_bytes",
    "mlscope_host_memory_available_bytes",
    "mlscope_host_memory_used_bytes",
}
PROCESS_SERIES = {
    "mlscope_process_cpu_seconds_total",
    "mlscope_process_resident_memory_bytes",
    "mlscope_process_threads",
    "mlscope_process_open_fds",
}


def _cpu(user: float, idle: float, iowait: float = 0.0, guest: float = 0.0) -> CpuTimes:
    return CpuTimes(
        user=user,
        nice=0.0,
        system=0.0,
        idle=idle,
        iowait=iowait,
        irq=0.0,
        softirq=0.0,
        steal=0.0,
        guest=guest,
        guest_nice=0.0,
    )


def test_real_psutil_reports_this_process_and_host(promtool: str) -> None:
    text = render(SystemCollector())
    assert HOST_SERIES | PROCESS_SERIES <= names(text)
    me = psutil.Process()
    label = me.name()
    # RSS moves a little between the two reads (allocations in between); 10% is ample.
    rss = value(text, "mlscope_process_resident_memory_bytes", process=label)
    assert rss == pytest.approx(me.memory_info().rss, rel=0.10)
    assert value(text, "mlscope_process_threads", process=label) >= 1
    assert value(text, "mlscope_host_logical_cpus") == psutil.cpu_count()
    assert value(text, "mlscope_host_memory_total_bytes") == psutil.virtual_memory().total
    assert 0.0 <= value(text, "mlscope_host_cpu_utilization_ratio") <= 1.0
    promtool_check(promtool, text)


def test_real_psutil_watches_another_process_by_pid_and_by_name() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        text = render(SystemCollector(pid=child.pid))
        cpu = value(text, "mlscope_process_cpu_seconds_total", process=psutil.Process(child.pid).name())
        assert cpu >= 0.0
        exe = os.path.basename(sys.executable)
        by_name = render(SystemCollector(process_name=exe))
        # Every python process on the host counts, this test's own and the child at least.
        assert value(by_name, "mlscope_process_threads", process=exe) >= 2
    finally:
        child.kill()
        child.wait()
    # Once the process is gone its series disappear; the host series stay.
    after = render(SystemCollector(pid=child.pid))
    assert not PROCESS_SERIES & names(after)
    assert HOST_SERIES <= names(after)


def test_cpu_utilisation_is_busy_share_between_scrapes() -> None:
    ps = FakePsutil(cpu=[_cpu(user=10, idle=90), _cpu(user=40, idle=110, iowait=10, guest=5)])
    c = SystemCollector(psutil_module=ps, pid=1)
    first = render(c)
    assert value(first, "mlscope_host_cpu_utilization_ratio") == pytest.approx(0.10)  # since boot: 10/100
    second = render(c)
    # delta: busy (user 30, guest inside user so not added) over total 30+20+10 = 60,
    # with iowait counted as idle: 30/60.
    assert value(second, "mlscope_host_cpu_utilization_ratio") == pytest.approx(0.5)


def test_fake_readings_map_to_each_series(promtool: str) -> None:
    ps = FakePsutil(cpu=[_cpu(1, 3)], procs={7: FakeProcess(7, "gunicorn", user=2.0, system=0.25, rss=5000)})
    text = render(SystemCollector(psutil_module=ps, pid=7))
    assert value(text, "mlscope_host_load_average", period="5m") == 0.25
    assert value(text, "mlscope_host_memory_used_bytes") == 5_000  # total minus available
    assert value(text, "mlscope_host_memory_available_bytes") == 3_000
    assert value(text, "mlscope_host_disk_read_bytes_total") == 4096
    assert value(text, "mlscope_host_disk_written_bytes_total") == 8192
    assert value(text, "mlscope_host_network_receive_bytes_total") == 222
    assert value(text, "mlscope_host_network_transmit_bytes_total") == 111
    assert value(text, "mlscope_process_cpu_seconds_total", process="gunicorn") == 2.25
    assert value(text, "mlscope_process_resident_memory_bytes", process="gunicorn") == 5000
    assert value(text, "mlscope_process_open_fds", process="gunicorn") == 10
    promtool_check(promtool, text)


def test_process_name_sums_all_workers_and_matches_script_names() -> None:
    ps = FakePsutil(
        cpu=[_cpu(1, 3)],
        procs={
            1: FakeProcess(1, "python3", argv=("python3", "-m", "uvicorn", "app:app"), rss=100, threads=2),
            2: FakeProcess(2, "uvicorn", rss=200, threads=3),
            3: FakeProcess(3, "postgres", rss=10_000),
        },
    )
    c = SystemCollector(psutil_module=ps, process_name="uvicorn")
    text = render(c)
    assert value(text, "mlscope_process_resident_memory_bytes", process="uvicorn") == 300
    assert value(text, "mlscope_process_threads", process="uvicorn") == 5
    ps.procs[2].alive = False  # a worker exits between scrapes
    assert value(render(c), "mlscope_process_threads", process="uvicorn") == 2


def test_missing_sources_drop_only_their_series_and_log_once(caplog: pytest.LogCaptureFixture) -> None:
    ps = FakePsutil(cpu=[_cpu(1, 3)], disk=None, net=None, load_fails=True)
    c = SystemCollector(psutil_module=ps, pid=99)  # no such process
    with caplog.at_level(logging.WARNING, logger="mlscope.collectors.system"):
        text = render(c)
        render(c)
    got = names(text)
    assert "mlscope_host_memory_total_bytes" in got and "mlscope_host_cpu_utilization_ratio" in got
    assert (
        not {
            "mlscope_host_disk_read_bytes_total",
            "mlscope_host_network_receive_bytes_total",
            "mlscope_host_load_average",
        }
        & got
    )
    assert not PROCESS_SERIES & got
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4, messages  # load, disk, network, process: once each over two scrapes
    assert any("no process matches pid 99" in m for m in messages)


def test_constructor_rejects_conflicting_targets() -> None:
    with pytest.raises(ValueError, match="either 'pid' or 'process_name'"):
        SystemCollector(pid=1, process_name="x")
    with pytest.raises(ValueError, match="'pid' must be a positive int"):
        SystemCollector(pid=0)
