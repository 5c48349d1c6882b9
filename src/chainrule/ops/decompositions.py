"""Matrix decompositions: svd, eigh, qr, eig, and pinv built on them."""

__all__ = []
