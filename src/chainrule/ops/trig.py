"""Trigonometric and hyperbolic functions and their inverses."""

import math

import numpy as np

from .elementwise import sqrt
from .registry import Case, Spec, binary_spec, defop, unary_spec

__all__ = [
    "acos",
    "acosh",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "cosh",
    "deg2rad",
    "degrees",
    "hypot",
    "rad2deg",
    "radians",
    "sinc",
    "sinh",
    "tan",
]

_DEGREE = math.pi / 180.0  # a Python float: keeps float32 arrays float32


def _away_from_zero(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.2, 2.0, shape)


# ----------------------------------------------------------------------- direct
@defop(
    lambda g, out, a: g * (1 + out * out),
    saves_out=True,
    kernel=np.tan,
    spec=unary_spec(lambda np, a: np.tan(a), domain=(-1.2, 1.2)),
)
def tan(a):
    """Tangent."""


@defop(lambda g, out, a: g * cosh(a), kernel=np.sinh, spec=unary_spec(lambda np, a: np.sinh(a)))
def sinh(a):
    """Hyperbolic sine."""


@defop(lambda g, out, a: g * sinh(a), kernel=np.cosh, spec=unary_spec(lambda np, a: np.cosh(a)))
def cosh(a):
    """Hyperbolic cosine."""


# ----------------------------------------------------------------------- inverses
@defop(
    lambda g, out, a: g / sqrt(1 - a * a),
    kernel=np.arcsin,
    spec=unary_spec(lambda np, a: np.arcsin(a), domain=(-0.9, 0.9)),
)
def arcsin(a):
    """Inverse sine, in [-pi/2, pi/2]."""


@defop(
    lambda g, out, a: -g / sqrt(1 - a * a),
    kernel=np.arccos,
    spec=unary_spec(lambda np, a: np.arccos(a), domain=(-0.9, 0.9)),
)
def arccos(a):
    """Inverse cosine, in [0, pi]."""


@defop(
    lambda g, out, a: g / (1 + a * a), kernel=np.arctan, spec=unary_spec(lambda np, a: np.arctan(a))
)
def arctan(a):
    """Inverse tangent, in (-pi/2, pi/2)."""


@defop(
    lambda g, out, a: g / sqrt(a * a + 1),
    kernel=np.arcsinh,
    spec=unary_spec(lambda np, a: np.arcsinh(a)),
)
def arcsinh(a):
    """Inverse hyperbolic sine."""


# (a - 1)(a + 1) rather than a * a - 1: no cancellation just above 1.
@defop(
    lambda g, out, a: g / sqrt((a - 1) * (a + 1)),
    kernel=np.arccosh,
    spec=unary_spec(lambda np, a: np.arccosh(a), domain=(1.1, 3.0)),
)
def arccosh(a):
    """Inverse hyperbolic cosine, for a >= 1."""


@defop(
    lambda g, out, a: g / ((1 - a) * (1 + a)),
    kernel=np.arctanh,
    spec=unary_spec(lambda np, a: np.arctanh(a), domain=(-0.9, 0.9)),
)
def arctanh(a):
    """Inverse hyperbolic tangent, for |a| < 1."""


@defop(
    lambda g, out, a, b: g * b / (a * a + b * b),
    lambda g, out, a, b: -g * a / (a * a + b * b),
    kernel=np.arctan2,
    # Coordinates away from 0: no point near the origin or on the cut (a = 0, b < 0).
    spec=binary_spec(lambda np, a, b: np.arctan2(a, b), domain=_away_from_zero),
)
def arctan2(a, b):
    """The angle of the point (b, a) (a is y, b is x), in [-pi, pi].

    >>> import chainrule as cr
    >>> round(float(cr.arctan2(cr.tensor(1.0), -1.0)), 4)
    2.3562
    """


@defop(
    lambda g, out, a, b: g * a / out,
    lambda g, out, a, b: g * b / out,
    saves_out=True,
    kernel=np.hypot,
    spec=binary_spec(lambda np, a, b: np.hypot(a, b), domain=_away_from_zero),
)
def hypot(a, b):
    """sqrt(a ** 2 + b ** 2), without overflow or underflow in the squares."""


# ----------------------------------------------------------------------- sinc
def _sin_shifted(y, quarter_turns):
    """sin(y + quarter_turns * pi / 2), exactly for any whole number of quarter turns."""
    return (np.sin(y), np.cos(y), -np.sin(y), -np.cos(y))[quarter_turns % 4]


