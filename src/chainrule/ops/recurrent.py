"""Sequence models: the embedding lookup, the fused LSTM and GRU cells, the LSTM step.

``embedding`` gathers rows of a weight matrix; its gradient is a scatter-add of the
upstream rows back into the rows they came from (``embedding_backward``, one bincount),
never a product with a dense one-hot matrix, and the scatter's own gradient is the
gather again: the pair is closed under differentiation, as im2col and col2im are.

An LSTM step is a dozen elementwise ops (four gate nonlinearities, the cell update, the
output); an RNN unrolled over T steps makes that a dozen graph nodes per step, each
with its Python overhead and its temporaries. ``lstm_cell`` is the whole update as ONE
primitive, gate pre-activations (..., 4H) in PyTorch's order i, f, g, o and the previous
cell state in, the new ``h`` and ``c`` out, packed as one array (2, ..., H)::

    i, f, o = sigmoid(gates_i, gates_f, gates_o)    g = tanh(gates_g)
    c = f * c_prev + i * g                          h = o * tanh(c)

``gru_cell`` does the same for a GRU from its input and hidden projections (..., 3H),
gates r, z, n as in PyTorch (the reset gate scales the hidden projection, its bias
included)::

    r, z = sigmoid(gx_r + gh_r, gx_z + gh_z)        n = tanh(gx_n + r * gh_n)
    h' = (1 - z) * n + z * h

``lstm_step`` is ``lstm_cell`` with the hidden product ``h @ W_hh.T`` inside and the state
(h, c) packed in and out, its three rules sharing one computation of the gates' gradient:
one node per time step, as ``nn.LSTM`` draws a layer step by step. ``lstm_sequence`` is
the whole loop of a layer in one direction as one node, as ``nn.LSTM`` runs it otherwise:
its rules run backpropagation through time step by step and then form W_hh's gradient
as ONE product over all steps, ``sum_t dgates_t^T h_(t-1)``, where per-step nodes send
a share per step to be added up.

NOTE: primitives for speed. A 1-layer LSTM training step (input 64, hidden 256, 32 steps,
batch 32, a linear head), median thread time on one loaded core, freed memory recycled
(``cr.memory.reuse_freed_memory``): 45.5 ms with the cell composed of elementwise ops,
39.2 ms with ``lstm_cell`` (six nodes a step), 38.9 ms with ``lstm_step`` (two);
PyTorch eager 25.1 ms. (What remained was mostly W_hh's gradient arriving as one share
per step, 2.7 ms of adds beyond its products, where PyTorch makes one product at the
end: ``lstm_sequence`` does the same.)
The rules keep the activated gates from the forward (``keeps``) on the plain backward;
handed Tensors they recompute them with chainrule's own ops, so every cell is
differentiable to any order.

>>> import chainrule as cr
>>> h, c = lstm_cell(cr.zeros(2, 8), cr.ones(2, 2))
>>> h.shape, c.tolist()     # f = sigmoid(0) = 0.5 keeps half of c, i * g = 0
((2, 2), [[0.5, 0.5], [0.5, 0.5]])
"""

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .elementwise import sigmoid, tanh
from .registry import Case, Spec, data_of, defop, passthrough
from .shape import concatenate, getitem, reshape, stack

__all__ = ["embedding", "gru_cell", "lstm_cell"]


def _shape(x):
    return np.shape(data_of(x))


def _last(x, start, stop):
    """x[..., start:stop] (a view; a node for Tensors)."""
    return getitem(x, (Ellipsis, slice(start, stop)))


def _plain(*values):
    """True on the plain backward: every value an ndarray (or a number), no Tensor."""
    return not any(isinstance(v, Tensor) for v in values)


def _sigmoid_into(x, out):
    """1 / (1 + e^-x) written into ``out``, as PyTorch computes it (e^-x overflowing to inf
    gives exactly 0)."""
    np.negative(x, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    np.divide(1, out, out=out)  # faster than np.reciprocal here


def _feature_major(shape, dtype, like):
    """A fresh array of ``shape``, feature-major (its last two axes swapped in memory) when
    ``like`` is a feature-major 2-D array, so that a step's arrays keep one layout."""
    if np.ndim(like) == 2 and like.flags.f_contiguous and not like.flags.c_contiguous:
        return np.empty(shape[:-2] + (shape[-1], shape[-2]), dtype).swapaxes(-1, -2)
    return np.empty(shape, dtype)


def _in_layout(a, like):
    """``a`` (an ndarray) copied into ``like``'s feature-major layout when it is not in it:
    elementwise NumPy runs twice as fast on operands that share a layout (a step's
    upstream gradient adds a feature-major share to a row-major slice of the output's)."""
    if (
        like.ndim >= 2
        and a.ndim >= 2
        and like.strides[-1] > like.strides[-2]
        and a.strides[-1] < a.strides[-2]
        and a.shape[-2] > 1
    ):
        return np.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)
    return a


