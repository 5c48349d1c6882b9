"""Functions without a gradient: rounding, tests, comparisons, indices, shapes, constants.

NumPy computes each of them on the arrays behind the Tensors among its arguments. The
result is a constant: a Tensor that does not require grad where an argument was a Tensor
(tuples of them where NumPy gives a tuple of arrays), NumPy's own result otherwise; the
Python bools, ints and tuples that NumPy returns (``allclose``, ``ndim``, ``shape``) stay
what they are. Rounding is piecewise constant, so a zero gradient is its true derivative
away from the jumps; using the result in a graph treats it as a constant, as autograd and
PyTorch do. These are also the functions NumPy runs when called on Tensors
(``np.floor(t)``, ``np.argmax(t)``: see ``chainrule.numpy_dispatch``).

>>> import chainrule as cr
>>> x = cr.tensor([1.5, -0.5, 2.0], requires_grad=True)
>>> cr.floor(x), cr.argmax(x), cr.isfinite(x).requires_grad
(tensor([ 1., -1.,  2.]), tensor(2), False)
>>> cr.allclose(x, x), cr.shape(x)
(True, (3,))
"""

import builtins
import inspect

import numpy as np

from ..tensor import Tensor
from .reduce import resolve

__all__ = [
    "all",
    "allclose",
    "angle",
    "any",
    "argmax",
    "argmin",
    "argpartition",
    "argwhere",
    "around",
    "array_equal",
    "array_equiv",
    "bincount",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "ceil",
    "count_nonzero",
    "digitize",
    "empty_like",
    "equal",
    "fix",
    "flatnonzero",
    "floor",
    "floor_divide",
    "full_like",
    "gcd",
    "greater",
    "greater_equal",
    "histogram",
    "histogram_bin_edges",
    "imag",
    "invert",
    "isclose",
    "iscomplex",
    "iscomplexobj",
    "isfinite",
    "isin",
    "isinf",
    "isnan",
    "isnat",
    "isneginf",
    "isposinf",
    "isreal",
    "isrealobj",
    "lcm",
    "left_shift",
    "less",
    "less_equal",
    "lexsort",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "ndim",
    "nonzero",
    "not_equal",
    "ones_like",
    "ravel_multi_index",
    "right_shift",
    "rint",
    "round",
    "searchsorted",
    "signbit",
    "size",
    "spacing",
    "trunc",
    "unique",
    "unravel_index",
    "zeros_like",
]
# Every function here: ``shape`` is exported as ``cr.shape`` only, outside ``__all__``, since
# in ``chainrule.ops`` that name is the module ``ops.shape``.
FUNCTIONS = (*__all__, "shape")


def arrays(values):
    """Tensors replaced by their arrays, inside lists, tuples and dicts too."""
    if isinstance(values, Tensor):
        return values.data
    if isinstance(values, (list, tuple)):
        return type(values)(arrays(v) for v in values)
    if isinstance(values, dict):
        return {k: arrays(v) for k, v in values.items()}
    return values


def _holds_tensor(values):
    if isinstance(values, Tensor):
        return True
    if isinstance(values, (list, tuple)):
        return builtins.any(_holds_tensor(v) for v in values)
    if isinstance(values, dict):
        return builtins.any(_holds_tensor(v) for v in values.values())
    return False


def _constants(result):
    """NumPy's arrays and scalars as Tensors outside the graph; Python values as they are."""
    if isinstance(result, (np.ndarray, np.generic)):
        return Tensor._new(np.asarray(result))
    if type(result) in (tuple, list):
        return type(result)(_constants(r) for r in result)
    return result


def constant(function, args, kwargs, weights=()):
    """``function`` run on the arrays behind ``args``, its result a constant (module doc).

    ``weights`` names the keywords whose values would carry a gradient (histogram weights):
    a Tensor that requires grad there is refused rather than silently cut from the graph.
    """
    for name in weights:
        value = kwargs.get(name)
        if isinstance(value, Tensor) and value.requires_grad:
            raise TypeError(
                f"{function.__name__}: {name}= has no gradient here; pass "
                f"{name}.detach() to use it as a constant"
            )
    result = function(*arrays(args), **arrays(kwargs))
    return _constants(result) if _holds_tensor((args, kwargs)) else result


def _wrap(function, doc, name=None, weights=()):
    """A chainrule function under NumPy's name that runs ``function`` as a constant."""

    def run(*args, **kwargs):
        return constant(function, args, kwargs, weights)

    run.__name__ = run.__qualname__ = name or function.__name__
    run.__module__ = __name__
    run.__doc__ = f"{doc} (NumPy's ``np.{function.__name__}``; no gradient)."
    try:
        # inspect reads the attribute; the function type's stub does not declare it.
        run.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    except (TypeError, ValueError):  # some ufuncs have none
        pass
    return run


