"""Pooling (chainrule.ops.pool, chainrule.nn.pooling) against PyTorch, in float64.

Every spec case of the registry runs through PyTorch too: values, indices and the
input's gradient agree to 1e-10 relative (max pooling moves values exactly; averages are
the same sums in a possibly different order).
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import pooling as nn_pool
from chainrule.ops import pool as P
from chainrule.ops.registry import COMPOSITES

torch = pytest.importorskip("torch")
TF = torch.nn.functional

FUNCTIONS = [
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
]
RTOL, ATOL = 1e-10, 1e-12  # float64 on both sides: rounding of sums of <= 12 terms


def _spec_cases(names):
    return [
        pytest.param(name, case, id=f"{name}-{i}")
        for name in names
        for i, case in enumerate(COMPOSITES[name].spec.cases)
    ]


def _compare(ours, theirs, x, params, seed=0):
    mine, them = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine, **params), theirs(them, **params)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    cotangent = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    np.testing.assert_allclose(mine.grad.numpy(), them.grad.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name, case", _spec_cases(FUNCTIONS))
def test_every_spec_case_matches_pytorch(name, case):
    x = np.random.default_rng(1).standard_normal(case.shapes[0])
    _compare(COMPOSITES[name].function, getattr(TF, name), x, case.params)


@pytest.mark.parametrize("name, case", _spec_cases(["max_pool1d", "max_pool2d"]))
def test_ties_route_to_the_first_maximum_as_pytorch(name, case):
    """Few distinct values: windows hold ties; PyTorch keeps the first maximum."""
    x = np.random.default_rng(2).integers(0, 3, case.shapes[0]).astype(np.float64)
    _compare(COMPOSITES[name].function, getattr(TF, name), x, case.params, seed=3)
    _, index = COMPOSITES[name].function(x, **case.params, return_indices=True)
    _, expected = getattr(TF, name)(torch.tensor(x), **case.params, return_indices=True)
    assert index.dtype == np.int64
    np.testing.assert_array_equal(index, expected.numpy())


@pytest.mark.parametrize(
    "params",
    [
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        {"kernel_size": (2, 3), "stride": (3, 1), "padding": (1, 1), "dilation": (2, 2)},
        {"kernel_size": 2, "stride": 1},
    ],
)
def test_max_pool2d_larger_inputs_and_indices(params):
    x = np.random.default_rng(4).standard_normal((3, 4, 9, 10))
    _compare(P.max_pool2d, TF.max_pool2d, x, params, seed=5)
    _, index = P.max_pool2d(cr.tensor(x), **params, return_indices=True)
    assert isinstance(index, cr.Tensor) and not index.requires_grad
    np.testing.assert_array_equal(
        index.numpy(), TF.max_pool2d(torch.tensor(x), **params, return_indices=True)[1]
    )


def test_nan_and_minus_inf_windows_as_pytorch():
    x = np.array(
        [[[[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, np.nan, 1.0], [-np.inf] * 4, [-np.inf] * 4]]]
    )
    for params in ({"kernel_size": 2}, {"kernel_size": 2, "stride": 1, "padding": 1}):
        out, index = P.max_pool2d(x, **params, return_indices=True)
        expected, expected_index = TF.max_pool2d(torch.tensor(x), **params, return_indices=True)
        np.testing.assert_array_equal(out, expected.numpy())
        np.testing.assert_array_equal(index, expected_index.numpy())


@pytest.mark.parametrize(
    "params",
    [
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
        {"kernel_size": (2, 4), "stride": (1, 3), "padding": (1, 2), "divisor_override": 5},
    ],
)
def test_avg_pool2d_larger_inputs(params):
    _compare(
        P.avg_pool2d,
        TF.avg_pool2d,
        np.random.default_rng(6).standard_normal((2, 3, 8, 9)),
        params,
        seed=7,
    )


@pytest.mark.parametrize("output_size", [(4, 3), 5, (1, 1), (None, 2), (7, 9), (10, 12)])
def test_adaptive_avg_pool2d_larger_inputs(output_size):
    _compare(
        P.adaptive_avg_pool2d,
        TF.adaptive_avg_pool2d,
        np.random.default_rng(8).standard_normal((2, 3, 7, 9)),
        {"output_size": output_size},
        seed=9,
    )


def test_second_order_matches_pytorch():
    x = np.random.default_rng(10).standard_normal((2, 2, 6, 7))
    mine, them = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def loss(lib, t):
        pooled = lib.max_pool2d(t * t, 3, stride=2, padding=1) + lib.avg_pool2d(t * t, 3, 2, 1)
        return (lib.adaptive_avg_pool2d(pooled, 2) ** 2).sum()

    (dx,) = cr.autograd.grad(loss(P, mine), [mine], create_graph=True)
    (dx * dx).sum().backward()
    (tdx,) = torch.autograd.grad(loss(TF, them), [them], create_graph=True)
    (tdx * tdx).sum().backward()
    np.testing.assert_allclose(dx.numpy(), tdx.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(mine.grad.numpy(), them.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_float32_stays_float32():
    x = cr.tensor(
        np.random.default_rng(11).standard_normal((2, 3, 7, 7)).astype(np.float32),
        requires_grad=True,
    )
    out = (
        P.max_pool2d(x, 3, 2, ceil_mode=True).sum()
        + P.avg_pool2d(x, 2, 1, 1).sum()
        + P.adaptive_avg_pool2d(x, 3).sum()
        + P.avg_pool2d(x, 3, 2, 1, True, False).sum()
    )
    assert out.dtype == np.float32
    out.backward()
    assert x.grad.dtype == np.float32


def test_arrays_in_arrays_out():
    x = np.random.default_rng(12).standard_normal((1, 2, 4, 4))
    out, index = P.max_pool2d(x, 2, return_indices=True)
    assert type(out) is np.ndarray and type(index) is np.ndarray
    assert type(P.avg_pool2d(x, 2)) is np.ndarray


# ----------------------------------------------------------------------- modules
MODULES = [
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 8)),
    ("MaxPool2d", (2,), {}, (2, 3, 6, 7)),
    ("MaxPool2d", ((3, 2),), {"stride": 1, "padding": 1, "dilation": (1, 2)}, (1, 2, 5, 6)),
    ("AvgPool1d", (4,), {"stride": 3, "padding": 2, "count_include_pad": False}, (2, 3, 9)),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 2, 6, 7)),
    ("AvgPool2d", (2,), {"divisor_override": 3}, (1, 2, 4, 4)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, 5),), {}, (2, 3, 7, 8)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 4, 4)),
]


@pytest.mark.parametrize(
    "name, args, kwargs, shape", MODULES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MODULES)]
)
def test_modules_match_pytorch(name, args, kwargs, shape):
    ours = getattr(nn_pool, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {} and not list(ours.parameters())
    _compare(
        lambda t: ours(t),
        lambda t: theirs(t),
        np.random.default_rng(13).standard_normal(shape),
        {},
        seed=14,
    )


def test_max_pool_module_returns_indices():
    x = np.random.default_rng(15).standard_normal((1, 2, 6, 6))
    _, index = nn_pool.MaxPool2d(2, return_indices=True)(cr.tensor(x))
    expected = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))[1]
    np.testing.assert_array_equal(index.numpy(), expected.numpy())
    _, index = nn_pool.MaxPool1d(2, return_indices=True)(cr.tensor(x[0]))
    expected = torch.nn.MaxPool1d(2, return_indices=True)(torch.tensor(x[0]))[1]
    np.testing.assert_array_equal(index.numpy(), expected.numpy())


# ----------------------------------------------------------------------- errors
def test_errors_name_the_op_and_the_sizes():
    with pytest.raises(
        cr.ShapeError,
        match=r"max_pool2d: input of spatial size \(2, 2\) .*"
        r"kernel's extent \(3, 3\)",
    ):
        P.max_pool2d(cr.randn(1, 1, 2, 2), 3)
    with pytest.raises(cr.ShapeError, match=r"avg_pool2d: expected a 3-d .* shape \(4, 4\)"):
        P.avg_pool2d(cr.randn(4, 4), 2)
    with pytest.raises(cr.ShapeError, match=r"max_pool1d: expected a 2-d .* shape \(4,\)"):
        P.max_pool1d(cr.randn(4), 2)
    with pytest.raises(ValueError, match=r"max_pool2d: padding should be at most half"):
        P.max_pool2d(cr.randn(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: padding should be at most half"):
        P.avg_pool2d(cr.randn(1, 1, 6, 6), 3, padding=2)
    with pytest.raises(ValueError, match=r"must be positive"):
        P.avg_pool2d(cr.randn(1, 1, 6, 6), 2, stride=0)
    with pytest.raises(ValueError, match=r"divisor_override must be a non-zero int"):
        P.avg_pool2d(cr.randn(1, 1, 6, 6), 2, divisor_override=0)
    with pytest.raises(TypeError, match=r"max_pool2d: expected a floating-point input"):
        P.max_pool2d(np.ones((1, 1, 4, 4), dtype=np.int64), 2)
    with pytest.raises(TypeError, match=r"adaptive_avg_pool2d: output_size must be"):
        P.adaptive_avg_pool2d(cr.randn(1, 1, 4, 4), (1, 2, 3))


@pytest.mark.parametrize(
    "name, params",
    [
        ("max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
        ("max_pool2d", {"kernel_size": 2}),
        ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
        ("adaptive_avg_pool2d", {"output_size": (3, 2)}),
    ],
)
def test_channel_major_inputs_as_convolutions_return_them(name, params):
    """Pooling works in the input's memory order: a conv2d output is a (C, N, H, W) array
    seen as NCHW; values, gradients and indices are those of the contiguous input."""
    x = np.random.default_rng(16).standard_normal((3, 4, 7, 6))
    channel_major = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    assert not channel_major.flags.c_contiguous
    _compare(getattr(P, name), getattr(TF, name), channel_major, params, seed=17)
    if name == "max_pool2d":
        _, index = P.max_pool2d(channel_major, **params, return_indices=True)
        _, expected = TF.max_pool2d(torch.tensor(x), **params, return_indices=True)
        np.testing.assert_array_equal(index, expected.numpy())


# ----------------------------------------------------------------------- side by side
# Windows that tile the input (kernel_size == stride, no padding, dilation 1, sizes
# divisible by the kernel) take a mask-based fast path; these tests check that it is taken
# and that it agrees exactly with the general path and with PyTorch.
SIDE_BY_SIDE = [
    {"kernel_size": 2},
    {"kernel_size": 2, "stride": 2},
    {"kernel_size": (3, 2)},
    {"kernel_size": (1, 3), "ceil_mode": True},
    {"kernel_size": 3, "stride": [], "padding": 0, "dilation": 1},
]


def _general(monkeypatch):
    """Make every call take the general path (strided taps, getitem, index_add)."""
    monkeypatch.setattr(P, "_side_by_side", lambda *args: False)


def _paths(x, params, monkeypatch):
    """(output, indices, gradient, gradient of the gradient's norm) on one path."""
    tensor = cr.tensor(x, requires_grad=True)
    out, index = P.max_pool2d(tensor, **params, return_indices=True)
    cotangent = np.random.default_rng(20).standard_normal(out.shape).astype(x.dtype)
    # Quadratic in the output, so that the gradient's gradient runs through the routing.
    # The losses of "special" data sum inf and -inf (NaN): only their gradients are used.
    with np.errstate(invalid="ignore"):
        (dx,) = cr.autograd.grad(
            (out * out * cr.tensor(cotangent)).sum(), [tensor], create_graph=True
        )
        (dx * dx).sum().backward()
    return out.numpy(), index.numpy(), dx.numpy(), tensor.grad.numpy()


def _spy(monkeypatch):
    calls = []
    fast = P._max_pool_side_by_side
    monkeypatch.setattr(
        P, "_max_pool_side_by_side", lambda *args: calls.append(args[2]) or fast(*args)
    )
    return calls


@pytest.mark.parametrize("params", SIDE_BY_SIDE)
def test_side_by_side_windows_take_the_fast_path(params, monkeypatch):
    calls = _spy(monkeypatch)
    P.max_pool2d(np.zeros((1, 2, 6, 6)), **params)
    P.max_pool1d(np.zeros((2, 3, 6)), 3)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "shape, params",
    [
        ((1, 1, 5, 6), {"kernel_size": 2}),  # 5 rows: not divisible
        ((1, 1, 6, 6), {"kernel_size": 2, "stride": 1}),
        ((1, 1, 6, 6), {"kernel_size": 2, "padding": 1}),
        ((1, 1, 6, 6), {"kernel_size": 2, "dilation": 2}),
        ((1, 1, 5, 5), {"kernel_size": 2, "ceil_mode": True}),
    ],
)
def test_other_windows_take_the_general_path(shape, params, monkeypatch):
    calls = _spy(monkeypatch)
    P.max_pool2d(np.zeros(shape), **params)
    assert not calls


