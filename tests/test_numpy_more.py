"""NumPy's names beyond the core: the functions without a gradient (ops/logic.py) and how
NumPy's calls on Tensors reach them, NumPy's other names (absolute, amax, real, ...),
linspace, gradient, partition, rollaxis, select, r_ and c_, clip's keywords, concatenate
with ``axis=None`` and the cost of its backward. NumPy's values on arrays and Tensors,
gradients against explicit Jacobians and PyTorch (float64), and the errors."""

import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.creation import linspace
from chainrule.errors import AxisError, ShapeError
from chainrule.numpy_dispatch import _ON_ARRAYS
from chainrule.ops import arithmetic, arrange, join, logic, shape

RNG = np.random.default_rng(7)


def _values(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _leaf(array):
    return cr.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def _jacobian_of_linear(numpy_function, shape):
    """The matrix of a linear NumPy function (its columns: the images of the unit arrays)."""
    columns = []
    for k in range(int(np.prod(shape))):
        unit = np.zeros(int(np.prod(shape)))
        unit[k] = 1.0
        out = numpy_function(unit.reshape(shape))
        out = np.concatenate([np.ravel(o) for o in out]) if isinstance(out, tuple) else out
        columns.append(np.ravel(out))
    return np.array(columns).T


def _flat(out):
    if isinstance(out, tuple):
        return cr.concatenate([cr.reshape(o, (-1,)) for o in out])
    return out


# ======================================================================= no gradient
X = np.array([[1.5, -0.5, 2.0], [np.nan, np.inf, -2.5]])
INTS = np.array([[3, 0, 2], [1, 1, 0]])
B = np.array([[True, False, True], [False, False, True]])

LOGIC_CASES = [  # (name, args built from a module m and an input x)
    ("ceil", lambda x: (x,), X),
    ("floor", lambda x: (x,), X),
    ("trunc", lambda x: (x,), X),
    ("rint", lambda x: (x,), X),
    ("round", lambda x: (x, 1), X * 1.234),
    ("around", lambda x: (x,), X),
    ("fix", lambda x: (x,), X),
    ("floor_divide", lambda x: (x, 0.7), X),
    ("isnan", lambda x: (x,), X),
    ("isinf", lambda x: (x,), X),
    ("isposinf", lambda x: (x,), X),
    ("isneginf", lambda x: (x,), X),
    ("isfinite", lambda x: (x,), X),
    ("signbit", lambda x: (x,), X),
    ("spacing", lambda x: (x,), X),
    ("iscomplex", lambda x: (x,), X),
    ("isreal", lambda x: (x,), X),
    ("iscomplexobj", lambda x: (x,), X),
    ("isrealobj", lambda x: (x,), X),
    ("imag", lambda x: (x,), X),
    ("angle", lambda x: (x,), X),
    ("equal", lambda x: (x, 2.0), X),
    ("not_equal", lambda x: (x, 2.0), X),
    ("less", lambda x: (x, 0.0), X),
    ("less_equal", lambda x: (x, 2.0), X),
    ("greater", lambda x: (x, 0.0), X),
    ("greater_equal", lambda x: (x, 2.0), X),
    ("logical_and", lambda x: (x, B), X),
    ("logical_or", lambda x: (x, B), X),
    ("logical_xor", lambda x: (x, B), X),
    ("logical_not", lambda x: (x,), X),
    ("isclose", lambda x: (x, 1.5), X),
    ("allclose", lambda x: (x, x + 1e-9), X[:1]),
    ("array_equal", lambda x: (x, x), X[:1]),
    ("array_equiv", lambda x: (x, x[0]), X[:1]),
    ("isin", lambda x: (x, [2.0, -0.5]), X),
    ("all", lambda x: (x,), X),
    ("any", lambda x: (x,), np.where(np.isfinite(X), 0.0, 1.0)),
    ("count_nonzero", lambda x: (x,), INTS),
    ("argmax", lambda x: (x,), X[:1]),
    ("argmin", lambda x: (x,), X[:1]),
    ("argpartition", lambda x: (x, 1), X[:1]),
    ("argwhere", lambda x: (x,), INTS),
    ("nonzero", lambda x: (x,), INTS),
    ("flatnonzero", lambda x: (x,), INTS),
    ("searchsorted", lambda x: (x, [0.0, 2.5]), np.arange(4.0)),
    ("digitize", lambda x: (x, [0.0, 1.0, 2.0]), X[:1]),
    ("lexsort", lambda x: (x,), INTS),
    ("unique", lambda x: (x,), INTS),
    ("bincount", lambda x: (x,), INTS[0]),
    ("histogram", lambda x: (x, 3), X[:1]),
    ("histogram_bin_edges", lambda x: (x, 3), X[:1]),
    ("ravel_multi_index", lambda x: (x[:, :2], (4, 3)), INTS),
    ("unravel_index", lambda x: (x, (2, 3)), INTS[0]),
    ("bitwise_and", lambda x: (x, 1), INTS),
    ("bitwise_or", lambda x: (x, 4), INTS),
    ("bitwise_xor", lambda x: (x, 3), INTS),
    ("invert", lambda x: (x,), INTS),
    ("left_shift", lambda x: (x, 1), INTS),
    ("right_shift", lambda x: (x, 1), INTS),
    ("gcd", lambda x: (x, 2), INTS),
    ("lcm", lambda x: (x, 2), INTS),
    ("shape", lambda x: (x,), X),
    ("ndim", lambda x: (x,), X),
    ("size", lambda x: (x,), X),
    ("zeros_like", lambda x: (x,), X),
    ("ones_like", lambda x: (x,), INTS),
    ("full_like", lambda x: (x, 7), X),
    ("empty_like", lambda x: (x,), X),
]


def _same_constant(ours, expected, name):
    """``ours`` (from Tensor arguments) is ``expected`` (NumPy's on the arrays) as constant
    Tensors, with Python bools, ints and tuples left as NumPy gives them."""
    if isinstance(expected, (np.ndarray, np.generic)):
        assert isinstance(ours, cr.Tensor) and not ours.requires_grad, name
        assert ours.dtype == expected.dtype and ours.shape == np.shape(expected), name
        if name != "empty_like":
            np.testing.assert_array_equal(ours.numpy(), expected)
    elif isinstance(expected, tuple):
        assert type(ours) is tuple and len(ours) == len(expected), name
        for a, b in zip(ours, expected):
            _same_constant(a, b, name)
    else:
        assert type(ours) is type(expected) and ours == expected, name


@pytest.mark.parametrize("name, args, x", LOGIC_CASES, ids=[c[0] for c in LOGIC_CASES])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN and inf in X, wanted
def test_constant_functions_follow_numpy(name, args, x):
    numpy_function = getattr(np, name)
    expected = numpy_function(*args(x))
    # Plain arrays: NumPy's own result, unchanged.
    plain = getattr(logic, name)(*args(x))
    if name != "empty_like":
        assert type(plain) is type(expected)
        np.testing.assert_equal(plain, expected)
    # A Tensor (one that requires grad where its dtype allows): a constant.
    t = cr.tensor(x, requires_grad=np.issubdtype(x.dtype, np.floating))
    _same_constant(getattr(logic, name)(*args(t)), expected, name)
    # NumPy's own function on the Tensor lands on the same function.
    _same_constant(numpy_function(*args(t)), expected, name)


def test_every_constant_function_is_public_under_numpys_name():
    missing = [
        name for name in logic.FUNCTIONS if getattr(cr, name, None) is not getattr(logic, name)
    ]
    assert not missing, f"not exported as cr.*: {missing}"
    assert all(callable(getattr(np, name)) for name in logic.FUNCTIONS)


def test_numpy_dispatch_keeps_one_list():
    # Only non-mathematical functions run on the arrays by name; the rest are logic's.
    assert not _ON_ARRAYS & set(logic.FUNCTIONS)
    assert "real_if_close" not in _ON_ARRAYS and "cond" not in _ON_ARRAYS


def test_a_constant_in_a_graph_has_no_gradient():
    x = np.array([0.3, 1.7, -2.2, 4.6])
    np.testing.assert_allclose(cr.grad(lambda x: cr.sum(x * logic.floor(x)))(x), np.floor(x))
    np.testing.assert_allclose(
        cr.grad(lambda x: cr.sum(x * np.round(x) + cr.where(np.isfinite(x), x, 0.0)))(x),
        np.round(x) + 1,
    )
    t = _leaf(x)
    for out in (
        logic.ceil(t),
        np.ceil(t),
        logic.greater(t, 1.0),
        np.argsort(t),
        logic.zeros_like(t),
        np.full_like(t, 2.0),
    ):
        assert isinstance(out, cr.Tensor) and not out.requires_grad and out.grad_fn is None


def test_reductions_take_pytorchs_aliases():
    t = cr.tensor(X[:, :2].copy())
    np.testing.assert_array_equal(
        logic.all(t, dim=1, keepdim=True).numpy(), np.all(X[:, :2], axis=1, keepdims=True)
    )
    np.testing.assert_array_equal(logic.any(t - 1.5, dim=0).numpy(), [True, True])
    assert logic.argmax(t, dim=1).tolist() == [0, 0]
    assert logic.argmin(t, dim=0, keepdim=True).shape == (1, 2)
    assert logic.count_nonzero(t, dim=0).tolist() == [2, 2]
    with pytest.raises(TypeError, match="unexpected keyword"):
        logic.argmax(t, dims=1)


def test_weights_that_would_carry_a_gradient_are_refused():
    w = _leaf([1.0, 2.0, 3.0])
    for call in (
        lambda: logic.bincount(np.array([0, 1, 1]), weights=w),
        lambda: np.histogram(np.arange(3.0), 2, weights=w),
    ):
        with pytest.raises(TypeError, match="weights"):
            call()
    counts = logic.bincount(np.array([0, 1, 1]), weights=w.detach())
    assert counts.tolist() == [1.0, 5.0] and not counts.requires_grad


def test_like_functions():
    t = cr.tensor(np.ones((2, 3), np.float32))
    z = logic.zeros_like(t, requires_grad=True)
    assert z.requires_grad and z.is_leaf and z.dtype == np.float32 and z.shape == (2, 3)
    assert type(logic.ones_like(np.ones(2))) is np.ndarray
    assert isinstance(logic.ones_like(np.ones(2), requires_grad=True), cr.Tensor)
    assert logic.full_like(t, 2.5, dtype=np.float64).dtype == np.float64
    assert logic.zeros_like(t, shape=(4,)).shape == (4,)
    with pytest.raises(TypeError):
        logic.zeros_like(np.ones(2, int), requires_grad=True)
    assert cr.zeros_like is logic.zeros_like and cr.ones_like is logic.ones_like


def test_np_linalg_without_a_rule_is_refused_by_its_full_name():
    with pytest.raises(TypeError, match=r"np\.linalg\.cond"):
        np.linalg.cond(_leaf(np.eye(2)))


# ======================================================================= NumPy's other names
def test_aliases_are_the_same_functions():
    assert cr.absolute is cr.abs and cr.fabs is cr.abs and cr.true_divide is cr.divide
    assert cr.amax is cr.max and cr.amin is cr.min


@pytest.mark.parametrize("name", ["real", "conj", "conjugate", "real_if_close"])
def test_real_parts_of_real_inputs_keep_the_graph(name):
    x = np.array([0.5, -1.5, 2.0])
    f = getattr(arithmetic, name)
    t = _leaf(x)
    assert f(t) is t  # the real part of a real number is the number itself
    np.testing.assert_allclose(cr.grad(lambda x: cr.sum(getattr(np, name)(x) * x))(x), 2 * x)
    assert np.array_equal(f(x), getattr(np, name)(x))
    z = cr.tensor(np.array([1 + 2j, 3 - 1e-16j]))
    out = f(z)
    assert isinstance(out, cr.Tensor) and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), getattr(np, name)(z.numpy()))


