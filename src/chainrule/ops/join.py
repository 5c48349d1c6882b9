"""Joining and splitting arrays, NumPy's stacking family, and ``array`` from Tensors.

Everything here is composed of reshape, concatenate and slicing (``ops.shape``): joining
hands each input its slice of the gradient, splitting sends each piece's gradient back to
its place.
"""

import itertools
import numbers

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .arrange import clone, operand, ravel, transpose
from .elementwise import astype
from .reduce import one_axis
from .registry import Case, Spec, composite, data_of
from .shape import concatenate, reshape, split, stack

__all__ = [
    "append",
    "array",
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "c_",
    "column_stack",
    "dsplit",
    "dstack",
    "hsplit",
    "hstack",
    "r_",
    "row_stack",
    "vsplit",
    "vstack",
]


def _listed(f, *xs, **params):
    """How the suite calls a function that takes a sequence of arrays."""
    return f(list(xs), **params)


def _flat(pieces):
    """Several outputs as one vector (how the suite checks functions returning a list)."""
    if isinstance(pieces, (Tensor, np.ndarray)):
        return pieces
    return concatenate([ravel(p) for p in pieces])


def _flat_ref(np_, pieces):
    if not isinstance(pieces, (list, tuple)):
        return pieces
    return np_.concatenate([np_.ravel(p) for p in pieces])


# ----------------------------------------------------------------------- at least n-d
def _at_least(x, ndim, where):
    """x with length-1 axes added at ``where(shape)`` until it has ``ndim`` axes."""
    x = operand(x)
    return x if x.ndim >= ndim else reshape(x, where(x.shape))


def _one_or_all(arrays):
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


_ATLEAST_CASES = [
    Case(((),)),
    Case(((3,),)),
    Case(((2, 3),)),
    Case(((2, 3, 4),)),
    Case(((0,),)),
    Case(((), (3,), (2, 3))),
]


def _at_least_spec(function):
    # NumPy's function on an empty stand-in gives the shape; autograd's rule takes one input.
    return Spec(
        _ATLEAST_CASES,
        call=lambda f, *xs: _flat(f(*xs)),
        ref=lambda np_, *xs: _flat_ref(
            np_, _one_or_all([np_.reshape(x, function(np.empty(np.shape(x))).shape) for x in xs])
        ),
    )


@composite(_at_least_spec(np.atleast_1d))
def atleast_1d(*arys):
    """Each input with at least one axis (a 0-d one becomes shape ``(1,)``), as
    ``np.atleast_1d``: one array for one input, a tuple of them for several.

    >>> import chainrule as cr
    >>> cr.atleast_1d(cr.tensor(1.0)).shape
    (1,)
    """
    return _one_or_all([_at_least(x, 1, lambda shape: (1,)) for x in arys])


@composite(_at_least_spec(np.atleast_2d))
def atleast_2d(*arys):
    """Each input with at least two axes (``(n,)`` becomes ``(1, n)``), as
    ``np.atleast_2d``: one array for one input, a tuple of them for several."""
    return _one_or_all(
        [_at_least(x, 2, lambda shape: (1,) * (2 - len(shape)) + shape) for x in arys]
    )


def _three_axes(shape):
    # NumPy's choice: (n,) -> (1, n, 1) and (m, n) -> (m, n, 1).
    return {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)]


@composite(_at_least_spec(np.atleast_3d))
def atleast_3d(*arys):
    """Each input with at least three axes (``(n,)`` becomes ``(1, n, 1)``, ``(m, n)``
    becomes ``(m, n, 1)``), as ``np.atleast_3d``: one array for one input, a tuple of them
    for several."""
    return _one_or_all([_at_least(x, 3, _three_axes) for x in arys])


# ----------------------------------------------------------------------- stacking
def _arrays(tup, op):
    arrays = list(tup)
    if not arrays:
        raise ValueError(f"{op}: need at least one array to concatenate")
    return arrays


def _cast(arrays, dtype, casting, op):
    """The inputs converted to ``dtype`` when one is given (NumPy's ``dtype=``/``casting=``)."""
    if dtype is None:
        return arrays
    dtype = np.dtype(dtype)
    for x in arrays:
        if not np.can_cast(x.dtype, dtype, casting):
            raise TypeError(
                f"{op}: cannot cast array data from {x.dtype} to {dtype} "
                f"according to the rule {casting!r}"
            )
    return [x if x.dtype == dtype else astype(x, dtype) for x in arrays]


