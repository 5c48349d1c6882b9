"""Reductions: sum, max, min, prod (primitives) and mean, var, std (composed).

All take NumPy's ``axis=None, keepdims=False``; PyTorch's ``dim``/``keepdim`` are
accepted as aliases. Max and min split the gradient evenly among tied elements,
so the total upstream gradient is conserved.
"""

import builtins
import functools
import math

import numpy as np

from ..errors import AxisError, ShapeError
from .elementwise import _mask, astype, where
from .registry import Case, Spec, composite, data_of, defop
from .shape import broadcast_to, reshape


@functools.lru_cache(maxsize=64)
def ones_vector(n, dtype):
    """A read-only vector of ones, made once per length and dtype: summing by a product
    with it is a BLAS call, and np.ones costs more than that product at small sizes."""
    vector = np.ones(n, dtype)
    vector.flags.writeable = False
    return vector


def _is_int(a):
    return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))


def one_axis(axis, ndim, op, name="axis"):
    """A single ``axis`` as a non-negative int below ``ndim``, or a clear error.

    >>> one_axis(-1, 3, "cumsum")
    2
    """
    if not _is_int(axis):
        raise TypeError(f"{op}: {name} must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise AxisError(f"{op}: {name} {axis} is out of range for an array of {ndim} dimensions")
    return int(axis) % ndim


def normalize_axis(axis, ndim, op="reduction"):
    """``axis`` as a sorted tuple of non-negative ints, or None for all axes."""
    if axis is None:
        return None
    if _is_int(axis):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)) and all(_is_int(a) for a in axis):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
    # A 0-d array takes axis 0 and -1, as in PyTorch.
    out = [one_axis(a, builtins.max(ndim, 1), op) for a in axes]
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out)) if ndim else None


def resolve(axis, keepdims, aliases, op):
    """Fold PyTorch's ``dim``/``keepdim`` into NumPy's ``axis``/``keepdims``."""
    if "dim" in aliases:
        axis = aliases.pop("dim")
    if "keepdim" in aliases:
        keepdims = aliases.pop("keepdim")
    if aliases:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(aliases)}")
    return axis, bool(keepdims)


def kept_shape(shape, axis):
    """``shape`` with the reduced axes kept as 1 (what keepdims=True gives)."""
    return tuple(1 if axis is None or i in axis else n for i, n in enumerate(shape))


def _expand(g, x, axis):
    """The upstream gradient of a reduction, shaped to broadcast against its input."""
    shape = kept_shape(data_of(x).shape, axis)
    return g.reshape(shape) if type(g) is np.ndarray else reshape(g, shape)


def _sum_vjp(g, out, x, axis, keepdims):
    g, shape = _expand(g, x, axis), data_of(x).shape
    if type(g) is not np.ndarray:
        return broadcast_to(g, shape)
    full = np.empty(shape, g.dtype)  # one C-level broadcast copy: np.broadcast_to costs more
    full[...] = g
    return full


def sum_to(g, shape):
    """Sum ``g`` down to ``shape``: the gradient of broadcasting (NumPy's rules, reversed).

    The engine calls this once for every gradient, so no op handles broadcasting itself.
    """
    g_shape = g.shape
    if g_shape == shape:
        return g
    lead = len(g_shape) - len(shape)
    if type(g) is np.ndarray and g_shape[lead:] == shape:  # only new leading axes: a bias
        if lead == 1 and len(shape) == 1 and g.dtype.char in "fd":
            # A batch of rows summed as ones @ g: BLAS does it 2-3x faster than add.reduce,
            # and accumulates no worse.
            return ones_vector(g_shape[0], g.dtype) @ g
        return np.add.reduce(g, axis=tuple(range(lead)))
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g_shape[lead + i] != 1
    )
    if type(g) is np.ndarray:  # plain backward: one NumPy call, no dispatch
        return g.sum(axis=axes, keepdims=True).reshape(shape)
    if axes:
        g = _sum(g, axis=axes, keepdims=True)
    return reshape(g, shape) if g.shape != shape else g


