"""`--model musicnn`: the pretrained musicnn backbone, frozen, with a linear head per label.

The audio task's features are musicnn's own mel (`FeatureConfig.front_end` "musicnn", set with
the model), so the export's waveform, `segments`, timeline and events signatures work as for the
other audio predictors. The backbone maps each training chunk (3 s: one musicnn patch) to its
200-d penultimate embedding; the head is one dense layer of logits on it. The backbone's weights
never change (its batch norms run on their moving statistics, its dropout is off) and it is not
standardised with the training set's statistics: it takes the input its weights were trained on.
The embeddings are computed at every step (`--task embeddings` caches them instead), and
`--freeze-epochs N` fine-tunes the backbone's top blocks after N epochs of the head alone.
"""

from __future__ import annotations

from typing import Optional

import keras

from admlc_tf.predictors import musicnn, musicnn_weights

HEAD_LAYERS = ("musicnn_head",)
FROZEN_LAYERS = ("musicnn_front",)
TOP_LAYERS = ("musicnn_top",)
RANDOM_SEED = 1234  # "random": the same backbone in every build, as for the image backbones


def build_backbone(weights: str) -> keras.Model:
    """musicnn with `weights` ("mtt", "msd", a checkpoint path, or "random"), any length."""
    if weights == "random":
        keras.utils.set_random_seed(RANDOM_SEED)
        return musicnn.build_musicnn(frames=None)
    net = musicnn.build_musicnn(frames=None)
    musicnn_weights.load_checkpoint(net, musicnn_weights.resolve(weights))
    return net


def build_musicnn_tagger(num_frames: Optional[int], num_labels: int, *, weights: str,
                         tune_top: bool = False, name: str = "predictor") -> keras.Model:
    """`[batch, frames, 96]` musicnn mel -> `[batch, num_labels]` logits of a linear head.

    Three parts: `musicnn_front` (the timbral and temporal filters; never trained,
    `FROZEN_LAYERS`), `musicnn_top` (mid end and back end up to the embedding; frozen, unless
    `trainer.freeze_epochs` hands it to the optimiser after that many head-only epochs) and the
    head. Both backbone parts run in inference mode whatever the phase: their batch norms keep
    the published moving statistics (a few hundred clips would only blur them), their dropout
    stays off. `tune_top` builds the top trainable, so the optimiser is built with its
    variables; the trainer freezes it for the head-only epochs.
    """
    backbone = build_backbone(weights)
    mel = keras.Input((num_frames, musicnn.N_MELS), name="mel")
    front = keras.Model(mel, musicnn.front_end(mel), name=FROZEN_LAYERS[0])
    maps = keras.Input((num_frames, front.output.shape[-1]), name="front_maps")
    top = keras.Model(maps, musicnn.top_blocks(maps)["penultimate"], name=TOP_LAYERS[0])
    for part in (front, top):
        for layer in part.layers:
            if layer.weights:
                layer.set_weights(backbone.get_layer(layer.name).get_weights())
        part.trainable = part is top and tune_top
    features = keras.Input((num_frames, musicnn.N_MELS), name="features")
    embedding = top(front(features, training=False), training=False)
    logits = keras.layers.Dense(num_labels, name=HEAD_LAYERS[0])(embedding)
    return keras.Model(features, logits, name=name)


def check_weights(weights: str) -> None:
    """Refuses in one line, before any feature is extracted, weights that would not load."""
    if weights != "random":
        build_backbone(weights)


def musicnn_features(features):
    """`features` with musicnn's own front end and sizes, and 3 s chunks (its patch)."""
    import dataclasses

    return dataclasses.replace(features, front_end="musicnn", sample_rate=musicnn.SAMPLE_RATE,
                               n_fft=musicnn.N_FFT, hop_length=musicnn.HOP,
                               n_mels=musicnn.N_MELS, fmin=0.0,
                               fmax=musicnn.SAMPLE_RATE / 2, chunk_seconds=3.0)
