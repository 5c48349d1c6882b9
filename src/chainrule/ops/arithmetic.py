"""Elementwise arithmetic beyond the four operations: powers, remainders, signs, NaN handling."""

import numpy as np

from .elementwise import where
from .registry import Case, Spec, binary_spec, data_of, defop, passthrough, unary_spec

__all__ = ["fmax", "fmin", "fmod", "mod", "nan_to_num", "reciprocal", "remainder", "sign",
           "square"]


def _mask(condition, like):
    """A 0/1 array in ``like``'s dtype: a constant factor in a vjp."""
    return np.asarray(condition, dtype=np.asarray(data_of(like)).dtype)


def _away_from_zero(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.3, 2.0, shape)


# ----------------------------------------------------------------------- powers
@defop(lambda g, out, a: 2 * g * a, kernel=np.square,
       spec=unary_spec(lambda np, a: np.square(a)))
def square(a):
    """a * a.

    >>> import chainrule as cr
    >>> x = cr.tensor([3.0], requires_grad=True)
    >>> cr.square(x).sum().backward(); x.grad.numpy()
    array([6.], dtype=float32)
    """


@defop(lambda g, out, a: -g * out * out, saves_out=True, kernel=np.reciprocal,
       spec=unary_spec(lambda np, a: np.reciprocal(a), domain=_away_from_zero))
def reciprocal(a):
    """1 / a (NumPy's kernel: integer inputs give integer results, as in NumPy)."""


def _zero(g, out, a):
    # A zero of g's shape and dtype that stays zero for an infinite or NaN g (as PyTorch's).
    return where(False, g, 0.0)


@defop(_zero, kernel=np.sign,
       # sign + 0 * a: the reference depends on a, so autograd returns its zero vjp.
       spec=unary_spec(lambda np, a: np.sign(a) + 0 * a, domain=_away_from_zero))
def sign(a):
    """-1, 0 or 1 by the sign of a (NaN for NaN); its gradient is 0, as in PyTorch."""


# ----------------------------------------------------------------------- remainders
def _quotient_domain(rng, shape):
    # Divisors of magnitude in (1, 1.05); the spec's call scales the dividend by 2.5, so that
    # a / b lies in +-(2.38, 2.63), away from the integers where remainders jump.
    return rng.choice([-1, 1], shape) * rng.uniform(1.0, 1.05, shape)


def _remainder_spec(ref):
    return binary_spec(lambda np, a, b: ref(np, 2.5 * a, b), domain=_quotient_domain,
                       call=lambda op, a, b: op(2.5 * a, b))


def _floor_quotient(a, b):
    return np.floor(np.divide(data_of(a), data_of(b)))


def _trunc_quotient(a, b):
    return np.trunc(np.divide(data_of(a), data_of(b)))


@defop(passthrough, lambda g, out, a, b: -g * _floor_quotient(a, b), name="remainder",
       kernel=np.remainder, spec=_remainder_spec(lambda np, a, b: np.remainder(a, b)))
def remainder(a, b):
    """a - floor(a / b) * b: the remainder with the sign of the divisor (Python's ``%``).

    The gradient is 1 for a and -floor(a / b) for b (0 at the jumps' one-sided limits aside).

    >>> import chainrule as cr
    >>> cr.remainder(cr.tensor([-7.0, 7.0]), 3.0).numpy()
    array([2., 1.], dtype=float32)
    """


mod = remainder


@defop(passthrough, lambda g, out, a, b: -g * _trunc_quotient(a, b),
       kernel=np.fmod,
       # autograd has no fmod: the same formula with trunc (constant for autograd) in its place.
       spec=_remainder_spec(lambda np, a, b: a - b * np.trunc(a / b)))
def fmod(a, b):
    """a - trunc(a / b) * b: the remainder with the sign of the dividend (C's fmod).

    >>> import chainrule as cr
    >>> cr.fmod(cr.tensor([-7.0, 7.0]), 3.0).numpy()
    array([-1.,  1.], dtype=float32)
    """


