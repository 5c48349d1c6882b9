"""Joining and splitting arrays, NumPy's stacking family."""

__all__ = []
