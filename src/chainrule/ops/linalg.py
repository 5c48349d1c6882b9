"""Products: matmul (dW = X^T dY, dX = dY W^T), dot, inner, outer, vdot, tensordot, kron,
cross and einsum; with the matrix structure of ``ops.matrix`` (tril, triu, diag, diagonal,
trace: d tr(X) = tr(dX)), whose names this module exports too.

The solvers of ``cr.linalg`` (inv, det, solve, ...) are in ``ops.solvers``.
"""

import math
import string

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import mul
from .matrix import diag, diagonal, trace, tril, triu
from .reduce import _is_int, one_axis
from .registry import Case, Spec, composite, data_of, defop
from .shape import broadcast_to, expand_dims, getitem, reshape, squeeze, stack, transpose

__all__ = [
    "cross",
    "diag",
    "diagonal",
    "dot",
    "einsum",
    "inner",
    "kron",
    "matmul",
    "outer",
    "tensordot",
    "trace",
    "tril",
    "triu",
    "vdot",
]


def _ndim(x):
    return np.ndim(data_of(x))


def _mT(x):
    """Swap the last two axes (the matrix transpose of a stack of matrices)."""
    return x.swapaxes(-1, -2)


def _well_conditioned(rng, shape):
    """Square matrices get a dominant diagonal; other operands (right-hand sides) do not."""
    values = rng.uniform(-1.0, 1.0, shape)
    if len(shape) >= 2 and shape[-1] == shape[-2]:
        values += shape[-1] * np.eye(shape[-1])
    return values


def _spd(rng, shape):
    m = rng.uniform(-1.0, 1.0, shape)
    return m @ _mT(m) + shape[-1] * np.eye(shape[-1])


# ----------------------------------------------------------------------- matmul
def stacked_matmul(a, b):
    """``np.matmul(a, b)``, a stack of matrices ``a`` (..., n, k) times one matrix ``b``
    (k, m) made as ONE product of the stacked rows: NumPy makes one per matrix of the
    stack, 1.6 ms against 1.0 ms for (32, 64, 128) @ (128, 384) on two threads."""
    if b.ndim == 2 and a.ndim > 2 and a.shape[-1] == b.shape[0]:
        return np.matmul(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[1:])
    return np.matmul(a, b)


def stacked_rows(x):
    """A stack of matrices (..., n, k) as one matrix of its rows (n * ..., k)."""
    return reshape(x, (-1, x.shape[-1]))


# Operands are arrays or Tensors here (matmul converts anything else), so .ndim is direct.
def _matmul_vjp_a(g, out, a, b):
    if b.ndim == 1:
        return expand_dims(g, -1) * b
    if a.ndim == 1:
        return squeeze(_matmul(expand_dims(g, -2), _mT(b)), -2)
    if b.ndim == 2 and g.ndim > 2:
        return _matmul(g, _mT(b))  # one product over the stack (stacked_matmul)
    return g @ b.swapaxes(-1, -2)  # dX = dY W^T (operator and method: no Python call between)


def _matmul_vjp_b(g, out, a, b):
    if a.ndim == 1:
        return g * a if b.ndim == 1 else expand_dims(a, -1) * expand_dims(g, -2)
    if b.ndim == 1:
        return squeeze(_matmul(_mT(a), expand_dims(g, -1)), -1)
    if b.ndim == 2 and a.ndim > 2:
        # One matrix used by the whole stack: its gradient is one product over all the
        # stacked rows, not a product per matrix summed afterwards.
        return _mT(stacked_rows(a)) @ stacked_rows(g)
    return a.swapaxes(-1, -2) @ g  # dW = X^T dY


