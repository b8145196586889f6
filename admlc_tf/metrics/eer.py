"""The DCASE 2016 Task 4 equal error rate, per label, and its mean over the labels that have one.

Everything here runs on the host, in numpy, on whole arrays: gather the scores and labels of the
full evaluation set first (STYLE.md (e)); an EER of a batch is not an EER of the set.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from sklearn.metrics import roc_curve

from admlc_tf.metrics.checks import check_shapes

# The official scorer's tolerance, used both in the crossing test and for vertical segments.
_EPS = 1e-6


def equal_error_rate(y_true, y_score) -> float:
    """Equal error rate of one label, exactly as the official DCASE 2016 Task 4 scorer.

    Runs on the host. The scorer (`compute_eer` of the DCASE 2016 domestic audio tagging
    baseline) walks the ROC curve of scikit-learn's `roc_curve(y_true, y_score)` (with its
    default `drop_intermediate=True`), finds the first point `i` where the false positive rate
    meets the false negative rate, `fpr[i] + 1e-6 >= 1 - tpr[i]`, and intersects the segment
    from point `i-1` to point `i` with the line `fpr = 1 - tpr`:

    Formula:
    ```python
    m = (tpr[i] - tpr[i-1]) / (fpr[i] - fpr[i-1])
    o = tpr[i-1] - m * fpr[i-1]
    eer = (1 - o) / (1 + m)
    ```

    Edge cases:
    - Vertical segment (`|fpr[i] - fpr[i-1]| < 1e-6`, which includes perfect separation, where
      the curve goes straight up from `(0, 0)` to `(0, 1)`): the EER is `fpr[i-1]`, as in the
      official scorer (equal to `fpr[i]` within 1e-6). Perfect separation gives 0.
    - `i == 0`: cannot happen. Like the official scorer, the curve starts at `(0, 0)` (we
      prepend it if scikit-learn does not emit it), which never passes the test, and it ends at
      `(1, 1)`, which always does, so `1 <= i <= len(fpr) - 1`.
    - Fully reversed scores give 1 (horizontal segment `(0, 0) -> (1, 0)`).
    - `y_true` with no positive or no negative: the EER is undefined; returns `nan` (scikit-
      learn would warn and produce a `nan` curve). The caller reports such labels.

    Args:
        y_true: Binary ground truth, `0`/`1` or bool. shape = `[n]`.
        y_score: Scores, higher meaning more likely positive (probabilities or logits).
            shape = `[n]`.

    Returns:
        The EER as a Python float in `[0, 1]`, or `nan` if `y_true` has a single class.

    Raises:
        ValueError: the inputs are not 1-D, differ in length, are empty, `y_true` is not binary,
            or `y_score` holds NaN or infinite values.

    Example:

    >>> equal_error_rate([1, 1, 0, 0, 1, 0], [0.9, 0.8, 0.6, 0.6, 0.6, 0.2])
    0.22222222222222224
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1 or y_score.ndim != 1:
        raise ValueError(
            f"equal_error_rate expects 1-D y_true and y_score, got shapes {y_true.shape} and "
            f"{y_score.shape}"
        )
    if y_true.shape != y_score.shape:
        raise ValueError(
            f"y_true and y_score differ in length: {y_true.shape[0]} vs {y_score.shape[0]}"
        )
    if y_true.size == 0:
        raise ValueError("equal_error_rate got empty arrays")
    if not np.all(np.isfinite(y_score)):
        bad = int(np.sum(~np.isfinite(y_score)))
        raise ValueError(f"y_score holds {bad} NaN or infinite value(s); scores must be finite")
    if not np.all((y_true == 0) | (y_true == 1)):
        raise ValueError(f"y_true must be binary (0/1), got values {np.unique(y_true)[:10]}")
    y_true = y_true.astype(np.int64)
    n_positive = int(y_true.sum())
    if n_positive == 0 or n_positive == y_true.size:
        return float("nan")

    fpr, tpr, _ = roc_curve(y_true, y_score, drop_intermediate=True)
    if fpr[0] != 0.0 or tpr[0] != 0.0:
        fpr = np.concatenate([[0.0], fpr])
        tpr = np.concatenate([[0.0], tpr])
    # First point on or past the line fpr = 1 - tpr; the last point (1, 1) always qualifies.
    i = int(np.argmax(fpr + _EPS >= 1.0 - tpr))
    if abs(fpr[i] - fpr[i - 1]) < _EPS:
        return float(fpr[i - 1])
    slope = (tpr[i] - tpr[i - 1]) / (fpr[i] - fpr[i - 1])
    offset = tpr[i - 1] - slope * fpr[i - 1]
    return float((1.0 - offset) / (1.0 + slope))


def per_label_eer(labels, scores) -> np.ndarray:
    """EER of each label column (see `equal_error_rate`).

    Runs on the host.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores for each label. shape = `[n, n_labels]`.

    Returns:
        float64 array of per-label EERs, `nan` for a label with a single class.
        shape = `[n_labels]`.

    Raises:
        ValueError: the inputs are not 2-D arrays of the same shape, or as `equal_error_rate`.
    """
    labels, scores = check_shapes(labels, scores, "scores")
    return np.array(
        [equal_error_rate(labels[:, j], scores[:, j]) for j in range(labels.shape[1])],
        dtype=np.float64,
    )


def mean_eer(eers) -> Optional[float]:
    """The mean of the defined per-label EERs (`per_label_eer`'s non-nan values), None when no
    label has one: the `mean_eer` of every report."""
    eers = np.asarray(eers, np.float64)
    return float(np.nanmean(eers)) if np.any(~np.isnan(eers)) else None
