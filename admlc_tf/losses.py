"""Per-example losses of ADMLC: supervised (Eq. 1) and adversarial (Eq. 3, 4).

Every function here is pure TensorFlow: no variables, no Python state, no reduction over the
batch. Each returns a `[batch]` float32 vector, so it runs on each replica inside `tf.function`
and `tf.distribute` replica functions; the training step reduces the vector with
`tf.nn.compute_average_loss(v, global_batch_size=...)` (STYLE.md (c)).

Scores are logits everywhere: the predictor and the critic both end in an unactivated Dense
layer, and the sigmoid is folded into the losses for numerical stability.

The supervised losses are looked up by name through `SUPERVISED_LOSSES` /
`get_supervised_loss`; each has the signature `loss(labels, logits) -> [batch]`: "ce" (the
paper's CE), "warp" (WARP), and, for the other methods of the paper's Table 2, "pr" (pairwise
ranking), "bpmll" (BP-MLL) and "l2" (squared error on the sigmoid).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

SupervisedLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def sigmoid_cross_entropy(labels, logits):
    """Multi-label sigmoid cross-entropy, averaged over labels (the paper's "CE").

    Runs on each replica. The mean (not the sum) over the label axis is deliberate: it matches
    `keras.losses.binary_crossentropy`, which Xu et al.'s Keras predictor trains with, and keeps
    the loss per label independent of the number of labels. This choice sets the scale of
    lambda in Eq. (3): the supervised term is a per-label average (about 0.69 at chance), while
    the adversarial term is one cross-entropy per example, so a lambda tuned for CE is
    `n_labels` times larger than the lambda for a summed CE, and is not comparable with a
    lambda tuned for WARP (a sum over label pairs).

    Formula:
    ```python
    loss[i] = mean_j(max(z[i, j], 0) - z[i, j] * y[i, j] + log(1 + exp(-|z[i, j]|)))
            = mean_j(-y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)))
    ```

    Args:
        labels: Ground-truth label vectors, `0.` or `1.`. shape = `[batch, n_labels]`.
        logits: Predictor logits (no sigmoid applied). shape = `[batch, n_labels]`.

    Returns:
        The per-example loss, float32. shape = `[batch]`.

    Example:

    >>> loss = sigmoid_cross_entropy([[0., 1.], [0., 0.]], [[0., 0.], [2., -2.]])
    >>> loss.shape
    TensorShape([2])
    >>> loss  # [log 2, (softplus(2) + softplus(-2)) / 2]
    <tf.Tensor: ... numpy=array([0.6931, 1.1269], dtype=float32)>
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.float32)
    per_label = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(per_label, axis=-1)  # [batch]