# ----------------------------------------------------------------------- step products
# The operands are ndarrays or Tensors (the rules' ``.T`` and ``@`` are theirs): no Python
# call between the rule and the product.
def _step_linear_x_vjp(g, out, x, weight, bias):
    if x.ndim > 2:  # one product over the steps (a sequence's projection)
        return reshape(reshape(g, (-1, g.shape[-1])) @ weight, x.shape)
    if x.ndim != 2:
        return g @ weight
    return (weight.T @ g.T).T  # g @ weight, made feature-major as g is


def _step_linear_weight_vjp(g, out, x, weight, bias):
    if x.ndim == 1:
        return reshape(g, (-1, 1)) * reshape(x, (1, -1))
    if x.ndim > 2:
        g, x = reshape(g, (-1, g.shape[-1])), reshape(x, (-1, x.shape[-1]))
    return g.T @ x


# NOTE: a primitive for speed. A recurrent step multiplies a small batch (N rows) by a
# wide weight; OpenBLAS is much faster with the batch as the product's columns,
# weight @ x.T (4H x N): 0.19 ms against 0.31 ms for (32 x 256) @ (256 x 1024), thread
# time on one core (PyTorch's MKL: 0.20 ms either way). The result is returned as the
# (N, 4H) view of that feature-major array; the cells' outputs keep the layout, so the
# next step's product reads its operand contiguously.
@defop(
    _step_linear_x_vjp,
    _step_linear_weight_vjp,
    passthrough,
    name="step_linear",
    spec=Spec(
        [
            Case(((4, 3), (5, 3), (5,))),
            Case(((4, 3), (5, 3), (4, 5))),
            Case(((3,), (5, 3), (5,))),
            Case(((0, 3), (5, 3), (5,))),
            Case(((4, 3), (5, 3), ())),
            Case(((2, 4, 3), (5, 3), (5,))),
        ],
        ref=lambda np, x, weight, bias: np.matmul(x, weight.T) + bias,
    ),
)
def _step_linear(x, weight, bias):
    """``x @ weight.T + bias`` for a batch of rows x (N, in), computed as
    ``(weight @ x.T).T`` and returned feature-major (the (N, out) view of an (out, N)
    array), or for a sequence of them (T, N, in) as one product; the bias (any shape
    broadcasting to the result) is added in place."""
    if np.ndim(x) > 2:  # a sequence (T, N, in): one product over every step, each step's
        # rows feature-major as a single step's (the (T, N, out) view of (out, T, N))
        rows = np.reshape(x, (-1, x.shape[-1]))
        out = np.matmul(weight, rows.T).T.reshape(x.shape[:-1] + (np.shape(weight)[0],))
    elif np.ndim(x) != 2:
        return np.matmul(x, weight.T) + bias
    else:
        out = np.matmul(weight, x.T).T
    if (
        out.dtype == np.result_type(out, bias)
        and np.ndim(bias) <= 2
        and np.broadcast_shapes(np.shape(bias), out.shape) == out.shape
    ):
        out += bias
        return out
    return out + bias


def step_linear(x, weight, bias=None):
    """``x @ weight.T + bias`` (``bias`` any array broadcasting to the result, e.g. the
    input's projection in a recurrent step), computed feature-major for speed."""
    if bias is None:
        bias = np.zeros((), data_of(weight).dtype)
    return _step_linear(x, weight, bias)


# ----------------------------------------------------------------------- embedding
def _scatter_rows(g, indices, num_weights, padding_idx):
    """zeros((num_weights, E)) with each row of ``g`` added at its index (one bincount
    over the flattened (index, column) positions, accumulated in float64)."""
    width = g.shape[-1]
    flat = np.asarray(indices, dtype=np.intp).reshape(-1)
    rows = g.reshape(flat.size, width)
    if padding_idx is not None:
        keep = flat != padding_idx
        if not keep.all():
            flat, rows = flat[keep], rows[keep]
    positions = (flat[:, None] * width + np.arange(width)).reshape(-1)
    sums = np.bincount(positions, weights=rows.reshape(-1), minlength=num_weights * width)
    return sums.reshape(num_weights, width).astype(g.dtype, copy=False)


def _padding_mask(indices, padding_idx, dtype):
    """1 where an index is not ``padding_idx``, 0 where it is, shaped (..., 1): constant."""
    return np.asarray(indices != padding_idx, dtype=dtype)[..., None]


def _inverse_counts(indices, dtype):
    """1 / (how often each position's index occurs in ``indices``), shaped (..., 1)."""
    flat = np.asarray(indices, dtype=np.intp).reshape(-1)
    if flat.size == 0:
        return np.ones(np.shape(indices) + (1,), dtype)
    counts = np.bincount(flat)[flat]
    return (1.0 / counts).astype(dtype).reshape(np.shape(indices) + (1,))


def _embedding_vjp(g, out, weight, indices, padding_idx, scale_grad_by_freq):
    if scale_grad_by_freq:
        g = g * _inverse_counts(indices, data_of(weight).dtype)
    return _embedding_backward(
        g, indices=indices, num_weights=_shape(weight)[0], padding_idx=padding_idx
    )


_INDICES = np.array([[0, 2, 4], [2, 2, 1]])


