"""Fused loss primitives: cross-entropy, NLL and binary cross-entropy.

NOTE: primitives (not composites) for speed and stability. Cross-entropy with class
indices is the training hot path: one op shifts by the maximum (logits of +-1000 stay
finite) and its gradient is exactly ``softmax - onehot``. BCE with logits uses
``max(x, 0) - x y + log(1 + e^-|x|)``, whose gradient is exactly ``sigmoid(x) - y``.

Class indices, weights and the reduction are parameters (constants); the class axis
is 1, as in PyTorch (inputs ``(N, C)`` or ``(N, C, d1, ...)``). ``cr.nn.functional``
validates targets and handles 1-D inputs before calling these ops.
"""

import functools

import numpy as np

from .elementwise import clip, log, log1p, maximum, sigmoid, softplus
from .nn import softmax
from .reduce import ones_vector
from .registry import Case, Spec, data_of, defop
from .shape import expand_dims

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------- helpers
def target_weights(target, weight, ignore_index, dtype):
    """Class indices made safe to gather with, each sample's weight, and the valid mask.

    Ignored samples get index 0 and weight 0; ``weight`` (per class) defaults to 1.
    ``ignore_index`` None: no target is ignored.
    """
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    safe = np.where(valid, target, 0)
    if weight is None:
        return safe, valid.astype(dtype), valid
    return safe, np.where(valid, weight[safe], 0).astype(dtype, copy=False), valid


def _picks(target, weight, ignore_index, dtype):
    """The hot path's :func:`target_weights`: ``(safe indices, per-sample weights, their
    total)``, with ``None`` for the weights when every sample counts once (no weight, no
    ignored target), so that no array of ones is made or multiplied."""
    if weight is None and (ignore_index is None or not (target == ignore_index).any()):
        return target, None, target.size
    safe, w, _ = target_weights(target, weight, ignore_index, dtype)
    return safe, w, w.sum()


def _class_index(index):
    """An index tuple that picks each sample's class entry (class axis 1): ``a[idx]``."""
    if index.ndim == 1:
        return _rows(index.size), index
    grids = np.indices(index.shape, sparse=True)
    return (grids[0], index) + tuple(grids[1:])


def one_hot_like(index, shape, dtype):
    """A constant array of ``shape`` with 1 at each sample's class (class axis 1)."""
    out = np.zeros(shape, dtype=dtype)
    out[_class_index(index)] = 1
    return out


# NumPy reduces a short inner axis slowly (a 1024 x 10 max or sum takes several times
# longer than an exp of the same array), so the 2-D hot path reduces another way. The
# ufuncs' own reduce skips the Python wrapper behind ndarray.max and .sum.
def _class_max(x):
    if x.ndim == 2 and x.shape[1] <= 64:
        return np.maximum.reduce(np.ascontiguousarray(x.T), axis=0, keepdims=True).T
    return np.maximum.reduce(x, axis=1, keepdims=True)


def _class_sum(e):
    if e.ndim == 2:
        return e @ ones_vector(e.shape[1], e.dtype)  # a BLAS matrix-vector product
    return np.sum(e, axis=1)


@functools.lru_cache(maxsize=64)
def _rows(n):
    """A read-only ``arange(n)``, the row half of a class index, made once per length."""
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


def _reduce(losses, reduction, count):
    """Reduce per-sample losses; 'mean' divides by ``count`` (a weight total or a size)."""
    if reduction == "none":
        return losses
    total = np.add.reduce(losses, axis=None)
    if reduction == "sum":
        return np.asarray(total)
    # Nothing counted: nan, as PyTorch.
    return np.asarray(total / count if count else np.nan, dtype=losses.dtype)


def _class_scale(g, w, total, reduction):
    """The upstream gradient times each sample's weight ``w`` (None: all 1), over the
    ``total`` weight for 'mean', shaped to broadcast over the class axis."""
    if reduction == "mean" and total:  # all ignored: no gradient (as PyTorch), not 0/0
        g = g / total
    if reduction == "none":
        g = expand_dims(g, 1)
    return g if w is None else g * w[:, None]


def _as_dtype(constant, like):
    """A weight parameter in the input's dtype (None stays None): no silent upcast."""
    return None if constant is None else np.asarray(constant, dtype=data_of(like).dtype)


def _elementwise_scale(g, x, weight, reduction):
    """The upstream gradient of an elementwise loss, times its weight, over N for 'mean'."""
    if weight is not None:
        g = g * _as_dtype(weight, x)
    size = np.size(data_of(x))
    return g / size if reduction == "mean" and size else g


