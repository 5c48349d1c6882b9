"""Elementwise arithmetic beyond the four operations: powers, remainders, signs, NaN handling,
NumPy's other names for the basic functions, choosing (``select``) and finite differences
(``gradient``)."""

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from . import elementwise as _elementwise
from . import logic as _logic
from . import reduce as _reduce
from .arrange import axes_of
from .elementwise import astype, where
from .registry import Case, Spec, binary_spec, composite, data_of, defop, passthrough, unary_spec
from .shape import concatenate, getitem, reshape

__all__ = [
    "absolute",
    "amax",
    "amin",
    "conj",
    "conjugate",
    "copysign",
    "fabs",
    "fmax",
    "fmin",
    "fmod",
    "frac",
    "gradient",
    "lerp",
    "mod",
    "nan_to_num",
    "real",
    "real_if_close",
    "reciprocal",
    "remainder",
    "select",
    "sgn",
    "sign",
    "square",
    "true_divide",
]


def _mask(condition, like):
    """A 0/1 array in ``like``'s dtype: a constant factor in a vjp."""
    return np.asarray(condition, dtype=np.asarray(data_of(like)).dtype)


def _away_from_zero(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.3, 2.0, shape)


# ----------------------------------------------------------------------- powers
@defop(lambda g, out, a: 2 * g * a, kernel=np.square, spec=unary_spec(lambda np, a: np.square(a)))
def square(a):
    """a * a.

    >>> import chainrule as cr
    >>> x = cr.tensor([3.0], requires_grad=True)
    >>> cr.square(x).sum().backward(); x.grad.numpy()
    array([6.], dtype=float32)
    """


@defop(
    lambda g, out, a: -g * out * out,
    saves_out=True,
    kernel=np.reciprocal,
    spec=unary_spec(lambda np, a: np.reciprocal(a), domain=_away_from_zero),
)
def reciprocal(a):
    """1 / a (NumPy's kernel: integer inputs give integer results, as in NumPy)."""


def _zero(g, out, a):
    # A zero of g's shape and dtype that stays zero for an infinite or NaN g (as PyTorch's).
    return where(False, g, 0.0)


@defop(
    _zero,
    kernel=np.sign,
    # sign + 0 * a: the reference depends on a, so autograd returns its zero vjp.
    spec=unary_spec(lambda np, a: np.sign(a) + 0 * a, domain=_away_from_zero),
)
def sign(a):
    """-1, 0 or 1 by the sign of a (NaN for NaN); its gradient is 0, as in PyTorch."""


@composite(unary_spec(lambda np, a: np.sign(a) + 0 * a, domain=_away_from_zero))
def sgn(input):
    """-1, 0 or 1 by the sign of ``input``, as ``torch.sgn`` for real numbers: NaN gives 0
    (``sign``, NumPy's, gives NaN); the gradient is 0.

    >>> import chainrule as cr
    >>> cr.sgn(cr.tensor([-2.0, 0.0, float("nan")])).tolist()
    [-1.0, 0.0, 0.0]
    """
    out = sign(input)
    nan = np.isnan(data_of(out))
    return where(nan, 0, out) if nan.any() else out


def _copysign_vjp(g, out, a, b):
    # out / a, as PyTorch: +1 where the sign is kept, -1 where it flips, 0 at a = 0.
    x, y = data_of(a), data_of(out)
    factor = np.where(x == 0, 0, np.where(np.signbit(x) == np.signbit(y), 1, -1))
    return g * _mask(factor, g)


@defop(
    _copysign_vjp,
    lambda g, out, a, b: _zero(g, out, a),
    kernel=np.copysign,
    # |a| with b's sign; b away from 0, where its sign (and so the value) jumps.
    # (+ 0 * b: the reference depends on b, so autograd returns its zero vjp.)
    spec=binary_spec(lambda np, a, b: np.abs(a) * np.sign(b) + 0 * b, domain=_away_from_zero),
)
def copysign(a, b):
    """|a| with the sign of b, elementwise (b's sign bit: -0.0 counts as negative).

    The gradient is +-1 for a (0 at a = 0, as PyTorch) and 0 for b.

    >>> import chainrule as cr
    >>> cr.copysign(cr.tensor([1.0, -2.0, 3.0]), -1.0).numpy()
    array([-1., -2., -3.], dtype=float32)
    """


def _fractional_domain(rng, shape):
    # Away from the integers, where the fractional part jumps.
    return rng.integers(-2, 2, shape) + rng.uniform(0.1, 0.9, shape)


