"""Normalisation layers and Module buffers, checked against PyTorch in float64.

Values and gradients of batch_norm, layer_norm and group_norm (functions and modules)
must equal PyTorch's to 1e-10 relative: both sides are exact float64 formulas, only the
order of the rounding differs (about 1e-15). Running statistics, eval mode and state
dicts are compared after several training steps.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.norm import BatchNorm1d, BatchNorm2d, Dropout2d, GroupNorm, LayerNorm
from chainrule.ops import norm as norm_ops
from chainrule.ops.norm import batch_norm, dropout2d, group_norm, layer_norm
from chainrule.ops.registry import COMPOSITES, REGISTRY

torch = pytest.importorskip("torch")

RTOL = 1e-10  # float64 on both sides: rounding order only (about 1e-15) separates them
ATOL = 1e-12


def close(ours, theirs, rtol=RTOL, atol=ATOL):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    ours = ours.numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def pair(array, grad=True):
    """The same float64 values as a chainrule Tensor and a torch tensor."""
    array = np.asarray(array, dtype=np.float64)
    return (
        cr.tensor(array.copy(), requires_grad=grad),
        torch.tensor(array.copy(), requires_grad=grad),
    )


def backward_both(ours, theirs, seed):
    cotangent = np.random.default_rng(seed).standard_normal(ours.shape)
    ours.backward(cotangent)
    theirs.backward(torch.tensor(cotangent))


@pytest.fixture(params=[None, 7], ids=["one-block", "many-blocks"])
def blocks(request, monkeypatch):
    """Run a test as written, and with the plain rules' blocks shrunk to a few elements so
    that their block-by-block path (large inputs) is exercised on small ones too."""
    if request.param is not None:
        monkeypatch.setattr(norm_ops, "_BLOCK", request.param)
    return request.param


# ============================================================================ buffers
class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2, dtype=np.float64, rng=0)
        self.register_buffer("steps", np.array(0, dtype=np.int64))
        self.register_buffer("scale", cr.tensor(np.ones(2)))
        self.register_buffer("cache", np.zeros(3), persistent=False)
        self.register_buffer("nothing", None)


def test_buffers_sit_beside_parameters():
    m = WithBuffers()
    assert [n for n, _ in m.named_parameters()] == ["linear.weight", "linear.bias"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "scale", "cache"]
    assert len(list(m.buffers())) == 3 and not any(b.requires_grad for b in m.buffers())
    # As PyTorch: a module's own parameters and buffers, then its children's.
    assert list(m.state_dict()) == ["steps", "scale", "linear.weight", "linear.bias"]
    assert isinstance(m.steps, cr.Tensor) and m.steps.dtype == np.int64
    assert m.nothing is None
    assert m.scale.name == "scale"  # named after its path, for graph pictures
    outer = nn.Sequential(m)
    assert m.scale.name == "0.scale"
    assert [n for n, _ in outer.named_buffers()] == ["0.steps", "0.scale", "0.cache"]
    assert [n for n, _ in outer.named_buffers(recurse=False)] == []


def test_buffer_assignment_deletion_and_errors():
    m = WithBuffers()
    m.scale = np.full(2, 3.0)  # an ndarray is wrapped as a Tensor
    assert isinstance(m.scale, cr.Tensor) and m.scale.numpy().tolist() == [3.0, 3.0]
    m.scale = None
    assert "scale" not in m.state_dict()
    with pytest.raises(TypeError, match="buffer 'steps'"):
        m.steps = [1, 2]
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("linear", np.zeros(1))
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer("a.b", np.zeros(1))
    with pytest.raises(TypeError, match="buffer name"):
        m.register_buffer(3, np.zeros(1))
    with pytest.raises(TypeError):
        m.register_buffer("bad", "text")
    del m.cache
    assert "cache" not in dict(m.named_buffers())
    with pytest.raises(AttributeError):
        _ = m.cache
    m.steps = nn.Parameter(np.zeros(1))  # a Parameter replaces the buffer
    assert "steps" not in dict(m.named_buffers()) and "steps" in dict(m.named_parameters())

    class Early(nn.Module):
        def __init__(self):
            self.register_buffer("x", np.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_non_persistent_buffer_can_become_persistent():
    m = WithBuffers()
    m.register_buffer("cache", np.ones(3))
    assert "cache" in m.state_dict()


def test_buffers_load_keep_their_dtype_and_identity():
    m, source = WithBuffers(), WithBuffers()
    source.steps.data = np.array(7, dtype=np.int64)
    source.scale.data = np.array([2.0, 5.0])
    steps = m.steps
    result = m.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert m.steps is steps and m.steps.dtype == np.int64 and m.steps.item() == 7
    assert m.scale.numpy().tolist() == [2.0, 5.0]
    state = source.state_dict()
    state["scale"] = np.zeros(3)
    with pytest.raises(RuntimeError, match="size mismatch for scale"):
        m.load_state_dict(state)
    del state["scale"]
    with pytest.raises(RuntimeError, match='Missing key.*"scale"'):
        m.load_state_dict(state)


def test_to_converts_floating_buffers_only():
    m = WithBuffers().float()
    assert m.scale.dtype == np.float32 and m.cache.dtype == np.float32
    assert m.steps.dtype == np.int64


def test_a_checkpoint_keeps_buffers(tmp_path):
    model = nn.Sequential(BatchNorm1d(3, dtype=np.float64))
    model(cr.tensor(np.random.default_rng(0).standard_normal((6, 3))))
    cr.save(model.state_dict(), tmp_path / "bn.npz")
    restored = cr.load(tmp_path / "bn.npz")
    assert restored["0.num_batches_tracked"].dtype == np.int64
    clone = nn.Sequential(BatchNorm1d(3, dtype=np.float64))
    clone.load_state_dict(restored)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(clone.state_dict()[key], value)


# ============================================================================ functional
BN_SHAPES = [(4, 3), (3, 2, 5), (2, 3, 4, 5), (1, 3, 3, 3), (5, 1, 7)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_batch_norm_training_matches_torch(shape, affine, blocks):
    rng = np.random.default_rng(1)
    channels = shape[1]
    x, tx = pair(rng.standard_normal(shape) * 3 + 2)
    w, tw = pair(rng.standard_normal(channels)) if affine != "none" else (None, None)
    b, tb = pair(rng.standard_normal(channels)) if affine == "both" else (None, None)
    rm, rv = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    trm, trv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    ours = batch_norm(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-4)
    theirs = torch.nn.functional.batch_norm(
        tx, trm, trv, tw, tb, training=True, momentum=0.3, eps=1e-4
    )
    close(ours, theirs)
    close(rm, trm)  # updated in place, with the unbiased variance
    close(rv, trv)
    backward_both(ours, theirs, 2)
    for mine, reference in [(x, tx), (w, tw), (b, tb)]:
        if mine is not None:
            close(mine.grad, reference.grad)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_eval_matches_torch(shape):
    rng = np.random.default_rng(3)
    channels = shape[1]
    x, tx = pair(rng.standard_normal(shape))
    w, tw = pair(rng.standard_normal(channels))
    b, tb = pair(rng.standard_normal(channels))
    rm, rv = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    ours = batch_norm(x, cr.tensor(rm), cr.tensor(rv), w, b)
    theirs = torch.nn.functional.batch_norm(tx, torch.tensor(rm), torch.tensor(rv), tw, tb)
    close(ours, theirs)
    backward_both(ours, theirs, 4)
    for mine, reference in [(x, tx), (w, tw), (b, tb)]:
        close(mine.grad, reference.grad)


@pytest.mark.parametrize(
    "shape, normalized", [((4, 5), 5), ((2, 3, 4), (3, 4)), ((3, 2, 2, 5), [5]), ((1, 6), (6,))]
)
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_layer_norm_matches_torch(shape, normalized, affine, blocks):
    rng = np.random.default_rng(5)
    param_shape = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    x, tx = pair(rng.standard_normal(shape) * 2 - 1)
    w, tw = pair(rng.standard_normal(param_shape)) if affine in ("both", "weight") else (None, None)
    b, tb = pair(rng.standard_normal(param_shape)) if affine in ("both", "bias") else (None, None)
    ours = layer_norm(x, normalized, w, b, eps=1e-3)
    theirs = torch.nn.functional.layer_norm(tx, param_shape, tw, tb, eps=1e-3)
    close(ours, theirs)
    backward_both(ours, theirs, 6)
    for mine, reference in [(x, tx), (w, tw), (b, tb)]:
        if mine is not None:
            close(mine.grad, reference.grad)


@pytest.mark.parametrize(
    "shape, groups",
    [((2, 6, 5), 3), ((3, 4, 3, 3), 2), ((1, 4, 2, 3), 4), ((4, 6), 2), ((2, 3, 7), 1)],
)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_group_norm_matches_torch(shape, groups, affine, blocks):
    rng = np.random.default_rng(7)
    channels = shape[1]
    x, tx = pair(rng.standard_normal(shape) + 1)
    w, tw = pair(rng.standard_normal(channels)) if affine != "none" else (None, None)
    b, tb = pair(rng.standard_normal(channels)) if affine == "both" else (None, None)
    ours = group_norm(x, groups, w, b)
    theirs = torch.nn.functional.group_norm(tx, groups, tw, tb)
    close(ours, theirs)
    backward_both(ours, theirs, 8)
    for mine, reference in [(x, tx), (w, tw), (b, tb)]:
        if mine is not None:
            close(mine.grad, reference.grad)


NORMS = {
    "batch_norm": (
        lambda f, x, w, b: f(x, None, None, w, b, True),
        lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, True),
        (3, 4, 2, 3),
        (4,),
    ),
    "layer_norm": (
        lambda f, x, w, b: f(x, (2, 3), w, b),
        lambda x, w, b: torch.nn.functional.layer_norm(x, (2, 3), w, b),
        (3, 4, 2, 3),
        (2, 3),
    ),
    "group_norm": (
        lambda f, x, w, b: f(x, 2, w, b),
        lambda x, w, b: torch.nn.functional.group_norm(x, 2, w, b),
        (3, 4, 2, 3),
        (4,),
    ),
}


@pytest.mark.parametrize("name", sorted(NORMS))
def test_second_order_matches_torch(name, blocks):
    """Double backward (a Hessian-vector product through the classic formula) equals
    PyTorch's, for the input, the weight and the bias."""
    ours_call, torch_call, shape, param_shape = NORMS[name]
    function = getattr(norm_ops, name)
    rng = np.random.default_rng(9)
    x, tx = pair(rng.standard_normal(shape))
    w, tw = pair(rng.standard_normal(param_shape))
    b, tb = pair(rng.standard_normal(param_shape))
    cotangent = rng.standard_normal(shape)
    direction = [rng.standard_normal(shape), rng.standard_normal(param_shape)]

    out = ours_call(function, x, w, b)
    gx, gw = cr.autograd.grad(out, [x, w], grad_outputs=cotangent, create_graph=True)
    ((gx * cr.tensor(direction[0])).sum() + (gw * cr.tensor(direction[1])).sum()).backward()
    theirs = torch_call(tx, tw, tb)
    tgx, tgw = torch.autograd.grad(theirs, [tx, tw], torch.tensor(cotangent), create_graph=True)
    ((tgx * torch.tensor(direction[0])).sum() + (tgw * torch.tensor(direction[1])).sum()).backward()
    close(gx.detach(), tgx)
    close(gw.detach(), tgw)
    for mine, reference in [(x, tx), (w, tw), (b, tb)]:
        # b has no second-order term: both give None or 0.
        if reference.grad is None:
            assert mine.grad is None or not np.any(mine.grad.numpy())
        else:
            close(mine.grad, reference.grad)


