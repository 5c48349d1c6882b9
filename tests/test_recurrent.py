"""Recurrent layers (chainrule.nn.recurrent) and their fused ops against PyTorch.

Every module loads PyTorch's weights through ``load_state_dict`` and must give PyTorch's
outputs, final states and gradients (input, initial state, every parameter) in float64
to 1e-10 relative: both sides compute the same sums of products in another order, so
only rounding separates them (a few ulps, amplified by at most a few dozen steps).
"""

import math
import sys
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.engine import grad as gradients
from chainrule.nn import recurrent as R
from chainrule.ops import recurrent as ops
from chainrule.ops.registry import REGISTRY

torch = pytest.importorskip("torch")
TOL = {"rtol": 1e-10, "atol": 1e-12}
KINDS = ["RNN", "LSTM", "GRU"]


def _pair(kind, *args, **options):
    """A PyTorch module in float64 and ours with its weights."""
    theirs = getattr(torch.nn, kind)(*args, dtype=torch.float64, **options)
    ours = getattr(R, kind)(*args, dtype=np.float64, **options)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def _states(value):
    return value if isinstance(value, tuple) else (value,)


def _compare(theirs, ours, x, hx=None, seed=1):
    """Outputs, final states and every gradient agree (the loss weighs each output and
    final state by random cotangents)."""
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    args_t, args_c, given_t, given_c = [xt], [xc], [], []
    if hx is not None:
        given_t = [torch.tensor(h, requires_grad=True) for h in _states(hx)]
        given_c = [cr.tensor(h, requires_grad=True) for h in _states(hx)]
        packed = isinstance(hx, tuple)
        args_t.append(tuple(given_t) if packed else given_t[0])
        args_c.append(tuple(given_c) if packed else given_c[0])
    out_t, state_t = theirs(*args_t)
    out_c, state_c = ours(*args_c)
    rng = np.random.default_rng(seed)
    loss_t, loss_c = 0, 0
    for a, b in zip((out_t, *_states(state_t)), (out_c, *_states(state_c))):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **TOL)
        assert b.shape == tuple(a.shape)
        cotangent = rng.standard_normal(b.shape)
        loss_t = loss_t + (a * torch.tensor(cotangent)).sum()
        loss_c = loss_c + (b * cotangent).sum()
    loss_t.backward()
    loss_c.backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), **TOL)
    for a, b in zip(given_t, given_c):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), **TOL)
    names_t = [name for name, _ in theirs.named_parameters()]
    assert [name for name, _ in ours.named_parameters()] == names_t
    for (name, p), q in zip(theirs.named_parameters(), ours.parameters()):
        got = np.zeros(q.shape) if q.grad is None else q.grad.numpy()
        np.testing.assert_allclose(got, p.grad.numpy(), err_msg=name, **TOL)


