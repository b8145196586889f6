"""tf.data input: rows of an HDF5 feature cache -> batches of (features, labels).

Training streams shuffle row *indices* (8 bytes a row, so every epoch is a full permutation at
no memory cost) and read each chosen row from the cache with tensorflow-io's HDF5 reader; neither
the audio nor the feature matrix is ever held in memory, and skipping batches to resume a run
reads nothing. The small label table lives in the graph. Training streams are infinite,
reshuffled every epoch from a fixed seed and batched at the GLOBAL batch size with
`drop_remainder=True`, so skipping `n` batches restores a stream's position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import tensorflow as tf
import tensorflow_io as tfio


class ChunkRows:
    """A subset of a feature cache's rows with their labels.

    Args:
      cache_path: an HDF5 cache written by `admlc_tf.data.cache.build_feature_cache`.
      rows: `[n]` row indices into the cache (any order; kept in file order).
      labels: `[n, n_labels]` multi-hot labels of those rows.
    """

    def __init__(self, cache_path: str | Path, rows: Sequence[int], labels: np.ndarray):
        self.cache_path = str(cache_path)
        order = np.argsort(rows, kind="stable")
        self.rows = np.asarray(rows, dtype=np.int64)[order]
        self.labels = np.asarray(labels, dtype=np.float32)[order]
        with h5py.File(self.cache_path, "r") as f:
            self.total_rows, self.num_frames, self.num_bands = f["features"].shape

    def __len__(self) -> int:
        return len(self.rows)

    def reader(self):
        """`position [] int64 -> (features [frames, bands], labels [n_labels])`, for tf.data."""
        features = tfio.IOTensor.from_hdf5(self.cache_path)("/features")
        rows, labels = tf.constant(self.rows), tf.constant(self.labels)

        def read(position):
            row = rows[position]
            x = features[row:row + 1][0]  # one HDF5 chunk: the cache stores a row per chunk
            return tf.ensure_shape(x, (self.num_frames, self.num_bands)), labels[position]

        return read


class ArrayRows:
    """In-memory examples (feature vectors) with the same interface as `ChunkRows`.

    Args:
      features: `[n, dims]` float32.
      labels: `[n, n_labels]` multi-hot labels.
    """

    def __init__(self, features: np.ndarray, labels: np.ndarray):
        self.features = np.asarray(features, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.float32)
        if len(self.features) != len(self.labels):
            raise ValueError(f"{len(self.features)} feature rows but {len(self.labels)} label rows")

    def __len__(self) -> int:
        return len(self.labels)

    def reader(self):
        """`position [] int64 -> (features [dims], labels [n_labels])`, for tf.data."""
        features, labels = tf.constant(self.features), tf.constant(self.labels)
        return lambda position: (features[position], labels[position])


def _read(positions: tf.data.Dataset, rows: ChunkRows | ArrayRows) -> tf.data.Dataset:
    # Rows are read in parallel but delivered in order (map is deterministic by default), so a
    # seeded stream stays reproducible.
    return positions.map(rows.reader(), num_parallel_calls=tf.data.AUTOTUNE)


def training_stream(rows: ChunkRows | ArrayRows, *, batch_size: int, seed: int,
                    skip_batches: int = 0) -> tf.data.Dataset:
    """An endless stream of shuffled global batches, a fresh full permutation every epoch.

    Args:
      rows: the training rows.
      batch_size: the GLOBAL batch size (split across replicas later).
      seed: shuffle seed; the sequence of batches is a function of it alone.
      skip_batches: batches to skip, to resume a stream where a checkpoint left it.
    """
    if len(rows) < batch_size:
        raise ValueError(f"the training split has {len(rows)} examples, fewer than the batch size "
                         f"{batch_size}: lower --batch-size")
    positions = tf.data.Dataset.range(len(rows)).shuffle(len(rows), seed=seed,
                                                         reshuffle_each_iteration=True)
    positions = positions.batch(batch_size, drop_remainder=True).repeat().skip(skip_batches)
    ds = _read(positions.unbatch(), rows).batch(batch_size, drop_remainder=True)
    # Multi-worker: one HDF5 file cannot be split by file, so every worker reads the stream and
    # keeps its share of each global batch (DATA sharding). Mirrored strategies ignore this.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def evaluation_batches(rows: ChunkRows | ArrayRows, *, batch_size: int) -> tf.data.Dataset:
    """One ordered pass in batches (the last may be short); labels follow `rows.labels`."""
    return _read(tf.data.Dataset.range(len(rows)), rows).batch(batch_size).prefetch(
        tf.data.AUTOTUNE)
