"""RMSprop: steps scaled by a moving average of squared gradients."""

import numpy as np

from .optimizer import Optimizer, Params


class RMSprop(Optimizer):
    """RMSprop, following PyTorch's ``torch.optim.RMSprop``.

    With ``g`` the gradient (negated if ``maximize``)::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        centered:  m = alpha * m + (1 - alpha) * g;  d = sqrt(v - m * m) + eps
        otherwise: d = sqrt(v) + eps
        momentum > 0: b = momentum * b + g / d;  p = p - lr * b
        otherwise:    p = p - lr * g / d

    All of ``v``, ``m`` and ``b`` start at zero.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> w = tensor(np.array([1.0]), requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
    >>> w.grad = tensor(np.array([3.0]))
    >>> opt.step()
    >>> w.data
    array([0.98])
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            self._require(group[name] >= 0, name, group[name], ">= 0")

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["square_avg"] = np.zeros_like(param)
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)

    def _update(self, param, grad, state, group, out=None):
        lr = float(group["lr"])
        alpha = float(group["alpha"])
        momentum = float(group["momentum"])
        state["step"] += 1
        grad = self._direction(param, grad, group)
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"]
            # Written as PyTorch's lerp computes it, so float32 results agree to rounding.
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + float(group["eps"])
        else:
            avg = np.sqrt(square_avg) + float(group["eps"])
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / avg
            return np.subtract(param, lr * buf, out=out)
        return np.subtract(param, lr * (grad / avg), out=out)
