"""Stochastic gradient descent, with optional momentum and Nesterov momentum."""

import numpy as np

from .optimizer import Optimizer, Params


class SGD(Optimizer):
    """Stochastic gradient descent, following PyTorch's ``torch.optim.SGD``.

    With ``g`` the gradient (negated if ``maximize``), each step does::

        g = g + weight_decay * p
        b = g                                   on the first step (momentum != 0)
        b = momentum * b + (1 - dampening) * g  afterwards
        g = g + momentum * b if nesterov else b
        p = p - lr * g

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> w = tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     w.grad = tensor(np.array([1.0, -1.0]))
    ...     opt.step()
    >>> w.data
    array([0.71, 2.29])
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        self._require(group["momentum"] >= 0, "momentum", group["momentum"], ">= 0")
        self._require(group["weight_decay"] >= 0, "weight_decay", group["weight_decay"], ">= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{self._name}: nesterov=True requires momentum > 0 and "
                f"dampening == 0, got momentum={group['momentum']!r}, "
                f"dampening={group['dampening']!r}"
            )

    def _update(self, param, grad, state, group, out=None):
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        grad = self._direction(param, grad, group)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # Copy: the buffer is updated in place later and grad may be p.grad's array.
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - dampening) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        return np.subtract(param, lr * grad, out=out)
