"""The input checks every metric shares: two `[n, n_labels]` arrays of one shape, binary
labels, finite scores."""

from __future__ import annotations

import numpy as np


def check_shapes(labels, other, name):
    """Both as arrays; refuses anything but two `[n, n_labels]` arrays of one shape."""
    labels = np.asarray(labels)
    other = np.asarray(other)
    if labels.ndim != 2 or labels.shape != other.shape:
        raise ValueError(
            f"expected labels and {name} of the same shape [n, n_labels], got {labels.shape} "
            f"and {other.shape}"
        )
    return labels, other


def check_pair(labels, other, name):
    labels, other = check_shapes(labels, other, name)
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("labels must be binary (0/1)")
    return labels.astype(bool), other


def check_scores(labels, scores):
    y, s = check_pair(labels, scores, "scores")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError("scores hold NaN or infinite values; scores must be finite")
    return y, s
