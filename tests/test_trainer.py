"""The Algorithm 1 trainer: distributed-step equivalence, learning, checkpoints, summaries."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.config import CriticConfig
from admlc_tf.critic import build_critic
from admlc_tf.errors import AdmlcError
from admlc_tf.losses import score_cross_entropy, sigmoid_cross_entropy
from admlc_tf.predictors.cgrnn import build_cgrnn
from admlc_tf.trainer import Trainer
from tests.helpers import BANDS, FRAMES, LABELS, learnable_arrays, learnable_rows, tiny_config


def make_trainer(config, devices, run_dir=None):
    strategy = tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    predictor = functools.partial(build_cgrnn, FRAMES, BANDS, LABELS, config=config.predictor)
    critic = functools.partial(build_critic, (FRAMES, BANDS), LABELS, config=config.critic)
    return Trainer(config, strategy, build_predictor=predictor, build_critic=critic,
                   run_dir=run_dir)


def use_sgd(trainer, learning_rate=0.5):
    """Swaps in SGD: Adam's first step is ~lr * sign(g) and would hide a gradient-scale error."""
    with trainer.strategy.scope():
        for model, attr in ((trainer.predictor, "predictor_optimizer"),
                            (trainer.critic, "critic_optimizer")):
            optimizer = keras.optimizers.SGD(learning_rate)
            optimizer.build(model.trainable_variables)
            setattr(trainer.task, attr, optimizer)


def one_algorithm_step(trainer, x, y, x_gt, y_gt):
    """Runs one predictor update and one critic update on a global batch; returns the logs."""
    strategy = trainer.strategy
    batch = next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((x, y)))))
    gt = next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((x_gt, y_gt)))))
    return {k: float(v) for k, v in trainer.adversarial_step(*batch, *gt).items()}


class TestDistributedStep:
    def test_four_replicas_equal_one_device(self):
        config = tiny_config(batch_size=8, critic_batch=8)
        config.loss.lam = 0.5
        features, labels = learnable_arrays(16, seed=1)
        x, y, x_gt, y_gt = features[:8], labels[:8], features[8:], labels[8:]
        single = make_trainer(config, ["/cpu:0"])
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        mirrored = make_trainer(config, devices)
        assert mirrored.strategy.num_replicas_in_sync == len(devices) == 4
        mirrored.predictor.set_weights(single.predictor.get_weights())
        mirrored.critic.set_weights(single.critic.get_weights())
        use_sgd(single)
        use_sgd(mirrored)

        # The loss the step must report, computed directly on the whole batch. training=True
        # also moves batch-norm statistics, so the weights are put back afterwards.
        initial = single.predictor.get_weights()
        logits = single.predictor(tf.constant(x), training=True)
        s_pred = single.critic({"features": tf.constant(x), "labels": tf.sigmoid(logits)})[:, 0]
        expected_sup = float(tf.reduce_mean(sigmoid_cross_entropy(y, logits)))
        expected_adv = float(tf.reduce_mean(score_cross_entropy(s_pred, 1.0)))
        single.predictor.set_weights(initial)

        logs_single = one_algorithm_step(single, x, y, x_gt, y_gt)
        logs_mirrored = one_algorithm_step(mirrored, x, y, x_gt, y_gt)
        assert logs_single["sup_loss"] == pytest.approx(expected_sup, rel=1e-5)
        assert logs_single["adv_loss"] == pytest.approx(expected_adv, rel=1e-5)
        for name, value in logs_single.items():
            assert logs_mirrored[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
        for model in ("predictor", "critic"):
            for a, b in zip(getattr(single, model).get_weights(),
                            getattr(mirrored, model).get_weights()):
                np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=model)

    def test_step_changes_weights(self):
        """Guards the equivalence test against a vacuous pass: one step does move the weights."""
        config = tiny_config()
        features, labels = learnable_arrays(16, seed=1)
        trainer = make_trainer(config, ["/cpu:0"])
        use_sgd(trainer)
        before = [w.copy() for w in trainer.predictor.get_weights() + trainer.critic.get_weights()]
        one_algorithm_step(trainer, features[:8], labels[:8], features[8:], labels[8:])
        after = trainer.predictor.get_weights() + trainer.critic.get_weights()
        assert max(np.abs(a - b).max() for a, b in zip(after, before)) > 1e-4