@composite(unary_spec(lambda np, a: a - np.trunc(a), domain=_fractional_domain))
def frac(input):
    """The fractional part, ``input - trunc(input)`` (with the sign of the input), as
    ``torch.frac``; its gradient is 1.

    >>> import chainrule as cr
    >>> cr.frac(cr.tensor([1.25, -1.5])).tolist()
    [0.25, -0.5]
    """
    return input - _logic.trunc(input)


# ----------------------------------------------------------------------- remainders
def _quotient_domain(rng, shape):
    # Divisors of magnitude in (1, 1.05); the spec's call scales the dividend by 2.5, so that
    # a / b lies in +-(2.38, 2.63), away from the integers where remainders jump.
    return rng.choice([-1, 1], shape) * rng.uniform(1.0, 1.05, shape)


def _remainder_spec(ref):
    return binary_spec(
        lambda np, a, b: ref(np, 2.5 * a, b),
        domain=_quotient_domain,
        call=lambda op, a, b: op(2.5 * a, b),
    )


def _floor_quotient(a, b):
    return np.floor(np.divide(data_of(a), data_of(b)))


def _trunc_quotient(a, b):
    return np.trunc(np.divide(data_of(a), data_of(b)))


@defop(
    passthrough,
    lambda g, out, a, b: -g * _floor_quotient(a, b),
    name="remainder",
    kernel=np.remainder,
    spec=_remainder_spec(lambda np, a, b: np.remainder(a, b)),
)
def remainder(a, b):
    """a - floor(a / b) * b: the remainder with the sign of the divisor (Python's ``%``).

    The gradient is 1 for a and -floor(a / b) for b (0 at the jumps' one-sided limits aside).

    >>> import chainrule as cr
    >>> cr.remainder(cr.tensor([-7.0, 7.0]), 3.0).numpy()
    array([2., 1.], dtype=float32)
    """


mod = remainder


@defop(
    passthrough,
    lambda g, out, a, b: -g * _trunc_quotient(a, b),
    kernel=np.fmod,
    # autograd has no fmod: the same formula with trunc (constant for autograd) in its place.
    spec=_remainder_spec(lambda np, a, b: a - b * np.trunc(a / b)),
)
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


@defop(
    lambda g, out, a, b: _route_ignoring_nan(g, a, b, np.greater, True),
    lambda g, out, a, b: _route_ignoring_nan(g, b, a, np.greater, False),
    kernel=np.fmax,
    spec=binary_spec(lambda np, a, b: np.fmax(a, b)),
)
def fmax(a, b):
    """Elementwise max ignoring NaN: the number wins against a NaN (ties split the gradient).

    >>> import chainrule as cr
    >>> cr.fmax(cr.tensor([1.0, float("nan")]), 0.5).numpy()
    array([1. , 0.5], dtype=float32)
    """


@defop(
    lambda g, out, a, b: _route_ignoring_nan(g, a, b, np.less, True),
    lambda g, out, a, b: _route_ignoring_nan(g, b, a, np.less, False),
    kernel=np.fmin,
    spec=binary_spec(lambda np, a, b: np.fmin(a, b)),
)
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


@defop(
    lambda g, out, x, nan, posinf, neginf: where(np.isfinite(data_of(x)), g, 0.0),
    name="nan_to_num",
    spec=Spec(
        [
            Case(shapes, dict(params))
            for shapes in [((3, 4),), ((),), ((0, 3),)]
            for params in (_NAN_TO_NUM_DEFAULTS, _NAN_TO_NUM_CHOSEN)
        ],
        domain=_non_finite_domain,
        ref=_nan_to_num_ref,
    ),
)
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


# ----------------------------------------------------------------------- NumPy's other names
absolute = fabs = _elementwise.abs  # |a|; NumPy's fabs gives floats for ints too
true_divide = _elementwise.div  # a / b
amax, amin = _reduce.max, _reduce.min


def _real_part(x, numpy_function):
    """``x`` itself for a real Tensor: the real part of a real number is the number, and
    the graph stays whole. NumPy's result for anything else (a constant for a complex
    Tensor, which cannot require grad)."""
    if isinstance(x, Tensor):
        if np.iscomplexobj(x.data):
            return Tensor._new(np.asarray(numpy_function(x.data)))
        return x
    return numpy_function(x)


@composite(unary_spec(lambda np, x: np.real(x)))
def real(val):
    """The real part, as ``np.real``: a real input itself (so its gradient passes
    unchanged); complex Tensors give a constant (they cannot require grad).

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> cr.real(x) is x
    True
    """
    return _real_part(val, np.real)


