"""Hand-written NumPy, no framework: the reference every ratio is taken against.

The gradients are the textbook full-matrix formulas written out by hand. The CNN
workloads use im2col: every receptive field copied into a column by one strided copy,
then one matrix product per layer for the whole batch; the input gradient goes back
through col2im, one strided add per kernel tap. Activations are kept channel-major,
(C, N, H, W) in memory, which is the layout that product leaves them in.
"""

from time import perf_counter

import numpy as np
from numpy.lib.stride_tricks import as_strided

from bench.workloads import (
    ADD,
    CNN_CONVS,
    CONV_PADDING,
    DEEP_CHAIN_FACTOR,
    LR,
    MUL,
    cnn_problem,
    conv_problem,
    mlp_problem,
    small_ops_input,
)

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


def im2col(x, k, pad):
    """Columns (C * k * k, N * OH * OW) of a channel-major image ``x`` (C, N, H, W) for a
    k x k kernel, stride 1: a strided view of every window, then one copy."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    c, n, h, w = x.shape
    oh, ow = h - k + 1, w - k + 1
    sc, sn, sh, sw = x.strides
    windows = as_strided(x, (c, k, k, n, oh, ow), (sc, sh, sw, sn, sh, sw), writeable=False)
    return windows.reshape(c * k * k, n * oh * ow)


def col2im(cols, shape, k, pad):
    """im2col's adjoint: columns added back into a (C, N, H, W) image (``shape``)."""
    c, n, h, w = shape
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    image = np.zeros((c, n, h + 2 * pad, w + 2 * pad), cols.dtype)
    blocks = cols.reshape(c, k, k, n, oh, ow)
    for i in range(k):
        for j in range(k):
            image[:, :, i : i + oh, j : j + ow] += blocks[:, i, j]
    return image[:, :, pad : pad + h, pad : pad + w]


_QUADRANTS = ((0, 0), (0, 1), (1, 0), (1, 1))


def max_pool(a):
    """2 x 2 max pooling, stride 2, of (C, N, H, W) with even H and W."""
    return np.maximum(
        np.maximum(a[..., 0::2, 0::2], a[..., 0::2, 1::2]),
        np.maximum(a[..., 1::2, 0::2], a[..., 1::2, 1::2]),
    )


def max_pool_backward(g, a, pooled):
    """The gradient routed to where each window's maximum was. A tie sends it to every
    tied place; here ties are windows of zeros after relu, whose backward zeroes them."""
    grad = np.empty_like(a)
    for i, j in _QUADRANTS:
        np.multiply(g, a[..., i::2, j::2] == pooled, out=grad[..., i::2, j::2])
    return grad


def make_cnn_step(batch):
    """LeNet-5: conv 6@5x5 (pad 2), relu, pool; conv 16@5x5, relu, pool; fc 120, 84, 10."""
    x, y, params = cnn_problem(batch)
    w1, b1, w2, b2, f1, c1, f2, c2, f3, c3 = params
    (o1, _, k1, pad1), (o2, _, k2, pad2) = CNN_CONVS
    # With one channel, the (N, 1, H, W) batch is already channel-major: a free view.
    x = x.transpose(1, 0, 2, 3)
    rows = np.arange(batch)
    side1 = x.shape[2] + 2 * pad1 - k1 + 1  # 28
    side2 = side1 // 2 + 2 * pad2 - k2 + 1  # 10

    def step():
        cols1 = im2col(x, k1, pad1)
        z1 = w1.reshape(o1, -1) @ cols1
        z1 += b1[:, None]
        a1 = np.maximum(z1, 0).reshape(o1, batch, side1, side1)
        p1 = max_pool(a1)
        cols2 = im2col(p1, k2, pad2)
        z2 = w2.reshape(o2, -1) @ cols2
        z2 += b2[:, None]
        a2 = np.maximum(z2, 0).reshape(o2, batch, side2, side2)
        p2 = max_pool(a2)
        flat = p2.transpose(1, 0, 2, 3).reshape(batch, -1)  # PyTorch's flatten order
        z3 = flat @ f1.T + c1
        a3 = np.maximum(z3, 0)
        z4 = a3 @ f2.T + c2
        a4 = np.maximum(z4, 0)
        z5 = a4 @ f3.T + c3
        z5 -= z5.max(axis=1, keepdims=True)
        e = np.exp(z5)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z5[rows, y])

        dz5 = e / s
        dz5[rows, y] -= 1
        dz5 /= batch
        df3, dc3 = dz5.T @ a4, dz5.sum(axis=0)
        dz4 = (dz5 @ f3) * (z4 > 0)
        df2, dc2 = dz4.T @ a3, dz4.sum(axis=0)
        dz3 = (dz4 @ f2) * (z3 > 0)
        df1, dc1 = dz3.T @ flat, dz3.sum(axis=0)
        dp2 = (dz3 @ f1).reshape(p2.shape[1], o2, *p2.shape[2:]).transpose(1, 0, 2, 3)
        dz2 = max_pool_backward(dp2, a2, p2).reshape(o2, -1) * (z2 > 0)
        dw2, db2 = (dz2 @ cols2.T).reshape(w2.shape), dz2.sum(axis=1)
        dp1 = col2im(w2.reshape(o2, -1).T @ dz2, p1.shape, k2, pad2)
        dz1 = max_pool_backward(dp1, a1, p1).reshape(o1, -1) * (z1 > 0)
        dw1, db1 = (dz1 @ cols1.T).reshape(w1.shape), dz1.sum(axis=1)
        grads = (dw1, db1, dw2, db2, df1, dc1, df2, dc2, df3, dc3)
        for p, g in zip(params, grads):
            p -= LR * g
        return float(loss)

    return step


def make_conv2d(batch):
    """conv2d of NCHW x (batch, 3, 32, 32) with 64 3x3 filters, padding 1, forward and
    backward; returns the output and the input, weight and bias gradients."""
    x, w, b, g = conv_problem()
    out_channels, k = w.shape[0], w.shape[-1]
    n, channels, h, wd = x.shape

    def run():
        cols = im2col(x.transpose(1, 0, 2, 3), k, CONV_PADDING)  # reads NCHW in place
        out = w.reshape(out_channels, -1) @ cols
        out += b[:, None]
        out = out.reshape((out_channels, n) + g.shape[2:]).transpose(1, 0, 2, 3)  # NCHW view
        # Backward, from the upstream gradient in NCHW.
        dout = g.transpose(1, 0, 2, 3).reshape(out_channels, -1)
        dw = (dout @ cols.T).reshape(w.shape)
        db = dout.sum(axis=1)
        dx = col2im(
            w.reshape(out_channels, -1).T @ dout, (channels, n, h, wd), k, CONV_PADDING
        ).transpose(1, 0, 2, 3)
        return out, dx, dw, db

    return run
