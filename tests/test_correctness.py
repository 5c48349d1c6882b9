"""Regression tests: gradients that were silently wrong, valid programs that crashed, and
misuse that must give a clear error. Each expected number is worked out by hand in a comment
(or compared with PyTorch in float64 where it is installed)."""

import numpy as np
import pytest

import chainrule as cr


# ------------------------------------------------------------------ nested transforms
def test_nested_grad_sees_a_traced_variable_through_a_closure():
    # f(x) = x * d/dy (x y) = x^2, so f'(1) = 2.
    assert cr.grad(lambda x: x * cr.grad(lambda y: x * y)(2.0))(1.0) == 2.0


def test_nested_grad_sees_a_traced_variable_through_another_argument():
    # g(x, y) = d/dy (x y) = x; f(x) = x g(x, 3) = x^2, f'(2) = 4.
    g = cr.grad(lambda x, y: x * y, 1)
    assert cr.grad(lambda x: x * g(x, 3.0))(2.0) == 4.0


def test_nested_vjp_and_jvp_close_over_an_outer_variable():
    # d/dx [vjp of (y -> x y^2) at y=3 with cotangent 1] = d/dx (6 x) = 6.
    def outer(x):
        _, pullback = cr.vjp(lambda y: x * y * y, 3.0)
        return pullback(np.array(1.0))[0]

    assert cr.grad(outer)(1.5) == 6.0
    # d/dx [jvp of (y -> x sin y) at y=0, tangent 1] = d/dx (x cos 0) = 1.
    assert cr.grad(lambda x: cr.jvp(lambda y: x * cr.sin(y), (0.0,), (1.0,))[1])(0.7) == 1.0


