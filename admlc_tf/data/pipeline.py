"""tf.data input: rows of an HDF5 feature cache -> batches of (features, labels).

The features are streamed from the cache by tensorflow-io's HDF5 reader, so the audio and the
whole feature matrix never sit in memory; the small label table lives in the graph. Training
streams are infinite, reshuffled every epoch from a fixed seed and batched at the GLOBAL batch
size with `drop_remainder=True`; skipping `n` batches therefore restores a stream's position.
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
      rows: `[n]` row indices into the cache (any order; streamed in file order).
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

    def dataset(self) -> tf.data.Dataset:
        """(features `[frames, bands]`, labels `[n_labels]`) in row order, one pass."""
        selected = np.zeros(self.total_rows, dtype=bool)
        selected[self.rows] = True
        label_table = np.zeros((self.total_rows, self.labels.shape[1]), dtype=np.float32)
        label_table[self.rows] = self.labels
        selected, label_table = tf.constant(selected), tf.constant(label_table)
        features = tfio.IODataset.from_hdf5(self.cache_path, dataset="/features")
        ds = tf.data.Dataset.zip(features, tf.data.Dataset.range(self.total_rows))
        ds = ds.filter(lambda x, i: selected[i])
        return ds.map(lambda x, i: (tf.ensure_shape(x, (self.num_frames, self.num_bands)),
                                    label_table[i]))


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

    def dataset(self) -> tf.data.Dataset:
        """(features `[dims]`, labels `[n_labels]`) in row order, one pass."""
        return tf.data.Dataset.from_tensor_slices((self.features, self.labels))


def training_stream(rows: ChunkRows | ArrayRows, *, batch_size: int, seed: int, shuffle_buffer: int,
                    skip_batches: int = 0) -> tf.data.Dataset:
    """An endless stream of shuffled global batches, reshuffled every epoch.

    Args:
      rows: the training rows.
      batch_size: the GLOBAL batch size (split across replicas later).
      seed: shuffle seed; the sequence of batches is a function of it alone.
      shuffle_buffer: buffer in examples; `len(rows)` or more shuffles each epoch fully.
      skip_batches: batches to skip, to resume a stream where a checkpoint left it.
    """
    if len(rows) < batch_size:
        raise ValueError(f"the training split has {len(rows)} examples, fewer than the batch size "
                         f"{batch_size}: lower --batch-size")
    ds = rows.dataset().shuffle(min(shuffle_buffer, len(rows)), seed=seed,
                                reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True).repeat()
    # Multi-worker: one HDF5 file cannot be split by file, so every worker reads the stream and
    # keeps its share of each global batch (DATA sharding). Mirrored strategies ignore this.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.skip(skip_batches).prefetch(tf.data.AUTOTUNE).with_options(options)


def evaluation_batches(rows: ChunkRows | ArrayRows, *, batch_size: int) -> tf.data.Dataset:
    """One ordered pass in batches (the last may be short); labels follow `rows.labels`."""
    return rows.dataset().batch(batch_size).prefetch(tf.data.AUTOTUNE)
