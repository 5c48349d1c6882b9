"""Every differentiable function, by family; ``REGISTRY`` lists the primitives."""

from .elementwise import (abs, add, astype, clamp, clip, cos, div, exp, leaky_relu, log, log1p,
                          maximum, minimum, mul, neg, pow, relu, sigmoid, sin, softplus, sqrt,
                          sub, tanh, where)
from .linalg import einsum, matmul, outer, trace
from . import solvers  # noqa: F401  (registers cr.linalg's ops)
from .nn import log_softmax, logsumexp, softmax
from .reduce import max, mean, min, prod, std, sum, sum_to, var
from .registry import REGISTRY, Op, apply, defop
from .shape import (broadcast_to, concatenate, expand_dims, flatten, getitem, pad, reshape,
                    split, squeeze, stack, swapaxes, transpose)

subtract, multiply, divide, negative, power = sub, mul, div, neg, pow
