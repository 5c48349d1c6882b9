"""Regression and distribution losses: L1, smooth L1, Huber and Kullback-Leibler.

Composites of registered ops (abs, where, log, exp, sum), so every order of derivative
comes from their rules; PyTorch's names, arguments, defaults and reductions. Gradients at
the kinks follow PyTorch: ``l1_loss`` gives 0 where input equals target, and the smooth
losses are continuously differentiable at ``|input - target| = beta`` (or ``delta``).

The deprecated ``size_average`` and ``reduce`` arguments are honoured as PyTorch does
(with its warning), so that calls with every argument in PyTorch's positions still work.
"""

import warnings

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import abs, astype, exp, log, where
from .reduce import sum
from .registry import Case, Spec, composite, data_of

__all__ = ["huber_loss", "kl_div", "l1_loss", "smooth_l1_loss"]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------- helpers
def _reduction(function, reduction, size_average=None, reduce=None, allowed=_REDUCTIONS):
    """The reduction, from the deprecated flags when either is given (PyTorch's rule)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
        warnings.warn(
            f"{function}: size_average and reduce are deprecated, use "
            f"reduction={reduction!r} instead",
            UserWarning,
            stacklevel=3,
        )
    if reduction not in allowed:
        raise ValueError(
            f"{function}: reduction must be one of "
            f"{', '.join(repr(r) for r in allowed)}, got {reduction!r}"
        )
    return reduction


def _like_input(value, x):
    """A target or weight as a Tensor or an array of the input's dtype (no silent upcast)."""
    if not isinstance(value, Tensor):
        value = np.asarray(value)
    return value if value.dtype == x.dtype else astype(value, x.dtype)


def _same_shape(function, input, other, name="target"):
    x_shape, shape = np.shape(data_of(input)), np.shape(data_of(other))
    if x_shape != shape:
        raise ShapeError(
            f"{function}: {name} of shape {shape} does not match input of shape "
            f"{x_shape}; they must be the same"
        )


def _difference(function, input, target):
    _same_shape(function, input, target)
    x = np.asarray(data_of(input))
    return input - _like_input(target, x), x


def _weighted(function, losses, weight, x):
    if weight is None:
        return losses, None
    _same_shape(function, x, weight, name="weight")
    weight = _like_input(weight, x)
    return losses * weight, weight


def _reduce(losses, reduction, count):
    if reduction == "none":
        return losses
    total = sum(losses)
    return total if reduction == "sum" else total / count


def _pair_cases(**params):
    cases = [Case(((3, 4), (3, 4)), {"reduction": r, **params}) for r in _REDUCTIONS]
    cases.append(Case(((2, 3, 2), (2, 3, 2)), {"reduction": "mean", **params}))
    cases.append(Case(((), ()), {"reduction": "sum", **params}))
    return cases


def _ref_reduce(xp, losses, reduction, count=None):
    if reduction == "none":
        return losses
    total = xp.sum(losses)
    return total if reduction == "sum" else total / (np.size(losses) if count is None else count)


_WEIGHT = np.array([[0.5, 1.0, 2.0, 1.5], [1.0, 0.2, 0.7, 1.1], [2.0, 0.3, 1.0, 0.9]])


# ----------------------------------------------------------------------- L1
def _l1_ref(xp, x, y, reduction="mean", weight=None):
    losses = xp.abs(x - y)
    if weight is not None:
        return _ref_reduce(xp, losses * weight, reduction, np.sum(weight))
    return _ref_reduce(xp, losses, reduction)


