"""Sidecar configuration: file, environment and flags merge; errors name the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mlscope.cli import build_parser
from mlscope.errors import ConfigError
from mlscope.sidecar.config import DEFAULT_HOST, load_config


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    p = tmp_path / "ref.json"
    p.write_text('{"version": 1}')
    return p


def test_defaults_bind_loopback_with_one_model_from_profile_flag(profile: Path) -> None:
    cfg = load_config(_args("--profile", str(profile), "--model", "churn"), env={})
    assert cfg.host == DEFAULT_HOST == "127.0.0.1"
    assert cfg.port == 9108
    assert list(cfg.models) == ["churn"]
    assert cfg.models["churn"].profile == profile


def test_flags_override_env_which_overrides_file(tmp_path: Path, profile: Path) -> None:
    conf = tmp_path / "mlscope.yml"
    conf.write_text(
        f"port: 7000\nhost: 127.0.0.2\ncompute_interval_s: 9\nmodels:\n  a: {{profile: {profile.name}}}\n"
    )
    env = {"MLSCOPE_PORT": "7001", "MLSCOPE_COMPUTE_INTERVAL_S": "2.5"}
    cfg = load_config(_args("--config", str(conf), "--port", "7002"), env=env)
    assert cfg.port == 7002  # flag beats env
    assert cfg.compute_interval_s == 2.5  # env beats file
    assert cfg.host == "127.0.0.2"  # file beats default
    assert cfg.models["a"].profile == profile  # relative to the config file


def test_every_option_can_come_from_env(tmp_path: Path, profile: Path) -> None:
    log1, log2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    env = {
        "MLSCOPE_PROFILE": str(profile),
        "MLSCOPE_MODEL": "m",
        "MLSCOPE_TAIL": f"{log1}:{log2}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "MLSCOPE_MAX_BODY_BYTES": "2048",
        "MLSCOPE_LOG_FORMAT": "text",
        "MLSCOPE_SNAPSHOT": str(tmp_path / "snap.json"),
    }
    cfg = load_config(_args(), env=env)
    assert list(cfg.models) == ["m"]
    assert cfg.tail == [log1, log2]
    assert cfg.otlp_endpoint == "http://127.0.0.1:4318"
    assert cfg.max_body_bytes == 2048
    assert cfg.log_format == "text"
    assert cfg.snapshot == tmp_path / "snap.json"


def test_bad_env_value_names_key_and_variable(profile: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_args("--profile", str(profile)), env={"MLSCOPE_PORT": "ninety"})
    assert "'port' (from env MLSCOPE_PORT)" in str(e.value)
    assert "'ninety'" in str(e.value)


def test_unknown_key_in_file_is_named(tmp_path: Path, profile: Path) -> None:
    conf = tmp_path / "c.yml"
    conf.write_text(f"models:\n  a:\n    profile: {profile}\n    windw: 1h\n")
    with pytest.raises(ConfigError, match=r"'models\.a\.windw'"):
        load_config(_args("--config", str(conf)), env={})


def test_missing_profile_file_is_named(tmp_path: Path) -> None:
    # named as the user gave it: the flag, the variable (not a 'models.default' key never written)
    with pytest.raises(ConfigError, match=r"^'--profile': file .*nope\.json' does not exist"):
        load_config(_args("--profile", str(tmp_path / "nope.json")), env={})
    with pytest.raises(ConfigError, match=r"^'MLSCOPE_PROFILE': file .*nope\.json' does not exist"):
        load_config(_args(), env={"MLSCOPE_PROFILE": str(tmp_path / "nope.json")})


def test_no_model_at_all_is_refused() -> None:
    with pytest.raises(ConfigError, match="'models': no model configured"):
        load_config(_args(), env={})


def test_invalid_yaml_is_refused_with_file_name(tmp_path: Path) -> None:
    conf = tmp_path / "c.yml"
    conf.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_args("--config", str(conf)), env={})


def test_model_name_defaults_to_the_one_in_the_profile(tmp_path: Path) -> None:
    p = tmp_path / "fraud.json"
    p.write_text('{"model": "fraud"}')
    assert list(load_config(_args("--profile", str(p)), env={}).models) == ["fraud"]
    p.write_text('{"features": []}')
    assert list(load_config(_args("--profile", str(p)), env={}).models) == ["default"]


def test_docs_list_every_option_and_env_var() -> None:
    from mlscope.settings import Settings
    from mlscope.sidecar.config import ENV_VARS, SidecarConfig
    from tests._servers import REPO

    doc = (REPO / "docs" / "sidecar.md").read_text()
    # The shared settings are documented in docs/settings.md (generated; see tests/config).
    own = [k for k in SidecarConfig.model_fields if k not in Settings.model_fields]
    missing = [f"`{k}`" for k in (*own, "windows", "drift", "labels") if f"`{k}`" not in doc]
    missing += [f"`{v}`" for v in ENV_VARS.values() if f"`{v}`" not in doc]
    assert not missing, f"docs/sidecar.md does not document {missing}"


def test_shared_settings_in_the_file_are_validated_naming_key_and_file(tmp_path: Path, profile: Path) -> None:
    conf = tmp_path / "c.yml"
    conf.write_text(f"models: {{a: {{profile: {profile}}}}}\nwindows: [10m, 2x]\n")
    with pytest.raises(ConfigError) as e:
        load_config(_args("--config", str(conf)), env={})
    assert f"'windows.1.duration' (from config file {conf}): must be a duration like" in str(e.value)
    conf.write_text(f"models: {{a: {{profile: {profile}}}}}\ndrift: {{alpha: 2}}\n")
    with pytest.raises(ConfigError, match=r"'drift\.alpha' must be a number in \(0, 1\) \(got 2\.0\)"):
        load_config(_args("--config", str(conf)), env={})
    # A sidecar that serves no alerts may use any windows: the window check is the generator's.
    conf.write_text(f"models: {{a: {{profile: {profile}}}}}\nwindows: [10m, 2h]\n")
    cfg = load_config(_args("--config", str(conf)), env={})
    assert [w.name for w in cfg.window_specs()] == ["10m", "2h"]
