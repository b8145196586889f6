"""The attention CRNN predictor and its attention pooling."""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.config import (CriticConfig, ExperimentConfig, PredictorConfig, TrainerConfig)
from admlc_tf.critic import build_critic
from admlc_tf.losses import get_supervised_loss
from admlc_tf.predictors.crnn_attention import (HEAD_LAYERS, AttentionPooling,
                                                build_crnn_attention)
from admlc_tf.trainer import Trainer

FRAMES, BANDS, NUM_LABELS = 40, 8, 3
CONFIG = PredictorConfig(conv_filters=(4,), gru_units=(6,), dropout=0.0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax_over_time(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def weak_event_data(n: int, seed: int = 0):
    """Chunks where each present tag lights up its own two bands in one short random segment.

    Returns features `[n, FRAMES, BANDS]` and labels `[n, NUM_LABELS]`, float32.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, NUM_LABELS)) < 0.5).astype(np.float32)
    features = rng.normal(size=(n, FRAMES, BANDS)).astype(np.float32)
    for i, j in zip(*np.nonzero(labels)):
        start = rng.integers(0, FRAMES - 8)
        features[i, start:start + 8, 2 * j:2 * j + 2] += 3.0
    return features, labels


class TestAttentionPooling:
    # Catches: softmax over the label axis instead of time, or a missing/incorrect normaliser.
    def test_is_the_logit_of_the_attention_weighted_probability(self):
        rng = np.random.default_rng(0)
        z = rng.normal(scale=3, size=(4, 9, NUM_LABELS)).astype(np.float32)
        a = rng.normal(scale=3, size=(4, 9, NUM_LABELS)).astype(np.float32)
        p = (softmax_over_time(a) * sigmoid(z)).sum(axis=1)
        out = AttentionPooling()([z, a]).numpy()
        np.testing.assert_allclose(sigmoid(out), p, atol=1e-5)

    # Catches: log(p) / log(1 - p) computed naively (log 0 = -inf, inf - inf = nan at +-80).
    def test_finite_and_right_for_extreme_logits(self):
        z = np.array([[[80.0], [-80.0]], [[80.0], [80.0]], [[-80.0], [-80.0]]], np.float32)
        a = np.array([[[80.0], [-80.0]], [[-80.0], [80.0]], [[0.0], [0.0]]], np.float32)
        out = AttentionPooling()([z, a]).numpy()  # [3, 1]
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out[:, 0], [80.0, 80.0, -80.0], rtol=1e-3)
        with tf.GradientTape() as tape:
            zt = tf.constant(z)
            tape.watch(zt)
            pooled = AttentionPooling()([zt, tf.constant(a)])
        assert np.all(np.isfinite(tape.gradient(pooled, zt).numpy()))

    # Catches: the layer not registered as serializable, or a config that drops name/dtype.
    def test_config_round_trip(self):
        layer = AttentionPooling(dtype="float32", name="pool")
        copy = AttentionPooling.from_config(layer.get_config())
        assert (copy.name, copy.dtype_policy.name) == ("pool", "float32")
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert isinstance(restored, AttentionPooling)
        z = np.random.default_rng(1).normal(size=(2, 5, NUM_LABELS)).astype(np.float32)
        np.testing.assert_allclose(restored([z, -z]), layer([z, -z]), atol=1e-6)


class TestCrnnAttention:
    # Catches: pooling over time in the front end, a GRU that drops the sequence, wrong heads.
    def test_output_shape_and_finite(self):
        model = build_crnn_attention(FRAMES, BANDS, NUM_LABELS, config=CONFIG)
        assert model.input.name == "features"
        assert model.output_shape == (None, NUM_LABELS)
        for layer in HEAD_LAYERS:
            assert model.get_layer(layer).output.shape == (None, FRAMES, NUM_LABELS)
        x = np.random.default_rng(0).normal(size=(2, FRAMES, BANDS)).astype(np.float32)
        out = model(x)
        assert out.shape == (2, NUM_LABELS) and np.all(np.isfinite(out))

    # Catches: a Reshape that bakes in the frame count, so only one chunk length works.
    def test_any_length_when_frames_is_none(self):
        model = build_crnn_attention(None, BANDS, NUM_LABELS, config=CONFIG)
        for frames in (30, 57):
            out = model(tf.random.normal((2, frames, BANDS)))
            assert out.shape == (2, NUM_LABELS) and np.all(np.isfinite(out))

    # Catches: the model wiring the heads into the pooling the wrong way round (z <-> a), or
    # pooling over labels rather than frames.
    def test_output_is_the_attention_pooled_frame_probability(self):
        model = build_crnn_attention(FRAMES, BANDS, NUM_LABELS, config=CONFIG)
        probe = keras.Model(model.input, [model.get_layer("frame_logits").output,
                                          model.get_layer("attention_logits").output,
                                          model.output])
        x = np.random.default_rng(2).normal(size=(3, FRAMES, BANDS)).astype(np.float32)
        z, a, out = (t.numpy() for t in probe(x))
        p = (softmax_over_time(a) * sigmoid(z)).sum(axis=1)
        np.testing.assert_allclose(sigmoid(out), p, atol=1e-5)

    # Catches: a standardisation layer that ignores the statistics (or is applied twice).
    def test_standardisation_uses_the_given_statistics(self):
        model = build_crnn_attention(FRAMES, BANDS, NUM_LABELS, config=CONFIG,
                                     feature_mean=np.full(BANDS, 3.0),
                                     feature_variance=np.full(BANDS, 4.0))
        plain = build_crnn_attention(FRAMES, BANDS, NUM_LABELS, config=CONFIG)
        plain.set_weights(model.get_weights())
        x = np.random.default_rng(3).normal(size=(2, FRAMES, BANDS)).astype(np.float32)
        np.testing.assert_allclose(model(3.0 + 2.0 * x), plain(x), rtol=1e-4, atol=1e-4)

    # Catches: heads or pooling left in float16, which overflows/underflows the log-space maths.
    def test_heads_and_pooling_are_float32_under_mixed_precision(self):
        keras.config.set_dtype_policy("mixed_float16")
        try:
            model = build_crnn_attention(None, BANDS, NUM_LABELS, config=CONFIG)
        finally:
            keras.config.set_dtype_policy("float32")
        assert model.get_layer("glu0_linear").compute_dtype == "float16"
        for layer in (*HEAD_LAYERS, "attention_pooling"):
            assert model.get_layer(layer).compute_dtype == "float32", layer
        out = model(tf.random.normal((2, 25, BANDS)))
        assert out.dtype == tf.float32 and np.all(np.isfinite(out))

    # Catches: no gradient path through the attention pooling (e.g. a stop-gradient or a
    # detached head), so the model cannot learn weakly labelled, short events.
    def test_learns_a_weakly_labelled_problem(self):
        keras.utils.set_random_seed(0)
        model = build_crnn_attention(FRAMES, BANDS, NUM_LABELS, config=CONFIG)
        x, y = weak_event_data(64)
        loss_fn = get_supervised_loss("ce")
        optimizer = keras.optimizers.Adam(1e-2)

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(y, model(x, training=True)))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        losses = [float(step(x, y)) for _ in range(60)]
        assert np.all(np.isfinite(losses))
        assert losses[-1] < 0.5 * losses[0], losses[::10]


class TestTrainer:
    # Catches: a model the Algorithm 1 trainer cannot run (distribution, synchronised batch
    # norm, the critic on the sigmoid of the logits) or does not improve under it.
    def test_adversarial_steps_on_two_replicas(self):
        # The sizes of `tests.helpers.tiny_config`, built here and fed arrays straight into the
        # step, so the test does not depend on the data pipeline (being reworked).
        config = ExperimentConfig(
            predictor=CONFIG,
            critic=CriticConfig(representation_units=(4,), embedding_units=8, label_units=4,
                                fusion_units=(8,)),
            trainer=TrainerConfig(batch_size=16, critic_batch=16, learning_rate=1e-2))
        strategy = tf.distribute.MirroredStrategy(
            ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
        trainer = Trainer(
            config, strategy,
            build_predictor=functools.partial(build_crnn_attention, FRAMES, BANDS, NUM_LABELS,
                                              config=config.predictor),
            build_critic=functools.partial(build_critic, (FRAMES, BANDS), NUM_LABELS,
                                           config=config.critic))
        assert trainer.predictor.name == "crnn_attention"
        assert strategy.num_replicas_in_sync == 2
        features, labels = weak_event_data(32, seed=1)
        batch = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors((features[:16], labels[:16])))))
        gt = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors((features[16:], labels[16:])))))
        logs = [{k: float(v) for k, v in trainer.adversarial_step(*batch, *gt).items()}
                for _ in range(15)]
        for name in ("sup_loss", "adv_loss"):
            assert all(np.isfinite(log[name]) for log in logs), name
        assert logs[-1]["sup_loss"] < 0.8 * logs[0]["sup_loss"]
