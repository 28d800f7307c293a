"""alertmanager/alertmanager.yml: routing by severity, grouping, inhibition, receivers.

Routing: ``Watchdog`` goes to its own heartbeat receiver (a dead-man switch service that
raises the alarm when the notifications *stop*), the page tier's severity value
(``alerting.severity.page``, ``critical`` by default) to PagerDuty and chat, the ticket
tier's (``warning``) to chat and e-mail; anything else to the ticket receiver. The
values follow the kube-prometheus convention, so other rule sets' ``critical`` and
``warning`` alerts route the same way. Every receiver, its timings and targets are
``alerting.*`` settings. Secrets are read from files (relative to Alertmanager's working
directory), never written into the configuration; :func:`secret_placeholders` lists
each referenced file with the placeholder text written where none exists yet.
"""

from __future__ import annotations

from typing import Any

from mlscope.config_gen.alert_specs import alerts, tier_inhibit_rules
from mlscope.config_gen.config import Config
from mlscope.settings import AlertingSettings, EmailReceiver, PagerDutyReceiver, SlackReceiver

#: The message templates, written beside alertmanager.yml (``templates/*.tmpl``).
TEMPLATE_PATH = "templates/mlscope.tmpl"
_TITLE = '{{ template "mlscope.title" . }}'
_TEXT = '{{ template "mlscope.text" . }}'


def alertmanager_config(cfg: Config) -> dict[str, Any]:
    """The Alertmanager configuration (relative secret paths resolve against its folder)."""
    al = cfg.settings.alerting
    out: dict[str, Any] = {
        "global": {"resolve_timeout": al.resolve_timeout},
        "templates": ["templates/*.tmpl"],
        "route": _route(al),
        "inhibit_rules": _inhibit_rules(cfg),
        "receivers": _receivers(al),
    }
    if al.email is not None:
        out["global"].update(
            smtp_smarthost=al.email.smarthost,
            smtp_from=al.email.from_,
            smtp_require_tls=al.email.require_tls,
        )
    return out


def _route(al: AlertingSettings) -> dict[str, Any]:
    sev = al.severity
    return {
        "receiver": "ticket",
        "group_by": list(al.group_by),
        "group_wait": al.group_wait,
        "group_interval": al.group_interval,
        "repeat_interval": al.repeat_interval,
        "routes": [
            # The heartbeat service expects a steady beat: resend every minute.
            {
                "matchers": ['alertname="Watchdog"'],
                "receiver": "watchdog",
                "group_wait": "0s",
                "group_interval": "1m",
                "repeat_interval": "1m",
            },
            {
                "matchers": [f'severity="{sev.page}"'],
                "receiver": "page",
                "group_wait": al.page_group_wait,
                "repeat_interval": al.page_repeat_interval,
            },
            {
                "matchers": [f'severity="{sev.ticket}"'],
                "receiver": "ticket",
                "repeat_interval": al.ticket_repeat_interval,
            },
        ],
    }


def _inhibit_rules(cfg: Config) -> list[dict[str, Any]]:
    # Alerts whose figures are meaningless while the job that produces them is down.
    blind_when_down = "|".join(a.name for a in alerts(cfg) if a.blind_when_down)
    sev = cfg.settings.alerting.severity
    return [
        # A down target makes its drift and quality figures stale; its own alert says why.
        {
            "source_matchers": ['alertname="MlscopeTargetDown"'],
            "target_matchers": [f'alertname=~"{blind_when_down}"'],
            "equal": ["job"],
        },
        # A page already wakes someone: drop the ticket of the same alert and object.
        {
            "source_matchers": [f'severity="{sev.page}"'],
            "target_matchers": [f'severity="{sev.ticket}"'],
            "equal": ["alertname", "job", "model"],
        },
        # A fast-tier page (a broken feature, collapsed predictions) holds back the slow
        # tier's tickets of the same model and feature.
        *tier_inhibit_rules(cfg),
    ]


def _receivers(al: AlertingSettings) -> list[dict[str, Any]]:
    page: dict[str, Any] = {"name": "page"}
    ticket: dict[str, Any] = {"name": "ticket"}
    if al.pagerduty is not None:
        page["pagerduty_configs"] = [_pagerduty(al.pagerduty)]
    if al.slack is not None:
        page["slack_configs"] = ticket["slack_configs"] = [_slack(al.slack)]
    if al.email is not None:
        ticket["email_configs"] = [_email(al.email)]
    if al.webhook is not None:
        page["webhook_configs"] = ticket["webhook_configs"] = [
            {"url": al.webhook.url, "send_resolved": True, "max_alerts": 50}
        ]
    return [page, ticket, _watchdog(al)]


def _pagerduty(pd: PagerDutyReceiver) -> dict[str, Any]:
    return {
        "routing_key_file": pd.routing_key_file,
        "description": _TITLE,
        # Not `links`: an alert of another rule set has no URL, and an empty href is refused.
        "details": {
            "firing": _TEXT,
            "dashboard": '{{ (index .Alerts 0).Annotations.dashboard_url }}',
            "samples": '{{ (index .Alerts 0).Annotations.samples_url }}',
        },
        "send_resolved": True,
    }


def _slack(slack: SlackReceiver) -> dict[str, Any]:
    return {
        "api_url_file": slack.api_url_file,
        "channel": slack.channel,
        "send_resolved": True,
        "title": _TITLE,
        "text": _TEXT,
    }


def _email(mail: EmailReceiver) -> dict[str, Any]:
    out: dict[str, Any] = {
        "to": mail.to,
        "headers": {"Subject": _TITLE},
        "html": '{{ template "mlscope.html" . }}',
        "send_resolved": True,
    }
    if mail.auth_username:
        out["auth_username"] = mail.auth_username
    if mail.auth_password_file:
        out["auth_password_file"] = mail.auth_password_file
    return out


def _watchdog(al: AlertingSettings) -> dict[str, Any]:
    if al.watchdog is None:
        return {"name": "watchdog"}  # no heartbeat service: the beat goes nowhere
    hook: dict[str, Any] = {"url": al.watchdog.url, "send_resolved": False}
    if al.watchdog.token_file:
        # Alertmanager 0.25 has no url_file for webhooks: the heartbeat service's token
        # travels as a bearer credential read from a file instead.
        hook["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": al.watchdog.token_file}
        }
    return {"name": "watchdog", "webhook_configs": [hook]}


def secret_placeholders(cfg: Config) -> dict[str, str]:
    """Each secret file alertmanager.yml references -> the placeholder written if it is missing."""
    al = cfg.settings.alerting
    out: dict[str, str] = {}
    if al.slack is not None:
        out[al.slack.api_url_file] = "https://hooks.slack.com/services/REPLACE/ME/PLACEHOLDER\n"
    if al.pagerduty is not None:
        out[al.pagerduty.routing_key_file] = "REPLACE-ME-pagerduty-events-v2-routing-key\n"
    if al.email is not None and al.email.auth_password_file:
        out[al.email.auth_password_file] = "REPLACE-ME-smtp-password\n"
    if al.watchdog is not None and al.watchdog.token_file:
        out[al.watchdog.token_file] = "REPLACE-ME-heartbeat-token\n"
    return out