def test_mixed_partials_by_a_jacobian_of_a_gradient():
    # f = sum x^2 y: d/dy = x^2, d/dx d/dy = diag(2x).
    f = lambda x, y: (x * x * y).sum()  # noqa: E731
    mixed = cr.jacobian(cr.grad(f, 1), 0)(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(mixed, [[2.0, 0.0], [0.0, 4.0]])


def test_triple_nesting_matches_the_closed_form():
    # d^3/dx^3 of x^2 * grad(y -> x y^2)(1) = d^3/dx^3 (2 x^3) = 12.
    f = lambda x: x * x * cr.grad(lambda y: x * y * y)(1.0)  # noqa: E731
    assert cr.grad(cr.grad(cr.grad(f)))(0.3) == pytest.approx(12.0, rel=1e-12)


def test_nested_grad_agrees_with_torch_func():
    torch = pytest.importorskip("torch")
    from torch.func import grad as tgrad

    def ours(x):
        return cr.sin(x) * cr.grad(lambda y: cr.exp(x * y) * y)(0.5)

    def theirs(x):
        return torch.sin(x) * tgrad(lambda y: torch.exp(x * y) * y)(
            torch.tensor(0.5, dtype=x.dtype)
        )

    for x in (0.3, -1.1):
        expected = tgrad(theirs)(torch.tensor(x, dtype=torch.float64)).item()
        assert cr.grad(ours)(x) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------ constant derivatives
def test_second_derivative_of_a_linear_function_is_zero():
    assert cr.grad(cr.grad(lambda x: 3 * x))(2.0) == 0.0


@pytest.mark.parametrize(
    "f",
    [
        lambda x: (2 * x).sum(),
        lambda x: cr.relu(x).sum(),
        lambda x: cr.abs(x).sum(),
        lambda x: x.sum() + 1.0,
    ],
)
def test_hessian_of_a_piecewise_linear_function_is_zero(f):
    np.testing.assert_array_equal(cr.hessian(f)(np.array([1.0, -2.0, 0.5])), np.zeros((3, 3)))


def test_jvp_and_vjp_of_a_constant_function_are_zero():
    value, tangent = cr.jvp(lambda x: np.float64(4.0), (np.ones(2),), (np.ones(2),))
    assert value == 4.0 and tangent == 0.0
    _, pullback = cr.vjp(lambda x: cr.tensor(np.ones(2)), np.ones(3))
    np.testing.assert_array_equal(pullback(np.ones(2))[0], np.zeros(3))


# ------------------------------------------------------------------ pow, std
def test_pow_with_exponent_zero_has_zero_gradient_at_a_zero_base():
    assert cr.grad(lambda x: x**0.0)(0.0) == 0.0
    # x ** 1 = x: first derivative 1, second 0, also at 0.
    assert cr.grad(lambda x: x**1.0)(0.0) == 1.0
    assert cr.grad(cr.grad(lambda x: x**1.0))(0.0) == 0.0
    # x ** 2 at 0: 2x = 0, then 2.
    assert cr.grad(cr.grad(lambda x: x**2.0))(0.0) == 2.0


def test_a_python_number_base_differentiates_the_exponent():
    # d/dy 0.7^y = 0.7^y ln 0.7.
    assert cr.grad(lambda y: 0.7**y)(1.8) == pytest.approx(0.7**1.8 * np.log(0.7), 1e-12)
    t = cr.tensor(np.float32(1.8), requires_grad=True)
    (2**t).backward()
    assert t.grad.dtype == np.float32


def test_std_of_one_element_has_zero_gradient():
    assert cr.grad(lambda x: cr.std(x))(3.5) == 0.0
    np.testing.assert_array_equal(
        cr.grad(lambda x: cr.std(x, axis=0).sum())(np.ones((1, 3))), np.zeros((1, 3))
    )
    # A constant row: the spread is 0 and so is its gradient (PyTorch and autograd agree).
    np.testing.assert_array_equal(cr.grad(lambda x: cr.std(x))(np.full(4, 2.0)), np.zeros(4))


def test_var_and_std_take_pytorch_correction():
    x = np.array([1.0, 2.0, 4.0])
    assert cr.var(x, correction=1) == pytest.approx(np.var(x, ddof=1))
    assert cr.std(cr.tensor(x), ddof=1).item() == pytest.approx(np.std(x, ddof=1))


# ------------------------------------------------------------------ in place
def test_in_place_on_a_non_leaf_keeps_earlier_consumers_right():
    # d = x; d += 3 d  ->  d = 4 x, so dd/dx = 4 (PyTorch gives 4).
    x = cr.tensor(np.array(2.0), requires_grad=True)
    d = x * 1.0
    d += 3 * d
    d.backward()
    assert x.grad.item() == 4.0


def test_in_place_chain_on_a_non_leaf_resolves_each_earlier_state():
    # d0 = 2x; e = d0^2 (recorded before); d1 = d0 + 1; f = d1 * 3; d2 = d1 * 5 (in place).
    # loss = e + f + d2 = 4x^2 + 3(2x+1) + 5(2x+1): d/dx = 8x + 6 + 10 = 8*1.5 + 16 = 28.
    x = cr.tensor(np.array(1.5), requires_grad=True)
    d = x * 2
    e = d * d
    d += 1
    f = d * 3
    d *= 5
    (e + f + d).backward()
    assert x.grad.item() == 28.0


def test_in_place_into_a_constant_buffer_does_not_reach_earlier_consumers():
    # buf was a constant when c was made: c's gradient must not flow into x through buf.
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    buf = cr.zeros(2, dtype=np.float64)
    c = buf * 7.0
    buf += x * x
    (c.sum() + buf.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# ------------------------------------------------------------------ NumPy on Tensors
def test_numpy_ufuncs_and_functions_keep_the_graph():
    x = cr.tensor(np.array([0.5, 1.5]), requires_grad=True)
    y = np.sum(np.exp(x) * np.array([1.0, 2.0]) + np.sin(x))
    assert isinstance(y, cr.Tensor)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.5, 1.5]) * [1, 2] + np.cos([0.5, 1.5]))


def test_array_operators_with_a_tensor_on_the_right_record():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = np.array([3.0, 4.0]) * x + np.array([[1.0, 1.0]]) @ x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0 + 2, 4.0 + 2])


def test_numpy_functions_without_a_gradient_run_on_the_arrays():
    x = cr.tensor(np.array([[1.0, 5.0], [3.0, 2.0]]), requires_grad=True)
    assert np.shape(x) == (2, 2) and np.ndim(x) == 2
    assert np.argmax(x) == 1 and np.allclose(x, x.data)
    assert (np.floor(x) == np.floor(x.data)).data.all()


def test_numpy_functions_without_a_chainrule_version_refuse_instead_of_dropping_the_graph():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(TypeError, match="np.fft"):
        np.fft.fft(x)
    with pytest.raises(TypeError, match="np.frexp"):
        np.frexp(x)


def test_untracked_tensors_go_through_numpy_in_place():
    # No gradient is recorded, so NumPy may write into the array (an optimizer's update).
    buffer = np.ones(2)
    buffer -= 0.5 * cr.tensor(np.array([2.0, 4.0]))
    np.testing.assert_array_equal(buffer, [0.0, -1.0])
    with pytest.raises(TypeError, match="out="):
        np.multiply(cr.tensor(np.ones(2), requires_grad=True), 2.0, out=np.empty(2))


