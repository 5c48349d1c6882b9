"""The elementwise math families (ops/trig.py, ops/exponential.py, ops/arithmetic.py):
values and gradients against PyTorch, sinc at 0 to high order, float32 at extreme inputs,
NaN routing, remainder conventions, Python numbers, aliases and errors."""

import doctest
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import arithmetic, exponential, trig
from chainrule.ops.registry import Op


# ----------------------------------------------------------------------- domains
def _uniform(low, high):
    return lambda rng, shape: rng.uniform(low, high, shape)


def _away_from_zero(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(0.3, 2.0, shape)


def _divisor(rng, shape):
    return rng.choice([-1, 1], shape) * rng.uniform(1.0, 1.05, shape)


def _dividend(rng, shape):
    # With _divisor: |a / b| in (2.38, 2.63) or (0.29, 0.5), away from the integers where the
    # remainders jump, with both signs on both sides.
    scale = rng.choice([2.5, 0.4], shape)
    return scale * _divisor(rng, shape)


def _with_non_finite(rng, shape):
    values = rng.uniform(-2.0, 2.0, shape)
    special = rng.choice([np.nan, np.inf, -np.inf], shape)
    return np.where(rng.uniform(size=shape) < 0.3, special, values)


_DEFAULT = _uniform(-2.0, 2.0)
_POSITIVE = _uniform(0.2, 3.0)
_UNIT = _uniform(-0.9, 0.9)

# (chainrule name, torch name, domain of each input); torch functions looked up by name.
UNARY = [
    ("tan", "tan", _uniform(-1.2, 1.2)),
    ("sinh", "sinh", _DEFAULT),
    ("cosh", "cosh", _DEFAULT),
    ("arcsin", "asin", _UNIT),
    ("asin", "asin", _UNIT),
    ("arccos", "acos", _UNIT),
    ("acos", "acos", _UNIT),
    ("arctan", "atan", _DEFAULT),
    ("atan", "atan", _DEFAULT),
    ("arcsinh", "asinh", _DEFAULT),
    ("asinh", "asinh", _DEFAULT),
    ("arccosh", "acosh", _uniform(1.1, 3.0)),
    ("acosh", "acosh", _uniform(1.1, 3.0)),
    ("arctanh", "atanh", _UNIT),
    ("atanh", "atanh", _UNIT),
    ("sinc", "sinc", _DEFAULT),
    ("deg2rad", "deg2rad", _uniform(-360.0, 360.0)),
    ("rad2deg", "rad2deg", _DEFAULT),
    ("exp2", "exp2", _DEFAULT),
    ("expm1", "expm1", _DEFAULT),
    ("log2", "log2", _POSITIVE),
    ("log10", "log10", _POSITIVE),
    ("rsqrt", "rsqrt", _POSITIVE),
    ("square", "square", _DEFAULT),
    ("reciprocal", "reciprocal", _away_from_zero),
    ("sign", "sign", _away_from_zero),
    ("nan_to_num", "nan_to_num", _with_non_finite),
]
BINARY = [
    ("arctan2", "atan2", _away_from_zero, _away_from_zero),
    ("atan2", "atan2", _away_from_zero, _away_from_zero),
    ("hypot", "hypot", _away_from_zero, _away_from_zero),
    ("logaddexp", "logaddexp", _uniform(-4.0, 4.0), _uniform(-4.0, 4.0)),
    ("logaddexp2", "logaddexp2", _uniform(-4.0, 4.0), _uniform(-4.0, 4.0)),
    ("remainder", "remainder", _dividend, _divisor),
    ("mod", "remainder", _dividend, _divisor),
    ("fmod", "fmod", _dividend, _divisor),
    # No ties and no NaN here: PyTorch gives a tie's gradient to the first input, chainrule
    # splits it (as for maximum); both are checked below.
    ("fmax", "fmax", _DEFAULT, _DEFAULT),
    ("fmin", "fmin", _DEFAULT, _DEFAULT),
]
_SHAPES = {
    1: [((3, 4),), ((),), ((0, 2),)],
    2: [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((), (2, 3))],
}


def _torch_cases():
    for name, torch_name, *domains in UNARY + BINARY:
        for shapes in _SHAPES[len(domains)]:
            yield pytest.param(name, torch_name, domains, shapes, id=f"{name}-{shapes}")


@pytest.mark.parametrize("name, torch_name, domains, shapes", list(_torch_cases()))
def test_values_and_gradients_match_pytorch(name, torch_name, domains, shapes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    inputs = [
        np.asarray(domain(rng, shape), dtype=np.float64) for domain, shape in zip(domains, shapes)
    ]
    tensors = [cr.tensor(x, requires_grad=True) for x in inputs]
    out = getattr(cr, name)(*tensors)
    references = [torch.tensor(x, requires_grad=True) for x in inputs]
    expected = getattr(torch, torch_name)(*references)
    # Both sides are float64 formulas of the same libm functions: only rounding differs.
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-300)

    cotangent = rng.standard_normal(out.shape)
    out.backward(cotangent)
    wanted = torch.autograd.grad(expected, references, torch.tensor(cotangent), allow_unused=True)
    for i, (t, w) in enumerate(zip(tensors, wanted)):
        w = np.zeros(t.shape) if w is None else w.numpy()
        assert t.grad.shape == t.shape and t.grad.dtype == np.float64
        np.testing.assert_allclose(
            t.grad.numpy(), w, rtol=1e-10, atol=1e-13, err_msg=f"{name}: input {i}"
        )


@pytest.mark.parametrize(
    "name", ["arctan2", "hypot", "logaddexp", "logaddexp2", "remainder", "fmod", "fmax", "fmin"]
)
def test_binary_functions_take_python_numbers_on_either_side(name):
    torch = pytest.importorskip("torch")
    x = np.array([1.3, -0.35, 2.7])
    number = 1.02 if name in ("remainder", "fmod") else -0.6
    for args in [(x, number), (number, x)]:
        t = cr.tensor(x, requires_grad=True)
        cr_args = [t if a is x else a for a in args]
        r = torch.tensor(x, requires_grad=True)
        # PyTorch's binary functions want a tensor first: the number goes in as a 0-d tensor.
        torch_args = [r if a is x else torch.tensor(a, dtype=torch.float64) for a in args]
        out = getattr(cr, name)(*cr_args)
        expected = getattr(torch, name)(*torch_args)
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_float32_in_float32_out_with_python_numbers():
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    for out in [
        cr.fmod(x, 0.7),
        cr.remainder(2.0, x),
        cr.arctan2(x, 1.0),
        cr.hypot(3.0, x),
        cr.logaddexp(x, 1.0),
        cr.fmax(x, 1.0),
        cr.sinc(x),
        cr.rsqrt(x),
    ]:
        assert out.dtype == np.float32
        x.grad = None
        out.sum().backward()
        assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------- sinc
def _derivative(f, order):
    for _ in range(order):
        f = cr.grad(f)
    return f


@pytest.mark.parametrize(
    "order, expected", [(0, 1.0), (1, 0.0), (2, -(math.pi**2) / 3), (3, 0.0), (4, math.pi**4 / 5)]
)
def test_sinc_and_its_derivatives_at_zero(order, expected):
    # sinc(x) = sum (-1)^n (pi x)^(2n) / (2n + 1)!: the k-th derivative at 0 is 0 for odd k
    # and (-1)^(k/2) pi^k / (k + 1) for even k.
    value = _derivative(lambda x: cr.sinc(x), order)(np.array(0.0))
    assert np.isfinite(value)
    assert float(value) == pytest.approx(expected, rel=1e-14, abs=1e-14)


def test_sinc_second_order_through_zero_passes_gradgradcheck():
    x = np.array([0.0, 1e-9, -0.2, 0.31, 1.0, -1.7])
    assert cr.gradcheck(cr.sinc, [x], rtol=1e-6)
    assert cr.gradgradcheck(cr.sinc, [x], rtol=1e-6)


def test_sinc_derivatives_match_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40

    def exact(x, order):
        return float(
            mpmath.diff(lambda t: mpmath.sin(mpmath.pi * t) / (mpmath.pi * t), mpmath.mpf(x), order)
        )

    # Points on both sides of the switch from series to recurrence (pi |x| = max(1, order)).
    for order in (1, 2, 3):
        for x in (0.01, -0.2, 0.318, 0.32, 0.63, 0.64, 0.95, 0.96, 1.0, -2.5, 7.3):
            got = float(_derivative(lambda t: cr.sinc(t), order)(np.array(x)))
            # The recurrence loses a few ulps where the derivative is near a zero.
            assert got == pytest.approx(exact(x, order), rel=1e-12, abs=1e-13), (order, x)


def test_sinc_float32_near_zero_stays_finite():
    x = cr.tensor(np.array([0.0, 1e-30, -1e-8, 1e-4], dtype=np.float32), requires_grad=True)
    out = cr.sinc(x)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), 1.0, rtol=1e-7)
    # sinc'(x) = -pi^2 x / 3 near 0.
    np.testing.assert_allclose(x.grad.numpy(), -(math.pi**2) / 3 * x.numpy(), rtol=1e-5, atol=1e-30)


