"""Activations, the error functions, logit, xlogy and F.pad against PyTorch 2.13.

The generated suite (tests/test_ops.py) checks every one of them by finite differences to
second order and against HIPS autograd; this file checks what those cannot see: PyTorch's
values, gradients and second derivatives at the kinks themselves (where finite differences
are meaningless), at NaN and at huge inputs, PyTorch's errors, the modules' reprs, and the
accuracy of erf/erfc/erfinv against high-precision values.
"""

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd import engine

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# Two float64 implementations of one formula agree to ~1e-15 relative; 1e-10 (the bar
# issue #17 sets for PyTorch parity) leaves a wide margin and still catches any wrong
# formula or wrong constant.
# The absolute floor covers results near 0 reached through cancellation.
RTOL, ATOL = 1e-10, 1e-13

_RNG = np.random.default_rng(20240613)
_RANDOM = np.concatenate([_RNG.normal(0, 3, 40), _RNG.uniform(-1, 1, 10)])


def _points(*kinks):
    """Random points, plus every kink exactly and the neighbours one float64 step away."""
    kinks = np.asarray(kinks, dtype=np.float64)
    near = np.concatenate([kinks, np.nextafter(kinks, np.inf), np.nextafter(kinks, -np.inf)])
    return np.concatenate([_RANDOM, near])


# name -> (chainrule function, torch function, points, has a second derivative in PyTorch)
CASES = {
    "gelu": (F.gelu, TF.gelu, _points(0.0), True),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: TF.gelu(x, approximate="tanh"),
        _points(0.0),
        True,
    ),
    "silu": (F.silu, TF.silu, _points(0.0), True),
    "mish": (F.mish, TF.mish, _points(0.0), True),
    "elu": (F.elu, TF.elu, _points(0.0), True),
    "elu_alpha": (
        lambda x: F.elu(x, alpha=0.3),
        lambda x: TF.elu(x, alpha=0.3),
        _points(0.0),
        True,
    ),
    "selu": (F.selu, TF.selu, _points(0.0), True),
    "celu": (lambda x: F.celu(x, 2.5), lambda x: TF.celu(x, 2.5), _points(0.0), True),
    "relu6": (F.relu6, TF.relu6, _points(0.0, 6.0), True),
    "hardtanh": (
        lambda x: F.hardtanh(x, -0.5, 2.0),
        lambda x: TF.hardtanh(x, -0.5, 2.0),
        _points(-0.5, 2.0),
        True,
    ),
    "hardswish": (F.hardswish, TF.hardswish, _points(-3.0, 3.0, 0.0), True),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid, _points(-3.0, 3.0), False),
    "softsign": (F.softsign, TF.softsign, _points(0.0), True),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid, _points(0.0), True),
    "softplus": (F.softplus, TF.softplus, _points(20.0), True),
    "softplus_beta": (
        lambda x: F.softplus(x, beta=3.0, threshold=4.0),
        lambda x: TF.softplus(x, beta=3.0, threshold=4.0),
        _points(4.0 / 3.0),
        True,
    ),
    "softplus_negative_beta": (
        lambda x: F.softplus(x, beta=-0.5, threshold=1.0),
        lambda x: TF.softplus(x, beta=-0.5, threshold=1.0),
        _points(-2.0),
        True,
    ),
    "hardshrink": (F.hardshrink, TF.hardshrink, _points(-0.5, 0.5), True),
    "softshrink": (
        lambda x: F.softshrink(x, 0.7),
        lambda x: TF.softshrink(x, 0.7),
        _points(-0.7, 0.7),
        True,
    ),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink, _points(0.0), True),
    "threshold": (
        lambda x: F.threshold(x, 0.25, -2.0),
        lambda x: TF.threshold(x, 0.25, -2.0),
        _points(0.25),
        True,
    ),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.2),
        lambda x: TF.leaky_relu(x, 0.2),
        _points(0.0),
        True,
    ),
    "erf": (lambda x: cr.erf(x), torch.erf, _points(0.0, 0.46875, 4.0), True),
    "erfc": (lambda x: cr.erfc(x), torch.erfc, _points(0.0, 0.46875, 4.0), True),
}


