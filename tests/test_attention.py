"""Attention (chainrule.ops.attention, chainrule.nn.attention) against PyTorch, in float64.

Modules load PyTorch's weights through ``load_state_dict``; values, attention weights and
every gradient agree to 1e-10 relative (the same sums of products, in another order).
Masks follow PyTorch on both sides: True takes part in ``scaled_dot_product_attention``,
True is left out in the modules; fully masked rows give zeros in the first and in the
modules' fast path (``need_weights=False``), nan in their ``need_weights`` path.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.engine import grad as gradients
from chainrule.nn.attention import MultiheadAttention, TransformerEncoder, TransformerEncoderLayer
from chainrule.ops.attention import multi_head_attention_forward, scaled_dot_product_attention
from chainrule.ops.registry import COMPOSITES

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _numpy(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _masks(kind, shape, rng):
    if kind == "bool":
        mask = rng.random(shape) > 0.3
        mask[..., 0] = True
        return mask
    if kind == "dead":  # the last query sees no key
        mask = rng.random(shape) > 0.3
        mask[..., -1, :] = False
        return mask
    if kind == "float":
        return rng.standard_normal(shape)
    if kind == "-inf":
        return np.where(rng.random(shape) > 0.3, 0.0, -np.inf)
    return None


@pytest.mark.parametrize(
    "shapes",
    [
        ((4, 5), (6, 5), (6, 3)),
        ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2)),
        ((2, 1, 5), (2, 1, 5), (2, 1, 4)),
    ],
)
@pytest.mark.parametrize("mask", [None, "bool", "dead", "float", "-inf"])
@pytest.mark.parametrize("options", [{}, {"scale": 0.3}])
def test_sdpa_matches_pytorch(shapes, mask, options):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    attn_mask = _masks(mask, (shapes[0][-2], shapes[1][-2]), rng)
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = scaled_dot_product_attention(*ours, attn_mask=attn_mask, **options)
    expected = TF.scaled_dot_product_attention(
        *theirs, attn_mask=None if attn_mask is None else torch.tensor(attn_mask), **options
    )
    np.testing.assert_allclose(out.numpy(), _numpy(expected), **TOL)
    cotangent = rng.standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), _numpy(b.grad), **TOL)


@pytest.mark.parametrize("lengths", [(4, 4), (3, 6), (6, 3)])
def test_sdpa_causal_matches_pytorch(lengths):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 2, n, 4)) for n in (lengths[0], lengths[1], lengths[1])]
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = scaled_dot_product_attention(*ours, is_causal=True)
    expected = TF.scaled_dot_product_attention(*theirs, is_causal=True)
    np.testing.assert_allclose(out.numpy(), _numpy(expected), **TOL)
    (out**2).sum().backward()
    (expected**2).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), _numpy(b.grad), **TOL)


def test_sdpa_float_mask_gets_its_gradient_and_gqa_shares_heads():
    rng = np.random.default_rng(2)
    q, k, v, m = (rng.standard_normal(s) for s in ((2, 3, 5), (2, 4, 5), (2, 4, 2), (3, 4)))
    ours = [cr.tensor(a, requires_grad=True) for a in (q, k, v, m)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v, m)]
    (scaled_dot_product_attention(*ours[:3], attn_mask=ours[3]) ** 2).sum().backward()
    (TF.scaled_dot_product_attention(*theirs[:3], attn_mask=theirs[3]) ** 2).sum().backward()
    np.testing.assert_allclose(ours[3].grad.numpy(), _numpy(theirs[3].grad), **TOL)

    q, k, v = (rng.standard_normal(s) for s in ((2, 4, 3, 5), (2, 2, 6, 5), (2, 2, 6, 3)))
    ours = [cr.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = scaled_dot_product_attention(*ours, enable_gqa=True)
    expected = TF.scaled_dot_product_attention(*theirs, enable_gqa=True)
    np.testing.assert_allclose(out.numpy(), _numpy(expected), **TOL)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), _numpy(b.grad), **TOL)


def test_sdpa_fully_masked_rows_give_zeros_and_no_gradient():
    q = cr.tensor(np.ones((3, 2)), requires_grad=True)
    kv = np.arange(6.0).reshape(3, 2)
    mask = np.array([[True, True, False], [False, False, False], [True, False, True]])
    out = scaled_dot_product_attention(q, kv, kv, attn_mask=mask)
    assert np.all(out.numpy()[1] == 0) and np.all(np.isfinite(out.numpy()))
    out.sum().backward()
    assert np.all(q.grad.numpy()[1] == 0) and np.all(np.isfinite(q.grad.numpy()))


def test_sdpa_second_order_matches_pytorch():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    mask = rng.random((3, 3)) > 0.3
    mask[:, 0] = True
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    loss_c = (scaled_dot_product_attention(*ours, attn_mask=mask) ** 2).sum()
    loss_t = (TF.scaled_dot_product_attention(*theirs, attn_mask=torch.tensor(mask)) ** 2).sum()
    grads_c = gradients(loss_c, ours, create_graph=True)
    grads_t = torch.autograd.grad(loss_t, theirs, create_graph=True)
    sum((g**2).sum() for g in grads_c).backward()
    sum((g**2).sum() for g in grads_t).backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), _numpy(b.grad), rtol=1e-9, atol=1e-11)


def test_sdpa_dropout_and_errors():
    q = cr.tensor(np.ones((2, 3, 4)))
    assert np.all(scaled_dot_product_attention(q, q, q, dropout_p=1.0).numpy() == 0)
    cr.nn.init.seed(0)
    dropped = scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    # Weights 1/3 each, kept ones scaled by 1 / (1 - p) = 2: sums of 0 to 3 of 2/3.
    np.testing.assert_allclose(np.unique(dropped) * 1.5 % 1, 0, atol=1e-12)
    assert 0 < dropped.mean() < 2
    with pytest.raises(ValueError, match="is_causal"):
        scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(cr.ShapeError, match="last axis"):
        scaled_dot_product_attention(q, cr.ones(2, 3, 5), q)
    with pytest.raises(cr.ShapeError, match="attn_mask"):
        scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 3), bool))
    assert "scaled_dot_product_attention" in COMPOSITES


def test_sdpa_float32_stays_float32():
    q = cr.tensor(np.ones((2, 3, 4), np.float32), requires_grad=True)
    out = scaled_dot_product_attention(q, q, q, attn_mask=np.tril(np.ones((3, 3), bool)))
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == np.float32


# ----------------------------------------------------------------------- the modules
def _load(theirs, ours):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return theirs, ours


def _run(theirs, ours, inputs, kwargs, seed=4):
    """Call both on the inputs (one input: self-attention, the same tensor three times for
    MultiheadAttention), compare every output, then every gradient."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    cs = [cr.tensor(a, requires_grad=True) for a in inputs]
    if len(inputs) == 1 and isinstance(theirs, torch.nn.MultiheadAttention):
        ts, cs = ts * 3, cs * 3
    tk = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out_t, out_c = theirs(*ts, **tk), ours(*cs, **kwargs)
    out_t = out_t if isinstance(out_t, tuple) else (out_t,)
    out_c = out_c if isinstance(out_c, tuple) else (out_c,)
    rng = np.random.default_rng(seed)
    loss_t, loss_c = 0, 0
    for a, b in zip(out_t, out_c):
        if a is None:
            assert b is None
            continue
        np.testing.assert_allclose(b.numpy(), _numpy(a), **TOL)  # nan where PyTorch's is
        if np.isnan(_numpy(a)).any():
            continue
        cotangent = rng.standard_normal(b.shape)
        loss_t = loss_t + (a * torch.tensor(cotangent)).sum()
        loss_c = loss_c + (b * cotangent).sum()
    if isinstance(loss_t, int):
        return
    loss_t.backward()
    loss_c.backward()
    for a, b in zip(cs, ts):
        np.testing.assert_allclose(a.grad.numpy(), _numpy(b.grad), **TOL)
    for (name, p), q in zip(theirs.named_parameters(), ours.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), _numpy(p.grad), err_msg=name, **TOL)


