"""Loss modules: thin wrappers over :mod:`chainrule.nn.functional` that keep the settings.

>>> import chainrule as cr
>>> loss_fn = cr.nn.MSELoss(reduction="sum")
>>> loss_fn(cr.tensor([1.0, 2.0]), cr.tensor([0.0, 0.0])).item()
5.0
"""

from __future__ import annotations

from ..ops import losses_extra as _extra
from ..tensor import Tensor
from ..typing import DTypeLike, TensorLike
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (logs clamped at -100, as in PyTorch)."""

    def __init__(self, weight: TensorLike | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable step; gradient ``sigmoid(x) - y``."""

    def __init__(
        self,
        weight: TensorLike | None = None,
        reduction: str = "mean",
        pos_weight: TensorLike | None = None,
    ) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.pos_weight = pos_weight

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities at class indices."""

    def __init__(
        self, weight: TensorLike | None = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits against class indices or class probabilities."""

    def __init__(
        self,
        weight: TensorLike | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return F.cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing
        )


class MultiMarginLoss(_Loss):
    """Multi-class hinge loss ``sum_{i != y} max(0, margin - x[y] + x[i]) ** p / C``."""

    def __init__(
        self,
        p: float = 1,
        margin: float = 1.0,
        weight: TensorLike | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p = 1 and p = 2 are supported, got {p}")
        self.p = p
        self.margin = margin
        self.weight = weight

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)


class _RegressionLoss(Module):
    """A loss with PyTorch's deprecated ``size_average`` and ``reduce`` before ``reduction``;
    ``dtype`` is accepted like the layers' (a loss has no state to create)."""

    _reductions: tuple[str, ...] = _extra._REDUCTIONS

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        *,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        self.reduction = _extra._reduction(
            type(self).__name__, reduction, size_average, reduce, allowed=self._reductions
        )


class L1Loss(_RegressionLoss):
    """Mean absolute error ``|input - target|``."""

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return _extra.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_RegressionLoss):
    """Smooth L1: quadratic below ``beta``, linear above (``beta = 0``: L1)."""

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
        *,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = beta

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return _extra.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_RegressionLoss):
    """Huber loss: ``0.5 d**2`` below ``delta``, ``delta (|d| - 0.5 delta)`` above."""

    def __init__(
        self, reduction: str = "mean", delta: float = 1.0, *, dtype: DTypeLike | None = None
    ) -> None:
        super().__init__(reduction=reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return _extra.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_RegressionLoss):
    """Kullback-Leibler divergence of the target from the input (log-probabilities);
    ``reduction='batchmean'`` gives the divergence per sample."""

    _reductions = _extra._REDUCTIONS + ("batchmean",)

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        log_target: bool = False,
        *,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: TensorLike) -> Tensor:
        return _extra.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
