"""Tests of cr.nn: modules, parameters, layers, init, losses and their functional forms."""

import math
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.ops.registry import REGISTRY

RNG = np.random.default_rng(1234)
LOSS_OPS = ("cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy")
REDUCTIONS = ("mean", "sum", "none")


def leaf(array):
    return cr.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def softmax_np(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


def reduce_np(losses, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](losses)


def grad_scale(shape, reduction):
    """d reduce / d element: 1 / N for 'mean', 1 otherwise (seeded with ones for 'none')."""
    return 1 / math.prod(shape) if reduction == "mean" else 1.0


def backward(out):
    out.backward(np.ones(out.shape, dtype=out.dtype))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(cr.ones(3))
        self.body = nn.Sequential(nn.Linear(4, 3, rng=0), nn.Tanh())
        self.head = nn.Linear(3, 2, rng=1)
        self.note = "not registered"

    def forward(self, x):
        return self.head(self.body(x) * self.scale)


# ============================================================================ Module
def test_attribute_assignment_registers_parameters_and_modules():
    net = Net()
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["body", "head"]
    assert net.note == "not registered"
    assert [m for m in net.children()] == [net.body, net.head]
    assert len(list(net.modules())) == 5  # net, body, Linear, Tanh, head
    assert net.body[0] is list(net.modules())[2]


def test_named_parameters_order_and_dotted_names():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert list(net.parameters()) == [p for _, p in net.named_parameters()]
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())


def test_parameters_are_named_by_their_qualified_path():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [p.name for p in model.parameters()] == names
    net = Net()
    assert [p.name for p in net.parameters()] == [n for n, _ in net.named_parameters()]


def test_user_chosen_parameter_names_are_kept():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.W1 = nn.Parameter(cr.tensor(np.ones((2, 2)), name="W1"))
            self.b1 = nn.Parameter(np.zeros(2))

    outer = nn.Sequential(Model())
    assert [p.name for p in outer.parameters()] == ["W1", "0.b1"]


def test_shared_parameters_are_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_assignments_that_would_corrupt_registration_raise():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    net = Net()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        net.scale = np.zeros(3)
    net.scale = None
    assert [n for n, _ in net.named_parameters()][0] == "body.0.weight"
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        net.missing  # noqa: B018  (the lookup itself is what raises)
    del net.head
    assert list(net._modules) == ["body"]


def test_state_dict_is_an_ordered_copy():
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == [n for n, _ in net.named_parameters()]
    assert all(type(v) is np.ndarray for v in state.values())
    state["head.bias"][...] = 99
    assert not np.any(net.head.bias.data == 99)


def test_state_dict_round_trip():
    source, target = Net(), Net()
    for p in source.parameters():
        p.data = p.data + 1.5
    x = cr.randn(5, 4)
    weight_before = target.head.weight
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.head.weight is weight_before  # loaded in place, same Parameter
    np.testing.assert_array_equal(target(x).data, source(x).data)
    # Tensors are accepted as values too.
    target.load_state_dict({k: cr.tensor(v) for k, v in Net().state_dict().items()})


def test_load_state_dict_lists_missing_unexpected_and_mismatched_keys():
    net = Net()
    before = net.state_dict()
    state = net.state_dict()
    del state["head.bias"], state["scale"]
    state["extra.weight"] = np.zeros(2)
    state["body.0.weight"] = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "Error(s) in loading state_dict for Net" in message
    assert 'Missing key(s) in state_dict: "scale", "head.bias".' in message
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in message
    assert (
        "size mismatch for body.0.weight: copying a param with shape (4, 3) from "
        "checkpoint, the shape in current model is (3, 4)."
    ) in message
    assert message.index("Missing") < message.index("Unexpected") < message.index("size")
    # All or nothing: a failed load changes no parameter.
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_non_strict():
    net = Net()
    state = {"head.bias": np.full(2, 7.0), "other": np.zeros(1)}
    result = net.load_state_dict(state, strict=False)
    assert result.unexpected_keys == ["other"]
    assert "head.weight" in result.missing_keys and "head.bias" not in result.missing_keys
    np.testing.assert_array_equal(net.head.bias.data, [7, 7])
    assert net.head.bias.dtype == np.float32  # copied into the parameter's dtype
    with pytest.raises(RuntimeError, match="size mismatch for head.bias"):
        net.load_state_dict({"head.bias": np.zeros(3)}, strict=False)