def _data(kind, shape, dtype=np.float64):
    rng = np.random.default_rng(21)
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "ties":  # few distinct values and whole windows of zeros, as after a ReLU
        return np.maximum(rng.integers(-2, 3, shape), 0).astype(dtype)
    x = rng.standard_normal(shape)  # NaN (several in some windows), +-inf and -0.0
    x[rng.random(shape) < 0.15] = np.nan
    x[rng.random(shape) < 0.1] = np.inf
    x[rng.random(shape) < 0.1] = -np.inf
    x[rng.random(shape) < 0.1] = -0.0
    x[..., :2, :2] = -np.inf  # a window of -inf alone
    return x.astype(dtype)


@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
@pytest.mark.parametrize("params", SIDE_BY_SIDE[:4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_path_equals_the_general_path(kind, params, dtype, monkeypatch):
    x = _data(kind, (2, 3, 6, 6), dtype)
    fast = _paths(x, params, monkeypatch)
    _general(monkeypatch)
    general = _paths(x, params, monkeypatch)
    for mine, theirs in zip(fast, general):
        assert mine.dtype == theirs.dtype
        # Same elements moved and the same products: exactly equal (a routed -0.0
        # gradient may stay -0.0 where the general path's scatter adds it to +0.0).
        np.testing.assert_array_equal(mine, theirs)
    # The output moves elements as they are: signs of zeros too.
    np.testing.assert_array_equal(np.signbit(fast[0]), np.signbit(general[0]))


@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
@pytest.mark.parametrize("params", SIDE_BY_SIDE)
def test_fast_path_matches_pytorch(kind, params):
    x = _data(kind, (2, 3, 6, 6))
    out, index = P.max_pool2d(x, **params, return_indices=True)
    expected, expected_index = TF.max_pool2d(torch.tensor(x), **params, return_indices=True)
    np.testing.assert_array_equal(out, expected.numpy())  # values are moved, not computed
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected.numpy()))
    np.testing.assert_array_equal(index, expected_index.numpy())
    if kind != "special":  # gradients through NaN/inf inputs: compared on the general path
        _compare(P.max_pool2d, TF.max_pool2d, x, params, seed=22)
    else:
        mine, them = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        with np.errstate(invalid="ignore"):  # inf + -inf in the loss; its gradient is 1
            P.max_pool2d(mine, **params).sum().backward()
        TF.max_pool2d(them, **params).sum().backward()
        np.testing.assert_array_equal(mine.grad.numpy(), them.grad.numpy())