def _count(shape, axis):
    return math.prod(shape) if axis is None else math.prod(shape[a] for a in axis)


_REDUCE_CASES = [
    Case(((3, 4),), {"axis": None, "keepdims": False}),
    Case(((3, 4),), {"axis": (0,), "keepdims": False}),
    Case(((3, 4),), {"axis": (1,), "keepdims": True}),
    Case(((2, 3, 4),), {"axis": (0, 2), "keepdims": False}),
    Case(((),), {"axis": None, "keepdims": False}),
    Case(((0, 3),), {"axis": (0,), "keepdims": False}),
]
# Max and min are undefined over an empty axis, as in NumPy.
_NONEMPTY_CASES = _REDUCE_CASES[:-1] + [Case(((0, 3),), {"axis": (1,), "keepdims": False})]


def _sum_ref(np, x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims)


@defop(_sum_vjp, name="sum", kernel=np.sum, spec=Spec(_REDUCE_CASES, ref=_sum_ref))
def _sum(x, axis, keepdims):
    """Sum over ``axis``; the gradient is broadcast back over the summed axes."""


def _extreme_vjp(g, out, x, axis, keepdims):
    xd = data_of(x)
    extreme = data_of(out).reshape(kept_shape(xd.shape, axis))
    # A NaN is the maximum (and minimum) where there is one: it takes the whole gradient.
    winners = (xd == extreme) | (np.isnan(xd) & np.isnan(extreme))
    share = _mask(winners, x) / winners.sum(axis=axis, keepdims=True)
    return _expand(g, x, axis) * share


@defop(
    _extreme_vjp,
    saves_out=True,
    name="max",
    kernel=np.max,
    spec=Spec(
        _NONEMPTY_CASES, ref=lambda np, x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims)
    ),
)
def _max(x, axis, keepdims):
    """Max over ``axis``: routes the gradient to the maximum (ties share it evenly)."""


@defop(
    _extreme_vjp,
    saves_out=True,
    name="min",
    kernel=np.min,
    spec=Spec(
        _NONEMPTY_CASES, ref=lambda np, x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims)
    ),
)
def _min(x, axis, keepdims):
    """Min over ``axis``: routes the gradient to the minimum (ties share it evenly)."""


def _prod_vjp(g, out, x, axis, keepdims):
    # d prod / d x_i is the product of the others; computed without dividing by zero.
    zero = data_of(x) == 0
    zeros = zero.sum(axis=axis, keepdims=True)
    safe = where(zero, 1.0, x)
    nonzero_product = _prod(safe, axis=axis, keepdims=True)
    others = where(
        zero, nonzero_product * _mask(zeros == 1, x), nonzero_product / safe * _mask(zeros == 0, x)
    )
    return _expand(g, x, axis) * others


def _prod_domain(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.5, 1.5, shape)


@defop(
    _prod_vjp,
    name="prod",
    kernel=np.prod,
    spec=Spec(
        _REDUCE_CASES,
        domain=_prod_domain,
        ref=lambda np, x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    ),
)
def _prod(x, axis, keepdims):
    """Product over ``axis`` (zeros handled exactly in the gradient)."""


def _reduction(op):
    def reduce(x, axis=None, keepdims=False, **aliases):
        axis, keepdims = resolve(axis, keepdims, aliases, op.name)
        return op(x, axis=normalize_axis(axis, np.ndim(data_of(x)), op.name), keepdims=keepdims)

    reduce.__name__ = reduce.__qualname__ = op.name
    reduce.__doc__ = op.doc
    return reduce


sum = _reduction(_sum)
max = _reduction(_max)
min = _reduction(_min)
prod = _reduction(_prod)


