"""chainrule against PyTorch on the op cases of tinygrad's op suite (test/test_ops.py).

tinygrad checks each op by running one function on PyTorch and on its own Tensor, then
comparing the forward values and the gradients of ``out.sum()`` for every input. This file
does the same for the in-scope ops (elementwise math, activations, reductions, shape ops,
indexing, products, comparisons, losses), on the shapes and values tinygrad uses, with the
chainrule side written in PyTorch's names (Tensor methods, ``cr.*``, ``cr.nn.functional``),
as an adapter from tinygrad's API would call them. Each case is one function ``f(L, *xs)``
run twice, with ``L`` naming the library (``L.lib`` is ``torch`` or ``cr``, ``L.F`` their
``nn.functional``, ``L.t`` makes a constant tensor), so both sides run the very same code.

Every case runs twice: in float64, with tinygrad's float32 tolerances (1e-6 absolute, 1e-3
relative) tightened to the agreement of two float64 implementations of one formula, and in
float32, tinygrad's own dtype, with its tolerances, where dtypes must be kept too. Invalid
calls must raise the exception class tinygrad's suite expects; negative-step slices (which
PyTorch lacks) are checked against NumPy, and writes into tensors (setitem) against PyTorch.
Case ids are ``<tinygrad test>-<n>``.
"""

import itertools
import math
import traceback

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

# The cases feed infinities, NaNs, zeros to log and pow, and empty or one-element reductions
# on purpose (as tinygrad's do): NumPy's and PyTorch's warnings about them are expected.
pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0"),
]

# Two float64 implementations of one formula agree to ~1e-13 relative (different summation
# orders, libm versus SLEEF); 1e-9 keeps a wide margin above that and still catches any
# wrong formula, which is off by far more. The absolute floor covers values near zero
# reached through cancellation (e.g. softplus, mish, gelu for large negative inputs).
RTOL, ATOL = 1e-9, 1e-10
# An integer tensor with a Python float (or int / int) gives PyTorch's default dtype,
# float32, and NumPy's float64: such cases compare values at float32's precision (its
# rounding is 6e-8 relative) and leave the dtype, a dtype-policy question, unchecked.
FLOAT32_RESULT = {"rtol": 1e-6, "check_dtype": False}
# An integer tensor meeting a float32 tensor stays float32 in PyTorch and becomes float64
# under NumPy's rules; such cases compare dtypes in the float64 run only.
MIXED = {"mixed": True}


class _Library:
    """What a case needs from one library: the module, its functional API, constants."""

    def __init__(self, name, lib, functional, make):
        self.name, self.lib, self.F, self._make = name, lib, functional, make
        self.float = np.float64  # the dtype of the case being run (see _check)

    def t(self, value):
        """A constant tensor (no gradient) of ``value``: floats in the case's dtype, other
        dtypes as NumPy makes them."""
        array = np.array(value)
        return self._make(array.astype(self.float) if array.dtype.kind == "f" else array)


TORCH = _Library("torch", torch, torch.nn.functional, lambda a: torch.as_tensor(a))
CR = _Library("chainrule", cr, cr.nn.functional, lambda a: cr.tensor(a))

CASES = []  # (id, kwargs for _check)
RAISES = []  # (id, kwargs for _check_raises)


def op(group, shapes, fn, ours=None, **options):
    """Register a comparison: ``fn(L, *xs)`` on both libraries (or ``ours`` on chainrule's)."""
    CASES.append(
        (
            f"{group}-{sum(c[0].rsplit('-', 1)[0] == group for c in CASES)}",
            dict(shapes=shapes, fn=fn, ours=ours, **options),
        )
    )


def raises(group, shapes, fn, expected, torch_raises=True, **options):
    """Register an invalid call: chainrule must raise ``expected`` (what tinygrad's suite
    asks of both libraries: PyTorch's exception class), not return a value."""
    RAISES.append(
        (
            f"{group}-{sum(c[0].rsplit('-', 1)[0] == group for c in RAISES)}",
            dict(shapes=shapes, fn=fn, expected=expected, torch_raises=torch_raises, **options),
        )
    )


# tinygrad's own tolerances, for the float32 run (its default dtype): the two libraries
# round differently, so this is what agreement means there.
TINYGRAD_TOLERANCES = {"atol": 1e-6, "rtol": 1e-3, "grad_atol": 1e-4, "grad_rtol": 1e-3}


# ----------------------------------------------------------------------- the harness
def _arrays(shapes, vals, low, high, dtype=np.float64):
    if vals is not None:
        arrays = [np.asarray(v) for v in vals]
    else:
        rng = np.random.default_rng(0)
        arrays = [np.asarray(rng.uniform(low, high, size=s)) for s in shapes]
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]


def _leaves(arrays, grad):
    def wants(a):
        return grad and a.dtype.kind == "f"

    theirs = [torch.tensor(a, requires_grad=wants(a)) for a in arrays]
    ours = [cr.tensor(a.copy(), requires_grad=wants(a)) for a in arrays]
    return theirs, ours


