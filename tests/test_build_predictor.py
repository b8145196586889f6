"""`run(config, build_predictor=...)`: a user's own Keras predictor trained by Algorithm 1 and
exported, end to end on a tiny generated set. The predictor is a small Conv1D of this test's
own, in the spirit of docs/tutorials/own-predictor.md but not a copy of it (the docs' example
itself is executed by tests/test_docs.py)."""

from __future__ import annotations

import keras
import pytest

from admlc_tf.config import DataConfig
from admlc_tf.data.generated.demo import generate_demo_dataset
from admlc_tf.recipes.audio import demo_config, run
from admlc_tf.serving.exported import ExportedPredictor


def my_predictor(data):
    """Any Keras model from raw log-mel to 7 logits: standardise, one convolution, max-pool."""
    inputs = keras.Input((data.train.num_frames, data.train.num_bands), name="features")
    x = keras.layers.Normalization(mean=data.feature_mean, variance=data.feature_variance)(inputs)
    x = keras.layers.Conv1D(16, 5, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(7)(x), name="my_predictor")


@pytest.mark.slow
def test_run_trains_and_exports_a_users_own_predictor(tmp_path, capsys):
    data_dir = generate_demo_dataset(tmp_path / "data", n_segments_dev=5, n_segments_eval=2,
                                     chunks_per_segment=4)
    config = demo_config()
    config.data = DataConfig(data_dir=str(data_dir))
    config.out_dir, config.export_dir, config.name = str(tmp_path / "run"), str(tmp_path), "mine"
    config.trainer.epochs, config.trainer.batch_size, config.trainer.critic_batch = 2, 8, 8
    config.trainer.critic_pretrain_steps = 2

    results = run(config, verbose=False, build_predictor=my_predictor)

    assert results["n_chunks"] == 8 and set(results["eer"]) == set("cmfvpbo")
    assert "critic_loss" in results["history"][-1]
    exported = ExportedPredictor(results["export"])
    assert exported.signature.structured_input_signature[1]["features"].shape[1:] == (249, 40)
    assert "ave" in capsys.readouterr().out
