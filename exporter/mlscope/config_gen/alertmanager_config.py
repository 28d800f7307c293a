"""alertmanager/alertmanager.yml: routing by severity, grouping, inhibition, receivers.

Routing: ``Watchdog`` goes to its own heartbeat receiver (a dead-man switch service that
raises the alarm when the notifications *stop*), ``severity=page`` to PagerDuty (and
chat), ``severity=ticket`` to chat and e-mail. Every receiver also posts to a webhook,
which the end-to-end tests and custom integrations read. Secrets are read from files
under ``alertmanager/secrets/`` (placeholders in the repository; replace them), never
written into the configuration.
"""

from __future__ import annotations

from typing import Any

from mlscope.config_gen.alert_specs import alerts, tier_inhibit_rules
from mlscope.config_gen.config import Config

WEBHOOK_URL = "http://127.0.0.1:5001/alerts"
WATCHDOG_URL = "http://127.0.0.1:5001/watchdog"


def alertmanager_config(cfg: Config) -> dict[str, Any]:
    """The Alertmanager configuration (relative secret paths resolve against its folder)."""
    return {
        "global": {
            "resolve_timeout": "5m",
            "smtp_smarthost": "localhost:25",
            "smtp_from": "mlscope-alerts@example.org",
            "smtp_require_tls": False,
        },
        "templates": ["templates/*.tmpl"],
        "route": _route(),
        "inhibit_rules": _inhibit_rules(cfg),
        "receivers": _receivers(),
    }


def _route() -> dict[str, Any]:
    return {
        "receiver": "ticket",
        "group_by": ["alertname", "model", "job"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
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
                "matchers": ['severity="page"'],
                "receiver": "page",
                "group_wait": "10s",
                "repeat_interval": "1h",
            },
            {"matchers": ['severity="ticket"'], "receiver": "ticket", "repeat_interval": "12h"},
        ],
    }


def _inhibit_rules(cfg: Config) -> list[dict[str, Any]]:
    # Alerts whose figures are meaningless while the job that produces them is down.
    blind_when_down = "|".join(a.name for a in alerts(cfg) if a.blind_when_down)
    return [
        # A down target makes its drift and quality figures stale; its own alert says why.
        {
            "source_matchers": ['alertname="MlscopeTargetDown"'],
            "target_matchers": [f'alertname=~"{blind_when_down}"'],
            "equal": ["job"],
        },
        # A page already wakes someone: drop the ticket of the same alert and object.
        {
            "source_matchers": ['severity="page"'],
            "target_matchers": ['severity="ticket"'],
            "equal": ["alertname", "job", "model"],
        },
        # A fast-tier page (a broken feature, collapsed predictions) holds back the slow
        # tier's tickets of the same model and feature.
        *tier_inhibit_rules(cfg),
    ]


def _receivers() -> list[dict[str, Any]]:
    webhook = {"url": WEBHOOK_URL, "send_resolved": True, "max_alerts": 50}
    slack = {
        "api_url_file": "secrets/slack_api_url",
        "channel": "#mlscope-alerts",
        "send_resolved": True,
        "title": '{{ template "mlscope.title" . }}',
        "text": '{{ template "mlscope.text" . }}',
    }
    return [
        {
            "name": "page",
            "pagerduty_configs": [
                {
                    "routing_key_file": "secrets/pagerduty_routing_key",
                    "description": '{{ template "mlscope.title" . }}',
                    "details": {"firing": '{{ template "mlscope.text" . }}'},
                    "send_resolved": True,
                }
            ],
            "slack_configs": [slack],
            "webhook_configs": [webhook],
        },
        {
            "name": "ticket",
            "slack_configs": [slack],
            "email_configs": [
                {
                    "to": "ml-oncall@example.org",
                    "auth_username": "mlscope-alerts@example.org",
                    "auth_password_file": "secrets/smtp_password",
                    "headers": {"Subject": '{{ template "mlscope.title" . }}'},
                    "html": '{{ template "mlscope.html" . }}',
                    "send_resolved": True,
                }
            ],
            "webhook_configs": [webhook],
        },
        {
            "name": "watchdog",
            # Alertmanager 0.25 has no url_file for webhooks: the heartbeat service's
            # token travels as a bearer credential read from a file instead.
            "webhook_configs": [
                {
                    "url": WATCHDOG_URL,
                    "send_resolved": False,
                    "http_config": {
                        "authorization": {"type": "Bearer", "credentials_file": "secrets/watchdog_token"}
                    },
                }
            ],
        },
    ]
