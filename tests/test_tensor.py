"""Tensor construction, attributes and conversions, and the hand-written checks of the ops.

The op registry's generated suite (test_ops.py) runs gradcheck on every primitive; the
tests here pin down the behaviours a formula check cannot see: dtype rules, ties, repeated
indices, numerical stability at extreme inputs and agreement with NumPy's values.
"""

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(20240601)


def leaf(values):
    """A float64 leaf that requires grad (float64 keeps gradient checks exact)."""
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# ----------------------------------------------------------------------- construction
def test_python_floats_become_float32():
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor([[1.0, 2.0], [3.0, 4.0]]).dtype == np.float32


def test_ndarrays_keep_their_dtype():
    for dtype in (np.float64, np.float32, np.float16, np.int32, np.int64):
        array = np.arange(6, dtype=dtype).reshape(2, 3)
        t = cr.tensor(array)
        assert t.dtype == dtype
        np.testing.assert_array_equal(t.numpy(), array)


def test_python_ints_and_bools_follow_numpy():
    assert cr.tensor([1, 2, 3]).dtype == np.int64
    assert cr.tensor([True, False]).dtype == np.bool_


def test_dtype_argument_overrides_inference():
    assert cr.tensor([1.0, 2.0], dtype=np.float64).dtype == np.float64
    assert cr.tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert cr.tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_tensor_copies_its_data():
    array = np.array([1.0, 2.0])
    t = cr.tensor(array)
    array[0] = 100.0
    assert t.numpy()[0] == 1.0


def test_tensor_of_a_tensor_copies_the_values():
    source = cr.tensor([1.0, 2.0])
    copy = cr.tensor(source)
    copy.numpy()[0] = 5.0
    assert source.numpy()[0] == 1.0


def test_name_and_requires_grad_are_stored():
    t = cr.tensor([1.0], requires_grad=True, name="w")
    assert t.name == "w"
    assert t.requires_grad
    assert not cr.tensor([1.0]).requires_grad


@pytest.mark.parametrize(
    "make, shape, dtype",
    [
        (lambda: cr.zeros(2, 3), (2, 3), np.float32),
        (lambda: cr.zeros((2, 3)), (2, 3), np.float32),
        (lambda: cr.ones(4), (4,), np.float32),
        (lambda: cr.ones((2, 2), dtype=np.float64), (2, 2), np.float64),
        (lambda: cr.randn(3, 5), (3, 5), np.float32),
        (lambda: cr.randn((3, 5), dtype=np.float64), (3, 5), np.float64),
        (lambda: cr.eye(3), (3, 3), np.float32),
        (lambda: cr.eye(2, 4), (2, 4), np.float32),
        (lambda: cr.arange(5), (5,), np.int64),
        (lambda: cr.arange(0.0, 1.0, 0.25), (4,), np.float32),
    ],
)
def test_creation_functions_give_the_shape_and_dtype(make, shape, dtype):
    t = make()
    assert t.shape == shape
    assert t.dtype == dtype
    assert t.is_leaf and not t.requires_grad


