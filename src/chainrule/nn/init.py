"""Parameter initialisation, in place, with PyTorch's formulas.

Each function fills ``tensor.data`` (a Tensor or an ndarray) outside autograd,
keeping its dtype, from an explicit ``np.random.Generator``; without one it uses
this module's default generator, which :func:`seed` resets.

>>> import numpy as np
>>> from chainrule.nn import Parameter, init
>>> w = Parameter(np.zeros((3, 4), dtype=np.float32))
>>> _ = init.xavier_uniform_(w, generator=np.random.default_rng(0))
>>> bool(np.abs(w.data).max() <= np.sqrt(6 / 7)), w.dtype
(True, dtype('float32'))
"""

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from ..tensor import Tensor
from ..typing import Seed

#: What the initialisers fill, and return: a Tensor (Parameter) or an ndarray.
Filled = TypeVar("Filled", Tensor, np.ndarray)

_generator = np.random.default_rng()


def seed(s: int | None) -> None:
    """Reset the default generator used by initialisers and Dropout."""
    global _generator
    _generator = np.random.default_rng(s)


def default_generator() -> np.random.Generator:
    """The generator used when none is given."""
    return _generator


def as_generator(rng: Seed = None) -> np.random.Generator:
    """``rng`` as a Generator: None -> the default one, an int -> a new seeded one."""
    if rng is None:
        return _generator
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _fill(tensor: Filled, values: object) -> Filled:
    data = tensor.data if isinstance(tensor, Tensor) else tensor
    data[...] = values  # cast to the tensor's own dtype
    if isinstance(tensor, Tensor):
        tensor._version += 1  # graphs that saved the old values must not use them
    return tensor


def _shape(tensor: Tensor | np.ndarray) -> tuple[int, ...]:
    return np.shape(tensor.data if isinstance(tensor, Tensor) else tensor)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's table)."""
    if nonlinearity in ("linear", "identity", "sigmoid") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (out, in, *receptive field)."""
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a tensor of at least 2 dimensions, got shape {tuple(shape)}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform_(tensor: Filled, a: float = 0.0, b: float = 1.0, generator: Seed = None) -> Filled:
    """Fill with samples from U(a, b)."""
    return _fill(tensor, as_generator(generator).uniform(a, b, _shape(tensor)))


def normal_(tensor: Filled, mean: float = 0.0, std: float = 1.0, generator: Seed = None) -> Filled:
    """Fill with samples from N(mean, std^2)."""
    return _fill(tensor, as_generator(generator).normal(mean, std, _shape(tensor)))


def constant_(tensor: Filled, value: float) -> Filled:
    """Fill with ``value``."""
    return _fill(tensor, value)


def zeros_(tensor: Filled) -> Filled:
    """Fill with zeros."""
    return _fill(tensor, 0)


def ones_(tensor: Filled) -> Filled:
    """Fill with ones."""
    return _fill(tensor, 1)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fans(_shape(tensor))
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0


def kaiming_uniform_(
    tensor: Filled,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Seed = None,
) -> Filled:
    """He init: U(-b, b) with b = gain * sqrt(3 / fan); ``a`` is the leaky slope."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Filled,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Seed = None,
) -> Filled:
    """He init: N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def xavier_uniform_(tensor: Filled, gain: float = 1.0, generator: Seed = None) -> Filled:
    """Glorot init: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(_shape(tensor))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Filled, gain: float = 1.0, generator: Seed = None) -> Filled:
    """Glorot init: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(_shape(tensor))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)
