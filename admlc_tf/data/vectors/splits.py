"""The paper's protocol splits of a feature-vector set: r random examples for training and
validation, the rest for test, repeated with recorded seeds; and the validation part of r."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def random_split(n: int, train_size: int | float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's protocol: r random examples for training (and validation), the rest for test.

    Args:
      n: number of examples.
      train_size: r as a count in 1..n-1, or a fraction in (0, 1) of n (rounded).
      seed: record it with the results; the same (n, train_size, seed) gives the same split.

    Returns:
      (train_idx `[r]`, test_idx `[n - r]`), disjoint, each sorted ascending, int64.
    """
    r = int(round(train_size * n)) if isinstance(train_size, float) else int(train_size)
    if not 0 < r < n:
        raise ValueError(f"train_size {train_size} leaves no training or no test examples out "
                         f"of {n}: use a count in 1..{n - 1} or a fraction in (0, 1)")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:r]), np.sort(order[r:])


def train_validation_split(train_idx: Sequence[int] | np.ndarray, validation_fraction: float, *,
                           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Holds out a random `validation_fraction` of `train_idx` for validation.

    Args:
      train_idx: `[r]` example indices (from `random_split`).
      validation_fraction: in [0, 1); the held-out count is rounded, at least 1 if positive.
      seed: record it with the results.

    Returns:
      (train `[r - v]`, validation `[v]`) subsets of `train_idx`, each sorted ascending, int64.
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction {validation_fraction} must be in [0, 1)")
    v = int(round(validation_fraction * len(train_idx)))
    v = max(v, 1) if validation_fraction > 0 else 0
    if v >= len(train_idx):
        raise ValueError(f"validation_fraction {validation_fraction} leaves no training examples "
                         f"out of {len(train_idx)}")
    order = np.random.default_rng(seed).permutation(len(train_idx))
    return np.sort(train_idx[order[v:]]), np.sort(train_idx[order[:v]])


# ----------------------------------------------------------------------------------------------
# Writers
