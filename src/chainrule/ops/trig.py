"""Trigonometric and hyperbolic functions and their inverses."""

__all__ = []
