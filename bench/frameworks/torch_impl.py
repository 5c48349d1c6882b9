"""PyTorch, eager mode on the CPU, default thread count."""

from time import perf_counter

import numpy as np
import torch
import torch.nn.functional as F

from bench.workloads import (
    ADD,
    CNN_CONVS,
    CONV_PADDING,
    DEEP_CHAIN_FACTOR,
    LR,
    MUL,
    cnn_problem,
    LSTM_SIZES,
    TRANSFORMER_SIZES,
    conv_problem,
    lstm_problem,
    mlp_problem,
    small_ops_input,
    transformer_problem,
)

VERSION = torch.__version__
# Its arrays live in its own allocator, which tracemalloc does not see; its profiler
# counts them instead (allocated_peak_mib).
NUMPY_ARRAYS = False
ALLOCATION_COUNTER = "torch profiler"

_OPS = (lambda t: t * MUL, lambda t: t + ADD, torch.tanh, torch.exp, torch.sin)


def _sgd(params, loss_of):
    """One plain SGD step of ``params`` on ``loss_of()``, returning the loss."""

    def step():
        loss = loss_of()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss.item()

    return step


def make_mlp_step(batch):
    x, y, arrays = mlp_problem(batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    params = [torch.from_numpy(a).requires_grad_() for a in arrays]
    w1, b1, w2, b2, w3, b3 = params

    def loss_of():
        h = torch.relu(x @ w1 + b1)
        h = torch.relu(h @ w2 + b2)
        return F.cross_entropy(h @ w3 + b3, y)

    return _sgd(params, loss_of)


def make_small_ops(n):
    x0 = torch.from_numpy(small_ops_input()).requires_grad_()

    def run():
        x = x0
        for i in range(n):
            x = _OPS[i % 5](x)
        x.sum().backward()
        total = x0.grad.sum().item()
        x0.grad = None
        return total

    return run


def deep_chain(n):
    x0 = torch.ones(1, dtype=torch.float64, requires_grad=True)
    t0 = perf_counter()
    x = x0
    for _ in range(n):
        x = x * DEEP_CHAIN_FACTOR
    t1 = perf_counter()
    x.sum().backward()
    t2 = perf_counter()
    return t1 - t0, t2 - t1, float(np.asarray(x0.grad)[0])


def make_gemm(n):
    # torch's own matrix product, next to np.matmul's: its BLAS may be the faster one.
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    return lambda: torch.matmul(a, b, out=out)


def make_cnn_step(batch):
    x, y, arrays = cnn_problem(batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    params = [torch.from_numpy(a).requires_grad_() for a in arrays]
    w1, b1, w2, b2, f1, c1, f2, c2, f3, c3 = params
    (_, _, _, pad1), (_, _, _, pad2) = CNN_CONVS

    def loss_of():
        h = F.max_pool2d(torch.relu(F.conv2d(x, w1, b1, padding=pad1)), 2)
        h = F.max_pool2d(torch.relu(F.conv2d(h, w2, b2, padding=pad2)), 2)
        h = torch.relu(F.linear(h.flatten(1), f1, c1))
        h = torch.relu(F.linear(h, f2, c2))
        return F.cross_entropy(F.linear(h, f3, c3), y)

    return _sgd(params, loss_of)


def make_conv2d(batch):
    x, w, b, g = (torch.from_numpy(a) for a in conv_problem())
    for t in (x, w, b):
        t.requires_grad_()

    def run():
        out = F.conv2d(x, w, b, padding=CONV_PADDING)
        out.backward(g)
        grads = [t.grad.numpy() for t in (x, w, b)]
        x.grad = w.grad = b.grad = None
        return (out.detach().numpy(), *grads)

    return run


def _load(model, arrays):
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return model


def make_lstm_step(batch):
    x, y, arrays = lstm_problem()
    model = torch.nn.Module()
    model.lstm = torch.nn.LSTM(LSTM_SIZES["input"], LSTM_SIZES["hidden"])
    model.head = torch.nn.Linear(LSTM_SIZES["hidden"], len(arrays["head.bias"]))
    _load(model, arrays)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def loss_of():
        _, (h, _) = model.lstm(x)
        return F.cross_entropy(model.head(h[0]), y)

    return _sgd(list(model.parameters()), loss_of)


def make_transformer_step(batch):
    x, y, arrays = transformer_problem()
    sizes = TRANSFORMER_SIZES
    model = torch.nn.Module()
    model.layer = torch.nn.TransformerEncoderLayer(
        sizes["d_model"], sizes["nhead"], sizes["dim_feedforward"], dropout=0.0, batch_first=True
    )
    model.head = torch.nn.Linear(sizes["d_model"], len(arrays["head.bias"]))
    _load(model, arrays)
    x, y = torch.from_numpy(x), torch.from_numpy(y.reshape(-1))

    def loss_of():
        logits = model.head(model.layer(x))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y)

    return _sgd(list(model.parameters()), loss_of)


def allocated_peak_mib(step, steps=3):
    """Peak MiB that ``steps`` calls of ``step`` allocate above the state they start from,
    as PyTorch's profiler counts its CPU allocator's allocations and frees (bytes asked
    for, like tracemalloc for NumPy; memory oneDNN may take for itself is not seen).
    The allocation events are read from the profiler's event tree, a private API of
    PyTorch 2.x: where it changes, the worker reports the peak as not counted."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        for _ in range(steps):
            step()
    # Every allocation event carries the running total the profiler has counted since it
    # started: its maximum is the peak above the starting state.
    peak, nodes = 0, list(prof.profiler.kineto_results.experimental_event_tree())
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            peak = max(peak, node.extra_fields.total_allocated)
    return peak / 2**20