def test_imag_and_angle_are_constants():
    t = _leaf([1.0, -2.0, 0.0])
    imag, angle = logic.imag(t), logic.angle(t)
    assert imag.tolist() == [0.0, 0.0, 0.0] and not imag.requires_grad
    np.testing.assert_allclose(angle.numpy(), [0.0, np.pi, 0.0])
    np.testing.assert_allclose(logic.angle(t, deg=True).numpy(), [0.0, 180.0, 0.0])
    imag.data[0] = 1.0  # its own array, not NumPy's read-only view
    assert cr.grad(lambda x: cr.sum(x * np.imag(x) + x))(np.ones(2)).tolist() == [1.0, 1.0]


# ======================================================================= linspace
LINSPACE_CASES = [
    (1.2, 3.4, {}),
    (1.2, -3.4, {"num": 5}),
    (0.0, 1.0, {"num": 4, "endpoint": False}),
    (2.0, 2.0, {"num": 3}),
    (1.0, 2.0, {"num": 1}),
    (1.0, 2.0, {"num": 0}),
    (np.array([0.0, 1.0]), 3.0, {"num": 4, "axis": -1}),
    (np.array([[0.0], [1.0]]), np.array([2.0, 3.0, 4.0]), {"num": 3, "axis": 1}),
    (1.5, -2.0, {"num": 6, "dtype": np.int64}),
    (0.0, 1e-310, {"num": 3}),
]


