"""HIPS autograd's own test suite, restated for chainrule (real float inputs only).

Each test here is one of autograd's tests (tests/test_numpy.py, test_systematic.py,
test_linalg.py, test_scalar_ops.py, test_binary_ops.py, test_wrappers.py, test_graphs.py,
test_core.py, test_direct.py, test_jacobian.py, test_logic.py, test_truediv.py), written
anew: the same function on the same kinds of inputs (shapes, axes, keepdims, ddof,
broadcasting pairs, Python scalars and 0-d arrays), checked with ``cr.check_grads`` in both
modes to second order, and autograd's nesting patterns (grad of grad, a grad that closes
over an outer traced variable, jacobian of jacobian, hessian, value_and_grad, argnums
tuples, keyword arguments, functions returning Python numbers).

Out of scope (as in issue #15): complex numbers, scipy, fft, containers of traced values,
np.random, and autograd's internals (vspaces, the tracer, primitive definitions).
"""

import functools
import itertools
import operator

import numpy as np
import pytest

import chainrule as cr

# Random inputs are drawn once, at import, from a fixed seed: the same values every run.
_RNG = np.random.default_rng(20240607)


def R(*shape):
    """Standard normal values of ``shape`` (a 0-d array for no shape, as npr.randn())."""
    return _RNG.standard_normal(shape)


def U(*shape):
    """Uniform values in [0, 1) of ``shape`` (npr.rand)."""
    return _RNG.uniform(size=shape)


def check(f, *args, order=2, modes=("fwd", "rev")):
    """autograd's check_grads(f, modes, order)(*args): every argument is checked."""
    assert cr.check_grads(f, modes=modes, order=order)(*args)


def to_scalar(x):
    """autograd's old ``to_scalar``: a scalar that depends on every element of ``x``."""
    return cr.sum(cr.sin(x))


def check_with_grad(fun, *args):
    """``check_grads(fun)`` to order 2, and autograd's ``d_fun = to_scalar(grad(fun))``."""
    check(fun, *args)
    nums = tuple(range(len(args)))

    def d_fun(*xs):
        grads = cr.grad(lambda *ys: to_scalar(fun(*ys)), argnums=nums)(*xs)
        return sum(to_scalar(g) for g in grads)

    check(d_fun, *args, order=1)


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value).__name__ + "(" + ", ".join(_describe(v) for v in value) + ")"
    return repr(value)


def combo(fun, argnums, *arg_lists, **kwarg_lists):
    """autograd's ``combo_check``: every combination of the given args and kwargs.

    Only the arguments at ``argnums`` are differentiated; the others (subscripts, index
    lists, conditions, ...) are closed over. All failing combinations are listed.
    """
    failures, total = [], 0
    keys = list(kwarg_lists)
    for args in itertools.product(*arg_lists):
        for values in itertools.product(*(kwarg_lists[k] for k in keys)):
            total += 1
            kwargs = dict(zip(keys, values))

            def f(*xs, args=args, kwargs=kwargs):
                full = list(args)
                for i, x in zip(argnums, xs):
                    full[i] = x
                return fun(*full, **kwargs)

            try:
                check(f, *[args[i] for i in argnums])
            except Exception as error:  # noqa: BLE001  (collected and reported below)
                text = str(error).splitlines()[0][:200] if str(error) else ""
                failures.append(
                    f"args=({', '.join(_describe(a) for a in args)}) "
                    f"kwargs={kwargs}: {type(error).__name__}: {text}"
                )
    if failures:
        pytest.fail(f"{len(failures)} of {total} combinations failed:\n" + "\n".join(failures))


def flat(pieces):
    """A list or tuple of outputs as one vector (check_grads wants a single array out)."""
    return cr.concatenate([cr.reshape(p, (-1,)) for p in pieces])


def transform(lims, x):
    return x * (lims[1] - lims[0]) + lims[0]


# --------------------------------------------------------------- numpy_utils helpers
def stat_check(fun):
    """Statistics (sum, mean, ...): scalars, 0-d, vectors and matrices, axis and keepdims."""
    x, a = 3.5, R()
    b, c, d = R(3), R(2, 3), R(1, 3)
    failures = []
    for checker in (
        lambda: combo(fun, (0,), [x, a]),
        lambda: combo(fun, (0,), [b, c, d], axis=[None, 0], keepdims=[True, False]),
        lambda: combo(fun, (0,), [c, d], axis=[None, 0, 1], keepdims=[True, False]),
    ):
        try:
            checker()
        except pytest.fail.Exception as error:
            failures.append(str(error))
    if failures:
        pytest.fail("\n".join(failures))


def unary_ufunc_check(fun, lims=(-2, 2)):
    scalar = transform(lims, 0.4)
    vector = transform(lims, U(2))
    mat = transform(lims, U(3, 2))
    mat2 = transform(lims, U(1, 2))
    combo(fun, (0,), [scalar, vector, mat, mat2])


def binary_ufunc_check(fun, lims_a=(-2, 2), lims_b=(-2, 2)):
    values = [0.6, U(2), U(3, 2), U(1, 2)]
    combo(
        fun, (0, 1), [transform(lims_a, v) for v in values], [transform(lims_b, v) for v in values]
    )


def binary_ufunc_check_no_same_args(fun, lims_a=(-2, 2), lims_b=(-2, 2)):
    first = [0.6, U(2), U(3, 2), U(1, 2)]
    second = [0.7, U(2), U(3, 2), U(1, 2)]
    combo(
        fun, (0, 1), [transform(lims_a, v) for v in first], [transform(lims_b, v) for v in second]
    )


# ============================================================ test_systematic.py
STATS = {
    "max": cr.max,
    "min": cr.min,
    "mean": cr.mean,
    "sum": cr.sum,
    "prod": cr.prod,
    "var": cr.var,
    "std": cr.std,
}


@pytest.mark.parametrize("name", sorted(STATS))
def test_stat(name):
    stat_check(STATS[name])


@pytest.mark.parametrize("name", ["all", "any"])
def test_stat_without_gradient(name):
    # np.all / np.any on traced values: a constant (boolean) result, gradient zero.
    stat_check(lambda x, **kw: getattr(np, name)(x, **kw))


def _cr(name):
    """chainrule's function under NumPy's name (None when it has none)."""
    return getattr(cr, name, None)


UNARY = [  # (NumPy name, lims, scale): autograd's unary_ufunc_check calls
    ("sin", (-2, 2), 1),
    ("abs", (0.1, 4.0), 1),
    ("absolute", (0.1, 4.0), 1),
    ("arccosh", (1.1, 4.0), 1),
    ("arcsinh", (-0.9, 0.9), 1),
    ("arctanh", (-0.9, 0.9), 1),
    ("arccos", (-0.9, 0.9), 1),
    ("arcsin", (-0.9, 0.9), 1),
    ("arctan", (-2, 2), 1),
    ("ceil", (-1.5, 1.5), 1),
    ("cos", (-2, 2), 1),
    ("cosh", (-2, 2), 1),
    ("deg2rad", (-2, 2), 1),
    ("degrees", (-2, 2), 50.0),
    ("exp", (-2, 2), 1),
    ("exp2", (-2, 2), 1),
    ("expm1", (-2, 2), 1),
    ("fabs", (-2, 2), 1),
    ("floor", (-1.5, 1.5), 1),
    ("log", (0.2, 2.0), 1),
    ("log10", (0.2, 2.0), 1),
    ("log1p", (0.2, 2.0), 1),
    ("log2", (0.2, 2.0), 1),
    ("rad2deg", (-2, 2), 50.0),
    ("radians", (-2, 2), 1),
    ("sign", (-2, 2), 1),
    ("sinh", (-2, 2), 1),
    ("sqrt", (1.0, 3.0), 1),
    ("square", (-2, 2), 1),
    ("tan", (-1.1, 1.1), 1),
    ("tanh", (-2, 2), 1),
    ("negative", (-2, 2), 1),
    ("reciprocal", (0.5, 2.0), 1),
    ("sinc", (-2, 2), 1),
    ("real", (-2, 2), 1),
    ("real_if_close", (-2, 2), 1),
    ("imag", (-2, 2), 1),
    ("conj", (-2, 2), 1),
    ("angle", (-2, 2), 1),
]