def test_creation_functions_fill_the_expected_values():
    np.testing.assert_array_equal(cr.zeros(2, 2).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(cr.ones(3).numpy(), np.ones(3))
    np.testing.assert_array_equal(cr.eye(3).numpy(), np.eye(3))
    np.testing.assert_array_equal(cr.arange(2, 11, 3).numpy(), np.arange(2, 11, 3))
    np.testing.assert_allclose(cr.arange(0.0, 1.0, 0.25).numpy(), [0.0, 0.25, 0.5, 0.75])


def test_randn_is_standard_normal_and_reproducible_with_a_seed():
    cr.manual_seed(7)
    first = cr.randn(20000, dtype=np.float64).numpy()
    cr.manual_seed(7)
    second = cr.randn(20000, dtype=np.float64).numpy()
    np.testing.assert_array_equal(first, second)
    # 20,000 samples: the standard error of the mean is 0.007, of the std about 0.005.
    assert abs(first.mean()) < 0.05
    assert abs(first.std() - 1.0) < 0.05


def test_creation_functions_can_make_trainable_leaves():
    for t in (
        cr.zeros(2, requires_grad=True),
        cr.ones(2, requires_grad=True),
        cr.randn(2, requires_grad=True),
        cr.eye(2, requires_grad=True),
    ):
        assert t.requires_grad and t.is_leaf


def test_from_numpy_shares_memory_and_keeps_the_dtype():
    array = np.zeros(3, dtype=np.float64)
    t = cr.from_numpy(array)
    assert t.dtype == np.float64
    array[1] = 4.0
    assert t.numpy()[1] == 4.0
    assert np.shares_memory(t.numpy(), array)


def test_from_numpy_rejects_other_inputs():
    with pytest.raises(TypeError):
        cr.from_numpy([1.0, 2.0])


# ----------------------------------------------------------------------- attributes
def test_shape_dtype_ndim_and_transpose():
    t = cr.tensor(np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3)
    assert t.ndim == 2
    assert t.dtype == np.float64
    assert t.T.shape == (3, 2)
    np.testing.assert_array_equal(t.T.numpy(), np.arange(6.0).reshape(2, 3).T)


def test_gradient_flows_through_the_transpose_attribute():
    x = leaf(RNG.standard_normal((2, 3)))
    weights = RNG.standard_normal((3, 2))
    (x.T * weights).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), weights.T)


def test_leaves_have_no_grad_fn_and_results_name_their_op():
    x = leaf([1.0, 2.0])
    y = x * 3
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf
    assert y.grad_fn.name == "mul"
    assert y.grad_fn.inputs[0] is x
    assert y.requires_grad


def test_results_of_constants_are_leaves_without_grad():
    y = cr.tensor([1.0, 2.0]) * 3
    assert y.is_leaf and y.grad_fn is None and not y.requires_grad


def test_grad_starts_empty_and_can_be_set_or_cleared():
    x = leaf([1.0, 2.0])
    assert x.grad is None
    (x * x).sum().backward()
    assert isinstance(x.grad, cr.Tensor)
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_numpy_returns_the_underlying_array():
    t = cr.tensor([1.0, 2.0])
    assert isinstance(t.numpy(), np.ndarray)
    assert t.numpy() is t.data


def test_np_asarray_gives_the_values():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    array = np.asarray(t)
    assert isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, [[1.0, 2.0], [3.0, 4.0]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


def test_item_gives_a_python_number_for_one_element():
    assert cr.tensor([[2.5]]).item() == 2.5
    assert isinstance(cr.tensor(3.0).item(), float)
    with pytest.raises(ValueError):
        cr.tensor([1.0, 2.0]).item()


def test_detach_shares_the_data_and_leaves_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.numpy())
    (x * d).sum().backward()  # d is a constant: no gradient flows through it
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_requires_grad_underscore_switches_a_leaf_and_returns_it():
    t = cr.tensor([1.0, 2.0])
    assert t.requires_grad_() is t
    assert t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


@pytest.mark.parametrize(
    "make",
    [
        lambda: cr.tensor([1, 2], requires_grad=True),
        lambda: cr.tensor(np.arange(3)).requires_grad_(),
        lambda: cr.tensor([True, False], requires_grad=True),
        lambda: cr.zeros(2, dtype=np.int64, requires_grad=True),
        lambda: cr.arange(4, requires_grad=True),
        lambda: cr.from_numpy(np.arange(3, dtype=np.int32), requires_grad=True),
    ],
)
def test_integer_tensors_asked_to_require_grad_raise_type_error(make):
    with pytest.raises(TypeError, match="floating"):
        make()


