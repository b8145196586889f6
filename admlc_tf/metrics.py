"""Reported metrics: per-label equal error rate (EER) as the DCASE 2016 Task 4 scorer computes it.

Everything here runs on the host, in numpy, on whole arrays: gather the scores and labels of the
full evaluation set first (STYLE.md (e)); an EER of a batch is not an EER of the set.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_curve

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
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise ValueError(
            f"per_label_eer expects labels and scores of the same shape [n, n_labels], got "
            f"{labels.shape} and {scores.shape}"
        )
    return np.array(
        [equal_error_rate(labels[:, j], scores[:, j]) for j in range(labels.shape[1])],
        dtype=np.float64,
    )


def eer_report(labels, scores, label_names: Sequence[str]) -> dict:
    """Per-label EERs and their mean, as a JSON-serialisable dict.

    Runs on the host. A label whose column in `labels` has a single class (no positives or no
    negatives) has no EER: its value is `None` and it is left out of the mean (the mean is over
    the labels that have one, as `np.nanmean`). If no label has an EER, `mean_eer` is `None`.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores for each label. shape = `[n, n_labels]`.
        label_names: One name per label column, in column order (e.g. `c m f v p b o`).

    Returns:
        `{"eer": {name: float | None, ...}, "mean_eer": float | None, "n_chunks": n}`, with
        plain Python floats and ints, label names in the given order.

    Raises:
        ValueError: `label_names` does not match the number of label columns, or as
            `per_label_eer`.
    """
    eers = per_label_eer(labels, scores)
    names = list(label_names)
    if len(names) != eers.shape[0]:
        raise ValueError(f"got {len(names)} label names for {eers.shape[0]} label columns")
    if len(set(names)) != len(names):
        raise ValueError(f"label names are not unique: {names}")
    by_label = {name: (None if math.isnan(v) else float(v)) for name, v in zip(names, eers)}
    defined = [v for v in by_label.values() if v is not None]
    mean = float(np.mean(defined)) if defined else None
    return {"eer": by_label, "mean_eer": mean, "n_chunks": int(np.asarray(labels).shape[0])}


def format_eer_table(
    eer_by_label: Mapping[str, float | None], mean_eer: float | None, title: str = ""
) -> str:
    """Formats per-label EERs as a one-row text table shaped like the paper's Table 1.

    The header row holds the label names in the mapping's order, then `ave`; the value row holds
    the EERs with 3 decimals, `-` for a missing (None or nan) value. A non-empty `title` is a
    first line of its own.

    Args:
        eer_by_label: EER per label name, e.g. `eer_report(...)["eer"]`.
        mean_eer: The mean EER (the `ave` column), or None.
        title: Optional line printed above the table (e.g. `"AD-WARP, evaluation"`).

    Returns:
        The table as a string, lines joined by `\\n`, no trailing newline.

    Example:

    >>> print(format_eer_table({"c": 0.17, "m": None}, 0.17))
        c      m    ave
    0.170      -  0.170
    """
    names = [str(name) for name in eer_by_label] + ["ave"]
    values = [_format_value(v) for v in eer_by_label.values()] + [_format_value(mean_eer)]
    widths = [max(len(n), len("0.000")) for n in names]
    header = "  ".join(n.rjust(w) for n, w in zip(names, widths))
    row = "  ".join(v.rjust(w) for v, w in zip(values, widths))
    lines = ([title] if title else []) + [header, row]
    return "\n".join(lines)


def _format_value(value: float | None) -> str:
    if value is None or math.isnan(float(value)):
        return "-"
    return f"{float(value):.3f}"