def _masked_rows_call(op, weight, padding_idx=None, **params):
    """How the suite calls embedding: the padding row zeroed first, so that the function
    differentiated is one whose true gradient has nothing in that row (PyTorch's
    padding_idx gives the padding row no gradient although the forward reads it)."""
    if padding_idx is not None:
        keep = np.ones((_shape(weight)[0], 1), data_of(weight).dtype)
        keep[padding_idx] = 0
        weight = weight * keep
    return op(weight, padding_idx=padding_idx, **params)


def _embedding_ref(np_, weight, indices, padding_idx, scale_grad_by_freq):
    if padding_idx is not None:
        keep = np.ones((weight.shape[0], 1))
        keep[padding_idx] = 0
        weight = weight * keep
    return weight[indices]


def _embedding_case(shape, indices, padding_idx=None):
    return Case(
        (shape,),
        {"indices": np.asarray(indices), "padding_idx": padding_idx, "scale_grad_by_freq": False},
    )


@defop(
    _embedding_vjp,
    name="embedding",
    spec=Spec(
        [
            _embedding_case((5, 3), _INDICES),
            _embedding_case((5, 3), _INDICES, padding_idx=2),
            _embedding_case((4, 2), np.array([[[3], [0]], [[3], [3]]])),
            _embedding_case((4, 3), np.array(1)),  # one index: one row
            _embedding_case((4, 3), np.zeros(0, dtype=np.int64)),
            _embedding_case((3, 0), np.array([0, 2])),
        ],
        call=_masked_rows_call,
        ref=_embedding_ref,
    ),
)
def _embedding(weight, indices, padding_idx, scale_grad_by_freq):
    """The rows of ``weight`` at ``indices``: (*indices.shape, E). The gradient adds the
    upstream rows back into the rows read (none into ``padding_idx``'s; each divided by
    how often its index occurs with ``scale_grad_by_freq``)."""
    return np.take(weight, indices, axis=0)


def _embedding_backward_vjp(g, out, rows, indices, num_weights, padding_idx):
    gathered = _embedding(g, indices=indices, padding_idx=padding_idx, scale_grad_by_freq=False)
    if padding_idx is None:
        return gathered
    return gathered * _padding_mask(indices, padding_idx, data_of(g).dtype)


def _scatter_ref(np_, rows, indices, num_weights, padding_idx):
    flat = indices.reshape(-1)
    onehot = (flat[:, None] == np.arange(num_weights)).astype(float)
    if padding_idx is not None:
        onehot[flat == padding_idx] = 0
    return np_.dot(onehot.T, np_.reshape(rows, (flat.size, rows.shape[-1])))


def _scatter_case(indices, num_weights, width, padding_idx=None):
    indices = np.asarray(indices)
    return Case(
        (indices.shape + (width,),),
        {"indices": indices, "num_weights": num_weights, "padding_idx": padding_idx},
    )


@defop(
    _embedding_backward_vjp,
    name="embedding_backward",
    spec=Spec(
        [
            _scatter_case(_INDICES, 5, 3),
            _scatter_case(_INDICES, 5, 3, padding_idx=2),
            _scatter_case(np.array(3), 4, 2),
            _scatter_case(np.zeros(0, int), 3, 2),
        ],
        ref=_scatter_ref,
    ),
)
def _embedding_backward(rows, indices, num_weights, padding_idx):
    """``rows`` (*indices.shape, E) added into a (num_weights, E) zero matrix at
    ``indices`` (repeated indices accumulate; ``padding_idx``'s rows are dropped): the
    gradient of the embedding lookup. Its own gradient gathers the rows back."""
    return _scatter_rows(np.asarray(rows), indices, num_weights, padding_idx)


def _embedding_renorm(weight, indices, max_norm, norm_type):
    """PyTorch's ``embedding_renorm_``: the rows read whose ``norm_type``-norm exceeds
    ``max_norm`` scaled down to it (by max_norm / (norm + 1e-7)), outside autograd.

    A Tensor gets new memory (graphs that saved the old rows keep them, as after
    ``p.data = ...``); an ndarray is written into.
    """
    array = data_of(weight)
    rows = np.unique(np.asarray(indices).reshape(-1))
    norms = np.linalg.norm(array[rows], ord=norm_type, axis=1)
    over = norms > max_norm
    if not over.any():
        return
    scale = (max_norm / (norms[over] + 1e-7))[:, None]
    if isinstance(weight, Tensor):
        renormed = array.copy()
        renormed[rows[over]] *= scale.astype(array.dtype)
        weight.data = renormed
    else:
        array[rows[over]] *= scale.astype(array.dtype)


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """The rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer
    indices ``input`` (any shape): (*input.shape, embedding_dim), as
    ``torch.nn.functional.embedding``.

    The gradient is a scatter-add into the rows read; ``padding_idx``'s row gets none
    (a negative one counts from the end). ``max_norm`` renormalises, in place and outside
    autograd, the rows read whose ``norm_type``-norm exceeds it; ``scale_grad_by_freq``
    divides each row's gradient by how often its index occurs in ``input``. Gradients are
    dense arrays whatever ``sparse`` says.

    >>> import chainrule as cr
    >>> w = cr.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> embedding(cr.tensor([[1, 2, 1]]), w, padding_idx=0).tolist()
    [[[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]]
    >>> embedding(cr.tensor([1, 1, 0]), w, padding_idx=0).sum().backward()
    >>> w.grad.tolist()         # row 1 read twice; the padding row gets nothing
    [[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]
    """
    indices = np.asarray(data_of(input))
    if indices.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be integers, got dtype {indices.dtype} "
            f"(shape {indices.shape})"
        )
    shape = _shape(weight)
    if len(shape) != 2:
        raise ShapeError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {shape}"
        )
    count = shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        bad = indices[(indices < 0) | (indices >= count)].reshape(-1)[0]
        raise IndexError(
            f"embedding: index {bad} is out of range for a weight of shape "
            f"{shape} (indices of shape {indices.shape})"
        )
    if padding_idx is not None:
        if not -count <= padding_idx < count:
            raise ValueError(
                f"embedding: padding_idx {padding_idx} must be within num_embeddings {count}"
            )
        padding_idx = int(padding_idx) % count
    if max_norm is not None:
        _embedding_renorm(weight, indices, max_norm, norm_type)
    return _embedding(
        weight,
        indices=indices,
        padding_idx=padding_idx,
        scale_grad_by_freq=bool(scale_grad_by_freq),
    )