@pytest.mark.parametrize("name, lims, scale", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ufunc_chainrule(name, lims, scale):
    # The function as the adapter maps it: chainrule's own under NumPy's name.
    function = _cr(name)
    if function is None:
        pytest.fail(f"chainrule has no cr.{name}")
    unary_ufunc_check(lambda x: function(x) / scale, lims)


@pytest.mark.parametrize("name, lims, scale", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ufunc_numpy_dispatch(name, lims, scale):
    # NumPy's own function called on traced values (__array_ufunc__/__array_function__).
    function = getattr(np, name)
    unary_ufunc_check(lambda x: function(x) / scale, lims)


BINARY = [  # (NumPy name, checker, lims_a, lims_b)
    ("add", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("subtract", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("multiply", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("logaddexp", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("logaddexp2", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("remainder", binary_ufunc_check_no_same_args, (-0.9, 0.9), (0.7, 1.9)),
    ("true_divide", binary_ufunc_check, (-2, 2), (0.8, 1.2)),
    ("divide", binary_ufunc_check, (-2, 2), (0.8, 1.2)),
    ("mod", binary_ufunc_check_no_same_args, (-2, 2), (0.8, 2.1)),
    ("true_divide", binary_ufunc_check, (-2, 2), (-0.3, -2.0)),
    ("mod", binary_ufunc_check_no_same_args, (-2, 2), (-0.3, -2.0)),
    ("fmod", binary_ufunc_check_no_same_args, (0.1, 0.9), (1.1, 2.0)),
    ("power", binary_ufunc_check, (0.7, 2.0), (-2, 2)),
    ("hypot", binary_ufunc_check, (0.5, 2.0), (0.5, 2.0)),
    ("arctan2", binary_ufunc_check, (0.5, 2.0), (0.5, 2.0)),
]
BINARY_IDS = [f"{b[0]}-{i}" for i, b in enumerate(BINARY)]


@pytest.mark.parametrize("name, checker, lims_a, lims_b", BINARY, ids=BINARY_IDS)
def test_binary_ufunc_chainrule(name, checker, lims_a, lims_b):
    function = _cr(name)
    if function is None:
        pytest.fail(f"chainrule has no cr.{name}")
    checker(function, lims_a, lims_b)


@pytest.mark.parametrize("name, checker, lims_a, lims_b", BINARY, ids=BINARY_IDS)
def test_binary_ufunc_numpy_dispatch(name, checker, lims_a, lims_b):
    checker(getattr(np, name), lims_a, lims_b)


OPERATORS = [
    ("mul", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("add", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("sub", binary_ufunc_check, (-2, 2), (-2, 2)),
    ("mod", binary_ufunc_check_no_same_args, (-2, 2), (0.3, 2.0)),
    ("mod", binary_ufunc_check_no_same_args, (-2, 2), (-0.3, -2.0)),
    ("truediv", binary_ufunc_check, (-2, 2), (0.5, 2.0)),
    ("pow", binary_ufunc_check, (0.7, 2.0), (-2, 2)),
]


@pytest.mark.parametrize(
    "name, checker, lims_a, lims_b", OPERATORS, ids=[f"{o[0]}-{i}" for i, o in enumerate(OPERATORS)]
)
def test_operator(name, checker, lims_a, lims_b):
    checker(getattr(operator, name), lims_a, lims_b)


def test_transpose():
    combo(
        cr.transpose,
        [0],
        [R(2, 3, 4)],
        axes=[None, [0, 1, 2], [0, 2, 1], [2, 0, 1], [2, 1, 0], [1, 0, 2], [1, 2, 0]],
    )


def test_repeat():
    combo(cr.repeat, [0], [R(2, 3, 4), R(3, 1)], repeats=[0, 1, 2], axis=[None, 0, 1])


def test_diff():
    combo(cr.diff, [0], [R(5, 5), R(5, 5, 5)], n=[1, 2], axis=[0, 1])
    combo(cr.diff, [0], [R(1), R(1, 1)], axis=[0])
    combo(cr.diff, [0], [R(1, 1), R(3, 1)], axis=[1])


def test_gradient():
    function = _cr("gradient")
    if function is None:
        pytest.fail("chainrule has no cr.gradient (np.gradient)")
    combo(
        lambda x, **kw: (
            flat(function(x, **kw))
            if isinstance(function(x, **kw), (list, tuple))
            else function(x, **kw)
        ),
        [0],
        [R(5, 5), R(5, 5, 5)],
        axis=[None, 0, 1, -1],
    )


def test_tile():
    combo(cr.tile, [0], [R(2, 1, 3, 1)], reps=[(1, 4, 1, 2)])
    combo(cr.tile, [0], [R(1, 2)], reps=[(1, 2), (2, 3), (3, 2, 1)])
    combo(cr.tile, [0], [R(1)], reps=[(2,), 2])


def test_kron():
    combo(cr.kron, [0, 1], [R(5, 5), R(4, 4)], [R(3, 3), R(2, 2)])


def test_inner():
    combo(cr.inner, [0, 1], [1.5, R(3), R(2, 3)], [0.3, R(3), R(4, 3)])


def test_dot():
    combo(cr.dot, [0, 1], [1.5, R(3), R(2, 3), R(2, 2, 3)], [0.3, R(3), R(3, 4), R(2, 3, 4)])


def test_matmul():
    combo(cr.matmul, [0, 1], [R(3), R(2, 3), R(2, 2, 3)], [R(3), R(3, 4), R(2, 3, 4)])


def test_matmul_operator():
    combo(operator.matmul, [0, 1], [R(3), R(2, 3), R(2, 2, 3)], [R(3), R(3, 4), R(2, 3, 4)])


@pytest.mark.parametrize(
    "a_list, b_list, axes",
    [
        ([R(1, 3), R(2, 3, 2)], [R(3), R(3, 1), R(3, 4, 2)], [[(1,), (0,)]]),
        ([R(3), R(3, 1), R(3, 4, 2)], [R(1, 3), R(2, 3, 2)], [[(0,), (1,)]]),
        ([R(2, 3), R(2, 3, 4)], [R(1, 2, 3), R(2, 2, 3, 4)], [[(0, 1), (1, 2)], [(1, 0), (2, 1)]]),
        ([R(2, 2), R(4, 2, 2)], [R(2, 2), R(2, 2, 4)], [1, 2]),
        ([R(4)], [R()], [0]),
        ([R(2, 6)], [R(6, 3)], [[[-1], [0]]]),
    ],
    ids=["1", "2", "3", "4", "5", "6"],
)
def test_tensordot(a_list, b_list, axes):
    combo(cr.tensordot, [0, 1], a_list, b_list, axes=axes)


@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin"])
def test_maximum_family(name):
    # Distinct random values: no ties, where the gradient is not defined.
    combo(getattr(cr, name), [0, 1], [R(1), R(1, 4), R(3, 4)], [R(1), R(1, 4), R(3, 4)])


def test_sort():
    combo(cr.sort, [0], [R(1), R(7)])


def test_sort_2d_axes():
    combo(cr.sort, [0], [R(3, 4)], axis=[-1, 0, 1])


def test_partition():
    function = _cr("partition")
    if function is None:
        pytest.fail("chainrule has no cr.partition (np.partition)")
    combo(function, [0], [R(7), R(14)], kth=[0, 3, 6])


@pytest.mark.parametrize(
    "name, extra", [("atleast_1d", []), ("atleast_2d", []), ("atleast_3d", [R(2, 4, 3, 5)])]
)
def test_atleast(name, extra):
    combo(getattr(cr, name), [0], [1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)] + extra)


def test_atleast_several_arrays():
    # np.atleast_2d(a, b) returns a list of arrays
    check(lambda a, b: flat(cr.atleast_2d(a, b)), R(3), R(2, 2))


EINSUM = [  # (subscripts, operand lists)
    ("ij->ji", [[R(1, 1), R(4, 4), R(3, 4)]]),
    ("ij,jk->ik", [[R(2, 3)], [R(3, 4)]]),
    ("...ij,...jk->...ik", [[R(2, 3), R(2, 2, 3)], [R(3, 4), R(2, 3, 4)]]),
    ("ijk,lji->lki", [[R(3, 4, 4)], [R(4, 4, 3)]]),
    ("...jk,...lj->...lk", [[R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)]]),
    ("...,...->...", [[R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)]]),
    ("jk...,lj...->lk...", [[R(3, 2), R(3, 2, 4)], [R(2, 3), R(2, 3, 4)]]),
    ("j...k,lj...->lk...", [[R(2, 2), R(2, 2, 2)], [R(2, 2), R(2, 2, 2)]]),
    ("ijk,lji,lli->lki", [[R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)]]),
    ("ij,k", [[R(2, 3)], [R(4)]]),
    ("ii->i", [[R(3, 3)]]),
    ("ii", [[R(3, 3)]]),
    ("i,i", [[R(3)]] * 2),
    ("ij,ij->ij", [[R(2, 3)]] * 2),
]


@pytest.mark.parametrize(
    "subscripts, operands", EINSUM, ids=[f"{i}:{e[0]}" for i, e in enumerate(EINSUM)]
)
def test_einsum(subscripts, operands):
    nums = list(range(1, len(operands) + 1))
    combo(cr.einsum, nums, [subscripts], *operands)


@pytest.mark.parametrize(
    "a, b",
    [(R(0, 3), R(3, 4)), (R(0, 3), R(2, 3, 4)), (R(0, 2, 3), R(3, 4)), (R(0, 2, 3), R(0, 3, 4))],
    ids=["2d-2d", "2d-3d", "3d-2d", "3d-3d"],
)
def test_einsum_matmult_broadcast_leadzero(a, b):
    # empty leading axes (the pairs NumPy can broadcast)
    check(lambda x, y: cr.einsum("...ij,...jk->...ik", x, y), a, b)


EINSUM_SUBLISTS = [  # autograd's test_einsum2_*: operand, sublist, operand, sublist, output
    ([0], [[R(1, 1), R(4, 4), R(3, 4)], [(0, 1)], [(1, 0)]]),
    ([0, 2], [[R(2, 3)], [(0, 1)], [R(3, 4)], [(1, 2)], [(0, 2)]]),
    (
        [0, 2],
        [
            [R(2, 3), R(2, 2, 3)],
            [(Ellipsis, 0, 1)],
            [R(3, 4), R(2, 3, 4)],
            [(Ellipsis, 1, 2)],
            [(Ellipsis, 0, 2)],
        ],
    ),
    ([0, 2], [[R(3, 4, 4)], [(0, 1, 2)], [R(4, 4, 3)], [(3, 1, 0)], [(3, 2, 0)]]),
    (
        [0, 2],
        [
            [R(3, 4, 4)],
            [(0, 1, 2)],
            [R(4, 4, 3)],
            [(3, 1, 0)],
            [R(4, 4, 3)],
            [(3, 3, 0)],
            [(3, 2, 0)],
        ],
    ),
]


@pytest.mark.parametrize(
    "nums, lists",
    EINSUM_SUBLISTS,
    ids=["transpose", "matmult", "broadcast", "covsum", "three_args"],
)
def test_einsum_sublist_format(nums, lists):
    combo(cr.einsum, nums, *lists)


def test_trace():
    combo(cr.trace, [0], [R(5, 5), R(4, 5), R(5, 4), R(3, 4, 5)], offset=[-1, 0, 1])


def test_diag():
    combo(cr.diag, [0], [R(5, 5)], k=[-1, 0, 1])


def test_diag_flat():
    combo(cr.diag, [0], [R(5)], k=[-1, 0, 1])


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tri(name):
    combo(getattr(cr, name), [0], [R(5, 5), R(5, 5, 4)], k=[-1, 0, 1])


def test_swapaxes():
    combo(cr.swapaxes, [0], [R(3, 4, 5)], axis1=[0, 1, 2], axis2=[0, 1, 2])


def test_rollaxis():
    function = _cr("rollaxis")
    if function is None:
        pytest.fail("chainrule has no cr.rollaxis (np.rollaxis)")
    combo(function, [0], [R(2, 3, 4)], axis=[0, 1, 2], start=[0, 1, 2, 3])


def test_moveaxis():
    combo(cr.moveaxis, [0], [R(2, 3, 4)], source=[0, 1, 2, -1], destination=[0, 1, 2, -1])


def test_cross():
    combo(
        cr.cross,
        [0, 1],
        [R(3, 3)],
        [R(3, 3)],
        axisa=[-1, 0, 1],
        axisb=[-1, 0, 1],
        axisc=[-1, 0, 1],
        axis=[None, -1, 0, 1],
    )


def test_cross_broadcast_and_2d():
    combo(cr.cross, [0, 1], [R(3), R(4, 3)], [R(3), R(4, 3)])


def _split_combo(function, arrays, sections, **kwargs):
    combo(lambda x, s, **kw: flat(function(x, s, **kw)), [0], arrays, sections, **kwargs)


def test_vsplit():
    _split_combo(cr.vsplit, [R(4, 8)], [4, [1, 2]])
    _split_combo(cr.vsplit, [R(4, 4, 4)], [2, [1, 2]])


def test_hsplit():
    _split_combo(cr.hsplit, [R(4, 8)], [4, [1, 2]])
    _split_combo(cr.hsplit, [R(4, 4, 4)], [2, [1, 2]])


def test_dsplit():
    _split_combo(cr.dsplit, [R(4, 4, 4)], [2, [1, 2]])


def test_split():
    _split_combo(cr.split, [R(1), R(7)], [1], axis=[0])
    _split_combo(cr.split, [R(4, 8)], [4, [1, 2]], axis=[0, 1])
    _split_combo(cr.split, [R(4, 4, 4)], [2, [1, 2]], axis=[0, 1, 2])


def test_array_split():
    _split_combo(cr.array_split, [R(1), R(7)], [1, 3], axis=[0])
    _split_combo(cr.array_split, [R(7, 7)], [4, [3, 5]], axis=[0, 1])
    _split_combo(cr.array_split, [R(7, 7, 7)], [4, [3, 5]], axis=[0, 1, 2])


def test_split_returns_a_list_through_vjp():
    # A function returning a list of arrays (np.split): autograd differentiates each piece.
    pieces = lambda x: cr.split(x, 2)
    x = R(4)
    _, pull = cr.vjp(lambda x: flat(pieces(x)), x)
    np.testing.assert_allclose(pull(np.arange(4.0))[0], np.arange(4.0))


@pytest.mark.parametrize("make", [tuple, list], ids=["tuple", "list"])
def test_concatenate_containers(make):
    combo(lambda a, b, **kw: cr.concatenate(make((a, b)), **kw), [0, 1], [R(1)], [R(3)], axis=[0])


def test_concatenate_nd():
    combo(
        lambda a, b, **kw: cr.concatenate((a, b), **kw), [0, 1], [R(2, 2)], [R(2, 2)], axis=[0, 1]
    )
    combo(
        lambda a, b, **kw: cr.concatenate((a, b), **kw),
        [0, 1],
        [R(2, 2, 2)],
        [R(2, 2, 2)],
        axis=[0, 1, 2],
    )


def test_concatenate_axis_none():
    check(lambda a, b: cr.concatenate((a, b), axis=None), R(2, 2), R(3))


@pytest.mark.parametrize("name", ["vstack", "row_stack", "hstack", "column_stack", "dstack"])
def test_stacking(name):
    function = getattr(cr, name)
    one = {
        "vstack": [R(2)],
        "row_stack": [R(2)],
        "hstack": [R(2)],
        "column_stack": [R(2)],
        "dstack": [R(2)],
    }[name]
    pairs = {
        "vstack": [(R(2), R(2)), (R(2, 4), R(1, 4)), (R(2, 3, 4), R(5, 3, 4))],
        "row_stack": [(R(2), R(2)), (R(2, 4), R(1, 4))],
        "hstack": [(R(2), R(2)), (R(3, 4), R(3, 5)), (R(2, 1, 4), R(2, 5, 4))],
        "column_stack": [(R(2), R(2)), (R(2, 2), R(2, 2))],
        "dstack": [(R(2), R(2)), (R(2, 3), R(2, 3)), (R(2, 3, 1), R(2, 3, 2))],
    }[name]
    combo(lambda a: function((a,)), [0], one + [R(2, 3)])
    failures = []
    for a, b in pairs:
        try:
            check(lambda x, y: function((x, y)), a, b)
        except Exception as error:  # noqa: BLE001
            failures.append(f"{a.shape}, {b.shape}: {type(error).__name__}: {error}")
    assert not failures, failures


def test_stack():
    combo(lambda a, **kw: cr.stack((a,), **kw), [0], [R(2)], axis=[0, 1])
    combo(lambda a, b, **kw: cr.stack((a, b), **kw), [0, 1], [R(2)], [R(2)], axis=[0, 1, -1])


def test_select():
    function = _cr("select")
    if function is None:
        pytest.fail("chainrule has no cr.select (np.select)")
    conditions = [R(3, 4, 5) > 0, R(3, 4, 5) > 0, R(3, 4, 5) > 0]

    def fun(a, b, c, default):
        return function(conditions, [a, b, c], default=default)

    for default in (0.0, 1.1):
        check(functools.partial(fun, default=default), R(3, 4, 5), R(3, 4, 5), R(3, 4, 5))


def test_pad():
    widths = [0, 3, (3,), (3, 2), ((3, 2),), ((1, 2), (3, 4)), ((0, 0), (0, 0))]
    combo(cr.pad, [0], [R(2, 2)], widths, ["constant"])


def test_pad_constant_values():
    check(lambda x: cr.pad(x, 2, constant_values=1.5), R(3))


# ================================================================= test_numpy.py
def test_numpy_dot():
    mat1, mat2 = R(10, 11), R(10, 11)
    vect1, vect2, vect3 = R(10), R(11), R(11)
    for a, b in [(mat1, vect2), (mat1, mat2.T), (vect1, mat1), (vect2, vect3)]:
        check_with_grad(cr.dot, a, b)


def test_dot_with_floats():
    mat1, vect1, float1 = R(10, 11), R(10), float(R())
    for a, b in [(mat1, float1), (float1, mat1), (vect1, float1), (float1, vect1)]:
        check_with_grad(cr.dot, a, b)


def test_dot_method():
    check(lambda x, y: x.dot(y), R(3, 4), R(4))


def test_outer():
    check_with_grad(cr.outer, R(11), R(11))


def test_outer_of_matrices_flattens():
    # np.outer ravels its inputs
    check(cr.outer, R(2, 2), R(3))


def test_matrix_multiply_broadcast():
    check(cr.matmul, R(2, 3, 4), R(4, 5))
    check(cr.matmul, R(3, 4), R(2, 4, 5))
    check(cr.matmul, R(2, 1, 3, 4), R(5, 4, 2))


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((10, 11), {}),
        ((3, 4, 5), {"axis": 1}),
        ((3, 4, 5), {"axis": 1, "keepdims": True}),
        ((3, 4, 5), {"axis": (0, 2)}),
        ((3, 4, 5), {"axis": -1}),
    ],
)
def test_max_min(name, shape, kwargs):
    function = getattr(cr, name)
    check_with_grad(lambda x: function(x, **kwargs), R(*shape))


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin(name):
    function = _cr(name)
    if function is None:
        pytest.fail(f"chainrule has no cr.{name}")
    check(lambda x: function(x, axis=0), R(3, 4))


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((10, 11), {}),
        ((10, 11), {"axis": 0}),
        ((10, 11), {"axis": 0, "keepdims": True}),
        ((10, 11, 7), {"axis": (1, 2)}),
        ((4, 5), {"axis": -1}),
    ],
)
def test_sum_mean(name, shape, kwargs):
    function = getattr(cr, name)
    check_with_grad(lambda x: function(x, **kwargs), R(*shape))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "var", "std"])
