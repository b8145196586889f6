"""Early stopping of `Trainer.fit`: the monitored validation value, its best epoch and that
epoch's predictor weights, kept in checkpointed variables and a weights file beside the
checkpoints so that a resumed run knows its best epoch, and the dict results.json reports.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import keras
import tensorflow as tf

from admlc_tf.errors import AdmlcError, first_line
from admlc_tf.files import replacing, write_error


class EarlyStopping:
    """Stops when the monitored value has not improved for `patience` epochs; keeps the best.

    Build it inside the strategy's scope: `best_epoch` and `best_value` are variables the
    trainer's checkpoint tracks (under those names).

    Args:
      weights_path: where the best epoch's predictor weights are kept on disk; None keeps them
        in memory only.
    """

    def __init__(self, weights_path: Optional[Path] = None):
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_epoch")
        self.best_value = tf.Variable(math.nan, dtype=tf.float64, trainable=False,
                                      name="best_value")
        self.weights_path = weights_path
        self.monitor: Optional[str] = None
        self.mode = "min"
        self.patience = 0
        self.report: dict = {}
        self._best_weights = None

    def start(self, monitor: Optional[tuple[str, str]], patience: int) -> None:
        """Sets what a `fit` call watches: `(name, "min" | "max")`, or None; 0 is off."""
        self.monitor, self.mode = monitor if monitor else (None, "min")
        self.patience = patience
        self.report = {"patience": patience, "monitor": self.monitor}

    @property
    def active(self) -> bool:
        return bool(self.patience)

    def load_best(self, predictor: keras.Model) -> None:
        """A resumed run's best weights, read from `weights_path` (the predictor is unchanged)."""
        path = self.weights_path
        if self._best_weights is None and int(self.best_epoch.numpy()) and path and path.is_file():
            current = predictor.get_weights()
            try:
                predictor.load_weights(path)
            except (OSError, ValueError, KeyError, TypeError) as e:
                predictor.set_weights(current)
                raise AdmlcError(
                    f"the best epoch's weights {path} are damaged ({first_line(e)}): delete "
                    "that file to resume without them (the next better epoch writes it anew), "
                    "or pass another --out") from None
            self._best_weights = predictor.get_weights()
            predictor.set_weights(current)

    def track(self, epoch: int, value: float, predictor: keras.Model) -> None:
        """Keeps the predictor's weights (in memory and in `weights_path`) when `value` beats
        the best so far."""
        best = float(self.best_value.numpy())
        better = math.isfinite(value) and (
            math.isnan(best) or (value < best if self.mode == "min" else value > best))
        if not better:
            return
        self.best_epoch.assign(epoch)
        self.best_value.assign(value)
        self._best_weights = predictor.get_weights()
        path = self.weights_path
        if path:  # beside the checkpoints, so a resumed run restores the same best epoch
            try:
                with replacing(path, ".weights.h5") as tmp:  # Keras insists on the suffix
                    predictor.save_weights(tmp)
            except OSError as e:
                raise write_error(f"the best epoch's weights {path}", e,
                                  "pass --out a writable folder") from None

    def spent(self, epoch: int) -> bool:
        """Whether `patience` epochs have passed since the best one, at `epoch`."""
        best = int(self.best_epoch.numpy())
        return bool(best) and epoch - best >= self.patience

    def finish(self, predictor: keras.Model, epochs_trained: int) -> None:
        """Restores the best epoch's weights into `predictor` and completes `report`."""
        if not self.active or self._best_weights is None:
            return
        predictor.set_weights(self._best_weights)
        self.report.update(
            best_epoch=int(self.best_epoch.numpy()), best_value=float(self.best_value.numpy()),
            epochs_trained=epochs_trained, restored="the best epoch's predictor weights")