# ----------------------------------------------------------------------- LSTM cell
def _four(gates, size):
    """The four gate blocks i, f, g, o of the last axis (views)."""
    return [gates[..., k * size : (k + 1) * size] for k in range(4)]


def _check_cell(op, gates, state, gate_count):
    gates_shape, state_shape = np.shape(gates), np.shape(state)
    if not gates_shape or not state_shape or gates_shape[-1] != gate_count * state_shape[-1]:
        raise ShapeError(
            f"{op}: gates of shape {gates_shape} must have {gate_count} x the "
            f"last axis of the state of shape {state_shape}"
        )


def _lstm_keeping(gates, c_prev):
    """The packed (h, c) and what the rules reuse: the activated gates and tanh(c)."""
    _check_cell("lstm_cell", gates, c_prev, 4)
    dtype = np.result_type(gates, c_prev)
    act = _feature_major(np.shape(gates), dtype, gates)
    state_shape = np.broadcast_shapes(np.shape(gates)[:-1], np.shape(c_prev)[:-1])
    out = _feature_major((2,) + state_shape + np.shape(c_prev)[-1:], dtype, gates)
    tanh_c = _feature_major(out.shape[1:], dtype, gates)
    _lstm_cell_into(gates, c_prev, act, out, tanh_c)
    return out, (act, tanh_c)


def _lstm_cell_into(gates, c_prev, act, out, tanh_c):
    """The cell written into given arrays: the activated gates into ``act`` (which may be
    ``gates`` itself), the packed (h, c) into ``out`` and tanh(c) into ``tanh_c``."""
    size = np.shape(c_prev)[-1]
    _sigmoid_into(gates[..., : 2 * size], act[..., : 2 * size])
    np.tanh(gates[..., 2 * size : 3 * size], out=act[..., 2 * size : 3 * size])
    _sigmoid_into(gates[..., 3 * size :], act[..., 3 * size :])
    i, f, g, o = _four(act, size)
    h, c = out[0], out[1]
    np.multiply(f, c_prev, out=c)
    c += i * g
    np.tanh(c, out=tanh_c)
    np.multiply(o, tanh_c, out=h)


def _lstm_parts(gates, c_prev, kept):
    """i, f, g, o and tanh(c): kept by the forward, or recomputed (with chainrule's ops,
    a graph for Tensors) when the rule runs without it."""
    if kept is not None and _plain(gates, c_prev):
        act, tanh_c = kept[:2]
    elif _plain(gates, c_prev):
        act, tanh_c = _lstm_keeping(gates, c_prev)[1]
    else:
        size = _shape(c_prev)[-1]
        i, f, o = (sigmoid(_last(gates, k * size, (k + 1) * size)) for k in (0, 1, 3))
        g = tanh(_last(gates, 2 * size, 3 * size))
        return i, f, g, o, tanh(f * c_prev + i * g)
    size = tanh_c.shape[-1]
    i, f, g, o = _four(act, size)
    return i, f, g, o, tanh_c


def _lstm_grads(g, c_prev, parts, grad=None):
    """The gradients of the gate pre-activations (..., 4H) and of c (..., H), from the
    packed upstream gradient ``g`` = (dh, dc) and the cell's ``parts`` (on the plain
    backward the gates' gradient is written into ``grad`` when it is given)."""
    i, f, gg, o, tanh_c = parts
    if not _plain(g, c_prev, i):
        # The gradient reaching c: through h (o * (1 - tanh(c)^2)) and straight from c.
        dc = g[0] * o * (1 - tanh_c * tanh_c) + g[1]
        return concatenate(
            [
                dc * gg * (i * (1 - i)),
                dc * c_prev * (f * (1 - f)),
                dc * i * (1 - gg * gg),
                g[0] * tanh_c * (o * (1 - o)),
            ],
            axis=-1,
        ), dc
    # The same products in the same order, written into dc, one scratch array and the four
    # blocks of one array side by side: no other temporaries.
    g = _in_layout(g, i[None])
    dc = np.multiply(g[0], o)
    scratch = np.multiply(tanh_c, tanh_c)
    np.subtract(1, scratch, out=scratch)
    dc *= scratch
    dc += g[1]
    size = dc.shape[-1]
    if grad is None:
        grad = _feature_major(dc.shape[:-1] + (4 * size,), dc.dtype, gg)
    blocks = _four(grad, size)
    for block, left, right, gate in ((0, dc, gg, i), (1, dc, c_prev, f), (3, g[0], tanh_c, o)):
        np.subtract(1, gate, out=scratch)
        scratch *= gate  # gate * (1 - gate), the sigmoid's derivative
        np.multiply(left, right, out=blocks[block])
        blocks[block] *= scratch
    np.multiply(gg, gg, out=scratch)
    np.subtract(1, scratch, out=scratch)  # the tanh's derivative
    np.multiply(dc, i, out=blocks[2])
    blocks[2] *= scratch
    return grad, dc