def warp(labels, logits, margin=1.0):
    """WARP: Weighted Approximate-Rank Pairwise loss, with the exact rank (no sampling).

    Runs on each replica. Weston, Bengio & Usunier (2011), used for multi-label tagging by Gong
    et al. (2013; the paper's ref [17]). For each positive label `j` of an example, its
    margin-penalised rank `r_j` is the number of negative labels `k` that violate the margin
    (`margin - f_j + f_k > 0`). The label sets here are small (7 for DCASE 2016, a few hundred
    for the image sets), so `r_j` is counted exactly over all `[n_labels, n_labels]` pairs
    instead of being estimated by sampling negatives as Weston et al. do for large label sets.

    Each positive contributes its summed pairwise hinge scaled by `L(r_j) / r_j`, with
    `L(r) = sum_{a=1..r} 1/a`. This is Weston's form: the positive's loss equals `L(r_j)` times
    its mean violating hinge, so it grows like `log r_j`, where plain pairwise ranking (weight 1
    per pair) grows like `r_j`. Relative to pairwise ranking, WARP therefore down-weights
    positives that sit below many negatives and concentrates on errors at the top of the list
    (precision at k). (Gong et al. print the weight as `L(r_j)` per pair with a sampled `r_j`;
    we follow Weston's normalised form.) The weight `L(r_j) / r_j` is a constant for the
    gradient (`tf.stop_gradient`), as in Weston et al., where the rank is a count, not a
    differentiable quantity.

    Normalisation: none. The loss is a sum over the example's (positive, violating negative)
    pairs, not divided by the number of positives or pairs, which is Weston's form. An example
    with no positive or no negative label has no pairs and loss 0.

    Formula:
    ```python
    h[i, j, k] = max(0, margin - f[i, j] + f[i, k])                 # j in Y_i, k in Ybar_i
    r[i, j]    = #{k in Ybar_i : margin - f[i, j] + f[i, k] > 0}
    loss[i]    = sum_{j in Y_i, r[i, j] > 0} L(r[i, j]) / r[i, j] * sum_{k in Ybar_i} h[i, j, k]
    L(r)       = 1 + 1/2 + ... + 1/r
    ```

    Args:
        labels: Ground-truth label vectors; a label is positive where `labels > 0.5`.
            shape = `[batch, n_labels]`.
        logits: Predictor scores `f` (logits; WARP is invariant to the sigmoid's absence).
            shape = `[batch, n_labels]`.
        margin: The hinge margin (1.0 in Weston et al. and Gong et al.).

    Returns:
        The per-example loss, float32. shape = `[batch]`.

    Example:

    >>> # Positive label 1 (score 0.) sits below both negatives: r = 2, L(2) / 2 = 0.75,
    >>> # hinges 1 - 0 + 0.5 = 1.5 and 1 - 0 + 0.2 = 1.2, loss = 0.75 * 2.7 = 2.025.
    >>> warp([[0., 1., 0.]], [[0.5, 0., 0.2]])
    <tf.Tensor: ... numpy=array([2.025], dtype=float32)>
    """
    logits = tf.cast(logits, tf.float32)
    violation, pair_mask = _pair_violations(labels, logits, margin)
    hinge = tf.nn.relu(violation) * pair_mask  # [batch, n_labels, n_labels]
    violates = tf.cast(violation > 0.0, tf.float32) * pair_mask  # [batch, n_labels, n_labels]
    rank = tf.reduce_sum(violates, axis=2)  # [batch, n_labels]; r_j, 0 for negatives

    # L(r) for r = 0..n_labels as a lookup table (exact harmonic numbers, L(0) = 0).
    n_labels = tf.shape(logits)[-1]
    inverse = 1.0 / tf.cast(tf.range(1, n_labels + 1), tf.float32)  # [n_labels]
    harmonic = tf.concat([tf.zeros([1]), tf.cumsum(inverse)], axis=0)  # [n_labels + 1]
    rank_index = tf.cast(tf.round(rank), tf.int32)  # [batch, n_labels]
    rank_loss = tf.gather(harmonic, rank_index)  # [batch, n_labels]; L(r_j)
    weight = tf.math.divide_no_nan(rank_loss, rank)  # [batch, n_labels]; 0 where r_j = 0
    weight = tf.stop_gradient(weight)  # [batch, n_labels]

    per_positive = weight * tf.reduce_sum(hinge, axis=2)  # [batch, n_labels]
    return tf.reduce_sum(per_positive, axis=1)  # [batch]


def pairwise_ranking(labels, logits, margin=1.0):
    """PR: the pairwise ranking (hinge) loss of Gong et al. (2013), summed over label pairs.

    Runs on each replica. Every (positive `j`, negative `k`) pair of an example pays the hinge
    `max(0, margin - f_j + f_k)` with weight 1. It is WARP without the rank weight
    `L(r_j) / r_j`, so a positive sitting below `r` negatives costs about `r` hinges (WARP:
    about `L(r) ~ log r`); see `warp`.

    Normalisation: none, as Gong et al. write it (and as `warp`): the loss is the plain sum
    over the example's (positive, negative) pairs, not divided by `|Y| |Ybar|`. Its scale
    therefore grows with the number of pairs, which matters when lambda is tuned (a lambda
    tuned for `"pr"` is not comparable with one tuned for `"ce"`). An example with no positive
    or no negative label has no pairs and loss 0.

    Formula:
    ```python
    loss[i] = sum_{j in Y_i} sum_{k in Ybar_i} max(0, margin - f[i, j] + f[i, k])
    ```

    Args:
        labels: Ground-truth label vectors; a label is positive where `labels > 0.5`.
            shape = `[batch, n_labels]`.
        logits: Predictor scores `f` (logits; the loss only compares scores).
            shape = `[batch, n_labels]`.
        margin: The hinge margin (1.0 in Gong et al.).

    Returns:
        The per-example loss, float32. shape = `[batch]`.

    Example:

    >>> # Positive label 1 (score 0.) vs negatives 0.5 and 0.2: hinges 1.5 + 1.2 = 2.7.
    >>> pairwise_ranking([[0., 1., 0.]], [[0.5, 0., 0.2]])
    <tf.Tensor: ... numpy=array([2.7], dtype=float32)>
    """
    violation, pair_mask = _pair_violations(labels, tf.cast(logits, tf.float32), margin)
    hinge = tf.nn.relu(violation) * pair_mask  # [batch, n_labels, n_labels]
    return tf.reduce_sum(hinge, axis=[1, 2])  # [batch]


