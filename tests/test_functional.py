"""Function transforms (grad, value_and_grad, vjp, jvp, jacobian, hessian) and gradient checks."""

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.registry import Op, data_of

RNG = np.random.default_rng(2718)
A = RNG.standard_normal((3, 3))


def cubic_sum(x):
    return (x**3).sum()


# ----------------------------------------------------------------------- grad
def test_grad_of_an_ndarray_is_an_ndarray():
    x = np.array([1.0, -2.0, 0.5])
    g = cr.grad(cubic_sum)(x)
    assert type(g) is np.ndarray and g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-12)


def test_grad_of_a_tensor_is_a_tensor():
    x = cr.tensor(np.array([1.0, -2.0, 0.5]))
    g = cr.grad(cubic_sum)(x)
    assert isinstance(g, cr.Tensor)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2, rtol=1e-12)


def test_grad_of_python_numbers_gives_float64_values():
    assert float(cr.grad(lambda x: x**3)(2.0)) == 12.0
    assert float(cr.grad(lambda x: x**2)(3)) == 6.0  # ints are promoted to float64


def test_grad_keeps_float32_inputs_in_float32():
    g = cr.grad(cubic_sum)(np.array([1.0, 2.0], dtype=np.float32))
    assert g.dtype == np.float32


def test_grad_with_several_argnums_returns_a_tuple():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    gx, gy = cr.grad(lambda a, b: (a * b * b).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, y * y)
    np.testing.assert_allclose(gy, 2 * x * y)
    (only_y,) = cr.grad(lambda a, b: (a * b).sum(), argnums=(1,))(x, y)
    np.testing.assert_allclose(only_y, x)