@pytest.mark.parametrize("start, stop, kwargs", LINSPACE_CASES)
def test_linspace_values(start, stop, kwargs):
    expected, step = np.linspace(start, stop, retstep=True, **kwargs)
    for a, b in [(_leaf(start), stop), (start, _leaf(stop)), (_leaf(start), _leaf(stop))]:
        ours, our_step = linspace(a, b, retstep=True, **kwargs)
        assert isinstance(ours, cr.Tensor) and ours.dtype == expected.dtype
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-15, atol=0)
        np.testing.assert_allclose(np.asarray(our_step), step, rtol=1e-15)
    plain = linspace(start, stop, **kwargs)  # no Tensor: NumPy's own result
    assert type(plain) is np.ndarray and np.array_equal(plain, expected)


def test_linspace_gradient_and_float32():
    # d/dstart = 1 - t and d/dstop = t for the points t = i / (num - 1); autograd's rule.
    g_start, g_stop = cr.grad(
        lambda a, b: cr.sum(linspace(a, b, 5) * np.arange(5.0)), argnums=(0, 1)
    )(1.2, -3.4)
    t = np.linspace(0.0, 1.0, 5)
    assert float(g_start) == pytest.approx(np.dot(1 - t, np.arange(5.0)))
    assert float(g_stop) == pytest.approx(np.dot(t, np.arange(5.0)))
    a = cr.tensor(np.float32(0.5), requires_grad=True)
    y = linspace(a, 2.0, 4)
    y.sum().backward()
    assert y.dtype == np.float32 and a.grad.dtype == np.float32
    assert cr.gradcheck(
        lambda a, b: linspace(a, b, 4, endpoint=False, axis=1), [_values(2, 1), _values(3, seed=1)]
    )
    with pytest.raises(ValueError, match="non-negative"):
        linspace(a, 2.0, -1)


