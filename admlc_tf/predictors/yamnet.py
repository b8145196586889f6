"""YAMNet (Plakal & Ellis, Google) as a Keras 3 functional network, with its own front end.

Reference: M. Plakal, D. Ellis, YAMNet, `tensorflow/models` research/audioset/yamnet
(`yamnet.py`, `params.py`, `features.py`; Apache-2.0), an AudioSet tagger of 521 classes.
Written here from that code's architecture and parameters; the published weights `yamnet.h5`
load through `admlc_tf.predictors.yamnet_weights`.

Front end (`YamnetMel`), as the reference's `waveform_to_log_mel_spectrogram_patches`: 16 kHz
mono, a 400-sample (25 ms) periodic Hann window every 160 samples (10 ms), no centring, a
512-point FFT (the window zero-padded), the STFT magnitude (not its power), TensorFlow's HTK
mel filterbank (`tf.signal.linear_to_mel_weight_matrix`, 64 bands, 125-7500 Hz) and
`log(mel + 0.001)`. A patch is 96 frames (0.96 s; 0.975 s = 15,600 samples of waveform);
patches start every 48 frames (0.48 s).

Network, on `[batch, 96, 64]` patches: MobileNet-v1 - a 3 x 3 stride-2 convolution of 32, then
13 depthwise-separable blocks (a 3 x 3 depthwise convolution and a 1 x 1 pointwise one), each
convolution without bias, followed by batch norm (center, no scale, epsilon 1e-4) and ReLU,
'same' padding; a global average pool gives the 1,024-d embedding and a dense layer the 521
logits (the published "predictions" are their sigmoid).

Deliberate deviations: Keras 3 refuses '/' in layer names, so the reference's `layer2/
depthwise_conv/bn` is `layer2_depthwise_conv_bn` here (`keras_name`; the weights mapping uses
the published names); the network takes a batch of patches, and the reference's waveform
padding to whole patches is `pad_waveform` (used by `tag_waveform` and the export).
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
FFT_LENGTH = 512  # the next power of 2 of the window
N_MELS = 64
FMIN, FMAX = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # 0.96 s
PATCH_HOP_FRAMES = 48  # 0.48 s
PATCH_SAMPLES = WINDOW + (PATCH_FRAMES - 1) * HOP  # 15,600: one patch's waveform (0.975 s)
EMBEDDING_DIMS = 1024
NUM_CLASSES = 521
BN_EPSILON = 1e-4
OUTPUTS = ("logits", "embeddings")

# (kernel, stride, filters) of the 14 layers: a plain convolution, then separable blocks.
LAYER_DEFS = ((3, 2, 32), (3, 1, 64), (3, 2, 128), (3, 1, 128), (3, 2, 256), (3, 1, 256),
              (3, 2, 512), (3, 1, 512), (3, 1, 512), (3, 1, 512), (3, 1, 512), (3, 1, 512),
              (3, 2, 1024), (3, 1, 1024))


def keras_name(published: str) -> str:
    """The Keras layer name of a layer of the published network ('/' -> '_')."""
    return published.replace("/", "_")


def published_layers() -> tuple[str, ...]:
    """The published network's layers that hold weights, in its order (`yamnet.h5` groups)."""
    names = ["layer1/conv", "layer1/conv/bn"]
    for i in range(2, len(LAYER_DEFS) + 1):
        for part in ("depthwise_conv", "pointwise_conv"):
            names += [f"layer{i}/{part}", f"layer{i}/{part}/bn"]
    return tuple(names + ["logits"])


def mel_matrix() -> np.ndarray:
    """`[257, 64]` float32: the reference's `tf.signal.linear_to_mel_weight_matrix`."""
    with tf.init_scope():  # eager even when first called while a graph is traced
        matrix = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=N_MELS, num_spectrogram_bins=FFT_LENGTH // 2 + 1,
            sample_rate=SAMPLE_RATE, lower_edge_hertz=FMIN, upper_edge_hertz=FMAX)
        return np.ascontiguousarray(matrix.numpy(), dtype=np.float32)


