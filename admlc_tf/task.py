"""Per-replica maths of ADMLC: one predictor update, one critic update, one pre-training update.

Every method here runs on each replica inside `strategy.run`, on the replica's share of a global
batch. Per-example losses are reduced with `tf.nn.compute_average_loss(global_batch_size=...)`,
so summing the replicas' gradients (what MirroredStrategy's all-reduce does) gives exactly the
gradient of the mean over the global batch. The returned scalars are already divided by the
global batch: the caller reduces them across replicas with `ReduceOp.SUM`.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from admlc_tf import critic_modes
from admlc_tf.losses import score_cross_entropy
from admlc_tf.predictors.spec import PredictorSpec


def global_batch_mean(per_example: tf.Tensor, global_batch_size: int) -> tf.Tensor:
    """`[local_batch]` (or `[local_batch, 1]`) per-example values -> a scalar: their sum over
    this replica divided by the global batch, this replica's share of the global-batch mean
    (summed over replicas it is the mean, see the module docstring)."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def _call(model: keras.Model, forward):
    """Runs `forward()`, one forward pass of `model`; returns (its result, the `add_loss` terms
    of that pass, activity regularisers included).

    `model.losses` cannot be used for this: Keras keeps the `add_loss` terms in lists on the
    layers, shared by MirroredStrategy's replica threads (replica r could read the terms of
    replicas 0..r, e.g. when a synchronized BatchNormalization interleaves them), and each
    outermost call clears them (a second pass drops the first pass's terms). A
    `StatelessScope(collect_losses=True)` is thread-local and collects the terms of this pass
    only. It also defers every variable update of the pass (batch-norm moving statistics,
    dropout seed states): they are assigned to the variables right after it, so the pass
    moves the state exactly as a plain call would.
    """
    with keras.StatelessScope(collect_losses=True, initialize_variables=False) as scope:
        result = forward()
    variables = {id(v): v for v in model.variables}
    unknown = set(scope.state_mapping) - set(variables)
    if unknown:
        raise RuntimeError(f"{model.name}: a forward pass updated {len(unknown)} variable(s) "
                           "that are not the model's own")
    for key, value in scope.state_mapping.items():
        variables[key].assign(value)
    return result, list(scope.losses)


def _regularization(model: keras.Model, added_losses) -> tf.Tensor:
    """The model's own losses: its weight regularisers (`kernel_regularizer`, ...) once, plus
    `added_losses`, the `add_loss` terms of the forward passes (from `_call`); divided by the
    replica count so that the all-reduced gradient holds them once."""
    terms = list(added_losses) + [v.regularizer(v) for v in model.trainable_weights
                                  if v.regularizer is not None]
    if not terms:
        return tf.constant(0.0)
    return tf.nn.scale_regularization_loss(tf.add_n([tf.cast(l, tf.float32) for l in terms]))


def scaled_gradients(tape, optimizer, loss, variables) -> list:
    """The gradients of the scalar `loss` for `variables` (one tensor of each variable's shape,
    None where it does not depend on them), scaled as `optimizer` expects them."""
    # d(scale * loss) = scale * d(loss): `scale_loss` is the identity except for a
    # LossScaleOptimizer (mixed_float16), whose apply_gradients divides the scale out again.
    scale = optimizer.scale_loss(tf.ones_like(loss))
    return tape.gradient(loss, variables, output_gradients=scale)


def apply_gradients(optimizer, gradients, variables) -> tf.Tensor:
    """Applies `gradients` (from `scaled_gradients`, one per variable) with `optimizer`; returns
    a scalar float: how many of their entries are NaN or inf."""
    optimizer.apply_gradients(zip(gradients, variables))
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        # Overflowing scaled gradients are routine there: the optimizer skips that update and
        # lowers the scale. A real divergence still shows as a non-finite loss.
        return tf.constant(0.0)
    return tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32))
                     for g in gradients if g is not None])