# ----------------------------------------------------------------------- float32 extremes
def _value_and_grads(f, *values):
    tensors = [cr.tensor(np.float32(v), requires_grad=True) for v in values]
    out = f(*tensors)
    out.backward()
    return out, [t.grad for t in tensors]


@pytest.mark.parametrize(
    "a, b, value, grads",
    [
        (1000.0, 1000.0, 1000.0 + math.log(2.0), (0.5, 0.5)),
        (-1000.0, 1000.0, 1000.0, (0.0, 1.0)),
        (-1000.0, -1000.0, -1000.0 + math.log(2.0), (0.5, 0.5)),
        (-np.inf, 2.0, 2.0, (0.0, 1.0)),
        (80.0, 0.0, 80.0, (1.0, math.exp(-80.0))),
    ],
)
def test_logaddexp_float32_at_extremes(a, b, value, grads):
    out, (ga, gb) = _value_and_grads(cr.logaddexp, a, b)
    assert out.dtype == np.float32 and np.isfinite(out.numpy())
    # One float32 rounding of the result (eps 6e-8), and of each gradient.
    assert float(out) == pytest.approx(value, rel=1e-7)
    assert float(ga) == pytest.approx(grads[0], rel=1e-6, abs=1e-30)
    assert float(gb) == pytest.approx(grads[1], rel=1e-6, abs=1e-30)


