"""The exceptions chainrule raises, each a subclass of the built-in a caller would expect."""

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .diagnose import GraphCheck


class ShapeError(ValueError, RuntimeError):
    """Operand shapes that cannot be combined; the message names the op and the shapes.

    A ValueError as in NumPy and a RuntimeError as in PyTorch, so code written for either
    catches it."""


class AxisError(ShapeError, np.exceptions.AxisError):
    """An axis out of range for an operand: NumPy's AxisError (a ValueError and an
    IndexError) and a ShapeError at once; the message names the op, the axis and ndim."""

    def __init__(self, message):
        ShapeError.__init__(self, message)

    def __str__(self):
        return self.args[0]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences.

    Raised by ``check_graph``, it carries the whole ``report`` (a ``GraphCheck``).
    """

    report: "GraphCheck"  # set only by check_graph


class CheckpointError(OSError):
    """A checkpoint file that is missing, truncated, corrupted or of the wrong kind."""


class OutputError(TypeError, ValueError):
    """A transform's function returned what it cannot differentiate (not a scalar for
    ``grad``, a boolean): a TypeError as in HIPS autograd and a ValueError as before."""