def test_reduction_methods(name):
    # Tensor methods follow PyTorch, whose var/std are unbiased by default: NumPy's ddof=0
    # is asked for by name (cr.var and cr.std themselves are NumPy's).
    options = {"ddof": 0} if name in ("var", "std") else {}
    check(lambda x: getattr(x, name)(axis=1, **options), R(3, 4) + 3.0)


@pytest.mark.parametrize("name", ["flipud", "fliplr", "rot90"])
def test_flips(name):
    check_with_grad(getattr(cr, name), R(10, 11))


def test_flip_axes():
    combo(cr.flip, [0], [R(2, 3, 4)], axis=[None, 0, 1, (0, 2), -1])


def test_rot90_k_axes():
    combo(cr.rot90, [0], [R(2, 3, 4)], k=[-1, 2, 3], axes=[(0, 1), (1, 2), (2, 0)])


@pytest.mark.parametrize(
    "shape, axis", [((10, 11), 0), ((10, 11), 1), ((10,), None), ((10, 11), None), ((2, 3, 4), -1)]
)
def test_cumsum(shape, axis):
    check_with_grad(lambda x: cr.cumsum(x, axis=axis), R(*shape))


def test_cumprod():
    check(lambda x: cr.cumprod(x, axis=1), R(3, 4) + 2.0)
    check(lambda x: cr.cumprod(x), R(5) + 2.0)


def test_non_numpy_sum():
    check_with_grad(lambda x, y: sum([x, y]), R(10, 11), R(10, 11))


@pytest.mark.parametrize(
    "index",
    [
        (3, 0, 1),
        (slice(None, None, -1), slice(2, 4), slice(None)),
        ([0, 1, 2], slice(None)),
        (3, slice(2, None), [1, 3]),
        (Ellipsis, 1),
        (None, 1),
        (np.array([True, False] * 3),),
        (slice(None), np.array([[0, 1], [2, 3]])),
        (-1, -2, -3),
    ],
    ids=[
        "ints",
        "slices",
        "list",
        "mixed",
        "ellipsis",
        "newaxis",
        "bool_mask",
        "int_array",
        "negative",
    ],
)
def test_index(index):
    check_with_grad(
        lambda x: x[index],
        R(5, 6, 4) if len(index) != 1 or not isinstance(index[0], np.ndarray) else R(6, 4),
    )


def test_vector_slice():
    check_with_grad(lambda x: x[2:4], R(5))


def test_index_slice_fanout():
    check_with_grad(lambda x: x[::-1, 2:4, :] + x[::-1, 3:5, :], R(5, 6, 4))


def test_index_multiple_slices():
    check_with_grad(lambda x: x[2:6][1:3], R(7))


def test_multi_index():
    check_with_grad(lambda x: cr.sum(x[[0, 0]]), R(3))
    check_with_grad(lambda x: cr.sum(x[[0, 1, 0]]), R(3))


def test_index_dot_slices():
    check_with_grad(lambda x: cr.dot(x[:2], x[2:]), R(4))


@pytest.mark.parametrize(
    "fun",
    [
        lambda x: x.reshape((5 * 4, 6)),
        lambda x: cr.reshape(x, (5 * 4, 6)),
        lambda x: x.reshape(5 * 4, 6),
        lambda x: x.reshape(-1, 6),
        lambda x: x.ravel(),
        lambda x: cr.ravel(x),
        lambda x: x.flatten(),
        lambda x: x.T,
        lambda x: cr.transpose(x, (2, 0, 1)),
        lambda x: x.transpose(2, 0, 1),
        lambda x: x.transpose((2, 0, 1)),
        lambda x: x.swapaxes(0, 2),
    ],
    ids=[
        "reshape_method",
        "reshape_call",
        "reshape_method_nolist",
        "reshape_minus_one",
        "ravel_method",
        "ravel_call",
        "flatten_method",
        "T",
        "transpose_call",
        "transpose_method_args",
        "transpose_method_tuple",
        "swapaxes_method",
    ],
)
def test_reshapes(fun):
    check_with_grad(fun, R(5, 6, 4))


def test_simple_concatenate():
    a = R(5, 6, 4)
    check_with_grad(lambda x: cr.concatenate((a, x)), R(4, 6, 4))


@pytest.mark.parametrize(
    "call",
    [
        lambda b, x: cr.concatenate((b, x, b)),
        lambda b, x: cr.concatenate((b, x, b), axis=1),
        lambda b, x: cr.concatenate((b, x, b), 1),
        lambda b, x: cr.concatenate([b, x, b], -1),
    ],
    ids=["axis_0", "axis_1", "axis_1_unnamed", "list_axis_-1"],
)
def test_concatenate_with_constants(call):
    b = R(5, 6, 4)
    check_with_grad(lambda x: call(b, x), R(5, 6, 4))