def _join(tup, axis, dtype, casting, op, at_least):
    """hstack's and vstack's join: along ``axis``, or 0 where the inputs are 1-d."""
    arrays = [at_least(x) for x in _arrays(tup, op)]
    axis = axis if arrays[0].ndim > 1 else 0
    return concatenate(_cast(arrays, dtype, casting, op), axis)


def _stack_ref(function):
    return lambda np_, *xs: function(np_)(list(xs))


@composite(
    Spec(
        [
            Case(((2, 3), (2, 1), (2, 0))),
            Case(((3,), (2,))),
            Case(((), (2,), ())),
            Case(((2, 3, 2), (2, 1, 2))),
            Case(((0, 2), (0, 1))),
        ],
        call=_listed,
        ref=_stack_ref(lambda np_: np_.hstack),
    )
)
def hstack(tup, *, dtype=None, casting="same_kind"):
    """Join arrays column-wise (along axis 1, or 0 for 1-d arrays), as ``np.hstack``.

    >>> import chainrule as cr
    >>> cr.hstack([cr.tensor([1.0]), cr.tensor([2.0, 3.0])]).tolist()
    [1.0, 2.0, 3.0]
    """
    return _join(tup, 1, dtype, casting, "hstack", atleast_1d)


@composite(
    Spec(
        [
            Case(((2, 3), (1, 3))),
            Case(((3,), (3,))),
            Case(((), ())),
            Case(((2, 3, 2), (1, 3, 2))),
            Case(((0, 3), (3,))),
        ],
        call=_listed,
        ref=_stack_ref(lambda np_: np_.vstack),
    )
)
def vstack(tup, *, dtype=None, casting="same_kind"):
    """Join arrays row-wise (along axis 0, 1-d arrays as rows), as ``np.vstack``.

    >>> import chainrule as cr
    >>> cr.vstack([cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    return _join(tup, 0, dtype, casting, "vstack", atleast_2d)


@composite(
    Spec(
        [Case(((2, 3), (1, 3))), Case(((3,), (3,)))],
        call=_listed,
        ref=_stack_ref(lambda np_: np_.vstack),
    )
)
def row_stack(tup, *, dtype=None, casting="same_kind"):
    """``vstack`` under its older name (NumPy deprecates it)."""
    return vstack(tup, dtype=dtype, casting=casting)


def _column_ref(np_, *xs):
    columns = [np_.reshape(x, (-1, 1)) if np.ndim(x) < 2 else x for x in xs]
    return np_.concatenate(columns, axis=1)


def _as_column(x):
    x = operand(x)
    return reshape(x, (-1, 1)) if x.ndim < 2 else x


@composite(
    Spec(
        [
            Case(((3,), (3, 2), (3,))),
            Case(((), ())),
            Case(((2, 3, 2), (2, 1, 2))),
            Case(((0,), (0, 2))),
        ],
        call=_listed,
        ref=_column_ref,
    )
)
def column_stack(tup):
    """Join 1-d arrays as the columns of a 2-d array (others along axis 1), as
    ``np.column_stack``.

    >>> import chainrule as cr
    >>> cr.column_stack([cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])]).tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    return concatenate([_as_column(x) for x in _arrays(tup, "column_stack")], 1)


@composite(
    Spec(
        [
            Case(((2, 3), (2, 3))),
            Case(((3,), (3,))),
            Case(((), ())),
            Case(((2, 3, 1), (2, 3, 2))),
            Case(((0, 2), (0, 2))),
        ],
        call=_listed,
        ref=lambda np_, *xs: np_.concatenate([np_.atleast_3d(x) for x in xs], axis=2),
    )
)
def dstack(tup):
    """Join arrays depth-wise (along axis 2, after ``atleast_3d``), as ``np.dstack``.

    >>> import chainrule as cr
    >>> cr.dstack([cr.zeros(2, 3), cr.ones(2, 3)]).shape
    (2, 3, 2)
    """
    return concatenate([atleast_3d(x) for x in _arrays(tup, "dstack")], 2)


