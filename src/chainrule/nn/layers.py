"""Layers: Linear, Sequential, activations, Dropout, Identity and Flatten.

>>> import chainrule as cr
>>> model = cr.nn.Sequential(cr.nn.Linear(4, 8, rng=0), cr.nn.ReLU(), cr.nn.Linear(8, 2, rng=1))
>>> model(cr.randn(5, 4)).shape
(5, 2)
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
"""

import math
from collections import OrderedDict

import numpy as np

from ..ops import reshape
from ..ops.registry import data_of
from . import functional as F
from . import init
from .module import Module, Parameter


class Linear(Module):
    """``y = x W^T + b`` with W of shape (out_features, in_features), as in PyTorch.

    Initialised as PyTorch does: W and b from U(-1/sqrt(in_features), 1/sqrt(in_features))
    (kaiming_uniform with a = sqrt(5)). ``rng`` is a Generator, a seed, or None for
    :func:`chainrule.nn.init.default_generator`.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        generator = init.as_generator(rng)
        # Filled as arrays, then wrapped: fresh parameters have no in-place history to record.
        weight = np.empty((out_features, in_features), dtype=dtype)
        self.weight = Parameter(init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator))
        if bias:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
            self.bias = Parameter(
                init.uniform_(np.empty(out_features, dtype=dtype), -bound, bound, generator)
            )
        else:
            self.bias = None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Sequential(Module):
    """Modules applied in order; indexable (a slice gives a Sequential), sized, iterable.

    Takes modules (named ``0``, ``1``, ...) or one OrderedDict of named modules.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        return F.tanh(x)


class LeakyReLU(Module):
    """x where x > 0, ``negative_slope * x`` elsewhere."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """Softmax along ``dim`` (default: the last axis)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim`` (default: the last axis), computed stably."""

    def forward(self, x):
        return F.log_softmax(x, axis=self.dim)


class Dropout(Module):
    """Inverted dropout: in training, zero with probability ``p`` and scale by 1 / (1 - p).

    The identity in eval mode. ``rng`` is a Generator, a seed, or None for the default.
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p
        self.rng = init.as_generator(rng)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"


class Identity(Module):
    """Returns its input."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten the axes ``start_dim`` .. ``end_dim`` into one (default: all but the batch)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        shape = np.shape(data_of(x))
        start, end = self.start_dim % len(shape), self.end_dim % len(shape)
        return reshape(x, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