@defop(
    _matmul_vjp_a,
    _matmul_vjp_b,
    name="matmul",
    kernel=stacked_matmul,
    spec=Spec(
        [
            Case(((3, 4), (4, 2))),
            Case(((4,), (4, 2))),
            Case(((3, 4), (4,))),
            Case(((4,), (4,))),
            Case(((2, 3, 4), (4, 5))),
            Case(((2, 1, 3, 4), (3, 4, 2))),
            Case(((0, 4), (4, 2))),
            Case(((2, 3, 4), (4,))),
        ],
        ref=lambda np, a, b: np.matmul(a, b),
    ),
)
def _matmul(a, b):
    """Matrix product with NumPy's rules for 1-D and stacked operands."""


def matmul(a, b):
    """Matrix product, as ``np.matmul``: 1-D, 2-D and batched (broadcast) operands.

    A 0-d operand is np.matmul's error, raised as a ShapeError with both shapes when an
    operand is a Tensor (as every op's errors are).
    """
    return _matmul(_as_operand(a), _as_operand(b))


def _as_operand(x):
    """Tensors and ndarrays as they are, anything else as an array (the rules read .ndim)."""
    return x if isinstance(x, (Tensor, np.ndarray)) else np.asarray(x)


# ----------------------------------------------------------------------- products
def _shape(x):
    return np.shape(data_of(x))


@composite(
    Spec(
        [Case(shapes) for shapes in [((3,), (4,)), ((2, 3), (4,)), ((), (3,)), ((0,), (2,))]],
        ref=lambda np, a, b: np.outer(np.ravel(a), np.ravel(b)),
    )
)
def outer(a, b):
    """Outer product of two vectors (inputs are flattened, as ``np.outer``)."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def _tensordot_axes(axes, shape_a, shape_b):
    """NumPy's ``axes`` (an int, or a pair of ints or of sequences) as two lists of axes."""
    if _is_int(axes):
        if not 0 <= axes <= min(len(shape_a), len(shape_b)):
            raise ShapeError(
                f"tensordot: cannot sum over the last {axes} axes of {shape_a} "
                f"and the first {axes} of {shape_b}"
            )
        return list(range(len(shape_a) - axes, len(shape_a))), list(range(axes))
    try:
        axes_a, axes_b = axes
    except (TypeError, ValueError):
        raise TypeError(
            f"tensordot: axes must be an int or a pair of sequences of ints, got {axes!r}"
        ) from None
    pair = []
    for chosen, shape in ((axes_a, shape_a), (axes_b, shape_b)):
        chosen = [chosen] if _is_int(chosen) else list(chosen)
        chosen = [one_axis(axis, len(shape), "tensordot", "axes") for axis in chosen]
        if len(set(chosen)) != len(chosen):
            raise ShapeError(f"tensordot: repeated axis in {axes!r}")
        pair.append(chosen)
    if len(pair[0]) != len(pair[1]):
        raise ShapeError(
            f"tensordot: {axes!r} sums over different numbers of axes of {shape_a} and {shape_b}"
        )
    return pair


_TENSORDOT_CASES = [
    Case(((2, 3, 4), (3, 4, 5)), {"axes": 2}),
    Case(((2, 3), (3, 4)), {"axes": 1}),
    Case(((2, 3), (4,)), {"axes": 0}),
    Case(((), (3,)), {"axes": 0}),
    Case(((2, 3, 4), (5, 4, 2)), {"axes": ((0, 2), (2, 1))}),
    Case(((2, 3), (3,)), {"axes": (-1, 0)}),
    Case(((0, 3), (3, 2)), {"axes": 1}),
    Case(((2, 0), (0, 3)), {"axes": ((1,), (0,))}),
]


