"""HDF5 cache of image features, and the rows that stream them into training.

A cache file holds `features` `[n_images, dims]` float32 (one row per image, in list order) and
`names` `[n_images]`. Its name is a hash of every image's name, path, size and modification time,
the backbone id, a hash of its weights and the image size, so changed images or another backbone
select a new file and a stale cache is never read. Images are decoded on a thread pool and run
through the backbone `extract_batch` at a time, each batch appended to the file as it comes:
memory stays at a batch whatever the collection's size. The file is written under a temporary
name and renamed; a bad image stops the extraction, leaves nothing behind and names the file.

`CachedRows` gives training the rows of a split the way `ClipRows` gives audio clips: read one
row at a time from the file with tensorflow-io's HDF5 reader inside tf.data, so the feature
matrix is never a graph constant (NUS-WIDE's 4,096-d VGG features would pass the 2 GB limit).
`CachedMatrix` reads rows on the host, for what needs a matrix (statistics, Deep-CPLST's
projection, the scikit-learn peers).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import h5py
import keras
import numpy as np
import tensorflow as tf

from admlc_tf.errors import DataError

CACHE_FORMAT = 1


def _cache_key(images: Sequence[tuple[str, Path]], extractor) -> str:
    from admlc_tf.data.cache import cache_key

    return cache_key({"format": CACHE_FORMAT, "backbone": extractor.name,
                      "weights": extractor.weights_hash(), "image_size": extractor.image_size},
                     images, "image")


def build_image_cache(images: Sequence[tuple[str, Path]], extractor, *,
                      cache_dir: str | Path | None = None, batch_size: int = 32,
                      verbose: bool = True) -> Path:
    """Returns the feature cache of `images`, extracting the features first if it is missing.

    Args:
      images: `(name, image path)` pairs, in the order their rows will have.
      extractor: an `admlc_tf.backbones.Extractor`.
      cache_dir: folder of cache files; None: `$ADMLC_DATA_HOME/features`.
      batch_size: images per backbone call.
      verbose: a progress bar.

    Raises:
      DataError: a missing or bad image (nothing is left behind), or an unwritable folder.
    """
    from admlc_tf.backbones import resize_image
    from admlc_tf.data.cache import cache_folder, reusable, writing
    from admlc_tf.data.images import read_image

    if not images:
        raise DataError("no images to extract features from: the list is empty")
    path = cache_folder(cache_dir) / f"images-{_cache_key(images, extractor)}.h5"
    if reusable(path, [n for n, _ in images], bands=extractor.dims):
        return path
    if verbose:
        print(f"Extracting {extractor.name} features of {len(images)} images into {path}")
    progress = keras.utils.Progbar(len(images), unit_name="image") if verbose else None
    size = extractor.image_size

    def load(item):
        return resize_image(read_image(item[1]), size).numpy()

    with writing(path) as f, concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        features = f.create_dataset("features", shape=(len(images), extractor.dims),
                                    dtype="float32",
                                    chunks=(min(len(images), 64), extractor.dims))
        f.create_dataset("names", data=np.array([n for n, _ in images], dtype=object),
                         dtype=h5py.string_dtype())
        f.attrs["extractor"] = json.dumps(extractor.metadata(), sort_keys=True)
        f.attrs["format"] = CACHE_FORMAT
        for start in range(0, len(images), batch_size):
            batch = np.stack(list(pool.map(load, images[start:start + batch_size])))
            values = extractor(batch).numpy()
            if not np.isfinite(values).all():
                raise DataError(f"the {extractor.name} features of images {start}.."
                                f"{start + len(batch) - 1} are not finite: check the "
                                "backbone weights file")
            features[start:start + len(batch)] = values
            if progress:
                progress.update(start + len(batch))
    return path


class CachedMatrix:
    """The `[n, dims]` features of a cache file, read on the host by row index.

    `matrix[rows]` returns `[len(rows), dims]` float32 in the order of `rows`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with h5py.File(self.path, "r") as f:
            self.shape = tuple(f["features"].shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        with h5py.File(self.path, "r") as f:
            features = f["features"]
            for start in range(0, len(rows), 4096):  # h5py wants increasing, unique indices
                chunk = order[start:start + 4096]
                unique, inverse = np.unique(rows[chunk], return_inverse=True)
                out[chunk] = features[unique][inverse]
        return out


class CachedRows:
    """A subset of a cache file's rows with their labels, a `RowSource` as `ArrayRows` is.

    Args:
      cache_path: an HDF5 file of `build_image_cache`.
      rows: `[n]` row indices (any order; kept in file order).
      labels: `[n, n_labels]` multi-hot labels of those rows.
    """

    def __init__(self, cache_path: str | Path, rows: Sequence[int], labels: np.ndarray):
        self.cache_path = str(cache_path)
        order = np.argsort(np.asarray(rows), kind="stable")
        self.rows = np.asarray(rows, dtype=np.int64)[order]
        self.labels = np.asarray(labels, dtype=np.float32)[order]
        self.matrix = CachedMatrix(cache_path)

    def __len__(self) -> int:
        return len(self.rows)

    def reader(self):
        """`(position, example, seed) -> (features [dims], labels [n_labels])`, for tf.data."""
        import tensorflow_io as tfio

        features = tfio.IOTensor.from_hdf5(self.cache_path)("/features")
        rows, labels = tf.constant(self.rows), tf.constant(self.labels)
        dims = self.matrix.shape[1]

        def read(position, example, seed):
            row = rows[position]
            x = tf.reshape(features[row:row + 1], (dims,))
            return tf.ensure_shape(x, (dims,)), labels[position]

        return read

    def score(self, predict: Callable[[np.ndarray], np.ndarray], batch_size: int) -> np.ndarray:
        """`[n, n_labels]` probabilities, in row order, read `batch_size` rows at a time."""
        return np.concatenate([predict(self.matrix[self.rows[i:i + batch_size]])
                               for i in range(0, len(self), batch_size)]).astype(np.float32)