def test_repr_shows_values_and_what_matters():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    assert repr(x) == "tensor([1., 2.], requires_grad=True, name='x')"
    assert "dtype=float64" in repr(cr.tensor(np.array([1.0])))
    assert "grad_fn=<mul>" in repr(x * 2)
    assert repr(cr.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"


# ----------------------------------------------------------------------- operators
def test_arithmetic_operators_match_numpy_with_scalars_arrays_and_tensors():
    a_np = RNG.uniform(0.5, 2.0, (3, 4))
    b_np = RNG.uniform(0.5, 2.0, (4,))
    a, b = cr.tensor(a_np), cr.tensor(b_np)
    cases = [
        (a + b, a_np + b_np),
        (a - b, a_np - b_np),
        (a * b, a_np * b_np),
        (a / b, a_np / b_np),
        (a**b, a_np**b_np),
        (-a, -a_np),
        (2.0 + a, 2.0 + a_np),
        (2.0 - a, 2.0 - a_np),
        (2.0 * a, 2.0 * a_np),
        (2.0 / a, 2.0 / a_np),
        (2.0**a, 2.0**a_np),
        (a**2, a_np**2),
        (b_np + a, b_np + a_np),
        (b_np * a, b_np * a_np),
        (a @ b, a_np @ b_np),
        (a_np.T @ a, a_np.T @ a_np),
        (abs(-a), a_np),
    ]
    for result, expected in cases:
        assert isinstance(result, cr.Tensor)
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


def test_comparisons_give_boolean_tensors_outside_the_graph():
    x = leaf([1.0, 2.0, 3.0])
    for result, expected in [
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
    ]:
        assert result.dtype == np.bool_
        assert not result.requires_grad
        np.testing.assert_array_equal(result.numpy(), expected)


def test_reductions_accept_numpy_and_pytorch_argument_names():
    x_np = RNG.standard_normal((2, 3, 4))
    x = cr.tensor(x_np)
    np.testing.assert_allclose(x.sum(axis=1).numpy(), x_np.sum(axis=1))
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).numpy(), x_np.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(x.mean(axis=(0, 2)).numpy(), x_np.mean(axis=(0, 2)))
    np.testing.assert_allclose(x.max(dim=-1).numpy(), x_np.max(axis=-1))
    np.testing.assert_allclose(x.var(axis=0, ddof=1).numpy(), x_np.var(axis=0, ddof=1))
    # The method's default is PyTorch's (unbiased); cr.std and ddof=0 give NumPy's.
    np.testing.assert_allclose(x.std().numpy(), x_np.std(ddof=1))
    np.testing.assert_allclose(x.std(ddof=0).numpy(), x_np.std())
    np.testing.assert_allclose(cr.std(x).numpy(), x_np.std())
    np.testing.assert_allclose(x.prod(axis=2).numpy(), x_np.prod(axis=2))


# ----------------------------------------------------------------------- max / min ties
def test_max_splits_the_gradient_evenly_among_ties():
    x = leaf([3.0, 1.0, 3.0, 3.0])
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 0.0, 1 / 3, 1 / 3])


def test_min_along_an_axis_splits_ties_per_row_and_conserves_the_total():
    x = leaf([[1.0, 1.0, 4.0], [2.0, 0.0, 5.0]])
    upstream = np.array([3.0, 7.0])
    x.min(axis=1).backward(upstream)
    np.testing.assert_allclose(x.grad.numpy(), [[1.5, 1.5, 0.0], [0.0, 7.0, 0.0]])
    np.testing.assert_allclose(x.grad.numpy().sum(axis=1), upstream)


def test_maximum_and_minimum_split_ties_between_their_inputs():
    a, b = leaf([1.0, 2.0, 5.0]), leaf([1.0, 3.0, 4.0])
    cr.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 1.0, 0.0])
    a.grad = b.grad = None
    cr.minimum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 1.0, 0.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 0.0, 1.0])


