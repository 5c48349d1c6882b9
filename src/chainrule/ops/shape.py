"""Shape ops: reshape, transpose, broadcast, indexing, joining and padding.

Their gradients move values back to where they came from; indexing with
repeated integer indices accumulates (``np.add.at``).
"""

import itertools
import math

import numpy as np

from ..errors import ShapeError
from .registry import Case, Spec, data_of, defop


def _shape_of(x):
    try:
        return x.shape  # ndarray and Tensor alike
    except AttributeError:
        return np.shape(x)


# ----------------------------------------------------------------------- views
@defop(
    lambda g, out, x, shape: _reshape(g, shape=_shape_of(x)),
    spec=Spec(
        [
            Case(((3, 4),), {"shape": (2, 6)}),
            Case(((),), {"shape": (1, 1)}),
            Case(((0, 3),), {"shape": (3, 0)}),
        ],
        ref=lambda np, x, shape: np.reshape(x, shape),
    ),
    name="reshape",
)
def _reshape(x, shape):
    """x with a new shape holding the same elements."""
    return np.reshape(x, shape)


def reshape(x, shape, *more):
    """x with a new shape (one ``-1`` is inferred), as ``np.reshape``."""
    if more:
        shape = (shape,) + more
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    current = _shape_of(x)
    if shape == current:
        return x
    size, known = math.prod(current), math.prod(n for n in shape if n != -1)
    if shape.count(-1) == 1 and known and size % known == 0:
        shape = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(shape) != size or any(n < 0 for n in shape):
        raise ShapeError(f"reshape: cannot reshape an array of shape {current} into {shape}")
    return _reshape(x, shape=shape)


@defop(
    lambda g, out, x, axes: _transpose(g, axes=tuple(np.argsort(axes))),
    kernel=np.transpose,
    spec=Spec(
        [
            Case(((3, 4),), {"axes": (1, 0)}),
            Case(((2, 3, 4),), {"axes": (2, 0, 1)}),
            Case(((0, 3),), {"axes": (1, 0)}),
        ],
        ref=lambda np, x, axes: np.transpose(x, axes),
    ),
    name="transpose",
)
def _transpose(x, axes):
    """x with its axes permuted."""


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None), as ``np.transpose``."""
    ndim = len(_shape_of(x))
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    else:
        axes = tuple(reduce.one_axis(a, ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of {ndim} dimensions")
    if axes == tuple(range(ndim)):
        return x
    return _transpose(x, axes=axes)


def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    ndim = len(_shape_of(x))
    axis1, axis2 = (reduce.one_axis(a, ndim, "swapaxes") for a in (axis1, axis2))
    axes = list(range(ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


@defop(
    lambda g, out, x, shape: reduce.sum_to(g, _shape_of(x)),
    kernel=np.broadcast_to,
    spec=Spec(
        [
            Case(((3, 1),), {"shape": (2, 3, 4)}),
            Case(((),), {"shape": (2, 2)}),
            Case(((4,),), {"shape": (0, 4)}),
        ],
        ref=lambda np, x, shape: x + np.zeros(shape),
    ),
    name="broadcast_to",
)
def _broadcast_to(x, shape):
    """x broadcast to ``shape``; the gradient sums over the broadcast axes."""


def broadcast_to(x, shape):
    """x broadcast to ``shape`` (NumPy's rules); the gradient sums back over broadcast axes."""
    shape = tuple(shape)
    if _shape_of(x) == shape:
        return x
    try:
        np.broadcast_shapes(_shape_of(x), shape)
    except ValueError:
        raise ShapeError(
            f"broadcast_to: cannot broadcast shape {_shape_of(x)} to {shape}"
        ) from None
    return _broadcast_to(x, shape=shape)


def expand_dims(x, axis):
    """Insert a length-1 axis at ``axis``."""
    return reshape(x, np.expand_dims(np.empty(_shape_of(x), np.bool_), axis).shape)


def squeeze(x, axis=None):
    """Drop length-1 axes (all of them, or those named by ``axis``); an axis out of range
    raises ``cr.AxisError``, one of another length ``ShapeError``, as ``np.squeeze``."""
    shape = _shape_of(x)
    if axis is not None:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        axis = tuple(reduce.one_axis(a, max(len(shape), 1), "squeeze") for a in axes)
        if not shape:
            return x  # a 0-d array takes axis 0 and -1, as in NumPy and PyTorch
    try:
        shape = np.squeeze(np.empty(shape, np.bool_), axis).shape
    except ValueError as exc:
        raise ShapeError(f"squeeze: {exc} (shape {_shape_of(x)})") from None
    return reshape(x, shape)


def flatten(x, start_dim=0, end_dim=-1):
    """The axes from ``start_dim`` to ``end_dim`` (all of them by default) merged into one,
    as ``torch.flatten``; a 0-d input becomes 1-d.

    >>> import chainrule as cr
    >>> cr.flatten(cr.zeros(2, 3, 4), 1).shape
    (2, 12)
    """
    shape = _shape_of(x)
    ndim = max(len(shape), 1)
    start = reduce.one_axis(start_dim, ndim, "flatten", "start_dim")
    end = reduce.one_axis(end_dim, ndim, "flatten", "end_dim")
    if start > end:
        raise ShapeError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {shape})"
        )
    if not shape:
        return reshape(x, (1,))
    return reshape(x, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])