def test_train_eval_and_zero_grad():
    net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.2)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(cr.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_module_dtype_conversion_and_apply():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net(cr.tensor(np.ones((1, 4)))).dtype == np.float64
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Tanh", "Sequential", "Linear", "Net"]


def test_repr_matches_pytorch_layout():
    model = nn.Sequential(
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, 10, bias=False),
        nn.Softmax(dim=-1),
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=64, out_features=128, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.25)\n"
        "  (3): Linear(in_features=128, out_features=10, bias=False)\n"
        "  (4): Softmax(dim=-1)\n"
        ")"
    )
    nested = nn.Sequential(nn.Sequential(nn.LeakyReLU(0.2), nn.Flatten()), nn.Identity())
    assert repr(nested) == (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): LeakyReLU(negative_slope=0.2)\n"
        "    (1): Flatten(start_dim=1, end_dim=-1)\n"
        "  )\n"
        "  (1): Identity()\n"
        ")"
    )
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


# ============================================================================ Parameter
def test_parameter_is_a_trainable_leaf_that_keeps_dtype():
    for dtype in (np.float32, np.float64):
        p = nn.Parameter(np.zeros((2, 3), dtype=dtype))
        assert p.dtype == dtype and p.requires_grad and p.is_leaf
        assert isinstance(p, cr.Tensor)
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert repr(nn.Parameter(np.zeros(2))).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError):
        nn.Parameter(np.arange(3))


def test_parameter_shares_a_tensors_data_and_copies_arrays():
    t = cr.tensor(np.ones(3))
    assert nn.Parameter(t).data is t.data
    array = np.ones(3)
    p = nn.Parameter(array)
    p.data[0] = 5
    assert array[0] == 1


def test_ops_on_parameters_give_plain_tensors():
    p = nn.Parameter(np.ones(3))
    y = p * 2
    assert type(y) is cr.Tensor and type(p.detach()) is cr.Tensor
    y.sum().backward()
    np.testing.assert_array_equal(p.grad.data, [2, 2, 2])


# ============================================================================ Linear and init
def test_linear_shapes_init_bounds_and_dtype():
    layer = nn.Linear(50, 20, rng=0)
    assert layer.weight.shape == (20, 50) and layer.bias.shape == (20,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    bound = 1 / math.sqrt(50)
    for p in layer.parameters():
        assert np.abs(p.data).max() <= bound
    # The draws fill the interval (a uniform sample of 1000 reaches near both ends).
    assert np.abs(layer.weight.data).max() > 0.95 * bound
    assert np.isclose(layer.weight.data.std(), bound / math.sqrt(3), rtol=0.1)
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_seeding():
    a, b, c = nn.Linear(5, 4, rng=7), nn.Linear(5, 4, rng=7), nn.Linear(5, 4, rng=8)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    nn.init.seed(3)
    d = nn.Linear(5, 4)
    nn.init.seed(3)
    e = nn.Linear(5, 4, rng=None)
    np.testing.assert_array_equal(d.weight.data, e.weight.data)
    f = nn.Linear(5, 4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, f.weight.data)


def test_linear_forward_and_gradients():
    layer = nn.Linear(4, 3, dtype=np.float64, rng=0)
    x = leaf(RNG.standard_normal((5, 4)))
    y = layer(x)
    w, b = layer.weight.data, layer.bias.data
    np.testing.assert_allclose(y.data, x.data @ w.T + b)
    # One node: the fused linear op (one product, the bias added in place).
    assert y.grad_fn.name == "linear" and y.grad_fn.inputs[0] is x
    g = RNG.standard_normal((5, 3))
    y.backward(g)
    np.testing.assert_allclose(layer.weight.grad.data, g.T @ x.data)  # dW = dY^T X
    np.testing.assert_allclose(x.grad.data, g @ w)  # dX = dY W
    np.testing.assert_allclose(layer.bias.grad.data, g.sum(axis=0))  # summed over the batch
    assert cr.gradcheck(F.linear, [x.data, w, b])
    assert cr.gradcheck(F.linear, [x.data, w])
    no_bias = nn.Linear(4, 3, bias=False, dtype=np.float64, rng=0)
    np.testing.assert_allclose(no_bias(x).data, x.data @ no_bias.weight.data.T)


def test_linear_float32_end_to_end():
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    x = cr.tensor(RNG.standard_normal((6, 4)).astype(np.float32))
    loss = nn.CrossEntropyLoss()(model(x), cr.tensor(RNG.integers(0, 3, 6)))
    loss.backward()
    assert loss.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_init_functions():
    gen = np.random.default_rng(0)
    w = nn.Parameter(np.zeros((30, 60), dtype=np.float32))
    nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=gen)
    assert w.dtype == np.float32 and np.abs(w.data).max() <= 1 / math.sqrt(60)
    nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=gen)
    assert np.abs(w.data).max() <= math.sqrt(6 / 60)
    nn.init.xavier_uniform_(w, generator=gen)
    assert np.abs(w.data).max() <= math.sqrt(6 / 90)
    nn.init.normal_(w, mean=2.0, std=0.5, generator=gen)
    assert abs(w.data.mean() - 2) < 0.05 and abs(w.data.std() - 0.5) < 0.05
    version = w._version
    nn.init.zeros_(w)
    assert not w.data.any() and w._version > version
    array = np.ones((2, 2))
    assert nn.init.constant_(array, 3.0) is array and np.all(array == 3)
    assert nn.init.calculate_gain("tanh") == 5 / 3
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(np.zeros(3))