# ----------------------------------------------------------------------- matmul
@pytest.mark.parametrize(
    "x_shape, w_shape",
    [
        ((4, 3), (3, 2)),  # 2-D
        ((3,), (3, 2)),  # vector @ matrix
        ((4, 3), (3,)),  # matrix @ vector
        ((3,), (3,)),  # dot product
        ((5, 4, 3), (3, 2)),  # batched @ shared
        ((5, 4, 3), (5, 3, 2)),  # batched @ batched
        ((2, 1, 4, 3), (5, 3, 2)),  # broadcast batch axes
    ],
)
def test_matmul_gradients_equal_the_matrix_formulas(x_shape, w_shape):
    x_np, w_np = RNG.standard_normal(x_shape), RNG.standard_normal(w_shape)
    x, w = leaf(x_np), leaf(w_np)
    y = x @ w
    dy = RNG.standard_normal(y.shape)
    y.backward(dy)
    # Promote vectors to matrices (NumPy's rule), apply dX = dY W^T and dW = X^T dY, then
    # sum over broadcast batch axes back to each operand's shape.
    x2 = x_np[None, :] if x_np.ndim == 1 else x_np
    w2 = w_np[:, None] if w_np.ndim == 1 else w_np
    dy2 = dy.reshape(
        np.broadcast_shapes(x2.shape[:-2], w2.shape[:-2]) + (x2.shape[-2], w2.shape[-1])
    )
    dx = dy2 @ np.swapaxes(w2, -1, -2)
    dw = np.swapaxes(x2, -1, -2) @ dy2
    dx = _sum_to(dx, x2.shape).reshape(x_shape)
    dw = _sum_to(dw, w2.shape).reshape(w_shape)
    np.testing.assert_allclose(x.grad.numpy(), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), dw, rtol=1e-12, atol=1e-12)


def _sum_to(array, shape):
    while array.ndim > len(shape):
        array = array.sum(axis=0)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and array.shape[i] != 1)
    return array.sum(axis=axes, keepdims=True) if axes else array


# ----------------------------------------------------------------------- indexing
def test_indexing_with_repeated_indices_accumulates():
    x = leaf([10.0, 20.0, 30.0, 40.0])
    x[[0, 2, 2, 2, 3, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 3.0, 1.0])


def test_indexing_with_repeated_index_pairs_in_two_dimensions_accumulates():
    x = leaf(np.zeros((3, 2)))
    rows, cols = np.array([1, 1, 0, 1]), np.array([0, 0, 1, 0])
    x[rows, cols].backward(np.array([1.0, 2.0, 4.0, 8.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 4.0], [11.0, 0.0], [0.0, 0.0]])


def test_basic_slicing_and_boolean_masks_route_the_gradient_back():
    x = leaf(np.arange(12.0).reshape(3, 4))
    (x[1:, ::2] * 2).sum().backward()
    expected = np.zeros((3, 4))
    expected[1:, ::2] = 2.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    x.grad = None
    mask = x.numpy() > 6
    x[cr.tensor(mask)].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), mask.astype(float))


# ----------------------------------------------------------------------- joining, padding
def test_concatenate_sends_each_input_its_own_slice():
    a, b = leaf(np.ones((2, 3))), leaf(np.ones((2, 1)))
    y = cr.concatenate([a, b], axis=1)
    assert y.shape == (2, 4)
    upstream = np.arange(8.0).reshape(2, 4)
    y.backward(upstream)
    np.testing.assert_array_equal(a.grad.numpy(), upstream[:, :3])
    np.testing.assert_array_equal(b.grad.numpy(), upstream[:, 3:])


def test_stack_sends_each_input_its_own_layer():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = cr.stack([a, b], axis=1)
    np.testing.assert_array_equal(y.numpy(), [[1.0, 3.0], [2.0, 4.0]])
    upstream = np.array([[1.0, 2.0], [3.0, 4.0]])
    y.backward(upstream)
    np.testing.assert_array_equal(a.grad.numpy(), upstream[:, 0])
    np.testing.assert_array_equal(b.grad.numpy(), upstream[:, 1])


def test_split_pieces_rejoin_and_carry_their_gradients():
    x_np = np.arange(10.0).reshape(2, 5)
    x = leaf(x_np)
    pieces = cr.split(x, [1, 3], axis=1)
    assert [p.shape for p in pieces] == [(2, 1), (2, 2), (2, 2)]
    for piece, expected in zip(pieces, np.split(x_np, [1, 3], axis=1)):
        np.testing.assert_array_equal(piece.numpy(), expected)
    (pieces[0] * 1 + pieces[2].sum(axis=1, keepdims=True) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 0, 3, 3], [1, 0, 0, 3, 3]])
    assert len(cr.split(x, 5, axis=1)) == 5