@composite(Spec(_TENSORDOT_CASES, ref=lambda np, a, b, axes: np.tensordot(a, b, axes)))
def tensordot(a, b, axes=2, **aliases):
    """Sum of products over ``axes``, as ``np.tensordot``: an int N pairs a's last N axes
    with b's first N; a pair of sequences names them. PyTorch's ``dims=`` is accepted.

    The free axes of a, then those of b, make the result; it is one matrix product (BLAS)
    of the operands with their summed axes gathered, so its gradient is matmul's.

    >>> import chainrule as cr
    >>> cr.tensordot(cr.ones(2, 3), cr.ones(3, 4), axes=1).shape
    (2, 4)
    """
    axes = aliases.pop("dims", axes)
    if aliases:
        raise TypeError(f"tensordot() got unexpected keyword arguments {sorted(aliases)}")
    a, b = _as_operand(a), _as_operand(b)
    shape_a, shape_b = _shape(a), _shape(b)
    axes_a, axes_b = _tensordot_axes(axes, shape_a, shape_b)
    if [shape_a[i] for i in axes_a] != [shape_b[i] for i in axes_b]:
        raise ShapeError(
            f"tensordot: shape mismatch for the sum over axes {axes_a} of "
            f"{shape_a} and {axes_b} of {shape_b}"
        )
    free_a = [i for i in range(len(shape_a)) if i not in axes_a]
    free_b = [i for i in range(len(shape_b)) if i not in axes_b]
    summed = math.prod(shape_a[i] for i in axes_a)
    left = reshape(transpose(a, free_a + axes_a), (math.prod(shape_a[i] for i in free_a), summed))
    right = reshape(transpose(b, axes_b + free_b), (summed, math.prod(shape_b[i] for i in free_b)))
    return reshape(matmul(left, right), [shape_a[i] for i in free_a] + [shape_b[i] for i in free_b])


def _aligned(op, shape_a, shape_b, axis_b):
    if shape_a[-1] != shape_b[axis_b]:
        raise ShapeError(
            f"{op}: shapes {shape_a} and {shape_b} not aligned: {shape_a[-1]} "
            f"(last axis of a) != {shape_b[axis_b]} (axis {axis_b} of b)"
        )


@composite(
    Spec(
        [
            Case(((4,), (4,))),
            Case(((2, 3), (4, 3))),
            Case(((2, 1, 3), (3,))),
            Case(((), (2, 3))),
            Case(((0, 3), (2, 3))),
        ],
        ref=lambda np, a, b: np.inner(a, b),
    )
)
def inner(a, b):
    """Sum of products over the last axes, as ``np.inner`` (a 0-d operand multiplies);
    the result has a's other axes, then b's.

    >>> import chainrule as cr
    >>> cr.inner(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])).item()
    11.0
    """
    a, b = _as_operand(a), _as_operand(b)
    shape_a, shape_b = _shape(a), _shape(b)
    if not shape_a or not shape_b:
        return mul(a, b)
    _aligned("inner", shape_a, shape_b, -1)
    return tensordot(a, b, ((-1,), (-1,)))


@composite(
    Spec(
        [
            Case(((4,), (4,))),
            Case(((2, 3), (3, 4))),
            Case(((2, 3, 4), (4,))),
            Case(((3,), (2, 3, 4))),
            Case(((2, 3), (4, 3, 2))),
            Case(((2, 2, 3), (4, 3, 2))),
            Case(((), (2, 3))),
            Case(((2, 3), ())),
            Case(((0, 3), (3, 2))),
        ],
        ref=lambda np, a, b: np.dot(a, b),
    )
)
def dot(a, b):
    """Dot product with NumPy's rules: 0-d operands multiply, 1-D and 2-D ones are matmul's,
    and N-d with M-d sums over a's last axis and b's second-to-last (no broadcasting: the
    result has a's other axes, then b's).

    >>> import chainrule as cr
    >>> cr.dot(cr.ones(2, 3), cr.ones(4, 3, 5)).shape
    (2, 4, 5)
    """
    a, b = _as_operand(a), _as_operand(b)
    shape_a, shape_b = _shape(a), _shape(b)
    if not shape_a or not shape_b:
        return mul(a, b)
    axis_b = -2 if len(shape_b) >= 2 else -1
    _aligned("dot", shape_a, shape_b, axis_b)
    if len(shape_a) == 1 or len(shape_b) <= 2:
        return matmul(a, b)  # the same result as dot's for these ranks
    return tensordot(a, b, ((-1,), (axis_b,)))


