"""The worked examples of the backpropagation notes, checked against their hand-derived results.

Everything is float64: the hand formulas and the engine then agree to rounding error, so the
tolerances below (1e-12 relative unless stated) only absorb a different summation order.
"""

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(1986)
TIGHT = {"rtol": 1e-12, "atol": 1e-12}


def leaf(values):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ----------------------------------------------------------------------- gates
def test_the_first_circuit_gives_f_minus_12_and_gradients_minus_4_minus_4_and_3():
    x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
    q = x + y
    q.retain_grad()
    f = q * z
    assert f.grad_fn.name == "mul" and q.grad_fn.name == "add"
    f.backward()
    assert f.item() == -12.0
    assert q.grad.item() == -4.0  # df/dq = z
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_add_distributes_mul_swaps_and_max_routes():
    # f = 2 (x y + max(z, w)) at x=3, y=-4, z=2, w=-1.
    x, y, z, w = leaf(3.0), leaf(-4.0), leaf(2.0), leaf(-1.0)
    f = 2 * (x * y + cr.maximum(z, w))
    f.backward()
    assert f.item() == 2 * (3 * -4 + 2)
    assert x.grad.item() == 2 * -4.0  # mul swaps: dx gets y
    assert y.grad.item() == 2 * 3.0  # and dy gets x
    assert z.grad.item() == 2.0  # max routes the whole gradient to the larger input
    assert w.grad.item() == 0.0


def test_the_max_gate_routes_to_whichever_input_is_larger():
    a, b = leaf([1.0, 5.0, -2.0]), leaf([4.0, 0.0, -3.0])
    upstream = np.array([10.0, 20.0, 30.0])
    cr.maximum(a, b).backward(upstream)
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 20.0, 30.0])
    np.testing.assert_array_equal(b.grad.numpy(), [10.0, 0.0, 0.0])


def test_downstream_is_upstream_times_local_along_a_chain():
    x_np = np.array([-0.7, 0.2, 1.3])
    x = leaf(x_np)
    s = x.sin()
    e = s.exp()
    s.retain_grad()
    e.sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), np.exp(np.sin(x_np)), **TIGHT)  # local: e^s
    np.testing.assert_allclose(x.grad.numpy(), np.exp(np.sin(x_np)) * np.cos(x_np), **TIGHT)


# ----------------------------------------------------------------------- matrices
def test_y_equals_x_w_with_unit_upstream_gives_column_sums_of_x():
    x_np, w_np = RNG.standard_normal((5, 3)), RNG.standard_normal((3, 2))
    x, w = leaf(x_np), leaf(w_np)
    (x @ w).backward(np.ones((5, 2)))
    np.testing.assert_allclose(w.grad.numpy(), x_np.T @ np.ones((5, 2)), **TIGHT)
    # Every column of dW is the vector of X's column sums; every row of dX is W's row sums.
    for column in w.grad.numpy().T:
        np.testing.assert_allclose(column, x_np.sum(axis=0), **TIGHT)
    for row in x.grad.numpy():
        np.testing.assert_allclose(row, w_np.sum(axis=1), **TIGHT)


def test_matmul_gradients_are_x_transpose_dy_and_dy_w_transpose():
    x_np, w_np = RNG.standard_normal((6, 4)), RNG.standard_normal((4, 3))
    dy = RNG.standard_normal((6, 3))
    x, w = leaf(x_np), leaf(w_np)
    (x @ w).backward(dy)
    np.testing.assert_allclose(w.grad.numpy(), x_np.T @ dy, **TIGHT)
    np.testing.assert_allclose(x.grad.numpy(), dy @ w_np.T, **TIGHT)


def test_a_bias_broadcast_over_m_samples_gets_the_sum_over_the_batch():
    m = 7
    x_np, w_np, b_np = RNG.standard_normal((m, 4)), RNG.standard_normal((4, 3)), np.zeros(3)
    dy = RNG.standard_normal((m, 3))
    b = leaf(b_np)
    (cr.tensor(x_np) @ cr.tensor(w_np) + b).backward(dy)
    assert b.grad.shape == (3,)
    np.testing.assert_allclose(b.grad.numpy(), dy.sum(axis=0), **TIGHT)
    column_bias = leaf(np.zeros((3, 1)))  # samples in columns: b of shape (n, 1)
    (cr.tensor(w_np.T @ x_np.T) + column_bias).backward(dy.T)
    np.testing.assert_allclose(column_bias.grad.numpy(), dy.T.sum(axis=1, keepdims=True), **TIGHT)