def test_pad_is_constant_padding_and_its_gradient_is_the_inner_block():
    x = leaf(np.ones((2, 2)))
    y = cr.pad(x, ((1, 0), (0, 2)), constant_values=7.0)
    np.testing.assert_array_equal(
        y.numpy(), np.pad(np.ones((2, 2)), ((1, 0), (0, 2)), constant_values=7.0)
    )
    upstream = np.arange(12.0).reshape(3, 4)
    y.backward(upstream)
    np.testing.assert_array_equal(x.grad.numpy(), upstream[1:, :2])


# ----------------------------------------------------------------------- stable nn functions
@pytest.mark.parametrize("shift", [1000.0, -1000.0])
def test_softmax_family_is_stable_at_extreme_logits(shift):
    base = np.array([[0.5, -1.0, 2.0], [3.0, 3.0, -2.0]])
    x = leaf(base + shift)
    reference = leaf(base)
    # Any overflow, division by zero or invalid value fails the test (underflow to 0 is fine).
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for fn in (
            lambda t, s: t.softmax(),
            lambda t, s: t.log_softmax(),
            lambda t, s: cr.logsumexp(t, axis=-1) - s,
        ):
            out, ref = fn(x, shift), fn(reference, 0.0)
            # base + 1000 is rounded to ~1e-13: 1e-9 is far below any real instability.
            np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-9, atol=1e-9)
            upstream = RNG.standard_normal(out.shape)
            x.grad = reference.grad = None
            out.backward(upstream)
            ref.backward(upstream)
            np.testing.assert_allclose(x.grad.numpy(), reference.grad.numpy(), atol=1e-9)


def test_softmax_family_with_mixed_extreme_logits_stays_finite():
    x = leaf([1000.0, -1000.0, 0.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_allclose(x.softmax().numpy(), [1.0, 0.0, 0.0])
        np.testing.assert_allclose(x.log_softmax().numpy(), [0.0, -2000.0, -1000.0])
        np.testing.assert_allclose(cr.logsumexp(x).numpy(), 1000.0)
        cr.logsumexp(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 0.0])


def test_softmax_log_softmax_and_logsumexp_agree_with_their_definitions():
    x_np = RNG.standard_normal((3, 4))
    x = cr.tensor(x_np)
    e = np.exp(x_np)
    np.testing.assert_allclose(x.softmax(axis=0).numpy(), e / e.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        x.log_softmax().numpy(), np.log(e / e.sum(axis=-1, keepdims=True)), rtol=1e-12
    )
    np.testing.assert_allclose(
        cr.logsumexp(x, axis=1, keepdims=True).numpy(),
        np.log(e.sum(axis=1, keepdims=True)),
        rtol=1e-12,
    )
    assert cr.logsumexp(x).shape == ()


# ----------------------------------------------------------------------- trace, outer, einsum
def test_trace_outer_and_einsum_match_numpy_and_their_gradients():
    a_np, b_np = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 4))
    u_np, v_np = RNG.standard_normal(3), RNG.standard_normal(4)
    a, b, u, v = leaf(a_np), leaf(b_np), leaf(u_np), leaf(v_np)

    np.testing.assert_allclose(a.trace().numpy(), np.trace(a_np))
    np.testing.assert_allclose(cr.outer(u, v).numpy(), np.outer(u_np, v_np))
    np.testing.assert_allclose(cr.einsum("ij,jk->ik", a, b).numpy(), a_np @ b_np)
    np.testing.assert_allclose(cr.einsum("ij,jk", a, b).numpy(), a_np @ b_np)
    np.testing.assert_allclose(cr.einsum("ii->i", a).numpy(), np.diag(a_np))
    np.testing.assert_allclose(cr.einsum("i,ij,j->", u, b, v).numpy(), u_np @ b_np @ v_np)

    cr.outer(u, v).backward(np.ones((3, 4)))
    np.testing.assert_allclose(u.grad.numpy(), np.full(3, v_np.sum()))  # d/du sum(u v^T)
    np.testing.assert_allclose(v.grad.numpy(), np.full(4, u_np.sum()))
    u.grad = v.grad = None
    cr.einsum("i,ij,j->", u, b, v).backward()
    np.testing.assert_allclose(u.grad.numpy(), b_np @ v_np, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), np.outer(u_np, v_np), rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy(), u_np @ b_np, rtol=1e-12)
    cr.einsum("ii", a).backward()  # the trace again: its gradient is I
    np.testing.assert_allclose(a.grad.numpy(), np.eye(3))


