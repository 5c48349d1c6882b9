"""NumPy's functions and ufuncs called on Tensors: run chainrule's, never drop the graph.

``np.cumsum(t)``, ``np.exp(t)`` or ``array + t`` reach Tensor's ``__array_function__`` and
``__array_ufunc__``, which land here. A function chainrule has under NumPy's name (in
``chainrule.ops``, or ``chainrule.linalg`` for ``np.linalg``) is called with the same
arguments; that includes the functions whose result carries no gradient (rounding,
comparisons, indices, shapes: ``chainrule.ops.logic``), which give constants. Anything else
is a TypeError that names the function, instead of a plain array silently cut from the graph.

>>> import numpy as np, chainrule as cr
>>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> np.sum(np.exp(x) * 2).backward()
>>> bool(np.allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0, 3.0])))
True
>>> np.shape(x), np.argmax(x), np.floor(x / 2).requires_grad
((3,), tensor(2), False)
"""

import numpy as np

from .ops import logic
from .ops.logic import arrays as _arrays
from .tensor import Tensor

# NumPy's names for what chainrule spells differently.
_RENAMED = {"concat": "concatenate", "permute_dims": "transpose", "matrix_transpose": "mT"}

# Functions that are not mathematics (types, memory, printing, files): NumPy runs them on
# the arrays behind the Tensors. The mathematical ones without a gradient are
# chainrule functions of their own (``chainrule.ops.logic``).
_ON_ARRAYS = {
    "result_type",
    "can_cast",
    "min_scalar_type",
    "broadcast_shapes",
    "may_share_memory",
    "shares_memory",
    "array_repr",
    "array_str",
    "array2string",
    "save",
    "savez",
    "savez_compressed",
    "savetxt",
    "copyto",
}

# Functions and ufuncs whose result carries no gradient: one list, chainrule.ops.logic's.
_CONSTANTS = frozenset(logic.FUNCTIONS)

# ufunc.reduce / ufunc.accumulate with a chainrule equivalent.
_REDUCTIONS = {
    ("add", "reduce"): "sum",
    ("multiply", "reduce"): "prod",
    ("maximum", "reduce"): "max",
    ("minimum", "reduce"): "min",
    ("add", "accumulate"): "cumsum",
    ("multiply", "accumulate"): "cumprod",
}


def _tracked(values):
    """Whether any Tensor among ``values`` (nested) requires grad."""
    if isinstance(values, Tensor):
        return values.requires_grad
    if isinstance(values, (list, tuple)):
        return any(_tracked(v) for v in values)
    if isinstance(values, dict):
        return any(_tracked(v) for v in values.values())
    return False


def _chainrule_function(name, module):
    from . import creation, linalg, ops

    if module == "numpy.linalg":
        function = getattr(linalg, name, None)
    elif name in _CONSTANTS:
        return getattr(logic, name)
    else:  # the ops, then the ranges built from Tensors (np.linspace)
        name = _RENAMED.get(name, name)
        function = getattr(ops, name, None) or getattr(creation, name, None)
    return function if callable(function) else None


def _refuse(what):
    raise TypeError(
        f"{what} has no differentiable version in chainrule, and running it on "
        "the arrays would cut the graph; use a chainrule function, or call it on "
        "t.detach().numpy() where no gradient is wanted"
    )


def function(func, args, kwargs):
    """``func(*args, **kwargs)`` for a NumPy function called with a Tensor among its args."""
    name, module = func.__name__, func.__module__ or ""
    if name in _ON_ARRAYS:
        return func(*_arrays(args), **_arrays(kwargs))
    chainrule_function = _chainrule_function(name, module)
    if chainrule_function is None:
        prefix = "np.linalg." if module == "numpy.linalg" else "np."
        _refuse(prefix + name if module.startswith("numpy") else name)
    return chainrule_function(*args, **kwargs)


def ufunc(ufunc, method, inputs, kwargs):
    """A NumPy ufunc called on Tensors (``np.exp(t)``, ``array * t``, ``array += t``)."""
    name = ufunc.__name__
    if method == "__call__" and "out" not in kwargs and name in _CONSTANTS:
        return getattr(logic, name)(*inputs, **kwargs)
    if "out" in kwargs or name in _CONSTANTS or not _tracked(inputs):
        # Nothing to record: NumPy computes it (into ``out`` when given).
        if "out" in kwargs and _tracked(inputs):
            _refuse(f"np.{name} with out= (writing a tracked result into an array)")
        result = getattr(ufunc, method)(*_arrays(inputs), **_arrays(kwargs))
        if "out" in kwargs:
            return result
        return (
            Tensor._new(np.asarray(result))
            if isinstance(result, np.ndarray) or np.isscalar(result)
            else result
        )
    if method == "__call__" and not kwargs:
        chainrule_function = _chainrule_function(name, "numpy")
        if chainrule_function is not None:
            return chainrule_function(*inputs)
    elif (name, method) in _REDUCTIONS and len(inputs) == 1:
        kwargs = dict(kwargs)
        kwargs.setdefault("axis", 0)  # ufunc.reduce's default, unlike np.sum's
        chainrule_function = _chainrule_function(_REDUCTIONS[name, method], "numpy")
        if chainrule_function is not None:
            return chainrule_function(*inputs, **kwargs)
    _refuse(f"np.{name}" + ("" if method == "__call__" else f".{method}"))