def test_init_default_generator_is_seedable():
    a, b = np.zeros((3, 3)), np.zeros((3, 3))
    nn.init.seed(11)
    nn.init.normal_(a)
    nn.init.seed(11)
    nn.init.normal_(b)
    np.testing.assert_array_equal(a, b)


# ============================================================================ containers and layers
def test_sequential_indexing_len_iteration_and_append():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"]
    model.append(nn.Sigmoid())
    assert len(model) == 4 and isinstance(model[3], nn.Sigmoid)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    x = cr.randn(4, 2)
    np.testing.assert_allclose(named(x).data, np.tanh(named.fc(x).data), rtol=1e-6)


def test_activation_modules_match_their_functions():
    x = RNG.standard_normal((3, 4))
    cases = [
        (nn.ReLU(), np.maximum(x, 0)),
        (nn.Sigmoid(), sigmoid_np(x)),
        (nn.Tanh(), np.tanh(x)),
        (nn.LeakyReLU(), np.where(x > 0, x, 0.01 * x)),
        (nn.LeakyReLU(0.2), np.where(x > 0, x, 0.2 * x)),
        (nn.Softmax(), softmax_np(x)),
        (nn.Softmax(dim=0), softmax_np(x, 0)),
        (nn.LogSoftmax(dim=1), np.log(softmax_np(x))),
        (nn.Identity(), x),
    ]
    for module, expected in cases:
        np.testing.assert_allclose(
            module(cr.tensor(x)).data, expected, rtol=1e-12, atol=1e-12, err_msg=repr(module)
        )
    assert nn.Flatten()(cr.zeros(2, 3, 4)).shape == (2, 12)
    assert nn.Flatten(0, 1)(cr.zeros(2, 3, 4)).shape == (6, 4)
    assert nn.Flatten()(cr.zeros(2, 0, 4)).shape == (2, 0)


def test_dropout_training_scales_kept_units():
    p = 0.3
    drop = nn.Dropout(p, rng=0)
    x = leaf(np.ones((200, 100)))
    y = drop(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / (1 - p))
    assert abs(kept.mean() - (1 - p)) < 0.02
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, kept / (1 - p))  # the same mask, same scale


def test_dropout_eval_is_identity_and_seeding_repeats():
    x = cr.randn(10, 10)
    drop = nn.Dropout(0.5).eval()
    assert drop(x) is x
    a, b = nn.Dropout(0.5, rng=4), nn.Dropout(0.5, rng=4)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.9, training=False) is x
    assert not F.dropout(x, 1.0).data.any()
    x32 = cr.ones(4, 4)
    assert F.dropout(x32, 0.5, rng=0).dtype == np.float32
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout(1.5)


# ============================================================================ MSE
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_value_and_gradient(reduction):
    x, y = RNG.standard_normal((2, 4, 3))
    a, t = leaf(x), leaf(y)
    out = nn.MSELoss(reduction=reduction)(a, t)
    np.testing.assert_allclose(out.data, reduce_np((x - y) ** 2, reduction))
    backward(out)
    np.testing.assert_allclose(a.grad.data, 2 * (x - y) * grad_scale(x.shape, reduction))
    np.testing.assert_allclose(t.grad.data, -a.grad.data)
    assert cr.gradcheck(lambda a, b: F.mse_loss(a, b, reduction), [x, y])


# ============================================================================ BCE
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_value_and_gradient(reduction):
    p = RNG.uniform(0.05, 0.95, (5, 2))
    y = RNG.integers(0, 2, (5, 2)).astype(np.float64)
    a = leaf(p)
    out = nn.BCELoss(reduction=reduction)(a, y)
    np.testing.assert_allclose(
        out.data, reduce_np(-(y * np.log(p) + (1 - y) * np.log(1 - p)), reduction)
    )
    backward(out)
    np.testing.assert_allclose(
        a.grad.data, (p - y) / (p * (1 - p)) * grad_scale(p.shape, reduction)
    )
    assert cr.gradcheck(
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
        [p, RNG.uniform(0, 1, (5, 2))],
    )
    assert cr.gradgradcheck(
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
        [p, RNG.uniform(0, 1, (5, 2))],
    )


def test_bce_clamps_log_at_minus_100():
    p = leaf([0.0, 1.0, 0.0, 1.0, 1e-50])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    with np.errstate(divide="ignore"):
        out = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_array_equal(out.data, [100, 100, 0, 0, 100])
    backward(out)
    # PyTorch's gradient: (p - y) / max(p (1 - p), 1e-12), finite at 0 and 1.
    np.testing.assert_allclose(p.grad.data, [-1e12, 1e12, 0, 0, -1e12])


