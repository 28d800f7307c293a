"""Classification quality from mergeable counts: confusion matrix, score histograms, sums.

Every figure here is computed from arrays that only ever get *added* (a confusion matrix,
per-class score histograms, a log-loss sum, a reliability table), so the counts of many
time buckets, replicas or scrapes merge exactly by addition, and a window's figure is the
figure of the summed counts. :func:`count_outcomes` turns labelled rows into such counts;
:func:`classification_metrics` turns summed counts into the exported figures.

Layout, for ``n_classes`` = K known classes: class index ``K`` is the overflow class
"other" (labels or predictions outside the bounded class list), so the confusion matrix
is (K+1) x (K+1). Scores are the K class probabilities in the class order.
"""

from __future__ import annotations

import numpy as np

#: Edges of the per-class score histograms used for ROC AUC. Equal steps in logit space
#: (rather than in probability) give fine resolution near 0 and 1, where confident models
#: put most of their scores; 100 bins keep the per-bucket memory small. The AUC error is
#: bounded by half the share of positive/negative pairs that share a bin (see Notes of
#: :func:`roc_auc_from_histograms`).
SCORE_EDGES: np.ndarray = np.concatenate(([0.0], 1.0 / (1.0 + np.exp(-np.linspace(-9.0, 9.0, 99))), [1.0]))
N_SCORE_BINS = len(SCORE_EDGES) - 1

#: Uniform confidence bins of the expected calibration error (the customary 10 bins,
#: the same bin rule as ``sklearn.calibration.calibration_curve(strategy="uniform")``).
ECE_BINS = 10

#: Probabilities are clipped to [eps, 1 - eps] before the log, as scikit-learn does.
_EPS = float(np.finfo(np.float64).eps)


def score_bin(scores: np.ndarray) -> np.ndarray:
    """Histogram bin of each score in :data:`SCORE_EDGES` (inner edges, right-closed)."""
    return np.searchsorted(SCORE_EDGES[1:-1], scores, side="left")


def ece_bin(confidence: np.ndarray) -> np.ndarray:
    """Uniform confidence bin, the rule of ``calibration_curve``: ``searchsorted`` left."""
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    return np.searchsorted(edges[1:-1], confidence, side="left")


def empty_counts(n_classes: int) -> dict[str, np.ndarray]:
    """Zeroed count arrays for K classes (the shapes a time bucket holds)."""
    k1 = n_classes + 1
    return {
        "cm": np.zeros((k1, k1)),
        "pos": np.zeros((n_classes, N_SCORE_BINS)),
        "neg": np.zeros((n_classes, N_SCORE_BINS)),
        "ll": np.zeros(2),
        "rel": np.zeros((3, ECE_BINS)),
    }


def count_outcomes(
    actual: np.ndarray, predicted: np.ndarray, scores: np.ndarray | None, n_classes: int
) -> dict[str, np.ndarray]:
    """Count labelled rows into the mergeable arrays of :func:`empty_counts`.

    Parameters
    ----------
    actual, predicted : int arrays
        Class index per row, ``n_classes`` meaning "other".
    scores : float array (n_rows x n_classes) or None
        Class probabilities; rows with any NaN count only in the confusion matrix.
    n_classes : int
        K, the number of known classes.

    Returns
    -------
    dict of arrays
        ``cm`` confusion matrix [actual, predicted]; ``pos``/``neg`` histograms of the
        score of class c over rows whose actual class is / is not c; ``ll`` the log-loss
        sum and the number of scored rows; ``rel`` per confidence bin the rows, the sum
        of top-label confidence and the number of correct top-label predictions.
    """
    k1 = n_classes + 1
    out = empty_counts(n_classes)
    actual = np.asarray(actual, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    out["cm"] += np.bincount(actual * k1 + predicted, minlength=k1 * k1).reshape(k1, k1)
    if scores is None or n_classes == 0 or len(actual) == 0:
        return out
    scores = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(scores).all(axis=1)
    if not ok.any():
        return out
    s, a = scores[ok], actual[ok]
    n = len(a)
    # Per-class histograms: one bincount over (class, bin) pairs for positives and one
    # for negatives, no loop over classes.
    bins = score_bin(s)  # n x K
    cls = np.broadcast_to(np.arange(n_classes), bins.shape)
    flat = (cls * N_SCORE_BINS + bins).ravel()
    is_pos = (a[:, None] == cls).ravel()
    size = n_classes * N_SCORE_BINS
    out["pos"] += np.bincount(flat[is_pos], minlength=size).reshape(n_classes, N_SCORE_BINS)
    out["neg"] += np.bincount(flat[~is_pos], minlength=size).reshape(n_classes, N_SCORE_BINS)
    # Log loss: the probability given to the actual class; "other" got none (p = 0).
    known = a < n_classes
    p_true = np.zeros(n)
    p_true[known] = s[np.flatnonzero(known), a[known]]
    p_true = np.clip(p_true, _EPS, 1.0 - _EPS)
    out["ll"] += (float(-np.log(p_true).sum()), float(n))
    # Reliability of the top label (for ECE): confidence = max probability.
    top = np.argmax(s, axis=1)
    conf = s[np.arange(n), top]
    correct = (top == a).astype(np.float64)
    b = ece_bin(conf)
    out["rel"][0] += np.bincount(b, minlength=ECE_BINS)
    out["rel"][1] += np.bincount(b, weights=conf, minlength=ECE_BINS)
    out["rel"][2] += np.bincount(b, weights=correct, minlength=ECE_BINS)
    return out


def confusion_metrics(cm: np.ndarray) -> dict[str, float]:
    """Accuracy and macro/micro precision, recall and F1 from a confusion matrix.

    Notes
    -----
    Follows scikit-learn's conventions (``precision_recall_fscore_support`` with
    ``zero_division=0``): a class enters the macro average when it occurs as an actual
    or a predicted class; a class never predicted has precision 0, one never actual has
    recall 0. With every class counted, micro precision, recall and F1 all equal the
    accuracy (each wrong prediction is one false positive and one false negative).
    """
    cm = np.asarray(cm, dtype=np.float64)
    n = float(cm.sum())
    if n <= 0:
        return {}
    tp = np.diag(cm)
    pred_tot = cm.sum(axis=0)
    act_tot = cm.sum(axis=1)
    present = (pred_tot + act_tot) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_tot > 0, tp / pred_tot, 0.0)
        recall = np.where(act_tot > 0, tp / act_tot, 0.0)
        f1 = np.where(pred_tot + act_tot > 0, 2.0 * tp / (pred_tot + act_tot), 0.0)
    accuracy = float(tp.sum()) / n
    return {
        "accuracy": accuracy,
        "precision_macro": float(precision[present].mean()),
        "recall_macro": float(recall[present].mean()),
        "f1_macro": float(f1[present].mean()),
        "precision_micro": accuracy,
        "recall_micro": accuracy,
        "f1_micro": accuracy,
    }