def _second_order(fn, x, lib):
    """Values, gradient and second derivative (elementwise) of ``fn`` at ``x``."""
    if lib is torch:
        t = torch.tensor(x, requires_grad=True)
        y = fn(t)
        (g,) = torch.autograd.grad(y.sum(), t, create_graph=True)
        if not g.requires_grad:  # piecewise linear: PyTorch's graph ends here
            return y.detach().numpy(), g.detach().numpy(), np.zeros_like(x)
        (gg,) = torch.autograd.grad(g.sum(), t, allow_unused=True)
        return (
            y.detach().numpy(),
            g.detach().numpy(),
            (np.zeros_like(x) if gg is None else gg.numpy()),
        )
    t = cr.tensor(x, requires_grad=True)
    y = fn(t)
    (g,) = engine.grad(y.sum(), [t], create_graph=True)
    if not g.requires_grad:
        return y.numpy(), g.numpy(), np.zeros_like(x)
    (gg,) = engine.grad(g.sum(), [t], allow_unused=True)
    return y.numpy(), g.numpy(), (np.zeros_like(x) if gg is None else gg.numpy())


@pytest.mark.parametrize("name", CASES)
def test_values_gradients_and_second_derivatives_match_pytorch(name):
    ours_fn, theirs_fn, x, second = CASES[name]
    ours = _second_order(ours_fn, x, cr)
    if second:
        theirs = _second_order(theirs_fn, x, torch)
    else:  # PyTorch has no second derivative here
        ours = ours[:2]
        ref = torch.tensor(x, requires_grad=True)
        out = theirs_fn(ref)
        out.sum().backward()
        theirs = (out.detach().numpy(), ref.grad.numpy())
    for what, mine, ref in zip(("value", "gradient", "second derivative"), ours, theirs):
        np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL, err_msg=f"{name} {what}")


@pytest.mark.parametrize("name", CASES)
def test_float32_stays_float32_and_matches_pytorch(name):
    ours_fn, theirs_fn, x, _ = CASES[name]
    x = x.astype(np.float32)
    t = cr.tensor(x, requires_grad=True)
    y = ours_fn(t)
    y.sum().backward()
    assert y.dtype == np.float32 and t.grad.dtype == np.float32
    ref = torch.tensor(x, requires_grad=True)
    out = theirs_fn(ref)
    out.sum().backward()
    # float32 rounding (6e-8) amplified by a few operations; the float64 test checks the math.
    np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-6)


_SPECIALS = np.array([np.nan, np.inf, -np.inf, 400.0, -400.0, 800.0, -800.0, 30.0, -30.0])


@pytest.mark.parametrize(
    "name",
    [
        "silu",
        "mish",
        "elu",
        "selu",
        "celu",
        "relu6",
        "hardtanh",
        "hardswish",
        "hardsigmoid",
        "softsign",
        "logsigmoid",
        "softplus",
        "softplus_beta",
        "hardshrink",
        "softshrink",
        "tanhshrink",
        "threshold",
        "erf",
        "erfc",
        "gelu",
        "gelu_tanh",
    ],
)
def test_nan_and_huge_inputs_match_pytorch(name):
    ours_fn, theirs_fn, _, _ = CASES[name]
    x = (
        _SPECIALS[~np.isinf(_SPECIALS)]
        if name in ("softsign", "tanhshrink", "softshrink")
        else _SPECIALS
    )  # inf / inf and inf - inf: NaN either way, nothing to compare
    finite = np.isfinite(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in a branch that is not taken
        huge = cr.tensor(x[finite], requires_grad=True)
        ours_fn(huge).sum().backward()
    t = cr.tensor(x, requires_grad=True)
    with np.errstate(invalid="ignore"):  # inf * 0 and the like: NaN, as in PyTorch
        y = ours_fn(t)
        y.sum().backward()
    ref = torch.tensor(x, requires_grad=True)
    out = theirs_fn(ref)
    out.sum().backward()
    np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=RTOL, atol=ATOL)
    if name in ("mish", "gelu", "gelu_tanh"):  # PyTorch's own gradient overflows at +-inf
        finite &= np.abs(x) < 500
    np.testing.assert_allclose(
        t.grad.numpy()[finite], ref.grad.numpy()[finite], rtol=RTOL, atol=ATOL
    )


def test_hardsigmoid_takes_pytorchs_single_precision_slope():
    """PyTorch computes the slope as 1.0f / 6.0f even in float64; ours is the same number."""
    t = cr.tensor(np.array([0.0, 1.0]), requires_grad=True)
    F.hardsigmoid(t).sum().backward()
    assert t.grad.tolist() == [float(np.float32(1) / np.float32(6))] * 2


