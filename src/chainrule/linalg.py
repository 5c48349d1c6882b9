"""``cr.linalg``: NumPy's linear algebra (``np.linalg``'s names and semantics), differentiable.

Solvers: inv, det, slogdet, solve, cholesky, lstsq, pinv, matrix_power; norms: norm,
vector_norm, matrix_norm; decompositions: svd, svdvals, eigh, eigvalsh, eig, eigvals, qr;
matrix_rank (no gradient).
"""

from .ops.decompositions import (
    eig,
    eigh,
    eigvals,
    eigvalsh,
    lstsq,
    matrix_norm,
    matrix_power,
    matrix_rank,
    pinv,
    qr,
    svd,
    svdvals,
    vector_norm,
)
from .ops.solvers import cholesky, det, inv, norm, slogdet, solve

__all__ = [
    "cholesky",
    "det",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "inv",
    "lstsq",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "vector_norm",
]
