"""Rearranging elements: repeat, tile, roll, flip, rotate, move axes.

All but ``roll`` and ``clone`` are composed of indexing, reshaping, broadcasting and
transposing, so their gradients move each value back to where it came from, and copies
(repeat, tile, expand) have their gradients summed back by the broadcast rule.
"""

import operator

import numpy as np

from ..errors import AxisError, ShapeError
from ..tensor import Tensor
from .order import _positions, _take_along
from .reduce import one_axis
from .registry import Case, Spec, composite, data_of, defop, passthrough, unary_spec
from .shape import broadcast_to, expand_dims, getitem, reshape, transpose

__all__ = [
    "clone",
    "expand",
    "flip",
    "fliplr",
    "flipud",
    "moveaxis",
    "partition",
    "ravel",
    "repeat",
    "roll",
    "rollaxis",
    "rot90",
    "tile",
]


def operand(x):
    """Tensors and ndarrays as they are, anything else (numbers, lists) as an array."""
    return x if isinstance(x, (Tensor, np.ndarray)) else np.asarray(x)


def axes_of(axis, ndim, op, name="axis"):
    """``axis`` (an int or a sequence of ints) as a tuple of distinct non-negative axes."""
    items = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = tuple(one_axis(a, ndim, op, name) for a in items)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axis in {name} {axis}")
    return axes


def _ints(values, op, name):
    """An int or a sequence of ints as a tuple of ints (a TypeError naming ``op`` else)."""
    try:
        return tuple(operator.index(v) for v in np.atleast_1d(data_of(values)).tolist())
    except TypeError:
        raise TypeError(
            f"{op}: {name} must be an int or a sequence of ints, got {values!r}"
        ) from None


# ----------------------------------------------------------------------- repeat and tile
def _own(copies):
    """Copies made by broadcasting, as an array of their own: merging the broadcast axes
    is usually a copy already, but where the other axes have length 1 it is a read-only
    view of the input, and NumPy's repeat and tile give a new array."""
    return copies if data_of(copies).flags.writeable else _clone(copies)


def _repeat_ref(np_, x, repeats, axis):
    # A non-negative axis: autograd's repeat rule slices the shape with it.
    x, axis = (np_.ravel(x), 0) if axis is None else (x, axis % np.ndim(x))
    if np.ndim(repeats) == 0:
        return np_.repeat(x, repeats, axis=axis)
    # Per-element counts: gather along the axis (HIPS autograd's repeat takes an int only).
    index = np.repeat(np.arange(x.shape[axis]), repeats)
    return x[(slice(None),) * axis + (index,)]


@composite(
    Spec(
        [
            Case(((3, 4),), {"repeats": 2, "axis": None}),
            Case(((3, 4),), {"repeats": 3, "axis": 1}),
            Case(((2, 3, 2),), {"repeats": 2, "axis": -2}),
            Case(((3, 4),), {"repeats": [2, 0, 1], "axis": 0}),
            Case(((2, 3),), {"repeats": [1, 3, 2, 0, 1, 1], "axis": None}),
            Case(((),), {"repeats": 3, "axis": None}),
            Case(((0, 3),), {"repeats": 2, "axis": 1}),
            Case(((2, 1),), {"repeats": 0, "axis": 0}),
            Case(((2, 1),), {"repeats": 3, "axis": 1}),
        ],
        ref=_repeat_ref,
    )
)
def repeat(a, repeats, axis=None):
    """Repeat each element ``repeats`` times (an int, or one count per element) along
    ``axis``, as ``np.repeat`` (PyTorch's ``repeat_interleave``); ``axis=None`` repeats the
    flattened array. The gradient sums the copies back.

    >>> import chainrule as cr
    >>> cr.repeat(cr.tensor([1.0, 2.0]), [1, 2]).tolist()
    [1.0, 2.0, 2.0]
    """
    a = operand(a)
    if axis is None:
        a, axis = ravel(a), 0
    else:
        axis = one_axis(axis, a.ndim, "repeat")
    counts = np.asarray(data_of(repeats))
    if counts.size == 0:
        counts = counts.astype(np.intp)  # [] is float64, as np.repeat's own conversion
    if not np.can_cast(counts.dtype, np.intp, "safe"):
        raise TypeError(f"repeat: repeats must be integers, got dtype {counts.dtype}")
    if counts.ndim > 1:
        raise ShapeError(f"repeat: repeats must be an int or 1-d, got shape {counts.shape}")
    if (counts < 0).any():
        raise ValueError(f"repeat: repeats must not be negative, got {counts.tolist()}")
    shape, length = a.shape, a.shape[axis]
    if counts.size == 1:  # the same count everywhere: copy along a broadcast axis
        count = int(counts.reshape(()))
        if count == 1:
            return a
        spread = broadcast_to(
            expand_dims(a, axis + 1), shape[: axis + 1] + (count,) + shape[axis + 1 :]
        )
        return _own(reshape(spread, shape[:axis] + (length * count,) + shape[axis + 1 :]))
    if counts.size != length:
        raise ShapeError(
            f"repeat: {counts.size} repeats for an axis of length {length} "
            f"(shape {shape}, axis {axis})"
        )
    # Gather each element as often as it repeats: getitem's gradient adds the copies back.
    index = np.repeat(np.arange(length), counts)
    return getitem(a, (slice(None),) * axis + (index,))


