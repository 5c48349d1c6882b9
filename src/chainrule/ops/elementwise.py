"""Elementwise ops: arithmetic and the scalar functions of the notes.

The notes' gates are here: ``add`` distributes the upstream gradient unchanged,
``mul`` swaps its inputs, ``maximum`` routes it to the larger input. Where an op is
one NumPy ufunc, that ufunc is its ``kernel`` and the function below only documents it.
"""

import functools

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .bits import select
from .registry import Case, Spec, binary_spec, data_of, defop, passthrough, unary_spec


def _mask(condition, like):
    """A 0/1 array in ``like``'s dtype: a constant factor in a vjp."""
    return np.asarray(condition, dtype=np.asarray(data_of(like)).dtype)


# ----------------------------------------------------------------------- arithmetic
@defop(passthrough, passthrough, kernel=np.add, spec=binary_spec(lambda np, a, b: a + b))
def add(a, b):
    """a + b: the add gate hands the upstream gradient to both inputs unchanged."""


@defop(
    passthrough,
    lambda g, out, a, b: -g,
    kernel=np.subtract,
    spec=binary_spec(lambda np, a, b: a - b),
)
def sub(a, b):
    """a - b."""


@defop(
    lambda g, out, a, b: g * b,
    lambda g, out, a, b: g * a,
    kernel=np.multiply,
    spec=binary_spec(lambda np, a, b: a * b),
)
def mul(a, b):
    """a * b: the mul gate swaps its inputs (d(ab)/da = b)."""


@defop(
    lambda g, out, a, b: g / b,
    lambda g, out, a, b: -g * a / (b * b),
    kernel=np.divide,
    name="div",
    spec=binary_spec(
        lambda np, a, b: a / b,
        domain=lambda rng, shape: rng.choice([-1, 1], shape) * rng.uniform(0.5, 2.0, shape),
    ),
)
def _div(a, b):
    """a / b."""


def _rounded_quotient(a, b, rounding_mode):
    """a / b rounded towards zero ('trunc') or down ('floor'), on arrays, as PyTorch: integer
    operands give integers (computed exactly, without going through floats)."""
    if rounding_mode == "floor":
        return np.floor_divide(a, b)
    if np.result_type(a, b).kind in "biu":
        floor = np.floor_divide(a, b)
        # Python's floor division is one below the truncated quotient where the signs differ
        # and the division is not exact.
        return floor + ((floor * b != a) & ((np.asarray(a) < 0) != (np.asarray(b) < 0)))
    return np.trunc(np.divide(a, b))


def div(a, b, rounding_mode=None):
    """a / b, as ``np.divide``; PyTorch's ``rounding_mode`` 'trunc' (towards zero) or 'floor'
    (Python's ``//``) rounds the quotient.

    A rounded quotient is piecewise constant: it is a constant (no gradient), like
    ``cr.floor_divide`` and the other rounding functions.

    >>> import chainrule as cr
    >>> cr.div(cr.tensor([-7, 7]), 2, rounding_mode="trunc")
    tensor([-3,  3])
    """
    if rounding_mode is None:
        return _div(a, b)
    if rounding_mode not in ("trunc", "floor"):
        # PyTorch raises RuntimeError here and NumPy-style code expects ValueError: both.
        raise ShapeError(
            f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
        )
    out = np.asarray(_rounded_quotient(data_of(a), data_of(b), rounding_mode))
    return Tensor._new(out) if isinstance(a, Tensor) or isinstance(b, Tensor) else out


def _pow_base(g, out, a, b):
    zero = data_of(b) == 0
    if np.any(zero):
        # a ** 0 is the constant 1: gradient 0 for every a, inf and 0 included (b a^(b-1)
        # is 0 * inf there). Both the base and the exponent are swapped for 1 where b is 0,
        # so every order stays finite (b * 1 ** 1 = 0).
        return g * b * where(zero, 1.0, a) ** where(zero, 1.0, b - 1)
    return g * b * a ** (b - 1)


def _pow_exponent(g, out, a, b):
    # d/db a^b = a^b log a; 0 ** b does not depend on b to first order for b >= 0 (PyTorch),
    # while a negative base gives nan (log of a negative number).
    constant = (np.asarray(data_of(a)) == 0) & (np.asarray(data_of(b)) >= 0)
    if not np.any(constant):
        with np.errstate(invalid="ignore"):
            return g * out * log(a)
    return g * out * log(where(constant, 1.0, a)) * _mask(~constant, out)