def _cached(kept, g, compute):
    """``compute()``, made once per upstream gradient: an op's rules for its several
    inputs share it through the kept slot (plain backward only)."""
    if kept is None:
        return compute()
    if kept[-1] is not None and kept[-1][0] is g:
        return kept[-1][1]
    value = compute()
    kept[-1] = (g, value)
    return value


def _lstm_cell_grads(g, gates, c_prev, kept):
    return _cached(kept, g, lambda: _lstm_grads(g, c_prev, _lstm_parts(gates, c_prev, kept)))


def _lstm_gates_vjp(g, out, gates, c_prev, kept=None):
    return _lstm_cell_grads(g, gates, c_prev, kept)[0]


def _lstm_c_vjp(g, out, gates, c_prev, kept=None):
    return _lstm_cell_grads(g, gates, c_prev, kept)[1] * _lstm_parts(gates, c_prev, kept)[1]


def _lstm_ref(np_, gates, c_prev):
    size = c_prev.shape[-1]
    i, f, o = (1 / (1 + np_.exp(-gates[..., k * size : (k + 1) * size])) for k in (0, 1, 3))
    c = f * c_prev + i * np_.tanh(gates[..., 2 * size : 3 * size])
    return np_.stack([o * np_.tanh(c), c])


def _lstm_cell_keeping(gates, c_prev):
    out, kept = _lstm_keeping(gates, c_prev)
    return out, [*kept, None]  # the last slot: the rules' shared gradients


@defop(
    _lstm_gates_vjp,
    _lstm_c_vjp,
    name="lstm_cell",
    keeps=_lstm_cell_keeping,
    spec=Spec(
        [
            Case(((3, 8), (3, 2))),
            Case(((8,), (2,))),
            Case(((2, 3, 12), (2, 3, 3))),
            Case(((8,), (3, 2))),
            Case(((3, 8), (2,))),
            Case(((0, 8), (0, 2))),
        ],
        ref=_lstm_ref,
    ),
)
def _lstm_cell(gates, c_prev):
    """An LSTM cell's update from its gate pre-activations (..., 4H), order i, f, g, o,
    and the cell state c_prev (..., H): h and c packed as (2, ..., H)."""
    return _lstm_keeping(gates, c_prev)[0]


def lstm_cell(gates, c):
    """An LSTM cell's new ``(h, c)`` from its gate pre-activations ``gates`` (..., 4H),
    in PyTorch's order i, f, g, o (``x W_ih^T + b_ih + h W_hh^T + b_hh``), and the
    previous cell state ``c`` (..., H): one fused primitive."""
    packed = _lstm_cell(gates, c)
    return getitem(packed, 0), getitem(packed, 1)


# ----------------------------------------------------------------------- LSTM step
def _hidden_product(h, weight):
    """``h @ weight.T`` as a fresh array, feature-major for a batch of rows (as
    :func:`_step_linear`)."""
    if np.ndim(h) != 2:
        return np.matmul(h, weight.T)
    return np.matmul(weight, h.T).T


def _lstm_step_keeping(xg, state, w_hh):
    if np.ndim(state) < 2 or np.shape(state)[0] != 2:
        raise ShapeError(
            f"lstm_step: the state of shape {np.shape(state)} must pack h and c as (2, ..., H)"
        )
    _check_cell("lstm_step", xg, state[1], 4)
    gates = _hidden_product(state[0], w_hh)
    if gates.dtype == np.result_type(gates, xg) and np.shape(xg) == gates.shape:
        gates += xg
    else:
        gates = gates + xg
    out, (act, tanh_c) = _lstm_keeping(gates, state[1])
    return out, [act, tanh_c, None]


def _lstm_step_grads(g, xg, state, w_hh, kept):
    """(d gates, d c) of an LSTM step, shared by its three rules."""

    def compute():
        if _plain(g, xg, state, w_hh):
            parts = (
                _lstm_parts(None, state[1], kept)
                if kept is not None
                else _lstm_parts(_hidden_product(state[0], w_hh) + xg, state[1], None)
            )
        else:
            parts = _lstm_parts(state[0] @ w_hh.T + xg, state[1], None)
        return _lstm_grads(g, state[1], parts) + (parts[1],)

    return _cached(kept, g, compute)


