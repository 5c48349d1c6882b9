"""Convolution (chainrule.ops.conv, chainrule.nn.conv) against PyTorch, in float64.

Every spec case of the registry runs here through PyTorch too: values and the gradients
of every input agree to 1e-10 relative (both sides are exact float64 sums of the same
products; only the summation order differs). Modules load PyTorch's weights through
``load_state_dict``; errors name the op and both shapes.
"""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import conv as nn_conv
from chainrule.ops import conv as C
from chainrule.ops.registry import COMPOSITES, REGISTRY

torch = pytest.importorskip("torch")
TF = torch.nn.functional
# PyTorch's note that its own 'same' padding copies the input: not ours to act on.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

FUNCTIONS = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold"]
# float64 on both sides: agreement to rounding, a few ulps of sums of at most ~100 terms.
RTOL, ATOL = 1e-10, 1e-12


def _spec_cases(names):
    return [
        pytest.param(name, case, id=f"{name}-{i}")
        for name in names
        for i, case in enumerate(COMPOSITES[name].spec.cases)
    ]


def _compare_with_torch(ours, theirs, shapes, params, seed=0, integer=False):
    """Values and the gradients of every input, ours against PyTorch's."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(-3, 4, s).astype(np.float64) if integer else rng.standard_normal(s)
        for s in shapes
    ]
    mine = [cr.tensor(a, requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = ours(*mine, **params)
    expected = theirs(*torch_inputs, **params)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    cotangent = rng.standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    for i, (a, b) in enumerate(zip(mine, torch_inputs)):
        np.testing.assert_allclose(
            a.grad.numpy(), b.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"input {i}"
        )


@pytest.mark.parametrize("name, case", _spec_cases(FUNCTIONS))
def test_every_spec_case_matches_pytorch(name, case):
    _compare_with_torch(COMPOSITES[name].function, getattr(TF, name), case.shapes, case.params)


def test_the_functions_are_registered_with_specs():
    for name in FUNCTIONS:
        assert name in C.__all__ and COMPOSITES[name].spec.cases
    for name in ("im2col", "col2im"):
        assert REGISTRY[name].spec.cases


@pytest.mark.parametrize(
    "params",
    [
        {"stride": 2, "padding": 1},
        {"stride": (1, 3), "padding": (2, 0), "dilation": (1, 2)},
        {"padding": "same", "dilation": 3},
        {"padding": "valid", "groups": 4},
        {"stride": 3, "padding": 2, "dilation": 2, "groups": 2},
    ],
)
def test_conv2d_matches_pytorch_on_larger_inputs(params):
    groups = params.get("groups", 1)
    _compare_with_torch(
        C.conv2d,
        TF.conv2d,
        [(3, 8, 11, 9), (6 if groups != 4 else 8, 8 // groups, 3, 4), (6 if groups != 4 else 8,)],
        params,
        seed=1,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"stride": 2, "padding": 1, "output_padding": 1},
        {"stride": (3, 2), "padding": (1, 2), "output_padding": (2, 0), "dilation": (1, 2)},
        {"stride": 1, "dilation": 3, "output_padding": 2, "groups": 2},  # output_padding > stride
    ],
)
def test_conv_transpose2d_matches_pytorch_on_larger_inputs(params):
    groups = params.get("groups", 1)
    _compare_with_torch(
        C.conv_transpose2d,
        TF.conv_transpose2d,
        [(2, 4, 5, 6), (4, 6 // groups, 3, 3), (6,)],
        params,
        seed=2,
    )


@pytest.mark.parametrize("block_bytes", [1, 3000])  # one image a block; blocks of 1 to 3
@pytest.mark.parametrize(
    "function, shapes, params",
    [
        (C.conv2d, [(5, 4, 9, 8), (6, 4, 3, 3), (6,)], {"padding": 1}),  # a kernel row
        (C.conv2d, [(5, 1, 9, 8), (12, 1, 2, 2), (12,)], {"padding": (1, 0)}),  # all rows
        (C.conv2d, [(5, 4, 9, 8), (6, 2, 3, 2), (6,)], {"stride": 2, "groups": 2}),
        (C.conv_transpose2d, [(5, 4, 4, 5), (4, 3, 3, 3), (3,)], {"padding": 1}),
        (C.conv_transpose2d, [(5, 4, 4, 5), (4, 3, 2, 3), (6,)], {"stride": 2, "groups": 2}),
    ],
)
def test_blocks_of_images_give_the_whole_batch_result(
    function, shapes, params, block_bytes, monkeypatch
):
    """The primitives run a block of images at a time: split into blocks (the last one
    shorter), values and gradients are still PyTorch's."""
    monkeypatch.setattr(C, "_BLOCK_BYTES", block_bytes)
    _compare_with_torch(function, getattr(TF, function.__name__), shapes, params, seed=6)
    # The gradient's gradient runs the three primitives on blocks too.
    inputs = [np.random.default_rng(7).standard_normal(s) for s in shapes]
    assert cr.gradgradcheck(lambda *xs: function(*xs, **params), inputs)


