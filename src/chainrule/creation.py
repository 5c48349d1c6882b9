"""Making tensors: from data, filled, random, ranges."""

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from .ops.arrange import moveaxis
from .ops.elementwise import astype, where
from .ops.logic import floor, ones_like, zeros_like  # noqa: F401  (NumPy's, as cr.*_like)
from .ops.registry import Case, Spec, composite, data_of
from .tensor import _DEFAULT_FLOAT, Tensor
from .typing import ArrayLike, DTypeLike, NDArray, ShapeLike, TensorLike

_rng = np.random.default_rng()


def manual_seed(seed: int | None) -> None:
    """Seed the generator behind :func:`randn` and :func:`rand`."""
    global _rng
    _rng = np.random.default_rng(seed)


def _make(array: NDArray[Any], requires_grad: bool, name: str | None = None) -> Tensor:
    t = Tensor._new(array)
    t.name = name
    return t.requires_grad_(True) if requires_grad else t


def tensor(
    data: TensorLike,
    dtype: DTypeLike | None = None,
    requires_grad: bool = False,
    name: str | None = None,
) -> Tensor:
    """A new tensor holding a copy of ``data``; Python floats become float32.

    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 2.0]]).dtype
    dtype('float32')
    """
    return Tensor(data, requires_grad=requires_grad, name=name, dtype=dtype)


def from_numpy(array: NDArray[Any], requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A tensor sharing memory with ``array`` (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an ndarray, got {type(array).__name__}")
    return _make(array, requires_grad, name)


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape


def zeros(
    *shape: int | Sequence[int], dtype: DTypeLike = _DEFAULT_FLOAT, requires_grad: bool = False
) -> Tensor:
    return _make(np.zeros(_shape(shape), dtype=dtype), requires_grad)


def ones(
    *shape: int | Sequence[int], dtype: DTypeLike = _DEFAULT_FLOAT, requires_grad: bool = False
) -> Tensor:
    return _make(np.ones(_shape(shape), dtype=dtype), requires_grad)


def full(
    shape: ShapeLike,
    value: ArrayLike,
    dtype: DTypeLike = _DEFAULT_FLOAT,
    requires_grad: bool = False,
) -> Tensor:
    return _make(np.full(shape, value, dtype=dtype), requires_grad)


def randn(
    *shape: int | Sequence[int], dtype: DTypeLike = _DEFAULT_FLOAT, requires_grad: bool = False
) -> Tensor:
    """Standard normal samples (seed with :func:`manual_seed`)."""
    return _make(_rng.standard_normal(_shape(shape)).astype(dtype), requires_grad)


def rand(
    *shape: int | Sequence[int], dtype: DTypeLike = _DEFAULT_FLOAT, requires_grad: bool = False
) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _make(_rng.random(_shape(shape)).astype(dtype), requires_grad)


def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values; float arguments give float32, as ``np.arange`` otherwise."""
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and array.dtype == np.float64:
        dtype = _DEFAULT_FLOAT
    return _make(array.astype(dtype) if dtype else array, requires_grad)


def eye(
    n: int, m: int | None = None, dtype: DTypeLike = _DEFAULT_FLOAT, requires_grad: bool = False
) -> Tensor:
    return _make(np.eye(n, m, dtype=dtype), requires_grad)


def _linspace_ref(np_, start, stop, num, endpoint=True, axis=0):
    # The definition, start + t (stop - start) for t = 0, 1/div, ..., written independently
    # of NumPy's linspace (autograd's rule knows scalar start and stop only).
    div = num - 1 if endpoint else num
    t = np.arange(num) / div if div > 0 else np.zeros(num)
    t = t.reshape((num,) + (1,) * np.ndim(start + stop))
    return np_.moveaxis(start + t * (stop - start), 0, axis)


@composite(
    Spec(
        [
            Case(((), ()), {"num": 5}),
            Case(((), ()), {"num": 4, "endpoint": False}),
            Case(((3,), ()), {"num": 4}),
            Case(((2, 1), (3,)), {"num": 3, "axis": -1}),
            Case(((2,), (2,)), {"num": 5, "axis": 1}),
            Case(((), ()), {"num": 1}),
            Case(((), ()), {"num": 1, "endpoint": False}),
            Case(((), ()), {"num": 0}),
        ],
        ref=_linspace_ref,
    )
)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (left out when ``endpoint``
    is False), as ``np.linspace``: array ``start``/``stop`` give one range per element,
    along ``axis``. Differentiable in ``start`` and ``stop``; with ``retstep`` the step
    comes too. Without a Tensor among them it is NumPy's own result.

    >>> import chainrule as cr
    >>> a = cr.tensor(0.0, requires_grad=True)
    >>> y = cr.linspace(a, 1.0, 5)
    >>> y.tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> y.sum().backward(); a.grad.item()  # the weights 1 - t: 1 + 0.75 + 0.5 + 0.25 + 0
    2.5
    """
    if not isinstance(start, Tensor) and not isinstance(stop, Tensor):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"linspace: number of samples, {num}, must be non-negative")
    div = num - 1 if endpoint else num
    # NumPy's result type: at least inexact; Python numbers take part weakly.
    inexact = np.result_type(data_of(start), data_of(stop), 0.0)
    start, stop = (
        astype(v, inexact) if isinstance(v, Tensor) and v.dtype != inexact else v
        for v in (start, stop)
    )
    delta = stop - start
    steps = np.arange(num, dtype=inexact).reshape((-1,) + (1,) * np.ndim(data_of(delta)))
    if div > 0:
        step = delta / div
        # NumPy's order of operations: t * step, or (t / div) * delta where a step underflows.
        y = steps / div * delta if np.any(data_of(step) == 0) else steps * step
    else:  # 0 values, or 1 with the endpoint: no step
        step = np.nan
        y = steps * delta
    y = y + start
    if endpoint and num > 1:  # the last value is stop itself, not start + div * step
        last = (np.arange(num) == num - 1).reshape(steps.shape)
        y = where(last, stop, y)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        dtype = np.dtype(dtype)
        y = astype(floor(y), dtype) if np.issubdtype(dtype, np.integer) else astype(y, dtype)
    return (y, step) if retstep else y
