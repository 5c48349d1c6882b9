"""Layers: Linear, Sequential, activations, Dropout, Identity and Flatten.

>>> import chainrule as cr
>>> model = cr.nn.Sequential(cr.nn.Linear(4, 8, rng=0), cr.nn.ReLU(), cr.nn.Linear(8, 2, rng=1))
>>> model(cr.randn(5, 4)).shape
(5, 2)
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Self, overload

import numpy as np

from ..ops import reshape
from ..ops.registry import data_of
from ..tensor import Tensor
from ..typing import DTypeLike, Seed
from . import functional as F
from . import init
from .module import Module, Parameter


class Linear(Module):
    """``y = x W^T + b`` with W of shape (out_features, in_features), as in PyTorch.

    Initialised as PyTorch does: W and b from U(-1/sqrt(in_features), 1/sqrt(in_features))
    (kaiming_uniform with a = sqrt(5)). ``rng`` is a Generator, a seed, or None for
    :func:`chainrule.nn.init.default_generator`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        generator = init.as_generator(rng)
        # Filled as arrays, then wrapped: fresh parameters have no in-place history to record.
        weight = np.empty((out_features, in_features), dtype=dtype)
        self.weight = Parameter(init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator))
        if bias:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
            self.bias: Parameter | None = Parameter(
                init.uniform_(np.empty(out_features, dtype=dtype), -bound, bound, generator)
            )
        else:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Sequential(Module):
    """Modules applied in order; indexable (a slice gives a Sequential), sized, iterable.

    Takes modules (named ``0``, ``1``, ...) or one OrderedDict of named modules.
    """

    @overload
    def __init__(self, *modules: Module) -> None: ...
    @overload
    def __init__(self, modules: OrderedDict[str, Module], /) -> None: ...
    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...
    def __getitem__(self, index: int | slice) -> Module | None:
        items: list[tuple[str, Any]] = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        # A child set to None stays in its place (and fails when called), as in PyTorch.
        return iter(self._modules.values())  # type: ignore[arg-type]

    def append(self, module: Module) -> Self:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class LeakyReLU(Module):
    """x where x > 0, ``negative_slope * x`` elsewhere."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """Softmax along ``dim`` (default: the last axis)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim`` (default: the last axis), computed stably."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, axis=self.dim)


class Dropout(Module):
    """Inverted dropout: in training, zero with probability ``p`` and scale by 1 / (1 - p).

    The identity in eval mode. ``rng`` is a Generator, a seed, or None for the default.
    """

    def __init__(self, p: float = 0.5, rng: Seed = None) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p
        self.rng = init.as_generator(rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Flatten the axes ``start_dim`` .. ``end_dim`` into one (default: all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        shape = np.shape(data_of(x))
        start, end = self.start_dim % len(shape), self.end_dim % len(shape)
        return reshape(x, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