@composite(
    Spec(
        [Case(((4,), (4,))), Case(((2, 3), (3, 2))), Case(((), ())), Case(((0, 2), (0,)))],
        ref=lambda np, a, b: np.dot(np.ravel(a), np.ravel(b)),
    )
)
def vdot(a, b):
    """Dot product of the flattened operands, as ``np.vdot`` (real: no conjugate).

    >>> import chainrule as cr
    >>> cr.vdot(cr.ones(2, 2), cr.ones(4)).item()
    4.0
    """
    shape_a, shape_b = _shape(a), _shape(b)
    if math.prod(shape_a) != math.prod(shape_b):
        raise ShapeError(
            f"vdot: operands of shapes {shape_a} and {shape_b} have different numbers of elements"
        )
    return matmul(reshape(a, (-1,)), reshape(b, (-1,)))


@composite(
    Spec(
        [
            Case(((2, 3), (4,))),
            Case(((2, 2), (3, 2))),
            Case(((2, 1, 3), (2, 2))),
            Case(((), (2, 3))),
            Case(((3,), ())),
            Case(((0, 2), (2, 3))),
        ],
        ref=lambda np, a, b: np.kron(a, b),
    )
)
def kron(a, b):
    """Kronecker product, as ``np.kron``: blocks a[i] * b (the shorter shape padded with
    leading ones).

    >>> import chainrule as cr
    >>> cr.kron(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 10.0])).numpy()
    array([ 1., 10.,  2., 20.], dtype=float32)
    """
    a, b = _as_operand(a), _as_operand(b)
    shape_a, shape_b = _shape(a), _shape(b)
    if not shape_a or not shape_b:
        return mul(a, b)
    rank = max(len(shape_a), len(shape_b))
    shape_a = (1,) * (rank - len(shape_a)) + shape_a
    shape_b = (1,) * (rank - len(shape_b)) + shape_b
    # a's axes interleaved with b's: a[i, j] * b[k, l] lands at (i, k, j, l), then merged.
    blocks = mul(
        reshape(a, [n for size in shape_a for n in (size, 1)]),
        reshape(b, [n for size in shape_b for n in (1, size)]),
    )
    return reshape(blocks, [m * n for m, n in zip(shape_a, shape_b)])


def _difference(p, q):
    """p - q where a missing term (None: a 2-vector's third component) counts as 0."""
    if q is None:
        return p
    return -q if p is None else p - q


def _times(x, y):
    return None if x is None or y is None else x * y


