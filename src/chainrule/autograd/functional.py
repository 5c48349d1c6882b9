"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian.

They take ndarrays or Tensors and return ndarrays for ndarray inputs (Tensors for
Tensor inputs). They nest: a transform called inside another one's function builds
its gradient as a graph, so the outer one differentiates through it, also through
variables the inner function only closes over. A function may return a tuple or list
of arrays (vjp, jvp and jacobian follow that structure); one that ignores its inputs
has zero derivatives.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np

from ..errors import OutputError
from ..tensor import Tensor
from ..typing import TensorLike
from . import engine

#: Which positional arguments a transform differentiates: one position (the result is
#: that argument's gradient) or several (a tuple, one gradient each).
ArgNums: TypeAlias = int | Sequence[int]

# How many transforms are running their function right now (see the module doc).
_tracing = 0


def tracing() -> bool:
    """Whether a transform is running its function (so values must stay on the graph)."""
    return _tracing > 0


def _argnums(argnums, count):
    """``argnums`` as a tuple of non-negative positions among ``count`` arguments."""
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    for n in nums:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"argnums must be ints, got {n!r}")
        if not -count <= n < count:
            raise ValueError(
                f"argnums {argnums!r} is out of range for a call with {count} positional arguments"
            )
    return tuple(int(n) % count for n in nums)


def _as_variable(x):
    """A tensor to differentiate with respect to; tied to ``x`` when ``x`` is traced."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            return x + 0, True  # a fresh node on x's graph: nested transforms see through it
        return Tensor._new(x._data).requires_grad_(), True
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.floating):
        if np.iscomplexobj(array):
            raise TypeError(
                "chainrule differentiates real functions: complex inputs are not supported"
            )
        array = array.astype(np.float64)
    return Tensor._new(array).requires_grad_(), False


def _trace(f, args, kwargs, argnums):
    """Call f with the differentiated arguments replaced by graph variables.

    Returns the output, the variables, whether each was given as a Tensor, and whether the
    gradient must be built as a graph (inside another transform, or of traced inputs).
    The function gets a node over each variable, not the variable itself, so that it may
    change its argument in place.
    """
    global _tracing
    args = list(args)
    variables, tensors_in = [], []
    for i in argnums:
        variable, was_tensor = _as_variable(args[i])
        args[i] = variable + 0  # never the variable itself: f may rebase it in place
        variables.append(variable)
        tensors_in.append(was_tensor)
    nested = _tracing > 0 or any(v._op is not None for v in variables)
    _tracing += 1
    try:
        out = f(*args, **kwargs)
    finally:
        _tracing -= 1
    return out, variables, tensors_in, nested


# ----------------------------------------------------------------------- outputs
def _leaves(out):
    """A function's output as a list of arrays or Tensors, and its structure."""
    if isinstance(out, (tuple, list)):
        return list(out), type(out)
    return [out], None


def _rebuild(values, structure):
    return values[0] if structure is None else structure(values)


def _depends(out):
    """Whether ``out`` is on a graph; a function that ignores its inputs has zero gradient."""
    return isinstance(out, Tensor) and out.requires_grad


def _data(x):
    return x._data if isinstance(x, Tensor) else x


def _zeros_like(x, dtype=None):
    data = np.asarray(_data(x))
    if dtype is None:
        dtype = np.result_type(data.dtype, np.float32) if data.dtype.kind in "biu" else data.dtype
    return Tensor._new(np.zeros(data.shape, dtype))


def _outward(value, as_tensor):
    """What the caller sees: a Tensor for Tensor inputs, an ndarray otherwise.

    A value that is itself on a graph (a transform nested in another) stays a Tensor, so
    the outer transform can differentiate through it.
    """
    if isinstance(value, Tensor) and value.requires_grad:
        return value
    if as_tensor:
        return value if isinstance(value, Tensor) else Tensor._new(np.asarray(value))
    return value._data if isinstance(value, Tensor) else np.asarray(value)


def _value(out, as_tensor, nested):
    """The function's own value: on its graph when nested, else as the inputs were given."""
    leaves, structure = _leaves(out)
    values = []
    for leaf in leaves:
        if nested and _depends(leaf):
            values.append(leaf)
        else:
            values.append(_outward(leaf.detach() if isinstance(leaf, Tensor) else leaf, as_tensor))
    return _rebuild(values, structure)


def _pull(outputs, cotangents, variables, graph):
    """Gradients of the outputs that depend on the variables, with their cotangents."""
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if _depends(o)]
    if not pairs:
        return [None] * len(variables)
    return engine.grad(
        [o for o, _ in pairs],
        variables,
        grad_outputs=[c for _, c in pairs],
        retain_graph=True,
        create_graph=graph,
        allow_unused=True,
    )


# ----------------------------------------------------------------------- transforms
def value_and_grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., tuple[Any, Any]]:
    """``f`` -> a function returning ``(f(*args), gradient)`` for a scalar-valued ``f``.

    >>> import numpy as np, chainrule as cr
    >>> value, g = cr.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 3.0]))
    >>> float(value), g
    (10.0, array([2., 6.]))
    """

    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args))
        out, variables, tensors_in, nested = _trace(f, args, kwargs, nums)
        data = np.asarray(_data(out)) if not isinstance(out, (tuple, list)) else None
        if data is None or data.size != 1:
            raise OutputError(
                f"grad: the function must return a scalar, got "
                f"{'a ' + type(out).__name__ if data is None else data.shape}"
            )
        if data.dtype.kind == "c":
            raise OutputError(
                "grad: the function returned a complex value (chainrule "
                "differentiates real functions)"
            )
        grads = _pull([out], [None], variables, nested)
        grads = [
            _outward(_zeros_like(v) if g is None else g, t)
            for g, v, t in zip(grads, variables, tensors_in)
        ]
        value = _value(out, any(tensors_in), nested)
        return value, grads[0] if isinstance(argnums, (int, np.integer)) else tuple(grads)

    return wrapped


def grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """``f`` -> its gradient function (``f`` scalar-valued).

    >>> import chainrule as cr
    >>> float(cr.grad(lambda x: x ** 3)(2.0))
    12.0
    >>> float(cr.grad(cr.grad(lambda x: x ** 3))(2.0))
    12.0
    """
    vg = value_and_grad(f, argnums)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return wrapped


def vjp(
    f: Callable[..., Any], *primals: TensorLike
) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` gives one gradient per primal.

    For a function returning a tuple, the cotangent is a tuple of the same structure.
    """
    out, variables, tensors_in, nested = _trace(f, primals, {}, range(len(primals)))
    outputs, structure = _leaves(out)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        cotangents = _leaves(cotangent)[0] if structure is not None else [cotangent]
        if len(cotangents) != len(outputs):
            raise ValueError(f"vjp: {len(cotangents)} cotangents for {len(outputs)} outputs")
        for i, (o, c) in enumerate(zip(outputs, cotangents)):
            if np.shape(_data(c)) != np.shape(_data(o)):
                raise ValueError(
                    f"vjp: cotangent {i} has shape {np.shape(_data(c))}, the "
                    f"output has shape {np.shape(_data(o))}"
                )
        graph = nested or _tracing > 0 or any(_depends(c) for c in cotangents)
        grads = _pull(outputs, cotangents, variables, graph)
        return tuple(
            _outward(_zeros_like(v) if g is None else g, t)
            for g, v, t in zip(grads, variables, tensors_in)
        )

    return _value(out, any(tensors_in), nested), vjp_fn


def jvp(
    f: Callable[..., Any], primals: Sequence[TensorLike], tangents: Sequence[TensorLike]
) -> tuple[Any, Any]:
    """``(f(*primals), J @ tangents)``: forward-mode product, by differentiating a vjp."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(tangents) != len(primals):
        raise ValueError(
            f"jvp: got {len(tangents)} tangents for {len(primals)} primals (one tangent per primal)"
        )
    for i, (p, t) in enumerate(zip(primals, tangents)):
        p_shape, t_shape = np.shape(_data(p)), np.shape(_data(t))
        if p_shape != t_shape:
            raise ValueError(
                f"jvp: tangent {i} has shape {t_shape}, its primal has shape {p_shape}"
            )
    out, variables, tensors_in, nested = _trace(f, primals, {}, range(len(primals)))
    outputs, structure = _leaves(out)
    # vjp(u) = J^T u is linear in u; differentiating <J^T u, t> with respect to u gives J t.
    seeds = [
        Tensor._new(np.zeros_like(o._data)).requires_grad_() if _depends(o) else None
        for o in outputs
    ]
    pulled = _pull(outputs, seeds, variables, True)
    pairs = [(g, t) for g, t in zip(pulled, tangents) if g is not None and g.requires_grad]
    live = [s for s in seeds if s is not None]
    pushed: Sequence[Any] = [None] * len(live)
    if pairs and live:
        pushed = engine.grad(
            [g for g, _ in pairs],
            live,
            grad_outputs=[
                t if isinstance(t, Tensor) else Tensor._new(np.asarray(t, dtype=g.dtype))
                for g, t in pairs
            ],
            create_graph=nested,
            allow_unused=True,
        )
    pushed_tangents = iter(pushed)
    as_tensor = any(tensors_in)
    tangents_out = []
    for o, s in zip(outputs, seeds):
        product = next(pushed_tangents) if s is not None else None
        tangents_out.append(_outward(_zeros_like(o) if product is None else product, as_tensor))
    return _value(out, as_tensor, nested), _rebuild(tangents_out, structure)


def jacobian(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """``f`` -> a function giving d f / d x with shape ``f(x).shape + x.shape``.

    Several ``argnums`` give a tuple (one per argument); a function returning a tuple
    gives a tuple of those (one per output).
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args))
        out, variables, tensors_in, nested = _trace(f, args, kwargs, nums)
        outputs, structure = _leaves(out)
        per_output = [_jacobians(o, variables, tensors_in, nested) for o in outputs]
        if not isinstance(argnums, (int, np.integer)):
            per_output = [tuple(j) for j in per_output]
        else:
            per_output = [j[0] for j in per_output]
        return _rebuild(per_output, structure)

    return wrapped


def _jacobians(out, variables, tensors_in, nested):
    """d out / d v for every variable: one backward per element of ``out``."""
    data = np.asarray(_data(out))
    rows: list[list[Any]] = [[] for _ in variables]
    for k in range(data.size if _depends(out) else 0):
        seed = np.zeros(data.size, dtype=data.dtype)
        seed[k] = 1
        grads = engine.grad(
            out,
            variables,
            grad_outputs=seed.reshape(data.shape),
            retain_graph=True,
            create_graph=nested,
            allow_unused=True,
        )
        for row, g, v in zip(rows, grads, variables):
            row.append(_zeros_like(v) if g is None else g)
    jacobians = []
    for row, v, as_tensor in zip(rows, variables, tensors_in):
        shape = data.shape + v.shape
        if not row:
            jac = np.zeros(shape, dtype=v.dtype)
        elif nested:
            from ..ops import reshape, stack

            jac = reshape(stack(row), shape)
        else:
            jac = np.stack([r._data for r in row]).reshape(shape)
        jacobians.append(_outward(jac, as_tensor))
    return jacobians


def hessian(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """``f`` -> its matrix of second derivatives, shape ``x.shape + x.shape``."""
    return jacobian(grad(f, argnums), argnums)