# ======================================================================= gradient
GRADIENT_CASES = [
    ((6,), (), {}),
    ((4, 5), (), {}),
    ((4, 5), (), {"axis": -1}),
    ((4, 5), (0.5,), {}),
    ((4, 5), (2.0, 0.25), {"edge_order": 2}),
    ((3, 4, 5), (), {"axis": (2, 0)}),
    ((5, 3), (np.array([0.0, 0.5, 1.5, 1.75, 3.0]),), {"axis": 0}),
    ((5, 3), (np.array([0.0, 0.5, 1.5, 1.75, 3.0]),), {"axis": 0, "edge_order": 2}),
    ((3, 4), (np.array([1, 2, 4]), np.arange(4) * 3), {"edge_order": 2}),
    ((2, 3), (1.5,), {"axis": 0}),
    ((5,), (np.arange(5.0) * 2,), {}),
]


@pytest.mark.parametrize("shape, varargs, kwargs", GRADIENT_CASES)
def test_gradient_values_and_vjp(shape, varargs, kwargs):
    x = _values(*shape)
    expected = np.gradient(x, *varargs, **kwargs)
    ours = arithmetic.gradient(_leaf(x), *varargs, **kwargs)
    assert type(ours) is (tuple if isinstance(expected, tuple) else cr.Tensor)
    for o, e in zip(ours, expected) if isinstance(expected, tuple) else [(ours, expected)]:
        np.testing.assert_allclose(o.numpy(), e, rtol=1e-12, atol=1e-12)
    # np.gradient is linear in x: its matrix, from NumPy alone, is the exact Jacobian.
    jacobian = _jacobian_of_linear(lambda u: np.gradient(u, *varargs, **kwargs), shape)
    cotangent = RNG.standard_normal(jacobian.shape[0])
    _, pull = cr.vjp(
        lambda x: cr.reshape(_flat(arithmetic.gradient(x, *varargs, **kwargs)), (-1,)), x
    )
    np.testing.assert_allclose(
        pull(cotangent)[0].ravel(), cotangent @ jacobian, rtol=1e-12, atol=1e-12
    )


