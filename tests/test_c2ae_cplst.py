"""C2AE's and Deep-CPLST's objectives against values worked out by hand on tiny inputs.

C2AE follows the authors' code (github.com/chihkuanyeh/C2AE): `BR_error.m` (output loss),
`CORR_error.m` (latent loss), `DCCA_grad.m` (output gradient divided by alpha) and
`forwardpass.m` (leaky ReLU slope 0.1, codes `sigmoid - 0.5`, sigmoid output).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.losses import c2ae_latent, c2ae_ranking
from admlc_tf.predictors import vector

LN3 = math.log(3.0)  # sigmoid(ln 3) = 0.75, sigmoid(-ln 3) = 0.25


# --- numpy transcriptions of the authors' MATLAB ------------------------------------------

def br_error(p, y):
    """`BR_error.m`: per-example value e and its gradient g (w.r.t. p), loops as in MATLAB."""
    if not (y < 0).any():
        y = y - 0.5
    e, g = np.zeros(len(y)), np.zeros_like(p)
    for i in range(len(y)):
        yee, lin = np.where(y[i] > 0)[0], np.where(y[i] < 0)[0]
        num = len(yee) * len(lin)
        for k in yee:
            for l in lin:
                err = math.exp(-5 * (p[i, k] - p[i, l])) / num
                e[i] += err
                g[i, k] -= err
                g[i, l] += err
    return e, g


def corr_error(x1, x2, lam=0.5):
    """`CORR_error.m`: value and gradients w.r.t. both codes."""
    eye = np.eye(x1.shape[1])
    e = (((x1 - x2) ** 2).sum()
         + lam * (((x1.T @ x1 - eye) ** 2).sum() + ((x2.T @ x2 - eye) ** 2).sum()))
    g1 = 2 * (x1 - x2) + lam * 4 * x1 @ (x1.T @ x1 - eye)
    g2 = 2 * (x2 - x1) + lam * 4 * x2 @ (x2.T @ x2 - eye)
    return e, g1, g2


def leaky(t):
    return np.where(t < 0, 0.1 * t, t)


def sigmoid(t):
    return 1 / (1 + np.exp(-t))


def set_weights(spec, weights):
    for name, (kernel, bias) in weights.items():
        spec.training_model.get_layer(name).set_weights(
            [np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])


# --- C2AE ---------------------------------------------------------------------------------

# Catches: the exp(-5 x) scale, the pair normalisation or the positive/negative split of
# BR_error.m gone wrong (e.g. BP-MLL's tanh/exp(-x) form, or sums instead of means).
def test_c2ae_output_loss_hand_values():
    logits = np.array([[LN3, -LN3, 0.0],    # p = .75 .25 .5, labels 1 0 1
                       [0.0, -LN3, 0.0],    # p = .5 .25 .5,  labels 0 1 0
                       [LN3, -LN3, 0.0],    # all positive: no pair
                       [LN3, -LN3, 0.0]],   # all negative: no pair
                      np.float32)
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]], np.float32)
    hand = [(math.exp(-5 * 0.5) + math.exp(-5 * 0.25)) / 2,  # pairs (0,1), (2,1)
            (math.exp(5 * 0.25) + math.exp(5 * 0.25)) / 2,   # pairs (1,0), (1,2)
            0.0, 0.0]                                        # BR_error.m: empty sum, e = 0
    np.testing.assert_allclose(c2ae_ranking(labels, logits), hand, rtol=1e-5)
    np.testing.assert_allclose(hand, br_error(sigmoid(logits.astype(float)), labels)[0])


# Catches: an example without negatives (or positives) producing NaN or a gradient.
def test_c2ae_output_loss_no_pairs_has_no_gradient():
    logits = tf.Variable([[1.0, -2.0], [0.5, 0.3]])
    with tf.GradientTape() as tape:
        loss = c2ae_ranking([[1.0, 1.0], [0.0, 0.0]], logits)
    np.testing.assert_array_equal(loss, [0.0, 0.0])
    np.testing.assert_array_equal(tape.gradient(loss, logits), np.zeros((2, 2)))


# Catches: the latent loss divided by the batch, or the Gram matrix normalised by n, or the
# constraint weight not 0.5 (CORR_error.m uses the raw X^T X and lambda = 0.5).
def test_c2ae_latent_loss_hand_values():
    x = np.array([[0.5, 0.0], [0.0, 0.25]], np.float32)
    e = np.array([[0.25, 0.0], [0.0, 0.25]], np.float32)
    distance = [0.25 ** 2, 0.0]
    # X^T X = diag(.25, .0625), E^T E = diag(.0625, .0625):
    constraint = 0.5 * ((0.75 ** 2 + 0.9375 ** 2) + 2 * 0.9375 ** 2)  # = 1.599609375
    per_example = c2ae_latent(x, e).numpy()
    np.testing.assert_allclose(per_example, np.add(distance, constraint / 2), rtol=1e-6)
    np.testing.assert_allclose(per_example.sum(), 0.0625 + 1.599609375, rtol=1e-6)
    np.testing.assert_allclose(per_example.sum(), corr_error(x, e)[0], rtol=1e-6)


def hand_c2ae():
    """Three examples, 2 features, 3 labels, latent 2, weights chosen so every code is known."""
    spec = vector.build_c2ae(2, 3, hidden_units=(2,), latent_dims=2, alpha=2.0, lagrange=0.5)
    set_weights(spec, {
        "fx0": (np.eye(2), [0, 0]),                       # leaky(x)
        "fx_latent": ([[LN3, 0], [0, 10 * LN3]], [0, 0]),
        "fe0": ([[1, 0], [0, 1], [0, 0]], [0, 0]),        # the first two labels
        "fe_latent": ([[LN3, 0], [0, -LN3]], [0, 0]),
        "fd0": (np.eye(2), [0, 0]),
        "fd_logits": ([[4 * LN3, 0, 0], [0, 0, 0]], [0, -LN3, 0]),
    })
    x = np.array([[1, 0], [0, -1], [0, 0]], np.float32)
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1]], np.float32)
    return spec, x, y


# Catches: a wrong activation (Keras' leaky slope 0.2, linear codes), the decoder fed with
# Fx instead of Fe in the output loss, or any term of the total objective mis-weighted.
def test_c2ae_total_objective_by_hand():
    spec, x, y = hand_c2ae()
    # Fx: leaky(x) = [[1, 0], [0, -.1], [0, 0]]; codes sigmoid(.) - .5:
    fx = np.array([[0.25, 0], [0, -0.25], [0, 0]])
    # Fe: hidden = y[:, :2]; codes:
    fe = np.array([[0.25, 0], [0, -0.25], [0.25, -0.25]])
    distance = np.array([0, 0, 0.25 ** 2 + 0.25 ** 2])
    # Fx^T Fx = diag(.0625, .0625); Fe^T Fe = [[.125, -.0625], [-.0625, .125]]
    constraint = 0.5 * (2 * 0.9375 ** 2 + (2 * 0.875 ** 2 + 2 * 0.0625 ** 2))  # 1.6484375
    # Fd(Fe(y)): leaky(fe) = [[.25, 0], [0, -.025], [.25, -.025]], logits x0 = 4 ln3 * first:
    # p = [.75, .25, .5], [.5, .25, .5], (no negatives)
    output = np.array([(math.exp(-2.5) + math.exp(-1.25)) / 2, math.exp(1.25), 0.0])
    weight = 1 / (5 * 2.0)  # DCCA_grad.m: / alpha; BR_error.m's gradient: / 5
    hand = distance + constraint / 3 + weight * output
    objective = 0.125 + 1.6484375 + weight * output.sum()  # the authors' batch objective

    results = spec.training_model({"features": x, "labels": y})
    np.testing.assert_allclose(results["latent_x"], fx, atol=1e-6)
    np.testing.assert_allclose(results["latent_y"], fe, atol=1e-6)
    outputs, per_example = spec.forward(tf.constant(x), tf.constant(y), training=True)
    np.testing.assert_allclose(per_example, hand, rtol=1e-5)
    np.testing.assert_allclose(per_example.numpy().sum(), objective, rtol=1e-5)
    # Prediction is Fd(Fx(x)): leaky(fx) = [[.25, 0], [0, -.025], [0, 0]].
    np.testing.assert_allclose(outputs, [[LN3, -LN3, 0], [0, -LN3, 0], [0, -LN3, 0]], atol=1e-5)


# Catches: any drift from the authors' forward pass and objective on generic weights, and the
# effective output weight (their update is G_BR / alpha with G_BR = gradient / 5).
def test_c2ae_matches_the_authors_objective_and_gradients_on_random_weights():
    rng = np.random.default_rng(0)
    spec = vector.build_c2ae(3, 4, hidden_units=(5, 3), latent_dims=2, alpha=2.0)
    weights = {}
    for layer in spec.training_model.layers:
        if layer.weights:
            weights[layer.name] = [rng.normal(size=w.shape).astype(np.float32)
                                   for w in layer.get_weights()]
            layer.set_weights(weights[layer.name])
    x = rng.normal(size=(6, 3)).astype(np.float32)
    y = np.array([[1, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0],
                  [1, 0, 1, 0]], np.float32)

    def net(t, names, last):
        for name in names[:-1]:
            t = leaky(t @ weights[name][0] + weights[name][1])
        t = t @ weights[names[-1]][0] + weights[names[-1]][1]
        return sigmoid(t) - 0.5 if last == "sigmoid_zero_mean" else sigmoid(t)

    x1 = net(x, ["fx0", "fx1", "fx_latent"], "sigmoid_zero_mean")
    x2 = net(y, ["fe0", "fe_latent"], "sigmoid_zero_mean")
    p = net(x2, ["fd0", "fd_logits"], "sigmoid")
    corr, g1, g2 = corr_error(x1, x2)
    br, g_br = br_error(p, y)
    alpha = 2.0
    objective = corr + br.sum() / (5 * alpha)

    x_t, y_t = tf.constant(x), tf.constant(y)
    with tf.GradientTape(persistent=True) as tape:
        results = spec.training_model({"features": x_t, "labels": y_t})
        total = tf.reduce_sum(spec.loss(y_t, results))
    np.testing.assert_allclose(total, objective, rtol=1e-4)
    # Gradients w.r.t. the codes: CORR_error.m's G1 and G2 (+ the output loss through Fe).
    grads = tape.gradient(total, [results["latent_x"], results["decoded_y"]])
    np.testing.assert_allclose(grads[0], g1, rtol=1e-3, atol=1e-5)
    # W.r.t. Fd's logits: DCCA_grad.m's G4 / alpha through backwardpass.m's sigmoid.
    np.testing.assert_allclose(grads[1], g_br / alpha * p * (1 - p), rtol=1e-3, atol=1e-6)
    # The output loss does not reach Fx (DCCA_grad.m drops de3).
    fx_only = tape.gradient(tf.reduce_sum(c2ae_ranking(y_t, results["decoded_y"])),
                            spec.training_model.get_layer("fx_latent").trainable_variables)
    assert all(g is None for g in fx_only)


# Catches: the batch-level constraint counted once per example (n times) or not divided by
# the replicas' batches when the trainer averages the per-example loss over the global batch.
def test_c2ae_constraint_counts_once_per_replica_batch_after_global_averaging():
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 0.5, size=(4, 2)).astype(np.float32)
    e = rng.uniform(-0.5, 0.5, size=(4, 2)).astype(np.float32)
    distances = ((x - e) ** 2).sum(1)

    def constraint(a, b):
        return 0.5 * (((a.T @ a - np.eye(2)) ** 2).sum() + ((b.T @ b - np.eye(2)) ** 2).sum())

    # One replica: the mean over the batch is the authors' objective / n, constraint once.
    single = tf.nn.compute_average_loss(c2ae_latent(x, e), global_batch_size=4)
    np.testing.assert_allclose(single, (distances.sum() + constraint(x, e)) / 4, rtol=1e-5)

    # Two replicas of 2 examples: each replica's constraint once, all divided by 4.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    halves = strategy.experimental_distribute_values_from_function(
        lambda ctx: (x[2 * ctx.replica_id_in_sync_group:][:2],
                     e[2 * ctx.replica_id_in_sync_group:][:2]))

    def step(pair):
        return tf.nn.compute_average_loss(c2ae_latent(*pair), global_batch_size=4)

    total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(step, args=(halves,)),
                            axis=None)
    hand = (distances.sum() + constraint(x[:2], e[:2]) + constraint(x[2:], e[2:])) / 4
    np.testing.assert_allclose(total, hand, rtol=1e-5)


# Catches: alpha applied as a multiplier (the paper's form) instead of the authors' divisor.
@pytest.mark.parametrize("alpha", [1.0, 2.0, 4.0])
def test_c2ae_alpha_divides_the_output_loss(alpha):
    spec, x, y = hand_c2ae()
    spec_a = vector.build_c2ae(2, 3, hidden_units=(2,), latent_dims=2, alpha=alpha)
    spec_a.training_model.set_weights(spec.training_model.get_weights())
    results = spec.training_model({"features": x, "labels": y})
    output = c2ae_ranking(y, results["decoded_y"])
    latent = c2ae_latent(results["latent_x"], results["latent_y"])
    np.testing.assert_allclose(spec_a.loss(y, results), latent + output / (5 * alpha),
                               rtol=1e-6)


# --- Deep-CPLST ---------------------------------------------------------------------------

def cplst_by_hand():
    # x = -1, -1, 1, 1 is already standardised; the hat matrix's gram is X^T X + I = 5 I.
    x = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    follows_x = np.array([0, 0, 1, 1.0])
    independent = np.array([1, 0, 0, 1.0])  # centred, orthogonal to x and to the bias
    return x, follows_x, independent


# Catches: the eigen-problem set on the wrong matrix (Y^T Y, no hat matrix), ascending order,
# or eigenvectors taken from rows instead of columns.
def test_cplst_projection_hand_cases():
    x, follows_x, independent = cplst_by_hand()
    # Labels (follows_x, independent): X^T Yc = [[2, 0], [0, 0]], M = diag(4/5, 0): top = e0.
    v, mean = vector.cplst_projection(x, np.stack([independent, follows_x], 1), dims=1)
    np.testing.assert_allclose(np.abs(v[:, 0]), [0, 1], atol=1e-6)
    np.testing.assert_allclose(mean, [0.5, 0.5])
    # Two copies of follows_x: M = 4/5 [[1, 1], [1, 1]], top eigenvector (1, 1) / sqrt 2.
    v, _ = vector.cplst_projection(x, np.stack([follows_x, follows_x], 1), dims=1)
    np.testing.assert_allclose(np.abs(v[:, 0]), [2 ** -0.5] * 2, atol=1e-6)


# Catches: the same, on a generic problem: the subspace must be the top-k eigenspace of
# Yc^T X (X^T X + I)^-1 X^T Yc computed independently.
def test_cplst_projection_matches_numpy_eigenspace():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 4)) * [1, 2, 3, 4] + 1
    labels = (rng.random((50, 5)) < 0.4).astype(float)
    labels[:, 0] = features[:, 0] > 1
    v, mean = vector.cplst_projection(features, labels, dims=2)
    xs = (features - features.mean(0)) / features.std(0)
    xs = np.hstack([xs, np.ones((50, 1))])
    hat = xs @ np.linalg.inv(xs.T @ xs + np.eye(5)) @ xs.T
    yc = labels - labels.mean(0)
    values, vectors = np.linalg.eig(yc.T @ hat @ yc)
    top = np.real(vectors[:, np.argsort(-np.real(values))[:2]])
    np.testing.assert_allclose(v @ v.T, top @ top.T, atol=1e-5)
    np.testing.assert_allclose(mean, labels.mean(0), rtol=1e-6)


# Catches: the code-space loss computed in label space, summed instead of averaged over k, or
# the decoder not adding the label mean.
def test_deep_cplst_code_loss_by_hand():
    projection = np.array([[1.0], [0.0]], np.float32)  # the first hand case's V
    spec = vector.build_deep_cplst(1, 2, projection=projection,
                                   label_mean=np.array([0.5, 0.5], np.float32), hidden_units=())
    spec.predictor.get_layer("code").set_weights([np.array([[0.1]], np.float32),
                                                  np.zeros(1, np.float32)])
    scores = spec.predictor(np.array([[2.0]], np.float32))  # code 0.2
    np.testing.assert_allclose(scores, [[0.7, 0.5]], rtol=1e-6)  # code V^T + mean
    # (scores - y) V = 0.7 - 1 = -0.3, i.e. code 0.2 minus target code (1 - 0.5) = 0.5.
    np.testing.assert_allclose(spec.loss(tf.constant([[1.0, 0.0]]), scores), [0.09], rtol=1e-5)
    # k = 2 with V = I / rotated: the mean over the two code entries.
    rotation = np.array([[1, 1], [1, -1]], np.float32) / np.sqrt(2)
    spec2 = vector.build_deep_cplst(1, 2, projection=rotation,
                                    label_mean=np.zeros(2, np.float32), hidden_units=())
    error = np.array([[0.3, -0.1]], np.float32)  # scores - y
    hand = ((0.2 / np.sqrt(2)) ** 2 + (0.4 / np.sqrt(2)) ** 2) / 2
    np.testing.assert_allclose(spec2.loss(tf.zeros((1, 2)), error), [hand], rtol=1e-5)