def mean(x, axis=None, keepdims=False, **aliases):
    """Arithmetic mean over ``axis``.

    float16 is summed in float32, as PyTorch does (a float16 sum overflows past 65,504).
    """
    axis, keepdims = resolve(axis, keepdims, aliases, "mean")
    axis = normalize_axis(axis, np.ndim(data_of(x)), "mean")
    count = _count(np.shape(data_of(x)), axis)
    dtype = np.asarray(data_of(x)).dtype
    if dtype == np.float16:
        return astype(_sum(astype(x, np.float32), axis=axis, keepdims=keepdims) / count, dtype)
    # An empty mean is nan (0 / 0), as in NumPy.
    return _sum(x, axis=axis, keepdims=keepdims) / count


def _ddof(ddof, aliases, op):
    """NumPy's ``ddof`` or PyTorch's ``correction`` (the same number)."""
    if "correction" in aliases:
        correction = aliases.pop("correction")
        if ddof and correction != ddof:
            raise TypeError(f"{op}: give ddof or correction, not both")
        return 1 if correction is None else correction
    return ddof


def torch_spread_options(dim, keepdim, correction, options, op):
    """(axis, keepdims, ddof) from PyTorch's spread arguments (unbiased by default:
    ``correction=1``), NumPy's ``axis``/``keepdims``/``ddof`` accepted too."""
    dim = options.pop("axis", dim)
    keepdim = options.pop("keepdims", keepdim)
    unbiased = options.pop("unbiased", None)
    ddof = options.pop("ddof", None)
    if options:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(options)}")
    if ddof is None:
        ddof = (1 if correction is None else correction) if unbiased is None else int(unbiased)
    return dim, keepdim, ddof


def var(x, axis=None, keepdims=False, ddof=0, **aliases):
    """Variance over ``axis`` with NumPy's ``ddof`` (0 by default; ``correction=`` alias)."""
    ddof = _ddof(ddof, aliases, "var")
    axis, keepdims = resolve(axis, keepdims, aliases, "var")
    axis = normalize_axis(axis, np.ndim(data_of(x)), "var")
    count = _count(np.shape(data_of(x)), axis)
    centred = x - mean(x, axis, keepdims=True)
    return _sum(centred * centred, axis=axis, keepdims=keepdims) / builtins.max(count - ddof, 0)


def _std_root_vjp(g, out, v):
    # 1 stands in for a zero spread, then masked: no inf at any order of differentiation.
    spread = data_of(out) > 0
    return g * 0.5 / where(spread, out, 1.0) * _mask(spread, out)


# NOTE: a primitive so that zero spread (a constant input, one element) gets gradient 0,
# as in PyTorch and HIPS autograd, where sqrt's own rule would give 0 * inf.
@defop(
    _std_root_vjp,
    saves_out=True,
    name="std_root",
    spec=Spec(
        [Case(((3, 4),)), Case(((),)), Case(((0,),))],
        domain=(0.2, 3.0),
        ref=lambda np, v: np.sqrt(v),
    ),
)
def _std_root(v):
    """The square root of a variance, with gradient 0 where the variance is 0."""
    return np.sqrt(v)


def std(x, axis=None, keepdims=False, ddof=0, **aliases):
    """Standard deviation over ``axis`` with NumPy's ``ddof`` (``correction=`` alias)."""
    return _std_root(var(x, axis, keepdims, ddof, **aliases))


def _spread_spec(name):
    cases = [
        Case(((3, 4),), {"axis": None}),
        Case(((3, 4),), {"axis": 1, "ddof": 1}),
        Case(((2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
        Case(((),), {}),
        Case(((1,),), {"axis": 0}),
    ]
    return Spec(cases, ref=lambda np, x, **params: getattr(np, name)(x, **params))


composite(
    Spec(
        [
            Case(((3, 4),), {"axis": None}),
            Case(((3, 4),), {"axis": -1}),
            Case(((2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
            Case(((),), {}),
            Case(((0, 3),), {"axis": 1}),
        ],
        ref=lambda np, x, **params: np.mean(x, **params),
    )
)(mean)
composite(_spread_spec("var"))(var)
composite(_spread_spec("std"))(std)
