"""Making tensors: from data, filled, random, ranges."""

import numpy as np

from .tensor import _DEFAULT_FLOAT, Tensor

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind :func:`randn` and :func:`rand`."""
    global _rng
    _rng = np.random.default_rng(seed)


def _make(array, requires_grad, name=None):
    t = Tensor._new(array)
    t.name = name
    return t.requires_grad_(True) if requires_grad else t


def tensor(data, dtype=None, requires_grad=False, name=None):
    """A new tensor holding a copy of ``data``; Python floats become float32.

    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 2.0]]).dtype
    dtype('float32')
    """
    return Tensor(data, requires_grad=requires_grad, name=name, dtype=dtype)


def from_numpy(array, requires_grad=False, name=None):
    """A tensor sharing memory with ``array`` (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an ndarray, got {type(array).__name__}")
    return _make(array, requires_grad, name)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape


def zeros(*shape, dtype=_DEFAULT_FLOAT, requires_grad=False):
    return _make(np.zeros(_shape(shape), dtype=dtype), requires_grad)


def ones(*shape, dtype=_DEFAULT_FLOAT, requires_grad=False):
    return _make(np.ones(_shape(shape), dtype=dtype), requires_grad)


def full(shape, value, dtype=_DEFAULT_FLOAT, requires_grad=False):
    return _make(np.full(shape, value, dtype=dtype), requires_grad)


def zeros_like(x, requires_grad=False):
    return _make(np.zeros_like(np.asarray(x)), requires_grad)


def ones_like(x, requires_grad=False):
    return _make(np.ones_like(np.asarray(x)), requires_grad)


def randn(*shape, dtype=_DEFAULT_FLOAT, requires_grad=False):
    """Standard normal samples (seed with :func:`manual_seed`)."""
    return _make(_rng.standard_normal(_shape(shape)).astype(dtype), requires_grad)


def rand(*shape, dtype=_DEFAULT_FLOAT, requires_grad=False):
    """Uniform samples in [0, 1)."""
    return _make(_rng.random(_shape(shape)).astype(dtype), requires_grad)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Evenly spaced values; float arguments give float32, as ``np.arange`` otherwise."""
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and array.dtype == np.float64:
        dtype = _DEFAULT_FLOAT
    return _make(array.astype(dtype) if dtype else array, requires_grad)


def eye(n, m=None, dtype=_DEFAULT_FLOAT, requires_grad=False):
    return _make(np.eye(n, m, dtype=dtype), requires_grad)
