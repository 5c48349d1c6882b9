"""HIPS autograd: traces NumPy calls through a wrapped namespace (autograd.numpy)."""

from importlib.metadata import version
from time import perf_counter

import autograd.numpy as anp
from autograd import make_vjp, value_and_grad
from autograd.scipy.special import logsumexp

from bench.workloads import ADD, DEEP_CHAIN_FACTOR, LR, MUL, mlp_problem, small_ops_input

VERSION = version("autograd")

_OPS = (lambda t: t * MUL, lambda t: t + ADD, anp.tanh, anp.exp, anp.sin)


def make_mlp_step(batch):
    x, y, params = mlp_problem(batch)
    rows = anp.arange(batch)

    def loss_fn(params):
        w1, b1, w2, b2, w3, b3 = params
        h = anp.maximum(anp.dot(x, w1) + b1, 0)
        h = anp.maximum(anp.dot(h, w2) + b2, 0)
        z = anp.dot(h, w3) + b3
        return anp.mean(logsumexp(z, axis=1) - z[rows, y])

    loss_and_grads = value_and_grad(loss_fn)

    def step():
        loss, grads = loss_and_grads(params)
        # Parameters are plain ndarrays between calls, so they can be updated in place.
        for p, g in zip(params, grads):
            p -= LR * g
        return float(loss)

    return step


def make_small_ops(n):
    x0 = small_ops_input()

    def chain(x):
        for i in range(n):
            x = _OPS[i % 5](x)
        return anp.sum(x)

    grad_fn = value_and_grad(chain)
    return lambda: float(grad_fn(x0)[1].sum())


def deep_chain(n):
    def chain(x):
        for _ in range(n):
            x = x * DEEP_CHAIN_FACTOR
        return anp.sum(x)

    t0 = perf_counter()
    vjp, _ = make_vjp(chain)(anp.ones(1))
    t1 = perf_counter()
    grad = vjp(1.0)
    t2 = perf_counter()
    return t1 - t0, t2 - t1, float(grad[0])