# ------------------------------------------------------------------ dtypes
def test_complex_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="complex"):
        cr.tensor(np.array([1 + 1j]), requires_grad=True)
    with pytest.raises(TypeError, match="complex"):
        cr.grad(lambda z: (z * z).sum())(np.array([1 + 1j]))


def test_a_complex_gradient_for_a_real_output_is_refused():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(TypeError, match="complex gradient"):
        (x * 2).backward(np.array([1 + 1j, 1.0]))


def test_astype_to_an_integer_or_bool_cuts_the_graph():
    x = cr.tensor(np.array([1.5, -2.5]), requires_grad=True)
    for dtype in (np.int64, np.int8, bool):
        y = x.astype(dtype)
        assert not y.requires_grad and y.dtype == np.dtype(dtype)
    assert x.astype(np.float32).requires_grad


def test_numpy_scalars_keep_their_dtype():
    assert cr.tensor(np.float64(0.1)).dtype == np.float64
    assert cr.tensor(np.float16(0.1)).dtype == np.float16
    assert cr.tensor(0.1).dtype == np.float32  # a Python float defaults to float32


def test_where_with_a_tensor_condition_returns_a_tensor():
    out = cr.where(cr.tensor([1.0, 3.0]) > 2, 4, 2)
    assert isinstance(out, cr.Tensor)
    np.testing.assert_array_equal(out.numpy(), [2, 4])


def test_float32_sigmoid_is_accurate_over_the_whole_range():
    x = np.linspace(-100, 40, 2801).astype(np.float32)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))  # of the same float32 inputs
    ours = cr.sigmoid(cr.tensor(x)).numpy().astype(np.float64)
    normal = exact > np.finfo(np.float32).tiny  # below that, float32 holds subnormals only
    relative = np.abs(ours[normal] - exact[normal]) / exact[normal]
    assert relative.max() < 4 * np.finfo(np.float32).eps  # a few roundings of exp and divide


def test_float16_mean_accumulates_in_float32():
    x = cr.tensor(np.full(70_000, 1.5, np.float16), requires_grad=True)
    m = x.mean()
    assert m.dtype == np.float16 and m.item() == 1.5
    m.backward()
    assert x.grad.dtype == np.float16 and np.isfinite(x.grad.numpy()).all()


def test_max_with_a_nan_sends_the_gradient_to_the_nan():
    x = cr.tensor(np.array([1.0, np.nan, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


# ------------------------------------------------------------------ clear errors
@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.sum(axis=2),
        lambda x: cr.transpose(x, (0, 5)),
        lambda x: cr.swapaxes(x, 0, 3),
        lambda x: cr.stack([x, x], axis=4),
        lambda x: cr.split(x, 2, axis=2),
        lambda x: cr.concatenate([x, x], axis=-3),
        lambda x: x.mean(axis=-3),
    ],
)
def test_an_out_of_range_axis_is_an_axis_error(call):
    with pytest.raises(np.exceptions.AxisError, match="out of range"):
        call(cr.ones((2, 4)))
    with pytest.raises(cr.ShapeError):
        call(cr.ones((2, 4)))


def test_a_non_integer_axis_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="axis must be an int"):
        cr.sum(cr.ones((2, 3)), axis=1.0)


@pytest.mark.parametrize("sections", [0, -2])
def test_split_into_no_or_negative_sections_is_a_value_error(sections):
    with pytest.raises(ValueError, match="split: the number of sections must be positive"):
        cr.split(cr.ones(4), sections)


def test_out_of_range_argnums_is_a_value_error():
    with pytest.raises(ValueError, match="argnums"):
        cr.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)


def test_jvp_checks_its_tangents():
    with pytest.raises(ValueError, match="1 tangents for 2 primals"):
        cr.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        cr.jvp(lambda x: x * 2, (np.ones(3),), (np.ones(2),))


def test_gradcheck_with_nothing_to_check_raises():
    with pytest.raises(ValueError, match="no input requires grad"):
        cr.gradcheck(lambda x: x * 2, [cr.tensor(np.ones(2))])


def test_transforms_pass_keyword_arguments_through():
    f = lambda x, scale=1.0: (scale * x * x).sum()  # noqa: E731
    np.testing.assert_array_equal(cr.grad(f)(np.array([1.0, 2.0]), scale=3.0), [6.0, 12.0])
    value, g = cr.value_and_grad(f)(np.array([1.0]), scale=2.0)
    assert value == 2.0 and g == 4.0


