"""Activations and the special functions they are made of, as in PyTorch 2.13.

The error function family (``erf``, ``erfc``, ``erfinv``), the GELU, the ELU family (ELU,
SELU, CELU), the hard functions (hardtanh, hardsigmoid, hardswish), softplus with
PyTorch's linear regime, the shrinks, ``logit`` and ``xlogy``. Formulas, defaults and the
gradient at every kink are PyTorch's: where a piecewise function meets a breakpoint, its
first and second derivatives there are the ones PyTorch's backward kernels give
(tests/test_activations.py compares them in float64).

>>> import chainrule as cr
>>> x = cr.tensor([-1.0, 0.0, 2.0], dtype="float64", requires_grad=True)
>>> y = gelu(x)
>>> y.sum().backward()
>>> [round(v, 6) for v in y.tolist()], [round(v, 6) for v in x.grad.tolist()]
([-0.158655, 0.0, 1.9545], [-0.083315, 0.5, 1.085232])
"""

import math
import warnings

import numpy as np

from ..errors import ShapeError
from .bits import select
from .elementwise import (
    _mask,
    abs,
    astype,
    clip,
    exp,
    log1p_exp,
    sigmoid,
    softplus,
    tanh,
    where,
)
from .nn import softmax
from .reduce import one_axis
from .registry import Case, Spec, composite, data_of, defop, unary_spec
from .shape import split

__all__ = ["celu", "erf", "erfc", "erfinv", "hardshrink", "logit", "selu", "threshold", "xlogy"]

# Python floats, not NumPy scalars: they keep float32 arrays float32.
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0
_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _special(xp):
    """scipy.special, or autograd's wrapping of it when ``xp`` is autograd.numpy: the
    error functions of the specs' reference formulas (only the test suite calls this)."""
    if xp is np:
        from scipy import special
    else:
        from autograd.scipy import special
    return special


def _abs_domain(rng, shape):
    """Samples away from 0, where the piecewise functions below have their kinks."""
    return rng.choice([-1, 1], shape) * rng.uniform(0.2, 2.0, shape)


# ----------------------------------------------------------------------- error function
# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
# (1969) 631-637, as in his SPECFUN routine CALERF: erf on |x| <= 0.46875, erfc on
# (0.46875, 4] and beyond 4, each to below float64's rounding.
_A = (
    3.16112374387056560e00,
    1.13864154151050156e02,
    3.77485237685302021e02,
    3.20937758913846947e03,
    1.85777706184603153e-1,
)
_B = (
    2.36012909523441209e01,
    2.44024637934444173e02,
    1.28261652607737228e03,
    2.84423683343917062e03,
)
_C = (
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
    2.15311535474403846e-8,
)
_D = (
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
)
_P = (
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
    1.63153871373020978e-2,
)
_Q = (
    2.56852019228982242e00,
    1.87295284992346047e00,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
)
_SQRPI = 5.6418958354775628695e-1  # 1 / sqrt(pi)
_THRESH = 0.46875
_XBIG = 26.543  # erfc underflows to 0 in float64 from here on


def _result_dtype(x):
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


def _ratio(y, top, bottom, steps):
    """The first ``steps`` Horner steps of Cody's numerator (led by ``top[-1]``) and
    denominator (monic), in place: the caller adds the last coefficients."""
    num, den = top[-1] * y, y.copy()
    for a, b in zip(top[:steps], bottom[:steps]):
        num += a
        num *= y
        den += b
        den *= y
    return num, den


def _scaled_by_gaussian(y, r):
    """r * exp(-y^2), with y^2 split in two so that the large exponent loses no digits."""
    head = np.trunc(y * 16.0)
    head /= 16.0
    rest = (y - head) * (y + head)
    np.negative(rest, out=rest)
    np.exp(rest, out=rest)
    np.multiply(head, head, out=head)
    np.negative(head, out=head)
    np.exp(head, out=head)
    head *= rest
    head *= r
    return head


