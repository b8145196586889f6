"""Training augmentation (`admlc_tf.data.augment`): what each transform does to a batch, and that
an augmented stream is a function of its seed (resumable)."""

import math

import numpy as np
import pytest

from admlc_tf.config import AugmentConfig
from admlc_tf.data.augment import Augmentation
from admlc_tf.data.pipeline import ClipRows, training_stream
from tests.helpers import BANDS, FRAMES, learnable_arrays, write_cache

FILL = np.linspace(-3, 3, BANDS).astype(np.float32)


@pytest.fixture
def rows(tmp_path):
    features, labels = learnable_arrays(48, seed=3)
    return ClipRows(write_cache(tmp_path / "cache.h5", features), np.arange(48), labels)


def batches(rows, n=3, skip=0, seed=7, **augment):
    augmentation = Augmentation(AugmentConfig(**augment), frames_per_second=10.0, fill=FILL)
    stream = iter(training_stream(rows, batch_size=8, seed=seed, skip_batches=skip,
                                  augmentation=augmentation))
    return [tuple(t.numpy() for t in next(stream)) for _ in range(n)]


ALL = dict(spec_augment=True, mixup=0.4, gain_db=6.0, shift_seconds=0.5)


def test_augmented_stream_is_a_function_of_its_seed_and_resumes(rows):
    """Catches stateful random ops (a second pass or a resumed stream would differ) and draws
    keyed by the batch's place in this process rather than its index in the stream."""
    first, again = batches(rows, n=4, **ALL), batches(rows, n=4, **ALL)
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    resumed = batches(rows, n=2, skip=2, **ALL)
    for (x1, y1), (x2, y2) in zip(first[2:], resumed):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    other = batches(rows, n=1, seed=8, **ALL)
    assert not np.array_equal(first[0][0], other[0][0])


def test_spec_augment_masks_whole_frames_and_bands_with_the_fill(rows):
    """Catches masks on the wrong axis, a wrong fill, masks wider than asked, and augmentation
    that moves the crop (cells outside the masks must equal the plain stream's)."""
    plain = batches(rows)
    masked = batches(rows, spec_augment=True, time_masks=2, time_mask_frames=5, freq_masks=1,
                     freq_mask_bands=2)
    changed_any = False
    for (x0, y0), (x1, y1) in zip(plain, masked):
        np.testing.assert_array_equal(y0, y1)
        for a, b in zip(x0, x1):
            filled = b == FILL[None, :]
            frames = np.flatnonzero(filled.all(axis=1))
            bands = np.flatnonzero(filled.all(axis=0))
            assert len(frames) <= 2 * 5 and len(bands) <= 2
            inside = np.zeros_like(filled)
            inside[frames, :] = True
            inside[:, bands] = True
            np.testing.assert_array_equal(a[~inside], b[~inside])
            changed_any |= bool(inside.any())
    assert changed_any


def test_gain_adds_one_constant_per_segment_within_the_range(rows):
    """Catches a gain per cell (not per segment), in the wrong units, or out of range."""
    for (x0, _), (x1, _) in zip(batches(rows), batches(rows, gain_db=6.0)):
        delta = x1 - x0
        per_segment = delta.reshape(len(delta), -1)
        np.testing.assert_allclose(per_segment - per_segment[:, :1], 0, atol=1e-5)
        assert np.all(np.abs(per_segment[:, 0]) <= 6.0 * math.log(10) / 10 + 1e-6)
        assert np.ptp(per_segment[:, 0]) > 0.1  # drawn per segment


def test_shift_is_a_circular_roll_within_the_range(rows):
    """Catches a shift that drops or invents frames, or one beyond `shift_seconds`."""
    for (x0, _), (x1, _) in zip(batches(rows), batches(rows, shift_seconds=0.5)):
        for a, b in zip(x0, x1):
            shifts = [s for s in range(-5, 6) if np.array_equal(np.roll(a, s, axis=0), b)]
            assert shifts, "not a roll of the segment by at most 5 frames"


def test_mixup_mixes_inputs_and_labels_with_one_weight_and_the_reversed_batch(rows):
    """Catches different weights for x and y, the wrong partner, and weights outside [0, 1]."""
    for (x0, y0), (x1, y1) in zip(batches(rows), batches(rows, mixup=0.4)):
        partner_x, partner_y = x0[::-1], y0[::-1]
        for i in range(len(x0)):
            dx = (x0[i] - partner_x[i]).ravel()
            if np.abs(dx).max() < 1e-3:
                continue
            w = float(np.dot(x1[i].ravel() - partner_x[i].ravel(), dx) / np.dot(dx, dx))
            assert -1e-4 <= w <= 1 + 1e-4
            np.testing.assert_allclose(x1[i], w * x0[i] + (1 - w) * partner_x[i], atol=1e-4)
            np.testing.assert_allclose(y1[i], w * y0[i] + (1 - w) * partner_y[i], atol=1e-4)
        assert np.any((y1 > 0.01) & (y1 < 0.99))  # soft label vectors


def test_negative_settings_are_refused():
    with pytest.raises(ValueError, match="augment.time_masks"):
        Augmentation(AugmentConfig(time_masks=-1), frames_per_second=10.0, fill=FILL)
    with pytest.raises(ValueError, match="augment.mixup"):
        Augmentation(AugmentConfig(mixup=-0.1), frames_per_second=10.0, fill=FILL)