def _sequences(batch_first, rng, length=5, batch=3, width=8, source=None):
    shape = lambda n: (batch, n, width) if batch_first else (n, batch, width)
    return rng.standard_normal(shape(length)), rng.standard_normal(shape(source or length + 2))


MHA_OPTIONS = [
    {},
    {"bias": False},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"batch_first": True},
    {"add_bias_kv": True, "add_zero_attn": True},
]


@pytest.mark.parametrize("options", MHA_OPTIONS)
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_matches_pytorch(options, need_weights):
    theirs, ours = _load(
        torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **options),
        MultiheadAttention(8, 2, dtype=np.float64, **options),
    )
    rng = np.random.default_rng(5)
    x, y = _sequences(options.get("batch_first", False), rng)
    kw = {"need_weights": need_weights}
    _run(theirs, ours, [x], kw)  # self-attention: one packed projection
    _run(theirs, ours, [x, y, y], kw)  # key is value
    _run(theirs, ours, [x, y, rng.standard_normal(y.shape)], dict(kw, average_attn_weights=False))
    _run(theirs, ours, [x[0] if options.get("batch_first") else x[:, 0]], kw)  # unbatched


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_masks_match_pytorch(need_weights, batch_first):
    theirs, ours = _load(
        torch.nn.MultiheadAttention(8, 2, batch_first=batch_first, dtype=torch.float64),
        MultiheadAttention(8, 2, batch_first=batch_first, dtype=np.float64),
    )
    rng = np.random.default_rng(6)
    x, _ = _sequences(batch_first, rng)
    padding = rng.random((3, 5)) > 0.6
    padding[:, 0] = False
    blocked = rng.random((5, 5)) > 0.7
    np.fill_diagonal(blocked, False)
    causal = np.triu(np.ones((5, 5), bool), 1)
    for kw in [
        {"key_padding_mask": padding},
        {"attn_mask": blocked},
        {"key_padding_mask": padding, "attn_mask": blocked},
        {"attn_mask": rng.standard_normal((6, 5, 5))},
        {"key_padding_mask": np.where(padding, -np.inf, 0.0)},
        {"attn_mask": causal, "is_causal": True},
        {"attn_mask": causal, "is_causal": True, "key_padding_mask": padding},
        {"key_padding_mask": np.eye(3, 5, dtype=bool) | (np.arange(3) == 1)[:, None]},
    ]:
        _run(theirs, ours, [x], dict(kw, need_weights=need_weights))


