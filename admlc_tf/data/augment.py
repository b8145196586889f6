"""Training-only augmentation of log-mel segments: SpecAugment, gain, time shift and mixup.

Every draw comes from a stateless seed folded from the stream's seed and the example's (or the
batch's) position in its stream, so an augmented stream is a function of the seed alone: the
same on any number of devices and after a resume, which skips batches without reading them.

What the critic sees under mixup (`AugmentConfig.mixup`): the ground-truth stream is mixed the
same way as the predictor's, so a ground-truth pair is a mixed input with its mixed, soft label
vector, and a predicted pair is a mixed input with the predictor's output on it. Without mixup
the critic can tell real pairs from predicted ones by the labels' hardness alone (0/1 against
probabilities); with it, real label vectors are soft too and that cue shrinks
(`benchmarks/real_audio_study.py` measures it).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import tensorflow as tf

from admlc_tf.config import AugmentConfig

# Salts folded into the example's seed so each kind of draw is independent of the others and of
# the crop (which uses the unsalted seed).
_TIME, _FREQ, _GAIN, _SHIFT, _MIX = 1, 2, 3, 4, 5


def _fold(seed, salt: int):
    return tf.random.experimental.stateless_fold_in(seed, salt)


def mask_axis(x, seed, *, axis: int, count: int, widest: int, fill):
    """`count` masks on `x` `[frames, bands]` along `axis`, each of width uniform in
    0..`widest` at a uniform start, set to `fill` (`[bands]`, broadcast)."""
    size = tf.shape(x)[axis]
    positions = tf.range(size)
    keep = tf.ones([size], tf.bool)
    for i in range(count):
        s = _fold(seed, i)
        width = tf.random.stateless_uniform([], s, 0, widest + 1, dtype=tf.int32)
        start = tf.random.stateless_uniform([], _fold(s, 1), 0, tf.maximum(size - width, 0) + 1,
                                            dtype=tf.int32)
        keep &= ~((positions >= start) & (positions < start + width))
    keep = keep[:, None] if axis == 0 else keep[None, :]
    return tf.where(keep, x, tf.cast(fill, x.dtype)[None, :])


class Augmentation:
    """The augmentation of one run, applied by `admlc_tf.data.pipeline.training_stream`.

    Args:
      config: what to apply.
      frames_per_second: feature frames per second (for `shift_seconds`).
      fill: `[bands]` value of masked cells, the training mean of each band.
    """

    def __init__(self, config: AugmentConfig, *, frames_per_second: float,
                 fill: Optional[np.ndarray]):
        self.config = config
        self.shift_frames = int(round(config.shift_seconds * frames_per_second))
        self.fill = None if fill is None else np.asarray(fill, np.float32)
        for name in ("time_masks", "time_mask_frames", "freq_masks", "freq_mask_bands"):
            if getattr(config, name) < 0:
                raise ValueError(f"augment.{name} {getattr(config, name)} must be at least 0")
        if config.mixup < 0 or config.gain_db < 0 or config.shift_seconds < 0:
            raise ValueError("augment.mixup, augment.gain_db and augment.shift_seconds must be "
                             "at least 0")

    def example(self, x, seed):
        """One segment `[frames, bands]` -> augmented; `seed` `[2]` is the example's own."""
        c = self.config
        if self.shift_frames:
            shift = tf.random.stateless_uniform([], _fold(seed, _SHIFT), -self.shift_frames,
                                                self.shift_frames + 1, dtype=tf.int32)
            x = tf.roll(x, shift, axis=0)
        if c.gain_db:
            # Log power: a gain of g dB adds g ln(10) / 10 to every cell.
            gain = tf.random.stateless_uniform([], _fold(seed, _GAIN), -c.gain_db, c.gain_db)
            x = x + gain * (math.log(10.0) / 10.0)
        if c.spec_augment:
            fill = self.fill if self.fill is not None else tf.reduce_mean(x, axis=0)
            x = mask_axis(x, _fold(seed, _TIME), axis=0, count=c.time_masks,
                          widest=c.time_mask_frames, fill=fill)
            x = mask_axis(x, _fold(seed, _FREQ), axis=1, count=c.freq_masks,
                          widest=c.freq_mask_bands, fill=fill)
        return x

    def batch(self, x, y, seed):
        """Mixup of a batch `x [batch, ...]`, `y [batch, labels]` with itself reversed."""
        alpha = self.config.mixup
        if not alpha:
            return x, y
        # Beta(a, a) as g1 / (g1 + g2) of two Gamma(a) draws; one weight per example.
        batch = tf.shape(x)[:1]
        g1 = tf.random.stateless_gamma(batch, _fold(seed, _MIX), alpha)
        g2 = tf.random.stateless_gamma(batch, _fold(seed, _MIX + 1), alpha)
        w = g1 / (g1 + g2)
        wx = tf.reshape(w, tf.concat([batch, tf.ones([tf.rank(x) - 1], tf.int32)], 0))
        return (wx * x + (1 - wx) * tf.reverse(x, [0]),
                w[:, None] * y + (1 - w[:, None]) * tf.reverse(y, [0]))

    @property
    def active(self) -> bool:
        return self.config.active
