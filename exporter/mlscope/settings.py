"""The one settings model read by ``mlscope serve`` and by ``python -m mlscope.config_gen``.

Why one model: the sidecar computes drift and quality over its windows with its drift
rules, and the generated Prometheus rules, alerts and dashboards read what it computes.
Kept in two places, they drifted apart silently (an alert on a window the sidecar never
computes cannot fire). Here each setting is declared once, with its type, default and
meaning; the sidecar's configuration (:class:`mlscope.sidecar.config.SidecarConfig`)
extends :class:`Settings`, so one YAML file drives both and a key means the same thing
to each. docs/settings.md is generated from these models (``python -m mlscope._settingsdoc``).

Sections read by the sidecar: ``windows``, ``drift`` (the engine's part), ``labels``.
Sections read by the generator: ``drift`` (the alert part), ``quality``, ``slo``, the
other alert sections, ``alerting`` (Alertmanager routing), ``deploy`` (Kubernetes
labels), ``jobs`` and the URLs; :meth:`Settings.check_alert_windows` refuses
an alert on a window that ``windows`` does not hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from mlscope.durations import EXAMPLES, parse_duration
from mlscope.engine.drift import CATEGORICAL_METHODS, CORRECTIONS, NUMERIC_METHODS, DriftConfig
from mlscope.engine.windows import DEFAULT_WINDOWS, WindowSpec
from mlscope.errors import ConfigError

if TYPE_CHECKING:  # the quality module loads lazily (it imports pandas)
    from mlscope.engine.quality.tracker import QualityConfig


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except ConfigError:
        raise ValueError(f"must be a duration like {EXAMPLES}") from None
    return text


def _positive_duration(text: str) -> str:
    if parse_duration(text) <= 0:
        raise ValueError("must be a positive duration")
    return text


#: A Prometheus duration kept as written: it is a label value and a PromQL range.
Duration = Annotated[str, AfterValidator(_duration)]
#: Marks a field whose value must name one of the sidecar's ``windows``.
SIDECAR_WINDOW: JsonDict = {"sidecar_window": True}


class Section(BaseModel):
    """A settings section: unknown keys are refused; ``for`` is spelled ``for`` in YAML."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class WindowSettings(Section):
    """One sliding window the sidecar computes: its length and its ring of time buckets."""

    duration: Duration = Field(description="Window length; also its `window` label value.")
    buckets: int = Field(12, ge=1, le=1000, description="Time buckets in the ring (memory grows with them).")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return {"duration": data} if isinstance(data, str) else data  # `windows: [10m, 2h]`

    @field_validator("duration")
    @classmethod
    def _positive(cls, v: str) -> str:
        return _positive_duration(v)

    def spec(self) -> WindowSpec:
        return WindowSpec.parse(self.duration, buckets=self.buckets)


_DRIFT = DriftConfig()  # the engine's defaults are the settings' defaults


