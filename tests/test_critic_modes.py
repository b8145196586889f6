"""The critic modes (`admlc_tf.critic_modes`, `--critic-mode`) and the hardness diagnostic.

Each test names the mutation it catches; the record of trying each is in tests/MUTATIONS.md
(section "Critic modes"). References are written here from the definitions (numpy loops for
the value critic's quality), with SGD so a mis-weighted or cut gradient shows in the update.
"""

from __future__ import annotations

import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from admlc_tf import critic_modes
from admlc_tf.data.pipeline import ArrayRows
from admlc_tf.errors import AdmlcError
from admlc_tf.losses import sigmoid_cross_entropy
from admlc_tf.predictors.spec import PredictorSpec
from admlc_tf.task import AdmlcTask
from tests.helpers import LABELS
from tests.test_algorithm import (DIMS, LR, all_cpus, assert_same, critic_logit, make_trainer,
                                  sgd_config, small_critic, small_predictor, softplus, values,
                                  vector_data)

SEED = tf.constant([4, 7], tf.int32)


def task_in(mode, *, n=8, m=8, lam=1.0, quality="rank", temperature=0.5):
    """An AdmlcTask in `mode` on the default strategy, SGD optimizers built."""
    keras.utils.set_random_seed(3)
    spec = PredictorSpec(small_predictor(), sigmoid_cross_entropy)
    critic = small_critic()
    predictor_optimizer, critic_optimizer = keras.optimizers.SGD(LR), keras.optimizers.SGD(LR)
    predictor_optimizer.build(spec.predictor.trainable_variables)
    critic_optimizer.build(critic.trainable_variables)
    return AdmlcTask(spec, critic, predictor_optimizer=predictor_optimizer,
                     critic_optimizer=critic_optimizer, lam=lam, batch_size=n, critic_batch=m,
                     flip_prob=0.1, mode=mode, quality=quality, temperature=temperature)


def view(mode, p, seed=SEED, temperature=0.5):
    return critic_modes.critic_view(mode, tf.constant(p, tf.float32), seed,
                                    global_batch=len(p), temperature=temperature).numpy()


def probabilities(n=64, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, (n, LABELS)).astype(np.float32)


# ----------------------------------------------------------------------------- what it sees

# Catches: the thresholded and sampled variants swapped; a Bernoulli "sample" that is not one
# (thresholded, or drawn against 1 - p); gumbel's temperature ignored.
def test_threshold_rounds_bernoulli_samples_and_gumbel_relaxes():
    p = probabilities()
    np.testing.assert_array_equal(view("threshold", p), (p >= 0.5).astype(np.float32))
    draws = np.stack([view("bernoulli", p, tf.constant([4, k])) for k in range(400)])
    assert set(np.unique(draws)) == {0.0, 1.0}
    assert np.abs(draws.mean(0) - p).mean() < 0.03  # frequencies follow p (sd ~0.02 a draw)
    assert (draws != (p >= 0.5)).mean() > 0.2  # not the rounding
    hot = np.stack([view("gumbel", p, tf.constant([4, k]), temperature=0.05)
                    for k in range(400)])
    assert np.abs((hot > 0.5).mean(0) - p).mean() < 0.03  # a relaxed Bernoulli(p)
    assert np.mean((hot < 0.02) | (hot > 0.98)) > 0.9  # near 0/1 at a low temperature
    warm = view("gumbel", p, temperature=1.0)
    assert np.mean((warm > 0.02) & (warm < 0.98)) > 0.5
    for mode in ("paper", "value"):
        np.testing.assert_array_equal(view(mode, p), p)


