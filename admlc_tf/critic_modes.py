"""How the critic sees a predicted label vector, and what it is trained to say about a pair.

The paper's critic (`paper`) is trained to score ground-truth pairs (x, y) 1 and predicted
pairs (x, y_hat) 0. Ground-truth vectors are exactly 0/1 and predictions are soft, so a critic
can win that game by reading how close each entry is to 0 or 1, without looking at x: its
gradient then sharpens the predictor's outputs in whatever direction they already lean,
which is not the same as making them fit. The other modes close that loophole in two ways.

Hard predicted pairs (the critic sees a 0/1 vector in place of y_hat in both updates, so
real and predicted pairs can only differ by which labels are on; the predictor gets
ds/dy_hat through the binarisation with a straight-through gradient):
- `bernoulli`: a sample b ~ Bernoulli(y_hat), the stochastic binary neuron of Dong & Yang
  2018 ("Training generative adversarial networks with binary neurons by end-to-end
  backpropagation"; Bengio et al. 2013 for the estimator). Forward b, backward the identity
  with respect to y_hat; through y_hat = sigmoid(z) the logits get sigmoid'(z), their
  "sigmoid-adjusted" estimator.
- `threshold`: the deterministic binary neuron, b = [y_hat >= 0.5], same gradient.
- `gumbel`: the binary-concrete (Gumbel-sigmoid) relaxation of the Bernoulli sample (Maddison
  et al. 2017; Jang et al. 2017), sigmoid((logit(y_hat) + logit(u)) / temperature), u ~ U(0, 1):
  soft, differentiable, and near 0/1 at a low `critic_temperature`.
Samples come from stateless seeds keyed by the run seed, the step and each example's position
in the GLOBAL batch, so one device and N devices draw the same vectors and a resumed run draws
what the uninterrupted run would have.

A value critic (`value`, after Gygli, Norouzi & Angelova 2017, "Deep value networks learn to
evaluate and iteratively refine structured outputs"): the critic regresses the quality q(v, y)
in [0, 1] of a label vector v for an input whose truth is y, with q(y, y) = 1, by the same
cross-entropy with a soft target. It is trained on pairs where hardness does not predict the
target: ground truth (hard, q = 1), the predictions (soft), the predictions thresholded (hard,
usually wrong somewhere), a perturbed truth (hard, one label flipped) and a smoothed truth
(soft, every entry pulled towards 0.5 by a random amount but still ordered right). The
predictor maximises the critic's score of (x, y_hat), as in the paper. The quality
(`critic_quality`):
- `rank`: the fraction of (positive, negative) label pairs of the example that v orders
  correctly, ties counting half: 1 - the example's ranking loss. A smoothed truth keeps q = 1
  and rounding only creates ties, so the target is blind to sharpness and judges the order the
  threshold-free measures (EER, AUC, mAP) score. An example with no such pair (no label, or
  every label) scores 1 - mean |v - y|.
- `f1`: soft F1, 2 sum(v y) / (sum v + sum y) (1 when both are empty), Gygli et al.'s choice for
  multi-label text; it rewards sharpening in the right direction.
"""

from __future__ import annotations

import tensorflow as tf

MODES = ("paper", "bernoulli", "threshold", "gumbel", "value")
QUALITIES = ("rank", "f1")
STRAIGHT_THROUGH = ("bernoulli", "threshold")

# Salts that keep the draws of one step apart (stateless_fold_in keys).
_SAMPLE, _SMOOTH, _FLIP = 1, 2, 3


def global_rows(local: tf.Tensor) -> tf.Tensor:
    """`[local]` positions of this replica's rows in the global batch; runs on each replica."""
    context = tf.distribute.get_replica_context()
    return context.replica_id_in_sync_group * local + tf.range(local)


def replica_uniform(seed: tf.Tensor, salt: int, global_batch: int, tail, rows: tf.Tensor):
    """U(0, 1) draws `[local, *tail]` of this replica's rows, drawn for the whole global batch
    `[global_batch, *tail]` from `seed` folded with `salt` and kept by row, so that how the batch
    is split over devices never changes an example's draw."""
    key = tf.random.experimental.stateless_fold_in(seed, salt)
    return tf.gather(tf.random.stateless_uniform([global_batch, *tail], key), rows)


def straight_through(forward: tf.Tensor, backward: tf.Tensor) -> tf.Tensor:
    """`forward`'s values with `backward`'s gradient (d out / d backward = 1)."""
    return backward + tf.stop_gradient(forward - backward)


