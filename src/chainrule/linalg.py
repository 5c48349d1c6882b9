"""``cr.linalg``: inv, det, slogdet, solve, cholesky and norm, with NumPy's semantics."""

from .ops.solvers import cholesky, det, inv, norm, slogdet, solve

__all__ = ["inv", "det", "slogdet", "solve", "cholesky", "norm"]