# Catches: the straight-through gradient cut (the binary vector fed to the critic as a
# constant: the adversarial term then moves nothing); the critic fed y_hat instead of the binary
# vector in the predictor's pass; gumbel's sample detached.
@pytest.mark.parametrize("mode", ["bernoulli", "threshold", "gumbel"])
def test_predictor_update_flows_through_what_the_critic_saw(mode):
    lam = 0.7
    task = task_in(mode, lam=lam)
    x, y = (tf.constant(a) for a in vector_data(8, seed=1))
    variables = task.predictor.trainable_variables
    before = values(variables)
    with tf.GradientTape(persistent=True) as tape:
        logits = task.predictor(x, training=True)
        p = tf.sigmoid(logits)
        supervised = tf.reduce_mean(
            -y * tf.math.log_sigmoid(logits) - (1 - y) * tf.math.log_sigmoid(-logits))
        if mode == "gumbel":
            seen = critic_modes.critic_view(mode, p, SEED, global_batch=8, temperature=0.5)
        else:  # the forward value, with d seen / d p = 1
            hard = tf.constant(view(mode, p.numpy()))
            seen = p + tf.stop_gradient(hard - p)
        adversarial = tf.reduce_mean(softplus(-task.critic({"features": x, "labels": seen})[:, 0]))
    g_sup, g_adv = tape.gradient(supervised, variables), tape.gradient(adversarial, variables)
    assert max(float(tf.reduce_max(tf.abs(LR * lam * g))) for g in g_adv) > 1e-3

    logs, returned = task.predictor_step(x, y, SEED)
    np.testing.assert_allclose(returned, seen.numpy(), rtol=1e-6, atol=1e-7)
    if mode != "gumbel":
        assert set(np.unique(returned.numpy())) <= {0.0, 1.0}
    assert float(logs["adv_loss"]) == pytest.approx(float(adversarial), rel=1e-5)
    expected = [w - LR * (gs + lam * ga) for w, gs, ga in zip(before, g_sup, g_adv)]
    assert_same(values(variables), expected, "predictor after one step", atol=1e-6)


# ----------------------------------------------------------------------------- value critic

def rank_quality_reference(v, y):
    """Numpy loops: correctly ordered (positive, negative) pairs, ties half."""
    out = []
    for vi, yi in zip(v, y):
        pos, neg = np.flatnonzero(yi > 0.5), np.flatnonzero(yi <= 0.5)
        pairs = list(itertools.product(pos, neg))
        if not pairs:
            out.append(1.0 - np.abs(vi - yi).mean())
            continue
        out.append(np.mean([1.0 if vi[a] > vi[b] else 0.5 if vi[a] == vi[b] else 0.0
                            for a, b in pairs]))
    return np.array(out, np.float32)


# Catches: a ground-truth pair's quality not 1 (an empty or full label set, or soft F1 without
# its both-empty case); ties not counted half; a smoothed truth that changes the order.
def test_quality_of_the_truth_is_one_and_rank_quality_counts_ordered_pairs():
    y = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]], np.float32)
    for kind in critic_modes.QUALITIES:
        np.testing.assert_allclose(critic_modes.quality(kind, y, y), 1.0, err_msg=kind)
    v = np.array([[0.9, 0.2, 0.5, 0.5], [0.1, 0.0, 0.3, 0.0], [0.2, 1, 1, 0.6],
                  [0.3, 0.3, 0.6, 0.1]], np.float32)
    np.testing.assert_allclose(critic_modes.rank_quality(v, y), rank_quality_reference(v, y),
                               rtol=1e-6)
    np.testing.assert_allclose(critic_modes.rank_quality(v, y)[3], (0.5 + 0 + 1) / 3, rtol=1e-6)
    np.testing.assert_allclose(critic_modes.f1_quality(np.array([[1, 1, 0, 0]], np.float32),
                                                       y[:1]), [2 * 1 / (2 + 2)], rtol=1e-6)
    rng_y = (np.random.default_rng(1).random((32, LABELS)) < 0.4).astype(np.float32)
    smoothed = critic_modes.smoothed_truth(tf.constant(rng_y), SEED, 32).numpy()
    assert 0 < np.abs(smoothed - rng_y).min() and np.abs(smoothed - rng_y).max() <= 0.5
    has_pairs = (rng_y.sum(1) > 0) & (rng_y.sum(1) < LABELS)
    np.testing.assert_allclose(critic_modes.rank_quality(smoothed, rng_y).numpy()[has_pairs], 1.0)
    flipped = critic_modes.flipped_truth(tf.constant(rng_y), SEED, 32).numpy()
    np.testing.assert_array_equal(np.abs(flipped - rng_y).sum(1), 1.0)