def _pair_violations(labels, logits, margin):
    """Margin violations of every (positive j, negative k) pair.

    Returns:
      `margin - f_j + f_k` `[batch, n_labels (j), n_labels (k)]` and the mask of the pairs that
      are (positive, negative), same shape.
    """
    positive = tf.cast(tf.cast(labels, tf.float32) > 0.5, tf.float32)  # [batch, n_labels]
    pair_mask = positive[:, :, None] * (1.0 - positive)[:, None, :]
    return margin - logits[:, :, None] + logits[:, None, :], pair_mask


def bpmll(labels, logits):
    """BP-MLL: the pairwise exponential loss of Zhang & Zhou (2006), on `c = tanh(logit)`.

    Runs on each replica. Zhang & Zhou's network ends in tanh units, so their outputs
    `c` lie in `[-1, 1]`, and the loss of an example is the mean over its (positive,
    negative) label pairs of `exp(-(c_k - c_l))`. Our predictor ends in a linear layer, so we
    apply the original's tanh inside the loss: `c = tanh(logit)`. This is the original BP-MLL
    error, and it is numerically safe by construction: `c_k - c_l` is in `[-2, 2]`, so every
    term is in `[exp(-2), exp(2)]` and the loss never overflows, whatever the logits. (The
    loss on raw logits would overflow as `exp(|logit|)`.) Since `tanh(z) = 2 sigmoid(2 z) - 1`
    is increasing, the ranking of `tanh(logit)` and of `sigmoid(logit)` (the scores we report)
    is the same, and `c > 0` exactly where `sigmoid(logit) > 0.5`. As in the original, a
    saturated tanh (|logit| >~ 10) has a vanishing gradient, even on a badly ranked pair.

    Normalisation: by the number of pairs, `1 / (|Y_i| |Ybar_i|)`, as in Zhang & Zhou. An
    example with no positive or no negative label has no pairs and loss 0 (Zhang & Zhou leave
    such examples out of training).

    Formula:
    ```python
    c[i, j] = tanh(z[i, j])
    loss[i] = 1 / (|Y_i| |Ybar_i|) * sum_{k in Y_i} sum_{l in Ybar_i} exp(-(c[i, k] - c[i, l]))
    ```

    Args:
        labels: Ground-truth label vectors; a label is positive where `labels > 0.5`.
            shape = `[batch, n_labels]`.
        logits: Predictor logits `z` (no activation applied). shape = `[batch, n_labels]`.

    Returns:
        The per-example loss, float32, in `[exp(-2), exp(2)]` (or 0 without pairs).
        shape = `[batch]`.

    Example:

    >>> # Logits 0 give c = 0: one pair, exp(0) = 1.
    >>> bpmll([[1., 0.]], [[0., 0.]])
    <tf.Tensor: ... numpy=array([1.], dtype=float32)>
    """
    c = tf.tanh(tf.cast(logits, tf.float32))  # [batch, n_labels], in [-1, 1]
    positive = tf.cast(tf.cast(labels, tf.float32) > 0.5, tf.float32)  # [batch, n_labels]
    negative = 1.0 - positive  # [batch, n_labels]
    pair_mask = positive[:, :, None] * negative[:, None, :]  # [batch, n_labels, n_labels]
    pair_loss = tf.exp(-(c[:, :, None] - c[:, None, :])) * pair_mask  # [batch, n_labels, n_labels]
    n_pairs = tf.reduce_sum(positive, axis=1) * tf.reduce_sum(negative, axis=1)  # [batch]
    return tf.math.divide_no_nan(tf.reduce_sum(pair_loss, axis=[1, 2]), n_pairs)  # [batch]