OPTIONS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"batch_first": True},
    {"bias": False},
    {"num_layers": 3, "bidirectional": True, "batch_first": True},
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("options", OPTIONS)
def test_modules_match_pytorch(kind, options):
    theirs, ours = _pair(kind, 3, 5, **options)
    _compare(theirs, ours, np.random.default_rng(0).standard_normal((4, 6, 3)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("length", [1, 2, 7])
def test_given_initial_state_and_short_sequences(kind, length):
    theirs, ours = _pair(kind, 3, 4, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(length)
    h0 = rng.standard_normal((4, 2, 4))
    hx = (h0, rng.standard_normal((4, 2, 4))) if kind == "LSTM" else h0
    _compare(theirs, ours, rng.standard_normal((length, 2, 3)), hx)
    _compare(theirs, ours, rng.standard_normal((length, 2, 3)))  # zeros: W_hh's zero grad


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input(kind, batch_first):
    theirs, ours = _pair(kind, 3, 4, num_layers=2, batch_first=batch_first)
    rng = np.random.default_rng(3)
    _compare(theirs, ours, rng.standard_normal((5, 3)))
    h0 = rng.standard_normal((2, 4))
    _compare(theirs, ours, rng.standard_normal((5, 3)), (h0, h0 * 0.5) if kind == "LSTM" else h0)


def test_rnn_relu_and_lstm_projection():
    theirs, ours = _pair("RNN", 3, 5, num_layers=2, nonlinearity="relu", bidirectional=True)
    _compare(theirs, ours, np.random.default_rng(4).standard_normal((6, 2, 3)))
    for options in ({}, {"num_layers": 2, "bidirectional": True, "batch_first": True}):
        theirs, ours = _pair("LSTM", 3, 5, proj_size=2, **options)
        rng = np.random.default_rng(5)
        _compare(theirs, ours, rng.standard_normal((4, 3, 3)))
        layers = 2 * options.get("num_layers", 1) if options else 1
        _compare(
            theirs,
            ours,
            rng.standard_normal((3, 3, 3)),
            (rng.standard_normal((layers, 3, 2)), rng.standard_normal((layers, 3, 5))),
        )


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("given", [True, False])
def test_cells_match_pytorch(kind, bias, batched, given):
    theirs = getattr(torch.nn, kind)(4, 5, bias=bias, dtype=torch.float64)
    ours = getattr(R, kind)(4, 5, bias=bias, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4) if batched else (4,))
    h = rng.standard_normal((3, 5) if batched else (5,))
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    if not given:
        out_t, out_c = theirs(xt), ours(xc)
    elif kind == "LSTMCell":
        out_t = theirs(xt, (torch.tensor(h), torch.tensor(h * 2)))
        out_c = ours(xc, (cr.tensor(h), cr.tensor(h * 2)))
    else:
        out_t, out_c = theirs(xt, torch.tensor(h)), ours(xc, cr.tensor(h))
    loss_t, loss_c = 0, 0
    for k, (a, b) in enumerate(zip(_states(out_t), _states(out_c))):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **TOL)
        loss_t, loss_c = loss_t + (a * (k + 1)).sum(), loss_c + (b * (k + 1)).sum()
    loss_t.backward()
    loss_c.backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), **TOL)
    for (name, p), q in zip(theirs.named_parameters(), ours.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), err_msg=name, **TOL)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_second_order_matches_pytorch(kind):
    """The gradient of the input's gradient norm: double backward through every step."""
    theirs, ours = _pair(kind, 3, 4, num_layers=2)
    x = np.random.default_rng(7).standard_normal((5, 2, 3))
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad((theirs(xt)[0] ** 2).sum(), [xt], create_graph=True)
    (gc,) = gradients((ours(xc)[0] ** 2).sum(), [xc], create_graph=True)
    np.testing.assert_allclose(gc.numpy(), gt.detach().numpy(), **TOL)
    (gt**2).sum().backward()
    (gc**2).sum().backward()
    for (name, p), q in zip(theirs.named_parameters(), ours.parameters()):
        np.testing.assert_allclose(
            q.grad.numpy(), p.grad.numpy(), err_msg=name, rtol=1e-9, atol=1e-11
        )


def test_truncated_backprop_through_time_with_detach():
    """Two chunks, the state carried across detached: the second chunk's gradient stops
    at the chunk boundary, as in PyTorch."""
    theirs, ours = _pair("LSTM", 3, 4)
    rng = np.random.default_rng(8)
    chunks = [rng.standard_normal((3, 2, 3)) for _ in range(2)]
    state_t, state_c = None, None
    for chunk in chunks:
        out_t, state_t = theirs(torch.tensor(chunk), state_t)
        out_c, state_c = ours(cr.tensor(chunk), state_c)
        state_t = tuple(s.detach() for s in state_t)
        state_c = tuple(s.detach() for s in state_c)
    (out_t**2).sum().backward()
    (out_c**2).sum().backward()
    for (name, p), q in zip(theirs.named_parameters(), ours.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), err_msg=name, **TOL)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind):
    module = getattr(R, kind)(3, 4, num_layers=2, bidirectional=True, rng=0)
    x = cr.tensor(np.ones((5, 2, 3), np.float32), requires_grad=True)
    out, state = module(x)
    assert out.dtype == np.float32 and all(s.dtype == np.float32 for s in _states(state))
    out.sum().backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in module.parameters())
    cell = getattr(R, kind + "Cell")(3, 4, rng=0)
    assert all(s.dtype == np.float32 for s in _states(cell(np.ones((2, 3), np.float32))))