# ----------------------------------------------------------------------- rounding
ceil = _wrap(np.ceil, "The smallest integer >= each element")
floor = _wrap(np.floor, "The largest integer <= each element")
trunc = _wrap(np.trunc, "Each element with its fractional part dropped (towards 0)")
rint = _wrap(np.rint, "Each element rounded to the nearest integer (halves to even)")
round = _wrap(np.round, "Each element rounded to ``decimals`` decimals (halves to even)")
around = _wrap(np.around, "Each element rounded to ``decimals`` decimals, as ``round``")
fix = _wrap(np.fix, "Each element rounded towards zero")
floor_divide = _wrap(np.floor_divide, "floor(a / b), elementwise (Python's ``//``)")

# ----------------------------------------------------------------------- tests
isnan = _wrap(np.isnan, "Where the elements are NaN")
isinf = _wrap(np.isinf, "Where the elements are +inf or -inf")
isposinf = _wrap(np.isposinf, "Where the elements are +inf")
isneginf = _wrap(np.isneginf, "Where the elements are -inf")
isfinite = _wrap(np.isfinite, "Where the elements are neither infinite nor NaN")
isnat = _wrap(np.isnat, "Where datetime elements are NaT")
signbit = _wrap(np.signbit, "Where the sign bit is set (negative numbers, -0.0)")
spacing = _wrap(np.spacing, "The distance from each element to the next float")
iscomplex = _wrap(np.iscomplex, "Where the elements have a nonzero imaginary part")
isreal = _wrap(np.isreal, "Where the elements have no imaginary part")
iscomplexobj = _wrap(np.iscomplexobj, "Whether the dtype is complex (a Python bool)")
isrealobj = _wrap(np.isrealobj, "Whether the dtype is not complex (a Python bool)")


def imag(val):
    """The imaginary part, as ``np.imag``: zeros of a real input's shape and dtype, a
    constant (no gradient).

    >>> import chainrule as cr
    >>> cr.imag(cr.tensor([1.0, -2.0], requires_grad=True))
    tensor([0., 0.])
    """
    return constant(lambda data: np.array(np.imag(data)), (val,), {})  # imag's view is read-only


def angle(z, deg=False):
    """The angle of each element in the complex plane, as ``np.angle``: 0 for a positive
    real number, pi (180 with ``deg``) for a negative one; a constant (no gradient)."""
    return constant(np.angle, (z,), {"deg": deg})


# ----------------------------------------------------------------------- comparisons
equal = _wrap(np.equal, "a == b, elementwise")
not_equal = _wrap(np.not_equal, "a != b, elementwise")
less = _wrap(np.less, "a < b, elementwise")
less_equal = _wrap(np.less_equal, "a <= b, elementwise")
greater = _wrap(np.greater, "a > b, elementwise")
greater_equal = _wrap(np.greater_equal, "a >= b, elementwise")
logical_and = _wrap(np.logical_and, "a and b, elementwise")
logical_or = _wrap(np.logical_or, "a or b, elementwise")
logical_xor = _wrap(np.logical_xor, "a xor b, elementwise")
logical_not = _wrap(np.logical_not, "not a, elementwise")
isclose = _wrap(np.isclose, "Where a and b are equal within a tolerance")
allclose = _wrap(np.allclose, "Whether a and b are equal within a tolerance (a Python bool)")
array_equal = _wrap(np.array_equal, "Whether a and b have the same shape and elements")
array_equiv = _wrap(np.array_equiv, "Whether a and b broadcast and have the same elements")
isin = _wrap(np.isin, "Where the elements of ``element`` are in ``test_elements``")

# ----------------------------------------------------------------------- indices
argpartition = _wrap(np.argpartition, "The indices that partition ``a`` around ``kth``")
argwhere = _wrap(np.argwhere, "The indices of the nonzero elements, one row per element")
flatnonzero = _wrap(np.flatnonzero, "The indices of the nonzero elements of ``a.ravel()``")
nonzero = _wrap(np.nonzero, "The indices of the nonzero elements, one array per axis")
searchsorted = _wrap(np.searchsorted, "Where ``v`` would be inserted to keep ``a`` sorted")
digitize = _wrap(np.digitize, "The index of the bin each element falls in")
lexsort = _wrap(np.lexsort, "The indices that sort by several keys, the last one first")
unique = _wrap(np.unique, "The sorted unique elements (and indices, inverse, counts)")
ravel_multi_index = _wrap(np.ravel_multi_index, "Flat indices of multi-indices")
unravel_index = _wrap(np.unravel_index, "Multi-indices of flat indices")

# ----------------------------------------------------------------------- bins
bincount = _wrap(
    np.bincount, "The number of times each non-negative int occurs", weights=("weights",)
)
histogram = _wrap(
    np.histogram, "The counts of the elements in bins, and the bin edges", weights=("weights",)
)
histogram_bin_edges = _wrap(
    np.histogram_bin_edges, "The bin edges ``histogram`` would use", weights=("weights",)
)

# ----------------------------------------------------------------------- integers
bitwise_and = _wrap(np.bitwise_and, "a & b, elementwise")
bitwise_or = _wrap(np.bitwise_or, "a | b, elementwise")
bitwise_xor = _wrap(np.bitwise_xor, "a ^ b, elementwise")
invert = _wrap(np.invert, "~a, elementwise")
left_shift = _wrap(np.left_shift, "a << b, elementwise")
right_shift = _wrap(np.right_shift, "a >> b, elementwise")
gcd = _wrap(np.gcd, "The greatest common divisor of |a| and |b|")
lcm = _wrap(np.lcm, "The lowest common multiple of |a| and |b|")