def _tile_ref(np_, a, reps):
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    # Spell the reps out for every axis: autograd's tile rule aligns short reps to the left.
    return np_.tile(a, (1,) * (np.ndim(a) - len(reps)) + reps)


@composite(
    Spec(
        [
            Case(((3, 4),), {"reps": 2}),
            Case(((3, 4),), {"reps": (2, 1)}),
            Case(((2, 3),), {"reps": (2, 1, 3)}),
            Case(((2, 3, 2),), {"reps": (3, 2)}),
            Case(((),), {"reps": 3}),
            Case(((0, 3),), {"reps": (2, 2)}),
            Case(((3, 1),), {"reps": (1, 4)}),
        ],
        ref=_tile_ref,
    )
)
def tile(A, reps):
    """``A`` repeated ``reps`` times along each axis, as ``np.tile`` (short ``reps`` apply to
    the last axes; extra ``reps`` add leading axes). The gradient sums the copies back.

    >>> import chainrule as cr
    >>> cr.tile(cr.tensor([1.0, 2.0]), 2).tolist()
    [1.0, 2.0, 1.0, 2.0]
    """
    A = operand(A)
    reps = _ints(reps, "tile", "reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must not be negative, got {reps}")
    ndim = max(len(reps), A.ndim)
    shape = (1,) * (ndim - A.ndim) + A.shape
    reps = (1,) * (ndim - len(reps)) + reps
    if all(r == 1 for r in reps):
        return reshape(A, shape)
    # Each axis of length n becomes (1, n), broadcast to (r, n), then merged into r * n.
    spaced = reshape(A, tuple(v for n in shape for v in (1, n)))
    spread = broadcast_to(spaced, tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    return _own(reshape(spread, tuple(r * n for r, n in zip(reps, shape))))


# ----------------------------------------------------------------------- roll
def _roll_ref(np_, x, shift, axis):
    if axis is None:
        return np_.roll(x, shift)
    for s, a in zip(shift, axis):
        x = np_.roll(x, s, a)
    return x


# NOTE: a primitive: roll is its own adjoint (roll back by -shift), one node and one copy
# each way, where a composite would slice and concatenate once per rolled axis.
@defop(
    lambda g, out, x, shift, axis: _roll(g, shift=_negated(shift), axis=axis),
    kernel=np.roll,
    name="roll",
    spec=Spec(
        [
            Case(((3, 4),), {"shift": 5, "axis": None}),
            Case(((3, 4),), {"shift": (-1,), "axis": (1,)}),
            Case(((2, 3, 4),), {"shift": (1, 2), "axis": (0, 2)}),
            Case(((),), {"shift": 1, "axis": None}),
            Case(((0, 3),), {"shift": (1,), "axis": (1,)}),
        ],
        ref=_roll_ref,
    ),
)
def _roll(x, shift, axis):
    """x rolled by ``shift`` (an int with ``axis=None``, else one per axis of ``axis``)."""


def _negated(shift):
    return -shift if isinstance(shift, int) else tuple(-s for s in shift)


def roll(a, shift, axis=None):
    """Roll elements along ``axis`` (the flattened array when None), as ``np.roll``: the
    last ``shift`` elements come first. ``shift`` and ``axis`` may be tuples (broadcast
    against each other; shifts of one axis add up).

    >>> import chainrule as cr
    >>> cr.roll(cr.tensor([1.0, 2.0, 3.0]), 1).tolist()
    [3.0, 1.0, 2.0]
    """
    a = operand(a)
    shifts = _ints(shift, "roll", "shift")
    if axis is None:
        total = sum(shifts) % a.size if a.size else 0
        return _roll(a, shift=total, axis=None) if total else a
    axes = _ints(axis, "roll", "axis")
    try:
        pairs = np.broadcast(np.array(shifts), np.array(axes))
    except ValueError:
        raise ShapeError(f"roll: shift {shift} and axis {axis} do not broadcast") from None
    by_axis: dict[int, int] = {}
    for s, ax in pairs:
        ax = one_axis(int(ax), a.ndim, "roll")
        by_axis[ax] = by_axis.get(ax, 0) + int(s)
    by_axis = {ax: s % a.shape[ax] for ax, s in by_axis.items() if a.shape[ax]}
    by_axis = {ax: s for ax, s in sorted(by_axis.items()) if s}
    if not by_axis:
        return a
    return _roll(a, shift=tuple(by_axis.values()), axis=tuple(by_axis))


# ----------------------------------------------------------------------- flip and rotate
def _reversed(x, axes):
    """x read backwards along ``axes`` (a view; the gradient is reversed back)."""
    if not axes:
        return x
    index = [slice(None)] * x.ndim
    for ax in axes:
        index[ax] = slice(None, None, -1)
    return getitem(x, tuple(index))


def _slice_flip(x, axes):
    index = [slice(None)] * np.ndim(x)
    for ax in axes:
        index[ax] = slice(None, None, -1)
    return x[tuple(index)]


def _flip_ref(np_, m, axis):
    axes = range(np.ndim(m)) if axis is None else np.atleast_1d(axis) % np.ndim(m)
    return _slice_flip(m, axes)


@composite(
    Spec(
        [
            Case(((3, 4),), {"axis": None}),
            Case(((3, 4),), {"axis": 0}),
            Case(((2, 3, 4),), {"axis": (0, -1)}),
            Case(((),), {"axis": None}),
            Case(((0, 3),), {"axis": 1}),
        ],
        ref=_flip_ref,
    )
)
def flip(m, axis=None):
    """Reverse the order of elements along ``axis`` (all axes when None), as ``np.flip``.

    >>> import chainrule as cr
    >>> cr.flip(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1).tolist()
    [[2.0, 1.0], [4.0, 3.0]]
    """
    m = operand(m)
    axes = range(m.ndim) if axis is None else axes_of(axis, m.ndim, "flip")
    return _reversed(m, axes)


@composite(
    Spec([Case(((3, 4),)), Case(((2, 3, 4),)), Case(((0, 3),))], ref=lambda np, m: np.fliplr(m))
)
def fliplr(m):
    """Reverse the order along axis 1 (left/right), as ``np.fliplr``; needs 2 or more axes."""
    m = operand(m)
    if m.ndim < 2:
        raise ShapeError(f"fliplr: input must be >= 2-d, got shape {m.shape}")
    return _reversed(m, (1,))


@composite(Spec([Case(((3, 4),)), Case(((5,),)), Case(((0, 3),))], ref=lambda np, m: np.flipud(m)))
def flipud(m):
    """Reverse the order along axis 0 (up/down), as ``np.flipud``; needs 1 or more axes."""
    m = operand(m)
    if m.ndim < 1:
        raise ShapeError(f"flipud: input must be >= 1-d, got shape {m.shape}")
    return _reversed(m, (0,))


def _rot90_ref(np_, m, k, axes):
    # A quarter turn at a time, each one swapaxes(flip(m, axes[1])), k mod 4 times.
    first, second = (a % np.ndim(m) for a in axes)
    for _ in range(k % 4):
        m = np_.swapaxes(_slice_flip(m, (second,)), first, second)
    return m


@composite(
    Spec(
        [
            Case(((3, 4),), {"k": 1, "axes": (0, 1)}),
            Case(((3, 4),), {"k": 2, "axes": (0, 1)}),
            Case(((3, 4),), {"k": -1, "axes": (0, 1)}),
            Case(((2, 3, 4),), {"k": 1, "axes": (2, 0)}),
            Case(((2, 3, 4),), {"k": 7, "axes": (-1, 1)}),
            Case(((0, 3),), {"k": 1, "axes": (0, 1)}),
        ],
        ref=_rot90_ref,
    )
)
def rot90(m, k=1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, from the first axis
    towards the second, as ``np.rot90``.

    >>> import chainrule as cr
    >>> cr.rot90(cr.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[2.0, 4.0], [1.0, 3.0]]
    """
    m = operand(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(f"rot90: len(axes) must be 2, got axes={axes}")
    first, second = (one_axis(a, m.ndim, "rot90", "axes") for a in axes)
    if first == second:
        raise ValueError(f"rot90: axes must be different, got axes={axes}")
    k = operator.index(k) % 4
    if k == 0:
        return m
    if k == 2:
        return _reversed(m, (first, second))
    order = list(range(m.ndim))
    order[first], order[second] = second, first
    if k == 1:
        return transpose(_reversed(m, (second,)), order)
    return _reversed(transpose(m, order), (second,))


# ----------------------------------------------------------------------- axes and shapes
@composite(
    Spec(
        [
            Case(((2, 3, 4),), {"source": 0, "destination": -1}),
            Case(((2, 3, 4),), {"source": (0, 1), "destination": (2, 0)}),
            Case(((2, 3, 4, 1),), {"source": [-1, 0], "destination": [0, -1]}),
            Case(((),), {"source": (), "destination": ()}),
            Case(((0, 3),), {"source": 0, "destination": 1}),
        ],
        ref=lambda np, a, source, destination: np.moveaxis(a, source, destination),
    )
)
def moveaxis(a, source, destination):
    """Move axes to new positions, the others keeping their order, as ``np.moveaxis``
    (PyTorch's ``movedim``).

    >>> import chainrule as cr
    >>> cr.moveaxis(cr.zeros(2, 3, 4), 0, -1).shape
    (3, 4, 2)
    """
    a = operand(a)
    source = axes_of(source, a.ndim, "moveaxis", "source")
    destination = axes_of(destination, a.ndim, "moveaxis", "destination")
    if len(source) != len(destination):
        raise ValueError(
            f"moveaxis: source {source} and destination {destination} must "
            "have the same number of elements"
        )
    order = [n for n in range(a.ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, order)


def _rollaxis_ref(np_, a, axis, start=0):
    # Through moveaxis: autograd's rollaxis rule refuses negative axes.
    n = np.ndim(a)
    axis, start = axis % n, start + n if start < 0 else start
    return np_.moveaxis(a, axis, start - 1 if axis < start else start)


@composite(
    Spec(
        [
            Case(((2, 3, 4),), {"axis": 2}),
            Case(((2, 3, 4),), {"axis": 0, "start": 3}),
            Case(((2, 3, 4),), {"axis": -1, "start": 1}),
            Case(((2, 3, 4),), {"axis": 1, "start": -1}),
            Case(((2, 3, 4),), {"axis": 1, "start": 1}),
            Case(((0, 3),), {"axis": 1}),
        ],
        ref=_rollaxis_ref,
    )
)
def rollaxis(a, axis, start=0):
    """Move ``axis`` to sit before position ``start`` (NumPy's older ``moveaxis``), as
    ``np.rollaxis``; ``start`` may be ``a.ndim`` (roll to the end).

    >>> import chainrule as cr
    >>> cr.rollaxis(cr.zeros(2, 3, 4), 2).shape, cr.rollaxis(cr.zeros(2, 3, 4), 0, 3).shape
    ((4, 2, 3), (3, 4, 2))
    """
    a = operand(a)
    n = a.ndim
    axis = one_axis(axis, n, "rollaxis")
    start = operator.index(start)
    if not -n <= start <= n:
        raise AxisError(
            f"rollaxis: 'start' arg requires {-n} <= start < {n + 1}, but {start} was passed in"
        )
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1  # the axis leaves its place first
    order = [i for i in range(n) if i != axis]
    order.insert(start, axis)
    return transpose(a, order)


@composite(
    Spec(
        [
            Case(((3, 1),), {"sizes": (3, 4), "shape": (3, 4)}),
            Case(((3, 1),), {"sizes": (2, -1, 5), "shape": (2, 3, 5)}),
            Case(((4,),), {"sizes": (2, 3, -1), "shape": (2, 3, 4)}),
            Case(((),), {"sizes": (2,), "shape": (2,)}),
            Case(((1, 3),), {"sizes": (0, 3), "shape": (0, 3)}),
        ],
        call=lambda f, x, sizes, shape: f(x, *sizes),
        ref=lambda np, x, sizes, shape: x + np.zeros(shape),
    )
)
def expand(x, *sizes):
    """x broadcast to ``sizes`` without copying, as PyTorch's ``Tensor.expand``: ``-1``
    keeps an axis's size, new axes go in front. The gradient sums over the copies.

    >>> import chainrule as cr
    >>> cr.expand(cr.tensor([[1.0], [2.0]]), -1, 3).tolist()
    [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    """
    x = operand(x)
    if len(sizes) == 1 and np.ndim(sizes[0]) == 1:
        sizes = tuple(sizes[0])
    sizes = tuple(operator.index(n) for n in sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ShapeError(
            f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {x.shape} "
            "(need at least one per axis)"
        )
    shape = []
    for i, n in enumerate(sizes):
        old = x.shape[i - lead] if i >= lead else None
        if n == -1 and old is not None:
            n = old
        if n < 0 or (old not in (None, 1, n)):
            raise ShapeError(
                f"expand: cannot expand shape {x.shape} to {sizes} (size {n} at axis {i})"
            )
        shape.append(n)
    return broadcast_to(x, tuple(shape))


@defop(passthrough, name="clone", kernel=np.copy, spec=unary_spec(lambda np, x: x * 1.0))
def _clone(x):
    """A copy of x: a new node whose gradient passes through unchanged."""


def clone(input):
    """A copy of ``input`` that is a new node of the graph (the gradient passes through), as
    ``torch.clone``; NumPy's ``np.copy``.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> y = cr.clone(x)
    >>> y is x, y.grad_fn.name
    (False, 'clone')
    """
    return _clone(input)


@composite(
    Spec(
        [
            Case(((3, 4),), {"order": "C"}),
            Case(((2, 3, 4),), {"order": "F"}),
            Case(((),), {"order": "C"}),
            Case(((0, 3),), {"order": "C"}),
        ],
        ref=lambda np, a, order: np.ravel(a, order=order),
    )
)
def ravel(a, order="C"):
    """All elements in one axis, in row-major (``order='C'``) or column-major (``'F'``)
    order, as ``np.ravel``.

    >>> import chainrule as cr
    >>> cr.ravel(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), order="F").tolist()
    [1.0, 3.0, 2.0, 4.0]
    """
    a = operand(a)
    if order == "F":
        a = transpose(a)
    elif order != "C":
        raise ValueError(f"ravel: order must be 'C' or 'F', got {order!r}")
    return reshape(a, (-1,))


# ----------------------------------------------------------------------- partition
def _partition_ref(np_, a, kth, axis=-1):
    # Gathered at NumPy's argpartition of the same values: the order inside each side of a
    # partition is unspecified, and np.partition's may differ from argpartition's.
    if axis is None:
        a, axis = np_.reshape(a, (-1,)), 0
    index = np.argpartition(getattr(a, "_value", a), kth, axis=axis)
    return a[_positions(index, axis % a.ndim)]


@composite(
    Spec(
        [
            Case(((7,),), {"kth": 3}),
            Case(((7,),), {"kth": (0, 6)}),
            Case(((3, 6),), {"kth": 2, "axis": 1}),
            Case(((5, 2, 3),), {"kth": -1, "axis": 0}),
            Case(((3, 4),), {"kth": [1, 5], "axis": None}),
            Case(((0, 3),), {"kth": 1, "axis": -1}),
        ],
        ref=_partition_ref,
    )
)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """A copy of ``a`` with its ``kth`` element (each of several) where sorting would put
    it, smaller ones before and larger ones after (in no given order), as ``np.partition``
    (``axis=None``: the flattened array). The values are differentiable: each element's
    gradient goes back to where it came from.

    The elements are placed by ``np.argpartition``: the order inside each side may differ
    from ``np.partition``'s, which NumPy leaves unspecified too.

    >>> import chainrule as cr
    >>> cr.partition(cr.tensor([3.0, 4.0, 2.0, 1.0]), 2)[2].item()
    3.0
    """
    if order is not None:
        raise ValueError("partition: order= sorts structured arrays, which chainrule lacks")
    a = operand(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = one_axis(axis, a.ndim, "partition")
    index = np.argpartition(data_of(a), kth, axis=axis, kind=kind)
    return _take_along(a, index=index, axis=axis)
