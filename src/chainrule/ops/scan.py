"""Scans along an axis: cumulative sums and products, differences."""

__all__ = []
