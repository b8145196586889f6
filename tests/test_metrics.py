"""Tests for admlc_tf.metrics: the DCASE 2016 Task 4 EER and its reports (numpy only)."""

import json
import math

import numpy as np
import pytest
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn import metrics as skm
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


# ---------------------------------------------------------------------------------------------
# Multi-label F1, Hamming and ranking metrics, checked against scikit-learn.


def _random_multilabel(seed, n=60, n_labels=6):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < 0.3).astype(int)
    y[:, -1] = 0  # one label with no positive
    s = np.round(y * 0.8 + rng.normal(scale=0.6, size=y.shape), 1)  # coarse: many ties
    return y, s, (s >= 0.5).astype(int)


# Tiny hand case: labels [[1, 0], [1, 1]], predictions [[1, 1], [0, 1]].
# Cells: (0,0) TP, (0,1) FP, (1,0) FN, (1,1) TP -> TP 2, FP 1, FN 1.
TINY_Y = np.array([[1, 0], [1, 1]])
TINY_P = np.array([[1, 1], [0, 1]])


class TestMicroF1:
    def test_hand_case(self):
        # 2 TP / (2 TP + FP + FN) = 4 / 6.
        assert metrics.micro_f1(TINY_Y, TINY_P) == pytest.approx(2.0 / 3.0)

    @pytest.mark.parametrize("seed", range(5))
    def test_matches_sklearn(self, seed):
        y, _, p = _random_multilabel(seed)
        assert metrics.micro_f1(y, p) == pytest.approx(skm.f1_score(y, p, average="micro"))

    @pytest.mark.parametrize("zero_division", [0.0, 1.0])
    def test_empty_uses_zero_division(self, zero_division):
        y = np.zeros((2, 3), int)
        expected = skm.f1_score(y, y, average="micro", zero_division=zero_division)
        assert metrics.micro_f1(y, y, zero_division) == expected == zero_division


class TestMacroF1:
    def test_hand_case(self):
        # Label 0: TP 1, FN 1 -> 2/3. Label 1: TP 1, FP 1 -> 2/3. Mean 2/3.
        assert metrics.macro_f1(TINY_Y, TINY_P) == pytest.approx(2.0 / 3.0)

    def test_label_without_positives_or_predictions(self):
        # Label 0 perfect (1.0); label 1 never true, never predicted: zero_division.
        y = p = np.array([[1, 0], [0, 0]])
        assert metrics.macro_f1(y, p) == 0.5
        assert metrics.macro_f1(y, p, zero_division=1.0) == 1.0

    @pytest.mark.parametrize("seed", range(5))
    @pytest.mark.parametrize("zero_division", [0.0, 1.0])
    def test_matches_sklearn(self, seed, zero_division):
        y, _, p = _random_multilabel(seed)
        expected = skm.f1_score(y, p, average="macro", zero_division=zero_division)
        assert metrics.macro_f1(y, p, zero_division) == pytest.approx(expected)


class TestExampleF1:
    def test_hand_case(self):
        # Example 0: Y={0}, P={0,1}: 2*1/(1+2) = 2/3. Example 1: Y={0,1}, P={1}: 2/3.
        assert metrics.example_f1(TINY_Y, TINY_P) == pytest.approx(2.0 / 3.0)

    @pytest.mark.parametrize("seed", range(5))
    @pytest.mark.parametrize("zero_division", [0.0, 1.0])
    def test_matches_sklearn(self, seed, zero_division):
        y, _, p = _random_multilabel(seed)
        p[0] = y[0] = 0  # an example with no true and no predicted label
        expected = skm.f1_score(y, p, average="samples", zero_division=zero_division)
        assert metrics.example_f1(y, p, zero_division) == pytest.approx(expected)


class TestHammingLoss:
    def test_hand_case(self):
        assert metrics.hamming_loss(TINY_Y, TINY_P) == 0.5  # cells (0,1), (1,0) wrong of 4

    @pytest.mark.parametrize("seed", range(5))
    def test_matches_sklearn(self, seed):
        y, _, p = _random_multilabel(seed)
        assert metrics.hamming_loss(y, p) == pytest.approx(skm.hamming_loss(y, p))

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match="same shape"):
            metrics.hamming_loss(np.zeros((2, 3)), np.zeros((2, 2)))