def test_numpy_of_a_tensor_that_requires_grad_is_read_only():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.numpy()[0] = 10.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    x.numpy(force_writable=True)[0] = 10.0  # the documented way to write anyway
    assert x.data[0] == 10.0
    assert cr.tensor([1.0]).numpy().flags.writeable  # no graph: the array itself


STALE = "modified by an in-place operation"


@pytest.mark.parametrize(
    "write",
    [
        lambda d: d.__setitem__(0, 5.0),
        lambda d: d.__iadd__(1.0),
        lambda d: np.multiply(d, 2.0, out=d),
        lambda d: np.copyto(d, np.zeros(2)),
        lambda d: d.fill(0.0),
        lambda d: d[::-1].__setitem__(slice(None), 1.0),  # a view of the watched view
        lambda d: d.reshape(2, 1).__setitem__((0, 0), 1.0),
    ],
    ids=["setitem", "iadd", "ufunc out=", "copyto", "fill", "view", "reshape"],
)
def test_writes_through_data_are_seen_by_the_graph_that_saved_it(write):
    # Issue #15: writing into .data while a graph holds the values must not silently
    # give a gradient computed from the changed values; PyTorch misses these writes.
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    write(x.data)
    with pytest.raises(RuntimeError, match=STALE):
        y.backward()


def test_writes_through_data_of_inputs_and_intermediates_are_seen():
    batch = cr.tensor(np.ones((2, 2)))  # no grad of its own, but matmul saved it for dW
    w = cr.tensor(np.eye(2), requires_grad=True)
    loss = (batch @ w).sum()
    batch.data[:] = 3.0
    with pytest.raises(RuntimeError, match=STALE):
        loss.backward()
    x = cr.tensor(np.ones(3), requires_grad=True)
    e = cr.exp(x)  # saves its output
    total = e.sum()
    e.data += 1.0
    with pytest.raises(RuntimeError, match=STALE):
        total.backward()


def test_data_outside_a_live_graph_is_the_plain_array():
    # The training loop's update after backward costs nothing extra and gives exact values.
    w = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        assert type(w.data) is not np.ndarray  # saved by the live graph: watched
        loss.backward()
        assert type(w.data) is np.ndarray
        w.data -= 0.25 * w.grad.data
        w.grad = None
    np.testing.assert_array_equal(w.data, np.array([1.0, -2.0]) * 0.5**3)
    assert w._version == 0  # nothing saved the values when they changed


def test_values_read_from_watched_data_are_plain_arrays():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    d = x.data
    for value in (d * 2, np.exp(d), d.copy(), d.astype(np.float32), np.zeros_like(d)):
        assert type(value) is np.ndarray
    x.data = np.array([7.0, 8.0])  # replacing the array leaves the saved one intact
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # from the saved values
    assert x.data.tolist() == [7.0, 8.0]


def test_numpy_index_helpers_refuse_tracked_tensors():
    t = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    for build in (lambda: np.r_[t, t], lambda: np.c_[t, t]):
        with pytest.raises(TypeError, match="cr.concatenate"):
            build()
    np.testing.assert_array_equal(np.r_[cr.tensor(np.array([1.0])), 2.0], [1.0, 2.0])


# ------------------------------------------------------------------ transforms, round two
def test_vjp_jvp_and_jacobian_follow_a_tuple_output():
    f = lambda a: (a * 2, a * 3)  # noqa: E731
    x = np.ones(4)
    _, pullback = cr.vjp(f, x)
    np.testing.assert_array_equal(pullback((np.ones(4), np.ones(4)))[0], np.full(4, 5.0))
    _, (t2, t3) = cr.jvp(f, (x,), (np.ones(4),))
    np.testing.assert_array_equal(t2, np.full(4, 2.0))
    np.testing.assert_array_equal(t3, np.full(4, 3.0))
    j2, j3 = cr.jacobian(f)(x)
    np.testing.assert_array_equal(j3, 3 * np.eye(4))
    assert cr.check_grads(lambda a: cr.split(a * a, 2))(np.arange(1.0, 5.0))