class TestFit:
    @pytest.mark.slow
    def test_loss_falls_and_logs_are_written(self, tmp_path):
        rows = learnable_rows(tmp_path, n=64)
        config = tiny_config(epochs=6, critic_pretrain_steps=4, learning_rate=1e-2)
        trainer = make_trainer(config, ["/cpu:0", "/cpu:1"], run_dir=tmp_path / "run")
        history = trainer.fit(rows, rows, verbose=False)
        assert len(history) == 6
        assert history[-1]["sup_loss"] < 0.8 * history[0]["sup_loss"]
        assert history[-1]["val_mean_eer"] < 0.4
        for name in ("adv_loss", "critic_loss", "critic_score_pred", "critic_score_gt"):
            assert np.isfinite(history[-1][name]), name
        assert int(trainer.step.numpy()) == 6 * (64 // 8)
        assert trainer.manager.latest_checkpoint.endswith(f"ckpt-{6 * 8}")
        assert list((tmp_path / "run" / "train").glob("events.out.tfevents.*"))
        assert list((tmp_path / "run" / "validation").glob("events.out.tfevents.*"))

    def test_plain_baseline_has_no_critic(self, tmp_path):
        rows = learnable_rows(tmp_path, n=32)
        config = tiny_config(epochs=1)
        config.loss.adversarial = False
        trainer = make_trainer(config, ["/cpu:0"])
        history = trainer.fit(rows, verbose=False)
        assert trainer.critic is None
        assert set(history[0]) == {"loss", "sup_loss", "epoch"}

    def test_resume_continues_from_the_checkpoint(self, tmp_path):
        rows = learnable_rows(tmp_path, n=32)
        first = make_trainer(tiny_config(epochs=1), ["/cpu:0"], run_dir=tmp_path / "run")
        first.fit(rows, verbose=False)
        second = make_trainer(tiny_config(epochs=2), ["/cpu:0"], run_dir=tmp_path / "run")
        history = second.fit(rows, verbose=False)
        assert [h["epoch"] for h in history] == [2]
        assert int(second.step.numpy()) == 2 * (32 // 8)


class TestCriticPretraining:
    def test_critic_learns_to_tell_true_labels_from_wrong_ones(self, tmp_path):
        rows = learnable_rows(tmp_path, n=128)
        config = tiny_config(critic_pretrain_steps=300, critic_learning_rate=3e-3, epochs=0,
                             critic_batch=32)
        config.critic = CriticConfig(representation_units=(8,), embedding_units=16,
                                     label_units=16, fusion_units=(32,))
        trainer = make_trainer(config, ["/cpu:0"])
        trainer.fit(rows, verbose=False)
        assert int(trainer.pretrain_step.numpy()) == 300
        features, labels = learnable_arrays(128, seed=0)
        true = trainer.critic({"features": features, "labels": labels})
        wrong = trainer.critic({"features": features, "labels": np.roll(labels, 1, axis=0)})
        assert float(tf.reduce_mean(tf.cast(true > wrong, tf.float32))) > 0.85


class TestPrecision:
    # float16 is emulated on CPU (~40 s a fit under load): the quick loop keeps bfloat16's.
    @pytest.mark.parametrize("precision", [pytest.param("mixed_float16", marks=pytest.mark.slow),
                                           "mixed_bfloat16"])
    def test_mixed_precision_trains_with_float32_variables_and_outputs(self, tmp_path, precision):
        rows = learnable_rows(tmp_path, n=16)  # two steps: enough to move every weight
        trainer = make_trainer(tiny_config(epochs=1, precision=precision),
                               ["/cpu:0", "/cpu:1"])
        before = [w.copy() for w in trainer.predictor.get_weights()]
        history = trainer.fit(rows, verbose=False)
        compute = precision.removeprefix("mixed_")
        for model in (trainer.predictor, trainer.critic):
            convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
            assert convs and all(layer.compute_dtype == compute for layer in convs), model.name
            assert all(v.dtype == "float32" for v in model.trainable_variables), model.name
        if precision == "mixed_float16":
            assert isinstance(trainer.task.predictor_optimizer, keras.optimizers.LossScaleOptimizer)
        features, _ = learnable_arrays(4)
        assert trainer.predictor(features).dtype == tf.float32
        for name in ("sup_loss", "adv_loss", "critic_loss"):
            assert np.isfinite(history[-1][name]), name
        moved = max(np.abs(a - b).max() for a, b in zip(trainer.predictor.get_weights(), before))
        assert moved > 1e-4
        # The policy is the Trainer's business only: models built afterwards are float32.
        assert keras.config.dtype_policy().name == "float32"

    def test_unknown_precision_is_refused(self):
        with pytest.raises(AdmlcError, match="--precision float8"):
            make_trainer(tiny_config(precision="float8"), ["/cpu:0"])
