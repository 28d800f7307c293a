"""The generated Alertmanager configuration: amtool checks, routing, inhibition, messages.

Routing is checked with ``amtool config routes test --verify.receivers`` against mlscope's
own tree and a kube-prometheus-stack style one (tests/config/fixtures). Inhibition and
the messages with a real Alertmanager on loopback, run on a folder that ``mlscope config``
wrote: Slack, PagerDuty and webhooks post to a capture server, e-mail goes to a capture
SMTP server, so each rendered notification is read as a person would get it.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlscope.config_gen import load, write
from mlscope.config_gen.__main__ import main as config_main
from mlscope.config_gen.alert_specs import tier_inhibit_rules
from mlscope.errors import ConfigError
from tests._servers import REPO, Proc, free_port, wait_http
from tests.config import _capture
from tests.config._tree import walk

AM = REPO / "alertmanager"
CONFIG = AM / "alertmanager.yml"
KPS_TREE = Path(__file__).parent / "fixtures" / "kube-prometheus-stack-alertmanager.yml"
ALERTS = REPO / "prometheus" / "rules" / "mlscope-alerts.yml"


def test_config_passes_amtool_check(amtool: str) -> None:
    out = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # Two of its own, plus the model tiers' (a fast-tier page holds back the slow tier).
    n_inhibit = 2 + len(tier_inhibit_rules(load()))
    assert "3 receivers" in out.stdout and f"{n_inhibit} inhibit rules" in out.stdout
    assert "1 templates" in out.stdout


def test_every_secret_is_read_from_a_shipped_file() -> None:
    text = CONFIG.read_text()
    files = {v for k, v in walk(yaml.safe_load(text)) if k.endswith("_file")}
    assert len(files) == 4
    for f in files:
        assert (AM / f).is_file(), f"{f} referenced by alertmanager.yml is missing"
    assert "hooks.slack.com/services/" not in text and "routing_key:" not in text


def _route(amtool: str, config: Path, labels: list[str], receiver: str) -> None:
    out = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={receiver}",
         *labels],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, f"{labels} -> {out.stdout.strip()} (expected {receiver}) {out.stderr}"


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=MlscopeErrorBudgetBurn", "severity=critical", "job=mlscope-demo-app"], "page"),
        (["alertname=MlscopeFeatureDrift", "severity=warning", "model=churn", "feature=age"], "ticket"),
        (["alertname=Watchdog", "severity=none"], "watchdog"),
        # other rule sets on the kube-prometheus convention route the same way
        (["alertname=KubePodCrashLooping", "severity=warning", "namespace=ml"], "ticket"),
        (["alertname=KubeAPIDown", "severity=critical"], "page"),
        (["alertname=KubeQuotaAlmostFull", "severity=info"], "ticket"),
        (["alertname=SomethingElse"], "ticket"),
    ],
)
def test_alerts_route_by_severity_value_and_watchdog_to_its_own_receiver(
    amtool: str, labels: list[str], receiver: str
) -> None:
    _route(amtool, CONFIG, labels, receiver)


def _mlscope_alert_labels() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return sorted({(r["alert"], r["labels"]["severity"]) for g in groups for r in g["rules"]})


@pytest.mark.parametrize(
    ("tree", "by_severity"),
    [
        (CONFIG, {"critical": "page", "warning": "ticket"}),
        (KPS_TREE, {"critical": "pager", "warning": "chat"}),
    ],
    ids=["mlscope", "kube-prometheus-stack"],
)
def test_every_mlscope_alert_lands_by_its_severity_in_both_trees(
    amtool: str, tree: Path, by_severity: dict[str, str]
) -> None:
    pairs = _mlscope_alert_labels()
    assert {s for _, s in pairs} == {"critical", "warning", "none"}  # the shipped values
    watchdog = "watchdog" if tree == CONFIG else "null"
    for alert, severity in pairs:
        expected = watchdog if alert == "Watchdog" else by_severity[severity]
        _route(amtool, tree, [f"alertname={alert}", f"severity={severity}", "job=j", "model=m"], expected)


def test_severity_values_are_a_setting(amtool: str, tmp_path: Path) -> None:
    cfg = load({"alerting": {"severity": {"page": "page", "ticket": "ticket"}}})
    write(cfg, tmp_path)
    rules = (tmp_path / "prometheus/rules/mlscope-alerts.yml").read_text()
    assert "severity: page" in rules and "severity: critical" not in rules
    tests = (tmp_path / "prometheus/tests/alerts_model_test.yml").read_text()
    assert "severity: ticket" in tests and "severity: warning" not in tests
    am = tmp_path / "alertmanager/alertmanager.yml"
    _route(amtool, am, ["alertname=MlscopeAccuracyBelowBaseline", "severity=page"], "page")
    _route(amtool, am, ["alertname=KubeAPIDown", "severity=critical"], "ticket")


@pytest.fixture(scope="module")
def alertmanager(alertmanager_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager on a folder `mlscope config` wrote; every receiver on loopback.

    The settings point the webhook, the heartbeat and e-mail at capture servers and set
    group_wait to 0s; the Slack URL is the user's secret file, written before generation
    (which keeps it). PagerDuty's API URL is no setting, so it alone is edited in.
    """
    http, smtp = _capture.start_http(), _capture.start_smtp()
    base = f"http://127.0.0.1:{http.server_port}"
    root = tmp_path_factory.mktemp("am")
    (root / "alertmanager/secrets").mkdir(parents=True)
    (root / "alertmanager/secrets/slack_api_url").write_text(f"{base}/slack\n")
    settings = {"alerting": {
        "group_wait": "0s", "page_group_wait": "0s",
        "webhook": {"url": f"{base}/webhook"}, "watchdog": {"url": f"{base}/watchdog"},
        "email": {"smarthost": f"127.0.0.1:{smtp.server_address[1]}", "to": "oncall@example.org"},
    }}
    (root / "settings.yml").write_text(yaml.safe_dump(settings))
    assert config_main(["--out", str(root), "--settings", str(root / "settings.yml")]) == 0
    cfg_path = root / "alertmanager/alertmanager.yml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["receivers"][0]["pagerduty_configs"][0]["url"] = f"{base}/pagerduty"
    cfg_path.write_text(yaml.safe_dump(cfg))
    port = free_port()
    args = [alertmanager_bin, f"--config.file={cfg_path}", f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    # Alertmanager 0.25 reads *_file secrets relative to its working directory.
    with Proc(args, log=root / "am.log", cwd=root / "alertmanager") as p:
        wait_http(f"http://127.0.0.1:{port}/-/ready", proc=p)
        yield f"http://127.0.0.1:{port}"
    for server in (http, smtp):
        server.shutdown()
        server.server_close()


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(
        f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def _alert(samples: bool = True, **labels: str) -> dict[str, Any]:
    model = labels.get("model", "-")
    ann = {
        "summary": "s",
        "description": f"value 0.42 for {labels.get('feature', '-')}",
        "runbook_url": f"https://example.org/runbooks.md#{labels['alertname'].lower()}",
        "dashboard_url": f"http://grafana.example:3000/d/mlscope-model-health/x?var-model={model}",
    }
    if samples:
        ann["samples_url"] = f"http://sidecar.example:9108/v1/samples?model={model}&feature=a%20b"
    return {"labels": labels, "annotations": ann}


def _status(url: str) -> dict[str, dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=10) as r:
        data = json.loads(r.read())
    return {
        f"{a['labels']['alertname']}/{a['labels'].get('job', '')}/{a['labels'].get('severity')}": a["status"]
        for a in data
    }


def _wait_for(what: str, find: Callable[[], Any], timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while (found := find()) is None:
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.1)
    return found


def test_down_target_silences_its_drift_alerts_and_page_silences_its_ticket(alertmanager: str) -> None:
    url = alertmanager
    _post(url, [
        _alert(alertname="MlscopeTargetDown", severity="critical", job="mlscope-sidecar", instance="a"),
        _alert(alertname="MlscopeFeatureDrift", severity="warning", job="mlscope-sidecar", model="churn"),
        _alert(alertname="MlscopeFeatureDrift", severity="warning", job="other-sidecar", model="churn"),
        _alert(alertname="MlscopeErrorBudgetBurn", severity="critical", job="mlscope-demo-app"),
        _alert(alertname="MlscopeErrorBudgetBurn", severity="warning", job="mlscope-demo-app"),
    ])
    st = _wait_for("inhibition", lambda: (s := _status(url)).get(
        "MlscopeFeatureDrift/mlscope-sidecar/warning", {}).get("inhibitedBy") and s or None)
    assert st["MlscopeErrorBudgetBurn/mlscope-demo-app/warning"]["inhibitedBy"], st
    # Not inhibited: another job's drift, and the page itself.
    assert not st["MlscopeFeatureDrift/other-sidecar/warning"]["inhibitedBy"], st
    assert not st["MlscopeErrorBudgetBurn/mlscope-demo-app/critical"]["inhibitedBy"], st
    assert not st["MlscopeTargetDown/mlscope-sidecar/critical"]["inhibitedBy"], st


def _posted(path: str, marker: str) -> Callable[[], dict[str, Any] | None]:
    def find() -> dict[str, Any] | None:
        posts = list(_capture.HttpCapture.posts)
        return next((b for p, b in posts if p == path and marker in json.dumps(b)), None)
    return find


LINKS = (
    "http://grafana.example:3000/d/mlscope-model-health/x?var-model={m}",
    "http://sidecar.example:9108/v1/samples?model={m}&feature=a%20b",
)


def test_a_page_carries_dashboard_and_drill_down_links_to_slack_and_pagerduty(alertmanager: str) -> None:
    _post(alertmanager, [_alert(alertname="MlscopeAccuracyBelowBaseline", severity="critical",
                                job="fraud-sidecar", model="fraud")])
    dash, samples = (u.format(m="fraud") for u in LINKS)
    slack = _wait_for("Slack message", _posted("/slack", "MlscopeAccuracyBelowBaseline"))["attachments"][0]
    assert slack["title"].startswith("[FIRING:1] MlscopeAccuracyBelowBaseline model=fraud"), slack
    for part in ("model: fraud", "value 0.42", f"dashboard: {dash}", f"drill-down rows: {samples}",
                 "runbook: https://example.org/runbooks.md#mlscopeaccuracybelowbaseline"):
        assert part in slack["text"], (part, slack["text"])
    pd = _wait_for("PagerDuty event", _posted("/pagerduty", "MlscopeAccuracyBelowBaseline"))["payload"]
    assert pd["custom_details"]["dashboard"] == dash and pd["custom_details"]["samples"] == samples, pd
    assert f"drill-down rows: {samples}" in pd["custom_details"]["firing"], pd


def test_a_ticket_mail_links_dashboard_and_drill_down_rows(alertmanager: str) -> None:
    _post(alertmanager, [_alert(alertname="MlscopeDataQualitySpike", severity="warning",
                                job="shop-sidecar", model="shop", feature="amount")])
    dash, samples = (u.format(m="shop") for u in LINKS)
    mails = _capture.SmtpCapture.mails
    mail = _wait_for("e-mail", lambda: next(
        (m for m in list(mails) if "MlscopeDataQualitySpike" in str(m["Subject"])), None))
    assert mail["To"] == "oncall@example.org"
    html = _capture.html_of(mail)
    # html/template escapes & in attributes
    for url in (dash, samples):
        assert f'href="{url.replace("&", "&amp;")}"' in html, (url, html)
    assert ">drill-down rows</a>" in html and ">dashboard</a>" in html


def test_a_derived_feature_page_names_its_raw_input_and_part(alertmanager: str) -> None:
    _post(alertmanager, [
        _alert(alertname="MlscopeFeatureBroken", severity="critical", job="topic-sidecar", model="topics",
               feature="utterance:script", issue="unseen_category"),
        _alert(alertname="MlscopeFeatureBroken", severity="critical", job="topic-sidecar", model="plain",
               feature="age", issue="missing"),
    ])

    def slack_of(model: str) -> str:
        found = _wait_for("Slack message", _posted("/slack", f"model={model}"))
        return str(found["attachments"][0]["text"])

    assert "• feature: utterance:script (input utterance, derived script)\n" in slack_of("topics")
    plain = slack_of("plain")
    assert "• feature: age\n" in plain and "(input" not in plain, plain


def test_an_alert_without_samples_url_gets_no_drill_down_line(alertmanager: str) -> None:
    _post(alertmanager, [_alert(samples=False, alertname="KubeQuotaAlmostFull", severity="warning",
                                job="kube-state-metrics", model="none")])
    slack = _wait_for("Slack message", _posted("/slack", "KubeQuotaAlmostFull"))["attachments"][0]
    assert "dashboard: " in slack["text"] and "drill-down rows" not in slack["text"], slack["text"]



def test_severity_values_must_differ_and_be_quotable() -> None:
    with pytest.raises(ConfigError, match=r"'alerting\.severity': .*three different values"):
        load({"alerting": {"severity": {"ticket": "critical"}}})
    with pytest.raises(ConfigError, match=r"'alerting\.severity\.page': String should match pattern"):
        load({"alerting": {"severity": {"page": 'crit"ical'}}})