def _erfc_far(y):
    """erfc(y) for y > 0.46875 (NaN stays NaN), in float64."""
    out = np.zeros_like(y)
    mid = y <= 4.0
    if mid.any():
        t = _part(y, mid)
        num, den = _ratio(t, _C, _D, 7)
        num += _C[7]
        den += _D[7]
        num /= den
        _put(out, mid, _scaled_by_gaussian(t, num))
    far = (y > 4.0) & (y < _XBIG)
    if far.any():
        t = _part(y, far)
        z = 1.0 / (t * t)
        num, den = _ratio(z, _P, _Q, 4)
        num += _P[4]
        den += _Q[4]
        num *= z
        num /= den
        np.subtract(_SQRPI, num, out=num)
        num /= t
        _put(out, far, _scaled_by_gaussian(t, num))
    unknown = np.isnan(y)
    if unknown.any():
        out[unknown] = np.nan
    return out


def _part(values, mask):
    """values[mask], without the copy when the mask takes everything."""
    return values if mask.all() else values[mask]


def _put(out, mask, values):
    if mask.all():
        out[...] = values
    else:
        out[mask] = values


def _cody(x, complement):
    """erf(x), or erfc(x) with ``complement``, for any float array (computed in float64)."""
    x = np.asarray(x)
    dtype, shape = _result_dtype(x), x.shape
    x = x.astype(np.float64, copy=False).reshape(-1)  # 1-d: 0-d arithmetic gives scalars
    y = np.abs(x)
    out = np.empty_like(x)
    near = y <= _THRESH
    if near.any():
        t = _part(x, near)
        num, den = _ratio(t * t, _A, _B, 3)
        num += _A[3]
        den += _B[3]
        num *= t
        num /= den
        _put(out, near, 1.0 - num if complement else num)
    far = ~near  # NaN too
    if far.any():
        t, tail = _part(x, far), _erfc_far(_part(y, far))
        if complement:
            value = np.where(t < 0, 2.0 - tail, tail)
        else:
            value = (0.5 - tail) + 0.5
            np.negative(value, out=value, where=t < 0)
        _put(out, far, value)
    return out.reshape(shape).astype(dtype, copy=False)


# NOTE: a primitive because NumPy has no erf: Cody's rational approximations, accurate to
# float64's rounding (float32 inputs are computed in float64 and rounded once).
@defop(
    lambda g, out, a: g * (_TWO_OVER_SQRT_PI * exp(-(a * a))),
    spec=unary_spec(lambda xp, a: _special(xp).erf(a), domain=(-3.0, 3.0)),
)
def erf(a):
    """The error function ``2 / sqrt(pi) * integral_0^a exp(-t^2) dt``.

    >>> float(cr.erf(np.float64(0.5)))
    0.5204998778130465
    """
    return _cody(a, complement=False)


# NOTE: a primitive for accuracy: 1 - erf(a) loses every digit once erf(a) rounds to 1
# (a > 6 in float64), where erfc(a) itself is still well above the underflow.
@defop(
    lambda g, out, a: g * (-_TWO_OVER_SQRT_PI * exp(-(a * a))),
    spec=unary_spec(lambda xp, a: _special(xp).erfc(a), domain=(-3.0, 3.0)),
)
def erfc(a):
    """The complementary error function ``1 - erf(a)``, accurate for large ``a``.

    >>> float(cr.erfc(np.float64(10.0)))
    2.0884875837625446e-45
    """
    return _cody(a, complement=True)


# The starting point of PyTorch's erfinv (a rational approximation good to about 1e-7),
# which Newton steps on erf then bring to float64's precision.
_ERFINV_A = (0.886226899, -1.645349621, 0.914624893, -0.140543331)
_ERFINV_B = (-2.118377725, 1.442710462, -0.329097515, 0.012229801)
_ERFINV_C = (-1.970840454, -1.624906493, 3.429567803, 1.641345311)
_ERFINV_D = (3.543889200, 1.637067800)


def _horner(z, coefficients):
    out = np.zeros_like(z)
    for c in reversed(coefficients):
        out = out * z + c
    return out


