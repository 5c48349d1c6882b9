"""Matrix decompositions: svd, eigh, eig and qr, with pinv, lstsq, matrix_power and
matrix_rank beside them (``cr.linalg``).

A decomposition has several outputs and one backward rule that needs the gradients of all
of them (U's gradient is not a function of dU alone). So each is one primitive whose
forward packs its factors side by side, flattened past the batch axes, along one last axis;
the public function unpacks them (getitem + reshape) and the rule unpacks the output and
the upstream gradient the same way. A factor the loss does not use gets zeros there, which
the rules recognise, as PyTorch's rules recognise an undefined gradient.

Singular vectors and eigenvectors are defined up to sign (up to a rotation for repeated
values): the rules are the literature's, finite where the singular values or eigenvalues
are distinct, or wherever the loss reads the values alone.
"""

import builtins
import math
import operator
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import abs, where
from .linalg import _mT, matmul
from .reduce import normalize_axis, resolve, sum
from .registry import Case, Spec, composite, data_of, defop
from .shape import concatenate, expand_dims, getitem, reshape, swapaxes, transpose
from .solvers import _norm_ref, _solve, _square, _symmetric, inv, norm

__all__ = [
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "lstsq",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "pinv",
    "qr",
    "svd",
    "svdvals",
    "vector_norm",
]

SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])


def _shape(x):
    return np.shape(data_of(x))


def _matrices(name, a):
    shape = _shape(a)
    if len(shape) < 2:
        raise ShapeError(f"{name}: expected matrices (..., m, n), got shape {shape}")
    return shape


# ----------------------------------------------------------------------- packing
def _pack(factors, batch):
    """The factors, each flattened past the batch axes, side by side along one last axis."""
    return np.concatenate(
        [np.reshape(f, batch + (math.prod(np.shape(f)[len(batch) :]),)) for f in factors], axis=-1
    )


def _unpack(packed, shapes):
    """The factors of a packed array (or of its gradient), of trailing shapes ``shapes``."""
    batch = _shape(packed)[:-1]
    factors, start = [], 0
    for shape in shapes:
        stop = start + math.prod(shape)
        piece = getitem(packed, (Ellipsis, slice(start, stop)))
        factors.append(reshape(piece, batch + tuple(shape)))
        start = stop
    return factors


def _eye(n, like):
    return np.eye(n, dtype=data_of(like).dtype)


def _diag_embed(v):
    """Vectors (..., k) as diagonal matrices (..., k, k)."""
    return expand_dims(v, -1) * _eye(_shape(v)[-1], v)


def _gaps(values):
    """values_j - values_i at (i, j), 1 on the diagonal (where nothing is divided by it)."""
    n = _shape(values)[-1]
    return where(np.eye(n, dtype=bool), 1.0, expand_dims(values, -2) - expand_dims(values, -1))


def _used(g):
    """Whether an unpacked upstream gradient reaches the loss (zeros: the factor is unused).

    A gradient on a graph counts even while it is zero: it is a variable (forward mode
    differentiates a vjp with respect to a zero cotangent).
    """
    return (isinstance(g, Tensor) and g.requires_grad) or bool(np.any(data_of(g)))


def _columns(x, k):
    return getitem(x, (Ellipsis, slice(0, k)))


def _rows(x, k):
    return getitem(x, (Ellipsis, slice(0, k), slice(None)))


def _unsupported_gradient(name, what, instead):
    return ValueError(
        f"{name}: the gradient through {what} is not defined (any orthonormal "
        f"completion is as good); use {instead}, or keep them out of the loss"
    )


# Gauge-invariant functions of the factors, for the checks (xp: NumPy-like or chainrule).
_CR = SimpleNamespace(concatenate=concatenate, abs=abs, reshape=reshape, swapaxes=swapaxes)


def _flat(xp, *xs):
    return xp.concatenate([xp.reshape(x, (-1,)) for x in xs], axis=0)


def _projectors(xp, vectors, count):
    """sum_i w_i v_i v_i^T over the first ``count`` columns, distinct weights: each column's
    projector, with no sign to choose."""
    vectors = vectors[..., :count]
    weights = np.arange(1, count + 1, dtype=vectors.dtype)
    return (vectors * weights) @ xp.swapaxes(vectors, -1, -2)