# ----------------------------------------------------------------------- matrix calculus
def _invertible(n=3):
    return RNG.uniform(-1.0, 1.0, (n, n)) + n * np.eye(n)


def test_derivative_of_the_determinant_is_det_times_inverse_transpose():
    x_np = _invertible()
    x = leaf(x_np)
    cr.linalg.det(x).backward()
    # Inverting a well-conditioned 3x3 costs a few ulps: 1e-10 relative is ample.
    np.testing.assert_allclose(
        x.grad.numpy(), np.linalg.det(x_np) * np.linalg.inv(x_np).T, rtol=1e-10
    )


def test_derivative_of_the_trace_is_the_identity():
    x = leaf(RNG.standard_normal((4, 4)))
    x.trace().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(4))


def test_derivative_of_log_abs_det_is_the_inverse_transpose():
    x_np = -_invertible()  # a negative determinant: the rule holds for |X|
    x = leaf(x_np)
    sign, logdet = cr.linalg.slogdet(x)
    logdet.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.linalg.inv(x_np).T, rtol=1e-10)


def test_trace_rules_for_products():
    a_np, x_np = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))
    x = leaf(x_np)
    (cr.tensor(a_np) @ x).trace().backward()  # d tr(AX)/dX = A^T
    np.testing.assert_allclose(x.grad.numpy(), a_np.T, **TIGHT)
    x.grad = None
    (x.T @ cr.tensor(a_np) @ x).trace().backward()  # d tr(X^T A X)/dX = (A + A^T) X
    np.testing.assert_allclose(x.grad.numpy(), (a_np + a_np.T) @ x_np, **TIGHT)
    x.grad = None
    u, v = RNG.standard_normal(3), RNG.standard_normal(3)
    (cr.tensor(u) @ x @ cr.tensor(v)).backward()  # d u^T X v / dX = u v^T
    np.testing.assert_allclose(x.grad.numpy(), np.outer(u, v), **TIGHT)


def test_elementwise_function_of_a_matrix_gives_a_hadamard_product():
    x_np, dy = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    x = leaf(x_np)
    x.tanh().backward(dy)  # dX = dY * f'(X), elementwise
    np.testing.assert_allclose(x.grad.numpy(), dy * (1 - np.tanh(x_np) ** 2), **TIGHT)


# ----------------------------------------------------------------------- logistic regression
def _logistic_data(m=32, n=4):
    x = RNG.standard_normal((m, n))
    y = (RNG.uniform(size=m) < sigmoid(x @ RNG.standard_normal(n))).astype(np.float64)
    return x, y


def _bce(a, y):
    return -(y * a.log() + (1 - y) * (1 - a).log()).mean()


def test_sigmoid_with_binary_cross_entropy_gives_dz_equal_a_minus_y():
    x_np, y_np = _logistic_data()
    m = len(y_np)
    w, b = leaf(RNG.standard_normal(4) * 0.1), leaf(0.0)
    z = cr.tensor(x_np) @ w + b
    z.retain_grad()
    a = z.sigmoid()
    _bce(a, cr.tensor(y_np)).backward()
    residual = a.numpy() - y_np
    # The mean over m samples scales each sample's dz = a - y by 1/m.
    np.testing.assert_allclose(z.grad.numpy(), residual / m, **TIGHT)
    np.testing.assert_allclose(w.grad.numpy(), (x_np * residual[:, None]).mean(axis=0), **TIGHT)
    np.testing.assert_allclose(b.grad.numpy(), residual.mean(), **TIGHT)


def test_logistic_regression_trained_with_these_gradients_lowers_the_loss():
    x_np, y_np = _logistic_data(m=64)
    w, b = leaf(np.zeros(4)), leaf(0.0)
    losses = []
    for _ in range(50):
        loss = _bce((cr.tensor(x_np) @ w + b).sigmoid(), cr.tensor(y_np))
        losses.append(loss.item())
        w.grad = b.grad = None
        loss.backward()
        with cr.no_grad():
            w -= 0.5 * w.grad
            b -= 0.5 * b.grad
    assert losses[0] == pytest.approx(np.log(2))  # zero weights: a = 1/2 everywhere
    assert losses[-1] < losses[0] - 0.05
    assert all(later <= earlier + 1e-12 for earlier, later in zip(losses, losses[1:]))


