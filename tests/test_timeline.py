"""Timelines and events (`admlc_tf.serving.timeline`) and per-label thresholds (`admlc_tf.thresholds`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import median_filter as scipy_median

from admlc_tf import metrics, thresholds
from admlc_tf.serving import timeline
from admlc_tf.serving.exported import ExportedPredictor


@pytest.mark.parametrize("width", [1, 3, 5])
def test_median_filter_is_scipys_nearest_mode_majority(width):
    """Equals scipy's median filter (mode "nearest") on random decisions: fails on a window
    off by one, or edges padded with zeros instead of the edge decision."""
    decisions = np.random.default_rng(width).random((40, 3)) < 0.5
    expected = scipy_median(decisions.astype(np.uint8), size=(width, 1), mode="nearest")
    np.testing.assert_array_equal(timeline.median_filter(decisions, width), expected.astype(bool))


def test_median_filter_refuses_an_even_width():
    with pytest.raises(ValueError, match="odd"):
        timeline.median_filter(np.zeros((4, 1), bool), 2)


def test_segment_times_end_at_the_clip_not_the_padding():
    """10.5 s clip, 4 s segments every 2 s: 5 segments, the last 8 s..10.5 s."""
    starts, ends = timeline.segment_times(5, samples=168000, segment=64000, hop=32000,
                                          sample_rate=16000)
    np.testing.assert_allclose(starts, [0, 2, 4, 6, 8])
    np.testing.assert_allclose(ends, [4, 6, 8, 10, 10.5])


def test_events_from_smoothed_runs_merged_across_short_gaps():
    """4 s segments every 2 s. Label a: segments 0-2 and 5-6 positive (events 0-8 s and
    10-16 s: a gap of one hop is not merged), a lone positive at 9 removed by the median
    filter; label b: 1-2 and 4 positive, smoothed to 1-3 (2-10 s); label c never. Fails if
    filtering is skipped, runs are cut at the wrong edges, or merging uses <= instead of <."""
    starts = np.arange(11) * 2.0
    ends = np.minimum(starts + 4, 21.0)
    a = [1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0]
    b = [0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    probabilities = np.array([a, b, [0] * 11], float).T * 0.9
    found = timeline.events(probabilities, np.array([0.5, 0.5, 0.5]), ["a", "b", "c"],
                            starts=starts, ends=ends, hop_seconds=2.0, median_segments=3)
    assert found == [(0.0, 8.0, "a"), (2.0, 10.0, "b"), (10.0, 16.0, "a")]
    unsmoothed = timeline.events(probabilities, np.array([0.5, 0.5, 0.5]), ["a", "b", "c"],
                                 starts=starts, ends=ends, hop_seconds=2.0, median_segments=1)
    # Without the filter b's runs (2-8 s, 8-12 s) touch: a gap of 0 < one hop merges them.
    assert (2.0, 12.0, "b") in unsmoothed and (18.0, 21.0, "a") in unsmoothed


def test_per_label_thresholds_differ_from_one_global_cut():
    """Two labels on different score scales: each label's F1 cut separates its own classes;
    the EER rule gives cuts where the two error rates meet. Fails if one threshold is shared
    or the rule is ignored."""
    rng = np.random.default_rng(0)
    y = (rng.random((200, 2)) < 0.4).astype(int)
    scores = np.where(y == 1, 0.3, 0.1) + 0.05 * rng.random((200, 2))
    scores[:, 1] += 0.5  # label 1 lives higher
    chosen = thresholds.choose(y, scores, ["low", "high"], rule="f1", split="val")
    cuts = np.array(list(chosen["thresholds"].values()))
    assert 0.15 < cuts[0] < 0.3 and 0.65 < cuts[1] < 0.8
    assert chosen["rule"] == "f1" and chosen["chosen_on"] == "val (200 clips)"
    eer = thresholds.choose(y, scores, ["low", "high"], rule="eer", split="val")
    np.testing.assert_allclose(list(eer["thresholds"].values()),
                               metrics.eer_thresholds(y, scores))
    predicted = scores >= np.array(list(eer["thresholds"].values()))
    assert (predicted == y).all()  # separable: the equal-error point has no error
    with pytest.raises(Exception, match="threshold_rule"):
        thresholds.choose(y, scores, ["low", "high"], rule="max", split="val")


def test_loading_thresholds_from_an_export(tmp_path):
    """An export's thresholds come back in label order with a description; without the file
    0.5 and a note. Fails if the order of labels.txt is not followed."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "saved_model.pb").touch()  # the assets are read without loading the graph
    (tmp_path / "assets" / "labels.txt").write_text("x\ny\n")
    (tmp_path / "assets" / "export_config.json").write_text("{}")
    values, used = ExportedPredictor(tmp_path).thresholds()
    assert list(values) == [0.5, 0.5] and "no assets/thresholds.json" in used
    (tmp_path / "assets" / "thresholds.json").write_text(json.dumps(
        {"rule": "f1", "chosen_on": "val (9 clips)", "note": "max F1 per label on val",
         "thresholds": {"y": 0.7, "x": 0.2}}))
    values, used = ExportedPredictor(tmp_path).thresholds()
    assert list(values) == [0.2, 0.7] and "max F1 per label on val" in used
