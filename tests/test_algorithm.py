"""Proof of the method: each test fails on a named mutation of Algorithm 1 / Eq. (3)-(4).

The mutations, and the record of trying each one, are in tests/MUTATIONS.md. The maths is
checked against references written here from the paper (not through `admlc_tf.losses`), with
SGD, whose update `-lr * gradient` is linear in the gradient, so a mis-weighted term shows.
Models are tiny dense networks on feature vectors (`ArrayRows`), so the file runs in seconds.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.config import CriticConfig
from admlc_tf.critic import build_critic
from admlc_tf.data.pipeline import ArrayRows
from admlc_tf.losses import sigmoid_cross_entropy
from admlc_tf.predictors.spec import PredictorSpec
from admlc_tf.task import AdmlcTask
from admlc_tf.trainer import Trainer
from tests.helpers import LABELS, tiny_config

DIMS = 6
LR = 0.5
CRITIC = CriticConfig(representation_units=(8,), embedding_units=6, label_units=6,
                      fusion_units=(8,))


# ----------------------------------------------------------------------------- builders

def vector_data(n, seed=0, distinct=None):
    """`[n, DIMS]` features and `[n, LABELS]` labels that depend on them; `distinct`: draw the
    labels from that many distinct vectors only."""
    rng = np.random.default_rng(seed)
    if distinct:
        sets = (rng.random((distinct, LABELS)) < 0.4).astype(np.float32)
        sets[:, 0] = np.arange(distinct) % 2  # distinct for sure
        sets[:, 1] = np.arange(distinct) // 2 % 2
        labels = sets[rng.integers(0, distinct, n)]
    else:
        labels = (rng.random((n, LABELS)) < 0.4).astype(np.float32)
    mixing = rng.normal(size=(LABELS, DIMS)).astype(np.float32)
    features = labels @ mixing + 0.3 * rng.normal(size=(n, DIMS))
    return features.astype(np.float32), labels


class ActivityPenalty(keras.layers.Layer):
    """`add_loss`: a penalty on the mean squared activation of the batch."""

    def __init__(self, weight, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, x):
        self.add_loss(self.weight * tf.reduce_mean(tf.square(x)))
        return x


def small_predictor(regularizer=None, penalty=0.0, extras=False, sync_bn=False):
    """Features `[batch, DIMS]` -> `[batch, LABELS]` logits.

    extras: batch normalisation and dropout, i.e. non-trainable state a step could move.
    """
    features = keras.Input((DIMS,), name="features")
    x = keras.layers.Dense(8, activation="tanh", kernel_regularizer=regularizer,
                           name="hidden")(features)
    if sync_bn:
        x = keras.layers.BatchNormalization(synchronized=True, name="bn")(x)
    if extras:
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.Dropout(0.3)(x)
    if penalty:
        x = ActivityPenalty(penalty, name="penalty")(x)
    logits = keras.layers.Dense(LABELS, kernel_regularizer=regularizer, name="logits")(x)
    return keras.Model(features, logits, name="predictor")


def small_critic(dropout=0.0):
    config = CriticConfig(**{**CRITIC.__dict__, "dropout": dropout})
    return build_critic((DIMS,), LABELS, config=config)


def make_task(*, lam=1.0, n=8, m=4, optimizer="sgd", critic_dropout=0.0, extras=False,
              label_sets=None):
    """An AdmlcTask on the default strategy (one replica), optimizers built."""
    keras.utils.set_random_seed(3)
    spec = PredictorSpec(small_predictor(extras=extras), sigmoid_cross_entropy)
    critic = small_critic(critic_dropout)
    kind = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[optimizer]
    predictor_optimizer, critic_optimizer = kind(LR), kind(LR)
    predictor_optimizer.build(spec.predictor.trainable_variables)
    critic_optimizer.build(critic.trainable_variables)
    return AdmlcTask(spec, critic, predictor_optimizer=predictor_optimizer,
                     critic_optimizer=critic_optimizer, lam=lam, batch_size=n, critic_batch=m,
                     flip_prob=0.1, label_sets=label_sets)


def strategy_on(devices):
    return tf.distribute.MirroredStrategy(devices,
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())


def all_cpus():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 4
    return devices


def make_trainer(config, devices=("/cpu:0",), run_dir=None, predictor=small_predictor):
    return Trainer(config, strategy_on(list(devices)), build_predictor=predictor,
                   build_critic=small_critic, run_dir=run_dir)


def sgd_config(**trainer):
    config = tiny_config(optimizer="sgd", learning_rate=LR, critic_learning_rate=LR, **trainer)
    config.loss.lam = 1.0
    return config


def values(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


def assert_same(a, b, what, rtol=1e-5, atol=1e-6):
    assert len(a) == len(b), what
    for i, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol, err_msg=f"{what} [{i}]")


def softplus(z):
    return tf.math.softplus(z)


def critic_logit(critic, x, labels):
    return critic({"features": x, "labels": labels}, training=True)[:, 0]


# ----------------------------------------------------------------------------- Eq. (3)

# Catches: lambda dropped or doubled in Eq. (3); y_hat detached (tf.stop_gradient) before the
# critic in predictor_step (the adversarial gradient cut); the predictor's target 1 -> 0.
def test_predictor_update_is_sgd_on_supervised_plus_lambda_adversarial():
    lam, n = 0.7, 8
    task = make_task(lam=lam, n=n)
    x, y = (tf.constant(a) for a in vector_data(n, seed=1))
    variables = task.predictor.trainable_variables
    before = values(variables)
    with tf.GradientTape(persistent=True) as tape:
        logits = task.predictor(x, training=True)
        supervised = tf.reduce_mean(  # mean over examples and labels of the binary CE
            -y * tf.math.log_sigmoid(logits) - (1 - y) * tf.math.log_sigmoid(-logits))
        s_pred = task.critic({"features": x, "labels": tf.sigmoid(logits)})[:, 0]
        adversarial = tf.reduce_mean(softplus(-s_pred))  # BCE(s_pred, 1) = -log sigmoid
    g_sup = tape.gradient(supervised, variables)
    g_adv = tape.gradient(adversarial, variables)
    # Guard against a vacuous pass: the adversarial term moves the weights measurably.
    assert max(float(tf.reduce_max(tf.abs(LR * lam * g))) for g in g_adv) > 1e-3

    logs, y_hat = task.predictor_step(x, y)
    assert float(logs["sup_loss"]) == pytest.approx(float(supervised), rel=1e-5)
    assert float(logs["adv_loss"]) == pytest.approx(float(adversarial), rel=1e-5)
    assert float(logs["loss"]) == pytest.approx(float(supervised + lam * adversarial), rel=1e-5)
    expected = [w - LR * (gs + lam * ga) for w, gs, ga in zip(before, g_sup, g_adv)]
    assert_same(values(variables), expected, "predictor after one step", atol=1e-6)
    np.testing.assert_allclose(y_hat, tf.sigmoid(logits), rtol=1e-6)


# ----------------------------------------------------------------------------- Eq. (4)

# Catches: the ground-truth term averaged over N instead of M (N=8 != M=4), or the predicted
# term over M; the critic's targets swapped (predicted pairs -> 1, ground truth -> 0).
def test_critic_update_is_sgd_on_eq4_with_its_own_batch_sizes():
    n, m = 8, 4
    task = make_task(n=n, m=m)
    x, y = (tf.constant(a) for a in vector_data(n, seed=2))
    x_gt, y_gt = (tf.constant(a) for a in vector_data(m, seed=3))
    y_hat = tf.sigmoid(task.predictor(x))
    variables = task.critic.trainable_variables
    before = values(variables)
    with tf.GradientTape() as tape:
        s_pred = critic_logit(task.critic, x, y_hat)
        s_gt = critic_logit(task.critic, x_gt, y_gt)
        # -1/N sum log(1 - s_p) - 1/M sum log s_g
        loss = (tf.reduce_sum(softplus(s_pred)) / n + tf.reduce_sum(softplus(-s_gt)) / m)
    gradients = tape.gradient(loss, variables)

    logs = task.critic_step(x, y_hat, x_gt, y_gt)
    assert float(logs["critic_loss"]) == pytest.approx(float(loss), rel=1e-5)
    assert float(logs["critic_score_pred"]) == pytest.approx(
        float(tf.reduce_mean(tf.sigmoid(s_pred))), rel=1e-5)
    assert float(logs["critic_score_gt"]) == pytest.approx(
        float(tf.reduce_mean(tf.sigmoid(s_gt))), rel=1e-5)
    expected = [w - LR * g for w, g in zip(before, gradients)]
    assert_same(values(variables), expected, "critic after one step", atol=1e-6)


def penalised_critic(weight):
    """small_critic with an `add_loss` on its logit (ActivityPenalty), i.e. a term per pass."""
    critic = small_critic()
    inputs = {"features": keras.Input((DIMS,), name="features"),
              "labels": keras.Input((LABELS,), name="labels")}
    logit = ActivityPenalty(weight, name="penalty")(critic(inputs))
    return keras.Model(inputs, logit, name="penalised_critic")


# Catches: a critic add_loss read after the last forward pass only (each outermost Keras call
# clears the layers' losses, so the (x, y_hat) pass's term was dropped), or counted twice.
def test_critic_add_loss_of_every_forward_pass_counts_once():
    n, m, weight = 8, 4, 0.5
    task = make_task(n=n, m=m)
    keras.utils.set_random_seed(4)
    task.critic = penalised_critic(weight)
    task.critic_optimizer = keras.optimizers.SGD(LR)
    task.critic_optimizer.build(task.critic.trainable_variables)
    penalty = lambda s: weight * tf.reduce_mean(tf.square(s))  # noqa: E731
    x, y = (tf.constant(a) for a in vector_data(n, seed=2))
    x_gt, y_gt = (tf.constant(a) for a in vector_data(m, seed=3))
    y_hat = tf.sigmoid(task.predictor(x))
    variables = task.critic.trainable_variables
    before = values(variables)
    with tf.GradientTape() as tape:
        s_pred = critic_logit(task.critic, x, y_hat)
        s_gt = critic_logit(task.critic, x_gt, y_gt)
        loss = (tf.reduce_sum(softplus(s_pred)) / n + tf.reduce_sum(softplus(-s_gt)) / m
                + penalty(s_pred) + penalty(s_gt))
    gradients = tape.gradient(loss, variables)
    logs = task.critic_step(x, y_hat, x_gt, y_gt)
    assert float(logs["critic_loss"]) == pytest.approx(float(loss), rel=1e-5)
    assert_same(values(variables), [w - LR * g for w, g in zip(before, gradients)],
                "critic after one step", atol=1e-6)

    # Pre-training: the three passes' terms.
    seed = tf.constant([0, 1], tf.int32)
    other, perturbed = task.incompatible_labels(y_gt, seed)
    s_true, s_other, s_perturbed = (critic_logit(task.critic, x_gt, labels)
                                    for labels in (y_gt, other, perturbed))
    expected = (tf.reduce_mean(softplus(-s_true)) + 0.5 * tf.reduce_mean(softplus(s_other))
                + 0.5 * tf.reduce_mean(softplus(s_perturbed))
                + penalty(s_true) + penalty(s_other) + penalty(s_perturbed))
    logs = task.critic_pretrain_step(x_gt, y_gt, seed)
    assert float(logs["pretrain_loss"]) == pytest.approx(float(expected), rel=1e-5)


# ----------------------------------------------------------------------------- isolation

# Catches: a predictor step that moves any critic variable (e.g. the critic called with
# training=True there: its dropout RNG state moves) or critic optimizer slot; a critic step that
# moves any predictor variable (e.g. y_hat recomputed with the predictor in training mode: its
# batch-norm statistics and dropout RNG move) or predictor optimizer slot; an iteration that
# runs either update more than once.
def test_each_update_moves_only_its_own_model_and_optimizer():
    n, m = 8, 4
    task = make_task(n=n, m=m, optimizer="adam", critic_dropout=0.3, extras=True)
    x, y = (tf.constant(a) for a in vector_data(n, seed=4))
    x_gt, y_gt = (tf.constant(a) for a in vector_data(m, seed=5))
    predictor_state = lambda: values(task.predictor.variables  # noqa: E731
                                     + task.predictor_optimizer.variables)
    critic_state = lambda: values(task.critic.variables  # noqa: E731
                                  + task.critic_optimizer.variables)
    assert any("seed_generator_state" in v.path for v in task.critic.variables)
    assert any("moving_mean" in v.path for v in task.predictor.variables)

    critic_before, predictor_before = critic_state(), predictor_state()
    _, y_hat = task.predictor_step(x, y)
    assert_same(critic_state(), critic_before, "critic state after a predictor step",
                rtol=0, atol=0)
    assert any(not np.array_equal(a, b) for a, b in zip(predictor_state(), predictor_before))

    critic_before, predictor_before = critic_state(), predictor_state()
    task.critic_step(x, y_hat, x_gt, y_gt)
    assert_same(predictor_state(), predictor_before, "predictor state after a critic step",
                rtol=0, atol=0)
    assert any(not np.array_equal(a, b) for a, b in zip(critic_state(), critic_before))

    task.adversarial_step(x, y, x_gt, y_gt)
    assert int(task.predictor_optimizer.iterations.numpy()) == 2
    assert int(task.critic_optimizer.iterations.numpy()) == 2


# Catches: a forward pass whose deferred state updates are dropped (M29): batch-norm moving
# statistics and dropout seed states that never move in training.
def test_each_update_moves_its_own_models_state():
    n, m = 8, 4
    task = make_task(n=n, m=m, critic_dropout=0.3, extras=True)
    x, y = (tf.constant(a) for a in vector_data(n, seed=4))
    x_gt, y_gt = (tf.constant(a) for a in vector_data(m, seed=5))

    def state(model, kind):
        return values([v for v in model.variables if kind in v.path])

    stats, seeds = state(task.predictor, "moving_mean"), state(task.predictor, "seed_generator")
    _, y_hat = task.predictor_step(x, y)
    assert not np.array_equal(state(task.predictor, "moving_mean")[0], stats[0])
    assert not np.array_equal(state(task.predictor, "seed_generator")[0], seeds[0])
    seeds = state(task.critic, "seed_generator")
    task.critic_step(x, y_hat, x_gt, y_gt)
    assert not np.array_equal(state(task.critic, "seed_generator")[0], seeds[0])


# ----------------------------------------------------------------------------- Algorithm 1 loop

# Catches: the critic stepping at k = 1, 4, 7 (or any k other than 3, 6, 9) with l = 3.
def test_critic_steps_exactly_when_k_is_a_multiple_of_l():
    features, labels = vector_data(72, seed=6)  # batch 8: 9 steps
    trainer = make_trainer(sgd_config(critic_every=3, epochs=1))
    calls, critic_moved = [], []

    def recorded(name, step_function):
        def run(*args):
            k = int(trainer.step.numpy()) + 1
            before = values(trainer.critic.variables)
            logs = step_function(*args)
            calls.append((k, name))
            if any(not np.array_equal(a, b)
                   for a, b in zip(values(trainer.critic.variables), before)):
                critic_moved.append(k)
            return logs
        return run

    trainer.adversarial_step = recorded("adversarial", trainer.adversarial_step)
    trainer.predictor_step = recorded("predictor", trainer.predictor_step)
    trainer.fit(ArrayRows(features, labels), verbose=False)
    assert calls == [(k, "adversarial" if k % 3 == 0 else "predictor") for k in range(1, 10)]
    assert critic_moved == [3, 6, 9]
    assert int(trainer.task.critic_optimizer.iterations.numpy()) == 3


def checkpoint_names(run_dir, step):
    return set(tf.train.load_checkpoint(str(run_dir / "checkpoints" / f"ckpt-{step}"))
               .get_variable_to_shape_map())


# Catches: the critic's ground-truth stream misplaced after a resume at l = 3 (skipping
# `step` instead of `step // l` batches, `ceil(step / l)`, or forgetting the pre-training
# batches); a checkpoint without the critic optimizer's slots (Adam restarts on resume).
def test_resume_at_l3_reproduces_an_uninterrupted_run(tmp_path):
    features, labels = vector_data(40, seed=7)  # batch 8: 5 steps an epoch
    rows = ArrayRows(features, labels)

    def config(epochs):  # Adam, so that optimizer slots matter
        return tiny_config(critic_every=3, critic_pretrain_steps=2, epochs=epochs,
                           learning_rate=1e-2, critic_learning_rate=1e-2, checkpoint_every=5)

    reference = make_trainer(config(2), run_dir=tmp_path / "reference")
    expected = reference.fit(rows, verbose=False)  # critic steps at k = 3, 6, 9
    make_trainer(config(1), run_dir=tmp_path / "resumed").fit(rows, verbose=False)
    names = checkpoint_names(tmp_path / "resumed", 5)
    assert any(n.startswith("critic_optimizer/") and "/.ATTRIBUTES/" in n for n in names)
    assert len([n for n in names if n.startswith("critic_optimizer/")]) > 3  # slots, not a count
    resumed = make_trainer(config(2), run_dir=tmp_path / "resumed")  # resumes at k = 5
    got = resumed.fit(rows, verbose=False)

    assert [h["epoch"] for h in got] == [2]
    assert set(got[0]) == set(expected[1])
    for name, value in expected[1].items():
        assert got[0][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    for model in ("critic", "predictor"):
        assert_same(values(getattr(resumed, model).variables),
                    values(getattr(reference, model).variables), model)
    assert_same(values(resumed.task.critic_optimizer.variables),
                values(reference.task.critic_optimizer.variables), "critic optimizer")


# ----------------------------------------------------------------------------- pre-training

# Catches: pre-training's negatives (either kind) regressed to 1 instead of 0, or the true pairs
# to 0; a mis-weighted term.
def test_pretraining_update_is_sgd_on_true_to_1_incompatible_to_0():
    m = 8
    features, labels = (tf.constant(a) for a in vector_data(m, seed=8))
    task = make_task(m=m, label_sets=np.unique(labels.numpy(), axis=0))
    seed = tf.constant([0, 1], tf.int32)
    other, perturbed = task.incompatible_labels(labels, seed)
    variables = task.critic.trainable_variables
    before = values(variables)
    with tf.GradientTape() as tape:
        s_true = critic_logit(task.critic, features, labels)
        s_other = critic_logit(task.critic, features, other)
        s_perturbed = critic_logit(task.critic, features, perturbed)
        loss = (tf.reduce_mean(softplus(-s_true)) + 0.5 * tf.reduce_mean(softplus(s_other))
                + 0.5 * tf.reduce_mean(softplus(s_perturbed)))
    gradients = tape.gradient(loss, variables)
    logs = task.critic_pretrain_step(features, labels, seed)
    assert float(logs["pretrain_loss"]) == pytest.approx(float(loss), rel=1e-5)
    assert_same(values(variables), [w - LR * g for w, g in zip(before, gradients)],
                "critic after one pre-training step", atol=1e-6)


def incompatible_on(devices, task, labels, seed):
    """`incompatible_labels` of one global batch on `devices`, gathered in batch order."""
    strategy = strategy_on(devices)
    batch = next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(tf.constant(labels)))))
    run = tf.function(lambda y: strategy.run(task.incompatible_labels, args=(y, seed)))
    other, perturbed = run(batch)
    return [np.concatenate(strategy.experimental_local_results(t)) for t in (other, perturbed)]


# Item 2. Catches: incompatible vectors that can equal the ground truth (the old roll of the
# replica's batch, which with one example per replica is the example itself; the draw not
# skipping the example's own label vector; a perturbation that can flip nothing), and draws
# that depend on the replica layout (rows indexed within the replica instead of the global
# batch).
@pytest.mark.parametrize("distinct", [3, None])
def test_incompatible_labels_differ_from_the_truth_and_ignore_the_replica_layout(distinct):
    _, labels = vector_data(64, seed=9, distinct=distinct)
    sets = np.unique(labels, axis=0)
    wide = AdmlcTask(None, None, predictor_optimizer=None, critic_optimizer=None, lam=1.0,
                     batch_size=64, critic_batch=64, flip_prob=0.1, label_sets=sets)
    for step in range(3):
        other, perturbed = incompatible_on(["/cpu:0"], wide, labels, tf.constant([0, step]))
        for kind, vectors in (("other", other), ("perturbed", perturbed)):
            assert (vectors != labels).any(axis=1).all(), kind
        assert (other[:, None, :] == sets[None]).all(-1).any(1).all()  # real label vectors

    # One example per replica: 4 replicas, global batch 4.
    narrow = AdmlcTask(None, None, predictor_optimizer=None, critic_optimizer=None, lam=1.0,
                       batch_size=4, critic_batch=4, flip_prob=0.1, label_sets=sets)
    for step in range(3):
        seed = tf.constant([5, step])
        one = incompatible_on(["/cpu:0"], narrow, labels[:4], seed)
        four = incompatible_on(all_cpus(), narrow, labels[:4], seed)
        for kind, a, b in zip(("other", "perturbed"), one, four):
            np.testing.assert_array_equal(b, a, err_msg=kind)
            assert (b != labels[:4]).any(axis=1).all(), kind


# Item 2. Catches: pre-training that depends on the replica layout (per-replica draws, a loss
# not divided by the global batch M) with one example per replica.
def test_pretraining_on_four_devices_equals_one_device():
    features, labels = vector_data(16, seed=10)
    rows = ArrayRows(features, labels)
    runs = {}
    for name, devices in (("one", ["/cpu:0"]), ("four", all_cpus())):
        trainer = make_trainer(sgd_config(epochs=0, batch_size=4, critic_batch=4,
                                          critic_pretrain_steps=3), devices)
        losses, step = [], trainer.critic_pretrain_step

        def recorded(*args, step=step, losses=losses):
            logs = step(*args)
            losses.append(float(logs["pretrain_loss"]))
            return logs

        trainer.critic_pretrain_step = recorded
        before = values(trainer.critic.variables)
        trainer.fit(rows, verbose=False)
        assert trainer.strategy.num_replicas_in_sync == len(devices)
        runs[name] = losses, values(trainer.critic.variables)
    assert len(runs["one"][0]) == 3
    np.testing.assert_allclose(runs["four"][0], runs["one"][0], rtol=1e-5)
    assert_same(runs["four"][1], runs["one"][1], "critic after pre-training", rtol=1e-4,
                atol=1e-6)
    assert max(np.abs(a - b).max() for a, b in zip(runs["one"][1], before)) > 1e-3


# ----------------------------------------------------------------------------- regularisation

L2 = 0.05


def fit_with(predictor, devices=("/cpu:0",), epochs=1):
    features, labels = vector_data(32, seed=11)  # batch 8: 4 steps an epoch
    trainer = make_trainer(sgd_config(epochs=epochs), devices, predictor=predictor)
    history = trainer.fit(ArrayRows(features, labels), verbose=False)
    return trainer, history


# Item 3. Catches: the predictor's own losses (kernel_regularizer, add_loss) left out of Eq. (3)
# or counted more than once.
def test_kernel_regularizer_and_add_loss_change_training():
    plain, plain_history = fit_with(small_predictor)
    penalised, penalised_history = fit_with(lambda: small_predictor(penalty=0.5))
    regularised, regularised_history = fit_with(
        lambda: small_predictor(regularizer=keras.regularizers.L2(L2)))
    initial = fit_with(small_predictor, epochs=0)[0].predictor  # the shared initial weights
    for name, history in (("plain", plain_history), ("add_loss", penalised_history),
                          ("kernel_regularizer", regularised_history)):
        extra = history[0]["loss"] - history[0]["sup_loss"] - history[0]["adv_loss"]
        if name == "plain":
            assert extra == pytest.approx(0.0, abs=1e-6)
        else:
            assert extra > 1e-3, name
    for name, trainer in (("add_loss", penalised), ("kernel_regularizer", regularised)):
        moved = max(np.abs(a - b).max() for a, b in zip(trainer.predictor.get_weights(),
                                                        plain.predictor.get_weights()))
        assert moved > 1e-3, name

    # One step: the regularised kernel's update differs from the plain one by exactly
    # -lr * d(L2 * |w|^2)/dw = -lr * 2 * L2 * w0, counted once.
    plain_1, _ = fit_with(small_predictor, epochs=0)
    features, labels = vector_data(8, seed=12)
    regularised_1 = make_trainer(sgd_config(epochs=0), predictor=lambda: small_predictor(
        regularizer=keras.regularizers.L2(L2)))
    for trainer in (plain_1, regularised_1):
        trainer.predictor_step(tf.constant(features), tf.constant(labels))
    for layer in ("hidden", "logits"):
        w0 = initial.get_layer(layer).kernel.numpy()
        difference = (regularised_1.predictor.get_layer(layer).kernel.numpy()
                      - plain_1.predictor.get_layer(layer).kernel.numpy())
        np.testing.assert_allclose(difference, -LR * 2 * L2 * w0, rtol=1e-4, atol=1e-6,
                                   err_msg=layer)


# Item 3. Catches: the regularisation not divided by the replica count (4 devices would apply
# it 4 times), or an add_loss summed over replicas' batches differently from one device.
# add_loss+sync_bn: the replica threads interleave at the synchronized batch norm's all-reduce;
# a loss read from the layers' shared `model.losses` lists counted other replicas' add_loss terms.
@pytest.mark.parametrize("kind", ["kernel_regularizer", "add_loss", "add_loss+sync_bn"])
def test_regularised_training_on_four_devices_equals_one_device(kind):
    predictor = {"kernel_regularizer": lambda: small_predictor(
                     regularizer=keras.regularizers.L2(L2)),
                 "add_loss": lambda: small_predictor(penalty=0.5),
                 "add_loss+sync_bn": lambda: small_predictor(penalty=0.5, sync_bn=True)}[kind]
    one, one_history = fit_with(predictor)
    four, four_history = fit_with(predictor, all_cpus())
    assert four.strategy.num_replicas_in_sync == 4
    for name, value in one_history[0].items():
        assert four_history[0][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    for model in ("predictor", "critic"):
        assert_same(values(getattr(four, model).trainable_variables),
                    values(getattr(one, model).trainable_variables), model, rtol=1e-4,
                    atol=1e-5)
