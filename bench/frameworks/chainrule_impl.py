"""chainrule through its public API only (`import chainrule as cr`)."""

import importlib
import importlib.util
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter

import numpy as np

import chainrule as cr
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

VERSION = getattr(cr, "__version__", "dev")

_OPS = (
    lambda t: t * MUL,
    lambda t: t + ADD,
    lambda t: t.tanh(),
    lambda t: t.exp(),
    lambda t: t.sin(),
)


def _log_softmax_loss(y):
    rows = np.arange(len(y))
    return lambda z: -cr.log_softmax(z, axis=-1)[rows, y].mean()


def _cross_entropy(y, probe):
    """The library's cross_entropy when it has one that works, else log_softmax with
    integer-array indexing; returns (loss function, which one)."""
    try:
        functional = importlib.import_module("chainrule.nn.functional")
        cross_entropy = functional.cross_entropy
        labels = cr.tensor(y)
        cross_entropy(probe, labels)
    except Exception:
        return _log_softmax_loss(y), "log_softmax + indexing"
    return (lambda z: cross_entropy(z, labels)), "nn.functional.cross_entropy"


def make_mlp_step(batch):
    """The step every peer runs, in the notes' layout: ``h = relu(x @ W + b)`` with W
    stored in x out, fused cross-entropy, plain SGD on .data, under the library's
    allocator policy (chainrule.memory.reuse_freed_memory, called here explicitly as a
    user would)."""
    return _sgd_step(batch, lambda x, w, b: x @ w + b, transpose_weights=False)


def make_mlp_step_linear(batch):
    """The same step with ``cr.nn.Linear``'s layout: weights stored out x in (as PyTorch
    stores them) and the fused ``cr.linear`` op, x @ W.T + b with the bias added in place."""
    return _sgd_step(batch, cr.linear, transpose_weights=True)


RECYCLED = "allocator: freed blocks recycled"


def _sgd(params, loss_of, note=RECYCLED):
    """One plain SGD step of ``params`` on ``loss_of()``, on .data, returning the loss."""

    def step():
        loss = loss_of()
        loss.backward()
        for p in params:
            p.data -= LR * p.grad.numpy()
            p.grad = None
        return float(loss.item())

    step.note = note
    return step


def _task_sgd(params, loss_of, batch):
    """:func:`_sgd` of a task (``cnn_task``...): its loss on its batch."""
    return _sgd(params, lambda: loss_of(*batch))


def _sgd_step(batch, layer, transpose_weights):
    cr.memory.reuse_freed_memory()
    x, y, arrays = mlp_problem(batch)
    x = cr.from_numpy(x)
    if transpose_weights:  # same values as the other frameworks' W (in x out)
        arrays = [np.ascontiguousarray(a.T) if a.ndim == 2 else a for a in arrays]
    params = [cr.tensor(a, requires_grad=True) for a in arrays]
    w1, b1, w2, b2, w3, b3 = params
    loss_fn, loss_name = _cross_entropy(y, cr.tensor(np.zeros((batch, 10), np.float32)))

    def loss_of():
        h = layer(x, w1, b1).relu()
        h = layer(h, w2, b2).relu()
        return loss_fn(layer(h, w3, b3))

    return _sgd(params, loss_of, f"loss: {loss_name}; {RECYCLED}")


def cnn_task(batch):
    """LeNet-5 through ``cr.nn.functional`` (conv2d, max_pool2d, linear, cross_entropy) in
    PyTorch's layouts: its parameters, ``loss_of(x, y)`` and the batch ``(x, y)``."""
    import chainrule.nn.functional as F

    x, y, arrays = cnn_problem(batch)
    params = [cr.tensor(a, requires_grad=True) for a in arrays]
    w1, b1, w2, b2, f1, c1, f2, c2, f3, c3 = params
    (_, _, _, pad1), (_, _, _, pad2) = CNN_CONVS

    def loss_of(x, y):
        h = F.max_pool2d(F.conv2d(x, w1, b1, padding=pad1).relu(), 2)
        h = F.max_pool2d(F.conv2d(h, w2, b2, padding=pad2).relu(), 2)
        h = F.linear(h.reshape(batch, -1), f1, c1).relu()
        h = F.linear(h, f2, c2).relu()
        return F.cross_entropy(F.linear(h, f3, c3), y)

    return params, loss_of, (cr.from_numpy(x), cr.tensor(y))


def make_cnn_step(batch):
    """The LeNet-5 step (:func:`cnn_task`), plain SGD on .data, under the library's
    allocator policy."""
    cr.memory.reuse_freed_memory()
    return _task_sgd(*cnn_task(batch))


