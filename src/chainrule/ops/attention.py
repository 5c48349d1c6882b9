"""Attention: scaled dot-product attention and PyTorch's multi-head attention forward.

``scaled_dot_product_attention`` is ``softmax(q k^T * scale + mask) v`` over the last two
axes, composed of registered ops (a product, a masked, stable softmax, a product), so it
is differentiable to any order. Masks follow PyTorch's ``scaled_dot_product_attention``:
a boolean mask says which positions *take part* (True), a float mask is added to the
scores, ``is_causal`` lets position i see keys 0..i; a row whose every score is masked
(-inf) gives zeros and passes no gradient, as PyTorch's safe softmax does.

``multi_head_attention_forward`` is ``torch.nn.functional.multi_head_attention_forward``:
masks there say which positions are *left out* (True), and the ``need_weights`` path
computes its own plain softmax (a fully masked row gives nan, as in PyTorch) while the
other path goes through ``scaled_dot_product_attention``.

>>> import chainrule as cr
>>> q = cr.ones(2, 3, 4)
>>> scaled_dot_product_attention(q, q, cr.randn(2, 3, 5), is_causal=True).shape
(2, 3, 5)
"""

import math

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import where
from .linalg import matmul
from .nn import linear as _linear, softmax
from .reduce import mean
from .registry import Case, Spec, composite, data_of
from .shape import concatenate, getitem, reshape, swapaxes, transpose

__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention"]


def _shape(x):
    return np.shape(data_of(x))


def _dtype(x):
    return np.asarray(data_of(x)).dtype


