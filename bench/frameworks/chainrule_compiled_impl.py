"""chainrule with ``cr.compile``: the step captured on its first calls, then replayed.

The step is the issue's form (#19): ``optimizer.zero_grad()``, the loss, ``backward()``,
``optimizer.step()`` with ``cr.optim.SGD`` (the same update as the other rows' ``p.data
-= lr * grad``), the batch passed as arguments. Its first two calls (the worker's first
loss and a warm-up step) are eager captures; every timed call is a replay. No allocator
call: what a user gets by default.
"""

import chainrule as cr
import chainrule.nn.functional as F
from bench.workloads import (
    CNN_CONVS,
    LR,
    LSTM_SIZES,
    TRANSFORMER_SIZES,
    cnn_problem,
    lstm_problem,
    mlp_problem,
    transformer_problem,
)

VERSION = getattr(cr, "__version__", "dev")


def _compiled(params, loss_of, x, y):
    """The SGD step of ``loss_of(x, y)`` over ``params``, compiled; returns the loss."""
    optimizer = cr.optim.SGD(params, lr=LR)

    @cr.compile
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_of(x, y)
        loss.backward()
        optimizer.step()
        return loss

    def run():
        loss = step(x, y).item()
        if step.eager_reason is not None:  # the report says why it did not replay
            run.note = f"cr.compile ran it eagerly: {step.eager_reason}"
        return loss

    run.note = "cr.compile; replays after two captures"
    run.compiled = step
    return run


def make_mlp_step(batch):
    x, y, arrays = mlp_problem(batch)
    params = [cr.tensor(a, requires_grad=True) for a in arrays]
    w1, b1, w2, b2, w3, b3 = params

    def loss_of(x, y):
        h = cr.relu(x @ w1 + b1)
        h = cr.relu(h @ w2 + b2)
        return F.cross_entropy(h @ w3 + b3, y)

    return _compiled(params, loss_of, cr.from_numpy(x), cr.tensor(y))


def make_cnn_step(batch):
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

    return _compiled(params, loss_of, cr.from_numpy(x), cr.tensor(y))


def make_lstm_step(batch):
    x, y, arrays = lstm_problem()
    model = cr.nn.Module()
    model.lstm = cr.nn.LSTM(LSTM_SIZES["input"], LSTM_SIZES["hidden"])
    model.head = cr.nn.Linear(LSTM_SIZES["hidden"], len(arrays["head.bias"]))
    model.load_state_dict(arrays)

    def loss_of(x, y):
        _, (h, _) = model.lstm(x)
        return F.cross_entropy(model.head(h[0]), y)

    return _compiled(list(model.parameters()), loss_of, cr.from_numpy(x), cr.tensor(y))


def make_transformer_step(batch):
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
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y)

    return _compiled(list(model.parameters()), loss_of, cr.from_numpy(x), cr.tensor(y.reshape(-1)))
