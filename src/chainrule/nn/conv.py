"""Convolution layers: Conv1d, Conv2d and ConvTranspose2d, as PyTorch's (NCHW).

Parameters are ``weight`` (out_channels, in_channels / groups, *kernel_size) — for the
transposed convolution (in_channels, out_channels / groups, *kernel_size) — and ``bias``
(out_channels,), initialised as PyTorch does: kaiming_uniform with a = sqrt(5) and the bias
from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). PyTorch's state dicts load through
``load_state_dict({k: v.numpy()})``.

>>> import chainrule as cr
>>> from chainrule.nn.conv import Conv2d
>>> conv = Conv2d(3, 8, 3, padding=1, rng=0)
>>> conv(cr.randn(2, 3, 5, 5)).shape, conv.weight.shape, conv.weight.dtype
((2, 8, 5, 5), (8, 3, 3, 3), dtype('float32'))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..ops import conv as C
from ..ops.registry import data_of
from ..tensor import Tensor
from ..typing import DTypeLike, Seed
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]


class _ConvNd(Module):
    """What the convolutions share: their parameters, initialisation and repr."""

    _dims = 2
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...],
        padding: int | tuple[int, ...] | str,
        dilation: int | tuple[int, ...],
        groups: int,
        bias: bool,
        padding_mode: str,
        dtype: DTypeLike,
        rng: Seed,
        output_padding: int | tuple[int, ...] = 0,
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self._dims
        if not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels "
                f"({out_channels}) must both be divisible by groups ({groups})"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = C.ntuple(kernel_size, n, name, "kernel_size")
        self.stride = C.ntuple(stride, n, name, "stride")
        self.dilation = C.ntuple(dilation, n, name, "dilation")
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided "
                    f"convolutions (stride {self.stride})"
                )
            self.padding = padding
        else:
            self.padding = C.ntuple(padding, n, name, "padding")
        self.output_padding = C.ntuple(output_padding, n, name, "output_padding")
        self.groups, self.padding_mode = groups, padding_mode
        shape = (
            (in_channels, out_channels // groups)
            if self._transposed
            else (out_channels, in_channels // groups)
        ) + self.kernel_size
        generator = init.as_generator(rng)
        # Filled as arrays, then wrapped: fresh parameters have no in-place history.
        weight = np.empty(shape, dtype=dtype)
        self.weight = Parameter(init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator))
        if bias:
            fan_in = init.fans(shape)[0]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.bias: Parameter | None = Parameter(
                init.uniform_(np.empty(out_channels, dtype=dtype), -bound, bound, generator)
            )
        else:
            self.bias = None

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self._dims:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) inputs, as ``torch.nn.Conv1d``."""

    _dims = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype,
            rng,
        )

    def forward(self, input: Tensor) -> Tensor:
        return C.conv1d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) inputs, as ``torch.nn.Conv2d``: im2col and one
    matrix product (see :mod:`chainrule.ops.conv`)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype,
            rng,
        )

    def forward(self, input: Tensor) -> Tensor:
        return C.conv2d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution, as ``torch.nn.ConvTranspose2d``; ``forward`` takes an
    optional ``output_size`` (the last two entries count) that picks the output padding."""

    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        output_padding: int | tuple[int, ...] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, ...] = 1,
        padding_mode: str = "zeros",
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype,
            rng,
            output_padding,
        )

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding(np.shape(data_of(input))[-2:], output_size)
        return C.conv_transpose2d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )

    def _output_padding(self, size, output_size):
        """The output padding that makes the output ``output_size`` (PyTorch's rule)."""
        wanted = tuple(output_size)[-2:]
        padding = []
        for n, want, k, s, p, d in zip(
            size, wanted, self.kernel_size, self.stride, self.padding, self.dilation
        ):
            smallest = C.transposed_size(n, k, s, p, 0, d)
            if not smallest <= want < smallest + s:
                raise ValueError(
                    f"ConvTranspose2d: requested output size {wanted} is not "
                    f"reachable from input of spatial size {tuple(size)}: each "
                    f"size must lie in [{smallest}, {smallest + s - 1}]"
                )
            padding.append(want - smallest)
        return tuple(padding)