@composite(unary_spec(lambda np, x: np.conj(x)))
def conj(x):
    """The complex conjugate, as ``np.conj``: a real input itself (PyTorch's ``conj`` too);
    complex Tensors give a constant."""
    return _real_part(x, np.conjugate)


@composite(unary_spec(lambda np, x: np.conjugate(x)))
def conjugate(x):
    """The complex conjugate, as ``np.conjugate`` (the same as :func:`conj`)."""
    return _real_part(x, np.conjugate)


@composite(unary_spec(lambda np, a: np.real_if_close(a)))
def real_if_close(a, tol=100):
    """``a`` as a real array when its imaginary parts are within ``tol`` machine epsilons of
    0, as ``np.real_if_close``: a real input itself, so its gradient passes unchanged."""
    return _real_part(a, lambda data: np.real_if_close(data, tol))


# ----------------------------------------------------------------------- choosing
def _select_call(f, *xs, condlist, default=0.0, default_is_input=False):
    choices = list(xs)
    if default_is_input:
        default = choices.pop()
    return f(condlist, choices, default=default)


def _select_ref(np_, *xs, condlist, default=0.0, default_is_input=False):
    choices = list(xs)
    if default_is_input:
        default = choices.pop()
    # Everything broadcast first (by a product, whose vjp sums back): autograd's where
    # does not sum its gradients back to its operands' shapes.
    ones = np.ones(np.broadcast_shapes(*map(np.shape, [*condlist, *choices, default])))
    result = default * ones
    for condition, choice in reversed(list(zip(condlist, choices))):
        result = np_.where(condition, choice * ones, result)
    return result


_MASKS = [
    np.array([[True, False, True, False]] * 3),
    np.arange(12).reshape(3, 4) % 3 == 0,
    np.array([[False] * 4, [True] * 4, [True, False] * 2]),
]


@composite(
    Spec(
        [
            Case(((3, 4), (3, 4), (3, 4)), {"condlist": _MASKS}),
            Case(((4,), (3, 1)), {"condlist": _MASKS[:2], "default": 1.5}),
            Case(((3, 4), (4,), ()), {"condlist": _MASKS[1:], "default_is_input": True}),
            Case(((), ()), {"condlist": [np.array(False), np.array(True)]}),
            Case(((0, 3),), {"condlist": [np.zeros((0, 3), bool)]}),
        ],
        call=_select_call,
        ref=_select_ref,
    )
)
def select(condlist, choicelist, default=0):
    """From ``choicelist[i]`` where ``condlist[i]`` is the first condition that holds, and
    ``default`` where none does, as ``np.select``: nested ``where``s, so the choices and the
    default are differentiable and the (boolean) conditions are not.

    >>> import chainrule as cr
    >>> x = cr.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    >>> cr.select([x < 0, x < 1], [-x, x * x], default=1.0).tolist()
    [2.0, 0.25, 1.0]
    """
    if len(condlist) != len(choicelist):
        raise ValueError("select: list of cases must be same length as list of conditions")
    if not condlist:
        raise ValueError("select with an empty condition list is not possible")
    conditions = [np.asarray(data_of(c)) for c in condlist]
    for i, condition in enumerate(conditions):
        if condition.dtype != np.bool_:
            raise TypeError(
                f"select: invalid entry {i} in condlist: should be boolean "
                f"ndarray, got dtype {condition.dtype}"
            )
    values = list(choicelist) + [default]
    if not any(isinstance(v, Tensor) for v in values):
        result = np.select(conditions, values[:-1], default)
        return Tensor._new(result) if any(isinstance(c, Tensor) for c in condlist) else result
    # NumPy's result type: Python numbers weakly, everything else as an array.
    dtype = np.result_type(
        *(v if type(v) in (int, float, complex) else np.asarray(data_of(v)) for v in values)
    )
    values = [
        (v if v.dtype == dtype else astype(v, dtype))
        if isinstance(v, Tensor)
        else np.asarray(v, dtype)
        for v in values
    ]
    result = values[-1]
    for condition, choice in reversed(list(zip(conditions, values[:-1]))):
        result = where(condition, choice, result)  # broadcasts them all, as NumPy does
    return result


