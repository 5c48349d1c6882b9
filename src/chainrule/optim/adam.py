"""Adam: bias-corrected moving averages of the gradient and its square."""

import math

import numpy as np

from .optimizer import Optimizer, Params


class Adam(Optimizer):
    """Adam, following PyTorch's ``torch.optim.Adam``.

    With ``g`` the gradient (negated if ``maximize``) and ``t`` the step number::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                   if amsgrad (then v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    ``m``, ``v`` and ``v_max`` start at zero.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> w = tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> opt = Adam([w], lr=0.1, eps=0.0)
    >>> w.grad = tensor(np.array([3.0, -0.5]))
    >>> opt.step()
    >>> w.data
    array([0.9, 2.1])
    """

    # AdamW sets this: weight decay shrinks p directly instead of entering g.
    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        self._require(group["eps"] >= 0, "eps", group["eps"], ">= 0")
        betas = group["betas"]
        self._require(len(betas) == 2, "betas", betas, "a pair (beta1, beta2)")
        for i, beta in enumerate(betas):
            self._require(0 <= beta < 1, f"betas[{i}]", beta, "0 <= beta < 1")
        self._require(group["weight_decay"] >= 0, "weight_decay", group["weight_decay"], ">= 0")

    def _init_state(self, state, param, group):
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)

    def _update(self, param, grad, state, group, out=None):
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        weight_decay = float(group["weight_decay"])
        state["step"] += 1
        step = state["step"]
        grad = self._direction(param, grad, group, l2=not self._decoupled_weight_decay)
        if self._decoupled_weight_decay and weight_decay != 0:
            param = np.multiply(param, 1 - lr * weight_decay, out=out)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # Written as PyTorch's lerp computes it, so float32 results agree to rounding.
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            exp_avg_sq = state["max_exp_avg_sq"]
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        denom = np.sqrt(exp_avg_sq) / math.sqrt(bias_correction2) + float(group["eps"])
        return np.subtract(param, (lr / bias_correction1) * (exp_avg / denom), out=out)