def test_gradient_against_torch():
    torch = pytest.importorskip("torch")
    x = _values(4, 5)
    coords = np.array([0.0, 0.5, 1.5, 1.75, 3.0])
    for spacing, edge_order in [(1.0, 1), (0.5, 2)]:
        t = torch.tensor(x, requires_grad=True)
        theirs = torch.gradient(t, spacing=spacing, edge_order=edge_order)
        ours = arithmetic.gradient(_leaf(x), spacing, edge_order=edge_order)
        for o, e in zip(ours, theirs):
            np.testing.assert_allclose(o.numpy(), e.detach().numpy(), rtol=1e-12)
    t = torch.tensor(x, requires_grad=True)
    (theirs,) = torch.gradient(t, spacing=(torch.tensor(coords),), dim=1)
    w = RNG.standard_normal((4, 5))
    (theirs * torch.tensor(w)).sum().backward()
    leaf = _leaf(x)
    ours = arithmetic.gradient(leaf, coords, axis=1)
    (ours * w).sum().backward()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(leaf.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gradient_keeps_float32_and_refuses_what_numpy_refuses():
    t = cr.tensor(np.arange(5, dtype=np.float32) ** 2)
    assert arithmetic.gradient(t, 0.5).dtype == np.float32
    assert arithmetic.gradient(cr.tensor(np.arange(4))).dtype == np.float64
    with pytest.raises(ShapeError, match="at least"):
        arithmetic.gradient(_leaf([1.0, 2.0]), edge_order=2)
    with pytest.raises(TypeError, match="spacings"):
        arithmetic.gradient(_leaf(np.ones((3, 3))), 1.0, 2.0, 3.0)
    with pytest.raises(ShapeError, match="distances"):
        arithmetic.gradient(_leaf(np.ones(3)), np.arange(4.0))
    with pytest.raises(TypeError, match="constants"):
        arithmetic.gradient(_leaf(np.ones(3)), _leaf(0.5))
    with pytest.raises(ValueError, match="edge_order"):
        arithmetic.gradient(_leaf(np.ones(5)), edge_order=3)
    with pytest.raises(AxisError):
        arithmetic.gradient(_leaf(np.ones(5)), axis=1)


# ======================================================================= partition
@pytest.mark.parametrize(
    "shape, kth, axis",
    [((9,), 4, -1), ((9,), (0, 3, 8), -1), ((4, 7), 2, 1), ((6, 3), -2, 0), ((3, 4), [1, 6], None)],
)
def test_partition(shape, kth, axis):
    x = _values(*shape)
    t = _leaf(x)
    ours = arrange.partition(t, kth, axis=axis)
    expected = np.partition(x, kth, axis=axis)
    flat_x = x.ravel() if axis is None else x
    along = 0 if axis is None else axis
    kths = np.atleast_1d(kth) % flat_x.shape[along]
    # The kth elements are where NumPy puts them; the sides hold the same values.
    np.testing.assert_array_equal(
        np.take(ours.numpy(), kths, along), np.take(expected, kths, along)
    )
    np.testing.assert_array_equal(np.sort(ours.numpy(), along), np.sort(expected, along))
    # Each value's gradient goes back to the element it came from.
    w = RNG.standard_normal(ours.shape)
    (ours * w).sum().backward()
    order = np.argpartition(flat_x, kth, axis=along)
    grad = np.zeros_like(flat_x)
    np.put_along_axis(grad, order, w, along)
    np.testing.assert_array_equal(t.grad.numpy(), grad.reshape(shape))


def test_partition_errors():
    with pytest.raises(AxisError):
        arrange.partition(_leaf(np.ones(3)), 1, axis=1)
    with pytest.raises(ValueError):
        arrange.partition(_leaf(np.ones(3)), 3)
    with pytest.raises(ValueError, match="structured"):
        arrange.partition(_leaf(np.ones(3)), 1, order="x")


# ======================================================================= rollaxis
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("start", [0, 1, 2, 3, -1, -3])
def test_rollaxis_follows_numpy(axis, start):
    x = _values(2, 3, 4)
    ours = arrange.rollaxis(_leaf(x), axis, start)
    np.testing.assert_array_equal(ours.numpy(), np.rollaxis(x, axis, start))
    np.testing.assert_array_equal(
        np.rollaxis(_leaf(x), axis, start).numpy(), np.rollaxis(x, axis, start)
    )


def test_rollaxis_errors():
    with pytest.raises(AxisError, match="start"):
        arrange.rollaxis(_leaf(np.ones((2, 3))), 0, 3)
    with pytest.raises(AxisError):
        arrange.rollaxis(_leaf(np.ones((2, 3))), 2)


# ======================================================================= select
def test_select_values_and_gradients():
    conditions = [_values(3, 4) > 0, _values(3, 4, seed=1) > 0, _values(4, seed=2) > 0]
    choices = [_values(3, 4, seed=3), _values(4, seed=4), _values(3, 1, seed=5)]
    default = _values(3, 4, seed=6)
    leaves = [_leaf(c) for c in choices + [default]]
    ours = arithmetic.select(conditions, leaves[:3], default=leaves[3])
    expected = np.select(conditions, choices, default)
    np.testing.assert_array_equal(ours.numpy(), expected)
    ours.sum().backward()
    # Each choice gets the gradient where its condition is the first to hold.
    taken = np.full((3, 4), 3)
    for i in reversed(range(3)):
        taken = np.where(np.broadcast_to(conditions[i], (3, 4)), i, taken)
    for i, leaf in enumerate(leaves):
        share = (taken == i).astype(float)
        axes = tuple(a for a, n in enumerate(leaf.shape) if n == 1) if leaf.ndim == 2 else 0
        np.testing.assert_array_equal(leaf.grad.numpy(), share.sum(axis=axes).reshape(leaf.shape))


def test_select_dtypes_and_plain_arrays():
    c = [np.array([True, False, False]), np.array([False, True, False])]
    x32 = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    assert arithmetic.select(c, [x32, 2.5]).dtype == np.float32
    assert arithmetic.select(c, [x32, np.ones(3)]).dtype == np.float64
    plain = arithmetic.select(c, [np.ones(3), 2.0], default=-1.0)
    assert type(plain) is np.ndarray and plain.tolist() == [1.0, 2.0, -1.0]
    from_tensor_conditions = arithmetic.select([cr.tensor(c[0])], [np.ones(3)])
    assert isinstance(from_tensor_conditions, cr.Tensor)
    assert np.select(c, [x32, x32 * 2]).requires_grad  # np.select on Tensors: chainrule's


def test_select_errors():
    x = _leaf(np.ones(3))
    with pytest.raises(ValueError, match="same length"):
        arithmetic.select([np.ones(3, bool)], [x, x])
    with pytest.raises(ValueError, match="empty"):
        arithmetic.select([], [])
    with pytest.raises(TypeError, match="entry 0"):
        arithmetic.select([np.ones(3)], [x])


# ======================================================================= r_ and c_
A = _values(3, 2)
V = _values(3, seed=1)
CONCATENATOR_CASES = [
    lambda m, t: m.r_[t],
    lambda m, t: m.r_[t, t],
    lambda m, t: m.r_[t, A],
    lambda m, t: m.r_[t, A, t],
    lambda m, t: m.c_[t, A, t],
    lambda m, t: m.r_[t[:, 0], 2.5],
    lambda m, t: m.r_[t[:, 0], A[:, 1], 1:4],
    lambda m, t: m.r_[t[:, 0], 0:1:5j],
    lambda m, t: m.r_["-1", t, A],
    lambda m, t: m.r_["0,2", t[:, 0], V],
    lambda m, t: m.r_["0,2,0", t[:, 0], V],
    lambda m, t: m.r_["1,3,-2", t, A],
    lambda m, t: m.c_[t, V],
    lambda m, t: m.c_[t[0, 0], 1.0],
    lambda m, t: m.r_[[t[0, 0], 1.0], V],
]


@pytest.mark.parametrize("build", CONCATENATOR_CASES, ids=range(len(CONCATENATOR_CASES)))
def test_r_c_follow_numpy_and_carry_the_graph(build):
    x = _values(3, 2, seed=2)
    expected = build(np, x)
    t = _leaf(x)
    ours = build(join, t)
    assert isinstance(ours, cr.Tensor) and ours.requires_grad
    assert ours.shape == expected.shape and ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours.numpy(), expected)
    assert cr.gradcheck(lambda t: build(join, t), [x])


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # NumPy's np.matrix
def test_r_c_without_tensors_are_numpys():
    assert join.r_[1:4, 7.0].tolist() == np.r_[1:4, 7.0].tolist()
    assert type(join.c_[V, V]) is np.ndarray
    assert isinstance(join.r_["r", V, V], np.matrix)  # NumPy's own, matrix and all
    assert cr.r_ is join.r_ and cr.c_ is join.c_


