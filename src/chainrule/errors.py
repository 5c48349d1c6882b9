"""The exceptions chainrule raises, each a subclass of the built-in a caller would expect."""


class ShapeError(ValueError):
    """Operand shapes that cannot be combined; the message names the op and the shapes."""


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


class CheckpointError(OSError):
    """A checkpoint file that is missing, truncated, corrupted or of the wrong kind."""
