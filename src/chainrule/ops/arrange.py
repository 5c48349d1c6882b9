"""Rearranging elements: repeat, tile, roll, flip, rotate, move axes."""

__all__ = []
