"""Normalisation: batch, layer and group norm over one primitive, and channel dropout.

The three norms standardise ``x`` over some axes, ``xhat = (x - mean) / sqrt(var + eps)``
with the biased variance, then scale and shift it, ``y = xhat * weight + bias``. Only the
axes differ: batch norm reduces every axis but the channels (axis 1), layer norm the last
few, group norm each group of channels with its positions. So they share one primitive,
``normalization``, whose backward is the classic formula (``dxhat = g * weight``)::

    dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

NOTE: a primitive, not a composite of mean and var, for speed and memory. Forward and
backward of batch norm on a 128x64x16x16 input, as thread CPU time on a loaded 2-core
machine: float32 9 ms as this primitive, 17 ms as a composite of mean, var and arithmetic
(PyTorch eager, one thread: 7 ms); float64 19 ms against 34 ms (PyTorch 10 ms). Peak
memory (tracemalloc, float32): 34 MiB against 80 MiB. The composite's backward walks nine
nodes, each writing full-size arrays. On plain arrays the rules run in place, block by
block, with einsum reductions (three times faster than ``ndarray.sum`` over leading axes);
handed Tensors they are written with chainrule's own ops, so the rule is differentiable
again (double backward through batch norm).
"""

import functools
import math

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import sqrt
from .reduce import kept_shape, mean
from .registry import Case, Spec, composite, data_of, defop
from .shape import reshape

__all__ = ["batch_norm", "dropout2d", "group_norm", "layer_norm"]


# ----------------------------------------------------------------------- reductions
@functools.lru_cache(maxsize=256)
def _subscripts(ndim, axis, operands):
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[:ndim]
    kept = "".join(letter for i, letter in enumerate(letters) if i not in axis)
    return ",".join([letters] * operands) + "->" + kept


def _total(axis, *arrays):
    """The sum over ``axis`` (kept, as 1) of the product of same-shaped ``arrays``: one
    einsum, without the product's temporary."""
    first = arrays[0]
    out = np.einsum(_subscripts(first.ndim, axis, len(arrays)), *arrays)
    return out.reshape(kept_shape(first.shape, axis))


def _count(shape, axis):
    return math.prod(shape[a] for a in axis)


# Rows of the first axis are taken this many elements at a time where a full-size
# temporary would otherwise be made: the block stays in cache, and no fresh memory (page
# faults, a third of the time of a pass at 8 MB) is touched.
_BLOCK = 1 << 18


