"""What the trainer needs to know about a predictor beyond its Keras model."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import keras
import tensorflow as tf

OUTPUT_KINDS = ("logits", "scores")


@dataclasses.dataclass
class PredictorSpec:
    """A predictor f_P and how it is trained.

    Attributes:
      predictor: `features -> [batch, n_labels]` outputs; the model that is exported.
      loss: the supervised loss L_P, `(labels [batch, n_labels], outputs) -> [batch]`, where
        `outputs` is the predictor's output, or the training model's output dict when there is one.
      training_model: for predictors trained through more than the inference path (C2AE's label
        encoder): `{"features", "labels"} -> dict` with key "outputs" (the predictor's output)
        and whatever `loss` needs. It shares its layers with `predictor`. None: train `predictor`.
      output: "logits" (probabilities are their sigmoid) or "scores" (label scores regressed onto
        {0, 1}, as Deep-CPLST decodes them; probabilities are the scores clipped to [0, 1]).
      head_layers: names of the layers whose shape follows the label set: fine-tuning on other
        labels builds them new and loads every other layer. Empty: the last layer.
      frozen_layers: layers that never train, even after `trainer.freeze_epochs` (a pretrained
        backbone's lower blocks).
    """

    predictor: keras.Model
    loss: Callable
    training_model: Optional[keras.Model] = None
    output: str = "logits"
    head_layers: tuple[str, ...] = ()
    frozen_layers: tuple[str, ...] = ()

    def __post_init__(self):
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"output must be one of {OUTPUT_KINDS}, got {self.output!r}")

    @property
    def trained_model(self) -> keras.Model:
        """The model whose variables the predictor optimizer updates."""
        return self.training_model or self.predictor

    def probabilities(self, outputs: tf.Tensor) -> tf.Tensor:
        return to_probabilities(outputs, self.output)

    def forward(self, x: tf.Tensor, y: tf.Tensor, training: bool):
        """Returns (predictor outputs `[batch, n_labels]`, per-example loss `[batch]`).

        Outputs are cast to float32, so a model built under a mixed-precision policy is scored
        in full precision.
        """
        if self.training_model is None:
            outputs = tf.cast(self.predictor(x, training=training), tf.float32)
            return outputs, self.loss(y, outputs)
        results = self.training_model({"features": x, "labels": y}, training=training)
        results = {name: tf.cast(value, tf.float32) for name, value in results.items()}
        return results["outputs"], self.loss(y, results)


def to_probabilities(outputs: tf.Tensor, kind: str) -> tf.Tensor:
    """Predictor outputs -> label probabilities in [0, 1], for the critic, metrics and export."""
    return tf.sigmoid(outputs) if kind == "logits" else tf.clip_by_value(outputs, 0.0, 1.0)