def _svd_check(xp, u, s, vh):
    k = s.shape[-1]
    u, vh = u[..., :k], vh[..., :k, :]
    return _flat(
        xp,
        s,
        _projectors(xp, u, k),
        _projectors(xp, xp.swapaxes(vh, -1, -2), k),
        xp.abs(u),
        xp.abs(vh),
        (u * s[..., None, :]) @ vh,
    )


def _eigen_check(xp, w, v):
    return _flat(xp, w, _projectors(xp, v, v.shape[-1]), xp.abs(v))


def _eig_check(xp, w, v):
    return _flat(xp, w, xp.abs(v))


# ----------------------------------------------------------------------- domains
def _orthonormal(rng, shape):
    return np.linalg.qr(rng.standard_normal(shape))[0]


def _separated_singular(rng, shape):
    """Matrices with singular values about k, k - 1, ..., 1: apart and away from 0."""
    m, n = shape[-2:]
    k = min(m, n)
    s = np.arange(k, 0, -1) + rng.uniform(-0.2, 0.2, shape[:-2] + (k,))
    u = _orthonormal(rng, shape[:-2] + (m, k))
    v = _orthonormal(rng, shape[:-2] + (n, k))
    return (u * s[..., None, :]) @ _mT(v)


def _separated_symmetric(rng, shape):
    """Symmetric matrices with eigenvalues about 1, -2, 3, ...: apart, also in |.|."""
    n = shape[-1]
    w = np.arange(1, n + 1) * (-1.0) ** np.arange(n) + rng.uniform(-0.2, 0.2, shape[:-1])
    q = _orthonormal(rng, shape)
    return (q * w[..., None, :]) @ _mT(q)


def _real_spectrum(rng, shape):
    """P diag(w) P^-1 with P near I and w about 1, -2, 3, ...: real, distinct eigenvalues."""
    n = shape[-1]
    w = np.arange(1, n + 1) * (-1.0) ** np.arange(n) + rng.uniform(-0.2, 0.2, shape[:-1])
    p = np.eye(n) + 0.3 * rng.uniform(-1.0, 1.0, shape)
    return (p * w[..., None, :]) @ np.linalg.inv(p)


# ----------------------------------------------------------------------- svd
def _svd_shapes(shape, full_matrices):
    m, n = shape[-2:]
    k = min(m, n)
    return [(m, m if full_matrices else k), (k,), (n, n if full_matrices else k)]


def _svd_backward(u, s, v, gu, gs, gv):
    """dA of a = U diag(s) V^T (thin: U m x k, V n x k) from dU, ds, dV (Townsend 2016;
    PyTorch's linalg_svd_backward)."""
    m, n = _shape(u)[-2], _shape(v)[-2]
    inner = _diag_embed(gs)
    use_u, use_v = _used(gu), _used(gv)
    if use_u or use_v:
        gaps = _gaps(s * s)  # s_j^2 - s_i^2
        if use_u:
            utgu = _mT(u) @ gu
            inner = inner + (utgu - _mT(utgu)) / gaps * expand_dims(s, -2)
        if use_v:
            vtgv = _mT(v) @ gv
            inner = inner + expand_dims(s, -1) * ((vtgv - _mT(vtgv)) / gaps)
    if m > n and use_u:  # dU also leaves U's span: (I - U U^T) dU S^-1
        gus = gu / expand_dims(s, -2)
        return (u @ inner + gus - u @ (_mT(u) @ gus)) @ _mT(v)
    if m < n and use_v:  # and dV leaves V's: S^-1 dV^T (I - V V^T)
        sgv = _mT(gv) / expand_dims(s, -1)
        return u @ (inner @ _mT(v) + sgv - (sgv @ v) @ _mT(v))
    return u @ inner @ _mT(v)


def _svd_vjp(g, out, a, full_matrices):
    shape = _shape(a)
    shapes = _svd_shapes(shape, full_matrices)
    (u, s, v), (gu, gs, gv) = _unpack(out, shapes), _unpack(g, shapes)
    m, n = shape[-2:]
    k = min(m, n)
    if full_matrices and m != n:
        if np.any(data_of(gu)[..., k:]) or np.any(data_of(gv)[..., k:]):
            raise _unsupported_gradient(
                "svd",
                "the extra columns of U or rows of Vh of full_matrices=True",
                "full_matrices=False",
            )
        u, gu, v, gv = (_columns(x, k) for x in (u, gu, v, gv))
    return _svd_backward(u, s, v, gu, gs, gv)


