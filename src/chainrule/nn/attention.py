"""Attention layers: MultiheadAttention, TransformerEncoderLayer and TransformerEncoder.

Arguments, defaults, submodule and parameter names (``in_proj_weight``, ``in_proj_bias``,
``out_proj.weight``, ``self_attn.*``, ``linear1``, ``norm1``, ...) and initialisation are
PyTorch's, so a PyTorch state_dict loads once converted to arrays
(``load_state_dict({k: v.numpy()})``). Masks follow PyTorch's modules: a boolean
``attn_mask`` or ``key_padding_mask`` is True where a position is *left out*.

>>> import chainrule as cr
>>> layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True, rng=0)
>>> layer(cr.randn(3, 5, 8)).shape
(3, 5, 8)
>>> sorted(layer.state_dict())[:3]
['linear1.bias', 'linear1.weight', 'linear2.bias']
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ops import relu, swapaxes
from ..ops.attention import multi_head_attention_forward
from ..ops.registry import data_of
from ..tensor import Tensor
from ..typing import DTypeLike, Seed, TensorLike
from . import init
from .layers import Dropout, Linear
from .module import Module, Parameter
from .norm import LayerNorm

__all__ = [
    "MultiheadAttention",
    "NonDynamicallyQuantizableLinear",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]


def _dtype(dtype):
    return np.dtype(np.float32 if dtype is None else dtype)


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear layer: PyTorch's name for MultiheadAttention's ``out_proj``."""


class MultiheadAttention(Module):
    """Multi-head attention, ``softmax(Q K^T / sqrt(d)) V`` for ``num_heads`` heads of
    size ``embed_dim // num_heads``, as ``torch.nn.MultiheadAttention``.

    Inputs are (L, N, E) (N first with ``batch_first``) or unbatched (L, E).
    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns
    ``(output, weights)``; weights is None unless ``need_weights``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got "
                f"embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        dtype = _dtype(dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError("embed_dim must be divisible by num_heads")
        self.rng = init.as_generator(rng)
        empty = lambda *shape: Parameter(np.empty(shape, dtype))
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(
            embed_dim, embed_dim, bias=bias, dtype=dtype, rng=self.rng
        )
        self.bias_k: Parameter | None
        self.bias_v: Parameter | None
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, embed_dim), empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        """PyTorch's: xavier_uniform for the input projections, zero biases, xavier_normal
        for bias_k and bias_v (out_proj.weight keeps Linear's initialisation)."""
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            weight = getattr(self, name)
            if weight is not None:
                init.xavier_uniform_(weight.data, generator=self.rng)
        for bias in (self.in_proj_bias, self.out_proj.bias):  # both there, or neither
            if bias is not None:
                bias.data[...] = 0
        for name in ("bias_k", "bias_v"):
            weight = getattr(self, name)
            if weight is not None:
                init.xavier_normal_(weight.data, generator=self.rng)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: TensorLike | None = None,
        need_weights: bool = True,
        attn_mask: TensorLike | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        batched = len(np.shape(data_of(query))) == 3
        if self.batch_first and batched:
            # Self-attention stays recognisable (one input projection) after the transpose.
            if key is value:
                if query is key:
                    query = key = value = swapaxes(query, 0, 1)
                else:
                    query, key = swapaxes(query, 0, 1), swapaxes(key, 0, 1)
                    value = key
            else:
                query, key, value = (swapaxes(x, 0, 1) for x in (query, key, value))
        separate = not self._qkv_same_embed_dim
        out, weights = multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=separate,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if self.batch_first and batched:
            out = swapaxes(out, 0, 1)
        return out, weights


def _gelu(x):
    """The exact (erf) GELU, from ``cr.nn.functional`` (imported when first used)."""
    from . import functional

    return functional.gelu(x)


_ACTIVATIONS: dict[str, Callable[..., Any]] = {"relu": relu, "gelu": _gelu}


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and a
    LayerNorm (after it, or before with ``norm_first``), as
    ``torch.nn.TransformerEncoderLayer``.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``; ``src``
    is (L, N, E), (N, L, E) with ``batch_first``, or unbatched (L, E).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[..., Any] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__()
        rng = init.as_generator(rng)
        self.self_attn = MultiheadAttention(
            d_model,
            nhead,
            dropout=dropout,
            bias=bias,
            batch_first=batch_first,
            dtype=dtype,
            rng=rng,
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=_dtype(dtype), rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=_dtype(dtype), rng=rng)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise RuntimeError(f"activation should be relu/gelu, not {activation}")
            activation = _ACTIVATIONS[activation]
        self.activation = activation

    def forward(
        self,
        src: Tensor,
        src_mask: TensorLike | None = None,
        src_key_padding_mask: TensorLike | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` in sequence (``layers.0``, ...), then
    ``norm`` when given, as ``torch.nn.TransformerEncoder``.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``.
    """

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        from .layers import Sequential

        self.layers = Sequential(*(copy.deepcopy(encoder_layer) for _ in range(num_layers)))
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        src: Tensor,
        mask: TensorLike | None = None,
        src_key_padding_mask: TensorLike | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        out = src
        for layer in self.layers:
            out = layer(
                out,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal),
            )
        return out if self.norm is None else self.norm(out)
