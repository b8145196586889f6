"""musicnn (Pons & Serra 2019) as a Keras 3 functional network, with its own front end.

Reference: J. Pons, X. Serra, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR 2019 late-breaking demo; the `musicnn` 0.1.0 wheel on PyPI (ISC licence), whose
`models.build_musicnn` and `extractor.batch_data` this follows. Written here from that code's
architecture; its TF1 checkpoints load through `admlc_tf.predictors.musicnn_weights`.

Front end (`MusicnnMel`): 16 kHz mono, a 512-point periodic Hann STFT with hop 256, centred
frames, power spectrum, librosa's 96-band Slaney mel filterbank (0-8 kHz), rounded to float16
(the published models were trained on a float16 store of these spectrograms) and compressed as
`log10(10000 x + 1)`. Centring pads by reflection, librosa's default up to 0.9 (the models were
trained and published with it); librosa >= 0.10 pads with zeros, which moves the first and last
frame of a clip only (`benchmarks/musicnn_check.py` measures both).

Network, on `[batch, frames, 96]` (trained on patches of 187 frames = 3 s, but any length works):
- input batch norm;
- timbral filters: 7 x 38 and 7 x 67 (time x band) convolutions, 204 maps each, and temporal
  filters: 128 x 1, 64 x 1 and 32 x 1 convolutions, 51 maps each; each ReLU, batch norm, then
  max over the bands, concatenated: 561 features per frame;
- mid end: three 7-frame 1-D convolutions of 64 (ReLU, batch norm), the 2nd and 3rd residual;
  the front end's and the three outputs concatenated: 753 per frame;
- back end: max and mean over time, interleaved (max_0, mean_0, max_1, ...: the flattening of
  the original's `[753, 2]` stack, which the checkpoint's dense kernel was trained on), batch
  norm, dropout 0.5, dense 200 ReLU, batch norm (the "penultimate" embedding), dropout 0.5,
  dense to the 50 tag logits (the "taggram" is their sigmoid).
"""

from __future__ import annotations

from typing import Optional

import keras
import librosa
import numpy as np
import tensorflow as tf

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # 3 s: librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
PATCH_SAMPLES = 3 * SAMPLE_RATE  # a 3 s segment's centred mel has 188 frames; the first 187
EMBEDDING_DIMS = 200

MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral")
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy")
# The published checkpoints, by the folder name the wheel keeps them under.
TAGS = {"MTT_musicnn": MTT_TAGS, "MSD_musicnn": MSD_TAGS}

TIMBRAL = ((7, 38), (7, 67))  # int(0.4 * 96), int(0.7 * 96) bands
TEMPORAL = (128, 64, 32)
TIMBRAL_MAPS, TEMPORAL_MAPS = 204, 51  # int(1.6 * 128), int(1.6 * 32)
OUTPUTS = ("logits", "penultimate", "mean_pool", "max_pool")


def mel_matrix() -> np.ndarray:
    """`[n_fft // 2 + 1, 96]` float32: the filterbank of `librosa.feature.melspectrogram`."""
    matrix = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    return np.ascontiguousarray(matrix.T, dtype=np.float32)