def roc_auc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of one score from its positive and negative histograms.

    Parameters
    ----------
    pos, neg : 1-D float arrays
        Counts of positive and negative rows per score bin (bins in increasing order).

    Returns
    -------
    float
        P(score of a positive > score of a negative) + 1/2 P(equal bin), i.e. the
        trapezoidal area under the ROC curve whose thresholds are the bin edges; NaN
        when there are no positives or no negatives.

    Notes
    -----
    Pairs in different bins are ordered exactly; a pair in the same bin counts 1/2. So
    the difference from the exact AUC is at most ``0.5 * sum(pos * neg) / (P * N)``
    (:func:`roc_auc_resolution`), which the tests use as their tolerance.
    """
    p, q = float(pos.sum()), float(neg.sum())
    if p <= 0 or q <= 0:
        return float("nan")
    neg_below = np.concatenate(([0.0], np.cumsum(neg)[:-1]))
    return float((pos * neg_below).sum() + 0.5 * (pos * neg).sum()) / (p * q)


def roc_auc_resolution(pos: np.ndarray, neg: np.ndarray) -> float:
    """Largest possible error of :func:`roc_auc_from_histograms` from binning alone."""
    p, q = float(pos.sum()), float(neg.sum())
    if p <= 0 or q <= 0:
        return float("nan")
    return 0.5 * float((pos * neg).sum()) / (p * q)


def classification_metrics(counts: dict[str, np.ndarray], n_classes: int) -> dict[str, float]:
    """Every classification figure the tracker exports, from summed counts.

    ``roc_auc`` is the AUC of the second class for two classes (scikit-learn's binary
    convention, ``y_score = scores[:, 1]``) and the unweighted mean of the one-vs-rest
    AUCs of the classes with both positives and negatives otherwise (``multi_class="ovr",
    average="macro"``). ``log_loss`` is the mean negative log probability of the actual
    class; ``calibration_error`` the expected calibration error of the top label over
    :data:`ECE_BINS` uniform bins: sum over bins of |correct - confidence| / rows.
    """
    out = confusion_metrics(counts["cm"])
    if not out:
        return out
    pos, neg = counts["pos"], counts["neg"]
    if n_classes == 2:
        auc = roc_auc_from_histograms(pos[1], neg[1])
    elif n_classes > 2:
        aucs = [roc_auc_from_histograms(pos[c], neg[c]) for c in range(n_classes)]
        finite = [a for a in aucs if np.isfinite(a)]
        auc = float(np.mean(finite)) if finite else float("nan")
    else:
        auc = float("nan")
    if np.isfinite(auc):
        out["roc_auc"] = auc
    ll_sum, ll_n = counts["ll"]
    if ll_n > 0:
        out["log_loss"] = float(ll_sum / ll_n)
    rel = counts["rel"]
    n_rel = float(rel[0].sum())
    if n_rel > 0:
        out["calibration_error"] = float(np.abs(rel[2] - rel[1]).sum() / n_rel)
    return out
