"""Scans along an axis: cumulative sums, products, log-sum-exps and extremes, differences.

The two scans are adjoint to themselves: cumsum's gradient is a cumsum run from the
far end, and cumprod's is a linear recurrence solved with products and sums alone
(no division by the input), so both are exact with zeros and to any order. logcumsumexp's
gradient is logcumsumexp run from the far end, in log space; the running max and min
(PyTorch's cummax, cummin) gather the input at the indices of the extremes.
"""

from collections import namedtuple

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from . import elementwise as _elementwise
from .elementwise import astype
from .order import _take_along
from .reduce import one_axis, resolve
from .registry import Case, Spec, composite, data_of, defop
from .shape import _concatenate, _getitem, broadcast_to, concatenate, reshape

__all__ = ["cummax", "cummin", "cumprod", "cumsum", "diff", "logcumsumexp"]

#: What ``cummax`` and ``cummin`` return, as PyTorch's: the values and their indices.
# The type names are PyTorch's (lowercase), so that the reprs read the same.
Cummax = namedtuple("cummax", ["values", "indices"])  # type: ignore[name-match]
Cummin = namedtuple("cummin", ["values", "indices"])  # type: ignore[name-match]


def _operand(x):
    """Tensors and ndarrays as they are, anything else (numbers, lists) as an array."""
    return x if isinstance(x, (Tensor, np.ndarray)) else np.asarray(x)


def _along(axis, index):
    """An index tuple that applies ``index`` (a slice) to ``axis`` alone."""
    return (slice(None),) * axis + (index,)


def _shift(x, axis, by, fill):
    """x moved ``by`` places toward the start of ``axis`` (toward the end when negative),
    the vacated places holding ``fill``: ``out[i] = x[i + by]``."""
    data = data_of(x)
    n = data.shape[axis]
    step = min(abs(by), n)
    block_shape = list(data.shape)
    block_shape[axis] = step
    block = np.full(block_shape, fill, dtype=data.dtype)
    if by > 0:
        return _concatenate(_getitem(x, index=_along(axis, slice(step, None))), block, axis=axis)
    return _concatenate(block, _getitem(x, index=_along(axis, slice(0, n - step))), axis=axis)


def _lane_cases(**extra):
    return [
        Case(((3, 4),), {"axis": 0, **extra}),
        Case(((3, 4),), {"axis": 1, **extra}),
        Case(((2, 3, 4),), {"axis": 1, **extra}),
        Case(((5,),), {"axis": 0, **extra}),
        Case(((0, 3),), {"axis": 0, **extra}),
        Case(((3, 0),), {"axis": 1, **extra}),
    ]


def _scan_axis(a, axis, aliases, op):
    """The operand and the axis a scan runs along; ``axis=None`` scans the flattened array,
    as NumPy does. A 0-d operand is scanned as one element; with an explicit axis (0 or
    -1) the caller gives the result back 0-d, as PyTorch does."""
    axis, _ = resolve(axis, False, aliases, op)
    x = _operand(a)
    ndim = np.ndim(data_of(x))
    if axis is not None:
        axis = one_axis(axis, max(ndim, 1), op)
    if ndim != 1 and (axis is None or ndim == 0):
        return reshape(x, (-1,)), 0
    return x, 0 if axis is None else axis


def _as_scanned(out, a, axis):
    """A scan's result, 0-d again for a 0-d operand scanned along an explicit axis."""
    return reshape(out, ()) if axis is not None and np.ndim(data_of(a)) == 0 else out


# ----------------------------------------------------------------------- cumsum
def _cumsum_ref(xp, x, axis, reverse):
    if not reverse:
        return xp.cumsum(x, axis=axis)
    flip = _along(axis, slice(None, None, -1))
    return xp.cumsum(x[flip], axis=axis)[flip]


@defop(
    lambda g, out, x, axis, reverse: _cumsum(g, axis=axis, reverse=not reverse),
    name="cumsum",
    spec=Spec(_lane_cases(reverse=False) + _lane_cases(reverse=True)[:3], ref=_cumsum_ref),
)
def _cumsum(x, axis, reverse):
    """Running sum along ``axis`` (from the far end when ``reverse``); the gradient of
    one direction is the other."""
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis), axis)
    return np.cumsum(x, axis)


