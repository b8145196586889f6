"""tf.data input: clips of an HDF5 feature cache -> batches of (features, labels).

Training streams shuffle row *indices* (8 bytes a row, so every epoch is a full permutation at
no memory cost) and read one training-length segment of each chosen clip from the cache with
tensorflow-io's HDF5 reader: a clip longer than a segment gives a random crop, drawn from a
stateless seed keyed by the stream's seed and the example's position in the stream, so the
crops are the same after a resume. Neither the audio nor the feature matrix is ever held in
memory, and skipping batches to resume a run reads nothing. Training streams are infinite,
reshuffled every epoch from a fixed seed and batched at the GLOBAL batch size with
`drop_remainder=True`, so skipping `n` batches restores a stream's position.

Scoring (validation, evaluation) reads whole clips on the host and tags them as the exported
waveform signature does: training-length segments with a hop, pooled per label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, Sequence

import h5py
import numpy as np
import tensorflow as tf
import tensorflow_io as tfio

# (position, example index in the stream, stream seed) -> (features, labels), in the graph.
RowReader = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


class RowSource(Protocol):
    """The rows of one split as training and scoring read them: `ClipRows` (an audio cache),
    `ArrayRows` (vectors in memory) and `image_cache.CachedRows` (an image feature cache)."""

    labels: np.ndarray  # [n, n_labels] multi-hot, in row order

    def __len__(self) -> int: ...

    def reader(self) -> RowReader:
        """The graph function `training_stream` maps over shuffled positions."""
        ...

    def score(self, predict: Callable[[np.ndarray], np.ndarray], batch_size: int) -> np.ndarray:
        """`[n, n_labels]` probabilities in row order, `predict` called on host batches."""
        ...


class ClipRows:
    """A subset of a feature cache's clips with their labels (a `RowSource`).

    Args:
      cache_path: an HDF5 cache written by `admlc_tf.data.cache.build_feature_cache`.
      rows: `[n]` clip indices into the cache (any order; kept in file order).
      labels: `[n, n_labels]` multi-hot labels of those clips.
      segment_frames: frames of one training segment (`FeatureConfig.num_frames`); None: the
        shortest clip's length (every clip of the cache has at least one segment).
      hop_frames: hop between the segments of a clip when it is scored; None: a segment.
      pooling: "max" or "mean" of the segments' probabilities, per label.
      pad_value: the feature value of silence, used to fill a clip's last scored segment.
    """

    def __init__(self, cache_path: str | Path, rows: Sequence[int], labels: np.ndarray, *,
                 segment_frames: int | None = None, hop_frames: int | None = None,
                 pooling: str = "max", pad_value: float = float(np.log(1e-6))):
        self.cache_path = str(cache_path)
        order = np.argsort(rows, kind="stable")
        self.rows = np.asarray(rows, dtype=np.int64)[order]
        self.labels = np.asarray(labels, dtype=np.float32)[order]
        with h5py.File(self.cache_path, "r") as f:
            offsets = f["offsets"][()]
            self.num_bands = f["features"].shape[1]
        self.total_rows = len(offsets) - 1
        self.starts = offsets[self.rows]
        self.lengths = offsets[self.rows + 1] - self.starts
        self.num_frames = int(segment_frames or np.diff(offsets).min())
        self.hop_frames = int(hop_frames or self.num_frames)
        if pooling not in ("max", "mean"):
            raise ValueError(f"pooling must be max or mean, got {pooling!r}")
        self.pooling = pooling
        self.pad_value = pad_value

    def __len__(self) -> int:
        return len(self.rows)

    def reader(self):
        """`(position [] int64, example [] int64) -> (features [frames, bands], labels [L])`.

        `example` is the example's index in its stream; it seeds the crop.
        """
        features = tfio.IOTensor.from_hdf5(self.cache_path)("/features")
        starts, lengths = tf.constant(self.starts), tf.constant(self.lengths)
        labels, frames = tf.constant(self.labels), self.num_frames

        def read(position, example, seed):
            spare = lengths[position] - frames  # >= 0: the cache pads short clips
            crop = tf.random.stateless_uniform([], tf.stack([seed, example]), 0, spare + 1,
                                               dtype=tf.int64)
            start = starts[position] + crop
            x = features[start:start + frames]
            return tf.ensure_shape(x, (frames, self.num_bands)), labels[position]

        return read

    def segments(self, index: int, f: h5py.File) -> np.ndarray:
        """`[segments, frames, bands]`: clip `index` cut as `score` cuts it."""
        x = f["features"][self.starts[index]:self.starts[index] + self.lengths[index]]
        return clip_segments(x, self.num_frames, self.hop_frames, self.pad_value)

    def score(self, predict: Callable[[np.ndarray], np.ndarray], batch_size: int) -> np.ndarray:
        """`[n, n_labels]` clip probabilities: each clip's segments tagged, then pooled.

        Args:
          predict: `[batch, frames, bands]` -> `[batch, n_labels]` probabilities.
          batch_size: segments per call of `predict`.
        """
        pooled, pending, owners = [], [], []

        def flush():
            batch = np.concatenate(pending)
            probabilities = np.concatenate([predict(batch[i:i + batch_size])
                                            for i in range(0, len(batch), batch_size)])
            ids = np.concatenate(owners)
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            if self.pooling == "max":
                pooled.append(np.maximum.reduceat(probabilities, starts, axis=0))
            else:
                counts = np.diff(np.r_[starts, len(ids)])[:, None]
                pooled.append(np.add.reduceat(probabilities, starts, axis=0) / counts)
            pending.clear()
            owners.clear()

        with h5py.File(self.cache_path, "r") as f:
            count = 0
            for i in range(len(self)):
                segments = self.segments(i, f)
                pending.append(segments)
                owners.append(np.full(len(segments), i))
                count += len(segments)
                if count >= batch_size:  # whole clips per flush: pooling never splits a clip
                    flush()
                    count = 0
            if pending:
                flush()
        return np.concatenate(pooled).astype(np.float32)


def clip_segments(frames: np.ndarray, segment: int, hop: int, pad_value: float) -> np.ndarray:
    """Cuts `[n_frames, bands]` into `[count, segment, bands]`, count = 1 + ceil((n - segment) /
    hop) segments covering the clip; the last is filled with `pad_value` (silence), as the
    exported waveform signature zero-pads the audio of its last segment."""
    n = len(frames)
    count = 1 + max(0, -(-(n - segment) // hop))
    padded = np.full((segment + (count - 1) * hop, frames.shape[1]), pad_value, np.float32)
    padded[:n] = frames[:len(padded)]
    index = np.arange(count)[:, None] * hop + np.arange(segment)[None, :]  # [count, segment]
    return padded[index]


class ArrayRows:
    """In-memory examples (feature vectors), a `RowSource` as `ClipRows` is.

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
        """`(position, example, seed) -> (features [dims], labels [n_labels])`, for tf.data."""
        features, labels = tf.constant(self.features), tf.constant(self.labels)
        return lambda position, example, seed: (features[position], labels[position])

    def score(self, predict: Callable[[np.ndarray], np.ndarray], batch_size: int) -> np.ndarray:
        """`[n, n_labels]` probabilities, in row order."""
        return np.concatenate([predict(self.features[i:i + batch_size])
                               for i in range(0, len(self), batch_size)]).astype(np.float32)