def make_conv2d(batch):
    import chainrule.nn.functional as F

    cr.memory.reuse_freed_memory()
    x, w, b, g = conv_problem()
    x, w, b = (cr.tensor(a, requires_grad=True) for a in (x, w, b))

    def run():
        out = F.conv2d(x, w, b, padding=CONV_PADDING)
        out.backward(g)
        grads = [t.grad.numpy() for t in (x, w, b)]
        x.grad = w.grad = b.grad = None
        return (out.numpy(), *grads)

    run.note = RECYCLED
    return run


def lstm_task():
    """``cr.nn.LSTM`` over the sequence and ``cr.nn.Linear`` on the last hidden state, with
    cross-entropy: its parameters, ``loss_of(x, y)`` and the batch ``(x, y)``."""
    x, y, arrays = lstm_problem()
    model = cr.nn.Module()
    model.lstm = cr.nn.LSTM(LSTM_SIZES["input"], LSTM_SIZES["hidden"])
    model.head = cr.nn.Linear(LSTM_SIZES["hidden"], len(arrays["head.bias"]))
    model.load_state_dict(arrays)

    def loss_of(x, y):
        _, (h, _) = model.lstm(x)
        return cr.nn.functional.cross_entropy(model.head(h[0]), y)

    return list(model.parameters()), loss_of, (cr.from_numpy(x), cr.tensor(y))


def transformer_task():
    """``cr.nn.TransformerEncoderLayer`` (batch_first, dropout 0) and ``cr.nn.Linear`` on
    every position, with cross-entropy: its parameters, ``loss_of(x, y)`` and the batch."""
    x, y, arrays = transformer_problem()
    sizes = TRANSFORMER_SIZES
    model = cr.nn.Module()
    model.layer = cr.nn.TransformerEncoderLayer(
        sizes["d_model"], sizes["nhead"], sizes["dim_feedforward"], dropout=0.0, batch_first=True
    )
    model.head = cr.nn.Linear(sizes["d_model"], len(arrays["head.bias"]))
    model.load_state_dict(arrays)

    def loss_of(x, y):
        logits = model.head(model.layer(x))
        return cr.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y)

    return list(model.parameters()), loss_of, (cr.from_numpy(x), cr.tensor(y.reshape(-1)))


def make_lstm_step(batch):
    """The LSTM step (:func:`lstm_task`), plain SGD on .data, under the library's
    allocator policy."""
    cr.memory.reuse_freed_memory()
    return _task_sgd(*lstm_task())


def make_transformer_step(batch):
    """The transformer step (:func:`transformer_task`), plain SGD on .data, under the
    library's allocator policy."""
    cr.memory.reuse_freed_memory()
    return _task_sgd(*transformer_task())


def make_small_ops(n):
    x0 = cr.tensor(small_ops_input(), requires_grad=True)

    def run():
        x = x0
        for i in range(n):
            x = _OPS[i % 5](x)
        x.sum().backward()
        total = float(x0.grad.numpy().sum())
        x0.grad = None
        return total

    return run


def deep_chain(n):
    x0 = cr.tensor(np.ones(1), requires_grad=True)
    t0 = perf_counter()
    x = x0
    for _ in range(n):
        x = x * DEEP_CHAIN_FACTOR
    t1 = perf_counter()
    x.sum().backward()
    t2 = perf_counter()
    return t1 - t0, t2 - t1, float(x0.grad.numpy()[0])


def train_command():
    """`chainrule train` from the running interpreter's environment, or None."""
    script = Path(sys.executable).parent / "chainrule"
    if script.exists():
        return [str(script), "train"]
    found = shutil.which("chainrule")
    return [found, "train"] if found else None


def train_digits(timeout):
    """Wall time and peak RSS of `chainrule train` run with its default arguments.

    The command runs in a scratch directory, so whatever it writes (runs/, checkpoints)
    does not land in the repository.
    """
    command = train_command()
    if command is None:
        return {"status": "skipped", "note": "the `chainrule` command is not installed"}
    if importlib.util.find_spec("chainrule.cli") is None:
        return {"status": "skipped", "note": "`chainrule train` is not available yet"}
    with tempfile.TemporaryDirectory() as scratch:
        t0 = perf_counter()
        proc = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=timeout)
        wall = perf_counter() - t0
    # This process has had exactly one child, so the children's high-water mark is its.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"]
        return {"status": "failed", "error": f"exit {proc.returncode}: {lines[-1][:200]}"}
    return {"status": "ok", "wall_s": wall, "peak_rss_mib": peak_kib / 1024}
