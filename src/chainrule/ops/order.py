"""Ordering and gathering: sort, top-k, take/put along an axis, gather and scatter.

Three primitives do the moving, each one's gradient written with the others:
``take_along`` (PyTorch's gather) reads ``x`` at an index array along one axis, and
its gradient is ``add_along``, which adds into zeros at those places (repeated indices
accumulate, ``np.add.at``), and whose gradient is ``take_along`` again; ``put_along``
writes values there, and its gradients are itself (zeros written into ``g``) and a
``take_along`` of ``g``. Everything public is composed of them.

Indices are integer arrays or integer Tensors, never differentiated; an index out of
range raises IndexError naming the function. Sorting is stable (ties keep their order),
so which of several tied elements receives a gradient is always the same.
"""

from collections import namedtuple

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .reduce import _is_int, one_axis, resolve
from .registry import Case, Spec, composite, data_of, defop
from .shape import _getitem, broadcast_to, reshape

__all__ = [
    "argsort",
    "gather",
    "put_along_axis",
    "scatter_add",
    "sort",
    "take",
    "take_along_axis",
    "topk",
]

# The type names are PyTorch's (lowercase), so that the reprs read the same.
#: What ``topk`` returns, as ``torch.topk`` does: ``values`` and their ``indices``.
TopK = namedtuple("topk", ["values", "indices"])  # type: ignore[name-match]
#: What PyTorch-style sorting returns (``Tensor.sort``): ``values`` and ``indices``.
SortResult = namedtuple("sort", ["values", "indices"])  # type: ignore[name-match]


def _operand(x):
    """Tensors and ndarrays as they are, anything else (numbers, lists) as an array."""
    return x if isinstance(x, (Tensor, np.ndarray)) else np.asarray(x)


def _positions(index, axis):
    """The full integer index that reads ``x[..., index[p], ...]`` at every position p of
    ``index``: index itself along ``axis``, p's own coordinates along the other axes."""
    ndim = index.ndim
    return tuple(
        index if d == axis else np.arange(n).reshape((1,) * d + (n,) + (1,) * (ndim - d - 1))
        for d, n in enumerate(index.shape)
    )


# ----------------------------------------------------------------------- primitives
def _selection(shape, index, axis):
    """The 0/1 matrix whose product with x.ravel() is take_along(x): a reference built one
    position at a time, independent of the fancy indexing the ops use."""
    matrix = np.zeros((index.size, int(np.prod(shape))))
    for k, p in enumerate(np.ndindex(index.shape)):
        target = list(p)
        target[axis] = index[p]
        matrix[k, np.ravel_multi_index(target, shape)] = 1.0
    return matrix


def _take_ref(xp, x, index, axis):
    return xp.reshape(xp.dot(_selection(x.shape, index, axis), xp.reshape(x, (-1,))), index.shape)


def _add_ref(xp, src, index, axis, shape):
    src = src * np.ones(index.shape)  # a broadcast src adds its value at every position
    return xp.reshape(xp.dot(xp.reshape(src, (-1,)), _selection(shape, index, axis)), shape)


_REPEATS = np.array([[3, 0, 3], [1, 1, 1], [2, 0, 1]])


@defop(
    lambda g, out, x, index, axis: _add_along(g, index=index, axis=axis, shape=data_of(x).shape),
    name="take_along",
    spec=Spec(
        [
            Case(((3, 4),), {"index": _REPEATS, "axis": 1}),
            Case(((4, 3),), {"index": _REPEATS, "axis": 0}),
            Case(((4, 5),), {"index": np.array([[4], [0]]), "axis": 1}),
            Case(((2, 3, 4),), {"index": np.zeros((2, 2, 4), int) + [0, 2, 2, 1], "axis": 1}),
            Case(((3, 4),), {"index": np.zeros((3, 0), int), "axis": 1}),
            Case(((0, 4),), {"index": np.zeros((0, 2), int), "axis": 1}),
        ],
        ref=_take_ref,
    ),
)
def _take_along(x, index, axis):
    """x read along ``axis`` at ``index`` (PyTorch's gather): the result has index's shape,
    and index may be shorter than x along the other axes."""
    return x[_positions(index, axis)]