# Catches: the value target computed against the wrong truth (the ground-truth batch's y_gt,
# or y_hat itself); the quality of a ground-truth pair not 1; a pair kind left out or counted
# over the wrong batch size; the thresholded predictions replaced by the soft ones.
def test_value_critic_regresses_each_pairs_quality_against_its_own_truth():
    n = m = 8
    task = task_in("value", n=n, m=m)
    x, y = (tf.constant(a) for a in vector_data(n, seed=2))
    x_gt, y_gt = (tf.constant(a) for a in vector_data(m, seed=3))
    assert not np.array_equal(y, y_gt)
    y_hat = tf.sigmoid(task.predictor(x))
    key = tf.random.experimental.stateless_fold_in(SEED, 1)
    flipped = critic_modes.flipped_truth(y_gt, key, m)
    smoothed = critic_modes.smoothed_truth(y_gt, key, m)
    rounded = tf.cast(y_hat >= 0.5, tf.float32)
    q = lambda v, t: tf.constant(rank_quality_reference(np.asarray(v), np.asarray(t)))  # noqa
    pairs = [(x_gt, y_gt, tf.ones([m])), (x, y_hat, q(y_hat, y)), (x, rounded, q(rounded, y)),
             (x_gt, flipped, q(flipped, y_gt)), (x_gt, smoothed, q(smoothed, y_gt))]
    assert float(tf.reduce_max(tf.abs(pairs[1][2] - q(y_hat, y_gt)))) > 0.05  # truth matters
    variables = task.critic.trainable_variables
    before = values(variables)
    with tf.GradientTape() as tape:
        loss = 0.0
        for inputs, labels, target in pairs:
            s = critic_logit(task.critic, inputs, labels)
            loss += tf.reduce_mean(softplus(s) - target * s)  # BCE(s, target)
    gradients = tape.gradient(loss, variables)
    logs = task.critic_step(x, y_hat, x_gt, y_gt, SEED, y)
    assert float(logs["critic_loss"]) == pytest.approx(float(loss), rel=1e-5)
    assert float(logs["critic_target_pred"]) == pytest.approx(float(tf.reduce_mean(pairs[1][2])),
                                                              rel=1e-5)
    assert_same(values(variables), [w - LR * g for w, g in zip(before, gradients)],
                "value critic after one step", atol=1e-6)


# Catches: value pre-training that regresses incompatible pairs to 0 (the paper's targets)
# instead of their quality, or leaves out the smoothed truth.
def test_value_pretraining_regresses_incompatible_pairs_to_their_quality():
    m = 8
    features, labels = (tf.constant(a) for a in vector_data(m, seed=8))
    task = task_in("value", m=m)
    task.label_sets = tf.constant(np.unique(labels.numpy(), axis=0))
    other, perturbed = task.incompatible_labels(labels, SEED)
    smoothed = critic_modes.smoothed_truth(labels, SEED, m)
    q = lambda v: tf.constant(rank_quality_reference(np.asarray(v), labels.numpy()))  # noqa
    variables = task.critic.trainable_variables
    before = values(variables)
    with tf.GradientTape() as tape:
        bce = lambda v, t: tf.reduce_mean(  # noqa: E731
            softplus(critic_logit(task.critic, features, v))
            - t * critic_logit(task.critic, features, v))
        loss = (bce(labels, 1.0) + 0.5 * bce(other, q(other)) + 0.5 * bce(perturbed, q(perturbed))
                + 0.5 * bce(smoothed, q(smoothed)))
    gradients = tape.gradient(loss, variables)
    logs = task.critic_pretrain_step(features, labels, SEED)
    assert float(logs["pretrain_loss"]) == pytest.approx(float(loss), rel=1e-5)
    assert_same(values(variables), [w - LR * g for w, g in zip(before, gradients)],
                "value critic after pre-training", atol=1e-6)


# ----------------------------------------------------------------------------- distribution

def mode_config(mode, **trainer):
    config = sgd_config(**trainer)
    config.loss.critic_mode = mode
    return config


def distributed(strategy, *arrays):
    return next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(tuple(tf.constant(a) for a in arrays)))))


