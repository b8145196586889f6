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
- C2AE (Yeh et al. 2017): a feature encoder Fx, a label encoder Fe and a decoder Fd;
  prediction is `Fd(Fx(x))`. The objective is the one the authors' code (chihkuanyeh/C2AE)
  optimises, see `build_c2ae`: the latent loss of `CORR_error.m` plus `1 / (5 alpha)` times
  the output loss of `BR_error.m` on `Fd(Fe(y))`. Sizes and activations follow their
  `demo.m` / `DCCAtrain_SGD.m`: latent 80% of the labels, leaky ReLU (slope 0.1) hidden
  layers, codes `sigmoid - 0.5`, a sigmoid output (here: logits whose sigmoid is the output).

  Remaining differences from the authors' code, and why:
  * The latent constraint `||X^T X - I||^2` is computed on the batch each replica sees: it is a
    batch statistic, and synchronising it across replicas would need a cross-replica
    all-reduce inside the loss. With one replica it is theirs; with R replicas the objective
    is the mean of theirs over the R per-replica batches. It depends on the batch size (theirs:
    500, with the last batch wrapped around to full size; ours: the trainer's batch_size,
    remainder dropped).
  * The trainer averages the per-example loss over the global batch, so our objective is
    theirs divided by the batch size (every term alike; relative weights unchanged).
  * Their L2 penalty (`l2penalty = 1e-3` on the batch-sum objective, weights only) and their
    optimiser (RMS-normalised gradient with momentum 0.99, learning rate 1e-4 decayed by 0.98
    per epoch, 50 epochs, batch 500, model selection on validation micro + macro F1) are the
    trainer's business here and are not reproduced by the builder.
  * Their code trains a fourth network F3 (a copy of Fd fed with Fx's codes, whose gradient does
    not reach Fx) that is never used for prediction; it is left out.
  * Fx's hidden layers are `hidden_units` (their demo: 512, 512); Fe and Fd have one hidden
    layer of `hidden_units[-1]` units (their demo: 512).

Every model standardises its input with training statistics inside the model, so the export
takes raw feature vectors.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.losses import c2ae_latent, c2ae_ranking, get_supervised_loss
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
    """C2AE (Yeh et al. 2017) with the objective of the authors' code (chihkuanyeh/C2AE).

    Networks (`DCCAtrain_SGD.m`): Fx = `hidden_units` leaky-ReLU layers, then `latent_dims`
    units `sigmoid - 0.5`; Fe = one leaky-ReLU layer of `hidden_units[-1]` units, then the same
    code layer; Fd = one leaky-ReLU layer of `hidden_units[-1]` units, then `num_labels` logits
    (their layer is a sigmoid; here the sigmoid is applied by the loss and by
    `PredictorSpec.probabilities`). Leaky ReLU has slope 0.1 as in their `forwardpass.m`
    (Keras' default is 0.2).

    Objective on a batch of n examples, per example (the trainer averages it):

        c2ae_latent(Fx(x), Fe(y), lagrange)[i] + c2ae_ranking(y, Fd(Fe(y)))[i] / (5 alpha)

    i.e. summed over the batch: `||X - E||^2 + lagrange (||X^T X - I||^2 + ||E^T E - I||^2)
    + sum_i BR_i / (5 alpha)` (`CORR_error.m`, `BR_error.m`). The output term's weight is the
    one their gradient step applies: `DCCA_grad.m` divides `BR_error.m`'s gradient by alpha,
    and that gradient is the loss's own gradient divided by 5 (see `c2ae_ranking`). So
    `alpha = 2.0`, their `demo.m` value, weights the output loss by 0.1, as in their runs.
    As there, the output loss trains Fe and Fd only (`Fd(Fe(y))`); Fx is trained by the
    latent loss alone. See the module docstring for the remaining differences.

    Args:
      hidden_units: Fx's hidden layers; the last one also sizes Fe's and Fd's hidden layer.
      latent_dims: K, the code size (their demo: 80% of the labels).
      alpha: the authors' alpha; the output loss is weighted `1 / (5 alpha)`.
      lagrange: the constraint weight (their lambda, 0.5).
    """
    features, x = _inputs(num_features, feature_mean, feature_variance)
    labels = keras.Input((num_labels,), name="labels")
    width = hidden_units[-1] if hidden_units else latent_dims

    def dense(z, units, name):
        z = keras.layers.Dense(units, name=name)(z)
        return keras.layers.LeakyReLU(negative_slope=0.1, name=f"{name}_leaky")(z)

    def code(z, name):  # sigmoid_zero_mean of their forwardpass.m
        z = keras.layers.Dense(latent_dims, activation="sigmoid", name=name)(z)
        return keras.layers.Rescaling(1.0, offset=-0.5, name=f"{name}_centre")(z)

    fx = x
    for i, n in enumerate(hidden_units):
        fx = dense(fx, n, f"fx{i}")
    fx = code(fx, "fx_latent")  # [batch, latent]
    fe = code(dense(labels, width, "fe0"), "fe_latent")  # [batch, latent]
    decoder = [keras.layers.Dense(width, name="fd0"),
               keras.layers.LeakyReLU(negative_slope=0.1, name="fd0_leaky"),
               keras.layers.Dense(num_labels, name="fd_logits")]

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
    output_weight = 1.0 / (5.0 * alpha)

    def c2ae_loss(y, results):
        latent = c2ae_latent(results["latent_x"], results["latent_y"], lagrange)  # [batch]
        return latent + output_weight * c2ae_ranking(y, results["decoded_y"])  # [batch]

    return PredictorSpec(predictor, c2ae_loss, training_model=training_model)
