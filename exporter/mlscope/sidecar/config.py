"""Sidecar configuration: YAML file, then ``MLSCOPE_*`` environment, then CLI flags.

Why three layers: the same container image runs with a mounted config file, with only
environment variables (Kubernetes), or by hand with flags. Later layers win key by key.
Everything is validated once at start by pydantic; an invalid value stops the sidecar
with a :class:`~mlscope.errors.ConfigError` whose message names the key path and the
layer it came from (``port (from env MLSCOPE_PORT): ...``), never at the first request.

File layout (every key optional except at least one model)::

    host: 127.0.0.1
    port: 9108
    compute_interval_s: 5
    models:
      churn: {profile: reference.json}
      fraud: {profile: fraud.json}
    windows: [5m, 1h, 24h]        # and every other section of mlscope.settings.Settings
    drift: {alpha: 0.01}

The sections shared with the rule generator (``windows``, ``drift``, ``labels``, the
alert sections) come from :class:`mlscope.settings.Settings`, which this model extends:
the same file drives ``mlscope serve --config`` and ``python -m mlscope.config_gen
--config``. docs/settings.md lists every key.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from mlscope.errors import ConfigError
from mlscope.settings import Settings, error_text

DEFAULT_HOST = "127.0.0.1"  # loopback: exposing ingest to the network is an explicit choice
DEFAULT_PORT = 9108


class SamplesConfig(BaseModel):
    """Drill-down rows kept per model (``GET /v1/samples``); see docs/samples.md."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Keep drill-down rows for this model.")
    per_bin: int = Field(5, ge=0, le=1000, description="Rows kept per feature bin.")
    top_outliers: int = Field(20, ge=0, le=10000, description="Highest-scoring outlier rows kept.")
    wrong_predictions: int = Field(20, ge=0, le=10000, description="Rows whose label disagreed, kept.")
    sensitive: list[str] = Field(
        default_factory=list, description="Features whose values are redacted from rows and logs."
    )
    text: bool = Field(
        False,
        description="Keep the raw text of text features in rows (off: free text can hold personal "
        "data; the descriptors such as 'review:length_words' are kept either way).",
    )


class ModelConfig(BaseModel):
    """One monitored model: its reference profile and drill-down sample settings."""

    model_config = ConfigDict(extra="forbid")

    profile: Path = Field(description="Reference profile (relative to the config file).")
    samples: SamplesConfig = Field(default_factory=lambda: SamplesConfig.model_validate({}))
    # The flag or variable the profile came from (``--profile``), when not a 'models' key.
    _given_as: str | None = PrivateAttr(None)

    def profile_key(self, name: str) -> str:
        """How an error names this profile: as the user gave it, else its key path."""
        return f"'{self._given_as}'" if self._given_as else f"'models.{name}.profile'"