# Catches: a sample, smoothing or flip not keyed by the example's position in the GLOBAL batch
# (drawn per replica: four replicas of two rows would repeat the same two draws); a loss term of
# a mode not divided by the global batch. One pre-training step and one Algorithm 1 step, each
# on one device and on four.
@pytest.mark.slow
@pytest.mark.parametrize("mode", critic_modes.MODES)
def test_each_mode_steps_the_same_on_four_devices_as_on_one(mode):
    features, labels = vector_data(16, seed=11)
    x, y, x_gt, y_gt = features[:8], labels[:8], features[8:], labels[8:]
    seed = tf.constant([3, 5], tf.int32)
    runs = {}
    for name, devices in (("one", ["/cpu:0"]), ("four", all_cpus())):
        trainer = make_trainer(mode_config(mode), devices)
        trainer.task.label_sets = tf.constant(np.unique(labels, axis=0))
        pretrain = trainer.critic_pretrain_step(*distributed(trainer.strategy, x_gt, y_gt), seed)
        logs = trainer.adversarial_step(*distributed(trainer.strategy, x, y),
                                        *distributed(trainer.strategy, x_gt, y_gt), seed)
        runs[name] = {**{f"pretrain/{k}": float(v) for k, v in pretrain.items()},
                      **{k: float(v) for k, v in logs.items()}}, trainer
    (one, one_trainer), (four, four_trainer) = runs["one"], runs["four"]
    assert four_trainer.strategy.num_replicas_in_sync == 4
    for name, value in one.items():
        assert four[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    for model in ("predictor", "critic"):
        assert_same(values(getattr(four_trainer, model).trainable_variables),
                    values(getattr(one_trainer, model).trainable_variables), model, rtol=1e-4,
                    atol=1e-5)


# Catches: draws keyed by a counter that restarts with the process (the resumed run would
# draw the first steps' samples again) instead of the step.
@pytest.mark.slow
@pytest.mark.parametrize("mode", [m for m in critic_modes.MODES if m != "paper"])
def test_each_mode_resumes_as_an_uninterrupted_run(mode, tmp_path):
    features, labels = vector_data(24, seed=7)  # batch 8: 3 steps an epoch
    rows = ArrayRows(features, labels)

    def config(epochs):
        c = mode_config(mode, epochs=epochs, critic_pretrain_steps=1, checkpoint_every=3)
        c.trainer.optimizer, c.trainer.learning_rate = "adam", 1e-2
        c.trainer.critic_learning_rate = 1e-2
        return c

    reference = make_trainer(config(2), run_dir=tmp_path / "reference")
    expected = reference.fit(rows, verbose=False)
    make_trainer(config(1), run_dir=tmp_path / "resumed").fit(rows, verbose=False)
    resumed = make_trainer(config(2), run_dir=tmp_path / "resumed")
    got = resumed.fit(rows, verbose=False)
    assert [h["epoch"] for h in got] == [2]
    for name, value in expected[1].items():
        assert got[0][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    for model in ("critic", "predictor"):
        assert_same(values(getattr(resumed, model).variables),
                    values(getattr(reference, model).variables), model)


# ----------------------------------------------------------------------------- hardness

# Catches: the soft and hard scores swapped (AUC 1 - x), ties not counted half.
def test_hardness_auc_is_the_roc_auc_of_hard_over_soft():
    rng = np.random.default_rng(0)
    soft, hard = rng.normal(size=50).round(1), rng.normal(0.7, size=40).round(1)
    expected = roc_auc_score(np.r_[np.zeros(50), np.ones(40)], np.r_[soft, hard])
    assert critic_modes.hardness_auc(soft, hard) == pytest.approx(expected, rel=1e-12)
    assert critic_modes.hardness_auc(np.zeros(5), np.zeros(5)) == 0.5
    assert critic_modes.hardness_auc([], []) is None


def hand_critic(kind):
    """A critic that scores 0/1-ness (sum |2y - 1|) or ignores the labels (mean of x)."""
    features = keras.Input((DIMS,), name="features")
    labels = keras.Input((LABELS,), name="labels")
    if kind == "hardness":
        score = keras.layers.Lambda(
            lambda y: tf.reduce_sum(tf.abs(2.0 * y - 1.0), axis=-1, keepdims=True))(labels)
    else:
        score = keras.layers.Lambda(lambda x: tf.reduce_mean(x, axis=-1, keepdims=True))(features)
    return keras.Model({"features": features, "labels": labels}, score)


# Catches: a diagnostic that scores the wrong vectors (both soft, or the truth), or that is not
# written to the history and results; a critic reading 0/1-ness not shown as ~1.
def test_hardness_diagnostic_flags_a_critic_that_reads_0_1_ness(tmp_path):
    features, labels = vector_data(24, seed=3)
    rows = ArrayRows(features, labels)
    for kind, expected in (("hardness", 1.0), ("blind", 0.5)):
        trainer = make_trainer(sgd_config(epochs=0), run_dir=None)
        trainer.task.critic = hand_critic(kind)
        assert trainer.critic_hardness_auc(rows) == pytest.approx(expected, abs=1e-9), kind
    trainer = make_trainer(mode_config("paper", epochs=2, patience=0), run_dir=tmp_path)
    history = trainer.fit(rows, validation_rows=rows, verbose=False,
                          validation_metric=lambda y, p: {"val_x": 0.0})
    assert all(0.0 <= h["val_critic_hardness_auc"] <= 1.0 for h in history)
    assert trainer.critic_summary["mode"] == "paper"
    assert trainer.critic_summary["hardness_auc"] == pytest.approx(
        trainer.critic_hardness_auc(rows))
    events = list((tmp_path / "validation").glob("events.out.tfevents.*"))
    tags = {v.tag for e in events for r in tf.compat.v1.train.summary_iterator(str(e))
            for v in r.summary.value}
    assert "critic_hardness_auc" in tags


# Catches: an unknown mode accepted (and silently trained as the paper's).
def test_unknown_mode_is_one_line_naming_the_flag():
    config = mode_config("sharp")
    with pytest.raises(AdmlcError, match="--critic-mode sharp is not known: use one of paper"):
        make_trainer(config)
    config.loss.adversarial = False  # the plain baseline never reads the mode
    make_trainer(config)


# Catches: results.json without the critic's mode and hardness (lifecycle not writing it).
def test_results_json_records_the_critic(tmp_path):
    from admlc_tf import lifecycle
    from admlc_tf.config import ExperimentConfig

    rng = np.random.default_rng(0)
    y = (rng.random((120, 4)) < 0.4).astype(np.float32)
    x = (y @ rng.normal(size=(4, 10)) + 0.3 * rng.normal(size=(120, 10))).astype(np.float32)
    np.savez(tmp_path / "set.npz", X=x, Y=y)
    config = ExperimentConfig(task="features", name="t", out_dir=str(tmp_path / "run"),
                              export_dir=str(tmp_path / "export"))
    config.vectors.data_path = str(tmp_path / "set.npz")
    config.vectors.hidden_units = (8,)
    config.trainer.epochs, config.trainer.batch_size, config.trainer.critic_batch = 2, 16, 16
    config.trainer.critic_pretrain_steps = 2
    config.loss.critic_mode = "value"
    lifecycle.run(config, verbose=False)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["critic"]["mode"] == "value" and results["critic"]["quality"] == "rank"
    assert 0.0 <= results["critic"]["hardness_auc"] <= 1.0


# Catches: draws keyed by the seed alone (every step the same sample) or by a counter that
# restarts with the process instead of the step k (a resumed run would repeat early draws).
def test_every_step_is_keyed_by_the_run_seed_and_k(tmp_path):
    features, labels = vector_data(24, seed=5)  # batch 8: 3 steps an epoch
    rows = ArrayRows(features, labels)
    seen = []

    def spied(trainer):
        step = trainer.adversarial_step

        def recorded(*args):
            seen.append(tuple(int(v) for v in args[-1].numpy()))
            return step(*args)

        trainer.adversarial_step = recorded
        return trainer

    config = lambda epochs: mode_config("bernoulli", epochs=epochs, seed=9,  # noqa: E731
                                        checkpoint_every=3)
    spied(make_trainer(config(1), run_dir=tmp_path)).fit(rows, verbose=False)
    spied(make_trainer(config(2), run_dir=tmp_path)).fit(rows, verbose=False)  # resumes at 3
    assert seen == [(9, k) for k in range(1, 7)]


# Catches: an unknown mode found only after the data is prepared (a half-made run folder) or
# shown as a traceback.
def test_train_py_refuses_an_unknown_mode_before_writing_anything(tmp_path):
    from tests.helpers import run_script

    proc = run_script("train.py", "--critic-mode", "sharp", "--out", tmp_path / "run",
                      data_home=tmp_path / "home", in_process=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--critic-mode sharp is not known: use one of paper" in proc.stderr.splitlines()[-1]
    assert not (tmp_path / "run").exists() and not (tmp_path / "home").exists()
