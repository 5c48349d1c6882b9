"""Activations, dropout and losses as functions, with PyTorch's names and defaults.

Inputs are Tensors or ndarrays (ndarrays give ndarrays, without a graph). Losses take
``reduction='mean' | 'sum' | 'none'``; class-index targets are integer arrays or
Tensors, checked against the input's shape and number of classes.

>>> import chainrule as cr
>>> import chainrule.nn.functional as F
>>> logits = cr.tensor([[1000.0, -1000.0]], requires_grad=True)
>>> loss = F.cross_entropy(logits, cr.tensor([1]))
>>> loss.backward()
>>> loss.item(), logits.grad.tolist()   # finite, and exactly softmax - onehot
(2000.0, [[1.0, -1.0]])
"""

import functools
import operator

import numpy as np

from ..errors import ShapeError
from ..ops import losses as _losses  # registers the fused loss ops
from ..ops import (
    leaky_relu,
    log_softmax,
    matmul,
    relu,
    reshape,
    sigmoid,
    softmax,
    sum,
    tanh,
    transpose,
    where,
)
from ..ops.elementwise import astype
from ..ops import activation as _activation
from ..ops import broadcast_to, concatenate, getitem  # for pad
from ..ops.activation import (
    gelu,
    glu,
    hardshrink,
    logsigmoid,
    softmin,
    softshrink,
    softsign,
    tanhshrink,
)
from ..ops.shape import _pad as _constant_pad
from ..ops.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa
from ..ops.recurrent import embedding  # noqa: F401
from ..ops.conv import (
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    fold,  # noqa: F401
    unfold,
)
from ..ops.losses_extra import huber_loss, kl_div, l1_loss, smooth_l1_loss  # noqa: F401
from ..ops.norm import batch_norm, dropout2d, group_norm, layer_norm  # noqa: F401
from ..ops.pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,  # noqa: F401
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from ..ops.nn import linear as _linear
from ..ops.registry import Case, Spec, composite, data_of
from ..tensor import Tensor
from .init import as_generator

__all__ = [
    "relu",
    "sigmoid",
    "tanh",
    "leaky_relu",
    "softmax",
    "log_softmax",
    "dropout",
    "linear",
    "mse_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
    "multi_margin_loss",
    "one_hot",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "dropout2d",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "unfold",
    "fold",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "embedding",
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
]


# ----------------------------------------------------------------------- layers
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``, with ``weight`` of shape (out_features, in_features).

    With a bias this is the fused ``linear`` op: one product and the bias added in place.
    """
    if bias is None:
        return matmul(input, transpose(weight))
    return _linear(input, weight, bias)


def dropout(input, p=0.5, training=True, rng=None):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p).

    The identity when not ``training`` (or ``p == 0``). ``rng`` is a Generator or a seed.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    x = data_of(input)
    keep = as_generator(rng).random(x.shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return input * (keep * np.asarray(scale, dtype=x.dtype))


# ----------------------------------------------------------------------- activations
__all__ += [
    "celu",
    "elu",
    "gelu",
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "logsigmoid",
    "mish",
    "pad",
    "relu6",
    "selu",
    "silu",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanhshrink",
    "threshold",
]


def _maybe_inplace(input, result, inplace):
    """``result``, or, with ``inplace``, ``input`` overwritten with it (PyTorch's ``inplace``:
    a leaf that requires grad refuses, a graph node is rebased onto the result)."""
    if not inplace:
        return result
    if isinstance(input, Tensor):
        return input.copy_(result)
    np.copyto(input, result, casting="same_kind")
    return input


def silu(input, inplace=False):
    """The sigmoid linear unit (swish) ``x * sigmoid(x)``."""
    return _maybe_inplace(input, _activation.silu(input), inplace)


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``."""
    return _maybe_inplace(input, _activation.mish(input), inplace)


def elu(input, alpha=1.0, inplace=False):
    """``x`` above 0, ``alpha * (exp(x) - 1)`` elsewhere."""
    return _maybe_inplace(input, _activation.elu(input, alpha), inplace)