@pytest.mark.parametrize(
    "shape, offset",
    [((10, 11), 3), ((11, 10), -4), ((10, 11), 0), ((5, 6, 4, 3), 2), ((5, 6, 4, 3), -3)],
)
def test_numpy_trace(shape, offset):
    check_with_grad(lambda x: cr.trace(x, offset=offset), R(*shape))


def test_trace_axes():
    check(lambda x: cr.trace(x, offset=1, axis1=3, axis2=2), R(5, 6, 4, 3))


def test_numpy_diag():
    check_with_grad(cr.diag, R(10, 10))


def test_numpy_transpose_square():
    check_with_grad(lambda x: x.T, R(8, 8))


@pytest.mark.parametrize("shift, axis", [(2, 1), (2, None), (-1, 0), ((1, 2), (0, 1))])
def test_roll(shift, axis):
    check_with_grad(lambda x: cr.roll(x, shift, axis=axis), R(4, 5))


@pytest.mark.parametrize("name", ["triu", "tril"])
def test_numpy_tri_k2(name):
    check_with_grad(lambda x: getattr(cr, name)(x, k=2), R(5, 5))


def test_clip():
    # autograd's test spells NumPy's keywords: np.clip(x, a_min=0.1, a_max=1.1)
    check_with_grad(lambda x: cr.clip(x, a_min=0.1, a_max=1.1), R(5, 5))


def test_clip_positional_and_one_sided():
    check(lambda x: cr.clip(x, 0.1, 1.1), R(5, 5))
    check(lambda x: cr.clip(x, None, 0.5), R(5, 5))
    check(lambda x: cr.clip(x, -0.5, None), R(5, 5))


def test_clip_array_bounds():
    low, high = -np.abs(R(5)) - 0.1, np.abs(R(5)) + 0.1
    check(lambda x: cr.clip(x, low, high), R(4, 5))


@pytest.mark.parametrize(
    "shape, kwargs, scale",
    [
        ((2, 3), {}, 10.0),
        ((2, 3), {"axis": 0}, 1),
        ((2, 3), {"axis": 0, "keepdims": True}, 1),
        ((7,), {}, 1),
    ],
)
def test_prod(shape, kwargs, scale):
    x = R(*shape) ** 2 / scale + 0.1  # away from zero, where the gradient is unstable
    check_with_grad(lambda x: cr.prod(x, **kwargs), x)


def test_prod_with_a_zero():
    x = np.array([[2.0, 0.0, 3.0], [1.5, -2.0, 0.5]])
    g = cr.grad(lambda x: cr.prod(x))(x)
    np.testing.assert_allclose(g, [[0, 2 * 3 * 1.5 * -2 * 0.5, 0], [0, 0, 0]])
    g = cr.grad(lambda x: cr.sum(cr.prod(x, axis=1)))(x)
    np.testing.assert_allclose(g, [[0, 6, 0], [-1, 0.75, -3]])


def _doubled(a):
    return a + a  # fan-out: the same array used twice


@pytest.mark.parametrize(
    "build",
    [
        lambda x: cr.array([x, x * 1.0, x + 2.5]),
        lambda x: cr.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]]),
        lambda x: cr.array([x, x * 1.0, x + 2.5]) * 2,
        lambda x: _doubled(cr.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]])),
        lambda x: cr.array(x),
    ],
    ids=["1d", "2d", "1d_fanout", "2d_fanout", "from_scalar"],
)
def test_array_from_scalars(build):
    check_with_grad(build, 3.0)


@pytest.mark.parametrize(
    "build",
    [
        lambda x: cr.array([x, x]),
        lambda x: cr.array([[2 * x, x + 1], [x, x]]),
        lambda x: cr.array([x, np.ones((3, 2))]),
    ],
    ids=["arrays", "arrays_2", "with_constant"],
)
def test_array_from_arrays(build):
    check_with_grad(build, R(3, 2))


def test_array_creation_many_scalars():
    # autograd's test_array_creation: building an array from many traced scalars is linear
    n = 2000
    g = cr.grad(lambda x: cr.sum(cr.array([x for _ in range(n)])))(1.0)
    assert float(g) == n


def test_len():
    def fun(x):
        assert len(x) == 3
        return x

    check_with_grad(fun, R(3, 2))


def test_iterating_rows():
    check(lambda x: sum(row * i for i, row in enumerate(x)), R(3, 2))


# np.r_ / np.c_ build plain arrays from their items (chainrule refuses a traced one with a
# TypeError); the adapter maps them to cr.r_ / cr.c_, as here.
@pytest.mark.parametrize(
    "build",
    [
        lambda x, c: cr.r_[x],
        lambda x, c: cr.r_[x, x],
        lambda x, c: cr.r_[x, c],
        lambda x, c: cr.r_[x, c, x],
        lambda x, c: cr.c_[x, c, x],
    ],
    ids=["r_basic", "r_double", "r_node_and_const", "r_mixed", "c_"],
)
def test_index_tricks(build):
    c = R(3, 2)
    check(lambda x: build(x, c), R(3, 2))


@pytest.mark.parametrize("name", ["r_", "c_"])
def test_index_tricks_chainrule(name):
    if _cr(name) is None:
        pytest.fail(f"chainrule has no cr.{name} (np.{name})")
    check(lambda x: getattr(cr, name)[x, x], R(3, 2))


def test_r_slicing():
    c = R(10)
    check(lambda x: cr.r_[x, c, 1:10], R(10))


def test_no_relation():
    c = R(3, 2)
    check(lambda x: c, R(3, 2))
    check(lambda x: cr.array(c), R(3, 2))


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_ddof(name):
    b, c, d = R(3), R(3, 4), R(1, 3)
    combo(getattr(cr, name), (0,), [b, c, d], axis=[None], keepdims=[True, False], ddof=[0, 1])
    combo(getattr(cr, name), (0,), [c, d], axis=[None, 1], keepdims=[True, False], ddof=[2])


def test_where():
    cond = R(4, 5) > 0
    check_with_grad(lambda x, y: cr.where(cond, x, y), R(4, 5), R(4, 5))


def test_where_broadcast_and_scalars():
    cond = R(4, 5) > 0
    check(lambda x, y: cr.where(cond, x, y), R(5), R(4, 1))
    check(lambda x: cr.where(cond, x, 0.0), R(4, 5))
    check(lambda x: cr.where(x > 0, x, 0.1 * x), R(4, 5))


@pytest.mark.parametrize(
    "fun",
    [
        lambda x: cr.squeeze(x),
        lambda x: x.squeeze(),
        lambda x: cr.squeeze(x, axis=1),
        lambda x: cr.squeeze(x, 1),
    ],
    ids=["func", "method", "axis_kw", "axis_positional"],
)
def test_squeeze(fun):
    check_with_grad(fun, R(5, 1, 4))


@pytest.mark.parametrize(
    "shape, repeats, axis",
    [
        ((5, 3, 4), 2, 1),
        ((5, 3, 4), 1, 1),
        ((5, 3), 2, 0),
        ((5,), 2, 0),
        ((5, 1), 1, 0),
        ((2, 3), [1, 0, 2], 1),
    ],
)
def test_numpy_repeat(shape, repeats, axis):
    check_with_grad(lambda x: cr.repeat(x, repeats, axis=axis), R(*shape))


@pytest.mark.parametrize("axis", [2, 0, -1, (0, 3)])
def test_expand_dims(axis):
    check_with_grad(lambda x: cr.expand_dims(x, axis), R(5, 1, 4))


def test_tensordot_kwargs_by_position():
    fun = lambda x: cr.tensordot(x * np.ones((2, 2)), x * np.ones((2, 2)), 2)
    assert float(cr.grad(fun)(1.0)) == pytest.approx(8.0)


def test_cast_to_int():
    inds = np.ones(5)[:, None]

    def fun(w):
        glued = cr.concatenate((w, inds), axis=1)
        new_w = glued[:, :-1]
        new_inds = np.int64(glued[:, -1])  # a cast to int: no gradient through the indices
        assert new_inds.dtype == np.int64
        return cr.sum(new_w[new_inds])

    check(fun, R(5, 10))


def test_cast_to_int_astype():
    inds = np.ones(5)[:, None]

    def fun(w):
        glued = cr.concatenate((w, inds), axis=1)
        new_inds = glued[:, -1].astype(np.int64)
        assert new_inds.dtype == np.int64
        return cr.sum(glued[:, :-1][new_inds])

    check(fun, R(5, 10))


@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 4), (3, 4, 5)])
def test_diagonal(shape):
    check_with_grad(lambda d: cr.diagonal(d, axis1=-1, axis2=-2), R(*shape))


def test_diagonal_offset():
    combo(cr.diagonal, [0], [R(3, 4, 5)], offset=[-1, 0, 2], axis1=[0, 2], axis2=[1])


def test_nan_to_num():
    y = np.array([0.0, np.nan, np.inf, -np.inf])
    check(lambda x: cr.sum(cr.sin(cr.nan_to_num(x + y))), R(4))


def test_max_equal_values():
    check_with_grad(lambda x: cr.max(cr.array([x, x])), 1.0)


@pytest.mark.parametrize("x", [1.0, -1.0])
def test_max_equal_values_2d(x):
    check_with_grad(lambda x: cr.max(cr.array([[x, x], [x, 0.5]]), axis=1), x)


@pytest.mark.parametrize("x", [1.0, -1.0])
def test_min_3_way_equality(x):
    fun = lambda x: cr.min(
        cr.array([[x, x, x], [x, 0.5, 0.5], [0.5, 0.5, 0.5], [x, x, 0.5]]), axis=0
    )
    check_with_grad(fun, x)


def test_maximum_equal_values():
    check_with_grad(lambda x: cr.maximum(x, x), 1.0)


@pytest.mark.parametrize("x", [1.0, -1.0, 2.0])
def test_maximum_equal_values_2d(x):
    fun = lambda x: cr.maximum(cr.array([x, x, 0.5]), cr.array([[x, 0.5, x], [x, x, 0.5]]))
    check_with_grad(fun, x)


def test_max_ties_split_evenly():
    # autograd (and PyTorch) share the gradient equally among tied maxima
    g = cr.grad(lambda x: cr.max(x))(np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_allclose(g, [0, 0.5, 0.5, 0])
    g = cr.grad(lambda x: cr.sum(cr.maximum(x, 1.0)))(np.array([1.0, 3.0, 0.0]))
    np.testing.assert_allclose(g, [0.5, 1.0, 0.0])


@pytest.mark.parametrize("num", [0, 1, 5])
@pytest.mark.parametrize("stop", [3.4, -3.4, 1.2])
def test_linspace(num, stop):
    function = _cr("linspace")
    if function is None:
        pytest.fail("chainrule has no cr.linspace (np.linspace)")
    check(lambda x, y: function(x, y, num), 1.2, stop)


def test_astype():
    x = np.arange(3, dtype=np.float32)
    g = cr.grad(lambda x: cr.sum(cr.sin(x.astype(np.float64))))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-6)