def cumsum(a, axis=None, dtype=None, **aliases):
    """Cumulative sum along ``axis`` (the flattened array when None), as ``np.cumsum``.

    PyTorch's ``dim`` is accepted for ``axis``.

    >>> import chainrule as cr
    >>> cr.cumsum(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    tensor([[1., 3.],
            [3., 7.]])
    """
    given = aliases.get("dim", axis)
    x, axis = _scan_axis(a, axis, aliases, "cumsum")
    if dtype is not None:
        x = astype(x, dtype)
    return _as_scanned(_cumsum(x, axis=axis, reverse=False), a, given)


# ----------------------------------------------------------------------- cumprod
def _cumprod_vjp(g, out, x, axis):
    # d out_k / d x_i = prod_{j<i} x_j * prod_{i<j<=k} x_j for k >= i, so
    #   grad_i = out_{i-1} * S_i  with  S_i = sum_{k>=i} g_k prod_{i<j<=k} x_j,
    # and S solves S_i = g_i + x_{i+1} S_{i+1}: a linear recurrence, run here by recursive
    # doubling (log2 n rounds of shifts, products and sums). No division, so zeros are exact
    # and the rule is a polynomial in g and x: differentiable again, to any order.
    n = data_of(x).shape[axis]
    carry, factor = g, _shift(x, axis, 1, 0)  # S_i = carry_i + factor_i * S_{i+stride}
    stride = 1
    while stride < n:
        carry = carry + factor * _shift(carry, axis, stride, 0)
        if 2 * stride < n:
            factor = factor * _shift(factor, axis, stride, 0)
        stride *= 2
    return _shift(out, axis, -1, 1) * carry


def _cumprod_ref(xp, x, axis):
    # Products one factor at a time (no np.prod): HIPS autograd's prod divides by x.
    lanes = xp.moveaxis(x, axis, 0)
    running, outs = 1.0, []
    for k in range(lanes.shape[0]):
        running = running * lanes[k]
        outs.append(running)
    return xp.moveaxis(xp.stack(outs), 0, axis) if outs else x


def _signed(rng, shape):
    """Magnitudes in [0.5, 1.5] with random signs: products stay of order one."""
    return rng.choice([-1, 1], shape) * rng.uniform(0.5, 1.5, shape)


def _zeros_at(*flat):
    def domain(rng, shape):
        values = _signed(rng, shape)
        values.flat[list(flat)] = 0.0
        return values

    return domain


@defop(
    _cumprod_vjp,
    saves_out=True,
    name="cumprod",
    spec=Spec(
        _lane_cases()
        + [
            # one zero in a lane, two zeros in a lane, a zero at a lane's start and end
            Case(((3, 4),), {"axis": 1}, domain=_zeros_at(1, 9)),
            Case(((3, 5),), {"axis": 1}, domain=_zeros_at(1, 3, 5, 9)),
            Case(((4, 3),), {"axis": 0}, domain=_zeros_at(1, 2, 4, 10)),
            Case(((9,),), {"axis": 0}, domain=_zeros_at(2, 6)),
        ],
        domain=_signed,
        ref=_cumprod_ref,
    ),
)
def _cumprod(x, axis):
    """Running product along ``axis``; its gradient is exact where the input has zeros."""
    return np.cumprod(x, axis)


def cumprod(a, axis=None, dtype=None, **aliases):
    """Cumulative product along ``axis`` (the flattened array when None), as ``np.cumprod``.

    The gradient never divides by the input, so it is exact with zeros. PyTorch's ``dim``
    is accepted for ``axis``.

    >>> import chainrule as cr
    >>> x = cr.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> cr.cumprod(x).sum().backward()
    >>> x.grad
    tensor([1., 8., 0.])
    """
    given = aliases.get("dim", axis)
    x, axis = _scan_axis(a, axis, aliases, "cumprod")
    if dtype is not None:
        x = astype(x, dtype)
    return _as_scanned(_cumprod(x, axis=axis), a, given)


# ----------------------------------------------------------------------- logcumsumexp
def _reversed_logcumsumexp(x, axis):
    flip = _along(axis, slice(None, None, -1))
    return _getitem(_logcumsumexp(_getitem(x, index=flip), axis=axis), index=flip)