class TestRankingLoss:
    def test_hand_case_with_tie(self):
        # y = [1, 0, 0], s = [0.5, 0.5, 0.1]: pair (0,1) tied -> wrong, (0,2) right: 1/2.
        # Second example has no negative: 0. Mean 0.25.
        assert metrics.ranking_loss([[1, 0, 0], [1, 1, 1]], [[0.5, 0.5, 0.1], [0, 1, 2]]) == 0.25

    @pytest.mark.parametrize("seed", range(5))
    def test_matches_sklearn(self, seed):
        y, s, _ = _random_multilabel(seed)
        y[0] = 0
        assert metrics.ranking_loss(y, s) == pytest.approx(skm.label_ranking_loss(y, s))


class TestOneError:
    def test_hand_case(self):
        # Top labels: 0 (true), 0 (false), 2 (0.9, true). Example 3 has no true label: left
        # out. One error of 3 -> 1/3.
        y = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
        s = [[0.9, 0.1, 0.2], [0.8, 0.2, 0.1], [0.5, 0.1, 0.9], [0.9, 0.1, 0.1]]
        assert metrics.one_error(y, s) == pytest.approx(1.0 / 3.0)

    def test_tie_goes_to_lowest_index(self):
        # Scores tied at 0.5: argmax picks label 0, which is false.
        assert metrics.one_error([[0, 1]], [[0.5, 0.5]]) == 1.0

    def test_no_true_label_is_nan(self):
        assert math.isnan(metrics.one_error([[0, 0]], [[0.5, 0.1]]))


class TestCoverage:
    def test_hand_case(self):
        # y = [1, 0, 1], s = [0.9, 0.5, 0.1]: lowest true label ranked 3rd -> 0-based 2,
        # 1-based 3.
        assert metrics.coverage([[1, 0, 1]], [[0.9, 0.5, 0.1]]) == 2.0
        assert metrics.coverage([[1, 0, 1]], [[0.9, 0.5, 0.1]], one_based=True) == 3.0

    @pytest.mark.parametrize("seed", range(5))
    def test_one_based_matches_sklearn_coverage_error(self, seed):
        y, s, _ = _random_multilabel(seed)
        y[0] = 0  # no true label: 0 in both conventions
        assert metrics.coverage(y, s, one_based=True) == pytest.approx(skm.coverage_error(y, s))

    @pytest.mark.parametrize("seed", range(3))
    def test_zero_based_is_sklearn_minus_one_when_every_example_has_a_label(self, seed):
        y, s, _ = _random_multilabel(seed)
        y[:, 0] = 1
        assert metrics.coverage(y, s) == pytest.approx(skm.coverage_error(y, s) - 1.0)


class TestLabelRankingAveragePrecision:
    def test_hand_case(self):
        # True labels 0 (rank 1: 1/1) and 2 (rank 3: 2/3): (1 + 2/3) / 2 = 5/6.
        value = metrics.label_ranking_average_precision([[1, 0, 1]], [[0.9, 0.5, 0.1]])
        assert value == pytest.approx(5.0 / 6.0)

    @pytest.mark.parametrize("seed", range(5))
    def test_matches_sklearn(self, seed):
        y, s, _ = _random_multilabel(seed)
        y[0], y[1] = 0, 1  # degenerate examples score 1
        expected = skm.label_ranking_average_precision_score(y, s)
        assert metrics.label_ranking_average_precision(y, s) == pytest.approx(expected)