@defop(
    lambda g, out, src, index, axis, shape: _take_along(g, index=index, axis=axis),
    name="add_along",
    spec=Spec(
        [
            Case(((3, 3),), {"index": _REPEATS, "axis": 1, "shape": (3, 4)}),
            Case(((3, 3),), {"index": _REPEATS, "axis": 0, "shape": (4, 3)}),
            Case(((),), {"index": _REPEATS, "axis": 0, "shape": (4, 5)}),
            Case(((2, 1),), {"index": np.array([[4], [0]]), "axis": 1, "shape": (3, 5)}),
            Case(((3, 0),), {"index": np.zeros((3, 0), int), "axis": 1, "shape": (3, 4)}),
        ],
        ref=_add_ref,
    ),
)
def _add_along(src, index, axis, shape):
    """zeros(shape) with ``src`` added where take_along would read: the gradient of a
    gather, and PyTorch's scatter_add into zeros (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=np.result_type(src))
    np.add.at(out, _positions(index, axis), src)
    return out


def _last_writes(index, axis, shape):
    """Which positions of ``index`` write the value that stays when several write to the
    same place: the same assignment, done with the positions' own numbers."""
    numbers = np.arange(index.size).reshape(index.shape)
    written = np.full(shape, -1)
    where = _positions(index, axis)
    written[where] = numbers
    return written[where] == numbers


def _put_values_vjp(g, out, arr, values, index, axis):
    stays = _last_writes(index, axis, data_of(arr).shape)
    return _take_along(g, index=index, axis=axis) * stays.astype(data_of(g).dtype)


def _put_ref(xp, arr, values, index, axis):
    # Positions in C order, a later one overwriting an earlier one (NumPy's assignment).
    last = {}
    for k, p in enumerate(np.ndindex(index.shape)):
        target = list(p)
        target[axis] = index[p]
        last[np.ravel_multi_index(target, arr.shape)] = k
    matrix = np.zeros((arr.size, index.size))
    for place, k in last.items():
        matrix[place, k] = 1.0
    kept = 1.0 - matrix.sum(axis=1).reshape(arr.shape)
    values = xp.reshape(values * np.ones(index.shape), (-1,))
    return arr * kept + xp.reshape(xp.dot(matrix, values), arr.shape)


@defop(
    lambda g, out, arr, values, index, axis: _put_along(g, 0, index=index, axis=axis),
    _put_values_vjp,
    name="put_along",
    spec=Spec(
        [
            Case(((3, 4), (3, 3)), {"index": _REPEATS, "axis": 1}),
            Case(((4, 3), (3, 3)), {"index": _REPEATS, "axis": 0}),
            Case(((3, 4), ()), {"index": _REPEATS, "axis": 1}),
            Case(((3, 4), (1, 3)), {"index": _REPEATS, "axis": 1}),
            Case(((3, 4), (3, 0)), {"index": np.zeros((3, 0), int), "axis": 1}),
        ],
        ref=_put_ref,
    ),
)
def _put_along(arr, values, index, axis):
    """A copy of ``arr`` with ``values`` written where take_along would read; where an
    index repeats, the last write stays (as in NumPy) and only it gets a gradient."""
    out = np.array(arr, copy=True)
    out[_positions(index, axis)] = values
    return out


# ----------------------------------------------------------------------- indices
def _index_array(indices, op):
    """The indices as a fresh intp array (the graph keeps it: the caller's may change)."""
    index = np.asarray(data_of(indices))
    if index.dtype == np.bool_ or not np.issubdtype(index.dtype, np.integer):
        raise IndexError(f"{op}: indices must be integers, got dtype {index.dtype}")
    return np.array(index, dtype=np.intp)