class DriftSettings(Section):
    """Drift verdicts of the sidecar, and the drift alerts and fleet-wide drift rules."""

    numeric_method: str = Field(_DRIFT.numeric_method, description=f"One of {', '.join(NUMERIC_METHODS)}.")
    numeric_threshold: float = Field(
        _DRIFT.numeric_threshold,
        description="Effect size that flags a numeric column; for `ks`, the KS distance the window must "
        "significantly exceed (0.04: a 0.1 sd mean shift of a normal feature).",
    )
    categorical_method: str = Field(
        _DRIFT.categorical_method, description=f"One of {', '.join(CATEGORICAL_METHODS)}."
    )
    categorical_threshold: float = Field(
        _DRIFT.categorical_threshold,
        description="Effect size that flags a categorical column; for `jensenshannon`, the JS distance "
        "the window must significantly exceed (0.05: about 4% of rows moving between two 20% categories).",
    )
    alpha: float = Field(_DRIFT.alpha, description="Test level after multiple-testing correction.")
    correction: str = Field(_DRIFT.correction, description=f"One of {', '.join(CORRECTIONS)}.")
    min_rows: int = Field(_DRIFT.min_rows, description="Rows a window needs before a column is judged.")
    dataset_share_threshold: float = Field(
        _DRIFT.dataset_share_threshold,
        description="Share of drifted features that makes the dataset drifted (sidecar and alert).",
    )
    window: Duration = Field(
        "1h", json_schema_extra=SIDECAR_WINDOW, description="The sidecar window the drift alerts watch."
    )
    short_window: str | None = Field(
        None,
        json_schema_extra=SIDECAR_WINDOW,
        description="A short sidecar window the drift tickets also watch, so a strong shift tickets "
        "without waiting for it to fill `window`; default: the shortest of `windows` "
        "(equal to `window`: off).",
    )
    for_: Duration = Field("15m", alias="for", description="How long drift must hold before an alert fires.")
    fleet_psi_threshold: float = Field(
        0.25, description="Fleet-wide PSI (PromQL) that alerts; 0.25 is a major shift."
    )
    fleet_min_rows: int = Field(500, description="Rows in `fleet_window` before fleet-wide PSI alerts.")
    fleet_window: Duration = Field("1h", description="Range of the fleet-wide drift recording rules.")

    @field_validator("short_window")
    @classmethod
    def _short_window_is_a_duration(cls, v: str | None) -> str | None:
        return v if v is None else _duration(v)

    def engine_config(self) -> DriftConfig:
        """The engine's drift configuration; its checks name the ``drift.*`` keys."""
        return DriftConfig(
            numeric_method=self.numeric_method,
            numeric_threshold=self.numeric_threshold,
            categorical_method=self.categorical_method,
            categorical_threshold=self.categorical_threshold,
            alpha=self.alpha,
            correction=self.correction,
            min_rows=self.min_rows,
            dataset_share_threshold=self.dataset_share_threshold,
        )

    @model_validator(mode="after")
    def _engine_accepts(self) -> DriftSettings:
        self.engine_config()  # one set of rules: DriftConfig's (a ConfigError names the key)
        return self


class LabelSettings(Section):
    """Predictions waiting for their delayed labels (the quality tracker's label store)."""

    ttl: Duration = Field("7d", description="How long a prediction waits for its label.")
    max_pending: int = Field(100_000, ge=1, description="Predictions kept waiting at most.")
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Memory budget of the waiting predictions.")
    max_classes: int = Field(20, ge=1, description="Classes tracked; the rarer ones count as `other`.")

    def engine_config(self) -> QualityConfig:
        from mlscope.engine.quality.tracker import QualityConfig

        return QualityConfig(
            label_ttl_s=parse_duration(self.ttl, key="labels.ttl"),
            max_pending=self.max_pending,
            max_bytes=self.max_bytes,
            max_classes=self.max_classes,
        )

    @field_validator("ttl")
    @classmethod
    def _positive(cls, v: str) -> str:
        return _positive_duration(v)


class QualitySettings(Section):
    """Model-quality alerts and the fleet-wide quality recording rules."""

    window: Duration = Field(
        "1h", json_schema_extra=SIDECAR_WINDOW, description="The sidecar window the accuracy alerts watch."
    )
    accuracy_drop: float = Field(
        0.05, description="Accuracy below the validation baseline by this much alerts."
    )
    accuracy_for: Duration = Field("30m", description="How long the drop must hold.")
    swing: float = Field(0.1, description="Accuracy change within `swing_window` that alerts.")
    swing_for: Duration = Field("15m", description="How long the swing must hold.")
    labels_stale_s: int = Field(21600, description="Seconds without a label before labels count as stale.")
    labels_for: Duration = Field("30m", description="How long labels must be stale or missing.")
    labels_rows_window: Duration = Field(
        "30m", description="Rows must have arrived within this window for missing labels to count."
    )
    swing_window: Duration = Field(
        "1h", description="How far back a swing compares the accuracy (an offset)."
    )
    recording_window: Duration = Field(
        "1h", description="Range of the fleet-wide accuracy, precision and recall rules."
    )
    unmatched_ratio: float = Field(
        0.1, gt=0, lt=1, description="Share of labels matching no prediction (unknown ids) that alerts."
    )
    unmatched_window: Duration = Field("30m", description="Rate window of the unmatched share of labels.")
    unmatched_for: Duration = Field("15m", description="How long the unmatched share must hold.")


class BurnTier(Section):
    """One multi-window burn-rate alert (SRE Workbook, chapter 5)."""

    rate: float = Field(gt=0, description="Multiple of the error budget spent over both windows.")
    long_window: Duration = Field(description="The long window.")
    short_window: Duration = Field(description="The short window (resets the alert quickly).")
    for_: Duration = Field(alias="for", description="How long both must hold.")


