"""Scans (cumsum, cumprod, diff) and ordering/gathering (sort, topk, take_along_axis,
put_along_axis, gather, scatter_add, take): PyTorch parity in float64, NumPy semantics,
errors. The generated suite (tests/test_ops.py) already runs gradcheck, gradgradcheck and
HIPS autograd on every spec case; this file covers what that cannot."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

# Both sides compute the same float64 sums and products in possibly different orders:
# rounding alone separates them.
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _pair(array):
    """The same float64 values as a chainrule and a PyTorch leaf requiring grad."""
    return (
        cr.tensor(array, requires_grad=True),
        torch.tensor(array, dtype=torch.float64, requires_grad=True),
    )


def _backward_both(ours, theirs, seed=0):
    cotangent = np.random.default_rng(seed).standard_normal(ours.shape)
    ours.backward(cotangent)
    theirs.backward(torch.tensor(cotangent))


def _close(ours, theirs):
    np.testing.assert_allclose(
        np.asarray(ours.numpy() if isinstance(ours, cr.Tensor) else ours),
        theirs.detach().numpy(),
        **TOL,
    )


rng = np.random.default_rng(0)


# ----------------------------------------------------------------------- cumsum
@pytest.mark.parametrize(
    "shape, dim", [((5,), 0), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1), ((0, 3), 0), ((3, 1), 1)]
)
def test_cumsum_matches_torch(shape, dim):
    x, tx = _pair(rng.standard_normal(shape))
    out, tout = cr.cumsum(x, dim=dim), torch.cumsum(tx, dim=dim)
    _close(out, tout)
    _backward_both(out, tout)
    _close(x.grad, tx.grad)


def test_cumsum_axis_none_flattens_and_a_scalar_becomes_one_element():
    a = rng.standard_normal((3, 4))
    np.testing.assert_allclose(cr.cumsum(a), np.cumsum(a), **TOL)
    assert cr.cumsum(cr.tensor(np.float64(2.0))).shape == np.cumsum(2.0).shape == (1,)
    # An explicit axis of a 0-d tensor keeps it 0-d, as PyTorch (NumPy has no axis 0 there).
    assert cr.cumsum(cr.tensor(np.float64(2.0)), axis=0).shape == ()
    assert cr.gradcheck(lambda t: cr.cumsum(t), [a])
    assert cr.gradcheck(lambda t: cr.cumsum(t, axis=0), [np.array(1.5)])
    assert type(cr.cumsum(a, axis=1)) is np.ndarray  # arrays in, array out (no graph)


def test_cumsum_float32_and_dtype():
    x = cr.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    out = cr.cumsum(x, axis=1)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [[3, 2, 1], [3, 2, 1]])
    assert cr.cumsum(x, axis=1, dtype=np.float64).dtype == np.float64


def test_cumsum_gradient_is_a_reversed_cumsum_in_the_graph():
    x = cr.tensor(rng.standard_normal(4), requires_grad=True)
    seed = cr.tensor(np.ones(4), requires_grad=True)  # linear op: the graph runs from it
    (g,) = cr.autograd.engine.grad(cr.cumsum(x), [x], grad_outputs=seed, create_graph=True)
    assert g.grad_fn.name == "cumsum" and g.grad_fn.params["reverse"] is True


# ----------------------------------------------------------------------- cumprod
@pytest.mark.parametrize(
    "values",
    [
        [2.0, -1.5, 0.7, 1.2, -0.9],  # no zero
        [2.0, 0.0, 0.7, 1.2, -0.9],  # one zero
        [0.0, 1.5, 0.7, 1.2, 0.0],  # zeros at both ends
        [2.0, 0.0, 0.0, 1.2, -0.9],  # two adjacent zeros
        [1.1, 0.0, 0.7, 0.0, -0.9, 0.0, 1.3],  # several zeros
        [0.0, 0.0, 0.0],  # nothing but zeros
        [0.0],
    ],
)
def test_cumprod_with_zeros_matches_torch(values):
    x, tx = _pair(np.array(values))
    out, tout = cr.cumprod(x, axis=0), torch.cumprod(tx, dim=0)
    _close(out, tout)
    _backward_both(out, tout)
    _close(x.grad, tx.grad)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod_matrix_with_zeros_matches_torch(dim):
    a = rng.choice([-1, 1], (6, 37)) * rng.uniform(0.8, 1.2, (6, 37))  # 37: not a power of 2
    a[rng.random(a.shape) < 0.1] = 0.0
    a[0, :] = 1.0  # one lane without zeros along dim 1
    x, tx = _pair(a)
    out, tout = cr.cumprod(x, dim=dim), torch.cumprod(tx, dim=dim)
    _close(out, tout)
    _backward_both(out, tout)
    _close(x.grad, tx.grad)


def test_cumprod_with_zeros_is_exact_to_second_order():
    a = np.array([[1.3, 0.0, -0.8, 0.0, 1.1], [0.0, 0.9, 1.2, -1.4, 0.7]])
    assert cr.gradcheck(lambda t: cr.cumprod(t, axis=1), [a])
    assert cr.gradgradcheck(lambda t: cr.cumprod(t, axis=1), [a])
    assert cr.gradgradcheck(lambda t: cr.cumprod(t, axis=0), [a])


def test_cumprod_axis_none_and_int_input():
    a = np.arange(1, 7).reshape(2, 3)
    np.testing.assert_array_equal(cr.cumprod(a), np.cumprod(a))
    np.testing.assert_array_equal(cr.cumprod(a, axis=1), np.cumprod(a, axis=1))


# ----------------------------------------------------------------------- diff
@pytest.mark.parametrize(
    "shape, n, dim",
    [((6,), 1, -1), ((3, 6), 2, 1), ((5, 3), 3, 0), ((2, 3, 4), 1, -2), ((3, 4), 4, 1)],
)
def test_diff_matches_torch(shape, n, dim):
    x, tx = _pair(rng.standard_normal(shape))
    out, tout = cr.diff(x, n=n, axis=dim), torch.diff(tx, n=n, dim=dim)
    _close(out, tout)
    _backward_both(out, tout)
    _close(x.grad, tx.grad)


def test_diff_prepend_append_match_torch_and_get_gradients():
    x, tx = _pair(rng.standard_normal((3, 4)))
    p, tp = _pair(rng.standard_normal((3, 2)))
    q, tq = _pair(rng.standard_normal((3, 1)))
    out = cr.diff(x, n=2, dim=1, prepend=p, append=q)
    tout = torch.diff(tx, n=2, dim=1, prepend=tp, append=tq)
    _close(out, tout)
    _backward_both(out, tout)
    for ours, theirs in ((x, tx), (p, tp), (q, tq)):
        _close(ours.grad, theirs.grad)


def test_diff_numpy_edge_cases():
    a = rng.standard_normal((3, 4))
    np.testing.assert_allclose(
        cr.diff(a, prepend=0.0, append=[[1], [2], [3]]),
        np.diff(a, prepend=0.0, append=[[1], [2], [3]]),
        **TOL,
    )
    assert cr.diff(a, n=7, axis=1).shape == np.diff(a, n=7, axis=1).shape == (3, 0)
    assert cr.diff(np.zeros((0, 3)), axis=0).shape == (0, 3)
    assert cr.diff(a, n=0) is a
    x = cr.tensor(np.ones(3, np.float32))
    assert cr.diff(x, prepend=0.0).dtype == np.float32  # a number takes the input's dtype
    with pytest.raises(ValueError, match="diff"):
        cr.diff(a, n=-1)
    with pytest.raises(cr.ShapeError, match="diff"):
        cr.diff(cr.tensor(np.float64(1.0)))
    with pytest.raises(np.exceptions.AxisError, match="diff"):
        cr.diff(a, axis=2)


# ----------------------------------------------------------------------- sort
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, -1])
def test_sort_with_ties_matches_torch_stable(dim, descending):
    a = rng.integers(0, 3, (5, 6)).astype(np.float64)  # many ties
    x, tx = _pair(a)
    out = cr.sort(x, axis=dim, descending=descending)
    tout, tidx = torch.sort(tx, dim=dim, descending=descending, stable=True)
    _close(out, tout)
    np.testing.assert_array_equal(cr.argsort(a, axis=dim, descending=descending), tidx)
    _backward_both(out, tout)  # ties: who gets which share follows the stable order
    _close(x.grad, tx.grad)


def test_sort_numpy_semantics():
    a = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(cr.sort(a, axis=None), np.sort(a, axis=None))
    np.testing.assert_array_equal(cr.sort(a, axis=0), np.sort(a, axis=0))
    np.testing.assert_array_equal(cr.argsort(a, axis=None), np.argsort(a, axis=None))
    t = cr.tensor(a, requires_grad=True)
    index = cr.argsort(t)
    assert isinstance(index, cr.Tensor) and index.dtype.kind == "i" and not index.requires_grad
    assert type(cr.argsort(a)) is np.ndarray
    assert cr.sort(cr.tensor(np.float64(3.0))).shape == ()  # 0-d, as PyTorch
    with pytest.raises(ValueError, match="sort"):
        cr.sort(a, kind="bogus")


def test_torch_style_sort_returns_values_and_indices():
    a = np.array([[3.0, 1.0, 3.0, 2.0]])
    x, tx = _pair(a)
    values, indices = cr.ops.order.torch_sort(x, dim=1, descending=True)
    tvalues, tindices = torch.sort(tx, dim=1, descending=True, stable=True)
    _close(values, tvalues)
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())


# ----------------------------------------------------------------------- topk
@pytest.mark.parametrize(
    "k, dim, largest", [(2, -1, True), (3, 0, False), (1, 1, True), (5, -1, False), (0, 0, True)]
)
def test_topk_matches_torch(k, dim, largest):
    x, tx = _pair(rng.permutation(20).reshape(4, 5) + rng.uniform(0, 0.5, (4, 5)))  # no ties
    values, indices = cr.topk(x, k, dim=dim, largest=largest)
    tvalues, tindices = torch.topk(tx, k, dim=dim, largest=largest)
    _close(values, tvalues)
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())
    _backward_both(values, tvalues)
    _close(x.grad, tx.grad)


def test_topk_ties_go_to_the_first_and_values_match_torch():
    a = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    x = cr.tensor(a, requires_grad=True)
    values, indices = cr.topk(x, 2)
    np.testing.assert_array_equal(values.numpy(), torch.topk(torch.tensor(a), 2).values)
    np.testing.assert_array_equal(indices.numpy(), [1, 2])
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 0, 0])
    smallest = cr.topk(np.array([2.0, 1.0, 1.0]), 1, largest=False)
    assert type(smallest.indices) is np.ndarray and smallest.indices.tolist() == [1]


def test_topk_errors():
    with pytest.raises(ValueError, match="topk"):
        cr.topk(cr.tensor([1.0, 2.0]), 3)
    with pytest.raises(TypeError, match="topk"):
        cr.topk(cr.tensor([1.0, 2.0]), 1.0)
    with pytest.raises(np.exceptions.AxisError, match="topk"):
        cr.topk(cr.tensor([1.0, 2.0]), 1, dim=1)


# ----------------------------------------------------------------------- gathers
def test_take_along_axis_matches_torch_take_along_dim_with_broadcasting():
    x, tx = _pair(rng.standard_normal((1, 5)))
    index = np.array([[4, 0, 0], [1, 4, 4], [2, 2, 2]])  # repeats accumulate in backward
    out = cr.take_along_axis(x, cr.tensor(index), axis=1)
    tout = torch.take_along_dim(tx, torch.tensor(index), dim=1)
    _close(out, tout)
    _backward_both(out, tout)
    _close(x.grad, tx.grad)
    a = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(
        cr.take_along_axis(a, np.array([[-1], [0], [-4]]), 1),
        np.take_along_axis(a, np.array([[-1], [0], [-4]]), 1),
    )
    np.testing.assert_array_equal(
        cr.take_along_axis(a, np.array([11, 0]), None),
        np.take_along_axis(a, np.array([11, 0]), None),
    )


@pytest.mark.parametrize(
    "dim, index",
    [
        (1, [[0, 0, 3], [1, 2, 1], [3, 3, 3]]),
        (0, [[2, 0, 2, 2, 1], [0, 0, 0, 0, 0]]),
        (-1, [[1], [0]]),  # index shorter than input on dim 0 too
    ],
)
def test_gather_matches_torch(dim, index):
    x, tx = _pair(rng.standard_normal((3, 5)))
    out = cr.gather(x, dim, np.array(index))
    tout = torch.gather(tx, dim, torch.tensor(index))
    _close(out, tout)
    _backward_both(out, tout)
    _close(x.grad, tx.grad)


@pytest.mark.parametrize(
    "dim, index, src_shape",
    [
        (1, [[0, 0, 3], [1, 2, 1], [4, 4, 4]], (3, 3)),
        (0, [[2, 0, 2, 2, 1], [0, 0, 0, 0, 0]], (2, 5)),
    ],
)
def test_scatter_add_matches_torch(dim, index, src_shape):
    x, tx = _pair(rng.standard_normal((3, 5)))
    s, ts = _pair(rng.standard_normal(src_shape))
    out = cr.scatter_add(x, dim, cr.tensor(np.array(index)), s)
    tout = torch.scatter_add(tx, dim, torch.tensor(index), ts)
    _close(out, tout)
    _backward_both(out, tout)
    _close(x.grad, tx.grad)
    _close(s.grad, ts.grad)


def test_scatter_add_uses_the_corner_of_a_larger_src():
    x, tx = _pair(rng.standard_normal((3, 5)))
    src = rng.standard_normal((3, 4))
    s = cr.tensor(src, requires_grad=True)
    out = cr.scatter_add(x, -1, np.array([[1], [0]]), s)
    # PyTorch's values, but not its src gradient: its backward fails on a larger src.
    tout = torch.scatter_add(tx, -1, torch.tensor([[1], [0]]), torch.tensor(src))
    _close(out, tout)
    g = rng.standard_normal((3, 5))
    out.backward(g)
    tout.backward(torch.tensor(g))
    _close(x.grad, tx.grad)
    expected = np.zeros((3, 4))
    expected[0, 0], expected[1, 0] = g[0, 1], g[1, 0]
    np.testing.assert_array_equal(s.grad.numpy(), expected)


def test_gather_and_scatter_add_are_each_others_gradient():
    x = cr.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    index = np.array([[0, 0], [3, 1], [2, 2]])
    seed = cr.tensor(np.ones((3, 2)), requires_grad=True)  # linear op: the graph runs from it
    (g,) = cr.autograd.engine.grad(
        cr.gather(x, 1, index), [x], grad_outputs=seed, create_graph=True
    )
    assert g.grad_fn.name == "add_along"
    np.testing.assert_array_equal(g.numpy(), [[2, 0, 0, 0], [0, 1, 0, 1], [0, 0, 2, 0]])
    src = cr.tensor(np.ones((3, 2)), requires_grad=True)
    out = cr.scatter_add(np.zeros((3, 4)), 1, index, src)
    (h,) = cr.autograd.engine.grad(
        out, [src], grad_outputs=cr.tensor(np.ones((3, 4)), requires_grad=True), create_graph=True
    )
    assert h.grad_fn.name == "take_along"


def test_put_along_axis_last_write_wins_as_numpy():
    a = rng.standard_normal((2, 5))
    index = np.array([[1, 3, 1, 1], [0, 0, 4, 2]])
    values = rng.standard_normal((2, 4))
    expected = a.copy()
    np.put_along_axis(expected, index, values, axis=1)
    x, v = cr.tensor(a, requires_grad=True), cr.tensor(values, requires_grad=True)
    out = cr.put_along_axis(x, index, v, axis=1)
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(x.numpy(), a)  # out of place
    g = rng.standard_normal((2, 5))
    out.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), g * [[1, 0, 1, 0, 1], [0, 1, 0, 1, 0]])
    # Only the write that stays gets a gradient: [0,1] and [0,2] were overwritten by [0,3],
    # [1,0] by [1,1].
    np.testing.assert_array_equal(
        v.grad.numpy(), [[0, g[0, 3], 0, g[0, 1]], [0, g[1, 0], g[1, 4], g[1, 2]]]
    )


def test_put_along_axis_broadcast_values_and_none_axis():
    a = rng.standard_normal((3, 4))
    expected = a.copy()
    np.put_along_axis(expected, np.array([[0], [2], [2]]), 7.0, axis=1)
    np.testing.assert_array_equal(cr.put_along_axis(a, np.array([[0], [2], [2]]), 7.0, 1), expected)
    v = cr.tensor(np.float64(2.0), requires_grad=True)
    cr.put_along_axis(cr.tensor(a), np.array([[0, 1]]), v, axis=1).sum().backward()
    assert v.grad.item() == 6.0  # one value, written at six places
    expected = a.copy()
    np.put_along_axis(expected, np.array([11, 0, -1]), np.array([1.0, 2.0, 3.0]), axis=None)
    np.testing.assert_array_equal(
        cr.put_along_axis(a, np.array([11, 0, -1]), np.array([1.0, 2.0, 3.0]), None), expected
    )


def test_take_matches_numpy_and_accumulates():
    a = rng.standard_normal((3, 4))
    for indices, axis in (([5, 5, -1], None), ([[0, 3], [3, -4]], 1), (2, 0)):
        np.testing.assert_array_equal(cr.take(a, indices, axis), np.take(a, indices, axis))
    np.testing.assert_array_equal(
        cr.take(a, [7, -9], 1, mode="wrap"), np.take(a, [7, -9], 1, mode="wrap")
    )
    np.testing.assert_array_equal(
        cr.take(a, [7, -9], 1, mode="clip"), np.take(a, [7, -9], 1, mode="clip")
    )
    x = cr.tensor(a, requires_grad=True)
    cr.take(x, [1, 1, 1]).sum().backward()
    assert x.grad.numpy()[0, 1] == 3.0 and x.grad.numpy().sum() == 3.0


def test_index_arrays_are_copied_so_later_changes_do_not_move_gradients():
    index = np.array([[0, 1]])
    x = cr.tensor(rng.standard_normal((1, 3)), requires_grad=True)
    out = cr.take_along_axis(x, index, axis=1)
    index[0, 0] = 2
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1, 0]])


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda a: cr.take_along_axis(a, np.array([[4]]), axis=1), "take_along_axis"),
        (lambda a: cr.take_along_axis(a, np.array([[-5]]), axis=1), "take_along_axis"),
        (lambda a: cr.put_along_axis(a, np.array([[0], [9], [0]]), 1.0, axis=1), "put_along_axis"),
        (lambda a: cr.gather(a, 1, np.array([[4]])), "gather"),
        (lambda a: cr.gather(a, 1, np.array([[-1]])), "gather"),  # PyTorch refuses negatives
        (lambda a: cr.scatter_add(a, 0, np.array([[3]]), np.ones((1, 1))), "scatter_add"),
        (lambda a: cr.take(a, [12]), "take"),
        (lambda a: cr.take(a, [-5], axis=1), "take"),
        (lambda a: cr.take_along_axis(a, np.array([[0.5]]), axis=1), "take_along_axis"),
        (lambda a: cr.gather(a, 0, np.array([[True]])), "gather"),
    ],
)
def test_bad_indices_raise_index_error_naming_the_function(call, name):
    with pytest.raises(IndexError, match=name):
        call(cr.tensor(np.zeros((3, 4)), requires_grad=True))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda a: cr.take_along_axis(a, np.array([0, 1]), axis=1), "take_along_axis"),
        (lambda a: cr.take_along_axis(a, np.zeros((2, 1), int), axis=1), "take_along_axis"),
        (lambda a: cr.take_along_axis(a, np.zeros((3, 1), int), axis=None), "take_along_axis"),
        (
            lambda a: cr.put_along_axis(a, np.zeros((3, 1), int), np.ones((2, 1)), 1),
            "put_along_axis",
        ),
        (lambda a: cr.gather(a, 1, np.zeros((4, 1), int)), "gather"),
        (lambda a: cr.scatter_add(a, 1, np.zeros((3, 2), int), np.ones((3, 1))), "scatter_add"),
    ],
)
def test_mismatched_shapes_raise_shape_error(call, name):
    with pytest.raises(cr.ShapeError, match=name):
        call(cr.tensor(np.zeros((3, 4))))


def test_bad_axis_raises_axis_error_naming_the_function():
    for call, name in (
        (lambda a: cr.cumsum(a, axis=2), "cumsum"),
        (lambda a: cr.cumprod(a, dim=-3), "cumprod"),
        (lambda a: cr.sort(a, axis=2), "sort"),
        (lambda a: cr.gather(a, 2, np.zeros((3, 4), int)), "gather"),
        (lambda a: cr.take(a, [0], axis=-3), "take"),
    ):
        with pytest.raises(np.exceptions.AxisError, match=name):
            call(np.zeros((3, 4)))
