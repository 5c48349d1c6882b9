"""JAX in eager mode: jax.value_and_grad / jax.vjp called without jax.jit, op by op."""

from time import perf_counter

import jax
import jax.numpy as jnp

from bench.workloads import ADD, DEEP_CHAIN_FACTOR, LR, MUL, mlp_problem, small_ops_input

VERSION = jax.__version__
# Its arrays live in its own allocator, which tracemalloc does not see.
NUMPY_ARRAYS = False

OPS = (lambda t: t * MUL, lambda t: t + ADD, jnp.tanh, jnp.exp, jnp.sin)


def enable_float64():
    # JAX computes in float32 unless told otherwise; the scalar workloads are float64.
    jax.config.update("jax_enable_x64", True)


def mlp_loss(params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    h = jax.nn.relu(x @ w1 + b1)
    h = jax.nn.relu(h @ w2 + b2)
    logp = jax.nn.log_softmax(h @ w3 + b3, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def mlp_inputs(batch):
    x, y, arrays = mlp_problem(batch)
    return jnp.asarray(x), jnp.asarray(y), [jnp.asarray(a) for a in arrays]


def small_ops_chain(n):
    def chain(x):
        for i in range(n):
            x = OPS[i % 5](x)
        return jnp.sum(x)

    return chain


def make_mlp_step(batch):
    x, y, params = mlp_inputs(batch)
    loss_and_grads = jax.value_and_grad(mlp_loss)

    def step():
        loss, grads = loss_and_grads(params, x, y)
        params[:] = [p - LR * g for p, g in zip(params, grads)]
        # Dispatch is asynchronous: wait, so that the step is really finished.
        jax.block_until_ready(params)
        return float(loss)

    return step


def make_small_ops(n):
    enable_float64()
    x0 = jnp.asarray(small_ops_input())
    grad_fn = jax.grad(small_ops_chain(n))
    return lambda: float(grad_fn(x0).sum())


def deep_chain(n):
    enable_float64()

    def chain(x):
        for _ in range(n):
            x = x * DEEP_CHAIN_FACTOR
        return jnp.sum(x)

    x0 = jnp.ones(1)
    t0 = perf_counter()
    _, vjp = jax.vjp(chain, x0)
    t1 = perf_counter()
    (grad,) = vjp(jnp.ones(()))
    grad = float(grad[0])
    t2 = perf_counter()
    return t1 - t0, t2 - t1, grad