def _erfinv(y):
    y = np.asarray(y)
    dtype = _result_dtype(y)
    y = y.astype(np.float64, copy=False)
    magnitude = np.abs(y)
    x = np.full_like(y, np.nan)
    central = magnitude <= 0.7
    z = y[central] ** 2
    x[central] = y[central] * _horner(z, _ERFINV_A) / _horner(z, (1.0,) + _ERFINV_B)
    tail = (magnitude > 0.7) & (magnitude < 1.0)
    z = np.sqrt(-np.log((1.0 - magnitude[tail]) / 2.0))
    x[tail] = np.copysign(_horner(z, _ERFINV_C) / _horner(z, (1.0,) + _ERFINV_D), y[tail])
    # Newton on magnitudes; near +-1 the residual is taken as (1 - |y|) - erfc(|x|), exact
    # in its first term, where erf(|x|) - |y| would be all rounding.
    inside = central | tail
    target, t = magnitude[inside], np.abs(x[inside])
    upper = target > 0.5
    for _ in range(3):  # the third matters only in the far tail (|y| > 1 - 1e-12)
        residual = np.where(upper, (1.0 - target) - _cody(t, True), _cody(t, False) - target)
        t = t - residual / (_TWO_OVER_SQRT_PI * np.exp(-t * t))
    x[inside] = np.copysign(t, y[inside])
    ends = magnitude == 1.0
    x[ends] = np.copysign(np.inf, y[ends])
    return x.astype(dtype, copy=False)


@defop(
    lambda g, out, a: g * (_SQRT_PI_OVER_TWO * exp(out * out)),
    saves_out=True,
    spec=unary_spec(lambda xp, a: _special(xp).erfinv(a), domain=(-0.9, 0.9)),
)
def erfinv(a):
    """The inverse of ``erf`` on (-1, 1): +-inf at +-1, NaN outside.

    >>> float(cr.erfinv(np.float64(0.5204998778130465)))
    0.5
    """
    return _erfinv(a)


# ----------------------------------------------------------------------- GELU
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715
_GELU_MODES = ("none", "tanh")


def _gelu_tanh_gate(x):
    """sigmoid(2u) = (1 + tanh(u)) / 2 for the tanh form's u: no cancellation for u < 0."""
    return sigmoid((2.0 * _SQRT_2_OVER_PI) * (x + _KAPPA * (x * x * x)))


def _gelu_keeping_gate(x, approximate):
    """GELU and its gate (Phi(x), or sigmoid(2u)), which the rule reuses on plain backward."""
    gate = _gelu_tanh_gate(x) if approximate == "tanh" else 0.5 * erfc(-_SQRT1_2 * x)
    return x * gate, gate


def _gelu_vjp(g, out, x, gate=None, *, approximate):
    if approximate == "tanh":
        gate = _gelu_tanh_gate(x) if gate is None else gate
        slope = gate + (2.0 * _SQRT_2_OVER_PI) * x * gate * (1.0 - gate) * (
            1.0 + (3.0 * _KAPPA) * (x * x)
        )
    else:  # Phi(x) + x phi(x)
        gate = 0.5 * erfc(-_SQRT1_2 * x) if gate is None else gate
        slope = gate + _INV_SQRT_2PI * x * exp(-0.5 * (x * x))
    return g * slope


def _gelu_ref(xp, x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x**3)))
    return 0.5 * x * (1 + _special(xp).erf(x * _SQRT1_2))


# NOTE: a primitive for speed: one node whose rule reuses the forward's Phi(x) (or gate),
# instead of the five nodes of x * Phi(x) and a second erfc; the tanh form is written with
# sigmoid for stability (1 + tanh(u) cancels for u < 0).
@defop(
    _gelu_vjp,
    name="gelu",
    keeps=_gelu_keeping_gate,
    spec=Spec(
        [
            Case((shape,), {"approximate": mode})
            for mode in _GELU_MODES
            for shape in [(3, 4), (), (0, 3), (2, 1, 3)]
        ],
        domain=(-3.0, 3.0),
        ref=_gelu_ref,
    ),
)
def _gelu(x, approximate):
    """x * Phi(x), Phi the standard normal CDF, or its tanh approximation."""
    return _gelu_keeping_gate(x, approximate)[0]


def gelu(input, approximate="none"):
    """The Gaussian error linear unit ``x * Phi(x)`` (PyTorch's ``gelu``).

    ``approximate='tanh'`` gives ``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``.
    """
    if approximate not in _GELU_MODES:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _gelu(input, approximate=approximate)