def _cross_ref(np, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    # autograd's cross does not broadcast: broadcast by products with ones first.
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    batch = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    return np.cross(a * np.ones(batch + (1,)), b * np.ones(batch + (1,)), axisc=axisc)


@composite(
    Spec(
        [
            Case(((3,), (3,))),
            Case(((4, 3), (4, 3))),
            Case(((2, 1, 3), (4, 3))),
            Case(((3, 2), (2, 3)), {"axisa": 0, "axisb": 1, "axisc": 0}),
            Case(((3, 4), (3, 4)), {"axis": 0}),
            Case(((2, 3), (3,)), {"axisc": 0}),
            Case(((0, 3), (3,))),
        ],
        ref=_cross_ref,
    )
)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None, **aliases):
    """Cross product of 3-vectors along ``axisa`` of a and ``axisb`` of b, the result's
    vectors along ``axisc`` (``axis``, or PyTorch's ``dim``, sets all three), as ``np.cross``;
    other axes broadcast. 2-vectors count as having a third component 0; two of them give
    the z component alone (NumPy deprecates 2-vectors; here they need no warning).

    >>> import chainrule as cr
    >>> cr.cross(cr.tensor([1.0, 0.0, 0.0]), cr.tensor([0.0, 1.0, 0.0])).numpy()
    array([0., 0., 1.], dtype=float32)
    """
    axis = aliases.pop("dim", axis)
    if aliases:
        raise TypeError(f"cross() got unexpected keyword arguments {sorted(aliases)}")
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _as_operand(a), _as_operand(b)
    shape_a, shape_b = _shape(a), _shape(b)
    if not shape_a or not shape_b:
        raise ShapeError(f"cross: an operand has no axes (shapes {shape_a} and {shape_b})")
    axisa = one_axis(axisa, len(shape_a), "cross", "axisa")
    axisb = one_axis(axisb, len(shape_b), "cross", "axisb")
    size_a, size_b = shape_a[axisa], shape_b[axisb]
    if size_a not in (2, 3) or size_b not in (2, 3):
        raise ShapeError(
            f"cross: vectors must have 2 or 3 components, got {size_a} (axis "
            f"{axisa} of {shape_a}) and {size_b} (axis {axisb} of {shape_b})"
        )
    try:
        batch = np.broadcast_shapes(
            shape_a[:axisa] + shape_a[axisa + 1 :], shape_b[:axisb] + shape_b[axisb + 1 :]
        )
    except ValueError:
        raise ShapeError(
            f"cross: shapes {shape_a} and {shape_b} do not broadcast "
            f"(vectors along axes {axisa} and {axisb})"
        ) from None
    a0, a1, a2 = [_component(a, axisa, size_a, i) for i in range(3)]
    b0, b1, b2 = [_component(b, axisb, size_b, i) for i in range(3)]
    z = a0 * b1 - a1 * b0
    if size_a == size_b == 2:
        return z
    x = _difference(_times(a1, b2), _times(a2, b1))
    y = _difference(_times(a2, b0), _times(a0, b2))
    axisc = one_axis(axisc, len(batch) + 1, "cross", "axisc")
    return stack([x, y, z], axis=axisc)  # each component has the broadcast batch shape


def _component(v, axis, size, i):
    """Component ``i`` of the vectors along ``axis``; None past ``size`` (it counts as 0)."""
    return getitem(v, (slice(None),) * axis + (i,)) if i < size else None


# ----------------------------------------------------------------------- einsum
# NumPy's labels: in the sublist form 0-25 are 'A'-'Z' and 26-51 are 'a'-'z', so the
# implicit output (its labels sorted) comes out in the same order in both forms.
_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _einsum_arguments(subscripts, operands):
    """(subscripts string, operands) from NumPy's forms: a string and operands, a string and
    one list of operands (PyTorch's), or operands each followed by its sublist of ints."""
    if isinstance(subscripts, str):
        if (
            len(operands) == 1
            and isinstance(operands[0], (list, tuple))
            and operands[0]
            and all(isinstance(x, (Tensor, np.ndarray)) for x in operands[0])
            and subscripts.partition("->")[0].count(",") + 1 == len(operands[0])
        ):
            operands = operands[0]
        return subscripts, list(operands)
    args = (subscripts,) + tuple(operands)
    pairs, output = (args[:-1], args[-1]) if len(args) % 2 else (args, None)
    terms = [_sublist_letters(sublist) for sublist in pairs[1::2]]
    text = ",".join(terms) + ("" if output is None else "->" + _sublist_letters(output))
    return text, list(pairs[0::2])


def _sublist_letters(sublist):
    try:
        items = list(sublist)
    except TypeError:
        raise TypeError(
            f"einsum: expected a sublist of ints and Ellipsis, got {sublist!r}"
        ) from None
    letters = ""
    for item in items:
        if item is Ellipsis:
            letters += "..."
        elif _is_int(item) and 0 <= item < len(_LETTERS):
            letters += _LETTERS[item]
        else:
            raise ValueError(
                f"einsum: sublist {sublist!r} holds {item!r}: labels are ints in "
                f"[0, {len(_LETTERS)}) or Ellipsis"
            )
    return letters