def test_astype_function():
    check(lambda x: cr.astype(x, np.float64) * 2, R(3))


def test_append():
    check(cr.append, R(3), R(3))
    check(lambda a, b: cr.append(a, b), np.array([1.0, 2.0, 3.0]), 4.0)
    check(
        lambda a, b: cr.append(a, b, axis=0),
        np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        np.array([[7.0, 8.0, 9.0]]),
    )


def test_broadcast_to():
    check_with_grad(lambda x: cr.broadcast_to(x, (2, 3, 4)), R(3, 1))
    check(lambda x: cr.broadcast_to(x, (3,)), 2.0)


@pytest.mark.parametrize(
    "fun",
    [
        lambda x: cr.take(x, [0, 2, 2], axis=1),
        lambda x: cr.take(x, [[0, 5], [5, 1]]),
        lambda x: cr.take_along_axis(x, np.array([[0], [2]]), axis=1),
    ],
)
def test_take(fun):
    check_with_grad(fun, R(2, 3))


# ================================================================= test_linalg.py
def _rand_psd(d):
    mat = R(d, d)
    return mat @ mat.T


def _symmetrize(a):
    lower = cr.tril(a)
    return (lower + cr.swapaxes(lower, -1, -2)) / 2.0


def check_symmetric(fun, *args):
    """autograd's check_symmetric_matrix_grads: the function of a symmetrized input."""
    check(lambda a, *rest: fun(_symmetrize(a), *rest), *args)


def test_inv():
    mat = R(8, 8)
    mat = mat @ mat + 1.0 * np.eye(8)
    check_with_grad(cr.linalg.inv, mat)


def test_inv_3d():
    check(cr.linalg.inv, R(4, 4, 4) + 5 * np.eye(4))
    check(cr.linalg.inv, R(4, 4, 4, 4) + 5 * np.eye(4))


def test_inv_1x1():
    check(cr.linalg.inv, R(1, 1) + 2.0)


def test_pinv():
    for shape in [(8, 8), (8, 7), (7, 8), (2, 4, 3), (3, 1), (1, 3)]:
        check(cr.linalg.pinv, R(*shape))


@pytest.mark.parametrize(
    "a, b",
    [
        (R(8, 8) + 10 * np.eye(8), R(8, 7)),
        (R(8, 8) + 10 * np.eye(8), R(8)),
        (R(6, 6) + np.eye(6) * 3, R(6, 5)),
        (R(5, 4, 4) + 5 * np.eye(4), R(5, 4, 1)),
        (R(5, 4, 4) + 5 * np.eye(4), R(5, 4, 6)),
        (R(5, 4, 4) + 5 * np.eye(4), R(4)),
        (R(5, 4, 4) + 5 * np.eye(4), R(4, 2)),
    ],
    ids=["arg1", "arg1_1d", "arg2", "3d_vec", "3d_3d", "3d_1d_b", "3d_2d_b"],
)
def test_solve(a, b):
    check_with_grad(cr.linalg.solve, a, b)


def test_det():
    check_with_grad(cr.linalg.det, R(6, 6))


def test_det_3d():
    check_with_grad(cr.linalg.det, R(3, 3, 3))


def test_det_1x1_and_2x2():
    check(cr.linalg.det, R(1, 1))
    check(cr.linalg.det, R(2, 2))


def test_slogdet():
    mat = R(6, 6)
    check_with_grad(lambda x: cr.linalg.slogdet(x)[1], mat)
    check(lambda x: cr.linalg.slogdet(x)[1], -mat)


def test_slogdet_named_fields():
    mat = R(3, 3)
    result = cr.linalg.slogdet(mat)
    expected = np.linalg.slogdet(mat)
    np.testing.assert_allclose(result.logabsdet, expected.logabsdet)
    np.testing.assert_allclose(result.sign, expected.sign)


def test_slogdet_3d():
    mat = np.stack([_rand_psd(5) + 5 * np.eye(5) for _ in range(3)])
    check_with_grad(lambda x: cr.sum(cr.linalg.slogdet(x)[1]), mat)


def test_vector_2norm():
    check_with_grad(cr.linalg.norm, R(6))


def test_frobenius_norm():
    check_with_grad(cr.linalg.norm, R(6, 5))


def test_frobenius_norm_axis():
    check_with_grad(lambda x: cr.linalg.norm(x, axis=(0, 1)), R(6, 5, 4))


@pytest.mark.parametrize("order", [2, 3, 4, 1, np.inf, -np.inf, 0.5, -1, -2])
def test_vector_norm_ord(order):
    check(lambda x: cr.linalg.norm(x, ord=order), R(6))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_norm_axis(axis):
    check(lambda x: cr.linalg.norm(x, axis=axis), R(6, 5, 4))


@pytest.mark.parametrize("order", ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_matrix_norm_ord(order):
    check(lambda x: cr.linalg.norm(x, ord=order), R(6, 5))


def test_norm_nuclear_axis():
    check(lambda x: cr.linalg.norm(x, ord="nuc", axis=(0, 1)), R(6, 5, 4))


def test_norm_keepdims():
    check(lambda x: cr.linalg.norm(x, axis=1, keepdims=True), R(3, 4))
    check(lambda x: cr.linalg.norm(x, ord="fro", axis=(1, 2), keepdims=True), R(2, 3, 4))


@pytest.mark.parametrize("uplo", [None, "U", "L"])
@pytest.mark.parametrize("batch", [(), (2, 3)])
def test_eigh(uplo, batch):
    d = 6
    mat = R(*batch, d, d) + 10 * np.eye(d)
    hmat = np.einsum("...ij,...kj->...ik", mat, mat)
    args = () if uplo is None else (uplo,)

    def fun(x):
        w, v = cr.linalg.eigh(x, *args)
        return flat((w, v))

    check_symmetric(fun, hmat)


def test_eigh_gradient_is_symmetric_as_pytorchs():
    # NumPy reads one triangle; chainrule returns PyTorch's symmetric gradient (the same
    # for UPLO 'L' and 'U'), which is the gradient along symmetric perturbations.
    a = _rand_psd(4) + np.eye(4)
    upper = cr.grad(lambda x: cr.sum(cr.linalg.eigh(x, "U")[0] ** 2))(a)
    lower = cr.grad(lambda x: cr.sum(cr.linalg.eigh(x, "L")[0] ** 2))(a)
    np.testing.assert_allclose(upper, upper.T, atol=1e-12)
    np.testing.assert_allclose(upper, lower, atol=1e-12)


def test_eigvalsh():
    check_symmetric(cr.linalg.eigvalsh, _rand_psd(4) + np.eye(4))


def _real_eig_matrix(batch=()):
    # A matrix with real, distinct eigenvalues (the real case of autograd's test_eig_real)
    p = R(*batch, 4, 4) + 4 * np.eye(4)
    return p @ (np.eye(4) * np.arange(1.0, 5.0)) @ np.linalg.inv(p)


@pytest.mark.parametrize("batch", [(), (2, 3)])
def test_eig_real(batch):
    def fun(x):
        w, v = cr.linalg.eig(x)
        return flat((cr.abs(w), cr.abs(v)))

    check(fun, _real_eig_matrix(batch))


def test_eigvals_real():
    check(cr.linalg.eigvals, _real_eig_matrix())


def test_cholesky():
    check_symmetric(cr.linalg.cholesky, _rand_psd(6))


def test_cholesky_grad_of_grad():
    fun = lambda a: to_scalar(cr.linalg.cholesky(_symmetrize(a)))
    check(lambda a: to_scalar(cr.grad(fun)(a)), _rand_psd(6) + np.eye(6), order=1)


def test_cholesky_broadcast():
    check_symmetric(cr.linalg.cholesky, np.stack([_rand_psd(6) for _ in range(3)]))


def test_cholesky_reparameterization_trick():
    noise = np.random.default_rng(0).standard_normal(6)

    def fun(a):
        return cr.linalg.norm(cr.dot(cr.linalg.cholesky(a), noise))

    check_symmetric(fun, _rand_psd(6))


@pytest.mark.parametrize(
    "shape",
    [(3, 5), (4, 3, 5), (4, 4), (3, 4, 4), (5, 3), (4, 5, 3)],
    ids=["wide_2d", "wide_3d", "square_2d", "square_3d", "tall_2d", "tall_3d"],
)
def test_svd(shape):
    def fun(x):
        u, s, v = cr.linalg.svd(x, full_matrices=False)
        return flat((u, s, v))

    check_with_grad(fun, R(*shape))


@pytest.mark.parametrize("shape", [(5, 3), (4, 5, 3), (3, 5)])
def test_svd_only_s(shape):
    check_with_grad(lambda x: cr.linalg.svd(x, full_matrices=False, compute_uv=False), R(*shape))


def test_svd_named_fields():
    x = R(3, 2)
    result = cr.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(np.abs(result.U.T @ x @ result.Vh.T), np.diag(result.S), atol=1e-12)


def test_matrix_power():
    for n in (0, 1, 2, 3, -1, -2):
        check(lambda x, n=n: cr.linalg.matrix_power(x, n), R(3, 3) + 3 * np.eye(3))


# ============================================================ test_scalar_ops.py
SCALAR = [  # (name, point for fun, point for d_fun)
    ("abs", 1.1, 1.1),
    ("abs", -1.1, -1.1),
    ("sin", float(R()), float(R())),
    ("sign", 1.1, -1.1),
    ("exp", float(R()), float(R())),
    ("log", 0.7, 1.3),
    ("log2", 0.7, 1.3),
    ("log10", 0.7, 1.3),
    ("log1p", 0.7, 1.3),
    ("expm1", 0.7, 1.3),
    ("exp2", 0.7, 1.3),
    ("cos", 0.3, -0.8),
    ("tan", 0.3, -0.8),
    ("cosh", 0.3, -0.8),
    ("sinh", 0.3, -0.8),
    ("tanh", 0.3, -0.8),
    ("arccos", 0.1, 0.2),
    ("arcsin", 0.1, 0.2),
    ("arctan", 0.2, 0.3),
    ("arccosh", 1.4, 2.2),
    ("arcsinh", 0.3, -0.8),
    ("arctanh", 0.2, 0.3),
    ("sqrt", 4.3, 7.1),
    ("reciprocal", 0.6, 0.4),
    ("negative", 0.6, 0.4),
    ("rad2deg", 4.3, 7.1),
    ("deg2rad", 4.3, 7.1),
    ("radians", 4.3, 7.1),
    ("degrees", 4.3, 7.1),
    ("sinc", 4.3, 7.1),
    ("square", 0.6, -0.4),
    ("fabs", 0.6, -0.4),
]


@pytest.mark.parametrize("name, x, x2", SCALAR, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCALAR)])
def test_scalar_op(name, x, x2):
    function = _cr(name) or getattr(np, name)
    fun = lambda x: 3.0 * function(x)
    check(fun, x)
    check(cr.grad(fun), x2)