# ----------------------------------------------------------------------- ELU family
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu_vjp(g, out, x, alpha, scale, input_scale):
    xd = data_of(x)
    # PyTorch's kinks: the slope at 0 is the negative side's (alpha * scale * input_scale),
    # its derivative there 0; exp is taken of min(x, 0) so the unused side cannot overflow.
    negative = (alpha * scale * input_scale) * exp(where(xd < 0, x, 0.0) * input_scale)
    return g * where(xd <= 0, negative, scale)


def _elu_ref(xp, x, alpha, scale, input_scale):
    return xp.where(x > 0, scale * x, alpha * scale * (xp.exp(x * input_scale) - 1))


_ELU_PARAMS = [
    {"alpha": 1.0, "scale": 1.0, "input_scale": 1.0},
    {"alpha": 0.1, "scale": 1.0, "input_scale": 1.0},
    {"alpha": _SELU_ALPHA, "scale": _SELU_SCALE, "input_scale": 1.0},
    {"alpha": 2.5, "scale": 1.0, "input_scale": 1 / 2.5},
]  # celu(alpha=2.5)


# NOTE: a primitive for stability: exp of the positive side overflows (its gradient would
# be 0 * inf), and for PyTorch's gradient at 0; ELU, SELU and CELU are its parameterizations.
@defop(
    _elu_vjp,
    name="elu",
    spec=Spec(
        [Case((shape,), params) for params in _ELU_PARAMS for shape in [(3, 4), (), (0, 3)]],
        domain=_abs_domain,
        ref=_elu_ref,
    ),
)
def _elu(x, alpha, scale, input_scale):
    """``scale * x`` above 0, ``alpha * scale * (exp(x * input_scale) - 1)`` elsewhere."""
    negative = np.expm1(np.minimum(x, 0) * input_scale) * (alpha * scale)
    return select(x <= 0, negative, x * scale)


def elu(input, alpha=1.0):
    """``x`` above 0, ``alpha * (exp(x) - 1)`` elsewhere."""
    return _elu(input, alpha=alpha, scale=1.0, input_scale=1.0)


def selu(input):
    """``scale * elu(x, alpha)`` with the self-normalising constants of Klambauer et al.
    (``alpha = 1.6732632...``, ``scale = 1.0507009...``), as in PyTorch."""
    return _elu(input, alpha=_SELU_ALPHA, scale=_SELU_SCALE, input_scale=1.0)


def celu(input, alpha=1.0):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise ZeroDivisionError("celu: alpha cannot be 0")
    return _elu(input, alpha=alpha, scale=1.0, input_scale=1.0 / alpha)


# ----------------------------------------------------------------------- hard functions
def _hardtanh_vjp(g, out, x, min_val, max_val):
    xd = data_of(x)
    return g * _mask(~((xd <= min_val) | (xd >= max_val)), x)


# NOTE: a primitive for PyTorch's gradient: 0 at the bounds themselves (clip passes it there).
@defop(
    _hardtanh_vjp,
    name="hardtanh",
    spec=unary_spec(
        lambda xp, x, min_val, max_val: xp.clip(x, min_val, max_val),
        params={"min_val": -1.0, "max_val": 0.5},
        domain=(-2.0, 2.0),
    ),
)
def _hardtanh(x, min_val, max_val):
    """x limited to [min_val, max_val]; the gradient is 0 at the bounds."""
    return np.clip(x, min_val, max_val)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    """``x`` limited to ``[min_val, max_val]``; the gradient there is 0, as in PyTorch."""
    if min_val > max_val:
        raise ValueError(
            f"hardtanh: min_val cannot be greater than max_val, got {min_val} and {max_val}"
        )
    return _hardtanh(input, min_val=min_val, max_val=max_val)


def relu6(input):
    """``min(max(x, 0), 6)``, PyTorch's ``hardtanh(x, 0, 6)``."""
    return _hardtanh(input, min_val=0.0, max_val=6.0)


# PyTorch 2.13's hardsigmoid_backward takes its slope 1/6 as ``1.0f / 6.0f``, in single
# precision for every dtype: the same constant keeps float64 gradients equal to its own.
_SIXTH_AS_PYTORCH = float(np.float32(1.0) / np.float32(6.0))


