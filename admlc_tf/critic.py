"""The critic f_C(x, y) of ADMLC (Deng et al. 2019, Fig. 1(b) and Eq. (2)).

A representation branch turns the raw input x into a compact vector (a small CNN over the
log-mel image for audio, dense layers for feature vectors); that vector is fused with the label
vector by the dense layers `h`, and `g` maps the fusion to one logit. The score is
`s = sigmoid(logit)`; the model returns the logit so the losses can use the stable form.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np

from admlc_tf.config import CriticConfig


def conv_representation(x, *, conv_filters: Sequence[int], embedding_units: int):
    """Compact vector of a `[batch, frames, bands]` input.

    3x3 ReLU convolutions with stride 2 (DCGAN's discriminator does the same instead of
    pooling: a quarter of the positions, so about a third of the time of convolution plus
    max-pooling on the CPU, which keeps the critic cheap next to the predictor), then a mean over
    time only: which bands carry energy is what tells most labels apart, so frequency is kept
    until the dense layer.
    """
    x = keras.layers.Reshape((*x.shape[1:], 1))(x)  # [batch, frames, bands, 1]
    for filters in conv_filters:
        # [batch, frames/2, bands/2, filters]
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)  # [batch, t', f' * c]
    x = keras.layers.GlobalAveragePooling1D()(x)  # [batch, f' * c]
    return keras.layers.Dense(embedding_units, activation="relu", name="representation")(x)


def dense_representation(x, *, hidden_units: Sequence[int], embedding_units: int):
    """Compact vector of a `[batch, dims]` feature vector through dense ReLU layers."""
    for units in hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.layers.Dense(embedding_units, activation="relu", name="representation")(x)


def build_critic(feature_shape: Sequence[int], num_labels: int, *, config: CriticConfig,
                 feature_mean: Optional[np.ndarray] = None,
                 feature_variance: Optional[np.ndarray] = None,
                 name: str = "critic") -> keras.Model:
    """Builds the critic.

    Args:
      feature_shape: shape of one input x without the batch axis: `[frames, bands]` selects the
        convolutional branch, `[dims]` the dense one.
      num_labels: length of the label vector y.
      config: layer sizes.
      feature_mean: `[bands]` or `[dims]` training mean; with `feature_variance`, x is
        standardised inside the model (the same statistics as the predictor's).
      feature_variance: the matching variance.
      name: model name.

    Returns:
      A `keras.Model` with inputs {"features": `[batch, *feature_shape]`, "labels":
      `[batch, num_labels]`} and output `[batch, 1]`: the logit of the compatibility score.
    """
    features = keras.Input(tuple(feature_shape), name="features")
    labels = keras.Input((num_labels,), name="labels")
    x = features
    if feature_mean is not None:
        x = keras.layers.Normalization(mean=feature_mean, variance=feature_variance)(x)
    if len(feature_shape) == 2:
        x = conv_representation(x, conv_filters=config.representation_units,
                                embedding_units=config.embedding_units)
    else:
        x = dense_representation(x, hidden_units=config.representation_units,
                                 embedding_units=config.embedding_units)
    y = keras.layers.Dense(config.label_units, activation="relu", name="label_embedding")(labels)
    h = keras.layers.Concatenate()([x, y])  # [batch, embedding_units + label_units]
    for i, units in enumerate(config.fusion_units):
        h = keras.layers.Dense(units, activation="relu", name=f"h{i}")(h)
        if config.dropout:
            h = keras.layers.Dropout(config.dropout)(h)
    logit = keras.layers.Dense(1, dtype="float32", name="g")(h)  # [batch, 1], float32 always
    return keras.Model({"features": features, "labels": labels}, logit, name=name)