def test_the_plain_softplus_keeps_no_threshold():
    x = cr.tensor(np.array([30.0]), requires_grad=True)
    assert cr.softplus(x).item() == math.log1p(math.exp(30.0))  # not 30.0
    assert F.softplus(x).item() == 30.0


# ----------------------------------------------------------------------- erf family
def _reference(function, x):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    return np.array([float(getattr(mpmath, function)(v)) for v in x])


_ERF_POINTS = np.concatenate(
    [
        np.linspace(-6, 6, 601),
        np.logspace(-300, 1.4, 200),
        -np.logspace(-300, 1.4, 200),
        [0.46875, 4.0, 26.0],
    ]
)


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_erf_is_accurate_to_float64_rounding(name):
    x = _ERF_POINTS
    got = getattr(cr, name)(x)
    exact = _reference(name, x)
    normal = np.abs(exact) > np.finfo(np.float64).tiny  # subnormals carry fewer digits
    # Cody's approximations are good to ~1e-18; what is left is a few roundings.
    np.testing.assert_allclose(got[normal], exact[normal], rtol=2e-15, atol=0)


def test_erfinv_is_accurate_and_inverts_erf():
    y = np.concatenate(
        [
            np.linspace(-0.999, 0.999, 401),
            1 - np.logspace(-15, -1, 50),
            -1 + np.logspace(-15, -1, 50),
            np.logspace(-300, -1, 50),
        ]
    )
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    exact = np.array([float(mpmath.erfinv(v)) for v in y])
    np.testing.assert_allclose(cr.erfinv(y), exact, rtol=2e-15, atol=0)
    assert cr.erfinv(np.array([1.0, -1.0])).tolist() == [math.inf, -math.inf]
    assert np.isnan(cr.erfinv(np.array([1.5, -2.0, np.nan]))).all()


@pytest.mark.parametrize("name", ["erf", "erfc", "erfinv"])
def test_erf_float32_is_correctly_rounded(name):
    x = (
        np.random.default_rng(5)
        .uniform(-0.99 if name == "erfinv" else -5, 0.99 if name == "erfinv" else 5, 20000)
        .astype(np.float32)
    )
    got = getattr(cr, name)(x)
    assert got.dtype == np.float32
    expected = getattr(cr, name)(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(got, expected)
    assert getattr(cr, name)(cr.tensor(x[:3])).dtype == np.float32


def test_erf_special_values_and_dtypes():
    assert cr.erf(np.array([0.0, np.inf, -np.inf])).tolist() == [0.0, 1.0, -1.0]
    assert cr.erfc(np.array([np.inf, -np.inf, 30.0])).tolist() == [0.0, 2.0, 0.0]
    assert np.isnan(cr.erf(np.nan)) and np.isnan(cr.erfc(np.nan))
    assert cr.erf(np.array([1, 2])).dtype == np.float64  # integers compute in float64
    assert cr.erf(0.5).shape == ()


def test_erfinv_gradient_matches_pytorch():
    y = np.linspace(-0.95, 0.95, 41)
    ours = _second_order(lambda t: cr.erfinv(t), y, cr)
    theirs = _second_order(torch.erfinv, y, torch)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------- logit, xlogy
@pytest.mark.parametrize("eps", [None, 0.1, 0.0, -0.5])
def test_logit_matches_pytorch_inside_and_outside_the_unit_interval(eps):
    x = np.array([-0.5, 0.0, 0.05, 0.1, 0.3, 0.5, 0.9, 0.95, 1.0, 1.5, np.nan])
    if eps is None:
        x = x[(x != 0) & (x != 1)]  # logit(0) = -inf: PyTorch's second derivative is NaN
    t = cr.tensor(x, requires_grad=True)
    with np.errstate(all="ignore"):
        y = cr.logit(t, eps)
        y.sum().backward()
    ref = torch.tensor(x, requires_grad=True)
    out = torch.logit(ref, eps)
    out.sum().backward()
    np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(t.grad.numpy(), ref.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_logit_second_derivative_matches_pytorch():
    x = np.array([0.05, 0.1, 0.3, 0.5, 0.9, 0.95])
    for eps in (None, 0.1):
        ours = _second_order(lambda t, eps=eps: cr.logit(t, eps), x, cr)
        theirs = _second_order(lambda t, eps=eps: torch.logit(t, eps), x, torch)
        for mine, ref in zip(ours, theirs):
            np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL)


def test_xlogy_is_zero_where_x_is_zero_with_pytorchs_gradients():
    x = np.array([0.0, 0.0, 0.0, 2.0, -1.5, 0.0, 3.0])
    y = np.array([0.0, 2.0, np.nan, 0.5, 4.0, np.inf, np.nan])
    xs, ys = (cr.tensor(a, requires_grad=True) for a in (x, y))
    out = cr.xlogy(xs, ys)
    with np.errstate(invalid="ignore"):  # d/dy = x / y is 0 / 0 at (0, 0): NaN, as in PyTorch
        out.sum().backward()
    xt, yt = (torch.tensor(a, requires_grad=True) for a in (x, y))
    ref = torch.xlogy(xt, yt)
    ref.sum().backward()
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose(ys.grad.numpy(), yt.grad.numpy(), rtol=RTOL)


def test_xlogy_second_derivatives_and_broadcasting_match_pytorch():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3, 1)), rng.uniform(0.1, 3.0, (4,))
    x[0, 0] = 0.0
    results = []
    for lib in (cr, torch):
        a = (torch.tensor if lib is torch else cr.tensor)(x, requires_grad=True)
        b = (torch.tensor if lib is torch else cr.tensor)(y, requires_grad=True)
        out = lib.xlogy(a, b)
        grad = torch.autograd.grad if lib is torch else engine.grad
        ga, gb = grad(out.sum(), [a, b], create_graph=True)
        second = grad((ga.sum() + gb.sum()), [a, b])
        results.append(
            [v.detach().numpy() if lib is torch else v.numpy() for v in (out, ga, gb, *second)]
        )
    for mine, ref in zip(*results):
        np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL)
    assert cr.xlogy(np.float32(2.0), cr.tensor(np.float32(3.0))).dtype == np.float32


