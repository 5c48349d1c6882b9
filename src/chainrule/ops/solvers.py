"""``cr.linalg``'s solvers: inv, det, slogdet, solve, cholesky and norm.

The matrix-calculus rules of the notes, each next to its forward:
d X^-1 = -X^-1 dX X^-1, d|X| = |X| tr(X^-1 dX) (the cofactor matrix adj(X)^T, which
stays finite where X is singular).

A singular matrix in inv or solve raises ``np.linalg.LinAlgError`` naming the op and
the shape, as NumPy does (not a ShapeError: the shapes are fine).
"""

import builtins
import itertools
from collections import namedtuple

import numpy as np

from ..errors import ShapeError
from .elementwise import _mask, abs, astype, pow, where
from .linalg import _mT, _spd, _well_conditioned
from .reduce import _expand, max, min, one_axis, prod, resolve, sum
from .registry import Case, Spec, composite, data_of, defop
from .shape import expand_dims, reshape, squeeze, transpose

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


def _shape(x):
    return np.shape(data_of(x))


def _singular(op, a):
    return np.linalg.LinAlgError(f"{op}: singular matrix (shape {np.shape(a)})")


def _square(name, a):
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"{name}: expected square matrices (..., n, n), got shape {shape}")


def _scalar_per_matrix(g):
    return expand_dims(expand_dims(g, -1), -1)