def test_multihead_attention_with_other_key_and_value_sizes():
    theirs, ours = _load(
        torch.nn.MultiheadAttention(8, 4, kdim=3, vdim=5, dtype=torch.float64),
        MultiheadAttention(8, 4, kdim=3, vdim=5, dtype=np.float64),
    )
    rng = np.random.default_rng(7)
    for need_weights in (True, False):
        _run(
            theirs,
            ours,
            [
                rng.standard_normal((5, 2, 8)),
                rng.standard_normal((6, 2, 3)),
                rng.standard_normal((6, 2, 5)),
            ],
            {"need_weights": need_weights},
        )


def test_multihead_attention_parameters_init_and_repr():
    ours, theirs = (
        MultiheadAttention(8, 2, add_bias_kv=True, rng=0),
        torch.nn.MultiheadAttention(8, 2, add_bias_kv=True),
    )
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    assert repr(ours) == repr(theirs)
    assert np.all(ours.in_proj_bias.numpy() == 0) and np.all(ours.out_proj.bias.numpy() == 0)
    assert np.abs(ours.in_proj_weight.numpy()).max() <= np.sqrt(6 / (8 + 24))  # xavier
    assert ours.in_proj_weight.dtype == np.float32
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(8, 3)


def test_multihead_attention_functional_and_errors():
    rng = np.random.default_rng(8)
    mha = MultiheadAttention(4, 2, dtype=np.float64, rng=0)
    x = rng.standard_normal((3, 2, 4))
    out, weights = multi_head_attention_forward(
        x,
        x,
        x,
        4,
        2,
        mha.in_proj_weight,
        mha.in_proj_bias,
        None,
        None,
        False,
        0.0,
        mha.out_proj.weight,
        mha.out_proj.bias,
    )
    np.testing.assert_allclose(out.numpy(), mha(x, x, x)[0].numpy())
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(cr.ShapeError, match="2D attn_mask"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), bool))
    with pytest.raises(cr.ShapeError, match="3-D"):
        mha(x, x[0], x)