def test_sigmoid_then_bce_gives_a_minus_y():
    z = RNG.standard_normal(6)
    y = RNG.integers(0, 2, 6).astype(np.float64)
    logits = leaf(z)
    F.binary_cross_entropy(cr.sigmoid(logits), y, reduction="sum").backward()
    np.testing.assert_allclose(logits.grad.data, sigmoid_np(z) - y, rtol=1e-10)


def test_bce_weight():
    p, y, w = RNG.uniform(0.1, 0.9, (3, 4)), RNG.uniform(0, 1, (3, 4)), RNG.uniform(0, 2, 4)
    a = leaf(p)
    out = F.binary_cross_entropy(a, y, weight=w)
    np.testing.assert_allclose(out.data, np.mean(-w * (y * np.log(p) + (1 - y) * np.log(1 - p))))
    out.backward()
    np.testing.assert_allclose(a.grad.data, w * (p - y) / (p * (1 - p)) / p.size)


# ============================================================================ BCE with logits
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_value_and_exact_gradient(reduction):
    z = RNG.standard_normal((8, 3)) * 3
    y = RNG.integers(0, 2, (8, 3)).astype(np.float64)
    x = leaf(z)
    out = nn.BCEWithLogitsLoss(reduction=reduction)(x, y)
    a = sigmoid_np(z)
    np.testing.assert_allclose(
        out.data, reduce_np(-(y * np.log(a) + (1 - y) * np.log(1 - a)), reduction)
    )
    backward(out)
    # dz = a - y, divided by N = 24 for 'mean'.
    np.testing.assert_allclose(
        x.grad.data, (a - y) * grad_scale(z.shape, reduction), rtol=1e-12, atol=1e-15
    )
    soft = RNG.uniform(0, 1, (8, 3))
    assert cr.gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), [z, soft]
    )
    assert cr.gradgradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), [z, soft]
    )


def test_logistic_regression_gradient_is_x_transpose_a_minus_y():
    X = RNG.standard_normal((10, 3))
    y = RNG.integers(0, 2, 10).astype(np.float64)
    model = nn.Linear(3, 1, dtype=np.float64, rng=0)
    z = model(cr.tensor(X))
    loss = F.binary_cross_entropy_with_logits(z, y.reshape(10, 1))
    loss.backward()
    dz = (sigmoid_np(z.data) - y.reshape(10, 1)) / 10
    np.testing.assert_allclose(model.weight.grad.data, dz.T @ X, rtol=1e-12)
    np.testing.assert_allclose(model.bias.grad.data, dz.sum(axis=0), rtol=1e-12)


def test_bce_with_logits_is_finite_at_plus_minus_1000():
    z = leaf([1000.0, -1000.0, 1000.0, -1000.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    np.testing.assert_array_equal(out.data, [0, 0, 1000, 1000])
    backward(out)
    np.testing.assert_array_equal(z.grad.data, [0, 0, 1, -1])  # exactly sigmoid(x) - y
    z32 = cr.tensor([1000.0, -1000.0], requires_grad=True)
    out32 = F.binary_cross_entropy_with_logits(z32, cr.tensor([0.0, 0.0]))
    out32.backward()
    assert out32.dtype == np.float32 and np.isfinite(out32.item())
    np.testing.assert_array_equal(z32.grad.data, [0.5, 0.0])


def test_bce_with_logits_pos_weight_and_weight():
    z, y = RNG.standard_normal((4, 3)), RNG.uniform(0, 1, (4, 3))
    pw, w = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0])
    x = leaf(z)
    out = F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction="sum")
    a = sigmoid_np(z)
    np.testing.assert_allclose(
        out.data, np.sum(-w * (pw * y * np.log(a) + (1 - y) * np.log(1 - a)))
    )
    out.backward()
    np.testing.assert_allclose(x.grad.data, w * ((1 - y) * a - pw * y * (1 - a)))
    assert cr.gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=pw), [z, y]
    )


# ============================================================================ cross-entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_indices_value_and_softmax_minus_onehot(reduction):
    z = RNG.standard_normal((6, 4)) * 2
    t = RNG.integers(0, 4, 6)
    x = leaf(z)
    out = nn.CrossEntropyLoss(reduction=reduction)(x, cr.tensor(t))
    logp = np.log(softmax_np(z))
    np.testing.assert_allclose(out.data, reduce_np(-logp[np.arange(6), t], reduction))
    backward(out)
    onehot = np.eye(4)[t]
    scale = 1 / 6 if reduction == "mean" else 1.0
    np.testing.assert_allclose(x.grad.data, (softmax_np(z) - onehot) * scale, rtol=1e-12)
    assert cr.gradcheck(lambda a: F.cross_entropy(a, t, reduction=reduction), [z])
    assert cr.gradgradcheck(lambda a: F.cross_entropy(a, t, reduction=reduction), [z])