def test_abs_at_zero():
    check(lambda x: 3.0 * cr.abs(x), 0.0, order=1)


def test_scalar_neg():
    fun = lambda x: 3.0 * -x
    check(fun, 0.4)
    check(cr.grad(fun), -0.7)


def test_power_arg0():
    y = float(R()) ** 2 + 1.0
    fun = lambda x: cr.power(x, y)
    check(fun, float(U()) ** 2 + 1.0)
    check(cr.grad(fun), float(U()) ** 2 + 1.0)


def test_power_zero_exponent_at_zero():
    # autograd issue #116: d/dx x**0 at x = 0 is 0, not nan
    fun = lambda x: cr.power(x, 0.0)
    assert float(cr.grad(fun)(0.0)) == 0.0
    assert float(cr.grad(cr.grad(fun))(0.0)) == 0.0


def test_pow_operator_zero_exponent_at_zero():
    assert float(cr.grad(lambda x: x**0.0)(0.0)) == 0.0
    assert float(cr.grad(lambda x: x**0)(0.0)) == 0.0


def test_power_arg1():
    x = float(R()) ** 2
    fun = lambda y: cr.power(x, y)
    check(fun, float(U()) ** 2)
    check(cr.grad(fun), float(U()) ** 2)


def test_power_arg1_zero_base():
    fun = lambda y: cr.power(0.0, y)
    check(fun, float(U()) ** 2 + 0.1)
    check(cr.grad(fun), float(U()) ** 2 + 0.1)


def test_power_zero_base_gradient_is_finite():
    # d/dy 0**y = 0**y * log(0): autograd gives 0 (not nan) for y > 0
    g = cr.grad(lambda y: cr.power(0.0, y))(0.5)
    assert float(g) == 0.0


@pytest.mark.parametrize(
    "name", ["mod", "divide", "multiply", "true_divide", "subtract", "add", "remainder", "fmod"]
)
@pytest.mark.parametrize("argnum", [0, 1])
def test_scalar_binary(name, argnum):
    function = _cr(name) or getattr(np, name)
    fun = lambda x, y: function(x, y)
    x, y = 0.35, 0.8  # no kink of mod in reach of the finite differences
    check(fun, x, y)
    check(cr.grad(fun, argnums=argnum), x, y)


# ============================================================ test_binary_ops.py
def _arg_pairs():
    rng = np.random.default_rng(0)
    values = [2.0, rng.standard_normal(4), rng.standard_normal((3, 4)), rng.standard_normal((1, 4))]
    return list(itertools.product(values, values))


def _pair_id(pair):
    return "-".join("scalar" if np.ndim(v) == 0 else "x".join(map(str, np.shape(v))) for v in pair)


ARG_PAIRS = _arg_pairs()


def _gap_from_zero(x):
    return np.sqrt(np.asarray(x) ** 2 + 0.5)


@pytest.mark.parametrize("op", ["mul", "add", "sub", "truediv", "mod", "pow"])
@pytest.mark.parametrize("pair", ARG_PAIRS, ids=[_pair_id(p) for p in ARG_PAIRS])
def test_binary_op(op, pair):
    a, b = pair
    if op in ("truediv", "mod"):
        if op == "mod" and a is b:
            pytest.skip("the gradient of x % x is undefined (autograd skips it too)")
        a, b = _gap_from_zero(a), _gap_from_zero(b)
    if op == "pow":
        a = np.abs(a) + 1.1  # numeric derivatives fail near zero
    function = getattr(operator, op)
    fun = lambda x, y: to_scalar(function(x, y))
    check(fun, a, b)
    for argnum in (0, 1):
        check(lambda x, y, n=argnum: to_scalar(cr.grad(fun, argnums=n)(x, y)), a, b, order=1)


COMPARISONS = [
    lambda x, y: cr.sum(x < x) + 0.0,  # noqa: PLR0124  (autograd's own case)
    lambda x, y: cr.sum(x <= y) + 0.0,
    lambda x, y: cr.sum(x > y) + 0.0,
    lambda x, y: cr.sum(x >= y) + 0.0,
    lambda x, y: cr.sum(x == y) + 0.0,
    lambda x, y: cr.sum(x != y) + 0.0,
]


@pytest.mark.parametrize("pair", ARG_PAIRS, ids=[_pair_id(p) for p in ARG_PAIRS])
def test_comparison_grads(pair):
    a, b = pair
    for fun in COMPARISONS:
        zeros_a, zeros_b = np.zeros(np.shape(a)), np.zeros(np.shape(b))
        np.testing.assert_array_equal(cr.grad(fun)(a, b), zeros_a)
        np.testing.assert_array_equal(cr.grad(fun, argnums=1)(a, b), zeros_b)
        d_fun_0 = lambda x, y, fun=fun: cr.sum(cr.grad(fun, 0)(x, y))
        d_fun_1 = lambda x, y, fun=fun: cr.sum(cr.grad(fun, 1)(x, y))
        np.testing.assert_array_equal(cr.grad(d_fun_0)(a, b), zeros_a)
        np.testing.assert_array_equal(cr.grad(d_fun_1, argnums=1)(a, b), zeros_b)


@pytest.mark.parametrize("pair", ARG_PAIRS, ids=[_pair_id(p) for p in ARG_PAIRS])
def test_comparison_values(pair):
    a, b = pair
    for fun in COMPARISONS:
        value, _ = cr.value_and_grad(fun)(a, b)
        assert float(value) == float(fun(a, b))


# ============================================================== test_truediv.py
def test_truediv_operator_future_division():
    check(lambda x, y: x / y, 2.0, _gap_from_zero(R(3)))
    check(lambda x, y: operator.truediv(x, y), _gap_from_zero(R(2, 3)), 1.5)


# ================================================================== test_core.py
CORE_BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "div": operator.truediv,
    "mul": operator.mul,
    "pow": operator.pow,
    "mod": operator.mod,
}


@pytest.mark.parametrize("name", sorted(CORE_BINARY))
def test_core_binary_python_floats(name):
    fun = CORE_BINARY[name]
    x, y, eps = 0.7, 1.8, 1e-4
    for argnum in (0, 1):
        exact = float(cr.grad(fun, argnums=argnum)(x, y))
        if argnum == 0:
            numeric = (fun(x + eps / 2, y) - fun(x - eps / 2, y)) / eps
        else:
            numeric = (fun(x, y + eps / 2) - fun(x, y - eps / 2)) / eps
        assert exact == pytest.approx(numeric, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", ["eq", "ne", "le", "ge", "lt", "gt"])
def test_core_comparisons_have_zero_gradient(name):
    fun = getattr(operator, name)
    assert float(cr.grad(fun)(0.7, 1.8)) == 0.0
    assert float(cr.grad(fun, argnums=1)(0.7, 1.8)) == 0.0


# ================================================================ test_graphs.py
def test_grad_fanout():
    fun = lambda x: cr.sin(cr.sin(x) + cr.sin(x))
    check(fun, float(R()))
    check(cr.grad(fun), float(U()))


def test_grad_const():
    assert np.allclose(cr.grad(lambda x: 1.0)(2.0), 0.0)
    assert np.allclose(cr.grad(lambda x: np.float64(1.0))(2.0), 0.0)
    assert np.allclose(cr.grad(lambda x: np.ones(()))(np.ones(3)), np.zeros(3))


def test_check_grads_of_a_constant():
    check(lambda x: 3.0, R(3))
    check(lambda x: np.ones(2), R(3))


def test_grad_identity():
    df = cr.grad(lambda x: x)
    ddf = cr.grad(df)
    assert np.allclose(df(2.0), 1.0)
    assert np.allclose(ddf(2.0), 0.0)


def test_grad_of_grad_of_linear_function():
    # the first derivative is constant, so the second is 0 (not an error)
    ddf = cr.grad(cr.grad(lambda x: 3.0 * x + 1.0))
    assert np.allclose(ddf(2.0), 0.0)
    dddf = cr.grad(cr.grad(cr.grad(lambda x: x**2)))
    assert np.allclose(dddf(2.0), 0.0)


def test_hess_vector_prod():
    randv = R(10)
    fun = lambda x: cr.sin(cr.dot(x, randv))
    df = cr.grad(fun)

    def vector_product(x, v):
        return cr.sin(cr.dot(v, df(x)))

    check(fun, R(10))
    check(vector_product, R(10), R(10))


@pytest.mark.parametrize(
    "inner", [lambda x, y: x * y, lambda x, y: y * x], ids=["x_times_y", "y_times_x"]
)
def test_enclosing_scope_ref(inner):
    def fun(x):
        return x * cr.grad(lambda y: inner(x, y))(2.0)

    check(fun, 1.0)
    assert float(cr.grad(fun)(1.5)) == pytest.approx(3.0)


def test_enclosing_scope_ref_array():
    def fun(x):
        return cr.sum(x * cr.grad(lambda y: cr.sum(cr.sin(x * y)))(np.array([0.5, 1.5])))

    check(fun, R(2))


def test_mutating_outgrad():
    def fun(a):
        b = a + 1.0
        c = b + 1.5
        d = a + b
        e = d + c
        return e

    check(fun, R(5))


def test_mutating_outgrad_from_indexing():
    def fun(a):
        b = a + 1.0
        c = b[0] + 1.5
        d = a + b
        e = d + c
        return e

    check(fun, R(5))


def test_third_derivative():
    fun = lambda x: cr.sin(cr.sin(x) + cr.sin(x))
    df = cr.grad(fun)
    ddf = cr.grad(df)
    dddf = cr.grad(ddf)
    check(fun, float(R()))
    check(df, float(U()))
    check(ddf, float(U()))
    check(dddf, float(U()), order=1)


@pytest.mark.parametrize("nums", [(0, 1, 0), (1, 0, 1)])
def test_third_derivative_other_args(nums):
    fun = lambda x, y: cr.sin(cr.sin(x) + cr.sin(y))
    df = cr.grad(fun, nums[0])
    ddf = cr.grad(df, nums[1])
    dddf = cr.grad(ddf, nums[2])
    args = (float(R()), float(R()))
    check(fun, *args)
    check(df, *args)
    check(ddf, *args)
    check(dddf, *args, order=1)


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((3, 3), {"keepdims": True}),
        ((3, 1), {"axis": 0}),
        ((1, 3), {"axis": 1}),
        ((3, 1), {"axis": 0, "keepdims": True}),
        ((1, 3), {"axis": 1, "keepdims": True}),
    ],
)
def test_singleton_array_output(shape, kwargs):
    fun = lambda x: cr.sum(cr.sin(x), **kwargs)
    check(fun, R(*shape))
    check(lambda x: cr.sum(cr.grad(fun)(x)), R(*shape))