def _append_ref(np_, arr, values, axis):
    if axis is None:
        arr, values, axis = np_.ravel(arr), np_.ravel(values), 0
    return np_.concatenate([arr, values], axis=axis)


@composite(
    Spec(
        [
            Case(((2, 3), (4,)), {"axis": None}),
            Case(((), ()), {"axis": None}),
            Case(((3, 4), (2, 4)), {"axis": 0}),
            Case(((2, 3), (2, 1)), {"axis": -1}),
            Case(((0, 3), (2, 3)), {"axis": 0}),
        ],
        ref=_append_ref,
    )
)
def append(arr, values, axis=None):
    """``values`` appended to ``arr`` along ``axis``, as ``np.append``: with ``axis=None``
    both are flattened first; otherwise the shapes must match off ``axis``.

    >>> import chainrule as cr
    >>> cr.append(cr.tensor([[1.0, 2.0]]), [3.0]).tolist()
    [1.0, 2.0, 3.0]
    """
    arr, values = operand(arr), operand(values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], 0)
    axis = one_axis(axis, arr.ndim, "append")
    if values.ndim != arr.ndim:
        raise ShapeError(
            f"append: values of shape {values.shape} have {values.ndim} "
            f"dimensions, arr of shape {arr.shape} has {arr.ndim}"
        )
    return concatenate([arr, values], axis)


# ----------------------------------------------------------------------- splitting
def _bounds(length, indices_or_sections, op, equal):
    """Where the pieces start (after the first): the indices given, or the starts of
    ``sections`` pieces as even as can be (the first ``length % sections`` one longer)."""
    indices = data_of(indices_or_sections)
    if np.ndim(indices) != 0:
        return [int(i) for i in indices]
    sections = int(indices)
    if sections <= 0:
        raise ValueError(f"{op}: number sections must be larger than 0, got {sections}")
    if equal and length % sections:
        raise ShapeError(
            f"{op}: array split does not result in an equal division: an axis "
            f"of length {length} into {sections} sections"
        )
    each, extra = divmod(length, sections)
    sizes = [each + 1] * extra + [each] * (sections - extra)
    return list(itertools.accumulate(sizes))[:-1]


def _split(ary, indices_or_sections, axis, op, equal=True):
    ary = operand(ary)
    axis = one_axis(axis, ary.ndim, op)
    bounds = _bounds(ary.shape[axis], indices_or_sections, op, equal)
    return split(ary, bounds, axis)


def _split_spec(cases, split_with, axis=None):
    """Cases of a function returning a list of pieces: the suite checks them joined.

    The reference gathers each piece by the indices that NumPy's ``split_with`` makes of
    ``arange(length)`` (autograd's split rules do not take their list outputs back).
    """

    def ref(np_, x, indices_or_sections, **params):
        along = (params["axis"] if axis is None else axis(np.ndim(x))) % np.ndim(x)
        ranges = split_with(np.arange(np.shape(x)[along]), indices_or_sections)
        lead = (slice(None),) * along
        return np_.concatenate([np_.ravel(x[lead + (r,)]) for r in ranges])

    return Spec(cases, call=lambda f, x, **params: _flat(f(x, **params)), ref=ref)


@composite(
    _split_spec(
        [
            Case(((7,),), {"indices_or_sections": 3, "axis": 0}),
            Case(((4, 6),), {"indices_or_sections": [1, 3], "axis": 1}),
            Case(((5, 3),), {"indices_or_sections": [3, 1, -1], "axis": 0}),
            Case(((2, 3),), {"indices_or_sections": 5, "axis": -1}),
            Case(((2, 3),), {"indices_or_sections": [], "axis": 0}),
            Case(((0, 3),), {"indices_or_sections": 2, "axis": 0}),
        ],
        np.array_split,
    )
)
def array_split(ary, indices_or_sections, axis=0):
    """Split into pieces along ``axis``, as ``np.array_split``: ``n`` sections as even as
    can be (the first ones one longer), or at the given indices. Returns a list.

    >>> import chainrule as cr
    >>> [p.tolist() for p in cr.array_split(cr.tensor([1.0, 2.0, 3.0]), 2)]
    [[1.0, 2.0], [3.0]]
    """
    return _split(ary, indices_or_sections, axis, "array_split", equal=False)


