"""Matrix products: matmul (dW = X^T dY, dX = dY W^T), outer, trace (d tr(X) = tr(dX)), einsum.

The solvers of ``cr.linalg`` (inv, det, solve, ...) are in ``ops.solvers``.
"""

import builtins
import string

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Case, Spec, data_of, defop
from .shape import broadcast_to, expand_dims, reshape, squeeze


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
# Operands are arrays or Tensors here (matmul converts anything else), so .ndim is direct.
def _matmul_vjp_a(g, out, a, b):
    if b.ndim == 1:
        return expand_dims(g, -1) * b
    if a.ndim == 1:
        return squeeze(_matmul(expand_dims(g, -2), _mT(b)), -2)
    return g @ b.swapaxes(-1, -2)  # dX = dY W^T (operator and method: no Python call between)


def _matmul_vjp_b(g, out, a, b):
    if a.ndim == 1:
        return g * a if b.ndim == 1 else expand_dims(a, -1) * expand_dims(g, -2)
    if b.ndim == 1:
        return squeeze(_matmul(_mT(a), expand_dims(g, -1)), -1)
    return a.swapaxes(-1, -2) @ g  # dW = X^T dY


@defop(_matmul_vjp_a, _matmul_vjp_b, name="matmul", kernel=np.matmul,
       spec=Spec([Case(((3, 4), (4, 2))), Case(((4,), (4, 2))), Case(((3, 4), (4,))),
                  Case(((4,), (4,))), Case(((2, 3, 4), (4, 5))), Case(((2, 1, 3, 4), (3, 4, 2))),
                  Case(((0, 4), (4, 2))), Case(((2, 3, 4), (4,)))],
                 ref=lambda np, a, b: np.matmul(a, b)))
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


def outer(a, b):
    """Outer product of two vectors (inputs are flattened, as ``np.outer``)."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


# ----------------------------------------------------------------------- trace
def _trace_vjp(g, out, x):
    return g * np.eye(*np.shape(data_of(x)), dtype=data_of(x).dtype)


@defop(_trace_vjp, name="trace", kernel=np.trace,
       spec=Spec([Case(((3, 3),)), Case(((2, 4),)), Case(((0, 0),))], ref=lambda np, x: np.trace(x)))
def _trace(x):
    """Sum of the diagonal: d tr(X) / dX = I."""


def trace(x):
    """Sum of the diagonal of a matrix."""
    if _ndim(x) != 2:
        raise ShapeError(f"trace: expected a matrix, got shape {np.shape(data_of(x))}")
    return _trace(x)


# ----------------------------------------------------------------------- einsum
def _parse_einsum(subscripts, shapes):
    """Explicit subscripts ('ij,jk->ik'): ellipses spelled out, implicit output made explicit."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, rhs = subscripts.split("->")
    else:
        lhs, rhs = subscripts, None
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ShapeError(f"einsum: {subscripts!r} names {len(inputs)} operands, "
                         f"got {len(shapes)}")
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in subscripts]
    ellipsis_rank = builtins.max((len(s) - len(t.replace("...", "")) for t, s in zip(inputs, shapes)
                         if "..." in t), default=0)
    ell = "".join(spare[:ellipsis_rank])
    expanded = []
    for term, shape in zip(inputs, shapes):
        if "..." in term:
            rank = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[ellipsis_rank - rank:])
        if len(term) != len(shape):
            raise ShapeError(f"einsum: subscripts {term!r} do not match an operand of shape "
                             f"{shape}")
        expanded.append(term)
    if rhs is None:
        letters = "".join(expanded)
        rhs = "..." + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                     and c not in ell))
    rhs = rhs.replace("...", ell)
    return expanded, rhs


# Reference formulas for diagonals, which the reference autodiff's einsum cannot take.
_EINSUM_DIAGONALS = {"ii->": lambda np, x: np.trace(x),
                     "ii->i": lambda np, x: np.sum(x * np.eye(len(x)), axis=1)}


def _einsum_ref(np, *xs, subscripts):
    if subscripts in _EINSUM_DIAGONALS:
        return _EINSUM_DIAGONALS[subscripts](np, *xs)
    return np.einsum(subscripts, *xs)


def _einsum_vjp(i, g, out, *xs, subscripts):
    inputs, output = subscripts.split("->")
    inputs = inputs.split(",")
    target, shape = inputs[i], np.shape(data_of(xs[i]))
    sizes = dict(zip(target, shape))
    unused = iter(c for c in string.ascii_letters if c not in subscripts)
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
    # Letters summed away in the forward and seen nowhere else come back by broadcasting.
    kept = "".join(c for c in renamed if c in present)
    grad = einsum(",".join(terms) + "->" + kept, *operands)
    if kept != renamed:
        grad = broadcast_to(reshape(grad, [n if c in present else 1
                                           for c, n in zip(renamed, shape)]), shape)
    return grad


@defop(variadic=_einsum_vjp, name="einsum",
       spec=Spec([Case(((3, 4), (4, 2)), {"subscripts": "ij,jk->ik"}),
                  Case(((3, 3),), {"subscripts": "ii->"}),
                  Case(((3, 3),), {"subscripts": "ii->i"}),
                  Case(((2, 3), (3,)), {"subscripts": "ij,j->i"}),
                  Case(((2, 3, 4),), {"subscripts": "ijk->j"}),
                  Case(((2, 3, 4), (2, 4, 5)), {"subscripts": "bij,bjk->bik"})],
                 ref=_einsum_ref))
def _einsum(*xs, subscripts):
    """Einstein summation with explicit subscripts."""
    return np.einsum(subscripts, *xs)


def einsum(subscripts, *operands):
    """Einstein summation, as ``np.einsum`` (explicit or implicit output, ellipses)."""
    inputs, output = _parse_einsum(subscripts, [np.shape(data_of(x)) for x in operands])
    return _einsum(*operands, subscripts=",".join(inputs) + "->" + output)