def _logcumsumexp_vjp(g, out, x, axis):
    # grad_i = sum_{k>=i} g_k exp(x_i - out_k), summed in log space for the positive and the
    # negative g apart (PyTorch's formula, after TensorFlow's), so nothing overflows however
    # far apart x and out are; written with logcumsumexp itself, so it differentiates again.
    E, gd = _elementwise, data_of(g)
    # log 0, finite (no inf - inf below), with room for adding x without overflowing
    lowest = float(np.finfo(gd.dtype).min) / 2
    log_size = E.log(E.where(gd != 0, E.abs(g), 1.0)) - out
    parts = [
        E.exp(_reversed_logcumsumexp(E.where(sign(gd, 0), log_size, lowest), axis) + x)
        for sign in (np.greater, np.less)
    ]
    return parts[0] - parts[1]


def _logcumsumexp_ref(xp, x, axis):
    lanes = xp.moveaxis(x, axis, 0)
    running, outs = None, []
    for k in range(lanes.shape[0]):
        running = lanes[k] if running is None else xp.logaddexp(running, lanes[k])
        outs.append(running)
    return xp.moveaxis(xp.stack(outs), 0, axis) if outs else x


@defop(
    _logcumsumexp_vjp,
    saves_out=True,
    name="logcumsumexp",
    spec=Spec(
        _lane_cases() + [Case(((4,),), {"axis": 0}, domain=(-40.0, 40.0))], ref=_logcumsumexp_ref
    ),
)
def _logcumsumexp(x, axis):
    """log(cumsum(exp(x))) along ``axis``, without overflow or underflow."""
    return np.logaddexp.accumulate(x, axis=axis)


def logcumsumexp(input, dim, **aliases):
    """log(cumsum(exp(input))) along ``dim``, as ``torch.logcumsumexp``: computed as running
    ``logaddexp``, so it neither overflows nor underflows. A 0-d input stays 0-d.

    >>> import chainrule as cr
    >>> cr.logcumsumexp(cr.tensor([0.0, 0.0, 100.0]), dim=0)
    tensor([  0.       ,   0.6931472, 100.       ])
    """
    if "axis" in aliases:
        dim = aliases.pop("axis")
    x, axis = _scan_axis(input, dim, aliases, "logcumsumexp")
    return _as_scanned(_logcumsumexp(x, axis=axis), input, dim)


# ----------------------------------------------------------------------- cummax, cummin
def _extreme_indices(data, axis, better):
    """Where the running max (``better=np.greater_equal``) or min of ``data`` along ``axis``
    comes from, as PyTorch's: the latest of tied elements, and the latest NaN once there is
    one (NaN propagates)."""
    running = (np.maximum if better is np.greater_equal else np.minimum).accumulate(data, axis)
    before = np.concatenate([np.take(data, [0], axis), np.delete(running, -1, axis)], axis)
    takes = better(data, before)
    if data.dtype.kind in "fc":
        takes |= np.isnan(data)
    places = np.arange(data.shape[axis]).reshape((-1,) + (1,) * (data.ndim - axis - 1))
    return np.maximum.accumulate(np.where(takes, places, 0), axis)


def _cumulative_extreme(input, dim, better, result, op):
    x = _operand(input)
    data = np.asarray(data_of(x))
    axis = one_axis(dim, max(data.ndim, 1), op, "dim")
    if data.ndim == 0 or data.shape[axis] == 0:  # the input itself, at index 0
        indices, values = np.zeros(data.shape, np.int64), x
    else:
        indices = _extreme_indices(data, axis, better)
        values = _take_along(x, index=indices, axis=axis)
    return result(values, Tensor._new(indices) if isinstance(x, Tensor) else indices)


def _cumulative_extreme_ref(function):
    def ref(xp, x, dim):
        if x.ndim == 0:
            return x
        lanes = xp.moveaxis(x, dim, 0)
        running, outs = None, []
        for k in range(lanes.shape[0]):
            running = lanes[k] if running is None else function(xp)(running, lanes[k])
            outs.append(running)
        return xp.moveaxis(xp.stack(outs), 0, dim) if outs else x

    return ref


def _extreme_spec(function):
    return Spec(
        [
            Case(((3, 4),), {"dim": 1}),
            Case(((4, 3),), {"dim": 0}),
            Case(((2, 3, 4),), {"dim": -1}),
            Case(((),), {"dim": 0}),
            Case(((0, 3),), {"dim": 0}),
            Case(((3, 0),), {"dim": 0}),
        ],
        call=lambda f, x, **params: f(x, **params).values,
        ref=_cumulative_extreme_ref(function),
    )


