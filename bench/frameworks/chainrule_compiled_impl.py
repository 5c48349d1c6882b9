"""chainrule with ``cr.compile``: the step captured on its first calls, then replayed.

The models and losses are the ``chainrule`` row's (``chainrule_impl.*_task``). The step
is the issue's form (#19): ``optimizer.zero_grad()``, the loss, ``backward()``,
``optimizer.step()`` with ``cr.optim.SGD`` (the same update as the other rows' ``p.data
-= lr * grad``), the batch passed as arguments. Its first two calls (the worker's first
loss and a warm-up step) are eager captures; every timed call is a replay. No allocator
call: what a user gets by default.
"""

import chainrule as cr
import chainrule.nn.functional as F
from bench.frameworks.chainrule_impl import cnn_task, lstm_task, transformer_task
from bench.workloads import LR, mlp_problem

VERSION = getattr(cr, "__version__", "dev")


def _compiled(params, loss_of, batch):
    """The SGD step of ``loss_of(x, y)`` over ``params``, compiled, run on ``batch`` =
    ``(x, y)`` passed as arguments; returns the loss."""
    x, y = batch
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

    return _compiled(params, loss_of, (cr.from_numpy(x), cr.tensor(y)))


def make_cnn_step(batch):
    return _compiled(*cnn_task(batch))


def make_lstm_step(batch):
    return _compiled(*lstm_task())


def make_transformer_step(batch):
    return _compiled(*transformer_task())