# ----------------------------------------------------------------------- cr.linalg
def _well_conditioned(n=3, batch=()):
    return RNG.uniform(-1.0, 1.0, batch + (n, n)) + n * np.eye(n)


def test_linalg_values_match_numpy():
    a_np = _well_conditioned()
    b_np = RNG.standard_normal((3, 2))
    spd = a_np @ a_np.T
    a = cr.tensor(a_np)
    np.testing.assert_allclose(cr.linalg.inv(a).numpy(), np.linalg.inv(a_np), rtol=1e-12)
    np.testing.assert_allclose(cr.linalg.det(a).numpy(), np.linalg.det(a_np), rtol=1e-12)
    sign, logdet = cr.linalg.slogdet(cr.tensor(-a_np))
    expected_sign, expected_logdet = np.linalg.slogdet(-a_np)
    assert float(np.asarray(sign)) == expected_sign
    np.testing.assert_allclose(logdet.numpy(), expected_logdet, rtol=1e-12)
    np.testing.assert_allclose(
        cr.linalg.solve(a, cr.tensor(b_np)).numpy(), np.linalg.solve(a_np, b_np), rtol=1e-10
    )
    np.testing.assert_allclose(
        cr.linalg.cholesky(cr.tensor(spd)).numpy(), np.linalg.cholesky(spd), rtol=1e-10
    )
    np.testing.assert_allclose(cr.linalg.norm(a).numpy(), np.linalg.norm(a_np), rtol=1e-12)
    for ord_, axis in [(1, None), (np.inf, None), (-1, None), (1, 0), (np.inf, 1), (3, 0)]:
        np.testing.assert_allclose(
            cr.linalg.norm(a, ord=ord_, axis=axis).numpy(),
            np.linalg.norm(a_np, ord=ord_, axis=axis),
            rtol=1e-12,
        )


def test_linalg_works_on_stacks_of_matrices():
    a_np = _well_conditioned(batch=(2,))
    np.testing.assert_allclose(
        cr.linalg.inv(cr.tensor(a_np)).numpy(), np.linalg.inv(a_np), rtol=1e-12
    )
    np.testing.assert_allclose(
        cr.linalg.det(cr.tensor(a_np)).numpy(), np.linalg.det(a_np), rtol=1e-12
    )


def test_linalg_gradients_match_closed_forms():
    a_np = _well_conditioned()
    inv_t = np.linalg.inv(a_np).T
    a = leaf(a_np)
    cr.linalg.det(a).backward()
    np.testing.assert_allclose(a.grad.numpy(), np.linalg.det(a_np) * inv_t, rtol=1e-10)
    a.grad = None
    cr.linalg.slogdet(a)[1].backward()
    np.testing.assert_allclose(a.grad.numpy(), inv_t, rtol=1e-10)
    a.grad = None
    cr.linalg.norm(a).backward()  # d ||A||_F / dA = A / ||A||_F
    np.testing.assert_allclose(a.grad.numpy(), a_np / np.linalg.norm(a_np), rtol=1e-12)
    a.grad = None
    upstream = RNG.standard_normal((3, 3))
    cr.linalg.inv(a).backward(upstream)  # d X^-1 = -X^-1 dX X^-1, so grad = -X^-T G X^-T
    np.testing.assert_allclose(a.grad.numpy(), -inv_t @ upstream @ inv_t, rtol=1e-10)


