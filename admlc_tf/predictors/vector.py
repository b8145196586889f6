"""Predictors on feature vectors, the four deep multi-label models of the paper's Table 2.

Each builder returns a `PredictorSpec`: the exported Keras model plus its supervised loss.

- WARP (Gong et al. 2013 trained a CNN with it; here on precomputed features): an MLP with ReLU
  hidden layers trained with the WARP ranking loss.
- BP-MLL (Zhang & Zhou 2006): one hidden tanh layer (their default width: 20% of the input
  dimension) and the pairwise exponential loss; the paper's remark that it "is trained with an
  l2 loss" is the `loss="l2"` alternative.
- Deep-CPLST (Chen & Lin 2012, made deep as in the paper's ref. [11]): the labels are projected
  onto the top-k directions of conditional principal label space transformation (CPLST), a deep
  network regresses the projection, and the decoder maps it back; trained with the squared
  error in the projected space.
- C2AE (Yeh et al. 2017): a feature encoder Fx, a label encoder Fe and a decoder Fd; the loss is
  the latent (canonical-correlation) loss `||Fx(x) - Fe(y)||^2` with the orthogonality constraint
  `Fx^T Fx / n = Fe^T Fe / n = I` over the batch in Lagrangian form, plus `alpha` times a pairwise
  ranking (BP-MLL-style exponential) loss on `Fd(Fe(y))`; prediction is `Fd(Fx(x))`. Sizes follow
  the authors' demo: latent 80% of the labels, alpha 2, leaky ReLU.

Every model standardises its input with training statistics inside the model, so the export
takes raw feature vectors.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.losses import bpmll, get_supervised_loss
from admlc_tf.predictors.spec import PredictorSpec

MODELS = ("deep-cplst", "warp", "bpmll", "c2ae")


def _inputs(num_features: int, feature_mean, feature_variance):
    features = keras.Input((num_features,), name="features")
    x = features
    if feature_mean is not None:
        x = keras.layers.Normalization(mean=feature_mean, variance=feature_variance,
                                       name="standardize")(x)
    return features, x


def _dense_stack(x, units: Sequence[int], *, activation: str, dropout: float, name: str):
    for i, n in enumerate(units):
        x = keras.layers.Dense(n, activation=activation, name=f"{name}{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    return x


def build_mlp(num_features: int, num_labels: int, *, hidden_units: Sequence[int],
              activation: str = "relu", dropout: float = 0.0, loss: str = "warp",
              feature_mean: Optional[np.ndarray] = None,
              feature_variance: Optional[np.ndarray] = None, name: str = "mlp") -> PredictorSpec:
    """An MLP `[batch, dims] -> [batch, labels]` logits trained with a registered loss."""
    features, x = _inputs(num_features, feature_mean, feature_variance)
    x = _dense_stack(x, hidden_units, activation=activation, dropout=dropout, name="hidden")
    logits = keras.layers.Dense(num_labels, dtype="float32", name="logits")(x)
    return PredictorSpec(keras.Model(features, logits, name=name), get_supervised_loss(loss))


def build_bpmll(num_features: int, num_labels: int, *, hidden_fraction: float = 0.2,
                loss: str = "bpmll", **kwargs) -> PredictorSpec:
    """BP-MLL: one tanh hidden layer of `hidden_fraction * num_features` units."""
    hidden = max(1, int(round(hidden_fraction * num_features)))
    return build_mlp(num_features, num_labels, hidden_units=(hidden,), activation="tanh",
                     loss=loss, name="bpmll", **kwargs)


def cplst_projection(features: np.ndarray, labels: np.ndarray, *, dims: int,
                     ridge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The CPLST label projection (Chen & Lin 2012), computed on the host.

    With standardised features X (plus a bias column), centred labels Yc and the ridge hat matrix
    H = X (X^T X + ridge I)^-1 X^T, the projection V holds the top-`dims` eigenvectors of
    Yc^T H Yc: the label directions that are both large and linearly predictable from x.

    Args:
      features: `[n, d]` training features.
      labels: `[n, L]` training labels.
      dims: k, the projection size (at most L).
      ridge: the ridge regulariser of the hat matrix.

    Returns:
      V `[L, k]` with orthonormal columns, and the label mean `[L]`.
    """
    x = (features - features.mean(0)) / (features.std(0) + 1e-8)
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)  # [n, d + 1]
    mean = labels.mean(0)
    centred = labels - mean  # [n, L]
    gram = x.T @ x + ridge * np.eye(x.shape[1])  # [d + 1, d + 1]
    cross = x.T @ centred  # [d + 1, L]
    values, vectors = np.linalg.eigh(cross.T @ np.linalg.solve(gram, cross))  # ascending
    return vectors[:, ::-1][:, :dims].astype(np.float32), mean.astype(np.float32)