# ----------------------------------------------------------------------- inverse
@defop(
    lambda g, out, a: -(_mT(out) @ g @ _mT(out)),
    saves_out=True,
    name="inv",
    spec=Spec(
        [Case(((3, 3),)), Case(((2, 2, 2),)), Case(((0, 0),))],
        domain=_well_conditioned,
        ref=lambda np, a: np.linalg.inv(a),
    ),
)
def _inv(a):
    """Matrix inverse: d X^-1 = -X^-1 dX X^-1."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise _singular("inv", a) from None


def inv(a):
    """Inverse of a square matrix (or a stack of them); singular: ``np.linalg.LinAlgError``."""
    _square("inv", a)
    return _inv(a)


# ----------------------------------------------------------------------- determinant
def _cofactors_by_inverse(a):
    """a^-1 where det(a) a^-T is an accurate cofactor matrix for every matrix of the stack,
    else None (a singular or nearly so: the product loses cond(a) * eps of its accuracy)."""
    array = np.asarray(data_of(a))
    if array.size == 0:
        return np.zeros(array.shape, array.dtype)
    eps = np.finfo(array.dtype if array.dtype.kind == "f" else np.float64).eps
    try:
        inverse = np.linalg.inv(array)
    except np.linalg.LinAlgError:
        return None
    # Frobenius norms bound the 2-norm condition number from above, within a factor n.
    with np.errstate(over="ignore", invalid="ignore"):
        cond = np.linalg.norm(array, axis=(-2, -1)) * np.linalg.norm(inverse, axis=(-2, -1))
    if not np.all(cond < eps**-0.25):  # ~8e3 in float64: beyond, the SVD's cofactors
        return None
    return inverse


def _adjugate_t(a):
    """adj(a)^T = det(U) det(V) U diag(prod_{j != i} s_j) V^T from a = U S V^T: finite and
    exact at any rank (0 at rank n - 2 and below)."""
    u, s, vh = decompositions.svd(a, full_matrices=False)
    n = _shape(s)[-1]
    # U and V are orthogonal: their determinants are signs, locally constant.
    sign = np.linalg.det(data_of(u)) * np.linalg.det(data_of(vh))
    others = prod(where(np.eye(n, dtype=bool), 1.0, expand_dims(s, -2)), axis=-1)
    return _scalar_per_matrix(sign) * ((u * expand_dims(others, -2)) @ vh)


def _det_vjp(g, out, a):
    inverse = _cofactors_by_inverse(a)
    if inverse is None:  # PyTorch's choice too: the SVD's cofactors where a is singular
        return _scalar_per_matrix(g) * _adjugate_t(a)
    if not isinstance(a, np.ndarray):
        inverse = inv(a)  # a Tensor (create_graph): the inverse's own graph, for second order
    return _scalar_per_matrix(g * out) * _mT(inverse)


def _rank_deficient(rank):
    """Square matrices of the given rank (n - rank zero singular values)."""

    def domain(rng, shape):
        n = shape[-1]
        left = rng.uniform(-1.0, 1.0, shape[:-1] + (rank,))
        right = rng.uniform(-1.0, 1.0, shape[:-2] + (rank, n))
        return left @ right

    return domain


def _leibniz_det(np, a):
    """det by the Leibniz formula: a polynomial the reference differentiates at any rank."""
    n, total = a.shape[-1], 0.0
    for permutation in itertools.permutations(range(n)):
        inversions = builtins.sum(
            p > q for i, p in enumerate(permutation) for q in permutation[i + 1 :]
        )
        term = (-1.0) ** inversions
        for row, column in enumerate(permutation):
            term = term * a[..., row, column]
        total = total + term
    return total


@defop(
    _det_vjp,
    saves_out=True,
    name="det",
    spec=Spec(
        [
            Case(((3, 3),)),
            Case(((2, 2, 2),)),
            Case(((1, 1),)),
            # singular: the cofactors of rank n - 1 (second order through the SVD)
            Case(((3, 3),), domain=_rank_deficient(2)),
            Case(((2, 4, 4),), domain=_rank_deficient(3)),
        ],
        domain=_well_conditioned,
        ref=_leibniz_det,
    ),
)
def _det(a):
    """Determinant: d|X| / dX = adj(X)^T (= |X| X^-T where X is invertible)."""
    return np.linalg.det(a)


def det(a):
    """Determinant of a square matrix (or a stack of them); its gradient is finite at
    singular matrices (the cofactor matrix, as in PyTorch)."""
    _square("det", a)
    return _det(a)


@defop(
    lambda g, out, a: _scalar_per_matrix(g) * _mT(inv(a)),
    name="logabsdet",
    spec=Spec(
        [Case(((3, 3),)), Case(((2, 2, 2),))],
        domain=_well_conditioned,
        ref=lambda np, a: np.linalg.slogdet(a)[1],
    ),
)
def _logabsdet(a):
    """log |det a|: its gradient is X^-T."""
    return np.linalg.slogdet(a)[1]


def slogdet(a):
    """``(sign, logabsdet)`` of the determinant, as ``np.linalg.slogdet``; sign has no grad."""
    from ..tensor import Tensor

    _square("slogdet", a)
    sign = np.linalg.slogdet(data_of(a))[0]
    sign = Tensor._new(np.asarray(sign)) if isinstance(a, Tensor) else sign
    return SlogdetResult(sign, _logabsdet(a))


# ----------------------------------------------------------------------- solve
def _solve_vjp_b(g, out, a, b):
    return _solve(_mT(a), g)  # A^-T g, summed back to b's shape by the engine


def _solve_vjp_a(g, out, a, b):
    return -(_solve(_mT(a), g) @ _mT(out))


@defop(
    _solve_vjp_a,
    _solve_vjp_b,
    saves_out=True,
    name="solve",
    spec=Spec(
        [
            Case(((3, 3), (3, 2))),
            Case(((2, 3, 3), (2, 3, 1))),
            Case(((2, 3, 3), (3, 2))),
            Case(((3, 3), (2, 3, 1))),
        ],
        domain=_well_conditioned,
        ref=lambda np, a, b: np.linalg.inv(a) @ b,
    ),
)
def _solve(a, b):
    """X with a X = B for stacks of matrices (b: (..., n, k)): dB = A^-T G, dA = -dB X^T."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise _singular("solve", a) from None


# Every pairing of NumPy 2's rule: b is a vector only when 1-D, else a stack of matrices,
# its batch axes broadcast against a's.
_SOLVE_SHAPES = [
    ((3, 3), (3,)),
    ((3, 3), (3, 2)),
    ((2, 3, 3), (3,)),
    ((2, 3, 3), (2, 3, 1)),
    ((2, 3, 3), (3, 2)),
    ((3, 3), (2, 3, 2)),
    ((2, 1, 3, 3), (4, 3, 1)),
    ((0, 3, 3), (3,)),
    ((3, 3), (3, 0)),
]