# ----------------------------------------------------------------------- indexing
def normalize_index(index):
    """An index with Tensors and lists turned into arrays, so it can be stored and reused."""
    if isinstance(index, tuple):
        return tuple(normalize_index(i) for i in index)
    index = data_of(index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_basic(index):
    """True when ``x[index]`` is a view (ints, slices, None, Ellipsis only)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


@defop(
    lambda g, out, x, index: _index_add(g, index=index, shape=_shape_of(x)),
    spec=Spec(
        [
            Case(((5, 3),), {"index": (slice(1, 4), 2)}),
            Case(((5, 3),), {"index": (np.array([0, 2, 2, 4]),)}),
            Case(((4, 3),), {"index": (np.array([1, 1]), np.array([0, 0]))}),
            Case(((4, 3),), {"index": (np.array([True, False, True, True]),)}),
            Case(((3,),), {"index": (Ellipsis, None)}),
        ],
        ref=lambda np, x, index: x[index],
    ),
    name="getitem",
)
def _getitem(x, index):
    """x[index]; repeated integer indices accumulate their gradients."""
    return x[index]


def getitem(x, index):
    """x[index] with NumPy's basic and advanced indexing."""
    index = normalize_index(index)
    try:
        return _getitem(x, index=index)
    except IndexError as exc:
        raise IndexError(f"getitem: {exc} (shape {_shape_of(x)})") from None


def _index_add_forward(g, index, shape):
    g = np.asarray(g)
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


@defop(
    lambda g, out, x, index, shape: _getitem(g, index=index),
    spec=Spec(
        [
            Case(((3,),), {"index": (slice(1, 4), 2), "shape": (5, 3)}),
            Case(((4,),), {"index": (np.array([0, 2, 2, 4]),), "shape": (5,)}),
        ]
    ),
    name="index_add",
)
def _index_add(g, index, shape):
    """zeros(shape) with ``g`` added at ``index`` (the gradient of getitem)."""
    return _index_add_forward(g, index, shape)


def _setitem_forward(x, value, index):
    out = np.array(x, copy=True)
    out[index] = value
    return out


@defop(
    lambda g, out, x, value, index: _setitem(g, 0.0, index=index),
    lambda g, out, x, value, index: _getitem(g, index=index),
    spec=Spec(
        [
            Case(((4, 3), (3,)), {"index": (slice(1, 3),)}),
            Case(((4, 3), ()), {"index": (np.array([0, 3]), np.array([1, 2]))}),
        ]
    ),
    name="setitem",
)
def _setitem(x, value, index):
    """A copy of x with ``value`` written at ``index`` (``x[index] = value`` in a graph)."""
    return _setitem_forward(x, value, index)


setitem = _setitem  # the op behind Tensor.__setitem__, fill_ and copy_


# ----------------------------------------------------------------------- joining
def _concatenate_vjp(i, g, out, xs, axis, bounds=None):
    if bounds is None:  # a direct call: find this input's place (O(i), so O(n^2) for all n)
        start = sum(_shape_of(x)[axis] for x in xs[:i])
        stop = start + _shape_of(xs[i])[axis]
    else:
        start, stop = bounds[i], bounds[i + 1]
    return _getitem(g, index=(slice(None),) * axis + (slice(start, stop),))


@defop(
    variadic=_concatenate_vjp,
    name="concatenate",
    spec=Spec(
        [
            Case(((2, 3), (4, 3)), {"axis": 0}),
            Case(((2, 3), (2, 1), (2, 0)), {"axis": 1}),
            Case(((2, 3), (2, 1), (2, 2)), {"axis": 1, "bounds": (0, 3, 4, 6)}),
            Case(((0, 2), (3, 2)), {"axis": 0, "bounds": (0, 0, 3)}),
        ],
        ref=lambda np, *xs, axis, bounds=None: np.concatenate(xs, axis=axis),
    ),
)
def _concatenate(*xs, axis, bounds=None):
    """The inputs joined along ``axis``; ``bounds``, when given, are where each input starts
    along it, then where the last one ends (so backward slices each piece in O(1))."""
    return np.concatenate(xs, axis=axis)


def _dim_alias(axis, aliases, op):
    """NumPy's ``axis`` or PyTorch's ``dim`` (one of them), for the joining functions."""
    if "dim" in aliases:
        dim = aliases.pop("dim")
        if axis not in (0, dim):
            raise TypeError(f"{op}: give axis or dim, not both")
        axis = dim
    if aliases:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(aliases)}")
    return axis