def test_cross_entropy_is_finite_and_exact_at_plus_minus_1000():
    z = leaf([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0], [0.0, 0.0, -1000.0]])
    out = F.cross_entropy(z, np.array([1, 1, 2]), reduction="none")
    np.testing.assert_allclose(out.data, [2000, 0, 1000 + np.log(2)])
    backward(out)
    np.testing.assert_array_equal(z.grad.data, [[1, -1, 0], [0, 0, 0], [0.5, 0.5, -1]])
    z32 = cr.tensor([[1000.0, -1000.0]], requires_grad=True)
    out32 = F.cross_entropy(z32, cr.tensor([0]))
    out32.backward()
    assert out32.dtype == np.float32 and z32.grad.dtype == np.float32
    np.testing.assert_array_equal(z32.grad.data, [[0, 0]])


def test_cross_entropy_weight_ignore_index_and_label_smoothing():
    z = RNG.standard_normal((5, 3))
    t = np.array([0, 2, -100, 1, 2])
    w = np.array([0.5, 2.0, 1.0])
    logp = np.log(softmax_np(z))
    valid = t != -100
    safe = np.where(valid, t, 0)
    sample_w = w[safe] * valid
    nll = -logp[np.arange(5), safe] * sample_w
    x = leaf(z)
    out = F.cross_entropy(x, t, weight=w)
    np.testing.assert_allclose(out.data, nll.sum() / sample_w.sum())
    out.backward()
    expected = (softmax_np(z) - np.eye(3)[safe]) * (sample_w / sample_w.sum())[:, None]
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)
    # Label smoothing e: (1 - e) * CE + e / C * sum_c -w_c log p_c, over the same weight.
    smooth = (-(logp * w).sum(axis=1) * valid).sum() / sample_w.sum()
    out = F.cross_entropy(leaf(z), t, weight=w, label_smoothing=0.3)
    np.testing.assert_allclose(out.data, 0.7 * nll.sum() / sample_w.sum() + 0.1 * smooth)
    assert cr.gradcheck(lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=0.3), [z])


@pytest.mark.parametrize(
    "ignore_index, t", [(1, [0, 1, 2, 1]), (1, [0, 2, 2, 0]), (-100, [0, 1, 2, 1])]
)
def test_cross_entropy_ignores_a_class_index_only_where_a_target_is_it(ignore_index, t):
    z, t = RNG.standard_normal((4, 3)), np.array(t)
    valid = t != ignore_index
    x = leaf(z)
    out = F.cross_entropy(x, t, ignore_index=ignore_index)
    nll = -np.log(softmax_np(z))[np.arange(4), t]
    np.testing.assert_allclose(out.data, nll[valid].mean())
    out.backward()
    expected = (softmax_np(z) - np.eye(3)[t]) * valid[:, None] / valid.sum()
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)