def test_fast_path_second_order_matches_pytorch():
    x = _data("ties", (2, 2, 4, 6)) + np.random.default_rng(23).standard_normal((2, 2, 4, 6))
    mine, them = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def loss(lib, t):
        return (lib.max_pool2d(t * t * t, 2) ** 2).sum()

    (dx,) = cr.autograd.grad(loss(P, mine), [mine], create_graph=True)
    (dx * dx).sum().backward()
    (tdx,) = torch.autograd.grad(loss(TF, them), [them], create_graph=True)
    (tdx * tdx).sum().backward()
    np.testing.assert_allclose(dx.numpy(), tdx.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(mine.grad.numpy(), them.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_fast_path_float32_unbatched_channel_major_and_1d():
    x = _data("ties", (3, 4, 6, 8), np.float32) + np.float32(0.5) * _data(
        "normal", (3, 4, 6, 8), np.float32
    )
    channel_major = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    for data in (x, channel_major, x[0]):
        mine = cr.tensor(data, requires_grad=True)
        them = torch.tensor(np.ascontiguousarray(data), requires_grad=True)
        out, index = P.max_pool2d(mine, 2, return_indices=True)
        expected, expected_index = TF.max_pool2d(them, 2, return_indices=True)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
        np.testing.assert_array_equal(index.numpy(), expected_index.numpy())
        cotangent = np.random.default_rng(24).standard_normal(out.shape).astype(np.float32)
        out.backward(cotangent)
        expected.backward(torch.tensor(cotangent))
        assert mine.grad.dtype == np.float32
        np.testing.assert_array_equal(mine.grad.numpy(), them.grad.numpy())
    line = x.reshape(3, 4, 48)
    out, index = P.max_pool1d(line, 4, return_indices=True)
    expected, expected_index = TF.max_pool1d(torch.tensor(line), 4, return_indices=True)
    np.testing.assert_array_equal(out, expected.numpy())
    np.testing.assert_array_equal(index, expected_index.numpy())


def test_fast_path_keeps_a_byte_per_window_in_the_input_memory_order():
    """#17's memory target: the graph keeps each window's tap (one byte), not a mask of the
    input's size; the gradient comes back in the input's (channel-major) memory order."""
    x = np.random.default_rng(25).standard_normal((4, 3, 8, 6))
    channel_major = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    tensor = cr.tensor(channel_major, requires_grad=True)
    out = P.max_pool2d(tensor, 2)
    _, kept = out._arrays
    assert kept.dtype == np.uint8 and kept.shape == out.shape == (4, 3, 4, 3)
    routed = P._window_route(np.ones(out.shape), tap=kept, kernel=(2, 2))
    assert routed.shape == x.shape and routed.transpose(1, 0, 2, 3).flags.c_contiguous
    np.testing.assert_array_equal(routed.reshape(4, 3, 4, 2, 3, 2).sum(axis=(3, 5)), 1.0)
