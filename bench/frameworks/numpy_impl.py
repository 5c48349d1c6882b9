"""Hand-written NumPy, no framework: the reference every ratio is taken against.

The gradients are the textbook full-matrix formulas written out by hand.
"""

from time import perf_counter

import numpy as np

from bench.workloads import ADD, DEEP_CHAIN_FACTOR, LR, MUL, mlp_problem, small_ops_input

VERSION = np.__version__


def make_mlp_step(batch):
    x, y, params = mlp_problem(batch)
    w1, b1, w2, b2, w3, b3 = params
    rows = np.arange(batch)

    def step():
        z1 = x @ w1 + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ w2 + b2
        a2 = np.maximum(z2, 0)
        z3 = a2 @ w3 + b3
        # Softmax cross-entropy, shifted by the row maximum so exp cannot overflow.
        z3 -= z3.max(axis=1, keepdims=True)
        e = np.exp(z3)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z3[rows, y])
        # d(mean CE)/dz = (softmax - onehot) / B
        dz3 = e / s
        dz3[rows, y] -= 1
        dz3 /= batch
        dw3, db3 = a2.T @ dz3, dz3.sum(axis=0)
        dz2 = (dz3 @ w3.T) * (z2 > 0)
        dw2, db2 = a1.T @ dz2, dz2.sum(axis=0)
        dz1 = (dz2 @ w2.T) * (z1 > 0)
        dw1, db1 = x.T @ dz1, dz1.sum(axis=0)
        for p, g in zip(params, (dw1, db1, dw2, db2, dw3, db3)):
            p -= LR * g
        return float(loss)

    return step


def make_small_ops(n):
    x0 = small_ops_input()

    def run():
        # Forward keeps what each local derivative needs; backward applies them in reverse.
        x, saved = x0, []
        for i in range(n):
            k = i % 5
            if k == 0:
                x = x * MUL
            elif k == 1:
                x = x + ADD
            elif k == 2:
                x = np.tanh(x)
                saved.append(x)
            elif k == 3:
                x = np.exp(x)
                saved.append(x)
            else:
                saved.append(x)
                x = np.sin(x)
        g = np.ones_like(x)
        for i in reversed(range(n)):
            k = i % 5
            if k == 0:
                g = g * MUL
            elif k == 2:
                g = g * (1 - saved.pop() ** 2)
            elif k == 3:
                g = g * saved.pop()
            elif k == 4:
                g = g * np.cos(saved.pop())
        return float(g.sum())

    return run


def deep_chain(n):
    # The local derivative of x * c is the constant c: nothing needs saving.
    x = np.ones(1)
    t0 = perf_counter()
    for _ in range(n):
        x = x * DEEP_CHAIN_FACTOR
    t1 = perf_counter()
    g = np.ones(1)
    for _ in range(n):
        g = g * DEEP_CHAIN_FACTOR
    t2 = perf_counter()
    return t1 - t0, t2 - t1, float(g[0])


def make_gemm(n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)

    def run():
        np.matmul(a, b, out=out)

    return run
