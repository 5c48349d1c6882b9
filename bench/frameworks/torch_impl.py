"""PyTorch, eager mode on the CPU, default thread count."""

from time import perf_counter

import numpy as np
import torch
import torch.nn.functional as F

from bench.workloads import ADD, DEEP_CHAIN_FACTOR, LR, MUL, mlp_problem, small_ops_input

VERSION = torch.__version__
# Its arrays live in its own allocator, which tracemalloc does not see.
NUMPY_ARRAYS = False

_OPS = (lambda t: t * MUL, lambda t: t + ADD, torch.tanh, torch.exp, torch.sin)


def make_mlp_step(batch):
    x, y, arrays = mlp_problem(batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    params = [torch.from_numpy(a).requires_grad_() for a in arrays]
    w1, b1, w2, b2, w3, b3 = params

    def step():
        h = torch.relu(x @ w1 + b1)
        h = torch.relu(h @ w2 + b2)
        loss = F.cross_entropy(h @ w3 + b3, y)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss.item()

    return step


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