# ----------------------------------------------------------------------- interpolation
@composite(
    Spec(
        [
            Case(((3, 4), (3, 4), (3, 4))),
            Case(((3, 4), (4,), ())),
            Case(((2, 1, 4), (3, 1), (4,))),
            Case(((), (), ())),
            Case(((3, 4), (3, 4)), {"weight": 0.25}),
            Case(((3, 4), (3, 4)), {"weight": 0.75}),
            Case(((0, 3), (3,)), {"weight": 0.5}),
        ],
        domain=(-1.0, 1.0),
        ref=lambda np, start, end, *weight, **params: (
            start + (weight[0] if weight else params["weight"]) * (end - start)
        ),
    )
)
def lerp(input, end, weight):
    """``input + weight * (end - input)``, as ``torch.lerp``; every argument is
    differentiable. Computed from the nearer end (``end - (end - input) * (1 - weight)`` for
    ``|weight| >= 0.5``), as PyTorch, so ``weight=1`` gives ``end`` exactly.

    >>> import chainrule as cr
    >>> cr.lerp(cr.tensor([0.0, 10.0]), cr.tensor([1.0, 20.0]), 0.5).tolist()
    [0.5, 15.0]
    """
    difference = end - input
    near_start = np.abs(data_of(weight)) < 0.5
    if np.all(near_start):
        return input + weight * difference
    if not np.any(near_start):
        return end - difference * (1 - weight)
    return where(near_start, input + weight * difference, end - difference * (1 - weight))


# ----------------------------------------------------------------------- finite differences
def _spacings(varargs, shape, axes):
    """One spacing per axis: a Python float (even spacing) or the coordinates' differences
    (an ndarray), as ``np.gradient`` reads ``varargs``."""
    for v in varargs:
        if isinstance(v, Tensor) and v.requires_grad:
            raise TypeError(
                "gradient: the spacings have no gradient here; pass them as constants (t.detach())"
            )
    values = [np.asarray(data_of(v)) for v in varargs]
    if not values:
        values = [np.asarray(1.0)] * len(axes)
    elif len(values) == 1 and values[0].ndim == 0:
        values = values * len(axes)
    elif len(values) != len(axes):
        raise TypeError(
            f"gradient: invalid number of arguments: {len(values)} spacings for {len(axes)} axes"
        )
    spacings: list[float | np.ndarray] = []
    for v, axis in zip(values, axes):
        if v.ndim == 0:
            spacings.append(float(v))
            continue
        if v.ndim != 1:
            raise ValueError("gradient: distances must be either scalars or 1d")
        if len(v) != shape[axis]:
            raise ShapeError(
                f"gradient: when 1d, distances must match the length of the "
                f"corresponding dimension: {len(v)} coordinates for axis "
                f"{axis} of length {shape[axis]}"
            )
        steps = np.diff(v.astype(np.float64) if v.dtype.kind in "biu" else v)
        spacings.append(float(steps[0]) if (steps == steps[0]).all() else steps)
    return spacings


def _differences(f, axis, h, edge_order, dtype):
    """The derivative of ``f`` along ``axis`` by NumPy's second-order central differences
    (one-sided ones of ``edge_order`` at the two ends), for spacing ``h``."""
    lead = (slice(None),) * axis

    def part(start, stop):
        return getitem(f, lead + (slice(start, stop),))

    first, second, third = part(0, 1), part(1, 2), part(2, 3)
    last3, last2, last = part(-3, -2), part(-2, -1), part(-1, None)
    if isinstance(h, float):
        inside = (part(2, None) - part(None, -2)) / (2.0 * h)
        if edge_order == 1:
            start, end = (second - first) / h, (last - last2) / h
        else:  # NumPy's coefficients, each divided by the spacing first
            start = (-1.5 / h) * first + (2.0 / h) * second + (-0.5 / h) * third
            end = (0.5 / h) * last3 + (-2.0 / h) * last2 + (1.5 / h) * last
        return concatenate([start, inside, end], axis)
    # Uneven spacing: second order inside from the two neighbouring steps dx1 and dx2.
    shape = [1] * f.ndim
    shape[axis] = -1
    dx1, dx2 = h[:-1], h[1:]
    coefficients = (
        -dx2 / (dx1 * (dx1 + dx2)),
        (dx2 - dx1) / (dx1 * dx2),
        dx1 / (dx2 * (dx1 + dx2)),
    )
    a, b, c = (k.astype(dtype).reshape(shape) for k in coefficients)
    inside = a * part(None, -2) + b * part(1, -1) + c * part(2, None)
    if edge_order == 1:
        start, end = (second - first) / float(h[0]), (last - last2) / float(h[-1])
    else:
        dx1, dx2 = float(h[0]), float(h[1])
        start = (
            -(2.0 * dx1 + dx2) / (dx1 * (dx1 + dx2)) * first
            + (dx1 + dx2) / (dx1 * dx2) * second
            - dx1 / (dx2 * (dx1 + dx2)) * third
        )
        dx1, dx2 = float(h[-2]), float(h[-1])
        end = (
            dx2 / (dx1 * (dx1 + dx2)) * last3
            - (dx2 + dx1) / (dx1 * dx2) * last2
            + (2.0 * dx2 + dx1) / (dx2 * (dx1 + dx2)) * last
        )
    return concatenate([start, inside, end], axis)