def _sin_over_derivative(y, order):
    """The order-th derivative of sin(y) / y, at float64 array ``y``.

    Below |y| = max(1, order) from its Taylor series (sum over n of (-1)^n y^(2n-order) /
    ((2n + 1) (2n - order)!)); above it by the recurrence f_k = (sin^(k)(y) - k f_(k-1)) / y
    (from y f = sin y differentiated k times), which shrinks errors there (k / |y| <= 1).
    The series cancels about e^order of relative precision: fine for the orders that nested
    differentiation reaches (within 1e-12 of mpmath up to order 4, tested to order 3).
    """
    threshold = max(1.0, float(order))
    small = np.abs(y) < threshold
    result = np.empty_like(y)
    # Recurrence where y is large (y set to 1 elsewhere: those values are replaced below).
    big = np.where(small, 1.0, y)
    f = np.sin(big) / big
    for k in range(1, order + 1):
        f = (_sin_shifted(big, k) - k * f) / big
    result[...] = f
    if small.any():
        ys = y[small]
        total = np.zeros_like(ys)
        power = np.ones_like(ys)  # ys ** m / m!
        # Terms fall like threshold ** m / m!: this many are below 1e-17 of the sum.
        for m in range(int(3 * threshold) + 40):
            if m > 0:
                power = power * ys / m
            if (m + order) % 2 == 0:
                n = (m + order) // 2
                total += (-1) ** n / (2 * n + 1) * power
        result[small] = total
    return result


def _sinc_vjp(g, out, x, order):
    return g * _sinc(x, order=order + 1)


def _sinc_ref(np, x, order):
    # Closed forms from x sinc(x) = sin(pi x) / pi, differentiated: valid away from 0.
    s0 = np.sinc(x)
    if order == 0:
        return s0
    s1 = (np.cos(np.pi * x) - s0) / x
    if order == 1:
        return s1
    return (-np.pi * np.sin(np.pi * x) - 2 * s1) / x


_SINC_CASES = (
    [Case((shape,), {"order": 0}) for shape in [(3, 4), (), (0, 3), (2, 1, 3)]]
    # Both sides of the switch from series to recurrence (pi |x| = max(1, order)).
    + [Case(((3, 4),), {"order": order}, domain=_away_from_zero) for order in (1, 2)]
)


# NOTE: a primitive, with every derivative order one op: sin(pi x) / (pi x) composed would
# be 0/0 at x = 0, and so would every derivative built from it.
@defop(_sinc_vjp, name="sinc", spec=Spec(_SINC_CASES, ref=_sinc_ref))
def _sinc(x, order):
    """The order-th derivative of sin(pi x) / (pi x) (1 at x = 0 for order 0)."""
    if order == 0:
        return np.sinc(x)
    array = np.asarray(x)
    dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float64
    y = math.pi * array.astype(np.float64)
    return (math.pi**order * _sin_over_derivative(y, order)).astype(dtype)


def sinc(x):
    """NumPy's normalized sinc, sin(pi x) / (pi x), with its limit 1 at x = 0.

    Its derivatives are exact at 0 too (0, then -pi ** 2 / 3, ...), to any order.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.0, 0.5], requires_grad=True)
    >>> cr.sinc(x).sum().backward(); x.grad.numpy().round(4)
    array([ 0.    , -1.2732], dtype=float32)
    """
    return _sinc(x, order=0)


# ----------------------------------------------------------------------- angles
@defop(
    lambda g, out, a: g * _DEGREE,
    kernel=np.deg2rad,
    spec=unary_spec(lambda np, a: np.deg2rad(a), domain=(-360.0, 360.0)),
)
def deg2rad(a):
    """Degrees to radians."""


@defop(
    lambda g, out, a: g * (1 / _DEGREE),
    kernel=np.rad2deg,
    spec=unary_spec(lambda np, a: np.rad2deg(a)),
)
def rad2deg(a):
    """Radians to degrees."""


radians, degrees = deg2rad, rad2deg
# PyTorch's (and the array API's) names.
asin, acos, atan, asinh, acosh, atanh, atan2 = (
    arcsin,
    arccos,
    arctan,
    arcsinh,
    arccosh,
    arctanh,
    arctan2,
)
