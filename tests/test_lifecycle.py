"""The one run lifecycle: what every task gets from it (resume check, --force, --plots, the
lock, results.json), old config files, and config fields named as flags in CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification

from admlc_tf import lifecycle
from admlc_tf.cli import as_flags
from admlc_tf.config import ExperimentConfig, VectorConfig
from admlc_tf.data.vectors.formats import save_npz
from admlc_tf.errors import AdmlcError
from train import field_flags


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    x, y = make_multilabel_classification(n_samples=80, n_features=10, n_classes=4, n_labels=2,
                                          random_state=0)
    path = tmp_path_factory.mktemp("vectors") / "gen.npz"
    save_npz(path, x.astype(np.float32), y.astype(np.float32))
    return path


def features_config(data, out, export, epochs=1) -> ExperimentConfig:
    config = ExperimentConfig(task="features", out_dir=str(out), export_dir=str(export),
                              name="bp", vectors=VectorConfig(data_path=str(data),
                                                              hidden_units=(8,)))
    config.trainer.epochs, config.trainer.batch_size = epochs, 8
    config.trainer.critic_batch, config.trainer.critic_pretrain_steps = 8, 1
    return config


@pytest.mark.slow
def test_features_task_resumes_refuses_other_settings_and_plots(vectors, tmp_path):
    # Catches: the features task bypassing the lifecycle (no resume check, no checkpoint
    # resume, no plots), as it did before it was a recipe.
    out, export = tmp_path / "run", tmp_path / "models"
    first = lifecycle.run(features_config(vectors, out, export), verbose=False,
                          plots_dir=str(tmp_path / "plots"))
    assert (tmp_path / "plots" / "training_curves.png").is_file()
    assert json.loads((out / "results.json").read_text())["export"] == first["export"]
    assert [h["epoch"] for h in first["history"]] == [1]
    # Same settings, more epochs: resumes from the checkpoint and trains one more epoch only.
    again = lifecycle.run(features_config(vectors, out, export, epochs=2), verbose=False)
    assert [h["epoch"] for h in again["history"]] == [2]
    other = features_config(vectors, out, export, epochs=2)
    other.loss.lam = 0.5
    with pytest.raises(AdmlcError, match=r"loss\.lam: 0\.1 -> 0\.5.*--force"):
        lifecycle.run(other, verbose=False)
    forced = lifecycle.run(other, verbose=False, force=True)  # nothing left to train
    assert forced["history"] == []


def test_a_config_written_before_model_was_one_field_still_loads():
    # Catches: old run folders (vectors.model, no top-level model) refused by --config/resume.
    old_features = {"task": "features", "vectors": {"model": "c2ae", "hidden_units": [16]}}
    assert ExperimentConfig.from_dict(old_features).model_name == "c2ae"
    old_audio = {"task": "audio", "name": "cgrnn", "vectors": {"model": "bpmll"}}
    config = ExperimentConfig.from_dict(old_audio)
    assert config.model_name == "cgrnn" and config.model is None
    assert ExperimentConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_library_errors_name_fields_and_train_py_shows_flags():
    # Catches: a field renamed in the message to a flag of another field, or a partial match
    # (data.cache_dir must not become data.--cache-dir).
    flags = field_flags()
    message = ("trainer.batch_size 0 must be at least 1; pass data.cache_dir a writable folder; "
               "pass out_dir a writable folder; data.labels names 'x'")
    assert as_flags(message, flags) == ("--batch-size 0 must be at least 1; pass --cache-dir a "
                                        "writable folder; pass --out a writable folder; --labels "
                                        "names 'x'")
    assert as_flags("loss.lam: 0.5 -> 0.1", flags) == "--lambda: 0.5 -> 0.1"
    assert as_flags("data.fold", {"data.fold": "--fold"}) == "--fold"


def test_validation_fold_keeps_the_evaluation_list_for_the_final_score(tmp_path):
    # Catches: per-epoch validation (and anything chosen on it) computed on the evaluation list
    # when a development fold is held out, or that fold left in training.
    from admlc_tf.config import DataConfig
    from admlc_tf.data.generated.demo import generate_demo_dataset
    from admlc_tf.recipes.audio import prepare_data

    data_dir = generate_demo_dataset(tmp_path / "data", n_segments_dev=5, n_segments_eval=2,
                                     chunks_per_segment=4)
    config = ExperimentConfig(data=DataConfig(data_dir=str(data_dir), validation_fold=2,
                                              cache_dir=str(tmp_path / "cache")))
    data = prepare_data(config, verbose=False)
    assert (data.train_split, data.validation_split, data.test_split) == (
        "train-2", "fold-2", "evaluation")
    assert not data.monitoring_only
    train, validation = set(data.members["train-2"]), set(data.members["fold-2"])
    assert validation and not train & validation
    assert not (train | validation) & set(data.members["evaluation"])
    config.data.validation_fold = None
    plain = prepare_data(config, verbose=False)
    assert plain.validation_split == plain.test_split == "evaluation" and plain.monitoring_only
    config.data.fold, config.data.validation_fold = "1", 2
    with pytest.raises(AdmlcError, match="data.validation_fold"):
        prepare_data(config, verbose=False)