@composite(
    Spec(
        [Case(shapes) for shapes in _SOLVE_SHAPES],
        domain=_well_conditioned,
        # inv(a) @ b follows matmul's broadcasting (a 1-D b included), which
        # the reference's own solve rule does not reduce back.
        ref=lambda np, a, b: np.matmul(np.linalg.inv(a), b),
    ),
    name="linalg.solve",
)
def solve(a, b):
    """x with ``a @ x = b``, as ``np.linalg.solve`` (NumPy 2's rules): b is a vector only
    when 1-D; otherwise a stack of matrices (..., n, k) broadcast against a (..., n, n).

    >>> import numpy as np, chainrule as cr
    >>> cr.linalg.solve(np.eye(2)[None].repeat(3, 0) * 2, np.ones(2)).shape
    (3, 2)
    """
    _square("solve", a)
    a_shape, b_shape = _shape(a), _shape(b)
    n = a_shape[-1]
    if len(b_shape) == 1:
        if b_shape[0] != n:
            raise ShapeError(f"solve: a of shape {a_shape} cannot solve b of shape {b_shape}")
        return squeeze(_solve(a, expand_dims(b, -1)), -1)
    try:
        if len(b_shape) < 2 or b_shape[-2] != n:
            raise ValueError
        np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise ShapeError(
            f"solve: a of shape {a_shape} cannot solve b of shape {b_shape} "
            "(b: (n,) or (..., n, k))"
        ) from None
    return _solve(a, b)


# ----------------------------------------------------------------------- cholesky
def _cholesky_vjp(g, out, a):
    # Murray (2016): dA = L^-T Phi(L^T dL) L^-1, symmetrised; Phi keeps the lower
    # triangle and halves the diagonal.
    n = np.shape(data_of(a))[-1]
    phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    p = (_mT(out) @ g) * phi.astype(data_of(a).dtype)
    grad = _mT(_solve(_mT(out), _mT(_solve(_mT(out), p))))
    return 0.5 * (grad + _mT(grad))


def _symmetric(x):
    return 0.5 * (x + _mT(x))


@defop(
    _cholesky_vjp,
    saves_out=True,
    name="cholesky",
    spec=Spec(
        [Case(((3, 3),)), Case(((2, 2, 2),))],
        domain=_spd,
        # NumPy reads one triangle; checks perturb both, so feed a symmetric matrix.
        call=lambda op, a: op(_symmetric(a)),
        ref=lambda np, a: np.linalg.cholesky(0.5 * (a + np.swapaxes(a, -1, -2))),
    ),
)
def _cholesky(a):
    """Lower Cholesky factor L with a = L L^T (a symmetric positive definite)."""
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(
            f"cholesky: matrix not positive definite (shape {np.shape(a)})"
        ) from None


def cholesky(a):
    """Lower-triangular L with a = L L^T; a must be symmetric positive definite."""
    _square("cholesky", a)
    return _cholesky(a)


# ----------------------------------------------------------------------- norms
def _norm2_vjp(g, out, x, axis, keepdims):
    # x / |x|, with 0 where the norm is 0 (the subgradient PyTorch picks there too).
    norm = _expand(out, x, axis)
    return _expand(g, x, axis) * x / where(data_of(norm) == 0, 1.0, norm)


@defop(
    _norm2_vjp,
    saves_out=True,
    name="norm2",
    spec=Spec(
        [
            Case(((3, 4),), {"axis": None, "keepdims": False}),
            Case(((3, 4),), {"axis": (1,), "keepdims": True}),
            Case(((2, 3, 4),), {"axis": (1, 2), "keepdims": False}),
        ],
        ref=lambda np, x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
    ),
)
def _norm2(x, axis, keepdims):
    """The 2-norm (Frobenius for matrices) over ``axis``."""
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def _pnorm_vjp(g, out, x, ord, axis, keepdims):
    # sign(x) |x|^(p-1) / |x|_p^(p-1), PyTorch's masks included: a zero entry gets 0 (its
    # |x|^(p-1) is infinite for p < 1), and so does every entry where the norm is 0.
    xd = data_of(x)
    nonzero = xd != 0
    scaled = (np.sign(xd) * nonzero) * pow(where(nonzero, abs(x), 1.0), ord - 1)
    norm = _expand(out, x, axis)
    if ord < 1:
        factor = pow(norm, 1 - ord)  # 0 at a zero norm: no division
    else:
        positive = data_of(norm) != 0
        factor = _mask(positive, x) / pow(where(positive, norm, 1.0), ord - 1)
    return _expand(g, x, axis) * scaled * factor


def _pnorm_domain(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.3, 2.0, shape)


def _pnorm_ref(np, x, ord, axis, keepdims):
    return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