def _svd_factors(packed, shape, full_matrices):
    u, s, v = _unpack(packed, _svd_shapes(shape, full_matrices))
    return SVDResult(u, s, _mT(v))


@defop(
    _svd_vjp,
    saves_out=True,
    name="svd",
    spec=Spec(
        [
            Case(((4, 3),), {"full_matrices": False}),
            Case(((3, 4),), {"full_matrices": False}),
            Case(((2, 3, 3),), {"full_matrices": False}),
            Case(((4, 3),), {"full_matrices": True}),
        ],
        domain=_separated_singular,
        call=lambda op, a, full_matrices: _svd_check(
            _CR, *_svd_factors(op(a, full_matrices=full_matrices), _shape(a), full_matrices)
        ),
        ref=lambda np, a, full_matrices: _svd_check(np, *np.linalg.svd(a, full_matrices=False)),
    ),
)
def _svd(a, full_matrices):
    """The SVD's factors U, s and V (not V^T), packed."""
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return _pack([u, s, _mT(vh)], np.shape(a)[:-2])


def _take_last(x, order):
    """x reordered along its first axis past the batch axes of ``order`` (batch..., n)."""
    batch = order.shape[:-1]
    index = tuple(np.indices(batch + (1,), sparse=True)[:-1]) + (order,)
    return getitem(x, index)


def _hermitian_svd(a, compute_uv):
    """NumPy's SVD of a symmetric matrix: from eigh, |w| in decreasing order, and the signs
    of w moved into Vh."""
    w, v = eigh(a)
    order = np.argsort(np.abs(data_of(w)))[..., ::-1]
    s = _take_last(abs(w), order)
    if not compute_uv:
        return s
    signs = np.take_along_axis(np.sign(data_of(w)), order, axis=-1)
    u = _mT(_take_last(_mT(v), order))
    return SVDResult(u, s, _mT(u * expand_dims(signs, -2)))


def _svd_call(f, a, **params):
    out = f(_symmetric(a) if params.get("hermitian") else a, **params)
    return out if not params.get("compute_uv", True) else _svd_check(_CR, *out)


def _svd_ref(np, a, full_matrices=True, compute_uv=True, hermitian=False):
    a = 0.5 * (a + np.swapaxes(a, -1, -2)) if hermitian else a
    if not compute_uv:
        return np.linalg.svd(a, compute_uv=False)
    return _svd_check(np, *np.linalg.svd(a, full_matrices=False))