def selu(input, inplace=False):
    """``scale * elu(x, alpha)`` with PyTorch's self-normalising constants."""
    return _maybe_inplace(input, _activation.selu(input), inplace)


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return _maybe_inplace(input, _activation.celu(input, alpha), inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``x`` limited to ``[min_val, max_val]`` (gradient 0 at the bounds, as in PyTorch)."""
    return _maybe_inplace(input, _activation.hardtanh(input, min_val, max_val), inplace)


def relu6(input, inplace=False):
    """``min(max(x, 0), 6)``."""
    return _maybe_inplace(input, _activation.relu6(input), inplace)


def hardsigmoid(input, inplace=False):
    """``min(max(x + 3, 0), 6) / 6``."""
    return _maybe_inplace(input, _activation.hardsigmoid(input), inplace)


def hardswish(input, inplace=False):
    """``x * min(max(x + 3, 0), 6) / 6``."""
    return _maybe_inplace(input, _activation.hardswish(input), inplace)


def threshold(input, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, ``value`` elsewhere."""
    return _maybe_inplace(input, _activation.threshold(input, threshold, value), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``, as in
    PyTorch (``cr.softplus(x)`` is the plain ``log(1 + exp(x))``).

    >>> import chainrule as cr
    >>> softplus(cr.tensor([0.0, 30.0], dtype="float64")).tolist()
    [0.6931471805599453, 30.0]
    """
    return _activation._softplus(input, beta=beta, threshold=threshold)


# ----------------------------------------------------------------------- pad
_PAD_MODES = ("constant", "reflect", "replicate", "circular")
# The non-constant modes pad the last 1, 2 or 3 axes of an input with one or two leading
# (batch, channel) axes, as in PyTorch: padding length -> the input ranks allowed.
_NONCONSTANT_RANKS = {2: (2, 3), 4: (3, 4), 6: (4, 5)}


def _pad_pairs(pad, shape):
    """``pad`` (pairs from the last axis backwards) as one (before, after) pair per axis."""
    try:
        flat = [operator.index(p) for p in pad]
    except TypeError:
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}") from None
    if len(flat) % 2:
        raise ShapeError(f"pad: padding length must be divisible by 2, got {len(flat)}")
    if len(flat) // 2 > len(shape):
        raise ShapeError(
            f"pad: padding length should be at most two times the input "
            f"dimension, but got padding length {len(flat)} for input of shape "
            f"{shape}"
        )
    pairs = [(0, 0)] * len(shape)
    for i in range(len(flat) // 2):
        pairs[len(shape) - 1 - i] = (flat[2 * i], flat[2 * i + 1])
    return flat, pairs


def _pad_index(mode, pairs, shape):
    """For the reference: each axis's source indices (NumPy), for ``x[np.ix_(...)]``."""
    out = []
    for (before, after), n in zip(pairs, shape):
        if mode == "circular":
            start, stop = max(-before, 0), n - max(-after, 0)  # crop, then wrap
            span = np.arange(-max(before, 0), stop - start + max(after, 0))
            out.append(start + span % (stop - start) if stop > start else span)
            continue
        index = np.arange(-before, n + after)
        if mode == "reflect":
            index = np.abs(index)
            index = np.where(index > n - 1, 2 * (n - 1) - index, index)
        elif mode == "replicate":
            index = np.clip(index, 0, n - 1)
        out.append(index)
    return out


def _pad_ref(xp, x, pad, mode="constant", value=None):
    pairs = _pad_pairs(pad, x.shape)[1]
    if mode == "constant":
        crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pairs, x.shape))
        widths = tuple((max(b, 0), max(a, 0)) for b, a in pairs)
        return xp.pad(x[crop], widths, "constant", constant_values=value or 0.0)
    return x[np.ix_(*_pad_index(mode, pairs, x.shape))]