_BURN = {
    "page_fast": {"rate": 14.4, "long_window": "1h", "short_window": "5m", "for": "2m"},
    "page_slow": {"rate": 6.0, "long_window": "6h", "short_window": "30m", "for": "15m"},
    "ticket_fast": {"rate": 3.0, "long_window": "1d", "short_window": "2h", "for": "1h"},
    "ticket_slow": {"rate": 1.0, "long_window": "3d", "short_window": "6h", "for": "3h"},
}


def _over_defaults(defaults: Mapping[str, Mapping[str, Any]], given: Any) -> Any:
    """A mapping of named entries given in part: each entry's keys override its defaults."""
    if not isinstance(given, Mapping):
        return given
    out: dict[str, Any] = {k: dict(v) for k, v in defaults.items()}
    for name, entry in given.items():
        out[name] = {**out.get(name, {}), **entry} if isinstance(entry, Mapping) else entry
    return out


class SloSettings(Section):
    """Availability and latency objectives of the serving app, and their burn-rate alerts."""

    target: float = Field(0.999, gt=0, lt=1, description="Share of requests not answered 5xx.")
    latency_quantile: float = Field(
        0.99, gt=0, lt=1, description="Quantile compared with the latency objective."
    )
    latency_objective_s: float = Field(0.5, gt=0, description="Latency objective in seconds.")
    latency_for: Duration = Field("10m", description="How long the quantile must exceed the objective.")
    latency_window: Duration = Field("5m", description="Rate window of the latency quantile.")
    burn: dict[str, BurnTier] = Field(
        default_factory=lambda: {k: BurnTier.model_validate(v) for k, v in _BURN.items()},
        description='Burn-rate tiers by name; names starting with "page" page, the others open a ticket.',
    )

    @field_validator("burn", mode="before")
    @classmethod
    def _burn_over_defaults(cls, v: Any) -> Any:
        return _over_defaults(_BURN, v)


class RatioAlert(Section):
    """A ratio alert: the ratio over ``window`` above ``ratio`` for ``for``."""

    ratio: float = Field(0.05, description="Ratio that alerts.")
    window: Duration = Field("10m", description="Rate window of the ratio.")


class DataQualityAlert(RatioAlert):
    """The share of rows with data-quality issues."""

    for_: Duration = Field("10m", alias="for", description="How long the ratio must hold.")


class OutlierAlert(RatioAlert):
    """The share of outlier rows."""

    for_: Duration = Field("15m", alias="for", description="How long the ratio must hold.")


class SevereSettings(Section):
    """The fast tier: a severe break of a model's inputs or outputs pages within minutes.

    Shares of rows (data-quality issues, predictions per bin, correct labelled rows) are
    rates over ``rate_window``; drift scores are read on the sidecar window ``window``.
    Each needs ``min_rows`` rows in its window, so a trickle of traffic cannot page.
    """

    window: str | None = Field(
        None,
        json_schema_extra=SIDECAR_WINDOW,
        description="The sidecar window the severe pages read; default: the shortest of `windows`.",
    )
    rate_window: Duration = Field(
        "1m", description="Rate window of the shares that page (data quality, predictions, accuracy)."
    )
    for_: Duration = Field("1m", alias="for", description="How long a severe break must hold to page.")
    min_rows: int = Field(100, ge=1, description="Rows (labelled rows for accuracy) a window needs.")
    data_quality_ratio: float = Field(
        0.5, gt=0, le=1, description="Share of rows with one data-quality issue in a feature that pages."
    )
    drift_factor: float = Field(5.0, gt=1, description="A drift score this many times its threshold pages.")
    collapse_ratio: float = Field(
        0.9, gt=0, le=1, description="Share of predictions in one bin that pages ..."
    )
    collapse_reference_max: float = Field(
        0.7, gt=0, lt=1, description="... when the reference put at most this share in that bin."
    )
    accuracy_drop: float = Field(
        0.2, gt=0, lt=1, description="Accuracy of labelled rows this far below the baseline pages."
    )

    @field_validator("window")
    @classmethod
    def _window_is_a_duration(cls, v: str | None) -> str | None:
        return v if v is None else _duration(v)


