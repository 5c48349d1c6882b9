"""Matrix ops: matmul (dW = X^T dY, dX = dY W^T), trace, einsum and ``cr.linalg``.

The matrix-calculus rules of the notes, each next to its forward:
d tr(X) = tr(dX), d X^-1 = -X^-1 dX X^-1, d|X| = |X| tr(X^-1 dX).
"""

import builtins
import string

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import abs, where
from .reduce import _expand, max, min, normalize_axis, sum
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


# ----------------------------------------------------------------------- cr.linalg
@defop(lambda g, out, a: -(_mT(out) @ g @ _mT(out)), saves_out=True, name="inv",
       spec=Spec([Case(((3, 3),)), Case(((2, 2, 2),))], domain=_well_conditioned,
                 ref=lambda np, a: np.linalg.inv(a)))
def _inv(a):
    """Matrix inverse: d X^-1 = -X^-1 dX X^-1."""
    return np.linalg.inv(a)


def _scalar_per_matrix(g):
    return expand_dims(expand_dims(g, -1), -1)


@defop(lambda g, out, a: _scalar_per_matrix(g * out) * _mT(inv(a)), saves_out=True, name="det",
       spec=Spec([Case(((3, 3),)), Case(((2, 2, 2),))], domain=_well_conditioned,
                 ref=lambda np, a: np.linalg.det(a)))
def _det(a):
    """Determinant: d|X| / dX = |X| X^-T."""
    return np.linalg.det(a)


@defop(lambda g, out, a: _scalar_per_matrix(g) * _mT(inv(a)), name="logabsdet",
       spec=Spec([Case(((3, 3),)), Case(((2, 2, 2),))], domain=_well_conditioned,
                 ref=lambda np, a: np.linalg.slogdet(a)[1]))
def _logabsdet(a):
    """log |det a|: its gradient is X^-T."""
    return np.linalg.slogdet(a)[1]


def _as_columns(b, x):
    """Gradients of solve written for a stack of column vectors."""
    return (expand_dims(b, -1), expand_dims(x, -1)) if _ndim(b) == 1 else (b, x)


def _solve_vjp_a(g, out, a, b):
    g_cols, x_cols = _as_columns(g, out)
    return -(solve(_mT(a), g_cols) @ _mT(x_cols))


def _solve_vjp_b(g, out, a, b):
    if _ndim(b) == 1:
        return squeeze(solve(_mT(a), expand_dims(g, -1)), -1)
    return solve(_mT(a), g)


@defop(_solve_vjp_a, _solve_vjp_b, saves_out=True, name="solve",
       spec=Spec([Case(((3, 3), (3,))), Case(((3, 3), (3, 2))), Case(((2, 3, 3), (2, 3, 1)))],
                 domain=_well_conditioned, ref=lambda np, a, b: np.linalg.solve(a, b)))
def _solve(a, b):
    """x with a x = b: db = A^-T g, dA = -db x^T."""
    if np.ndim(b) == 1 and np.ndim(a) > 2:
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


def _cholesky_vjp(g, out, a):
    # Murray (2016): dA = L^-T Phi(L^T dL) L^-1, symmetrised; Phi keeps the lower
    # triangle and halves the diagonal.
    n = np.shape(data_of(a))[-1]
    phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    p = (_mT(out) @ g) * phi.astype(data_of(a).dtype)
    grad = _mT(solve(_mT(out), _mT(solve(_mT(out), p))))
    return 0.5 * (grad + _mT(grad))


def _symmetric(x):
    return 0.5 * (x + _mT(x))


@defop(_cholesky_vjp, saves_out=True, name="cholesky",
       spec=Spec([Case(((3, 3),)), Case(((2, 2, 2),))], domain=_spd,
                 # NumPy reads one triangle; checks perturb both, so feed a symmetric matrix.
                 call=lambda op, a: op(_symmetric(a)),
                 ref=lambda np, a: np.linalg.cholesky(0.5 * (a + np.swapaxes(a, -1, -2)))))