# ----------------------------------------------------------------------- glu, softmin
@pytest.mark.parametrize("shape, dim", [((4, 6), -1), ((4, 6), 0), ((2, 4, 3), 1)])
def test_glu_and_softmin_match_pytorch(shape, dim):
    x = np.random.default_rng(4).normal(size=shape)
    for ours, theirs in ((F.glu, TF.glu), (F.softmin, TF.softmin)):
        results = [
            _second_order(lambda t, f=f: f(t, dim) * t.sum(), x, lib)
            for f, lib in ((ours, cr), (theirs, torch))
        ]
        for mine, ref in zip(*results):
            np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL)


def test_softmin_implicit_dim_warns_and_picks_pytorchs_axis():
    for shape in [(5,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.default_rng(6).normal(size=shape)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
            ours = F.softmin(cr.tensor(x))
        with pytest.warns(UserWarning):
            theirs = TF.softmin(torch.tensor(x))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=RTOL)
    out = F.softmin(cr.tensor(np.array([1.0, 2.0])), dim=0, dtype=np.float32)
    assert out.dtype == np.float32


def test_invalid_arguments_raise_as_in_pytorch():
    x = cr.tensor(np.ones((3, 5)))
    with pytest.raises(RuntimeError, match="halving dimension must be even"):
        F.glu(x)
    with pytest.raises(RuntimeError, match="scalars"):
        F.glu(cr.tensor(1.0))
    with pytest.raises(IndexError):
        F.glu(x, dim=2)
    with pytest.raises(ZeroDivisionError):
        F.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(x, -0.5)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="erf")
    with pytest.raises(ValueError):
        cr.nn.Hardtanh(1.0, 1.0)


# ----------------------------------------------------------------------- in place
@pytest.mark.parametrize(
    "name, args",
    [
        ("relu6", ()),
        ("elu", (0.5,)),
        ("selu", ()),
        ("celu", (1.5,)),
        ("hardtanh", (-0.5, 0.5)),
        ("hardswish", ()),
        ("hardsigmoid", ()),
        ("silu", ()),
        ("mish", ()),
        ("threshold", (0.1, 5.0)),
    ],
)
def test_inplace_overwrites_the_input_and_keeps_gradients_right(name, args):
    x = np.random.default_rng(7).normal(size=(3, 4)) * 3
    results = []
    for lib, functional in ((cr, F), (torch, TF)):
        leaf = (torch.tensor if lib is torch else cr.tensor)(x, requires_grad=True)
        hidden = leaf * 2.0
        out = getattr(functional, name)(hidden, *args, inplace=True)
        assert out is hidden
        (out * out).sum().backward()
        results.append((out.detach().numpy() if lib is torch else out.numpy(), leaf.grad.numpy()))
    for mine, ref in zip(*results):
        np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL)
    with pytest.raises(RuntimeError):  # a leaf that requires grad cannot change in place
        getattr(F, name)(cr.tensor(x, requires_grad=True), *args, inplace=True)
    array = x.copy()
    assert getattr(F, name)(array, *args, inplace=True) is array
    np.testing.assert_allclose(array, getattr(F, name)(x, *args), rtol=0)