def training_stream(rows: RowSource, *, batch_size: int, seed: int,
                    skip_batches: int = 0, augmentation=None) -> tf.data.Dataset:
    """An endless stream of shuffled global batches, a fresh full permutation every epoch.

    Args:
      rows: the training rows.
      batch_size: the GLOBAL batch size (split across replicas later).
      seed: shuffle, crop and augmentation seed; the sequence of batches is a function of it.
      skip_batches: batches to skip, to resume a stream where a checkpoint left it.
      augmentation: an `admlc_tf.data.augment.Augmentation` applied to each example and batch,
        or None.
    """
    if len(rows) < batch_size:
        raise ValueError(f"the training split has {len(rows)} examples, fewer than the batch size "
                         f"{batch_size}: lower trainer.batch_size")
    positions = tf.data.Dataset.range(len(rows)).shuffle(len(rows), seed=seed,
                                                         reshuffle_each_iteration=True)
    batches = positions.batch(batch_size, drop_remainder=True).repeat().enumerate()
    examples = batches.skip(skip_batches).flat_map(
        lambda index, batch: tf.data.Dataset.from_tensor_slices(
            (batch, index * batch_size + tf.range(batch_size, dtype=tf.int64))))
    read, seed = rows.reader(), tf.constant(seed, tf.int64)
    augment = augmentation if augmentation is not None and augmentation.active else None

    def example(position, index):
        x, y = read(position, index, seed)
        if augment is not None:
            x = augment.example(x, tf.stack([seed, index]))
        return x, y, index

    # Rows are read in parallel but delivered in order (map is deterministic by default), so a
    # seeded stream stays reproducible.
    ds = examples.map(example, num_parallel_calls=tf.data.AUTOTUNE).batch(
        batch_size, drop_remainder=True)
    if augment is not None:  # the batch's first example index keys its mixup draws
        ds = ds.map(lambda x, y, index: augment.batch(x, y, tf.stack([seed, index[0]])))
    else:
        ds = ds.map(lambda x, y, index: (x, y))
    # Multi-worker: one HDF5 file cannot be split by file, so every worker reads the stream and
    # keeps its share of each global batch (DATA sharding). Mirrored strategies ignore this.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)