def _in_range(index, size, axis, op, negative=True):
    """``index`` checked against an axis of ``size`` (negative ones counted from the end
    when ``negative``, as NumPy does; PyTorch's gather and scatter refuse them)."""
    low = -size if negative else 0
    bad = (index < low) | (index >= size)
    if bad.any():
        raise IndexError(
            f"{op}: index {index[bad].flat[0]} is out of bounds for axis {axis} with size {size}"
        )
    if negative:
        index[index < 0] += size
    return index


def _same_ndim(index, shape, op, what="arr"):
    if index.ndim != len(shape):
        raise ShapeError(
            f"{op}: indices of shape {index.shape} and {what} of shape {shape} "
            "must have the same number of dimensions"
        )


def _as_result(like, array):
    """An int result as a Tensor when the input was one, else as the ndarray."""
    return Tensor._new(array) if isinstance(like, Tensor) else array


# ----------------------------------------------------------------------- along an axis
def _but(shape, axis, n):
    """``shape`` with ``n`` along ``axis``."""
    return tuple(shape[:axis]) + (n,) + tuple(shape[axis + 1 :])


def _along_ref(xp, x, indices, axis):
    if axis is None:
        return _take_ref(xp, xp.reshape(x, (-1,)), indices % x.size, 0)
    axis %= x.ndim
    common = np.broadcast_shapes(_but(x.shape, axis, 1), _but(indices.shape, axis, 1))
    x = x * np.ones(_but(common, axis, x.shape[axis]))
    indices = np.broadcast_to(indices % x.shape[axis], _but(common, axis, indices.shape[axis]))
    return _take_ref(xp, x, indices, axis)


@composite(
    Spec(
        [
            Case(((3, 4),), {"indices": _REPEATS, "axis": 1}),
            Case(((4, 3),), {"indices": _REPEATS - 4, "axis": -2}),
            Case(((1, 4),), {"indices": _REPEATS, "axis": 1}),
            Case(((3, 5),), {"indices": np.array([[0, 4, -1]]), "axis": -1}),
            Case(((2, 3, 4),), {"indices": np.array([[[2], [0]]]), "axis": 1}),
            Case(((3, 4),), {"indices": np.array([11, 0, 5, 5]), "axis": None}),
            Case(((3, 4),), {"indices": np.zeros((3, 0), int), "axis": 1}),
            Case(((0, 4),), {"indices": np.zeros((0, 2), int), "axis": 1}),
        ],
        ref=_along_ref,
    )
)
def take_along_axis(arr, indices, axis=-1):
    """``arr`` read at ``indices`` along ``axis``, as ``np.take_along_axis``.

    The other axes broadcast against each other; ``axis=None`` reads the flattened array.
    Repeated indices accumulate their gradients.

    >>> import numpy as np, chainrule as cr
    >>> x = cr.tensor([[10.0, 30.0, 20.0]])
    >>> cr.take_along_axis(x, np.array([[1, 2, 0]]), axis=1)
    tensor([[30., 20., 10.]])
    """
    op = "take_along_axis"
    x, index = _operand(arr), _index_array(indices, op)
    if axis is None:
        if index.ndim != 1:
            raise ShapeError(
                f"{op}: with axis=None the indices must be 1-D, got shape {index.shape}"
            )
        x, axis = reshape(x, (-1,)), 0
    shape = data_of(x).shape
    _same_ndim(index, shape, op)
    axis = one_axis(axis, len(shape), op)
    index = _in_range(index, shape[axis], axis, op)
    others, index_others = _but(shape, axis, 1), _but(index.shape, axis, 1)
    try:
        common = np.broadcast_shapes(others, index_others)
    except ValueError:
        raise ShapeError(
            f"{op}: arr of shape {shape} and indices of shape {index.shape} do "
            f"not broadcast along the axes other than {axis}"
        ) from None
    if index_others != common:
        index = np.broadcast_to(index, _but(common, axis, index.shape[axis]))
    if others != common:
        x = broadcast_to(x, _but(common, axis, shape[axis]))
    return _take_along(x, index=index, axis=axis)


