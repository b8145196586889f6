"""HDF5 cache of a pretrained audio backbone's clip embeddings (`--task embeddings`).

One row per clip: the embedder's (`admlc_tf.data.embedders`) mean of the backbone's embeddings
over the clip's patches, e.g. musicnn's 200-d over 3 s patches or YAMNet's 1,024-d over 0.96 s
ones. The file has the layout of the image cache (`features` `[n, dims]`, `names`), so
`admlc_tf.data.image_cache.CachedRows` and `CachedMatrix` stream it.
Its name hashes every clip's name, path, size and modification time, the backbone's name and a
digest of its weights: another backbone, other weights or a changed clip select a new file, a
stale one is never read.
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

from admlc_tf.data.embedders import Embedder
from admlc_tf.errors import DataError

CACHE_FORMAT = 1


def build_embedding_cache(clips: Sequence[tuple[str, Path]], embedder: Embedder, *,
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