def concatenate(xs, axis=0, **aliases):
    """Join a sequence of arrays along an existing axis, as ``np.concatenate``
    (``axis=None`` joins them flattened); PyTorch's ``dim`` is accepted for ``axis``.

    >>> import chainrule as cr
    >>> cr.concatenate([cr.tensor([[1.0, 2.0]]), cr.tensor([[3.0]])], axis=None).tolist()
    [1.0, 2.0, 3.0]
    """
    axis = _dim_alias(axis, aliases, "concatenate")
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate: need at least one array")
    if axis is None:
        xs, axis = [reshape(x, (-1,)) for x in xs], 0
    shapes = [_shape_of(x) for x in xs]
    ndim = len(shapes[0])
    axis = reduce.one_axis(axis, ndim, "concatenate")
    if any(len(shape) != ndim for shape in shapes):
        return _concatenate(*xs, axis=axis)  # NumPy's error, as a ShapeError naming the shapes
    # Each piece's place along the axis, computed once: backward is O(n) for n pieces.
    bounds = (0, *itertools.accumulate(shape[axis] for shape in shapes))
    return _concatenate(*xs, axis=axis, bounds=bounds)


def stack(xs, axis=0, **aliases):
    """Join a sequence of same-shaped arrays along a new axis (``dim`` accepted for
    ``axis``)."""
    axis = _dim_alias(axis, aliases, "stack")
    xs = list(xs)
    if not xs:
        raise ValueError("stack: need at least one array")
    shapes = {_shape_of(x) for x in xs}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all inputs must have the same shape, got {sorted(shapes)}")
    axis = reduce.one_axis(axis, len(_shape_of(xs[0])) + 1, "stack")
    return concatenate([expand_dims(x, axis) for x in xs], axis)


def split(x, indices_or_sections, axis=0):
    """Split into pieces along ``axis``, as ``np.split`` (each piece a view in the graph)."""
    axis = reduce.one_axis(axis, len(_shape_of(x)), "split")
    length = _shape_of(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if indices_or_sections <= 0:
            raise ValueError(
                f"split: the number of sections must be positive, got {indices_or_sections}"
            )
        if length % indices_or_sections:
            raise ShapeError(
                f"split: axis of length {length} does not divide into "
                f"{indices_or_sections} equal sections"
            )
        step = length // indices_or_sections
        bounds = list(range(0, length + 1, step)) if step else [0] * (indices_or_sections + 1)
    else:
        bounds = [0] + [min(int(i), length) for i in indices_or_sections] + [length]
    lead = (slice(None),) * axis
    return [getitem(x, lead + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]


def _pad_vjp(g, out, x, pad_width, constant_values):
    index = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, _shape_of(x)))
    return _getitem(g, index=index)


@defop(
    _pad_vjp,
    name="pad",
    spec=Spec(
        [
            Case(((3, 4),), {"pad_width": ((1, 2), (0, 1)), "constant_values": 0.0}),
            Case(((2,),), {"pad_width": ((2, 2),), "constant_values": 1.5}),
        ],
        ref=lambda np, x, pad_width, constant_values: (
            np.pad(x, pad_width, "constant")
            + constant_values * (1 - np.pad(np.ones(x.shape), pad_width, "constant"))
        ),
    ),
)
def _pad(x, pad_width, constant_values):
    """x padded with a constant."""
    return np.pad(x, pad_width, mode="constant", constant_values=constant_values)


def pad(x, pad_width, mode="constant", constant_values=0):
    """Pad with a constant, as ``np.pad(..., mode='constant')``."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable here, got {mode!r}")
    ndim = len(_shape_of(x))
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))
    return _pad(x, pad_width=tuple(map(tuple, widths.tolist())), constant_values=constant_values)


from . import reduce  # noqa: E402  (reductions build on reshape; sum_to lives there)