def _listed(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(what, ours, theirs, atol, rtol, check_dtype):
    assert len(ours) == len(theirs), f"{what}: {len(ours)} outputs, PyTorch gives {len(theirs)}"
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert isinstance(o, cr.Tensor), f"{what} {i}: got a {type(o).__name__}, not a Tensor"
        mine, ref = np.asarray(o.data), t.detach().numpy()
        assert mine.shape == ref.shape, f"{what} {i}: shape {mine.shape}, PyTorch {ref.shape}"
        if check_dtype:
            assert mine.dtype == ref.dtype, f"{what} {i}: dtype {mine.dtype}, PyTorch {ref.dtype}"
        if ref.dtype.kind == "f":
            np.testing.assert_allclose(mine, ref, rtol=rtol, atol=atol, err_msg=f"{what} {i}")
        else:
            np.testing.assert_array_equal(mine, ref, err_msg=f"{what} {i}")


def _check(
    shapes,
    fn,
    ours=None,
    vals=None,
    low=-2.0,
    high=2.0,
    forward_only=False,
    atol=ATOL,
    rtol=RTOL,
    grad_atol=ATOL,
    grad_rtol=RTOL,
    check_dtype=True,
    dtype=np.float64,
    tol32=None,
    mixed=False,
):
    if dtype == np.float32:
        check_dtype = check_dtype and not mixed
        tolerances = dict(TINYGRAD_TOLERANCES, **(tol32 or {}))
        tolerances["rtol"] = max(tolerances["rtol"], rtol)
        atol, rtol, grad_atol, grad_rtol = (
            tolerances[k] for k in ("atol", "rtol", "grad_atol", "grad_rtol")
        )
    arrays = _arrays(shapes or [], vals, low, high, dtype)
    TORCH.float = CR.float = dtype
    try:
        _run(
            fn, ours or fn, arrays, forward_only, (atol, rtol), (grad_atol, grad_rtol), check_dtype
        )
    finally:
        TORCH.float = CR.float = np.float64


def _run(fn, ours, arrays, forward_only, tolerances, grad_tolerances, check_dtype):
    theirs_in, ours_in = _leaves(arrays, not forward_only)
    expected = _listed(fn(TORCH, *theirs_in))
    _compare("forward", _listed(ours(CR, *ours_in)), expected, *tolerances, check_dtype)
    needing = [t for t in theirs_in if t.requires_grad]
    picked = [i for i, t in enumerate(expected) if t.requires_grad]
    if forward_only or not needing or not picked:
        return
    total = sum(expected[i].sum() for i in picked)
    grads = torch.autograd.grad(total, needing, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for x, g in zip(needing, grads)]
    # A fresh forward for the backward, as tinygrad does: nothing kept from the first.
    _, ours_in = _leaves(arrays, True)
    outs = _listed(ours(CR, *ours_in))
    assert all(outs[i].requires_grad for i in picked), "the output does not require grad"
    sum(outs[i].sum() for i in picked).backward()
    mine = [
        x.grad if x.grad is not None else cr.tensor(np.zeros_like(x.data))
        for x in ours_in
        if x.requires_grad
    ]
    _compare("gradient", mine, grads, *grad_tolerances, check_dtype)


def _check_raises(shapes, fn, expected, torch_raises=True, vals=None, low=-1.5, high=1.5):
    arrays = _arrays(shapes or [], vals, low, high)
    theirs_in, ours_in = _leaves(arrays, False)
    if torch_raises:
        with pytest.raises(expected):
            fn(TORCH, *theirs_in)
    # The class matters too: code written for PyTorch (tinygrad's suite among it) catches
    # RuntimeError or IndexError by name.
    with pytest.raises(expected):
        fn(CR, *ours_in)


# ----------------------------------------------------------------------- arithmetic
for shapes in (
    [(45, 68), (45, 68)],
    [(), ()],
    [(45, 65), (45, 1)],
    [(45, 65), ()],
    [(45, 65), (65,)],
):
    op("add", shapes, lambda L, x, y: x + y)
op("add", [(45, 68), (45, 68)], lambda L, x, y: x.add(y))
op("add", [(45, 65)] * 3, lambda L, x, y, z: x + y + z)
for shapes in ([(45, 65), (45, 65)], [(), ()]):
    op("sub", shapes, lambda L, x, y: x - y)
op("sub", [(45, 65), (45, 65)], lambda L, x, y: x.sub(y))
for shape in [(45, 65), ()]:
    op("sub_scalar", [shape], lambda L, x: x - 2)
    op("sub_scalar", [shape], lambda L, x: 2 - x)
op("neg", [(45, 65)], lambda L, x: -x)
op("neg", [(45, 65)], lambda L, x: x.neg())
op("neg", [()], lambda L, x: x.neg())
for shapes in ([(64, 64), (64, 64)], [(), ()]):
    op("mul", shapes, lambda L, x, y: x * y)
op("mul", [(64, 64), (64, 64)], lambda L, x, y: x.mul(y))
for f in (lambda L, x: x * 2, lambda L, x: x * -1, lambda L, x: 255 * x, lambda L, x: 2 * x):
    op("mul_scalar", [(45, 65)], f)
op("mul_scalar", [()], lambda L, x: x * 2)
op("mul_scalar", [()], lambda L, x: 2 * x)
for shapes in ([(45, 65), (45, 65)], [(), ()], [(45, 65), (45, 1)], [(45, 65), ()]):
    op("div", shapes, lambda L, x, y: x / y)
op("div", [(45, 65), (45, 65)], lambda L, x, y: x.div(y))
for f in (
    lambda L, x: x / 255,
    lambda L, x: x / 1,
    lambda L, x: 1 / x,
    lambda L, x: x / 2,
    lambda L, x: 2 / x,
):
    op("div_scalar", [(45, 65)], f)
op("div_scalar", [()], lambda L, x: x / 2)
op("div_scalar", [()], lambda L, x: 2 / x)

# rounding modes: every tinygrad numerator against every denominator at once (broadcast)
_NUMERATORS = [5, 6, 7, 0, -5, -6, -7]
_DENOMINATORS = [-10, -5, -3, -2, -1, 1, 2, 3, 5, 10]
for mode in (None, "trunc", "floor"):
    for num_float, den_float in itertools.product((False, True), repeat=2):
        numerators = [[float(n) if num_float else n] for n in _NUMERATORS]
        denominators = [float(d) if den_float else d for d in _DENOMINATORS]
        # int / int with mode None is float32 in PyTorch (its default dtype), float64 in
        # NumPy: the values are compared, the dtype is a dtype-policy question.
        op(
            "div_rounding_mode",
            None,
            lambda L, x, y, m=mode: x.div(y, rounding_mode=m),
            vals=[numerators, denominators],
            forward_only=True,
            **(
                FLOAT32_RESULT
                if mode is None and not (num_float or den_float)
                else MIXED
                if num_float != den_float
                else {}
            ),
        )
    op(
        "div_rounding_mode",
        None,
        lambda L, x, y, m=mode: x.div(y, rounding_mode=m),
        vals=[[[110], [111], [-110], [-111]], [55, -55]],
        forward_only=True,
        **(FLOAT32_RESULT if mode is None else {}),
    )
raises(
    "div_rounding_mode",
    None,
    lambda L, x, y: x.div(y, rounding_mode="typo"),
    RuntimeError,
    vals=[[5.0], [1.0]],
)
op(
    "div_int",
    None,
    lambda L, x, y: x / y,
    vals=[[5, 6, 7], [1, 2, 3]],
    forward_only=True,
    **FLOAT32_RESULT,
)
op("div_int", None, lambda L, x, y: x // y, vals=[[5, 6, 7], [1, 2, 3]], forward_only=True)
op("div_int", None, lambda L, x: x / 2, vals=[[3, 4, 5]], forward_only=True, **FLOAT32_RESULT)
op("div_int", None, lambda L, x: x // 2, vals=[[3, 4, 5]], forward_only=True)
op(
    "div_int",
    None,
    lambda L, x, y: L.lib.div(x, y, rounding_mode="trunc"),
    vals=[[-4, 7, 5, 4, -7, 8], [2, -3, 8, -2, 3, 5]],
    forward_only=True,
)
op("floordiv", [(45, 65), (45, 65)], lambda L, x, y: x // y, forward_only=True)
op("floordiv", [(45, 65)], lambda L, x: 3 // x, forward_only=True)

_A, _B = [-4, 7, 5, 4, -7, 8, -9], [2, -3, 8, -2, 3, 5, -5]
for a_float, b_float in itertools.product((True, False), repeat=2):
    va = [float(v) for v in _A] if a_float else _A
    vb = [float(v) for v in _B] if b_float else _B
    mixed = MIXED if a_float != b_float else {}
    op("mod", None, lambda L, x, y: x % y, vals=[va, vb], forward_only=True, **mixed)
    op("mod", None, lambda L, x, y: x.remainder(y), vals=[va, vb], forward_only=True, **mixed)
    for f in (lambda L, x: x % 2, lambda L, x: x % 3, lambda L, x: 100 % x):
        op("mod", None, f, vals=[va], forward_only=True)
    for f in (lambda L, x: x % 3.5, lambda L, x: 100.5 % x):
        op("mod", None, f, vals=[va], forward_only=True, **({} if a_float else FLOAT32_RESULT))

for f in (
    lambda L, x: x * math.inf,
    lambda L, x: x * -math.inf,
    lambda L, x: x * math.nan,
    lambda L, x: x / math.inf,
    lambda L, x: x / -math.inf,
    lambda L, x: x / math.nan,
    lambda L, x: math.inf / x,
    lambda L, x: -math.inf / x,
    lambda L, x: math.nan / x,
):
    op("naninf", [(45, 65)], f)

# ----------------------------------------------------------------------- powers
op("pow", [(45, 65), (45, 65)], lambda L, x, y: x**y)
op("pow", [(45, 65), (45, 65)], lambda L, x, y: x.pow(y))
for e in (0, 1, 2, 3, -2):
    op("pow_int", [(45, 65)], lambda L, x, e=e: x**e)
op("pow_int", [()], lambda L, x: x**2)
op("pow_int", [()], lambda L, x: x**-2)
for shape in [(45, 65), ()]:  # negative bases (tinygrad issues 1151 and 1251)
    op("pow_negative_base", [shape], lambda L, x: x**3, low=-30, high=-27)
    op("pow_negative_base", [shape], lambda L, x: x**0.2, low=-30, high=-27)
    op("pow_negative_base", [shape], lambda L, x: x**1.2, low=-30, high=-27)
op("pow_negative_base", None, lambda L, x: x**1.1, vals=[[0.0]])
for e in (0.0, 1.0, -1.0, 8.0, 5.5, -5.5, 2.0):
    op("pow_const", [(45, 65)], lambda L, x, e=e: x**e)
for b in (1.0, 5.5, -5.5, 8.0, 2.0):
    op("pow_const", [(45, 65)], lambda L, x, b=b: b**x)
op("pow_const", [()], lambda L, x: x**2.0)
op("pow_const", [()], lambda L, x: 2.0**x)
for b in (0, 0.7, -2):
    op("pow_const", None, lambda L, x, b=b: b**x, vals=[[-2.0, -1, 0, 1, 2, 3]])
op(
    "pow_const",
    None,
    lambda L, x: 0.7**x,
    vals=[[-2, -1, 0, 1, 2, 3]],
    forward_only=True,
    **FLOAT32_RESULT,
)
for x0, c in itertools.product((-math.inf, 0.0, 1.0, math.inf), (-1, 0, 0.3, 1, 2)):
    op("pow_const_direct", None, lambda L, x, c=c: x**c, vals=[[x0]])
for base, exponent in (([0.0], [0.0]), ([0.0], [0.3]), ([0.0], [-0.3])):
    op("pow_zero_tensor", None, lambda L, x, y: x**y, vals=[base, exponent])
for e, v in ((0.3, [0.0]), (0.0, [0.0]), (-0.3, [0.0]), (-1.0, [-1.0, 0.0, 1.0])):
    op("pow_zero_const", None, lambda L, x, e=e: x**e, vals=[v])
for e, v in (
    (0, [-2, 0, 2]),
    (1, [-2, 0, 2]),
    (2, [-2, 0, 2]),
    (7, [11, 12, 13]),
    (29, [-2, 0, 2]),
):
    op("pow_int_int", None, lambda L, x, e=e: x**e, vals=[v], forward_only=True)
raises("pow_int_int", None, lambda L, x: x**-2, RuntimeError, vals=[[-2, 0, 2]])

# ----------------------------------------------------------------------- unary math
_SPECIALS = [[math.nan, math.inf, -math.inf, 0.0]]
_LARGE = [[1e1, 1e2, 1e3, 1e4, 1e5, 1e6, -1e1, -1e2, -1e3, -1e4, -1e5, -1e6]]
for name in ("sqrt", "rsqrt"):
    op(name, [(45, 65)], lambda L, x, n=name: getattr(x, n)(), low=0.1, high=2.0)
    op(name, None, lambda L, x, n=name: getattr(x, n)(), vals=[[0.0]])
    op(name, [()], lambda L, x, n=name: getattr(x, n)(), low=0.1, high=2.0)
for name in ("sin", "cos", "tan"):
    op(name, [(45, 65)], lambda L, x, n=name: getattr(x, n)())
    op(name, [()], lambda L, x, n=name: getattr(x, n)())
    op(name, None, lambda L, x, n=name: getattr(x, n)(), vals=_SPECIALS)
    op(name, None, lambda L, x, n=name: getattr(x, n)(), vals=_LARGE)
op("tan", [(45, 65)], lambda L, x: x.tan(), low=-5, high=5)
for name in ("asin", "acos", "atan"):
    for low, high in ((-1, 1), (-300, -297), (300, 303)):
        op(name, [(45, 65)], lambda L, x, n=name: getattr(x, n)(), low=low, high=high)
op("relu", [(64, 64)], lambda L, x: x.relu())
op("relu", [()], lambda L, x: x.relu())
op("relu", None, lambda L, x: x.relu(), vals=[[-1.0, 0, 1]])
op("relu", None, lambda L, x: L.lib.maximum(x, L.lib.zeros_like(x)), vals=[[-1.0, 0, 1]])
op("abs", [(45, 65)], lambda L, x: L.lib.abs(x))
op("abs", [()], lambda L, x: L.lib.abs(x))
op("abs", None, lambda L, x: L.lib.abs(x), vals=[[-1.0, 0, 1]])
for name in ("log", "log2", "exp", "exp2"):
    low = 0.1 if name.startswith("log") else -2.0
    op(name, [(45, 65)], lambda L, x, n=name: getattr(L.lib, n)(x), low=low)
    op(
        name,
        None,
        lambda L, x, n=name: getattr(L.lib, n)(x),
        vals=[[math.inf, -math.inf, math.nan]],
    )
    op(name, [()], lambda L, x, n=name: getattr(L.lib, n)(x), low=low)
op("sign", [(45, 65)], lambda L, x: L.lib.sign(x))
op("sign", [()], lambda L, x: L.lib.sign(x))
op("sign", None, lambda L, x: L.lib.sign(x), vals=[[-1.0, 0, 1]])
for shapes in ([(45, 65), (45, 65)], [(45, 65), (45, 1)], [(45, 1), (1, 65)], [(), ()]):
    op("copysign", shapes, lambda L, x, y: L.lib.copysign(x, y))
for i, j in itertools.product([-1.0, 0.0, 1.0], repeat=2):
    op("copysign", None, lambda L, x, y: L.lib.copysign(x, y), vals=[[i], [j]])
op("logaddexp", [(45, 65), (45, 65)], lambda L, x, y: L.lib.logaddexp(x, y))
for v in (
    [[-1.0], [-1.0, 2, 3]],
    [[-100.0, -200, -300], [-1.0, 2, 3]],
    [[1.0, 2000, 30000], [-1.0, 2, 3]],
):
    op("logaddexp", None, lambda L, x, y: L.lib.logaddexp(x, y), vals=v)
for name in ("trunc", "floor", "ceil", "round"):
    op(name, [()], lambda L, x, n=name: getattr(x, n)(), forward_only=True)
    op(name, [(45, 35)], lambda L, x, n=name: getattr(x, n)(), forward_only=True)
    op(
        name,
        None,
        lambda L, x, n=name: getattr(x, n)(),
        forward_only=True,
        vals=[[1.499, 1.5, 1.501, 1.0, 2.1, 0.0, -5.0, -2.499, -2.5, -2.501, 1e12, -1e12]],
    )
op("round", None, lambda L, x: x.round(), vals=[[2.5, -1.5]], forward_only=True)
for name in ("isinf", "isnan", "isfinite"):
    op(
        name,
        None,
        lambda L, x, n=name: getattr(L.lib, n)(x),
        forward_only=True,
        vals=[[-math.inf, 0.0, math.inf, math.nan, 1.1]],
    )
op("lerp", [(45, 35)] * 3, lambda L, x, y, z: x.lerp(y, z))
op("lerp", None, lambda L, x, y, z: x.lerp(y, z), vals=[[1.0, 2.0, 3.0], [4.0, 5, 6], 0.5])
op("erf", [(45, 65)], lambda L, x: L.lib.erf(x))
op("erf", [(45, 65)], lambda L, x: L.lib.erf(x), low=300, high=400)
op("erf", [(45, 65)], lambda L, x: L.lib.erf(x), low=-400, high=-300)
op("erf", [()], lambda L, x: L.lib.erf(x))
for name in ("sinh", "cosh"):
    op(name, [(45, 65)], lambda L, x, n=name: getattr(x, n)())
    op(
        name,
        [(45, 65)],
        lambda L, x, n=name: getattr(x, n)(),
        low=-300,
        high=-297,
        forward_only=True,
    )
    op(name, [(45, 65)], lambda L, x, n=name: getattr(x, n)(), low=300, high=303, forward_only=True)
for low, high in ((-2, 2), (-300, -297), (300, 303)):
    op("tanh", [(45, 65)], lambda L, x: x.tanh(), low=low, high=high)
    for name in ("asinh", "acosh", "atanh"):
        op(name, [(45, 65)], lambda L, x, n=name: getattr(x, n)(), low=low, high=high)
op("topo_sort", [(45, 65)], lambda L, x: (x + x) * x)
op("topo_sort", [()], lambda L, x: (x + x) * x)

# ----------------------------------------------------------------------- activations
op("leaky_relu", [(45, 65)], lambda L, x: L.F.leaky_relu(x, 0.01))
op("leaky_relu", [()], lambda L, x: L.F.leaky_relu(x, 0.01))
for alpha in range(1, 5):
    op("celu", [(45, 65)], lambda L, x, a=alpha: L.F.celu(x, a))
    op("celu", [()], lambda L, x, a=alpha: L.F.celu(x, a))
for name in (
    "selu",
    "silu",
    "softsign",
    "logsigmoid",
    "hardsigmoid",
    "relu6",
    "hardswish",
    "mish",
    "elu",
):
    op(name, [(45, 65)], lambda L, x, n=name: getattr(L.F, n)(x))
    op(name, [()], lambda L, x, n=name: getattr(L.F, n)(x))
op("softsign", None, lambda L, x: L.F.softsign(x), vals=[[-1.0, 0, 1]])
op("elu", [(45, 65)], lambda L, x: L.F.elu(x, alpha=0.1))
op("sigmoid", [(45, 65)], lambda L, x: L.lib.sigmoid(x))
op("sigmoid", [()], lambda L, x: L.lib.sigmoid(x))
op("sigmoid", [(45, 65)], lambda L, x: L.lib.sigmoid(x), low=300, high=400)
op("sigmoid", [(45, 65)], lambda L, x: L.lib.sigmoid(x), low=-400, high=-300)
op("sigmoid", None, lambda L, x: x.sigmoid()[0], vals=[[300.0]])
op("sigmoid", None, lambda L, x: x.sigmoid()[0], vals=[[-300.0]])
op("sigmoid", None, lambda L, x: (x.exp() / (1 + x.exp()))[0], vals=[[300.0]])
op("sigmoid", None, lambda L, x: (x.exp() / (1 + x.exp()))[0], vals=[[-300.0]])
op("softplus", [(45, 65)], lambda L, x: L.F.softplus(x))
op("softplus", [(45, 65)], lambda L, x: L.F.softplus(x, beta=3))
op("softplus", [(45, 65)], lambda L, x: L.F.softplus(x, beta=1 / 3))
op("softplus", [(45, 65)], lambda L, x: L.F.softplus(x), low=300, high=400)
op("softplus", [(45, 65)], lambda L, x: L.F.softplus(x), low=-400, high=-300)
op("softplus", [()], lambda L, x: L.F.softplus(x))
for low, high in ((-2, 2), (300, 400), (-400, -300)):
    op("gelu", [(45, 65)], lambda L, x: L.F.gelu(x, approximate="tanh"), low=low, high=high)
    op("quick_gelu", [(45, 65)], lambda L, x: x * L.lib.sigmoid(1.702 * x), low=low, high=high)
op("quick_gelu", [()], lambda L, x: x * L.lib.sigmoid(1.702 * x))
for val in range(10, 30, 5):
    op("hardtanh", [(45, 65)], lambda L, x, v=val: L.F.hardtanh(x, -v, v))
    op("hardtanh", [()], lambda L, x, v=val: L.F.hardtanh(x, -v, v))
op("hardtanh", [(45, 65)], lambda L, x: L.F.hardtanh(x, -0.5, 0.5))  # clipping for real

# ----------------------------------------------------------------------- scans
for name in ("cumsum", "cumprod"):
    op(name, [(10,)], lambda L, x, n=name: getattr(L.lib, n)(x, dim=0))
    op(name, [(512,)], lambda L, x, n=name: getattr(L.lib, n)(x, dim=0))
    op(
        name,
        [(1022,)],
        lambda L, x, n=name: getattr(L.lib, n)(x, dim=0),
        low=-1.5 if name == "cumsum" else 0.99,
        high=1.5 if name == "cumsum" else 1.01,
    )
    op(name, [()], lambda L, x, n=name: getattr(L.lib, n)(x, dim=0))
    op(name, [(20,)], lambda L, x, n=name: getattr(L.lib, n)(x, dim=0))
    for shape, dim in (
        ((20, 30), 0),
        ((20, 30), 1),
        ((20, 30, 40), 2),
        ((20, 30, 40), -1),
        ((2, 0, 4), 1),
        ((0, 3), 0),
        ((2, 3, 0), 2),
    ):
        op(
            name,
            [shape],
            lambda L, x, n=name, d=dim: getattr(L.lib, n)(x, dim=d),
            low=-2 if name == "cumsum" or shape[-1] < 30 else 0.9,
            high=2 if name == "cumsum" or shape[-1] < 30 else 1.1,
        )
    raises(name, [()], lambda L, x, n=name: getattr(L.lib, n)(x, dim=1), IndexError)
    raises(name, [(20,)], lambda L, x, n=name: getattr(L.lib, n)(x, dim=1), IndexError)
    raises(name, [(20,)], lambda L, x, n=name: getattr(L.lib, n)(x, dim=-2), IndexError)
for shape, dim in (
    ((10,), 0),
    ((), 0),
    ((20, 30), 0),
    ((20, 30), 1),
    ((20, 30, 40), -1),
    ((2, 0, 4), 1),
    ((0, 3), 0),
):
    op("cummax", [shape], lambda L, x, d=dim: L.lib.cummax(x, dim=d)[0])
for shape, dim in (
    ((45, 65), 0),
    ((45, 65), 1),
    ((6, 6, 6), 2),
    ((6, 6, 6, 6), 2),
    ((6, 6, 6, 6), 3),
    ((45,), 0),
    ((), 0),
    ((), -1),
):
    op("logcumsumexp", [shape], lambda L, x, d=dim: L.lib.logcumsumexp(x, dim=d))
op("logcumsumexp", None, lambda L, x: L.lib.logcumsumexp(x, dim=0), vals=[[0.0, 100.0]])

# ----------------------------------------------------------------------- argmax
for name in ("argmax", "argmin"):
    for v in ([[2, 2]], [[1, 2, 2]], [[3, 2, 2]], [[0, -(2**31)]], [[-(2**31), 0]]):
        op(name, None, lambda L, x, n=name: getattr(x, n)(), vals=v, forward_only=True)
    op(name, [(10, 20)], lambda L, x, n=name: getattr(x, n)(), forward_only=True)
    for dim, keep in ((0, False), (1, False), (1, True)):
        op(
            name,
            [(10, 20)],
            lambda L, x, n=name, d=dim, k=keep: getattr(x, n)(d, k),
            forward_only=True,
        )
op("argmax", [(45, 65)], lambda L, x: x.softmax(0).argmax(), forward_only=True)
op("argmax", [(45, 65)], lambda L, x: x.softmax(1).argmax(), forward_only=True)

# ----------------------------------------------------------------------- einsum
_EINSUM = [
    ([()], "->"),
    ([(10, 10)], "ij->ji"),
    ([(10, 10)], "ij -> ji"),
    ([(10, 10)], "ji"),
    ([(4, 6, 8)], "jki"),
    ([(4, 6, 8)], "dog"),
    ([(4, 6), (6, 8)], "ij,jk"),
    ([(4, 6, 8)], "ijk->"),
    ([(5, 5)], "ij->j"),
    ([(5, 5)], "ij->i"),
    ([(3, 4), (4,)], "ik,k->i"),
    ([(3, 4), (4, 5)], "ik,kj->ij"),
    ([(3, 4), (4, 5)], "jk,ki->ji"),
    ([(5, 6), (5, 6)], "ij,ij->ij"),
    ([(5,), (5,)], "i,j->ij"),
    ([(3, 5, 8, 10), (11, 7, 5, 13, 8)], "pqrs,tuqvr->pstuv"),
    ([(3, 8, 10, 5), (11, 5, 7, 13, 8)], "prsq,tquvr->pstuv"),
    ([(3, 5, 8, 10), (11, 7, 5, 13, 8)], "zqrs,tuqvr->zstuv"),
    ([(5,), (5,)], "i,i"),
    ([(4, 4)], "ii->i"),
    ([(4, 4)], "ii->"),
    ([(3, 5, 5)], "...ii->...i"),
    ([(3, 5, 5)], "...ii->..."),
]
for shapes, spec in _EINSUM:
    op("einsum", shapes, lambda L, *xs, s=spec: L.lib.einsum(s, *xs))
_EINSUM_LISTED = [
    ([(5,), (5,)], "i,i->i"),
    ([(2, 4, 6), (2, 6, 8)], "ijk,ikl->ijl"),
    ([(2, 4, 5), (2, 5, 7)], "ijk,ikl->jil"),
    ([(4, 2, 5), (2, 5, 7)], "jik,ikl->jil"),
    ([(2, 4, 6), (2, 6, 8)], "ijk,ika->ija"),
    ([(2, 3), (5, 3, 7), (2, 7)], "ik,jkl,il->ij"),
    ([(3, 8, 9), (3, 8, 9)], "...id, ...jd -> ...ij"),
    ([(3, 8, 9), (3, 8, 9)], "...id, ...jd"),
    ([(2, 3, 4, 5), (5, 2, 4)], "i...j,ji...->..."),
    ([(8, 7, 6, 5, 4), (8, 7, 6, 5, 4)], "ij...,ij...->ij"),
]
for shapes, spec in _EINSUM_LISTED:
    op("einsum", shapes, lambda L, *xs, s=spec: L.lib.einsum(s, list(xs)))
raises(
    "einsum",
    [(2, 3, 4), (2, 3, 4)],
    lambda L, a, b: L.lib.einsum("...ik..., ...jk ->", a, b),
    (RuntimeError, IndexError),
)
raises(
    "einsum",
    [(2, 3, 4), (2, 3, 4)],
    lambda L, a, b: L.lib.einsum("i...j,ji...->...", a, b),
    RuntimeError,
)
raises(
    "einsum",
    [(3, 8, 10, 5), (11, 5, 13, 16, 8)],
    lambda L, a, b: L.lib.einsum("pqrs,tuqvr->pstuv", a, b),
    RuntimeError,
)
raises(
    "einsum",
    [(10, 15), (15, 20), (20, 10)],
    lambda L, a, b, c: L.lib.einsum("ij,jk->ij", a, b, c),
    (ValueError, RuntimeError),
)
raises("einsum", [(10, 10)], lambda L, a: L.lib.einsum("ij,jk->ij", a), (ValueError, RuntimeError))

# ----------------------------------------------------------------------- matmul
_MATMUL = [
    [(65,), (65,)],
    [(65,), (65, 45)],
    [(45, 65), (65,)],
    [(8, 45, 65), (65,)],
    [(65,), (8, 65, 45)],
    [(45, 65), (65, 100)],
    [(8, 45, 65), (8, 65, 100)],
    [(4,), (4, 4)],
    [(64,), (64, 99)],
    [(3,), (1, 3, 3, 5)],
    [(4, 3), (1, 3, 3, 5)],
    [(8, 8), (8, 8)],
    [(9, 9), (9, 9)],
    [(64, 64), (64, 64)],
    [(256, 256), (256, 256)],
    [(8, 8), (8, 0)],
    [(0, 8), (8, 8)],
    [(0, 8), (8, 0)],
    [(8, 0), (0, 8)],
    [(0, 0), (0, 0)],
    [(0,), (0, 8)],
    [(0,), (0,)],
    [(10, 45, 65), (65, 45)],
    [(10, 45, 65), (10, 65, 45)],
    [(3, 3, 45, 65), (3, 3, 65, 45)],
]
# tinygrad's float32 tolerances for its longer products (rounding grows with the length)
_MATMUL_TOL32 = {
    ((45, 65), (65, 100)): 1e-5,
    ((8, 45, 65), (8, 65, 100)): 1e-5,
    ((256, 256), (256, 256)): 1e-4,
    ((10, 45, 65), (65, 45)): 1e-4,
    ((10, 45, 65), (10, 65, 45)): 1e-4,
    ((3, 3, 45, 65), (3, 3, 65, 45)): 1e-4,
}
for shapes in _MATMUL:
    tol32 = {"atol": _MATMUL_TOL32.get(tuple(shapes), 1e-6)}
    op("matmul", shapes, lambda L, x, y: x.matmul(y), tol32=tol32)
    op("matmul_operator", shapes, lambda L, x, y: x @ y, tol32=tol32)
op("matmul", [(65,), (65,)], lambda L, x, y: x.dot(y))
op(
    "matmul",
    [(9, 9), (9, 9)],
    lambda L, x, y: L.F.pad(x, (0, 7, 0, 7)).matmul(L.F.pad(y, (0, 7, 0, 7))),
)
op(
    "matmul",
    None,
    lambda L, x, y: x @ y,
    vals=[np.arange(0, 64).reshape(8, 8) * 1.0, np.arange(64, 128).reshape(8, 8) * 1.0],
)
op("matmul", None, lambda L, x, y: x @ y, vals=[np.eye(8), np.eye(8)])
op("matmul", [(1, 128), (128, 128), (128, 128)], lambda L, x, y, z: (x @ y).relu() @ z)
op("matmul", [(1, 128), (128, 128)], lambda L, x, y: (x @ y).relu())
op(
    "matmul",
    None,
    lambda L, x, y: (
        x.reshape((2, 4, 1)).expand(2, 4, 3) * y.reshape((1, 4, 1)).expand(2, 4, 3)
    ).sum([0, 2]),
    vals=[[[1.0] * 4] * 2, [1.0] * 4],
)
for shapes in (
    [(4,), (1, 2)],
    [(2, 1), (4,)],
    [(1,), (4,)],
    [(2, 4), (1, 3)],
    [(2, 1), (4, 3)],
    [(), ()],
    [(), (3, 3)],
):
    raises("matmul", shapes, lambda L, x, y: x.matmul(y), RuntimeError)

# ----------------------------------------------------------------------- reductions
op("sum", None, lambda L, x: x.sum(), vals=[[1.0, 1.0]])
op("sum", [(16384,)], lambda L, x: x.sum())
op("sum", [(3, 4, 5)], lambda L, x: x.relu().sum().relu())
op("sum", [(4, 2, 2)], lambda L, x: x.sum(axis=(0, 2)))
op("sum", [(45, 3)], lambda L, x: x.sum())
for axis in (3, (1, 3), (0, 2), (1, 2), 1):
    op("sum", [(3, 4, 5, 6)], lambda L, x, a=axis: x.sum(axis=a))
op("sum", [(3, 4, 5, 6)], lambda L, x: x.sum(axis=1, keepdim=True))
op("sum", [(3, 4, 5, 6)], lambda L, x: x.sum(dim=-1, keepdim=True))
op("sum", [()], lambda L, x: x.sum())
op("sum", [()], lambda L, x: x.sum(0))
op("sum", [()], lambda L, x: x.sum(-1))
op("sum", [()], lambda L, x: x.sum(()))
op("sum", [(256, 1)], lambda L, x: x.sum(axis=1))
for axes in ((0, 1), (0, 2), (1, 2)):
    op("sum", [(4, 4, 4)], lambda L, x, a=axes: x.sum(a).sum())
for axes in ((0,), (1,), (0, 1)):
    op("sum", [(4, 0)], lambda L, x, a=axes: x.sum(axis=a))
raises("sum", [(3, 4, 5, 6)], lambda L, x: x.sum(5), IndexError)
raises("sum", [()], lambda L, x: x.sum(1), IndexError)
raises("sum", [()], lambda L, x: x.sum((1,)), IndexError)
op("prod", None, lambda L, x: x.prod(), vals=[[1.0, 2.0, 3.0]])
op("prod", [(3, 4, 5, 6)], lambda L, x: x.prod(dim=3))
op("prod", [(3, 4, 5, 6)], lambda L, x: x.prod(dim=1))
op("prod", [(3, 4, 5, 6)], lambda L, x: x.prod(dim=1, keepdim=True))
for f in (lambda L, x: x.prod(), lambda L, x: x.prod(0), lambda L, x: x.prod(-1)):
    op("prod", [()], f)
op("prod", None, lambda L, x: x.prod(), vals=[[1.0, 0.0, 3.0]])
op("prod", None, lambda L, x: x.prod(dim=1), vals=[[[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]]])
for name in ("min", "max"):
    for shape in [(3, 3), (45, 3), ()]:
        op(name, [shape], lambda L, x, n=name: getattr(x, n)())
    op(name, [(45, 3)], lambda L, x, n=name: getattr(x, n)() * 0.5)
    for v in ([[0, -(2**31)]], [[-(2**31), 0]], [[False, True]], [[True, False]]):
        op(name, None, lambda L, x, n=name: getattr(x, n)(), vals=v, forward_only=True)
op("max", None, lambda L, x: x.max() * 0.5, vals=[[[1.0, 1.0, 0.0, 1.0]]])
# PyTorch's x.max(dim) is (values, indices); chainrule's is NumPy's amax by design.
op("max", [(3, 4, 5, 6)], lambda L, x: x.max(dim=1)[0], ours=lambda L, x: x.max(dim=1))
op("max", [(3, 4, 5, 6)], lambda L, x: x.amax(dim=1))
op(
    "max",
    None,
    lambda L, x, y: L.lib.stack((x, y)).max(dim=0)[0],
    ours=lambda L, x, y: L.lib.stack((x, y)).max(dim=0),
    vals=[[1.0], [2.0]],
)
op("mean", [(3, 4, 5, 6)], lambda L, x: x.mean())
op("mean", [()], lambda L, x: x.mean())
op("mean", [(3, 4, 5, 6)], lambda L, x: x.mean(axis=(1, 2)))
op("mean", [(1, 0, 3, 0, 5)], lambda L, x: x.mean(axis=(1, 3)))
for name in ("var", "std"):
    m = name
    for f in (
        lambda L, x, m=m: getattr(x, m)(),
        lambda L, x, m=m: getattr(x, m)(correction=0),
        lambda L, x, m=m: getattr(x, m)(correction=5),
        lambda L, x, m=m: getattr(x, m)(0),
        lambda L, x, m=m: getattr(x, m)(2),
        lambda L, x, m=m: getattr(x, m)([1, 2]),
        lambda L, x, m=m: getattr(x, m)(0, correction=0),
        lambda L, x, m=m: getattr(x, m)(2, correction=0),
        lambda L, x, m=m: getattr(x, m)([1, 2], correction=0),
        lambda L, x, m=m: getattr(x, m)(keepdim=True),
        lambda L, x, m=m: getattr(x, m)(0, keepdim=True, correction=0),
    ):
        op(name, [(15, 25, 35)], f)
    for c in (1, 0, 5):
        op(name, [(1, 0, 3, 0, 5)], lambda L, x, m=m, c=c: getattr(x, m)(dim=(1, 3), correction=c))
    op(
        name,
        [(1,)],
        lambda L, x, m=m: getattr(x, m)(dim=(0,), correction=0),
        forward_only=name == "std",
    )
    op(
        name,
        [(1, 2, 3, 1, 5)],
        lambda L, x, m=m: getattr(x, m)(dim=(0, 3), correction=0),
        forward_only=name == "std",
    )
    for axes in ((0, 3), (0, 4)):
        op(
            name,
            [(1, 2, 3, 1, 5)],
            lambda L, x, m=m, a=axes: getattr(x, m)(dim=a),
            forward_only=axes == (0, 3),
        )
        op(
            name,
            [(1, 2, 3, 1, 5)],
            lambda L, x, m=m, a=axes: getattr(x, m)(dim=a, correction=5),
            forward_only=True,
        )
    op(name, [(1, 2, 3, 1, 5)], lambda L, x, m=m: getattr(x, m)(dim=(0, 4), correction=0))
for kwargs in ({}, {"correction": 5}, {"keepdim": True, "correction": 0}):
    op("std_mean", [(15, 25, 35)], lambda L, x, k=kwargs: L.lib.std_mean(x, **k))
op("std_mean", [(3, 4, 5, 6)], lambda L, x: L.lib.std_mean(x, dim=(1, 2)))
op("std_mean", [(1, 0, 3, 0, 5)], lambda L, x: L.lib.std_mean(x, dim=(1, 3)))
for shape, dim in (((45, 65), 1), ((45,), 0), ((), 0), ((), -1)):
    op("softmax", [shape], lambda L, x, d=dim: L.F.softmax(x, dim=d))
    op("log_softmax", [shape], lambda L, x, d=dim: L.F.log_softmax(x, dim=d))
for dim in range(3):
    op("softmax", [(10, 10, 10)], lambda L, x, d=dim: x.softmax(d))
    op("log_softmax", [(10, 10, 10)], lambda L, x, d=dim: x.log_softmax(d))
op("softmax", [(45, 65)], lambda L, x: x.softmax(dim=-1))
op("log_softmax", [(45, 65)], lambda L, x: x.log_softmax(dim=-1))
for shape, dim, keep in (
    ((45, 65), 0, False),
    ((45, 65), 0, True),
    ((45, 65), 1, False),
    ((6, 6, 6), 2, False),
    ((6, 6, 6, 6), 2, False),
    ((6, 6, 6, 6), 3, False),
    ((45,), 0, False),
    ((), 0, False),
    ((), -1, False),
):
    op("logsumexp", [shape], lambda L, x, d=dim, k=keep: L.lib.logsumexp(x, dim=d, keepdim=k))
    op("logsumexp", [shape], lambda L, x, d=dim, k=keep: x.logsumexp(d, k))

# ----------------------------------------------------------------------- broadcasting
_BINARY = {
    "add": lambda L, x, y: L.lib.add(x, y),
    "sub": lambda L, x, y: L.lib.sub(x, y),
    "mul": lambda L, x, y: L.lib.mul(x, y),
    "div": lambda L, x, y: L.lib.div(x, y),
    "pow": lambda L, x, y: L.lib.pow(x, y),
}
for name, f in _BINARY.items():
    for shapes in (
        ((5, 3, 14, 16), (5, 1, 14, 1)),
        ((1, 3, 1, 7, 1), (2, 1, 5, 1, 8)),
        ((1, 32, 32, 32), (1, 32, 1, 1)),
        ((5, 13, 24, 16, 2), (1, 13, 24, 1, 1)),
        ((4, 1), (4, 5)),
        ((1, 4), (5, 4)),
    ):
        low, high = (0.0, 3.0) if name == "pow" else (-2.0, 2.0)
        op("broadcast_" + name, list(shapes), f, low=low, high=high)

# ----------------------------------------------------------------------- comparisons
_COMPARE = {
    "eq": lambda L, x, y: x == y,
    "gt": lambda L, x, y: x > y,
    "ge": lambda L, x, y: x >= y,
    "lt": lambda L, x, y: x < y,
    "le": lambda L, x, y: x <= y,
    "ne": lambda L, x, y: x != y,
}
_PAIRS = list(itertools.product([0.0, 1.0, -1.0, math.inf, -math.inf], repeat=2))
for name, f in _COMPARE.items():
    for v in (
        [[0.0, 1, 2], [2.0, 1, 0]],
        [[0, 1, 2], [2, 1, 0]],
        [[True, True, False], [False, True, False]],
        [[p for p, _ in _PAIRS], [q for _, q in _PAIRS]],
    ):
        op("cmp_" + name, None, f, vals=v, forward_only=True)
    for shapes in ([(3, 4, 5), (3, 4, 5)], [(3, 4, 5), (5,)], [(5,), (3, 4, 5)]):
        op("cmp_" + name, shapes, f, forward_only=True)
    op(
        "cmp_" + name,
        None,
        lambda L, x, y, f=f: f(L, x, 2),
        vals=[[0.0, 1, 2], [2.0, 1, 0]],
        forward_only=True,
    )
    op(
        "cmp_" + name,
        None,
        lambda L, x, y, f=f: f(L, 2, y),
        vals=[[0.0, 1, 2], [2.0, 1, 0]],
        forward_only=True,
    )
op("cmp_backward", None, lambda L, x: x * (x != 0), vals=[[0.5, 0.0, -1.5, 2.0]])
op("cmp_backward", None, lambda L, x: x * (x < 0), vals=[[0.5, 0.0, -1.5, 2.0]])

# ----------------------------------------------------------------------- where, clip, max
op("where", [(100,)], lambda L, x: L.lib.where(x > 0.5, 4, 2), forward_only=True)
for shapes in ([(8,), (1,), (1,)], [(10, 10), (10,), (10,)], [(100,)] * 3, [(10, 10)] * 3):
    op("where", shapes, lambda L, x, a, b: L.lib.where(x > 0.5, a, b))
op("where", [(5, 5)], lambda L, x: L.lib.where(x > 0.5, 4, 2).permute((1, 0)), forward_only=True)
op("where", None, lambda L, x: L.lib.where(x < 0, x, 1.0), vals=[[math.inf] * 3])
op("where", [(32, 10)], lambda L, x: x.masked_fill((x > 0.1).detach(), -math.inf))
op("where", [(32, 10)], lambda L, x: x.masked_fill((x < 0.1).detach(), -math.inf))
for name in ("maximum", "minimum"):
    f = lambda L, x, y, n=name: getattr(L.lib, n)(x, y)
    op(name, [(45, 65), (45, 65)], f)
    op(name, [(), ()], f)
    op(name, None, f, vals=[[1.0, 0.0, 3.0, -4.0], 3.0])
    op(name, None, f, vals=[[1.0, 0.0, 3.0, -4.0], [-1.0, -2.0, 3.0, 0.0]])
    for other in (2**31 - 1, -(2**31)):
        op(name, None, f, vals=[[-1234, 0, 1234, 2**31 - 1, -(2**31)], other], forward_only=True)
    for v in (
        [[True, False, False], True],
        [[True, False, False], [True, True, False]],
        [[True, False, False], 1.2],
        [[True, False, False], 3],
    ):
        op(name, None, f, vals=v, forward_only=True)
    op(name, None, f, vals=[[1, 2, 3], 1.2], forward_only=True, **MIXED)
    op(name, [(45, 65)], lambda L, x, n=name: getattr(x, n)(L.t(0.0)))
for lo, hi in (
    (-2.3, 1.2),
    (0, 0),
    (10, 100),
    (0, 0.1),
    (-0.3, -0.2),
    (3, 0),
    (None, 0),
    (0, None),
):
    op("clip", [(45, 65)], lambda L, x, lo=lo, hi=hi: x.clip(lo, hi))
op("clip", None, lambda L, x: x.clip(-2.5, 1.5), vals=[[-3.0, -2.5, 0, 1.5, 2]])
op("clip", [(45, 65)], lambda L, x: x.clamp(min=-0.5, max=0.5))
op("clip", [(45, 65)], lambda L, x: L.lib.clamp(x, -0.5, 0.5))
raises("clip", [(45, 65)], lambda L, x: x.clip(None, None), RuntimeError)

# ----------------------------------------------------------------------- tril, triu
for name in ("tril", "triu"):
    for shape, k in (
        ((3, 3), 0),
        ((3, 3), 1),
        ((3, 3), 2),
        ((3, 3), -1),
        ((3, 3), -2),
        ((4, 5), 4),
        ((4, 5), 5),
        ((4, 5), 6),
        ((4, 5), -4),
        ((4, 5), -5),
        ((4, 5), -6),
        ((5, 3, 3), 0),
        ((5, 0, 3), 0),
        ((5, 3, 3), 1),
    ):
        op(name, [shape], lambda L, x, n=name, k=k: getattr(x, n)(k))
    op(name, None, lambda L, x, n=name: getattr(x, n)(), vals=[[[True] * 3] * 3], forward_only=True)

# ----------------------------------------------------------------------- slicing
_SLICES = [
    ((3,), lambda x: x[1:3]),
    ((3,), lambda x: x[0:2]),
    ((3,), lambda x: x[-2:2]),
    ((), lambda x: x[None]),
    ((3,), lambda x: x[0]),
    ((3,), lambda x: x[2]),
    ((3,), lambda x: x[-1]),
    ((3,), lambda x: x[-3]),
    ((10, 10), lambda x: x[1]),
    ((3, 3, 3), lambda x: x[1, 1, 1]),
    ((3, 3, 3), lambda x: x[1:2]),
    ((3, 3, 3), lambda x: x[1:2, 2]),
    ((3, 3, 3), lambda x: x[1:2, 1:2]),
    ((3, 3, 3), lambda x: x[1:2, 1:2, 0:-1]),
    ((3, 3, 3), lambda x: x[None]),
    ((3, 3, 3), lambda x: x[1:2, None]),
    ((3, 3, 3), lambda x: x[1:2, None, 1:2]),
    ((3, 3, 3), lambda x: x[1:2, 1:2, None, -1]),
    ((3, 3, 3), lambda x: x[None, None, 1, None, 2, 0:2]),
    ((3, 3, 3), lambda x: x[:, [0], :]),
    ((3, 3, 3), lambda x: x[0:4]),
    ((3, 3, 3), lambda x: x[-6:4]),
    ((3, 3, 3), lambda x: x[1:50]),
    ((3, 3, 3), lambda x: x[1:50, 1:2, -1]),
    ((7, 5, 10), lambda x: x[::2, ::3, ::4]),
    ((7, 5, 10), lambda x: x[1:5:2, ::3, ::4]),
    ((7, 5, 10), lambda x: x[1:5:2, 3, ::4]),
    ((7, 5, 10), lambda x: x[1:5:2, None, None, 3, None, ::4]),
    ((3, 3, 3), lambda x: x[5:10]),
    ((3, 3, 3), lambda x: x[-15:-7]),
    ((3, 3, 3), lambda x: x[-2:2]),
    ((3, 3, 3), lambda x: x[-2:-5]),
    ((10, 10), lambda x: x[1:1]),
    ((3, 3, 3, 3), lambda x: x[..., 0]),
    ((3, 3, 3, 3), lambda x: x[0, ...]),
    ((3, 3, 3, 3), lambda x: x[0, ..., 0]),
    ((3, 3, 3, 3), lambda x: x[0:3, ..., 2:3]),
    ((3, 3, 3, 3), lambda x: x[None, 0:3, ..., 0, None]),
    ((4, 4), lambda x: x[:, 1:2][1:2]),
    ((4, 4), lambda x: x[1:3][1:2]),
    ((4, 4), lambda x: x[:, 1:2][0:1]),
    ((4, 4), lambda x: x[:, 1:2][:, 0:1]),
    ((5, 6), lambda x: x[[True, False, 2]]),
]
for shape, f in _SLICES:
    op("slice", [shape], lambda L, x, f=f: f(x))
op("slice", [(3, 3, 3)], lambda L, x: x[:, L.t(np.zeros(1, np.int64)), :])
op("slice", None, lambda L, x: x[L.t([0, 1, 2])], vals=[[math.inf, -math.inf, math.nan]])
op("slice", [(4,)], lambda L, x: L.lib.stack([x for _ in range(3)])[0, :])
op("slice", [(5,)], lambda L, x: L.lib.stack([x for _ in range(3)])[0, 0])
op("slice", [(4, 4)], lambda L, x: L.lib.stack([x for _ in range(4)])[3])
for f in (lambda L, x: x[1, 77, 77, 77], lambda L, x: x[1, 3], lambda L, x: x[1, -4]):
    raises("slice", [(4, 3)], f, IndexError)
raises("slice", [(4, 3)], lambda L, x: x[::0, 1], ValueError)
# Two ellipses and float indices: NumPy and tinygrad reject them, PyTorch lets them pass.
raises("slice", [(4, 3)], lambda L, x: x[..., ...], IndexError, torch_raises=False)
raises("slice", [()], lambda L, x: x[0], IndexError)
raises("slice", [()], lambda L, x: x[:], IndexError)
for f in (
    lambda L, x: x[L.t(1.1)],
    lambda L, x: x[L.t([True, False])],
    lambda L, x: x[[True, False]],
):
    raises("fancy_index", [(10, 11, 12)], f, IndexError)
raises("fancy_index", [(10, 11, 12)], lambda L, x: x[[1.1]], IndexError, torch_raises=False)
_RNG = np.random.default_rng(1)
_IDX = {
    "a": _RNG.integers(-1, 1, (2, 1, 1, 1, 1, 1)),
    "b": _RNG.integers(0, 1, (1, 3, 1, 1, 1, 1)),
    "c": _RNG.integers(-5, 5, (1, 1, 4, 1, 1, 1)),
    "d": _RNG.integers(0, 4, (2, 1, 1, 5, 1, 1)),
    "e": _RNG.integers(0, 1, (1, 1, 1, 1, 6, 1)),
}
raises(
    "fancy_index",
    [(10, 11, 12)],
    lambda L, x: x[
        L.t(np.zeros((3, 1, 1, 1), int)),
        L.t(np.zeros((1, 4, 1, 1), int)),
        L.t(np.zeros((2, 4, 4, 1), int)),
    ],
    (IndexError, ValueError),
)
raises(
    "fancy_index",
    [(10, 11, 12)],
    lambda L, x: x[L.t(np.zeros((3, 1, 1, 1), int)), L.t(np.zeros((1, 4, 1, 1, 1), int))],
    (IndexError, ValueError),
)


def _fancy(index):
    """A case indexing with the index tensors a..e (made per library) as ``index(x, i)``."""
    return lambda L, x: index(x, {k: L.t(v) for k, v in _IDX.items()})


_FANCY = [
    lambda x, i: x[i["a"], i["b"], i["c"], i["d"], i["e"]],
    lambda x, i: x[:, i["b"], i["c"], i["d"], :],
    lambda x, i: x[i["a"], i["b"], ...],
    lambda x, i: x[i["a"], ..., i["e"]],
    lambda x, i: x[..., i["c"], :, i["e"]],
    lambda x, i: x[1, i["b"], i["c"], i["d"], i["e"]],
    lambda x, i: x[i["a"], i["b"], 3, i["d"], i["e"]],
    lambda x, i: x[1, i["b"], 2, i["d"], 2],
    lambda x, i: x[i["a"], 2, 2, 2, i["e"]],
    lambda x, i: x[None, i["b"], i["c"], i["d"], i["e"]],
    lambda x, i: x[i["a"], i["b"], i["c"], i["d"], None],
    lambda x, i: x[i["a"], i["b"], None, i["d"], i["e"]],
    lambda x, i: x[None, i["b"], i["c"], i["d"], None],
    lambda x, i: x[i["a"], :, None, i["d"], i["e"]],
    lambda x, i: x[None, None, None, None, None],
    lambda x, i: x[None, None, i["b"], i["c"], i["d"], i["e"]],
    lambda x, i: x[None, None, i["b"], i["c"], None, None],
    lambda x, i: x[i["a"], None, None, i["c"], i["d"], i["e"]],
    lambda x, i: x[i["a"], None, None, i["c"], None, None],
    lambda x, i: x[None, None, i["b"], None, i["d"], i["e"]],
    lambda x, i: x[1, i["b"], None, i["d"], 1],
    lambda x, i: x[None, i["b"], 2, i["d"], None],
    lambda x, i: x[..., 1, i["d"], None],
    lambda x, i: x[((0,),)],
    lambda x, i: x[(0,), i["b"], i["c"], i["d"], :],
    lambda x, i: x[[[[0]]], i["b"], i["c"], i["d"], [[1]]],
    lambda x, i: x[(1, 0, -1), i["b"], i["c"], i["d"], :],
    lambda x, i: x[i["a"], i["b"], i["c"], (1, 2, 3), ...],
    lambda x, i: x[i["a"], i["b"], i["c"], [[1], [2], [3]], ...],
    lambda x, i: x[i["a"], (2, 1, 0), i["c"], (-2, 1, 0), i["e"]],
    lambda x, i: x[(((0,),),)],
    lambda x, i: x[(1, 0), i["b"], i["c"], i["d"], :],
    lambda x, i: x[i["a"], ((2,), (1,), (0,)), i["c"], (2, 1, 0)],
    lambda x, i: x[1, (2, 1, 0), None, i["c"], (2, 1, 0), i["e"]],
    lambda x, i: x[(i["a"],)],
    lambda x, i: x[(i["a"], 1)],
    lambda x, i: x[(i["a"], (1, 1))],
    lambda x, i: x[(i["a"], i["b"], i["c"], i["d"], i["e"])],
]
for f in _FANCY:
    op("fancy_index", [(2, 5, 6, 5, 3, 4)], _fancy(f))
for rows, cols in (
    ([[0, 0, 0], [0, 0, 0]], 1),
    ([1], [[0, 0, 0], [0, 0, 0]]),
    ([[0, 0, 0], [0, 0, 0]], [2, 1, 1]),
    ([[0, 1, -1], [-1, -2, 0]], [2, 1, -1]),
):
    op("fancy_index", [(2, 3)], lambda L, x, r=rows, c=cols: x[L.t(r), L.t(c)])

# ----------------------------------------------------------------------- gather
_GATHER_INDEX = np.random.default_rng(2).integers(0, 3, (3, 4, 5))
for shape, dim in (
    ((4, 5, 6), 0),
    ((4, 5, 6), 1),
    ((4, 5, 6), 2),
    ((3, 4, 5), 0),
    ((4, 5, 6), -1),
    ((4, 5, 6), -2),
    ((4, 5, 6), -3),
):
    op("gather", [shape], lambda L, x, d=dim: x.gather(dim=d, index=L.t(_GATHER_INDEX)))
    op("gather", [shape], lambda L, x, d=dim: L.lib.gather(x, d, L.t(_GATHER_INDEX)))
for v in ([[1.0, 2.0, 3.0]], [[-math.inf, 2.0, 3.0]]):
    op("gather", None, lambda L, x: x.gather(dim=0, index=L.t([2, 1, 0, 1, 2])), vals=v)
raises("gather", [(4, 5, 6)], lambda L, x: x.gather(dim=0, index=L.t([1])), RuntimeError)
raises("gather", [(2, 1, 1)], lambda L, x: x.gather(dim=0, index=L.t(_GATHER_INDEX)), RuntimeError)

# ----------------------------------------------------------------------- pad
_PADS = [
    ((3, 3, 3, 3), (1, 2, 3, 4), 0.0),
    ((3, 3, 3, 3), (-1, 2, -3, 4), 0.0),
    ((3, 3, 3, 3), (1, 2, 3, 4), 5.0),
    ((3, 3, 3, 3), (-1, 2, -3, 4), 5.0),
    ((3, 3, 3, 3), (1, 2, 3, 4), math.inf),
    ((3, 3, 3, 3), (-1, 2, -3, 4), -math.inf),
    ((3, 3), (1, 2, 3, 4), 0.0),
    ((3, 3), (-1, 2, -3, 4), 0.0),
    ((3, 3), (1, 2, 3, 4), 5.0),
    ((3, 3), (0, 0, 3, 4), 1.0),
    ((3, 3), (0, 0, 0, 0), 1.0),
    ((1, 2), (0, 1, 1, 0), 0.0),
]
for shape, pads, value in _PADS:
    op("pad", [shape], lambda L, x, p=pads, v=value: L.F.pad(x, p, value=v))
op("pad", [(1, 2)], lambda L, x: L.F.pad(x, (0, 1, 1, 0)).reshape((3, 2)))
op("pad", [(1, 2)], lambda L, x: L.F.pad(x, (0, 2, 1, 1)).reshape((4, 3)))
op("pad", [(1, 1, 1, 2)], lambda L, x: L.F.pad(x, (0, 4, 2, 2, 1, 2, 0, 2)).reshape((4, 3, 6, 5)))
op("pad", [(64, 64), (60, 60)], lambda L, x, w: x + L.F.pad(w, (2, 2, 2, 2)))
# NumPy's spelling, which cr.pad has: ((before, after), ...) per axis, first axis first.
for shape, widths, value in (
    ((3, 3), ((3, 4), (1, 2)), 5.0),
    ((3, 3, 3, 3), ((0, 0), (0, 0), (3, 4), (1, 2)), 0.0),
):
    flat = tuple(n for pair in reversed(widths) for n in pair)
    op(
        "pad_numpy",
        [shape],
        lambda L, x, f=flat, v=value: L.F.pad(x, f, value=v),
        ours=lambda L, x, w=widths, v=value: L.lib.pad(x, w, constant_values=v),
    )
for mode, cases in (
    (
        "reflect",
        [
            ((1, 1, 5, 5), (0, 2, 3, 2)),
            ((5, 5, 5), (0, 2)),
            ((1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)),
            ((3, 3, 3, 3), (-1, 2, 2, -1)),
            ((1, 1, 5, 5), (3, -3, 0, -3)),
            ((1, 1, 5, 5), (3, -5, 1, -5)),
            ((1, 1, 5, 5), (0, 0, 0, -5)),
            ((1, 1, 5, 5), (4, 4, 0, 4)),
        ],
    ),
    (
        "replicate",
        [
            ((1, 1, 5, 5), (0, 2, 3, 2)),
            ((5, 5, 5), (0, 2)),
            ((1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)),
            ((3, 3, 3, 3), (-1, 2, 2, -1)),
            ((1, 1, 5, 5), (3, -3, 0, -3)),
            ((1, 1, 5, 5), (3, -5, 1, -5)),
            ((1, 1, 5, 5), (0, 0, 0, -5)),
            ((1, 1, 5, 5), (3, 11, 0, 30)),
        ],
    ),
    (
        "circular",
        [((1, 1, 5, 5), (0, 2, 3, 2)), ((5, 5, 5), (0, 2)), ((1, 1, 5, 5, 5), (1, 2, 3, 5, 1, 2))],
    ),
):
    for shape, pads in cases:
        op("pad_" + mode, [shape], lambda L, x, p=pads, m=mode: L.F.pad(x, p, mode=m))
raises("pad", [(3, 3)], lambda L, x: L.F.pad(x, (2, 0, 2)), (RuntimeError, ValueError))
raises(
    "pad", [(3, 3)], lambda L, x: L.F.pad(x, (0, 0, 0, 0, 1, 0, 3, 0)), (RuntimeError, ValueError)
)
raises("pad", [(3, 3, 3)], lambda L, x: L.F.pad(x, (3, 0), mode="typo"), NotImplementedError)
raises(
    "pad",
    [(1, 1, 5, 5)],
    lambda L, x: L.F.pad(x, (3, 5, 0, 0), mode="reflect"),
    (RuntimeError, ValueError),
)
raises(
    "pad",
    [(1, 1, 5, 5)],
    lambda L, x: L.F.pad(x, (3, 6, 0, 0), mode="circular"),
    (RuntimeError, ValueError),
)
for value in (0.0, 3.456):
    for shape, pads, index in (
        ((1,), (1, 0), 0),
        ((4,), (1, 0), 0),
        ((4,), (3, 0), slice(0, 1)),
        ((4,), (0, 3), 6),
        ((4,), (0, 3), slice(4, 6)),
        ((5, 5), (0, 0, 1, 0), 0),
        ((2, 2), (0, 1, 0, 0), (0, 2)),
        ((4, 4), (0, 0, 1, 0), (0, 2)),
        ((4, 4), (0, 0, 0, 2), 5),
        ((4, 4), (0, 0, 0, 2), slice(3, 5)),
        ((4, 4), (3, 0, 0, 0), (1, 0)),
        ((4, 4), (3, 0, 0, 0), (1, slice(0, 4))),
        ((4, 4), (3, 4, 1, 2), 0),
        ((4, 4), (3, 4, 1, 2), (slice(None), 1)),
        ((4, 4), (3, 4, 1, 2), (slice(None), 4)),
        ((3, 3), (0, 3, 0, 0), (slice(None), slice(4, 6))),
        ((3, 3), (0, 1, 3, 2), (slice(0, 2), slice(None))),
        ((3, 3, 3), (1, 1, 0, 1, 3, 2), slice(0, 2)),
        ((3, 3, 3), (1, 1, 0, 1, 3, 2), slice(2, 4)),
    ):
        op("pad_slice", [shape], lambda L, x, p=pads, i=index, v=value: L.F.pad(x, p, value=v)[i])

# ----------------------------------------------------------------------- shape ops
op("transpose", [(3, 3)], lambda L, x: x.T)
op("transpose", [(3, 3, 3)], lambda L, x: x.transpose(1, 2))
op("transpose", [(3, 3, 3)], lambda L, x: x.transpose(0, 2))
for shape, order in (
    ((1, 2, 3, 4), (3, 0, 2, 1)),
    ((3, 4, 5, 6), (3, 2, 1, 0)),
    ((3, 4, 5, 6), (-2, -1, 1, 0)),
    ((), ()),
):
    op("permute", [shape], lambda L, x, o=order: x.permute(o))
op("permute", [(3, 4, 5, 6)], lambda L, x: x.permute(3, 2, 1, 0))
for order in ((0, 2), (0, 1, 2, 3, 3, 3), (0, 0, 1, 2, 3)):
    raises("permute", [(3, 4, 5, 6)], lambda L, x, o=order: x.permute(o), RuntimeError)
for shape, new in (
    ((4, 3, 6, 6), (12, 6, 6)),
    ((4, 3, 6, 6), (-1, 3, 6, 6)),
    ((4, 3, 6, 6), (-1, 1, 6, 6)),
    ((), ()),
    ((1,), ()),
    ((), (1,)),
    ((), (1, 1, 1)),
):
    op("reshape", [shape], lambda L, x, n=new: x.reshape(n))
op("reshape", [(4, 3, 6, 6)], lambda L, x: x.reshape(12, 6, 6))
raises("reshape", [(3, 4)], lambda L, x: x.reshape((-1, -1, 2)), RuntimeError)
raises("reshape", [(3, 4)], lambda L, x: x.reshape((-1, -1, -1, 2)), RuntimeError)
raises("reshape", [(4, 3, 6, 6)], lambda L, x: x.reshape(()), (ValueError, RuntimeError))
for shape, f in (
    ((4, 3, 6, 6), lambda x: x.view((12, 6, 6))),
    ((4, 3, 6, 6), lambda x: x.view((-1, 3, 6, 6))),
    ((6,), lambda x: x.view(2, 3)),
    ((6, 1), lambda x: x.view([2, 3])),
    ((1, 6), lambda x: x.view((3, 2))),
    ((3, 2), lambda x: x.view((2, 3))),
    ((3, 2), lambda x: x.view(6)),
):
    op("view", [shape], lambda L, x, f=f: f(x))
for shape, dims in (
    ((4, 3, 6, 6), (0,)),
    ((4, 3, 6, 6), (0, 1)),
    ((4, 3, 6, 6), (0, 1, 3)),
    ((4, 3, 6, 6), (3,)),
    ((4, 3, 6, 6), (-1,)),
    ((), ()),
    ((1,), ()),
    ((4, 3, 6, 6), ()),
):
    op("flip", [shape], lambda L, x, d=dims: x.flip(d))
op("flip", [(4, 3, 6, 6)], lambda L, x: x.flip((0, 1, 3)).flip(0))
op("flip", [(4, 3, 6, 6)], lambda L, x: x.flip(0, 1))
for dims in ((0, 0), (1, 1), (1, -1)):
    raises("flip", [(3, 4)], lambda L, x, d=dims: x.flip(d), RuntimeError)
for shape, args in (
    ((1, 3, 6, 6), (0,)),
    ((4, 3, 1, 6), (1,)),
    ((4, 3, 6, 6), (3,)),
    ((4, 3, 6, 1), (-1,)),
    ((4, 3, 6, 6), ()),
    ((1, 3, 6, 6), ()),
    ((2, 3, 1), ()),
    ((), (-1,)),
    ((), (0,)),
    ((), ()),
    ((4, 1, 6, 1), ((1, 3),)),
    ((4, 1, 6, 1), ((0, 1),)),
):
    op("squeeze", [shape], lambda L, x, a=args: x.squeeze(*a))
for shape, dim in (((4, 3, 6, 6), 50), ((), 10), ((), 1), ((), -2)):
    raises("squeeze", [shape], lambda L, x, d=dim: x.squeeze(d), IndexError)
for shape, dim in (
    ((4, 3, 6, 6), 0),
    ((4, 3, 6, 6), 4),
    ((4, 3, 6, 6), -1),
    ((4, 3, 6, 6), -3),
    ((), 0),
):
    op("unsqueeze", [shape], lambda L, x, d=dim: x.unsqueeze(d))
    op("unsqueeze", [shape], lambda L, x, d=dim: L.lib.unsqueeze(x, d))
for axis in range(3):
    op("flatten", [(4, 3, 6, 6)], lambda L, x, a=axis: x.flatten(start_dim=a))
    op("flatten", [(4, 3, 6, 6)], lambda L, x, a=axis: x.flatten(end_dim=a))
op("flatten", [(4, 3, 6, 6)], lambda L, x: x.flatten(start_dim=1, end_dim=3))
op("flatten", [(4, 3, 6, 6)], lambda L, x: L.lib.flatten(x, 1, 2))
op("flatten", [()], lambda L, x: x.flatten())
op("flatten", [(1,)], lambda L, x: x.flatten())
for dim, sizes in ((0, (2, 2)), (3, (3, 2)), (-1, (3, 2, 1))):
    op("unflatten", [(4, 3, 6, 6)], lambda L, x, d=dim, s=sizes: x.unflatten(d, s))
op("diag", [(5,)], lambda L, x: x.diag())
op("diagonal", [(5, 5)], lambda L, x: x.diagonal())
op("diagonal", [(3, 5, 5)], lambda L, x: x.diagonal(0, 1, 2))
for shifts, dims in (
    (1, None),
    ((1,), None),
    (1, 0),
    (-1, 0),
    ((2, 1), (0, 1)),
    (1, -1),
    (-1, -1),
    (5, 0),
    (-5, 0),
    (0, 0),
):
    op(
        "roll",
        [(2, 4)],
        lambda L, x, s=shifts, d=dims: x.roll(s, d) if d is not None else x.roll(s),
    )
for shifts, dims in (
    (1, 0),
    ((2, -3), (0, 2)),
    ((1, 2, -1), (0, 1, 2)),
    ((0, 0), (0, 1)),
    ((0, 2), (0, 1)),
):
    op("roll", [(2, 4, 6)], lambda L, x, s=shifts, d=dims: x.roll(shifts=s, dims=d))
raises("roll", [(2, 4)], lambda L, x: x.roll((1, 2)), RuntimeError)
raises("roll", [(3, 3)], lambda L, x: x.roll(shifts=1, dims=(0, 1)), RuntimeError)
raises("roll", [(10,)], lambda L, x: x.roll(shifts=(1, 2), dims=0), RuntimeError)
op("detach", [(4, 3, 6, 6)], lambda L, x: x.detach(), forward_only=True)
op("detach", [()], lambda L, x: x.detach(), forward_only=True)
for shape, sizes in (
    ((4, 3, 1, 6), (4, 3, 2, 6)),
    ((1, 1, 1, 1), (4, 3, 2, 6)),
    ((4, 3, 1, 6), (6, 1, 4, 3, 2, 6)),
    ((4, 3, 1, 6), (0, 1, 4, 3, 2, 6)),
    ((4, 3, 1, 6), (4, 3, 0, 6)),
    ((), (4, 3, 2, 6)),
    ((), []),
):
    op("expand", [shape], lambda L, x, s=sizes: x.expand(s))
op("expand", [(4, 3, 1, 6)], lambda L, x: x.expand(4, -1, 2, -1))
op("expand", [(3, 1), (3, 4)], lambda L, x, y: x.expand_as(y))
for shape, sizes in (
    ((4, 3, 1, 6), (4, 1, 1, 6)),
    ((4, 3, 1, 6), (4, 6, 1, 6)),
    ((4, 3, 1, 6), (3, 1, 6)),
    ((4, 3, 2, 6), (4, 3, 0, 6)),
):
    raises("expand", [shape], lambda L, x, s=sizes: x.expand(*s), (ValueError, RuntimeError))
for dim in range(-2, 3):
    op("cat", [(45, 65, 9)] * 3, lambda L, x, y, z, d=dim: L.lib.cat((x, y, z), d))
op("cat", [(45, 0, 9)] * 3, lambda L, x, y, z: L.lib.cat((x, y, z), 0))
op("cat", [(45, 0, 9), (45, 1, 9), (45, 2, 9)], lambda L, x, y, z: L.lib.cat((x, y, z), 1))
op("cat", [(45, 0, 9)] * 3, lambda L, x, y, z: L.lib.cat((x, y, z), 1))
for dim in range(-1, 2):
    op("cat", [(45, 65)] * 3, lambda L, x, y, z, d=dim: L.lib.cat((x, y, z), dim=d))
    op(
        "concatenate",
        [(45, 65)] * 3,
        lambda L, x, y, z, d=dim: L.lib.concatenate((x, y, z), axis=d),
    )
raises("cat", [(), ()], lambda L, x, y: L.lib.cat((x, y)), (IndexError, RuntimeError))
for dim in range(-1, 3):
    op("stack", [(5, 6, 3)] * 3, lambda L, x, y, z, d=dim: L.lib.stack((x, y, z), d))
    op("stack", [(5, 6, 3)] * 3, lambda L, x, y, z, d=dim: L.lib.stack([x, y, z], dim=d))
op("stack", [(), ()], lambda L, x, y: L.lib.stack((x, y)))
raises("stack", [(45, 65, 3)], lambda L, x: L.lib.stack((x,), dim=77), IndexError)
for reps in ([], [4], [2, 1], [3, 2, 2]):
    repeats = [2, 4, 3] + reps
    op("repeat", [(4, 6, 3)], lambda L, x, r=repeats: x.repeat(*r))
    op("repeat", [()], lambda L, x, r=repeats: x.repeat(*r))
op("repeat", [(3, 3)], lambda L, x: x.repeat(3, 3, 4))
op("repeat", [(4, 6, 3)], lambda L, x: x.repeat((2, 0, 4)))
raises("repeat", [(4, 6, 3)], lambda L, x: x.repeat((2, 4)), (ValueError, RuntimeError))
for args in ((6,), (2, 1), (2, 0), (2, -1), (2, -2)):
    op("repeat_interleave", [(3, 3)], lambda L, x, a=args: x.repeat_interleave(*a))
for sizes, dim in ((5, 0), ([1, 4, 5], 0), (3, 0), (2500, 0)):
    op("split", [(10000,) if sizes == 2500 else (10,)], lambda L, x, s=sizes, d=dim: x.split(s, d))
for shape, sizes, kwargs in (
    ((3, 4), 1, {}),
    ((3, 4), 1, {"dim": 1}),
    ((4, 4), [2, 2], {}),
    ((4, 4), [2, 2], {"dim": 1}),
):
    op("split", [shape], lambda L, x, s=sizes, k=kwargs: x.split(s, **k))
for shape, chunks, dim in (((8, 13), 6, 1), ((8, 13), 6, 0), ((8, 13), 3, -1), ((8, 3, 39), 3, -2)):
    op("chunk", [shape], lambda L, x, c=chunks, d=dim: x.chunk(c, d))
    op("chunk", [shape], lambda L, x, c=chunks, d=dim: L.lib.chunk(x, c, d))
for shape, args in (
    ((8,), (0, 2, 1)),
    ((8,), (0, 2, 2)),
    ((8,), (0, 7, 3)),
    ((3, 3, 3), (2, 2, 8)),
    ((3, 3, 3), (1, 0, 8)),
    ((3, 3, 3, 3, 3), (-1, 2, 2)),
):
    op("unfold", [shape], lambda L, x, a=args: x.unfold(*a))
for args in ((0, 9, 3), (1, 8, 3), (0, 1, -1)):
    raises("unfold", [(8,)], lambda L, x, a=args: x.unfold(*a), (RuntimeError, IndexError))
for indexing in ("ij", "xy"):
    op("meshgrid", [(3,)], lambda L, x, i=indexing: L.lib.meshgrid(x, indexing=i))
    op("meshgrid", [(3,), (4,)], lambda L, x, y, i=indexing: L.lib.meshgrid(x, y, indexing=i))
    op(
        "meshgrid",
        [(3,), (), (4,), (3,)],
        lambda L, x, w, y, z, i=indexing: L.lib.meshgrid(x, w, y, z, indexing=i),
    )
raises("meshgrid", [(3,)], lambda L, x: L.lib.meshgrid(x, indexing="bad"), RuntimeError)

# ----------------------------------------------------------------------- losses
_CLASSES = np.random.default_rng(3).integers(0, 10, 32)
_CLASSES12 = np.random.default_rng(4).integers(0, 10, 12)
_CLASSES3x12 = np.random.default_rng(5).integers(0, 10, (3, 12))
_WEIGHT = np.random.default_rng(6).normal(0, 1, 10)
_POS_WEIGHT = [0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
for r in ("mean", "sum", "none"):
    op(
        "binary_cross_entropy",
        [(32, 10), (32, 10)],
        lambda L, x, y, r=r: L.F.binary_cross_entropy(x.sigmoid(), y.clip(0, 1), reduction=r),
    )
    op(
        "binary_cross_entropy",
        [(32, 10), (32, 10)],
        lambda L, x, y, r=r: L.F.binary_cross_entropy_with_logits(x, y.clip(0, 1), reduction=r),
    )
op(
    "binary_cross_entropy",
    [(32, 10), (32, 10)],
    lambda L, x, y: L.F.binary_cross_entropy_with_logits(
        x, y.clip(0, 1), pos_weight=L.t(_POS_WEIGHT)
    ),
)
op("cross_entropy", [(32,), (32,)], lambda L, x, y: L.F.cross_entropy(x, y))
op("cross_entropy", [(32, 10), (32, 10)], lambda L, x, y: L.F.cross_entropy(x, y))
op("cross_entropy", [(32, 4, 4, 4), (32, 4, 4, 4)], lambda L, x, y: L.F.cross_entropy(x, y))
op("cross_entropy", [(32, 10)], lambda L, x: L.F.cross_entropy(x, L.t(_CLASSES)))
raises("cross_entropy", [(32, 10), (32, 1)], lambda L, x, y: L.F.cross_entropy(x, y), RuntimeError)
for r in ("mean", "sum", "none"):
    op(
        "cross_entropy",
        [(32, 10), (32, 10)],
        lambda L, x, y, r=r: L.F.cross_entropy(x, y, reduction=r),
    )
raises(
    "cross_entropy",
    [(32, 10), (32, 10)],
    lambda L, x, y: L.F.cross_entropy(x, y, reduction="typo"),
    ValueError,
)
for ls in (0.0, 0.3, 0.7, 1.0):
    op(
        "cross_entropy_smoothing",
        [(32, 10), (32, 10)],
        lambda L, x, y, s=ls: L.F.cross_entropy(x, y, label_smoothing=s),
    )
    op(
        "cross_entropy_smoothing",
        [(32, 10)],
        lambda L, x, s=ls: L.F.cross_entropy(x, L.t(_CLASSES), label_smoothing=s),
    )
op("cross_entropy_loss", [(12, 10)], lambda L, x: L.lib.nn.CrossEntropyLoss()(x, L.t(_CLASSES12)))
op(
    "cross_entropy_loss",
    [(12, 10)],
    lambda L, x: L.lib.nn.CrossEntropyLoss(
        reduction="mean", ignore_index=int(_CLASSES12[0]), label_smoothing=0.3
    )(x, L.t(_CLASSES12)),
)
op(
    "cross_entropy_loss",
    [(3, 12, 10)],
    lambda L, x: L.lib.nn.CrossEntropyLoss()(x.swapaxes(1, 2), L.t(_CLASSES3x12)),
)
for r in ("mean", "sum", "none"):
    op(
        "cross_entropy_loss",
        [(12, 10)],
        lambda L, x, r=r: L.lib.nn.CrossEntropyLoss(reduction=r)(x, L.t(_CLASSES12)),
    )
for i in (-1, 0, 3):
    op(
        "cross_entropy_loss",
        [(12, 10)],
        lambda L, x, i=i: L.lib.nn.CrossEntropyLoss(ignore_index=i)(x, L.t([0, 1, 2, 3] * 3)),
    )
for s in (0.3, 0.9):
    op(
        "cross_entropy_loss",
        [(12, 10)],
        lambda L, x, s=s: L.lib.nn.CrossEntropyLoss(label_smoothing=s)(x, L.t(_CLASSES12)),
    )
_TARGET3D = np.random.default_rng(7).integers(0, 10, (32, 3, 3, 3))
op("nll_loss", [(32, 10)], lambda L, x: L.F.nll_loss(L.F.log_softmax(x, dim=1), L.t(_CLASSES)))
op(
    "nll_loss",
    [(32, 10, 3, 3, 3)],
    lambda L, x: L.F.nll_loss(L.F.log_softmax(x, dim=1), L.t(_TARGET3D)),
)
for r in ("mean", "sum", "none"):
    op(
        "nll_loss",
        [(32, 10)],
        lambda L, x, r=r: L.F.nll_loss(L.F.log_softmax(x, dim=1), L.t(_CLASSES), reduction=r),
    )
    op(
        "nll_loss",
        [(32, 10)],
        lambda L, x, r=r: L.F.nll_loss(
            L.F.log_softmax(x, dim=1), L.t(_CLASSES), L.t(_WEIGHT), reduction=r
        ),
    )
    op(
        "nll_loss",
        [(16, 10, 3, 3, 3)],
        lambda L, x, r=r: L.F.nll_loss(
            L.F.log_softmax(x, dim=1), L.t(_TARGET3D[:16]), L.t(_WEIGHT), reduction=r
        ),
    )
raises(
    "nll_loss",
    [(32, 10)],
    lambda L, x: L.F.nll_loss(x, L.t(_CLASSES), reduction="typo"),
    ValueError,
)
op(
    "nll_loss",
    None,
    lambda L, x: L.F.nll_loss(L.F.log_softmax(x, dim=1), L.t([0, 1, 2]), ignore_index=1),
    vals=[[[2.0, 0.5, -1.0], [1.5, 2.5, -0.5], [0.0, -2.0, 1.0]]],
)
op("mse_loss", [(32, 10), (32, 10)], lambda L, x, y: L.F.mse_loss(x, y))
for data, classes in (
    ([1, 2, 4], 6),
    ([1, 2, 4], -1),
    ([[[1, 2, 3], [0, 3, 5]]] * 2, 8),
    ([[[1, 2, 3], [0, 3, 5]]] * 2, -1),
):
    op(
        "one_hot",
        None,
        lambda L, d=data, c=classes: L.F.one_hot(L.t(d), c),
        vals=[],
        forward_only=True,
    )


# ----------------------------------------------------------------------- the tests
def _reported(check, **options):
    """Run a check, reporting a failure as its message and the last frames that led to it.

    pytest's own traceback rendering parses this long module once per frame, which takes
    seconds per failure on a busy machine; Python's traceback module reads lines only.
    """
    try:
        check(**options)
    except (Exception, pytest.fail.Exception) as exc:  # noqa: BLE001  (reported as a failure)
        frames = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if "numpy/testing" not in frame.filename and "_pytest" not in frame.filename
        ]
        message = "".join(traceback.format_list(frames[-3:])) + f"{type(exc).__name__}: {exc}"
    else:
        return
    pytest.fail(message, pytrace=False)


@pytest.mark.parametrize("options", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_pytorch(options):
    _reported(_check, **options)


@pytest.mark.parametrize("options", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_float32_matches_pytorch(options):
    """The same cases in float32, tinygrad's default dtype: float32 in gives float32 out
    (values and gradients), within tinygrad's tolerances."""
    _reported(_check, **options, dtype=np.float32)


@pytest.mark.parametrize("options", [c[1] for c in RAISES], ids=[c[0] for c in RAISES])
def test_invalid_call_raises(options):
    _reported(_check_raises, **options)


# Slicing with negative steps: PyTorch has none, so NumPy gives the values and a gradient
# of ones at every element taken (basic slices never repeat an element).
_NEGATIVE_STEPS = [
    np.s_[::-1],
    np.s_[::-2],
    np.s_[:, 2:0:-1],
    np.s_[:, 2:0:-1, 3:1:-2],
    np.s_[4:0:-3, 2:0:-1, -1:-5:-2],
    np.s_[2:5:-1, :, :],
    np.s_[:, 2:5:-1, :],
    np.s_[:, :, 2:5:-1],
]


@pytest.mark.parametrize("index", _NEGATIVE_STEPS, ids=range(len(_NEGATIVE_STEPS)))
def test_negative_step_slices_match_numpy(index):
    a = np.random.default_rng(8).normal(size=(10, 10, 10))
    x = cr.tensor(a.copy(), requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.data, a[index])
    out.sum().backward()
    expected = np.zeros_like(a)
    expected[index] += 1
    np.testing.assert_array_equal(x.grad.data, expected)


# Writing into a tensor (setitem), out of a graph and inside one, against PyTorch.
_SETITEM = [
    ((4, 5, 6), lambda L: np.s_[1:3], (5, 6)),
    ((4, 5, 6), lambda L: np.s_[1, :, 2], (5,)),
    ((4, 5, 6), lambda L: np.s_[..., -1], ()),
    ((4, 5, 6), lambda L: np.s_[::2, 1:4:2], (6,)),
    ((4, 5, 6), lambda L: (L.t([0, 3]),), (2, 5, 6)),
    ((4, 5, 6), lambda L: (L.t([0, 3]), slice(None), L.t([1, 2])), (2, 5)),
    ((4, 5), lambda L: (L.t([[True, False, True, False, True]] * 4),), ()),
    ((4, 5), lambda L: (slice(None), None, 2), (4, 1)),
]


@pytest.mark.parametrize("shape, index, value_shape", _SETITEM, ids=range(len(_SETITEM)))
def test_setitem_matches_pytorch(shape, index, value_shape):
    rng = np.random.default_rng(9)
    a, v, w = rng.normal(size=shape), rng.normal(size=value_shape), rng.normal(size=shape)
    results = []
    for L in (TORCH, CR):
        # out of the graph: the values written in place
        plain = L.t(a.copy())
        plain[index(L)] = L.t(v.copy())
        # in a graph: gradients reach both the tensor written to and the value written
        x, val = (L.t(b.copy()).requires_grad_() for b in (a, v))
        y = x * 1.0
        y[index(L)] = val
        (y * L.t(w)).sum().backward()
        results.append([np.asarray(t.detach().numpy()) for t in (plain, y, x.grad, val.grad)])
    for theirs, ours in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def test_an_int_beside_a_separated_array_index_follows_numpy():
    # x[1, :, 3:11:2, d, 0:2]: NumPy counts the int as an advanced index, so the indexed
    # axes go first; PyTorch applies the int first and keeps them in place. chainrule's
    # indexing is NumPy's (HIPS autograd's suite relies on it), so NumPy is the reference.
    x = np.random.default_rng(0).standard_normal((2, 5, 6, 5, 3, 4))
    d = np.array([[0, 1], [2, 4]])
    t = cr.tensor(x, requires_grad=True)
    out = t[1, :, 3:11:2, d, 0:2]
    np.testing.assert_array_equal(out.numpy(), x[1, :, 3:11:2, d, 0:2])
    out.sum().backward()
    expected = np.zeros_like(x)
    np.add.at(expected, (1, slice(None), slice(3, 11, 2), d, slice(0, 2)), 1.0)
    np.testing.assert_array_equal(t.grad.numpy(), expected)
