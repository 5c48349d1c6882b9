"""Elementwise arithmetic beyond the four operations: powers, remainders, signs, NaN handling."""

__all__ = []
