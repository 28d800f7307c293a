"""What a Monitor posted, read back as event (or label) records, whatever its encoding."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

COLUMNS = "application/vnd.mlscope.columns+json"


def records_of_columns(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records a columnar body holds, absent fields left out."""
    body = {k: _column(v) for k, v in body.items()}
    if "features" in body:
        body["features"] = {k: _column(v) for k, v in body["features"].items()}
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


def _column(value: Any) -> Any:
    """A binary column (``{dtype, shape, b64}``: raw little-endian numbers) as lists; else as it is."""
    if isinstance(value, dict) and value.keys() == {"dtype", "shape", "b64"}:
        raw = base64.b64decode(value["b64"])
        return np.frombuffer(raw, dtype=value["dtype"]).reshape(value["shape"]).tolist()
    return value


def records_of_post(body: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """A POST body (gzip or not; columns or NDJSON) as records."""
    raw = gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body
    if headers.get("Content-Type") == COLUMNS:
        return records_of_columns(orjson.loads(raw))
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]
