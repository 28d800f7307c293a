"""Numeric columns as raw bytes in the columnar body: both directions, one format.

A column of numbers travels as ``{"dtype": "<f8", "shape": [n_rows], ...}`` (or
``"shape": [n_rows, width]``: one vector per row, e.g. an embedding), its little-endian
values in C order, carried one of two ways (docs/sidecar.md):

- ``"b64": "..."``: their base64, inside the JSON columnar body (any client);
- ``"at": offset``: in the *framed* body (:data:`FRAMED_TYPE`, what the Monitor sends):
  ``MLSC``, a little-endian uint32 header length, the JSON header (the columnar body),
  then the raw bytes of its binary columns, each ``at`` its offset after the header.

Neither side formats or parses one number: the Monitor writes ``tobytes()``, the
sidecar reads ``frombuffer``. Allowed where numbers are the rule: ``features.<name>``,
``timestamps`` and ``scores``; every other column stays a JSON array. :func:`decode`
applies the rules a JSON array of numbers gets (integers become float64 only while
float64 holds them exactly), so a column reads the same in every encoding.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any

import numpy as np

from mlscope.errors import InputError

#: The dtypes a binary column may declare (numpy's names, little-endian).
DTYPES = ("<f8", "<f4", "<i8", "<i4")
#: ``Content-Type`` of the framed body: JSON header, then the raw bytes of its binary columns.
FRAMED_TYPE = "application/vnd.mlscope.columns+binary"
_B64_KEYS = frozenset(("dtype", "shape", "b64"))
_AT_KEYS = frozenset(("dtype", "shape", "at"))
#: Each raw buffer starts at a multiple of this (from the body's first byte), so reads are aligned.
_ALIGN = 8
_MAGIC = b"MLSC"
_LENGTH = struct.Struct("<I")
_START = len(_MAGIC) + _LENGTH.size
#: float64 holds every integer below this exactly; a larger one stays an object.
_EXACT_INT = 2.0**53
#: The columns of the body that may be binary, and the number of dimensions each takes.
_TOP_LEVEL = {"timestamps": (1,), "scores": (2,)}
_FEATURE_DIMS = (1, 2)


# --------------------------------------------------------------------------- writing (Monitor)
class Buffers:
    """The raw bytes of a framed body's binary columns, each at an aligned offset."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> int:
        at = self.size
        pad = -len(data) % _ALIGN
        self.parts += [data, b"\0" * pad] if pad else [data]
        self.size += len(data) + pad
        return at


def encode(a: np.ndarray, buffers: Buffers | None = None) -> dict[str, Any]:
    """``a`` (a numeric array of a dtype in :data:`DTYPES`, any byte order) as a binary column.

    Its bytes go to ``buffers`` (a framed body) when given, else inline as base64.
    """
    le = a.dtype.newbyteorder("<")
    data = np.ascontiguousarray(a, dtype=le).tobytes()
    where: dict[str, Any] = (
        {"b64": base64.b64encode(data).decode("ascii")} if buffers is None else {"at": buffers.add(data)}
    )
    return {"dtype": le.str, "shape": list(a.shape), **where}


def frame(header: bytes, buffers: Buffers) -> bytes:
    """A framed body: ``MLSC``, the JSON ``header``'s length and the header (padded with
    spaces to alignment), then the buffers."""
    header += b" " * (-(_START + len(header)) % _ALIGN)
    return b"".join([_MAGIC, _LENGTH.pack(len(header)), header, *buffers.parts])


def unframe(body: bytes) -> tuple[bytes, memoryview]:
    """(JSON header, raw bytes after it) of a framed body; :class:`InputError` when it cannot be one."""
    if body[: len(_MAGIC)] != _MAGIC or len(body) < _START:
        raise InputError(f"a framed body starts with {_MAGIC.decode()} and a 4-byte header length")
    (n,) = _LENGTH.unpack_from(body, len(_MAGIC))
    end = _START + n
    if end > len(body):
        raise InputError(f"the framed body's header length {n} runs past its {len(body)} bytes")
    view = memoryview(body)
    return bytes(view[_START:end]), view[end:]


def numeric_array(col: Any) -> np.ndarray | None:
    """``col`` as an array worth sending raw, or ``None`` (it stays a JSON array).

    Taken: a float or integer array of 1 or 2 dimensions, a list or tuple of Python
    floats only (what the pivot of web-request rows gives), and a column of equal-length
    numeric vectors (lists, tuples or arrays: one per row) as an ``(n, width)`` matrix.
    Strings, booleans, ``None`` or mixed values stay JSON, read by the usual rules.
    """
    if isinstance(col, np.ndarray):
        if col.ndim in (1, 2) and col.dtype.str[1:] in ("f8", "f4", "i8", "i4"):
            return col
        if col.ndim in (1, 2) and col.dtype.kind in "iu" and col.dtype.itemsize < 4:
            return col.astype(np.int32)
        if col.ndim == 1 and col.dtype == object and len(col):
            return _vectors(col.tolist())
        return None
    if type(col) in (list, tuple) and col:
        kinds = set(map(type, col))
        if kinds == {float}:
            return np.array(col, dtype=np.float64)
        if kinds <= {list, tuple, np.ndarray}:
            return _vectors(col)
    return None


