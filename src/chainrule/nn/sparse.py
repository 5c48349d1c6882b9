"""Embedding: a lookup table of ``num_embeddings`` vectors, as ``torch.nn.Embedding``.

The ``weight`` (num_embeddings, embedding_dim) starts from N(0, 1) with the
``padding_idx`` row zeroed, as PyTorch's; a PyTorch state_dict loads once converted to
arrays. The gradient is a scatter-add into the rows read (never a dense one-hot product)
and leaves the padding row alone.

>>> import chainrule as cr
>>> emb = Embedding(10, 3, padding_idx=0, rng=0)
>>> emb(cr.tensor([[1, 0, 4]])).shape, emb.weight.data[0].tolist()
((1, 3, 3), [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import numpy as np

from ..ops.recurrent import embedding
from ..ops.registry import data_of
from ..tensor import Tensor
from ..typing import DTypeLike, Seed, TensorLike
from . import init
from .module import Module, Parameter

__all__ = ["Embedding"]


def _padding_index(padding_idx, num_embeddings):
    """``padding_idx`` as a row number (a negative one counts from the end), or None."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"Embedding: padding_idx {padding_idx} must be within num_embeddings {num_embeddings}"
        )
    return int(padding_idx) % num_embeddings


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``; ``forward(input)``
    takes integer indices of any shape and returns their vectors (*input.shape, dim).

    ``padding_idx``: that row starts at zero and gets no gradient. ``max_norm``: the rows
    read are renormalised in place to at most that ``norm_type``-norm.
    ``scale_grad_by_freq``: each row's gradient is divided by how often its index occurs
    in the batch. ``_weight`` gives the initial table; ``_freeze`` keeps it constant.
    Gradients are dense arrays whatever ``sparse`` says.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: TensorLike | None = None,
        _freeze: bool = False,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.rng = init.as_generator(rng)
        if _weight is None:
            dtype = np.dtype(np.float32 if dtype is None else dtype)
            # Filled as an array, then wrapped: a fresh parameter has no in-place history.
            self.weight = Parameter(
                self._initial(np.empty((num_embeddings, embedding_dim), dtype)),
                requires_grad=not _freeze,
            )
        else:
            shape = np.shape(data_of(_weight))
            if shape != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"Embedding: shape of weight {shape} does not match "
                    f"num_embeddings and embedding_dim "
                    f"{(num_embeddings, embedding_dim)}"
                )
            self.weight = Parameter(np.array(data_of(_weight)), requires_grad=not _freeze)

    def _initial(self, values):
        init.normal_(values, generator=self.rng)
        if self.padding_idx is not None:
            values[self.padding_idx] = 0
        return values

    def reset_parameters(self) -> None:
        """N(0, 1) again, the padding row zeroed (new memory: graphs keep the old values)."""
        self.weight.data = self._initial(np.empty_like(self.weight.data))

    def forward(self, input: Tensor) -> Tensor:
        return embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            text += ", sparse=True"
        return text

    @classmethod
    def from_pretrained(
        cls,
        embeddings: TensorLike,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding holding a copy of the 2-D ``embeddings``; constant with ``freeze``.

        >>> import numpy as np
        >>> Embedding.from_pretrained(np.eye(3)).weight.requires_grad
        False
        """
        shape = np.shape(data_of(embeddings))
        if len(shape) != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-dimensional, got shape {shape}"
            )
        return cls(
            shape[0],
            shape[1],
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            _weight=embeddings,
            _freeze=freeze,
        )
