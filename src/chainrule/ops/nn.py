"""Primitives for networks: logsumexp, softmax, log_softmax (stable), linear (fast).

NOTE: softmax and friends are primitives (not composites of exp/sum/log) for
stability: each shifts by the maximum so that logits of +-1000 stay finite.
"""

import numpy as np

from .elementwise import exp
from .linalg import matmul, stacked_matmul, stacked_rows
from .reduce import _expand, normalize_axis, resolve, sum
from .registry import Case, Spec, data_of, defop, passthrough


def _shifted(x, axis):
    """x minus its maximum over ``axis`` (kept), with all -inf rows left finite."""
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    return x - peak, peak


_LSE_CASES = [
    Case(((3, 4),), {"axis": (1,), "keepdims": False}),
    Case(((3, 4),), {"axis": None, "keepdims": True}),
    Case(((2, 3, 4),), {"axis": (0, 2), "keepdims": False}),
]


def _logsumexp_vjp(g, out, x, axis, keepdims):
    return _expand(g, x, axis) * exp(x - _expand(out, x, axis))


@defop(
    _logsumexp_vjp,
    saves_out=True,
    name="logsumexp",
    spec=Spec(
        _LSE_CASES,
        ref=lambda np, x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
    ),
)
def _logsumexp(x, axis, keepdims):
    """log(sum(exp(x))) over ``axis``, shifted by the maximum for stability."""
    shifted, peak = _shifted(x, axis)
    out = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True)) + peak
    if keepdims:
        return out
    return np.reshape(
        out, [n for i, n in enumerate(np.shape(x)) if axis is not None and i not in axis]
    )


def logsumexp(x, axis=None, keepdims=False, **aliases):
    """log(sum(exp(x))) over ``axis``, computed stably."""
    axis, keepdims = resolve(axis, keepdims, aliases, "logsumexp")
    return _logsumexp(
        x, axis=normalize_axis(axis, np.ndim(data_of(x)), "logsumexp"), keepdims=keepdims
    )


_SOFTMAX_CASES = [
    Case(((3, 4),), {"axis": 1}),
    Case(((3, 4),), {"axis": 0}),
    Case(((2, 3, 4),), {"axis": 1}),
    Case(((5,),), {"axis": 0}),
    Case(((),), {"axis": None}),
]


@defop(
    lambda g, out, x, axis: out * (g - sum(g * out, axis=axis, keepdims=True)),
    saves_out=True,
    name="softmax",
    spec=Spec(
        _SOFTMAX_CASES,
        ref=lambda np, x, axis: np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True),
    ),
)
def _softmax(x, axis):
    """exp(x) / sum(exp(x)) along ``axis``."""
    e = np.exp(_shifted(x, axis)[0])
    return e / np.sum(e, axis=axis, keepdims=True)


@defop(
    lambda g, out, x, axis: g - exp(out) * sum(g, axis=axis, keepdims=True),
    saves_out=True,
    name="log_softmax",
    spec=Spec(
        _SOFTMAX_CASES,
        ref=lambda np, x, axis: x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True)),
    ),
)
def _log_softmax(x, axis):
    """x - logsumexp(x) along ``axis``."""
    shifted = _shifted(x, axis)[0]
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _one_axis(x, axis, aliases, name):
    axis, _ = resolve(axis, False, aliases, name)
    axes = normalize_axis(axis, np.ndim(data_of(x)), name)
    return None if axes is None else axes[0]  # a 0-d input is its own (only) axis


def softmax(x, axis=-1, **aliases):
    """Softmax along ``axis`` (default: the last)."""
    return _softmax(x, axis=_one_axis(x, axis, aliases, "softmax"))


def log_softmax(x, axis=-1, **aliases):
    """Log-softmax along ``axis`` (default: the last), computed stably."""
    return _log_softmax(x, axis=_one_axis(x, axis, aliases, "log_softmax"))


def _linear_vjp_x(g, out, x, weight, bias):
    return matmul(g, weight)  # a stack of rows: one product (stacked_matmul)


def _linear_vjp_weight(g, out, x, weight, bias):
    # dW = dY^T X, with every leading (batch) axis folded into the sample axis.
    if x.ndim != 2:
        g, x = stacked_rows(g), stacked_rows(x)
    return matmul(g.swapaxes(-1, -2), x)


# NOTE: a primitive for speed: one product written into a fresh array that the bias is then
# added to in place, instead of matmul + transpose + add nodes and an extra temporary.
@defop(
    _linear_vjp_x,
    _linear_vjp_weight,
    passthrough,
    name="linear",
    spec=Spec(
        [
            Case(((4, 3), (5, 3), (5,))),
            Case(((3,), (5, 3), (5,))),
            Case(((2, 4, 3), (5, 3), (5,))),
            Case(((0, 3), (5, 3), (5,))),
        ],
        ref=lambda np, x, weight, bias: np.matmul(x, weight.T) + bias,
    ),
)
def linear(x, weight, bias):
    """x @ weight.T + bias, with weight of shape (out_features, in_features) as in PyTorch."""
    out = stacked_matmul(x, weight.T)
    if out.dtype == np.result_type(out, bias):
        out += bias
        return out
    return out + bias
