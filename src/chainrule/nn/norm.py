"""Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, and Dropout2d.

Parameters, buffers, state_dict keys, defaults and initialisation are PyTorch's, so a
PyTorch state_dict loads once converted to arrays (``{k: v.numpy()}``).

>>> import chainrule as cr
>>> from chainrule.nn.norm import BatchNorm2d
>>> bn = BatchNorm2d(3)
>>> list(bn.state_dict())
['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
>>> _ = bn(cr.randn(4, 3, 5, 5))
>>> int(bn.num_batches_tracked.item()), bn.running_mean.dtype
(1, dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ops.norm import batch_norm, dropout2d, group_norm, layer_norm
from ..ops.registry import data_of
from ..tensor import Tensor
from ..typing import DTypeLike, Seed
from . import init
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "Dropout2d", "GroupNorm", "LayerNorm"]


def _dtype(dtype):
    return np.dtype(np.float32 if dtype is None else dtype)


def _filled(shape, value, dtype):
    return Parameter(np.full(shape, value, dtype=dtype))


def _register_affine(module, shape, dtype, affine, bias):
    """The learnt ``weight`` (ones) and ``bias`` (zeros) of a normalisation, or None."""
    module.register_parameter("weight", _filled(shape, 1, dtype) if affine else None)
    module.register_parameter("bias", _filled(shape, 0, dtype) if affine and bias else None)


def _reset_affine(module):
    """Weight to ones, bias to zeros (those that exist)."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _BatchNorm(Module):
    """Batch normalisation over the channel axis 1, with running statistics.

    In training mode each batch is standardised with its own statistics, and the running
    ones are updated (``momentum``, or ``None`` for a cumulative average); in eval mode the
    running statistics are used. ``affine``: a learnt ``weight`` (ones) and ``bias``
    (zeros); ``track_running_stats=False``: batch statistics in both modes, no buffers.
    """

    _expected_dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: DTypeLike = np.float32,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        dtype = _dtype(dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _register_affine(self, num_features, dtype, affine, bias)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen."""
        if self.track_running_stats:
            self.running_mean.data = np.zeros_like(self.running_mean.data)
            self.running_var.data = np.ones_like(self.running_var.data)
            self.num_batches_tracked.data = np.zeros_like(self.num_batches_tracked.data)

    def reset_parameters(self) -> None:
        """Reset the running statistics, and the weight to ones and the bias to zeros."""
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, x):
        ndim = np.ndim(data_of(x))
        if ndim not in self._expected_dims:
            wanted = " or ".join(f"{n}D" for n in self._expected_dims)
            raise ValueError(
                f"{type(self).__name__}: expected {wanted} input (got {ndim}D "
                f"input of shape {np.shape(data_of(x))})"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data = np.asarray(self.num_batches_tracked.data + 1)
            if self.momentum is None:  # a cumulative average of every batch so far
                factor = 1.0 / float(self.num_batches_tracked.data)
        # Batch statistics in training, and in eval mode when there are no running ones.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return batch_norm(
            input,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def _upgrade_state_dict(self, state_dict, prefix):
        # PyTorch's rule for state dicts without version metadata (as {k: v.numpy()} is):
        # a missing count keeps the module's own.
        key = prefix + "num_batches_tracked"
        if self.num_batches_tracked is not None and key not in state_dict:
            state_dict[key] = self.num_batches_tracked.data

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over the channels C.

    >>> import chainrule as cr
    >>> BatchNorm1d(4)(cr.randn(8, 4)).shape
    (8, 4)
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over the channels C."""

    _expected_dims = (4,)


class LayerNorm(Module):
    """Layer normalisation over the last axes, of ``normalized_shape``.

    ``elementwise_affine``: a learnt ``weight`` (ones) and, with ``bias``, ``bias`` (zeros),
    both of ``normalized_shape``.

    >>> import chainrule as cr
    >>> LayerNorm(5)
    LayerNorm((5,), eps=1e-05, elementwise_affine=True, bias=True)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        dtype = _dtype(dtype)
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, dtype, elementwise_affine, bias)

    def reset_parameters(self) -> None:
        """Weight to ones, bias to zeros."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Group normalisation: ``num_channels`` split into ``num_groups`` groups, each
    standardised over its channels and positions; ``affine``: per-channel ``weight`` (ones)
    and, with ``bias``, ``bias`` (zeros).

    >>> import chainrule as cr
    >>> GroupNorm(2, 4)(cr.randn(3, 4, 5)).shape
    (3, 4, 5)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: DTypeLike = np.float32,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                f"num_groups ({num_groups})"
            )
        dtype = _dtype(dtype)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, num_channels, dtype, affine, bias)

    def reset_parameters(self) -> None:
        """Weight to ones, bias to zeros."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.affine}, bias={self.bias is not None}"
        )


class Dropout2d(Module):
    """Channel dropout: in training, each (sample, channel) of an (N, C, H, W) input is
    zeroed with probability ``p`` and the kept ones scaled by 1 / (1 - p); the identity in
    eval mode. ``rng`` is a Generator, a seed, or None for the default; ``inplace`` is
    accepted for PyTorch's signature (the result is always a new tensor); ``dtype`` is
    accepted like the other layers' (there is nothing to create).
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        rng: Seed = None,
        *,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout2d: p must be in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace
        self.rng = init.as_generator(rng)

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