def test_logaddexp2_float32_at_extremes():
    out, grads = _value_and_grads(cr.logaddexp2, 1000.0, 1000.0)
    assert float(out) == 1001.0
    assert [float(g) for g in grads] == [0.5, 0.5]
    out, grads = _value_and_grads(cr.logaddexp2, 1000.0, -1000.0)
    assert float(out) == 1000.0 and [float(g) for g in grads] == [1.0, 0.0]


@pytest.mark.parametrize("x", [1e-10, -3e-8, 1e-5, 1e-3])
def test_expm1_float32_small_inputs(x):
    out, (g,) = _value_and_grads(cr.expm1, x)
    # exp(x) - 1 in float32 would be 0 (or off by 100%) here; expm1 keeps full precision.
    assert float(out) == pytest.approx(math.expm1(x), rel=1e-6)
    assert float(g) == pytest.approx(math.exp(x), rel=1e-6)


def test_hypot_float32_does_not_overflow():
    out, grads = _value_and_grads(cr.hypot, 3e30, 4e30)
    assert float(out) == pytest.approx(5e30, rel=1e-6)
    np.testing.assert_allclose([float(g) for g in grads], [0.6, 0.8], rtol=1e-6)


def test_nan_to_num_float32_uses_float32_limits():
    x = cr.tensor(np.array([np.inf, -np.inf, np.nan], dtype=np.float32), requires_grad=True)
    out = cr.nan_to_num(x)
    info = np.finfo(np.float32)
    np.testing.assert_array_equal(out.numpy(), [info.max, info.min, 0.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


# ----------------------------------------------------------------------- semantics
def test_fmax_and_fmin_send_the_gradient_to_the_number_beside_a_nan():
    a = cr.tensor(np.array([np.nan, 1.0, np.nan, 2.0, 3.0]), requires_grad=True)
    b = cr.tensor(np.array([1.0, np.nan, np.nan, 2.0, -1.0]), requires_grad=True)
    for f, winner_a in [(cr.fmax, [0.0, 1.0, 1.0, 0.5, 1.0]), (cr.fmin, [0.0, 1.0, 1.0, 0.5, 0.0])]:
        a.grad = b.grad = None
        out = f(a, b)
        np.testing.assert_array_equal(np.isnan(out.numpy()), [False, False, True, False, False])
        out.backward(np.ones(5))
        # Both NaN: the first input gets it (as PyTorch); a tie is split (as maximum).
        np.testing.assert_array_equal(a.grad.numpy(), winner_a)
        np.testing.assert_array_equal(b.grad.numpy(), 1.0 - np.array(winner_a))


def test_remainder_and_fmod_conventions_and_gradients():
    a = cr.tensor(np.array([-7.5, 7.5, -7.5, 7.5]), requires_grad=True)
    b = cr.tensor(np.array([2.0, 2.0, -2.0, -2.0]), requires_grad=True)
    out = cr.remainder(a, b)
    np.testing.assert_array_equal(out.numpy(), [0.5, 1.5, -1.5, -0.5])  # divisor's sign
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 1.0)
    np.testing.assert_array_equal(b.grad.numpy(), -np.floor(a.numpy() / b.numpy()))
    a.grad = b.grad = None
    out = cr.fmod(a, b)
    np.testing.assert_array_equal(out.numpy(), [-1.5, 1.5, -1.5, 1.5])  # dividend's sign
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 1.0)
    np.testing.assert_array_equal(b.grad.numpy(), -np.trunc(a.numpy() / b.numpy()))


