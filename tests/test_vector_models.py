"""The Table 2 predictors on feature vectors: shapes, CPLST algebra, C2AE wiring, training."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import make_multilabel_classification

from admlc_tf.config import CriticConfig, ExperimentConfig, TrainerConfig, VectorConfig
from admlc_tf.data.vectors.formats import VectorDataset
from admlc_tf.data.vectors.splits import random_split
from admlc_tf.predictors import vector
from admlc_tf.recipes.vectors import build_spec, run_split


def dataset(n=160, d=20, labels=6, seed=0):
    x, y = make_multilabel_classification(n_samples=n, n_features=d, n_classes=labels,
                                          n_labels=2, random_state=seed)
    return x.astype(np.float32), y.astype(np.float32)


class TestCplstProjection:
    def test_orthonormal_and_full_rank_decodes_exactly(self):
        x, y = dataset()
        v, mean = vector.cplst_projection(x, y, dims=6)
        np.testing.assert_allclose(v.T @ v, np.eye(6), atol=1e-5)
        np.testing.assert_allclose(((y - mean) @ v) @ v.T + mean, y, atol=1e-5)

    def test_top_direction_is_the_predictable_one(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(400, 5))
        predictable = (x[:, 0] > 0).astype(float)  # label 0 follows x; label 1 is coin flips
        y = np.stack([predictable, rng.random(400) < 0.5], axis=1).astype(np.float32)
        v, _ = vector.cplst_projection(x, y, dims=1)
        assert abs(v[0, 0]) > 0.95


class TestSpecs:
    @pytest.mark.parametrize("model", vector.MODELS)
    def test_outputs_and_loss(self, model):
        x, y = dataset()
        config = ExperimentConfig(vectors=VectorConfig(hidden_units=(16,)))
        spec = build_spec(config, model, x, y)
        outputs, loss = spec.forward(tf.constant(x[:8]), tf.constant(y[:8]), training=True)
        assert outputs.shape == (8, 6) and loss.shape == (8,)
        assert np.all(np.isfinite(loss))
        probabilities = spec.probabilities(spec.predictor(x[:8])).numpy()
        assert probabilities.min() >= 0 and probabilities.max() <= 1
        assert spec.output == ("scores" if model == "deep-cplst" else "logits")

    def test_c2ae_predicts_through_fx_and_trains_fe(self):
        x, y = dataset()
        spec = build_spec(ExperimentConfig(vectors=VectorConfig(hidden_units=(16,))), "c2ae", x, y)
        names = {v.path for v in spec.trained_model.trainable_variables}
        assert any(n.startswith("fe") for n in names)
        assert not any(v.path.startswith("fe") for v in spec.predictor.trainable_variables)
        results = spec.training_model({"features": x[:4], "labels": y[:4]})
        np.testing.assert_allclose(results["outputs"], spec.predictor(x[:4]), rtol=1e-5)


@pytest.mark.slow  # trains each model to a measurable fit, twice
@pytest.mark.parametrize("model", vector.MODELS)
def test_each_model_learns_plain_and_adversarial(model):
    x, y = dataset(n=600, d=20)
    data = VectorDataset(x, y, [f"l{i}" for i in range(6)])
    config = ExperimentConfig(
        vectors=VectorConfig(hidden_units=(64,), bpmll_hidden_fraction=1.0),
        critic=CriticConfig(representation_units=(16,), embedding_units=16, label_units=8,
                            fusion_units=(16,)),
        trainer=TrainerConfig(epochs=40, batch_size=32, critic_batch=32,
                              critic_pretrain_steps=5, learning_rate=3e-3,
                              patience=0))  # learning over the whole schedule, not stopping
    train_idx, test_idx = random_split(600, 400, seed=0)
    rate = float(y[test_idx].mean())
    trivial = 2 * rate / (1 + rate)  # micro F1 of predicting every label everywhere (~0.49)
    for adversarial in (False, True):
        result = run_split(config, data, train_idx, test_idx, model=model,
                           adversarial=adversarial, seed=0)
        assert result.report["micro_f1"] > trivial + 0.03, (model, adversarial, result.report)
        assert result.history[-1]["sup_loss"] < result.history[0]["sup_loss"]
        assert ("critic_loss" in result.history[-1]) == adversarial
