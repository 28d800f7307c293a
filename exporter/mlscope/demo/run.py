"""``mlscope demo`` (``make demo``): the demo stack as local processes, no docker needed.

Starts, in order: the demo model app (which trains its two models, credit-risk on
tabular features and support-topic on free text, and writes their reference profiles),
the sidecar exporter on those profiles, the webhook receiver that shows pages,
Prometheus and Alertmanager on the shipped configuration (when their binaries are
installed: Debian's ``prometheus`` and ``prometheus-alertmanager``) with storage under
the work folder, the preview of the shipped dashboards on that Prometheus
(:mod:`mlscope.preview`), and the traffic generator. It prints the URLs to open and draws a live
summary (requests, drifted features, firing alerts, pages received) until Ctrl-C,
SIGTERM or ``--duration``, then stops every process it started, newest first.

Each child runs in its own session so that Ctrl-C reaches only this process, which
then stops the children in order; each child's output goes to ``<workdir>/logs/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from mlscope.demo.model import MODEL_NAME
from mlscope.demo.topic_model import MODEL_NAME as TOPIC_MODEL_NAME


@dataclass(frozen=True)
class Ports:
    """Where each part listens: the ports of the shipped configuration, optionally shifted.

    The defaults are those of prometheus/prometheus.yml and of the webhook URL in
    alertmanager/alertmanager.yml (5001); ``--port-offset`` moves them all (to run beside
    something that holds them), and the config overlays follow.
    """

    app: int = 8000
    sidecar: int = 9108
    prometheus: int = 9090
    alertmanager: int = 9093
    receiver: int = 5001
    preview: int = 3001  # the dashboards' preview; compose's Grafana keeps 3000

    def shifted(self, offset: int) -> Ports:
        return Ports(*(p + offset for p in self.as_tuple()))

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.app, self.sidecar, self.prometheus, self.alertmanager, self.receiver, self.preview)
INSTALL_HINT = ("Prometheus and Alertmanager are not installed; the demo runs without alerting. "
                "Install them with: sudo apt-get install prometheus prometheus-alertmanager")


@dataclass
class Child:
    """A process the demo started, with where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Stack:
    """The processes of one demo run; :meth:`stop` ends them newest first."""

    workdir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], *, env: dict[str, str] | None = None) -> Child:
        log_path = self.workdir / "logs" / f"{name}.log"
        out = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's life
        try:
            proc = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        finally:
            out.close()  # the child holds its own descriptor
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def stop(self, timeout_s: float = 10.0) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.terminate()
        deadline = time.monotonic() + timeout_s
        for child in reversed(self.children):
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(5)
        self.children.clear()

    def dead(self) -> list[Child]:
        return [c for c in self.children if c.proc.poll() is not None]


def find_binary(*names: str) -> str | None:
    """The first of ``names`` on PATH (Debian calls Alertmanager prometheus-alertmanager)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now.

    SO_REUSEADDR as the servers themselves set it: connections of a previous run left in
    TIME_WAIT do not make the port busy.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def wait_ready(url: str, child: Child, timeout_s: float) -> None:
    """Poll ``url`` until it answers below 500; fail naming the child and its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with status {child.proc.returncode}; "
                               f"see {child.log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} did not answer {url} within {timeout_s:.0f}s; see {child.log_path}")


