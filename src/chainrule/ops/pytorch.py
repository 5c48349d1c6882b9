"""PyTorch's names for what NumPy spells otherwise: joining, splitting, selecting along a
dim, matrix products with fixed ranks, masked choices, statistics in pairs.

Each is composed of registered ops (indexing, reshaping, concatenating, ``where``,
``matmul``), so gradients move values back to where they came from. Arguments follow
PyTorch (``input``, ``dim``, ``keepdim``, tuples of results); where NumPy has the same
name (``meshgrid``, ``concat``) NumPy's defaults hold. The functions behind Tensor
methods whose names NumPy (or ``cr.nn.functional``) uses otherwise keep a ``torch_``
prefix and stay out of ``cr``: ``torch_split`` (``Tensor.split``), ``torch_select``
(``Tensor.select``), ``torch_squeeze`` (``Tensor.squeeze``) and ``torch_unfold``
(``Tensor.unfold``, sliding windows).
"""

import itertools
import math
import operator

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from . import logic as _logic
from . import reduce as _reduce
from .arrange import clone, moveaxis, operand, repeat
from .elementwise import astype, clip, where
from .join import array_split
from .linalg import matmul
from .order import take, take_along_axis
from .reduce import one_axis, torch_spread_options
from .registry import Case, Spec, composite, data_of
from .shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    reshape,
    squeeze,
    swapaxes,
    transpose,
)

__all__ = [
    "bmm",
    "cat",
    "chunk",
    "clamp_max",
    "clamp_min",
    "concat",
    "eq",
    "ge",
    "gt",
    "index_select",
    "le",
    "lt",
    "masked_fill",
    "masked_select",
    "meshgrid",
    "mm",
    "movedim",
    "mv",
    "narrow",
    "ne",
    "permute",
    "repeat_interleave",
    "std_mean",
    "swapdims",
    "t",
    "take_along_dim",
    "tensor_split",
    "unbind",
    "unflatten",
    "unsqueeze",
    "var_mean",
]


def _shape(x):
    return np.shape(data_of(x))


def _along(axis, index):
    """An index tuple that applies ``index`` to ``axis`` alone."""
    return (slice(None),) * axis + (index,)


def _flat(pieces):
    """Several results as one vector: how the suite checks a function returning a tuple."""
    return concatenate([reshape(p, (-1,)) for p in pieces])


def _listed(f, *xs, **params):
    return f(list(xs), **params)


def _flat_call(f, *xs, **params):
    return _flat(f(*xs, **params))


def _pieces_ref(np_, x, bounds, axis):
    """The pieces between ``bounds`` along ``axis``, flattened and joined (for the suite)."""
    axis %= max(np.ndim(x), 1)
    return np_.concatenate(
        [np_.ravel(x[_along(axis, slice(a, b))]) for a, b in zip(bounds[:-1], bounds[1:])]
    )


# ----------------------------------------------------------------------- joining
def _dim(dim, aliases, op):
    """PyTorch's ``dim`` or NumPy's ``axis`` (one of them)."""
    if "axis" in aliases:
        dim = aliases.pop("axis")
    if aliases:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(aliases)}")
    return dim


@composite(
    Spec(
        [
            Case(((2, 3), (4, 3)), {"dim": 0}),
            Case(((2, 3), (2, 1), (2, 0)), {"dim": -1}),
            Case(((0, 2), (3, 2)), {"dim": 0}),
        ],
        call=_listed,
        ref=lambda np, *xs, dim: np.concatenate(xs, axis=dim),
    )
)
def cat(tensors, dim=0, **aliases):
    """Join tensors along an existing ``dim``, as ``torch.cat`` (``cr.concatenate``).

    >>> import chainrule as cr
    >>> cr.cat([cr.zeros(2, 3), cr.ones(1, 3)]).shape
    (3, 3)
    """
    return concatenate(tensors, _dim(dim, aliases, "cat"))


