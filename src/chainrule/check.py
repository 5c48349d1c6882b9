"""Gradient checking against central finite differences, in float64.

``gradcheck`` compares the full analytic Jacobian (one backward per output
element) with the numeric one; ``gradgradcheck`` does the same for the gradient
itself, so second-order rules are checked too.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import engine
from .errors import GradcheckError
from .tensor import Tensor
from .typing import ArrayLike, TensorLike


def _float64_inputs(inputs):
    """Float64 copies of the inputs, and which of them are checked."""
    if isinstance(inputs, (Tensor, np.ndarray)) or np.isscalar(inputs):
        inputs = (inputs,)
    copies, checked = [], []
    for x in inputs:
        data = x._data if isinstance(x, Tensor) else np.asarray(x)
        floating = np.issubdtype(data.dtype, np.floating)
        wanted = floating and (x.requires_grad if isinstance(x, Tensor) else True)
        copies.append(np.array(data, dtype=np.float64 if floating else data.dtype))
        checked.append(wanted)
    return copies, checked


def _call(f, arrays, checked):
    tensors = [
        Tensor._new(a.copy()).requires_grad_() if c else Tensor._new(a)
        for a, c in zip(arrays, checked)
    ]
    return f(*tensors), tensors


def _analytic(f, arrays, checked):
    out, tensors = _call(f, arrays, checked)
    if not isinstance(out, Tensor):
        raise TypeError("gradcheck: the function must return a Tensor")
    variables = [t for t, c in zip(tensors, checked) if c]
    jac = [np.zeros((out._data.size, v._data.size)) for v in variables]
    if not variables or not out.requires_grad:
        return out._data, jac
    for k in range(out._data.size):
        seed = np.zeros(out._data.size)
        seed[k] = 1.0
        grads = engine.grad(
            out,
            variables,
            grad_outputs=seed.reshape(out.shape),
            retain_graph=True,
            allow_unused=True,
        )
        for rows, g, v in zip(jac, grads, variables):
            if g is not None:
                if g.shape != v.shape:
                    raise GradcheckError(
                        f"gradcheck: a gradient has shape {g.shape}, its input has shape {v.shape}"
                    )
                rows[k] = g._data.ravel()
    return out._data, jac


def _numeric(f, arrays, checked, eps, out_size):
    # Inputs keep requires_grad: f may itself differentiate (as in gradgradcheck).
    jac = []
    for i, (a, c) in enumerate(zip(arrays, checked)):
        if not c:
            continue
        cols = np.zeros((out_size, a.size))
        for j in range(a.size):
            shifted = [x.copy() for x in arrays]
            flat = shifted[i].reshape(-1)
            flat[j] = a.flat[j] + eps
            plus = _call(f, shifted, checked)[0]._data
            flat[j] = a.flat[j] - eps
            minus = _call(f, shifted, checked)[0]._data
            cols[:, j] = ((plus - minus) / (2 * eps)).ravel()
        jac.append(cols)
    return jac


def gradcheck(
    f: Callable[..., Any],
    inputs: TensorLike | Sequence[TensorLike],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check ``f``'s gradients at ``inputs`` against central differences in float64.

    Returns True, or raises :class:`GradcheckError` naming the input, the worst
    element, and the analytic and numeric values.

    >>> import numpy as np, chainrule as cr
    >>> cr.gradcheck(lambda x: (x.sin() * x).sum(), [np.array([0.3, -1.2])])
    True
    """
    arrays, checked = _float64_inputs(inputs)
    if not any(checked):
        raise ValueError(
            "gradcheck: no input requires grad, so nothing would be checked "
            "(give floating-point arrays, or Tensors with requires_grad=True)"
        )
    out, analytic = _analytic(f, arrays, checked)
    numeric = _numeric(f, arrays, checked, eps, out.size)
    positions = [i for i, c in enumerate(checked) if c]
    for position, a, n in zip(positions, analytic, numeric):
        error = np.abs(a - n) - (atol + rtol * np.abs(n))
        if error.size and (np.nanmax(error) > 0 or np.isnan(a).any() != np.isnan(n).any()):
            k, j = np.unravel_index(
                np.nanargmax(np.where(np.isnan(error), np.inf, error)), error.shape
            )
            element = np.unravel_index(j, arrays[position].shape)
            where_out = np.unravel_index(k, out.shape) if out.ndim else ()
            raise GradcheckError(
                f"gradcheck: input {position}, element {tuple(map(int, element))}, output "
                f"element {tuple(map(int, where_out))}: analytic {a[k, j]:.10g} vs numeric "
                f"{n[k, j]:.10g} (atol={atol}, rtol={rtol})"
            )
    return True