def test_solve_gradients_match_the_adjoint_formulas():
    a_np, b_np = _well_conditioned(), RNG.standard_normal(3)
    a, b = leaf(a_np), leaf(b_np)
    x_np = np.linalg.solve(a_np, b_np)
    upstream = RNG.standard_normal(3)
    cr.linalg.solve(a, b).backward(upstream)
    db = np.linalg.solve(a_np.T, upstream)  # b gets A^-T g, A gets -(A^-T g) x^T
    np.testing.assert_allclose(b.grad.numpy(), db, rtol=1e-10)
    np.testing.assert_allclose(a.grad.numpy(), -np.outer(db, x_np), rtol=1e-10)


def test_linalg_gradients_pass_gradcheck():
    # Central differences in float64 with eps=1e-6 are accurate to ~1e-9 here: the default
    # tolerances (atol=1e-5, rtol=1e-3) leave a wide margin yet catch any wrong formula.
    a_np, b_np = _well_conditioned(), RNG.standard_normal((3, 2))
    spd = a_np @ a_np.T
    assert cr.gradcheck(lambda a: cr.linalg.inv(a), [a_np])
    assert cr.gradcheck(lambda a: cr.linalg.det(a), [a_np])
    assert cr.gradcheck(lambda a: cr.linalg.slogdet(a)[1], [a_np])
    assert cr.gradcheck(lambda a, b: cr.linalg.solve(a, b), [a_np, b_np])
    assert cr.gradcheck(lambda s: cr.linalg.cholesky(0.5 * (s + s.T)), [spd])
    assert cr.gradcheck(lambda a: cr.linalg.norm(a), [a_np])
    assert cr.gradcheck(lambda a: cr.linalg.norm(a, ord=np.inf, axis=1), [a_np])


def test_linalg_gradients_agree_with_hips_autograd():
    anp = pytest.importorskip("autograd.numpy")
    autograd = pytest.importorskip("autograd")
    a_np = _well_conditioned()
    b_np = RNG.standard_normal(3)

    def reference(a):
        return (
            anp.linalg.det(a) * anp.sum(anp.linalg.solve(a, b_np))
            + anp.sum(anp.linalg.inv(a) ** 2)
            + anp.linalg.norm(a)
        )

    a = leaf(a_np)
    out = (
        cr.linalg.det(a) * cr.linalg.solve(a, cr.tensor(b_np)).sum()
        + (cr.linalg.inv(a) ** 2).sum()
        + cr.linalg.norm(a)
    )
    out.backward()
    np.testing.assert_allclose(out.numpy(), reference(a_np), rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), autograd.grad(reference)(a_np), rtol=1e-9)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised by torch's own import
def test_tie_rules_and_stable_functions_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    x_np = np.array([[2.0, 5.0, 5.0, -1.0], [3.0, 3.0, 3.0, 0.0], [1000.0, -1000.0, 4.0, 4.0]])
    y_np = np.array([2.0, 0.0, 5.0, -1.0])
    upstream = np.arange(1.0, 13.0).reshape(3, 4)

    def ours(x, y):
        return (
            x.max(axis=1).sum()
            + x.min(axis=0).sum()
            + x.max()
            + (cr.maximum(x, y) * cr.tensor(upstream)).sum()
            + (x.softmax() * cr.tensor(upstream)).sum()
            + x.log_softmax(axis=0).sum()
            + cr.logsumexp(x, axis=1).sum()
        )

    def theirs(x, y):
        return (
            x.amax(dim=1).sum()
            + x.amin(dim=0).sum()
            + x.amax()
            + (torch.maximum(x, y) * torch.tensor(upstream)).sum()
            + (torch.softmax(x, -1) * torch.tensor(upstream)).sum()
            + torch.log_softmax(x, 0).sum()
            + torch.logsumexp(x, 1).sum()
        )

    x, y = leaf(x_np), leaf(y_np)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = torch.tensor(y_np, requires_grad=True)
    out, out_t = ours(x, y), theirs(xt, yt)
    out.backward()
    out_t.backward()
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), yt.grad.numpy(), rtol=1e-12, atol=1e-12)
