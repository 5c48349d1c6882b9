"""Adagrad: per-coordinate step sizes from the running sum of squared gradients."""

import numpy as np

from .optimizer import Optimizer, Params


class Adagrad(Optimizer):
    """Adagrad, following PyTorch's ``torch.optim.Adagrad``.

    With ``g`` the gradient (negated if ``maximize``) and ``t`` the step number::

        g = g + weight_decay * p
        lr_t = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g                       (sum starts at initial_accumulator_value)
        p = p - lr_t * g / (sqrt(sum) + eps)

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> w = tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> opt = Adagrad([w], lr=0.5)
    >>> w.grad = tensor(np.array([2.0, -4.0]))
    >>> opt.step()
    >>> w.data
    array([0.5, 2.5])
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._require(group[name] >= 0, name, group[name], ">= 0")

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["sum"] = np.full_like(param, group["initial_accumulator_value"])

    def _update(self, param, grad, state, group, out=None):
        lr = float(group["lr"])
        state["step"] += 1
        grad = self._direction(param, grad, group)
        step_lr = lr / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        state["sum"] += grad * grad
        std = np.sqrt(state["sum"]) + float(group["eps"])
        return np.subtract(param, step_lr * (grad / std), out=out)