class ResourceSettings(Section):
    """Saturation alerts of the host and its GPUs."""

    gpu_memory_ratio: float = Field(0.95, description="GPU memory in use that alerts.")
    gpu_utilization_ratio: float = Field(0.95, description="GPU utilisation that alerts.")
    cpu_utilization_ratio: float = Field(0.9, description="CPU utilisation that alerts.")
    memory_available_ratio: float = Field(0.1, description="Available memory below which an alert fires.")
    window: Duration = Field("15m", description="Averaging window of the GPU/CPU saturation alerts.")
    for_: Duration = Field("15m", alias="for",
                           description="How long saturation (or a GPU row remap flag) must hold.")
    xid_window: Duration = Field("10m", description="How long a fatal GPU XID keeps its alert firing.")
    xid_for: Duration = Field("0s", description="How long after a fatal GPU XID its alert fires.")


class ExporterSettings(Section):
    """Alerts on the sidecar's own health (rejected events, internal errors, misconfigurations)."""

    window: Duration = Field("10m", description="Rate window of the exporter's error counters.")
    for_: Duration = Field("10m", alias="for", description="How long errors must go on.")
    misconfiguration_for: Duration = Field(
        "15m",
        description="How long `mlscope_misconfiguration` must stay 1 (longer than the 10 minutes one "
        "sighting holds it, so a single mistaken call files no ticket).",
    )


class StalenessSettings(Section):
    """Alerts on figures that stopped moving."""

    compute_s: int = Field(300, description="Seconds since the sidecar's last compute that alert.")
    compute_for: Duration = Field("5m", description="How long compute must be late.")
    metrics_window: Duration = Field("1h", description="Window in which a model's metrics must change.")
    metrics_for: Duration = Field("15m", description="How long the metrics must stay still.")


class AvailabilitySettings(Section):
    """Alerts on targets down, absent metrics and stopped traffic."""

    down_for: Duration = Field("5m", description="How long a scrape target must be down.")
    absent_for: Duration = Field("10m", description="How long a job's metrics must be absent.")
    traffic_window: Duration = Field("10m", description="No request in this window ...")
    traffic_before_window: Duration = Field(
        "1h", description="... although some arrived in this one before it."
    )
    traffic_for: Duration = Field("10m", description="How long traffic must stay stopped.")


class JobSettings(Section):
    """A scrape job: its name and its target in the local demo and in docker compose."""

    name: str = Field(description="Job name (the `job` label).")
    local: str = Field(description="Target in prometheus/prometheus.yml (the local demo).")
    compose: str = Field(description="Target in prometheus/prometheus.compose.yml (docker compose).")


_JOBS = {
    "app": {"name": "mlscope-demo-app", "local": "127.0.0.1:8000", "compose": "demo-app:8000"},
    "sidecar": {"name": "mlscope-sidecar", "local": "127.0.0.1:9108", "compose": "sidecar:9108"},
    "alertmanager": {"name": "alertmanager", "local": "127.0.0.1:9093", "compose": "alertmanager:9093"},
    "prometheus": {"name": "prometheus", "local": "127.0.0.1:9090", "compose": "localhost:9090"},
}


#: A label value a matcher can quote as is (routes and inhibitions are `severity="<value>"`).
_LABEL_VALUE = r'^[^"\\\n]+$'


class SeverityValues(Section):
    """The `severity` label value each alert tier carries (what routing trees match on).

    The defaults follow the kube-prometheus / kubernetes-mixin convention, so mlscope's
    pages page in an existing kube-prometheus-stack routing tree.
    """

    page: str = Field("critical", pattern=_LABEL_VALUE, description="Alerts that wake someone.")
    ticket: str = Field("warning", pattern=_LABEL_VALUE, description="Alerts that wait for working hours.")
    none: str = Field("none", pattern=_LABEL_VALUE, description="The `Watchdog` heartbeat.")

    @model_validator(mode="after")
    def _distinct(self) -> SeverityValues:
        # Two tiers on one value would route every ticket as a page (or the reverse).
        if len({self.page, self.ticket, self.none}) < 3:
            raise ValueError(f"page, ticket and none need three different values (got {self.model_dump()})")
        return self


class WebhookReceiver(Section):
    """A webhook every mlscope receiver posts to (integrations, the demo's page viewer)."""

    url: str = Field("http://127.0.0.1:5001/alerts", description="Where alerts are posted.")