@composite(
    Spec(
        _pair_cases() + [Case(((3, 4), (3, 4)), {"reduction": "mean", "weight": _WEIGHT})],
        ref=_l1_ref,
    )
)
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error ``|input - target|``, reduced; ``weight`` (of the input's shape)
    scales each element, and 'mean' is then over the total weight, as in PyTorch.

    >>> l1_loss(np.array([1.0, -2.0]), np.array([0.0, 0.0])).item()
    1.5
    """
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    diff, x = _difference("l1_loss", input, target)
    losses, weight = _weighted("l1_loss", abs(diff), weight, x)
    return _reduce(losses, reduction, x.size if weight is None else sum(weight))


# ----------------------------------------------------------------------- smooth L1, Huber
def _smooth(diff, threshold, quadratic_scale, linear_scale):
    """``quadratic_scale * d**2 / 2`` where ``|d| < threshold``, else
    ``linear_scale * (|d| - threshold / 2)``: the two smooth losses."""
    size = abs(diff)
    inside = data_of(size) < threshold
    return where(
        inside, (0.5 * quadratic_scale) * diff * diff, linear_scale * (size - 0.5 * threshold)
    )


def _smooth_l1_ref(xp, x, y, reduction="mean", beta=1.0):
    d = x - y
    if beta == 0:
        return _ref_reduce(xp, xp.abs(d), reduction)
    losses = xp.where(xp.abs(d) < beta, 0.5 * d * d / beta, xp.abs(d) - 0.5 * beta)
    return _ref_reduce(xp, losses, reduction)


@composite(
    Spec(
        _pair_cases()
        + [
            Case(((3, 4), (3, 4)), {"reduction": "mean", "beta": 0.5}),
            Case(((3, 4), (3, 4)), {"reduction": "sum", "beta": 2.5}),
            Case(((3, 4), (3, 4)), {"reduction": "mean", "beta": 0.0}),
        ],
        ref=_smooth_l1_ref,
    )
)
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Smooth L1: ``0.5 d**2 / beta`` where ``|d| < beta``, ``|d| - 0.5 beta`` elsewhere
    (``d = input - target``); ``beta = 0`` is the L1 loss, as in PyTorch.

    >>> smooth_l1_loss(np.array([0.5, 3.0]), np.zeros(2), reduction="none").tolist()
    [0.125, 2.5]
    """
    reduction = _reduction("smooth_l1_loss", reduction, size_average, reduce)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    diff, x = _difference("smooth_l1_loss", input, target)
    return _reduce(_smooth(diff, beta, 1 / beta, 1.0), reduction, x.size)


def _huber_ref(xp, x, y, reduction="mean", delta=1.0, weight=None):
    d = x - y
    losses = xp.where(xp.abs(d) < delta, 0.5 * d * d, delta * (xp.abs(d) - 0.5 * delta))
    return _ref_reduce(xp, losses if weight is None else losses * weight, reduction)


@composite(
    Spec(
        _pair_cases()
        + [
            Case(((3, 4), (3, 4)), {"reduction": "mean", "delta": 0.5}),
            Case(((3, 4), (3, 4)), {"reduction": "sum", "delta": 2.5}),
            Case(((3, 4), (3, 4)), {"reduction": "mean", "weight": _WEIGHT}),
        ],
        ref=_huber_ref,
    )
)
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Huber loss: ``0.5 d**2`` where ``|d| < delta``, ``delta (|d| - 0.5 delta)`` elsewhere;
    ``weight`` (of the input's shape) scales each element ('mean' stays over the elements).

    >>> huber_loss(np.array([0.5, 3.0]), np.zeros(2), reduction="none", delta=2.0).tolist()
    [0.125, 4.0]
    """
    reduction = _reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    diff, x = _difference("huber_loss", input, target)
    losses, _ = _weighted("huber_loss", _smooth(diff, delta, 1.0, delta), weight, x)
    return _reduce(losses, reduction, x.size)


# ----------------------------------------------------------------------- KL divergence
def _kl_ref(xp, x, y, reduction="mean", log_target=False):
    losses = xp.exp(y) * (y - x) if log_target else y * (xp.log(y) - x)
    if reduction == "batchmean":
        return xp.sum(losses) / (x.shape[0] if x.ndim else 1)
    return _ref_reduce(xp, losses, reduction)


def _kl_cases():
    cases = [
        Case(((3, 4), (3, 4)), {"reduction": r, "log_target": t})
        for r in _REDUCTIONS + ("batchmean",)
        for t in (False, True)
    ]
    cases.append(Case(((2, 3, 2), (2, 3, 2)), {"reduction": "batchmean"}))
    cases.append(Case(((3, 4), (4,)), {"reduction": "sum"}))  # the target broadcasts
    cases.append(Case(((), ()), {"reduction": "batchmean", "log_target": True}))
    return cases


@composite(Spec(_kl_cases(), domain=(0.1, 1.0), ref=_kl_ref))
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence of ``target`` from ``input``, as PyTorch's: ``input`` is
    log-probabilities, ``target`` probabilities (log-probabilities with ``log_target``).

    Pointwise ``target * (log(target) - input)``, 0 where ``target`` is 0 (where PyTorch's
    gradient with respect to the target is nan, this one is ``-input``). ``reduction``
    'batchmean' divides the sum by the batch size (the KL divergence per sample); 'mean'
    divides by the number of elements. The target broadcasts against the input.

    >>> p = np.array([[0.5, 0.5]])
    >>> round(kl_div(np.log(np.array([[0.25, 0.75]])), p, reduction="batchmean").item(), 6)
    0.143841
    """
    reduction = _reduction(
        "kl_div", reduction, size_average, reduce, allowed=_REDUCTIONS + ("batchmean",)
    )
    x = np.asarray(data_of(input))
    target = _like_input(target, x)
    if log_target:
        losses = exp(target) * (target - input)
    else:
        # xlogy(t, t): 0 at t = 0, where log(t) would give 0 * -inf.
        zero = data_of(target) == 0
        losses = target * log(where(zero, 1.0, target)) - target * input
    if reduction == "batchmean":
        return sum(losses) / (x.shape[0] if x.ndim else 1)
    return _reduce(losses, reduction, np.size(data_of(losses)))