def _hard_domain(rng, shape):
    """Samples away from the kinks at -3 and 3 (and through all three pieces)."""
    return rng.choice([-4.5, 0.0, 4.5], shape) + rng.uniform(-1.4, 1.4, shape)


# NOTE: a primitive for PyTorch's kinks: the gradient 1/6 on the open interval (-3, 3) read
# off x itself (a composite would test x + 3, rounded), 0 elsewhere.
@defop(
    lambda g, out, x: g * (_mask((data_of(x) > -3) & (data_of(x) < 3), x) * _SIXTH_AS_PYTORCH),
    name="hardsigmoid",
    # No autograd reference: its slope would be the exact 1/6, not PyTorch's (see above);
    # tests/test_activations.py compares with PyTorch instead.
    spec=unary_spec(None, domain=_hard_domain),
)
def hardsigmoid(x):
    """``min(max(x + 3, 0), 6) / 6``."""
    return np.clip(x + 3, 0, 6) / 6


def _hardswish_vjp(g, out, x):
    xd = data_of(x)
    inside = (xd > -3) & (xd < 3)
    # x / 3 + 1/2 strictly inside (-3, 3), 0 at and below -3, 1 at and above 3 (NaN: 1).
    outside = _mask(~(xd <= -3), x)
    return g * where(inside, x / 3.0 + 0.5, outside)


# NOTE: a primitive for PyTorch's kinks: slope 0 at -3 and 1 at 3, second derivative 1/3
# only strictly between them.
@defop(
    _hardswish_vjp,
    name="hardswish",
    spec=unary_spec(lambda xp, x: x * xp.clip(x + 3, 0, 6) / 6, domain=_hard_domain),
)
def hardswish(x):
    """``x * min(max(x + 3, 0), 6) / 6``."""
    return x * np.clip(x + 3, 0, 6) / 6


# ----------------------------------------------------------------------- softplus
def _softplus_vjp(g, out, x, beta, threshold):
    scaled = data_of(x) * beta
    gate = sigmoid(x * beta)
    edge = scaled == threshold
    if edge.any():  # PyTorch: the curved side's slope there, but a second derivative of 0
        gate = where(edge, sigmoid(scaled), gate)
    linear = scaled > threshold
    return g * (where(linear, 1.0, gate) if linear.any() else gate)


def _softplus_ref(xp, x, beta, threshold):
    return xp.where(x * beta > threshold, x, xp.log1p(xp.exp(x * beta)) / beta)


# NOTE: a primitive for stability: log(1 + exp(beta x)) overflows past the threshold, where
# the result is x itself (a where of the two would carry 0 * inf into the gradient).
@defop(
    _softplus_vjp,
    name="softplus_threshold",
    spec=Spec(
        [Case((shape,), {"beta": 1.0, "threshold": 20.0}) for shape in [(3, 4), (), (0, 3)]]
        + [
            Case(((3, 4),), {"beta": 2.0, "threshold": 1.0}),  # both regimes
            Case(((3, 4),), {"beta": -0.5, "threshold": 0.5}),
        ],
        domain=_abs_domain,
        ref=_softplus_ref,
    ),
)
def _softplus(x, beta, threshold):
    """``log(1 + exp(beta x)) / beta``, or ``x`` where ``beta x > threshold``."""
    scaled = x * beta
    return select(scaled > threshold, x, log1p_exp(scaled) / beta)


# ----------------------------------------------------------------------- logit, xlogy
def _logit_vjp(g, out, x, eps):
    xd = data_of(x)
    if eps is None:
        outside, fill = (xd < 0) | (xd > 1), np.nan  # PyTorch: NaN outside [0, 1]
    else:
        outside, fill = (xd < eps) | (xd > 1 - eps), 0.0  # clamped: no gradient
    if not outside.any():
        return g / (x * (1 - x))
    inner = where(outside, 0.5, x)
    return g * where(outside, fill, 1 / (inner * (1 - inner)))


def _logit_ref(xp, x, eps):
    z = x if eps is None else xp.clip(x, eps, 1 - eps)
    return xp.log(z / (1 - z))