class SlackReceiver(Section):
    """Slack, for pages and tickets."""

    api_url_file: str = Field(
        "secrets/slack_api_url", description="File holding the incoming-webhook URL."
    )
    channel: str = Field("#mlscope-alerts", description="Channel the messages go to.")


class PagerDutyReceiver(Section):
    """PagerDuty (Events API v2), for pages."""

    routing_key_file: str = Field(
        "secrets/pagerduty_routing_key", description="File holding the integration's routing key."
    )


class EmailReceiver(Section):
    """E-mail, for tickets."""

    to: str = Field("ml-oncall@example.org", description="Recipient address.")
    from_: str = Field("mlscope-alerts@example.org", alias="from", description="Sender address.")
    smarthost: str = Field("localhost:25", description="SMTP server, host:port.")
    auth_username: str = Field("mlscope-alerts@example.org", description="SMTP user; empty for none.")
    auth_password_file: str = Field(
        "secrets/smtp_password", description="File holding the SMTP password; empty for none."
    )
    require_tls: bool = Field(False, description="Refuse to send without STARTTLS.")


class WatchdogReceiver(Section):
    """The dead-man switch: a heartbeat service that raises the alarm when `Watchdog` stops."""

    url: str = Field("http://127.0.0.1:5001/watchdog", description="Heartbeat URL.")
    token_file: str = Field(
        "secrets/watchdog_token", description="File holding its bearer token; empty for none."
    )


class AlertingSettings(Section):
    """Alertmanager routing: severity values, timings and receivers (`null` turns a receiver off).

    Secret files are relative to Alertmanager's working directory; `mlscope config` writes a
    placeholder for each one missing.
    """

    severity: SeverityValues = Field(default_factory=lambda: SeverityValues.model_validate({}))
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname", "model", "job"], description="Labels grouping notifications."
    )
    group_wait: Duration = Field("30s", description="Wait before the first notification of a group.")
    group_interval: Duration = Field("5m", description="Wait before notifying a group's new alerts.")
    repeat_interval: Duration = Field("4h", description="Resend a still-firing group after this.")
    page_group_wait: Duration = Field("10s", description="`group_wait` of pages.")
    page_repeat_interval: Duration = Field("1h", description="`repeat_interval` of pages.")
    ticket_repeat_interval: Duration = Field("12h", description="`repeat_interval` of tickets.")
    resolve_timeout: Duration = Field("5m", description="Alertmanager's `resolve_timeout`.")
    webhook: WebhookReceiver | None = Field(default_factory=lambda: WebhookReceiver.model_validate({}))
    slack: SlackReceiver | None = Field(default_factory=lambda: SlackReceiver.model_validate({}))
    pagerduty: PagerDutyReceiver | None = Field(default_factory=lambda: PagerDutyReceiver.model_validate({}))
    email: EmailReceiver | None = Field(default_factory=lambda: EmailReceiver.model_validate({}))
    watchdog: WatchdogReceiver | None = Field(default_factory=lambda: WatchdogReceiver.model_validate({}))


class DeploySettings(Section):
    """Labels of the Kubernetes manifests that the stack's selectors look for."""

    selector_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"},
        description="On the PodMonitor, ServiceMonitor and PrometheusRule: kube-prometheus-stack's "
        "Prometheus selects them by its Helm release name (`release: <name>`).",
    )
    dashboard_labels: dict[str, str] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        description="On the dashboard ConfigMaps: what Grafana's dashboard sidecar selects.",
    )


