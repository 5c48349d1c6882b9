"""Matrix structure: triangles (tril, triu), diagonals (diagonal, diag) and the trace.

Each gradient puts the upstream gradient back where the forward took its values from:
inside the triangle, on the diagonal (d tr(X) = tr(dX), so d tr(X) / dX = I).
The names are re-exported by ``ops.linalg``.
"""

import numpy as np

from ..errors import ShapeError
from .elementwise import astype, where
from .reduce import _is_int, one_axis
from .registry import Case, Spec, composite, data_of, defop
from .shape import _index_add, expand_dims, getitem, transpose

__all__ = ["diag", "diagonal", "trace", "tril", "triu"]


def _shape(x):
    return np.shape(data_of(x))


def _offset(value, aliases, alias, op, name):
    """An int offset, PyTorch's name for it (``diagonal=``) accepted as an alias."""
    if alias in aliases:
        value = aliases.pop(alias)
    if aliases:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(aliases)}")
    if not _is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    return int(value)


def _diagonal_indices(rows, cols, offset):
    """Row and column indices of the ``offset``-th diagonal of a rows x cols matrix."""
    first_row, first_col = max(-offset, 0), max(offset, 0)
    length = max(min(rows - first_row, cols - first_col), 0)
    return np.arange(first_row, first_row + length), np.arange(first_col, first_col + length)


def _diagonal_ref(np, x, offset=0, axis1=0, axis2=1):
    """The diagonal by masking and summing (no indexing): an independent reference."""
    x = np.moveaxis(x, (axis1, axis2), (-2, -1))
    rows, cols = x.shape[-2:]
    length = len(_diagonal_indices(rows, cols, offset)[0])
    masked = x * np.eye(rows, cols, k=offset)
    # Row t of the mask holds (t, t + offset) when offset >= 0, column t holds (t - offset, t).
    return np.sum(masked, axis=-1 if offset >= 0 else -2)[..., :length]


# ----------------------------------------------------------------------- triangles
def _triangle(m, k, lower, op):
    shape = _shape(m)
    if not shape:
        raise ShapeError(f"{op}: expected an array of at least 1 dimension, got shape ()")
    # As NumPy: the mask covers the last two axes (a 1-D input is broadcast to a square).
    rows = shape[-2] if len(shape) > 1 else shape[-1]
    mask = np.tri(rows, shape[-1], k=k if lower else k - 1, dtype=bool)
    zero = np.zeros((), np.asarray(data_of(m)).dtype)  # keeps bool and int dtypes, as PyTorch
    return where(mask, m, zero) if lower else where(mask, zero, m)


def _triangle_ref(function):
    def ref(np, m, k):
        if m.ndim == 1:  # broadcast to the square NumPy's mask gives it
            m = m * np.ones((m.shape[0], 1))
        return function(np)(m, k)

    return ref


_TRIANGLE_CASES = [
    Case(((4, 4),), {"k": 0}),
    Case(((3, 5),), {"k": 1}),
    Case(((5, 3),), {"k": -2}),
    Case(((2, 3, 4),), {"k": -1}),
    Case(((3, 3),), {"k": 7}),
    Case(((3, 3),), {"k": -7}),
    Case(((4,),), {"k": 1}),
    Case(((0, 3),), {"k": 0}),
]


@composite(Spec(_TRIANGLE_CASES, ref=_triangle_ref(lambda np: np.tril)))
def tril(m, k=0, **aliases):
    """Lower triangle: m with the elements above the ``k``-th diagonal zeroed, as ``np.tril``.

    Batched over leading axes; PyTorch's ``diagonal=`` is accepted for ``k``. The gradient
    is the upstream gradient inside the triangle, 0 outside.

    >>> import chainrule as cr
    >>> cr.tril(cr.tensor([[1.0, 2.0], [3.0, 4.0]])).numpy()
    array([[1., 0.],
           [3., 4.]], dtype=float32)
    """
    return _triangle(m, _offset(k, aliases, "diagonal", "tril", "k"), True, "tril")


@composite(Spec(_TRIANGLE_CASES, ref=_triangle_ref(lambda np: np.triu)))
def triu(m, k=0, **aliases):
    """Upper triangle: m with the elements below the ``k``-th diagonal zeroed, as ``np.triu``.

    >>> import chainrule as cr
    >>> cr.triu(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1).numpy()
    array([[0., 2.],
           [0., 0.]], dtype=float32)
    """
    return _triangle(m, _offset(k, aliases, "diagonal", "triu", "k"), False, "triu")


# ----------------------------------------------------------------------- diagonals
def _two_axes(shape, axis1, axis2, op):
    if len(shape) < 2:
        raise ShapeError(f"{op}: expected an array of at least 2 dimensions, got shape {shape}")
    first = one_axis(axis1, len(shape), op, "axis1")
    second = one_axis(axis2, len(shape), op, "axis2")
    if first == second:
        raise ShapeError(f"{op}: axis1 and axis2 cannot be the same axis ({first}) (shape {shape})")
    return first, second