def repo_root() -> Path | None:
    """The folder holding the shipped prometheus/ and alertmanager/ configuration."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        if (base / "prometheus" / "prometheus.yml").is_file() and (base / "alertmanager").is_dir():
            return base
    return None


def config_root(workdir: Path, shipped: Path | None) -> Path:
    """``shipped`` (a checkout's configuration, :func:`repo_root`), else it generated into ``workdir/config``.

    A ``pip install`` has no prometheus/ or alertmanager/ folder: ``mlscope config``'s
    generator writes them (its defaults are what a checkout ships) so the demo alerts anyway.
    """
    if shipped is not None:
        return shipped
    from mlscope.config_gen.config import load
    from mlscope.config_gen.generate import write

    out = workdir / "config"
    write(load(), out)
    return out


def fetch(url: str, timeout_s: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return bytes(r.read())
    except (OSError, ValueError):
        return None


@dataclass
class Snapshot:
    """What the live summary shows, read from the running parts."""

    scenario: str = "?"
    held: bool = False
    requests: float = 0.0
    server_errors: float = 0.0
    rows: float = 0.0
    drifted: list[str] = field(default_factory=list)
    drift_share: float | None = None  # credit-risk's
    accuracy: float | None = None  # credit-risk's
    text_accuracy: float | None = None  # the text model's (support-topic)
    firing: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)  # the last five
    n_pages: int = 0


def read_snapshot(ports: Ports, *, prometheus: bool) -> Snapshot:
    """Scrape the app and the sidecar, ask Prometheus for alerts and the receiver for pages."""
    from prometheus_client.parser import text_string_to_metric_families

    from mlscope.catalogue import HTTP_REQUEST_DURATION
    from mlscope.demo.receiver import page_line

    snap = Snapshot()
    raw = fetch(f"http://127.0.0.1:{ports.app}/control/scenario")
    if raw:
        state = orjson.loads(raw)
        snap.scenario, snap.held = str(state.get("scenario", "?")), bool(state.get("held"))
    raw = fetch(f"http://127.0.0.1:{ports.app}/metrics")
    for fam in text_string_to_metric_families(raw.decode()) if raw else ():
        if fam.name == HTTP_REQUEST_DURATION:
            for s in fam.samples:
                if s.name.endswith("_count"):
                    snap.requests += s.value
                    if str(s.labels.get("http_response_status_code", "")).startswith("5"):
                        snap.server_errors += s.value
    raw = fetch(f"http://127.0.0.1:{ports.sidecar}/metrics")
    for fam in text_string_to_metric_families(raw.decode()) if raw else ():
        for s in fam.samples:
            read_sidecar_sample(snap, s.name, s.labels, s.value)
    if prometheus:
        raw = fetch(f"http://127.0.0.1:{ports.prometheus}/api/v1/alerts")
        if raw:
            for a in orjson.loads(raw).get("data", {}).get("alerts", []):
                lab = a.get("labels", {})
                if a.get("state") == "firing" and lab.get("alertname") != "Watchdog":
                    where = ",".join(lab[k] for k in ("feature", "output") if k in lab)
                    snap.firing.append(f"{lab.get('alertname')}{'(' + where + ')' if where else ''}")
        raw = fetch(f"http://127.0.0.1:{ports.receiver}/pages")
        if raw:
            pages = [p for p in orjson.loads(raw).get("pages", [])
                     if p.get("labels", {}).get("alertname") != "Watchdog"]
            snap.n_pages = len(pages)
            snap.pages = [page_line(p, p.get("status", "")) for p in pages[-5:]]
    return snap


def read_sidecar_sample(snap: Snapshot, name: str, labels: dict[str, str], value: float) -> None:
    """One sample of the sidecar's /metrics into ``snap`` (two models: credit-risk and the text one)."""
    credit = labels.get("model") == MODEL_NAME
    five = labels.get("window") == "5m"
    if name == "mlscope_rows_total":
        snap.rows += value
    elif name == "mlscope_feature_drift_detected" and five and value == 1:
        feature = labels.get("feature", "?")
        snap.drifted.append(feature if credit else f"{feature} ({labels.get('model')})")
    elif name == "mlscope_dataset_drift_share_ratio" and five and credit:
        snap.drift_share = value
    elif name == "mlscope_model_quality_ratio" and labels.get("metric") == "accuracy" and five:
        if credit:
            snap.accuracy = value
        else:
            snap.text_accuracy = value


def _accuracy(snap: Snapshot) -> str:
    acc = f"{snap.accuracy:.3f}" if snap.accuracy is not None else "pending"
    return acc + (f", {TOPIC_MODEL_NAME} {snap.text_accuracy:.3f}" if snap.text_accuracy is not None else "")


def render(snap: Snapshot, started: float, urls: dict[str, str]) -> Any:
    """The live summary as a rich renderable."""
    from rich.table import Table

    t = Table(title=f"mlscope demo — {time.monotonic() - started:,.0f}s — Ctrl-C to stop", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    err = f" ({snap.server_errors / snap.requests:.1%} 5xx)" if snap.requests else ""
    t.add_row("scenario", snap.scenario + (" (held: PUT cycle to resume the cycle)" if snap.held else ""))
    t.add_row("requests", f"{snap.requests:,.0f}{err}")
    t.add_row("rows ingested", f"{snap.rows:,.0f}")
    share = f"{snap.drift_share:.0%}" if snap.drift_share is not None else "—"
    t.add_row("drift (5m)", f"{', '.join(sorted(snap.drifted)) or 'none'} — dataset share {share}")
    t.add_row("accuracy (5m)", _accuracy(snap).replace("pending", "— (labels pending)"))
    t.add_row("firing alerts", ", ".join(snap.firing) or "none")
    t.add_row("last pages", "\n".join(snap.pages) or "none")
    for name, url in urls.items():
        t.add_row(name, url)
    return t


def summary_line(snap: Snapshot, elapsed_s: float) -> str:
    """The live summary as one plain line, printed periodically when the output is no terminal."""
    err = f"{snap.server_errors / snap.requests:.1%}" if snap.requests else "0.0%"
    acc = _accuracy(snap)
    return (f"mlscope demo {elapsed_s:,.0f}s: scenario {snap.scenario}{' (held)' if snap.held else ''}, "
            f"{snap.requests:,.0f} requests ({err} 5xx), {snap.rows:,.0f} rows ingested, "
            f"drifted (5m): {', '.join(sorted(snap.drifted)) or 'none'}, accuracy (5m): {acc}, "
            f"firing: {', '.join(snap.firing) or 'none'}, pages: {snap.n_pages}"
            + (f" (last: {snap.pages[-1]})" if snap.pages else ""))


def start_preview(stack: Stack, root: Path, ports: Ports, console: Any) -> list[str]:
    """Serve the dashboards' preview (:mod:`mlscope.preview`); returns its page URLs.

    Without plotly (``pip install 'mlscope[demo]'``) the demo says so and runs without it.
    """
    from mlscope.preview.app import PLOTLY_HINT, load_dashboards, plotly_js

    try:
        plotly_js()
    except RuntimeError:
        console.print(f"[yellow]no dashboard preview: {PLOTLY_HINT}[/]")
        return []
    folder = root / "grafana" / "dashboards"
    child = stack.start("preview", [sys.executable, "-m", "mlscope.preview", "--port", str(ports.preview),
                                    "--prometheus", f"http://127.0.0.1:{ports.prometheus}",
                                    "--dashboards", str(folder)])
    base = f"http://127.0.0.1:{ports.preview}"
    wait_ready(f"{base}/healthz", child, 30)
    return [f"{base}/d/{uid}" for uid in load_dashboards(folder)]


def write_configs(root: Path, workdir: Path, ports: Ports) -> tuple[Path, Path]:
    """Overlays of the shipped configs for this run (see :mod:`mlscope.demo.overlay`).

    Prometheus: as shipped, with targets moved to ``ports`` (the same as shipped unless
    ``--port-offset`` is given) and the rule folder made absolute because the file is
    written elsewhere. Alertmanager: as shipped but webhooks
    only, so pages show in the local receiver and nothing tries to reach Slack,
    PagerDuty or a mail server with the placeholder secrets.
    """
    from mlscope.demo import overlay

    shipped = overlay.load_yaml(root / "prometheus" / "prometheus.yml")
    moved = dict(zip(Ports().as_tuple(), ports.as_tuple(), strict=True))

    def move(target: str, where: str) -> str:
        port = int(target.rsplit(":", 1)[1])
        if port not in moved:
            raise RuntimeError(f"{where}: target {target} is on no port the demo knows ({sorted(moved)})")
        return f"127.0.0.1:{moved[port]}"

    targets = {sc["job_name"]: [move(t, f"job {sc['job_name']}") for t in sc["static_configs"][0]["targets"]]
               for sc in shipped["scrape_configs"]}
    am_target = move(shipped["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0], "alerting")
    rules = [str(root / "prometheus" / r) for r in shipped.get("rule_files", [])]
    prom = overlay.prometheus_overlay(shipped, targets=targets, alertmanager=am_target, rule_files=rules)
    am = overlay.alertmanager_overlay(overlay.load_yaml(root / "alertmanager" / "alertmanager.yml"),
                                      webhook_base=f"http://127.0.0.1:{ports.receiver}",
                                      templates_dir=root / "alertmanager" / "templates")
    return (overlay.dump(prom, workdir / "prometheus.yml"), overlay.dump(am, workdir / "alertmanager.yml"))


SUMMARY_INTERVAL_S = 15.0
# module -> distribution of what the demo's processes import beyond a plain install
DEMO_EXTRA_MODULES = {"fastapi": "fastapi", "sklearn": "scikit-learn", "httpx": "httpx",
                      "chatterbot_corpus": "chatterbot-corpus"}
DEMO_EXTRA_HINT = "pip install 'mlscope[demo]'"


def missing_demo_packages() -> list[str]:
    """Distributions of the demo extra that are not installed (a plain ``pip install mlscope``)."""
    import importlib.util

    return [dist for mod, dist in DEMO_EXTRA_MODULES.items() if importlib.util.find_spec(mod) is None]


@dataclass
class Watch:
    """Shows the running stack until Ctrl-C, ``duration`` or a child's death."""

    stack: Stack
    ports: Ports
    alerting: bool
    urls: dict[str, str]
    duration: float
    stopping: list[int]
    console: Any
    started: float = field(default_factory=time.monotonic)

    def _status(self) -> int | None:
        """``None`` while the demo goes on, else its exit status."""
        if self.stopping or (self.duration and time.monotonic() - self.started >= self.duration):
            return 0
        dead = self.stack.dead()
        if not dead:
            return None
        c = dead[0]
        self.console.print(f"[red]{c.name} exited with status {c.proc.returncode}; see {c.log_path}[/]")
        return 1

    def _pause(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(0.1)

    def _snapshot(self) -> Snapshot:
        return read_snapshot(self.ports, prometheus=self.alerting)

    def live(self) -> int:
        """A table redrawn every two seconds (a terminal)."""
        from rich.live import Live

        with Live(render(self._snapshot(), self.started, self.urls), console=self.console,
                  refresh_per_second=1, transient=False) as live:
            while (status := self._status()) is None:
                live.update(render(self._snapshot(), self.started, self.urls))
                self._pause(2.0)
        return status

    def plain(self, interval_s: float) -> int:
        """The URLs once, then a summary line every ``interval_s`` seconds (no terminal)."""
        for name, url in self.urls.items():
            print(f"{name}: " + "\n    ".join(url.splitlines()), flush=True)
        while (status := self._status()) is None:
            print(summary_line(self._snapshot(), time.monotonic() - self.started), flush=True)
            self._pause(interval_s)
        return status


def demo_command(args: argparse.Namespace) -> int:
    """Run the demo stack until Ctrl-C or ``--duration``; returns an exit status."""
    from rich.console import Console

    # A live table on a terminal; piped or redirected (`make demo | tee log`) everything goes
    # to stdout as plain lines, with a summary line every --summary-interval seconds.
    interactive = sys.stdout.isatty() and sys.stderr.isatty()
    console = Console(stderr=interactive)
    interval = getattr(args, "summary_interval", SUMMARY_INTERVAL_S)
    refused = _refusal(interval)
    if refused:
        print(f"mlscope: error: {refused}", file=sys.stderr)
        return 2
    workdir = Path(args.workdir).resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    bins = (find_binary("prometheus"), find_binary("alertmanager", "prometheus-alertmanager"))
    alerting = all(bins)
    if not alerting:
        console.print(f"[yellow]{INSTALL_HINT}[/]")
    ports = Ports().shifted(args.port_offset)
    busy = [p for p in _needed_ports(ports, alerting) if not port_free(p)]
    if busy:
        console.print(f"[red]port(s) {', '.join(map(str, busy))} on 127.0.0.1 are in use; stop what "
                      "holds them (an earlier demo?) and retry.[/]")
        return 1

    stack = Stack(workdir)
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        urls = _start_model_side(stack, workdir, ports, console)
        if alerting:
            urls |= _start_alerting(stack, workdir, ports, bins, console)
        stack.start("traffic", [sys.executable, "-m", "mlscope.demo.traffic",
                                "--target", f"http://127.0.0.1:{ports.app}", "--scenario", args.scenario])
        urls |= _scenario_urls(ports, args.scenario)
        urls["logs"] = str(workdir / "logs")
        watch = Watch(stack, ports, alerting, urls, args.duration, stopping, console)
        return watch.live() if interactive else watch.plain(interval)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    finally:
        console.print("\nstopping the demo processes…")
        stack.stop()
        for s, handler in old.items():
            signal.signal(s, handler)


def _refusal(interval: float) -> str | None:
    """Why the demo cannot start (a bad option, a missing package), before anything starts."""
    if not interval > 0:
        return f"'--summary-interval' must be > 0 seconds (got {interval!r})"
    missing = missing_demo_packages()
    if missing:  # else the app dies at start and the reason is in its log only
        return f"the demo needs {', '.join(missing)}: {DEMO_EXTRA_HINT}"
    return None


def _needed_ports(ports: Ports, alerting: bool) -> list[int]:
    needed = [ports.app, ports.sidecar, ports.receiver]
    return needed + [ports.prometheus, ports.alertmanager, ports.preview] if alerting else needed


def _start_model_side(stack: Stack, workdir: Path, ports: Ports, console: Any) -> dict[str, str]:
    """The model app (it trains both models, writes their profiles), the sidecar, the receiver."""
    py = sys.executable
    profiles = {MODEL_NAME: workdir / "reference.json", TOPIC_MODEL_NAME: workdir / "reference-topics.json"}
    console.print("starting the demo model app (trains the models, writes the reference profiles)…")
    app = stack.start("app", [py, "-m", "mlscope.demo.app", "--port", str(ports.app),
                              "--sidecar", f"http://127.0.0.1:{ports.sidecar}",
                              "--profile-out", str(profiles[MODEL_NAME]),
                              "--text-profile-out", str(profiles[TOPIC_MODEL_NAME])])
    wait_ready(f"http://127.0.0.1:{ports.app}/healthz", app, 120)
    models: dict[str, dict[str, Any]] = {name: {"profile": str(path)} for name, path in profiles.items()}
    # The utterances are a public corpus, no personal data: the drill-down rows may show the
    # raw text (off by default, docs/drift.md#text-and-embedding-inputs).
    models[TOPIC_MODEL_NAME]["samples"] = {"text": True}
    config = workdir / "sidecar.json"  # JSON is YAML: the sidecar's --config reads it
    config.write_bytes(orjson.dumps({"host": "127.0.0.1", "port": ports.sidecar, "pid": app.proc.pid,
                                     "models": models}))
    sidecar = stack.start("sidecar", [py, "-m", "mlscope", "serve", "--config", str(config)])
    wait_ready(f"http://127.0.0.1:{ports.sidecar}/healthz", sidecar, 60)
    receiver = stack.start("receiver", [py, "-m", "mlscope.demo.receiver", "--port", str(ports.receiver)])
    wait_ready(f"http://127.0.0.1:{ports.receiver}/healthz", receiver, 30)
    return {
        "app (OpenAPI)": f"http://127.0.0.1:{ports.app}/docs",
        "app metrics": f"http://127.0.0.1:{ports.app}/metrics",
        "sidecar metrics": f"http://127.0.0.1:{ports.sidecar}/metrics",
        "pages received": f"http://127.0.0.1:{ports.receiver}/pages",
    }


def _start_alerting(
    stack: Stack, workdir: Path, ports: Ports, bins: tuple[str | None, str | None], console: Any
) -> dict[str, str]:
    """Alertmanager, Prometheus and the dashboards' preview, on the shipped configuration."""
    prometheus_bin, alertmanager_bin = bins
    if not (prometheus_bin and alertmanager_bin):
        return {}
    root = config_root(workdir, repo_root())
    prom_cfg, am_cfg = write_configs(root, workdir, ports)
    am = stack.start("alertmanager", [
        alertmanager_bin, f"--config.file={am_cfg}",
        f"--storage.path={workdir / 'alertmanager-data'}", "--cluster.listen-address=",
        f"--web.listen-address=127.0.0.1:{ports.alertmanager}"])
    wait_ready(f"http://127.0.0.1:{ports.alertmanager}/-/ready", am, 30)
    prom = stack.start("prometheus", [
        prometheus_bin, f"--config.file={prom_cfg}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{ports.prometheus}"])
    wait_ready(f"http://127.0.0.1:{ports.prometheus}/-/ready", prom, 30)
    urls = {
        "Prometheus alerts": f"http://127.0.0.1:{ports.prometheus}/alerts",
        "Alertmanager": f"http://127.0.0.1:{ports.alertmanager}",
    }
    dashboards = start_preview(stack, root, ports, console)
    if dashboards:
        urls["dashboards (preview)"] = "\n".join(dashboards)
    return urls


def _scenario_urls(ports: Ports, scenario: str) -> dict[str, str]:
    put = (f"curl -X PUT http://127.0.0.1:{ports.app}/control/scenario "
           "-H 'content-type: application/json' ")
    urls = {"switch scenario (holds)": put + "-d '{\"scenario\": \"drift_one\"}'",
            "text model scenario": put + "-d '{\"scenario\": \"new_language\"}'"}
    if scenario == "cycle":
        urls["back to the cycle"] = put + "-d '{\"scenario\": \"cycle\"}'"
    return urls
