"""Exponentials and logarithms in other bases, and their stable combinations."""

import math

import numpy as np

from .elementwise import sigmoid
from .registry import binary_spec, defop, unary_spec

__all__ = ["exp2", "expm1", "log2", "log10", "logaddexp", "logaddexp2", "rsqrt"]

# Python floats, not NumPy scalars: they keep float32 arrays float32.
_LN2, _LN10 = math.log(2.0), math.log(10.0)


@defop(
    lambda g, out, a: g * out * _LN2,
    saves_out=True,
    kernel=np.exp2,
    spec=unary_spec(lambda np, a: np.exp2(a)),
)
def exp2(a):
    """2 ** a."""


@defop(
    lambda g, out, a: g * (out + 1),
    saves_out=True,
    kernel=np.expm1,
    spec=unary_spec(lambda np, a: np.expm1(a)),
)
def expm1(a):
    """e ** a - 1, accurate for small a.

    >>> import chainrule as cr
    >>> float(cr.expm1(cr.tensor(1e-10, dtype="float64")))
    1.00000000005e-10
    """


@defop(
    lambda g, out, a: g / (a * _LN2),
    kernel=np.log2,
    spec=unary_spec(lambda np, a: np.log2(a), domain=(0.2, 3.0)),
)
def log2(a):
    """Base-2 logarithm."""


@defop(
    lambda g, out, a: g / (a * _LN10),
    kernel=np.log10,
    spec=unary_spec(lambda np, a: np.log10(a), domain=(0.2, 3.0)),
)
def log10(a):
    """Base-10 logarithm."""


# The gradient of log(e^a + e^b) is the softmax of (a, b): sigmoid(a - b) and sigmoid(b - a),
# which stay in [0, 1] for any inputs (no exp of a large number).
@defop(
    lambda g, out, a, b: g * sigmoid(a - b),
    lambda g, out, a, b: g * sigmoid(b - a),
    kernel=np.logaddexp,
    spec=binary_spec(lambda np, a, b: np.logaddexp(a, b), domain=(-4.0, 4.0)),
)
def logaddexp(a, b):
    """log(e ** a + e ** b), computed without overflow.

    >>> import chainrule as cr
    >>> a = cr.tensor(1000.0, requires_grad=True)
    >>> out = cr.logaddexp(a, 1000.0); out.backward()
    >>> round(float(out), 2), float(a.grad)
    (1000.69, 0.5)
    """


@defop(
    lambda g, out, a, b: g * sigmoid((a - b) * _LN2),
    lambda g, out, a, b: g * sigmoid((b - a) * _LN2),
    kernel=np.logaddexp2,
    spec=binary_spec(lambda np, a, b: np.logaddexp2(a, b), domain=(-4.0, 4.0)),
)
def logaddexp2(a, b):
    """log2(2 ** a + 2 ** b), computed without overflow."""


# NOTE: a primitive for speed: one node (and its saved output) instead of sqrt and divide.
@defop(
    lambda g, out, a: -0.5 * g * out * out * out,
    saves_out=True,
    spec=unary_spec(lambda np, a: 1 / np.sqrt(a), domain=(0.2, 3.0)),
)
def rsqrt(a):
    """1 / sqrt(a) (PyTorch's name)."""
    return 1 / np.sqrt(a)