def test_backward_through_ten_thousand_steps_of_a_cell():
    """An RNNCell unrolled over 10,000 steps: backward is an iterative walk (no recursion
    limit in the way) and its gradient matches PyTorch's."""
    theirs = torch.nn.RNNCell(2, 3, dtype=torch.float64)
    ours = R.RNNCell(2, 3, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    xs = np.random.default_rng(9).standard_normal((10_000, 1, 2)) * 0.1
    h_t, h_c = torch.zeros(1, 3, dtype=torch.float64), None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # a recursive walk would fail here
    try:
        for x in xs:
            h_t, h_c = theirs(torch.tensor(x), h_t), ours(x, h_c)
        h_c.sum().backward()
    finally:
        sys.setrecursionlimit(limit)
    h_t.sum().backward()
    np.testing.assert_allclose(h_c.numpy(), h_t.detach().numpy(), **TOL)
    for (name, p), q in zip(theirs.named_parameters(), ours.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), err_msg=name, rtol=1e-8)


def test_an_lstm_layer_over_ten_thousand_steps():
    """The one-node loop of an LSTM layer runs backward through 10,000 steps (a loop, no
    recursion) and every value and gradient is PyTorch's, both directions."""
    theirs, ours = _pair("LSTM", 2, 3, bidirectional=True)
    _compare(theirs, ours, np.random.default_rng(11).standard_normal((10_000, 1, 2)) * 0.5)


def test_a_long_sequence_whose_input_needs_a_gradient():
    """2,000 steps of an input that requires grad (an embedding's output, say): each step's
    slice reaches the input through log2(T) halvings, and the gradient is PyTorch's."""
    theirs, ours = _pair("GRU", 2, 3)
    _compare(theirs, ours, np.random.default_rng(10).standard_normal((2000, 1, 2)) * 0.3)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_memory_grows_linearly_with_the_steps(kind):
    """Peak memory of forward and backward (input needing its gradient) at T and 2T steps:
    twice as much, not four times (measured: 1.96 and 2.01; 2.6 leaves room for noise
    while a quadratic backward, 4x, fails)."""
    import tracemalloc

    module = getattr(R, kind)(8, 16, rng=0)
    peaks = []
    for length in (200, 400):
        x = cr.tensor(np.ones((length, 4, 8), np.float32), requires_grad=True)
        tracemalloc.start()
        try:
            module(x)[0].sum().backward()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < 2.6 * peaks[0], peaks


def test_time_steps_are_views_and_a_balanced_tree():
    x = cr.tensor(np.arange(7 * 2.0).reshape(7, 2), requires_grad=True)
    steps = R.time_steps(x)
    assert [s.tolist() for s in steps] == x.numpy().tolist()
    depth, node = 0, steps[0]
    while node._op is not None:
        depth, node = depth + 1, node._inputs[0]
    assert depth == math.ceil(math.log2(7))
    sum(s * (k + 1) for k, s in enumerate(steps)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.repeat(np.arange(1, 8.0), 2).reshape(7, 2))