def test_cross_entropy_with_every_target_ignored_is_nan_without_nan_gradients():
    x = leaf(RNG.standard_normal((2, 3)))
    out = F.cross_entropy(x, np.array([-100, -100]))
    assert np.isnan(out.item())
    out.backward()
    np.testing.assert_array_equal(x.grad.data, 0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets(reduction):
    z = RNG.standard_normal((4, 5))
    probs = RNG.dirichlet(np.ones(5), 4)
    x, t = leaf(z), leaf(probs)
    out = F.cross_entropy(x, t, reduction=reduction)
    logp = np.log(softmax_np(z))
    np.testing.assert_allclose(out.data, reduce_np(-(probs * logp).sum(axis=1), reduction))
    backward(out)
    scale = 1 / 4 if reduction == "mean" else 1.0
    np.testing.assert_allclose(x.grad.data, (softmax_np(z) - probs) * scale, atol=1e-15)
    np.testing.assert_allclose(t.grad.data, -logp * scale)
    assert cr.gradcheck(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [z, probs])


def test_cross_entropy_higher_dimensional_and_one_dimensional_inputs():
    z = RNG.standard_normal((2, 3, 4))  # (N, C, d)
    t = RNG.integers(0, 3, (2, 4))
    out = F.cross_entropy(cr.tensor(z), t, reduction="none")
    logp = np.log(softmax_np(z, axis=1))
    expected = -np.take_along_axis(logp, t[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(out.data, expected)
    assert cr.gradcheck(lambda a: F.cross_entropy(a, t), [z])
    v = RNG.standard_normal(4)  # (C,) with a 0-d target
    single = F.cross_entropy(cr.tensor(v), np.array(2), reduction="none")
    assert single.shape == ()
    np.testing.assert_allclose(single.item(), -np.log(softmax_np(v))[2])
    assert cr.gradcheck(lambda a: F.cross_entropy(a, np.array(2)), [v])


# ============================================================================ NLL
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    z = RNG.standard_normal((5, 3))
    t = RNG.integers(0, 3, 5)
    logp = leaf(np.log(softmax_np(z)))
    out = nn.NLLLoss(reduction=reduction)(logp, t)
    np.testing.assert_allclose(out.data, reduce_np(-logp.data[np.arange(5), t], reduction))
    backward(out)
    scale = 0.2 if reduction == "mean" else 1.0
    np.testing.assert_allclose(logp.grad.data, -np.eye(3)[t] * scale)
    x = leaf(z)
    nll = F.nll_loss(F.log_softmax(x, dim=1), t, reduction=reduction)
    ce = F.cross_entropy(cr.tensor(z), t, reduction=reduction)
    np.testing.assert_allclose(nll.data, ce.data, rtol=1e-12)
    assert cr.gradcheck(lambda a: F.nll_loss(a, t, reduction=reduction), [z])


# ============================================================================ multi-margin
def multi_margin_np(x, t, p=1, margin=1.0, weight=None):
    n, c = x.shape
    losses = np.zeros(n)
    grad = np.zeros_like(x)
    for i in range(n):
        scale = 1.0 if weight is None else weight[t[i]]
        for j in range(c):
            z = margin - x[i, t[i]] + x[i, j]
            if j == t[i] or z <= 0:
                continue
            losses[i] += scale * z**p / c
            dz = scale * (p * z ** (p - 1)) / c
            grad[i, j] += dz
            grad[i, t[i]] -= dz
    return losses, grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_value_and_gradient(reduction, p):
    z = RNG.standard_normal((6, 4))
    t = RNG.integers(0, 4, 6)
    w = RNG.uniform(0.5, 2.0, 4)
    x = leaf(z)
    out = nn.MultiMarginLoss(p=p, margin=0.8, weight=w, reduction=reduction)(x, t)
    losses, grad = multi_margin_np(z, t, p, 0.8, w)
    np.testing.assert_allclose(out.data, reduce_np(losses, reduction))
    backward(out)
    np.testing.assert_allclose(x.grad.data, grad / (6 if reduction == "mean" else 1))
    assert cr.gradcheck(lambda a: F.multi_margin_loss(a, t, p=p, reduction=reduction), [z])


def test_multi_margin_loss_hinge_formula_by_hand():
    # Scores (3, 1, 2.5), target 0: terms max(0, 1 - 3 + 1) = 0 and max(0, 1 - 3 + 2.5) = 0.5.
    x = leaf([[3.0, 1.0, 2.5]])
    out = F.multi_margin_loss(x, np.array([0]))
    assert out.item() == pytest.approx(0.5 / 3)
    out.backward()
    np.testing.assert_allclose(x.grad.data, [[-1 / 3, 0, 1 / 3]])
    single = F.multi_margin_loss(cr.tensor([3.0, 1.0, 2.5]), np.array(0), reduction="none")
    assert single.shape == () and single.item() == pytest.approx(0.5 / 3)


# ============================================================================ errors
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss, F.multi_margin_loss])
def test_out_of_range_class_indices_raise(loss):
    x = cr.randn(4, 5)
    name = loss.__name__
    with pytest.raises(
        ValueError,
        match=rf"{name}: target 5 at position \(2,\) is out of "
        r"range for input of shape \(4, 5\)",
    ):
        loss(x, np.array([0, 1, 5, 2]))
    for dtype in (np.int8, np.int32, np.int64):  # negative, whatever the integer width
        with pytest.raises(ValueError, match=rf"{name}: target -1 .*in \[0, 5\)"):
            loss(x, np.array([0, -1, 1, 2], dtype=dtype))
    in_range = np.array([0, 4, 1, 2])
    for target in (in_range.astype(np.uint8), in_range.astype(np.int16), in_range[::-1]):
        assert loss(x, target).item() == pytest.approx(loss(x, target.astype(np.int64)).item())
    with pytest.raises(
        cr.ShapeError,
        match=rf"{name}: target of shape \(3,\) does not match "
        r"input of shape \(4, 5\)",
    ):
        loss(x, np.array([0, 1, 2]))


def test_target_errors_name_the_loss_and_shapes():
    x = cr.randn(4, 5)
    with pytest.raises(
        ValueError,
        match=r"cross_entropy: class-index targets must be "
        r"integers, got dtype float32",
    ):
        F.cross_entropy(x, cr.tensor([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(
        cr.ShapeError,
        match=r"mse_loss: target of shape \(4,\) does not "
        r"match input of shape \(4, 5\)",
    ):
        F.mse_loss(x, cr.zeros(4))
    with pytest.raises(cr.ShapeError, match="binary_cross_entropy_with_logits: target"):
        F.binary_cross_entropy_with_logits(x, cr.zeros(5, 4))
    with pytest.raises(
        ValueError,
        match=r"binary_cross_entropy: input of shape \(2,\) holds "
        r"1.5",
    ):
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), cr.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(cr.ShapeError, match=r"weight of shape \(3,\) must have shape \(5,\)"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]), weight=np.ones(3))
    with pytest.raises(cr.ShapeError, match=r"pos_weight of shape \(4,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, cr.zeros(4, 5), pos_weight=np.ones(4))
    # ignore_index is allowed even though it is out of range.
    F.cross_entropy(x, np.array([0, -100, 2, 3]))


# ============================================================================ dtype
def test_losses_keep_float32():
    x = cr.tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    probs = cr.tensor(RNG.uniform(0.1, 0.9, (4, 3)).astype(np.float32), requires_grad=True)
    t = np.array([0, 2, 1, 1])
    soft = RNG.dirichlet(np.ones(3), 4)  # float64 targets are cast to the input's dtype
    w = np.array([1.0, 2.0, 0.5])
    outputs = [
        F.mse_loss(x, soft),
        F.binary_cross_entropy(probs, soft, weight=w),
        F.binary_cross_entropy_with_logits(x, soft, weight=w, pos_weight=w),
        F.cross_entropy(x, t, weight=w, label_smoothing=0.1),
        F.cross_entropy(x, soft),
        F.nll_loss(x, t, weight=w),
        F.multi_margin_loss(x, t, p=2, weight=w),
        F.softmax(x),
        F.log_softmax(x),
        F.leaky_relu(x),
        F.dropout(x, 0.5),
    ]
    for reduction in REDUCTIONS:
        outputs.append(F.cross_entropy(x, t, reduction=reduction))
    for i, out in enumerate(outputs):
        assert out.dtype == np.float32, i
        x.grad = probs.grad = None
        backward(out)
        for leaf_ in (x, probs):
            assert leaf_.grad is None or leaf_.grad.dtype == np.float32, i


def test_ndarray_inputs_give_ndarrays():
    z = RNG.standard_normal((3, 4))
    value = F.cross_entropy(z, np.array([0, 1, 2]))
    assert not isinstance(value, cr.Tensor)
    np.testing.assert_allclose(value, F.cross_entropy(cr.tensor(z), np.array([0, 1, 2])).item())


def test_one_hot():
    out = F.one_hot(cr.tensor([0, 2, 1]))
    assert isinstance(out, cr.Tensor) and out.dtype == np.int64
    np.testing.assert_array_equal(out.data, np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(np.array([[1], [0]]), num_classes=4).shape == (2, 1, 4)
    with pytest.raises(ValueError, match="class index 4 is out of range for 3 classes"):
        F.one_hot(np.array([0, 4]), num_classes=3)


# ============================================================================ registry
@pytest.mark.parametrize("name", LOSS_OPS)
def test_fused_loss_ops_are_registered_and_pass_their_specs(name):
    op = REGISTRY[name]
    spec = op.spec
    assert spec is not None and spec.cases
    rng = np.random.default_rng(0)
    for case in spec.cases:
        low, high = case.domain or spec.domain
        arrays = [rng.uniform(low, high, shape) for shape in case.shapes]
        f = lambda *xs, params=case.params: op(*xs, **params)
        assert cr.gradcheck(f, arrays)
        assert cr.gradgradcheck(f, arrays)


# ============================================================================ PyTorch
def _torch_pair(torch, arrays, grads):
    ours = [cr.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    return ours, theirs


def _torch_cases(torch):
    TF = torch.nn.functional
    rng = np.random.default_rng(7)
    z = rng.standard_normal((6, 5)) * 3
    t = rng.integers(0, 5, 6)
    t_ignored = t.copy()
    t_ignored[[1, 4]] = -100
    p = rng.uniform(0.02, 0.98, (6, 5))
    soft = rng.uniform(0, 1, (6, 5))
    probs = rng.dirichlet(np.ones(5), 6)
    w = rng.uniform(0.5, 2.0, 5)
    big = np.array([[1000.0, -1000.0, 0.0, 5.0, -3.0], [-1000.0, 1000.0, 2.0, 0.0, 1.0]])
    z3, t3 = rng.standard_normal((3, 5, 4)), rng.integers(0, 5, (3, 4))
    tw, tt = torch.tensor(w), torch.tensor
    return {
        "mse": ([z, soft], [True, True], F.mse_loss, TF.mse_loss),
        "bce": ([p, soft], [True, True], F.binary_cross_entropy, TF.binary_cross_entropy),
        "bce_weight": (
            [p, soft],
            [True, False],
            lambda a, b, reduction: F.binary_cross_entropy(a, b, w, reduction),
            lambda a, b, reduction: TF.binary_cross_entropy(a, b, tw, reduction=reduction),
        ),
        "bce_logits": (
            [z, soft],
            [True, True],
            F.binary_cross_entropy_with_logits,
            TF.binary_cross_entropy_with_logits,
        ),
        "bce_logits_pos_weight": (
            [z, soft],
            [True, True],
            lambda a, b, reduction: F.binary_cross_entropy_with_logits(
                a, b, weight=w[::-1].copy(), pos_weight=w, reduction=reduction
            ),
            lambda a, b, reduction: TF.binary_cross_entropy_with_logits(
                a, b, weight=tt(w[::-1].copy()), pos_weight=tw, reduction=reduction
            ),
        ),
        "bce_logits_1000": (
            [big, (big > 0).astype(float)],
            [True, False],
            F.binary_cross_entropy_with_logits,
            TF.binary_cross_entropy_with_logits,
        ),
        "cross_entropy": (
            [z],
            [True],
            lambda a, reduction: F.cross_entropy(a, t, reduction=reduction),
            lambda a, reduction: TF.cross_entropy(a, tt(t), reduction=reduction),
        ),
        "cross_entropy_1000": (
            [big],
            [True],
            lambda a, reduction: F.cross_entropy(a, np.array([1, 0]), reduction=reduction),
            lambda a, reduction: TF.cross_entropy(a, tt([1, 0]), reduction=reduction),
        ),
        "cross_entropy_options": (
            [z],
            [True],
            lambda a, reduction: F.cross_entropy(
                a, t_ignored, w, reduction=reduction, label_smoothing=0.2
            ),
            lambda a, reduction: TF.cross_entropy(
                a, tt(t_ignored), tw, reduction=reduction, label_smoothing=0.2
            ),
        ),
        "cross_entropy_3d": (
            [z3],
            [True],
            lambda a, reduction: F.cross_entropy(a, t3, w, reduction=reduction),
            lambda a, reduction: TF.cross_entropy(a, tt(t3), tw, reduction=reduction),
        ),
        "cross_entropy_probabilities": (
            [z, probs],
            [True, True],
            lambda a, b, reduction: F.cross_entropy(
                a, b, w, reduction=reduction, label_smoothing=0.1
            ),
            lambda a, b, reduction: TF.cross_entropy(
                a, b, tw, reduction=reduction, label_smoothing=0.1
            ),
        ),
        "nll": (
            [z],
            [True],
            lambda a, reduction: F.nll_loss(a, t_ignored, w, reduction=reduction),
            lambda a, reduction: TF.nll_loss(a, tt(t_ignored), tw, reduction=reduction),
        ),
        "multi_margin": (
            [z],
            [True],
            lambda a, reduction: F.multi_margin_loss(a, t, reduction=reduction),
            lambda a, reduction: TF.multi_margin_loss(a, tt(t), reduction=reduction),
        ),
        "multi_margin_p2_weight": (
            [z],
            [True],
            lambda a, reduction: F.multi_margin_loss(a, t, 2, 0.5, w, reduction),
            lambda a, reduction: TF.multi_margin_loss(a, tt(t), 2, 0.5, tw, reduction=reduction),
        ),
    }


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_agree_with_pytorch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for name, (arrays, grads, ours_fn, theirs_fn) in _torch_cases(torch).items():
        ours, theirs = _torch_pair(torch, arrays, grads)
        out, expected = ours_fn(*ours, reduction=reduction), theirs_fn(*theirs, reduction=reduction)
        np.testing.assert_allclose(
            out.data, expected.detach().numpy(), rtol=1e-6, atol=1e-6, err_msg=name
        )
        seed = rng.standard_normal(out.shape)
        out.backward(seed)
        expected.backward(torch.tensor(seed))
        for a, b, g in zip(ours, theirs, grads):
            if g:
                np.testing.assert_allclose(
                    a.grad.data, b.grad.numpy(), rtol=1e-6, atol=1e-6, err_msg=name
                )


def test_modules_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(
        nn.Linear(4, 8, dtype=np.float64, rng=0),
        nn.LeakyReLU(0.1),
        nn.Linear(8, 3, dtype=np.float64, rng=1),
        nn.LogSoftmax(dim=1),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(8, 3),
        torch.nn.LogSoftmax(dim=1),
    ).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = RNG.standard_normal((5, 4))
    t = RNG.integers(0, 3, 5)
    loss = nn.NLLLoss()(ours(cr.tensor(x)), t)
    expected = torch.nn.NLLLoss()(theirs(torch.tensor(x)), torch.tensor(t))
    loss.backward()
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-12)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), atol=1e-12, err_msg=name)
    # Default init draws from PyTorch's interval, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    assert np.abs(theirs[0].weight.detach().numpy()).max() <= 0.5
