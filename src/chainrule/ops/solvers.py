"""``cr.linalg``'s solvers: inv, det, slogdet, solve, cholesky and norm.

The matrix-calculus rules of the notes, each next to its forward:
d X^-1 = -X^-1 dX X^-1, d|X| = |X| tr(X^-1 dX).
"""

import numpy as np

from ..errors import ShapeError
from .elementwise import abs, where
from .linalg import _mT, _ndim, _spd, _well_conditioned
from .reduce import _expand, max, min, normalize_axis, sum
from .registry import Case, Spec, data_of, defop
from .shape import expand_dims, squeeze


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