def _needs(ary, ndim, op):
    ary = operand(ary)
    if ary.ndim < ndim:
        raise ValueError(
            f"{op} only works on arrays of {ndim} or more dimensions, got shape {ary.shape}"
        )
    return ary


@composite(
    _split_spec(
        [
            Case(((4, 6),), {"indices_or_sections": 3}),
            Case(((6,),), {"indices_or_sections": [2, 5]}),
            Case(((2, 4, 3),), {"indices_or_sections": [1]}),
            Case(((0, 2),), {"indices_or_sections": 2}),
        ],
        np.split,
        axis=lambda ndim: 1 if ndim > 1 else 0,
    )
)
def hsplit(ary, indices_or_sections):
    """Split column-wise (along axis 1, or 0 for 1-d arrays) into equal sections or at
    indices, as ``np.hsplit``. Returns a list."""
    ary = _needs(ary, 1, "hsplit")
    return _split(ary, indices_or_sections, 1 if ary.ndim > 1 else 0, "hsplit")


@composite(
    _split_spec(
        [
            Case(((4, 3),), {"indices_or_sections": 2}),
            Case(((4, 3, 2),), {"indices_or_sections": [1, 3]}),
            Case(((0, 2),), {"indices_or_sections": 3}),
        ],
        np.split,
        axis=lambda ndim: 0,
    )
)
def vsplit(ary, indices_or_sections):
    """Split row-wise (along axis 0) into equal sections or at indices, as ``np.vsplit``;
    needs 2 or more axes. Returns a list."""
    return _split(_needs(ary, 2, "vsplit"), indices_or_sections, 0, "vsplit")


@composite(
    _split_spec(
        [
            Case(((2, 3, 4),), {"indices_or_sections": 2}),
            Case(((2, 3, 4),), {"indices_or_sections": [1, 3]}),
            Case(((1, 2, 0),), {"indices_or_sections": 2}),
        ],
        np.split,
        axis=lambda ndim: 2,
    )
)
def dsplit(ary, indices_or_sections):
    """Split depth-wise (along axis 2) into equal sections or at indices, as ``np.dsplit``;
    needs 3 or more axes. Returns a list."""
    return _split(_needs(ary, 3, "dsplit"), indices_or_sections, 2, "dsplit")


# ----------------------------------------------------------------------- array
class _Slot:
    """Where the suite's input ``index`` goes in an ``array`` test layout."""

    def __init__(self, index):
        self.index = index

    def __repr__(self):
        return f"x{self.index}"


def _fill(layout, xs):
    if isinstance(layout, _Slot):
        return xs[layout.index]
    if isinstance(layout, (list, tuple)):
        return [_fill(item, xs) for item in layout]
    return layout


def _holds_tensor(obj):
    if isinstance(obj, Tensor):
        return True
    return isinstance(obj, (list, tuple)) and any(_holds_tensor(item) for item in obj)


def _leaves(obj):
    """The dtypes of the Tensors and arrays in ``obj``, and its Python numbers as they are
    (so that they take part in the result type weakly, as NumPy's scalars do)."""
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _leaves(item)
    elif isinstance(obj, (Tensor, np.ndarray, np.generic)):
        yield obj.dtype
    elif isinstance(obj, numbers.Number):
        # Python's number types take a value; the numbers.Number stub declares none.
        yield type(obj)(0)  # type: ignore[call-arg]
    else:
        yield np.asarray(obj).dtype


def _build(obj, dtype):
    """``obj`` as one array or Tensor of ``dtype``, stacking nested sequences."""
    if isinstance(obj, Tensor):
        return obj if obj.dtype == dtype else astype(obj, dtype)
    if not _holds_tensor(obj):
        try:
            return np.asarray(obj, dtype=dtype)
        except ValueError as exc:  # ragged nested lists of numbers
            raise ShapeError(f"array: {exc}") from None
    items = [_build(item, dtype) for item in obj]
    shapes = {item.shape for item in items}
    if len(shapes) > 1:
        raise ShapeError(f"array: a sequence of inhomogeneous shapes {sorted(shapes)}")
    return stack(items, 0)


_X0, _X1, _X2 = _Slot(0), _Slot(1), _Slot(2)