def _vectors(rows: Any) -> np.ndarray | None:
    """Rows of equal-length numeric vectors as an ``(n, width)`` float64 matrix, else ``None``."""
    kinds = set(map(type, rows))
    if kinds == {np.ndarray}:
        if set(map(len, rows)) != {len(rows[0])} or any(
            r.ndim != 1 or r.dtype.kind not in "fiu" for r in rows
        ):
            return None
        return np.stack(rows).astype(np.float64, copy=False) if len(rows[0]) else None
    if not kinds <= {list, tuple} or set(map(len, rows)) != {len(rows[0])} or not len(rows[0]):
        return None
    inner = {type(v) for r in rows for v in r}
    return np.array(rows, dtype=np.float64) if inner <= {float, int} else None


# --------------------------------------------------------------------------- reading (sidecar)
def decode_body(body: Any, area: memoryview | None = None) -> Any:
    """The columnar body with each binary column replaced by its array (a shallow copy).

    Only where binary columns are allowed (``features.<name>``, ``timestamps``,
    ``scores``) and only objects are decoded; anything else is left for the body's own
    checks. ``area``: the raw bytes after a framed body's header (``"at"`` columns).
    Raises :class:`InputError` naming the key when a binary column is malformed.
    """
    if type(body) is not dict:
        return body
    out = dict(body)
    feats = body.get("features")
    if type(feats) is dict and any(type(v) is dict for v in feats.values()):
        out["features"] = {
            k: decode(v, f"features.{k}", _FEATURE_DIMS, area) if type(v) is dict else v
            for k, v in feats.items()
        }
    for key, dims in _TOP_LEVEL.items():
        if type(body.get(key)) is dict:
            out[key] = decode(body[key], key, dims, area)
    return out


def decode(
    value: dict[str, Any], key: str, dims: tuple[int, ...] = _FEATURE_DIMS, area: memoryview | None = None
) -> np.ndarray:
    """One binary column as float64 (or an object array of integers float64 cannot hold)."""
    keys = value.keys()
    if keys != _B64_KEYS and (area is None or keys != _AT_KEYS):
        wanted = "{dtype, shape, b64}" + (" or {dtype, shape, at}" if area is not None else "")
        raise InputError(f"'{key}' must be an array or a binary column {wanted} (got keys {sorted(keys)})")
    dtype, shape = value["dtype"], value["shape"]
    if type(dtype) is not str or dtype not in DTYPES:
        raise InputError(f"'{key}.dtype' must be one of {list(DTYPES)} (got {dtype!r})")
    if type(shape) is not list or len(shape) not in dims or any(type(s) is not int or s < 0 for s in shape):
        wanted = " or ".join(["[n_rows]", "[n_rows, width]"][d - 1] for d in dims)
        raise InputError(f"'{key}.shape' must be {wanted} of integers >= 0 (got {shape!r})")
    size = math.prod(shape) * int(dtype[2:])
    if "at" in value:
        assert area is not None
        a = np.frombuffer(_slice(area, value["at"], size, key), dtype=dtype).copy()  # the body is let go
    else:
        raw = _unbase64(value["b64"], key)
        if len(raw) != size:
            raise InputError(f"'{key}.b64' holds {len(raw)} bytes; shape {shape} of {dtype} needs {size}")
        a = np.frombuffer(raw, dtype=dtype)
    return _as_numbers(a.reshape(shape))


def _unbase64(text: Any, key: str) -> bytes:
    if type(text) is not str:
        raise InputError(f"'{key}.b64' must be a base64 string (got {type(text).__name__})")
    try:
        raw: bytes = binascii.a2b_base64(text, strict_mode=True)  # type: ignore[call-arg]  # not in typeshed
    except (binascii.Error, ValueError) as e:
        raise InputError(f"'{key}.b64' is not valid base64: {e}") from None
    return raw


def _slice(area: memoryview, at: Any, size: int, key: str) -> memoryview:
    if type(at) is not int or at < 0:
        raise InputError(f"'{key}.at' must be a byte offset >= 0 (got {at!r})")
    if at + size > len(area):
        raise InputError(
            f"'{key}.at' = {at} + {size} bytes runs past the {len(area)} bytes after the framed body's header"
        )
    return area[at : at + size]


def _as_numbers(a: np.ndarray) -> np.ndarray:
    """As a JSON array of the same numbers would read: float64, integers only while exact."""
    if a.dtype.kind == "f":
        return a.astype(np.float64, copy=False)
    if a.ndim == 2 or bool((np.abs(a) < _EXACT_INT).all()):  # a vector is numbers whatever they are
        return a.astype(np.float64)
    out = np.empty(a.shape[0], dtype=object)
    out[:] = a.tolist()
    return out