@defop(
    _pow_base,
    _pow_exponent,
    saves_out=True,
    kernel=np.power,
    spec=binary_spec(lambda np, a, b: a**b, domain=(0.5, 2.0)),
)
def pow(a, b):
    """a ** b."""


@defop(lambda g, out, a: -g, kernel=np.negative, spec=unary_spec(lambda np, a: -a))
def neg(a):
    """-a."""


# ----------------------------------------------------------------------- functions
@defop(
    lambda g, out, a: g * out,
    saves_out=True,
    kernel=np.exp,
    spec=unary_spec(lambda np, a: np.exp(a)),
)
def exp(a):
    """e ** a."""


@defop(
    lambda g, out, a: g / a,
    kernel=np.log,
    spec=unary_spec(lambda np, a: np.log(a), domain=(0.2, 3.0)),
)
def log(a):
    """Natural logarithm (NumPy's values at 0 and below: -inf and nan)."""


@defop(
    lambda g, out, a: g / (1 + a),
    kernel=np.log1p,
    spec=unary_spec(lambda np, a: np.log1p(a), domain=(-0.8, 3.0)),
)
def log1p(a):
    """log(1 + a), accurate for small a."""


@defop(
    lambda g, out, a: g * 0.5 / out,
    saves_out=True,
    kernel=np.sqrt,
    spec=unary_spec(lambda np, a: np.sqrt(a), domain=(0.2, 3.0)),
)
def sqrt(a):
    """Square root."""


def _abs_domain(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.2, 2.0, shape)


@defop(
    lambda g, out, a: g * np.sign(data_of(a)),
    kernel=np.abs,
    spec=unary_spec(lambda np, a: np.abs(a), domain=_abs_domain),
)
def abs(a):
    """|a|; the gradient at 0 is 0, as in PyTorch."""


@defop(lambda g, out, a: g * cos(a), kernel=np.sin, spec=unary_spec(lambda np, a: np.sin(a)))
def sin(a):
    """Sine."""


@defop(lambda g, out, a: -g * sin(a), kernel=np.cos, spec=unary_spec(lambda np, a: np.cos(a)))
def cos(a):
    """Cosine."""


@defop(
    lambda g, out, a: g * (1 - out * out),
    saves_out=True,
    kernel=np.tanh,
    spec=unary_spec(lambda np, a: np.tanh(a)),
)
def tanh(a):
    """Hyperbolic tangent."""


# NOTE: a primitive for stability: 1 / (1 + exp(-a)) overflows for large negative a.
@defop(
    lambda g, out, a: g * out * (1 - out),
    saves_out=True,
    spec=unary_spec(lambda np, a: 1 / (1 + np.exp(-a)), domain=(-4.0, 4.0)),
)
def sigmoid(a):
    """The logistic function 1 / (1 + e^-a), computed without overflow.

    Accurate in relative terms over the whole range, small values included: e^-|a| / (1 +
    e^-|a|) for negative a (0.5 + 0.5 tanh(a / 2) rounds to 0 in float32 from a = -17 on).
    """
    a = np.asarray(a)
    small = np.empty(a.shape, np.result_type(a.dtype, np.float16))  # np.exp's result type
    np.exp(np.negative(np.abs(a, out=small), out=small), out=small)
    # The numerator, 1 for a >= 0 and e^-|a| below: the larger of e^-|a| and a's step.
    # (np.where with a mixed mask is a branch per element: 4x slower at 262,144 float32.)
    top = np.greater_equal(a, 0, out=np.empty_like(small))
    np.maximum(small, top, out=top)
    small += 1
    return np.divide(top, small, out=top)


@defop(
    lambda g, out, a: g * (a > 0),  # a bool mask (a constant for Tensors too): NumPy's fastest
    spec=unary_spec(lambda np, a: np.maximum(a, 0.0), domain=_abs_domain),
)
def relu(a):
    """max(a, 0); the gradient at 0 is 0."""
    return _max_with_zero(a)


