"""What a Monitor posted, read back as event (or label) records, whatever its encoding."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

COLUMNS = "application/vnd.mlscope.columns+json"
FRAMED = "application/vnd.mlscope.columns+binary"


def records_of_columns(body: Mapping[str, Any], area: bytes = b"") -> list[dict[str, Any]]:
    """The records a columnar body holds, absent fields left out (``area``: a framed body's raw bytes)."""
    body = {k: _column(v, area) for k, v in body.items()}
    if "features" in body:
        body["features"] = {k: _column(v, area) for k, v in body["features"].items()}
    out = []
    classes = body.get("score_classes") or []
    for i in range(body["n_rows"]):
        rec: dict[str, Any] = {"model": body["model"]}
        if "features" in body:
            rec["features"] = {k: v[i] for k, v in body["features"].items()}
        for column, key in (
            ("ids", "id"),
            ("timestamps", "timestamp"),
            ("predictions", "prediction"),
            ("labels", "label"),
        ):
            if body.get(column) is not None:
                rec[key] = body[column][i]
        if body.get("scores") is not None:
            rec["scores"] = dict(zip(classes, body["scores"][i], strict=True))
        out.append(rec)
    return out


def _column(value: Any, area: bytes) -> Any:
    """A binary column (raw little-endian numbers, inline base64 or ``at`` an offset) as lists."""
    if not isinstance(value, dict) or value.keys() not in (
        {"dtype", "shape", "b64"},
        {"dtype", "shape", "at"},
    ):
        return value
    count = int(np.prod(value["shape"]))
    if "b64" in value:
        a = np.frombuffer(base64.b64decode(value["b64"]), dtype=value["dtype"], count=count)
    else:
        a = np.frombuffer(area, dtype=value["dtype"], count=count, offset=value["at"])
    return a.reshape(value["shape"]).tolist()


def unframe(raw: bytes) -> tuple[Any, bytes]:
    """A framed body (``MLSC``, uint32 header length, JSON header, raw bytes) as (header, raw bytes)."""
    assert raw[:4] == b"MLSC", raw[:8]
    n = int.from_bytes(raw[4:8], "little")
    return orjson.loads(raw[8 : 8 + n]), raw[8 + n :]


def records_of_post(body: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """A POST body (gzip or not; framed columns, columns or NDJSON) as records."""
    raw = gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body
    if headers.get("Content-Type") == FRAMED:
        return records_of_columns(*unframe(raw))
    if headers.get("Content-Type") == COLUMNS:
        return records_of_columns(orjson.loads(raw))
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]