class TestMeanAveragePrecision:
    def test_hand_case_skips_label_without_positive(self):
        # Label 0: ranking 0.9 (T), 0.8 (F), 0.3 (T): AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
        # Label 1: no positive, skipped.
        y = [[1, 0], [0, 0], [1, 0]]
        s = [[0.9, 0.2], [0.8, 0.1], [0.3, 0.5]]
        assert metrics.mean_average_precision(y, s) == pytest.approx(5.0 / 6.0)

    @pytest.mark.parametrize("seed", range(5))
    def test_matches_sklearn_per_label(self, seed):
        y, s, _ = _random_multilabel(seed)
        expected = [skm.average_precision_score(y[:, j], s[:, j]) for j in range(y.shape[1] - 1)]
        ap = metrics.per_label_average_precision(y, s)
        np.testing.assert_allclose(ap[:-1], expected, rtol=1e-12)
        assert math.isnan(ap[-1])
        assert metrics.mean_average_precision(y, s) == pytest.approx(np.mean(expected))

    def test_no_positive_anywhere_is_nan(self):
        assert math.isnan(metrics.mean_average_precision([[0, 0]], [[0.1, 0.2]]))


class TestTuneThresholds:
    def test_hand_case(self):
        # Label 0: sorted scores 0.4 (T), 0.3 (T), 0.2 (F), 0.1 (F); cut after 0.3: F1 = 1,
        # threshold midway between 0.3 and 0.2 = 0.25. Label 1: no positive -> default 0.5.
        y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
        s = np.array([[0.4, 0.9], [0.3, 0.1], [0.2, 0.2], [0.1, 0.3]])
        np.testing.assert_allclose(metrics.tune_thresholds(y, s), [0.25, 0.5])


class TestBinarize:
    def test_fixed(self):
        predictions, info = metrics.binarize([[0.7, 0.5], [0.2, 0.6]])
        assert predictions.tolist() == [[1, 1], [0, 1]]
        assert info == {"method": "fixed", "thresholds": [0.5, 0.5], "k": None}

    def test_top_k(self):
        predictions, info = metrics.binarize([[0.7, 0.2, 0.9], [0.4, 0.4, 0.1]], "top_k", k=2)
        assert predictions.tolist() == [[1, 0, 1], [1, 1, 0]]
        assert info == {"method": "top_k", "thresholds": None, "k": 2}

    def test_per_label_thresholds_beat_fixed_on_validation(self):
        # Calibration off: positives score around 0.3, negatives around 0.1, so 0.5 predicts
        # nothing (micro F1 0) while tuned thresholds separate them.
        rng = np.random.default_rng(0)
        y = (rng.random((200, 4)) < 0.4).astype(int)
        s = 0.1 + 0.2 * y + rng.normal(scale=0.03, size=y.shape)
        fixed, _ = metrics.binarize(s, "fixed")
        tuned, info = metrics.binarize(s, "per_label", validation=(y, s))
        assert info["method"] == "per_label" and len(info["thresholds"]) == 4
        assert all(0.1 < t < 0.3 for t in info["thresholds"])
        for j in range(4):
            assert skm.f1_score(y[:, j], tuned[:, j]) > skm.f1_score(
                y[:, j], fixed[:, j], zero_division=0.0)
        assert metrics.micro_f1(y, tuned) > 0.95 > metrics.micro_f1(y, fixed)
        json.dumps(info)

    @pytest.mark.parametrize("kwargs", [{"method": "top_k"}, {"method": "per_label"},
                                        {"method": "median"}])
    def test_bad_arguments_raise(self, kwargs):
        with pytest.raises(ValueError):
            metrics.binarize([[0.1, 0.2]], **kwargs)


class TestMultilabelReport:
    def test_values_and_json_round_trip(self):
        y, s, p = _random_multilabel(0)
        report = metrics.multilabel_report(y, s, p)
        assert report["micro_f1"] == pytest.approx(skm.f1_score(y, p, average="micro"))
        assert report["coverage"] == pytest.approx(metrics.coverage(y, s))
        assert report["n_examples"] == 60 and report["n_labels"] == 6
        assert json.loads(json.dumps(report, allow_nan=False)) == report
        assert all(type(v) in (float, int) for v in report.values())

    def test_undefined_values_are_none(self):
        report = metrics.multilabel_report([[0, 0]], [[0.1, 0.2]], [[0, 0]])
        assert report["one_error"] is None and report["mean_average_precision"] is None