def critic_view(mode: str, y_hat: tf.Tensor, seed: tf.Tensor, *, global_batch: int,
                temperature: float) -> tf.Tensor:
    """What the critic sees in place of the predictions; runs on each replica.

    Args:
      mode: one of `MODES`.
      y_hat: `[local_batch, n_labels]` probabilities, differentiable.
      seed: `[2]` int32 stateless seed of this step.
      global_batch: N, the global batch the local rows belong to.
      temperature: the `gumbel` relaxation's temperature.

    Returns:
      `[local_batch, n_labels]`, differentiable with respect to `y_hat`: `y_hat` itself
      (`paper`, `value`), a 0/1 vector with a straight-through gradient (`bernoulli`,
      `threshold`) or a relaxed sample (`gumbel`).
    """
    if mode in ("paper", "value"):
        return y_hat
    if mode == "threshold":
        return straight_through(tf.cast(y_hat >= 0.5, y_hat.dtype), y_hat)
    rows = global_rows(tf.shape(y_hat)[0])
    u = replica_uniform(seed, _SAMPLE, global_batch, [y_hat.shape[-1]], rows)
    if mode == "bernoulli":
        return straight_through(tf.cast(u < y_hat, y_hat.dtype), y_hat)
    if mode == "gumbel":
        eps = 1e-6
        p = tf.clip_by_value(y_hat, eps, 1.0 - eps)
        u = tf.clip_by_value(u, eps, 1.0 - eps)
        logits = tf.math.log(p) - tf.math.log1p(-p) + tf.math.log(u) - tf.math.log1p(-u)
        return tf.sigmoid(logits / temperature)
    raise ValueError(f"critic mode {mode!r} is not one of {MODES}")


def rank_quality(v: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """`[batch]` fraction of each example's (positive, negative) label pairs that `v` orders
    correctly, ties half; 1 - mean |v - y| for an example with no such pair.

    Args:
      v: `[batch, n_labels]` a label vector in [0, 1].
      y: `[batch, n_labels]` 0/1 truth.
    """
    pos = tf.cast(y > 0.5, v.dtype)
    pairs = pos[:, :, None] * (1.0 - pos)[:, None, :]  # [batch, L, L]: (positive p, negative n)
    diff = v[:, :, None] - v[:, None, :]
    right = tf.cast(diff > 0, v.dtype) + 0.5 * tf.cast(diff == 0, v.dtype)
    count = tf.reduce_sum(pairs, axis=[1, 2])
    ranked = tf.reduce_sum(pairs * right, axis=[1, 2]) / tf.maximum(count, 1.0)
    close = 1.0 - tf.reduce_mean(tf.abs(v - y), axis=-1)
    return tf.where(count > 0, ranked, close)


def f1_quality(v: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """`[batch]` soft F1 of `v` against the truth `y` (both `[batch, n_labels]`); 1 when both
    are empty."""
    overlap = tf.reduce_sum(v * y, axis=-1)
    total = tf.reduce_sum(v, axis=-1) + tf.reduce_sum(y, axis=-1)
    return tf.where(total > 0, 2.0 * overlap / tf.maximum(total, 1e-12), tf.ones_like(total))


def quality(kind: str, v: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """`[batch]` the value critic's target for the pairs (x, v) whose truth is `y`; no
    gradient flows into it."""
    v, y = tf.stop_gradient(tf.cast(v, tf.float32)), tf.cast(y, tf.float32)
    if kind == "rank":
        return rank_quality(v, y)
    if kind == "f1":
        return f1_quality(v, y)
    raise ValueError(f"critic quality {kind!r} is not one of {QUALITIES}")


def smoothed_truth(y: tf.Tensor, seed: tf.Tensor, global_batch: int) -> tf.Tensor:
    """`[local, n_labels]` the truth pulled towards 0.5 by e ~ U(0, 0.5) per example:
    `y (1 - e) + (1 - y) e`, soft but ordered exactly as `y`; runs on each replica."""
    rows = global_rows(tf.shape(y)[0])
    e = 0.5 * replica_uniform(seed, _SMOOTH, global_batch, [1], rows)  # [local, 1]
    return y * (1.0 - e) + (1.0 - y) * e


def flipped_truth(y: tf.Tensor, seed: tf.Tensor, global_batch: int) -> tf.Tensor:
    """`[local, n_labels]` the truth with one entry per example flipped (a label added or
    removed), chosen by a per-position draw; runs on each replica."""
    rows = global_rows(tf.shape(y)[0])
    u = replica_uniform(seed, _FLIP, global_batch, [], rows)  # [local]
    num_labels = y.shape[-1]
    index = tf.minimum(tf.cast(u * num_labels, tf.int32), num_labels - 1)
    return tf.abs(y - tf.one_hot(index, num_labels, dtype=y.dtype))


def hardness_auc(soft_scores, hard_scores) -> float | None:
    """The probability that the critic scores a rounded prediction above a soft one (ROC AUC
    of hard vs soft, ties half): 0.5 when it ignores hardness, near 1 when it has learnt that
    0/1 vectors are the real ones. None without scores.

    Args:
      soft_scores: `[n]` the critic's logits of (x, y_hat).
      hard_scores: `[n]` its logits of (x, round(y_hat)), the same examples.
    """
    import numpy as np
    from scipy.stats import rankdata

    soft, hard = np.asarray(soft_scores, np.float64), np.asarray(hard_scores, np.float64)
    if not len(soft) or not len(hard):
        return None
    ranks = rankdata(np.r_[soft, hard])  # average ranks: ties count half
    n_soft, n_hard = len(soft), len(hard)
    return float((ranks[n_soft:].sum() - n_hard * (n_hard + 1) / 2) / (n_soft * n_hard))