def test_a_convolution_keeps_its_input_and_weight_not_its_columns():
    """#17's memory target: backward makes the im2col columns again, a block at a time,
    so neither the graph nor the step ever holds all of them."""
    import tracemalloc

    rng = np.random.default_rng(8)
    x = cr.tensor(rng.standard_normal((32, 4, 32, 32)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((8, 4, 5, 5)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(8), requires_grad=True)
    columns = 4 * 5 * 5 * 32 * 28 * 28 * 8  # bytes: 20 MB in float64
    tracemalloc.start()
    try:
        out = C.conv2d(x, w, b)
        assert [a.shape for a in out._arrays] == [x.shape, w.shape, b.shape]
        out.backward(np.ones(out.shape))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The output, the gradient given and its copy, the input gradient (1.6 * 3 + 1 MB)
    # and a block's temporaries; all the columns (and their gradient, as many) would be 2x.
    assert peak < columns / 2


def test_unfold_and_fold_are_adjoint():
    rng = np.random.default_rng(3)
    x, cols = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((2, 27, 15))
    geometry = {"kernel_size": 3, "dilation": (2, 1), "padding": 1, "stride": (1, 2)}
    assert C.unfold(x, **geometry).shape == cols.shape
    np.testing.assert_allclose(
        np.sum(C.unfold(x, **geometry) * cols),
        np.sum(x * C.fold(cols, (7, 6), **geometry)),
        rtol=1e-12,
    )


def test_second_order_matches_pytorch():
    """The gradient's gradient (create_graph) through conv2d and conv_transpose2d."""
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s) for s in [(2, 4, 6, 5), (6, 2, 3, 3), (6,), (6, 3, 2, 2)]]
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]

    def loss(lib, x, w, b, v):
        conv = lib.conv2d(x, w, b, stride=2, padding=1, groups=2)
        return (lib.conv_transpose2d(conv, v, stride=2, groups=2) ** 2).sum()

    gx = cr.grad(lambda x, w, b, v: loss(C, x, w, b, v), argnums=(0, 1, 2, 3))
    first = gx(*ours)
    grads = torch.autograd.grad(loss(TF, *theirs), theirs, create_graph=True)
    for a, b in zip(first, grads):
        np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=RTOL, atol=1e-11)
    # d/d(all) of the squared norm of the input gradient.
    x, w, b, v = ours
    (dx,) = cr.autograd.grad(loss(C, x, w, b, v), [x], create_graph=True)
    (dx * dx).sum().backward()
    (tdx,) = torch.autograd.grad(loss(TF, *theirs), [theirs[0]], create_graph=True)
    (tdx * tdx).sum().backward()
    for mine, them in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), them.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_float32_stays_float32():
    x = cr.tensor(
        np.random.default_rng(5).standard_normal((2, 3, 6, 6)).astype(np.float32),
        requires_grad=True,
    )
    conv = nn_conv.Conv2d(3, 4, 3, padding=1, rng=0)
    deconv = nn_conv.ConvTranspose2d(4, 2, 2, stride=2, rng=1)
    out = deconv(conv(x))
    assert out.dtype == np.float32 and out.shape == (2, 2, 12, 12)
    out.sum().backward()
    for t in (x, conv.weight, conv.bias, deconv.weight, deconv.bias):
        assert t.grad.dtype == np.float32 and t.grad.shape == t.shape