def test_sign_and_nan_to_num_gradients():
    x = cr.tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    cr.sign(x).backward(np.array([1.0, np.inf, np.nan]))
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)  # zero even for a non-finite upstream
    x = cr.tensor(np.array([np.nan, 1.0, np.inf, -np.inf]), requires_grad=True)
    out = cr.nan_to_num(x, nan=-1.0, posinf=5.0, neginf=-5.0)
    np.testing.assert_array_equal(out.numpy(), [-1.0, 1.0, 5.0, -5.0])
    out.backward(np.full(4, 3.0))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0, 0.0])


def test_aliases_are_the_same_functions():
    assert cr.asin is cr.arcsin and cr.acos is cr.arccos and cr.atan is cr.arctan
    assert cr.asinh is cr.arcsinh and cr.acosh is cr.arccosh and cr.atanh is cr.arctanh
    assert cr.atan2 is cr.arctan2 and cr.mod is cr.remainder
    assert cr.radians is cr.deg2rad and cr.degrees is cr.rad2deg


def test_second_order_of_binary_ops_with_broadcasting():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0.5, 2.0, (3,))
    for f in [cr.arctan2, cr.hypot, cr.logaddexp, cr.logaddexp2]:
        assert cr.gradgradcheck(f, [a, b])


@pytest.mark.parametrize("name", ["arctan2", "hypot", "logaddexp", "remainder", "fmod", "fmax"])
def test_shape_mismatch_names_the_op_and_shapes(name):
    with pytest.raises(cr.ShapeError, match=rf"{name}.*\(2, 3\).*\(4,\)"):
        getattr(cr, name)(cr.tensor(np.ones((2, 3)), requires_grad=True), np.ones(4))


def test_examples_in_op_docstrings_run():
    # pytest's doctest collection skips Op objects (not functions): run their examples here.
    ran = 0
    for module in (trig, exponential, arithmetic):
        for name in module.__all__:
            op = getattr(module, name)
            if isinstance(op, Op) and op.doc and ">>>" in op.doc:
                test = doctest.DocTestParser().get_doctest(op.doc, {}, name, module.__file__, 0)
                runner = doctest.DocTestRunner()
                runner.run(test)
                assert runner.failures == 0, name
                ran += 1
    assert ran >= 6


# ----------------------------------------------------------------------- relu's kernel
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(1000,), (1024,), (32, 256), (8193,), (3, 8192 + 5), (2, 3, 40, 41)]
)
def test_relu_equals_maximum_with_zero_to_the_bit(shape, dtype):
    # relu runs maximum against rows of zeros (a vector loop) instead of the scalar 0:
    # the result must be np.maximum(a, 0)'s, signed zeros and NaNs' signs included, on
    # whole rows, a partial last row, and a strided view (which keeps the scalar).
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape).astype(dtype)
    special = np.array([-0.0, 0.0, np.nan, -np.nan, -np.inf, np.inf], dtype)
    a.flat[rng.choice(a.size, 60, replace=False)] = np.resize(special, 60)
    for x in (a, a[..., ::2], a.T):
        want = np.maximum(x, 0)
        got = cr.relu(cr.tensor(x)).numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        bits = [np.ascontiguousarray(r).view(np.uint8) for r in (got, want)]
        assert np.array_equal(*bits)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int64])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5000)])
