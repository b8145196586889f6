"""The audio backbones whose clip embeddings `--task embeddings` caches, by name, and what every
one of them shares.

An embedder maps a mono waveform at its backbone's rate to one clip embedding, the mean of the
backbone's embeddings of the clip's patches, and knows the export's half of the same
computation: its own front end's features of one segment (`segment_features`) and the model
from those features through the backbone to a fitted head (`segment_model`), so the export
embeds a segment exactly as the cache embedded a clip of that length.

A new backbone is one module with an `Embedder` subclass and one line of `EMBEDDERS`. The
registry names modules rather than importing them, so reading it (for `--help`, a default, a
refusal) loads neither TensorFlow nor a backbone.
"""

from __future__ import annotations

import importlib
from typing import Callable, NamedTuple

import numpy as np

from admlc_tf.errors import AdmlcError


class Entry(NamedTuple):
    module: str  # holds the `Embedder` subclass `cls`
    cls: str
    default_weights: str  # what `--backbone-weights` is when not given
    summary: str


EMBEDDERS = {
    "musicnn": Entry("admlc_tf.data.musicnn_embedder", "MusicnnEmbedder", "mtt",
                     "musicnn, 200-d, mean over 3 s patches (default)"),
    "yamnet": Entry("admlc_tf.data.yamnet_embedder", "YamnetEmbedder", "audioset",
                    "YAMNet, 1,024-d, mean over 0.96 s patches every 0.48 s"),
}
DEFAULT = "musicnn"


def entry(name: str) -> Entry:
    if name not in EMBEDDERS:
        raise AdmlcError(f"predictor.backbone {name} is not an embeddings backbone: use one of "
                         f"{', '.join(EMBEDDERS)}")
    return EMBEDDERS[name]


def embedder_class(name: str) -> type:
    found = entry(name)
    return getattr(importlib.import_module(found.module), found.cls)


def default_weights(name: str) -> str:
    return entry(name).default_weights


def check(name: str, weights: str) -> None:
    """Refuses in one line, before any clip is read, a backbone not known or weights that would
    not load into it."""
    embedder_class(name).check_weights(weights)


def build_embedder(name: str, weights: str) -> "Embedder":
    return embedder_class(name)(weights)


class Embedder:
    """A waveform at `sample_rate` -> its clip embedding `[dims]`: the mean over the clip's
    patches of `patch_embeddings(waveform)` `[patches, dims]`.

    Subclasses set `name` (the `EMBEDDERS` key, part of the cache key), `pooling` (a phrase for
    the metadata), `check_weights`, `segment_features` and `segment_model`.
    """

    name = ""
    pooling = ""

    def __init__(self, weights: str, model, dims: int, sample_rate: int,
                 patch_embeddings: Callable):
        import tensorflow as tf

        self.weights, self.model = weights, model
        self.dims, self.sample_rate = dims, sample_rate

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32)])
        def embed(waveform):  # one trace for every length
            return tf.reduce_mean(patch_embeddings(waveform), axis=0)

        self._embed = embed

    def __call__(self, waveform) -> np.ndarray:
        return self._embed(np.asarray(waveform, np.float32)).numpy()

    def weights_hash(self) -> str:
        from admlc_tf.backbones import weights_digest

        return weights_digest(self.name, self.model)

    def metadata(self) -> dict:
        return {"backbone": self.name, "backbone_weights": self.weights,
                "weights_hash": self.weights_hash(), "embedding_dims": self.dims,
                "pooling": self.pooling}

    @staticmethod
    def check_weights(weights: str) -> None:
        raise NotImplementedError

    @staticmethod
    def segment_features():
        """The `FeatureConfig` of the export: this backbone's front end, one segment a chunk."""
        raise NotImplementedError

    def segment_model(self, predictor):
        """`[batch, frames, bands]` features of one segment -> `predictor`'s outputs, through
        the backbone's embedding pooled as the cache pools a clip of that length."""
        raise NotImplementedError