# ----------------------------------------------------------------------- test references
def _nll_ref(xp, logp, target, weight, ignore_index, reduction):
    safe, w, _ = target_weights(target, weight, ignore_index, np.float64)
    losses = -xp.sum(logp * one_hot_like(safe, logp.shape, np.float64), axis=1) * w
    if reduction == "none":
        return losses
    return xp.sum(losses) / (np.sum(w) if reduction == "mean" else 1.0)


def _cross_entropy_ref(xp, x, target, weight, ignore_index, reduction):
    logp = x - xp.log(xp.sum(xp.exp(x), axis=1, keepdims=True))
    return _nll_ref(xp, logp, target, weight, ignore_index, reduction)


def _class_cases():
    t4 = np.array([2, 0, 1, 2])
    t3d = np.array([[0, 2], [1, 1]])
    w = np.array([0.5, 2.0, 1.5])
    plain = {"weight": None, "ignore_index": -100}
    return [
        Case(((4, 3),), {"target": t4, **plain, "reduction": "mean"}),
        Case(((4, 3),), {"target": t4, **plain, "reduction": "sum"}),
        Case(((4, 3),), {"target": t4, **plain, "reduction": "none"}),
        Case(((4, 3),), {"target": t4, "weight": w, "ignore_index": 0, "reduction": "mean"}),
        # None: the caller found no target that could be ignored.
        Case(((4, 3),), {"target": t4, "weight": w, "ignore_index": None, "reduction": "mean"}),
        Case(((2, 3, 2),), {"target": t3d, "weight": w, "ignore_index": -100, "reduction": "none"}),
        Case(((0, 3),), {"target": np.zeros(0, dtype=np.int64), **plain, "reduction": "sum"}),
    ]


# ----------------------------------------------------------------------- class indices
def _cross_entropy_vjp(g, out, x, probabilities=None, *, target, weight, ignore_index, reduction):
    xd = data_of(x)
    safe, w, total = _picks(target, weight, ignore_index, xd.dtype)
    scale = _class_scale(g, w, total, reduction)
    if isinstance(x, np.ndarray):
        # Plain backward (no graph): the same formula, in place on a fresh array: a copy
        # of the softmax forward kept (a retained graph reads it again), else forward's.
        if probabilities is None:
            grad = _cross_entropy_keeping_softmax(x, target, weight, ignore_index, reduction)[1]
        else:
            grad = probabilities.copy()
        grad[_class_index(safe)] -= 1
        grad *= scale
        return grad
    return (softmax(x, axis=1) - one_hot_like(safe, xd.shape, xd.dtype)) * scale


def _cross_entropy_keeping_softmax(x, target, weight, ignore_index, reduction):
    """The loss, and the softmax its rule needs (kept by recorded nodes; one division
    over the exponentials, which the loss alone would not need)."""
    safe, w, total = _picks(target, weight, ignore_index, x.dtype)
    shifted = x - _class_max(x)
    e = np.exp(shifted)
    sums = _class_sum(e)
    losses = np.log(sums)
    losses -= shifted[_class_index(safe)]
    if w is not None:
        losses *= w
    e /= sums[:, None]  # [:, None]: np.expand_dims costs more than this division
    return _reduce(losses, reduction, total), e


@defop(
    _cross_entropy_vjp,
    name="cross_entropy",
    keeps=_cross_entropy_keeping_softmax,
    spec=Spec(_class_cases(), ref=_cross_entropy_ref),
)
def _cross_entropy(x, target, weight, ignore_index, reduction):
    """Cross-entropy of logits ``x`` against class indices: stable log-softmax, then pick.

    The gradient is ``(softmax(x) - onehot) * weight`` (over the total weight for 'mean').
    """
    return _cross_entropy_keeping_softmax(x, target, weight, ignore_index, reduction)[0]


def _nll_loss_vjp(g, out, logp, target, weight, ignore_index, reduction):
    data = data_of(logp)
    safe, w, total = _picks(target, weight, ignore_index, data.dtype)
    return -(one_hot_like(safe, data.shape, data.dtype) * _class_scale(g, w, total, reduction))


@defop(_nll_loss_vjp, name="nll_loss", spec=Spec(_class_cases(), ref=_nll_ref))
def _nll_loss(logp, target, weight, ignore_index, reduction):
    """Negative log-likelihood: minus each sample's entry at its class, weighted."""
    safe, w, valid = target_weights(target, weight, ignore_index, logp.dtype)
    # Ignored samples contribute exactly 0, even where their picked entry is -inf.
    losses = np.where(valid, -logp[_class_index(safe)] * w, 0).astype(logp.dtype, copy=False)
    return _reduce(losses, reduction, np.sum(w))