class Settings(Section):
    """Every setting the sidecar and the rule generator share (see the module docstring)."""

    windows: list[WindowSettings] = Field(
        default_factory=lambda: [WindowSettings(duration=w.name, buckets=w.buckets) for w in DEFAULT_WINDOWS],
        min_length=1,
        description="Sliding windows the sidecar computes (a duration, or {duration, buckets}).",
    )
    drift: DriftSettings = Field(default_factory=lambda: DriftSettings.model_validate({}))
    labels: LabelSettings = Field(default_factory=lambda: LabelSettings.model_validate({}))
    quality: QualitySettings = Field(default_factory=lambda: QualitySettings.model_validate({}))
    slo: SloSettings = Field(default_factory=lambda: SloSettings.model_validate({}))
    data_quality: DataQualityAlert = Field(default_factory=lambda: DataQualityAlert.model_validate({}))
    outliers: OutlierAlert = Field(default_factory=lambda: OutlierAlert.model_validate({}))
    severe: SevereSettings = Field(default_factory=lambda: SevereSettings.model_validate({}))
    resources: ResourceSettings = Field(default_factory=lambda: ResourceSettings.model_validate({}))
    exporter: ExporterSettings = Field(default_factory=lambda: ExporterSettings.model_validate({}))
    staleness: StalenessSettings = Field(default_factory=lambda: StalenessSettings.model_validate({}))
    availability: AvailabilitySettings = Field(
        default_factory=lambda: AvailabilitySettings.model_validate({})
    )
    alerting: AlertingSettings = Field(default_factory=lambda: AlertingSettings.model_validate({}))
    deploy: DeploySettings = Field(default_factory=lambda: DeploySettings.model_validate({}))
    jobs: dict[str, JobSettings] = Field(
        default_factory=lambda: {k: JobSettings.model_validate(v) for k, v in _JOBS.items()},
        description="Scrape jobs by role: app, sidecar, alertmanager, prometheus.",
    )
    scrape_interval: Duration = Field("15s", description="Prometheus scrape interval.")
    evaluation_interval: Duration = Field("15s", description="Prometheus rule evaluation interval.")
    grafana_url: str = Field("http://localhost:3000", description="Where a person's browser reaches Grafana.")
    grafana_datasource_url: str = Field(
        "http://prometheus:9090", description="Where Grafana (in docker compose) reaches Prometheus."
    )
    runbook_base_url: str = Field(
        "https://github.com/mlscope/mlscope/blob/main/docs/runbooks.md",
        description="Target of the alerts' runbook links."
    )
    samples_base_url: str = Field(
        "http://localhost:9108", description="Where a person's browser reaches the sidecar's drill-down rows."
    )

    @field_validator("jobs", mode="before")
    @classmethod
    def _jobs_over_defaults(cls, v: Any) -> Any:
        return _over_defaults(_JOBS, v)

    @field_validator("windows")
    @classmethod
    def _unique_windows(cls, v: list[WindowSettings]) -> list[WindowSettings]:
        names = [w.duration for w in v]
        if len(set(names)) != len(names):
            raise ValueError("window names must be unique")
        return v

    def window_specs(self) -> tuple[WindowSpec, ...]:
        """The engine's windows."""
        return tuple(w.spec() for w in self.windows)

    def tree(self) -> dict[str, Any]:
        """The shared settings as nested plain values, keyed as in YAML."""
        return self.model_dump(by_alias=True, include=set(Settings.model_fields))

    def check_alert_windows(self) -> None:
        """Refuse a setting that puts an alert on a window the sidecar does not compute."""
        names = [w.duration for w in self.windows]
        tree = self.tree()
        for key in sidecar_window_keys():
            section, field = key.split(".")
            value = tree[section][field]
            if value is not None and value not in names:
                raise ConfigError(
                    f"{key!r} must be one of the sidecar's windows {names} (got {value!r}): an alert on "
                    "a window the sidecar does not compute never fires; add it to 'windows' or pick one"
                )


def sidecar_window_keys() -> Iterator[str]:
    """Key paths of the settings that name one of the sidecar's windows."""
    for section, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, f in model.model_fields.items():
                if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("sidecar_window"):
                    yield f"{section}.{f.alias or name}"


def error_text(err: ValidationError, sources: Mapping[str, str] | None = None) -> str:
    """Each problem as ``'key.path' (from <layer>): what was expected (got <value>)``."""
    parts = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"]) or "<root>"
        top = str(e["loc"][0]) if e["loc"] else ""
        where = f" (from {sources[top]})" if sources and top in sources else ""
        inner = (e.get("ctx") or {}).get("error")
        if isinstance(inner, ConfigError):  # the engine's own check, already naming its key
            parts.append(f"{inner}{where}")
        elif e["type"] == "extra_forbidden":
            parts.append(f"{key!r}{where}: unknown key")
        elif e["input"] is None and e["type"] != "missing":
            parts.append(f"{key!r}{where} is unset (null): a value is required")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = f" (got {e['input']!r})" if e["type"] != "missing" else ""
            parts.append(f"{key!r}{where}: {msg}{got}")
    return "; ".join(parts)