class AdmlcTask:
    """The three update rules of Algorithm 1 and its critic pre-training.

    Args:
      spec: f_P: the predictor, its supervised loss L_P and how its outputs become probabilities.
      critic: f_C, a Keras model {"features", "labels"} -> `[batch, 1]` logit, or None for the
        plain supervised baseline.
      predictor_optimizer: updates the predictor's variables only.
      critic_optimizer: updates the critic's variables only (None without a critic).
      lam: lambda, the weight of the adversarial term of Eq. (3).
      batch_size: N, the global predictor batch.
      critic_batch: M, the global batch of ground-truth pairs.
      flip_prob: pre-training: extra chance of flipping each label entry of a perturbed pair.
      label_sets: `[K, n_labels]` the distinct label vectors of the training split, from which
        pre-training draws "another example's labels" (None: perturbed vectors only).
      mode: `admlc_tf.critic_modes.MODES`: what the critic sees of y_hat and learns.
      temperature: the "gumbel" mode's relaxation temperature.
      quality: the "value" mode's target, `critic_modes.QUALITIES`.
    """

    def __init__(self, spec: PredictorSpec, critic: Optional[keras.Model], *,
                 predictor_optimizer: keras.optimizers.Optimizer,
                 critic_optimizer: Optional[keras.optimizers.Optimizer],
                 lam: float, batch_size: int, critic_batch: int, flip_prob: float,
                 label_sets=None, mode: str = "paper", temperature: float = 0.5,
                 quality: str = "rank"):
        if critic is not None and mode not in critic_modes.MODES:
            raise ValueError(f"critic mode {mode!r} is not one of {critic_modes.MODES}")
        if critic is not None and quality not in critic_modes.QUALITIES:
            raise ValueError(f"critic quality {quality!r} is not one of "
                             f"{critic_modes.QUALITIES}")
        self.mode, self.temperature, self.quality = mode, temperature, quality
        self.spec = spec
        self.critic = critic
        self.predictor_optimizer = predictor_optimizer
        self.critic_optimizer = critic_optimizer
        self.lam = lam
        self.batch_size = batch_size
        self.critic_batch = critic_batch
        self.flip_prob = flip_prob
        self.label_sets = None if label_sets is None else tf.constant(label_sets, tf.float32)

    @property
    def predictor(self) -> keras.Model:
        return self.spec.predictor

    @property
    def adversarial(self) -> bool:
        return self.critic is not None

    def _critic_logits(self, x: tf.Tensor, labels: tf.Tensor, training: bool) -> tf.Tensor:
        return self.critic({"features": x, "labels": labels}, training=training)[:, 0]  # [batch]

    def _critic_call(self, x: tf.Tensor, labels: tf.Tensor):
        """The critic's training-mode logits `[batch]` and the add_loss terms of that pass."""
        return _call(self.critic, lambda: self._critic_logits(x, labels, training=True))

    def _view(self, y_hat: tf.Tensor, seed: Optional[tf.Tensor]) -> tf.Tensor:
        """What the critic sees of `y_hat` in this mode (`critic_modes.critic_view`)."""
        if seed is None:
            if self.mode in ("bernoulli", "gumbel"):
                raise ValueError(f"critic mode {self.mode} samples: pass the step's seed")
            seed = tf.zeros([2], tf.int32)
        return critic_modes.critic_view(self.mode, y_hat, seed, global_batch=self.batch_size,
                                        temperature=self.temperature)

    def predictor_step(self, x: tf.Tensor, y: tf.Tensor, seed: Optional[tf.Tensor] = None):
        """Eq. (3): one predictor update on a batch; runs on each replica.

        Args:
          x: `[local_batch, ...]` inputs.
          y: `[local_batch, n_labels]` ground truth.
          seed: `[2]` int32 stateless seed of this step (run seed, step), for the modes that
            sample what the critic sees.

        Returns:
          A dict of scalars (`loss`, `sup_loss`, `nonfinite_gradients`, and with a critic
          `adv_loss` and `critic_score_pred`, the mean score s_p), and what the critic saw of
          y_hat `[local_batch, n_labels]` (y_hat itself in the paper's mode), before this update
          and detached, for the critic step.
        """
        with tf.GradientTape() as tape:
            (outputs, per_example), added = _call(  # [local_batch, ...], [local_batch]
                self.spec.trained_model, lambda: self.spec.forward(x, y, training=True))
            y_hat = self.spec.probabilities(outputs)  # [local_batch, n_labels]
            sup_loss = global_batch_mean(per_example, self.batch_size)
            loss = sup_loss + _regularization(self.spec.trained_model, added)
            if self.adversarial:
                # Differentiable with respect to y_hat in every mode (straight-through for the
                # binary ones): the predictor is trained through what the critic saw.
                y_hat = self._view(y_hat, seed)
                # The critic is frozen here: training=False, and only predictor variables move.
                s_pred = self._critic_logits(x, y_hat, training=False)  # [local_batch]
                adv_loss = global_batch_mean(score_cross_entropy(s_pred, 1.0), self.batch_size)
                loss = loss + self.lam * adv_loss
        variables = self.spec.trained_model.trainable_variables
        gradients = scaled_gradients(tape, self.predictor_optimizer, loss, variables)
        nonfinite = apply_gradients(self.predictor_optimizer, gradients, variables)
        logs = {"loss": loss, "sup_loss": sup_loss, "nonfinite_gradients": nonfinite}
        if self.adversarial:
            logs["adv_loss"] = adv_loss
            logs["critic_score_pred"] = global_batch_mean(tf.sigmoid(s_pred), self.batch_size)
        return logs, tf.stop_gradient(y_hat)

    def critic_step(self, x: tf.Tensor, y_hat: tf.Tensor, x_gt: tf.Tensor, y_gt: tf.Tensor,
                    seed: Optional[tf.Tensor] = None, y: Optional[tf.Tensor] = None):
        """Eq. (4): one critic update; runs on each replica.

        Args:
          x: `[local_batch, ...]` the predictor step's inputs.
          y_hat: `[local_batch, n_labels]` what the critic saw of the predictor step's
            predictions (score -> 0).
          x_gt: `[local_critic_batch, ...]` an independently sampled batch of M inputs.
          y_gt: `[local_critic_batch, n_labels]` their ground truth (score -> 1).
          seed: `[2]` int32 seed of this step (the value mode's perturbed and smoothed truths).
          y: `[local_batch, n_labels]` the truth of `x`, which the value mode scores y_hat
            against.

        Returns:
          Scalars `critic_loss`, `critic_score_pred` and `critic_score_gt` (mean scores).
        """
        if self.mode == "value":
            return self._value_critic_step(x, y, y_hat, x_gt, y_gt, seed)
        with tf.GradientTape() as tape:
            # Each pass's own add_loss terms: both count.
            s_pred, added_pred = self._critic_call(x, y_hat)
            s_gt, added_gt = self._critic_call(x_gt, y_gt)
            loss = (global_batch_mean(score_cross_entropy(s_pred, 0.0), self.batch_size)
                    + global_batch_mean(score_cross_entropy(s_gt, 1.0), self.critic_batch)
                    + _regularization(self.critic, added_pred + added_gt))
        variables = self.critic.trainable_variables
        gradients = scaled_gradients(tape, self.critic_optimizer, loss, variables)
        nonfinite = apply_gradients(self.critic_optimizer, gradients, variables)
        return {"critic_loss": loss, "nonfinite_gradients": nonfinite,
                "critic_score_pred": global_batch_mean(tf.sigmoid(s_pred), self.batch_size),
                "critic_score_gt": global_batch_mean(tf.sigmoid(s_gt), self.critic_batch)}

    def _value_critic_step(self, x, y, y_hat, x_gt, y_gt, seed):
        """The value critic's update: regress q(v, truth) for ground truth (q = 1), the
        predictions soft and thresholded, and the truth flipped in one label and smoothed, so
        that neither hardness nor softness tells the target; runs on each replica."""
        if y is None or seed is None:
            raise ValueError("the value critic's step needs the truth y of x and the seed")
        seed = tf.random.experimental.stateless_fold_in(seed, 1)
        y_hat = tf.stop_gradient(y_hat)
        rounded = tf.cast(y_hat >= 0.5, y_hat.dtype)
        flipped = critic_modes.flipped_truth(y_gt, seed, self.critic_batch)
        smoothed = critic_modes.smoothed_truth(y_gt, seed, self.critic_batch)
        q = lambda v, truth: critic_modes.quality(self.quality, v, truth)
        pairs = [  # (inputs, label vector, target, global count)
            (x_gt, y_gt, tf.ones_like(y_gt[:, 0]), self.critic_batch),
            (x, y_hat, q(y_hat, y), self.batch_size),
            (x, rounded, q(rounded, y), self.batch_size),
            (x_gt, flipped, q(flipped, y_gt), self.critic_batch),
            (x_gt, smoothed, q(smoothed, y_gt), self.critic_batch),
        ]
        with tf.GradientTape() as tape:
            scores, added = [], []
            for inputs, labels, _, _ in pairs:
                s, terms = self._critic_call(inputs, labels)
                scores.append(s)
                added += terms
            loss = tf.add_n([global_batch_mean(score_cross_entropy(s, t), n)
                             for s, (_, _, t, n) in zip(scores, pairs)])
            loss = loss + _regularization(self.critic, added)
        variables = self.critic.trainable_variables
        gradients = scaled_gradients(tape, self.critic_optimizer, loss, variables)
        nonfinite = apply_gradients(self.critic_optimizer, gradients, variables)
        return {"critic_loss": loss, "nonfinite_gradients": nonfinite,
                "critic_score_pred": global_batch_mean(tf.sigmoid(scores[1]), self.batch_size),
                "critic_score_gt": global_batch_mean(tf.sigmoid(scores[0]), self.critic_batch),
                "critic_target_pred": global_batch_mean(pairs[1][2], self.batch_size)}

    def adversarial_step(self, x: tf.Tensor, y: tf.Tensor, x_gt: tf.Tensor, y_gt: tf.Tensor,
                         seed: Optional[tf.Tensor] = None):
        """Algorithm 1's iteration when the critic steps: `predictor_step`, then `critic_step`
        on its y_hat; runs on each replica.

        The Trainer runs this in one graph. The critic's score of (x, y_hat) is computed in
        both updates rather than shared between them: sharing it (one forward pass, two
        gradients from a persistent tape) measured no faster on the CPU
        (`python benchmarks/run.py --only levers`), so the two plain updates stay.

        Returns:
          The scalars of both updates; `nonfinite_gradients` counts both models' gradients.
        """
        logs, y_hat = self.predictor_step(x, y, seed)
        critic_logs = self.critic_step(x, y_hat, x_gt, y_gt, seed, y)
        nonfinite = logs["nonfinite_gradients"] + critic_logs["nonfinite_gradients"]
        return {**logs, **critic_logs, "nonfinite_gradients": nonfinite}

    def incompatible_labels(self, y: tf.Tensor, seed: tf.Tensor):
        """The two kinds of incompatible label vectors of pre-training; runs on each replica.

        Both differ from `y` in every row, and depend only on the seed and each example's
        position in the GLOBAL batch, never on how the batch is split across devices: the
        random draws are made for the whole global batch on every replica, which keeps its own
        rows.

        - "other": a label vector of another training example, drawn uniformly from the
          training split's distinct label vectors other than the example's own (a perturbed
          vector when the split has a single distinct one).
        - "perturbed": `y` with one random entry flipped (a label added or removed), plus every
          other entry flipped with probability `flip_prob`.

        Args:
          y: `[local_batch, n_labels]` ground truth.
          seed: `[2]` int32 stateless seed (the trainer's seed and the pre-training step).

        Returns:
          other, perturbed: each `[local_batch, n_labels]`.
        """
        context = tf.distribute.get_replica_context()
        local, num_labels = tf.shape(y)[0], tf.shape(y)[1]
        rows = context.replica_id_in_sync_group * local + tf.range(local)  # global positions
        pick_seed, flip_seed, other_seed = tf.unstack(tf.random.experimental.stateless_split(
            seed, 3))
        width = self.critic_batch
        picked = tf.gather(tf.random.stateless_uniform([width], pick_seed, 0, num_labels,
                                                       dtype=tf.int32), rows)
        extra = tf.gather(tf.random.stateless_uniform([width, num_labels], flip_seed), rows)
        flips = tf.maximum(tf.one_hot(picked, num_labels, dtype=y.dtype),
                           tf.cast(extra < self.flip_prob, y.dtype))
        perturbed = tf.abs(y - flips)  # [local_batch, n_labels]
        if self.label_sets is None or self.label_sets.shape[0] < 2:
            return perturbed, perturbed
        sets = self.label_sets  # [K, n_labels]
        count = sets.shape[0]
        own = tf.argmax(tf.cast(tf.reduce_all(tf.equal(y[:, None, :], sets[None]), -1),
                                tf.int32), axis=1, output_type=tf.int32)  # [local_batch]
        draw = tf.gather(tf.random.stateless_uniform([width], other_seed, 0, count - 1,
                                                     dtype=tf.int32), rows)
        draw = draw + tf.cast(draw >= own, tf.int32)  # skips the example's own label vector
        return tf.gather(sets, draw), perturbed

    def critic_pretrain_step(self, x: tf.Tensor, y: tf.Tensor, seed: tf.Tensor):
        """Critic pre-training on compatible and incompatible pairs; runs on each replica.

        Compatible pairs (x_i, y_i) regress to 1. The two kinds of incompatible pairs of
        `incompatible_labels` regress to 0, with half the weight each so both classes weigh the
        same. The value mode regresses them to their quality against `y` instead, and adds a
        smoothed truth (`critic_modes.smoothed_truth`) at its quality.

        Args:
          x: `[local_batch, ...]` inputs.
          y: `[local_batch, n_labels]` ground truth.
          seed: `[2]` int32 stateless seed.

        Returns:
          Scalars `pretrain_loss`, `critic_score_gt` and `critic_score_incompatible`.
        """
        other, perturbed = self.incompatible_labels(y, seed)
        # The value critic learns the pairs' quality instead of 0 (a perturbed vector is
        # mostly right), and a smoothed truth, soft but right, so softness alone means nothing.
        value = self.mode == "value"
        t_other = critic_modes.quality(self.quality, other, y) if value else 0.0
        t_perturbed = critic_modes.quality(self.quality, perturbed, y) if value else 0.0
        with tf.GradientTape() as tape:
            s_true, added = self._critic_call(x, y)
            s_other, added_other = self._critic_call(x, other)
            s_perturbed, added_perturbed = self._critic_call(x, perturbed)
            added = added + added_other + added_perturbed
            loss = (global_batch_mean(score_cross_entropy(s_true, 1.0), self.critic_batch)
                    + 0.5 * global_batch_mean(score_cross_entropy(s_other, t_other),
                                              self.critic_batch)
                    + 0.5 * global_batch_mean(score_cross_entropy(s_perturbed, t_perturbed),
                                              self.critic_batch))
            if value:
                smoothed = critic_modes.smoothed_truth(y, seed, self.critic_batch)
                s_smooth, added_smooth = self._critic_call(x, smoothed)
                added = added + added_smooth
                loss = loss + 0.5 * global_batch_mean(score_cross_entropy(
                    s_smooth, critic_modes.quality(self.quality, smoothed, y)), self.critic_batch)
            loss = loss + _regularization(self.critic, added)
        variables = self.critic.trainable_variables
        gradients = scaled_gradients(tape, self.critic_optimizer, loss, variables)
        nonfinite = apply_gradients(self.critic_optimizer, gradients, variables)
        s_incompatible = tf.sigmoid(tf.concat([s_other, s_perturbed], axis=0))
        return {"pretrain_loss": loss, "nonfinite_gradients": nonfinite,
                "critic_score_gt": global_batch_mean(tf.sigmoid(s_true), self.critic_batch),
                "critic_score_incompatible": global_batch_mean(s_incompatible,
                                                               2 * self.critic_batch)}

    def predict_step(self, x: tf.Tensor) -> tf.Tensor:
        """`[batch, ...] -> [batch, n_labels]` probabilities, inference mode."""
        return self.spec.probabilities(self.predictor(x, training=False))
