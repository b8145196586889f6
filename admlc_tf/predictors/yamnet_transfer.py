"""`--model yamnet`: the pretrained YAMNet backbone, frozen, with a linear head per label.

The audio task's features are YAMNet's own log mel (`FeatureConfig.front_end` "yamnet", set
with the model), so the export's waveform, `segments`, timeline and events signatures work as
for the other audio predictors. A training chunk (3.855 s: 384 frames, 7 patches of 0.96 s
every 0.48 s) is cut into YAMNet's patches inside the model; the backbone maps each to its
1,024-d embedding, the embeddings are averaged over the chunk's patches and the head is one
dense layer of logits on that mean. The backbone's weights never change (its batch norms run
on their moving statistics) and it is not standardised with the training set's statistics.
`--freeze-epochs N` fine-tunes the top blocks (layers 13 and 14) after N epochs of the head.
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.errors import AdmlcError
from admlc_tf.predictors import yamnet, yamnet_weights

HEAD_LAYERS = ("yamnet_head",)
FROZEN_LAYERS = ("yamnet_front",)
TOP_LAYERS = ("yamnet_top",)
TOP_FIRST = 13  # layers 13 and 14, the two 1,024-map blocks, are the ones fine-tuned
RANDOM_SEED = 1234  # "random": the same backbone in every build, as for the image backbones
CHUNK_PATCHES = 7
CHUNK_FRAMES = yamnet.PATCH_FRAMES + (CHUNK_PATCHES - 1) * yamnet.PATCH_HOP_FRAMES  # 384
CHUNK_SECONDS = (yamnet.WINDOW + (CHUNK_FRAMES - 1) * yamnet.HOP) / yamnet.SAMPLE_RATE  # 3.855


def build_backbone(weights: str) -> keras.Model:
    """YAMNet with `weights` ("audioset", a yamnet.h5 path, or "random"), 96-frame patches."""
    if weights == "random":
        keras.utils.set_random_seed(RANDOM_SEED)
        return yamnet.build_yamnet()
    if weights.lower() in ("mtt", "msd"):
        raise AdmlcError(f"backbone weights {weights} are musicnn's, not YAMNet's: "
                         f"{yamnet_weights.INSTALL_HINT}, or leave the default (audioset)")
    net = yamnet.build_yamnet()
    yamnet_weights.load_weights(net, yamnet_weights.resolve(weights))
    return net


@keras.saving.register_keras_serializable(package="admlc_tf")
class PatchFrames(keras.layers.Layer):
    """`[batch, frames, 64]` -> `[batch * patches, 96, 64]`: YAMNet's patches of every chunk
    (every 48 frames; a chunk under 96 frames is padded with the front end's silence)."""

    def call(self, mel):
        short = tf.maximum(0, yamnet.PATCH_FRAMES - tf.shape(mel)[1])
        mel = tf.pad(mel, [[0, 0], [0, short], [0, 0]],
                     constant_values=float(np.log(yamnet.LOG_OFFSET)))
        return tf.reshape(yamnet.patches(mel), (-1, yamnet.PATCH_FRAMES, yamnet.N_MELS))

    def compute_output_shape(self, input_shape):
        return (None, yamnet.PATCH_FRAMES, yamnet.N_MELS)


@keras.saving.register_keras_serializable(package="admlc_tf")
class PatchMean(keras.layers.Layer):
    """`[batch * patches, dims]` and the chunks `[batch, frames, 64]` -> `[batch, dims]`: the
    mean of each chunk's patch embeddings."""

    def call(self, embeddings, mel):
        batch = tf.shape(mel)[0]
        return tf.reduce_mean(tf.reshape(embeddings, (batch, -1, embeddings.shape[-1])), axis=1)

    def compute_output_shape(self, embeddings_shape, mel_shape):
        return (mel_shape[0], embeddings_shape[-1])


def build_yamnet_tagger(num_frames: Optional[int], num_labels: int, *, weights: str,
                        tune_top: bool = False, name: str = "predictor") -> keras.Model:
    """`[batch, frames, 64]` YAMNet log mel -> `[batch, num_labels]` logits of a linear head.

    Three parts: `yamnet_front` (layers 1-12; never trained, `FROZEN_LAYERS`), `yamnet_top`
    (layers 13-14 and the pool, up to the embedding; frozen, unless `trainer.freeze_epochs`
    hands it to the optimiser after that many head-only epochs) and the head. Both backbone
    parts run in inference mode whatever the phase (their batch norms keep the published
    moving statistics). `tune_top` builds the top trainable, so the optimiser is built with
    its variables; the trainer freezes it for the head-only epochs.
    """
    backbone = build_backbone(weights)
    patch = keras.Input((yamnet.PATCH_FRAMES, yamnet.N_MELS), name="patch")
    x = keras.layers.Reshape((-1, yamnet.N_MELS, 1), name="add_channel")(patch)
    front = keras.Model(patch, yamnet.blocks(x, 1, TOP_FIRST - 1), name=FROZEN_LAYERS[0])
    maps = keras.Input(front.output.shape[1:], name="front_maps")
    pooled = keras.layers.GlobalAveragePooling2D(name="embeddings")(
        yamnet.blocks(maps, TOP_FIRST))
    top = keras.Model(maps, pooled, name=TOP_LAYERS[0])
    for part in (front, top):
        for layer in part.layers:
            if layer.weights:
                layer.set_weights(backbone.get_layer(layer.name).get_weights())
        part.trainable = part is top and tune_top
    features = keras.Input((num_frames, yamnet.N_MELS), name="features")
    embeddings = top(front(PatchFrames(name="yamnet_patches")(features), training=False),
                     training=False)
    embedding = PatchMean(name="yamnet_patch_mean")(embeddings, features)
    logits = keras.layers.Dense(num_labels, name=HEAD_LAYERS[0])(embedding)
    return keras.Model(features, logits, name=name)


def check_weights(weights: str) -> None:
    """Refuses in one line, before any feature is extracted, weights that would not load."""
    if weights != "random":
        build_backbone(weights)


def yamnet_features(features):
    """`features` with YAMNet's own front end and sizes, and 3.855 s chunks (7 patches)."""
    import dataclasses

    return dataclasses.replace(features, front_end="yamnet", sample_rate=yamnet.SAMPLE_RATE,
                               n_fft=yamnet.WINDOW, hop_length=yamnet.HOP,
                               n_mels=yamnet.N_MELS, fmin=yamnet.FMIN, fmax=yamnet.FMAX,
                               log_offset=yamnet.LOG_OFFSET, chunk_seconds=CHUNK_SECONDS)