@pytest.mark.parametrize("kind", KINDS)
def test_no_grad_forward_gives_the_same_values(kind):
    """Without a graph every step's input projection comes from one product."""
    module = getattr(R, kind)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, rng=1)
    x = np.random.default_rng(11).standard_normal((6, 2, 3))
    out, state = module(cr.tensor(x, requires_grad=True))
    with cr.no_grad():
        out_plain, state_plain = module(x)
    np.testing.assert_allclose(out_plain.numpy(), out.numpy(), rtol=1e-12)
    for a, b in zip(_states(state_plain), _states(state)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_dropout_between_layers():
    module = R.LSTM(3, 4, num_layers=2, dropout=0.5, rng=0)
    x = np.ones((5, 2, 3), np.float32)
    module.eval()
    first, second = module(x)[0].numpy(), module(x)[0].numpy()
    np.testing.assert_array_equal(first, second)
    module.train()
    assert not np.array_equal(module(x)[0].numpy(), first)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        R.GRU(3, 4, dropout=0.2)
    with pytest.raises(ValueError, match="dropout"):
        R.RNN(3, 4, dropout=1.5)


@pytest.mark.parametrize("kind", KINDS)
def test_parameters_names_shapes_init_and_repr(kind):
    options = {"num_layers": 2, "bidirectional": True, "batch_first": True}
    theirs = getattr(torch.nn, kind)(3, 16, **options)
    ours = getattr(R, kind)(3, 16, rng=0, **options)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    bound = 1 / math.sqrt(16)
    values = np.concatenate([p.numpy().ravel() for p in ours.parameters()])
    assert values.dtype == np.float32 and np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.9 * bound and abs(values.mean()) < 0.05 * bound
    assert repr(ours) == repr(theirs)
    cell_t, cell_c = (
        getattr(torch.nn, kind + "Cell")(3, 16, bias=False),
        getattr(R, kind + "Cell")(3, 16, bias=False),
    )
    assert repr(cell_c) == repr(cell_t) and list(cell_c.state_dict()) == list(cell_t.state_dict())
    assert repr(R.RNNCell(2, 3, nonlinearity="relu")) == repr(
        torch.nn.RNNCell(2, 3, nonlinearity="relu")
    )


def test_reset_parameters_replaces_the_arrays():
    lstm = R.LSTM(2, 3, rng=0)
    before = lstm.weight_hh_l0.data
    lstm.reset_parameters()
    assert lstm.weight_hh_l0.data is not before
    assert np.abs(lstm.weight_hh_l0.numpy()).max() <= 1 / math.sqrt(3)


def test_errors_name_the_module_and_shapes():
    lstm = R.LSTM(3, 4, num_layers=2)
    with pytest.raises(cr.ShapeError, match="input_size. Expected 3, got 5"):
        lstm(np.ones((2, 1, 5), np.float32))
    with pytest.raises(cr.ShapeError, match="2D or 3D"):
        lstm(np.ones(3, np.float32))
    with pytest.raises(cr.ShapeError, match=r"Expected hidden\[0\] size \(2, 1, 4\)"):
        lstm(np.ones((2, 1, 3), np.float32), (np.zeros((2, 2, 4)), np.zeros((2, 1, 4))))
    with pytest.raises(cr.ShapeError, match="should also be 3-D"):
        lstm(np.ones((2, 1, 3), np.float32), (np.zeros((2, 4)), np.zeros((2, 4))))
    with pytest.raises(cr.ShapeError, match=r"Expected hidden size \(1, 1, 4\)"):
        R.GRU(3, 4)(np.ones((2, 1, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(cr.ShapeError, match="no time steps"):
        R.RNN(3, 4)(np.ones((0, 1, 3)))
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        R.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        R.GRU(3, 0)
    with pytest.raises(ValueError, match="proj_size"):
        R.RNNBase("GRU", 3, 4, proj_size=2)
    with pytest.raises(cr.ShapeError, match="1D or 2D"):
        R.LSTMCell(3, 4)(np.ones((2, 2, 3)))
    with pytest.raises(cr.ShapeError, match="lstm_cell"):
        ops.lstm_cell(cr.ones(2, 7), cr.ones(2, 2))


def _op_names(out):
    names, stack, seen = [], [out], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, cr.Tensor) or node._op is None:
            continue
        seen.add(id(node))
        names.append(node._op.name)
        stack.extend(node._inputs)
    return names


def test_cells_are_one_fused_node_per_step():
    """An LSTM layer is one lstm_sequence node (its input projection one more); drawn by
    module it is one lstm_step node per step (the first, from zeros, an lstm_cell). A GRU
    step is one gru_cell node (plus the input and hidden products)."""
    x = cr.tensor(np.ones((4, 1, 2)), requires_grad=True)
    lstm = R.LSTM(2, 3, num_layers=2, bidirectional=True, rng=0)
    names = _op_names(lstm(x)[0])
    assert names.count("lstm_sequence") == 4 and names.count("step_linear") == 4, names
    assert "lstm_step" not in names and "lstm_cell" not in names
    scopes = pytest.importorskip("chainrule.autograd.scopes")
    with scopes.record_scopes():
        names = _op_names(R.LSTM(2, 3, rng=0)(x)[0])
    assert names.count("lstm_step") + names.count("lstm_cell") == 4, names
    assert "lstm_sequence" not in names
    names = _op_names(R.GRU(2, 3, rng=0)(x)[0])
    assert names.count("gru_cell") == 4, sorted(set(names))
    h, _ = ops.lstm_cell(cr.ones(2, 8, requires_grad=True), cr.ones(2, 2))
    assert h._inputs[0]._op is REGISTRY["lstm_cell"]


def test_a_layer_drawn_step_by_step_computes_what_the_fused_loop_does():
    """The unrolled steps (recording scopes) and the one-node loop give the same values and
    gradients, for every layout of the layer."""
    scopes = pytest.importorskip("chainrule.autograd.scopes")
    rng = np.random.default_rng(3)
    for kwargs in ({}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True}):
        lstm = R.LSTM(3, 4, dtype=np.float64, rng=1, **kwargs)
        x = rng.standard_normal((2, 5, 3) if lstm.batch_first else (5, 2, 3))
        layers = lstm.num_layers * (1 + lstm.bidirectional)
        state = tuple(rng.standard_normal((layers, 2, 4)) for _ in "hc")
        results = []
        for record in (False, True):
            inputs = [cr.tensor(a, requires_grad=True) for a in (x, *state)]
            with scopes.record_scopes(record):
                out, (h, c) = lstm(inputs[0], tuple(inputs[1:]))
            loss = (out * out).sum() + (h * c).sum()
            loss.backward()
            grads = [t.grad.numpy() for t in inputs] + [p.grad.numpy() for p in lstm.parameters()]
            results.append([out.numpy(), h.numpy(), c.numpy(), *grads])
            lstm.zero_grad()
        for fused, unrolled in zip(*results):
            np.testing.assert_allclose(fused, unrolled, rtol=1e-12, atol=1e-14)


def test_time_steps_are_scopes_for_grouped_pictures():
    scopes = pytest.importorskip("chainrule.autograd.scopes")
    module = R.GRU(2, 3, num_layers=2, rng=0)
    with scopes.record_scopes():
        out, _ = module(cr.tensor(np.ones((3, 1, 2)), requires_grad=True))
    owners = [s.owner for s in scopes.recorded(0, out._seq)]
    for name in ("l0", "l1", "t=0", "t=2"):
        assert name in owners, owners


def test_lstm_keeps_nothing_alive_after_backward():
    """Backward frees each step's saved arrays (memory stays linear in the steps)."""
    module = R.LSTM(2, 3, rng=0)
    out, _ = module(cr.tensor(np.ones((5, 1, 2), np.float32), requires_grad=True))
    last = out._inputs[0]
    out.sum().backward()
    assert out._inputs is None and last._arrays is None


def test_gru_first_step_without_state_uses_the_bias_alone():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings either
        theirs, ours = _pair("GRU", 2, 3, bias=False)
        _compare(theirs, ours, np.random.default_rng(12).standard_normal((3, 2, 2)) * 50)
