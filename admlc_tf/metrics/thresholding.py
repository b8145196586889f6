"""Choosing label sets from scores: per-label cuts tuned on validation data (max F1, the
equal-error point), and `binarize`, the features and images tasks' three methods."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from admlc_tf.metrics.checks import check_scores


def tune_thresholds(labels, scores, default=0.5) -> np.ndarray:
    """Per-label thresholds maximising each label's F1 on a validation set.

    Runs on the host. For label `j`, every cut of the validation scores sorted in decreasing
    order (between distinct scores) is tried, predicting `score >= t` positive; the threshold is
    the midpoint between the lowest score kept and the next lower distinct score (the lowest
    score itself if every example is kept). Among equally good cuts the one keeping fewest
    examples (highest threshold) wins. A label with no validation positive keeps `default`.

    Args:
        labels: Validation ground truth. shape = `[n, n_labels]`.
        scores: Validation scores. shape = `[n, n_labels]`.
        default: The threshold of a label without validation positives.

    Returns:
        float64 thresholds. shape = `[n_labels]`.
    """
    y, s = check_scores(labels, scores)
    thresholds = np.full(y.shape[1], float(default))
    for j in range(y.shape[1]):
        n_positive = int(y[:, j].sum())
        if n_positive == 0:
            continue
        order = np.argsort(-s[:, j], kind="stable")
        y_sorted, s_sorted = y[order, j], s[order, j]
        last = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
        tp = np.cumsum(y_sorted)[last]
        f1 = 2.0 * tp / (n_positive + last + 1.0)
        best = int(np.argmax(f1))  # first maximum = highest threshold
        cut = last[best]
        lower = s_sorted[cut + 1] if cut + 1 < len(s_sorted) else s_sorted[cut]
        thresholds[j] = 0.5 * (s_sorted[cut] + lower)
    return thresholds


def eer_thresholds(labels, scores, default=0.5) -> np.ndarray:
    """Per-label thresholds at each label's equal-error point on a validation set.

    Runs on the host. For label `j`, among the cuts of scikit-learn's `roc_curve` (every
    distinct score, predicting `score >= t` positive), the one where the false positive rate is
    closest to the false negative rate `1 - tpr`; ties go to the highest threshold. A label
    without validation positives or negatives keeps `default`.

    Args:
        labels: Validation ground truth. shape = `[n, n_labels]`.
        scores: Validation scores. shape = `[n, n_labels]`.
        default: The threshold of a label with a single class.

    Returns:
        float64 thresholds. shape = `[n_labels]`.
    """
    y, s = check_scores(labels, scores)
    thresholds = np.full(y.shape[1], float(default))
    for j in range(y.shape[1]):
        if y[:, j].min() == y[:, j].max():
            continue
        fpr, tpr, cuts = roc_curve(y[:, j], s[:, j], drop_intermediate=False)
        finite = np.isfinite(cuts)  # the first cut is +inf: nothing predicted positive
        gap = np.abs(fpr - (1.0 - tpr))[finite]
        thresholds[j] = float(cuts[finite][int(np.argmin(gap))])
    return thresholds


def binarize(scores, method="fixed", threshold=0.5, k=None, validation=None):
    """Turns scores into binary predictions, and says how.

    Runs on the host. Three methods:
    - `"fixed"`: `score >= threshold` for every label (0.5 for probabilities; pass 0.0 for
      logits).
    - `"per_label"`: `score >= t_j`, with `t_j` from `tune_thresholds(*validation,
      default=threshold)`: each label's F1-maximising threshold on the validation part.
    - `"top_k"`: each example's `k` highest-scored labels (ties towards the lower index).

    Args:
        scores: Scores. shape = `[n, n_labels]`.
        method: `"fixed"`, `"per_label"` or `"top_k"`.
        threshold: The fixed threshold, and the fallback of `"per_label"`.
        k: Number of labels per example for `"top_k"`, `1 <= k <= n_labels`.
        validation: `(labels, scores)` of the validation part, each `[m, n_labels]`, for
            `"per_label"`.

    Returns:
        `(predictions, info)`: int64 predictions `[n, n_labels]` in {0, 1}, and a
        JSON-serialisable dict `{"method": str, "thresholds": [float] * n_labels | None,
        "k": int | None}` recording the choice (thresholds are `None` for `"top_k"`).

    Raises:
        ValueError: unknown method, missing/invalid `k` or `validation`, bad shapes.

    Example:

    >>> predictions, info = binarize([[0.7, 0.2], [0.4, 0.6]], "top_k", k=1)
    >>> predictions.tolist(), info
    ([[1, 0], [0, 1]], {'method': 'top_k', 'thresholds': None, 'k': 1})
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must have shape [n, n_labels], got {s.shape}")
    n_labels = s.shape[1]
    if method == "fixed":
        thresholds = np.full(n_labels, float(threshold))
    elif method == "per_label":
        if validation is None:
            raise ValueError('method "per_label" needs validation=(labels, scores)')
        val_labels, val_scores = validation
        if np.asarray(val_scores).ndim != 2 or np.asarray(val_scores).shape[1] != n_labels:
            raise ValueError(f"validation scores must have {n_labels} label columns")
        thresholds = tune_thresholds(val_labels, val_scores, default=threshold)
    elif method == "top_k":
        if k is None or not 1 <= int(k) <= n_labels:
            raise ValueError(f'method "top_k" needs 1 <= k <= {n_labels}, got k={k}')
        top = np.argsort(-s, axis=1, kind="stable")[:, : int(k)]
        predictions = np.zeros(s.shape, dtype=np.int64)
        np.put_along_axis(predictions, top, 1, axis=1)
        return predictions, {"method": "top_k", "thresholds": None, "k": int(k)}
    else:
        raise ValueError(f'unknown method {method!r}; use "fixed", "per_label" or "top_k"')
    predictions = (s >= thresholds[None, :]).astype(np.int64)
    info = {"method": method, "thresholds": [float(t) for t in thresholds], "k": None}
    return predictions, info