@keras.saving.register_keras_serializable(package="admlc_tf")
class YamnetMel(keras.layers.Layer):
    """`[batch, samples]` 16 kHz waveform -> `[batch, 1 + (samples - 400) // 160, 64]` log mel."""

    def __init__(self, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        # numpy, made a constant per call: one layer serves several graphs (see MusicnnMel).
        self._matrix = mel_matrix()

    def call(self, waveform):
        stft = tf.signal.stft(tf.cast(waveform, tf.float32), frame_length=WINDOW,
                              frame_step=HOP, fft_length=FFT_LENGTH,
                              window_fn=tf.signal.hann_window)
        mel = tf.matmul(tf.abs(stft), tf.constant(self._matrix))
        return tf.math.log(mel + LOG_OFFSET)

    def compute_output_shape(self, input_shape):
        batch, samples = input_shape
        frames = None if samples is None else max(0, 1 + (samples - WINDOW) // HOP)
        return (batch, frames, N_MELS)


def _bn(name: str):
    return keras.layers.BatchNormalization(center=True, scale=False, epsilon=BN_EPSILON,
                                           name=keras_name(name))


def blocks(x, first: int = 1, last: int = len(LAYER_DEFS)):
    """Layers `first`..`last` (1-based) of the network on `[batch, h, w, channels]` maps."""
    for i in range(first, last + 1):
        kernel, stride, filters = LAYER_DEFS[i - 1]
        label = f"layer{i}"
        if i == 1:
            x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                                    use_bias=False, name=keras_name(f"{label}/conv"))(x)
            x = _bn(f"{label}/conv/bn")(x)
            x = keras.layers.ReLU(name=keras_name(f"{label}/relu"))(x)
            continue
        x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same",
                                         use_bias=False,
                                         name=keras_name(f"{label}/depthwise_conv"))(x)
        x = _bn(f"{label}/depthwise_conv/bn")(x)
        x = keras.layers.ReLU(name=keras_name(f"{label}/depthwise_conv/relu"))(x)
        x = keras.layers.Conv2D(filters, 1, padding="same", use_bias=False,
                                name=keras_name(f"{label}/pointwise_conv"))(x)
        x = _bn(f"{label}/pointwise_conv/bn")(x)
        x = keras.layers.ReLU(name=keras_name(f"{label}/pointwise_conv/relu"))(x)
    return x


def build_yamnet(frames: Optional[int] = PATCH_FRAMES, num_classes: int = NUM_CLASSES,
                 name: str = "yamnet") -> keras.Model:
    """The network: `[batch, frames, 64]` log-mel patches -> dict of `OUTPUTS`.

    Returns outputs `logits` `[batch, num_classes]` and `embeddings` `[batch, 1024]`. It was
    trained on 96-frame patches; `frames` None takes any length (the pool then averages over
    more). The layer names are what the `yamnet.h5` mapping addresses (`keras_name`).
    """
    patches = keras.Input((frames, N_MELS), name="patches")
    x = keras.layers.Reshape((-1, N_MELS, 1), name="add_channel")(patches)
    embeddings = keras.layers.GlobalAveragePooling2D(name="embeddings")(blocks(x))
    logits = keras.layers.Dense(num_classes, name="logits")(embeddings)
    return keras.Model(patches, {"logits": logits, "embeddings": embeddings}, name=name)


def pad_waveform(waveform):
    """`[samples]` -> zero-padded to one patch (15,600 samples) and then to whole patch hops
    (7,680 samples), as the reference's `features.pad_waveform`."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    samples = tf.maximum(tf.shape(waveform)[0], PATCH_SAMPLES)
    hop = PATCH_HOP_FRAMES * HOP
    after_first = samples - PATCH_SAMPLES
    total = PATCH_SAMPLES + ((after_first + hop - 1) // hop) * hop
    return tf.pad(waveform, [[0, total - tf.shape(waveform)[0]]])


def patches(mel, frames: int = PATCH_FRAMES, hop: int = PATCH_HOP_FRAMES):
    """`[..., frames_total, 64]` -> `[..., count, frames, 64]`: patches every `hop` frames;
    trailing frames that fill no patch are dropped (as `tf.signal.frame` in the reference)."""
    return tf.signal.frame(mel, frames, hop, axis=-2)


def tag_waveform(net: keras.Model, waveform, front_end: YamnetMel):
    """`[samples]` 16 kHz -> per-patch `scores` (sigmoid of the logits), `embeddings`,
    `log_mel` of the whole padded clip and `start_s`, as the reference's frames model."""
    mel = front_end(pad_waveform(waveform)[None])[0]
    batch = patches(mel)
    out = net(batch, training=False)
    starts = tf.cast(tf.range(tf.shape(batch)[0]) * PATCH_HOP_FRAMES * HOP,
                     tf.float32) / SAMPLE_RATE
    return {"scores": tf.sigmoid(out["logits"]), "embeddings": out["embeddings"],
            "log_mel": mel, "start_s": starts}


def export_tagger(net: keras.Model, path: str) -> None:
    """Writes a SavedModel whose `serving_default` takes `waveform` `[samples]` (16 kHz mono,
    any length) and returns `tag_waveform`'s outputs, the front end in the graph."""
    front_end = YamnetMel(name="yamnet_mel")
    archive = keras.export.ExportArchive()
    archive.track(net)
    archive.add_endpoint(name="serving_default",
                         input_signature=[tf.TensorSpec((None,), tf.float32, name="waveform")],
                         fn=lambda w: tag_waveform(net, w, front_end))
    archive.write_out(path, verbose=False)