@keras.saving.register_keras_serializable(package="admlc_tf")
class MusicnnMel(keras.layers.Layer):
    """`[batch, samples]` 16 kHz waveform -> `[batch, 1 + samples // 256, 96]` musicnn input.

    Args:
      pad_mode: "reflect" (the models' training front end) or "constant" (librosa >= 0.10).
    """

    def __init__(self, pad_mode: str = "reflect", **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        if pad_mode not in ("reflect", "constant"):
            raise ValueError(f"pad_mode must be reflect or constant, got {pad_mode!r}")
        self.pad_mode = pad_mode
        # numpy, made a constant per call: one layer serves several graphs (the offline
        # features, each export and TFLite trace), and a tensor would belong to the first.
        self._matrix = mel_matrix()

    def call(self, waveform):
        half = N_FFT // 2
        padded = tf.pad(tf.cast(waveform, tf.float32), [[0, 0], [half, half]],
                        mode=self.pad_mode.upper())
        stft = tf.signal.stft(padded, frame_length=N_FFT, frame_step=HOP, fft_length=N_FFT,
                              window_fn=tf.signal.hann_window)
        mel = tf.matmul(tf.square(tf.abs(stft)), tf.constant(self._matrix))
        # The float16 store the models were trained on; the log itself ran in float32 (numpy 1.x
        # promotes `10000 * float16_array` to float32).
        mel = tf.cast(tf.cast(mel, tf.float16), tf.float32)
        return tf.math.log(10000.0 * mel + 1.0) / np.log(10.0).astype(np.float32)

    def compute_output_shape(self, input_shape):
        batch, samples = input_shape
        return (batch, None if samples is None else 1 + samples // HOP, N_MELS)

    def get_config(self):
        return {**super().get_config(), "pad_mode": self.pad_mode}


@keras.saving.register_keras_serializable(package="admlc_tf")
class BandMax(keras.layers.Layer):
    """`[batch, frames, bands, maps]` -> `[batch, frames, maps]`: max over the bands."""

    def call(self, x):
        return keras.ops.max(x, axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[3])


@keras.saving.register_keras_serializable(package="admlc_tf")
class MaxMeanPool(keras.layers.Layer):
    """`[batch, frames, features]` -> `[batch, 2 * features]`, (max_0, mean_0, max_1, ...)."""

    def call(self, x):
        pooled = keras.ops.stack([keras.ops.max(x, axis=1), keras.ops.mean(x, axis=1)], axis=-1)
        return keras.ops.reshape(pooled, (-1, 2 * x.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


def front_end(mel):
    """`[batch, frames, 96]` -> `[batch, frames, 561]`: input batch norm, the timbral and
    temporal filters, each max-pooled over the bands, concatenated."""
    x = keras.layers.Reshape((-1, N_MELS, 1), name="add_channel")(mel)
    x = keras.layers.BatchNormalization(name="input_bn")(x)
    front = []
    for time, bands in TIMBRAL:
        label = f"timbral_{time}x{bands}"
        # Frames are padded, bands are not: the band max follows, so a valid band axis suffices.
        y = keras.layers.ZeroPadding2D(((time // 2, time // 2), (0, 0)), name=f"{label}_pad")(x)
        y = keras.layers.Conv2D(TIMBRAL_MAPS, (time, bands), activation="relu", name=label)(y)
        y = keras.layers.BatchNormalization(name=f"{label}_bn")(y)
        front.append(BandMax(name=f"{label}_max")(y))
    for time in TEMPORAL:
        label = f"temporal_{time}"
        y = keras.layers.Conv2D(TEMPORAL_MAPS, (time, 1), padding="same", activation="relu",
                                name=label)(x)
        y = keras.layers.BatchNormalization(name=f"{label}_bn")(y)
        front.append(BandMax(name=f"{label}_max")(y))
    return keras.layers.Concatenate(name="front_end")(front)


def top_blocks(front, midend_filters: int = 64, backend_units: int = EMBEDDING_DIMS,
               num_tags: int = 50) -> dict:
    """`[batch, frames, 561]` -> the mid end, the back end and the tag layer's `OUTPUTS`."""
    features = [front]
    for i in (1, 2, 3):
        y = keras.layers.Conv1D(midend_filters, 7, padding="same", activation="relu",
                                name=f"midend_{i}")(features[-1])
        y = keras.layers.BatchNormalization(name=f"midend_{i}_bn")(y)
        if i > 1:
            y = keras.layers.Add(name=f"midend_{i}_residual")([y, features[-1]])
        features.append(y)
    x = keras.layers.Concatenate(name="mid_end")(features)
    max_pool = keras.layers.GlobalMaxPooling1D(name="max_pool")(x)
    mean_pool = keras.layers.GlobalAveragePooling1D(name="mean_pool")(x)
    x = MaxMeanPool(name="max_mean_pool")(x)
    x = keras.layers.BatchNormalization(name="pool_bn")(x)
    x = keras.layers.Dropout(0.5, name="pool_dropout")(x)
    x = keras.layers.Dense(backend_units, activation="relu", name="penultimate_dense")(x)
    penultimate = keras.layers.BatchNormalization(name="penultimate_bn")(x)
    x = keras.layers.Dropout(0.5, name="penultimate_dropout")(penultimate)
    logits = keras.layers.Dense(num_tags, name="tags")(x)
    return {"logits": logits, "penultimate": penultimate, "mean_pool": mean_pool,
            "max_pool": max_pool}


def build_musicnn(frames: Optional[int] = PATCH_FRAMES, num_tags: int = 50,
                  midend_filters: int = 64, backend_units: int = EMBEDDING_DIMS,
                  name: str = "musicnn") -> keras.Model:
    """The network: `[batch, frames, 96]` musicnn mel -> dict of `OUTPUTS`.

    Returns outputs `logits` `[batch, num_tags]`, `penultimate` `[batch, backend_units]` (the
    embedding), `mean_pool` and `max_pool` `[batch, 753]` (for the published sizes). `frames`
    None takes any length; the layer names are what the checkpoint mapping addresses.
    """
    mel = keras.Input((frames, N_MELS), name="mel")
    outputs = top_blocks(front_end(mel), midend_filters, backend_units, num_tags)
    return keras.Model(mel, outputs, name=name)


def patches(mel, frames: int = PATCH_FRAMES, hop: int = PATCH_FRAMES):
    """`[frames_total, 96]` -> `[count, frames, 96]`: musicnn's own batching of a clip.

    Patches start every `hop` frames and trailing frames that fill no patch are dropped, as
    `musicnn.extractor.batch_data` does; a clip shorter than one patch is zero-padded to one
    (where the original returns nothing).
    """
    mel = tf.convert_to_tensor(mel)
    short = tf.maximum(0, frames - tf.shape(mel)[0])
    mel = tf.pad(mel, [[0, short], [0, 0]])
    return tf.signal.frame(mel, frames, hop, axis=0)


def tag_waveform(net: keras.Model, waveform, front_end: MusicnnMel, hop: int = PATCH_FRAMES):
    """`[samples]` 16 kHz -> per-patch `taggram`, `embeddings` and `start_s`, as musicnn tags.

    The mel is computed over the whole clip and then cut into patches (so only the clip's own
    first and last frames see padding); a clip shorter than 3 s is zero-padded to 3 s.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    waveform = tf.pad(waveform, [[0, tf.maximum(0, PATCH_SAMPLES - tf.shape(waveform)[0])]])
    batch = patches(front_end(waveform[None])[0], hop=hop)
    out = net(batch, training=False)
    starts = tf.cast(tf.range(tf.shape(batch)[0]) * hop * HOP, tf.float32) / SAMPLE_RATE
    return {"taggram": tf.sigmoid(out["logits"]), "embeddings": out["penultimate"],
            "start_s": starts}


def export_tagger(net: keras.Model, path: str, pad_mode: str = "reflect",
                  hop: int = PATCH_FRAMES) -> None:
    """Writes a SavedModel whose `serving_default` takes `waveform` `[samples]` (16 kHz mono,
    any length; other rates are resampled by the caller, as `admlc_tf.features.read_audio`
    does) and returns `tag_waveform`'s outputs, the mel front end in the graph."""
    front_end = MusicnnMel(pad_mode, name="musicnn_mel")
    archive = keras.export.ExportArchive()
    archive.track(net)
    archive.add_endpoint(name="serving_default",
                         input_signature=[tf.TensorSpec((None,), tf.float32, name="waveform")],
                         fn=lambda w: tag_waveform(net, w, front_end, hop))
    archive.write_out(path, verbose=False)