@defop(
    _pnorm_vjp,
    saves_out=True,
    name="pnorm",
    spec=Spec(
        [
            Case(((5,),), {"ord": 3.0, "axis": (0,), "keepdims": False}),
            Case(((5,),), {"ord": 0.5, "axis": (0,), "keepdims": False}),
            Case(((5,),), {"ord": -1.5, "axis": (0,), "keepdims": False}),
            Case(((3, 4),), {"ord": 1.5, "axis": (1,), "keepdims": True}),
            Case(((2, 3, 4),), {"ord": 4.0, "axis": (0,), "keepdims": False}),
        ],
        domain=_pnorm_domain,
        ref=_pnorm_ref,
    ),
)
def _pnorm(x, ord, axis, keepdims):
    """The vector p-norm (sum |x|^p)^(1/p) over ``axis``, for p other than 0, 1, 2, +-inf."""
    with np.errstate(divide="ignore"):  # |0| ** -p is inf and the norm 0, as in NumPy
        return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _vector_norm(x, ord, axis, keepdims):
    axes = (axis,)
    if ord is None or (not isinstance(ord, str) and ord == 2):
        return _norm2(x, axis=axes, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    if not isinstance(ord, (int, float, np.integer, np.floating)):
        raise TypeError(f"norm: ord must be a number or a string, got {ord!r}")
    empty = _shape(x)[axis] == 0
    if ord == 1 or (empty and ord == np.inf):  # an empty max is 0 here, as in NumPy
        return sum(abs(x), axis=axes, keepdims=keepdims)
    if ord == np.inf:
        return max(abs(x), axis=axes, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs(x), axis=axes, keepdims=keepdims)
    if ord == 0:  # the count of nonzero entries: its gradient is 0 (the graph stays whole)
        return sum(where(data_of(x) != 0, 1.0, x * 0), axis=axes, keepdims=keepdims)
    return _pnorm(x, ord=float(ord), axis=axes, keepdims=keepdims)


def _singular_value_norm(x, rows, cols, reduce):
    """``reduce`` of the singular values of the matrices on axes (rows, cols), kept as 1s."""
    shape = _shape(x)
    others = [i for i in range(len(shape)) if i not in (rows, cols)]
    s = decompositions.svd(transpose(x, others + [rows, cols]), compute_uv=False)
    # A zero singular value is a kink, as |x| at 0: it passes no gradient (so the zero
    # matrix gets 0, not an arbitrary U V^T).
    s = where(data_of(s) != 0, s, 0.0)
    if _shape(s)[-1] == 0:
        reduce = sum  # an empty max is 0 here, as in NumPy
    return reshape(reduce(s, axis=-1), [1 if i in (rows, cols) else n for i, n in enumerate(shape)])


def _matrix_norm(x, ord, rows, cols, keepdims):
    if ord in (None, "fro", "f"):
        result = _norm2(x, axis=tuple(sorted((rows, cols))), keepdims=True)
    elif ord == "nuc":
        result = _singular_value_norm(x, rows, cols, sum)
    elif isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    elif ord in (2, -2):
        result = _singular_value_norm(x, rows, cols, max if ord > 0 else min)
    elif ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum of |x|; inf: the largest row sum (-1, -inf: smallest).
        summed, across = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = sum(abs(x), axis=summed, keepdims=True)
        empty = _shape(x)[across] == 0 and ord > 0
        result = (sum if empty else max if ord > 0 else min)(sums, axis=across, keepdims=True)
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    return result if keepdims else squeeze(result, (rows, cols))


def _norm_ref(np, x, ord=None, axis=None, keepdims=False):
    """The norms from NumPy's definitions, in functions the reference autodiff knows."""
    if axis is None and ord is None:
        squares = np.sum(x * x, keepdims=keepdims)
        return squares if x.size == 0 else np.sqrt(squares)  # sqrt's vjp is inf at 0
    if axis is None:
        axis = tuple(range(x.ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(a % x.ndim for a in axis)
    if len(axis) == 1:
        if ord in (None, 2):
            return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
        if ord == 0:  # (+ 0 * x: the reference then sees an output that depends on x)
            return np.sum((x != 0) + 0 * x, axis=axis, keepdims=keepdims)
        if ord in (np.inf, -np.inf):
            pick = np.max if ord > 0 else np.min
            return pick(np.abs(x), axis=axis, keepdims=keepdims)
        return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)
    rows, cols = axis
    kept = tuple(1 if i in axis else n for i, n in enumerate(x.shape))
    if ord in (None, "fro"):
        out = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    elif ord in ("nuc", 2, -2):
        others = [i for i in range(x.ndim) if i not in axis]
        s = np.linalg.svd(np.transpose(x, others + [rows, cols]), compute_uv=False)
        out = {"nuc": np.sum, 2: np.max, -2: np.min}[ord](s, axis=-1)
        out = np.reshape(out, kept)
    else:
        summed, across = (rows, cols) if ord in (1, -1) else (cols, rows)
        pick = np.max if ord > 0 else np.min
        out = pick(np.sum(np.abs(x), axis=summed, keepdims=True), axis=across, keepdims=True)
    return out if keepdims else np.reshape(out, [n for i, n in enumerate(x.shape) if i not in axis])


def _norm_domain(rng, shape):
    # Away from |x|'s kink at 0; singular values are then distinct almost surely.
    return rng.choice([-1, 1], shape) * rng.uniform(0.3, 2.0, shape)


_NORM_CASES = (
    [Case(((5,),), {"ord": ord}) for ord in (None, 2, 1, np.inf, -np.inf, 0, 0.5, 3, -1, 1.5)]
    + [Case(((3, 4),), {"ord": ord}) for ord in (None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf)]
    + [
        Case(((4, 3),), {"ord": 2, "keepdims": True}),
        Case(((3, 4),), {"ord": 3, "axis": 1, "keepdims": True}),
        Case(((3, 4),), {"ord": np.inf, "axis": -2}),
        Case(((2, 3, 4),), {"ord": "nuc", "axis": (2, 0), "keepdims": True}),
        Case(((2, 3, 4),), {"ord": 1, "axis": (-1, -3)}),
        Case(((2, 3, 4),), {"ord": -2, "axis": (1, 2)}),
        Case(((2, 3, 4),), {}),
        Case(((),), {}),
        Case(((0, 3),), {}),
        Case(((2, 3),), {"axis": (0,), "keepdims": True}),
    ]
)


@composite(Spec(_NORM_CASES, domain=_norm_domain, ref=_norm_ref), name="linalg.norm")
def norm(x, ord=None, axis=None, keepdims=False, **aliases):
    """Vector and matrix norms with NumPy's semantics (default: Frobenius / 2-norm);
    PyTorch's ``dim``/``keepdim`` are accepted as aliases.

    Vectors: any p (0 counts the nonzero entries, +-inf take max/min |x|); matrices
    (two axes): 'fro', 'nuc', 2 and -2 (largest and smallest singular value), 1, -1, inf,
    -inf. The gradient at a zero vector or matrix is 0 for every ord.

    >>> import numpy as np, chainrule as cr
    >>> float(cr.linalg.norm(np.array([[3.0, 0.0], [0.0, 4.0]]), ord="nuc"))
    7.0
    """
    axis, keepdims = resolve(axis, keepdims, aliases, "norm")
    shape = _shape(x)
    ndim = len(shape)
    if np.asarray(data_of(x)).dtype.kind not in "fc":
        x = astype(x, np.float64)  # integers, as NumPy: no gradient to carry
    if axis is None:
        if ord is None:
            return _norm2(x, axis=None if ndim == 0 else tuple(range(ndim)), keepdims=keepdims)
        if ndim not in (1, 2):
            raise ShapeError(
                f"norm: ord={ord!r} needs a vector or a matrix (or an axis), got shape {shape}"
            )
        axis = tuple(range(ndim))
    elif isinstance(axis, (list, tuple)):
        axis = tuple(axis)
    else:
        axis = (axis,)
    if len(axis) == 1:
        return _vector_norm(x, ord, one_axis(axis[0], ndim, "norm"), keepdims)
    if len(axis) == 2:
        rows, cols = (one_axis(a, ndim, "norm") for a in axis)
        if rows == cols:
            raise ShapeError(f"norm: duplicate axes {axis} for shape {shape}")
        return _matrix_norm(x, ord, rows, cols, keepdims)
    raise ShapeError(f"norm: {len(axis)} axes {axis} given; a norm takes 1 or 2 (shape {shape})")


from . import decompositions  # noqa: E402  (svd) last: it builds on solve and inv in turn
