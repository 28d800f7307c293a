"""Render ``docs/settings.md`` from the settings models (a test keeps it in step).

Run ``python -m mlscope._settingsdoc > docs/settings.md``. Every key is read off
:class:`mlscope.sidecar.config.SidecarConfig` (which extends
:class:`mlscope.settings.Settings`): its type, default and description, so a setting
cannot be added without appearing here.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo

from mlscope.settings import Settings
from mlscope.sidecar.config import ENV_VARS, SidecarConfig

_INTRO = """\
# Settings reference

Generated from `exporter/mlscope/settings.py` and `exporter/mlscope/sidecar/config.py` by
`python -m mlscope._settingsdoc`; do not edit by hand (a test fails when this page is stale).

One YAML file holds every setting: `mlscope serve --config FILE` reads it (the serving
keys can also come from `MLSCOPE_*` variables and flags, see docs/sidecar.md) and
`mlscope config --out DIR --settings FILE` reads the same file to generate the rules,
alerts, routing and dashboards (docs/alerts.md). A key means the same to both, so the alerts watch
what the sidecar computes: the generator refuses an alert on a window that `windows` does
not hold (`drift.window`, `quality.window`). A section given in part keeps the defaults
of the keys it leaves out; an unknown key, a wrong type or `null` stops either program
with a message naming the key path.

Durations are Prometheus durations: `30s`, `5m`, `1h`, `1h30m`, `7d` (units `y w d h m s
ms`, whole numbers, largest first).
"""


_NAMES: dict[Any, str] = {Path: "path", str: "string", int: "int", float: "number", bool: "bool"}


def _type(info: FieldInfo) -> str:
    if any(isinstance(m, AfterValidator) and m.func.__name__ == "_duration" for m in info.metadata):
        return "duration"
    ann = info.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if typing.get_origin(ann) is dict:
        return "mapping"
    if args and typing.get_origin(ann) is not list:  # X | None
        ann = args[0]
    if typing.get_origin(ann) is list:
        return f"list of {_NAMES.get(typing.get_args(ann)[0], 'item')}s"
    return _NAMES.get(ann, str(ann))


def _value(v: Any) -> str:
    if v is None or v == []:
        return "none"
    if isinstance(v, bool):
        return f"`{str(v).lower()}`"
    if isinstance(v, dict):
        return ", ".join(f"`{k}: {x}`" for k, x in v.items())
    return f"`{v}`"


def _describe(info: FieldInfo) -> str:
    text = info.description or ""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and extra.get("sidecar_window"):
        text += " Must be one of `windows`."
    return text


def _rows(model: BaseModel, prefix: str) -> Iterator[str]:
    """One table row per leaf key of ``model`` (its current values are the defaults)."""
    for name, info in type(model).model_fields.items():
        key = f"{prefix}{info.alias or name}"
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _rows(value, f"{key}.")
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            yield f"| `{key}` | mapping | — | {_describe(info)} |"
            for entry, sub in value.items():
                yield from _rows(sub, f"{key}.{entry}.")
        elif isinstance(value, dict) and _entry_model(info) is not None:
            yield f"| `{key}` | mapping | none | {_describe(info)} |"
            yield from _class_rows(_entry_model(info), f"{key}.<name>.")
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            shown = ", ".join(" ".join(f"{k}={v}" for k, v in v.model_dump().items()) for v in value)
            yield f"| `{key}` | list | `[{shown}]` | {_describe(info)} |"
            yield from _class_rows(type(value[0]), f"{key}[].")
        else:
            env = f" (`{ENV_VARS[key]}`)" if key in ENV_VARS else ""
            yield f"| `{key}`{env} | {_type(info)} | {_value(value)} | {_describe(info)} |"


def _entry_model(info: FieldInfo) -> Any:
    """The model of the entries of a ``dict[str, Model]`` field, else None."""
    args = typing.get_args(info.annotation)
    if typing.get_origin(info.annotation) is dict and isinstance(args[1], type):
        return args[1] if issubclass(args[1], BaseModel) else None
    return None


def _class_rows(cls: type[BaseModel], prefix: str) -> Iterator[str]:
    """Rows of a model that has no default instance (an entry of a mapping)."""
    for name, info in cls.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            yield from _rows(default, f"{key}.")
        else:
            shown = "required" if info.is_required() else _value(default)
            yield f"| `{key}` | {_type(info)} | {shown} | {_describe(info)} |"


def _table(rows: Iterator[str]) -> list[str]:
    return ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]


def render_markdown() -> str:
    """Return the Markdown page documenting every settings key."""
    cfg = SidecarConfig.model_validate({})
    lines = [_INTRO]
    shared = [n for n, i in Settings.model_fields.items() if isinstance(getattr(cfg, n), BaseModel)]
    for name in ("windows", *shared):
        info = SidecarConfig.model_fields[name]
        value = getattr(cfg, name)
        doc = info.description or type(value).__doc__ or ""
        lines += [f"## `{name}`", "", doc.strip().split("\n")[0], ""]
        lines += _table(_section_rows(cfg, name))
    general = [n for n in Settings.model_fields if n not in shared and n != "windows"]
    lines += ["## Scrape jobs and links (generator)", ""]
    lines += _table(row for n in general for row in _section_rows(cfg, n))
    own = [n for n in SidecarConfig.model_fields if n not in Settings.model_fields]
    lines += [
        "## Serving, files and limits (sidecar)",
        "",
        "Each can also come from the environment variable shown, or a flag (docs/sidecar.md).",
        "",
    ]
    lines += _table(row for n in own for row in _section_rows(cfg, n))
    return "\n".join(lines).rstrip() + "\n"


def _section_rows(cfg: SidecarConfig, name: str) -> Iterator[str]:
    """The rows of one top-level key of ``cfg``."""
    for row in _rows(cfg, ""):
        key = row.split("`")[1]
        if key == name or key.startswith((f"{name}.", f"{name}[")):
            yield row


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