def _blocks(x):
    """Slices of ``x``'s first axis holding about ``_BLOCK`` elements each."""
    step = max(1, _BLOCK // max(1, math.prod(x.shape[1:])))
    return [slice(start, start + step) for start in range(0, max(x.shape[0], 1), step)]


def _rows(a, block):
    """The rows of ``a`` (with x's number of axes) that go with ``block``: all of them
    when ``a`` has one row and broadcasts along the first axis."""
    return a[block] if a.shape[0] > 1 else a


def _centred_total(axis, x, centre, other=None, scale=None):
    """The sum over ``axis`` of ``c * other`` (of ``c * c`` without ``other``), where
    ``c = (x - centre) * scale``, made block by block: no full-size temporary."""
    subscripts, parts = _subscripts(x.ndim, axis, 2), []
    for block in _blocks(x):
        c = x[block] - _rows(centre, block)
        if scale is not None:
            c *= _rows(scale, block)
        parts.append(np.einsum(subscripts, c, c if other is None else other[block]))
    if len(parts) == 1:
        total = parts[0]
    else:
        total = functools.reduce(np.add, parts) if 0 in axis else np.concatenate(parts)
    return total.reshape(kept_shape(x.shape, axis))


def moments(x, axis):
    """The mean and the biased variance of the array ``x`` over ``axis``, kept as 1.

    Two passes (the variance of the centred values), as PyTorch computes them: no
    cancellation for data far from zero.

    >>> m, v = moments(np.array([[1.0, 3.0], [5.0, 7.0]]), (0,))
    >>> m.tolist(), v.tolist()
    ([[3.0, 5.0]], [[4.0, 4.0]])
    """
    count = _count(x.shape, axis)
    with np.errstate(invalid="ignore", divide="ignore"):  # nothing to average: nan
        average = _total(axis, x) / count
        return average, _centred_total(axis, x, average) / count


def _affine_axes(x_shape, param_shape):
    """The axes of ``x`` along which a parameter of ``param_shape`` is broadcast."""
    lead = len(x_shape) - len(param_shape)
    return tuple(i for i in range(len(x_shape)) if i < lead or param_shape[i - lead] == 1)


# ----------------------------------------------------------------------- the primitive
def _standardized(x, axis, eps, batch_mean, batch_var):
    """``xhat`` and ``1 / sqrt(var + eps)`` with chainrule's ops (a graph when ``x`` is a
    Tensor); the moments are recomputed from a Tensor so that they carry its gradient."""
    if batch_mean is None or isinstance(x, Tensor):
        batch_mean = mean(x, axis, keepdims=True)
        centred = x - batch_mean
        batch_var = mean(centred * centred, axis, keepdims=True)
    else:
        centred = x - batch_mean
    inv_std = 1 / sqrt(batch_var + eps)
    return centred * inv_std, inv_std


def _plain_input_grad(g, x, weight, axis, eps, batch_mean, batch_var):
    """The input's gradient on plain arrays: the classic formula, block by block."""
    if batch_mean is None:
        batch_mean, batch_var = moments(x, axis)
    count = _count(x.shape, axis)
    inv_std = 1 / np.sqrt(batch_var + eps)
    factor = inv_std
    if weight is not None and set(axis) <= set(_affine_axes(x.shape, weight.shape)):
        # The weight is constant where the means run (batch norm): it joins the last factor.
        factor, weight = inv_std * weight, None
    dxhat = g if weight is None else g * weight
    mean_dxhat = _total(axis, dxhat) / count
    # mean(dxhat * xhat) * xhat = mean(dxhat * centred) * inv_std**2 * centred
    coefficient = _centred_total(axis, x, batch_mean, dxhat) * (inv_std * inv_std / count)
    grad = np.empty_like(dxhat) if dxhat is g else dxhat
    for block in _blocks(x):
        centred = x[block] - _rows(batch_mean, block)
        centred *= _rows(coefficient, block)
        rows = np.subtract(dxhat[block], _rows(mean_dxhat, block), out=grad[block])
        rows -= centred
        rows *= _rows(factor, block)
    return grad


def _normalization_vjp(i, g, out, inputs, axis, eps, weighted, biased, mean=None, var=None):
    count = 1 + weighted + biased
    if len(inputs) > count:  # the moments the forward computed (kept, plain backward)
        if mean is None:
            mean, var = inputs[count]
        inputs = inputs[:count]
    x, affine = inputs[0], inputs[1:]
    weight = affine[0] if weighted else None
    plain = (
        type(g) is np.ndarray
        and type(x) is np.ndarray
        and not any(isinstance(a, Tensor) for a in affine)
    )
    if i == 0:
        if plain:
            return _plain_input_grad(g, x, weight, axis, eps, mean, var)
        xhat, inv_std = _standardized(x, axis, eps, mean, var)
        dxhat = g if weight is None else g * weight
        return inv_std * (dxhat - _mean_kept(dxhat, axis) - xhat * _mean_kept(dxhat * xhat, axis))
    param = affine[i - 1]
    if not plain:
        return g * _standardized(x, axis, eps, mean, var)[0] if i == 1 and weighted else g
    param_axes = _affine_axes(x.shape, np.shape(param))
    if i == 1 and weighted:
        if mean is None:
            mean, var = moments(x, axis)
        inv_std = 1 / np.sqrt(var + eps)
        if set(param_axes) <= set(axis):  # inv_std is constant where the sum runs: after it
            grad = _centred_total(param_axes, x, mean, g) * inv_std
        else:
            grad = _centred_total(param_axes, x, mean, g, scale=inv_std)
    else:
        grad = _total(param_axes, g)
    return grad.reshape(np.shape(param))


def _mean_kept(a, axis):
    return mean(a, axis, keepdims=True)


def _normalization_ref(xp, x, *affine, axis, eps, weighted, biased):
    average = xp.mean(x, axis=axis, keepdims=True)
    centred = x - average
    out = centred / xp.sqrt(xp.mean(centred * centred, axis=axis, keepdims=True) + eps)
    if weighted:
        out = out * affine[0]
    return out + affine[-1] if biased else out


def _norm_case(shapes, axis, weighted=True, biased=True):
    return Case(shapes, {"axis": axis, "eps": 1e-5, "weighted": weighted, "biased": biased})


def _normalization_keeping(x, *affine, axis, eps, weighted, biased, mean=None, var=None):
    """The forward, keeping the moments it computed for the rules."""
    if mean is None:
        mean, var = moments(x, axis)
    out = _normalized(x, affine, axis, eps, weighted, biased, mean, var)
    return out, (mean, var)


@defop(
    variadic=_normalization_vjp,
    keeps=_normalization_keeping,
    name="normalization",
    spec=Spec(
        [
            _norm_case(((3, 2, 5), (2, 1), (2, 1)), (0, 2)),  # batch norm, (N, C, L)
            _norm_case(((1, 3, 3, 2), (3, 1, 1), (3, 1, 1)), (0, 2, 3)),  # batch of 1
            _norm_case(((3, 5), (5,), (5,)), (1,)),  # layer norm
            _norm_case(((2, 2, 3, 2), (2, 3, 1)), (2, 3), biased=False),  # group norm
            _norm_case(((1, 3, 3), (3, 1)), (0, 2), weighted=False),
            _norm_case(((4, 3),), (0,), weighted=False, biased=False),
            _norm_case(((2, 3),), (0, 1), weighted=False, biased=False),
            _norm_case(((0, 3), (3,), (3,)), (1,)),
        ],
        ref=_normalization_ref,
    ),
)
def _normalization(x, *affine, axis, eps, weighted, biased, mean=None, var=None):
    """``(x - mean) / sqrt(var + eps) * weight + bias``, the moments over ``axis``.

    ``weight`` and ``bias`` (present as ``weighted`` and ``biased`` say) broadcast against
    ``x``. ``mean`` and ``var``, when given, are x's moments over ``axis`` already computed
    by the caller (the running statistics need them too): they save the rules a pass.
    """
    return _normalization_keeping(
        x, *affine, axis=axis, eps=eps, weighted=weighted, biased=biased, mean=mean, var=var
    )[0]


def _normalized(x, affine, axis, eps, weighted, biased, mean, var):
    inv_std = 1 / np.sqrt(var + eps)
    # The parameters with x's number of axes, so that blocks of rows can be taken from them.
    weight, bias = (
        None if a is None else np.reshape(a, (1,) * (x.ndim - np.ndim(a)) + np.shape(a))
        for a in (affine[0] if weighted else None, affine[-1] if biased else None)
    )
    out = np.empty(x.shape, np.result_type(x, *affine))
    scale = inv_std if weight is None else inv_std * weight
    if scale.size * 4 <= x.size:
        # A scale per channel (batch and group norm): x * scale + shift, as PyTorch computes it.
        shift = -mean * scale if bias is None else bias - mean * scale
        for block in _blocks(x):
            rows = np.multiply(x[block], _rows(scale, block), out=out[block])
            rows += _rows(shift, block)
        return out
    for block in _blocks(x):  # a block at a time: four passes over memory that stays in cache
        rows = np.subtract(x[block], _rows(mean, block), out=out[block])
        rows *= _rows(inv_std, block)
        if weight is not None:
            rows *= _rows(weight, block)
        if bias is not None:
            rows += _rows(bias, block)
    return out


# ----------------------------------------------------------------------- helpers
def _operand(value, like):
    """A weight, bias or statistic as given (a Tensor), or as an array of x's dtype."""
    if value is None or isinstance(value, Tensor):
        return value
    return np.asarray(value, dtype=like.dtype)


def _check_per_channel(function, x_shape, expected, **named):
    for name, value in named.items():
        if value is not None and np.shape(data_of(value)) != expected:
            raise ShapeError(
                f"{function}: {name} of shape {np.shape(data_of(value))} must "
                f"have shape {expected} for input of shape {x_shape}"
            )


def _normalize(input, weight, bias, axis, eps, param_shape, moments_=None):
    """The primitive on ``input`` with ``weight`` and ``bias`` (each may be None) reshaped
    to ``param_shape``, which broadcasts against the input."""
    x = np.asarray(data_of(input))
    affine = [reshape(_operand(t, x), param_shape) for t in (weight, bias) if t is not None]
    # The moments are params only where the caller needed them too (batch norm's running
    # statistics); otherwise the op computes them from its input, so that a captured step
    # (cr.compile) sees no value made outside its ops.
    given = {} if moments_ is None else {"mean": moments_[0], "var": moments_[1]}
    return _normalization(
        input,
        *affine,
        axis=axis,
        eps=eps,
        weighted=weight is not None,
        biased=bias is not None,
        **given,
    )


def _by_role(function, *inputs, roles, **params):
    """How the suite calls a norm: its inputs by name, so a case may leave some out."""
    return function(**dict(zip(roles, inputs)), **params)


def _role_case(shapes, roles, domain=None, **params):
    return Case(shapes, {"roles": roles, **params}, domain=domain)


# ----------------------------------------------------------------------- batch norm
def _update_running(stat, batch_value, momentum):
    """``stat = (1 - momentum) * stat + momentum * batch_value`` in place (no gradient).

    A Tensor gets a new array (graphs that read the old statistics keep them, as after
    ``load_state_dict``); an ndarray is written into.
    """
    if stat is None:
        return
    array = data_of(stat)
    batch_value = batch_value.reshape(array.shape)
    updated = momentum * batch_value + (1 - momentum) * array
    if isinstance(stat, Tensor):
        stat.data = updated.astype(array.dtype, copy=False)
    else:
        array[...] = updated


def _batch_norm_ref(
    xp,
    *inputs,
    roles,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
):
    given = dict(zip(roles, inputs))
    x = given["input"]
    weight, bias = given.get("weight", weight), given.get("bias", bias)
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    axis = (0,) + tuple(range(2, x.ndim))
    if training:
        out = _normalization_ref(xp, x, axis=axis, eps=eps, weighted=False, biased=False)
    else:
        average = xp.reshape(given.get("running_mean", running_mean), shape)
        variance = xp.reshape(given.get("running_var", running_var), shape)
        out = (x - average) / xp.sqrt(variance + eps)
    if weight is not None:
        out = out * xp.reshape(weight, shape)
    return out if bias is None else out + xp.reshape(bias, shape)


_TRAIN = {"running_mean": None, "running_var": None, "training": True}
_AFFINE = ("input", "weight", "bias")
_EVAL_ROLES = ("input", "running_mean", "running_var", "weight", "bias")


@composite(
    Spec(
        [
            _role_case(((3, 2, 5), (2,), (2,)), _AFFINE, **_TRAIN),
            _role_case(((1, 3, 3, 2), (3,), (3,)), _AFFINE, **_TRAIN),  # batch of 1
            _role_case(((5, 3),), ("input",), **_TRAIN),
            _role_case(((4, 3), (3,)), ("input", "weight"), eps=0.1, **_TRAIN),
            _role_case(((2, 3, 3, 2), (3,), (3,), (3,), (3,)), _EVAL_ROLES, domain=(0.2, 2.0)),
            _role_case(
                ((3, 2, 3), (2,), (2,)),
                ("input", "running_mean", "running_var"),
                domain=(0.2, 2.0),
                weight=None,
                bias=None,
            ),
        ],
        call=_by_role,
        ref=_batch_norm_ref,
    )
)
def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Batch normalisation of ``input`` (N, C, ...) per channel, as PyTorch's.

    In training (``training=True``) each channel is standardised with the batch's mean and
    biased variance, and ``running_mean`` / ``running_var`` (when given) are updated in
    place, without gradient, with the batch's mean and *unbiased* variance:
    ``running = (1 - momentum) * running + momentum * batch``. Otherwise the running
    statistics are used: ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``.

    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> running_mean, running_var = np.zeros(2), np.ones(2)
    >>> batch_norm(x, running_mean, running_var, training=True).round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> running_mean.tolist(), running_var.tolist()
    ([0.2, 2.0], [1.1, 20.9])
    """
    x = np.asarray(data_of(input))
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must be (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    _check_per_channel(
        "batch_norm",
        x.shape,
        (channels,),
        running_mean=running_mean,
        running_var=running_var,
        weight=weight,
        bias=bias,
    )
    axis = (0,) + tuple(range(2, x.ndim))
    param_shape = (channels,) + (1,) * (x.ndim - 2)
    if training:
        count = _count(x.shape, axis)
        if count == 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when "
                f"training, got input of shape {x.shape}"
            )
        if eps <= 0:
            raise ValueError(f"batch_norm: eps must be positive during training, got {eps}")
        batch_moments = moments(x, axis)
        _update_running(running_mean, batch_moments[0], momentum)
        _update_running(running_var, batch_moments[1] * (count / (count - 1)), momentum)
        return _normalize(input, weight, bias, axis, eps, param_shape, batch_moments)
    if eps < 0:
        raise ValueError(f"batch_norm: eps must be non-negative, got {eps}")
    if running_mean is None or running_var is None:
        raise ValueError(
            "batch_norm: running_mean and running_var must be given in "
            "evaluation mode (training=False)"
        )
    # x * scale + shift with the per-channel scale and shift made first, as PyTorch.
    scale = 1 / sqrt(_operand(running_var, x) + eps)
    if weight is not None:
        scale = _operand(weight, x) * scale
    shift = -_operand(running_mean, x) * scale
    if bias is not None:
        shift = shift + _operand(bias, x)
    return input * reshape(scale, param_shape) + reshape(shift, param_shape)


# ----------------------------------------------------------------------- layer norm
def _layer_norm_ref(xp, *inputs, roles, normalized_shape, weight=None, bias=None, eps=1e-5):
    given = dict(zip(roles, inputs))
    x = given["input"]
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    axis = tuple(range(x.ndim - len(shape), x.ndim))
    weight, bias = given.get("weight", weight), given.get("bias", bias)
    return _normalization_ref(
        xp,
        x,
        *[t for t in (weight, bias) if t is not None],
        axis=axis,
        eps=eps,
        weighted=weight is not None,
        biased=bias is not None,
    )


@composite(
    Spec(
        [
            _role_case(((3, 5), (5,), (5,)), _AFFINE, normalized_shape=5),
            _role_case(((2, 3, 5), (3, 5)), ("input", "weight"), normalized_shape=(3, 5)),
            _role_case(((2, 3, 2), (2,)), ("input", "bias"), normalized_shape=[2], eps=0.1),
            _role_case(((1, 4),), ("input",), normalized_shape=(4,)),
            _role_case(((0, 3), (3,), (3,)), _AFFINE, normalized_shape=(3,)),
        ],
        call=_by_role,
        ref=_layer_norm_ref,
    )
)
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last axes, those of ``normalized_shape``, as PyTorch's.

    ``weight`` and ``bias`` (None or of ``normalized_shape``) scale and shift elementwise.

    >>> layer_norm(np.array([[1.0, 3.0], [2.0, 2.0]]), 2).tolist()
    [[-0.9999950000374997, 0.9999950000374997], [0.0, 0.0]]
    """
    shape = (
        (int(normalized_shape),)
        if isinstance(normalized_shape, (int, np.integer))
        else tuple(int(n) for n in normalized_shape)
    )
    x = np.asarray(data_of(input))
    if not shape:
        raise ValueError("layer_norm: normalized_shape must have at least one axis")
    if x.shape[max(x.ndim - len(shape), 0) :] != shape or x.ndim < len(shape):
        raise ShapeError(
            f"layer_norm: normalized_shape {shape} does not match the last axes "
            f"of input of shape {x.shape}"
        )
    _check_per_channel("layer_norm", x.shape, shape, weight=weight, bias=bias)
    axis = tuple(range(x.ndim - len(shape), x.ndim))
    return _normalize(input, weight, bias, axis, eps, shape)


# ----------------------------------------------------------------------- group norm
def _group_norm_ref(xp, *inputs, roles, num_groups, weight=None, bias=None, eps=1e-5):
    given = dict(zip(roles, inputs))
    x = given["input"]
    n, channels = x.shape[:2]
    grouped = xp.reshape(x, (n, num_groups, -1))
    out = xp.reshape(
        _normalization_ref(xp, grouped, axis=(2,), eps=eps, weighted=False, biased=False), x.shape
    )
    shape = (channels,) + (1,) * (x.ndim - 2)
    weight, bias = given.get("weight", weight), given.get("bias", bias)
    if weight is not None:
        out = out * xp.reshape(weight, shape)
    return out if bias is None else out + xp.reshape(bias, shape)


@composite(
    Spec(
        [
            _role_case(((2, 6, 3), (6,), (6,)), _AFFINE, num_groups=3),
            _role_case(((1, 4, 3, 3), (4,), (4,)), _AFFINE, num_groups=2),  # batch of 1
            _role_case(((3, 4),), ("input",), num_groups=2),
            _role_case(((2, 3, 5), (3,)), ("input", "weight"), num_groups=1),
            _role_case(((2, 3, 2), (3,)), ("input", "bias"), num_groups=3, eps=0.1),
        ],
        call=_by_role,
        ref=_group_norm_ref,
    )
)
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of ``input`` (N, C, ...), as PyTorch's: the channels are split
    into ``num_groups`` groups, each standardised over its channels and positions, then
    scaled and shifted per channel by ``weight`` and ``bias`` (None or of shape (C,)).

    >>> group_norm(np.array([[1.0, 3.0, 5.0, 5.0]]), 2).tolist()
    [[-0.9999950000374997, 0.9999950000374997, 0.0, 0.0]]
    """
    x = np.asarray(data_of(input))
    if x.ndim < 2:
        raise ShapeError(f"group_norm: input must be (N, C, ...), got shape {x.shape}")
    n, channels = x.shape[:2]
    if not isinstance(num_groups, (int, np.integer)) or num_groups <= 0:
        raise ValueError(f"group_norm: num_groups must be a positive int, got {num_groups!r}")
    if channels % num_groups:
        raise ShapeError(
            f"group_norm: the {channels} channels of input of shape {x.shape} "
            f"cannot be split into num_groups={num_groups} groups"
        )
    _check_per_channel("group_norm", x.shape, (channels,), weight=weight, bias=bias)
    per_group = channels // num_groups
    grouped_shape = (n, num_groups, per_group, math.prod(x.shape[2:]))
    out = _normalize(
        reshape(input, grouped_shape), weight, bias, (2, 3), eps, (num_groups, per_group, 1)
    )
    return reshape(out, x.shape)


# ----------------------------------------------------------------------- channel dropout
def _dropout2d_mask(shape, p, rng, dtype):
    from ..nn.init import as_generator  # here: chainrule.nn imports the ops

    keep = as_generator(rng).random(shape[:2]) >= p
    scale = np.asarray(0.0 if p == 1 else 1.0 / (1.0 - p), dtype=dtype)
    return (keep * scale).reshape(shape[:2] + (1,) * (len(shape) - 2))


def _dropout2d_ref(xp, x, p=0.5, training=True, inplace=False, rng=None):
    if not training or p == 0:
        return x
    return x * _dropout2d_mask(x.shape, p, rng, x.dtype)


@composite(
    Spec(
        [
            Case(((4, 3, 2, 3),), {"p": 0.5, "rng": 0}),
            Case(((3, 4, 5),), {"p": 0.25, "rng": 1}),
            Case(((2, 3, 2, 2),), {"p": 1.0, "rng": 2}),
            Case(((2, 3, 2, 2),), {"p": 0.5, "training": False, "rng": 3}),
            Case(((2, 3, 2, 2),), {"p": 0.0, "rng": 4}),
        ],
        ref=_dropout2d_ref,
    )
)
def dropout2d(input, p=0.5, training=True, inplace=False, rng=None):
    """Zero whole channels: each (sample, channel) of ``input`` (N, C, ...) is dropped with
    probability ``p`` and the kept ones are scaled by 1 / (1 - p).

    The identity when not ``training`` (or ``p == 0``). A 3-D input is (N, C, L), as in
    PyTorch. ``rng`` is a Generator or a seed (None: :func:`chainrule.nn.init.seed`'s).
    The result is always a new tensor: ``inplace`` is accepted for PyTorch's signature.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout2d: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    x = np.asarray(data_of(input))
    if x.ndim < 2:
        raise ShapeError(f"dropout2d: input must be (N, C, ...), got shape {x.shape}")
    return input * _dropout2d_mask(x.shape, p, rng, x.dtype)