def test_assignment_into_a_traced_array_is_differentiated():
    # autograd raises TypeError here; chainrule records the assignment (as PyTorch does).
    def fun(a, b):
        a[1] = b
        return a

    check(fun, R(5), 3.0)


@pytest.mark.parametrize("fun", [lambda x: x * 2, lambda x: cr.sin(x)])
def test_nonscalar_output(fun):
    # autograd: grad of a function with a non-scalar output raises TypeError
    with pytest.raises(TypeError):
        cr.grad(fun)(np.zeros(2))


# ============================================================== test_wrappers.py
def test_return_both():
    fun = lambda x: 3.0 * x**3.2
    x = 1.7
    value, derivative = cr.value_and_grad(fun)(x)
    assert float(value) == pytest.approx(fun(x), rel=1e-15)
    assert float(derivative) == pytest.approx(float(cr.grad(fun)(x)), rel=1e-15)
    assert float(derivative) == pytest.approx(3.0 * 3.2 * x**2.2, rel=1e-12)


def test_value_and_grad():
    fun = lambda x: cr.sum(cr.sin(x) ** 2)
    x = R(5)
    value, g = cr.value_and_grad(fun)(x)
    np.testing.assert_allclose(value, np.sum(np.sin(x) ** 2))
    np.testing.assert_allclose(g, cr.grad(fun)(x))
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x))


def test_hessian():
    h = R(5, 5)
    fun = lambda x: cr.dot(cr.dot(x, h), x)
    np.testing.assert_allclose(cr.hessian(fun)(R(5)), h + h.T, atol=1e-12)


def test_hessian_of_matrix_input():
    fun = lambda a: cr.sum(cr.sin(a))
    a = R(3, 2)
    hess = cr.hessian(fun)(a)
    assert hess.shape == (3, 2, 3, 2)
    expected = np.diag(-np.sin(a).ravel()).reshape(3, 2, 3, 2)
    np.testing.assert_allclose(hess, expected, atol=1e-12)


def test_intermediate_hessian():
    # a hessian taken inside a function that is then differentiated
    def fun(x):
        return cr.sum(cr.hessian(lambda y: cr.sum(y**3 * x))(x))

    check(fun, R(3), order=1)


def test_multigrad():
    def complicated_fun(a, b, c, d, e, f=1.1, g=9.0):
        return a + cr.sin(b) + cr.cosh(c) + cr.cos(d) + cr.tan(e) + f + g

    args = (0.5, -0.3, 0.2, -1.1, 0.7)
    exact = cr.grad(complicated_fun, argnums=(3, 1))(*args, f=0.6, g=-0.1)
    np.testing.assert_allclose([float(v) for v in exact], [-np.sin(-1.1), np.cos(-0.3)])


def test_value_and_multigrad():
    fun = lambda a, b, c: a * cr.sin(b) + c
    value, (ga, gc) = cr.value_and_grad(fun, argnums=(0, 2))(0.5, -0.3, 2.0)
    assert float(value) == pytest.approx(0.5 * np.sin(-0.3) + 2.0)
    assert float(ga) == pytest.approx(np.sin(-0.3)) and float(gc) == 1.0


def test_multigrad_onearg():
    fun = lambda x, y: cr.sum(x + cr.sin(y))
    a, b = R(3), R(3)
    (ga,) = cr.grad(fun, argnums=(0,))(a, b)
    np.testing.assert_allclose(ga, np.ones(3))


def test_grad_negative_argnum():
    fun = lambda x, y: cr.sum(x * cr.sin(y))
    a, b = R(3), R(3)
    np.testing.assert_allclose(cr.grad(fun, argnums=-1)(a, b), a * np.cos(b))


def test_elementwise_grad():
    # elementwise_grad(f)(a) is the vjp of a vector of ones
    simple_fun = lambda a: a + cr.sin(a) + cr.cosh(a)
    a = R(10)
    _, pull = cr.vjp(simple_fun, a)
    np.testing.assert_allclose(pull(np.ones(10))[0], 1 + np.cos(a) + np.sinh(a))


def test_elementwise_grad_multiple_args():
    simple_fun = lambda a, b: a + cr.sin(a) + cr.cosh(b)
    b = R(10)
    _, pull = cr.vjp(lambda b: simple_fun(0.9, b), b)
    np.testing.assert_allclose(pull(np.ones(10))[0], np.sinh(b))


@pytest.mark.parametrize("shape", [(5,), (5, 4), (5, 4, 3)], ids=["vector", "matrix", "tensor"])
def test_hessian_vector_product(shape):
    fun = lambda a: cr.sum(cr.sin(a))
    a, v = R(*shape), R(*shape)
    hess = cr.hessian(fun)(a)
    expected = np.tensordot(hess, v, axes=v.ndim)
    hvp_reverse = cr.grad(lambda x: cr.sum(cr.grad(fun)(x) * v))(a)
    hvp_forward = cr.jvp(cr.grad(fun), (a,), (v,))[1]
    np.testing.assert_allclose(hvp_reverse, expected, atol=1e-12)
    np.testing.assert_allclose(hvp_forward, expected, atol=1e-12)


@pytest.mark.parametrize(
    "shape, vshape",
    [((5,), (5,)), ((5, 4), (5, 4)), ((5, 4, 3), (5, 4))],
    ids=["vector", "matrix", "tensor"],
)
def test_vector_jacobian_product(shape, vshape):
    # an asymmetric jacobian: roll mixes elements
    fun = lambda a: cr.roll(cr.sin(a), 1)
    a, v = R(*shape), R(*shape)
    jac = cr.jacobian(fun)(a)
    _, pull = cr.vjp(fun, a)
    np.testing.assert_allclose(pull(v)[0], np.tensordot(v, jac, axes=v.ndim), atol=1e-12)


def test_tensor_jacobian_product_partial_contraction():
    fun = lambda a: cr.roll(cr.sin(a), 1)
    a, v = R(5, 4, 3), R(5, 4)
    jac = cr.jacobian(fun)(a)
    assert jac.shape == (5, 4, 3, 5, 4, 3)
    np.testing.assert_allclose(np.tensordot(v, jac, axes=2).shape, (3, 5, 4, 3))


def test_make_jvp():
    fun = lambda a: cr.roll(cr.sin(a), 1)
    a, v = R(5), R(5)
    value, tangent = cr.jvp(fun, (a,), (v,))
    np.testing.assert_allclose(value, np.roll(np.sin(a), 1))
    np.testing.assert_allclose(tangent, cr.jacobian(fun)(a) @ v, atol=1e-12)


def test_make_ggnvp():
    # Gauss-Newton vector product: J^T H_loss J v, built from jvp and vjp
    a, v, w = R(4), R(4), R(3, 4)
    f = lambda a: cr.tanh(cr.matmul(w, a))
    loss = lambda y: cr.sum(y**4)
    y, jv = cr.jvp(f, (a,), (v,))
    hjv = cr.jvp(cr.grad(loss), (y,), (jv,))[1]
    _, pull = cr.vjp(f, a)
    jac = cr.jacobian(f)(a)
    expected = jac.T @ np.diag(12 * np.asarray(y) ** 2) @ jac @ v
    np.testing.assert_allclose(pull(hjv)[0], expected, atol=1e-10)


def test_partial():
    def f(x, y):
        return x * y

    g = cr.grad(functools.partial(f, y=3.0))
    assert float(g(2.0)) == 3.0


def test_grad_keyword_arguments():
    fun = lambda x, axis=None, scale=1.0: cr.sum(cr.max(x, axis=axis) * scale)
    x = R(3, 4)
    expected = np.zeros((3, 4))
    expected[np.arange(3), np.argmax(x, axis=1)] = 2.0
    np.testing.assert_allclose(cr.grad(fun)(x, axis=1, scale=2.0), expected)


def test_check_grads_forwards_keyword_arguments():
    # autograd's check_grads(f)(*args, **kwargs) passes the keywords on to f
    assert cr.check_grads(lambda x, axis: cr.sum(x, axis=axis))(R(3, 4), axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_dtypes(dtype):
    y = R(10, 10).astype(dtype)
    assert cr.grad(lambda x: cr.sum(x**2))(y).dtype == dtype


def test_grad_of_int_input():
    assert float(cr.grad(lambda x: x**2)(3)) == 6.0


def test_grad_and_aux():
    # autograd's grad_and_aux: the function returns (value, aux); done here with a closure
    aux = {}

    def fun(x):
        aux["y"] = x * 2
        return cr.sum(x**2)

    g = cr.grad(fun)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0])
    np.testing.assert_allclose(np.asarray(aux["y"]), [2.0, 4.0])


# =============================================================== test_direct.py
def test_direct_grad():
    fun = lambda x: (x + cr.sin(x**2)) * x
    assert float(cr.grad(fun)(1.3)) == pytest.approx(3.190948746871, abs=1e-6)


def test_direct_grad_numpy_dispatch():
    fun = lambda x: (x + np.sin(x**2)) * x
    assert float(cr.grad(fun)(1.3)) == pytest.approx(3.190948746871, abs=1e-6)


def test_deriv_as_jvp():
    fun = lambda x: (x + cr.sin(x**2)) * x
    assert float(cr.jvp(fun, (1.3,), (1.0,))[1]) == pytest.approx(3.190948746871, abs=1e-6)


# ============================================================= test_jacobian.py
def test_jacobian_against_grad():
    fun = lambda x: cr.sum(cr.sin(x), axis=1, keepdims=True)
    a = R(1, 3)
    np.testing.assert_allclose(cr.grad(fun)(a), cr.jacobian(fun)(a).reshape(1, 3))


def test_jacobian_scalar_to_vector():
    fun = lambda x: cr.array([x, x**2, x**3])
    val = float(R())
    np.testing.assert_allclose(cr.jacobian(fun)(val), [1.0, 2 * val, 3 * val**2])


def test_jacobian_against_stacked_grads():
    scalar_funs = [
        lambda x: cr.sum(x**3),
        lambda x: cr.prod(cr.sin(x) + cr.sin(x)),
        lambda x: cr.grad(lambda y: cr.exp(y) * cr.tanh(x[0]))(x[1]),
    ]
    vector_fun = lambda x: cr.array([f(x) for f in scalar_funs])
    x = R(5)
    jac = cr.jacobian(vector_fun)(x)
    grads = [cr.grad(f)(x) for f in scalar_funs]
    np.testing.assert_allclose(jac, np.vstack(grads), atol=1e-12)


def test_jacobian_higher_order():
    fun = lambda x: cr.sin(cr.outer(x, x)) + cr.cos(cr.dot(x, x))
    assert cr.jacobian(fun)(R(3)).shape == (3, 3, 3)
    assert cr.jacobian(cr.jacobian(fun))(R(3)).shape == (3, 3, 3, 3)
    check(lambda x: cr.sum(cr.sin(cr.jacobian(fun)(x))), R(3))
    check(lambda x: cr.sum(cr.sin(cr.jacobian(cr.jacobian(fun))(x))), R(3), order=1)


