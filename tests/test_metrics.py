"""Tests for admlc_tf.metrics: the DCASE 2016 Task 4 EER and its reports (numpy only)."""

import json
import math

import numpy as np
import pytest
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from admlc_tf import metrics


def _official_dcase2016_eer(y_true, y_score):
    """The DCASE 2016 Task 4 baseline's `compute_eer`, ported line by line to Python 3."""
    fpr, tpr, _ = roc_curve(y_true, y_score, drop_intermediate=True)
    eps = 1e-6
    points = [(0, 0)] + list(zip(fpr, tpr))
    for i, point in enumerate(points):
        if point[0] + eps >= 1 - point[1]:
            break
    p1 = points[i - 1]
    p2 = points[i]
    if abs(p2[0] - p1[0]) < eps:
        return p1[0]
    m = (p2[1] - p1[1]) / (p2[0] - p1[0])
    o = p1[1] - m * p1[0]
    return (1 - o) / (1 + m)


def _noisy_scores(seed, n=300):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    return y, y * 1.0 + rng.normal(scale=1.0, size=n)


class TestEqualErrorRate:
    def test_perfect_separation_is_zero(self):
        assert metrics.equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0

    def test_reversed_scores_is_one(self):
        assert metrics.equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0

    def test_hand_computed_interpolated_case(self):
        # 3 positives, 3 negatives; the 0.6 tie holds 1 positive and 2 negatives.
        # ROC (drop_intermediate drops (0, 1/3)): (0,0) (0,2/3) (2/3,1) (1,1).
        # First point with fpr + 1e-6 >= 1 - tpr: (2/3, 1); the previous one (0, 2/3).
        # m = (1 - 2/3) / (2/3 - 0) = 1/2, o = 2/3, EER = (1 - 2/3) / (1 + 1/2) = 2/9.
        eer = metrics.equal_error_rate([1, 1, 0, 0, 1, 0], [0.9, 0.8, 0.6, 0.6, 0.6, 0.2])
        assert eer == pytest.approx(2.0 / 9.0, abs=1e-12)

    def test_two_way_tie(self):
        # ROC (0,0) (0,1/2) (1/2,1) (1,1): m = 1, o = 1/2, EER = (1/2) / 2 = 1/4.
        assert metrics.equal_error_rate([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.25)

    def test_crossing_on_a_roc_point_equals_one_minus_tpr(self):
        # Ranked labels 1 1 0 1 0 0: ROC (0,0) (0,2/3) (1/3,2/3) (1/3,1) (1,1).
        # (1/3, 2/3) lies on fpr = 1 - tpr, so the EER is 1 - tpr there = 1/3.
        y = np.array([1, 1, 0, 1, 0, 0])
        s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
        fpr, tpr, _ = roc_curve(y, s)
        on_line = np.flatnonzero(np.isclose(fpr, 1.0 - tpr))
        assert on_line.size == 1
        expected = 1.0 - tpr[on_line[0]]
        assert metrics.equal_error_rate(y, s) == pytest.approx(expected, abs=1e-12)
        assert expected == pytest.approx(1.0 / 3.0)

    def test_vertical_segment_gives_its_fpr(self):
        # Ranked labels 1 0 1 1 0 0: ROC (0,0) (0,1/3) (1/3,1/3) (1/3,1) (1,1).
        # First qualifying point (1/3, 1), reached by a vertical segment at fpr = 1/3.
        eer = metrics.equal_error_rate([1, 0, 1, 1, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
        assert eer == pytest.approx(1.0 / 3.0, abs=1e-12)

    @pytest.mark.parametrize("seed", range(20))
    def test_agrees_with_brentq_on_interpolated_roc(self, seed):
        y, s = _noisy_scores(seed)
        fpr, tpr, _ = roc_curve(y, s)
        reference = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
        assert metrics.equal_error_rate(y, s) == pytest.approx(reference, abs=1e-2)

    @pytest.mark.parametrize("seed", range(5))
    def test_identical_to_official_scorer_with_ties(self, seed):
        y, s = _noisy_scores(seed, n=200)
        s = np.round(s, 1)  # coarse scores: many ties, so diagonal ROC segments
        assert metrics.equal_error_rate(y, s) == pytest.approx(
            _official_dcase2016_eer(y, s), abs=1e-12
        )

    def test_accepts_bool_labels_and_logits(self):
        y, s = _noisy_scores(0)
        assert metrics.equal_error_rate(y.astype(bool), s) == metrics.equal_error_rate(y, s)

    @pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1]])
    def test_single_class_is_nan(self, y):
        assert math.isnan(metrics.equal_error_rate(y, [0.1, 0.5, 0.9]))

    def test_nan_scores_raise(self):
        with pytest.raises(ValueError, match="NaN"):
            metrics.equal_error_rate([0, 1, 1], [0.1, np.nan, 0.9])

    def test_length_mismatch_raises(self):
        with pytest.raises(ValueError, match="differ in length"):
            metrics.equal_error_rate([0, 1, 1], [0.1, 0.9])

    def test_two_dimensional_input_raises(self):
        with pytest.raises(ValueError, match="1-D"):
            metrics.equal_error_rate([[0, 1]], [[0.1, 0.9]])

    def test_non_binary_labels_raise(self):
        with pytest.raises(ValueError, match="binary"):
            metrics.equal_error_rate([0, 2, 1], [0.1, 0.5, 0.9])