@composite(
    Spec(
        [
            Case(((4, 3),)),
            Case(((3, 4),), {"full_matrices": False}),
            Case(((2, 4, 3),), {"compute_uv": False}),
            Case(((3, 5),), {"full_matrices": True}),
            Case(((3, 3),), {"hermitian": True}, domain=_separated_symmetric),
            Case(
                ((2, 3, 3),), {"hermitian": True, "compute_uv": False}, domain=_separated_symmetric
            ),
            Case(((0, 3),), {"full_matrices": False}),
        ],
        domain=_separated_singular,
        call=_svd_call,
        ref=_svd_ref,
    ),
    name="linalg.svd",
)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Singular value decomposition ``(U, S, Vh)`` with ``a = U @ diag(S) @ Vh``, as
    ``np.linalg.svd`` (stacks of matrices too); ``compute_uv=False`` gives S alone.

    The gradient is the thin SVD's; with ``full_matrices=True`` the extra columns of U (rows
    of Vh) must stay out of the loss, else backward raises a ValueError.

    >>> import numpy as np, chainrule as cr
    >>> cr.linalg.svd(np.diag([3.0, -4.0]), compute_uv=False)
    array([4., 3.])
    """
    shape = _matrices("svd", a)
    if hermitian:
        _square("svd", a)
        return _hermitian_svd(a, compute_uv)
    if not compute_uv:
        if not isinstance(a, Tensor):
            return np.linalg.svd(np.asarray(a), compute_uv=False)
        return _svd_factors(_svd(a, full_matrices=False), shape, False).S
    full_matrices = bool(full_matrices)
    return _svd_factors(_svd(a, full_matrices=full_matrices), shape, full_matrices)


@composite(
    Spec(
        [Case(((4, 3),)), Case(((2, 2, 3),))],
        domain=_separated_singular,
        ref=lambda np, x: np.linalg.svd(x, compute_uv=False),
    ),
    name="linalg.svdvals",
)
def svdvals(x):
    """The singular values, in decreasing order (``np.linalg.svdvals``)."""
    return svd(x, compute_uv=False)


# ----------------------------------------------------------------------- eigh
def _eigh_vjp(g, out, a, UPLO):
    n = _shape(a)[-1]
    (w, v), (gw, gv) = _unpack(out, [(n,), (n, n)]), _unpack(g, [(n,), (n, n)])
    inner = _diag_embed(gw)
    if _used(gv):
        # V^T dV's skew part over the eigenvalue gaps: symmetric, as the gradient is.
        vtgv = _mT(v) @ gv
        inner = inner + 0.5 * (vtgv - _mT(vtgv)) / _gaps(w)
    return v @ inner @ _mT(v)


def _eigen_factors(packed, n, result=EighResult):
    return result(*_unpack(packed, [(n,), (n, n)]))


@defop(
    _eigh_vjp,
    saves_out=True,
    name="eigh",
    spec=Spec(
        [
            Case(((3, 3),), {"UPLO": "L"}),
            Case(((2, 4, 4),), {"UPLO": "U"}),
            Case(((1, 1),), {"UPLO": "L"}),
        ],
        domain=_separated_symmetric,
        # NumPy reads one triangle; checks perturb both, so feed a symmetric matrix.
        call=lambda op, a, UPLO: _eigen_check(
            _CR, *_eigen_factors(op(_symmetric(a), UPLO=UPLO), _shape(a)[-1])
        ),
        ref=lambda np, a, UPLO: _eigen_check(
            np, *np.linalg.eigh(0.5 * (a + np.swapaxes(a, -1, -2)), UPLO=UPLO)
        ),
    ),
)
def _eigh(a, UPLO):
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices, packed."""
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return _pack([w, v], np.shape(a)[:-2])


