"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian.

They take ndarrays or Tensors and return ndarrays for ndarray inputs (Tensors for
Tensor inputs). They nest: an inner transform handed Tensors that require grad
records its own gradient computation, so an outer transform can differentiate it.
"""

import numpy as np

from ..tensor import Tensor
from . import engine


# How many transforms are running their function right now. A transform called inside
# another one's function builds its gradient as a graph (create_graph), so the outer one
# differentiates through it, also through variables the inner function only closes over.
_tracing = 0


def _argnums(argnums, count):
    """``argnums`` as a tuple of non-negative positions among ``count`` arguments."""
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    for n in nums:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"argnums must be ints, got {n!r}")
        if not -count <= n < count:
            raise ValueError(f"argnums {argnums!r} is out of range for a call with {count} "
                             "positional arguments")
    return tuple(int(n) % count for n in nums)


def _as_variable(x):
    """A tensor to differentiate with respect to; tied to ``x`` when ``x`` is traced."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            return x + 0, True  # a fresh node on x's graph: nested transforms see through it
        return Tensor._new(x.data).requires_grad_(), True
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.floating):
        if np.iscomplexobj(array):
            raise TypeError("chainrule differentiates real functions: complex inputs are not "
                            "supported")
        array = array.astype(np.float64)
    return Tensor._new(array).requires_grad_(), False


def _outward(value, as_tensor):
    """What the caller sees: a Tensor for Tensor inputs, an ndarray otherwise.

    A value that is itself on a graph (a transform nested in another) stays a Tensor, so
    the outer transform can differentiate through it.
    """
    if value is None:
        return None
    if isinstance(value, Tensor) and value.requires_grad:
        return value
    if as_tensor:
        return value if isinstance(value, Tensor) else Tensor._new(np.asarray(value))
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _trace(f, args, kwargs, argnums):
    """Call f with the differentiated arguments replaced by graph variables.

    Returns the output, the variables, whether each was given as a Tensor, and whether the
    gradient must be built as a graph (inside another transform, or of traced inputs).
    """
    global _tracing
    args = list(args)
    variables, tensors_in = [], []
    for i in argnums:
        args[i], was_tensor = _as_variable(args[i])
        variables.append(args[i])
        tensors_in.append(was_tensor)
    nested = _tracing > 0 or any(v._op is not None for v in variables)
    _tracing += 1
    try:
        out = f(*args, **kwargs)
    finally:
        _tracing -= 1
    return out, variables, tensors_in, nested


def _value(out, as_tensor, nested):
    """The function's own value: on its graph when nested, else as the inputs were given."""
    if not isinstance(out, Tensor):
        out = Tensor._new(np.asarray(out))
    if nested and out.requires_grad:
        return out
    return out if as_tensor else out.data


def _depends(out):
    """Whether ``out`` is on a graph; a function that ignores its inputs has zero gradient."""
    return isinstance(out, Tensor) and out.requires_grad


def _zeros_like(v):
    return Tensor._new(np.zeros_like(v.data))