def gradgradcheck(
    f: Callable[..., Any],
    inputs: TensorLike | Sequence[TensorLike],
    grad_outputs: ArrayLike | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check the second-order gradients of ``f``: gradcheck applied to its vjp.

    ``grad_outputs`` (random by default) is the fixed cotangent of the vjp.
    """
    arrays, checked = _float64_inputs(inputs)
    out, _ = _call(f, arrays, checked)
    if grad_outputs is None:
        grad_outputs = np.random.default_rng(seed).standard_normal(out.shape)
    cotangent = np.asarray(grad_outputs, dtype=np.float64)

    def first_order(*xs):
        from .ops import concatenate, reshape

        variables = [x for x, c in zip(xs, checked) if c]
        y = f(*xs)
        grads = engine.grad(
            y, variables, grad_outputs=cotangent, create_graph=True, allow_unused=True
        )
        pieces = [reshape(g, (-1,)) for g in grads if g is not None]
        if not pieces:
            return Tensor._new(np.zeros(0))
        return concatenate(pieces) if len(pieces) > 1 else pieces[0]

    wrapped = [
        Tensor._new(a).requires_grad_() if c else Tensor._new(a) for a, c in zip(arrays, checked)
    ]
    return gradcheck(first_order, wrapped, eps=eps, atol=atol, rtol=rtol)


def check_grads(
    f: Callable[..., Any],
    modes: str | Sequence[str] = ("fwd", "rev"),
    order: int = 2,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> Callable[..., bool]:
    """``f`` -> a function of ``*args`` that checks f's derivatives there, in random directions.

    As HIPS autograd's ``check_grads``: a forward product (``jvp``) and a backward one
    (``vjp``) along random directions are compared with central differences in float64;
    for ``order`` > 1 the same check runs on the vjp and jvp themselves (as functions of the
    point and the direction), so every order of nesting is exercised. Keyword arguments
    are passed to ``f`` unchanged; a tuple or list output is checked as one flat vector.
    Returns True, or raises :class:`GradcheckError` naming the mode and the order.

    >>> import numpy as np, chainrule as cr
    >>> cr.check_grads(lambda x, y: (cr.sin(x) * y).sum(), order=3)(np.ones(2), np.ones(2))
    True
    """
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    unknown = [m for m in modes if m not in ("fwd", "rev")]
    if unknown or not modes:
        raise ValueError(f"check_grads: modes must be 'fwd' and/or 'rev', got {modes!r}")

    def check(*args, **kwargs):
        arrays = [np.array(a._data if isinstance(a, Tensor) else a, dtype=np.float64) for a in args]

        def flat_f(*xs):
            out = f(*xs, **kwargs)
            return _flat(out) if isinstance(out, (tuple, list)) else out

        _check_directions(
            flat_f, arrays, modes, order, order, eps, atol, rtol, np.random.default_rng(seed)
        )
        return True

    return check


def _values(y):
    return np.asarray(y._data if isinstance(y, Tensor) else y, dtype=np.float64)


def _flat(pieces):
    from .ops import concatenate, reshape

    pieces = [reshape(p, (-1,)) for p in pieces]
    return concatenate(pieces) if pieces else np.zeros(0)


def _check_directions(f, arrays, modes, order, top, eps, atol, rtol, rng):
    from .autograd.functional import jvp, vjp

    out = _values(f(*arrays))
    directions = [rng.standard_normal(a.shape) for a in arrays]
    plus = _values(f(*[a + eps * d for a, d in zip(arrays, directions)]))
    minus = _values(f(*[a - eps * d for a, d in zip(arrays, directions)]))
    numeric = (plus - minus) / (2 * eps)
    level = top - order + 1

    def compare(analytic, expected, mode):
        if not np.allclose(analytic, expected, rtol=rtol, atol=atol):
            raise GradcheckError(
                f"check_grads: {mode} mode, order {level}: analytic "
                f"{np.ravel(analytic)[:5]} vs numeric {np.ravel(expected)[:5]}"
            )

    cotangent = rng.standard_normal(out.shape)
    if "fwd" in modes:
        compare(_values(jvp(f, arrays, directions)[1]), numeric, "forward")
    if "rev" in modes:
        grads = vjp(f, *arrays)[1](cotangent)
        along = sum(np.vdot(_values(g), d) for g, d in zip(grads, directions))
        compare(along, np.vdot(cotangent, numeric), "reverse")
    if order > 1:
        n = len(arrays)
        if "rev" in modes:

            def pulled(*xs):
                return _flat(vjp(f, *xs[:n])[1](xs[n]))

            _check_directions(
                pulled, arrays + [cotangent], modes, order - 1, top, eps, atol, rtol, rng
            )
        if "fwd" in modes:

            def pushed(*xs):
                return jvp(f, xs[:n], xs[n:])[1]

            _check_directions(
                pushed, arrays + directions, modes, order - 1, top, eps, atol, rtol, rng
            )