def _max_with_zero(a):
    """np.maximum(a, 0), to the bit, as a vector loop for large float arrays."""
    a = np.asarray(a)
    order = _memory_order(a) if a.dtype.kind == "f" and a.size >= 1024 else None
    if order is None:
        return np.maximum(a, 0)
    # NumPy runs maximum against a scalar in a plain loop and against an array in its
    # vector loop, 2.5x faster (99 -> 37 us for 262,144 float32): rows of zeros stand in
    # for the scalar, a slice of a row for the last partial one. The elements are taken
    # in memory order (a convolution's output is a transposed view), and so returned.
    dense = a if order is _C_ORDER else a.transpose(order)
    zeros, n = _zero_row(a.dtype), a.size
    if n <= _ZEROS:
        out = np.maximum(dense, zeros[:n].reshape(dense.shape))
    else:
        out = np.empty(dense.shape, a.dtype)
        flat, into, whole = dense.reshape(-1), out.reshape(-1), n - n % _ZEROS
        rows = (-1, _ZEROS)
        np.maximum(flat[:whole].reshape(rows), zeros, out=into[:whole].reshape(rows))
        np.maximum(flat[whole:], zeros[: n - whole], out=into[whole:])
    return out if order is _C_ORDER else out.transpose(np.argsort(order))


_C_ORDER = ()  # _memory_order's answer for a C-contiguous array


def _memory_order(a):
    """a's axes outermost first in memory when its elements are one dense block (``_C_ORDER``
    when that is their order), else None."""
    if a.flags.c_contiguous:
        return _C_ORDER
    order = tuple(np.argsort(a.strides, kind="stable")[::-1])
    return order if a.transpose(order).flags.c_contiguous else None


_ZEROS = 8192  # elements of a row of zeros (long rows keep the vector loop busy)


@functools.cache
def _zero_row(dtype):
    row = np.zeros(_ZEROS, dtype)
    row.flags.writeable = False
    return row


def _leaky_relu_vjp(g, out, a, negative_slope):
    x = data_of(a)
    if 0 < negative_slope <= 1 and np.asarray(x).dtype.kind == "f":
        # 1 where x > 0, the slope elsewhere: the larger of the two (see _leaky_relu).
        return g * np.maximum(np.greater(x, 0).astype(x.dtype), negative_slope)
    return g * np.where(x > 0, 1, negative_slope).astype(x.dtype)


@defop(
    _leaky_relu_vjp,
    spec=unary_spec(
        lambda np, a, negative_slope: np.where(a > 0, a, negative_slope * a),
        domain=_abs_domain,
        params={"negative_slope": 0.1},
    ),
)
def _leaky_relu(a, negative_slope):
    """a where a > 0, negative_slope * a elsewhere."""
    a = np.asarray(a)
    slope = np.asarray(negative_slope, a.dtype) if a.dtype.kind == "f" else np.nan
    if not slope > 0:  # in a's precision: a slope that rounds to 0 makes inf * 0 = NaN
        return np.where(a > 0, a, a * negative_slope)
    # For a positive slope the branch taken is the larger of a and slope * a (the smaller
    # above a slope of 1), NaN, infinities and -0.0 included: a vector loop, where np.where
    # with a mixed mask is a branch per element (4-20x slower).
    pick = np.maximum if slope <= 1 else np.minimum
    return pick(a, a * negative_slope)


def leaky_relu(a, negative_slope=0.01):
    """a where a > 0, negative_slope * a elsewhere."""
    return _leaky_relu(a, negative_slope=negative_slope)


# NOTE: a primitive for stability: log(1 + exp(a)) overflows for large a.
@defop(lambda g, out, a: g * sigmoid(a), spec=unary_spec(lambda np, a: np.logaddexp(0.0, a)))
def softplus(a):
    """log(1 + e^a), computed without overflow."""
    return log1p_exp(a)


