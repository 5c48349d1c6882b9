"""Embedding (chainrule.ops.recurrent.embedding, chainrule.nn.sparse.Embedding) against
PyTorch, in float64, and the scatter-add / gather pair behind its gradient.

Values are copies of rows and gradients sums of a few upstream rows, so both sides agree
to rounding: 1e-12 relative (the sums are accumulated in another order).
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.engine import grad as gradients
from chainrule.nn.sparse import Embedding
from chainrule.ops import recurrent as R
from chainrule.ops.registry import REGISTRY

torch = pytest.importorskip("torch")
RTOL, ATOL = 1e-12, 1e-14


def _pair(weight, indices, **options):
    """Ours and PyTorch's lookups, with the gradient of the same cotangent."""
    ours = cr.tensor(weight, requires_grad=True)
    theirs = torch.tensor(weight, requires_grad=True)
    out = R.embedding(cr.tensor(indices), ours, **options)
    expected = torch.nn.functional.embedding(torch.tensor(indices), theirs, **options)
    cotangent = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    return out, expected, ours, theirs


@pytest.mark.parametrize(
    "indices",
    [
        np.array([[0, 2, 4], [2, 2, 1]]),
        np.array(3),
        np.array([[[1], [1]], [[0], [5]]]),
        np.zeros(0, dtype=np.int64),
        np.array([5, 5, 5, 5], dtype=np.int32),
    ],
)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"padding_idx": 2},
        {"padding_idx": -1},
        {"scale_grad_by_freq": True},
        {"padding_idx": 1, "scale_grad_by_freq": True},
    ],
)
def test_values_and_gradients_match_pytorch(indices, options):
    weight = np.random.default_rng(0).standard_normal((6, 4))
    out, expected, ours, theirs = _pair(weight, indices, **options)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_the_padding_row_gets_no_gradient_but_is_read():
    weight = np.arange(12.0).reshape(4, 3)
    w = cr.tensor(weight, requires_grad=True)
    out = R.embedding(cr.tensor([1, 1, 3]), w, padding_idx=1)
    np.testing.assert_array_equal(out.numpy()[0], weight[1])  # read as it is
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1]])


def test_max_norm_renormalises_the_rows_read_like_pytorch():
    weight = np.random.default_rng(2).standard_normal((5, 3)) * 3
    indices = np.array([[0, 1], [1, 3]])
    ours, theirs = cr.tensor(weight, requires_grad=True), torch.tensor(weight)
    out = R.embedding(cr.tensor(indices), ours, max_norm=1.5, norm_type=1.0)
    with torch.no_grad():
        expected = torch.nn.functional.embedding(
            torch.tensor(indices), theirs, max_norm=1.5, norm_type=1.0
        )
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=RTOL)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=RTOL)  # rows 0, 1, 3 only
    np.testing.assert_array_equal(ours.numpy()[[2, 4]], weight[[2, 4]])


def test_the_backward_is_a_scatter_add_and_its_gradient_a_gather():
    """The VJP of the lookup is the embedding_backward op (no dense one-hot matrix), and
    that op's own VJP gathers: second order is the lookup again."""
    w = cr.tensor(np.random.default_rng(3).standard_normal((5, 2)), requires_grad=True)
    indices = cr.tensor([[4, 0, 4]])
    out = R.embedding(indices, w)
    upstream = cr.ones(1, 3, 2, dtype=np.float64, requires_grad=True)
    (grad,) = gradients(out, [w], grad_outputs=upstream, create_graph=True)
    assert grad._op is REGISTRY["embedding_backward"]
    np.testing.assert_array_equal(grad.numpy(), [[1, 1], [0, 0], [0, 0], [0, 0], [2, 2]])
    weights = np.arange(10.0).reshape(5, 2)
    (grad * weights).sum().backward()
    np.testing.assert_array_equal(upstream.grad.numpy(), weights[[[4, 0, 4]]])


def test_second_order_through_the_lookup_matches_pytorch():
    weight = np.random.default_rng(4).standard_normal((5, 3))
    indices = np.array([[0, 3, 3], [4, 1, 0]])
    ours = cr.tensor(weight, requires_grad=True)
    theirs = torch.tensor(weight, requires_grad=True)

    def energy(lookup, w, idx):  # a function whose weight gradient depends on the weight
        return (lookup(idx, w) ** 3).sum()

    (g_ours,) = gradients(energy(R.embedding, ours, cr.tensor(indices)), [ours], create_graph=True)
    (g_theirs,) = torch.autograd.grad(
        energy(torch.nn.functional.embedding, theirs, torch.tensor(indices)),
        [theirs],
        create_graph=True,
    )
    (g_ours * g_ours).sum().backward()
    (g_theirs * g_theirs).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


def test_float32_stays_float32():
    w = cr.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    out = R.embedding(np.array([0, 3]), w, padding_idx=0, scale_grad_by_freq=True)
    assert out.dtype == np.float32
    out.sum().backward()
    assert w.grad.dtype == np.float32


@pytest.mark.parametrize(
    "indices, error",
    [
        (np.array([0.0, 1.0]), TypeError),  # float indices
        (np.array([0, 4]), IndexError),  # past the end
        (np.array([-1, 0]), IndexError),  # negative (PyTorch refuses them too)
    ],
)
def test_bad_indices_raise(indices, error):
    with pytest.raises(error, match="embedding"):
        R.embedding(indices, cr.ones(4, 3))


def test_bad_weight_and_padding_raise():
    with pytest.raises(cr.ShapeError, match="2-D"):
        R.embedding(np.array([0]), cr.ones(4))
    with pytest.raises(ValueError, match="padding_idx"):
        R.embedding(np.array([0]), cr.ones(4, 3), padding_idx=4)


# ----------------------------------------------------------------------- the module
def test_module_matches_pytorch_with_its_weights():
    theirs = torch.nn.Embedding(7, 4, padding_idx=3, dtype=torch.float64)
    ours = Embedding(7, 4, padding_idx=3, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    indices = np.array([[3, 1, 6], [0, 3, 1]])
    out, expected = ours(cr.tensor(indices)), theirs(torch.tensor(indices))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL)
    cotangent = np.random.default_rng(5).standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=RTOL)


def test_module_initialisation_names_and_repr():
    emb = Embedding(50, 8, padding_idx=-2, max_norm=2.0, rng=0)
    assert emb.padding_idx == 48 and emb.weight.dtype == np.float32
    assert np.all(emb.weight.numpy()[48] == 0)
    values = np.delete(emb.weight.numpy(), 48, axis=0)
    assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1  # N(0, 1): 392 draws
    assert list(emb.state_dict()) == ["weight"]
    assert repr(emb) == repr(torch.nn.Embedding(50, 8, padding_idx=-2, max_norm=2.0))
    assert repr(Embedding(3, 2)) == "Embedding(3, 2)"


def test_from_pretrained_copies_and_freezes():
    table = np.arange(6.0).reshape(3, 2)
    frozen = Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad and frozen.weight.dtype == np.float64
    table[0, 0] = 100.0  # a copy was taken
    assert frozen(np.array([0])).tolist() == [[0.0, 1.0]]
    trainable = Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    trainable(np.array([0, 1, 2])).sum().backward()
    assert trainable.weight.grad.tolist() == [[1, 1], [0, 0], [1, 1]]
    with pytest.raises(ValueError, match="2-dimensional"):
        Embedding.from_pretrained(np.ones(3))
