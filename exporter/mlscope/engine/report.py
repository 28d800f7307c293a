"""The drift report: per-column verdicts and the dataset-level drift share.

The same object comes out of ``mlscope.compare(profile, df)`` (offline), ``ModelEngine.report``
(a live window) and ``mlscope compare`` / ``mlscope replay`` (the CLI prints it), so the
numbers agree everywhere by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class ColumnDrift:
    """Drift verdict of one feature or model output in one window.

    ``method``/``score``/``threshold`` are the default method's; ``p_value`` is the
    p-value that gates the flag (for ``ks`` and ``jensenshannon`` the minimum-effect test
    of "at most ``threshold`` apart", else chi-square on the bins or KS), adjusted for
    multiple testing in ``p_adjusted``. ``scores`` and ``p_values`` hold every method
    computed (the plain tests), for dashboards and for users who pick another.
    """

    name: str
    kind: str
    method: str
    score: float
    threshold: float
    p_value: float
    p_adjusted: float
    drifted: bool
    n_rows: int
    judged: bool
    scores: Mapping[str, float] = field(default_factory=dict)
    p_values: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "method": self.method,
            "score": _num(self.score),
            "threshold": self.threshold,
            "p_value": _num(self.p_value),
            "p_adjusted": _num(self.p_adjusted),
            "drifted": self.drifted,
            "judged": self.judged,
            "n_rows": self.n_rows,
            "scores": {k: _num(v) for k, v in self.scores.items()},
            "p_values": {k: _num(v) for k, v in self.p_values.items()},
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of every feature and model output of one model in one window.

    ``drift_share`` is the share of judged features flagged as drifted (flags use
    p-values adjusted across the model's features, see ``correction``);
    ``dataset_drifted`` is set when it reaches ``share_threshold``.
    """

    model: str
    window: str
    n_rows: int
    features: tuple[ColumnDrift, ...]
    outputs: tuple[ColumnDrift, ...]
    drift_share: float
    dataset_drifted: bool
    share_threshold: float
    alpha: float
    correction: str
    min_rows: int

    def feature(self, name: str) -> ColumnDrift:
        """The verdict for feature ``name`` (KeyError naming it when absent)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"feature {name!r} is not in the report")

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "window": self.window,
            "n_rows": self.n_rows,
            "drift_share": _num(self.drift_share),
            "dataset_drifted": self.dataset_drifted,
            "share_threshold": self.share_threshold,
            "alpha": self.alpha,
            "correction": self.correction,
            "min_rows": self.min_rows,
            "features": [f.to_dict() for f in self.features],
            "outputs": [f.to_dict() for f in self.outputs],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per feature and output: role, method, score, threshold, p-values, flag."""
        import pandas as pd

        rows = []
        for role, cols in (("feature", self.features), ("output", self.outputs)):
            for c in cols:
                rows.append(
                    {
                        "role": role,
                        "name": c.name,
                        "kind": c.kind,
                        "method": c.method,
                        "score": c.score,
                        "threshold": c.threshold,
                        "p_value": c.p_value,
                        "p_adjusted": c.p_adjusted,
                        "drifted": c.drifted,
                        "n_rows": c.n_rows,
                    }
                )
        cols_order = [
            "role",
            "name",
            "kind",
            "method",
            "score",
            "threshold",
            "p_value",
            "p_adjusted",
            "drifted",
            "n_rows",
        ]
        return pd.DataFrame(rows, columns=cols_order)

    def to_text(self) -> str:
        """A fixed-width table for terminals and CI logs."""
        head = ("name", "kind", "method", "score", "threshold", "p_value", "drifted")
        lines = [list(head)]

        def fmt(v: float) -> str:
            return "-" if not math.isfinite(v) else f"{v:.4g}"

        for prefix, cols in (("", self.features), ("output:", self.outputs)):
            for c in cols:
                flag = "DRIFT" if c.drifted else ("no" if c.judged else "n/a")
                lines.append(
                    [
                        prefix + c.name,
                        c.kind,
                        c.method,
                        fmt(c.score),
                        fmt(c.threshold),
                        fmt(c.p_adjusted),
                        flag,
                    ]
                )
        widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
        out = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in lines]
        out.insert(1, "  ".join("-" * w for w in widths))
        # "no drift" under a table with a DRIFT row read as a contradiction: name the level.
        drifted = self.drifted_features
        verdict = "DATASET DRIFT" if self.dataset_drifted else "no dataset drift"
        verdict += f"; {len(drifted)} feature(s) drifted" + (f": {', '.join(drifted)}" if drifted else "")
        share = fmt(self.drift_share)
        out.append("")
        out.append(
            f"model {self.model or '-'} window {self.window}: {self.n_rows} rows, drift share {share} "
            f"(threshold {self.share_threshold:g}, {self.correction} at alpha {self.alpha:g}): {verdict}"
        )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()