def log1p_exp(a):
    """log(1 + e^a) as max(a, 0) + log1p(e^-|a|), without overflow, for arrays: in float32
    NumPy's np.logaddexp(0, a) takes 9x as long (262,144 values: 6.0 ms against 0.67)."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return np.logaddexp(0, a)
    return _max_with_zero(a) + np.log1p(np.exp(-np.abs(a)))


def _clip_vjp(g, out, a, a_min, a_max):
    x = data_of(a)
    inside = np.ones(x.shape, dtype=bool)
    if a_min is not None:
        inside &= x >= a_min
    if a_max is not None:
        inside &= x <= a_max
    return g * _mask(inside, a)


@defop(
    _clip_vjp,
    spec=unary_spec(
        lambda np, a, a_min, a_max: np.clip(a, a_min, a_max), params={"a_min": -1.0, "a_max": 1.0}
    ),
)
def _clip(a, a_min, a_max):
    """a limited to [a_min, a_max]; the gradient passes inside, boundaries included."""
    return np.clip(a, a_min, a_max)


def clip(a, a_min=None, a_max=None, *, min=None, max=None):
    """a limited to [a_min, a_max] (either may be None); boundaries pass the gradient.

    NumPy's ``a_min``/``a_max`` and PyTorch's ``min``/``max`` keywords are both accepted
    (positionally they are the same two arguments).

    >>> import chainrule as cr
    >>> cr.clip(cr.tensor([-2.0, 0.5, 3.0]), a_min=-1.0, a_max=1.0).tolist()
    [-1.0, 0.5, 1.0]
    """
    if min is not None:
        if a_min is not None:
            raise TypeError("clip: pass the lower bound once, as a_min or min")
        a_min = min
    if max is not None:
        if a_max is not None:
            raise TypeError("clip: pass the upper bound once, as a_max or max")
        a_max = max
    if a_min is None and a_max is None:
        # A ValueError for NumPy's callers and a RuntimeError for PyTorch's: a ShapeError.
        raise ShapeError("clip: give at least one of a_min and a_max (min and max)")
    return _clip(a, a_min=a_min, a_max=a_max)


clamp = clip


def _route(g, mine, other, strict):
    """The max/min gate: the gradient goes to the winning input; ties split it evenly."""
    x, y = data_of(mine), data_of(other)
    return g * (_mask(strict(x, y), mine) + 0.5 * _mask(x == y, mine))


@defop(
    lambda g, out, a, b: _route(g, a, b, np.greater),
    lambda g, out, a, b: _route(g, b, a, np.greater),
    kernel=np.maximum,
    spec=binary_spec(lambda np, a, b: np.maximum(a, b)),
)
def maximum(a, b):
    """Elementwise max: routes the gradient to the larger input (ties split evenly)."""


@defop(
    lambda g, out, a, b: _route(g, a, b, np.less),
    lambda g, out, a, b: _route(g, b, a, np.less),
    kernel=np.minimum,
    spec=binary_spec(lambda np, a, b: np.minimum(a, b)),
)
def minimum(a, b):
    """Elementwise min: routes the gradient to the smaller input (ties split evenly)."""


_COND = np.array([[True, False, True, True], [False, False, True, False], [True] * 4])


@defop(
    lambda g, out, a, b, condition: _where(g, 0.0, condition=condition),
    lambda g, out, a, b, condition: _where(0.0, g, condition=condition),
    spec=Spec(
        [
            Case(((3, 4), (3, 4)), {"condition": _COND}),
            Case(((3, 4), (4,)), {"condition": _COND}),
            Case(((), ()), {"condition": np.array(False)}),
        ],
        # The sums broadcast a and b first, so the reference's vjp reduces them back.
        ref=lambda np, a, b, condition: np.where(condition, a + 0 * b, b + 0 * a),
    ),
)
def _where(a, b, condition):
    """a where condition holds, b elsewhere."""
    return select(condition, a, b)


def where(condition, a, b):
    """Pick from a where ``condition`` holds and from b elsewhere; ``condition`` has no grad.

    A Tensor anywhere among the arguments gives a Tensor.
    """
    mask = np.asarray(data_of(condition), dtype=bool)
    if isinstance(condition, Tensor) and not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return Tensor._new(np.asarray(select(mask, a, b)))
    return _where(a, b, condition=mask)


@defop(passthrough, spec=unary_spec(lambda np, a, dtype: a * 1.0, params={"dtype": np.float64}))
def _astype(a, dtype):
    """a converted to ``dtype`` (the engine converts the gradient back)."""
    return a.astype(dtype, copy=False) if isinstance(a, np.ndarray) else np.asarray(a, dtype)


def astype(a, dtype):
    """a converted to ``dtype``; the gradient comes back in a's own dtype.

    Converting to an integer or boolean dtype cuts the graph, as in PyTorch: the result
    is a constant.
    """
    dtype = np.dtype(dtype)
    if isinstance(a, Tensor) and not np.issubdtype(dtype, np.inexact):
        return Tensor._new(a.data.astype(dtype))
    return _astype(a, dtype=dtype)