def _put_call(f, arr, values, indices, axis):
    return f(arr, indices, values, axis)


def _put_along_axis_ref(xp, arr, values, indices, axis):
    if axis is None:
        return xp.reshape(
            _put_ref(xp, xp.reshape(arr, (-1,)), values, indices % arr.size, 0), arr.shape
        )
    axis %= arr.ndim
    indices = np.broadcast_to(indices % arr.shape[axis], _but(arr.shape, axis, indices.shape[axis]))
    return _put_ref(xp, arr, values, indices, axis)


@composite(
    Spec(
        [
            Case(((3, 4), (3, 3)), {"indices": _REPEATS, "axis": 1}),
            Case(((4, 3), (3, 3)), {"indices": _REPEATS - 4, "axis": -2}),
            Case(((3, 4), ()), {"indices": _REPEATS, "axis": 1}),
            Case(((3, 4), (1, 2)), {"indices": np.array([[0, 3]]), "axis": 1}),
            Case(((2, 3, 4), (2, 1, 4)), {"indices": np.array([[[2, 0, 2, 1]]]), "axis": 1}),
            Case(((3, 4), (4,)), {"indices": np.array([11, 0, 5, 5]), "axis": None}),
            Case(((3, 4), ()), {"indices": np.zeros((3, 0), int), "axis": 1}),
        ],
        call=_put_call,
        ref=_put_along_axis_ref,
    )
)
def put_along_axis(arr, indices, values, axis):
    """A copy of ``arr`` with ``values`` written at ``indices`` along ``axis``, as
    ``np.put_along_axis`` but out of place (the new array is returned).

    Where an index repeats, the last write stays, as in NumPy, and only the value
    written last receives a gradient; ``arr`` receives none at the written places.

    >>> import numpy as np, chainrule as cr
    >>> cr.put_along_axis(cr.tensor([[1.0, 2.0, 3.0]]), np.array([[2, 2]]),
    ...                   cr.tensor([[8.0, 9.0]]), axis=1)
    tensor([[1., 2., 9.]])
    """
    op = "put_along_axis"
    x, index = _operand(arr), _index_array(indices, op)
    data = data_of(x)
    if axis is None:
        if index.ndim != 1:
            raise ShapeError(
                f"{op}: with axis=None the indices must be 1-D, got shape {index.shape}"
            )
        return reshape(put_along_axis(reshape(x, (-1,)), index, values, 0), data.shape)
    _same_ndim(index, data.shape, op)
    axis = one_axis(axis, data.ndim, op)
    index = _in_range(index, data.shape[axis], axis, op)
    target = _but(data.shape, axis, index.shape[axis])
    try:
        index = np.broadcast_to(index, target)
        fits = np.broadcast_shapes(np.shape(data_of(values)), target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(
            f"{op}: arr of shape {data.shape}, indices of shape "
            f"{np.shape(data_of(indices))} and values of shape "
            f"{np.shape(data_of(values))} do not broadcast together"
        )
    return _put_along(x, values, index=index, axis=axis)


# ----------------------------------------------------------------------- PyTorch's
def _torch_index(input, dim, index, op):
    """PyTorch's checks: same number of dimensions, index no longer than input along the
    other dimensions, no negative index."""
    shape = data_of(input).shape
    _same_ndim(index, shape, op, "input")
    dim = one_axis(dim, max(len(shape), 1), op, "dim")
    if any(i > n for d, (i, n) in enumerate(zip(index.shape, shape)) if d != dim):
        raise ShapeError(
            f"{op}: index of shape {index.shape} is larger than input of shape "
            f"{shape} along a dimension other than {dim}"
        )
    return dim, _in_range(index, shape[dim] if shape else 1, dim, op, negative=False)


def _gather_call(f, input, dim, index):
    return f(input, dim, index)


@composite(
    Spec(
        [
            Case(((3, 4),), {"dim": 1, "index": _REPEATS}),
            Case(((4, 3),), {"dim": 0, "index": _REPEATS}),
            Case(((4, 5),), {"dim": -1, "index": np.array([[4], [0]])}),
            Case(((2, 3, 4),), {"dim": 2, "index": np.array([[[3, 3], [0, 1]]])}),
            Case(((),), {"dim": 0, "index": np.array(0)}),
            Case(((3, 4),), {"dim": 1, "index": np.zeros((3, 0), int)}),
        ],
        call=_gather_call,
        ref=lambda xp, x, dim, index: (
            _take_ref(xp, x, index, dim % max(x.ndim, 1)) if x.ndim else x * 1.0
        ),
    )
)
def gather(input, dim, index):
    """Values of ``input`` along ``dim`` at ``index``, as ``torch.gather``: the result has
    index's shape, and index may be shorter than input along the other dimensions.

    >>> import numpy as np, chainrule as cr
    >>> cr.gather(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, np.array([[0, 0], [1, 0]]))
    tensor([[1., 1.],
            [4., 3.]])
    """
    x, index = _operand(input), _index_array(index, "gather")
    dim, index = _torch_index(x, dim, index, "gather")
    if index.ndim == 0:
        return reshape(_take_along(reshape(x, (1,)), index=index.reshape(1), axis=0), ())
    return _take_along(x, index=index, axis=dim)


def _scatter_call(f, input, src, dim, index):
    return f(input, dim, index, src)


def _scatter_ref(xp, input, src, dim, index):
    src = src[tuple(slice(0, n) for n in index.shape)]
    return input + _add_ref(xp, src, index, dim % input.ndim, input.shape)


@composite(
    Spec(
        [
            Case(((3, 4), (3, 3)), {"dim": 1, "index": _REPEATS}),
            Case(((4, 3), (3, 3)), {"dim": 0, "index": _REPEATS}),
            Case(((4, 3), (4, 5)), {"dim": -2, "index": _REPEATS}),
            Case(((3, 5), (2, 2)), {"dim": 1, "index": np.array([[4], [0]])}),
            Case(((2, 3, 4), (1, 2, 2)), {"dim": 2, "index": np.array([[[3, 3], [0, 1]]])}),
            Case(((3, 4), (3, 0)), {"dim": 1, "index": np.zeros((3, 0), int)}),
        ],
        call=_scatter_call,
        ref=_scatter_ref,
    )
)
def scatter_add(input, dim, index, src):
    """A copy of ``input`` with ``src`` added along ``dim`` at ``index``, as
    ``torch.scatter_add`` (out of place); repeated indices add up.

    src may be larger than index: only its part of index's shape is used.

    >>> import numpy as np, chainrule as cr
    >>> cr.scatter_add(cr.zeros(3), 0, np.array([0, 2, 0]), cr.tensor([1.0, 2.0, 3.0]))
    tensor([4., 0., 2.])
    """
    op = "scatter_add"
    x, source, index = _operand(input), _operand(src), _index_array(index, op)
    src_shape = data_of(source).shape
    _same_ndim(index, src_shape, op, "src")
    if any(i > n for i, n in zip(index.shape, src_shape)):
        raise ShapeError(
            f"{op}: index of shape {index.shape} is larger than src of shape {src_shape}"
        )
    dim, index = _torch_index(x, dim, index, op)
    if src_shape != index.shape:
        source = _getitem(source, index=tuple(slice(0, n) for n in index.shape))
    if index.ndim == 0:
        index, source = index.reshape(1), reshape(source, (1,))
        return x + reshape(_add_along(source, index=index, axis=0, shape=(1,)), ())
    return x + _add_along(source, index=index, axis=dim, shape=data_of(x).shape)


# ----------------------------------------------------------------------- take
def _take_call_ref(xp, a, indices, axis=None, mode="raise"):
    if axis is None:
        return xp.reshape(a, (-1,))[indices]
    return a[(slice(None),) * (axis % a.ndim) + (indices,)]


@composite(
    Spec(
        [
            Case(((3, 4),), {"indices": np.array([11, 0, 5, 5])}),
            Case(((3, 4),), {"indices": np.array([[1, 1], [0, -1]]), "axis": 1}),
            Case(((4, 3),), {"indices": np.array(2), "axis": -2}),
            Case(((2, 3, 4),), {"indices": np.array([2, 2, 0]), "axis": 1}),
            Case(((3, 4),), {"indices": np.zeros(0, int), "axis": 0}),
        ],
        ref=_take_call_ref,
    )
)
def take(a, indices, axis=None, mode="raise"):
    """Elements of ``a`` at ``indices`` along ``axis`` (of the flattened array when None),
    as ``np.take``; ``mode`` is 'raise' (negative indices count from the end), 'wrap' or
    'clip'. Repeated indices accumulate their gradients.

    >>> import chainrule as cr
    >>> cr.take(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), [3, 0])
    tensor([4., 1.])
    """
    x, index = _operand(a), _index_array(indices, "take")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    shape = data_of(x).shape
    axis = one_axis(axis, max(len(shape), 1), "take")
    size = shape[axis] if shape else 1
    if mode == "wrap" and size:
        index %= size
    elif mode == "clip" and size:
        index = np.clip(index, 0, size - 1)
    elif mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    index = _in_range(index, size, axis, "take")
    if not shape:
        x = reshape(x, (1,))
    return _getitem(x, index=(slice(None),) * axis + (index,))


# ----------------------------------------------------------------------- sorting
def _order(data, axis, descending):
    """Stable sorting indices along ``axis``; descending keeps ties in their order too
    (and puts NaN first, as PyTorch does)."""
    if not descending:
        return np.argsort(data, axis=axis, kind="stable")
    n = data.shape[axis]
    flip = (slice(None),) * axis + (slice(None, None, -1),)
    return (n - 1) - np.argsort(data[flip], axis=axis, kind="stable")[flip]


def _sort_axis(a, axis, aliases, op):
    """The operand (flattened for axis=None, 1-D for a 0-d one), the axis to sort along,
    and whether the result goes back to 0-d (PyTorch sorts a 0-d tensor; NumPy refuses)."""
    axis, _ = resolve(axis, False, aliases, op)
    x = _operand(a)
    ndim = np.ndim(data_of(x))
    if axis is None:
        return (x if ndim == 1 else reshape(x, (-1,))), 0, False
    axis = one_axis(axis, max(ndim, 1), op)
    return (reshape(x, (1,)), 0, True) if ndim == 0 else (x, axis, False)


_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


def _sorted(a, axis, kind, descending, aliases, op, count=None):
    """Values and indices of the (first ``count``) sorted elements along ``axis``."""
    if kind not in _KINDS:
        raise ValueError(f"{op}: kind must be one of {_KINDS[1:]}, got {kind!r}")
    x, axis, scalar = _sort_axis(a, axis, aliases, op)
    index = _order(data_of(x), axis, descending)
    if count is not None:
        n = index.shape[axis]
        if not 0 <= count <= n:
            raise ValueError(f"{op}: k={count} is out of range for dimension {axis} of size {n}")
        index = index[(slice(None),) * axis + (slice(0, count),)]
    values = _take_along(x, index=index, axis=axis)
    if scalar:
        values, index = reshape(values, ()), index.reshape(())
    return values, index


def _sort_ref(xp, x, axis=-1, descending=False):
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    axis %= max(x.ndim, 1)
    index = xp.argsort(-x if descending else x, axis=axis, kind="stable")
    return _take_ref(xp, x, np.asarray(index), axis)


_SORT_CASES = [
    Case(((3, 4),), {"axis": 1}),
    Case(((4, 3),), {"axis": 0}),
    Case(((2, 3, 4),), {"axis": -2}),
    Case(((3, 4),), {"axis": None}),
    Case(((3, 4),), {"axis": -1, "descending": True}),
    Case(((5,),), {}),
    Case(((0, 3),), {"axis": 0}),
    Case(((3, 0),), {"axis": -1}),
]


@composite(Spec(_SORT_CASES, ref=_sort_ref))
def sort(a, axis=-1, kind=None, *, stable=None, descending=False, **aliases):
    """A sorted copy of ``a`` along ``axis`` (the flattened array when None), as ``np.sort``;
    the values are differentiable (each gets the gradient of the element it came from).

    The sort is always stable, whatever ``kind`` says: tied elements keep their order, so
    which of them gets which gradient is fixed. PyTorch's ``dim`` and ``descending`` are
    accepted; ``Tensor.sort`` gives ``(values, indices)`` as PyTorch does.

    >>> import chainrule as cr
    >>> cr.sort(cr.tensor([3.0, 1.0, 2.0]))
    tensor([1., 2., 3.])
    """
    return _sorted(a, axis, kind, descending, aliases, "sort")[0]


def argsort(a, axis=-1, kind=None, *, stable=None, descending=False, **aliases):
    """The indices that sort ``a`` along ``axis``, as ``np.argsort`` (a stable sort):
    an int array, or an int Tensor (no gradient) for a Tensor.

    >>> import chainrule as cr
    >>> cr.argsort(cr.tensor([3.0, 1.0, 1.0]))
    tensor([1, 2, 0])
    """
    if kind not in _KINDS:
        raise ValueError(f"argsort: kind must be one of {_KINDS[1:]}, got {kind!r}")
    x, axis, scalar = _sort_axis(a, axis, aliases, "argsort")
    index = _order(data_of(x), axis, descending)
    return _as_result(a, index.reshape(()) if scalar else index)


def torch_sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)``, as ``torch.sort`` (always stable here): what ``Tensor.sort``
    gives."""
    values, index = _sorted(input, dim, None, descending, {}, "sort")
    return SortResult(values, _as_result(input, index))


def _topk_call(f, x, **params):
    return f(x, **params).values


def _topk_ref(xp, x, k, dim=-1, largest=True, sorted=True):
    if x.ndim == 0:
        return x * 1.0
    index = xp.argsort(-x if largest else x, axis=dim, kind="stable")
    index = index[(slice(None),) * (dim % x.ndim) + (slice(0, k),)]
    return _take_ref(xp, x, index, dim % x.ndim)


@composite(
    Spec(
        [
            Case(((3, 5),), {"k": 2}),
            Case(((4, 3),), {"k": 3, "dim": 0}),
            Case(((2, 5, 3),), {"k": 1, "dim": -2, "largest": False}),
            Case(((6,),), {"k": 6, "largest": False}),
            Case(((3, 4),), {"k": 0}),
            Case(((),), {"k": 1}),
            Case(((0, 4),), {"k": 2}),
        ],
        call=_topk_call,
        ref=_topk_ref,
    )
)
def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, as
    ``torch.topk``: a ``(values, indices)`` pair, values differentiable.

    Ties go to the element that comes first (a stable sort). With ``sorted=False`` the
    values still come sorted, which PyTorch allows.

    >>> import chainrule as cr
    >>> values, indices = cr.topk(cr.tensor([1.0, 5.0, 3.0, 4.0]), 2)
    >>> values, indices
    (tensor([5., 4.]), tensor([1, 3]))
    """
    if not _is_int(k):
        raise TypeError(f"topk: k must be an int, got {k!r}")
    values, index = _sorted(input, dim, None, largest, {}, "topk", count=k)
    return TopK(values, _as_result(input, index))