# ----------------------------------------------------------------------- modules
MODULES = [
    ("Conv1d", (3, 6, 3), {"stride": 2, "padding": 1}, (2, 3, 9)),
    ("Conv1d", (4, 4, 2), {"padding": "same", "groups": 2, "bias": False}, (2, 4, 7)),
    ("Conv2d", (3, 8, 3), {"padding": 1}, (2, 3, 6, 5)),
    ("Conv2d", (4, 6, (3, 2)), {"stride": (2, 1), "dilation": (1, 2), "groups": 2}, (1, 4, 7, 8)),
    ("Conv2d", (2, 4, 4), {"padding": "same", "bias": False}, (2, 2, 5, 5)),
    (
        "ConvTranspose2d",
        (4, 6, 3),
        {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
        (2, 4, 3, 4),
    ),
    ("ConvTranspose2d", (3, 2, (2, 3)), {"dilation": 2, "bias": False}, (1, 3, 4, 4)),
]


@pytest.mark.parametrize(
    "name, args, kwargs, shape", MODULES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MODULES)]
)
def test_modules_load_pytorch_weights_and_match(name, args, kwargs, shape):
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn_conv, name)(*args, **kwargs, dtype=np.float64, rng=0)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(state) == list(ours.state_dict())
    assert all(ours.state_dict()[k].shape == v.shape for k, v in state.items())
    ours.load_state_dict(state)
    x = np.random.default_rng(6).standard_normal(shape)
    mine, them = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine), theirs(them)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    cotangent = np.random.default_rng(7).standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    np.testing.assert_allclose(mine.grad.numpy(), them.grad.numpy(), rtol=RTOL, atol=ATOL)
    for key, param in ours.named_parameters():
        np.testing.assert_allclose(
            param.grad.numpy(),
            theirs.get_parameter(key).grad.numpy(),
            rtol=RTOL,
            atol=ATOL,
            err_msg=key,
        )


@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("Conv2d", (6, 16, 5), {}),
        ("Conv2d", (8, 12, (3, 2)), {"groups": 4}),
        ("Conv1d", (5, 7, 4), {}),
        ("ConvTranspose2d", (6, 8, 3), {"groups": 2}),
    ],
)
def test_initialisation_bounds_are_pytorchs(name, args, kwargs):
    """kaiming_uniform(a=sqrt(5)) gives weights in +-1/sqrt(fan_in), as the bias; fan_in is
    weight.shape[1] times the kernel size, also for the transposed convolution."""
    ours = getattr(nn_conv, name)(*args, **kwargs, rng=0)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert ours.weight.dtype == ours.bias.dtype == np.float32
    bound = 1 / math.sqrt(math.prod(ours.weight.shape[1:]))
    for param in (ours.weight, ours.bias):
        values = np.abs(param.numpy())
        assert values.max() <= bound
    # Hundreds of uniform samples: the largest is within 10% of the bound (fails with
    # probability below 1e-9 for the smallest weight here).
    assert np.abs(ours.weight.numpy()).max() > 0.9 * bound
    np.testing.assert_array_equal(
        getattr(nn_conv, name)(*args, **kwargs, rng=0).weight.numpy(), ours.weight.numpy()
    )


def test_dtype_and_repr():
    conv = nn_conv.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, dtype=np.float64)
    assert conv.weight.dtype == conv.bias.dtype == np.float64
    assert repr(conv) == "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))"
    assert repr(nn_conv.ConvTranspose2d(4, 2, 2, stride=2, output_padding=1, bias=False)) == (
        "ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(2, 2), output_padding=(1, 1), "
        "bias=False)"
    )