# NOTE: a primitive for PyTorch's gradient conventions: NaN outside [0, 1] without eps,
# 0 where eps clamps (the bounds themselves pass it).
@defop(
    _logit_vjp,
    name="logit",
    spec=Spec(
        [Case((shape,), {"eps": None}) for shape in [(3, 4), (), (0, 3)]]
        + [Case(((3, 4),), {"eps": 0.2})],  # clamps some samples, not others
        domain=(0.05, 0.95),
        ref=_logit_ref,
    ),
)
def _logit(x, eps):
    """log(z / (1 - z)), z = x clamped to [eps, 1 - eps] when eps is given."""
    if eps is not None:
        x = np.where(x < eps, eps, np.where(x > 1 - eps, 1 - eps, x))
    return np.log(x / (1 - x))


def logit(input, eps=None):
    """The log-odds ``log(p / (1 - p))``; with ``eps``, p is first clamped to
    ``[eps, 1 - eps]`` (a negative eps clamps nothing, as in PyTorch).

    The gradient is NaN outside [0, 1] without ``eps``, and 0 where ``eps`` clamps.

    >>> round(float(logit(np.float64(0.75))), 6)
    1.098612
    """
    return _logit(input, eps=None if eps is None or eps < 0 else float(eps))


def _xlogy_vjp_x(g, out, x, y):
    # PyTorch's rule: xlogy(g, y) (log y, and 0 where g is 0), set to 0 where x is 0 and y <= 0.
    share = xlogy(g, y)
    silent = (data_of(x) == 0) & (data_of(y) <= 0)
    return where(silent, 0.0, share) if silent.any() else share


def _positive_domain(rng, shape):
    return rng.uniform(0.2, 3.0, shape)