def c2ae_ranking(labels, logits):
    """C2AE's output loss, as the authors' code computes it (`BR_error.m` of chihkuanyeh/C2AE).

    Runs on each replica. The authors' decoder Fd ends in a sigmoid, `p = sigmoid(logit)`, and
    the loss of an example is the mean over its (positive k, negative l) label pairs of
    `exp(-5 (p_k - p_l))` (5 is "a fixed parameter ... throughout all experiments"). We take
    the logits and apply that sigmoid here, so `p` is exactly their decoder output. Their
    targets are `y - 0.5` when the label matrix has no negative entry ({0, 1} labels), and a
    label is positive where the shifted target is > 0, negative where it is < 0; for our
    {0, 1} labels that is `y > 0.5` / `y < 0.5`. (The shift only selects the pairs; the scores
    `p` are not shifted. Their other mode, {-1, 0, +1} labels with 0 for a missing label, is
    not supported.) The label-correlation matrix `w` that `BR_error.m` receives is computed in
    `DCCAtrain_SGD.m` but never used by the loss, so it is left out. `p_k - p_l` is in
    `[-1, 1]`, so every term is in `[exp(-5), exp(5)]`: the loss never overflows.

    Normalisation: by the number of pairs `|Y_i| |Ybar_i|`, as `BR_error.m` (`err ./ num`). An
    example with no positive or no negative label has no pairs and loss 0, and no gradient, as
    in `BR_error.m` (its pair matrix is empty, so `e = sum(sum([])) = 0` and `g = 0`).

    Note on the gradient: `BR_error.m` returns `g_k = -sum_l exp(-5 (p_k - p_l)) / num`, which
    is this loss's gradient divided by 5 (the chain-rule factor of `exp(-5 x)` is missing).
    `admlc_tf.predictors.vector.build_c2ae` puts that 1/5 into the term's weight.

    Formula:
    ```python
    p[i, j] = sigmoid(z[i, j])
    loss[i] = 1 / (|Y_i| |Ybar_i|) * sum_{k in Y_i} sum_{l in Ybar_i} exp(-5 (p[i, k] - p[i, l]))
    ```

    Args:
        labels: Ground-truth label vectors in [0, 1]; positive where `labels > 0.5`, negative
            where `labels < 0.5`. shape = `[batch, n_labels]`.
        logits: The decoder's logits `z` (its sigmoid is the authors' output `p`).
            shape = `[batch, n_labels]`.

    Returns:
        The per-example loss, float32, in `[exp(-5), exp(5)]` (or 0 without pairs).
        shape = `[batch]`.

    Example:

    >>> # p = sigmoid(log 3) = 0.75 on the positive, sigmoid(-log 3) = 0.25 on the negative.
    >>> c2ae_ranking([[1., 0.]], [[1.0986123, -1.0986123]])  # exp(-5 * 0.5)
    <tf.Tensor: ... numpy=array([0.0821], dtype=float32)>
    """
    p = tf.sigmoid(tf.cast(logits, tf.float32))  # [batch, n_labels]
    shifted = tf.cast(labels, tf.float32) - 0.5  # [batch, n_labels]
    positive = tf.cast(shifted > 0.0, tf.float32)  # [batch, n_labels]
    negative = tf.cast(shifted < 0.0, tf.float32)  # [batch, n_labels]
    pair_mask = positive[:, :, None] * negative[:, None, :]  # [batch, n_labels, n_labels]
    pair_loss = tf.exp(-5.0 * (p[:, :, None] - p[:, None, :])) * pair_mask
    n_pairs = tf.reduce_sum(positive, axis=1) * tf.reduce_sum(negative, axis=1)  # [batch]
    return tf.math.divide_no_nan(tf.reduce_sum(pair_loss, axis=[1, 2]), n_pairs)  # [batch]


