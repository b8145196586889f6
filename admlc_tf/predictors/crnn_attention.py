"""Attention CRNN: the attention-pooling convolutional recurrent network of Xu et al.

Reference: Y. Xu, Q. Kong, Q. Huang, W. Wang, M. D. Plumbley, "Attention and localization based
on a deep convolutional recurrent model for weakly supervised audio tagging", Interspeech 2017
(arXiv:1703.06052; EER 0.11 on DCASE 2016 Task 4, from 0.13 for their CRNN without attention),
with the gated (GLU) convolutions of their DCASE 2017 system (Xu et al., "Large-scale weakly
supervised audio classification using gated convolutional neural network", ICASSP 2018;
`yongxuUSTC/dcase2017_task4_cvssp`).

What matches Xu et al. 2017: the whole chunk, not windows of it, goes through convolutions that
pool frequency only and then bidirectional GRUs that return every frame; two time-distributed
dense heads give, per frame t and label k, a classification score z_t (probability
sigmoid(z_t), their localization output) and an attention score a_t; the attention is
normalised over the chunk's frames with a softmax, and the chunk probability is the
attention-weighted mean of the frame probabilities,

    p = sum_t softmax_t(a)_t * sigmoid(z_t).

(Their released Keras code writes this as `sum_t(cla * att) / sum_t(att)`; with att = exp(a) the
two are the same.)

Deviations, all deliberate:
- Front end: GLU blocks as in their 2018 system (`gated_conv_block` of
  `admlc_tf.predictors.cgrnn`: a 3x3 linear convolution times the sigmoid of a parallel 3x3
  convolution, each batch-normalised, then max-pooling over frequency only; time is never
  pooled) instead of the 2017 system's plain convolutions.
- Features: log mel power, standardised per band with training statistics inside the model,
  so the model takes raw log-mel.
- The model returns logits, not probabilities: the chunk logit logit(p) is computed in log
  space (`AttentionPooling`), finite for any head outputs, so the losses work on logits.
- Dropout `config.dropout` on the GRU outputs before the two heads.
- Batch normalisation is synchronised across replicas, so a step on N devices equals the same
  step on one device.
- Sizes come from `PredictorConfig`: `conv_filters` (one GLU block each) and `gru_units` (one
  bidirectional GRU layer each); `window_frames`, `window_hop` and `dense_units` are CGRNN-only
  and unused here.

Under a mixed-precision policy the two heads and the pooling run in float32 (they feed
log-sigmoids and a log-softmax), so the output is float32.
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.config import PredictorConfig
from admlc_tf.predictors.cgrnn import gated_conv_block

# The label-dependent layers: everything else is independent of the number of labels.
HEAD_LAYERS = ("frame_logits", "attention_logits")


@keras.saving.register_keras_serializable(package="admlc_tf")
class AttentionPooling(keras.layers.Layer):
    """Per-frame classification and attention logits -> the chunk logit.

    Takes `[frame_logits, attention_logits]`, both `[batch, frames, labels]` (z and a). Returns
    `[batch, labels]`, the logit of p = sum_t softmax_t(a)_t * sigmoid(z_t):

    logit(p) = log p - log(1 - p)
             = logsumexp_t(log_softmax_t(a) + log_sigmoid(z_t))
               - logsumexp_t(log_softmax_t(a) + log_sigmoid(-z_t)),

    using sum_t softmax_t(a)_t = 1 for 1 - p; exact and finite for any logits.
    """

    def call(self, inputs):
        z, a = inputs
        log_weights = tf.nn.log_softmax(a, axis=1)  # [batch, frames, labels], over frames
        log_p = tf.reduce_logsumexp(log_weights + tf.math.log_sigmoid(z), axis=1)
        log_not_p = tf.reduce_logsumexp(log_weights + tf.math.log_sigmoid(-z), axis=1)
        return log_p - log_not_p  # [batch, labels]

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], input_shapes[0][-1])


def build_crnn_attention(num_frames: Optional[int], num_bands: int, num_labels: int, *,
                         config: PredictorConfig, feature_mean: Optional[np.ndarray] = None,
                         feature_variance: Optional[np.ndarray] = None,
                         name: str = "crnn_attention") -> keras.Model:
    """Builds the attention CRNN predictor for whole chunks.

    Args:
      num_frames: frames per chunk (None accepts any length).
      num_bands: mel bands per frame.
      num_labels: number of tags.
      config: layer sizes (`conv_filters`, `gru_units`, `dropout`).
      feature_mean: `[bands]` training mean for the standardisation layer (None: no layer).
      feature_variance: `[bands]` training variance.
      name: model name.

    Returns:
      A `keras.Model` with input "features" `[batch, frames, bands]` (raw log-mel) and output
      `[batch, labels]` logits of the attention-pooled chunk probability.
    """
    features = keras.Input((num_frames, num_bands), name="features")
    x = features
    if feature_mean is not None:
        x = keras.layers.Normalization(mean=feature_mean, variance=feature_variance,
                                       name="standardize")(x)
    x = keras.layers.Reshape((-1, num_bands, 1))(x)  # [b, t, f, 1]
    for i, filters in enumerate(config.conv_filters):
        x = gated_conv_block(x, filters, name=f"glu{i}")  # [b, t, f / 2^(i+1), filters]
    x = keras.layers.Reshape((-1, x.shape[2] * x.shape[3]))(x)  # [b, t, f' * c]
    for i, units in enumerate(config.gru_units):
        x = keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=True),
                                       name=f"bigru{i}")(x)  # [b, t, 2u]
    x = keras.layers.Dropout(config.dropout)(x)
    # float32 from here on under a mixed-precision policy: logits feed log-sigmoids.
    z = keras.layers.Dense(num_labels, dtype="float32", name="frame_logits")(x)  # [b, t, labels]
    a = keras.layers.Dense(num_labels, dtype="float32", name="attention_logits")(x)
    logits = AttentionPooling(dtype="float32", name="attention_pooling")([z, a])  # [b, labels]
    return keras.Model(features, logits, name=name)