def test_grad_of_an_unused_argument_is_zero():
    ga, gb = cr.grad(lambda a, b: (a * 2).sum(), argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(ga, [2.0, 2.0])
    np.testing.assert_array_equal(gb, np.zeros(3))


def test_value_and_grad_returns_both():
    x = np.array([1.0, 3.0])
    value, g = cr.value_and_grad(lambda t: (t**2).sum())(x)
    assert float(value) == 10.0
    np.testing.assert_array_equal(g, [2.0, 6.0])


def test_grad_needs_a_scalar_result():
    with pytest.raises(ValueError, match="scalar"):
        cr.grad(lambda t: t * 2)(np.ones(3))


def test_a_function_that_ignores_its_input_has_zero_gradient():
    # As HIPS autograd and torch.func: d/dx of a constant is 0, not an error.
    np.testing.assert_array_equal(cr.grad(lambda t: 3.0)(np.ones(3)), np.zeros(3))


def test_transforms_leave_inputs_and_their_grad_untouched():
    array = np.array([0.5, -1.5])
    tensor = cr.tensor(array.copy(), requires_grad=True)
    cr.grad(cubic_sum)(array)
    cr.grad(cubic_sum)(tensor)
    cr.hessian(cubic_sum)(tensor)
    np.testing.assert_array_equal(array, [0.5, -1.5])
    np.testing.assert_array_equal(tensor.numpy(), [0.5, -1.5])
    assert tensor.grad is None


# ----------------------------------------------------------------------- nesting
def test_grad_of_grad_gives_higher_derivatives():
    x = 0.7
    d2 = cr.grad(cr.grad(lambda t: t.sin()))(x)
    d3 = cr.grad(cr.grad(cr.grad(lambda t: t.sin())))(x)
    np.testing.assert_allclose(d2, -np.sin(x), rtol=1e-12)
    np.testing.assert_allclose(d3, -np.cos(x), rtol=1e-12)
    assert float(cr.grad(cr.grad(cr.grad(lambda t: t**4)))(2.0)) == 48.0


def test_grad_of_grad_of_a_tensor_stays_a_tensor():
    x = cr.tensor(np.array(0.3))
    d2 = cr.grad(cr.grad(lambda t: t.tanh()))(x)
    t = np.tanh(0.3)
    assert isinstance(d2, cr.Tensor)
    np.testing.assert_allclose(d2.numpy(), -2 * t * (1 - t * t), rtol=1e-12)


def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose():
    x = RNG.standard_normal(3)

    def quadratic(v):
        return v @ cr.tensor(A) @ v

    hessian = cr.hessian(quadratic)(x)
    assert hessian.shape == (3, 3)
    np.testing.assert_allclose(hessian, A + A.T, rtol=1e-12, atol=1e-12)
    hessian_t = cr.hessian(quadratic)(cr.tensor(x))
    assert isinstance(hessian_t, cr.Tensor)
    np.testing.assert_allclose(hessian_t.numpy(), A + A.T, rtol=1e-12, atol=1e-12)


def test_hessian_of_a_matmul_network_matches_the_closed_form():
    w = RNG.standard_normal(3)
    hessian = cr.hessian(lambda v: (cr.tensor(A) @ v).tanh().sum())(w)
    t = np.tanh(A @ w)
    np.testing.assert_allclose(
        hessian, A.T @ np.diag(-2 * t * (1 - t * t)) @ A, rtol=1e-10, atol=1e-12
    )


def test_grad_through_a_jacobian_nests():
    x = cr.tensor(np.array([1.0, 2.0]))
    g = cr.grad(lambda v: cr.jacobian(lambda u: u**3)(v).sum())(x)
    np.testing.assert_allclose(g.numpy(), 6 * x.numpy())  # d/dx sum(diag(3x^2)) = 6x


# ----------------------------------------------------------------------- vjp, jvp, jacobian
def vector_function(x, y):
    return (cr.tensor(A) @ x).sin() * y + x * x


def test_jacobian_has_output_shape_then_input_shape():
    jac = cr.jacobian(lambda v: v.reshape(2, 3) * 2)(np.arange(6.0))
    assert jac.shape == (2, 3, 6)
    np.testing.assert_array_equal(jac.reshape(6, 6), 2 * np.eye(6))
    jx, jy = cr.jacobian(lambda a, b: a @ b, argnums=(0, 1))(np.ones((2, 3)), np.ones(3))
    assert jx.shape == (2, 2, 3) and jy.shape == (2, 3)


def test_jacobian_matches_the_closed_form():
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    jac_x, jac_y = cr.jacobian(vector_function, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(jac_x, np.diag(y * np.cos(A @ x)) @ A + np.diag(2 * x), rtol=1e-12)
    np.testing.assert_allclose(jac_y, np.diag(np.sin(A @ x)), rtol=1e-12)


def test_jvp_equals_the_jacobian_times_the_tangent():
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    tx, ty = RNG.standard_normal(3), RNG.standard_normal(3)
    jac_x, jac_y = cr.jacobian(vector_function, argnums=(0, 1))(x, y)
    value, tangent = cr.jvp(vector_function, (x, y), (tx, ty))
    assert type(value) is np.ndarray and type(tangent) is np.ndarray
    np.testing.assert_allclose(value, vector_function(cr.tensor(x), cr.tensor(y)).numpy())
    np.testing.assert_allclose(tangent, jac_x @ tx + jac_y @ ty, rtol=1e-10)


def test_jvp_of_tensors_gives_tensors():
    value, tangent = cr.jvp(
        lambda v: v.exp(), (cr.tensor(np.array([0.0, 1.0])),), (cr.tensor(np.array([1.0, 2.0])),)
    )
    assert isinstance(value, cr.Tensor) and isinstance(tangent, cr.Tensor)
    np.testing.assert_allclose(tangent.numpy(), [1.0, 2 * np.e])


def test_vjp_equals_the_cotangent_times_the_jacobian_and_can_be_reused():
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    jac_x, jac_y = cr.jacobian(vector_function, argnums=(0, 1))(x, y)
    value, pullback = cr.vjp(vector_function, x, y)
    assert type(value) is np.ndarray
    for _ in range(2):  # the pullback keeps its graph
        u = RNG.standard_normal(3)
        gx, gy = pullback(u)
        np.testing.assert_allclose(gx, u @ jac_x, rtol=1e-10)
        np.testing.assert_allclose(gy, u @ jac_y, rtol=1e-10)


def test_vjp_of_tensors_gives_tensors():
    value, pullback = cr.vjp(lambda v: v * 3, cr.tensor(np.ones(2)))
    (g,) = pullback(cr.tensor(np.array([1.0, 2.0])))
    assert isinstance(value, cr.Tensor) and isinstance(g, cr.Tensor)
    np.testing.assert_array_equal(g.numpy(), [3.0, 6.0])


# ----------------------------------------------------------------------- references
def test_transforms_agree_with_hips_autograd():
    agrad = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    b = RNG.standard_normal(3)

    def reference(x):
        z = anp.dot(A, anp.tanh(x)) + b
        return anp.log(anp.sum(anp.exp(z))) + anp.sum(x**2 * anp.sin(x))

    def ours(x):
        z = cr.tensor(A) @ x.tanh() + cr.tensor(b)
        return cr.logsumexp(z) + (x**2 * x.sin()).sum()

    x = RNG.standard_normal(3)
    np.testing.assert_allclose(cr.grad(ours)(x), agrad.grad(reference)(x), rtol=1e-10)
    np.testing.assert_allclose(
        cr.hessian(ours)(x), agrad.hessian(reference)(x), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        cr.jacobian(lambda v: (cr.tensor(A) @ v).tanh())(x),
        agrad.jacobian(lambda v: anp.tanh(anp.dot(A, v)))(x),
        rtol=1e-10,
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised by torch's own import
def test_transforms_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal(3)
    tangent = RNG.standard_normal(3)

    def ours(v):
        return ((cr.tensor(A) @ v).softmax() * v.sigmoid()).sum()

    def theirs(v):
        return (torch.softmax(torch.tensor(A) @ v, dim=-1) * torch.sigmoid(v)).sum()

    xt = torch.tensor(x)
    np.testing.assert_allclose(cr.grad(ours)(x), torch.func.grad(theirs)(xt).numpy(), rtol=1e-10)
    np.testing.assert_allclose(
        cr.hessian(ours)(x), torch.func.hessian(theirs)(xt).numpy(), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        cr.jvp(lambda v: (cr.tensor(A) @ v).softmax(), (x,), (tangent,))[1],
        torch.func.jvp(
            lambda v: torch.softmax(torch.tensor(A) @ v, dim=-1), (xt,), (torch.tensor(tangent),)
        )[1].numpy(),
        rtol=1e-10,
        atol=1e-12,
    )


# ----------------------------------------------------------------------- gradient checking
def _unregistered_op(name, forward, vjp):
    """An op built outside the registry (so the generated suite does not pick it up)."""
    return Op(name, forward, (vjp,), spec=None)


# sin with a rule 10% too large: wrong at first order.
_wrong_sin = _unregistered_op("wrong_sin", np.sin, lambda g, out, a: g * 1.1 * cr.cos(a))
# sin whose rule reads plain values: right at first order, but its own gradient is lost,
# so second derivatives come out as zero.
_flat_sin = _unregistered_op("flat_sin", np.sin, lambda g, out, a: g * np.cos(data_of(a)))


def test_gradcheck_accepts_correct_functions():
    # Defaults eps=1e-6, atol=1e-5, rtol=1e-3: central differences in float64 err by ~1e-10
    # on these smooth functions, so the check has a wide margin and still catches 1% errors.
    x, w = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
    assert cr.gradcheck(lambda a, b: (a @ b).tanh(), [x, w])
    assert cr.gradcheck(lambda a: cr.log_softmax(a, axis=0), [x])
    assert cr.gradcheck(lambda a: (a.sin() * a).sum(), cr.tensor(x[0], requires_grad=True))
    assert cr.gradcheck(_flat_sin, [x])


def test_gradgradcheck_accepts_correct_second_derivatives():
    x, w = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
    assert cr.gradgradcheck(lambda a, b: (a @ b).tanh(), [x, w])
    assert cr.gradgradcheck(lambda a: cr.softmax(a * a, axis=1), [x])


def _parse(message):
    match = re.search(
        r"input (\d+), element \(([\d, ]*)\).*analytic (\S+) vs numeric (\S+)", message
    )
    assert match, message
    element = tuple(int(i) for i in match.group(2).split(",") if i.strip())
    return int(match.group(1)), element, float(match.group(3)), float(match.group(4))


def test_gradcheck_reports_input_element_and_both_values_for_a_wrong_rule():
    x = np.array([0.3, -1.2, 2.0])
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(lambda a: _wrong_sin(a).sum(), [x])
    index, element, analytic, numeric = _parse(str(info.value))
    # The worst element is where |cos x| is largest (the 10% error is largest there).
    assert (index, element) == (0, (0,))
    np.testing.assert_allclose(analytic, 1.1 * np.cos(0.3), rtol=1e-8)
    np.testing.assert_allclose(numeric, np.cos(0.3), rtol=1e-6)


def test_gradcheck_names_the_input_whose_gradient_is_wrong():
    def f(a, b):
        b_scaled = b * 1.0
        b_scaled.register_hook(lambda grad: grad * 2)  # doubles b's gradient only
        return (a * b_scaled).sum()

    a, b = np.array([1.0, 2.0]), np.array([[3.0, 4.0], [5.0, 6.0]])
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(f, [a, b])
    index, element, analytic, numeric = _parse(str(info.value))
    assert index == 1 and element[1] == 1  # the largest a[j] multiplies column 1
    np.testing.assert_allclose([analytic, numeric], [4.0, 2.0], rtol=1e-6)


def test_gradcheck_skips_tensors_that_do_not_require_grad():
    def f(a, b):
        b_scaled = b * 1.0
        return (a * b_scaled).sum()

    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([3.0, 4.0]))
    assert cr.gradcheck(f, [a, b])


def test_gradgradcheck_catches_a_rule_that_is_only_right_at_first_order():
    x = np.array([0.4, -0.9])
    assert cr.gradcheck(lambda a: _flat_sin(a), [x])
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradgradcheck(lambda a: _flat_sin(a), [x])
    index, element, analytic, numeric = _parse(str(info.value))
    assert index == 0
    assert analytic == 0.0  # the lost second derivative
    assert abs(numeric) > 0.1


def test_gradcheck_of_a_hook_scaled_gradient_fails():
    def f(a):
        h = a * 1.0
        h.register_hook(lambda grad: grad * 1.01)  # a 1% error, above rtol=1e-3
        return (h * h).sum()

    with pytest.raises(cr.GradcheckError, match="input 0"):
        cr.gradcheck(f, [np.array([0.5, -1.0])])