def _cholesky(a):
    """Lower Cholesky factor L with a = L L^T (a symmetric positive definite)."""
    return np.linalg.cholesky(a)


def _square(name, a):
    shape = np.shape(data_of(a))
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"{name}: expected square matrices (..., n, n), got shape {shape}")


def inv(a):
    """Inverse of a square matrix (or a stack of them)."""
    _square("inv", a)
    return _inv(a)


def det(a):
    """Determinant of a square matrix (or a stack of them)."""
    _square("det", a)
    return _det(a)


def slogdet(a):
    """``(sign, logabsdet)`` of the determinant, as ``np.linalg.slogdet``; sign has no grad."""
    from ..tensor import Tensor

    _square("slogdet", a)
    sign = np.linalg.slogdet(data_of(a))[0]
    return (Tensor._new(np.asarray(sign)) if isinstance(a, Tensor) else sign), _logabsdet(a)


def solve(a, b):
    """x with ``a @ x = b``; b is a vector only when 1-D (NumPy 2's rule)."""
    _square("solve", a)
    n, b_shape = np.shape(data_of(a))[-1], np.shape(data_of(b))
    rows = b_shape[-1] if len(b_shape) == 1 else (b_shape[-2] if len(b_shape) >= 2 else None)
    if rows != n:
        raise ShapeError(f"solve: a of shape {np.shape(data_of(a))} cannot solve b of shape "
                         f"{b_shape}")
    return _solve(a, b)


def cholesky(a):
    """Lower-triangular L with a = L L^T; a must be symmetric positive definite."""
    _square("cholesky", a)
    return _cholesky(a)


def _norm2_vjp(g, out, x, axis, keepdims):
    # x / |x|, with 0 where the norm is 0 (the subgradient PyTorch picks there too).
    norm = _expand(out, x, axis)
    return _expand(g, x, axis) * x / where(data_of(norm) == 0, 1.0, norm)


@defop(_norm2_vjp, saves_out=True, name="norm2",
       spec=Spec([Case(((3, 4),), {"axis": None, "keepdims": False}),
                  Case(((3, 4),), {"axis": (1,), "keepdims": True}),
                  Case(((2, 3, 4),), {"axis": (1, 2), "keepdims": False})],
                 ref=lambda np, x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis,
                                                                  keepdims=keepdims))))
def _norm2(x, axis, keepdims):
    """The 2-norm (Frobenius for matrices) over ``axis``."""
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector and matrix norms with NumPy's semantics (default: Frobenius / 2-norm)."""
    shape = np.shape(data_of(x))
    if axis is None:
        axis = tuple(range(len(shape)))
        if ord is not None and len(shape) > 2:
            raise ShapeError(f"norm: ord={ord!r} needs a vector or matrix, got shape {shape}")
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if ord is None or (ord == "fro" and len(axis) == 2) or (ord == 2 and len(axis) == 1):
        return _norm2(x, axis=normalize_axis(axis, len(shape), "norm"), keepdims=keepdims)
    if len(axis) == 1:
        if ord == np.inf:
            return max(abs(x), axis=axis, keepdims=keepdims)
        if ord == -np.inf:
            return min(abs(x), axis=axis, keepdims=keepdims)
        if ord == 1:
            return sum(abs(x), axis=axis, keepdims=keepdims)
        if isinstance(ord, (int, float)) and ord != 0:
            return sum(abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)
    elif len(axis) == 2 and ord in (1, -1, np.inf, -np.inf):
        rows, cols = axis
        summed, across = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = sum(abs(x), axis=summed, keepdims=True)
        pick = max if ord > 0 else min
        result = pick(sums, axis=across, keepdims=True)
        return result if keepdims else squeeze(result, axis)
    raise ValueError(f"norm: ord={ord!r} over {len(axis)} axes is not supported "
                     "(supported: None, 'fro', vector p-norms, matrix 1/-1/inf/-inf)")
