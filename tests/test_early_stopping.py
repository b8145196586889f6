"""Early stopping (`trainer.patience`): when it stops, which weights it keeps, and resume."""

import numpy as np
import pytest

from admlc_tf.critic import build_critic
from admlc_tf.predictors.cgrnn import build_cgrnn
from admlc_tf.trainer import Trainer, make_strategy
from tests.helpers import BANDS, FRAMES, LABELS, learnable_rows, tiny_config

# Each test trains a run of several epochs end to end.
pytestmark = pytest.mark.slow

# Validation scores by epoch (1-based): the best is epoch 2.
SCRIPT = {1: 0.40, 2: 0.20, 3: 0.30, 4: 0.25, 5: 0.35, 6: 0.10, 7: 0.5, 8: 0.5}


def make_trainer(run_dir, **trainer):
    config = tiny_config(**trainer)
    return Trainer(
        config, make_strategy(config.runtime),
        build_predictor=lambda: build_cgrnn(FRAMES, BANDS, LABELS, config=config.predictor),
        build_critic=lambda: build_critic((FRAMES, BANDS), LABELS, config=config.critic),
        run_dir=run_dir)


def scripted(trainer, steps_per_epoch, snapshots):
    """A validation metric that reads the script by epoch and records the weights it saw."""
    def metric(labels, probabilities):
        epoch = int(trainer.step.numpy()) // steps_per_epoch
        snapshots[epoch] = trainer.predictor.get_weights()
        return {"val_mean_eer": SCRIPT[epoch]}
    return metric


def fit(trainer, rows, snapshots, monitor=("val_mean_eer", "min")):
    steps = len(rows) // trainer.config.trainer.batch_size
    return trainer.fit(rows, rows, verbose=False, monitor=monitor,
                       validation_metric=scripted(trainer, steps, snapshots))


def assert_weights(actual, expected):
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)


def test_stops_after_patience_epochs_and_keeps_the_best_epoch(tmp_path):
    """Catches an off-by-one in patience, stopping on any worse epoch, never stopping, and
    exporting the last epoch's weights instead of the best one's."""
    rows = learnable_rows(tmp_path, n=32)
    trainer, snapshots = make_trainer(tmp_path / "run", epochs=8, patience=2), {}
    history = fit(trainer, rows, snapshots)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]  # 3 and 4 are not better than 2
    assert trainer.early_stopping["best_epoch"] == 2
    assert trainer.early_stopping["epochs_trained"] == 4
    assert trainer.early_stopping["best_value"] == pytest.approx(0.20)
    assert_weights(trainer.predictor.get_weights(), snapshots[2])
    assert (tmp_path / "run" / "best.weights.h5").is_file()


def test_without_monitor_or_patience_every_epoch_trains_and_the_last_weights_stay(tmp_path):
    """Catches early stopping that runs when the validation rows are the test split (no
    monitor) or with patience 0."""
    rows = learnable_rows(tmp_path, n=32)
    for kwargs, monitor in (({"patience": 2}, None), ({"patience": 0}, ("val_mean_eer", "min"))):
        trainer, snapshots = make_trainer(None, epochs=5, **kwargs), {}
        history = fit(trainer, rows, snapshots, monitor=monitor)
        assert len(history) == 5
        assert_weights(trainer.predictor.get_weights(), snapshots[5])
        assert "best_epoch" not in trainer.early_stopping


def test_a_resumed_run_remembers_its_best_epoch(tmp_path):
    """Catches best-epoch state that is not checkpointed (the resumed run would call its first
    epoch the best) and best weights that are not kept on disk."""
    rows = learnable_rows(tmp_path, n=32)
    whole, snapshots = make_trainer(tmp_path / "whole", epochs=8, patience=2), {}
    fit(whole, rows, snapshots)

    first = make_trainer(tmp_path / "split", epochs=3, patience=2)
    fit(first, rows, {})
    resumed, later = make_trainer(tmp_path / "split", epochs=8, patience=2), {}
    history = fit(resumed, rows, later)
    assert [h["epoch"] for h in history] == [4]
    assert resumed.early_stopping["best_epoch"] == 2
    assert_weights(resumed.predictor.get_weights(), snapshots[2])