def c2ae_latent(latent_x, latent_y, lagrange=0.5):
    """C2AE's latent loss, as the authors' code computes it (`CORR_error.m`), per example.

    Runs on each replica. On a batch of n codes `X = Fx(x)` and `E = Fe(y)` (`[n, K]`), the
    authors' loss is

        ||X - E||_F^2 + lagrange * (||X^T X - I||_F^2 + ||E^T E - I||_F^2)

    with `lagrange = 0.5`: a sum over the batch for the first term (no division by n), and
    the orthogonality constraint on the batch's UNnormalised Gram matrices `X^T X` (a sum of n
    outer products, so it asks for codes of norm about `sqrt(K / n)`: its meaning depends on
    the batch size, 500 in the authors' demo). The constraint is a statistic of the whole
    batch, not of one example: here it is the batch the function sees (the replica's batch
    under `tf.distribute`, like unsynchronised batch normalisation), and each example carries
    `1 / n` of it, so the sum of the returned vector is exactly the authors' loss on that
    batch. The training step divides that sum by the global batch size
    (`tf.nn.compute_average_loss`), which scales every term alike and keeps the authors'
    relative weights.

    Formula:
    ```python
    loss[i] = ||X[i] - E[i]||^2 + lagrange * (||X^T X - I||^2 + ||E^T E - I||^2) / n
    ```

    Args:
        latent_x: `Fx(x)`, the feature encoder's codes. shape = `[batch, K]`.
        latent_y: `Fe(y)`, the label encoder's codes. shape = `[batch, K]`.
        lagrange: The weight of the constraint (`lambda = 0.5` in `CORR_error.m`).

    Returns:
        The per-example loss, float32, summing to the authors' batch loss. shape = `[batch]`.

    Example:

    >>> # One example, K = 1: (0.5 - 0)^2 + 0.5 * ((0.25 - 1)^2 + (0 - 1)^2) = 1.15625.
    >>> c2ae_latent([[0.5]], [[0.]])
    <tf.Tensor: ... numpy=array([1.1562], dtype=float32)>
    """
    latent_x = tf.cast(latent_x, tf.float32)
    latent_y = tf.cast(latent_y, tf.float32)
    distance = tf.reduce_sum(tf.square(latent_x - latent_y), axis=-1)  # [batch]
    eye = tf.eye(tf.shape(latent_x)[-1])  # [K, K]
    constraint = (tf.reduce_sum(tf.square(tf.matmul(latent_x, latent_x, transpose_a=True) - eye))
                  + tf.reduce_sum(tf.square(tf.matmul(latent_y, latent_y, transpose_a=True) - eye)))
    batch = tf.cast(tf.shape(latent_x)[0], tf.float32)
    return distance + lagrange * constraint / batch  # [batch]


def l2(labels, logits):
    """Squared error between `sigmoid(logit)` and the labels, averaged over labels.

    Runs on each replica. The paper remarks that BP-MLL "is trained with an l2 loss"; this is
    that loss on our sigmoid outputs (Brier score per label). As for `sigmoid_cross_entropy`,
    the mean (not the sum) over the label axis keeps it per label, in `[0, 1]`. It is bounded
    and finite for any logit (the sigmoid saturates, so its gradient vanishes for confident
    predictions, right or wrong).

    Formula:
    ```python
    loss[i] = mean_j((sigmoid(z[i, j]) - y[i, j]) ** 2)
    ```

    Args:
        labels: Ground-truth label vectors, `0.` or `1.`. shape = `[batch, n_labels]`.
        logits: Predictor logits (no sigmoid applied). shape = `[batch, n_labels]`.

    Returns:
        The per-example loss, float32, in `[0, 1]`. shape = `[batch]`.

    Example:

    >>> l2([[1., 0.]], [[0., 0.]])  # (0.5 - 1)^2 and (0.5 - 0)^2, mean 0.25
    <tf.Tensor: ... numpy=array([0.25], dtype=float32)>
    """
    labels = tf.cast(labels, tf.float32)
    probabilities = tf.sigmoid(tf.cast(logits, tf.float32))  # [batch, n_labels]
    return tf.reduce_mean(tf.square(probabilities - labels), axis=-1)  # [batch]


