"""Ordering and gathering: sort, top-k, take/put along an axis, gather and scatter."""

__all__ = []