def _gradient_call(f, x, varargs=(), **params):
    out = f(x, *varargs, **params)
    if isinstance(out, tuple):
        return concatenate([reshape(o, (-1,)) for o in out])
    return out


def _gradient_ref(np_, x, varargs=(), axis=None, edge_order=1):
    # The definition, one axis at a time: differences of shifted slices over the steps,
    # the steps and weights worked out here with plain NumPy from the coordinates.
    axes = range(x.ndim) if axis is None else np.atleast_1d(axis) % x.ndim
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        varargs = varargs * len(axes)
    outs = []
    for i, ax in enumerate(axes):
        n = x.shape[ax]
        coords = (
            np.arange(n, dtype=float)
            if not varargs
            else (
                np.asarray(varargs[i], float)
                if np.ndim(varargs[i])
                else np.arange(n) * float(varargs[i])
            )
        )
        rows = []
        for k in range(n):  # a 3-point stencil around each k, shifted in at the ends
            if 0 < k < n - 1:
                points = [k - 1, k, k + 1]
            elif edge_order == 1:
                points = [0, 1] if k == 0 else [n - 2, n - 1]
            else:
                points = [0, 1, 2] if k == 0 else [n - 3, n - 2, n - 1]
            # Lagrange weights of the derivative at coords[k] through the points.
            weights = np.zeros(n)
            for p in points:
                others = [q for q in points if q != p]
                term = sum(
                    np.prod([coords[k] - coords[r] for r in others if r != q]) for q in others
                )
                weights[p] = term / np.prod([coords[p] - coords[q] for q in others])
            rows.append(weights)
        out = np_.tensordot(np.array(rows), x, axes=([1], [ax]))
        outs.append(np_.moveaxis(out, 0, ax))
    if len(outs) == 1:
        return outs[0]
    return np_.concatenate([np_.reshape(o, (-1,)) for o in outs])


_COORDINATES = np.array([0.0, 0.5, 1.5, 1.75, 3.0])


@composite(
    Spec(
        [
            Case(((5,),)),
            Case(((4, 5),)),
            Case(((4, 5),), {"axis": -1}),
            Case(((3, 4, 5),), {"axis": (0, 2), "edge_order": 2}),
            Case(((5,),), {"varargs": (0.5,), "edge_order": 2}),
            Case(((2, 3),), {"varargs": (2.0, 0.25)}),
            Case(((5, 3),), {"varargs": (_COORDINATES,), "axis": 0}),
            Case(((5, 3),), {"varargs": (_COORDINATES,), "axis": 0, "edge_order": 2}),
            Case(((5, 0),), {"axis": 0}),
        ],
        call=_gradient_call,
        ref=_gradient_ref,
    )
)
def gradient(f, *varargs, axis=None, edge_order=1):
    """The derivative of sampled values ``f`` along each axis, as ``np.gradient``: central
    differences inside, one-sided ones of ``edge_order`` (1 or 2) at the ends. ``varargs``
    gives the spacing: one number for every axis, one per axis, or the coordinates along an
    axis (uneven spacing). One axis gives an array, several a tuple. Differentiable in
    ``f`` (a fixed linear map); the spacings are constants.

    >>> import chainrule as cr
    >>> cr.gradient(cr.tensor([1.0, 2.0, 4.0, 7.0]))
    tensor([1. , 1.5, 2.5, 3. ])
    """
    if not isinstance(f, Tensor):
        return np.gradient(f, *varargs, axis=axis, edge_order=edge_order)
    if edge_order not in (1, 2):
        raise ValueError("gradient: 'edge_order' greater than 2 not supported")
    axes = tuple(range(f.ndim)) if axis is None else axes_of(axis, f.ndim, "gradient")
    spacings = _spacings(varargs, f.shape, axes)
    dtype = f.dtype if np.issubdtype(f.dtype, np.inexact) else np.dtype(np.float64)
    if f.dtype != dtype:
        f = astype(f, dtype)
    outs = []
    for along, h in zip(axes, spacings):
        if f.shape[along] < edge_order + 1:
            raise ShapeError(
                f"gradient: shape {f.shape} too small to calculate a numerical "
                f"gradient along axis {along}: at least (edge_order + 1) = "
                f"{edge_order + 1} elements are required"
            )
        outs.append(_differences(f, along, h, edge_order, dtype))
    return outs[0] if len(outs) == 1 else tuple(outs)