def test_forward_mode_through_a_decomposition_matches_differences():
    # jvp differentiates a vjp at a zero cotangent: its factors' terms must not be dropped.
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    f = lambda a: cr.sum(cr.linalg.svdvals(a) ** 3)  # noqa: E731
    eps = 1e-6
    numeric = (cr.grad(f)(x + eps * v) - cr.grad(f)(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(cr.jvp(cr.grad(f), (x,), (v,))[1], numeric, rtol=1e-6)
    u_of = lambda a: (
        cr.linalg.svd(a, full_matrices=False)[0]
        @ cr.linalg.svd(  # noqa: E731
            a, full_matrices=False
        )[2]
    )
    assert cr.check_grads(u_of)(x)


@pytest.mark.parametrize(
    "leave", [np.asarray, np.array, float, lambda t: t.item(), lambda t: np.array([t, t])]
)
def test_leaving_the_graph_inside_a_transform_is_an_error(leave):
    with pytest.raises(TypeError, match="cut it from the graph"):
        cr.grad(lambda a: cr.tensor(leave(a.sum())) if callable(leave) else a)(np.ones(2))


def test_outside_a_transform_a_tensor_still_converts():
    t = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert float(t.sum()) == 3.0 and np.asarray(t).tolist() == [1.0, 2.0]


def test_grad_of_a_non_scalar_output_is_a_type_error():
    with pytest.raises(TypeError, match="scalar"):
        cr.grad(lambda a: a * 2)(np.zeros(2))
    with pytest.raises(ValueError, match="scalar"):  # also a ValueError, as before
        cr.grad(lambda a: a * 2)(np.zeros(2))


def test_a_comparison_has_zero_gradient():
    # As HIPS autograd: a boolean output is piecewise constant.
    import operator

    for compare in (operator.lt, operator.ge, operator.eq):
        assert cr.grad(compare)(0.7, 1.8) == 0.0
        assert cr.grad(compare, argnums=1)(0.7, 1.8) == 0.0


def test_a_differentiated_argument_may_be_changed_in_place():
    # f(a) = sum of a with a[1] replaced by 3 a[0]: df/da = [4, 0, 1].
    def f(a):
        a[1] = 3 * a[0]
        return a.sum()

    np.testing.assert_array_equal(cr.grad(f)(np.ones(3)), [4.0, 0.0, 1.0])


def test_check_grads_passes_keywords_and_validates_modes():
    assert cr.check_grads(lambda x, axis: cr.sum(x * x, axis=axis))(np.ones((2, 3)), axis=0)
    with pytest.raises(ValueError, match="modes"):
        cr.check_grads(lambda x: x, modes=(0,))(np.ones(2))
    with pytest.raises(cr.GradcheckError, match="reverse mode, order 1"):
        cr.check_grads(
            lambda x: cr.tensor(x.data) * 2 if isinstance(x, cr.Tensor) else x * 2, modes=("rev",)
        )(np.ones(2))


# ------------------------------------------------------------------ PyTorch's conventions
def test_pow_gradients_follow_pytorch_at_infinities_and_zero_bases():
    torch = pytest.importorskip("torch")
    cases = [
        ([np.inf, -np.inf, 0.0, 2.0], 0.0),
        (0.0, [-1.0, -2.0, 0.5, 0.0]),
        (-2.0, [2.0, 3.0]),
        ([0.0, 1.5], [1.0, 1.0]),
    ]
    for base, exponent in cases:
        a, b = np.asarray(base, float), np.asarray(exponent, float)
        ours = [cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)]
        theirs = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
        with np.errstate(all="ignore"):
            (ours[0] ** ours[1]).sum().backward()
        (theirs[0] ** theirs[1]).sum().backward()
        for o, t in zip(ours, theirs):
            np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())


def test_tensor_methods_take_pytorchs_shape_conventions():
    x = cr.ones((2, 3, 4))
    assert x.transpose(1, 2).shape == (2, 4, 3)  # two dims of an N-d tensor: swapped
    assert x.permute(2, 0, 1).shape == (4, 2, 3)
    assert cr.ones((4, 3)).squeeze(1).shape == (4, 3)  # not of length 1: kept
    assert cr.ones((4, 1, 6, 1)).squeeze((0, 1)).shape == (4, 6, 1)
    v = cr.tensor(np.arange(4.0))
    np.testing.assert_array_equal(v.flip(()).numpy(), v.numpy())  # no dims: unchanged
    with pytest.raises(ValueError, match="one shift per dim"):
        v.roll((1, 2), 0)


def test_var_and_std_methods_are_unbiased_by_default_as_pytorch():
    v = cr.tensor(np.arange(4.0))
    assert v.var().item() == pytest.approx(np.var(np.arange(4.0), ddof=1))
    assert v.std(correction=0).item() == pytest.approx(np.std(np.arange(4.0)))
    assert v.var(ddof=0).item() == cr.var(v).item() == 1.25  # NumPy's names: NumPy's default


def test_shape_errors_are_runtime_errors_too_as_in_pytorch():
    with pytest.raises(RuntimeError):
        cr.ones((2, 3)) @ cr.ones((2, 3))
    with pytest.raises(ValueError):
        cr.ones((2, 3)) @ cr.ones((2, 3))
