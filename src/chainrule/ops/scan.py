"""Scans along an axis: cumulative sums and products, differences.

The two scans are adjoint to themselves: cumsum's gradient is a cumsum run from the
far end, and cumprod's is a linear recurrence solved with products and sums alone
(no division by the input), so both are exact with zeros and to any order.
"""

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import astype
from .reduce import one_axis, resolve
from .registry import Case, Spec, composite, data_of, defop
from .shape import _concatenate, _getitem, broadcast_to, concatenate, reshape

__all__ = ["cumprod", "cumsum", "diff"]


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
    block = list(data.shape)
    block[axis] = step
    block = np.full(block, fill, dtype=data.dtype)
    if by > 0:
        return _concatenate(_getitem(x, index=_along(axis, slice(step, None))), block, axis=axis)
    return _concatenate(block, _getitem(x, index=_along(axis, slice(0, n - step))), axis=axis)


def _lane_cases(**extra):
    return [Case(((3, 4),), {"axis": 0, **extra}), Case(((3, 4),), {"axis": 1, **extra}),
            Case(((2, 3, 4),), {"axis": 1, **extra}), Case(((5,),), {"axis": 0, **extra}),
            Case(((0, 3),), {"axis": 0, **extra}), Case(((3, 0),), {"axis": 1, **extra})]


def _scan_axis(a, axis, aliases, op):
    """The operand and the axis a scan runs along; ``axis=None`` (and a 0-d operand)
    scans the flattened array, as NumPy does."""
    axis, _ = resolve(axis, False, aliases, op)
    x = _operand(a)
    ndim = np.ndim(data_of(x))
    if axis is not None:
        axis = one_axis(axis, max(ndim, 1), op)
    if ndim != 1 and (axis is None or ndim == 0):
        return reshape(x, (-1,)), 0
    return x, 0 if axis is None else axis


# ----------------------------------------------------------------------- cumsum
def _cumsum_ref(xp, x, axis, reverse):
    if not reverse:
        return xp.cumsum(x, axis=axis)
    flip = _along(axis, slice(None, None, -1))
    return xp.cumsum(x[flip], axis=axis)[flip]


@defop(lambda g, out, x, axis, reverse: _cumsum(g, axis=axis, reverse=not reverse),
       name="cumsum",
       spec=Spec(_lane_cases(reverse=False) + _lane_cases(reverse=True)[:3], ref=_cumsum_ref))
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
    x, axis = _scan_axis(a, axis, aliases, "cumsum")
    if dtype is not None:
        x = astype(x, dtype)
    return _cumsum(x, axis=axis, reverse=False)


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


@defop(_cumprod_vjp, saves_out=True, name="cumprod",
       spec=Spec(_lane_cases() + [
           # one zero in a lane, two zeros in a lane, a zero at a lane's start and end
           Case(((3, 4),), {"axis": 1}, domain=_zeros_at(1, 9)),
           Case(((3, 5),), {"axis": 1}, domain=_zeros_at(1, 3, 5, 9)),
           Case(((4, 3),), {"axis": 0}, domain=_zeros_at(1, 2, 4, 10)),
           Case(((9,),), {"axis": 0}, domain=_zeros_at(2, 6))],
           domain=_signed, ref=_cumprod_ref))
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
    x, axis = _scan_axis(a, axis, aliases, "cumprod")
    if dtype is not None:
        x = astype(x, dtype)
    return _cumprod(x, axis=axis)


# ----------------------------------------------------------------------- diff
def _diff_call(f, a, *ends, n=1, axis=-1, ends_are=()):
    """The suite's inputs after the first are the ``prepend``/``append`` named in ends_are."""
    return f(a, n=n, axis=axis, **dict(zip(ends_are, ends)))


def _diff_ref(xp, a, *ends, n=1, axis=-1, ends_are=()):
    ends = dict(zip(ends_are, ends))
    shape = list(a.shape)
    shape[axis] = 1
    parts = [a]
    if "prepend" in ends:
        parts.insert(0, ends["prepend"] * np.ones(shape) if np.ndim(ends["prepend"]) == 0
                     else ends["prepend"])
    if "append" in ends:
        parts.append(ends["append"] * np.ones(shape) if np.ndim(ends["append"]) == 0
                     else ends["append"])
    return xp.diff(xp.concatenate(parts, axis=axis) if len(parts) > 1 else a, n=n, axis=axis)


@composite(Spec([Case(((5,),), {"n": 1, "axis": -1}), Case(((3, 5),), {"n": 2, "axis": 1}),
                 Case(((4, 3),), {"n": 1, "axis": 0}), Case(((2, 3, 4),), {"n": 3, "axis": -2}),
                 Case(((3, 4),), {"n": 0, "axis": -1}), Case(((2, 4),), {"n": 4, "axis": 1}),
                 Case(((0, 3),), {"n": 1, "axis": 1}), Case(((3, 0),), {"n": 1, "axis": 0}),
                 Case(((3, 4), (3, 1)), {"n": 1, "axis": 1, "ends_are": ("prepend",)}),
                 Case(((3, 4), (2, 4), ()), {"n": 2, "axis": 0,
                                             "ends_are": ("prepend", "append")}),
                 Case(((4,), ()), {"n": 1, "axis": 0, "ends_are": ("append",)})],
                call=_diff_call, ref=_diff_ref))
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
            end = _operand(end) if isinstance(end, (Tensor, np.ndarray)) else np.asarray(
                end, dtype=data.dtype)
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