@composite(
    Spec(
        [
            Case(((3, 4),), {"pad": (1, 2), "value": 0.5}),
            Case(((3, 4),), {"pad": (-1, 2, 2, -1)}),
            Case(((2, 0, 3),), {"pad": (1, 1, 0, 2)}),
            Case(((2, 3, 4),), {"pad": (2, 1), "mode": "reflect"}),
            Case(((1, 3, 4),), {"pad": (3, -2, -1, 2), "mode": "reflect"}),
            Case(((0, 3, 4),), {"pad": (1, 3), "mode": "reflect"}),
            Case(((2, 3, 4),), {"pad": (2, 5, -1, 1), "mode": "replicate"}),
            Case(((1, 2, 3, 4),), {"pad": (4, -1, 1, 3, 0, 2), "mode": "replicate"}),
            Case(((2, 3, 4),), {"pad": (2, -1), "mode": "circular"}),
            Case(((1, 2, 3, 4),), {"pad": (1, 3, 3, 0, 1, 2), "mode": "circular"}),
        ],
        ref=_pad_ref,
    ),
    name="nn.functional.pad",
)
def pad(input, pad, mode="constant", value=None):
    """Pad (or, with negative widths, crop) the last axes, as PyTorch's ``F.pad``.

    ``pad`` lists (before, after) pairs from the LAST axis backwards: ``(1, 2)`` pads the last
    axis, ``(1, 2, 0, 3)`` the last two. ``mode`` is 'constant' (with ``value``, default 0),
    'reflect' (mirrored about the edge, the edge not repeated), 'replicate' (the edge
    repeated) or 'circular' (wrapped around); those three pad the last 1, 2 or 3 axes of a
    2-d/3-d, 3-d/4-d or 4-d/5-d input. ``cr.pad`` is NumPy's spelling.

    >>> import chainrule as cr
    >>> pad(cr.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    if mode not in _PAD_MODES:
        raise NotImplementedError(
            f"pad: unrecognised padding mode {mode!r} (expected one of {', '.join(_PAD_MODES)})"
        )
    shape = np.shape(data_of(input))
    flat, pairs = _pad_pairs(pad, shape)
    if mode == "constant":
        return _pad_constant(input, pairs, shape, 0.0 if value is None else value)
    if len(shape) not in _NONCONSTANT_RANKS.get(len(flat), ()):
        raise NotImplementedError(
            f"pad: padding length {len(flat)} is not supported for a {len(shape)}-d input in "
            f"mode {mode!r}: it pads the last 1, 2 or 3 axes (padding length 2, 4 or 6) of a "
            "2-d or 3-d, 3-d or 4-d, or 4-d or 5-d input"
        )
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take a value, got {value}")
    axes = range(len(shape) - len(flat) // 2, len(shape))
    if mode != "circular" and all(shape[a] + sum(pairs[a]) < 1 for a in axes):
        raise ShapeError(
            f"pad: input of shape {shape} is too small for padding {tuple(flat)} "
            f"in mode {mode!r}: every padded axis would be empty"
        )
    for axis in axes:
        before, after = pairs[axis]
        input = _pad_axis(input, axis, before, after, mode, shape)
    return input


def _pad_constant(input, pairs, shape, value):
    for axis, ((before, after), n) in enumerate(zip(pairs, shape)):
        if n + min(before, 0) + min(after, 0) < 0:
            raise ShapeError(
                f"pad: negative padding ({before}, {after}) crops more than axis "
                f"{axis} holds (input of shape {shape})"
            )
    if any(b < 0 or a < 0 for b, a in pairs):
        input = getitem(
            input, tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pairs, shape))
        )
    widths = tuple((max(b, 0), max(a, 0)) for b, a in pairs)
    if any(b or a for b, a in widths):
        input = _constant_pad(input, pad_width=widths, constant_values=value)
    return input


def _pad_axis(x, axis, before, after, mode, shape):
    """One axis padded by reflection, replication or wrapping: slices of x, joined."""
    n = shape[axis]
    lead = (slice(None),) * axis
    if n + before + after < 0:
        raise ShapeError(
            f"pad: padding ({before}, {after}) leaves a negative size on axis "
            f"{axis} (input of shape {shape})"
        )
    if mode == "circular":
        # PyTorch crops first, then wraps what is left.
        if before > n or after > n:
            raise ShapeError(
                f"pad: padding ({before}, {after}) on axis {axis} of input of "
                f"shape {shape} causes wrapping around more than once"
            )
        start, stop = max(-before, 0), n - max(-after, 0)
        if start or stop < n:
            x = getitem(x, lead + (slice(start, stop),))
        n = stop - start
        if before > n or after > n:
            raise ShapeError(
                f"pad: padding ({before}, {after}) on axis {axis} of input of "
                f"shape {shape} wraps the cropped axis more than once"
            )
        left, right = slice(n - before, n), slice(0, after)
    elif mode == "reflect":
        if before >= n or after >= n:
            raise ShapeError(
                f"pad: padding size should be less than the corresponding input "
                f"dimension, but got padding ({before}, {after}) on axis {axis} "
                f"of input of shape {shape}"
            )
        left = slice(before, 0, -1)
        right = slice(n - 2, n - 2 - after if n - 2 - after >= 0 else None, -1)
    else:  # replicate
        if n == 0 and (before > 0 or after > 0):
            raise ShapeError(
                f"pad: cannot replicate the edge of empty axis {axis} (input of shape {shape})"
            )
        left, right = slice(0, 1), slice(n - 1, n)
    pieces = [x]
    if before > 0:
        pieces.insert(0, _edge(x, lead + (left,), axis, before, mode))
    if after > 0:
        pieces.append(_edge(x, lead + (right,), axis, after, mode))
    if len(pieces) > 1:
        x = concatenate(pieces, axis)
    if mode != "circular" and (before < 0 or after < 0):
        total = n + max(before, 0) + max(after, 0)
        x = getitem(x, lead + (slice(max(-before, 0), total - max(-after, 0)),))
    return x


def _edge(x, index, axis, width, mode):
    """The piece added on one side: x[index], repeated ``width`` times for 'replicate'."""
    piece = getitem(x, index)
    if mode != "replicate":
        return piece
    shape = np.shape(data_of(piece))
    return broadcast_to(piece, shape[:axis] + (width,) + shape[axis + 1 :])


# ----------------------------------------------------------------------- checks
def _check_reduction(reduction, loss):
    if reduction not in _losses.REDUCTIONS:
        raise ValueError(f"{loss}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _constant(value, dtype):
    """A weight given as a list, ndarray or Tensor, as an ndarray of the input's dtype."""
    return None if value is None else np.asarray(data_of(value), dtype=dtype)