@composite(
    Spec(
        [
            Case(((3, 4),), {"offset": 0}),
            Case(((3, 4),), {"offset": 2}),
            Case(((4, 3),), {"offset": -1}),
            Case(((3, 3),), {"offset": 5}),
            Case(((2, 3, 4),), {"offset": 1, "axis1": 2, "axis2": 0}),
            Case(((2, 3, 4),), {"offset": -1, "axis1": -1, "axis2": 1}),
            Case(((0, 3),), {"offset": 0}),
        ],
        ref=_diagonal_ref,
    )
)
def diagonal(a, offset=0, axis1=0, axis2=1, **aliases):
    """The ``offset``-th diagonal of the matrices in axes ``axis1``, ``axis2``, as
    ``np.diagonal``: those two axes go, the diagonal becomes the last axis.

    PyTorch's ``dim1``/``dim2`` are accepted for ``axis1``/``axis2``. The result is a copy
    (NumPy's is a read-only view); the gradient puts the upstream gradient on the diagonal.

    >>> import chainrule as cr
    >>> cr.diagonal(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1).numpy()
    array([2.], dtype=float32)
    """
    axis1 = aliases.pop("dim1", axis1)
    axis2 = aliases.pop("dim2", axis2)
    offset = _offset(offset, aliases, "offset", "diagonal", "offset")
    shape = _shape(a)
    axis1, axis2 = _two_axes(shape, axis1, axis2, "diagonal")
    rest = [i for i in range(len(shape)) if i not in (axis1, axis2)]
    rows, cols = _diagonal_indices(shape[axis1], shape[axis2], offset)
    return getitem(transpose(a, rest + [axis1, axis2]), (Ellipsis, rows, cols))


def _diag_ref(np, v, k):
    return np.diag(v, k) if v.ndim == 1 else _diagonal_ref(np, v, k)


@composite(
    Spec(
        [
            Case(((3,),), {"k": 0}),
            Case(((3,),), {"k": 2}),
            Case(((3,),), {"k": -1}),
            Case(((0,),), {"k": 1}),
            Case(((3, 4),), {"k": 0}),
            Case(((3, 4),), {"k": 1}),
            Case(((4, 3),), {"k": -2}),
        ],
        ref=_diag_ref,
    )
)
def diag(v, k=0, **aliases):
    """A 1-D v as the ``k``-th diagonal of a square matrix; a 2-D v's ``k``-th diagonal,
    as ``np.diag`` (PyTorch's ``diagonal=`` accepted for ``k``).

    >>> import chainrule as cr
    >>> cr.diag(cr.tensor([1.0, 2.0])).numpy()
    array([[1., 0.],
           [0., 2.]], dtype=float32)
    """
    k = _offset(k, aliases, "diagonal", "diag", "k")
    shape = _shape(v)
    if len(shape) == 2:
        return diagonal(v, k)
    if len(shape) != 1:
        raise ShapeError(f"diag: input must be 1-D or 2-D, got shape {shape}")
    size = shape[0] + abs(k)
    # Zeros with v added on the diagonal: index_add's gradient reads the diagonal back.
    return _index_add(v, index=_diagonal_indices(size, size, k), shape=(size, size))


# ----------------------------------------------------------------------- trace
def _trace_vjp(g, out, x, offset, axis1, axis2):
    xd = data_of(x)
    identity = np.eye(xd.shape[axis1], xd.shape[axis2], k=offset, dtype=xd.dtype)
    first, second = sorted((axis1, axis2))
    if axis1 > axis2:
        identity = identity.T
    shape = [1] * xd.ndim
    shape[first], shape[second] = identity.shape
    # g has x's other axes: it broadcasts against the identity over axis1 and axis2.
    return expand_dims(expand_dims(g, first), second) * identity.reshape(shape)


@defop(
    _trace_vjp,
    name="trace",
    kernel=np.trace,
    spec=Spec(
        [
            Case(((3, 3),), {"offset": 0, "axis1": 0, "axis2": 1}),
            Case(((2, 4),), {"offset": 1, "axis1": 0, "axis2": 1}),
            Case(((4, 2),), {"offset": -1, "axis1": 0, "axis2": 1}),
            Case(((3, 3),), {"offset": 4, "axis1": 0, "axis2": 1}),
            Case(((2, 3, 4),), {"offset": 1, "axis1": 2, "axis2": 0}),
            Case(((3, 2, 3),), {"offset": 0, "axis1": 0, "axis2": 2}),
            Case(((0, 0),), {"offset": 0, "axis1": 0, "axis2": 1}),
        ],
        ref=lambda np, x, offset, axis1, axis2: np.sum(
            _diagonal_ref(np, x, offset, axis1, axis2), axis=-1
        ),
    ),
)
def _trace(x, offset, axis1, axis2):
    """Sum along a diagonal: d tr(X) / dX = I (the identity shifted by ``offset``)."""


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    """Sum along the ``offset``-th diagonal of the matrices in axes ``axis1``, ``axis2``, as
    ``np.trace``; the result is in ``dtype`` when given.

    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> cr.trace(x).backward(); x.grad.numpy()
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    """
    offset = _offset(offset, {}, "offset", "trace", "offset")
    axis1, axis2 = _two_axes(_shape(a), axis1, axis2, "trace")
    out = _trace(a, offset=offset, axis1=axis1, axis2=axis2)
    return out if dtype is None else astype(out, dtype)
