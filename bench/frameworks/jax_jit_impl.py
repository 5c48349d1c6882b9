"""JAX with jax.jit: the whole step is compiled once (during warm-up), then replayed."""

import jax

from bench.frameworks.jax_impl import (
    NUMPY_ARRAYS,
    VERSION,
    enable_float64,
    mlp_inputs,
    mlp_loss,
    small_ops_chain,
)
from bench.workloads import LR, small_ops_input

__all__ = ["NUMPY_ARRAYS", "VERSION", "make_mlp_step", "make_small_ops"]


@jax.jit
def _train_step(params, x, y):
    loss, grads = jax.value_and_grad(mlp_loss)(params, x, y)
    return [p - LR * g for p, g in zip(params, grads)], loss


def make_mlp_step(batch):
    x, y, params = mlp_inputs(batch)

    def step():
        params[:], loss = _train_step(params, x, y)
        jax.block_until_ready(params)
        return float(loss)

    return step


def make_small_ops(n):
    enable_float64()
    x0 = jax.numpy.asarray(small_ops_input())
    grad_fn = jax.jit(jax.grad(small_ops_chain(n)))
    return lambda: float(grad_fn(x0).sum())