@composite(
    Spec(
        [
            Case(((3,), (3,)), {"layout": [_X0, _X1]}),
            Case(((), (), ()), {"layout": [[_X0, 2.0], (_X1, _X2)]}),
            Case(((2,), ()), {"layout": [[_X0, [1.0, -1.0]], [[3, _X1], _X0]]}),
            Case(((2, 3),), {"layout": (_X0,)}),
            Case(((0, 2),), {"layout": [_X0, _X0]}),
        ],
        call=lambda f, *xs, layout: f(_fill(layout, xs)),
        ref=lambda np_, *xs, layout: np_.array(_fill(layout, xs)),
    )
)
def array(obj, dtype=None):
    """An array from nested lists and tuples holding Tensors, as ``np.array`` but connected
    to those Tensors in the graph (numbers and arrays in it are constants).

    Without a Tensor inside it is ``np.array(obj, dtype)`` (an ndarray, as every function
    here gives for ndarrays). Python numbers take part in the result type weakly: with
    float32 Tensors, ``1.0`` stays float32.

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> y = cr.array([[x, 1.0], [0.0, x * x]])
    >>> y.sum().backward()
    >>> y.shape, x.grad.item()
    ((2, 2), 5.0)
    """
    if not _holds_tensor(obj):
        return np.array(data_of(obj), dtype=dtype)
    dtype = np.result_type(*_leaves(obj)) if dtype is None else np.dtype(dtype)
    if isinstance(obj, Tensor):
        return clone(obj) if obj.dtype == dtype else astype(obj, dtype)
    return _build(obj, dtype)


# ----------------------------------------------------------------------- r_ and c_
def _directive(text, axis, ndmin, trans1d, name):
    """NumPy's string directives: ``'axis'`` or ``'axis,ndmin[,trans1d]'``."""
    if text in ("r", "c"):
        raise ValueError(
            f"{name}: the directive {text!r} makes an np.matrix, which chainrule "
            f"does not have; join as arrays (cr.{name}[...]) and reshape instead"
        )
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{name}: unknown special directive {text!r}") from None
    if "," in text:
        if len(values) not in (2, 3):
            raise ValueError(f"{name}: unknown special directive {text!r}")
        axis, ndmin = values[:2]
        trans1d = values[2] if len(values) == 3 else trans1d
    else:
        axis = values[0]
    return axis, ndmin, trans1d


def _range(item, ndmin, trans1d):
    """A slice as NumPy's r_ reads it: arange(start, stop, step), or ``abs(step)`` points
    from start to stop when the step is an imaginary number."""
    start = 0 if item.start is None else item.start
    step = 1 if item.step is None else item.step
    if isinstance(step, (complex, np.complexfloating)):
        values = np.linspace(start, item.stop, num=int(abs(complex(step))))
    else:
        values = np.arange(start, item.stop, step)
    if ndmin > 1:
        values = np.array(values, ndmin=ndmin)
        if trans1d != -1:
            values = values.swapaxes(-1, trans1d)
    return values


def _raised(x, ndmin, trans1d):
    """x with length-1 axes in front up to ``ndmin`` (``np.array(x, ndmin=...)``), its own
    axes then moved to start at ``trans1d``, as NumPy's r_ and c_ do."""
    ndim = x.ndim
    if ndim >= ndmin:
        return x
    x = reshape(x, (1,) * (ndmin - ndim) + x.shape)
    if trans1d == -1:
        return x
    new = ndmin - ndim
    first = trans1d + new + 1 if trans1d < 0 else trans1d
    order = list(range(ndmin))
    return transpose(x, order[:first] + order[new:] + order[first:new])