def _parse_einsum(subscripts, shapes):
    """Explicit subscripts ('ij,jk->ik'): ellipses spelled out, implicit output made explicit.

    Malformed subscripts and operands that do not fit them raise ShapeError (a ValueError
    and a RuntimeError), naming the subscripts. An ellipsis in the inputs that the output
    leaves out is summed over, as in PyTorch.
    """

    def malformed(why):
        # NumPy raises ValueError and PyTorch RuntimeError: ShapeError is both.
        return ShapeError(f"einsum: {why} in subscripts {subscripts!r}")

    text = subscripts.replace(" ", "")
    for c in text:
        if c not in _LETTERS and c not in ",->.":
            raise malformed(f"invalid character {c!r} (subscripts are letters)")
    if (
        text.count("->") > 1
        or text.count("-") != text.count("->")
        or text.count(">") != text.count("->")
    ):
        raise malformed("'->' may appear once, and '-' or '>' nowhere else")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if "," in rhs:
        raise malformed("',' in the output")
    for term in terms + [rhs]:
        if "." in term.replace("...", "", 1):
            raise malformed("a '.' that is not part of one ellipsis ('...')")
    if len(terms) != len(shapes):
        raise ShapeError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operands, got {len(shapes)}"
        )
    ranks = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        if len(shape) < named or ("..." not in term and len(shape) != named):
            raise ShapeError(
                f"einsum: subscripts {term!r} do not fit operand {i} of shape "
                f"{shape} in {subscripts!r}"
            )
        ranks.append(len(shape) - named)
    spare = [c for c in _LETTERS if c not in text]
    ellipsis = "".join(spare[: max(ranks, default=0)])
    if len(ellipsis) < max(ranks, default=0):
        raise malformed("too many axes for the letters left to '...'")
    expanded = [
        term.replace("...", ellipsis[len(ellipsis) - rank :]) for term, rank in zip(terms, ranks)
    ]
    _letter_sizes(expanded, shapes, subscripts)
    letters = lhs.replace("...", "").replace(",", "")
    if not arrow:
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        return expanded, ellipsis + "".join(once)
    named = rhs.replace("...", "")
    for c in named:
        if c not in letters:
            raise malformed(f"output subscript {c!r} appears in no input")
        if named.count(c) > 1:
            raise malformed(f"output subscript {c!r} appears more than once")
    # An ellipsis missing from the output is summed over, as in PyTorch ('ij...,ij...->ij');
    # NumPy refuses it.
    return expanded, rhs.replace("...", ellipsis)


def _letter_sizes(terms, shapes, subscripts=None):
    """Each letter's length, broadcast over the operands (a length 1 stretches)."""
    sizes: dict[str, int] = {}
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        own: dict[str, int] = {}
        for c, n in zip(term, shape):
            if own.setdefault(c, n) != n:
                raise ShapeError(
                    f"einsum: operand {i} of shape {shape} repeats {c!r} over "
                    f"axes of lengths {own[c]} and {n} in {subscripts!r}"
                )
            if sizes.get(c, 1) == 1:
                sizes[c] = n
            elif n not in (1, sizes[c]):
                raise ShapeError(
                    f"einsum: {c!r} has lengths {sizes[c]} and {n} (operand "
                    f"shapes {', '.join(map(str, shapes))}) in {subscripts!r}"
                )
    return sizes


# Reference formulas for diagonals, which the reference autodiff's einsum cannot take.
_EINSUM_DIAGONALS = {
    "ii->": lambda np, x: np.trace(x),
    "ii->i": lambda np, x: np.sum(x * np.eye(len(x)), axis=1),
}


def _einsum_ref(np, *xs, subscripts):
    if subscripts in _EINSUM_DIAGONALS:
        return _EINSUM_DIAGONALS[subscripts](np, *xs)
    # The reference autodiff's einsum does not sum a broadcast length-1 axis back: the
    # operands are broadcast first, by products with ones, whose gradients do.
    terms = subscripts.split("->")[0].split(",")
    sizes = _letter_sizes(terms, [x.shape for x in xs])
    return np.einsum(
        subscripts, *[x * np.ones([sizes[c] for c in term]) for x, term in zip(xs, terms)]
    )


