"""chainrule: reverse-mode automatic differentiation over NumPy arrays.

>>> import chainrule as cr
>>> x, y, z = (cr.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
>>> f = (x + y) * z
>>> f.backward()
>>> f.item(), x.grad.item(), y.grad.item(), z.grad.item()
(-12.0, -4.0, -4.0, 3.0)
"""

import numpy as np

from .tensor import Tensor  # first: the ops and the engine build on it

from . import autograd, data, distributed, linalg, memory, nn, optim, viz  # noqa: I001
from . import compile  # cr.compile(step): the module is callable (chainrule.compile)
from .autograd.functional import grad, hessian, jacobian, jvp, value_and_grad, vjp
from .autograd.mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .check import check_grads, gradcheck, gradgradcheck
from .diagnose import GraphCheck, check_graph
from .creation import (
    arange,
    eye,
    from_numpy,
    full,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .errors import AxisError, CheckpointError, GradcheckError, ShapeError
from .serialization import load, save
from .ops import (
    abs,
    add,
    astype,
    broadcast_to,
    clamp,
    clip,
    concatenate,
    cos,
    div,
    einsum,
    exp,
    expand_dims,
    flatten,
    leaky_relu,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    outer,
    pad,
    pow,
    prod,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    softplus,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sub,
    sum,
    swapaxes,
    tanh,
    trace,
    transpose,
    var,
    where,
)
from .ops import divide, multiply, negative, power, subtract
from .ops.nn import linear
from .ops.activation import *  # noqa: F401,F403
from .ops.arithmetic import *  # noqa: F401,F403  (each family's __all__: NumPy's names)
from .ops.arrange import *  # noqa: F401,F403
from .ops.exponential import *  # noqa: F401,F403
from .ops.join import *  # noqa: F401,F403
from .ops.linalg import *  # noqa: F401,F403
from .ops.logic import *  # noqa: F401,F403
from .ops.logic import shape
from .ops.order import *  # noqa: F401,F403
from .ops.pytorch import *  # noqa: F401,F403
from .ops.scan import *  # noqa: F401,F403
from .ops.trig import *  # noqa: F401,F403

float32, float64 = np.float32, np.float64

__version__ = "0.1.0"
