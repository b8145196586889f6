"""HDF5 cache of a pretrained audio backbone's clip embeddings (`--task embeddings`).

One row per clip: musicnn's 200-d penultimate embedding of every 3 s patch of the clip (the mel
computed over the whole clip, patches cut as musicnn cuts them, a clip under 3 s zero-padded to
one), averaged over the patches. The file has the layout of the image cache (`features`
`[n, 200]`, `names`), so `admlc_tf.data.image_cache.CachedRows` and `CachedMatrix` stream it.
Its name hashes every clip's name, path, size and modification time, the backbone and a digest
of its weights: other weights or a changed clip select a new file, a stale one is never read.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from pathlib import Path
from typing import Sequence

import h5py
import keras
import numpy as np
import tensorflow as tf

from admlc_tf.backbones import weights_digest
from admlc_tf.errors import DataError

CACHE_FORMAT = 1


class MusicnnEmbedder:
    """A 16 kHz waveform -> its clip embedding `[200]` (mean over musicnn's 3 s patches).

    Args:
      weights: "mtt", "msd", a checkpoint path or "random" (`musicnn_transfer.build_backbone`).
    """

    name = "musicnn"

    def __init__(self, weights: str):
        from admlc_tf.predictors import musicnn
        from admlc_tf.predictors.musicnn_transfer import build_backbone

        self.weights = weights
        self.model = build_backbone(weights)
        self.dims = musicnn.EMBEDDING_DIMS
        self.sample_rate = musicnn.SAMPLE_RATE
        front_end = musicnn.MusicnnMel(name="musicnn_mel")

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32)])
        def embed(waveform):  # one trace for every length
            patches = musicnn.tag_waveform(self.model, waveform, front_end)["embeddings"]
            return tf.reduce_mean(patches, axis=0)

        self._embed = embed

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        return self._embed(np.asarray(waveform, np.float32)).numpy()

    def weights_hash(self) -> str:
        return weights_digest(self.name, self.model)

    def metadata(self) -> dict:
        return {"backbone": self.name, "backbone_weights": self.weights,
                "weights_hash": self.weights_hash(), "embedding_dims": self.dims,
                "pooling": "mean over 3 s patches"}


def build_embedding_cache(clips: Sequence[tuple[str, Path]], embedder: MusicnnEmbedder, *,
                          cache_dir: str | Path | None = None, verbose: bool = True) -> Path:
    """Returns the embedding cache of `clips` (`(name, audio path)`, in row order), extracting
    it first if it is missing; written under a temporary name, so complete or absent.

    Raises:
      DataError: a missing or bad audio file (nothing is left behind), or embeddings that are
        not finite.
    """
    from admlc_tf.data.cache import cache_folder, cache_key, writing
    from admlc_tf.features import read_audio

    if not clips:
        raise DataError("no clips to embed: the list is empty")
    key = cache_key({"format": CACHE_FORMAT, "backbone": embedder.name,
                     "weights": embedder.weights_hash()}, clips, "audio")
    path = cache_folder(cache_dir) / f"embeddings-{key}.h5"
    if path.is_file():
        return path
    if verbose:
        print(f"Extracting {embedder.name} embeddings of {len(clips)} clips into {path}")
    progress = keras.utils.Progbar(len(clips), unit_name="clip") if verbose else None
    with writing(path) as f, concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        rows = f.create_dataset("features", shape=(len(clips), embedder.dims), dtype="float32",
                                chunks=(min(len(clips), 64), embedder.dims))
        f.create_dataset("names", data=np.array([n for n, _ in clips], dtype=object),
                         dtype=h5py.string_dtype())
        f.attrs["extractor"] = json.dumps(embedder.metadata(), sort_keys=True)
        f.attrs["format"] = CACHE_FORMAT
        waves = pool.map(lambda clip: read_audio(clip[1], sample_rate=embedder.sample_rate),
                         clips)  # decoding and resampling overlap the network
        for i, wave in enumerate(waves):
            row = embedder(wave)
            if not np.isfinite(row).all():
                raise DataError(f"the {embedder.name} embedding of {clips[i][1]} is not finite: "
                                "check the backbone weights")
            rows[i] = row
            if progress:
                progress.update(i + 1)
    return path