def test_multihead_attention_second_order_matches_pytorch():
    theirs, ours = _load(
        torch.nn.MultiheadAttention(4, 2, dtype=torch.float64),
        MultiheadAttention(4, 2, dtype=np.float64),
    )
    x = np.random.default_rng(9).standard_normal((3, 2, 4))
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad((theirs(xt, xt, xt)[0] ** 2).sum(), [xt], create_graph=True)
    (gc,) = gradients((ours(xc, xc, xc)[0] ** 2).sum(), [xc], create_graph=True)
    (gt**2).sum().backward()
    (gc**2).sum().backward()
    for (name, p), q in zip(theirs.named_parameters(), ours.parameters()):
        np.testing.assert_allclose(
            q.grad.numpy(), _numpy(p.grad), err_msg=name, rtol=1e-9, atol=1e-11
        )


LAYER_OPTIONS = [
    {},
    {"norm_first": True},
    {"activation": "gelu"},
    {"batch_first": True},
    {"bias": False},
    {"layer_norm_eps": 1e-3, "norm_first": True, "activation": "gelu", "batch_first": True},
]


@pytest.mark.parametrize("options", LAYER_OPTIONS)
def test_transformer_encoder_layer_matches_pytorch(options):
    theirs, ours = _load(
        torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=torch.float64, **options),
        TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=np.float64, **options),
    )
    rng = np.random.default_rng(10)
    x, _ = _sequences(options.get("batch_first", False), rng)
    padding = rng.random((3, 5)) > 0.6
    padding[:, 0] = False
    _run(theirs, ours, [x], {})
    _run(theirs, ours, [x], {"src_key_padding_mask": padding})
    _run(theirs, ours, [x], {"src_mask": np.triu(np.ones((5, 5), bool), 1), "is_causal": True})
    _run(theirs, ours, [x], {"src_mask": rng.standard_normal((5, 5))})
    _run(theirs, ours, [x[0] if options.get("batch_first") else x[:, 0]], {})


def test_transformer_encoder_matches_pytorch():
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=torch.float64)
    theirs = torch.nn.TransformerEncoder(
        layer, 2, norm=torch.nn.LayerNorm(8, dtype=torch.float64), enable_nested_tensor=False
    )
    ours = TransformerEncoder(
        TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=np.float64),
        2,
        norm=cr.nn.LayerNorm(8, dtype=np.float64),
    )
    _load(theirs, ours)
    assert ours.layers[0].linear1.weight is not ours.layers[1].linear1.weight  # copies
    _run(theirs, ours, [np.random.default_rng(11).standard_normal((5, 3, 8))], {})


def test_transformer_encoder_layer_dropout_float32_and_names():
    layer = TransformerEncoderLayer(8, 2, 16, rng=0)
    names = [name for name, _ in layer.named_modules()][1:]
    assert names == [n for n, _ in torch.nn.TransformerEncoderLayer(8, 2, 16).named_modules()][1:]
    x = np.ones((5, 3, 8), np.float32)
    layer.eval()
    first = layer(x).numpy()
    np.testing.assert_array_equal(layer(x).numpy(), first)
    layer.train()
    assert not np.array_equal(layer(x).numpy(), first)
    xt = cr.tensor(x, requires_grad=True)
    out = layer(xt)
    assert out.dtype == np.float32
    out.sum().backward()
    assert xt.grad.dtype == np.float32 and all(
        p.grad.dtype == np.float32 for p in layer.parameters()
    )
    with pytest.raises(RuntimeError, match="relu/gelu"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    custom = TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=cr.tanh, rng=0)
    assert custom(x).shape == (5, 3, 8)