@composite(_extreme_spec(lambda xp: xp.maximum))
def cummax(input, dim):
    """The running maximum along ``dim`` and where it was found, as ``torch.cummax``:
    ``(values, indices)``. Of tied elements the latest is taken (and a NaN propagates);
    the gradient of each value goes to the element it was taken from.

    >>> import chainrule as cr
    >>> cr.cummax(cr.tensor([1.0, 3.0, 2.0, 3.0]), dim=0)
    cummax(values=tensor([1., 3., 3., 3.]), indices=tensor([0, 1, 1, 3]))
    """
    return _cumulative_extreme(input, dim, np.greater_equal, Cummax, "cummax")


@composite(_extreme_spec(lambda xp: xp.minimum))
def cummin(input, dim):
    """The running minimum along ``dim`` and where it was found, as ``torch.cummin``:
    ``(values, indices)`` (the latest of tied elements; the gradient goes to it)."""
    return _cumulative_extreme(input, dim, np.less_equal, Cummin, "cummin")


# ----------------------------------------------------------------------- diff
def _diff_call(f, a, *ends, n=1, axis=-1, ends_are=()):
    """The suite's inputs after the first are the ``prepend``/``append`` named in ends_are."""
    return f(a, n=n, axis=axis, **dict(zip(ends_are, ends)))


def _diff_ref(xp, a, *end_values, n=1, axis=-1, ends_are=()):
    ends = dict(zip(ends_are, end_values))
    shape = list(a.shape)
    shape[axis] = 1
    parts = [a]
    if "prepend" in ends:
        parts.insert(
            0,
            ends["prepend"] * np.ones(shape) if np.ndim(ends["prepend"]) == 0 else ends["prepend"],
        )
    if "append" in ends:
        parts.append(
            ends["append"] * np.ones(shape) if np.ndim(ends["append"]) == 0 else ends["append"]
        )
    return xp.diff(xp.concatenate(parts, axis=axis) if len(parts) > 1 else a, n=n, axis=axis)


@composite(
    Spec(
        [
            Case(((5,),), {"n": 1, "axis": -1}),
            Case(((3, 5),), {"n": 2, "axis": 1}),
            Case(((4, 3),), {"n": 1, "axis": 0}),
            Case(((2, 3, 4),), {"n": 3, "axis": -2}),
            Case(((3, 4),), {"n": 0, "axis": -1}),
            Case(((2, 4),), {"n": 4, "axis": 1}),
            Case(((0, 3),), {"n": 1, "axis": 1}),
            Case(((3, 0),), {"n": 1, "axis": 0}),
            Case(((3, 4), (3, 1)), {"n": 1, "axis": 1, "ends_are": ("prepend",)}),
            Case(((3, 4), (2, 4), ()), {"n": 2, "axis": 0, "ends_are": ("prepend", "append")}),
            Case(((4,), ()), {"n": 1, "axis": 0, "ends_are": ("append",)}),
        ],
        call=_diff_call,
        ref=_diff_ref,
    )
)
def diff(a, n=1, axis=-1, prepend=None, append=None, **aliases):
    """The n-th discrete difference along ``axis``, as ``np.diff``.

    ``prepend``/``append`` (scalars are broadcast to one slice) are joined to ``a`` first and
    are differentiable too. PyTorch's ``dim`` is accepted as a keyword alias.

    >>> import chainrule as cr
    >>> cr.diff(cr.tensor([1.0, 4.0, 9.0, 16.0]), n=2)
    tensor([2., 2.])
    """
    axis, _ = resolve(axis, False, aliases, "diff")
    x = _operand(a)
    data = data_of(x)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"diff: n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"diff: order must be non-negative, got n={n}")
    if data.ndim == 0:
        raise ShapeError("diff: needs an input of at least one dimension, got shape ()")
    axis = one_axis(axis, data.ndim, "diff")
    if n == 0:
        return x
    parts = []
    for end in (prepend, x, append):
        if end is None:
            continue
        if end is not x:
            # Python numbers take the input's dtype, as in NumPy's operators.
            end = (
                _operand(end)
                if isinstance(end, (Tensor, np.ndarray))
                else np.asarray(end, dtype=data.dtype)
            )
            if np.ndim(data_of(end)) == 0:
                shape = list(data.shape)
                shape[axis] = 1
                end = broadcast_to(end, shape)
        parts.append(end)
    if len(parts) > 1:
        x = concatenate(parts, axis=axis)
    later, earlier = _along(axis, slice(1, None)), _along(axis, slice(None, -1))
    for _ in range(n):
        x = _getitem(x, index=later) - _getitem(x, index=earlier)
    return x