# NOTE: a primitive for its definition at x == 0: 0 even where log y is -inf or y is 0
# (x * log(y) gives NaN there), while a NaN y still gives NaN.
@defop(
    _xlogy_vjp_x,
    lambda g, out, x, y: g * x / y,
    name="xlogy",
    spec=Spec(
        [
            Case(shapes)
            for shapes in [
                ((3, 4), (3, 4)),
                ((3, 4), (4,)),
                ((2, 1, 4), (3, 1)),
                ((), (2, 3)),
                ((0, 3), (3,)),
            ]
        ],
        domain=_positive_domain,
        ref=lambda xp, x, y: x * xp.log(y),
    ),
)
def xlogy(x, y):
    """``x * log(y)``, and 0 where ``x`` is 0 (unless ``y`` is NaN), as in PyTorch.

    >>> cr.xlogy(np.array([0.0, 2.0]), np.array([0.0, np.e])).tolist()
    [0.0, 2.0]
    """
    x, y = np.asarray(x), np.asarray(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return np.where((x == 0) & ~np.isnan(y), 0, out)


# ----------------------------------------------------------------------- composites
@composite(unary_spec(lambda xp, x: x / (1 + xp.exp(-x)), domain=(-4.0, 4.0)))
def silu(input):
    """The sigmoid linear unit (swish) ``x * sigmoid(x)``."""
    return input * sigmoid(input)


@composite(unary_spec(lambda xp, x: x * xp.tanh(xp.logaddexp(0, x)), domain=(-4.0, 4.0)))
def mish(input):
    """``x * tanh(softplus(x))``."""
    return input * tanh(softplus(input))


@composite(unary_spec(lambda xp, x: x / (1 + xp.abs(x)), domain=_abs_domain))
def softsign(input):
    """``x / (1 + |x|)``."""
    return input / (1 + abs(input))


@composite(unary_spec(lambda xp, x: -xp.logaddexp(0, -x), domain=(-4.0, 4.0)))
def logsigmoid(input):
    """``log(sigmoid(x))``, computed without overflow as ``-softplus(-x)``."""
    return -softplus(-input)


@composite(unary_spec(lambda xp, x: x - xp.tanh(x)))
def tanhshrink(input):
    """``x - tanh(x)``."""
    return input - tanh(input)


def _shrink_domain(rng, shape):
    """Samples away from the kinks at +-0.5 (the default lambd), on both sides of them."""
    return rng.choice([-1, 1], shape) * rng.choice([0.25, 1.25], shape) + rng.uniform(
        -0.2, 0.2, shape
    )


_SHRINK_CASES = [Case((shape,), {}) for shape in [(3, 4), (), (0, 3)]] + [
    Case(((3, 4),), {"lambd": 0.9})
]


@composite(
    Spec(
        _SHRINK_CASES,
        domain=_shrink_domain,
        ref=lambda xp, x, lambd=0.5: xp.where(xp.abs(x) > lambd, x, 0.0),
    )
)
def hardshrink(input, lambd=0.5):
    """``x`` where ``|x| > lambd``, 0 elsewhere (the gradient too, at +-lambd included)."""
    x = data_of(input)
    return where(~((x >= -lambd) & (x <= lambd)), input, 0.0)


@composite(
    Spec(
        _SHRINK_CASES,
        domain=_shrink_domain,
        ref=lambda xp, x, lambd=0.5: xp.where(
            x > lambd, x - lambd, xp.where(x < -lambd, x + lambd, 0.0)
        ),
    )
)
def softshrink(input, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 between; the
    gradient is 0 at +-lambd, as in PyTorch (and NaN propagates)."""
    if not lambd >= 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    # clip passes the gradient at its bounds, so x - clip(x) has none there: PyTorch's kink.
    return input - clip(input, -lambd, lambd)


@composite(
    Spec(
        [Case((shape,), {"threshold": 0.3, "value": -1.5}) for shape in [(3, 4), (), (0, 3)]],
        domain=lambda rng, shape: rng.choice([-1.0, 1.0], shape) + rng.uniform(-0.5, 0.5, shape),
        ref=lambda xp, x, threshold, value: xp.where(x > threshold, x, value),
    )
)
def threshold(input, threshold, value):
    """``x`` where ``x > threshold``, ``value`` elsewhere (NaN stays NaN), as in PyTorch."""
    return where(~(data_of(input) <= threshold), input, value)


def _glu_ref(xp, x, dim):
    half = x.shape[dim] // 2
    lead = (slice(None),) * (dim % x.ndim)
    a, b = x[lead + (slice(None, half),)], x[lead + (slice(half, None),)]
    return a / (1 + xp.exp(-b))


@composite(
    Spec(
        [
            Case(((3, 4),), {"dim": -1}),
            Case(((4, 3),), {"dim": 0}),
            Case(((2, 6, 3),), {"dim": 1}),
            Case(((0, 2),), {"dim": 1}),
        ],
        ref=_glu_ref,
    )
)
def glu(input, dim=-1):
    """The gated linear unit: ``a * sigmoid(b)``, a and b the halves of ``dim``."""
    shape = np.shape(data_of(input))
    if not shape:
        raise ShapeError("glu: does not support scalars because halving size must be even")
    axis = one_axis(dim, len(shape), "glu", "dim")
    if shape[axis] % 2:
        raise ShapeError(
            f"glu: halving dimension must be even, but dimension {axis} is size "
            f"{shape[axis]} (input of shape {shape})"
        )
    first, second = split(input, 2, axis)
    return first * sigmoid(second)


def implicit_dim(name, ndim, stacklevel):
    """The axis PyTorch's softmax family takes when ``dim`` is None (0 for 0-d, 1-d and 3-d
    inputs, else 1), with its deprecation warning."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the "
        "call to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _softmin_ref(xp, x, dim, _stacklevel=3, dtype=None):
    e = xp.exp(-x)
    return e / xp.sum(e, axis=dim if x.ndim else None, keepdims=True)


@composite(
    Spec(
        [
            Case(((3, 4),), {"dim": 1}),
            Case(((3, 4),), {"dim": -2}),
            Case(((2, 3, 4),), {"dim": 1}),
            Case(((),), {"dim": 0}),
        ],
        ref=_softmin_ref,
    )
)
def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x)`` along ``dim`` (None: PyTorch's implicit choice, with its warning);
    ``dtype`` converts the input first."""
    if dtype is not None:
        input = astype(input, dtype)
    if dim is None:
        dim = implicit_dim("softmin", np.ndim(data_of(input)), _stacklevel)
    return softmax(-input, axis=dim)