@composite(
    Spec(
        [
            Case(((2, 3), (4, 3)), {"axis": 0}),
            Case(((2, 3), (2, 1)), {"axis": 1}),
            Case(((2, 3), (1,)), {"axis": None}),
        ],
        call=_listed,
        ref=lambda np, *xs, axis: np.concatenate(
            [np.ravel(x) for x in xs] if axis is None else xs, axis=axis or 0
        ),
    )
)
def concat(arrays, axis=0, **aliases):
    """Join arrays along an existing axis: NumPy 2's and PyTorch's name for
    :func:`concatenate` (``dim`` accepted for ``axis``)."""
    return concatenate(arrays, axis, **aliases)


@composite(
    Spec(
        [
            Case(((3, 4),), {"dim": 0}),
            Case(((3, 4),), {"dim": -1}),
            Case(((3, 4),), {"dim": 1}),
            Case(((),), {"dim": 0}),
            Case(((0, 3),), {"dim": 1}),
        ],
        ref=lambda np, x, dim: np.expand_dims(x, dim),
    )
)
def unsqueeze(input, dim):
    """``input`` with a new axis of length 1 at ``dim`` (from ``-ndim - 1`` to ``ndim``), as
    ``torch.unsqueeze`` (NumPy's ``expand_dims``)."""
    return expand_dims(input, one_axis(dim, len(_shape(input)) + 1, "unsqueeze", "dim"))


def _grid_ref(np_, *xs, indexing="xy", sparse=False):
    sizes = [int(np.size(x)) for x in xs]
    if indexing == "xy" and len(xs) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    outs = []
    for i, x in enumerate(xs):
        place = (1 - i if i < 2 else i) if indexing == "xy" and len(xs) > 1 else i
        shape = [1] * len(xs)
        shape[place] = -1
        column = np_.reshape(x, shape)
        outs.append(np_.ravel(column if sparse else column * np.ones(sizes)))
    return np_.concatenate(outs)


