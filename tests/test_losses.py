"""Tests for admlc_tf.losses: hand-computed values, stability and gradients."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from admlc_tf import losses  # noqa: E402


def _np_sigmoid_ce(y, z):
    y, z = np.asarray(y, np.float64), np.asarray(z, np.float64)
    s = 1.0 / (1.0 + np.exp(-z))
    return np.mean(-(y * np.log(s) + (1.0 - y) * np.log(1.0 - s)), axis=-1)


def _assert_close(actual, expected, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-6, atol=atol)


def _harmonic(r):
    return sum(1.0 / a for a in range(1, r + 1))


class TestSigmoidCrossEntropy:
    def test_matches_numpy_formula(self):
        y = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]], np.float32)
        z = np.array([[0.3, -1.2, 2.0], [-0.5, 1.5, 0.0]], np.float32)
        _assert_close(losses.sigmoid_cross_entropy(y, z), _np_sigmoid_ce(y, z), atol=1e-6)

    def test_averages_over_labels(self):
        # All logits 0: every label costs log 2, so the mean (not the sum 3 log 2) is log 2.
        loss = losses.sigmoid_cross_entropy([[1.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]])
        _assert_close(loss, [np.log(2.0)])

    def test_matches_keras_binary_crossentropy_from_logits(self):
        rng = np.random.default_rng(0)
        y = (rng.random((5, 7)) < 0.4).astype(np.float32)
        z = rng.normal(scale=3.0, size=(5, 7)).astype(np.float32)
        expected = keras.losses.binary_crossentropy(y, z, from_logits=True)
        _assert_close(losses.sigmoid_cross_entropy(y, z), expected, atol=1e-5)

    def test_extreme_logits_are_finite(self):
        y = np.array([[1.0, 0.0, 1.0, 0.0]], np.float32)
        z = np.array([[100.0, -100.0, -100.0, 100.0]], np.float32)
        loss = losses.sigmoid_cross_entropy(y, z)
        # Two labels right (cost ~0), two wrong by 100 (cost 100 each): mean 50.
        _assert_close(loss, [50.0], atol=1e-4)

    def test_returns_float32_per_example(self):
        loss = losses.sigmoid_cross_entropy(np.zeros((4, 7)), np.zeros((4, 7), np.float64))
        assert loss.shape == (4,)
        assert loss.dtype == tf.float32


class TestWarp:
    # Two examples, 4 labels, margin 1.
    # A: y = [0, 1, 0, 0], f = [0.5, 0.0, -0.8, 0.3]. Positive j=1 (f=0):
    #    hinges vs negatives k=0,2,3: 1-0+0.5=1.5, 1-0-0.8=0.2, 1-0+0.3=1.3, all > 0 -> r=3,
    #    L(3) = 1 + 1/2 + 1/3 = 11/6, weight L(3)/3 = 11/18, hinge sum 3.0,
    #    loss = 11/18 * 3 = 11/6 = 1.8333.
    #    Gradient: df1 = -3 * 11/18 = -11/6; df0 = df2 = df3 = +11/18.
    # B: y = [1, 0, 1, 0], f = [0.8, 0.4, -0.2, -0.5]. Negatives k=1 (0.4), k=3 (-0.5).
    #    j=0 (f=0.8): 1-0.8+0.4=0.6 > 0, 1-0.8-0.5=-0.3 -> r=1, L(1)/1=1, term 0.6.
    #    j=2 (f=-0.2): 1+0.2+0.4=1.6, 1+0.2-0.5=0.7 -> r=2, L(2)/2=0.75, term 0.75*2.3=1.725.
    #    loss = 0.6 + 1.725 = 2.325.
    #    Gradient: df0 = -1; df2 = -2 * 0.75 = -1.5; df1 = +1 + 0.75 = 1.75; df3 = +0.75.
    LABELS = np.array([[0, 1, 0, 0], [1, 0, 1, 0]], np.float32)
    LOGITS = np.array([[0.5, 0.0, -0.8, 0.3], [0.8, 0.4, -0.2, -0.5]], np.float32)

    def test_hand_computed_small_case(self):
        loss = losses.warp(self.LABELS, self.LOGITS)
        _assert_close(loss, [11.0 / 6.0, 2.325], atol=1e-5)

    def test_gradient_matches_hand_derivation(self):
        logits = tf.constant(self.LOGITS)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            total = tf.reduce_sum(losses.warp(self.LABELS, logits))
        grad = tape.gradient(total, logits)
        expected = [
            [11.0 / 18.0, -11.0 / 6.0, 11.0 / 18.0, 11.0 / 18.0],
            [-1.0, 1.75, -1.5, 0.75],
        ]
        _assert_close(grad, expected, atol=1e-5)

    def test_zero_when_positives_outrank_negatives_by_margin(self):
        # Lowest positive 2.0, highest negative 0.0: every hinge 1 - 2 + 0 <= -1 < 0.
        loss = losses.warp([[1.0, 0.0, 1.0, 0.0]], [[3.0, -1.0, 2.0, 0.0]])
        _assert_close(loss, [0.0])

    def test_zero_at_exactly_the_margin(self):
        # f_pos - f_neg == margin: the hinge is 0 and the pair does not count in the rank.
        logits = tf.constant([[1.5, 0.5]])
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = losses.warp([[1.0, 0.0]], logits)
        _assert_close(loss, [0.0])
        _assert_close(tape.gradient(loss, logits), [[0.0, 0.0]])

    def test_zero_without_positives_or_without_negatives(self):
        logits = [[0.3, -2.0, 1.0], [0.3, -2.0, 1.0]]
        loss = losses.warp([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], logits)
        _assert_close(loss, [0.0, 0.0])

    def test_down_weights_low_ranked_positive_relative_to_pairwise_ranking(self):
        # One positive at 0, r negatives at 0 (hinge 1 each). Pairwise ranking sums the hinges
        # with weight 1: r. WARP weighs each violating pair L(r)/r (<= 1): L(r) in total.
        # Below one negative both agree (L(1)/1 = 1); below 6 negatives WARP costs
        # L(6) = 2.45 where pairwise costs 6, so WARP concentrates on the top of the ranking.
        for r in (1, 3, 6):
            labels = [[1.0] + [0.0] * r]
            logits = tf.zeros([1, r + 1])
            with tf.GradientTape() as tape:
                tape.watch(logits)
                loss = losses.warp(labels, logits)
            with tf.GradientTape() as pairwise_tape:
                pairwise_tape.watch(logits)
                pairwise = losses.pairwise_ranking(labels, logits)
            _assert_close(pairwise, [float(r)], atol=1e-5)  # r hinges of 1, weight 1
            _assert_close(loss, [_harmonic(r)], atol=1e-5)
            _assert_close(loss / pairwise, [_harmonic(r) / r], atol=1e-6)
            pull = tape.gradient(loss, logits)[0, 0]
            _assert_close(pull, -_harmonic(r), atol=1e-5)
            # the positive's pull: WARP's is the pairwise one scaled by L(r) / r
            _assert_close(pull, pairwise_tape.gradient(pairwise, logits)[0, 0] * _harmonic(r) / r,
                          atol=1e-5)
            if r > 1:
                assert float(loss[0]) < float(pairwise[0])
        assert _harmonic(6) / 6 < 1.0

    def test_margin_argument(self):
        # y = [1, 0], f = [0.2, 0.0], margin 0.5: hinge 0.5 - 0.2 + 0 = 0.3, r = 1.
        _assert_close(losses.warp([[1.0, 0.0]], [[0.2, 0.0]], margin=0.5), [0.3])

    def test_in_tf_function_with_unknown_shapes(self):
        spec = tf.TensorSpec([None, None], tf.float32)
        fn = tf.function(losses.warp, input_signature=[spec, spec])
        loss = fn(tf.constant(self.LABELS), tf.constant(self.LOGITS))
        _assert_close(loss, [11.0 / 6.0, 2.325], atol=1e-5)

    def test_returns_float32_per_example(self):
        loss = losses.warp(np.eye(3), np.zeros((3, 3), np.float64))
        assert loss.shape == (3,)
        assert loss.dtype == tf.float32


class TestPairwiseRanking:
    # The WARP examples, margin 1, every (positive, negative) pair with weight 1.
    # A: y = [0, 1, 0, 0], f = [0.5, 0.0, -0.8, 0.3]. Positive j=1 (f=0) vs k=0,2,3:
    #    hinges 1.5, 0.2, 1.3 -> loss 3.0 (WARP: 11/6).
    #    Gradient: df1 = -3 (three active hinges); df0 = df2 = df3 = +1.
    # B: y = [1, 0, 1, 0], f = [0.8, 0.4, -0.2, -0.5]. Pairs:
    #    (0,1) 1-0.8+0.4=0.6, (0,3) 1-0.8-0.5=-0.3 -> 0, (2,1) 1+0.2+0.4=1.6,
    #    (2,3) 1+0.2-0.5=0.7 -> loss 0.6 + 1.6 + 0.7 = 2.9 (no normalisation).
    #    Gradient: df0 = -1, df2 = -2, df1 = +2 (active with j=0 and j=2), df3 = +1.
    LABELS = TestWarp.LABELS
    LOGITS = TestWarp.LOGITS

    def test_hand_computed_small_case(self):
        _assert_close(losses.pairwise_ranking(self.LABELS, self.LOGITS), [3.0, 2.9], atol=1e-5)

    def test_gradient_matches_hand_derivation(self):
        logits = tf.constant(self.LOGITS)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            total = tf.reduce_sum(losses.pairwise_ranking(self.LABELS, logits))
        expected = [[1.0, -3.0, 1.0, 1.0], [-1.0, 2.0, -2.0, 1.0]]
        _assert_close(tape.gradient(total, logits), expected, atol=1e-5)

    def test_sum_of_pairs_grows_linearly_with_violations(self):
        # One positive at 0 below r negatives at 0: r hinges of 1 -> r (WARP: L(r)).
        for r in (1, 3, 6):
            labels, logits = [[1.0] + [0.0] * r], tf.zeros([1, r + 1])
            loss = losses.pairwise_ranking(labels, logits)
            _assert_close(loss, [float(r)])
            assert float(loss[0]) >= float(losses.warp(labels, logits)[0])

    def test_zero_when_positives_outrank_negatives_by_margin(self):
        loss = losses.pairwise_ranking([[1.0, 0.0, 1.0, 0.0]], [[3.0, -1.0, 2.0, 0.0]])
        _assert_close(loss, [0.0])

    def test_zero_without_positives_or_without_negatives(self):
        logits = [[0.3, -2.0, 1.0], [0.3, -2.0, 1.0]]
        loss = losses.pairwise_ranking([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], logits)
        _assert_close(loss, [0.0, 0.0])

    def test_margin_argument(self):
        # y = [1, 0, 0], f = [0.2, 0.0, 0.5], margin 0.5: 0.5-0.2+0 = 0.3, 0.5-0.2+0.5 = 0.8.
        loss = losses.pairwise_ranking([[1.0, 0.0, 0.0]], [[0.2, 0.0, 0.5]], margin=0.5)
        _assert_close(loss, [1.1], atol=1e-6)

    def test_extreme_logits_are_finite(self):
        # Wrong by 200: hinge 1 + 100 + 100 = 201; the gradient stays -1 / +1.
        logits = tf.constant([[-100.0, 100.0]])
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = losses.pairwise_ranking([[1.0, 0.0]], logits)
        _assert_close(loss, [201.0], atol=1e-4)
        _assert_close(tape.gradient(loss, logits), [[-1.0, 1.0]])

    def test_in_tf_function_with_unknown_shapes(self):
        spec = tf.TensorSpec([None, None], tf.float32)
        fn = tf.function(losses.pairwise_ranking, input_signature=[spec, spec])
        _assert_close(fn(tf.constant(self.LABELS), tf.constant(self.LOGITS)), [3.0, 2.9], atol=1e-5)

    def test_returns_float32_per_example(self):
        loss = losses.pairwise_ranking(np.eye(3), np.zeros((3, 3), np.float64))
        assert loss.shape == (3,)
        assert loss.dtype == tf.float32


class TestBpmll:
    # Logits chosen as arctanh(c), so c = tanh(logit) is exact:
    # A: y = [1, 0, 0], c = [0.5, -0.5, 0.0]. Pairs (k=0, l=1): exp(-(0.5+0.5)) = e^-1,
    #    (k=0, l=2): exp(-0.5). |Y||Ybar| = 2: loss = (e^-1 + e^-0.5) / 2
    #    = (0.367879 + 0.606531) / 2 = 0.487205.
    #    dL/dc0 = -(e^-1 + e^-0.5)/2, dL/dc1 = e^-1/2, dL/dc2 = e^-0.5/2; dc/dz = 1 - c^2
    #    = [0.75, 0.75, 1] -> grad = [-0.365404, 0.137955, 0.303265].
    # B: y = [0, 1, 1], c = [0.5, 0.0, -0.5]. Pairs (1,0): exp(-(0-0.5)) = e^0.5,
    #    (2,0): exp(-(-0.5-0.5)) = e^1. loss = (1.648721 + 2.718282) / 2 = 2.183502.
    #    dL/dc0 = (e^0.5 + e) / 2, dL/dc1 = -e^0.5 / 2, dL/dc2 = -e / 2; times [0.75, 1, 0.75]
    #    -> grad = [1.637627, -0.824361, -1.019356].
    LABELS = np.array([[1, 0, 0], [0, 1, 1]], np.float32)
    C = np.array([[0.5, -0.5, 0.0], [0.5, 0.0, -0.5]])
    LOGITS = np.arctanh(C).astype(np.float32)

    def test_hand_computed_small_case(self):
        expected = [(np.exp(-1.0) + np.exp(-0.5)) / 2.0, (np.exp(0.5) + np.exp(1.0)) / 2.0]
        _assert_close(losses.bpmll(self.LABELS, self.LOGITS), expected, atol=1e-5)
        _assert_close(expected, [0.487205, 2.183502], atol=1e-6)

    def test_gradient_matches_hand_derivation(self):
        logits = tf.constant(self.LOGITS)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            total = tf.reduce_sum(losses.bpmll(self.LABELS, logits))
        e = np.exp
        expected = [
            [-(e(-1.0) + e(-0.5)) / 2 * 0.75, e(-1.0) / 2 * 0.75, e(-0.5) / 2],
            [(e(0.5) + e(1.0)) / 2 * 0.75, -e(0.5) / 2, -e(1.0) / 2 * 0.75],
        ]
        _assert_close(tape.gradient(total, logits), expected, atol=1e-5)
        _assert_close(expected[0], [-0.365404, 0.137955, 0.303265], atol=1e-6)

    def test_normalised_by_number_of_pairs(self):
        # All logits 0 (c = 0): every pair costs exp(0) = 1, so the mean over pairs is 1
        # whatever |Y| and |Ybar| (1x1, 1x3, 2x2 pairs).
        labels = [[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]
        _assert_close(losses.bpmll(labels, tf.zeros([3, 4])), [1.0, 1.0, 1.0])

    def test_zero_without_positives_or_without_negatives(self):
        logits = [[0.3, -2.0, 1.0], [0.3, -2.0, 1.0]]
        _assert_close(losses.bpmll([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], logits), [0.0, 0.0])

    def test_extreme_logits_are_bounded_and_finite(self):
        # tanh saturates at +-1: c_k - c_l in [-2, 2], so the loss is in [e^-2, e^2]
        # (right: exp(-2) = 0.135335; wrong: exp(2) = 7.389056).
        logits = tf.constant([[100.0, -100.0], [-100.0, 100.0], [1e4, -1e4]])
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = losses.bpmll(tf.constant([[1.0, 0.0]] * 3), logits)
        _assert_close(loss, [np.exp(-2.0), np.exp(2.0), np.exp(-2.0)], atol=1e-5)
        assert np.all(np.isfinite(tape.gradient(loss, logits)))

    def test_in_tf_function_with_unknown_shapes(self):
        spec = tf.TensorSpec([None, None], tf.float32)
        fn = tf.function(losses.bpmll, input_signature=[spec, spec])
        _assert_close(fn(tf.constant(self.LABELS), tf.constant(self.LOGITS)), [0.487205, 2.183502],
                      atol=1e-5)

    def test_returns_float32_per_example(self):
        loss = losses.bpmll(np.eye(3), np.zeros((3, 3), np.float64))
        assert loss.shape == (3,)
        assert loss.dtype == tf.float32


class TestL2:
    # y = [1, 0], z = [0, ln 3]: sigmoid = [0.5, 0.75]; errors (0.5-1)^2 = 0.25,
    # 0.75^2 = 0.5625; mean 0.40625.
    # Gradient: d/dz mean((s - y)^2) = 2 (s - y) s (1 - s) / 2 = (s - y) s (1 - s):
    #    label 0: (-0.5)(0.5)(0.5) = -0.125; label 1: (0.75)(0.75)(0.25) = 0.140625.
    def test_hand_computed_small_case(self):
        loss = losses.l2([[1.0, 0.0], [0.0, 0.0]], [[0.0, np.log(3.0)], [0.0, 0.0]])
        _assert_close(loss, [0.40625, 0.25], atol=1e-6)

    def test_gradient_matches_hand_derivation(self):
        logits = tf.constant([[0.0, np.log(3.0)]], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = losses.l2([[1.0, 0.0]], logits)
        _assert_close(tape.gradient(loss, logits), [[-0.125, 0.140625]], atol=1e-6)

    def test_matches_keras_mean_squared_error_on_sigmoid(self):
        rng = np.random.default_rng(0)
        y = (rng.random((5, 7)) < 0.4).astype(np.float32)
        z = rng.normal(scale=3.0, size=(5, 7)).astype(np.float32)
        expected = keras.losses.mean_squared_error(y, tf.sigmoid(z))
        _assert_close(losses.l2(y, z), expected, atol=1e-6)

    def test_extreme_logits_are_finite(self):
        # Two labels right (cost 0), two wrong (cost 1 each): mean 0.5.
        logits = tf.constant([[100.0, -100.0, -100.0, 100.0]])
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = losses.l2([[1.0, 0.0, 1.0, 0.0]], logits)
        _assert_close(loss, [0.5])
        assert np.all(np.isfinite(tape.gradient(loss, logits)))

    def test_returns_float32_per_example(self):
        loss = losses.l2(np.zeros((4, 7)), np.zeros((4, 7), np.float64))
        assert loss.shape == (4,)
        assert loss.dtype == tf.float32


class TestScoreCrossEntropy:
    Z = np.array([-3.0, -0.5, 0.0, 1.2, 4.0], np.float32)

    def _sigmoid(self, z):
        return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))

    def test_target_one_is_minus_log_score(self):
        # Eq. (3), predictor side: -log s_p.
        expected = -np.log(self._sigmoid(self.Z))
        _assert_close(losses.score_cross_entropy(self.Z, 1.0), expected, atol=1e-6)

    def test_target_zero_is_minus_log_one_minus_score(self):
        # Eq. (4), critic side on predictions: -log(1 - s_p).
        expected = -np.log(1.0 - self._sigmoid(self.Z))
        _assert_close(losses.score_cross_entropy(self.Z, 0.0), expected, atol=1e-6)

    def test_accepts_batch_by_one_logits(self):
        loss = losses.score_cross_entropy(self.Z[:, None], 1.0)
        assert loss.shape == (5,)
        _assert_close(loss, losses.score_cross_entropy(self.Z, 1.0))

    def test_tensor_target_broadcasts(self):
        target = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
        s = self._sigmoid(self.Z)
        expected = -(target * np.log(s) + (1.0 - target) * np.log(1.0 - s))
        _assert_close(losses.score_cross_entropy(self.Z, target), expected, atol=1e-6)
        _assert_close(
            losses.score_cross_entropy(self.Z[:, None], target[:, None]), expected, atol=1e-6
        )

    def test_extreme_logits_are_finite(self):
        z = tf.constant([[200.0], [-200.0]])
        with tf.GradientTape() as tape:
            tape.watch(z)
            right = losses.score_cross_entropy(z, [1.0, 0.0])  # confident and correct
            wrong = losses.score_cross_entropy(z, [0.0, 1.0])  # confident and wrong
        _assert_close(right, [0.0, 0.0])
        _assert_close(wrong, [200.0, 200.0])
        grad = tape.gradient([right, wrong], z)
        assert np.all(np.isfinite(grad))

    def test_rejects_multi_column_logits(self):
        with pytest.raises(ValueError, match=r"\[batch, 1\]"):
            losses.score_cross_entropy(np.zeros((3, 2), np.float32), 1.0)


class TestGetSupervisedLoss:
    def test_returns_registered_losses(self):
        assert losses.get_supervised_loss("ce") is losses.sigmoid_cross_entropy
        assert losses.get_supervised_loss("warp") is losses.warp
        assert losses.get_supervised_loss("pr") is losses.pairwise_ranking
        assert losses.get_supervised_loss("bpmll") is losses.bpmll
        assert losses.get_supervised_loss("l2") is losses.l2
        assert set(losses.SUPERVISED_LOSSES) == {"ce", "warp", "pr", "bpmll", "l2"}

    def test_unknown_name_lists_valid_names(self):
        with pytest.raises(ValueError, match="bpmll, ce, l2, pr, warp"):
            losses.get_supervised_loss("hinge")

    def test_every_registered_loss_is_per_example(self):
        y = np.array([[1, 0, 0], [0, 1, 1]], np.float32)
        z = np.array([[0.1, 0.2, -0.3], [1.0, -1.0, 0.5]], np.float32)
        for name, fn in losses.SUPERVISED_LOSSES.items():
            assert fn(y, z).shape == (2,), name
