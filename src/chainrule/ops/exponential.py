"""Exponentials and logarithms in other bases, and their stable combinations."""

__all__ = []