@composite(
    Spec(
        [
            Case(((3,), (4,))),
            Case(((3,), (4,)), {"indexing": "ij"}),
            Case(((3,), (), (2,)), {"indexing": "xy"}),
            Case(((2,),), {"indexing": "ij"}),
            Case(((3,), (2,), (0,)), {"indexing": "ij"}),
            Case(((3,), (2,)), {"indexing": "xy", "sparse": True}),
        ],
        call=_flat_call,
        ref=_grid_ref,
    )
)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate grids from 1-d coordinate vectors, as ``np.meshgrid``: the grids have one
    axis per vector; ``indexing='xy'`` (NumPy's default) swaps the first two (x runs along
    the columns), ``'ij'`` (PyTorch's usual choice) does not. Returns a tuple; PyTorch's
    single list of tensors is accepted. Gradients sum back over the grid.

    >>> import chainrule as cr
    >>> [g.shape for g in cr.meshgrid(cr.zeros(3), cr.zeros(4))]
    [(4, 3), (4, 3)]
    >>> [g.shape for g in cr.meshgrid(cr.zeros(3), cr.zeros(4), indexing="ij")]
    [(3, 4), (3, 4)]
    """
    if indexing not in ("xy", "ij"):
        # NumPy raises ValueError and PyTorch RuntimeError: ShapeError is both.
        raise ShapeError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    if len(xi) == 1 and isinstance(xi[0], (list, tuple)):
        xi = tuple(xi[0])
    vectors = [reshape(operand(x), (-1,)) for x in xi]
    places = list(range(len(vectors)))
    if indexing == "xy" and len(vectors) > 1:
        places[0], places[1] = 1, 0
    sizes = [0] * len(vectors)
    for place, vector in zip(places, vectors):
        sizes[place] = _shape(vector)[0]
    grids = []
    for place, vector in zip(places, vectors):
        shape = [1] * len(vectors)
        shape[place] = -1
        grid = reshape(vector, shape)
        if not sparse:
            grid = broadcast_to(grid, sizes)
            grid = clone(grid) if copy else grid  # NumPy's grids are writable copies
        grids.append(grid)
    return tuple(grids)


# ----------------------------------------------------------------------- splitting
def _chunk_ref(np_, x, chunks, dim=0):
    n = np.shape(x)[dim % np.ndim(x)]
    size = -(-n // chunks)
    return _pieces_ref(np_, x, list(range(0, n, size)) + [n], dim)


def _pieces(x, bounds, axis):
    return tuple(getitem(x, _along(axis, slice(a, b))) for a, b in zip(bounds[:-1], bounds[1:]))


@composite(
    Spec(
        [
            Case(((8, 13),), {"chunks": 6, "dim": 1}),
            Case(((5,),), {"chunks": 3}),
            Case(((8, 3, 9),), {"chunks": 3, "dim": -2}),
            Case(((4, 2),), {"chunks": 7}),
        ],
        call=_flat_call,
        ref=_chunk_ref,
    )
)
def chunk(input, chunks, dim=0):
    """``input`` split along ``dim`` into ``chunks`` pieces of ``ceil(length / chunks)``
    (the last one shorter, and fewer pieces where they run out), as ``torch.chunk``.

    >>> import chainrule as cr
    >>> [p.shape for p in cr.chunk(cr.zeros(5), 3)]
    [(2,), (2,), (1,)]
    """
    x = operand(input)
    axis = one_axis(dim, len(_shape(x)), "chunk", "dim")
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ShapeError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = _shape(x)[axis]
    if n == 0:
        return _pieces(x, [0] * (chunks + 1), axis)
    return torch_split(x, -(-n // chunks), axis)


def _split_ref(np_, x, split_size_or_sections, dim=0):
    n = np.shape(x)[dim % np.ndim(x)]
    if isinstance(split_size_or_sections, int):
        bounds = list(range(0, n, split_size_or_sections)) + [n] if n else [0, 0]
    else:
        bounds = [0, *itertools.accumulate(split_size_or_sections)]
    return _pieces_ref(np_, x, bounds, dim)


@composite(
    Spec(
        [
            Case(((10,),), {"split_size_or_sections": 3}),
            Case(((10,),), {"split_size_or_sections": [1, 4, 5]}),
            Case(((3, 4),), {"split_size_or_sections": 1, "dim": 1}),
            Case(((4, 4),), {"split_size_or_sections": [2, 0, 2], "dim": -1}),
            Case(((0, 3),), {"split_size_or_sections": 2}),
        ],
        call=_flat_call,
        ref=_split_ref,
    )
)
def torch_split(tensor, split_size_or_sections, dim=0):
    """``tensor`` split along ``dim`` into pieces of ``split_size_or_sections`` (the last
    one shorter) or of the listed sizes, as ``torch.split`` (``Tensor.split``; ``cr.split``
    is NumPy's, which takes a number of sections or the indices to split at).

    >>> import chainrule as cr
    >>> from chainrule.ops.pytorch import torch_split
    >>> [p.shape for p in torch_split(cr.zeros(5, 2), [1, 4])]
    [(1, 2), (4, 2)]
    """
    x = operand(tensor)
    axis = one_axis(dim, len(_shape(x)), "split", "dim")
    n = _shape(x)[axis]
    sizes = data_of(split_size_or_sections)
    if np.ndim(sizes) == 0:
        size = int(sizes)
        if size < 0 or (size == 0 and n):
            raise ShapeError(f"split: split size {size} for a dim of length {n}")
        bounds = list(range(0, n, size)) + [n] if n else [0, 0]
    else:
        bounds = [0, *itertools.accumulate(int(s) for s in sizes)]
        if bounds[-1] != n or any(int(s) < 0 for s in sizes):
            raise ShapeError(
                f"split: sizes {list(sizes)} do not add up to the length {n} of "
                f"dim {axis} (shape {_shape(x)})"
            )
    return _pieces(x, bounds, axis)


def _tensor_split_ref(np_, x, indices_or_sections, dim=0):
    axis = dim % np.ndim(x)
    ranges = np.array_split(np.arange(np.shape(x)[axis]), indices_or_sections)
    return np_.concatenate([np_.ravel(x[_along(axis, r)]) for r in ranges])


@composite(
    Spec(
        [
            Case(((7,),), {"indices_or_sections": 3}),
            Case(((4, 6),), {"indices_or_sections": [1, 3], "dim": 1}),
            Case(((2, 3),), {"indices_or_sections": 5, "dim": -1}),
        ],
        call=_flat_call,
        ref=_tensor_split_ref,
    )
)
def tensor_split(input, indices_or_sections, dim=0):
    """``input`` split along ``dim`` into ``n`` pieces as even as can be (the first ones one
    longer) or at the given indices, as ``torch.tensor_split`` (NumPy's ``array_split``).
    Returns a tuple."""
    return tuple(array_split(input, indices_or_sections, dim))


def _unbind_ref(np_, x, dim=0):
    return np_.ravel(np_.moveaxis(x, dim, 0))


@composite(
    Spec(
        [
            Case(((3, 4),)),
            Case(((3, 4),), {"dim": 1}),
            Case(((2, 3, 4),), {"dim": -1}),
            Case(((0, 3),), {"dim": 1}),
        ],
        call=_flat_call,
        ref=_unbind_ref,
    )
)
def unbind(input, dim=0):
    """The slices of ``input`` along ``dim``, as a tuple (``torch.unbind``; ``np.unstack``).

    >>> import chainrule as cr
    >>> [s.tolist() for s in cr.unbind(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1)]
    [[1.0, 3.0], [2.0, 4.0]]
    """
    x = operand(input)
    axis = one_axis(dim, len(_shape(x)), "unbind", "dim")
    return tuple(getitem(x, _along(axis, i)) for i in range(_shape(x)[axis]))


# ----------------------------------------------------------------------- selecting along a dim
@composite(
    Spec(
        [
            Case(((3, 4),), {"dim": 1, "index": 2}),
            Case(((3, 4),), {"dim": 0, "index": -1}),
            Case(((2, 3, 4),), {"dim": -2, "index": 0}),
        ],
        ref=lambda np, x, dim, index: x[_along(dim % x.ndim, index)],
    )
)
def torch_select(input, dim, index):
    """The slice of ``input`` at ``index`` along ``dim`` (that dim removed), as
    ``torch.select`` (``Tensor.select``; ``cr.select`` is NumPy's, which picks from a list
    of choices)."""
    x, index = operand(input), operator.index(data_of(index))
    axis = one_axis(dim, len(_shape(x)), "select", "dim")
    n = _shape(x)[axis]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} is out of range for dim {axis} of length {n}")
    return getitem(x, _along(axis, index))


@composite(
    Spec(
        [
            Case(((5, 3),), {"dim": 0, "start": 1, "length": 3}),
            Case(((5, 3),), {"dim": -1, "start": -2, "length": 2}),
            Case(((5, 3),), {"dim": 1, "start": 3, "length": 0}),
        ],
        ref=lambda np, x, dim, start, length: x[
            _along(
                dim % x.ndim,
                slice(
                    start % x.shape[dim] if start < 0 else start,
                    (start % x.shape[dim] if start < 0 else start) + length,
                ),
            )
        ],
    )
)
def narrow(input, dim, start, length):
    """``length`` elements of ``input`` along ``dim`` from ``start`` (negative: counted from
    the end), as ``torch.narrow``.

    >>> import chainrule as cr
    >>> cr.narrow(cr.tensor([1.0, 2.0, 3.0, 4.0]), 0, 1, 2).tolist()
    [2.0, 3.0]
    """
    x = operand(input)
    axis = one_axis(dim, len(_shape(x)), "narrow", "dim")
    n = _shape(x)[axis]
    start, length = int(data_of(start)), int(data_of(length))
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dim {axis} of length {n}")
    start += n if start < 0 else 0
    if length < 0 or start + length > n:
        raise ShapeError(
            f"narrow: start {start} + length {length} exceeds the length {n} of "
            f"dim {axis} (shape {_shape(x)})"
        )
    return getitem(x, _along(axis, slice(start, start + length)))


def _index_vector(index, op):
    index = np.asarray(data_of(index))
    if index.ndim > 1:
        raise ShapeError(f"{op}: index must be a vector (0-d or 1-d), got shape {index.shape}")
    if index.dtype == np.bool_ or not np.issubdtype(index.dtype, np.integer):
        raise IndexError(f"{op}: index must be integers, got dtype {index.dtype}")
    return index.reshape(-1)


@composite(
    Spec(
        [
            Case(((4, 3),), {"dim": 0, "index": np.array([3, 0, 0])}),
            Case(((2, 3, 4),), {"dim": -1, "index": np.array([1])}),
            Case(((3, 4),), {"dim": 1, "index": np.zeros(0, int)}),
        ],
        ref=lambda np, x, dim, index: x[_along(dim % x.ndim, index)],
    )
)
def index_select(input, dim, index):
    """The entries of ``input`` at ``index`` (a vector of ints) along ``dim``, as
    ``torch.index_select``; repeated indices accumulate their gradients.

    >>> import chainrule as cr
    >>> cr.index_select(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, [1, 1]).tolist()
    [[2.0, 2.0], [4.0, 4.0]]
    """
    x = operand(input)
    index = _index_vector(index, "index_select")
    if not _shape(x):
        x = reshape(x, (1,))
        return reshape(take(x, index, axis=one_axis(dim, 1, "index_select", "dim")), ())
    axis = one_axis(dim, len(_shape(x)), "index_select", "dim")
    n = _shape(x)[axis]
    if ((index < 0) | (index >= n)).any():
        raise IndexError(f"index_select: index out of range for dim {axis} of length {n}")
    return take(x, index, axis=axis)


def take_along_dim(input, indices, dim=None):
    """``input`` read at ``indices`` along ``dim``, the other dims broadcast, as
    ``torch.take_along_dim``; ``dim=None`` reads the flattened input at the flattened
    indices (NumPy's ``take_along_axis``, which wants 1-d indices there)."""
    if dim is None:
        flat = np.asarray(data_of(indices)).reshape(-1)
        return take_along_axis(reshape(operand(input), (-1,)), flat, 0)
    return take_along_axis(input, indices, dim)


composite(
    Spec(
        [
            Case(((3, 4),), {"indices": np.array([[0, 3, 3]]), "dim": 1}),
            Case(((3, 4),), {"indices": np.array([[1, 11], [0, 5]]), "dim": None}),
        ],
        ref=lambda np, x, indices, dim: (
            np.ravel(x)[np.ravel(indices)] if dim is None else x[np.arange(3)[:, None], indices]
        ),
    )
)(take_along_dim)


def repeat_interleave(input, repeats, dim=None, *, output_size=None):
    """Each element repeated ``repeats`` times (an int, or one count per element) along
    ``dim`` (the flattened input when None), as ``torch.repeat_interleave`` (NumPy's
    ``repeat``: see :func:`repeat` for its spec)."""
    return repeat(input, data_of(repeats), axis=dim)


def _mask_of(mask, op):
    mask = np.asarray(data_of(mask))
    if mask.dtype != np.bool_:
        raise TypeError(f"{op}: the mask must be boolean, got dtype {mask.dtype}")
    return mask


_MASK = np.array([[True, False, True, True], [False, False, True, False], [True] * 4])


@composite(
    Spec(
        [
            Case(((3, 4),), {"mask": _MASK}),
            Case(((4,),), {"mask": _MASK}),
            Case(((3, 1),), {"mask": _MASK}),
            Case(((0, 4),), {"mask": np.ones(4, bool)}),
        ],
        ref=lambda np, x, mask: (x * np.ones(np.broadcast_shapes(x.shape, mask.shape)))[
            np.broadcast_to(mask, np.broadcast_shapes(x.shape, mask.shape))
        ],
    )
)
def masked_select(input, mask):
    """The elements of ``input`` where the boolean ``mask`` holds (the two broadcast), as a
    1-d tensor, as ``torch.masked_select``."""
    x, mask = operand(input), _mask_of(mask, "masked_select")
    try:
        shape = np.broadcast_shapes(_shape(x), mask.shape)
    except ValueError:
        raise ShapeError(
            f"masked_select: input of shape {_shape(x)} and mask of shape "
            f"{mask.shape} do not broadcast"
        ) from None
    return getitem(broadcast_to(x, shape), np.broadcast_to(mask, shape))


def _fill_call(f, x, *value, mask, fill=None):
    return f(x, mask, value[0] if value else fill)


def _fill_ref(np_, x, *value, mask, fill=None):
    value = value[0] if value else fill
    # Both broadcast first (by products, whose vjps sum back): autograd's where does not.
    return np_.where(mask, value + 0 * x, x + 0 * value)


@composite(
    Spec(
        [
            Case(((3, 4),), {"mask": _MASK, "fill": -1.5}),
            Case(((3, 4), ()), {"mask": _MASK}),
            Case(((3, 4),), {"mask": _MASK[0], "fill": 3.0}),
            Case(((),), {"mask": np.array(True), "fill": 2.0}),
            Case(((0, 4),), {"mask": np.ones(4, bool), "fill": 0.0}),
        ],
        call=_fill_call,
        ref=_fill_ref,
    )
)
def masked_fill(input, mask, value):
    """``input`` with ``value`` where the boolean ``mask`` (broadcast to input's shape)
    holds, as ``torch.masked_fill``; a 0-d Tensor ``value`` is differentiable.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0])
    >>> cr.masked_fill(x, x > 1.5, float("-inf")).tolist()
    [1.0, -inf, -inf]
    """
    x, mask = operand(input), _mask_of(mask, "masked_fill")
    if np.broadcast_shapes(_shape(x), mask.shape) != _shape(x):
        raise ShapeError(
            f"masked_fill: mask of shape {mask.shape} does not broadcast to "
            f"input of shape {_shape(x)}"
        )
    dtype = np.asarray(data_of(x)).dtype
    if isinstance(value, Tensor):
        if value.ndim:
            raise ShapeError(f"masked_fill: value must be 0-d, got shape {value.shape}")
        value = value if value.dtype == dtype else astype(value, dtype)
    else:
        value = np.asarray(value).astype(dtype)  # in input's dtype, as PyTorch
    return where(mask, value, x)


@composite(
    Spec(
        [Case(((3, 4),), {"min": -0.5}), Case(((),), {"min": 0.3})],
        ref=lambda np, x, min: np.clip(x, min, None),
    )
)
def clamp_min(input, min):
    """``input`` limited from below by ``min``, as ``torch.clamp_min`` (``clip(input, min)``)."""
    return clip(input, min, None)


@composite(
    Spec(
        [Case(((3, 4),), {"max": 0.5}), Case(((),), {"max": -0.3})],
        ref=lambda np, x, max: np.clip(x, None, max),
    )
)
def clamp_max(input, max):
    """``input`` limited from above by ``max``, as ``torch.clamp_max``."""
    return clip(input, None, max)


# ----------------------------------------------------------------------- rearranging
@composite(
    Spec(
        [
            Case(((2, 3, 4),), {"dims": (2, 0, 1)}),
            Case(((3, 4),), {"dims": (-1, 0)}),
            Case(((),), {"dims": ()}),
        ],
        # Non-negative axes: autograd's transpose rule takes negative ones wrongly.
        ref=lambda np, x, dims: np.transpose(x, [d % x.ndim for d in dims]) if dims else x,
    )
)
def permute(input, dims):
    """``input`` with its dims in the order ``dims`` (one entry per dim), as
    ``torch.permute`` (NumPy's ``transpose`` with ``axes``)."""
    return transpose(input, tuple(dims))


@composite(Spec([Case(((3, 4),)), Case(((3,),)), Case(((),))], ref=lambda np, x: np.transpose(x)))
def t(input):
    """The transpose of a matrix, as ``torch.t``: 0-d and 1-d inputs come back as they are,
    more than 2 dims raise ShapeError."""
    shape = _shape(input)
    if len(shape) > 2:
        raise ShapeError(f"t: expects a tensor of at most 2 dims, got shape {shape}")
    return transpose(input) if len(shape) == 2 else input


@composite(
    Spec(
        [
            Case(((4, 3),), {"dim": 0, "sizes": (2, 2)}),
            Case(((2, 6),), {"dim": -1, "sizes": (3, -1, 1)}),
            Case(((0, 4),), {"dim": 1, "sizes": (2, 2)}),
        ],
        ref=lambda np, x, dim, sizes: np.reshape(
            x,
            x.shape[: dim % x.ndim]
            + tuple(n if n != -1 else x.shape[dim] // -math.prod(sizes) for n in sizes)
            + x.shape[dim % x.ndim + 1 :],
        ),
    )
)
def unflatten(input, dim, sizes):
    """``input`` with ``dim`` split into dims of ``sizes`` (one may be -1), as
    ``torch.unflatten``.

    >>> import chainrule as cr
    >>> cr.unflatten(cr.zeros(4, 6), 1, (2, -1)).shape
    (4, 2, 3)
    """
    shape = _shape(input)
    axis = one_axis(dim, len(shape), "unflatten", "dim")
    sizes = tuple(int(n) for n in sizes)
    known = math.prod(n for n in sizes if n != -1)
    if sizes.count(-1) == 1 and known and shape[axis] % known == 0:
        sizes = tuple(shape[axis] // known if n == -1 else n for n in sizes)
    if math.prod(sizes) != shape[axis] or any(n < 0 for n in sizes):
        raise ShapeError(
            f"unflatten: sizes {sizes} do not make the length {shape[axis]} of "
            f"dim {axis} (shape {shape})"
        )
    return reshape(input, shape[:axis] + sizes + shape[axis + 1 :])


@composite(
    Spec(
        [
            Case(((3, 1, 4),), {"dim": 1}),
            Case(((3, 1, 4),), {"dim": 0}),
            Case(((1, 3, 1),), {"dim": (0, -1)}),
            Case(((1, 3, 1),)),
            Case(((),), {"dim": 0}),
        ],
        ref=lambda np, x, dim=None: np.squeeze(
            x,
            dim
            if dim is None
            else tuple(d for d in np.atleast_1d(dim) if x.ndim and x.shape[d] == 1),
        ),
    )
)
def torch_squeeze(input, dim=None, **aliases):
    """``input`` without its dims of length 1 (all of them, or those among ``dim``), as
    ``torch.squeeze`` (``Tensor.squeeze``): a named dim of another length stays, where
    ``cr.squeeze`` (NumPy's) raises. NumPy's ``axis`` is accepted for ``dim``."""
    dim = _dim(dim, aliases, "squeeze")
    shape = _shape(input)
    if dim is None:
        return squeeze(input)
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    dims = tuple(one_axis(d, max(len(shape), 1), "squeeze", "dim") for d in dims)
    dims = tuple(d for d in dims if shape and shape[d] == 1)
    return squeeze(input, dims) if dims else input


movedim = moveaxis  # PyTorch's name for NumPy's moveaxis
swapdims = swapaxes  # PyTorch's name for NumPy's swapaxes


def _unfold_ref(np_, x, dimension, size, step):
    axis = dimension % np.ndim(x)
    n = np.shape(x)[axis]
    index = np.arange((n - size) // step + 1)[:, None] * step + np.arange(size)
    return np_.moveaxis(x[_along(axis, index)], axis + 1, -1)


@composite(
    Spec(
        [
            Case(((8,),), {"dimension": 0, "size": 2, "step": 1}),
            Case(((3, 7, 2),), {"dimension": 1, "size": 3, "step": 2}),
            Case(((3, 3, 3),), {"dimension": -1, "size": 3, "step": 1}),
            Case(((3, 4),), {"dimension": 0, "size": 0, "step": 8}),
        ],
        ref=_unfold_ref,
    )
)
def torch_unfold(input, dimension, size, step):
    """The windows of ``size`` elements along ``dimension``, one every ``step``, as
    ``Tensor.unfold``: ``dimension`` becomes the window count and the windows' elements a
    new last dim. A gather, so overlapping windows add their gradients up.

    >>> import chainrule as cr
    >>> from chainrule.ops.pytorch import torch_unfold
    >>> torch_unfold(cr.arange(5.0), 0, 2, 2).tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    x = operand(input)
    shape = _shape(x)
    axis = one_axis(dimension, max(len(shape), 1), "unfold", "dimension")
    if not shape:  # one element, whose window is a 1-d tensor (as PyTorch)
        return reshape(torch_unfold(reshape(x, (1,)), 0, size, step), (size,))
    n = shape[axis]
    if not 0 <= size <= n:
        raise ShapeError(f"unfold: window size {size} for dimension {axis} of length {n}")
    if step <= 0:
        raise ShapeError(f"unfold: step must be positive, got {step}")
    index = np.arange((n - size) // step + 1)[:, None] * step + np.arange(size)
    windows = getitem(x, _along(axis, index))
    order = [*range(axis + 1), *range(axis + 2, len(shape) + 1), axis + 1]
    return transpose(windows, order)


# ----------------------------------------------------------------------- products
def _ranks(op, *pairs):
    for name, x, ndim in pairs:
        if len(_shape(x)) != ndim:
            raise ShapeError(f"{op}: {name} must have {ndim} dims, got shape {_shape(x)}")


@composite(
    Spec([Case(((3, 4), (4, 2))), Case(((0, 3), (3, 2)))], ref=lambda np, a, b: np.matmul(a, b))
)
def mm(input, mat2):
    """The product of two matrices, as ``torch.mm`` (no broadcasting, no vectors)."""
    _ranks("mm", ("input", input, 2), ("mat2", mat2, 2))
    return matmul(input, mat2)


@composite(
    Spec(
        [Case(((2, 3, 4), (2, 4, 5))), Case(((0, 3, 4), (0, 4, 2)))],
        ref=lambda np, a, b: np.matmul(a, b),
    )
)
def bmm(input, mat2):
    """Batched matrix products of two 3-d tensors with the same batch, as ``torch.bmm``."""
    _ranks("bmm", ("input", input, 3), ("mat2", mat2, 3))
    if _shape(input)[0] != _shape(mat2)[0]:
        raise ShapeError(f"bmm: batch sizes differ: shapes {_shape(input)} and {_shape(mat2)}")
    return matmul(input, mat2)


@composite(Spec([Case(((3, 4), (4,))), Case(((0, 2), (2,)))], ref=lambda np, a, b: np.dot(a, b)))
def mv(input, vec):
    """The product of a matrix and a vector, as ``torch.mv``."""
    _ranks("mv", ("input", input, 2), ("vec", vec, 1))
    return matmul(input, vec)


# ----------------------------------------------------------------------- statistics
def _pair_spec(name):
    def ref(np_, x, dim=None, correction=1, keepdim=False):
        axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
        return np_.concatenate(
            [
                np_.ravel(getattr(np_, name)(x, axis=axis, ddof=correction, keepdims=keepdim)),
                np_.ravel(np_.mean(x, axis=axis, keepdims=keepdim)),
            ]
        )

    return Spec(
        [
            Case(((3, 4),)),
            Case(((3, 4),), {"dim": 1, "correction": 0}),
            Case(((2, 3, 4),), {"dim": (0, 2), "keepdim": True}),
            Case(((5,),), {"correction": 2}),
        ],
        call=_flat_call,
        ref=ref,
    )


@composite(_pair_spec("std"))
def std_mean(input, dim=None, *, correction=None, keepdim=False, **aliases):
    """``(std, mean)`` over ``dim``, as ``torch.std_mean``: the standard deviation with
    ``correction=1`` (Bessel's) by default, unlike ``cr.std``'s NumPy default of 0.

    >>> import chainrule as cr
    >>> cr.std_mean(cr.tensor([1.0, 2.0, 3.0]))
    (tensor(1.), tensor(2.))
    """
    axis, keepdims, ddof = torch_spread_options(dim, keepdim, correction, aliases, "std_mean")
    return (_reduce.std(input, axis, keepdims, ddof), _reduce.mean(input, axis, keepdims))


@composite(_pair_spec("var"))
def var_mean(input, dim=None, *, correction=None, keepdim=False, **aliases):
    """``(var, mean)`` over ``dim``, as ``torch.var_mean`` (``correction=1`` by default)."""
    axis, keepdims, ddof = torch_spread_options(dim, keepdim, correction, aliases, "var_mean")
    return (_reduce.var(input, axis, keepdims, ddof), _reduce.mean(input, axis, keepdims))


# ----------------------------------------------------------------------- comparisons
eq, ne = _logic.equal, _logic.not_equal
lt, le, gt, ge = _logic.less, _logic.less_equal, _logic.greater, _logic.greater_equal