def test_r_c_float32_and_errors():
    x32 = cr.tensor(np.ones(2, np.float32), requires_grad=True)
    assert join.r_[x32, 1.5, 0:2.0].dtype == np.float64  # arange of floats is float64
    assert join.r_[x32, 1.5].dtype == np.float32
    with pytest.raises(ValueError, match="matrix"):
        join.r_["c", x32]
    with pytest.raises(ValueError, match="first"):
        join.r_[x32, "0"]
    with pytest.raises(ValueError, match="directive"):
        join.r_["a,b", x32]


# ======================================================================= clip
def test_clip_takes_numpy_and_pytorch_keywords():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    expected = np.clip(x, -1.0, 1.0)
    for call in (
        lambda t: cr.clip(t, a_min=-1.0, a_max=1.0),
        lambda t: cr.clip(t, -1.0, 1.0),
        lambda t: cr.clip(t, min=-1.0, max=1.0),
        lambda t: cr.clip(t, -1.0, max=1.0),
        lambda t: np.clip(t, a_min=-1.0, a_max=1.0),
        lambda t: t.clip(-1.0, 1.0),
    ):
        np.testing.assert_array_equal(call(_leaf(x)).numpy(), expected)
    np.testing.assert_array_equal(cr.clip(_leaf(x), a_max=0.0).numpy(), np.minimum(x, 0.0))
    with pytest.raises(TypeError, match="once"):
        cr.clip(_leaf(x), a_min=0.0, min=0.0)
    with pytest.raises(ValueError, match="at least one"):
        cr.clip(_leaf(x))