def _dropout(weights, p):
    """Inverted dropout of the attention weights (PyTorch's ``dropout_p``): each kept with
    probability 1 - p and scaled by 1 / (1 - p), from chainrule's default generator."""
    if p == 0:
        return weights
    from ..nn.init import default_generator  # nn builds on ops: imported when used

    data = data_of(weights)
    keep = default_generator().random(data.shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return weights * (keep * np.asarray(scale, dtype=data.dtype))


def _safe_softmax(scores):
    """Softmax over the last axis where a row whose scores are all -inf gives zeros (and
    no gradient) instead of 0 / 0, as PyTorch's ``_safe_softmax``."""
    dead = np.all(np.isneginf(data_of(scores)), axis=-1, keepdims=True)
    if not dead.any():
        return softmax(scores, axis=-1)
    return where(dead, 0.0, softmax(where(dead, 0.0, scores), axis=-1))


def _causal_mask(length, source):
    """True where query i may see key j: j <= i (PyTorch's ``ones(L, S).tril()``)."""
    return np.tril(np.ones((length, source), dtype=bool))


def _check_attention(query, key, value):
    q, k, v = _shape(query), _shape(key), _shape(value)
    if min(len(q), len(k), len(v)) < 2:
        raise ShapeError(
            f"scaled_dot_product_attention: query, key and value need at least "
            f"2 dimensions, got shapes {q}, {k} and {v}"
        )
    if q[-1] != k[-1] or k[-2] != v[-2]:
        raise ShapeError(
            f"scaled_dot_product_attention: query {q} and key {k} must share "
            f"their last axis, key and value {v} their second to last"
        )
    return q, k, v


def _repeat_heads(x, heads):
    """x (..., H_kv, S, E) with each head repeated to ``heads`` heads (grouped-query)."""
    count = _shape(x)[-3]
    if heads % count:
        raise ShapeError(
            f"scaled_dot_product_attention: {heads} query heads cannot be "
            f"grouped over {count} key/value heads"
        )
    index = np.repeat(np.arange(count), heads // count)
    return getitem(x, (Ellipsis, index, slice(None), slice(None)))


def _sdpa_ref(np_, query, key, value, attn_mask=None, is_causal=False, scale=None, dropout_p=0.0):
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = np_.matmul(query, np_.swapaxes(key, -1, -2)) * scale
    if is_causal:
        attn_mask = _causal_mask(query.shape[-2], key.shape[-2])
    if attn_mask is not None:
        if attn_mask.dtype == bool:
            scores = np_.where(attn_mask, scores, -np.inf)
        else:
            scores = scores + attn_mask
    peak = np.max(np.asarray(getattr(scores, "_value", scores)), axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    e = np_.exp(scores - peak)
    total = np_.sum(e, axis=-1, keepdims=True)
    dead = np.asarray(getattr(total, "_value", total)) == 0
    weights = np_.where(dead, 0.0, e / np_.where(dead, 1.0, total))
    return np_.matmul(weights, value)


_MASK = np.array([[True, False, True, True, False], [False] * 5, [True] * 5])

_SDPA_CASES = [
    Case(((3, 4), (5, 4), (5, 2))),
    Case(((2, 3, 4), (2, 5, 4), (2, 5, 3)), {"is_causal": True}),
    Case(((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4)), {"attn_mask": _MASK}),  # a dead row
    Case(((2, 3, 4), (2, 5, 4), (2, 5, 3)), {"attn_mask": np.where(_MASK, 0.0, -np.inf)}),
    Case(
        ((2, 3, 4), (2, 5, 4), (2, 5, 3)),
        {"attn_mask": np.linspace(-1, 1, 15).reshape(3, 5), "scale": 0.3},
    ),
    Case(((1, 4, 4), (1, 4, 4), (1, 4, 2)), {"is_causal": True, "scale": 2.0}),
    Case(((2, 0, 4), (2, 5, 4), (2, 5, 3))),
]


@composite(Spec(_SDPA_CASES, ref=_sdpa_ref))
def scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """``softmax(query @ key^T * scale + mask) @ value`` over the last two axes, as
    ``torch.nn.functional.scaled_dot_product_attention``: query (..., L, E), key
    (..., S, E), value (..., S, Ev) give (..., L, Ev).

    ``scale`` defaults to 1 / sqrt(E). ``attn_mask`` broadcasts to (..., L, S): boolean,
    True where a query may attend to a key, or float, added to the scores. ``is_causal``
    masks keys after the query's position (no ``attn_mask`` then). A row with every key
    masked gives zeros. ``dropout_p`` drops attention weights (inverted dropout, always
    applied when positive, as PyTorch's function does). ``enable_gqa`` lets key and value
    have fewer heads (axis -3) than query, each shared by a group of query heads.

    >>> import chainrule as cr
    >>> q = cr.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> v = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> scaled_dot_product_attention(q, q, v, attn_mask=cr.tensor([[True, False],
    ...                                                             [True, True]])).shape
    (2, 2)
    """
    q_shape, k_shape, _ = _check_attention(query, key, value)
    if not 0 <= dropout_p <= 1:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}"
        )
    if enable_gqa and len(q_shape) >= 3 and len(k_shape) >= 3 and q_shape[-3] != k_shape[-3]:
        key, value = _repeat_heads(key, q_shape[-3]), _repeat_heads(value, q_shape[-3])
    scale = 1 / math.sqrt(q_shape[-1]) if scale is None else scale
    # The query is scaled (L x E values) rather than the scores (L x S).
    scores = matmul(query * np.asarray(scale, _dtype(query)), swapaxes(key, -1, -2))
    if is_causal:
        if attn_mask is not None:
            raise ValueError(
                "scaled_dot_product_attention: explicit attn_mask should not be "
                "set when is_causal=True"
            )
        attn_mask = _causal_mask(q_shape[-2], k_shape[-2])
    if attn_mask is not None:
        mask_shape = _shape(attn_mask)
        try:
            np.broadcast_shapes(mask_shape, _shape(scores))
        except ValueError:
            raise ShapeError(
                f"scaled_dot_product_attention: attn_mask of shape {mask_shape} "
                f"does not broadcast to the scores' shape {_shape(scores)}"
            ) from None
        if _dtype(attn_mask) == np.bool_:
            scores = where(np.asarray(data_of(attn_mask)), scores, -np.inf)
        elif isinstance(attn_mask, Tensor):
            scores = scores + attn_mask
        else:  # a constant mask takes the scores' dtype (float32 stays float32)
            scores = scores + np.asarray(attn_mask, _dtype(scores))
        weights = _safe_softmax(scores)
    else:
        weights = softmax(scores, axis=-1)
    return matmul(_dropout(weights, dropout_p), value)


# ----------------------------------------------------------------------- multi-head
def _canonical_mask(mask, name, dtype):
    """A boolean mask (True: left out) as a float one (-inf where True), as PyTorch's
    ``_canonical_mask``; a float mask as it is."""
    if mask is None:
        return None
    kind = _dtype(mask)
    if kind == np.bool_:
        return np.where(np.asarray(data_of(mask)), -np.inf, 0.0).astype(dtype)
    if kind.kind != "f":
        raise TypeError(
            f"multi_head_attention_forward: only bool and floating types of "
            f"{name} are supported, got {kind}"
        )
    # A constant mask takes the query's dtype (float32 stays float32); a Tensor keeps its own.
    return mask if isinstance(mask, Tensor) else np.asarray(mask, dtype)


def _split_packed(proj, count, size):
    """The ``count`` blocks of size ``size`` side by side in proj's last axis."""
    return [getitem(proj, (Ellipsis, slice(k * size, (k + 1) * size))) for k in range(count)]


def _in_projection(query, key, value, weight, bias, embed_dim):
    """q, k, v from one packed (3E, E) weight: one product for self-attention, two when
    key is value, three otherwise (PyTorch's ``_in_projection_packed``)."""

    def project(x, rows):
        w = getitem(weight, slice(rows.start, rows.stop))
        b = None if bias is None else getitem(bias, slice(rows.start, rows.stop))
        return _project(x, w, b)

    if key is value:
        if query is key:
            return _split_packed(_project(query, weight, bias), 3, embed_dim)
        return [project(query, range(embed_dim))] + _split_packed(
            project(key, range(embed_dim, 3 * embed_dim)), 2, embed_dim
        )
    return [
        project(x, range(k * embed_dim, (k + 1) * embed_dim))
        for k, x in enumerate((query, key, value))
    ]


def _project(x, weight, bias):
    return matmul(x, transpose(weight)) if bias is None else _linear(x, weight, bias)


def _pad_last(mask, value=0.0):
    """A float mask with one more column (``F.pad(mask, (0, 1))``): for the added key."""
    if mask is None:
        return None
    shape = _shape(mask)
    return concatenate([mask, np.full(shape[:-1] + (1,), value, _dtype(mask))], axis=-1)


def _mha_call(f, *xs, self_attention, num_heads, **options):
    """How the suite calls the forward: self-attention (one input, three roles) or
    attention to another sequence (key is value), outputs and weights flattened."""
    if self_attention:
        x, *weights = xs
        query = key = value = x
    else:
        query, key, *weights = xs
        value = key
    in_weight, in_bias, out_weight, out_bias = weights
    out, attention = f(
        query,
        key,
        value,
        _shape(in_weight)[1],
        num_heads,
        in_weight,
        in_bias,
        None,
        None,
        False,
        0.0,
        out_weight,
        out_bias,
        **options,
    )
    pieces = [out] if attention is None else [out, attention]
    return concatenate([reshape(p, (-1,)) for p in pieces])


_PADDING = np.array([[False, False, True], [False, True, True]])
_MHA_CASES = [
    Case(((3, 2, 4), (12, 4), (12,), (4, 4), (4,)), {"self_attention": True, "num_heads": 2}),
    Case(
        ((3, 2, 4), (12, 4), (12,), (4, 4), (4,)),
        {
            "self_attention": True,
            "num_heads": 1,
            "key_padding_mask": _PADDING,
            "need_weights": False,
        },
    ),
    Case(
        ((2, 2, 4), (3, 2, 4), (12, 4), (12,), (4, 4), (4,)),
        {
            "self_attention": False,
            "num_heads": 2,
            "attn_mask": np.linspace(-1, 1, 6).reshape(2, 3),
            "average_attn_weights": False,
        },
    ),
    Case(
        ((3, 4), (12, 4), (12,), (4, 4), (4,)),  # unbatched, causal
        {
            "self_attention": True,
            "num_heads": 2,
            "need_weights": False,
            "attn_mask": ~np.tril(np.ones((3, 3), bool)),
            "is_causal": True,
        },
    ),
]


@composite(Spec(_MHA_CASES, call=_mha_call))
def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check,
    num_heads,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn,
    dropout_p,
    out_proj_weight,
    out_proj_bias,
    training=True,
    key_padding_mask=None,
    need_weights=True,
    attn_mask=None,
    use_separate_proj_weight=False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights=True,
    is_causal=False,
):
    """Multi-head attention over sequence-first inputs (L, N, E) (or unbatched (L, E)), as
    ``torch.nn.functional.multi_head_attention_forward``: returns ``(output, weights)``,
    the weights (averaged over heads unless ``average_attn_weights`` is False) only with
    ``need_weights``.

    Masks are boolean (True: the position is left out) or float (added to the scores):
    ``key_padding_mask`` (N, S) per key, ``attn_mask`` (L, S) or (N * num_heads, L, S).
    """
    q_shape, k_shape, v_shape = _shape(query), _shape(key), _shape(value)
    batched = _check_mha(q_shape, k_shape, v_shape, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = (
            reshape(x, (s[0], 1, s[1]))
            for x, s in ((query, q_shape), (key, k_shape), (value, v_shape))
        )
        if key_padding_mask is not None:
            key_padding_mask = reshape(key_padding_mask, (1, -1))
        q_shape, k_shape, v_shape = _shape(query), _shape(key), _shape(value)
    length, batch, embed_dim = q_shape
    source = k_shape[0]
    dtype = _dtype(query)
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use "
            "the Transformer module method `generate_square_subsequent_mask` "
            "to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint alone: scaled_dot_product_attention masks causally
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", dtype)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is no longer causal
    if embed_dim != embed_dim_to_check:
        raise ShapeError(
            f"multi_head_attention_forward: was expecting embedding dimension "
            f"of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise ShapeError(
            f"multi_head_attention_forward: embed_dim {embed_dim} not divisible "
            f"by num_heads {num_heads}"
        )
    if use_separate_proj_weight:
        if k_shape[:2] != v_shape[:2]:
            raise ShapeError(
                f"multi_head_attention_forward: key's sequence and batch dims "
                f"{k_shape[:2]} do not match value's {v_shape[:2]}"
            )
        biases = [None] * 3 if in_proj_bias is None else _split_packed(in_proj_bias, 3, embed_dim)
        q, k, v = (
            _project(x, w, b)
            for x, w, b in zip(
                (query, key, value), (q_proj_weight, k_proj_weight, v_proj_weight), biases
            )
        )
    else:
        if k_shape != v_shape:
            raise ShapeError(
                f"multi_head_attention_forward: key shape {k_shape} does not "
                f"match value shape {v_shape}"
            )
        q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, embed_dim)

    if attn_mask is not None:
        mask_shape = _shape(attn_mask)
        if len(mask_shape) == 2:
            if mask_shape != (length, source):
                raise ShapeError(
                    f"The shape of the 2D attn_mask is {mask_shape}, but should "
                    f"be {(length, source)}."
                )
            attn_mask = reshape(attn_mask, (1, length, source))
        elif len(mask_shape) == 3:
            if mask_shape != (batch * num_heads, length, source):
                raise ShapeError(
                    f"The shape of the 3D attn_mask is {mask_shape}, but should "
                    f"be {(batch * num_heads, length, source)}."
                )
        else:
            raise ShapeError(f"attn_mask's dimension {len(mask_shape)} is not supported")

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(
                "multi_head_attention_forward: bias cannot be added to a static key or value"
            )
        k = concatenate([k, _repeat_batch(bias_k, batch)], axis=0)
        v = concatenate([v, _repeat_batch(bias_v, batch)], axis=0)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise ValueError("multi_head_attention_forward: bias_k and bias_v go together")

    # (L, N, E) -> (N * heads, L, head_dim): batch and heads first.
    q = swapaxes(reshape(q, (length, batch * num_heads, head_dim)), 0, 1)
    k = _heads(k, static_k, batch, num_heads, head_dim, "static_k")
    v = _heads(v, static_v, batch, num_heads, head_dim, "static_v")
    if add_zero_attn:
        zeros = np.zeros((batch * num_heads, 1, head_dim), _dtype(k))
        k = concatenate([k, zeros], axis=1)
        v = concatenate([v, zeros.astype(_dtype(v))], axis=1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    source = _shape(k)[1]

    if key_padding_mask is not None:
        if _shape(key_padding_mask) != (batch, source):
            raise ShapeError(
                f"multi_head_attention_forward: expected key_padding_mask of "
                f"shape {(batch, source)}, got {_shape(key_padding_mask)}"
            )
        padding = reshape(key_padding_mask, (batch, 1, 1, source))
        padding = reshape(
            padding + np.zeros((1, num_heads, 1, 1), dtype), (batch * num_heads, 1, source)
        )
        attn_mask = padding if attn_mask is None else attn_mask + padding
    if not training:
        dropout_p = 0.0

    if need_weights:
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "multi_head_attention_forward: is_causal needs attn_mask when need_weights is set"
            )
        scores = matmul(q * np.asarray(math.sqrt(1.0 / head_dim), dtype), swapaxes(k, -1, -2))
        if attn_mask is not None:
            scores = scores + attn_mask
        with np.errstate(invalid="ignore"):  # a row with every key left out: nan, as PyTorch
            weights = softmax(scores, axis=-1)
        weights = _dropout(weights, dropout_p)
        out = matmul(weights, v)
        out = reshape(swapaxes(out, 0, 1), (length * batch, embed_dim))
        out = reshape(_project(out, out_proj_weight, out_proj_bias), (length, batch, -1))
        weights = reshape(weights, (batch, num_heads, length, source))
        if average_attn_weights:
            weights = mean(weights, axis=1)
        if not batched:
            out = reshape(out, (length, -1))
            weights = reshape(weights, _shape(weights)[1:])
        return out, weights

    if attn_mask is not None:
        mask_shape = _shape(attn_mask)
        attn_mask = reshape(
            attn_mask, (1,) + mask_shape if mask_shape[0] == 1 else (batch, num_heads, -1, source)
        )
    q = reshape(q, (batch, num_heads, length, head_dim))
    k = reshape(k, (batch, num_heads, source, head_dim))
    v = reshape(v, (batch, num_heads, source, head_dim))
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = reshape(transpose(out, (2, 0, 1, 3)), (batch * length, embed_dim))
    out = reshape(_project(out, out_proj_weight, out_proj_bias), (length, batch, -1))
    if not batched:
        out = reshape(out, (length, -1))
    return out, None