# ----------------------------------------------------------------------- binary
def _elementwise_cases(with_pos_weight):
    w = np.array([0.5, 1.0, 2.0, 1.5])
    extra = {"pos_weight": None} if with_pos_weight else {}
    cases = [Case(((3, 4), (3, 4)), {**extra, "weight": None, "reduction": r}) for r in REDUCTIONS]
    cases.append(Case(((3, 4), (3, 4)), {**extra, "weight": w, "reduction": "mean"}))
    cases.append(Case(((), ()), {**extra, "weight": None, "reduction": "mean"}))
    if with_pos_weight:
        cases.append(Case(((3, 4), (3, 4)), {"pos_weight": w, "weight": None, "reduction": "sum"}))
    return cases


def _reduce_ref(xp, losses, weight, reduction):
    if weight is not None:
        losses = losses * weight
    if reduction == "none":
        return losses
    return xp.sum(losses) / (np.size(losses) if reduction == "mean" else 1)


def _bce_logits_ref(xp, x, y, pos_weight, weight, reduction):
    log_weight = 1.0 if pos_weight is None else 1 + (pos_weight - 1) * y
    losses = (1 - y) * x + log_weight * xp.log(1 + xp.exp(-x))
    return _reduce_ref(xp, losses, weight, reduction)


def _bce_logits_vjp_x(g, out, x, y, pos_weight, weight, reduction):
    scale = _elementwise_scale(g, x, weight, reduction)
    if pos_weight is None:
        return (sigmoid(x) - y) * scale  # dz = a - y
    pos_weight = _as_dtype(pos_weight, x)
    return ((1 - y) - (1 + (pos_weight - 1) * y) * sigmoid(-x)) * scale


def _bce_logits_vjp_y(g, out, x, y, pos_weight, weight, reduction):
    scale = _elementwise_scale(g, x, weight, reduction)
    if pos_weight is None:
        return -x * scale
    pos_weight = _as_dtype(pos_weight, x)
    return ((pos_weight - 1) * softplus(-x) - x) * scale


@defop(
    _bce_logits_vjp_x,
    _bce_logits_vjp_y,
    name="binary_cross_entropy_with_logits",
    spec=Spec(_elementwise_cases(True), ref=_bce_logits_ref),
)
def _bce_with_logits(x, y, pos_weight, weight, reduction):
    """Binary cross-entropy of logits, ``max(x, 0) - x y + log(1 + e^-|x|)``: no overflow."""
    softplus_neg = np.log1p(np.exp(-np.abs(x)))
    if pos_weight is None:
        losses = np.maximum(x, 0) - x * y + softplus_neg
    else:  # PyTorch's form: (1 - y) x + (1 + (pw - 1) y) log(1 + e^-x)
        pos_weight = _as_dtype(pos_weight, x)
        losses = (1 - y) * x + (1 + (pos_weight - 1) * y) * (softplus_neg + np.maximum(-x, 0))
    if weight is not None:
        losses = losses * _as_dtype(weight, x)
    return _reduce(losses, reduction, losses.size)


def _bce_ref(xp, p, y, weight, reduction):
    return _reduce_ref(xp, -(y * xp.log(p) + (1 - y) * xp.log(1 - p)), weight, reduction)


# PyTorch's floor for p (1 - p) in the gradient, so that p = 0 or 1 gives no inf.
_BCE_EPS = 1e-12


def _bce_vjp_p(g, out, p, y, weight, reduction):
    scale = _elementwise_scale(g, p, weight, reduction)
    return (p - y) / maximum((1 - p) * p, _BCE_EPS) * scale


def _bce_vjp_y(g, out, p, y, weight, reduction):
    # The derivative of the clamped formula, so finite at p = 0 or 1 (PyTorch: -logit(p)).
    scale = _elementwise_scale(g, p, weight, reduction)
    return (clip(log1p(-p), min=-100.0) - clip(log(p), min=-100.0)) * scale


@defop(
    _bce_vjp_p,
    _bce_vjp_y,
    name="binary_cross_entropy",
    spec=Spec(_elementwise_cases(False), domain=(0.1, 0.9), ref=_bce_ref),
)
def _bce(p, y, weight, reduction):
    """Binary cross-entropy of probabilities; each log is clamped at -100, as in PyTorch."""
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100)
        log_not_p = np.maximum(np.log1p(-p), -100)
    losses = (y - 1) * log_not_p - y * log_p
    if weight is not None:
        losses = losses * _as_dtype(weight, p)
    return _reduce(losses, reduction, losses.size)