def value_and_grad(f, argnums=0):
    """``f`` -> a function returning ``(f(*args), gradient)`` for a scalar-valued ``f``.

    >>> import numpy as np, chainrule as cr
    >>> value, g = cr.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 3.0]))
    >>> float(value), g
    (10.0, array([2., 6.]))
    """
    def wrapped(*args, **kwargs):
        nums = _argnums(argnums, len(args))
        out, variables, tensors_in, nested = _trace(f, args, kwargs, nums)
        size = out.data.size if isinstance(out, Tensor) else np.size(out)
        if size != 1:
            raise ValueError(f"grad: the function must return a scalar, got shape "
                             f"{np.shape(out.data if isinstance(out, Tensor) else out)}")
        if _depends(out):
            grads = engine.grad(out, variables, create_graph=nested, allow_unused=True)
        else:  # a constant function (or one whose derivative is constant)
            grads = [None] * len(variables)
        grads = [_zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        grads = [_outward(g, t) for g, t in zip(grads, tensors_in)]
        value = _value(out, any(tensors_in), nested)
        return value, grads[0] if isinstance(argnums, (int, np.integer)) else tuple(grads)

    return wrapped


def grad(f, argnums=0):
    """``f`` -> its gradient function (``f`` scalar-valued).

    >>> import chainrule as cr
    >>> float(cr.grad(lambda x: x ** 3)(2.0))
    12.0
    >>> float(cr.grad(cr.grad(lambda x: x ** 3))(2.0))
    12.0
    """
    vg = value_and_grad(f, argnums)

    def wrapped(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return wrapped


def vjp(f, *primals):
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` gives one gradient per primal."""
    out, variables, tensors_in, nested = _trace(f, primals, {}, range(len(primals)))

    def vjp_fn(cotangent):
        shape = out.shape if isinstance(out, Tensor) else np.shape(out)
        if np.shape(cotangent.data if isinstance(cotangent, Tensor) else cotangent) != shape:
            raise ValueError(f"vjp: the cotangent has shape {np.shape(cotangent)}, the output "
                             f"has shape {shape}")
        if _depends(out):
            graph = nested or _tracing > 0 or _depends(cotangent)
            grads = engine.grad(out, variables, grad_outputs=cotangent, retain_graph=True,
                                create_graph=graph, allow_unused=True)
        else:
            grads = [None] * len(variables)
        return tuple(_outward(_zeros_like(v) if g is None else g, t)
                     for g, v, t in zip(grads, variables, tensors_in))

    return _value(out, any(tensors_in), nested), vjp_fn


def jvp(f, primals, tangents):
    """``(f(*primals), J @ tangents)``: forward-mode product, by differentiating a vjp."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(tangents) != len(primals):
        raise ValueError(f"jvp: got {len(tangents)} tangents for {len(primals)} primals "
                         "(one tangent per primal)")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        p_shape, t_shape = np.shape(_data(p)), np.shape(_data(t))
        if p_shape != t_shape:
            raise ValueError(f"jvp: tangent {i} has shape {t_shape}, its primal has shape "
                             f"{p_shape}")
    out, variables, tensors_in, nested = _trace(f, primals, {}, range(len(primals)))
    if not _depends(out):
        as_tensor = any(tensors_in)
        zeros = np.zeros_like(_data(out), dtype=np.result_type(_data(out), np.float32))
        return _value(out, as_tensor, nested), _outward(zeros, as_tensor)
    # vjp(u) = J^T u is linear in u; differentiating <J^T u, t> with respect to u gives J t.
    u = Tensor._new(np.zeros_like(out.data)).requires_grad_()
    pulled = engine.grad(out, variables, grad_outputs=u, create_graph=True, allow_unused=True)
    pairs = [(g, t) for g, t in zip(pulled, tangents) if g is not None and g.requires_grad]
    if pairs:
        tangent_out = engine.grad([g for g, _ in pairs], [u], grad_outputs=[
            t if isinstance(t, Tensor) else Tensor._new(np.asarray(t, dtype=g.dtype))
            for g, t in pairs], create_graph=nested, allow_unused=True)[0]
    else:
        tangent_out = None
    if tangent_out is None:
        tangent_out = Tensor._new(np.zeros_like(out.data))
    as_tensor = any(tensors_in)
    return _value(out, as_tensor, nested), _outward(tangent_out, as_tensor)


def jacobian(f, argnums=0):
    """``f`` -> a function giving d f / d x with shape ``f(x).shape + x.shape``."""
    def wrapped(*args, **kwargs):
        nums = _argnums(argnums, len(args))
        out, variables, tensors_in, nested = _trace(f, args, kwargs, nums)
        if not isinstance(out, Tensor):
            out = Tensor._new(np.asarray(out, dtype=np.result_type(np.asarray(out), np.float32)))
        rows = [[] for _ in variables]
        for k in range(out.data.size if _depends(out) else 0):
            basis = np.zeros(out.data.size, dtype=out.data.dtype)
            basis[k] = 1
            seed = basis.reshape(out.shape)
            grads = engine.grad(out, variables, grad_outputs=seed, retain_graph=True,
                                create_graph=nested, allow_unused=True)
            for row, g, v in zip(rows, grads, variables):
                row.append(Tensor._new(np.zeros_like(v.data)) if g is None else g)
        jacobians = []
        for row, v, as_tensor in zip(rows, variables, tensors_in):
            shape = out.shape + v.shape
            if nested:
                from ..ops import reshape, stack

                jac = reshape(stack(row), shape) if row else Tensor._new(
                    np.zeros(shape, dtype=v.dtype))
            else:
                jac = (np.stack([r.data for r in row]).reshape(shape) if row
                       else np.zeros(shape, dtype=v.dtype))
            jacobians.append(_outward(jac, as_tensor))
        return jacobians[0] if isinstance(argnums, (int, np.integer)) else tuple(jacobians)

    return wrapped


def hessian(f, argnums=0):
    """``f`` -> its matrix of second derivatives, shape ``x.shape + x.shape``."""
    return jacobian(grad(f, argnums), argnums)


def _data(x):
    return x.data if isinstance(x, Tensor) else x