def test_jacobian_of_grad_is_hessian():
    fun = lambda x: cr.sum(cr.sin(x) * x[::-1])
    x = R(4)
    np.testing.assert_allclose(cr.jacobian(cr.grad(fun))(x), cr.hessian(fun)(x), atol=1e-12)


def test_jacobian_argnums_tuple():
    fun = lambda x, y: x * cr.sin(y)
    x, y = R(3), R(3)
    jx, jy = cr.jacobian(fun, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(jx, np.diag(np.sin(y)))
    np.testing.assert_allclose(jy, np.diag(x * np.cos(y)))


# =============================================================== test_logic.py
def test_assert_inside_traced_function():
    def fun(x):
        assert np.allclose(x, (x * 3.0) / 3.0)
        return cr.sum(x)

    check(fun, np.array([1.0, 2.0, 3.0]))


def test_nograd():
    # A boolean output is piecewise constant: chainrule gives the zero gradient (autograd
    # raises a TypeError from inside np.allclose, which it cannot trace).
    fun = lambda x: np.allclose(x, (x * 3.0) / 3.0)
    np.testing.assert_array_equal(cr.grad(fun)(np.array([1.0, 2.0, 3.0])), np.zeros(3))


def test_falseyness():
    fun = lambda x: x**2 if np.iscomplex(x) else cr.sum(x)
    check(fun, 2.0)


@pytest.mark.parametrize(
    "name",
    [
        "isfinite",
        "isnan",
        "isinf",
        "signbit",
        "isreal",
        "iscomplexobj",
        "isscalar",
        "ndim",
        "shape",
        "size",
    ],
)
def test_no_trace_functions_on_traced_values(name):
    # functions that only inspect their argument work on traced values inside grad
    function = getattr(np, name)

    def fun(x):
        function(x)
        return cr.sum(x * 2)

    np.testing.assert_allclose(cr.grad(fun)(R(3)), 2 * np.ones(3))


@pytest.mark.parametrize(
    "name",
    [
        "floor",
        "ceil",
        "round",
        "rint",
        "trunc",
        "fix",
        "around",
        "sign",
        "argmax",
        "argmin",
        "argsort",
        "nonzero",
        "floor_divide",
        "logical_not",
        "isclose",
    ],
)
def test_zero_gradient_functions(name):
    # autograd's nograd_functions: piecewise constant results have zero gradient
    function = getattr(np, name)
    call = (lambda x: function(x, 2.0)) if name in ("floor_divide", "isclose") else function

    def fun(x):
        out = call(x)
        out = out[0] if isinstance(out, tuple) else out
        return cr.sum(cr.astype(out, np.float64) * 1.0) + cr.sum(x * 0.0)

    np.testing.assert_array_equal(cr.grad(fun)(R(4) * 3), np.zeros(4))


# ================================================ functions returning tuples or lists
# autograd differentiates functions whose output is a tuple or list of arrays (np.split,
# np.linalg.svd / eigh / slogdet, or a plain ``return (a, b)``), with one cotangent per piece.
TUPLE_OUTPUTS = {
    "split": (lambda a: cr.split(a, 2), R(4)),
    "tuple": (lambda a: (a * 2.0, cr.sin(a)), R(3)),
    "svd": (lambda a: cr.linalg.svd(a, full_matrices=False), R(4, 3)),
    "eigh": (lambda a: cr.linalg.eigh(_symmetrize(a)), _rand_psd(3) + np.eye(3)),
    "slogdet": (lambda a: cr.linalg.slogdet(a), R(3, 3) + 3 * np.eye(3)),
}


@pytest.mark.parametrize("name", sorted(TUPLE_OUTPUTS))
def test_check_grads_of_tuple_output(name):
    fun, x = TUPLE_OUTPUTS[name]
    check(fun, x)


def test_vjp_of_tuple_output():
    x = R(4)
    try:
        _, pull = cr.vjp(lambda a: (a * 2.0, a * 3.0), x)
        (g,) = pull((np.ones(4), np.ones(4)))
    except (TypeError, ValueError):
        pytest.fail("vjp of a function returning a tuple is not supported")
    np.testing.assert_allclose(g, 5.0 * np.ones(4))


def test_jvp_of_tuple_output():
    x = R(4)
    try:
        _, tangent = cr.jvp(lambda a: (a * 2.0, a * 3.0), (x,), (np.ones(4),))
    except (TypeError, ValueError):
        pytest.fail("jvp of a function returning a tuple is not supported")
    np.testing.assert_allclose(np.asarray(tangent[0]), 2.0 * np.ones(4))
    np.testing.assert_allclose(np.asarray(tangent[1]), 3.0 * np.ones(4))


def test_jacobian_of_tuple_output():
    x = R(3)
    try:
        jac = cr.jacobian(lambda a: (a * 2.0, a * 3.0))(x)
    except (TypeError, ValueError):
        pytest.fail("jacobian of a function returning a tuple is not supported")
    np.testing.assert_allclose(np.asarray(jac[0]), 2.0 * np.eye(3))
    np.testing.assert_allclose(np.asarray(jac[1]), 3.0 * np.eye(3))


def test_check_grads_rejects_unknown_modes():
    # autograd asserts the modes; a check that checks nothing must not report success
    with pytest.raises((ValueError, TypeError, AssertionError)):
        cr.check_grads(lambda x: x * 2, modes=(0,))(R(3))


# ======================================================= no silent loss of the graph
CONVERSIONS = {  # NumPy calls that turn traced values into plain arrays
    "np.asarray": lambda x: cr.sum(np.asarray(x) * x),
    "np.array": lambda x: cr.sum(np.array(x) * x),
    "np.array_of_list": lambda x: cr.sum(np.array([x, x]) * x),
    "np.ascontiguousarray": lambda x: cr.sum(np.ascontiguousarray(x) * x),
    "np.real_if_close": lambda x: cr.sum(np.real_if_close(x) * x),
    "np.sum_of_list": lambda x: np.sum([x[0], x[1]]) * x[0],
    "np.mean_of_list": lambda x: np.mean([x, x]) * x[0],
    "np.dot_of_list": lambda x: np.dot([x[0], x[1]], [1.0, 2.0]) * x[0],
    "float": lambda x: float(cr.sum(x)) * x[0],
}


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_no_silent_graph_cut(name):
    # Either the right gradient or an error: never a gradient computed as if part of the
    # function were constant (autograd raises for these, or differentiates them).
    fun = CONVERSIONS[name]
    x = np.array([1.0, 2.0])
    try:
        g = cr.grad(fun)(x)
    except (TypeError, RuntimeError, ValueError):
        return
    eps = 1e-6
    numeric = [(fun(x + eps * e) - fun(x - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(g, np.asarray(numeric, dtype=float), rtol=1e-5, atol=1e-6)


# ===================================================== NumPy's names via dispatch
NUMPY_DISPATCH = [  # NumPy functions called on traced values: chainrule's run instead
    ("sum", lambda x: np.sum(x, axis=0)),
    ("mean", lambda x: np.mean(x, axis=1, keepdims=True)),
    ("var", lambda x: np.var(x, ddof=1)),
    ("std", lambda x: np.std(x, axis=0)),
    ("max", lambda x: np.max(x, axis=1)),
    ("amax", lambda x: np.amax(x)),
    ("prod", lambda x: np.prod(x + 3.0, axis=0)),
    ("cumsum", lambda x: np.cumsum(x, axis=1)),
    ("dot", lambda x: np.dot(x, x.T)),
    ("matmul", lambda x: np.matmul(x, x.T)),
    ("einsum", lambda x: np.einsum("ij,kj->ik", x, x)),
    ("outer", lambda x: np.outer(x, x)),
    ("tensordot", lambda x: np.tensordot(x, x, axes=([1], [1]))),
    ("transpose", lambda x: np.transpose(x)),
    ("reshape", lambda x: np.reshape(x, (4, 3))),
    ("concatenate", lambda x: np.concatenate([x, x], axis=1)),
    ("stack", lambda x: np.stack([x, x])),
    ("where", lambda x: np.where(x > 0, x, 0.5 * x)),
    ("clip", lambda x: np.clip(x, -0.5, 0.5)),
    ("exp", lambda x: np.exp(x)),
    ("maximum", lambda x: np.maximum(x, 0.1)),
    ("abs", lambda x: np.abs(x)),
    ("trace", lambda x: np.trace(x)),
    ("diag", lambda x: np.diag(x)),
    ("squeeze", lambda x: np.squeeze(x[None])),
    ("expand_dims", lambda x: np.expand_dims(x, 0)),
    ("tile", lambda x: np.tile(x, 2)),
    ("repeat", lambda x: np.repeat(x, 2, axis=0)),
    ("roll", lambda x: np.roll(x, 1)),
    ("flip", lambda x: np.flip(x, 0)),
    ("sort", lambda x: np.sort(x, axis=1)),
    ("linalg.norm", lambda x: np.linalg.norm(x)),
    ("linalg.inv", lambda x: np.linalg.inv(x[:, :3] + 3 * np.eye(3))),
    ("linalg.det", lambda x: np.linalg.det(x[:, :3])),
    ("linalg.solve", lambda x: np.linalg.solve(x[:, :3] + 3 * np.eye(3), x[:, 3])),
    ("atleast_2d", lambda x: np.atleast_2d(x[0])),
    ("ravel", lambda x: np.ravel(x)),
    ("hstack", lambda x: np.hstack([x, x])),
    ("vstack", lambda x: np.vstack([x, x])),
    ("split", lambda x: np.concatenate(np.split(x, 2, axis=1))),
    ("add.reduce", lambda x: np.add.reduce(x)),
    ("multiply", lambda x: np.multiply(x, x)),
    ("divide", lambda x: np.divide(x, 2.0)),
    ("power", lambda x: np.power(x * x + 1, 1.5)),
    ("square", lambda x: np.square(x)),
    ("negative", lambda x: np.negative(x)),
    ("logaddexp", lambda x: np.logaddexp(x, 0.3)),
    ("pad", lambda x: np.pad(x, 1)),
    ("diff", lambda x: np.diff(x, axis=0)),
    ("cross", lambda x: np.cross(x[:, :3], x[:, 1:])),
    ("kron", lambda x: np.kron(x, x[:2, :2])),
    ("take", lambda x: np.take(x, [0, 2], axis=1)),
    ("array_op", lambda x: np.asarray(2.0) * x),
]


@pytest.mark.parametrize("name, fun", NUMPY_DISPATCH, ids=[n for n, _ in NUMPY_DISPATCH])
def test_numpy_function_dispatch(name, fun):
    check(fun, R(3, 4))
