"""CGRNN: the convolutional gated recurrent network of Xu et al. for audio tagging.

Reference: Y. Xu, Q. Kong, Q. Huang, W. Wang, M. D. Plumbley, "Convolutional gated recurrent
neural network incorporating spatial features for audio tagging", IJCNN 2017 (the predictor of
the ADMLC paper's Table 1; public code `yongxuUSTC/cnn_rnn_spatial_audio_tagging`), with the
gated (GLU) convolutions of their DCASE 2017 system (Xu et al., "Large-scale weakly supervised
audio classification using gated convolutional neural network", ICASSP 2018;
`yongxuUSTC/dcase2017_task4_cvssp`).

What matches Xu et al. 2017: 40 mel bands from a 512-sample Hamming window with hop 256 at 16 kHz;
windows of 33 frames; three bidirectional GRU layers of 128 units (concatenated directions; the
last returns its final state); a dense ReLU layer of 500 units with dropout 0.2; one sigmoid
output per label; the chunk's score is the mean of its windows' probabilities; Adam at 1e-3 and
batches of 100 (see `TrainerConfig`).

Deviations, all deliberate:
- Front end: GLU blocks as in their 2018 system (a 3x3 linear convolution times the sigmoid of a
  parallel 3x3 convolution, each batch-normalised, then max-pooling over frequency only) instead
  of the 2017 code's single ReLU convolution with a 30x1 frequency kernel; the paper and the
  issue ask for gated convolutions. Time is never pooled, as in both of theirs.
- Features: log mel power, standardised per band with training statistics inside the model;
  their 2017 code feeds linear mel magnitudes without scaling.
- Training target: the chunk's labels are fitted by the pooled chunk score (mean probability over
  windows with hop `window_hop`), where they fit every window (hop 10) to the chunk's labels and
  average windows (hop 1) only at test time. Training and inference then see the same function.
- The model returns logits, not probabilities: the chunk logit is `logit(mean_w sigmoid(z_w))`,
  computed stably, so the losses work on logits.
- Batch normalisation is synchronised across replicas, so a step on N devices equals the same
  step on one device.
- No spatial (binaural IPD/ILD) features and no silence output: DCASE 2016 Task 4 scores the
  seven tags of the mono chunks.
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.config import PredictorConfig

# The layers whose shape follows the label set (new when fine-tuning on other labels).
HEAD_LAYERS = ("window_logits",)


@keras.saving.register_keras_serializable(package="admlc_tf")
class FrameWindows(keras.layers.Layer):
    """Cuts `[batch, frames, bands]` into windows stacked on the batch axis.

    Output `[batch * windows, window, bands]`, example-major, with
    windows = 1 + (frames - window) // hop; trailing frames that fill no whole window are dropped,
    and an input shorter than one window is zero-padded to one window. Stacking the windows on
    the batch axis lets every layer after this run on all windows at once.
    """

    def __init__(self, window: int, hop: int, **kwargs):
        super().__init__(**kwargs)
        self.window = window
        self.hop = hop

    def call(self, x):
        missing = tf.maximum(self.window - tf.shape(x)[1], 0)
        x = tf.pad(x, [[0, 0], [0, missing], [0, 0]])
        windows = tf.signal.frame(x, self.window, self.hop, axis=1)  # [b, w, window, bands]
        return tf.reshape(windows, [-1, self.window, x.shape[-1]])  # [b * w, window, bands]

    def compute_output_shape(self, input_shape):
        return (None, self.window, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "window": self.window, "hop": self.hop}


@keras.saving.register_keras_serializable(package="admlc_tf")
class MeanProbabilityPooling(keras.layers.Layer):
    """Per-window logits -> the chunk logit of the mean window probability.

    Takes `[window_logits, features]`: window_logits `[batch * windows, labels]` as laid out by
    `FrameWindows`, and the chunk features `[batch, ...]` (only their batch size is used).
    Returns `[batch, labels]`:

    logit(mean_w p_w) = log(mean_w p_w) - log(mean_w (1 - p_w))
                      = logsumexp_w log_sigmoid(z_w) - logsumexp_w log_sigmoid(-z_w),
    exact and finite for any logits (the log of the window count cancels).
    """

    def call(self, inputs):
        z, features = inputs
        z = tf.reshape(z, [tf.shape(features)[0], -1, z.shape[-1]])  # [batch, windows, labels]
        return (tf.reduce_logsumexp(tf.math.log_sigmoid(z), axis=1)
                - tf.reduce_logsumexp(tf.math.log_sigmoid(-z), axis=1))

    def compute_output_shape(self, input_shapes):
        return (input_shapes[1][0], input_shapes[0][-1])


def gated_conv_block(x, filters: int, *, name: str):
    """GLU convolution block: `[b, t, f, c] -> [b, t, f // 2, filters]`."""
    linear = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_linear")(x)
    linear = keras.layers.BatchNormalization(synchronized=True, name=f"{name}_linear_bn")(linear)
    gate = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_gate")(x)
    gate = keras.layers.BatchNormalization(synchronized=True, name=f"{name}_gate_bn")(gate)
    gate = keras.layers.Activation("sigmoid")(gate)
    x = keras.layers.Multiply(name=f"{name}_glu")([linear, gate])  # [b, t, f, filters]
    return keras.layers.MaxPooling2D((1, 2), name=f"{name}_pool")(x)  # [b, t, f // 2, filters]


def build_cgrnn(num_frames: Optional[int], num_bands: int, num_labels: int, *,
                config: PredictorConfig, feature_mean: Optional[np.ndarray] = None,
                feature_variance: Optional[np.ndarray] = None,
                name: str = "cgrnn") -> keras.Model:
    """Builds the CGRNN predictor for whole chunks.

    Args:
      num_frames: frames per chunk (None accepts any length).
      num_bands: mel bands per frame.
      num_labels: number of tags.
      config: window and layer sizes.
      feature_mean: `[bands]` training mean for the standardisation layer (None: no layer).
      feature_variance: `[bands]` training variance.
      name: model name.

    Returns:
      A `keras.Model` with input "features" `[batch, frames, bands]` (raw log-mel) and output
      `[batch, labels]` logits.
    """
    window = config.window_frames
    features = keras.Input((num_frames, num_bands), name="features")
    x = features
    if feature_mean is not None:
        x = keras.layers.Normalization(mean=feature_mean, variance=feature_variance,
                                       name="standardize")(x)
    x = FrameWindows(window, config.window_hop, name="windows")(x)  # [b*w, window, bands]
    x = keras.layers.Reshape((window, num_bands, 1))(x)  # [b*w, t, f, 1]
    for i, filters in enumerate(config.conv_filters):
        x = gated_conv_block(x, filters, name=f"glu{i}")  # [b*w, t, f / 2^(i+1), filters]
    x = keras.layers.Reshape((window, x.shape[2] * x.shape[3]))(x)  # [b*w, t, f' * c]
    for i, units in enumerate(config.gru_units):
        last = i == len(config.gru_units) - 1
        x = keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=not last),
                                       name=f"bigru{i}")(x)  # [b*w, t, 2u]; last: [b*w, 2u]
    x = keras.layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(config.dropout)(x)
    # float32 from here on under a mixed-precision policy: logits feed log-sigmoids.
    z = keras.layers.Dense(num_labels, dtype="float32", name="window_logits")(x)  # [b*w, labels]
    logits = MeanProbabilityPooling(dtype="float32", name="mean_probability")([z, features])
    return keras.Model(features, logits, name=name)
