"""Close to the least an eager autograd can do: hand-written NumPy that records a tape.

Each op runs its NumPy forward and appends ``(rules, output, inputs)`` to a list;
backward walks the list in reverse, calling each input's rule and adding into its
``grad``. No graph nodes, no checks, no broadcasting or dtype handling beyond the bias
sum, only the ops this step uses. What it costs above hand NumPy is the price of
recording and replaying a step op by op in Python; what chainrule costs above it is
chainrule's own. Run under chainrule's allocator policy, as numpy_recycled.

One piece of work is not the least: the cross-entropy rule recomputes the softmax that
hand NumPy keeps from its forward (4-7 us at batch 32, about 1% of the step), so the
floor this measures sits that much above the true one.
"""

import numpy as np

from bench.workloads import LR, mlp_problem
from chainrule.memory import reuse_freed_memory

VERSION = np.__version__


class Var:
    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data, requires_grad=False):
        self.data, self.grad, self.requires_grad = data, None, requires_grad


class Tape:
    def __init__(self):
        self.entries = []

    def record(self, forward, rules, *inputs):
        out = Var(forward(*(v.data for v in inputs)), True)
        self.entries.append((rules, out, inputs))
        return out

    def backward(self, loss):
        loss.grad = np.ones_like(loss.data)
        for rules, out, inputs in reversed(self.entries):
            g = out.grad
            for rule, v in zip(rules, inputs):
                if v.requires_grad:
                    share = rule(g, *(x.data for x in inputs))
                    v.grad = share if v.grad is None else v.grad + share
            out.grad = None
        self.entries.clear()


def _cross_entropy(y):
    rows = np.arange(len(y))

    def forward(z):
        shifted = z - z.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, y])

    def rule(g, z):
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[rows, y] -= 1
        p *= g / len(y)
        return p

    return forward, (rule,)


_MATMUL = (lambda g, a, b: g @ b.T, lambda g, a, b: a.T @ g)
_ADD_BIAS = (lambda g, a, b: g, lambda g, a, b: g.sum(axis=0))
_RELU = (lambda g, a: g * (a > 0),)


def _relu(a):
    return np.maximum(a, 0)


def make_mlp_step(batch):
    reuse_freed_memory()
    x, y, arrays = mlp_problem(batch)
    x = Var(x)
    params = [Var(a, requires_grad=True) for a in arrays]
    w1, b1, w2, b2, w3, b3 = params
    cross_entropy, cross_entropy_rules = _cross_entropy(y)
    tape = Tape()

    def layer(h, w, b):
        return tape.record(np.add, _ADD_BIAS, tape.record(np.matmul, _MATMUL, h, w), b)

    def relu(h):
        return tape.record(_relu, _RELU, h)

    def step():
        h = relu(layer(x, w1, b1))
        h = relu(layer(h, w2, b2))
        loss = tape.record(cross_entropy, cross_entropy_rules, layer(h, w3, b3))
        tape.backward(loss)
        for p in params:
            p.data -= LR * p.grad
            p.grad = None
        return float(loss.data)

    return step
