"""The opt-in prediction log: sampled events as JSON lines, replayable by the sidecar.

Why: metrics say *that* a feature drifted; a sample of the rows says *what* changed.
The log is written in exactly the event schema of docs/architecture.md (the schema of
``POST /v1/events``), so the file that documents production is also an input:
``mlscope serve --tail predictions.jsonl`` follows it and ``mlscope replay`` recomputes
drift from it.

Guarantees:

* **Sampling.** A share ``sample`` of events is written. Events with an ``id`` are
  chosen by a hash of the id (the same ids on every replica and restart, so a sampled
  prediction's later label can be sampled too); events without one by a seeded RNG.
* **Privacy.** ``redact`` fields are written as ``null`` (the sidecar counts them as
  missing); ``hash_fields`` as the hex SHA-256 of a salt and the value's JSON encoding, so
  equal values stay equal (categories, joins on id) without being readable.
* **Bounded disk.** The file rotates by size like ``logging.handlers.RotatingFileHandler``
  (``path`` -> ``path.1`` -> ... ``path.<backups>``), which ``--tail`` follows, and the
  oldest backups are deleted whenever the total would pass ``max_total_bytes``.
* **Never raises into the caller.** Any failure (disk full, a value that cannot be
  encoded, a bad record) is logged once per kind, counted in
  ``mlscope_internal_errors_total{component="predlog"}`` and the call returns False.
* **Thread-safe.** Records are encoded outside the lock; the append and rotation happen
  under it, one ``write(2)`` per line, so concurrent writers never interleave lines.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from mlscope.errors import ConfigError

log = logging.getLogger("mlscope.predlog")

__all__ = ["PredictionLog"]

# Top-level event fields a redact/hash name may address directly; any other name is a feature.
_TOP_LEVEL = frozenset({"id", "prediction", "label", "scores"})
_JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_MIB = 1024 * 1024


def _field_set(names: Iterable[str], option: str) -> tuple[frozenset[str], frozenset[str]]:
    """Split field names into (top-level fields, feature names); ``features.x`` means feature x."""
    if isinstance(names, str):
        raise ConfigError(f"'{option}' must be a list of field names, not one string (got {names!r})")
    top: set[str] = set()
    feats: set[str] = set()
    for n in names:
        if not isinstance(n, str) or not n:
            raise ConfigError(f"'{option}' entries must be non-empty strings (got {n!r})")
        if n.startswith("features."):
            feats.add(n[len("features.") :])
        elif n in _TOP_LEVEL:
            top.add(n)
        else:
            feats.add(n)
    return frozenset(top), frozenset(feats)



def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _checked_sizes(sample: float, max_bytes: int, backups: int, max_total_bytes: int | None) -> int:
    """Check the sampling and size settings; the total-size cap (default: every file full)."""
    if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not 0.0 <= sample <= 1.0:
        raise ConfigError(f"'prediction_log.sample' must be a number in [0, 1] (got {sample!r})")
    if not _is_int(max_bytes) or max_bytes < 256:
        raise ConfigError(f"'prediction_log.max_bytes' must be an int >= 256 (got {max_bytes!r})")
    if not _is_int(backups) or backups < 0:
        raise ConfigError(f"'prediction_log.backups' must be an int >= 0 (got {backups!r})")
    if max_total_bytes is None:
        return max_bytes * (backups + 1)
    if not _is_int(max_total_bytes) or max_total_bytes < max_bytes:
        raise ConfigError(
            "'prediction_log.max_total_bytes' must be an int >= max_bytes "
            f"({max_bytes}) (got {max_total_bytes!r})"
        )
    return max_total_bytes


def _field_sets(
    redact: Iterable[str], hash_fields: Iterable[str]
) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """(top-level, feature) fields to redact, then to hash; a field cannot be both."""
    redact_top, redact_feat = _field_set(redact, "prediction_log.redact")
    hash_top, hash_feat = _field_set(hash_fields, "prediction_log.hash_fields")
    both = (redact_top & hash_top) | (redact_feat & hash_feat)
    if both:
        raise ConfigError(f"'prediction_log.redact' and 'prediction_log.hash_fields' overlap: {sorted(both)}")
    return redact_top, redact_feat, hash_top, hash_feat

class PredictionLog:
    """Append sampled prediction events to a size-rotated JSON-lines file.

    Parameters
    ----------
    path
        The log file; its directory is created if missing.
    sample
        Share of events written, 0..1 (default 0.1).
    redact
        Fields written as ``null``: feature names (or ``features.<name>``) and the top-level
        ``id``, ``prediction``, ``label``, ``scores``.
    hash_fields
        Fields written as salted SHA-256 hex digests (same naming as ``redact``).
    salt
        Salt for ``hash_fields``. Default: random per process, so digests are stable only
        within one run; give a secret salt for digests stable across restarts and replicas.
    max_bytes
        Rotate when the current file would pass this size (default 64 MiB). A single
        record larger than this is dropped and counted.
    backups
        Rotated files kept (``path.1`` newest ... ``path.<backups>`` oldest; default 5).
    max_total_bytes
        Cap on the current file plus its backups (default ``max_bytes * (backups + 1)``).
    seed
        Seed of the sampling RNG for events without an id (reproducible tests).
    registry, errors_counter
        Where failures are counted: an existing ``mlscope_internal_errors_total`` Counter,
        or a registry in which it is found or created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sample: float = 0.1,
        redact: Iterable[str] = (),
        hash_fields: Iterable[str] = (),
        salt: bytes | str | None = None,
        max_bytes: int = 64 * _MIB,
        backups: int = 5,
        max_total_bytes: int | None = None,
        seed: int | None = None,
        registry: Any = None,
        errors_counter: Any = None,
    ) -> None:
        max_total_bytes = _checked_sizes(sample, max_bytes, backups, max_total_bytes)
        fields = _field_sets(redact, hash_fields)
        self._redact_top, self._redact_feat, self._hash_top, self._hash_feat = fields
        if salt is None:
            salt = os.urandom(16)
            if self._hash_top or self._hash_feat:
                log.info("prediction log %s: no salt given, hashes are stable only within this process", path)
        self._salt = salt.encode() if isinstance(salt, str) else bytes(salt)
        self.path = Path(path)
        self.sample = float(sample)
        self.max_bytes = max_bytes
        self.backups = backups
        self.max_total_bytes = max_total_bytes
        self._rng = random.Random(seed)
        self._errors = self._resolve_counter(registry, errors_counter)

        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._backup_sizes: list[int] = []  # index 0 is path.1
        self._closed = False
        self._logged: set[str] = set()
        self.written = 0
        self.sampled_out = 0
        self.failures = 0
        self.rotations = 0
        try:
            with self._lock:
                self._open()
        except Exception as exc:  # noqa: BLE001 - a bad path is counted, not raised into the app
            self._fail("open", exc)

    # -- public ---------------------------------------------------------------------
    def log(
        self,
        *,
        features: Mapping[str, Any],
        prediction: Any = None,
        model: str | None = None,
        id: Any = None,
        timestamp: float | None = None,  # noqa: A002 - the schema's name
        scores: Mapping[str, float] | None = None,
        label: Any = None,
    ) -> bool:
        """Sample and write one event given field by field; True when written."""
        return self.write(
            {
                "model": model,
                "id": id,
                "timestamp": timestamp,
                "features": features,
                "prediction": prediction,
                "scores": scores,
                "label": label,
            }
        )

    def write(self, event: Mapping[str, Any]) -> bool:
        """Sample and write one event dict in the event schema; True when written."""
        try:
            if not self._keep(event.get("id")):
                with self._lock:
                    self.sampled_out += 1
                return False
            line = self._encode(event)
            with self._lock:
                self._append(line)
                self.written += 1
            return True
        except Exception as exc:  # noqa: BLE001 - never raise into the caller
            self._fail(type(exc).__name__, exc)
            return False

    def write_many(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Sample and write several events; returns how many were written."""
        n = 0
        try:
            for ev in events:
                n += self.write(ev)
        except Exception as exc:  # noqa: BLE001 - a failing iterator
            self._fail(type(exc).__name__, exc)
        return n

    def write_rows(self, n_rows: int, ids: Any, event: Callable[[int], Mapping[str, Any]]) -> int:
        """Sample rows ``0..n_rows-1`` by id (as :meth:`write` does), write ``event(i)`` of the chosen.

        For column producers: an event dict is built only for a sampled row.
        """
        n = 0
        skipped = 0
        try:
            for i in range(n_rows):
                if not self._keep(None if ids is None else ids[i]):
                    skipped += 1
                    continue
                line = self._encode(event(i))
                with self._lock:
                    self._append(line)
                    self.written += 1
                n += 1
        except Exception as exc:  # noqa: BLE001 - never raise into the caller
            self._fail(type(exc).__name__, exc)
        with self._lock:
            self.sampled_out += skipped
        return n

    def close(self) -> None:
        """Close the file; later writes are ignored (return False)."""
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- encoding ---------------------------------------------------------------------
    def _keep(self, event_id: Any) -> bool:
        if self.sample >= 1.0:
            return True
        if self.sample <= 0.0:
            return False
        if event_id is None:
            return self._rng.random() < self.sample
        # The first 8 bytes of BLAKE2b are uniform on [0, 2**64): a share `sample` of ids pass.
        digest = hashlib.blake2b(str(event_id).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") < self.sample * 2.0**64

    def _hash(self, value: Any) -> str:
        return hashlib.sha256(
            self._salt + orjson.dumps(value, option=_JSON_OPTS | orjson.OPT_SORT_KEYS)
        ).hexdigest()

    def _protect(self, name: str, value: Any, redact: frozenset[str], hashed: frozenset[str]) -> Any:
        if name in redact:
            return None
        if name in hashed and value is not None:
            return self._hash(value)
        return value

    def _encode(self, event: Mapping[str, Any]) -> bytes:
        """The event as one JSON line: schema keys only, in schema order, protected."""
        if not isinstance(event, Mapping):
            raise TypeError(f"event must be a mapping (got {type(event).__name__})")
        features = event.get("features")
        if not isinstance(features, Mapping):
            raise TypeError(f"event field 'features' must be a mapping (got {type(features).__name__})")
        rec: dict[str, Any] = {}
        if event.get("model") is not None:
            rec["model"] = str(event["model"])
        for key in ("id",):
            if event.get(key) is not None:
                rec[key] = self._protect(key, event[key], self._redact_top, self._hash_top)
        ts = event.get("timestamp")
        rec["timestamp"] = float(ts) if ts is not None else time.time()
        if self._redact_feat or self._hash_feat:
            rec["features"] = {
                str(k): self._protect(str(k), v, self._redact_feat, self._hash_feat)
                for k, v in features.items()
            }
        else:
            rec["features"] = features
        for key in ("prediction", "scores", "label"):
            if event.get(key) is not None:
                rec[key] = self._protect(key, event[key], self._redact_top, self._hash_top)
        return orjson.dumps(rec, option=_JSON_OPTS | orjson.OPT_APPEND_NEWLINE)

    # -- file -------------------------------------------------------------------------
    def _name(self, i: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{i}")

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._backup_sizes = []
        for i in range(1, self.backups + 1):
            try:
                self._backup_sizes.append(self._name(i).stat().st_size)
            except FileNotFoundError:
                break
        self._enforce_cap(0)

    def _append(self, line: bytes) -> None:
        if self._closed:
            raise RuntimeError("prediction log is closed")
        if len(line) > self.max_bytes:
            raise ValueError(f"record of {len(line)} bytes is larger than max_bytes={self.max_bytes}")
        if self._fd is None:
            self._open()  # a previous failure closed it; try again
        if self._size + len(line) > self.max_bytes and self._size > 0:
            self._rotate()
        self._enforce_cap(len(line))
        assert self._fd is not None
        n = os.write(self._fd, line)
        self._size += n
        if n != len(line):  # a short write (disk full): count it, the tail skips the partial line
            raise OSError(f"short write to {self.path}: {n} of {len(line)} bytes")

    def _rotate(self) -> None:
        """path -> path.1 -> ... -> path.<backups>; the oldest falls off."""
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        if self.backups == 0:
            os.unlink(self.path)
        else:
            self._name(self.backups).unlink(missing_ok=True)
            for i in range(self.backups - 1, 0, -1):
                if self._name(i).exists():
                    os.replace(self._name(i), self._name(i + 1))
            os.replace(self.path, self._name(1))
            self._backup_sizes = ([self._size] + self._backup_sizes)[: self.backups]
        self.rotations += 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = 0

    def _enforce_cap(self, incoming: int) -> None:
        """Delete the oldest backups until current + backups + incoming fits the cap."""
        while self._backup_sizes and self._size + incoming + sum(self._backup_sizes) > self.max_total_bytes:
            self._name(len(self._backup_sizes)).unlink(missing_ok=True)
            self._backup_sizes.pop()

    # -- failures -----------------------------------------------------------------------
    @staticmethod
    def _resolve_counter(registry: Any, errors_counter: Any) -> Any:
        if errors_counter is not None:
            return errors_counter.labels(component="predlog")
        if registry is None:
            return None
        from mlscope._families import internal_errors_counter

        return internal_errors_counter(registry).labels(component="predlog")

    def _fail(self, kind: str, exc: BaseException) -> None:
        try:
            with self._lock:
                self.failures += 1
            if self._errors is not None:
                self._errors.inc()
            if kind not in self._logged:
                self._logged.add(kind)
                log.warning(
                    "prediction log %s: %s (%s); counted in mlscope_internal_errors_total"
                    '{component="predlog"}, logged once per kind',
                    self.path,
                    exc,
                    kind,
                )
        except Exception:  # noqa: BLE001, S110 - counting must not raise either
            pass