class SidecarConfig(Settings):
    """Every option of ``mlscope serve``: the shared settings plus serving, files and limits."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(DEFAULT_HOST, description="Listen address (loopback unless exposed on purpose).")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="Listen port (0: any free port).")
    models: dict[str, ModelConfig] = Field(default_factory=dict, description="Monitored models by name.")
    tail: list[Path] = Field(default_factory=list, description="JSON-lines prediction logs to follow.")
    tail_from_start: bool = Field(False, description="Read tailed logs from their start, not their end.")
    pid: int | None = Field(None, ge=1, description="Process whose CPU and memory are reported.")
    process_name: str | None = Field(None, description="Or its name.")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP endpoint the metrics are pushed to.")
    snapshot: Path | None = Field(None, description="File the window state is saved to and restored from.")
    snapshot_interval_s: float = Field(60.0, gt=0, description="Seconds between snapshots.")
    ingest_token_file: Path | None = Field(None, description="File holding the bearer token ingest requires.")
    web_config: Path | None = Field(None, description="TLS and basic-auth settings (Prometheus web config).")
    log_format: Literal["json", "text"] = Field("json", description="json or text.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Log level."
    )
    prediction_log: Path | None = Field(None, description="File the ingested events are logged to, sampled.")
    prediction_log_sample: float = Field(0.1, ge=0.0, le=1.0, description="Share of events logged.")
    prediction_log_redact: list[str] = Field(default_factory=list, description="Fields left out of the log.")
    prediction_log_hash: list[str] = Field(
        default_factory=list, description="Fields logged as salted digests."
    )
    prediction_log_salt_file: Path | None = Field(None, description="File holding the digests' salt.")
    prediction_log_max_bytes: int = Field(
        64 * 1024 * 1024, ge=256, description="Size at which the log rotates."
    )
    compute_interval_s: float = Field(
        5.0, gt=0, description="Seconds between drift and quality computations."
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest ingest body accepted.")
    # The JSON depth check recurses: stay under Python's recursion limit.
    max_json_depth: int = Field(32, ge=3, le=500, description="Deepest JSON nesting accepted.")
    max_models: int = Field(100, ge=1, description="Models at most.")
    max_errors_reported: int = Field(20, ge=0, description="Record errors listed in an ingest reply.")

    @field_validator("models")
    @classmethod
    def _model_names(cls, v: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        for name in v:
            if not name or len(name) > 128:
                raise ValueError(f"model name must be 1-128 characters (got {name!r})")
        return v


# option -> environment variable; the list is the documentation (docs/sidecar.md).
ENV_VARS: dict[str, str] = {
    "config": "MLSCOPE_CONFIG",
    "profile": "MLSCOPE_PROFILE",
    "model": "MLSCOPE_MODEL",
    "host": "MLSCOPE_HOST",
    "port": "MLSCOPE_PORT",
    "tail": "MLSCOPE_TAIL",
    "tail_from_start": "MLSCOPE_TAIL_FROM_START",
    "pid": "MLSCOPE_PID",
    "process_name": "MLSCOPE_PROCESS_NAME",
    "otlp_endpoint": "MLSCOPE_OTLP_ENDPOINT",
    "snapshot": "MLSCOPE_SNAPSHOT",
    "snapshot_interval_s": "MLSCOPE_SNAPSHOT_INTERVAL_S",
    "ingest_token_file": "MLSCOPE_INGEST_TOKEN_FILE",
    "web_config": "MLSCOPE_WEB_CONFIG",
    "log_format": "MLSCOPE_LOG_FORMAT",
    "log_level": "MLSCOPE_LOG_LEVEL",
    "prediction_log": "MLSCOPE_PREDICTION_LOG",
    "prediction_log_sample": "MLSCOPE_PREDICTION_LOG_SAMPLE",
    "prediction_log_redact": "MLSCOPE_PREDICTION_LOG_REDACT",
    "prediction_log_hash": "MLSCOPE_PREDICTION_LOG_HASH",
    "prediction_log_salt_file": "MLSCOPE_PREDICTION_LOG_SALT_FILE",
    "prediction_log_max_bytes": "MLSCOPE_PREDICTION_LOG_MAX_BYTES",
    "compute_interval_s": "MLSCOPE_COMPUTE_INTERVAL_S",
    "max_body_bytes": "MLSCOPE_MAX_BODY_BYTES",
    "max_json_depth": "MLSCOPE_MAX_JSON_DEPTH",
    "max_models": "MLSCOPE_MAX_MODELS",
    "max_errors_reported": "MLSCOPE_MAX_ERRORS_REPORTED",
}
_OTEL_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"  # the OpenTelemetry standard name, honoured too
_LIST_KEYS = {"tail"}  # env value split on os.pathsep, like PATH
_CSV_KEYS = {"prediction_log_redact", "prediction_log_hash"}  # field names, comma-separated


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"'config': cannot read {str(path)!r}: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"'config': {str(path)!r} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"'config': {str(path)!r} must hold a mapping at top level (got {type(data).__name__})"
        )
    base = path.parent
    # Profiles and files named in the config are relative to the config file, as users expect.
    for key in ("snapshot", "ingest_token_file", "web_config", "prediction_log", "prediction_log_salt_file"):
        if isinstance(data.get(key), str):
            data[key] = str(base / data[key])
    if isinstance(data.get("tail"), list):
        data["tail"] = [str(base / p) if isinstance(p, str) else p for p in data["tail"]]
    models = data.get("models")
    if isinstance(models, dict):
        for m in models.values():
            if isinstance(m, dict) and isinstance(m.get("profile"), str):
                m["profile"] = str(base / m["profile"])
    return data


def _profile_model(path: Path) -> str | None:
    """The model name recorded in a profile file, if any (the ``--model`` default)."""
    try:
        with open(path, "rb") as f:
            name = json.load(f).get("model")
    except (OSError, ValueError, AttributeError):
        return None  # reported properly when the profile is loaded
    return name if isinstance(name, str) and name else None


def load_config(
    args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None
) -> SidecarConfig:
    """Merge file, environment and flags into one validated :class:`SidecarConfig`.

    ``--profile``/``MLSCOPE_PROFILE`` adds one model named by ``--model`` (default: the
    model name stored in the profile, else ``"default"``). Raises :class:`ConfigError`
    naming the key.
    """
    env = os.environ if env is None else env
    flags = {k: v for k in ENV_VARS if (v := getattr(args, k, None)) is not None} if args is not None else {}
    env_values, sources = _from_env(env)
    sources.update({key: "--" + key.replace("_", "-") for key in flags})
    config_path = flags.get("config") or env_values.get("config")
    data: dict[str, Any] = _read_file(Path(config_path)) if config_path else {}
    for key in data:
        sources.setdefault(key, f"config file {config_path}")
    merged: dict[str, Any] = {**data, **env_values, **flags}
    merged.pop("config", None)
    added = _add_profile_model(merged, sources)
    try:
        cfg = SidecarConfig.model_validate(merged)
    except ValidationError as e:
        raise ConfigError("invalid sidecar configuration: " + error_text(e, sources)) from None
    if added is not None:
        cfg.models[added]._given_as = sources.get("profile", "--profile").removeprefix("env ")
    _check_models_and_files(cfg)
    return cfg


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``MLSCOPE_*`` values (lists split) and, for each key, the variable it came from."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, var in ENV_VARS.items():
        raw = env.get(var, "")
        if raw == "":
            continue
        if key in _LIST_KEYS:
            values[key] = [p for p in raw.split(os.pathsep) if p]
        elif key in _CSV_KEYS:
            values[key] = [p.strip() for p in raw.split(",") if p.strip()]
        else:
            values[key] = raw
        sources[key] = f"env {var}"
    if "otlp_endpoint" not in values and env.get(_OTEL_ENV):
        values["otlp_endpoint"] = env[_OTEL_ENV]
        sources["otlp_endpoint"] = f"env {_OTEL_ENV}"
    return values, sources


def _add_profile_model(merged: dict[str, Any], sources: Mapping[str, str]) -> str | None:
    """``--profile`` adds one model named by ``--model``, else the profile's own name; returns it."""
    profile = merged.pop("profile", None)
    model = merged.pop("model", None)
    if profile is not None:
        models = dict(merged.get("models") or {})
        name = model or _profile_model(Path(profile)) or "default"
        models[name] = {"profile": profile}
        merged["models"] = models
        return name
    if model is not None:
        raise ConfigError(
            f"'model' ({sources.get('model')}) needs a profile: give --profile or MLSCOPE_PROFILE"
        )
    return None


def _check_models_and_files(cfg: SidecarConfig) -> None:
    """At least one model, within ``max_models``, and every file the configuration names exists."""
    if not cfg.models:
        raise ConfigError(
            "'models': no model configured: give --profile, MLSCOPE_PROFILE or a 'models' mapping in --config"
        )
    if len(cfg.models) > cfg.max_models:
        raise ConfigError(
            f"'models': {len(cfg.models)} models configured, above 'max_models' = {cfg.max_models}"
        )
    for name, m in cfg.models.items():
        if not m.profile.is_file():
            raise ConfigError(f"{m.profile_key(name)}: file {str(m.profile)!r} does not exist")
    for key in ("ingest_token_file", "web_config"):
        p = getattr(cfg, key)
        if p is not None and not p.is_file():
            raise ConfigError(f"{key!r}: file {str(p)!r} does not exist")