class TestPerLabelEer:
    def test_one_value_per_column(self):
        labels = np.array([[0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1]])
        scores = np.array([[0.1, 0.9, 0.6], [0.2, 0.1, 0.1], [0.8, 0.7, 0.5], [0.9, 0.3, 0.4]])
        eers = metrics.per_label_eer(labels, scores)
        assert eers.shape == (3,)
        # Column 0 perfectly separated, column 1 too, column 2 fully reversed.
        np.testing.assert_allclose(eers, [0.0, 0.0, 1.0])

    def test_single_class_column_is_nan(self):
        labels = np.array([[0, 1], [1, 1], [0, 1]])
        eers = metrics.per_label_eer(labels, np.array([[0.1, 0.2], [0.9, 0.5], [0.2, 0.4]]))
        assert eers[0] == 0.0 and math.isnan(eers[1])

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match="same shape"):
            metrics.per_label_eer(np.zeros((4, 3)), np.zeros((4, 2)))


class TestEerReport:
    LABELS = np.array([[0, 1, 0], [0, 1, 1], [1, 1, 0], [1, 1, 1]])
    SCORES = np.array([[0.1, 0.9, 0.3], [0.2, 0.1, 0.6], [0.8, 0.7, 0.5], [0.9, 0.3, 0.4]])

    def test_values_none_and_mean(self):
        report = metrics.eer_report(self.LABELS, self.SCORES, ["c", "m", "f"])
        # c: perfect (0); m: all positive (None); f: positives 0.6, 0.4 vs negatives 0.3,
        # 0.5 -> ROC (0,0) (0,1/2) (1/2,1/2) (1/2,1) (1,1); (1/2,1/2) is the first point on
        # fpr = 1 - tpr, reached by a horizontal segment at tpr 1/2 -> 0.5.
        assert report["eer"] == {"c": 0.0, "m": None, "f": 0.5}
        assert report["mean_eer"] == pytest.approx(0.25)  # mean of c and f only
        assert report["n_chunks"] == 4
        assert list(report["eer"]) == ["c", "m", "f"]

    def test_json_round_trip(self):
        report = metrics.eer_report(self.LABELS, self.SCORES, ["c", "m", "f"])
        text = json.dumps(report, allow_nan=False)
        assert json.loads(text) == report
        assert all(type(v) in (float, type(None)) for v in report["eer"].values())
        assert type(report["mean_eer"]) is float and type(report["n_chunks"]) is int

    def test_all_labels_undefined_gives_none_mean(self):
        report = metrics.eer_report(np.ones((3, 2)), np.zeros((3, 2)), ["a", "b"])
        assert report["eer"] == {"a": None, "b": None} and report["mean_eer"] is None

    def test_wrong_number_of_names_raises(self):
        with pytest.raises(ValueError, match="2 label names for 3"):
            metrics.eer_report(self.LABELS, self.SCORES, ["c", "m"])


class TestFormatEerTable:
    def test_header_and_three_decimals(self):
        eer = {"c": 0.17, "m": 0.1567, "f": 0.0, "v": 0.03, "p": 0.15, "b": 0.0, "o": 0.24}
        table = metrics.format_eer_table(eer, 0.1281)
        header, row = table.split("\n")
        assert header.split() == ["c", "m", "f", "v", "p", "b", "o", "ave"]
        assert row.split() == ["0.170", "0.157", "0.000", "0.030", "0.150", "0.000", "0.240",
                               "0.128"]

    def test_none_and_nan_show_as_dash(self):
        table = metrics.format_eer_table({"c": None, "m": float("nan"), "f": 0.5}, None)
        assert table.split("\n")[1].split() == ["-", "-", "0.500", "-"]

    def test_columns_align(self):
        table = metrics.format_eer_table({"child": 0.1, "m": None}, 0.1)
        header, row = table.split("\n")
        assert len(header) == len(row)

    def test_title_is_first_line(self):
        table = metrics.format_eer_table({"c": 0.1}, 0.1, title="AD-WARP, evaluation")
        assert table.split("\n")[0] == "AD-WARP, evaluation"
        assert len(table.split("\n")) == 3

    def test_formats_a_report(self):
        labels = TestEerReport.LABELS
        report = metrics.eer_report(labels, TestEerReport.SCORES, ["c", "m", "f"])
        table = metrics.format_eer_table(report["eer"], report["mean_eer"])
        assert table.split("\n")[1].split() == ["0.000", "-", "0.500", "0.250"]
