"""The CGRNN predictor, its custom layers, and the critic."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.config import CriticConfig, PredictorConfig
from admlc_tf.critic import build_critic
from admlc_tf.predictors.cgrnn import FrameWindows, MeanProbabilityPooling, build_cgrnn


class TestFrameWindows:
    def test_windows_are_stacked_on_the_batch_axis(self):
        x = tf.reshape(tf.range(2 * 10 * 1, dtype=tf.float32), (2, 10, 1))
        windows = FrameWindows(4, 3)(x)  # 1 + (10 - 4) // 3 = 3 windows per example
        assert windows.shape == (2 * 3, 4, 1)
        np.testing.assert_array_equal(windows[1, :, 0], [3, 4, 5, 6])  # example 0, window 1
        np.testing.assert_array_equal(windows[3, :, 0], [10, 11, 12, 13])  # example 1, window 0

    def test_short_input_is_padded_to_one_window(self):
        assert FrameWindows(4, 2)(tf.ones((1, 2, 3))).shape == (1, 4, 3)

    def test_config_round_trip(self):
        layer = FrameWindows.from_config(FrameWindows(33, 10).get_config())
        assert (layer.window, layer.hop) == (33, 10)


class TestMeanProbabilityPooling:
    def test_is_the_logit_of_the_mean_probability(self):
        z = np.random.default_rng(0).normal(scale=3, size=(4, 5, 7)).astype(np.float32)
        mean_p = (1 / (1 + np.exp(-z))).mean(axis=1)
        pooled = MeanProbabilityPooling()([z.reshape(20, 7), tf.zeros((4, 1))]).numpy()
        np.testing.assert_allclose(pooled, np.log(mean_p / (1 - mean_p)), rtol=1e-4, atol=1e-4)

    def test_finite_for_extreme_logits(self):
        z = tf.constant([[200.0], [-200.0], [500.0], [400.0]])
        out = MeanProbabilityPooling()([z, tf.zeros((2, 3))]).numpy()
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out[0], [0.0], atol=1e-5)  # mean of 1 and 0 is 1/2


class TestCgrnn:
    config = PredictorConfig(conv_filters=(4, 4), gru_units=(6, 6), dense_units=8)

    def test_output_shape_and_window_count(self):
        model = build_cgrnn(249, 40, 7, config=self.config)
        assert model.output_shape == (None, 7)
        windows = model.get_layer("windows")(tf.zeros((1, 249, 40)))
        assert windows.shape[0] == 22  # 1 + (249 - 33) // 10, Xu et al.'s training hop
        assert model.input.name == "features"

    def test_any_length_when_frames_is_none(self):
        model = build_cgrnn(None, 40, 7, config=self.config)
        for frames in (20, 300):
            assert model(tf.zeros((1, frames, 40))).shape == (1, 7)

    def test_standardisation_uses_the_given_statistics(self):
        mean, variance = np.full(40, 3.0), np.full(40, 4.0)
        model = build_cgrnn(66, 40, 7, config=self.config, feature_mean=mean,
                            feature_variance=variance)
        x = np.random.default_rng(0).normal(size=(2, 66, 40)).astype(np.float32)
        plain = build_cgrnn(66, 40, 7, config=self.config)
        plain.set_weights(model.get_weights())  # the statistics are constants, not weights
        np.testing.assert_allclose(model(3.0 + 2.0 * x), plain(x), rtol=1e-4, atol=1e-4)

    def test_saves_and_loads_as_a_keras_file(self, tmp_path):
        model = build_cgrnn(66, 40, 7, config=self.config)
        model.save(tmp_path / "m.keras")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
        x = np.random.default_rng(1).normal(size=(2, 66, 40)).astype(np.float32)
        np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5)


class TestCritic:
    def test_audio_and_vector_inputs(self):
        config = CriticConfig(representation_units=(4,), embedding_units=8, label_units=4,
                              fusion_units=(8,))
        audio = build_critic((40, 16), 7, config=config)
        vector = build_critic((30,), 5, config=config)
        assert audio({"features": tf.zeros((3, 40, 16)), "labels": tf.zeros((3, 7))}).shape == (3, 1)
        assert vector({"features": tf.zeros((3, 30)), "labels": tf.zeros((3, 5))}).shape == (3, 1)
        assert vector.get_layer("representation").output.shape == (None, 8)

    def test_score_depends_on_the_labels(self):
        critic = build_critic((40, 16), 7, config=CriticConfig())
        x = tf.random.normal((2, 40, 16))
        a = critic({"features": x, "labels": tf.zeros((2, 7))})
        b = critic({"features": x, "labels": tf.ones((2, 7))})
        assert not np.allclose(a, b)
