"""Reported metrics: the DCASE 2016 Task 4 EER, and multi-label F1 / ranking metrics.

Everything here runs on the host, in numpy, on whole arrays: gather the scores and labels of the
full evaluation set first (STYLE.md (e)); an EER of a batch is not an EER of the set.

Multi-label metrics (image tagging, GitHub issue 3) take `labels` `[n, n_labels]` in {0, 1},
and either `scores` `[n, n_labels]` (higher = more likely) or binary `predictions`
`[n, n_labels]` (see `binarize`). Micro/macro F1 use the standard definitions: micro pools
TP/FP/FN over all labels, macro averages the per-label F1. The paper's prose swaps the two words
("Micro-F1 combines the precision and recall at the per-class level while macro F1 combining
them at the per-sample level"); we do not follow that wording.
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


def _check_shapes(labels, other, name):
    """Both as arrays; refuses anything but two `[n, n_labels]` arrays of one shape."""
    labels = np.asarray(labels)
    other = np.asarray(other)
    if labels.ndim != 2 or labels.shape != other.shape:
        raise ValueError(
            f"expected labels and {name} of the same shape [n, n_labels], got {labels.shape} "
            f"and {other.shape}"
        )
    return labels, other


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
    labels, scores = _check_shapes(labels, scores, "scores")
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



# ---------------------------------------------------------------------------------------------
# Multi-label F1, Hamming and ranking metrics (host, numpy).


def _check_pair(labels, other, name):
    labels, other = _check_shapes(labels, other, name)
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("labels must be binary (0/1)")
    return labels.astype(bool), other


def _f1(tp, fp, fn, zero_division):
    denominator = 2.0 * tp + fp + fn
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, 2.0 * tp / safe, float(zero_division))


def _counts(labels, predictions, axis):
    y, p = _check_pair(labels, predictions, "predictions")
    p = p.astype(bool)
    tp = np.sum(y & p, axis=axis, dtype=np.float64)
    fp = np.sum(~y & p, axis=axis, dtype=np.float64)
    fn = np.sum(y & ~p, axis=axis, dtype=np.float64)
    return tp, fp, fn


def micro_f1(labels, predictions, zero_division=0.0) -> float:
    """Micro-averaged F1: TP, FP and FN pooled over every (example, label) cell.

    Runs on the host. Same as scikit-learn `f1_score(..., average="micro")`. (The paper's prose
    calls this "macro"; see the module docstring.)

    Formula:
    ```python
    micro_f1 = 2 TP / (2 TP + FP + FN)      # sums over all examples and labels
    ```

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        predictions: Binary predictions (0/1 or bool). shape = `[n, n_labels]`.
        zero_division: The value when `2 TP + FP + FN = 0` (no positive anywhere, none
            predicted); passed as scikit-learn's `zero_division`. Default 0.0, scikit-learn's
            default value (without its warning).

    Returns:
        The micro F1 as a Python float.

    Example:

    >>> micro_f1([[1, 0], [1, 1]], [[1, 1], [0, 1]])  # TP 2, FP 1, FN 1: 4 / 6
    0.6666666666666666
    """
    tp, fp, fn = _counts(labels, predictions, axis=None)
    return float(_f1(tp, fp, fn, zero_division))


def per_label_f1(labels, predictions, zero_division=0.0) -> np.ndarray:
    """F1 of each label column, as scikit-learn `f1_score(..., average=None)`.

    Runs on the host. A label with no positive and no predicted positive gets `zero_division`.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        predictions: Binary predictions. shape = `[n, n_labels]`.
        zero_division: The value of `0 / 0` (default 0.0, as scikit-learn's default).

    Returns:
        float64 array of per-label F1. shape = `[n_labels]`.
    """
    tp, fp, fn = _counts(labels, predictions, axis=0)
    return _f1(tp, fp, fn, zero_division)


def macro_f1(labels, predictions, zero_division=0.0) -> float:
    """Macro-averaged F1: the unweighted mean over labels of the per-label F1.

    Runs on the host. Same as scikit-learn `f1_score(..., average="macro",
    zero_division=zero_division)`. Convention: a label with no positive and no predicted
    positive has F1 = `zero_division` (default 0.0, scikit-learn's default value) and is kept
    in the mean. (The paper's prose calls this "micro"; see the module docstring.)

    Formula:
    ```python
    macro_f1 = mean_j(2 TP_j / (2 TP_j + FP_j + FN_j))
    ```

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        predictions: Binary predictions. shape = `[n, n_labels]`.
        zero_division: The F1 of a label with `2 TP + FP + FN = 0`.

    Returns:
        The macro F1 as a Python float.

    Example:

    >>> macro_f1([[1, 0], [1, 1]], [[1, 1], [0, 1]])  # label 0: 2/3, label 1: 2/3
    0.6666666666666666
    """
    return float(np.mean(per_label_f1(labels, predictions, zero_division)))


def example_f1(labels, predictions, zero_division=0.0) -> float:
    """Example-based F1: the mean over examples of each example's F1 over its labels.

    Runs on the host. Same as scikit-learn `f1_score(..., average="samples",
    zero_division=zero_division)`: an example with no true and no predicted label has F1 =
    `zero_division` (default 0.0) and is kept in the mean.

    Formula:
    ```python
    example_f1 = mean_i(2 |Y_i & P_i| / (|Y_i| + |P_i|))
    ```

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        predictions: Binary predictions. shape = `[n, n_labels]`.
        zero_division: The F1 of an example with `|Y_i| + |P_i| = 0`.

    Returns:
        The example-based F1 as a Python float.

    Example:

    >>> example_f1([[1, 0], [1, 1]], [[1, 1], [0, 1]])  # 2/3 and 2/3
    0.6666666666666666
    """
    tp, fp, fn = _counts(labels, predictions, axis=1)
    return float(np.mean(_f1(tp, fp, fn, zero_division)))


def hamming_loss(labels, predictions) -> float:
    """Fraction of (example, label) cells predicted wrongly, as scikit-learn `hamming_loss`.

    Runs on the host.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        predictions: Binary predictions. shape = `[n, n_labels]`.

    Returns:
        The Hamming loss in `[0, 1]`, a Python float.

    Example:

    >>> hamming_loss([[1, 0], [1, 1]], [[1, 1], [0, 1]])  # 2 wrong cells of 4
    0.5
    """
    y, p = _check_pair(labels, predictions, "predictions")
    return float(np.mean(y != p.astype(bool)))


def _row_blocks(n, n_labels, budget=4_000_000):
    """Row slices small enough that a `[rows, n_labels, n_labels]` array stays near `budget`."""
    step = max(1, budget // max(1, n_labels * n_labels))
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def _check_scores(labels, scores):
    y, s = _check_pair(labels, scores, "scores")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError("scores hold NaN or infinite values; scores must be finite")
    return y, s


def ranking_loss(labels, scores) -> float:
    """Ranking loss: the fraction of (positive, negative) label pairs ordered wrongly.

    Runs on the host. Same as scikit-learn `label_ranking_loss`: a tie (`s_pos == s_neg`)
    counts as a wrong pair, and an example with no positive or no negative label counts 0 and
    stays in the mean.

    Formula:
    ```python
    loss_i = #{(j, k) in Y_i x Ybar_i : s[i, j] <= s[i, k]} / (|Y_i| |Ybar_i|)
    ranking_loss = mean_i(loss_i)
    ```

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores, higher meaning more likely positive. shape = `[n, n_labels]`.

    Returns:
        The ranking loss in `[0, 1]`, a Python float.

    Example:

    >>> ranking_loss([[1, 0, 0]], [[0.5, 0.7, 0.1]])  # 1 wrong pair of 2
    0.5
    """
    y, s = _check_scores(labels, scores)
    per_example = np.zeros(y.shape[0])
    for rows in _row_blocks(*y.shape):
        yb, sb = y[rows], s[rows]
        pairs = yb[:, :, None] & ~yb[:, None, :]  # [rows, L, L]
        wrong = np.sum(pairs & (sb[:, :, None] <= sb[:, None, :]), axis=(1, 2))
        n_pairs = np.sum(yb, axis=1) * np.sum(~yb, axis=1)
        per_example[rows] = np.where(n_pairs > 0, wrong / np.maximum(n_pairs, 1), 0.0)
    return float(np.mean(per_example))


def one_error(labels, scores) -> float:
    """One-error: the fraction of examples whose top-scored label is not a true label.

    Runs on the host (scikit-learn has no one-error). The top label is `argmax` of the scores;
    a tie is broken towards the lowest label index. Examples with no true label are left out
    (their one-error is undefined); returns `nan` if no example has a true label.

    Formula:
    ```python
    one_error = mean_{i : |Y_i| > 0}[argmax_j s[i, j] not in Y_i]
    ```

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores. shape = `[n, n_labels]`.

    Returns:
        The one-error in `[0, 1]` as a Python float, or `nan`.

    Example:

    >>> one_error([[1, 0], [0, 1], [0, 0]], [[0.9, 0.1], [0.8, 0.2], [0.5, 0.1]])
    0.5
    """
    y, s = _check_scores(labels, scores)
    has_positive = np.any(y, axis=1)
    if not np.any(has_positive):
        return float("nan")
    top = np.argmax(s, axis=1)
    wrong = ~y[np.arange(y.shape[0]), top]
    return float(np.mean(wrong[has_positive]))


def coverage(labels, scores, one_based=False) -> float:
    """Coverage: how far down the ranking one must go to cover every true label.

    Runs on the host. Default (`one_based=False`) is Zhang & Zhou's (2006) 0-based coverage,
    `max rank - 1`; `one_based=True` is scikit-learn's `coverage_error` exactly. So
    `coverage(...)` equals `coverage_error(...) - 1` whenever every example has a true label.
    Ties count against the ranking (as scikit-learn): the rank of the lowest-scored true label
    is the number of labels scoring at least as high. An example with no true label counts 0
    (in both conventions, as scikit-learn) and stays in the mean.

    Formula:
    ```python
    rank_i = #{j : s[i, j] >= min_{k in Y_i} s[i, k]}
    coverage = mean_i(rank_i - 1)      # one_based=True: mean_i(rank_i)
    ```

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores. shape = `[n, n_labels]`.
        one_based: Return scikit-learn's 1-based `coverage_error` instead.

    Returns:
        The coverage as a Python float.

    Example:

    >>> coverage([[1, 0, 1]], [[0.9, 0.5, 0.1]])  # lowest true label ranked 3rd: 3 - 1
    2.0
    """
    y, s = _check_scores(labels, scores)
    lowest_true = np.min(np.where(y, s, np.inf), axis=1)  # [n]
    rank = np.sum(s >= lowest_true[:, None], axis=1).astype(np.float64)  # [n]; 0 if no true
    has_positive = np.any(y, axis=1)
    per_example = np.where(has_positive, rank if one_based else rank - 1.0, 0.0)
    return float(np.mean(per_example))


def label_ranking_average_precision(labels, scores) -> float:
    """Label ranking average precision (LRAP), as scikit-learn's LRAP score.

    Runs on the host. For each true label of an example: the fraction of labels ranked at or
    above it that are true; averaged over the example's true labels, then over examples. Ties
    count against the ranking. As scikit-learn, an example with no true label or with every
    label true scores 1.

    Formula:
    ```python
    lrap_i = mean_{j in Y_i} #{k in Y_i : s[i, k] >= s[i, j]} / #{k : s[i, k] >= s[i, j]}
    ```

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores. shape = `[n, n_labels]`.

    Returns:
        The LRAP in `(0, 1]`, a Python float.

    Example:

    >>> label_ranking_average_precision([[1, 0, 1]], [[0.9, 0.5, 0.1]])  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    y, s = _check_scores(labels, scores)
    per_example = np.ones(y.shape[0])
    for rows in _row_blocks(*y.shape):
        yb, sb = y[rows], s[rows]
        at_or_above = sb[:, None, :] >= sb[:, :, None]  # [rows, j, k]: s_k >= s_j
        rank_all = np.sum(at_or_above, axis=2)  # [rows, L]
        rank_true = np.sum(at_or_above & yb[:, None, :], axis=2)  # [rows, L]
        n_true = np.sum(yb, axis=1)
        precision = np.where(yb, rank_true / rank_all, 0.0)
        value = np.sum(precision, axis=1) / np.maximum(n_true, 1)
        degenerate = (n_true == 0) | (n_true == y.shape[1])
        per_example[rows] = np.where(degenerate, 1.0, value)
    return float(np.mean(per_example))


def _average_precision(y_true, y_score):
    """Step-wise AP of one label, as scikit-learn `average_precision_score` (ties grouped)."""
    order = np.argsort(-y_score, kind="stable")
    y_sorted, s_sorted = y_true[order], y_score[order]
    tp = np.cumsum(y_sorted)
    # Keep only the last index of each group of tied scores (one threshold per distinct score).
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp = tp[last].astype(np.float64)
    predicted = (np.flatnonzero(last) + 1).astype(np.float64)
    precision = tp / predicted
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_label_average_precision(labels, scores) -> np.ndarray:
    """Average precision of each label column; `nan` for a label with no positive.

    Runs on the host. Each value equals scikit-learn `average_precision_score` on that column.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores. shape = `[n, n_labels]`.

    Returns:
        float64 array of per-label AP. shape = `[n_labels]`.
    """
    y, s = _check_scores(labels, scores)
    return np.array(
        [_average_precision(y[:, j], s[:, j]) if y[:, j].any() else np.nan
         for j in range(y.shape[1])],
        dtype=np.float64,
    )


def mean_average_precision(labels, scores) -> float:
    """mAP over labels: the mean per-label average precision, skipping labels with no positive.

    Runs on the host. Per label, AP is scikit-learn's step-wise `average_precision_score`
    (`sum_n (R_n - R_{n-1}) P_n` over distinct score thresholds, no interpolation). Labels
    with no positive example have no AP and are left out of the mean; returns `nan` if no label
    has a positive.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores. shape = `[n, n_labels]`.

    Returns:
        The mAP in `[0, 1]` as a Python float, or `nan`.

    Example:

    >>> mean_average_precision([[1, 0], [0, 0], [1, 0]], [[0.9, 0.2], [0.8, 0.1], [0.3, 0.5]])
    0.8333333333333333
    """
    ap = per_label_average_precision(labels, scores)
    return float(np.nanmean(ap)) if np.any(~np.isnan(ap)) else float("nan")


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
    y, s = _check_scores(labels, scores)
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
    y, s = _check_scores(labels, scores)
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


def multilabel_report(labels, scores, predictions, zero_division=0.0) -> dict:
    """All multi-label metrics of this module, as a JSON-serialisable dict.

    Runs on the host. F1 and Hamming metrics use `predictions` (e.g. from `binarize`; record
    its `info` next to this report), ranking metrics use `scores`. Undefined values (`nan`:
    `one_error` without true labels, `mean_average_precision` without positives) are `None`.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores. shape = `[n, n_labels]`.
        predictions: Binary predictions. shape = `[n, n_labels]`.
        zero_division: Passed to the F1 functions.

    Returns:
        `{"micro_f1", "macro_f1", "example_f1", "hamming_loss", "ranking_loss", "one_error",
        "coverage", "label_ranking_average_precision", "mean_average_precision"}` as Python
        floats (or None), plus `"n_examples"` and `"n_labels"` (ints).
    """
    values = {
        "micro_f1": micro_f1(labels, predictions, zero_division),
        "macro_f1": macro_f1(labels, predictions, zero_division),
        "example_f1": example_f1(labels, predictions, zero_division),
        "hamming_loss": hamming_loss(labels, predictions),
        "ranking_loss": ranking_loss(labels, scores),
        "one_error": one_error(labels, scores),
        "coverage": coverage(labels, scores),
        "label_ranking_average_precision": label_ranking_average_precision(labels, scores),
        "mean_average_precision": mean_average_precision(labels, scores),
    }
    report = {name: (None if math.isnan(v) else float(v)) for name, v in values.items()}
    shape = np.asarray(labels).shape
    report["n_examples"] = int(shape[0])
    report["n_labels"] = int(shape[1])
    return report
