"""Every differentiable function, by family; ``REGISTRY`` lists the primitives."""

from .elementwise import (
    abs,
    add,
    astype,
    clamp,
    clip,
    cos,
    div,
    exp,
    leaky_relu,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sin,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from .linalg import *  # noqa: F401,F403  (matmul, einsum, dot, tensordot, tril, ...)
from . import attention, conv, norm, pool, recurrent, solvers  # noqa: F401  (registered; cr.nn)
from .nn import log_softmax, logsumexp, softmax
from .reduce import max, mean, min, prod, std, sum, sum_to, var
from .registry import REGISTRY, Op, apply, defop
from .shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    getitem,
    pad,
    reshape,
    split,
    squeeze,
    stack,
    swapaxes,
    transpose,
)

# The families added beside the core ones list their public names in __all__.
from .activation import *  # noqa: E402,F401,F403
from .arithmetic import *  # noqa: E402,F401,F403
from .arrange import *  # noqa: E402,F401,F403
from .decompositions import *  # noqa: E402,F401,F403
from .exponential import *  # noqa: E402,F401,F403
from .join import *  # noqa: E402,F401,F403
from .logic import *  # noqa: E402,F401,F403
from .order import *  # noqa: E402,F401,F403
from .pytorch import *  # noqa: E402,F401,F403
from .scan import *  # noqa: E402,F401,F403
from .trig import *  # noqa: E402,F401,F403

subtract, multiply, divide, negative, power = sub, mul, div, neg, pow