# ----------------------------------------------------------------------- modules
_MODULES = [
    ("GELU", ()),
    ("GELU", ("tanh",)),
    ("SiLU", ()),
    ("SiLU", (True,)),
    ("Mish", ()),
    ("ELU", ()),
    ("ELU", (0.5, True)),
    ("CELU", (2.0,)),
    ("SELU", ()),
    ("SELU", (True,)),
    ("ReLU6", ()),
    ("ReLU6", (True,)),
    ("Hardtanh", ()),
    ("Hardtanh", (-2.0, 3.0, True)),
    ("Hardswish", ()),
    ("Hardsigmoid", ()),
    ("Softsign", ()),
    ("LogSigmoid", ()),
    ("Tanhshrink", ()),
    ("Softplus", ()),
    ("Softplus", (2.0, 10.0)),
    ("GLU", ()),
    ("GLU", (0,)),
    ("Softmin", (1,)),
    ("Hardshrink", ()),
    ("Hardshrink", (0.3,)),
    ("Softshrink", (0.2,)),
    ("Threshold", (0.1, 20.0)),
    ("Threshold", (1, 2, True)),
]


@pytest.mark.parametrize(
    "name, args", _MODULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(_MODULES)]
)
def test_modules_match_pytorch_in_repr_and_output(name, args):
    ours, theirs = getattr(cr.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(8).normal(size=(4, 6)) * 3
    leaf, ref = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(leaf * 1.0), theirs(ref * 1.0)
    (out * out).sum().backward()
    (expected * expected).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_module_attributes_follow_pytorch():
    assert cr.nn.ELU(alpha=0.5).alpha == 0.5
    assert (cr.nn.ReLU6().min_val, cr.nn.ReLU6().max_val) == (0.0, 6.0)
    assert cr.nn.Softplus(beta=2).beta == 2 and cr.nn.Softplus().threshold == 20.0
    assert cr.nn.Hardshrink(0.3).lambd == 0.3 and cr.nn.GLU(1).dim == 1
    assert cr.nn.GELU("tanh").approximate == "tanh"
    with pytest.warns(FutureWarning):
        assert cr.nn.Hardtanh(min_value=-2.0).min_val == -2.0
    assert cr.nn.Threshold(0.5, 1.0).state_dict() == {}


# ----------------------------------------------------------------------- pad
_PADS = [
    ("constant", (3, 4), (1, 2)),
    ("constant", (3, 4), (-1, 2, 2, -1)),
    ("constant", (2, 3, 4), (0, 0, 0, 0, 1, 2)),
    ("constant", (3,), (0, -3)),
    ("constant", (2, 0, 3), (1, 1, 2, 0)),
    ("reflect", (2, 5), (2, 3)),
    ("reflect", (1, 3, 5), (4, 4)),
    ("reflect", (1, 1, 5, 5), (3, -3, 0, -3)),
    ("reflect", (1, 1, 5, 5), (3, -5, 1, -5)),
    ("reflect", (3, 3, 3, 3), (-1, 2, 2, -1)),
    ("reflect", (1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)),
    ("reflect", (2, 3, 4, 5), (1, 0, 2, 1, 0, 2)),
    ("reflect", (1, 2, 1), (0, 0)),
    ("replicate", (2, 5), (2, 7)),
    ("replicate", (1, 1, 5, 5), (3, 11, 0, 30)),
    ("replicate", (1, 1, 5, 5), (3, -5, 1, -5)),
    ("replicate", (3, 3, 3, 3), (-1, 2, 2, -1)),
    ("replicate", (1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)),
    ("circular", (2, 5), (2, 5)),
    ("circular", (1, 1, 5, 5), (0, 2, 3, 2)),
    ("circular", (1, 5), (2, -1)),
    ("circular", (1, 5), (-1, 2)),
    ("circular", (1, 5), (0, -5)),
    ("circular", (1, 1, 5, 5, 5), (1, 2, 3, 5, 1, 2)),
    ("circular", (2, 3, 4), (-2, 1, 1, -1)),
    ("reflect", (1, 1, 5, 5), (0, -5, 0, 0)),
    ("replicate", (1, 1, 5, 5), (0, 0, 0, -5)),
    ("circular", (1, 1, 5, 5), (0, -5, 0, -5)),
]


@pytest.mark.parametrize(
    "mode, shape, pad", _PADS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(_PADS)]
)
def test_pad_matches_pytorch(mode, shape, pad):
    rng = np.random.default_rng(9)
    x = rng.normal(size=shape)
    kwargs = {"mode": mode} if mode != "constant" else {"value": 1.5}
    expected = TF.pad(torch.tensor(x, requires_grad=True), pad, **kwargs)
    cotangent = rng.normal(size=tuple(expected.shape))
    leaf = torch.tensor(x, requires_grad=True)
    TF.pad(leaf, pad, **kwargs).backward(torch.tensor(cotangent))
    ours = cr.tensor(x, requires_grad=True)
    out = F.pad(ours, pad, **kwargs)
    out.backward(cotangent)
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    np.testing.assert_allclose(ours.grad.numpy(), leaf.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert F.pad(x.astype(np.float32), pad, **kwargs).dtype == np.float32


# (shape, pad, keywords, PyTorch's exception, ours): ShapeError is a ValueError and a
# RuntimeError, so code catching either of PyTorch's classes catches it.
_PAD_ERRORS = [
    ((3, 3), (2, 0, 2), {}, RuntimeError, cr.ShapeError),
    ((3, 3), (0, 0, 0, 0, 1, 0, 3, 0), {}, RuntimeError, cr.ShapeError),
    ((3, 3), (0, 0, -2, -2), {}, RuntimeError, cr.ShapeError),
    ((3, 3), (1.5, 0), {}, TypeError, TypeError),
    ((3, 3, 3), (3, 0), {"mode": "typo"}, NotImplementedError, NotImplementedError),
    ((1, 1, 5, 5), (3, 5, 0, 0), {"mode": "reflect"}, RuntimeError, cr.ShapeError),
    ((1, 1, 5), (-6, 6), {"mode": "reflect"}, RuntimeError, cr.ShapeError),
    ((1, 2, 1), (1, 1), {"mode": "reflect"}, RuntimeError, cr.ShapeError),
    ((1, 1, 5, 5), (3, 6, 0, 0), {"mode": "circular"}, RuntimeError, cr.ShapeError),
    ((1, 5), (1, 1), {"mode": "reflect", "value": 1.0}, RuntimeError, ValueError),
    ((1, 5), (0, -5), {"mode": "reflect"}, RuntimeError, cr.ShapeError),
    ((1, 1, 5, 5), (0, -5, -2, -3), {"mode": "replicate"}, RuntimeError, cr.ShapeError),
    ((5,), (1, 1), {"mode": "reflect"}, NotImplementedError, NotImplementedError),
    ((2, 3, 4, 5, 6), (1, 1), {"mode": "replicate"}, NotImplementedError, NotImplementedError),
    ((2, 3, 4), (1, 1, 1, 1, 1, 1), {"mode": "circular"}, NotImplementedError, NotImplementedError),
]


@pytest.mark.parametrize("shape, pad, kwargs, theirs, ours", _PAD_ERRORS)
def test_pad_raises_where_pytorch_does(shape, pad, kwargs, theirs, ours):
    x = np.zeros(shape)
    with pytest.raises(theirs):
        TF.pad(torch.tensor(x), pad, **kwargs)
    with pytest.raises(ours):
        F.pad(cr.tensor(x), pad, **kwargs)


def test_pad_is_differentiable_twice_and_keeps_cr_pad():
    x = np.random.default_rng(10).normal(size=(1, 2, 4))
    for mode in ("reflect", "replicate", "circular"):
        assert cr.gradgradcheck(lambda t, m=mode: F.pad(t, (2, 3), mode=m) ** 2, [x])
    # cr.pad stays NumPy's spelling: ((before, after), ...) from the first axis.
    np.testing.assert_array_equal(
        cr.pad(x, ((0, 0), (1, 0), (0, 2))), np.pad(x, ((0, 0), (1, 0), (0, 2)))
    )