def _einsum_vjp(i, g, out, xs, subscripts):
    inputs, output = subscripts.split("->")
    inputs = inputs.split(",")
    sizes = _letter_sizes(inputs, [np.shape(data_of(x)) for x in xs])
    target = inputs[i]
    unused = iter(c for c in _LETTERS if c not in subscripts)
    # A letter repeated in the target is a diagonal: give each repeat a fresh letter and
    # tie it to the first with an identity matrix.
    renamed, eyes = "", []
    for letter in target:
        if letter in renamed:
            fresh = next(unused)
            eyes.append((letter + fresh, np.eye(sizes[letter], dtype=data_of(xs[i]).dtype)))
            renamed += fresh
        else:
            renamed += letter
    terms = [output] + [s for j, s in enumerate(inputs) if j != i] + [e for e, _ in eyes]
    operands = [g] + [x for j, x in enumerate(xs) if j != i] + [m for _, m in eyes]
    present = set("".join(terms))
    kept = "".join(c for c in renamed if c in present)
    grad = einsum(",".join(terms) + "->" + kept, *operands)
    # The gradient of the broadcast operand, every letter at its full length: letters summed
    # away in the forward and seen nowhere else, or of length 1 in every operand left, come
    # back by broadcasting; the engine then sums the target's length-1 axes back.
    full = tuple(sizes[c] for c in target)
    if tuple(grad.shape) != full:
        lengths = iter(grad.shape)
        grad = broadcast_to(
            reshape(grad, [next(lengths) if c in present else 1 for c in renamed]), full
        )
    return grad


@defop(
    variadic=_einsum_vjp,
    name="einsum",
    spec=Spec(
        [
            Case(((3, 4), (4, 2)), {"subscripts": "ij,jk->ik"}),
            Case(((3, 3),), {"subscripts": "ii->"}),
            Case(((3, 3),), {"subscripts": "ii->i"}),
            Case(((2, 3), (3,)), {"subscripts": "ij,j->i"}),
            Case(((2, 3, 4),), {"subscripts": "ijk->j"}),
            Case(((2, 3, 4), (2, 4, 5)), {"subscripts": "bij,bjk->bik"}),
            # Length-1 axes broadcast against the other operand's.
            Case(((3, 1), (3, 4)), {"subscripts": "ij,ij->ij"}),
            Case(((3, 1), (3, 4)), {"subscripts": "ij,ij->i"}),
            Case(((3, 1), (1, 4)), {"subscripts": "ij,ij->"}),
            Case(((3, 1), (4, 2)), {"subscripts": "ij,jk->ik"}),
            Case(((2, 1, 3), (4, 3)), {"subscripts": "ABj,Bj->AB"}),
            Case(((), (2, 3)), {"subscripts": ",ij->ji"}),
            Case(((0, 3), (3,)), {"subscripts": "ij,j->i"}),
        ],
        ref=_einsum_ref,
    ),
)
def _einsum(*xs, subscripts):
    """Einstein summation with explicit subscripts."""
    return np.einsum(subscripts, *xs)


def einsum(subscripts, *operands):
    """Einstein summation, as ``np.einsum``: explicit or implicit output, ellipses, length-1
    axes broadcast; operands after the subscripts or in one list (``einsum('ij,jk', [a, b])``),
    or NumPy's sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``. As in PyTorch, an
    ellipsis the explicit output leaves out is summed over (``'ij...,ij...->ij'``).

    >>> import chainrule as cr
    >>> cr.einsum("ij,jk", cr.ones(2, 3), cr.ones(3, 4)).shape
    (2, 4)
    """
    subscripts, operands = _einsum_arguments(subscripts, operands)
    inputs, output = _parse_einsum(subscripts, [_shape(x) for x in operands])
    return _einsum(*operands, subscripts=",".join(inputs) + "->" + output)