def build_deep_cplst(num_features: int, num_labels: int, *, projection: np.ndarray,
                     label_mean: np.ndarray, hidden_units: Sequence[int], dropout: float = 0.0,
                     feature_mean: Optional[np.ndarray] = None,
                     feature_variance: Optional[np.ndarray] = None) -> PredictorSpec:
    """Deep-CPLST: regress the CPLST code of the labels, decode it to label scores.

    Args:
      projection: V `[L, k]` from `cplst_projection`.
      label_mean: `[L]` from `cplst_projection`.

    Returns:
      A spec whose model outputs scores `[batch, L]` = code V^T + mean (output "scores"), and
      whose loss is the squared error of the code, `mean_k (((scores - y) V)_k)^2`: for
      orthonormal V this is `||code - (y - mean) V||^2 / k`.
    """
    features, x = _inputs(num_features, feature_mean, feature_variance)
    x = _dense_stack(x, hidden_units, activation="relu", dropout=dropout, name="hidden")
    code = keras.layers.Dense(projection.shape[1], name="code")(x)  # [batch, k]
    decoder = keras.layers.Dense(num_labels, trainable=False, name="decode")
    scores = decoder(code)  # [batch, L]
    decoder.set_weights([projection.T, label_mean])
    projection = tf.constant(projection)

    def code_error(labels, outputs):
        return tf.reduce_mean(tf.square(tf.matmul(outputs - labels, projection)), axis=-1)

    return PredictorSpec(keras.Model(features, scores, name="deep_cplst"), code_error,
                         output="scores")


def build_c2ae(num_features: int, num_labels: int, *, hidden_units: Sequence[int],
               latent_dims: int, alpha: float = 2.0, lagrange: float = 0.5,
               feature_mean: Optional[np.ndarray] = None,
               feature_variance: Optional[np.ndarray] = None) -> PredictorSpec:
    """C2AE (Yeh et al. 2017): Fx, Fe and Fd, trained through both encoders.

    The orthogonality penalty is a statistic of the (per-replica) batch, like batch
    normalisation without synchronisation; every example carries it whole, so the batch mean of
    the loss holds it once.
    """
    features, x = _inputs(num_features, feature_mean, feature_variance)
    labels = keras.Input((num_labels,), name="labels")
    # Leaky ReLU throughout, as in the authors' code.
    fx = _dense_stack(x, hidden_units, activation="leaky_relu", dropout=0.0, name="fx")
    fx = keras.layers.Dense(latent_dims, name="fx_latent")(fx)  # [batch, latent]
    fe = keras.layers.Dense(hidden_units[-1] if hidden_units else latent_dims,
                            activation="leaky_relu", name="fe0")(labels)
    fe = keras.layers.Dense(latent_dims, name="fe_latent")(fe)  # [batch, latent]
    decoder = [keras.layers.Dense(n, activation="leaky_relu", name=f"fd{i}")
               for i, n in enumerate(hidden_units[-1:])]
    decoder.append(keras.layers.Dense(num_labels, name="fd_logits"))

    def decode(z):
        for layer in decoder:
            z = layer(z)
        return z

    from_x, from_y = decode(fx), decode(fe)
    predictor = keras.Model(features, from_x, name="c2ae")
    training_model = keras.Model(
        {"features": features, "labels": labels},
        {"outputs": from_x, "latent_x": fx, "latent_y": fe, "decoded_y": from_y},
        name="c2ae_training")

    def c2ae_loss(y, results):
        fx, fe = results["latent_x"], results["latent_y"]
        latent = tf.reduce_sum(tf.square(fx - fe), axis=-1)  # [batch]
        batch = tf.cast(tf.shape(fx)[0], fx.dtype)
        eye = tf.eye(latent_dims)
        # The CCA constraint on the batch's second moments, so it does not scale with the batch.
        penalty = (tf.reduce_sum(tf.square(tf.matmul(fx, fx, transpose_a=True) / batch - eye))
                   + tf.reduce_sum(tf.square(tf.matmul(fe, fe, transpose_a=True) / batch - eye)))
        return latent + lagrange * penalty + alpha * bpmll(y, results["decoded_y"])

    return PredictorSpec(predictor, c2ae_loss, training_model=training_model)