def test_conv_transpose2d_output_size():
    layer = nn_conv.ConvTranspose2d(2, 3, 3, stride=2, padding=1, rng=0)
    x = cr.randn(1, 2, 4, 4)
    assert layer(x).shape == (1, 3, 7, 7)
    assert layer(x, output_size=(8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="output size"):
        layer(x, output_size=(9, 9))


def test_unbatched_input():
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(
        C.conv2d(x, w, padding=1),
        TF.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy(),
        rtol=RTOL,
        atol=ATOL,
    )
    assert C.conv1d(rng.standard_normal((3, 7)), rng.standard_normal((2, 3, 3))).shape == (2, 5)


# ----------------------------------------------------------------------- errors
def test_errors_name_the_op_and_both_shapes():
    x = cr.randn(2, 3, 8, 8)
    with pytest.raises(
        cr.ShapeError,
        match=r"conv2d: input of shape \(2, 3, 8, 8\) has 3 "
        r"channels, but weight of shape \(4, 2, 3, 3\)",
    ):
        C.conv2d(x, cr.randn(4, 2, 3, 3))
    with pytest.raises(
        cr.ShapeError,
        match=r"conv2d: input of spatial size \(8, 8\) .*"
        r"kernel's extent \(9, 9\)",
    ):
        C.conv2d(x, cr.randn(4, 3, 5, 5), dilation=2)
    with pytest.raises(
        cr.ShapeError,
        match=r"conv2d: bias of shape \(3,\) .* weight of "
        r"shape \(4, 3, 3, 3\)",
    ):
        C.conv2d(x, cr.randn(4, 3, 3, 3), cr.randn(3))
    with pytest.raises(cr.ShapeError, match=r"conv2d: weight of shape \(4, 3, 3\) must have 4"):
        C.conv2d(x, cr.randn(4, 3, 3))
    with pytest.raises(cr.ShapeError, match=r"conv2d: expected a 3-d .* shape \(8, 8\)"):
        C.conv2d(cr.randn(8, 8), cr.randn(4, 3, 3, 3))
    with pytest.raises(
        cr.ShapeError,
        match=r"conv1d: input of shape \(2, 3, 1, 5\) has 3 "
        r"channels",
    ):
        C.conv1d(cr.randn(2, 3, 5), cr.randn(2, 4, 3))
    with pytest.raises(
        cr.ShapeError,
        match=r"conv_transpose2d: input of shape \(2, 3, 8, 8\) "
        r"has 3 channels, but weight of shape \(4, 2, 3, 3\)",
    ):
        C.conv_transpose2d(x, cr.randn(4, 2, 3, 3))
    with pytest.raises(
        cr.ShapeError,
        match=r"fold: input of shape \(1, 18, 10\) has 10 "
        r"blocks, but output_size \(5, 5\)",
    ):
        C.fold(cr.randn(1, 18, 10), (5, 5), 3)
    with pytest.raises(cr.ShapeError, match=r"fold: .* 16 rows, not a multiple"):
        C.fold(cr.randn(1, 16, 9), (5, 5), 3)
    with pytest.raises(cr.ShapeError, match=r"unfold: input of spatial size \(2, 2\)"):
        C.unfold(cr.randn(1, 1, 2, 2), 3)


def test_argument_errors():
    x, w = cr.randn(1, 4, 6, 6), cr.randn(4, 2, 3, 3)
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        C.conv2d(x, w, stride=2, padding="same", groups=2)
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        C.conv2d(x, w, padding="full", groups=2)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        C.conv2d(x, w, groups=0)
    with pytest.raises(cr.ShapeError, match="not divisible by groups=3"):
        C.conv2d(cr.randn(1, 3, 6, 6), cr.randn(4, 1, 3, 3), groups=3)
    with pytest.raises(ValueError, match="stride must be positive|must be positive"):
        C.conv2d(x, w, stride=0, groups=2)
    with pytest.raises(ValueError, match="output_padding"):
        C.conv_transpose2d(x, cr.randn(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a tuple of 2 ints"):
        C.unfold(x, (2, 2, 2))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn_conv.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn_conv.Conv2d(3, 4, 3, padding_mode="reflect")


def test_a_small_cnn_matches_pytorch():
    """LeNet-like, float64, PyTorch's weights: the loss and every gradient agree."""
    from chainrule import nn
    from chainrule.nn.pooling import AvgPool2d, MaxPool2d

    torch.manual_seed(0)
    T = torch.nn
    theirs = T.Sequential(
        T.Conv2d(2, 4, 3, padding=1),
        T.ReLU(),
        T.MaxPool2d(2),
        T.Conv2d(4, 6, 3, groups=2),
        T.ReLU(),
        T.AvgPool2d(2, ceil_mode=True),
        T.Flatten(),
        T.Linear(12, 3),
    ).double()
    ours = nn.Sequential(
        nn_conv.Conv2d(2, 4, 3, padding=1, dtype=np.float64),
        nn.ReLU(),
        MaxPool2d(2),
        nn_conv.Conv2d(4, 6, 3, groups=2, dtype=np.float64),
        nn.ReLU(),
        AvgPool2d(2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(12, 3, dtype=np.float64),
    )
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((5, 2, 10, 9)), rng.integers(0, 3, 5)
    mine = cr.tensor(x, requires_grad=True)
    them = torch.tensor(x, requires_grad=True)
    loss = cr.nn.functional.cross_entropy(ours(mine), cr.tensor(y))
    expected = TF.cross_entropy(theirs(them), torch.tensor(y))
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=RTOL)
    loss.backward()
    expected.backward()
    np.testing.assert_allclose(mine.grad.numpy(), them.grad.numpy(), rtol=RTOL, atol=ATOL)
    for key, param in ours.named_parameters():
        np.testing.assert_allclose(
            param.grad.numpy(),
            theirs.get_parameter(key).grad.numpy(),
            rtol=RTOL,
            atol=ATOL,
            err_msg=key,
        )


def test_an_empty_batch_flows_through():
    from chainrule.ops import pool as P

    x = cr.tensor(np.zeros((0, 3, 6, 6)), requires_grad=True)
    w = cr.tensor(np.ones((4, 3, 3, 3)), requires_grad=True)
    y = C.conv2d(x, w, padding=1)
    out = (
        P.max_pool2d(y, 2).sum()
        + P.avg_pool2d(y, 3, 2, 1).sum()
        + C.conv_transpose2d(y, np.ones((4, 2, 3, 3))).sum()
    )
    out.backward()
    assert y.shape == (0, 4, 6, 6) and x.grad.shape == (0, 3, 6, 6)
    np.testing.assert_array_equal(w.grad.numpy(), 0.0)