# ----------------------------------------------------------------------- L-layer network
SIZES = [4, 5, 3, 2]  # input, two hidden layers, output: three sigmoid layers


def _network(m=6):
    weights = [RNG.standard_normal((n_out, n_in)) * 0.8 for n_in, n_out in zip(SIZES, SIZES[1:])]
    biases = [RNG.standard_normal((n_out, 1)) * 0.1 for n_out in SIZES[1:]]
    x = RNG.standard_normal((SIZES[0], m))  # samples in columns
    y = RNG.uniform(size=(SIZES[-1], m))
    return weights, biases, x, y


def _hand_backprop(weights, biases, x, y):
    """The notes' formulas: dZ^L = dC/dA^L * s'(Z^L), dW^l = dZ^l A^(l-1)^T, db^l = dZ^l 1."""
    m = x.shape[1]
    activations, pre = [x], []
    for w, b in zip(weights, biases):
        pre.append(w @ activations[-1] + b)
        activations.append(sigmoid(pre[-1]))
    d_a = (activations[-1] - y) / m  # C = 1/(2m) sum ||A^L - Y||^2
    d_ws, d_bs = [], []
    for layer in reversed(range(len(weights))):
        s = sigmoid(pre[layer])
        d_z = d_a * s * (1 - s)
        d_ws.insert(0, d_z @ activations[layer].T)
        d_bs.insert(0, d_z @ np.ones((m, 1)))
        d_a = weights[layer].T @ d_z
    return d_ws, d_bs, d_a


def test_three_layer_network_gradients_match_the_l_layer_formulas():
    weights, biases, x_np, y_np = _network()
    ws, bs = [leaf(w) for w in weights], [leaf(b) for b in biases]
    x = leaf(x_np)
    a = x
    for w, b in zip(ws, bs):
        a = (w @ a + b).sigmoid()
    cost = ((a - cr.tensor(y_np)) ** 2).sum() / (2 * x_np.shape[1])
    cost.backward()
    d_ws, d_bs, d_x = _hand_backprop(weights, biases, x_np, y_np)
    for w, b, d_w, d_b in zip(ws, bs, d_ws, d_bs):
        assert w.grad.shape == w.shape and b.grad.shape == b.shape == (b.shape[0], 1)
        np.testing.assert_allclose(w.grad.numpy(), d_w, **TIGHT)
        np.testing.assert_allclose(b.grad.numpy(), d_b, **TIGHT)
    np.testing.assert_allclose(x.grad.numpy(), d_x, **TIGHT)


def test_three_layer_network_gradients_match_hips_autograd():
    agrad = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    weights, biases, x_np, y_np = _network()

    def cost_of(params):
        a = x_np
        for w, b in zip(params[:3], params[3:]):
            a = 1 / (1 + anp.exp(-(anp.dot(w, a) + b)))
        return anp.sum((a - y_np) ** 2) / (2 * x_np.shape[1])

    reference = agrad.grad(cost_of)(weights + biases)
    params = [leaf(p) for p in weights + biases]
    a = cr.tensor(x_np)
    for w, b in zip(params[:3], params[3:]):
        a = (w @ a + b).sigmoid()
    (((a - cr.tensor(y_np)) ** 2).sum() / (2 * x_np.shape[1])).backward()
    for ours, theirs in zip(params, reference):
        np.testing.assert_allclose(ours.grad.numpy(), theirs, rtol=1e-10, atol=1e-14)


def test_full_matrix_mini_batch_gradient_is_the_average_of_per_sample_gradients():
    weights, biases, x_np, y_np = _network(m=5)

    def gradients(x_cols, y_cols):
        ws, bs = [leaf(w) for w in weights], [leaf(b) for b in biases]
        a = cr.tensor(x_cols)
        for w, b in zip(ws, bs):
            a = (w @ a + b).sigmoid()
        (((a - cr.tensor(y_cols)) ** 2).sum(axis=0).mean() / 2).backward()
        return [p.grad.numpy() for p in ws + bs]

    batch = gradients(x_np, y_np)
    per_sample = [gradients(x_np[:, [i]], y_np[:, [i]]) for i in range(x_np.shape[1])]
    for k, g in enumerate(batch):
        np.testing.assert_allclose(
            g, np.mean([sample[k] for sample in per_sample], axis=0), **TIGHT
        )