def _elementwise_weight(weight, x, loss, name="weight"):
    """A per-element weight as an ndarray of x's dtype; it must broadcast to x's shape."""
    weight = _constant(weight, x.dtype)
    if weight is None:
        return None
    try:
        fits = np.broadcast_shapes(weight.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(
            f"{loss}: {name} of shape {weight.shape} does not broadcast to the "
            f"input's shape {x.shape}"
        )
    return weight


def _same_shape(input, target, loss):
    x_shape, t_shape = np.shape(data_of(input)), np.shape(data_of(target))
    if x_shape != t_shape:
        raise ShapeError(
            f"{loss}: target of shape {t_shape} does not match input of shape "
            f"{x_shape}; they must be the same"
        )


def _like_input(target, x):
    """The target as an array or Tensor of the input's dtype (no silent float64)."""
    if not isinstance(target, Tensor):
        target = np.asarray(target)
    return target if target.dtype == x.dtype else astype(target, x.dtype)


# Cached: parsing a dtype string costs more than the reduction it serves.
@functools.cache
def _unsigned(dtype):
    """The unsigned integer dtype of ``dtype``'s width and byte order (itself if unsigned)."""
    return np.dtype(dtype.str.replace("i", "u"))


def _as_unsigned(target):
    """An integer array viewed as unsigned, so that negative entries read as huge."""
    return target.view(_unsigned(target.dtype))


def _class_indices(input, target, loss, ignore_index=None):
    """Validated class-index targets as an int64 ndarray (input ``(N, C, ...)`` or ``(C,)``),
    and ``ignore_index``, or None when no target can be it (every target is a class and it
    is not), so that the losses need not look for it."""
    x_shape = np.shape(data_of(input))
    target = np.asarray(data_of(target))
    if len(x_shape) == 0:
        raise ShapeError(f"{loss}: input must have a class axis, got a 0-d input")
    expected = x_shape[:1] + x_shape[2:] if len(x_shape) > 1 else ()
    if target.shape != expected:
        raise ShapeError(
            f"{loss}: target of shape {target.shape} does not match input of "
            f"shape {x_shape}: class indices need shape {expected}"
        )
    if target.dtype.kind not in "iu":
        raise ValueError(
            f"{loss}: class-index targets must be integers, got dtype "
            f"{target.dtype} for target of shape {target.shape} (probabilities "
            f"need the input's shape {x_shape})"
        )
    classes = x_shape[1] if len(x_shape) > 1 else x_shape[0]
    # All in range, the common case, in one reduction: read as unsigned, a negative index
    # is larger than any class.
    if not target.size or np.maximum.reduce(_as_unsigned(target), axis=None) < classes:
        ignorable = ignore_index is not None and 0 <= ignore_index < classes
        return target.astype(np.int64, copy=False), ignore_index if ignorable else None
    bad = (target < 0) | (target >= classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{loss}: target {int(target[position])} at position {position} is "
            f"out of range for input of shape {x_shape}: class indices must be "
            f"in [0, {classes})"
        )
    return target.astype(np.int64, copy=False), ignore_index


def _with_batch_axis(input, target, reduction, run):
    """Run a class-axis-1 loss on a 1-D input ``(C,)`` with a 0-d target as a batch of one."""
    if np.ndim(data_of(input)) != 1:
        return run(input, target)
    out = run(reshape(input, (1, -1)), target.reshape(1))
    return reshape(out, ()) if reduction == "none" else out


def _class_weight(weight, input, loss):
    """A per-class weight as an ndarray of the input's dtype, one entry per class."""
    if weight is None:
        return None
    x = np.asarray(data_of(input))
    classes = _classes(x) if x.ndim else 0
    weight = _constant(weight, x.dtype)
    if weight.shape != (classes,):
        raise ShapeError(
            f"{loss}: weight of shape {weight.shape} must have shape ({classes},), "
            "one entry per class"
        )
    return weight


def _classes(input):
    shape = np.shape(data_of(input))
    return shape[1] if len(shape) > 1 else shape[0]


# ----------------------------------------------------------------------- losses
def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(input - target) ** 2``, reduced."""
    _check_reduction(reduction, "mse_loss")
    _same_shape(input, target, "mse_loss")
    diff = input - _like_input(target, data_of(input))
    return _apply_reduction(diff * diff, reduction)


def _apply_reduction(losses, reduction):
    if reduction == "none":
        return losses
    total = sum(losses)
    return total if reduction == "sum" else total / np.size(data_of(losses))


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCE on probabilities: ``-(y log p + (1 - y) log(1 - p))``, each log clamped at -100.

    The gradient is ``(p - y) / max(p (1 - p), 1e-12)``, as PyTorch computes it; the
    target's gradient is that of the clamped formula (finite at p = 0 or 1).
    """
    _check_reduction(reduction, "binary_cross_entropy")
    _same_shape(input, target, "binary_cross_entropy")
    x = data_of(input)
    if x.size and not (np.all(x >= 0) and np.all(x <= 1)):
        bad = x[~((x >= 0) & (x <= 1))].flat[0]
        raise ValueError(
            f"binary_cross_entropy: input of shape {x.shape} holds {bad}; all "
            "elements must be probabilities in [0, 1] (use "
            "binary_cross_entropy_with_logits for logits)"
        )
    weight = _elementwise_weight(weight, x, "binary_cross_entropy")
    return _losses._bce(input, _like_input(target, x), weight=weight, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + BCE in one stable step: ``max(x, 0) - x y + log(1 + e^-|x|)``.

    The gradient is exactly ``sigmoid(x) - y`` (over N for 'mean'); ``pos_weight``
    multiplies the positive term, per class (broadcast along the last axis).
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    x = data_of(input)
    loss = "binary_cross_entropy_with_logits"
    return _losses._bce_with_logits(
        input,
        _like_input(target, x),
        pos_weight=_elementwise_weight(pos_weight, x, loss, "pos_weight"),
        weight=_elementwise_weight(weight, x, loss),
        reduction=reduction,
    )


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, ...) at class indices.

    With ``weight`` (per class), 'mean' divides by the total weight of the counted targets.
    """
    _check_reduction(reduction, "nll_loss")
    indices, ignore_index = _class_indices(input, target, "nll_loss", ignore_index)
    weight = _class_weight(weight, input, "nll_loss")
    return _with_batch_axis(
        input,
        indices,
        reduction,
        lambda x, t: _losses._nll_loss(
            x, target=t, weight=weight, ignore_index=ignore_index, reduction=reduction
        ),
    )


def cross_entropy(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    """Cross-entropy of logits ``input`` (N, C, ...) against class indices or probabilities.

    Integer targets of shape (N, ...) are class indices (the fused, stable path: the
    gradient is ``softmax - onehot``); float targets of the input's shape are class
    probabilities. ``weight``, ``ignore_index`` and ``label_smoothing`` follow PyTorch.
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = data_of(input)
    weight = _class_weight(weight, input, "cross_entropy")
    target_data = np.asarray(data_of(target))
    if target_data.dtype.kind == "f" and target_data.shape == x.shape:
        return _cross_entropy_probabilities(
            input, _like_input(target, x), weight, reduction, label_smoothing
        )
    indices, ignore_index = _class_indices(input, target, "cross_entropy", ignore_index)
    return _with_batch_axis(
        input,
        indices,
        reduction,
        lambda x, t: _cross_entropy_indices(x, t, weight, ignore_index, reduction, label_smoothing),
    )


def _cross_entropy_indices(input, target, weight, ignore_index, reduction, smoothing):
    loss = _losses._cross_entropy(
        input, target=target, weight=weight, ignore_index=ignore_index, reduction=reduction
    )
    if not smoothing:
        return loss
    # PyTorch's smoothing: (1 - e) * CE + e / C * (-sum_c w_c log p_c), ignored samples
    # excluded, 'mean' over the same total weight as CE.
    logp = log_softmax(input, axis=1)
    classes = np.shape(data_of(input))[1]
    if weight is not None:
        logp = logp * reshape(weight, (1, classes) + (1,) * (np.ndim(target) - 1))
    _, sample_weights, valid = _losses.target_weights(
        target, weight, ignore_index, data_of(input).dtype
    )
    smooth = where(valid, -sum(logp, axis=1), 0.0)
    if reduction == "mean":
        smooth = sum(smooth) / np.sum(sample_weights)
    elif reduction == "sum":
        smooth = sum(smooth)
    return (1 - smoothing) * loss + smooth * (smoothing / classes)


def _cross_entropy_probabilities(input, target, weight, reduction, smoothing):
    x = data_of(input)
    axis = 0 if x.ndim == 1 else 1
    classes = x.shape[axis]
    if smoothing:
        target = target * (1 - smoothing) + smoothing / classes
    terms = log_softmax(input, axis=axis) * target
    if weight is not None:
        terms = terms * reshape(weight, (classes,) + (1,) * (x.ndim - axis - 1))
    if reduction == "none":
        return -sum(terms, axis=axis)
    total = -sum(terms)
    return total if reduction == "sum" else total / (x.size // classes if x.size else 0)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Multi-class hinge loss: ``sum_{i != y} max(0, margin - x[y] + x[i]) ** p / C``.

    ``input`` is (N, C) or (C,); ``weight`` (per class) scales each sample's terms.
    """
    _check_reduction(reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p = 1 and p = 2 are supported, got {p}")
    x = data_of(input)
    if x.ndim not in (1, 2):
        raise ShapeError(f"multi_margin_loss: input must be (N, C) or (C,), got shape {x.shape}")
    indices, _ = _class_indices(input, target, "multi_margin_loss")
    weight = _class_weight(weight, input, "multi_margin_loss")

    def run(scores, target):
        n, classes = np.shape(data_of(scores))
        rows = np.arange(n)
        others = np.ones((n, classes), dtype=x.dtype)
        others[rows, target] = 0  # the true class is not a margin violation
        if weight is not None:
            others *= weight[target][:, None]
        picked = reshape(scores[rows, target], (n, 1))
        hinge = relu(margin - picked + scores)
        if p == 2:
            hinge = hinge * hinge
        losses = sum(hinge * others, axis=1) / classes
        return _apply_reduction(losses, reduction)

    return _with_batch_axis(input, indices, reduction, run)


def one_hot(tensor, num_classes=-1):
    """Class indices as one-hot rows of int64 (``num_classes=-1``: the largest index + 1)."""
    indices = np.asarray(data_of(tensor))
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"one_hot: class indices must be integers, got dtype {indices.dtype}")
    if num_classes == -1:
        num_classes = int(indices.max()) + 1 if indices.size else 0
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        bad = indices[(indices < 0) | (indices >= num_classes)].flat[0]
        raise ValueError(
            f"one_hot: class index {bad} is out of range for {num_classes} "
            f"classes (indices of shape {indices.shape})"
        )
    out = (indices[..., None] == np.arange(num_classes)).astype(np.int64)
    return out if isinstance(tensor, np.ndarray) else Tensor._new(out)
