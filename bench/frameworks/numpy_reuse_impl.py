"""Hand-written NumPy with every buffer allocated once and reused through `out=`.

Same formulas as numpy_impl; the difference in time is what fresh allocations (and the
page faults of touching new memory) cost at each step.
"""

import numpy as np

from bench.workloads import LR, mlp_problem

VERSION = np.__version__


def make_mlp_step(batch):
    x, y, params = mlp_problem(batch)
    w1, b1, w2, b2, w3, b3 = params
    h1, h2, c = w1.shape[1], w2.shape[1], w3.shape[1]
    rows = np.arange(batch)
    f32 = np.float32
    z1, a1, da1 = (np.empty((batch, h1), f32) for _ in range(3))
    z2, a2, da2 = (np.empty((batch, h2), f32) for _ in range(3))
    mask1, mask2 = np.empty((batch, h1), bool), np.empty((batch, h2), bool)
    z3, e = np.empty((batch, c), f32), np.empty((batch, c), f32)
    m, s = np.empty((batch, 1), f32), np.empty((batch, 1), f32)
    grads = [np.empty_like(p) for p in params]
    dw1, db1, dw2, db2, dw3, db3 = grads
    scaled = [np.empty_like(p) for p in params]

    def step():
        np.matmul(x, w1, out=z1)
        np.add(z1, b1, out=z1)
        np.greater(z1, 0, out=mask1)
        np.maximum(z1, 0, out=a1)
        np.matmul(a1, w2, out=z2)
        np.add(z2, b2, out=z2)
        np.greater(z2, 0, out=mask2)
        np.maximum(z2, 0, out=a2)
        np.matmul(a2, w3, out=z3)
        np.add(z3, b3, out=z3)
        np.max(z3, axis=1, keepdims=True, out=m)
        np.subtract(z3, m, out=z3)
        np.exp(z3, out=e)
        np.sum(e, axis=1, keepdims=True, out=s)
        loss = np.mean(np.log(s[:, 0]) - z3[rows, y])
        np.divide(e, s, out=e)
        e[rows, y] -= 1
        np.multiply(e, f32(1.0 / batch), out=e)  # e is now dz3
        np.matmul(a2.T, e, out=dw3)
        np.sum(e, axis=0, out=db3)
        np.matmul(e, w3.T, out=da2)
        np.multiply(da2, mask2, out=da2)
        np.matmul(a1.T, da2, out=dw2)
        np.sum(da2, axis=0, out=db2)
        np.matmul(da2, w2.T, out=da1)
        np.multiply(da1, mask1, out=da1)
        np.matmul(x.T, da1, out=dw1)
        np.sum(da1, axis=0, out=db1)
        for p, g, tmp in zip(params, grads, scaled):
            np.multiply(g, f32(LR), out=tmp)
            np.subtract(p, tmp, out=p)
        return float(loss)

    return step
