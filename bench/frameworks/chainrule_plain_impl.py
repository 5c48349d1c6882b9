"""chainrule as a user writes the step: no allocator call, nothing tuned.

The same program as the ``chainrule`` row (``cr.relu(x @ W + b)`` with W stored in x
out, ``F.cross_entropy``, ``loss.backward()``, then ``p.data -= lr * p.grad.data; p.grad
= None``) without its explicit ``cr.memory.reuse_freed_memory()``: whatever speed this
row gets, a user gets by default (#19). ``make_mlp_step_optimizer`` is the README's loop,
``optimizer.zero_grad()`` and ``cr.optim.SGD``.
"""

import chainrule as cr
import chainrule.nn.functional as F
from bench.workloads import LR, mlp_problem

VERSION = getattr(cr, "__version__", "dev")


def _model(batch):
    x, y, arrays = mlp_problem(batch)
    x, y = cr.from_numpy(x), cr.tensor(y)
    params = [cr.tensor(a, requires_grad=True) for a in arrays]
    w1, b1, w2, b2, w3, b3 = params

    def loss_of():
        h = cr.relu(x @ w1 + b1)
        h = cr.relu(h @ w2 + b2)
        return F.cross_entropy(h @ w3 + b3, y)

    return params, loss_of


def make_mlp_step(batch):
    params, loss_of = _model(batch)

    def step():
        loss = loss_of()
        loss.backward()
        for p in params:
            p.data -= LR * p.grad.data
            p.grad = None
        return loss.item()

    step.note = "as a user writes it: no allocator call"
    return step


def make_mlp_step_optimizer(batch):
    params, loss_of = _model(batch)
    optimizer = cr.optim.SGD(params, lr=LR)

    def step():
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        optimizer.step()
        return loss.item()

    step.note = "optimizer.zero_grad() + cr.optim.SGD; no allocator call"
    return step