def _my_cases():
    names = ("normalization", "batch_norm", "layer_norm", "group_norm")
    table = [REGISTRY["normalization"]] + [COMPOSITES[n] for n in names[1:]]
    return [
        pytest.param(op, case, id=f"{op.name}-{i}")
        for op in table
        for i, case in enumerate(op.spec.cases)
    ]


@pytest.mark.parametrize("op, case", _my_cases())
def test_graph_building_rules_agree_with_the_plain_ones(op, case):
    """The rules have a NumPy path (plain backward) and a graph path (create_graph=True);
    the suite's gradgradcheck differentiates the second, gradcheck checks the first: here
    both give the same first-order gradient."""
    rng = np.random.default_rng(10)
    inputs = [rng.uniform(0.2, 2.0, shape) for shape in case.shapes]

    def gradients(create_graph):
        tensors = [cr.tensor(a, requires_grad=True) for a in inputs]
        if op.spec.call is not None:
            out = op.spec.call(op, *tensors, **case.params)
        else:
            out = op(*tensors, **case.params)
        cotangent = np.random.default_rng(11).standard_normal(out.shape)
        grads = cr.autograd.grad(out, tensors, grad_outputs=cotangent, create_graph=create_graph)
        return [g.detach().numpy() for g in grads]

    for plain, built in zip(gradients(False), gradients(True)):
        np.testing.assert_allclose(built, plain, rtol=1e-10, atol=1e-12)