# ----------------------------------------------------------------------- shapes
shape = _wrap(np.shape, "The shape of ``a`` (a tuple)")
ndim = _wrap(np.ndim, "The number of axes of ``a`` (an int)")
size = _wrap(np.size, "The number of elements of ``a``, or along ``axis`` (an int)")


# ----------------------------------------------------------------------- reductions
def _reduction(function, a, axis, keepdims, aliases, **kwargs):
    axis, keepdims = resolve(axis, keepdims, aliases, function.__name__)
    return constant(function, (a,), {"axis": axis, "keepdims": keepdims, **kwargs})


def all(a, axis=None, out=None, keepdims=False, *, where=True, **aliases):
    """Whether every element (along ``axis``) is true, as ``np.all``; PyTorch's ``dim`` and
    ``keepdim`` are accepted. No gradient.

    >>> import chainrule as cr
    >>> cr.all(cr.tensor([[1.0, 0.0], [2.0, 3.0]]), dim=1)
    tensor([False,  True])
    """
    return _reduction(np.all, a, axis, keepdims, aliases, out=out, where=where)


def any(a, axis=None, out=None, keepdims=False, *, where=True, **aliases):
    """Whether some element (along ``axis``) is true, as ``np.any``; PyTorch's ``dim`` and
    ``keepdim`` are accepted. No gradient."""
    return _reduction(np.any, a, axis, keepdims, aliases, out=out, where=where)


def count_nonzero(a, axis=None, *, keepdims=False, **aliases):
    """The number of nonzero elements (along ``axis``), as ``np.count_nonzero`` (a Python
    int for all axes of an array); PyTorch's ``dim`` is accepted. No gradient."""
    return _reduction(np.count_nonzero, a, axis, keepdims, aliases)


def argmax(a, axis=None, out=None, *, keepdims=False, **aliases):
    """The index of the largest element (the first of ties), flattened or along ``axis``,
    as ``np.argmax``; PyTorch's ``dim`` and ``keepdim`` are accepted. No gradient.

    >>> import chainrule as cr
    >>> cr.argmax(cr.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
    tensor([1, 0])
    """
    return _reduction(np.argmax, a, axis, keepdims, aliases, out=out)


def argmin(a, axis=None, out=None, *, keepdims=False, **aliases):
    """The index of the smallest element (the first of ties), flattened or along ``axis``,
    as ``np.argmin``; PyTorch's ``dim`` and ``keepdim`` are accepted. No gradient."""
    return _reduction(np.argmin, a, axis, keepdims, aliases, out=out)


# ----------------------------------------------------------------------- constants
def _like_options(dtype, order, subok, shape, device):
    return {"dtype": dtype, "order": order, "subok": subok, "shape": shape, "device": device}


def _like(function, a, args, kwargs, requires_grad):
    result = constant(function, (a,) + args, kwargs)
    if requires_grad:  # PyTorch's keyword: a new leaf (int dtypes raise TypeError there)
        result = result if isinstance(result, Tensor) else Tensor._new(result)
        result.requires_grad_(True)
    return result


def zeros_like(
    a, dtype=None, order="K", subok=True, shape=None, *, device=None, requires_grad=False
):
    """Zeros of ``a``'s shape and dtype, as ``np.zeros_like``: a Tensor for a Tensor (or
    with ``requires_grad=True``, PyTorch's leaf), an ndarray otherwise.

    >>> import chainrule as cr
    >>> cr.zeros_like(cr.tensor([1.0, 2.0]))
    tensor([0., 0.])
    """
    return _like(
        np.zeros_like, a, (), _like_options(dtype, order, subok, shape, device), requires_grad
    )


def ones_like(
    a, dtype=None, order="K", subok=True, shape=None, *, device=None, requires_grad=False
):
    """Ones of ``a``'s shape and dtype, as ``np.ones_like`` (a Tensor for a Tensor, or with
    ``requires_grad=True``)."""
    return _like(
        np.ones_like, a, (), _like_options(dtype, order, subok, shape, device), requires_grad
    )


def empty_like(
    prototype, dtype=None, order="K", subok=True, shape=None, *, device=None, requires_grad=False
):
    """An uninitialised array of ``prototype``'s shape and dtype, as ``np.empty_like`` (a
    Tensor for a Tensor, or with ``requires_grad=True``)."""
    return _like(
        np.empty_like,
        prototype,
        (),
        _like_options(dtype, order, subok, shape, device),
        requires_grad,
    )


def full_like(
    a,
    fill_value,
    dtype=None,
    order="K",
    subok=True,
    shape=None,
    *,
    device=None,
    requires_grad=False,
):
    """``fill_value`` in ``a``'s shape and dtype, as ``np.full_like`` (a Tensor for a Tensor,
    or with ``requires_grad=True``)."""
    return _like(
        np.full_like,
        a,
        (fill_value,),
        _like_options(dtype, order, subok, shape, device),
        requires_grad,
    )