# ======================================================================= concatenate
def test_concatenate_axis_none_flattens_first():
    a, b = _values(2, 2), _values(3, seed=1)
    ours = cr.concatenate([_leaf(a), _leaf(b), 5.0], axis=None)
    np.testing.assert_array_equal(ours.numpy(), np.concatenate([a, b, [5.0]], axis=None))
    assert cr.gradcheck(lambda a, b: cr.concatenate((a, b), axis=None), [a, b])
    assert cr.gradgradcheck(lambda a, b: cr.concatenate((a, b), axis=None), [a, b])


def test_concatenate_primitive_without_bounds_gives_the_same_gradients():
    xs = [_values(2, n, seed=n) for n in (3, 0, 1, 2)]
    g = _values(2, 6, seed=9)
    op = shape._concatenate
    bounds = (0, 3, 3, 4, 6)
    for i in range(len(xs)):
        with_bounds = op.vjp(i, g, None, xs, {"axis": 1, "bounds": bounds})
        without = op.vjp(i, g, None, xs, {"axis": 1})
        np.testing.assert_array_equal(with_bounds, without)
        np.testing.assert_array_equal(without, g[:, bounds[i] : bounds[i + 1]])


def test_concatenate_backward_finds_each_piece_in_constant_work(monkeypatch):
    # The backward of n pieces once asked every piece's shape for every piece (n^2 / 2
    # lookups); with the bounds computed once in forward it asks none.
    n = 3000
    x = _leaf(np.arange(3.0))
    y = cr.sum(cr.stack([x * float(i) for i in range(n)]))
    calls = []
    real = shape._shape_of
    monkeypatch.setattr(shape, "_shape_of", lambda a: calls.append(1) or real(a))
    y.backward()
    assert len(calls) <= n, f"{len(calls)} shape lookups for {n} pieces"
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, n * (n - 1) / 2))


def test_concatenate_of_many_pieces_backprops():
    n = 5000
    x = _leaf(np.arange(3.0))
    start = time.perf_counter()
    y = cr.sum(cr.stack([x] * n) * 2.0)
    y.backward()
    print(f"stack + backward of {n} pieces: {time.perf_counter() - start:.2f} s")
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2.0 * n))


def test_np_linspace_on_tensors_is_chainrules():
    a = _leaf(0.0)
    y = np.linspace(a, 2.0, 5)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    y.sum().backward()
    assert a.grad.item() == pytest.approx(2.5)  # the weights 1 - i / 4