def test_sigmoid_is_the_overflow_free_formula_to_the_bit(shape, dtype):
    # sigmoid takes its numerator as max(e^-|a|, step(a)) instead of np.where (a branch per
    # element): the result must be where's e^-|a| / (1 + e^-|a|) below 0 and 1 / (1 + e^-a)
    # above, bit for bit, in np.exp's result type, NaN, infinities and -0.0 included.
    rng = np.random.default_rng(3)
    a = np.asarray(rng.standard_normal(shape) * 30).astype(dtype)
    if a.size > 8 and a.dtype.kind == "f":
        a.flat[:8] = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, -1e4, 1e4]
    small = np.exp(-np.abs(a))
    want = np.asarray(np.where(a >= 0, 1, small) / (1 + small))
    got = cr.sigmoid(cr.tensor(a)).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.reshape(-1).view(np.uint8), want.reshape(-1).view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0, 1.5, 0.0, -0.5, 1e-30])
def test_leaky_relu_is_the_branch_formula_to_the_bit(slope, dtype):
    # leaky_relu takes the larger (or, above a slope of 1, the smaller) of a and slope * a
    # instead of np.where (a branch per element): values and gradients must be where's,
    # bit for bit, also where the slope rounds to 0 in a's precision (1e-30 in float16).
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((4, 3000)) * 10).astype(dtype)
    if a.dtype.kind == "f":
        a.flat[:9] = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-40, -1e-40, -3.0]
    x = cr.tensor(a, requires_grad=a.dtype.kind == "f")
    with np.errstate(invalid="ignore"):
        out = cr.nn.functional.leaky_relu(x, slope)
        want = np.where(a > 0, a, a * slope)
    assert out.dtype == want.dtype
    assert np.array_equal(out.numpy().view(np.uint8), want.view(np.uint8))
    if x.requires_grad:
        g = rng.standard_normal(a.shape).astype(dtype)
        out.backward(cr.tensor(g))
        want_grad = g * np.where(a > 0, 1, slope).astype(dtype)
        assert np.array_equal(x.grad.numpy().view(np.uint8), want_grad.view(np.uint8))


def test_bit_select_is_np_where_to_the_bit():
    # ops.bits.select (the kernel of cr.where, and of ELU's and softplus's branches) moves
    # bits instead of branching: for every operand mix its result must be np.where's.
    from chainrule.ops.bits import select

    rng = np.random.default_rng(11)
    specials = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-310, -2.5])
    f64 = np.resize(specials, (3, 1, 8)) * rng.choice([1.0, -1.0], (3, 1, 8))
    f32, f16 = rng.standard_normal((4, 8)).astype(np.float32), np.float16([1.5, -0.0] * 4)
    conditions = [
        rng.uniform(size=(3, 4, 8)) < 0.5,
        np.array(True),
        rng.uniform(size=8) < 0.5,
        np.array([0.0, np.nan, 2.0, -1.0] * 2),  # truthiness, NaN counting as True
        np.zeros((0, 8), bool),
    ]
    operands = [
        (f64, f32),
        (f32, 0.0),
        (-1.5, f16),
        (f16, f16[::-1]),
        (f32, np.float64(np.nan)),
        (2, f32),
        (np.int64(3), np.arange(8)),  # integers: np.where itself
        (np.float32(1.0), 2.0),
    ]
    for condition in conditions:
        for a, b in operands:
            try:
                want = np.asarray(np.where(condition, a, b))
            except ValueError:  # shapes that do not broadcast: select says so too
                with pytest.raises(ValueError):
                    select(condition, a, b)
                continue
            got = select(condition, a, b)
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(
                np.ascontiguousarray(got).reshape(-1).view(np.uint8),
                np.ascontiguousarray(want).reshape(-1).view(np.uint8),
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_is_log1p_exp_to_within_three_ulp(dtype):
    # softplus is max(a, 0) + log1p(e^-|a|), not np.logaddexp(0, a) (9x slower in float32).
    # Against log(1 + e^a) in long double: exp, log1p and the sum each round once, so at
    # most 3 units in the last place (2.3 measured in float32, where np.logaddexp is 1.4
    # and PyTorch 1.2; 1.3 in float64); exact at the ends (NaN, infinities, huge values).
    rng = np.random.default_rng(2)
    a = np.concatenate([rng.uniform(-40, 40, 4000), rng.normal(0, 1, 4000)]).astype(dtype)
    exact = np.logaddexp(np.longdouble(0), a.astype(np.longdouble))
    got = cr.softplus(cr.tensor(a)).numpy()
    assert got.dtype == dtype
    ulps = np.abs(got - exact) / np.spacing(exact.astype(dtype))
    assert ulps.max() <= 3
    ends = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 100.0], dtype)
    want = np.array([np.nan, np.inf, 0.0, 1e30, 0.0, 100.0], dtype)
    np.testing.assert_array_equal(cr.softplus(cr.tensor(ends)).numpy(), want)
