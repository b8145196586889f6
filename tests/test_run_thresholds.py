"""Per-label thresholds chosen at the end of an audio run, on development-side data only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from admlc_tf import lifecycle, metrics
from admlc_tf.config import DataConfig, ExperimentConfig, PredictorConfig, TrainerConfig
from admlc_tf.data import audio
from admlc_tf.data.generated.demo import generate_demo_dataset
from admlc_tf.evaluation import evaluate_export
from admlc_tf.serving.exported import ExportedPredictor

# Each test trains and exports a run end to end.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return generate_demo_dataset(tmp_path_factory.mktemp("tiny"), n_segments_dev=5,
                                 n_segments_eval=2, chunks_per_segment=4)


def tiny_run(tmp_path, data_dir, **data):
    config = ExperimentConfig(
        name="tiny", out_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "models"),
        data=DataConfig(data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"), **data),
        predictor=PredictorConfig(conv_filters=(4,), gru_units=(4,), dense_units=8),
        trainer=TrainerConfig(epochs=1, batch_size=8, critic_batch=8, critic_pretrain_steps=1))
    return config, lifecycle.run(config, verbose=False)


def test_thresholds_are_chosen_on_the_held_out_development_fold(tiny_set, tmp_path):
    """With --validation-fold 2 the export's thresholds are `tune_thresholds` of the exported
    model's fold-2 scores (not the evaluation list's), in results.json too; evaluate.py's F1
    uses them. Fails if they are chosen on the test split, left at 0.5, or not exported."""
    config, results = tiny_run(tmp_path, tiny_set, validation_fold=2)
    export = tmp_path / "models" / "tiny" / "1"
    saved = json.loads((export / "assets" / "thresholds.json").read_text())
    assert results["thresholds"] == saved
    assert saved["rule"] == "f1" and saved["chosen_on"].startswith("fold-2 (")
    model = ExportedPredictor(export)
    data = audio.prepare(config, verbose=False)
    rows = data.rows("fold-2")
    scores = rows.score(lambda x: model(x)["probabilities"].numpy(), 64)
    expected = metrics.tune_thresholds(rows.labels, scores)
    np.testing.assert_allclose(list(saved["thresholds"].values()), expected, atol=1e-5)
    assert list(saved["thresholds"]) == model.label_names

    report = evaluate_export(export, data_dir=str(tiny_set), cache_dir=str(tmp_path / "cache"),
                             json_path=str(tmp_path / "eval.json"), verbose=False)
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["thresholds"] == saved["thresholds"]
    test = data.rows("evaluation")
    test_scores = test.score(lambda x: model(x)["probabilities"].numpy(), 64)
    f1 = metrics.per_label_f1(test.labels, (test_scores >= expected).astype(int))
    np.testing.assert_allclose(list(report["f1"].values()), f1, atol=1e-6)


def test_without_development_validation_data_the_thresholds_are_0_5_and_say_why(tiny_set,
                                                                                 tmp_path):
    """CHiME-Home --fold all without --validation-fold: the per-epoch scores are on the
    evaluation list, so nothing is chosen: 0.5 everywhere and a note. Fails if thresholds are
    tuned on the test list."""
    _, results = tiny_run(tmp_path, tiny_set)
    saved = json.loads((tmp_path / "models" / "tiny" / "1" / "assets" /
                        "thresholds.json").read_text())
    assert saved == results["thresholds"]
    assert saved["rule"] is None and set(saved["thresholds"].values()) == {0.5}
    assert "test split" in saved["note"]
