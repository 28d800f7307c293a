"""Reference quality: the figures of a validation set, stored in the profile as the baseline.

Computed by the same count-then-figure code as the tracker's windows
(:mod:`~mlscope.engine.quality.classification`, :mod:`~mlscope.engine.quality.regression`),
so the baseline and a live window's figure are comparable by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from mlscope.engine.quality import classification, regression
from mlscope.engine.quality.encoding import floats, keys
from mlscope.engine.quality.join import label_key
from mlscope.errors import InputError


def reference_quality(
    task: str,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    scores: npt.ArrayLike | None = None,
    classes: Sequence[object] | None = None,
) -> dict[str, float]:
    """The quality figures of a validation set, to store in the profile as the baseline.

    Parameters
    ----------
    task : {"classification", "regression"}
        What the model does.
    y_true, y_pred : array-like
        Labels and predictions of the validation rows.
    scores : array-like (n_rows x n_classes), optional
        Class probabilities, columns in the order of ``classes``.
    classes : sequence, optional
        The class labels (default: the sorted distinct labels and predictions).

    Returns
    -------
    dict
        The same figures, by the same code, as the tracker exports per window
        (``accuracy``, ``f1_macro``, ``roc_auc``, ... or ``mae``, ``rmse``, ...).
    """
    if task == "regression":
        return regression.regression_metrics(regression.count_residuals(floats(y_true), floats(y_pred)))
    if task != "classification":
        raise InputError(f"'task' must be 'classification' or 'regression' (got {task!r})")
    t_keys, p_keys = keys(y_true), keys(y_pred)
    if classes is None:
        names = sorted({k for k in (*t_keys, *p_keys) if k is not None})
    else:
        names = [label_key(c) or "" for c in classes]
    index = {c: i for i, c in enumerate(names)}
    k = len(names)
    ok = np.array([a is not None and b is not None for a, b in zip(t_keys, p_keys, strict=True)], dtype=bool)
    actual = np.array([index.get(a, k) if a is not None else -1 for a in t_keys], dtype=np.int64)
    pred = np.array([index.get(b, k) if b is not None else -1 for b in p_keys], dtype=np.int64)
    s = None
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64).reshape(len(t_keys), -1)
        if s.shape[1] != k:
            raise InputError(f"'scores' must have one column per class ({k}), got {s.shape[1]}")
        s = s[ok]
    counts = classification.count_outcomes(actual[ok], pred[ok], s, k)
    return classification.classification_metrics(counts, k)


def profile_quality(
    task: str | None,
    columns: Mapping[str, npt.ArrayLike],
    *,
    target: str | None,
    prediction: str | None,
    scores: Mapping[str, str] | None = None,
    classes: Sequence[str] = (),
) -> dict[str, float]:
    """Reference quality for ``Profile.from_frame``: {} unless a target and a prediction are given.

    ``scores`` maps a class to its probability column; the score figures (ROC AUC, log
    loss, calibration error) are included when every class has one.
    """
    if task not in ("classification", "regression") or target is None or prediction is None:
        return {}
    if task == "regression":
        return reference_quality("regression", columns[target], columns[prediction])
    names = [str(c) for c in classes]
    s = None
    if scores and names and all(c in scores for c in names):
        s = np.column_stack([floats(columns[scores[c]]) for c in names])
    return reference_quality("classification", columns[target], columns[prediction], s, names or None)
