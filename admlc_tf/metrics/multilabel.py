"""Multi-label F1, Hamming and ranking metrics, and average precision (host, numpy).

Multi-label metrics (image tagging, GitHub issue 3) take `labels` `[n, n_labels]` in {0, 1},
and either `scores` `[n, n_labels]` (higher = more likely) or binary `predictions`
`[n, n_labels]` (see `admlc_tf.metrics.thresholding.binarize`). Micro/macro F1 use the standard
definitions: micro pools TP/FP/FN over all labels, macro averages the per-label F1. The paper's
prose swaps the two words ("Micro-F1 combines the precision and recall at the per-class level
while macro F1 combining them at the per-sample level"); we do not follow that wording.
"""

from __future__ import annotations

import numpy as np

from admlc_tf.metrics.checks import check_pair, check_scores


def _f1(tp, fp, fn, zero_division):
    denominator = 2.0 * tp + fp + fn
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, 2.0 * tp / safe, float(zero_division))


def _counts(labels, predictions, axis):
    y, p = check_pair(labels, predictions, "predictions")
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
    y, p = check_pair(labels, predictions, "predictions")
    return float(np.mean(y != p.astype(bool)))


def _row_blocks(n, n_labels, budget=4_000_000):
    """Row slices small enough that a `[rows, n_labels, n_labels]` array stays near `budget`."""
    step = max(1, budget // max(1, n_labels * n_labels))
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


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
    y, s = check_scores(labels, scores)
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
    y, s = check_scores(labels, scores)
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
    y, s = check_scores(labels, scores)
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
    y, s = check_scores(labels, scores)
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
    y, s = check_scores(labels, scores)
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
