"""MyGrad: NumPy-backed tensors with a PyTorch-like backward()."""

from time import perf_counter

import mygrad as mg
from mygrad.nnet.activations import relu
from mygrad.nnet.losses import softmax_crossentropy

from bench.workloads import ADD, DEEP_CHAIN_FACTOR, LR, MUL, mlp_problem, small_ops_input

VERSION = mg.__version__

_OPS = (lambda t: t * MUL, lambda t: t + ADD, mg.tanh, mg.exp, mg.sin)


def make_mlp_step(batch):
    x, y, arrays = mlp_problem(batch)
    params = [mg.tensor(a) for a in arrays]
    w1, b1, w2, b2, w3, b3 = params

    def step():
        h = relu(mg.matmul(x, w1) + b1)
        h = relu(mg.matmul(h, w2) + b2)
        loss = softmax_crossentropy(mg.matmul(h, w3) + b3, y)
        loss.backward()
        for p in params:
            # After backward() the graph is cleared and the data is writable again.
            p.data -= LR * p.grad
        return float(loss.item())

    return step


def make_small_ops(n):
    x0 = mg.tensor(small_ops_input())

    def run():
        x = x0
        for i in range(n):
            x = _OPS[i % 5](x)
        mg.sum(x).backward()
        return float(x0.grad.sum())

    return run


def deep_chain(n):
    x0 = mg.tensor([1.0])
    t0 = perf_counter()
    x = x0
    for _ in range(n):
        x = x * DEEP_CHAIN_FACTOR
    t1 = perf_counter()
    mg.sum(x).backward()
    t2 = perf_counter()
    return t1 - t0, t2 - t1, float(x0.grad[0])
