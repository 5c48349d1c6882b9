"""Batch normalisation's backward pass written by hand: the classic exercise.

In training mode each feature is standardised with its batch's own statistics, then
scaled and shifted by learnt ``gamma`` and ``beta``:

    mu   = mean(x)                       over the N samples of the batch
    var  = mean((x - mu) ** 2)           (biased, as the forward uses it)
    xhat = (x - mu) / sqrt(var + eps)
    y    = gamma * xhat + beta

Every sample's output depends on every other sample through mu and var, which is what
makes the backward pass worth writing out. :func:`batchnorm_backward` walks the graph
above node by node, in reverse (each step is "downstream = upstream x local", and a
node used twice adds its two gradients); :func:`batchnorm_backward_alt` is the same
gradient simplified on paper into one line:

    dbeta  = sum(dy)
    dgamma = sum(dy * xhat)
    dx     = gamma / sqrt(var + eps) / N * (N * dy - dbeta - xhat * dgamma)

Both are checked against chainrule's ``BatchNorm1d`` (and, for images, ``BatchNorm2d``,
which normalises each channel over the batch and both spatial axes) and against central
differences, in float64.

    python examples/batchnorm_backward.py
"""

import time

import numpy as np

import chainrule as cr


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm of ``x`` (N, D); returns the output and what backward needs."""
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    xhat = xc / std
    return gamma * xhat + beta, (xc, std, xhat, gamma)


def batchnorm_backward(dy, cache):
    """The gradients (dx, dgamma, dbeta), node by node through the forward's graph."""
    xc, std, xhat, gamma = cache
    n = dy.shape[0]
    # y = gamma * xhat + beta: beta and gamma were broadcast over the batch, so their
    # gradients are sums over it; the mul gate hands xhat the other factor.
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dxhat = dy * gamma
    # xhat = xc * (1 / std): xc is used here and in var, so it collects two gradients.
    dxc = dxhat / std
    dinv_std = (dxhat * xc).sum(axis=0)
    dstd = -dinv_std / std**2
    dvar = dstd / (2 * std)  # std = sqrt(var + eps)
    dxc += 2 * xc * dvar / n  # var = mean(xc ** 2)
    # xc = x - mu, mu = mean(x): x gets dxc directly and, through mu, minus its mean.
    dx = dxc - dxc.mean(axis=0)
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dy, cache):
    """The same gradients from the simplified formula (one expression for dx)."""
    _, std, xhat, gamma = cache
    n = dy.shape[0]
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = gamma / std / n * (n * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def spatial_batchnorm(x, gamma, beta, dy, eps=1e-5, backward=batchnorm_backward_alt):
    """Batch norm of images (N, C, H, W) per channel, forward and backward: every pixel of
    every image is one sample of its channel, so it is the (N * H * W, C) case above."""
    n, c, h, w = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, c)
    out, cache = batchnorm_forward(rows, gamma, beta, eps)
    dx, dgamma, dbeta = backward(dy.transpose(0, 2, 3, 1).reshape(-1, c), cache)
    back = (n, h, w, c)
    return (
        out.reshape(back).transpose(0, 3, 1, 2),
        dx.reshape(back).transpose(0, 3, 1, 2),
        dgamma,
        dbeta,
    )


def numerical_gradient(f, a, dy, h=1e-5):
    """Central differences of sum(f() * dy) with respect to every element of ``a``,
    which f reads (changed in place and restored)."""
    grad = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        saved = a[index]
        a[index] = saved + h
        plus = np.sum(f() * dy)
        a[index] = saved - h
        minus = np.sum(f() * dy)
        a[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad


def error(a, b):
    """Largest difference relative to the largest value: max|a - b| / max|b|."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def chainrule_batchnorm(x, gamma, beta, dy, eps=1e-5):
    """Output and (dx, dgamma, dbeta) from chainrule's BatchNorm1d or BatchNorm2d."""
    layer = (cr.nn.BatchNorm1d if x.ndim == 2 else cr.nn.BatchNorm2d)(
        len(gamma), eps=eps, dtype=np.float64
    )
    layer.weight.data, layer.bias.data = gamma.copy(), beta.copy()
    xt = cr.tensor(x, requires_grad=True)
    out = layer(xt)
    out.backward(dy)
    return out.numpy(), (xt.grad.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy())


def main(n=16, d=5, image=(4, 3, 5, 5), seed=0, verbose=True):
    """Check both hand-written backward passes against chainrule and central differences;
    returns the largest relative errors."""
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, (n, d))  # off-centre and wide: the normalisation has work
    gamma, beta = rng.normal(1.0, 0.5, d), rng.normal(0.0, 0.5, d)
    dy = rng.normal(size=(n, d))

    out, cache = batchnorm_forward(x, gamma, beta)
    staged, alt = batchnorm_backward(dy, cache), batchnorm_backward_alt(dy, cache)
    cr_out, cr_grads = chainrule_batchnorm(x, gamma, beta, dy)
    numeric = [
        numerical_gradient(lambda: batchnorm_forward(x, gamma, beta)[0], a, dy)
        for a in (x, gamma, beta)
    ]
    result = {
        "forward_vs_chainrule": error(out, cr_out),
        "staged_vs_chainrule": max(map(error, staged, cr_grads)),
        "alt_vs_chainrule": max(map(error, alt, cr_grads)),
        "staged_vs_numeric": max(map(error, staged, numeric)),
    }

    # Images: BatchNorm2d's statistics per channel over (N, H, W).
    xi = rng.normal(-1.0, 3.0, image)
    gi, bi = rng.normal(1.0, 0.5, image[1]), rng.normal(0.0, 0.5, image[1])
    dyi = rng.normal(size=image)
    out_i, *grads_i = spatial_batchnorm(xi, gi, bi, dyi, backward=batchnorm_backward)
    cr_out_i, cr_grads_i = chainrule_batchnorm(xi, gi, bi, dyi)
    result["spatial_forward_vs_chainrule"] = error(out_i, cr_out_i)
    result["spatial_vs_chainrule"] = max(map(error, grads_i, cr_grads_i))

    if verbose:
        for name, value in result.items():
            print(f"{name:30s} {value:.1e}")
        big_x, big_dy = rng.normal(size=(4096, 512)), rng.normal(size=(4096, 512))
        _, big_cache = batchnorm_forward(big_x, np.ones(512), np.zeros(512))
        times = []
        for backward in (batchnorm_backward, batchnorm_backward_alt):
            start = time.perf_counter()
            for _ in range(5):
                backward(big_dy, big_cache)
            times.append(time.perf_counter() - start)
        print(
            f"4096 x 512: the one-line formula takes {times[1] / times[0]:.2f}x the time of "
            "the staged backward"
        )
    return result


if __name__ == "__main__":
    main()
