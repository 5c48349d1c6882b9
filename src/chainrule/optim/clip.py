"""Gradient clipping by global norm."""

import math
from collections.abc import Iterable

import numpy as np

from ..tensor import Tensor


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale the gradients so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as if they were one vector; when it
    exceeds ``max_norm`` each ``p.grad`` is replaced by a new Tensor times
    ``max_norm / (total_norm + 1e-6)``, as PyTorch does. Parameters without a
    gradient are skipped. Returns the total norm before clipping, as a float.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> w = tensor(np.zeros(2), requires_grad=True)
    >>> w.grad = tensor(np.array([3.0, 4.0]))
    >>> clip_grad_norm_([w], max_norm=1.0)
    5.0
    >>> np.round(w.grad.data, 6)
    array([0.6, 0.8])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: invalid norm_type={norm_type!r}, expected > 0 or inf")
    with_grad = [(p, p.grad.data) for p in parameters if p.grad is not None]
    if not with_grad:
        return 0.0
    # Accumulate in float64: squares of large float32 gradients overflow float32.
    # Empty gradients add nothing (and would break the max of the inf-norm).
    norms = [
        np.linalg.norm(np.asarray(grad, dtype=np.float64).reshape(-1), norm_type)
        for _, grad in with_grad
        if grad.size
    ]
    if not norms:
        return 0.0
    total_norm = float(np.linalg.norm(np.array(norms), norm_type))
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total_norm}"
        )
    clip_coef = float(max_norm) / (total_norm + 1e-6)
    if clip_coef < 1.0:
        for p, grad in with_grad:
            # A new Tensor, not an in-place scale: gradients may share memory.
            p.grad = Tensor(grad * clip_coef)
    return total_norm
