"""Tensor: an ndarray, its gradient, and the node of the graph that produced it.

A Tensor made by an op *is* its graph node: it keeps the op, its inputs and the
op's parameters until backward frees them. Leaves (made by the user) have no op.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from .autograd.mode import GradMode
from .errors import ShapeError

if TYPE_CHECKING:
    from .typing import Axis, DTypeLike, TensorLike

_DEFAULT_FLOAT = np.float32


def _as_array(data, dtype=None):
    """Python numbers and lists of floats become float32; ndarrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, (np.ndarray, np.generic)):  # NumPy scalars keep their dtype too
        return np.array(data, dtype=dtype, copy=True)
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype == np.float64:
        array = array.astype(_DEFAULT_FLOAT)
    return array


def _check_differentiable(dtype):
    if np.issubdtype(dtype, np.complexfloating):
        raise TypeError(
            f"complex tensors cannot require gradients (dtype {dtype}): chainrule "
            "differentiates real functions; split into real and imaginary parts"
        )
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"only floating-point tensors can require gradients, got dtype {dtype}")


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = (
        "_data",
        "grad",
        "requires_grad",
        "name",
        "_op",
        "_inputs",
        "_params",
        "_versions",
        "_counter",
        "_hooks",
        "_retains_grad",
        "_seq",
        "_arrays",
        "__weakref__",
        "_before",  # set only by _inplace inside a graph: the tensor as it was before
        "_consumers",  # weak references to the nodes recorded with this tensor as an input
    )
    # What the slots hold, for type checkers (the graph's own slots are internal).
    _data: np.ndarray
    grad: Tensor | None
    requires_grad: bool
    name: str | None
    _op: Any
    _inputs: Any
    _params: Any
    _versions: Any
    _counter: Any
    _hooks: Any
    _retains_grad: bool
    _seq: int
    _arrays: Any
    _consumers: Any
    _before: Any

    # NumPy hands its ufuncs and functions on Tensors to chainrule (see numpy_dispatch).
    __array_priority__ = 1000
    # Comparisons are elementwise, so hashing stays by identity (graph dicts key on nodes).
    __hash__ = object.__hash__
    # How many in-place ops this process has run: while 0, no saved tensor can have changed,
    # so ops record no versions and backward checks none.
    inplace_ops = 0
    # How many tensors have been changed in place inside a graph (see _inplace, _before).
    rebased = 0

    def __init__(
        self,
        data: TensorLike,
        requires_grad: bool = False,
        name: str | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        array = _as_array(data, dtype)
        self._data = array
        self.grad = None
        self.requires_grad = False
        self.name = name
        self._op = None
        self._inputs = None
        self._params = None
        self._versions = None
        self._counter = None  # see _version
        self._hooks = None
        self._retains_grad = False
        self._seq = -1
        self._arrays = None
        self._consumers = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _new(cls, array):
        """Wrap an ndarray without copying (ops record nodes in ``ops.registry.apply``)."""
        t = object.__new__(cls)
        t._data = array
        t.grad = None
        t.requires_grad = False
        t.name = None
        t._op = None
        t._inputs = None
        t._params = None
        t._versions = None
        t._counter = None  # see _version
        t._hooks = None
        t._retains_grad = False
        t._seq = -1  # leaves come after every op in backward order
        t._arrays = None
        t._consumers = None
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def data(self) -> np.ndarray:
        """The underlying ndarray; assigning to it replaces the values outside autograd.

        While a recorded graph may have saved these values (the tensor was an input of a
        node that backward has not freed yet, or is such a node itself), it is returned as
        a view that counts every write into it (``t.data[...] = v``, ``t.data += v``,
        ``out=``) as an in-place change: backward through that graph then raises instead
        of using the changed values.

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> loss = (w * w).sum()
        >>> w.data[0] = 5.0
        >>> loss.backward()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        RuntimeError: backward of 'mul': input 0 (shape (2,)) was modified by an in-place ...
        """
        if _saved_by_graph(self):
            return _WatchedArray.over(self)
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        # A watched view handed back (``t.data -= v`` ends by assigning it) is the same
        # memory, already counted; anything else replaces the values, as in PyTorch.
        self._data = value.view(np.ndarray) if type(value) is _WatchedArray else value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def _version(self):
        """How many in-place changes this tensor's memory has had.

        The counter belongs to the memory, not the tensor: views and ``detach()`` share it,
        so a change made through any of them is seen by graphs that saved the others.
        """
        counter = self._counter
        return 0 if counter is None else counter[0]

    @_version.setter
    def _version(self, value):
        if self._counter is None:
            self._counter = [value]
        else:
            self._counter[0] = value
        Tensor.inplace_ops += 1  # from now on ops record versions and backward checks them

    @property
    def grad_fn(self) -> GradFn | None:
        """The node that made this tensor (None for leaves), with ``name`` and ``inputs``."""
        return None if self._op is None else GradFn(self)

    @property
    def T(self) -> Tensor:
        return transpose(self)

    @property
    def mT(self) -> Tensor:
        return swapaxes(self, -1, -2)

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def _refuse_to_leave_the_graph(self, how):
        """A traced value turned into a plain array or number would silently give a zero
        or wrong gradient: inside a transform that is an error, as in torch.func."""
        if self.requires_grad and functional.tracing():
            raise TypeError(
                f"{how} of a Tensor that is being differentiated would cut it "
                "from the graph; use chainrule functions on it, or .detach() "
                "where no gradient is meant to flow"
            )

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            if "index_tricks" in sys._getframe(1).f_code.co_filename:
                # np.r_ / np.c_ build arrays from their items: the graph would be cut.
                raise TypeError(
                    "np.r_ and np.c_ cannot record a graph; use cr.r_ and cr.c_ "
                    "(or cr.concatenate, cr.hstack)"
                )
            if dtype is None or np.dtype(dtype).kind not in "biu":  # an int cast has no grad
                self._refuse_to_leave_the_graph("np.asarray (or np.array)")
        if dtype is not None and dtype != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def numpy(self, force_writable: bool = False) -> np.ndarray:
        """The underlying ndarray (shared, not copied).

        For a tensor that requires grad it is a read-only view: a graph may have saved these
        values, and writing into them would silently change its gradients. Pass
        ``force_writable=True`` for the array itself, or use ``t.detach().numpy().copy()``.
        """
        if self.requires_grad and not force_writable:
            view = self._data.view()
            view.flags.writeable = False
            return view
        return self._data

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return numpy_dispatch.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return numpy_dispatch.function(func, args, kwargs)

    def item(self) -> Any:
        self._refuse_to_leave_the_graph(".item()")
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data and version counter, cut from the graph."""
        if self._counter is None:
            self._counter = [0]
        t = Tensor._new(self._data)
        t._counter = self._counter
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        if requires_grad:
            _check_differentiable(self._data.dtype)
        elif self._op is not None:
            raise RuntimeError(
                "requires_grad can only be switched off on leaf tensors; use detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Self:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        return self

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad) -> Tensor | None`` when this tensor's gradient is computed."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _HookHandle(self._hooks, hook)

    def backward(
        self,
        gradient: TensorLike | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate d self / d leaf into every leaf's ``.grad``."""
        engine.backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self._data.dtype}")
        if self._op is not None:
            extras.append(f"grad_fn=<{self._op.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # ------------------------------------------------------------------ operators
    def __add__(self, other: TensorLike) -> Tensor:
        return apply(_E.add, (self, other))

    def __radd__(self, other: TensorLike) -> Tensor:
        return apply(_E.add, (other, self))

    def __sub__(self, other: TensorLike) -> Tensor:
        return apply(_E.sub, (self, other))

    def __rsub__(self, other: TensorLike) -> Tensor:
        return apply(_E.sub, (other, self))

    def __mul__(self, other: TensorLike) -> Tensor:
        return apply(_E.mul, (self, other))

    def __rmul__(self, other: TensorLike) -> Tensor:
        return apply(_E.mul, (other, self))

    def __truediv__(self, other: TensorLike) -> Tensor:
        return apply(_E._div, (self, other))

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return apply(_E._div, (other, self))

    def __floordiv__(self, other: TensorLike) -> Tensor:
        return _logic.floor_divide(self, other)

    def __rfloordiv__(self, other: TensorLike) -> Tensor:
        return _logic.floor_divide(other, self)

    def __pow__(self, other: TensorLike) -> Tensor:
        return apply(_E.pow, (self, other))

    def __rpow__(self, other: TensorLike) -> Tensor:
        return apply(_E.pow, (other, self))

    def __matmul__(self, other: TensorLike) -> Tensor:
        return apply(_L._matmul, (self, _L._as_operand(other)))

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return apply(_L._matmul, (_L._as_operand(other), self))

    def __neg__(self) -> Tensor:
        return apply(_E.neg, (self,))

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return apply(_E.abs, (self,))

    def __getitem__(self, index: Any) -> Tensor:
        return _S.getitem(self, index)

    # Comparisons give boolean tensors outside the graph.
    def __lt__(self, other: TensorLike) -> Tensor:
        return Tensor._new(self._data < _data(other))

    def __le__(self, other: TensorLike) -> Tensor:
        return Tensor._new(self._data <= _data(other))

    def __gt__(self, other: TensorLike) -> Tensor:
        return Tensor._new(self._data > _data(other))

    def __ge__(self, other: TensorLike) -> Tensor:
        return Tensor._new(self._data >= _data(other))

    def __eq__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return Tensor._new(np.asarray(self._data == _data(other)))

    def __ne__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return Tensor._new(np.asarray(self._data != _data(other)))

    # Bitwise on integers, logical on booleans, as in NumPy and PyTorch (no gradient).
    def __invert__(self) -> Tensor:
        return _logic.invert(self)

    def __and__(self, other: TensorLike) -> Tensor:
        return _logic.bitwise_and(self, other)

    def __rand__(self, other: TensorLike) -> Tensor:
        return _logic.bitwise_and(other, self)

    def __or__(self, other: TensorLike) -> Tensor:
        return _logic.bitwise_or(self, other)

    def __ror__(self, other: TensorLike) -> Tensor:
        return _logic.bitwise_or(other, self)

    def __xor__(self, other: TensorLike) -> Tensor:
        return _logic.bitwise_xor(self, other)

    def __rxor__(self, other: TensorLike) -> Tensor:
        return _logic.bitwise_xor(other, self)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> builtins.float:
        self._refuse_to_leave_the_graph("float()")
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def __index__(self) -> int:
        return self._data.__index__()

    # ------------------------------------------------------------------ in-place
    def _inplace(self, op, *args, **params):
        """Apply ``op`` in place: mutate the data outside the graph, or rebase inside it.

        Outside the graph the array is changed in place and the version counter
        bumped, so a backward that saved the old values raises instead of using
        wrong ones. Inside the graph the result is computed out of place and this
        tensor becomes its node (consumers recorded earlier see the version change).
        """
        others_need_grad = any(isinstance(a, Tensor) and a.requires_grad for a in args)
        if GradMode.enabled and (self.requires_grad or others_need_grad):
            if self._op is None and self.requires_grad:
                raise RuntimeError(
                    f"in-place {op.name} on a leaf tensor that requires grad; "
                    "wrap the update in cr.no_grad() or use an out-of-place op"
                )
            Tensor.inplace_ops += 1
            old = Tensor._new(self._data)
            for slot in (
                "requires_grad",
                "_op",
                "_inputs",
                "_params",
                "_versions",
                "_hooks",
                "_seq",
                "_arrays",
            ):
                setattr(old, slot, getattr(self, slot))
            old._counter = self._counter  # the old memory keeps its counter (views, detach)
            # Nodes recorded before now took this tensor as it was: backward finds that state
            # through _before (engine.recorded_inputs), so their edges and values stay right.
            old._before = getattr(self, "_before", None)
            self._before = old
            Tensor.rebased += 1
            # An argument that is this tensor itself means its value before the change.
            result = apply(op, (old,) + tuple(old if a is self else a for a in args), params)
            for slot in (
                "_data",
                "requires_grad",
                "_op",
                "_inputs",
                "_params",
                "_versions",
                "_seq",
                "_arrays",
            ):
                setattr(self, slot, getattr(result, slot))
            self._hooks = None
            self._counter = None  # new memory, with a counter of its own one version on
            self._version = old._version + 1
            self._versions[-1] = self._version
            return self
        else:
            Tensor.inplace_ops += 1
            arrays = [a._data if isinstance(a, Tensor) else a for a in args]
            value = op.forward(self._data, *arrays, **params)
            np.copyto(self._data, value, casting="same_kind")
        self._version += 1
        return self

    def add_(self, other: TensorLike) -> Tensor:
        return self._inplace(_E.add, other)

    def sub_(self, other: TensorLike) -> Tensor:
        return self._inplace(_E.sub, other)

    def mul_(self, other: TensorLike) -> Tensor:
        return self._inplace(_E.mul, other)

    def div_(self, other: TensorLike) -> Tensor:
        return self._inplace(_E._div, other)

    def zero_(self) -> Tensor:
        return self._inplace(_S.setitem, 0, index=Ellipsis)  # not a product: inf * 0 is nan

    def fill_(self, value: Any) -> Tensor:
        return self._inplace(_S.setitem, value, index=Ellipsis)

    def copy_(self, source: TensorLike) -> Tensor:
        return self._inplace(_S.setitem, source, index=Ellipsis)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def __setitem__(self, index: Any, value: Any) -> None:
        self._inplace(_S.setitem, value, index=_S.normalize_index(index))

    # ------------------------------------------------------------------ methods
    def exp(self) -> Tensor:
        return apply(_E.exp, (self,))

    def log(self) -> Tensor:
        return apply(_E.log, (self,))

    def log1p(self) -> Tensor:
        return apply(_E.log1p, (self,))

    def sqrt(self) -> Tensor:
        return apply(_E.sqrt, (self,))

    def abs(self) -> Tensor:
        return apply(_E.abs, (self,))

    def sin(self) -> Tensor:
        return apply(_E.sin, (self,))

    def cos(self) -> Tensor:
        return apply(_E.cos, (self,))

    def tanh(self) -> Tensor:
        return apply(_E.tanh, (self,))

    def sigmoid(self) -> Tensor:
        return apply(_E.sigmoid, (self,))

    def relu(self) -> Tensor:
        return apply(_E.relu, (self,))

    def leaky_relu(self, negative_slope: builtins.float = 0.01) -> Tensor:
        return _E.leaky_relu(self, negative_slope)

    def softplus(self) -> Tensor:
        return apply(_E.softplus, (self,))

    def clip(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
        return _E.clip(self, min, max)

    clamp = clip

    def maximum(self, other: TensorLike) -> Tensor:
        return _E.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        return _E.minimum(self, other)

    def astype(self, dtype: DTypeLike) -> Tensor:
        return _E.astype(self, dtype)

    def float(self) -> Tensor:
        return _E.astype(self, np.float32)

    def double(self) -> Tensor:
        return _E.astype(self, np.float64)

    def sum(self, axis: Axis | None = None, keepdims: bool = False, **aliases: Any) -> Tensor:
        return _R.sum(self, axis, keepdims, **aliases)

    def mean(self, axis: Axis | None = None, keepdims: bool = False, **aliases: Any) -> Tensor:
        return _R.mean(self, axis, keepdims, **aliases)

    def var(
        self,
        dim: int | None = None,
        keepdim: bool = False,
        *,
        correction: int | None = None,
        **options: Any,
    ) -> Tensor:
        """As ``torch.Tensor.var``: the unbiased variance (``correction=1``) by default;
        NumPy's ``axis``, ``keepdims`` and ``ddof`` are accepted too (``cr.var`` is NumPy's,
        with ``ddof=0``)."""
        options = _R.torch_spread_options(dim, keepdim, correction, options, "var")
        return _R.var(self, *options)

    def std(
        self,
        dim: int | None = None,
        keepdim: bool = False,
        *,
        correction: int | None = None,
        **options: Any,
    ) -> Tensor:
        """As ``torch.Tensor.std``: unbiased (``correction=1``) by default, like ``var``."""
        options = _R.torch_spread_options(dim, keepdim, correction, options, "std")
        return _R.std(self, *options)

    def max(self, axis: Axis | None = None, keepdims: bool = False, **aliases: Any) -> Tensor:
        return _R.max(self, axis, keepdims, **aliases)

    def min(self, axis: Axis | None = None, keepdims: bool = False, **aliases: Any) -> Tensor:
        return _R.min(self, axis, keepdims, **aliases)

    def prod(self, axis: Axis | None = None, keepdims: bool = False, **aliases: Any) -> Tensor:
        return _R.prod(self, axis, keepdims, **aliases)

    def logsumexp(self, axis: Axis | None = None, keepdims: bool = False, **aliases: Any) -> Tensor:
        return _N.logsumexp(self, axis, keepdims, **aliases)

    def softmax(self, axis: Axis = -1, **aliases: Any) -> Tensor:
        return _N.softmax(self, axis, **aliases)

    def log_softmax(self, axis: Axis = -1, **aliases: Any) -> Tensor:
        return _N.log_softmax(self, axis, **aliases)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._new(np.asarray(np.argmax(self._data, axis=axis, keepdims=keepdims)))

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._new(np.asarray(np.argmin(self._data, axis=axis, keepdims=keepdims)))

    def matmul(self, other: TensorLike) -> Tensor:
        return _L.matmul(self, other)

    def transpose(self, *axes: Any) -> Tensor:
        """NumPy's (a permutation, or reversed axes) or, with two axes of an N-d tensor,
        PyTorch's ``transpose(dim0, dim1)``, which swaps them."""
        if len(axes) == 2 and all(isinstance(a, int) for a in axes) and self.ndim != 2:
            return swapaxes(self, *axes)
        return transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def permute(self, *dims: Any) -> Tensor:
        return _pytorch.permute(self, dims[0] if len(dims) == 1 and _listed(dims[0]) else dims)

    def reshape(self, *shape: Any) -> Tensor:
        return _S.reshape(self, shape[0] if len(shape) == 1 else shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _S.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: int | None = None, **aliases: Any) -> Tensor:
        """Drop length-1 dims; as PyTorch, a named dim of another length stays."""
        return _pytorch.torch_squeeze(self, dim, **aliases)

    def expand_dims(self, axis: Axis) -> Tensor:
        return _S.expand_dims(self, axis)

    unsqueeze = expand_dims

    def broadcast_to(self, shape: Any) -> Tensor:
        return _S.broadcast_to(self, shape)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return swapaxes(self, axis1, axis2)

    # ------------------------------------------------------------------ NumPy surface
    # Each calls the chainrule function of the same name with this tensor first.
    def tan(self) -> Tensor:
        return _ops.tan(self)

    def sinh(self) -> Tensor:
        return _ops.sinh(self)

    def cosh(self) -> Tensor:
        return _ops.cosh(self)

    def arcsin(self) -> Tensor:
        return _ops.arcsin(self)

    def arccos(self) -> Tensor:
        return _ops.arccos(self)

    def arctan(self) -> Tensor:
        return _ops.arctan(self)

    def arcsinh(self) -> Tensor:
        return _ops.arcsinh(self)

    def arccosh(self) -> Tensor:
        return _ops.arccosh(self)

    def arctanh(self) -> Tensor:
        return _ops.arctanh(self)

    def asin(self) -> Tensor:
        return _ops.asin(self)

    def acos(self) -> Tensor:
        return _ops.acos(self)

    def atan(self) -> Tensor:
        return _ops.atan(self)

    def asinh(self) -> Tensor:
        return _ops.asinh(self)

    def acosh(self) -> Tensor:
        return _ops.acosh(self)

    def atanh(self) -> Tensor:
        return _ops.atanh(self)

    def sinc(self) -> Tensor:
        return _ops.sinc(self)

    def deg2rad(self) -> Tensor:
        return _ops.deg2rad(self)

    def rad2deg(self) -> Tensor:
        return _ops.rad2deg(self)

    def exp2(self) -> Tensor:
        return _ops.exp2(self)

    def expm1(self) -> Tensor:
        return _ops.expm1(self)

    def log2(self) -> Tensor:
        return _ops.log2(self)

    def log10(self) -> Tensor:
        return _ops.log10(self)

    def rsqrt(self) -> Tensor:
        return _ops.rsqrt(self)

    def square(self) -> Tensor:
        return _ops.square(self)

    def reciprocal(self) -> Tensor:
        return _ops.reciprocal(self)

    def sign(self) -> Tensor:
        return _ops.sign(self)

    def arctan2(self, other: TensorLike) -> Tensor:
        return _ops.arctan2(self, other)

    def atan2(self, other: TensorLike) -> Tensor:
        return _ops.atan2(self, other)

    def hypot(self, other: TensorLike) -> Tensor:
        return _ops.hypot(self, other)

    def logaddexp(self, other: TensorLike) -> Tensor:
        return _ops.logaddexp(self, other)

    def logaddexp2(self, other: TensorLike) -> Tensor:
        return _ops.logaddexp2(self, other)

    def fmod(self, other: TensorLike) -> Tensor:
        return _ops.fmod(self, other)

    def fmax(self, other: TensorLike) -> Tensor:
        return _ops.fmax(self, other)

    def fmin(self, other: TensorLike) -> Tensor:
        return _ops.fmin(self, other)

    def remainder(self, other: TensorLike) -> Tensor:
        return _ops.remainder(self, other)

    def dot(self, other: TensorLike) -> Tensor:
        return _ops.dot(self, other)

    def vdot(self, other: TensorLike) -> Tensor:
        return _ops.vdot(self, other)

    def inner(self, other: TensorLike) -> Tensor:
        return _ops.inner(self, other)

    def kron(self, other: TensorLike) -> Tensor:
        return _ops.kron(self, other)

    def outer(self, other: TensorLike) -> Tensor:
        return _ops.outer(self, other)

    def __mod__(self, other: TensorLike) -> Tensor:
        return _ops.remainder(self, other)

    def __rmod__(self, other: TensorLike) -> Tensor:
        return _ops.remainder(other, self)

    def nan_to_num(
        self,
        nan: builtins.float = 0.0,
        posinf: builtins.float | None = None,
        neginf: builtins.float | None = None,
    ) -> Tensor:
        return _ops.nan_to_num(self, nan=nan, posinf=posinf, neginf=neginf)

    def tril(self, diagonal: int = 0) -> Tensor:
        return _ops.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _ops.triu(self, diagonal)

    def diag(self, diagonal: int = 0) -> Tensor:
        return _ops.diag(self, diagonal)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1, **aliases: Any) -> Tensor:
        return _ops.diagonal(self, offset, axis1, axis2, **aliases)

    def trace(
        self, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: DTypeLike | None = None
    ) -> Tensor:
        return _ops.trace(self, offset, axis1, axis2, dtype)

    def cross(self, other: TensorLike, dim: int | None = None) -> Tensor:
        return _ops.cross(self, other, axis=dim)

    def cumsum(
        self, axis: Axis | None = None, dtype: DTypeLike | None = None, **aliases: Any
    ) -> Tensor:
        return _ops.cumsum(self, axis, dtype, **aliases)

    def cumprod(
        self, axis: Axis | None = None, dtype: DTypeLike | None = None, **aliases: Any
    ) -> Tensor:
        return _ops.cumprod(self, axis, dtype, **aliases)

    def diff(
        self,
        n: int = 1,
        axis: Axis = -1,
        prepend: TensorLike | None = None,
        append: TensorLike | None = None,
        **aliases: Any,
    ) -> Tensor:
        return _ops.diff(self, n, axis, prepend, append, **aliases)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        """``(values, indices)`` sorted along ``dim``, as ``torch.Tensor.sort`` (NumPy's
        method sorts in place and returns None; ``cr.sort`` gives NumPy's values)."""
        return _order.torch_sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        return _ops.argsort(self, dim, descending=descending)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _ops.topk(self, k, dim, largest, sorted)

    def gather(self, dim: int, index: Any) -> Tensor:
        return _ops.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Any, src: TensorLike) -> Tensor:
        return _ops.scatter_add(self, dim, index, src)

    def take_along_dim(self, indices: TensorLike, dim: int | None = None) -> Tensor:
        return _pytorch.take_along_dim(self, indices, dim)

    def take(self, index: Any) -> Tensor:
        return _ops.take(self, index)

    def repeat(self, *sizes: Any) -> Tensor:
        """The tensor tiled ``sizes`` times per axis, as ``torch.Tensor.repeat`` (NumPy's
        ``repeat`` is ``repeat_interleave`` here, and ``cr.repeat``)."""
        sizes = tuple(sizes[0]) if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes
        if len(sizes) < self.ndim:
            raise ValueError(
                f"repeat: {len(sizes)} sizes for a tensor of {self.ndim} "
                "dimensions (give at least one per dimension)"
            )
        return _ops.tile(self, sizes)

    def repeat_interleave(self, repeats: int | TensorLike, dim: int | None = None) -> Tensor:
        return _ops.repeat(self, repeats, axis=dim)

    def tile(self, *dims: Any) -> Tensor:
        return _ops.tile(self, dims[0] if len(dims) == 1 else dims)

    def roll(self, shifts: int | Sequence[int], dims: Any | None = None) -> Tensor:
        """As ``torch.Tensor.roll``: one shift per dim (NumPy's ``cr.roll`` broadcasts)."""
        count = len(shifts) if isinstance(shifts, (tuple, list)) else 1
        wanted = 1 if dims is None else len(dims) if isinstance(dims, (tuple, list)) else 1
        if count != wanted:  # a ShapeError: PyTorch raises RuntimeError, NumPy ValueError
            raise ShapeError(
                f"roll: shifts {shifts!r} and dims {dims!r} must have the same "
                "length (one shift per dim)"
            )
        return _ops.roll(self, shifts, dims)

    def flip(self, *dims: Any) -> Tensor:
        """Reverse the given dims (``flip()`` with none given: all of them, as NumPy)."""
        if not dims:
            return _ops.flip(self, None)
        dims = dims[0] if len(dims) == 1 and not isinstance(dims[0], int) else dims
        return _ops.flip(self, tuple(dims))

    def fliplr(self) -> Tensor:
        return _ops.fliplr(self)

    def flipud(self) -> Tensor:
        return _ops.flipud(self)

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Tensor:
        return _ops.rot90(self, k, dims)

    def moveaxis(self, source: TensorLike, destination: Any) -> Tensor:
        return _ops.moveaxis(self, source, destination)

    movedim = moveaxis

    def expand(self, *sizes: Any) -> Tensor:
        return _ops.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return _ops.expand(self, *other.shape)

    def clone(self) -> Tensor:
        return _ops.clone(self)

    copy = clone

    def ravel(self) -> Tensor:
        return _ops.ravel(self)

    def det(self) -> Tensor:
        return _linalg.det(self)

    def inverse(self) -> Tensor:
        return _linalg.inv(self)

    def slogdet(self) -> Any:
        return _linalg.slogdet(self)

    def pinverse(self, rcond: Any = 1e-15) -> Tensor:
        return _linalg.pinv(self, rcond)

    def matrix_power(self, n: int) -> Tensor:
        return _linalg.matrix_power(self, n)

    def cholesky(self, upper: Any = False) -> Tensor:
        lower = _linalg.cholesky(self)
        return swapaxes(lower, -1, -2) if upper else lower

    def norm(self, p: Any = "fro", dim: Any | None = None, keepdim: bool = False) -> Tensor:
        """As ``torch.Tensor.norm``: the Frobenius (2-) norm of all elements by default."""
        if p in ("fro", "nuc") and dim is not None and len(tuple(dim)) == 2:
            return _linalg.matrix_norm(self, p, tuple(dim), keepdim)
        return _linalg.vector_norm(self, 2 if p == "fro" else p, dim, keepdim)

    # ------------------------------------------------------------------ PyTorch surface
    # PyTorch's methods where NumPy has none, or where PyTorch's differ from NumPy's (the
    # chainrule function of NumPy's name keeps NumPy's meaning): each calls the function
    # that does it, with PyTorch's argument names and defaults.

    # arithmetic
    def add(self, other: TensorLike, *, alpha: Any = 1) -> Tensor:
        return _E.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other: TensorLike, *, alpha: Any = 1) -> Tensor:
        return _E.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other: TensorLike) -> Tensor:
        return _E.mul(self, other)

    def div(self, other: TensorLike, *, rounding_mode: Any | None = None) -> Tensor:
        return _E.div(self, other, rounding_mode)

    def true_divide(self, other: TensorLike) -> Tensor:
        return _E.div(self, other)

    def floor_divide(self, other: TensorLike) -> Tensor:
        return _logic.floor_divide(self, other)

    def neg(self) -> Tensor:
        return _E.neg(self)

    def pow(self, exponent: Any) -> Tensor:
        return _E.pow(self, exponent)

    subtract, multiply, divide, negative = sub, mul, div, neg

    def lerp(self, end: Any, weight: Any) -> Tensor:
        return _ops.lerp(self, end, weight)

    def copysign(self, other: TensorLike) -> Tensor:
        return _ops.copysign(self, other)

    def xlogy(self, other: TensorLike) -> Tensor:
        return _ops.xlogy(self, other)

    def logit(self, eps: Any | None = None) -> Tensor:
        return _ops.logit(self, eps)

    def clamp_min(self, min: TensorLike) -> Tensor:
        return _pytorch.clamp_min(self, min)

    def clamp_max(self, max: TensorLike) -> Tensor:
        return _pytorch.clamp_max(self, max)

    # rounding, signs and tests (constants, but frac and sgn)
    def floor(self) -> Tensor:
        return _logic.floor(self)

    def ceil(self) -> Tensor:
        return _logic.ceil(self)

    def trunc(self) -> Tensor:
        return _logic.trunc(self)

    def round(self, decimals: Any = 0) -> Tensor:
        return _logic.round(self, decimals)

    def frac(self) -> Tensor:
        return _ops.frac(self)

    def sgn(self) -> Tensor:
        return _ops.sgn(self)

    def signbit(self) -> Tensor:
        return _logic.signbit(self)

    def isinf(self) -> Tensor:
        return _logic.isinf(self)

    def isnan(self) -> Tensor:
        return _logic.isnan(self)

    def isfinite(self) -> Tensor:
        return _logic.isfinite(self)

    def conj(self) -> Tensor:
        return _ops.conj(self)

    def angle(self) -> Tensor:
        return _logic.angle(self)

    # comparisons and logic (no gradient)
    def eq(self, other: TensorLike) -> Tensor:
        return _logic.equal(self, other)

    def ne(self, other: TensorLike) -> Tensor:
        return _logic.not_equal(self, other)

    def lt(self, other: TensorLike) -> Tensor:
        return _logic.less(self, other)

    def le(self, other: TensorLike) -> Tensor:
        return _logic.less_equal(self, other)

    def gt(self, other: TensorLike) -> Tensor:
        return _logic.greater(self, other)

    def ge(self, other: TensorLike) -> Tensor:
        return _logic.greater_equal(self, other)

    def equal(self, other: TensorLike) -> bool:
        return _logic.array_equal(self, other)

    def isclose(
        self, other: TensorLike, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: Any = False
    ) -> Tensor:
        return _logic.isclose(self, other, rtol, atol, equal_nan)

    def allclose(
        self, other: TensorLike, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: Any = False
    ) -> bool:
        return _logic.allclose(self, other, rtol, atol, equal_nan)

    def logical_not(self) -> Tensor:
        return _logic.logical_not(self)

    def logical_and(self, other: TensorLike) -> Tensor:
        return _logic.logical_and(self, other)

    def logical_or(self, other: TensorLike) -> Tensor:
        return _logic.logical_or(self, other)

    def logical_xor(self, other: TensorLike) -> Tensor:
        return _logic.logical_xor(self, other)

    def all(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _logic.all(self, dim, keepdims=keepdim)

    def any(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _logic.any(self, dim, keepdims=keepdim)

    def count_nonzero(self, dim: int | None = None) -> Tensor:
        return _constant(_logic.count_nonzero(self, dim))

    def nonzero(self, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
        return _logic.nonzero(self) if as_tuple else _logic.argwhere(self)

    # choosing by a mask
    def where(self, condition: Any, other: TensorLike) -> Tensor:
        return _E.where(condition, self, other)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return _pytorch.masked_fill(self, mask, value)

    def masked_select(self, mask: Any) -> Tensor:
        return _pytorch.masked_select(self, mask)

    # reductions and scans
    def amax(self, dim: int | tuple[int, ...] = (), keepdim: bool = False) -> Tensor:
        return _R.max(self, None if dim == () else dim, keepdim)

    def amin(self, dim: int | tuple[int, ...] = (), keepdim: bool = False) -> Tensor:
        return _R.min(self, None if dim == () else dim, keepdim)

    def logcumsumexp(self, dim: int) -> Tensor:
        return _ops.logcumsumexp(self, dim)

    def cummax(self, dim: int) -> Any:
        return _ops.cummax(self, dim)

    def cummin(self, dim: int) -> Any:
        return _ops.cummin(self, dim)

    # shapes
    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        return _pytorch.unflatten(self, dim, sizes)

    def view_as(self, other: Tensor) -> Tensor:
        return _S.reshape(self, other.shape)

    reshape_as = view_as

    def type_as(self, other: Tensor) -> Tensor:
        return _E.astype(self, other.dtype)

    def t(self) -> Tensor:
        return _pytorch.t(self)

    def swapdims(self, dim0: Any, dim1: Any) -> Tensor:
        return swapaxes(self, dim0, dim1)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _pytorch.torch_split(self, split_size_or_sections, dim)

    def chunk(self, chunks: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _pytorch.chunk(self, chunks, dim)

    def tensor_split(self, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _pytorch.tensor_split(self, indices_or_sections, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return _pytorch.unbind(self, dim)

    def unfold(self, dimension: Any, size: Any, step: Any) -> Tensor:
        return _pytorch.torch_unfold(self, dimension, size, step)

    # selecting along a dim
    def narrow(self, dim: int, start: Any, length: Any) -> Tensor:
        return _pytorch.narrow(self, dim, start, length)

    def select(self, dim: int, index: Any) -> Tensor:
        return _pytorch.torch_select(self, dim, index)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return _pytorch.index_select(self, dim, index)

    # matrix products of fixed ranks
    def mm(self, mat2: Any) -> Tensor:
        return _pytorch.mm(self, mat2)

    def bmm(self, mat2: Any) -> Tensor:
        return _pytorch.bmm(self, mat2)

    def mv(self, vec: Any) -> Tensor:
        return _pytorch.mv(self, vec)

    # new tensors like this one (its dtype unless told otherwise), outside the graph
    def new_tensor(
        self, data: TensorLike, dtype: DTypeLike | None = None, requires_grad: bool = False
    ) -> Tensor:
        return _creation.tensor(_data(data), dtype or self.dtype, requires_grad)

    def new_zeros(
        self, *size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False
    ) -> Tensor:
        return _creation.zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(
        self, *size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False
    ) -> Tensor:
        return _creation.ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        dtype: DTypeLike | None = None,
        requires_grad: bool = False,
    ) -> Tensor:
        return _creation.full(size, fill_value, dtype or self.dtype, requires_grad)

    def new_empty(
        self, *size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False
    ) -> Tensor:
        return _creation.zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)


class GradFn:
    """A read-only view of the node that produced a tensor."""

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor

    @property
    def name(self):
        return self.tensor._op.name

    @property
    def inputs(self):
        return self.tensor._inputs or ()

    @property
    def params(self):
        return self.tensor._params or {}

    def __repr__(self):
        return f"<{self.name} backward>"


class _HookHandle:
    __slots__ = ("hooks", "hook")

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _data(x):
    return x._data if isinstance(x, Tensor) else x


def _saved_by_graph(tensor):
    """Whether a graph that can still run backward reads ``tensor``'s values: it is a node
    that backward has not freed, or an input of one."""
    return tensor._inputs is not None or bool(tensor._consumers and _saved_by_live_graph(tensor))


def _saved_by_live_graph(tensor):
    """Whether a node that took ``tensor`` as an input can still run its backward
    (it is alive and backward has not freed it); forgets the nodes that cannot."""
    live = [ref for ref in tensor._consumers if (node := ref()) is not None and node._inputs]
    tensor._consumers = live or None
    return bool(live)


class _WatchedArray(np.ndarray):
    """A view of a Tensor's values that counts each write into it as an in-place change
    of the tensor (its version), so that graphs which saved the values refuse to use
    them. Views taken of it (slices, reshapes, ``.T``) are watched too; results of
    computations on it and copies are plain ndarrays."""

    _WRITERS = frozenset(
        (np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis)
    )

    @classmethod
    def over(cls, tensor):
        view = tensor._data.view(cls)
        view.owner = tensor
        return view

    def __array_finalize__(self, parent):
        # Views of a watched array write into the same tensor; new memory belongs to none.
        self.owner = getattr(parent, "owner", None) if self.base is not None else None

    def _written(self):
        if self.owner is not None:
            self.owner._version += 1

    def __setitem__(self, index, value):
        self._written()
        super().__setitem__(index, value)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if out is not None:
            for array in out:
                if type(array) is _WatchedArray:
                    array._written()
            kwargs["out"] = tuple(_plain(array) for array in out)
        result = getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)
        # In-place operators return their target: hand back the watched view itself.
        if out is not None and len(out) == 1 and result is kwargs["out"][0]:
            return out[0]
        return result

    def __array_function__(self, func, types, args, kwargs):
        if func in self._WRITERS and type(args[0]) is _WatchedArray:
            args[0]._written()
        out = kwargs.get("out")
        for array in out if isinstance(out, tuple) else (out,):
            if type(array) is _WatchedArray:
                array._written()
        args = tuple(_plain(a) for a in args)
        kwargs = {k: _plain(v) for k, v in kwargs.items()}
        return func(*args, **kwargs)

    def fill(self, value):
        self._written()
        super().fill(value)

    def sort(self, *args, **kwargs):
        self._written()
        super().sort(*args, **kwargs)

    def put(self, *args, **kwargs):
        self._written()
        super().put(*args, **kwargs)

    def partition(self, *args, **kwargs):
        self._written()
        super().partition(*args, **kwargs)

    def copy(self, order="C"):
        return _plain(self).copy(order)

    def astype(self, *args, **kwargs):
        return _plain(self).astype(*args, **kwargs)

    def __reduce__(self):
        return _plain(self).__reduce__()


def _plain(x):
    """An ndarray view of a watched array (anything else unchanged), including the
    arrays in a list or tuple argument."""
    if type(x) is _WatchedArray:
        return x.view(np.ndarray)
    if type(x) in (list, tuple):
        return type(x)(_plain(item) for item in x)
    return x


def _listed(dims):
    """Whether ``dims`` is a sequence of dims (PyTorch takes ``f(0, 1)`` and ``f((0, 1))``)."""
    return isinstance(dims, (tuple, list))


def _constant(value):
    """A Python number (NumPy's result for a whole array) as a 0-d tensor, as PyTorch's."""
    return value if isinstance(value, Tensor) else Tensor._new(np.asarray(value))


# Ops need Tensor, so they are imported after it; methods resolve these names at call time.
from . import creation as _creation  # noqa: E402
from . import numpy_dispatch  # noqa: E402
from .autograd import engine, functional  # noqa: E402
from . import linalg as _linalg  # noqa: E402
from . import ops as _ops  # noqa: E402
from .ops import elementwise as _E  # noqa: E402
from .ops import logic as _logic  # noqa: E402
from .ops import order as _order  # noqa: E402
from .ops import pytorch as _pytorch  # noqa: E402
from .ops import linalg as _L  # noqa: E402
from .ops import nn as _N  # noqa: E402
from .ops import reduce as _R  # noqa: E402
from .ops import shape as _S  # noqa: E402
from .ops.registry import apply  # noqa: E402
from .ops.shape import swapaxes, transpose  # noqa: E402