def score_cross_entropy(critic_logits, target):
    """GAN cross-entropy of the critic's score, from its logit (Eq. 3 and Eq. 4).

    Runs on each replica. With `s = sigmoid(logit)` and target `t`, the loss is
    `-(t log s + (1 - t) log(1 - s))`, computed as `softplus(logit) - t * logit` in its stable
    form (`tf.nn.sigmoid_cross_entropy_with_logits`), never as `log(sigmoid(.))`, so it stays
    finite for any logit.

    - Predictor side, Eq. (3): `L_CE(s_p, 1)` is `score_cross_entropy(critic(x, y_hat), 1.)`,
      i.e. `-log s_p`.
    - Critic side, Eq. (4): `L_CE([s_p, s_g], [0, 1])` is
      `score_cross_entropy(critic(x, y_hat), 0.)` on the predicted batch (`-log(1 - s_p)`) plus
      `score_cross_entropy(critic(x_g, y_g), 1.)` on the ground-truth batch (`-log s_g`); the
      two batches (N and M examples) are averaged separately by the training step.

    The paper prints Eq. (3) as `-1/N sum_i s_i log s_i` and Eq. (4) as
    `-1/N sum_i (1 - s_p) log(1 - s_p) - 1/N sum_j s_g log s_g`. Those `s log s` terms are a
    typo: the text says it follows the GAN cross-entropy [15, 19], which is `-log s_p` for the
    predictor and `-log(1 - s_p) - log s_g` for the critic. An `s log s` term would not even be
    monotonic in `s` (it is 0 at both `s = 0` and `s = 1`). We implement the standard GAN
    cross-entropy.

    Formula:
    ```python
    loss[i] = softplus(z[i]) - t[i] * z[i]
            = -(t[i] * log(sigmoid(z[i])) + (1 - t[i]) * log(1 - sigmoid(z[i])))
    ```

    Args:
        critic_logits: The critic's unactivated outputs. shape = `[batch]` or `[batch, 1]`.
        target: The target score: a Python float `0.` or `1.`, or a tensor broadcastable to
            `[batch]` (a `[batch, 1]` target is squeezed like the logits).

    Returns:
        The per-example loss, float32. shape = `[batch]`.

    Example:

    >>> score_cross_entropy([[0.], [2.]], 1.)  # -log sigmoid(z) = [log 2, softplus(-2)]
    <tf.Tensor: ... numpy=array([0.6931, 0.1269], dtype=float32)>
    """
    logits = _squeeze_score(tf.cast(critic_logits, tf.float32), "critic_logits")  # [batch]
    target = _squeeze_score(tf.cast(target, tf.float32), "target")  # [batch] or []
    target = tf.broadcast_to(target, tf.shape(logits))  # [batch]
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)  # [batch]


def _squeeze_score(x, name):
    """Turns a `[batch, 1]` score into `[batch]`; leaves `[batch]` and scalars alone."""
    rank = x.shape.rank
    if rank is None or rank <= 1:
        return x
    if rank == 2 and x.shape[-1] in (1, None):
        return tf.squeeze(x, axis=-1)
    raise ValueError(f"{name} must have shape [batch] or [batch, 1], got {x.shape}")


SUPERVISED_LOSSES: dict[str, SupervisedLoss] = {
    "ce": sigmoid_cross_entropy,
    "warp": warp,
    "pr": pairwise_ranking,
    "bpmll": bpmll,
    "l2": l2,
}


def get_supervised_loss(name: str) -> SupervisedLoss:
    """Returns the supervised loss `loss(labels, logits) -> [batch]` registered as `name`.

    Args:
        name: A key of `SUPERVISED_LOSSES`: `"ce"`, `"warp"`, `"pr"`, `"bpmll"` or `"l2"`.

    Returns:
        The loss function.

    Raises:
        ValueError: `name` is not a registered loss; the message lists the valid names.
    """
    try:
        return SUPERVISED_LOSSES[name]
    except KeyError:
        valid = ", ".join(sorted(SUPERVISED_LOSSES))
        raise ValueError(f"unknown supervised loss {name!r}; valid names: {valid}") from None