def _lstm_step_xg_vjp(g, out, xg, state, w_hh, kept=None):
    return _lstm_step_grads(g, xg, state, w_hh, kept)[0]


def _lstm_step_state_vjp(g, out, xg, state, w_hh, kept=None):
    dgates, dc, f = _lstm_step_grads(g, xg, state, w_hh, kept)
    if not _plain(g, xg, state, w_hh):
        return stack([dgates @ w_hh, dc * f])
    grad = _feature_major((2,) + dc.shape, dc.dtype, dgates)
    if dgates.ndim == 2:
        np.matmul(w_hh.T, dgates.T, out=grad[0].T)  # dgates @ w_hh, feature-major
    else:
        np.matmul(dgates, w_hh, out=grad[0])
    np.multiply(dc, f, out=grad[1])
    return grad


def _lstm_step_weight_vjp(g, out, xg, state, w_hh, kept=None):
    dgates = _lstm_step_grads(g, xg, state, w_hh, kept)[0]
    h = state[0]
    if h.ndim == 1:
        return reshape(dgates, (-1, 1)) * reshape(h, (1, -1))
    return dgates.T @ h


def _lstm_step_ref(np_, xg, state, w_hh):
    return _lstm_ref(np_, xg + np_.dot(state[0], w_hh.T), state[1])


@defop(
    _lstm_step_xg_vjp,
    _lstm_step_state_vjp,
    _lstm_step_weight_vjp,
    name="lstm_step",
    keeps=_lstm_step_keeping,
    spec=Spec(
        [
            Case(((3, 8), (2, 3, 2), (8, 2))),
            Case(((8,), (2, 2), (8, 2))),
            Case(((4, 12), (2, 4, 3), (12, 3))),
            Case(((0, 8), (2, 0, 2), (8, 2))),
        ],
        ref=_lstm_step_ref,
    ),
)
def _lstm_step(xg, state, w_hh):
    """One LSTM time step: the gates ``xg + h @ w_hh.T`` (xg the input's projection with
    both biases, (..., 4H)) from the packed state (2, ..., H) = (h, c), through the cell:
    the new packed state. ``lstm_cell`` with the hidden product inside, so that a step is
    one graph node."""
    return _lstm_step_keeping(xg, state, w_hh)[0]


