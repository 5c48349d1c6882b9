"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian.

They take ndarrays or Tensors and return ndarrays for ndarray inputs (Tensors for
Tensor inputs). They nest: an inner transform handed Tensors that require grad
records its own gradient computation, so an outer transform can differentiate it.
"""

import numpy as np

from ..tensor import Tensor
from . import engine


def _argnums(argnums):
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def _as_variable(x):
    """A tensor to differentiate with respect to; tied to ``x`` when ``x`` is traced."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            return x + 0, True  # a fresh node on x's graph: nested transforms see through it
        return Tensor._new(x.data).requires_grad_(), True
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return Tensor._new(array).requires_grad_(), False


def _outward(value, as_tensor):
    """What the caller sees: a Tensor for Tensor inputs, an ndarray otherwise."""
    if value is None:
        return None
    if as_tensor:
        return value if isinstance(value, Tensor) else Tensor._new(np.asarray(value))
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _trace(f, args, argnums):
    """Call f with the differentiated arguments replaced by graph variables."""
    args = list(args)
    variables, tensors_in = [], []
    for i in argnums:
        args[i], was_tensor = _as_variable(args[i])
        variables.append(args[i])
        tensors_in.append(was_tensor)
    nested = any(isinstance(v, Tensor) and v._op is not None for v in variables)
    return f(*args), variables, tensors_in, nested


def value_and_grad(f, argnums=0):
    """``f`` -> a function returning ``(f(*args), gradient)`` for a scalar-valued ``f``.

    >>> import numpy as np, chainrule as cr
    >>> value, g = cr.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 3.0]))
    >>> float(value), g
    (10.0, array([2., 6.]))
    """
    nums = _argnums(argnums)

    def wrapped(*args):
        out, variables, tensors_in, nested = _trace(f, args, nums)
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise TypeError("grad: the function must return a Tensor computed from its inputs")
        if out.data.size != 1:
            raise ValueError(f"grad: the function must return a scalar, got shape {out.shape}")
        grads = engine.grad(out, variables, create_graph=nested, allow_unused=True)
        grads = [np.zeros_like(v.data) if g is None else g for g, v in zip(grads, variables)]
        grads = [_outward(g, t) for g, t in zip(grads, tensors_in)]
        value = out if nested else out.data
        return value, grads[0] if isinstance(argnums, int) else tuple(grads)

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

    def wrapped(*args):
        return vg(*args)[1]

    return wrapped


def vjp(f, *primals):
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` gives one gradient per primal."""
    out, variables, tensors_in, nested = _trace(f, primals, range(len(primals)))

    def vjp_fn(cotangent):
        grads = engine.grad(out, variables, grad_outputs=cotangent, retain_graph=True,
                            create_graph=nested or isinstance(cotangent, Tensor)
                            and cotangent.requires_grad, allow_unused=True)
        return tuple(_outward(np.zeros_like(v.data) if g is None else g, t)
                     for g, v, t in zip(grads, variables, tensors_in))

    return _outward(out, any(tensors_in)), vjp_fn


def jvp(f, primals, tangents):
    """``(f(*primals), J @ tangents)``: forward-mode product, by differentiating a vjp."""
    primals, tangents = tuple(primals), tuple(tangents)
    out, variables, tensors_in, nested = _trace(f, primals, range(len(primals)))
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
    return _outward(out, as_tensor), _outward(tangent_out, as_tensor)


def jacobian(f, argnums=0):
    """``f`` -> a function giving d f / d x with shape ``f(x).shape + x.shape``."""
    nums = _argnums(argnums)

    def wrapped(*args):
        out, variables, tensors_in, nested = _trace(f, args, nums)
        rows = [[] for _ in variables]
        for k in range(out.data.size):
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

                jac = reshape(stack(row), shape) if row else Tensor._new(np.zeros(shape))
            else:
                jac = (np.stack([r.data for r in row]).reshape(shape) if row
                       else np.zeros(shape, dtype=v.dtype))
            jacobians.append(_outward(jac, as_tensor))
        return jacobians[0] if isinstance(argnums, int) else tuple(jacobians)

    return wrapped


def hessian(f, argnums=0):
    """``f`` -> its matrix of second derivatives, shape ``x.shape + x.shape``."""
    return jacobian(grad(f, argnums), argnums)