def _repeat_batch(bias, batch):
    """A (1, 1, E) bias repeated along the batch axis: (1, N, E)."""
    return bias + np.zeros((1, batch, 1), _dtype(bias))


def _heads(x, static, batch, num_heads, head_dim, name):
    """A key or value (S, N, E) as (N * heads, S, head_dim), or the given static one."""
    if static is None:
        return swapaxes(reshape(x, (_shape(x)[0], batch * num_heads, head_dim)), 0, 1)
    shape = _shape(static)
    if len(shape) != 3 or shape[0] != batch * num_heads or shape[2] != head_dim:
        raise ShapeError(
            f"multi_head_attention_forward: expecting {name} of shape "
            f"({batch * num_heads}, S, {head_dim}), got {shape}"
        )
    return static


def _check_mha(q, k, v, key_padding_mask, attn_mask, num_heads):
    """PyTorch's ``_mha_shape_check``: True for batched (3-D) inputs, False for 2-D."""
    name = "multi_head_attention_forward"
    padding = None if key_padding_mask is None else len(_shape(key_padding_mask))
    mask = None if attn_mask is None else _shape(attn_mask)
    if len(q) == 3:
        if len(k) != 3 or len(v) != 3:
            raise ShapeError(
                f"{name}: for batched (3-D) query, expected key and value to be "
                f"3-D but found {len(k)}-D and {len(v)}-D tensors respectively"
            )
        if padding not in (None, 2):
            raise ShapeError(
                f"{name}: for batched (3-D) query, expected key_padding_mask to "
                f"be None or 2-D but found {padding}-D tensor instead"
            )
        if mask is not None and len(mask) not in (2, 3):
            raise ShapeError(
                f"{name}: for batched (3-D) query, expected attn_mask to be "
                f"None, 2-D or 3-D but found {len(mask)}-D tensor instead"
            )
        return True
    if len(q) == 2:
        if len(k) != 2 or len(v) != 2:
            raise ShapeError(
                f"{name}: for unbatched (2-D) query, expected key and value to "
                f"be 2-D but found {len(k)}-D and {len(v)}-D tensors "
                "respectively"
            )
        if padding not in (None, 1):
            raise ShapeError(
                f"{name}: for unbatched (2-D) query, expected key_padding_mask "
                f"to be None or 1-D but found {padding}-D tensor instead"
            )
        if mask is not None:
            if len(mask) not in (2, 3):
                raise ShapeError(
                    f"{name}: for unbatched (2-D) query, expected attn_mask to "
                    f"be None, 2-D or 3-D but found {len(mask)}-D tensor "
                    "instead"
                )
            if len(mask) == 3 and mask != (num_heads, q[0], k[0]):
                raise ShapeError(
                    f"{name}: expected attn_mask shape to be "
                    f"{(num_heads, q[0], k[0])} but got {mask}"
                )
        return False
    raise ShapeError(
        f"{name}: query should be unbatched 2D or batched 3D tensor but received "
        f"{len(q)}-D query tensor"
    )