class _Concatenator:
    """NumPy's ``r_``/``c_``: arrays, Tensors, numbers and slices joined along an axis.

    With a Tensor among the items the result is a Tensor in the graph (numbers, arrays and
    slices are constants); without one it is NumPy's own result. A first item such as
    ``'-1'`` or ``'0,2'`` gives the axis (and the minimum number of axes), as in NumPy;
    the matrix directives ``'r'`` and ``'c'`` are NumPy's alone.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> cr.r_[x, 0.0, x * 2]
    tensor([1., 2., 0., 2., 4.], grad_fn=<concatenate>)
    >>> cr.r_[x, 5:7].dtype  # slices are NumPy's int ranges: float32 and int64 give float64
    dtype('float64')
    >>> cr.c_[x, x].shape
    (2, 2)
    """

    def __init__(self, name, axis, ndmin, trans1d):
        self.name, self.axis, self.ndmin, self.trans1d = name, axis, ndmin, trans1d
        self.numpy = getattr(np, name)

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if not any(_holds_tensor(item) for item in items):
            return self.numpy[key]
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        pieces, kinds = [], []
        for k, item in enumerate(items):
            if isinstance(item, str):
                if k:
                    raise ValueError(f"{self.name}: special directives must be the first entry")
                axis, ndmin, trans1d = _directive(item, axis, ndmin, trans1d, self.name)
                continue
            if isinstance(item, slice):
                piece = _range(item, ndmin, trans1d)
            elif type(item) in np.ScalarType:
                piece = item  # a number: it takes part in the result type weakly
            else:
                piece = _raised(
                    array(item) if _holds_tensor(item) else operand(item), ndmin, trans1d
                )
            pieces.append(piece)
            kinds.append(piece if type(item) in np.ScalarType else piece.dtype)
        dtype = np.result_type(*kinds)
        pieces = [
            (p if p.dtype == dtype else astype(p, dtype))
            if isinstance(p, Tensor)
            else np.array(p, dtype=dtype, ndmin=ndmin)
            for p in pieces
        ]
        return concatenate(pieces, axis)

    def __len__(self):
        return 0  # as NumPy's

    def __repr__(self):
        return f"cr.{self.name}"


#: Joins along axis 0, as ``np.r_``: ``cr.r_[a, b, 0:3, 5.0]``.
r_ = _Concatenator("r_", axis=0, ndmin=1, trans1d=-1)
#: Joins columns (1-d items become columns), as ``np.c_``: ``cr.c_[a, b]``.
c_ = _Concatenator("c_", axis=-1, ndmin=2, trans1d=0)


def _key(layout, xs):
    return tuple(xs[item.index] if isinstance(item, _Slot) else item for item in layout)


_ID = 2.0**40  # input elements are numbered from here: above every constant in the cases


def _concatenator_ref(np_, name, xs, key):
    # Where NumPy's own r_/c_ puts each input element: run it on the elements' numbers,
    # then gather the elements at those places (the constants stay where they are).
    numbers, start = [], _ID
    for x in xs:
        numbers.append(start + np.arange(np.size(x), dtype=float).reshape(np.shape(x)))
        start += np.size(x)
    layout = getattr(np, name)[_key(key, numbers)]
    placed = layout >= _ID
    index = np.where(placed, layout - _ID, 0).astype(int)
    flat = np_.concatenate([np_.reshape(x, (-1,)) for x in xs])
    return np_.where(placed, flat[index], layout)


def _concatenator_spec(name, cases):
    return Spec(
        cases,
        call=lambda f, *xs, key: f(_key(key, xs)),
        ref=lambda np_, *xs, key: _concatenator_ref(np_, name, xs, key),
    )


@composite(
    _concatenator_spec(
        "r_",
        [
            Case(((3, 2), (3, 2)), {"key": (_X0, _X1)}),
            Case(((3,),), {"key": (_X0, 2.5, _X0)}),
            Case(((3,), (3,)), {"key": ("0,2", _X0, _X1)}),
            Case(((3,), (3,)), {"key": ("0,2,0", _X0, _X1)}),
            Case(((2, 3), (2, 1)), {"key": ("-1", _X0, _X1, _X1)}),
            Case(((), ()), {"key": (_X0, _X1, 1.0)}),
            Case(((0, 2), (3, 2)), {"key": (_X0, _X1)}),
        ],
    ),
    name="r_",
)
def _r_items(key):
    return r_[key]


@composite(
    _concatenator_spec(
        "c_",
        [
            Case(((3,), (3, 2)), {"key": (_X0, _X1)}),
            Case(((2, 3), (2,)), {"key": (_X0, _X1, _X1)}),
            Case(((), ()), {"key": (_X0, _X1)}),
            Case(((0,), (0, 2)), {"key": (_X0, _X1)}),
        ],
    ),
    name="c_",
)
def _c_items(key):
    return c_[key]