# ----------------------------------------------------------------------- LSTM sequence
def _time_order(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def _check_sequence(xg, state, w_hh):
    xg_shape, state_shape, w_shape = np.shape(xg), np.shape(state), np.shape(w_hh)
    size = state_shape[-1] if len(state_shape) == 3 else -1
    if (
        len(xg_shape) != 3
        or len(state_shape) != 3
        or state_shape[0] != 2
        or xg_shape[1] != state_shape[1]
        or xg_shape[2] != 4 * size
        or w_shape != (4 * size, size)
    ):
        raise ShapeError(
            f"lstm_sequence: the gates' input projections {xg_shape} must be (T, N, 4H), "
            f"the state {state_shape} (2, N, H) and the hidden weight {w_shape} (4H, H)"
        )


def _lstm_sequence_keeping(xg, state, w_hh, reverse=False):
    """Every step's packed (h, c) as (T, 2, N, H) and what the rules reuse: the activated
    gates (T, N, 4H) and tanh(c) (T, N, H), each step's arrays feature-major."""
    _check_sequence(xg, state, w_hh)
    length, batch, width = xg.shape
    size = width // 4
    dtype = np.result_type(xg, state, w_hh)
    out = np.empty((length, 2, size, batch), dtype).swapaxes(-1, -2)
    act = np.empty((length, width, batch), dtype).swapaxes(-1, -2)
    tanh_c = np.empty((length, size, batch), dtype).swapaxes(-1, -2)
    previous = state
    for t in _time_order(length, reverse):
        gates = act[t]
        np.matmul(w_hh, previous[0].T, out=gates.T)  # h @ w_hh.T, feature-major
        gates += xg[t]
        _lstm_cell_into(gates, previous[1], gates, out[t], tanh_c[t])
        previous = out[t]
    return out, [act, tanh_c, None]


def _lstm_sequence_grads(g, out, xg, state, w_hh, reverse, kept):
    """The gradients of the gate pre-activations (T, N, 4H), laid out so that their
    (T * N, 4H) reshape is free (the weights' gradients are then one product each), and
    what the initial state's needs: the first step's gates' gradient, its dc and its
    forget gate. Backpropagation through time on the plain backward."""

    def compute():
        act, tanh_c = (
            kept[:2]
            if kept is not None
            else _lstm_sequence_keeping(xg, state, w_hh, reverse)[1][:2]
        )
        length, batch, width = act.shape
        size = width // 4
        steps = np.empty((length, width, batch), act.dtype).swapaxes(-1, -2)
        carry = np.zeros((2, size, batch), act.dtype).swapaxes(-1, -2)  # (dh, dc) to pass back
        order = list(_time_order(length, reverse))
        for position in range(length - 1, -1, -1):
            t = order[position]
            carry += g[t]
            c_prev = out[order[position - 1], 1] if position else state[1]
            i, f, gg, o = _four(act[t], size)
            dc = _lstm_grads(carry, c_prev, (i, f, gg, o, tanh_c[t]), steps[t])[1]
            if position:  # the first step's is the initial state's: made if it is asked for
                np.matmul(w_hh.T, steps[t].T, out=carry[0].T)  # dgates @ w_hh, feature-major
                np.multiply(dc, f, out=carry[1])
        grads = np.empty((width, length, batch), act.dtype).transpose(1, 2, 0)
        np.copyto(grads, steps)
        return grads, (grads[order[0]], dc, f)

    return _cached(kept, g, compute)


def _lstm_sequence_graph_grads(g, xg, state, w_hh, reverse):
    """The three gradients with chainrule's ops (a graph when handed Tensors): the forward
    again step by step, then each step's own rules from the last step to the first."""
    length = _shape(xg)[0]
    order = list(_time_order(length, reverse))
    previous, states = state, {}
    for t in order:
        states[t] = previous
        previous = _lstm_step(getitem(xg, t), previous, w_hh)
    carry, d_xg, d_w = None, [None] * length, None
    for t in reversed(order):
        upstream = getitem(g, t) if carry is None else getitem(g, t) + carry
        step = (upstream, None, getitem(xg, t), states[t], w_hh)
        d_xg[t] = _lstm_step_xg_vjp(*step)
        carry = _lstm_step_state_vjp(*step)
        share = _lstm_step_weight_vjp(*step)
        d_w = share if d_w is None else d_w + share
    return stack(d_xg), carry, d_w


def _lstm_sequence_xg_vjp(g, out, xg, state, w_hh, kept=None, reverse=False):
    if not _plain(g, xg, state, w_hh):
        return _lstm_sequence_graph_grads(g, xg, state, w_hh, reverse)[0]
    return _lstm_sequence_grads(g, out, xg, state, w_hh, reverse, kept)[0]


def _lstm_sequence_state_vjp(g, out, xg, state, w_hh, kept=None, reverse=False):
    if not _plain(g, xg, state, w_hh):
        return _lstm_sequence_graph_grads(g, xg, state, w_hh, reverse)[1]
    first_gates, dc, f = _lstm_sequence_grads(g, out, xg, state, w_hh, reverse, kept)[1]
    grad = _feature_major((2,) + dc.shape, dc.dtype, dc)
    np.matmul(w_hh.T, first_gates.T, out=grad[0].T)  # dgates @ w_hh, feature-major
    np.multiply(dc, f, out=grad[1])
    return grad


def _lstm_sequence_weight_vjp(g, out, xg, state, w_hh, kept=None, reverse=False):
    if not _plain(g, xg, state, w_hh):
        return _lstm_sequence_graph_grads(g, xg, state, w_hh, reverse)[2]
    grads = _lstm_sequence_grads(g, out, xg, state, w_hh, reverse, kept)[0]
    length, batch, size = out.shape[0], out.shape[2], out.shape[3]
    # Each step's gradient times the hidden state it read: one product over all steps.
    read = np.empty((size, length, batch), grads.dtype).transpose(1, 2, 0)
    order = list(_time_order(length, reverse))
    read[order[0]] = state[0]
    if length > 1:  # the other steps read the state their neighbour in time left
        before, after = slice(None, -1), slice(1, None)
        read[before if reverse else after] = out[after if reverse else before, 0]
    return grads.reshape(-1, grads.shape[-1]).T @ read.reshape(-1, size)


def _lstm_sequence_ref(np_, xg, state, w_hh, reverse=False):
    length = xg.shape[0]
    previous, states = state, [None] * length
    for t in _time_order(length, reverse):
        previous = states[t] = _lstm_step_ref(np_, xg[t], previous, w_hh)
    return np_.stack(states)


# NOTE: a primitive for speed. The benchmark's LSTM step (input 64, hidden 256, 32 steps,
# batch 32; ``python -m bench --only lstm_step``, default threads): 20.5 ms (1.67x
# PyTorch eager) with one lstm_step node per step, where W_hh's gradient arrives as 32
# products of depth 32 and 31 adds of a 1 MiB share; 18.4 ms (1.47x) with the loop as
# one node and every step's input projection in one product laid out as the steps read
# it (1.29x -> 1.20x with one thread each). What is left is elementwise work on one core
# (about 4 ms a step: the cells forward and their gradients backward), where PyTorch
# spreads its fused cell over both.
@defop(
    _lstm_sequence_xg_vjp,
    _lstm_sequence_state_vjp,
    _lstm_sequence_weight_vjp,
    name="lstm_sequence",
    saves_out=True,
    keeps=_lstm_sequence_keeping,
    spec=Spec(
        [
            Case(((4, 3, 8), (2, 3, 2), (8, 2))),
            Case(((4, 3, 8), (2, 3, 2), (8, 2)), {"reverse": True}),
            Case(((1, 2, 12), (2, 2, 3), (12, 3))),
            Case(((3, 0, 8), (2, 0, 2), (8, 2))),
        ],
        ref=_lstm_sequence_ref,
    ),
)
def _lstm_sequence(xg, state, w_hh, reverse=False):
    """An LSTM layer's loop in one direction: from the gates' input projections ``xg``
    (T, N, 4H, both biases in) and the packed initial state (2, N, H) = (h_0, c_0), every
    step's packed (h, c) as (T, 2, N, H), in time order (``reverse`` runs from the last
    step to the first, as the backward direction of a bidirectional layer)."""
    return _lstm_sequence_keeping(xg, state, w_hh, reverse)[0]


# ----------------------------------------------------------------------- GRU cell
def _gru_keeping(gx, gh, h):
    """The new hidden state and what the rules reuse: r and z side by side, and n."""
    _check_cell("gru_cell", gx, h, 3)
    _check_cell("gru_cell", gh, h, 3)
    size = np.shape(h)[-1]
    dtype = np.result_type(gx, gh, h)
    rz = np.add(gx[..., : 2 * size], gh[..., : 2 * size], dtype=dtype)
    _sigmoid_into(rz, rz)
    n = gh[..., 2 * size :] * rz[..., :size]
    n += gx[..., 2 * size :]
    np.tanh(n, out=n)
    # (h - n) * z + n: PyTorch's order of operations for (1 - z) * n + z * h.
    out = np.subtract(h, n, dtype=dtype)
    out *= rz[..., size:]
    out += n
    return out, [rz, n, None]


def _gru_parts(gx, gh, h, kept):
    """r, z, n: kept by the forward, or recomputed (a graph for Tensors)."""
    if _plain(gx, gh, h):
        rz, n = (kept if kept is not None else _gru_keeping(gx, gh, h)[1])[:2]
        size = n.shape[-1]
        return rz[..., :size], rz[..., size:], n
    size = _shape(h)[-1]
    r, z = (
        sigmoid(_last(gx, k * size, (k + 1) * size) + _last(gh, k * size, (k + 1) * size))
        for k in (0, 1)
    )
    return r, z, tanh(_last(gx, 2 * size, None) + r * _last(gh, 2 * size, None))


def _gru_pre_grads(g, gx, gh, h, kept):
    """The gradients of the three pre-activations r, z, n (as summed from gx and gh) and
    r; on the plain backward one (..., 3H) array, shared by the gx and gh rules."""
    return _cached(kept, g, lambda: _gru_grads(g, gx, gh, h, kept))


def _gru_grads(g, gx, gh, h, kept):
    r, z, n = _gru_parts(gx, gh, h, kept)
    if _plain(g, n):
        g = _in_layout(g, n)
    size = _shape(h)[-1]
    dn = g * (1 - z) * (1 - n * n)
    dr = dn * _last(gh, 2 * size, None) * (r * (1 - r))
    dz = g * (h - n) * (z * (1 - z))
    if not _plain(g, gx, gh, h):
        return concatenate([dr, dz, dn], axis=-1), r
    return np.concatenate(np.broadcast_arrays(dr, dz, dn), axis=-1), r


def _gru_gx_vjp(g, out, gx, gh, h, kept=None):
    return _gru_pre_grads(g, gx, gh, h, kept)[0]


def _gru_gh_vjp(g, out, gx, gh, h, kept=None):
    grads, r = _gru_pre_grads(g, gx, gh, h, kept)
    size = _shape(h)[-1]
    if _plain(g, gx, gh, h):
        grads = grads.copy()  # the gx rule's share is not to be changed
        grads[..., 2 * size :] *= r
        return grads
    return concatenate([_last(grads, 0, 2 * size), _last(grads, 2 * size, None) * r], axis=-1)


def _gru_h_vjp(g, out, gx, gh, h, kept=None):
    return g * _gru_parts(gx, gh, h, kept)[1]


def _gru_ref(np_, gx, gh, h):
    size = h.shape[-1]
    r, z = (
        1 / (1 + np_.exp(-gx[..., k * size : (k + 1) * size] - gh[..., k * size : (k + 1) * size]))
        for k in (0, 1)
    )
    n = np_.tanh(gx[..., 2 * size :] + r * gh[..., 2 * size :])
    return (1 - z) * n + z * h


@defop(
    _gru_gx_vjp,
    _gru_gh_vjp,
    _gru_h_vjp,
    name="gru_cell",
    keeps=_gru_keeping,
    spec=Spec(
        [
            Case(((3, 6), (3, 6), (3, 2))),
            Case(((6,), (6,), (2,))),
            Case(((2, 3, 9), (2, 3, 9), (2, 3, 3))),
            Case(((3, 6), (6,), (3, 2))),  # a bias alone as the hidden projection
            Case(((3, 6), (3, 6), (2,))),
            Case(((0, 6), (0, 6), (0, 2))),
        ],
        ref=_gru_ref,
    ),
)
def _gru_cell(gx, gh, h):
    """A GRU cell's new hidden state from the input projection ``gx`` (..., 3H) and the
    hidden projection ``gh`` (..., 3H), each with its bias, gates r, z, n, and ``h``."""
    return _gru_keeping(gx, gh, h)[0]


def gru_cell(gx, gh, h):
    """A GRU cell's new hidden state from the input projection ``gx = x W_ih^T + b_ih``
    and the hidden projection ``gh = h W_hh^T + b_hh`` (both (..., 3H), gates r, z, n in
    PyTorch's order) and the previous ``h`` (..., H): one fused primitive."""
    return _gru_cell(gx, gh, h)