def _uplo(UPLO, name):
    upper = str(UPLO).upper()
    if upper not in ("L", "U"):
        raise ValueError(f"{name}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return upper


def eigh(a, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix (or a stack), as
    ``np.linalg.eigh``: ``(eigenvalues, eigenvectors)``, reading the ``UPLO`` triangle.

    The gradient is the symmetric one (for symmetric perturbations), as cholesky's.
    """
    _square("eigh", a)
    packed = _eigh(a, UPLO=_uplo(UPLO, "eigh"))
    return _eigen_factors(packed, _shape(a)[-1])


@composite(
    Spec(
        [Case(((3, 3),)), Case(((2, 3, 3),), {"UPLO": "U"})],
        domain=_separated_symmetric,
        call=lambda f, a, **p: f(_symmetric(a), **p),
        ref=lambda np, a, UPLO="L": np.linalg.eigh(0.5 * (a + np.swapaxes(a, -1, -2)), UPLO=UPLO)[
            0
        ],
    ),
    name="linalg.eigvalsh",
)
def eigvalsh(a, UPLO="L"):
    """Eigenvalues of a symmetric matrix, ascending (their gradient needs no gap)."""
    return eigh(a, UPLO).eigenvalues


# ----------------------------------------------------------------------- eig
def _eig_vjp(g, out, a):
    n = _shape(a)[-1]
    (w, v), (gw, gv) = _unpack(out, [(n,), (n, n)]), _unpack(g, [(n,), (n, n)])
    inner = _diag_embed(gw)
    if _used(gv):
        vtgv = _mT(v) @ gv
        # The eigenvectors have unit norm: the part of dV along V itself is fixed by that.
        along = sum(vtgv * _eye(n, v), axis=-2)
        vtgv = vtgv - _mT(v) @ (v * expand_dims(along, -2))
        inner = inner + vtgv / _gaps(w) * (1 - _eye(n, v))
    return _solve(_mT(v), inner @ _mT(v))  # V^-T (...) V^T


@defop(
    _eig_vjp,
    saves_out=True,
    name="eig",
    spec=Spec(
        [Case(((3, 3),)), Case(((2, 3, 3),))],
        domain=_real_spectrum,
        call=lambda op, a: _eig_check(_CR, *_eigen_factors(op(a), _shape(a)[-1])),
        ref=lambda np, a: _eig_check(np, *np.linalg.eig(a)),
    ),
)
def _eig(a):
    """Real eigenvalues and unit eigenvectors of square matrices, packed."""
    w, v = np.linalg.eig(a)
    if np.iscomplexobj(w):
        raise np.linalg.LinAlgError(
            f"eig: complex eigenvalues (shape {np.shape(a)}): only real spectra are "
            "supported (eigh takes symmetric matrices)"
        )
    return _pack([w, v], np.shape(a)[:-2])


def eig(a):
    """Eigenvalues and unit eigenvectors ``(eigenvalues, eigenvectors)`` of a square
    matrix with a real spectrum (a LinAlgError when any eigenvalue is complex).

    The gradient is PyTorch's (distinct eigenvalues; eigenvectors normalised to unit norm).
    """
    _square("eig", a)
    return _eigen_factors(_eig(a), _shape(a)[-1], EigResult)


@composite(
    Spec(
        [Case(((3, 3),)), Case(((2, 4, 4),))],
        domain=_real_spectrum,
        ref=lambda np, a: np.linalg.eig(a)[0],
    ),
    name="linalg.eigvals",
)
def eigvals(a):
    """Eigenvalues of a square matrix with a real spectrum (else a LinAlgError)."""
    return eig(a).eigenvalues


# ----------------------------------------------------------------------- qr
def _qr_shapes(shape, complete):
    m, n = shape[-2:]
    columns = m if complete else min(m, n)
    return [(m, columns), (columns, n)]


def _qr_square_backward(q, r, gq, gr):
    """dA of A = Q R with R square: (dQ + Q copyltu(M)) R^-T, M = R dR^T - dQ^T Q
    (Seeger et al. 2017; Walter and Lehmann 2018)."""
    k = _shape(r)[-1]
    dtype = data_of(r).dtype
    m = r @ _mT(gr) - _mT(gq) @ q
    lower = np.tril(np.ones((k, k), dtype))
    symmetric = m * lower + _mT(m * (lower - np.eye(k, dtype=dtype)))  # copy lower to upper
    return _mT(_solve(r, _mT(gq + q @ symmetric)))


def _qr_vjp(g, out, a, complete):
    shape = _shape(a)
    m, n = shape[-2:]
    shapes = _qr_shapes(shape, complete)
    (q, r), (gq, gr) = _unpack(out, shapes), _unpack(g, shapes)
    if complete and m > n:
        if np.any(data_of(gq)[..., n:]):
            raise _unsupported_gradient(
                "qr", "the extra columns of Q of mode='complete'", "mode='reduced'"
            )
        q, gq, r, gr = _columns(q, n), _columns(gq, n), _rows(r, n), _rows(gr, n)
    if m >= n:
        return _qr_square_backward(q, r, gq, gr)
    # Wide: A = [X | Y] and R = [U | V], with X = Q U (square U) and Y = Q V.
    rest = (Ellipsis, slice(m, None))
    y, gv = getitem(a, rest), getitem(gr, rest)
    gx = _qr_square_backward(q, _columns(r, m), gq + y @ _mT(gv), _columns(gr, m))
    return concatenate([gx, q @ gv], axis=-1)


def _qr_check(xp, q, r):
    n = r.shape[-1]
    return _flat(xp, q[..., :n], r)


@defop(
    _qr_vjp,
    saves_out=True,
    name="qr",
    spec=Spec(
        [
            Case(((4, 3),), {"complete": False}),
            Case(((3, 4),), {"complete": False}),
            Case(((3, 3),), {"complete": False}),
            Case(((2, 4, 3),), {"complete": False}),
            Case(((4, 3),), {"complete": True}),
            Case(((2, 3, 5),), {"complete": True}),
        ],
        domain=(-1.0, 1.0),
        call=lambda op, a, complete: _qr_check(
            _CR, *_unpack(op(a, complete=complete), _qr_shapes(_shape(a), complete))
        ),
    ),
)
def _qr(a, complete):
    """Q (orthonormal columns) and R (upper triangular) with a = Q R, packed."""
    q, r = np.linalg.qr(a, mode="complete" if complete else "reduced")
    return _pack([q, r], np.shape(a)[:-2])


def qr(a, mode="reduced"):
    """QR decomposition as ``np.linalg.qr``: ``(Q, R)`` for mode 'reduced' or 'complete',
    R for 'r', LAPACK's ``(h, tau)`` for 'raw' (no gradient); stacks of matrices too.

    The gradient of 'complete' for tall matrices needs Q's extra columns out of the loss.
    """
    shape = _matrices("qr", a)
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"qr: unrecognized mode {mode!r}")
    if mode == "raw":
        raw = np.linalg.qr(np.asarray(data_of(a)), mode="raw")
        return tuple(Tensor._new(x) for x in raw) if isinstance(a, Tensor) else raw
    complete = mode == "complete"
    q, r = _unpack(_qr(a, complete=complete), _qr_shapes(shape, complete))
    return r if mode == "r" else QRResult(q, r)


# ----------------------------------------------------------------------- pinv
def _pinv_vjp(g, out, a, rcond, hermitian):
    # Golub and Pereyra (1973): exact wherever the rank (past the cutoff) is constant, with
    # no condition on the singular values' gaps. PyTorch's, hermitian=True included.
    p, pt, gt = out, _mT(out), _mT(g)
    grad = -(pt @ g @ pt)
    x = gt @ (p @ pt)
    grad = grad + x - a @ (p @ x)  # (I - A A+) G^T A+ A+^T
    y = (pt @ p) @ gt
    grad = grad + y - (y @ p) @ a  # A+^T A+ G^T (I - A+ A)
    return grad


def _rank_two(rng, shape):
    left = rng.uniform(-1.0, 1.0, shape[:-1] + (2,))
    return left @ rng.uniform(-1.0, 1.0, shape[:-2] + (2, shape[-1]))


def _pinv_ref(np, a, rcond, hermitian=False):
    """pinv through the SVD, truncated at the cutoff (the reference's pinv has no rcond)."""
    a = 0.5 * (a + np.swapaxes(a, -1, -2)) if hermitian else a
    if a.size == 0:
        return np.linalg.pinv(a)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    kept = s > rcond * np.max(s, axis=-1, keepdims=True)
    inverse = np.where(kept, 1.0 / np.where(kept, s, 1.0), 0.0)
    return np.swapaxes(vh, -1, -2) @ (inverse[..., None] * np.swapaxes(u, -1, -2))


# NOTE: a primitive for stability: through the SVD, pinv's gradient is nan wherever two
# singular values meet (the identity); Golub and Pereyra's formula needs only a fixed rank.
@defop(
    _pinv_vjp,
    saves_out=True,
    name="pinv",
    spec=Spec(
        [
            Case(((3, 4),), {"rcond": 1e-15, "hermitian": False}),
            Case(((4, 3),), {"rcond": 1e-15, "hermitian": False}),
            Case(((2, 3, 3),), {"rcond": 1e-15, "hermitian": False}),
            Case(((3, 3),), {"rcond": 1e-15, "hermitian": True}, domain=_separated_symmetric),
            # rank 2: the cutoff keeps the rank where the checks perturb
            Case(((4, 3),), {"rcond": 1e-4, "hermitian": False}, domain=_rank_two),
            Case(((0, 3),), {"rcond": 1e-15, "hermitian": False}),
        ],
        call=lambda op, a, rcond, hermitian: op(
            _symmetric(a) if hermitian else a, rcond=rcond, hermitian=hermitian
        ),
        ref=_pinv_ref,
    ),
)
def _pinv(a, rcond, hermitian):
    """Moore-Penrose pseudo-inverse (singular values at most rcond * the largest: 0)."""
    return np.linalg.pinv(a, rcond=rcond, hermitian=hermitian)


_NO_VALUE = object()


def _float_type(*xs):
    dtype = np.result_type(*(data_of(x) for x in xs))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def pinv(a, rcond=None, hermitian=False, *, rtol=_NO_VALUE):
    """Moore-Penrose pseudo-inverse, as ``np.linalg.pinv`` (``rcond`` default 1e-15;
    ``rtol=None``: max(m, n) * eps); stacks of matrices too.

    Its gradient holds wherever the rank is constant (repeated singular values included).
    """
    shape = _matrices("pinv", a)
    if rcond is None:
        if rtol is _NO_VALUE:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(shape[-2:]) * np.finfo(_float_type(a)).eps
        else:
            rcond = rtol
    elif rtol is not _NO_VALUE:
        raise ValueError("pinv: rtol and rcond can't both be set")
    if hermitian:
        _square("pinv", a)
    return _pinv(a, rcond=data_of(rcond), hermitian=bool(hermitian))


# ----------------------------------------------------------------------- lstsq
def _lstsq_call(f, a, b, **params):
    x, residuals, _, s = f(a, b, **params)
    return _flat(_CR, x, residuals, s)


def _lstsq_ref(np, a, b):
    m, n = a.shape
    x = _pinv_ref(np, a, np.finfo(float).eps * max(m, n)) @ b
    s = np.linalg.svd(a, compute_uv=False)
    residuals = np.sum((a @ x - b) ** 2, axis=0) if m > n else np.zeros(0)
    return _flat(np, x, np.reshape(residuals, (-1,)), s)


@composite(
    Spec(
        [
            Case(((5, 3), (5,))),
            Case(((5, 3), (5, 2))),
            Case(((3, 5), (3,))),
            Case(((4, 4), (4, 2))),
        ],
        call=_lstsq_call,
        ref=_lstsq_ref,
    ),
    name="linalg.lstsq",
)
def lstsq(a, b, rcond=None):
    """Least-squares solution of ``a @ x = b``, as ``np.linalg.lstsq``:
    ``(x, residuals, rank, s)``; x is ``pinv(a, rcond) @ b`` (the minimum-norm solution),
    residuals the squared residual norms (empty unless rank == n < m), s the singular values.
    """
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) != 2 or len(b_shape) not in (1, 2):
        raise ShapeError(
            f"lstsq: expected a matrix a and a vector or matrix b, got shapes "
            f"{a_shape} and {b_shape}"
        )
    m, n = a_shape
    if b_shape[0] != m:
        raise ShapeError(
            f"lstsq: incompatible dimensions: a of shape {a_shape}, b of shape {b_shape}"
        )
    dtype = _float_type(a, b)
    if rcond is None:
        rcond = np.finfo(dtype).eps * max(m, n)
    s = svd(a, compute_uv=False)
    singular = np.asarray(data_of(s))
    rank = int(np.count_nonzero(singular > rcond * singular.max())) if singular.size else 0
    x = matmul(pinv(a, rcond=rcond), b)
    if rank == n and m > n:
        r = matmul(a, x) - b
        residuals = reshape(sum(r * r, axis=0), (-1,))
    else:
        residuals = np.empty(0, dtype)
        if isinstance(x, Tensor):
            residuals = Tensor._new(residuals)
    return x, residuals, rank, s


# ----------------------------------------------------------------------- powers and rank
def _matrix_power_ref(np, a, n):
    base = np.linalg.inv(a) if n < 0 else a
    out = a * 0 + np.eye(a.shape[-1])
    for _ in range(builtins.abs(n)):
        out = out @ base
    return out


def _near_identity(rng, shape):
    return np.eye(shape[-1]) + 0.3 * rng.uniform(-1.0, 1.0, shape)


@composite(
    Spec(
        [Case(((3, 3),), {"n": n}) for n in (0, 1, 2, 3, 5, -1, -3)]
        + [Case(((2, 3, 3),), {"n": 4}), Case(((2, 2, 2),), {"n": -2})],
        domain=_near_identity,
        ref=_matrix_power_ref,
    ),
    name="linalg.matrix_power",
)
def matrix_power(a, n):
    """``a`` to the integer power ``n`` by repeated squaring (negative: of its inverse), as
    ``np.linalg.matrix_power``; stacks of matrices too.
    """
    _square("matrix_power", a)
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"matrix_power: exponent must be an integer, got {n!r}") from None
    if not isinstance(a, Tensor):
        a = np.asarray(a)
    if n == 0:  # the identity, still in a's graph (with gradient 0)
        shape = _shape(a)
        identity = np.broadcast_to(np.eye(shape[-1], dtype=data_of(a).dtype), shape)
        return where(np.ones(shape, bool), identity, a)
    if n < 0:
        a, n = inv(a), -n
    # NumPy's own order of products, so that the values agree to the last bit.
    if n <= 3:
        return a if n == 1 else matmul(a, a) if n == 2 else matmul(matmul(a, a), a)
    power = result = None
    while n > 0:
        power = a if power is None else matmul(power, power)
        n, bit = divmod(n, 2)
        if bit:
            result = power if result is None else matmul(result, power)
    return result


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """The rank (count of singular values above the tolerance), as
    ``np.linalg.matrix_rank``; not differentiable (a Tensor for a Tensor, without grad).
    """
    rank = np.linalg.matrix_rank(
        np.asarray(data_of(A)), tol=data_of(tol), hermitian=hermitian, rtol=data_of(rtol)
    )
    return Tensor._new(np.asarray(rank)) if isinstance(A, Tensor) else rank


# ----------------------------------------------------------------------- array-API norms
def _moved_last(x, axes):
    """x with ``axes`` (sorted ints) flattened into one last axis."""
    shape = _shape(x)
    others = [i for i in range(len(shape)) if i not in axes]
    moved = transpose(x, others + list(axes))
    return reshape(moved, [shape[i] for i in others] + [math.prod(shape[i] for i in axes)])


@composite(
    Spec(
        [
            Case(((3, 4),)),
            Case(((3, 4),), {"ord": 1, "axis": 1}),
            Case(((2, 3, 4),), {"ord": 3, "axis": (0, 2), "keepdims": True}),
            Case(((2, 3),), {"ord": np.inf, "keepdims": True}),
            Case(((),)),
        ],
        domain=lambda rng, shape: rng.choice([-1, 1], shape) * rng.uniform(0.3, 2.0, shape),
        ref=lambda np, x, ord=2, axis=None, keepdims=False: _vector_norm_ref(
            np, x, ord, axis, keepdims
        ),
    ),
    name="linalg.vector_norm",
)
def vector_norm(x, ord=2, axis=None, keepdims=False, **aliases):
    """The vector norm over ``axis`` (all axes when None, flattened; several axes at once
    too), as ``np.linalg.vector_norm``; PyTorch's ``dim``/``keepdim`` accepted."""
    axis, keepdims = resolve(axis, keepdims, aliases, "vector_norm")
    shape = _shape(x)
    axes = normalize_axis(axis, len(shape), "vector_norm")
    axes = tuple(range(len(shape))) if axes is None else axes
    result = norm(_moved_last(x, axes), ord=ord, axis=-1)
    if keepdims:
        result = reshape(result, [1 if i in axes else n for i, n in enumerate(shape)])
    return result


def _vector_norm_ref(np, x, ord, axis, keepdims):
    axes = (
        tuple(range(x.ndim))
        if axis is None
        else ((axis,) if isinstance(axis, int) else tuple(axis))
    )
    if ord == np.inf:
        return np.max(np.abs(x), axis=axes, keepdims=keepdims)
    return np.sum(np.abs(x) ** ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)


@composite(
    Spec(
        [
            Case(((3, 4),)),
            Case(((2, 3, 4),), {"ord": "nuc"}),
            Case(((4, 3),), {"ord": 2, "keepdims": True}),
            Case(((2, 3, 4),), {"ord": 1, "axis": (0, 2)}),
        ],
        domain=lambda rng, shape: rng.choice([-1, 1], shape) * rng.uniform(0.3, 2.0, shape),
        ref=lambda np, x, ord="fro", axis=(-2, -1), keepdims=False: _norm_ref(
            np, x, ord, axis, keepdims
        ),
    ),
    name="linalg.matrix_norm",
)
def matrix_norm(x, ord="fro", axis=(-2, -1), keepdims=False, **aliases):
    """The matrix norm over two axes (the last two by default), as
    ``np.linalg.matrix_norm``; PyTorch's ``dim``/``keepdim`` accepted."""
    axis, keepdims = resolve(axis, keepdims, aliases, "matrix_norm")
    return norm(x, ord=ord, axis=tuple(axis), keepdims=keepdims)