# ----------------------------------------------------------------------- NaN-aware
def _route_ignoring_nan(g, mine, other, strict, first):
    """The fmax/fmin gate: the gradient goes to the winner, to the number beside a NaN, to
    the first input when both are NaN (as PyTorch), and ties split it evenly."""
    x, y = data_of(mine), data_of(other)
    mine_nan, other_nan = np.isnan(x), np.isnan(y)
    wins = strict(x, y) | (other_nan & ~mine_nan)
    if first:
        wins = wins | (mine_nan & other_nan)
    return g * (_mask(wins, mine) + 0.5 * _mask(x == y, mine))


@defop(lambda g, out, a, b: _route_ignoring_nan(g, a, b, np.greater, True),
       lambda g, out, a, b: _route_ignoring_nan(g, b, a, np.greater, False),
       kernel=np.fmax, spec=binary_spec(lambda np, a, b: np.fmax(a, b)))
def fmax(a, b):
    """Elementwise max ignoring NaN: the number wins against a NaN (ties split the gradient).

    >>> import chainrule as cr
    >>> cr.fmax(cr.tensor([1.0, float("nan")]), 0.5).numpy()
    array([1. , 0.5], dtype=float32)
    """


@defop(lambda g, out, a, b: _route_ignoring_nan(g, a, b, np.less, True),
       lambda g, out, a, b: _route_ignoring_nan(g, b, a, np.less, False),
       kernel=np.fmin, spec=binary_spec(lambda np, a, b: np.fmin(a, b)))
def fmin(a, b):
    """Elementwise min ignoring NaN: the number wins against a NaN (ties split the gradient)."""


def _non_finite_domain(rng, shape):
    # Mostly numbers, some NaN and infinities: their finite differences are 0, as the gradient.
    values = rng.uniform(-2.0, 2.0, shape)
    special = rng.choice([np.nan, np.inf, -np.inf], shape)
    return np.where(rng.uniform(size=shape) < 0.3, special, values)


def _nan_to_num_ref(np, x, nan, posinf, neginf):
    # autograd's nan_to_num takes no keywords: where, with the replacements as constants.
    largest = float(np.finfo(np.float64).max)
    posinf = largest if posinf is None else posinf
    neginf = -largest if neginf is None else neginf
    fill = np.where(np.isnan(x), nan, np.where(np.greater(x, 0), posinf, neginf))
    return np.where(np.isfinite(x), x, fill)


_NAN_TO_NUM_DEFAULTS = {"nan": 0.0, "posinf": None, "neginf": None}
_NAN_TO_NUM_CHOSEN = {"nan": 1.5, "posinf": 9.0, "neginf": -9.0}


@defop(lambda g, out, x, nan, posinf, neginf: where(np.isfinite(data_of(x)), g, 0.0),
       name="nan_to_num",
       spec=Spec([Case(shapes, dict(params)) for shapes in [((3, 4),), ((),), ((0, 3),)]
                  for params in (_NAN_TO_NUM_DEFAULTS, _NAN_TO_NUM_CHOSEN)],
                 domain=_non_finite_domain,
                 ref=_nan_to_num_ref))
def _nan_to_num(x, nan, posinf, neginf):
    """x with NaN, +inf and -inf replaced by numbers."""
    return np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """x with NaN replaced by ``nan``, +-inf by ``posinf``/``neginf`` (None: the dtype's
    largest finite numbers); the gradient is 1 where x was finite, 0 elsewhere.

    ``copy`` is accepted for NumPy's signature; the result is always a new array (a graph
    never writes into its inputs).

    >>> import chainrule as cr
    >>> cr.nan_to_num(cr.tensor([float("nan"), 2.0, -float("inf")]), neginf=-5.0).numpy()
    array([ 0.,  2., -5.], dtype=float32)
    """
    return _nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
