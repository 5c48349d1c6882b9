"""Learning-rate schedules that rewrite ``group["lr"]`` in an optimizer's groups.

They follow PyTorch's ``torch.optim.lr_scheduler``: epoch schedules update the
learning rate recursively from its current value, so several of them can act on
one optimizer, and give the same numbers as PyTorch.
"""

import math
from collections.abc import Mapping
from typing import Any

from .optimizer import Optimizer, _from_plain, _to_plain


class _Scheduler:
    """What all schedules share: the optimizer, the last lrs and a state dict."""

    # Attributes saved by state_dict; subclasses extend.
    _state_keys: tuple[str, ...] = ("last_epoch", "_last_lr")

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.last_epoch = 0
        self._last_lr = self._current_lrs()

    def _current_lrs(self) -> list[float]:
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """Return the learning rates (one per param group) set by the last step."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Return the schedule's state as Python scalars, strings and lists."""
        return {key: _to_plain(getattr(self, key)) for key in self._state_keys}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a dict from :meth:`state_dict` (or from ``unflatten_state_dict``)."""
        for key in self._state_keys:
            if key in state_dict:
                setattr(self, key, _from_plain(state_dict[key]))


class LRScheduler(_Scheduler):
    """Base class of the epoch schedules: ``step()`` once per epoch, after ``optimizer.step()``.

    Subclasses define ``_next_lrs()``, the learning rates for ``self.last_epoch``
    computed from the current ones.
    """

    _state_keys = _Scheduler._state_keys + ("base_lrs",)

    def __init__(self, optimizer: Optimizer) -> None:
        super().__init__(optimizer)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [float(group["initial_lr"]) for group in optimizer.param_groups]

    def step(self) -> None:
        """Advance one epoch and set the new learning rates."""
        self.last_epoch += 1
        lrs = self._next_lrs()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def _next_lrs(self) -> list[float]:
        raise NotImplementedError


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    After ``n`` steps, ``lr = base_lr * gamma ** (n // step_size)``.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> from chainrule.optim import SGD
    >>> opt = SGD([tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     sched.step()
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    _state_keys = LRScheduler._state_keys + ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(
                f"StepLR: invalid step_size={step_size!r}, expected a positive integer"
            )
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def _next_lrs(self):
        decay = self.last_epoch % self.step_size == 0
        return [
            float(group["lr"]) * self.gamma if decay else float(group["lr"])
            for group in self.optimizer.param_groups
        ]


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from its initial value to ``eta_min`` over ``T_max`` epochs.

    After ``n`` steps, ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * n / T_max)) / 2``;
    past ``T_max`` it rises again, as in PyTorch. The value is computed
    recursively from the current lr, so changes made by others carry over.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> from chainrule.optim import SGD
    >>> opt = SGD([tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    >>> sched = CosineAnnealingLR(opt, T_max=2)
    >>> for _ in range(3):
    ...     sched.step()
    ...     print(round(sched.get_last_lr()[0], 12))
    0.5
    0.0
    0.5
    """

    _state_keys = LRScheduler._state_keys + ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0) -> None:
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: invalid T_max={T_max!r}, expected > 0")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def _next_lrs(self):
        epoch, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if (epoch - 1 - period) % (2 * period) == 0:
            # The ratio below would divide by 1 + cos(pi) = 0 here: add the
            # rise of the first epoch of the next half period instead.
            return [
                float(group["lr"]) + (base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2
                for base_lr, group in zip(self.base_lrs, groups)
            ]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (
            1 + math.cos(math.pi * (epoch - 1) / period)
        )
        return [ratio * (float(group["lr"]) - eta_min) + eta_min for group in groups]


class ReduceLROnPlateau(_Scheduler):
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    Call ``step(metric)`` once per epoch. A metric better than the best so far
    (by ``threshold``, relative or absolute) resets the count of bad epochs;
    after more than ``patience`` bad epochs every lr is reduced (not below
    ``min_lr``, and not by less than ``eps``) and then ``cooldown`` epochs pass
    in which bad epochs are not counted.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> from chainrule.optim import SGD
    >>> opt = SGD([tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, patience=1, factor=0.5)
    >>> lrs = []
    >>> for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 1.0]:
    ...     sched.step(loss)
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    """

    _state_keys = _Scheduler._state_keys + (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lrs",
        "eps",
        "best",
        "num_bad_epochs",
        "cooldown_counter",
    )

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] | tuple[float, ...] = 0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(optimizer)
        name = type(self).__name__
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: invalid mode={mode!r}, expected 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{name}: invalid threshold_mode={threshold_mode!r}, expected 'rel' or 'abs'"
            )
        if not factor < 1.0:
            raise ValueError(f"{name}: invalid factor={factor!r}, expected < 1.0")
        for option, value in (("patience", patience), ("cooldown", cooldown)):
            if value < 0:
                raise ValueError(f"{name}: invalid {option}={value!r}, expected >= 0")
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(
                    f"{name}: expected {n_groups} min_lr values (one per "
                    f"param group), got {len(min_lr)}"
                )
            self.min_lrs = [float(v) for v in min_lr]
        else:
            self.min_lrs = [float(min_lr)] * n_groups
        self.mode = mode
        self.factor = float(factor)
        self.patience = patience
        self.threshold = float(threshold)
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.eps = float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, value):
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return value < self.best * (1 - self.threshold)
            return value < self.best - self.threshold
        if self.threshold_mode == "rel":
            return value > self.best * (1 + self.threshold)
        return value > self.best + self.threshold

    def step(self, metrics: float) -> None:
        """Record one epoch's metric and reduce the learning rates if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lrs()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lrs(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            raise RuntimeError(
                f"{type(self).__name__}: the optimizer has {len(groups)} param "
                f"groups but min_lrs has {len(self.min_lrs)}"
            )
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            # Skip changes too small to matter, as PyTorch does.
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