def test_norms_keep_float32_and_give_arrays_for_arrays():
    rng = np.random.default_rng(12)
    x = cr.tensor(rng.standard_normal((4, 3, 2, 2)).astype(np.float32), requires_grad=True)
    w = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    running = np.zeros(3, np.float32), np.ones(3, np.float32)
    for out in (
        batch_norm(x, *running, w, None, training=True),
        batch_norm(x, *running, w),
        layer_norm(x, (2, 2)),
        group_norm(x, 3, w),
    ):
        assert out.dtype == np.float32
        out.backward(np.ones(out.shape, np.float32))
        assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    assert running[0].dtype == np.float32 and running[1].dtype == np.float32
    plain = layer_norm(x.numpy(), 2)
    assert type(plain) is np.ndarray and plain.dtype == np.float32
    assert type(batch_norm(x.numpy(), *running)) is np.ndarray


def test_constant_input_is_finite():
    x = cr.tensor(np.full((3, 2, 4), 5.0), requires_grad=True)
    out = batch_norm(x, None, None, training=True)
    out.backward(np.random.default_rng(0).standard_normal(out.shape))
    assert np.all(out.numpy() == 0) and np.all(np.isfinite(x.grad.numpy()))


def test_norm_errors_name_the_function_and_shapes():
    x = np.zeros((2, 3, 4))
    with pytest.raises(cr.ShapeError, match=r"batch_norm: weight of shape \(4,\).*\(2, 3, 4\)"):
        batch_norm(x, None, None, np.ones(4), training=True)
    with pytest.raises(cr.ShapeError, match=r"batch_norm: running_mean of shape \(2,\)"):
        batch_norm(x, np.zeros(2), np.ones(3))
    with pytest.raises(cr.ShapeError, match="batch_norm.*shape \\(3,\\)"):
        batch_norm(np.zeros(3), None, None, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(np.zeros((1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match="must be given in evaluation mode"):
        batch_norm(x, None, None)
    with pytest.raises(ValueError, match="eps must be positive"):
        batch_norm(x, None, None, training=True, eps=0)
    with pytest.raises(cr.ShapeError, match=r"layer_norm: normalized_shape \(5,\).*\(2, 3, 4\)"):
        layer_norm(x, 5)
    with pytest.raises(cr.ShapeError, match=r"layer_norm: weight of shape \(3,\)"):
        layer_norm(x, 4, np.ones(3))
    with pytest.raises(cr.ShapeError, match=r"group_norm: the 3 channels.*num_groups=2"):
        group_norm(x, 2)
    with pytest.raises(ValueError, match="num_groups must be a positive int"):
        group_norm(x, 0)


# ============================================================================ modules
def copy_module(ours, theirs):
    """Load torch's state into ours, as a user moving weights would."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("momentum", [0.1, None, 0.4])
@pytest.mark.parametrize("kind, shape", [("1d", (6, 3)), ("1d", (4, 3, 5)), ("2d", (4, 3, 5, 2))])
def test_batch_norm_module_matches_torch_over_training_steps(kind, shape, momentum, blocks):
    ours_cls, theirs_cls = (
        (BatchNorm1d, torch.nn.BatchNorm1d) if kind == "1d" else (BatchNorm2d, torch.nn.BatchNorm2d)
    )
    ours = ours_cls(3, momentum=momentum, dtype=np.float64)
    theirs = theirs_cls(3, momentum=momentum, dtype=torch.float64)
    rng = np.random.default_rng(13)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.standard_normal(3)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(3)))
    copy_module(ours, theirs)
    for step in range(4):
        x, tx = pair(rng.standard_normal(shape) * (step + 1) + step)
        out, tout = ours(x), theirs(tx)
        close(out, tout)
        backward_both(out, tout, step)
        close(x.grad, tx.grad)
        close(ours.weight.grad, theirs.weight.grad)
        close(ours.bias.grad, theirs.bias.grad)
        ours.zero_grad()
        theirs.zero_grad()
    close(ours.running_mean, theirs.running_mean)
    close(ours.running_var, theirs.running_var)
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 4
    assert ours.num_batches_tracked.dtype == np.int64
    assert type(ours.num_batches_tracked.data) is np.ndarray  # 0-d, as state_dict expects
    ours.eval()
    theirs.eval()
    x, tx = pair(rng.standard_normal(shape))
    before = ours.state_dict()
    out, tout = ours(x), theirs(tx)
    close(out, tout)
    backward_both(out, tout, 99)
    close(x.grad, tx.grad)
    close(ours.weight.grad, theirs.weight.grad)
    for key, value in ours.state_dict().items():  # eval mode changes no statistic
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize(
    "options", [{"affine": False}, {"track_running_stats": False}, {"bias": False}, {"eps": 1e-2}]
)
def test_batch_norm_module_options_match_torch(options):
    ours = BatchNorm2d(2, dtype=np.float64, **options)
    theirs = torch.nn.BatchNorm2d(2, dtype=torch.float64, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(14)
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        x, tx = pair(rng.standard_normal((3, 2, 2, 3)))
        out, tout = ours(x), theirs(tx)
        close(out, tout)
        backward_both(out, tout, 15)
        close(x.grad, tx.grad)
    for key, value in theirs.state_dict().items():
        close(ours.state_dict()[key], value)


def test_batch_norm_state_dict_round_trips_with_torch():
    rng = np.random.default_rng(16)
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU()
    ).double()
    theirs.train()
    for _ in range(3):
        theirs(torch.tensor(rng.standard_normal((5, 4))))
    ours = nn.Sequential(
        nn.Linear(4, 3, dtype=np.float64), BatchNorm1d(3, dtype=np.float64), nn.ReLU()
    )
    assert list(ours.state_dict()) == list(theirs.state_dict())
    copy_module(ours, theirs)
    assert ours[1].num_batches_tracked.item() == 3
    ours.eval()
    theirs.eval()
    x, tx = pair(rng.standard_normal((5, 4)), grad=False)
    close(ours(x), theirs(tx))
    # And back: torch loads ours after a training step of ours.
    ours.train()
    ours(cr.tensor(rng.standard_normal((5, 4))))
    back = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU()
    ).double()
    back.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    assert back[1].num_batches_tracked.item() == 4
    for key, value in back.state_dict().items():
        close(ours.state_dict()[key], value)


def test_a_state_dict_without_the_batch_count_loads_as_in_torch():
    bn = BatchNorm1d(2, dtype=np.float64)
    bn.num_batches_tracked.data = np.array(5, dtype=np.int64)
    state = bn.state_dict()
    del state["num_batches_tracked"]
    assert bn.load_state_dict(state).missing_keys == []
    assert bn.num_batches_tracked.item() == 5
    del state["running_var"]
    with pytest.raises(RuntimeError, match='"running_var"'):
        bn.load_state_dict(state)


def test_batch_norm_module_checks_input_dims():
    with pytest.raises(ValueError, match="expected 4D input"):
        BatchNorm2d(3)(cr.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        BatchNorm1d(3)(cr.zeros(2, 3, 4, 5))


@pytest.mark.parametrize(
    "options", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-3}]
)
def test_layer_norm_module_matches_torch(options):
    ours = LayerNorm((3, 4), dtype=np.float64, **options)
    theirs = torch.nn.LayerNorm((3, 4), dtype=torch.float64, **options)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():  # initialised as torch: ones and zeros
        close(ours.state_dict()[key], value)
    rng = np.random.default_rng(17)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.standard_normal((3, 4))))
        copy_module(ours, theirs)
    x, tx = pair(rng.standard_normal((2, 3, 4)))
    out, tout = ours(x), theirs(tx)
    close(out, tout)
    backward_both(out, tout, 18)
    close(x.grad, tx.grad)
    for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, tp.grad)


@pytest.mark.parametrize("options", [{}, {"affine": False}, {"bias": False}])
def test_group_norm_module_matches_torch(options):
    ours = GroupNorm(2, 6, dtype=np.float64, **options)
    theirs = torch.nn.GroupNorm(2, 6, dtype=torch.float64, **options)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(19)
    x, tx = pair(rng.standard_normal((3, 6, 2, 2)))
    out, tout = ours(x), theirs(tx)
    close(out, tout)
    backward_both(out, tout, 20)
    close(x.grad, tx.grad)
    for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, tp.grad)
    with pytest.raises(ValueError, match="divisible"):
        GroupNorm(4, 6)


def test_modules_default_to_float32_and_keep_it():
    x = cr.tensor(
        np.random.default_rng(21).standard_normal((4, 6, 3, 3)).astype(np.float32),
        requires_grad=True,
    )
    for module in (BatchNorm2d(6), LayerNorm(3), GroupNorm(3, 6)):
        assert all(p.dtype == np.float32 for p in module.parameters())
        out = module(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in module.parameters())
    bn = BatchNorm2d(6)
    bn(x)
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    bn.double()
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


def test_eval_mode_uses_running_statistics_only():
    bn = BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [np.random.default_rng(s).standard_normal((8, 2)) * (s + 1) for s in range(3)]
    for batch in batches:
        bn(cr.tensor(batch))
    every = np.stack(batches)
    # momentum=None: the plain average of every batch's mean and unbiased variance.
    np.testing.assert_allclose(bn.running_mean.numpy(), every.mean(axis=1).mean(axis=0))
    np.testing.assert_allclose(bn.running_var.numpy(), every.var(axis=1, ddof=1).mean(axis=0))
    bn.eval()
    x = np.random.default_rng(9).standard_normal((3, 2))
    expected = (x - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(bn(cr.tensor(x)).numpy(), expected, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3


# ============================================================================ dropout2d
def test_dropout2d_drops_whole_channels_and_scales_the_rest():
    x = cr.tensor(np.ones((50, 8, 3, 3)), requires_grad=True)
    out = dropout2d(x, p=0.25, rng=0)
    values = out.numpy().reshape(50, 8, 9)
    assert np.all((values == 0).all(axis=2) | (values == 1 / 0.75).all(axis=2))
    assert 0.15 < (values[:, :, 0] == 0).mean() < 0.35
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy())  # the gradient is the mask
    np.testing.assert_array_equal(dropout2d(x, 0.25, rng=0).numpy(), out.numpy())  # seeded
    assert dropout2d(x, 0.5, training=False) is x
    assert np.all(dropout2d(x, 1.0, rng=1).numpy() == 0)
    three_d = dropout2d(np.ones((4, 5, 6)), 0.5, rng=2)  # (N, C, L): per channel, as torch
    assert np.all((three_d == 0).all(axis=2) | (three_d == 2).all(axis=2))
    with pytest.raises(ValueError, match="p must be in"):
        dropout2d(x, 1.5)
    with pytest.raises(cr.ShapeError, match="dropout2d"):
        dropout2d(np.ones(3), 0.5)


def test_dropout2d_module():
    layer = Dropout2d(0.5, rng=3)
    assert repr(layer) == repr(torch.nn.Dropout2d(0.5))
    x = cr.tensor(np.ones((4, 6, 2, 2), np.float32))
    out = layer(x)
    assert out.dtype == np.float32 and set(np.unique(out.numpy())) <= {0.0, 2.0}
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError):
        Dropout2d(-0.1)


def test_signatures_match_torch():
    import inspect

    def names(function):
        return [p for p in inspect.signature(function).parameters if p not in ("self",)]

    F = torch.nn.functional
    assert names(batch_norm) == names(F.batch_norm)
    assert names(layer_norm) == names(F.layer_norm)
    assert names(group_norm) == names(F.group_norm)
    assert names(dropout2d)[:4] == names(F.dropout2d)
    for ours, theirs in [
        (BatchNorm2d, torch.nn.BatchNorm2d),
        (LayerNorm, torch.nn.LayerNorm),
        (GroupNorm, torch.nn.GroupNorm),
    ]:
        expected = [n for n in names(theirs.__init__) if n != "device"]
        assert names(ours.__init__) == expected
