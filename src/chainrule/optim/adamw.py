"""AdamW: Adam with weight decay decoupled from the gradient."""

from .adam import Adam
from .optimizer import Params


class AdamW(Adam):
    """AdamW, following PyTorch's ``torch.optim.AdamW``.

    The same as :class:`Adam` except that weight decay shrinks the parameter
    before the Adam step, ``p = p * (1 - lr * weight_decay)``, instead of being
    added to the gradient; its default is 1e-2.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> w = tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, eps=0.0, weight_decay=0.5)
    >>> w.grad = tensor(np.array([3.0, -0.5]))
    >>> opt.step()
    >>> w.data
    array([0.85, 2.  ])
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
