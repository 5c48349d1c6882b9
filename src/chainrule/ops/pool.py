"""Pooling over NCHW images: max, average and adaptive average, composed of registered ops.

Max pooling finds each window's first maximum (PyTorch's choice among ties) with one
strided comparison per kernel tap, keeps its position (``return_indices`` gives it, as
PyTorch's flat index into each H x W plane) and reads the values there with ``getitem``:
the gradient is routed to those positions alone (``index_add``, repeated positions of
overlapping windows accumulate) and the gradient's gradient reads with the same indices
again. Windows side by side that tile the input (``kernel_size == stride``, no padding,
the sizes divisible by the kernel, as the usual 2 x 2 pooling) take a faster path: one
byte per window names the same first maxima's places, and two ops that are each other's
VJPs read the named elements and write the gradient there (no gather, no scatter).
Average pooling sums im2col's windows (its gradient is col2im) and divides by PyTorch's
divisor. Window counts come from :func:`chainrule.ops.conv.output_size`.

>>> import chainrule as cr
>>> x = cr.tensor([[[[1.0, 2.0], [4.0, 3.0]]]], requires_grad=True)
>>> y = max_pool2d(x, 2)
>>> y.backward(cr.ones(1, 1, 1, 1))
>>> y.item(), x.grad.numpy().ravel().tolist()
(4.0, [0.0, 0.0, 1.0, 0.0])
"""

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .bits import mask, select_into, unsigned
from .conv import _batched, _im2col, _pad2, _selection, _unbatched, batched_ref, grid, ntuple
from .linalg import matmul
from .reduce import sum as _sum
from .registry import Case, Spec, composite, data_of, defop
from .shape import _getitem, reshape, transpose

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "max_pool1d",
    "max_pool2d",
]


# ----------------------------------------------------------------------- geometry
def _pool_geometry(op, size, kernel_size, stride, padding, dilation, ceil_mode, average, n=2):
    """Kernel, stride, dilation, the window counts and the padding the windows reach.

    The padding is ``((before, after), ...)``: ``after`` covers exactly the windows there
    are (with ``ceil_mode``, the last one may run past the input and its padding).
    """
    kernel_size = ntuple(kernel_size, n, op, "kernel_size")
    # stride=None (or PyTorch's empty list) means windows side by side.
    empty = stride is None or (not isinstance(stride, (int, np.integer)) and not len(stride))
    stride = kernel_size if empty else ntuple(stride, n, op, "stride")
    padding = ntuple(padding, n, op, "padding")
    dilation = ntuple(dilation, n, op, "dilation")
    if min(kernel_size) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(
            f"{op}: kernel_size, stride and dilation must be positive and "
            f"padding non-negative, got kernel_size={kernel_size}, stride="
            f"{stride}, padding={padding}, dilation={dilation}"
        )
    for k, p, d in zip(kernel_size, padding, dilation):
        extent = k if average else d * (k - 1) + 1
        if p > extent // 2:
            raise ValueError(
                f"{op}: padding should be at most half of the (effective) kernel "
                f"size, got padding={padding} for kernel_size={kernel_size}"
                + ("" if average else f" and dilation={dilation}")
            )
    counts = grid(
        op, size, kernel_size, dilation, tuple((p, p) for p in padding), stride, ceil_mode
    )
    pads = tuple(
        (p, max((c - 1) * s + d * (k - 1) + 1 - n - p, 0))
        for n, k, s, p, d, c in zip(size, kernel_size, stride, padding, dilation, counts)
    )
    return kernel_size, stride, dilation, counts, pads, padding


def _planes(input, op):
    x, added = _batched(input, 4, op, "input")
    shape = np.shape(data_of(x))
    if not np.issubdtype(np.result_type(data_of(x)), np.floating):
        raise TypeError(
            f"{op}: expected a floating-point input, got dtype "
            f"{np.result_type(data_of(x))} (input of shape {shape})"
        )
    return x, added, shape


def _as_1d(op, input):
    """A (N, C, L) or (C, L) input as a height-1 image (N, C, 1, L), and how to undo it."""
    shape = np.shape(data_of(input))
    if len(shape) not in (2, 3):
        raise ShapeError(
            f"{op}: expected a 2-d (unbatched) or 3-d (batched) input, got input of shape {shape}"
        )
    return reshape(input, shape[:-1] + (1, shape[-1])), shape


def _one(value, op, name):
    return (1,) + ntuple(value, 1, op, name)


def _one_stride(stride, op):
    """A 1-D pooling's stride as one int, or None (the kernel size) for None or ``()``."""
    if stride is None or (not isinstance(stride, (int, np.integer)) and not len(stride)):
        return None
    return _one(stride, op, "stride")


# ----------------------------------------------------------------------- max pooling
def _first_maxima(x, kernel_size, stride, dilation, counts, pads):
    """PyTorch's indices: for every window, the flat position (row * W + column) in x's
    H x W plane of its first maximum (of its last NaN, if it holds any, as PyTorch)."""
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_size, stride, dilation, counts
    (top, _), (left, _) = pads
    padded = _pad2(x, pads, fill=-np.inf)  # padding is never larger than anything
    taps = [
        padded[
            :, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw
        ]
        for i in range(kh)
        for j in range(kw)
    ]
    best = np.array(taps[0])
    for values in taps[1:]:
        np.maximum(best, values, out=best)  # a NaN stays
    # The first tap holding the maximum: later taps first, so that the earliest write stays.
    # Tap numbers are small integers (one byte for kernels up to 127 elements).
    tap = np.full(best.shape, len(taps) - 1, dtype=np.min_scalar_type(len(taps)))
    for number in range(len(taps) - 2, -1, -1):
        np.copyto(tap, number, where=taps[number] == best)
    if np.isnan(best).any():
        for number, values in enumerate(taps):  # the last NaN stays
            np.copyto(tap, number, where=np.isnan(values))
    offsets = np.array(
        [(i * dh - top) * width + (j * dw - left) for i in range(kh) for j in range(kw)],
        dtype=np.intp,
    )
    index = offsets[tap]
    index += (np.arange(oh) * sh * width)[:, None] + np.arange(ow) * sw
    if padded is not x:
        lowest = best == -np.inf
        if lowest.any():
            # Windows of -inf alone: PyTorch keeps the first tap inside the input, never
            # one in the padding.
            first = [
                _first_inside(o, s, p, k, d, size)
                for o, s, (p, _), k, d, size in zip(
                    counts, stride, pads, kernel_size, dilation, (height, width)
                )
            ]
            index = np.where(lowest, first[0][:, None] * width + first[1], index)
    return index


def _first_inside(count, stride, before, kernel, dilation, size):
    """Along one axis, the first tap of every window that lies inside the input."""
    taps = (np.arange(count) * stride - before)[:, None] + np.arange(kernel) * dilation
    inside = (taps >= 0) & (taps < size)
    return taps[np.arange(count), np.argmax(inside, axis=1)]


# ----------------------------------------------------------------------- side by side
# Windows side by side (kernel_size == stride, no padding, dilation 1, sizes divisible by
# the kernel) tile the input. Each window's chosen element is named by its tap, its place
# in the window in row-major order: one byte per window, in the input's memory order.
# ``window_max`` finds the first maxima and keeps their taps for its gradient;
# ``window_route`` writes a gradient to the tapped elements and ``window_pick`` reads them.
# Route and pick are each other's VJPs, so every order of derivative uses the same taps,
# and no gather or scatter (np.add.at) is needed. The work runs on contiguous copies of
# the taps' strided views and selects with bit masks: NumPy's np.where and masked copies
# are several times slower, and a product turns an unselected inf or NaN into NaN.
def _taps(x, kernel):
    """The kh * kw strided views of x (N, C, H, W), each holding every window's element at
    one tap, in row-major order of the taps."""
    (kh, kw) = kernel
    return [x[..., i::kh, j::kw] for i in range(kh) for j in range(kw)]


def _window_maxima(x, kernel):
    """Each window's first maximum (its last NaN, if it holds any, as PyTorch), moved bit
    for bit (-0.0 too), and its tap, both in x's memory order."""
    taps = _taps(x, kernel)
    best = np.array(taps[0], order="K")
    tap = np.zeros_like(best, dtype=np.min_scalar_type(len(taps) - 1))  # a byte up to 16 x 16
    # PyTorch takes every NaN it meets: the comparisons below only see NaN-free data then.
    nan = x.size > 0 and np.isnan(np.min(x))
    for number, view in enumerate(taps[1:], 1):
        values = np.array(view, order="K")  # contiguous, as best: the passes vectorise
        later = values > best
        if nan:
            later |= np.isnan(values)
        select_into(best, values, later)
        select_into(tap, number, later)
    return best, tap


def _window_pick_forward(x, tap, kernel):
    x = np.asarray(x)
    bits = unsigned(x.dtype)
    out = np.zeros_like(tap, dtype=bits)
    for number, view in enumerate(_taps(x.view(bits), kernel)):
        out |= view & mask(tap == number, x.dtype)
    return out.view(x.dtype)


def _window_route_forward(g, tap, kernel):
    g = np.asarray(g)
    (kh, kw), (n, c, oh, ow) = kernel, tap.shape
    out = np.empty_like(tap, dtype=g.dtype, shape=(n, c, oh * kh, ow * kw))
    bits = unsigned(g.dtype)
    # The taps partition the input: every element is written once, g's bits or zeros.
    for number, view in enumerate(_taps(out.view(bits), kernel)):
        np.bitwise_and(g.view(bits), mask(tap == number, g.dtype), out=view)
    return out


def _tap_case(shape, kernel):
    """A fixed tap per window for the spec cases: the window's number mod the taps."""
    n, c, h, w = shape
    count = n * c * (h // kernel[0]) * (w // kernel[1])
    return (
        (np.arange(count) % (kernel[0] * kernel[1]))
        .astype(np.uint8)
        .reshape(n, c, h // kernel[0], w // kernel[1])
    )


def _one_hot(tap, kernel):
    """The (N, C, oh, kh, ow, kw) mask of the tapped elements."""
    (kh, kw) = kernel
    number = np.arange(kh * kw).reshape(kh, 1, kw)
    return tap[:, :, :, None, :, None] == number


def _blocks(xp, x, kernel):
    n, c, h, w = x.shape
    return xp.reshape(x, (n, c, h // kernel[0], kernel[0], w // kernel[1], kernel[1]))


def _pick_ref(xp, x, tap, kernel):
    return xp.sum(xp.where(_one_hot(tap, kernel), _blocks(xp, x, kernel), 0.0), axis=(3, 5))


def _route_ref(xp, g, tap, kernel):
    n, c, oh, ow = g.shape
    blocks = xp.reshape(g, (n, c, oh, 1, ow, 1)) * np.ones((1, 1, 1, kernel[0], 1, kernel[1]))
    spread = xp.where(_one_hot(tap, kernel), blocks, 0.0)
    return xp.reshape(spread, (n, c, oh * kernel[0], ow * kernel[1]))


def _max_ref(xp, x, kernel):
    return xp.max(_blocks(xp, x, kernel), axis=(3, 5))


_PICK_CASES = [((2, 3, 4, 6), (2, 2)), ((1, 2, 3, 6), (1, 3)), ((1, 1, 6, 2), (3, 2))]


def _window_max_vjp(g, out, x, *kept, kernel):
    tap = kept[0] if kept else _window_maxima(np.asarray(data_of(x)), kernel)[1]
    return _window_route(g, tap=tap, kernel=kernel)


@defop(
    _window_max_vjp,
    name="window_max",
    keeps=_window_maxima,
    spec=Spec([Case((shape,), {"kernel": k}) for shape, k in _PICK_CASES], ref=_max_ref),
)
def _window_max(x, kernel):
    """Each (kh, kw) window's first maximum; its gradient goes to that element alone."""
    return _window_maxima(x, kernel)[0]


@defop(
    lambda g, out, x, tap, kernel: _window_route(g, tap=tap, kernel=kernel),
    name="window_pick",
    spec=Spec(
        [Case((shape,), {"tap": _tap_case(shape, k), "kernel": k}) for shape, k in _PICK_CASES],
        ref=_pick_ref,
    ),
)
def _window_pick(x, tap, kernel):
    """Each (kh, kw) window's element of x at its ``tap`` (row-major place in the window)."""
    return _window_pick_forward(x, tap, kernel)


@defop(
    lambda g, out, x, tap, kernel: _window_pick(g, tap=tap, kernel=kernel),
    name="window_route",
    spec=Spec(
        [
            Case(((s[0], s[1], s[2] // k[0], s[3] // k[1]),), {"tap": _tap_case(s, k), "kernel": k})
            for s, k in _PICK_CASES
        ],
        ref=_route_ref,
    ),
)
def _window_route(g, tap, kernel):
    """Zeros of the tiled input's shape holding each window's ``g`` at its ``tap``."""
    return _window_route_forward(g, tap, kernel)


def _side_by_side(shape, kernel_size, stride, dilation, counts, pads):
    """Whether the windows tile the input exactly (the fast path's case)."""
    return (
        tuple(stride) == tuple(kernel_size)
        and set(dilation) == {1}
        and all(p == (0, 0) for p in pads)
        and all(o * k == n for o, k, n in zip(counts, kernel_size, shape[2:]))
    )


def _max_pool_side_by_side(x, added, kernel_size, return_indices):
    out = _unbatched(_window_max(x, kernel=kernel_size), added)
    if not return_indices:
        return out
    # The taps again (indices are seldom asked for): each one's flat position in its plane.
    data = np.asarray(data_of(x))
    row, column = np.divmod(_window_maxima(data, kernel_size)[1].astype(np.int64), kernel_size[1])
    oh, ow = row.shape[2:]
    row += (np.arange(oh) * kernel_size[0])[:, None]
    column += np.arange(ow) * kernel_size[1]
    index = np.ascontiguousarray(row * data.shape[3] + column)
    index = _unbatched(index, added)
    return out, Tensor._new(index) if isinstance(out, Tensor) else index


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, op):
    x, added, shape = _planes(input, op)
    n, c, height, width = shape
    kernel_size, stride, dilation, counts, pads, _ = _pool_geometry(
        op, shape[2:], kernel_size, stride, padding, dilation, ceil_mode, average=False
    )
    if _side_by_side(shape, kernel_size, stride, dilation, counts, pads):
        return _max_pool_side_by_side(x, added, kernel_size, return_indices)
    order = _memory_order(x)
    x = transpose(x, order)  # the planes in memory order: flattening copies nothing
    index = _first_maxima(np.asarray(data_of(x)), kernel_size, stride, dilation, counts, pads)
    planes = np.arange(n * c, dtype=np.intp).reshape(index.shape[:2] + (1, 1))
    planes *= height * width
    # One flat index (1-D): np.add.at, the gradient's scatter, is fastest on a 1-D index.
    flat = index + planes if return_indices else np.add(index, planes, out=index)
    flat = flat.reshape(-1)
    out = reshape(_getitem(reshape(x, (-1,)), index=(flat,)), index.shape)
    out = _unbatched(transpose(out, order), added)
    if not return_indices:
        return out
    index = _unbatched(np.ascontiguousarray(index.transpose(order), dtype=np.int64), added)
    return out, Tensor._new(index) if isinstance(out, Tensor) else index


def _memory_order(x):
    """The axes of an NCHW array in memory order: (1, 0, 2, 3) for the channel-major
    (C, N, H, W) arrays that convolutions return as NCHW views, else (0, 1, 2, 3)."""
    data = data_of(x)
    if not data.flags.c_contiguous and data.transpose(1, 0, 2, 3).flags.c_contiguous:
        return (1, 0, 2, 3)
    return (0, 1, 2, 3)


def _max_pool2d_ref(
    xp, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    kernel_size, stride, dilation, counts, pads, _ = _pool_geometry(
        "ref", x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode, False
    )
    matrix = _selection(x.shape[2:], kernel_size, dilation, pads, stride)
    outside = np.where(matrix.sum(axis=1) == 0, -np.inf, 0.0)  # taps in the padding
    n, c = x.shape[:2]
    taps = xp.dot(xp.reshape(x, (n * c, -1)), matrix.T) + outside
    taps = xp.reshape(taps, (n, c, kernel_size[0] * kernel_size[1]) + counts)
    return xp.max(taps, axis=2)


@composite(
    Spec(
        [
            Case(((2, 3, 5, 6),), {"kernel_size": 2}),
            Case(((2, 3, 4, 6),), {"kernel_size": 2}),  # side by side: the fast path
            Case(((1, 2, 6, 6),), {"kernel_size": (3, 2), "ceil_mode": True}),
            Case(((1, 2, 7, 6),), {"kernel_size": 3, "stride": 2, "padding": 1}),
            Case(
                ((2, 2, 5, 7),),
                {
                    "kernel_size": (2, 3),
                    "stride": (1, 2),
                    "padding": (1, 1),
                    "dilation": (2, 1),
                    "ceil_mode": True,
                },
            ),
            Case(((1, 1, 5, 5),), {"kernel_size": 2, "ceil_mode": True}),
            Case(((2, 4, 4),), {"kernel_size": 2, "stride": 1}),
        ],  # unbatched, overlapping
        ref=batched_ref(_max_pool2d_ref, 4),
    )
)
def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """2-D max pooling of an NCHW (or CHW) input, as ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``; padding counts as -inf. The gradient goes to
    each window's first maximum alone. With ``return_indices`` it returns
    ``(output, indices)``, the indices (int64) flat into each input plane.
    """
    return _max_pool(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool2d"
    )


def _max_pool1d_ref(
    xp, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    stride = kernel_size if stride is None else stride
    out = _max_pool2d_ref(
        xp,
        x[:, :, None, :],
        _one(kernel_size, "", ""),
        _one(stride, "", ""),
        (0,) + ntuple(padding, 1, "", ""),
        _one(dilation, "", ""),
        ceil_mode,
    )
    return out[:, :, 0, :]


@composite(
    Spec(
        [
            Case(((2, 3, 7),), {"kernel_size": 3, "stride": 2, "padding": 1}),
            Case(((1, 2, 6),), {"kernel_size": 2, "dilation": 2, "ceil_mode": True, "stride": 2}),
            Case(((1, 1, 5),), {"kernel_size": 2}),
            Case(((2, 3, 6),), {"kernel_size": 3}),
        ],  # side by side: the fast path
        ref=batched_ref(_max_pool1d_ref, 3),
    )
)
def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """1-D max pooling of an (N, C, L) or (C, L) input, as ``torch.nn.functional.max_pool1d``."""
    op = "max_pool1d"
    x, shape = _as_1d(op, input)
    stride = _one_stride(stride, op)
    result = _max_pool(
        x,
        _one(kernel_size, op, "kernel_size"),
        stride,
        (0,) + ntuple(padding, 1, op, "padding"),
        _one(dilation, op, "dilation"),
        ceil_mode,
        return_indices,
        op,
    )
    out, index = result if return_indices else (result, None)
    out = reshape(out, shape[:-1] + (np.shape(data_of(out))[-1],))
    if not return_indices:
        return out
    index = data_of(index).reshape(np.shape(data_of(out)))
    return out, Tensor._new(index) if isinstance(out, Tensor) else index


# ----------------------------------------------------------------------- average pooling
def _divisors(size, counts, kernel_size, stride, padding, count_include_pad):
    """PyTorch's divisor of every window: its extent within the padded input (the part
    inside the input alone without ``count_include_pad``), as an (oh * ow,) array."""
    extents = []
    for n, o, k, s, p in zip(size, counts, kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        extents.append(end - start)
    return (extents[0][:, None] * extents[1]).reshape(-1)


def _avg_pool(
    input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, op
):
    x, added, shape = _planes(input, op)
    n, c, height, width = shape
    kernel_size, stride, dilation, counts, pads, padding = _pool_geometry(
        op, shape[2:], kernel_size, stride, padding, 1, ceil_mode, average=True
    )
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0:
            raise ValueError(
                f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}"
            )
        divisor = int(divisor_override)
    else:
        divisors = _divisors(shape[2:], counts, kernel_size, stride, padding, count_include_pad)
        uniform = divisors.size and (divisors == divisors[0]).all()
        divisor = int(divisors[0]) if uniform else divisors.astype(np.result_type(data_of(x)))
    # Every plane (in memory order) as an image of one channel: the windows of each in
    # one column block.
    order = _memory_order(x)
    planes = transpose(x, order)
    cols = _im2col(
        reshape(planes, (n * c, 1, height, width)),
        kernel_size=kernel_size,
        dilation=dilation,
        padding=pads,
        stride=stride,
    )
    out = reshape(_sum(cols, axis=0) / divisor, np.shape(data_of(planes))[:2] + counts)
    return _unbatched(transpose(out, order), added)


def _avg_pool2d_ref(
    xp,
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    kernel_size, stride, dilation, counts, pads, padding = _pool_geometry(
        "ref", x.shape[2:], kernel_size, stride, padding, 1, ceil_mode, True
    )
    matrix = _selection(x.shape[2:], kernel_size, dilation, pads, stride)
    n, c = x.shape[:2]
    taps = xp.reshape(
        xp.dot(xp.reshape(x, (n * c, -1)), matrix.T),
        (n, c, kernel_size[0] * kernel_size[1]) + counts,
    )
    # Divisors counted window by window.
    divisor = np.zeros(counts)
    for oy, ox in np.ndindex(*counts):
        rows = [oy * stride[0] - padding[0] + i for i in range(kernel_size[0])]
        cols = [ox * stride[1] - padding[1] + j for j in range(kernel_size[1])]
        limit = (x.shape[2] + padding[0], x.shape[3] + padding[1])
        if count_include_pad:
            divisor[oy, ox] = sum(r < limit[0] for r in rows) * sum(q < limit[1] for q in cols)
        else:
            divisor[oy, ox] = sum(0 <= r < x.shape[2] for r in rows) * sum(
                0 <= q < x.shape[3] for q in cols
            )
    if divisor_override is not None:
        divisor[...] = divisor_override
    return xp.sum(taps, axis=2) / divisor


@composite(
    Spec(
        [
            Case(((2, 3, 5, 6),), {"kernel_size": 2}),
            Case(
                ((1, 2, 7, 6),),
                {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
            ),
            Case(
                ((2, 2, 5, 7),),
                {"kernel_size": (2, 3), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True},
            ),
            Case(
                ((1, 1, 6, 5),),
                {
                    "kernel_size": 3,
                    "stride": 2,
                    "padding": 1,
                    "ceil_mode": True,
                    "count_include_pad": False,
                },
            ),
            Case(((1, 2, 5, 5),), {"kernel_size": 2, "stride": 1, "divisor_override": 3}),
            Case(((2, 4, 4),), {"kernel_size": 3, "stride": 1, "padding": 1}),
        ],
        ref=batched_ref(_avg_pool2d_ref, 4),
    )
)
def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """2-D average pooling of an NCHW (or CHW) input, as ``torch.nn.functional.avg_pool2d``:
    window sums divided by the window's size (padding included unless
    ``count_include_pad=False``; never the overhang of ``ceil_mode``) or by
    ``divisor_override``."""
    return _avg_pool(
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        "avg_pool2d",
    )


def _avg_pool1d_ref(
    xp, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
):
    stride = kernel_size if stride is None else stride
    out = _avg_pool2d_ref(
        xp,
        x[:, :, None, :],
        _one(kernel_size, "", ""),
        _one(stride, "", ""),
        (0,) + ntuple(padding, 1, "", ""),
        ceil_mode,
        count_include_pad,
    )
    return out[:, :, 0, :]


@composite(
    Spec(
        [
            Case(((2, 3, 7),), {"kernel_size": 3, "stride": 2, "padding": 1}),
            Case(
                ((1, 2, 6),),
                {
                    "kernel_size": 4,
                    "stride": 3,
                    "padding": 2,
                    "ceil_mode": True,
                    "count_include_pad": False,
                },
            ),
            Case(((3, 5),), {"kernel_size": 2}),
        ],
        ref=batched_ref(_avg_pool1d_ref, 3),
    )
)
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling of an (N, C, L) or (C, L) input, as
    ``torch.nn.functional.avg_pool1d``."""
    op = "avg_pool1d"
    x, shape = _as_1d(op, input)
    stride = _one_stride(stride, op)
    out = _avg_pool(
        x,
        _one(kernel_size, op, "kernel_size"),
        stride,
        (0,) + ntuple(padding, 1, op, "padding"),
        ceil_mode,
        count_include_pad,
        None,
        op,
    )
    return reshape(out, shape[:-1] + (np.shape(data_of(out))[-1],))


# ----------------------------------------------------------------------- adaptive
def _adaptive_bounds(size, count):
    """PyTorch's adaptive windows along one axis: [floor(i n / o), ceil((i + 1) n / o))."""
    i = np.arange(count)
    return (i * size) // count, -((-(i + 1) * size) // count)


def _averaging(size, count, dtype):
    """The (count, size) matrix whose rows average the adaptive windows."""
    start, end = _adaptive_bounds(size, count)
    positions = np.arange(size)
    inside = (positions >= start[:, None]) & (positions < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_avg_pool(input, output_size, op):
    x, added, shape = _planes(input, op)
    size = shape[2:]
    items = (
        (output_size,) * 2
        if output_size is None or isinstance(output_size, (int, np.integer))
        else tuple(output_size)
    )
    if len(items) != 2:
        raise TypeError(f"{op}: output_size must be an int, None or a pair, got {output_size!r}")
    counts = tuple(n if o is None else int(o) for n, o in zip(size, items))
    if min(counts) < 1 or min(size) < 1:
        raise ShapeError(f"{op}: output_size {counts} and input of shape {shape} must be positive")
    if all(n % o == 0 for n, o in zip(size, counts)):
        # Equal windows side by side: plain average pooling, PyTorch's exact divisions.
        kernel = tuple(n // o for n, o in zip(size, counts))
        return _unbatched(_avg_pool(x, kernel, kernel, 0, False, True, None, op), added)
    # Unequal (overlapping) windows: averaging matrices on both sides, rows then columns.
    dtype = np.result_type(data_of(x))
    out = matmul(
        matmul(_averaging(size[0], counts[0], dtype), x), _averaging(size[1], counts[1], dtype).T
    )
    return _unbatched(out, added)


def _adaptive_avg_pool2d_ref(xp, x, output_size):
    counts = (
        (output_size,) * 2
        if isinstance(output_size, int)
        else tuple(n if o is None else o for n, o in zip(x.shape[2:], output_size))
    )
    rows = [
        [
            xp.mean(
                x[
                    :,
                    :,
                    (i * x.shape[2]) // counts[0] : -((-(i + 1) * x.shape[2]) // counts[0]),
                    (j * x.shape[3]) // counts[1] : -((-(j + 1) * x.shape[3]) // counts[1]),
                ],
                axis=(2, 3),
            )
            for j in range(counts[1])
        ]
        for i in range(counts[0])
    ]
    return xp.stack([xp.stack(row, axis=-1) for row in rows], axis=-2)


@composite(
    Spec(
        [
            Case(((2, 3, 6, 8),), {"output_size": (3, 4)}),
            Case(((1, 2, 5, 7),), {"output_size": (3, 4)}),
            Case(((2, 2, 5, 7),), {"output_size": (None, 3)}),
            Case(((1, 3, 4, 5),), {"output_size": 1}),
        ],
        ref=batched_ref(_adaptive_avg_pool2d_ref, 4),
    )
)
def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed ``output_size`` (an int, or a pair whose None entries keep
    the input's size), as ``torch.nn.functional.adaptive_avg_pool2d``: window i covers rows
    floor(i H / h_out) up to ceil((i + 1) H / h_out)."""
    return _adaptive_avg_pool(input, output_size, "adaptive_avg_pool2d")


@composite(
    Spec(
        [Case(((2, 3, 7),), {"output_size": 3}), Case(((2, 6),), {"output_size": 2})],
        ref=batched_ref(
            lambda xp, x, output_size: _adaptive_avg_pool2d_ref(
                xp, x[:, :, None, :], (1, output_size)
            )[:, :, 0, :],
            3,
        ),
    )
)
def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) or (C, L) to ``output_size`` windows, as
    ``torch.nn.functional.adaptive_avg_pool1d``."""
    x, shape = _as_1d("adaptive_avg_pool1d", input)
    size = ntuple(output_size, 1, "adaptive_avg_pool1d", "output_size")
    out = _adaptive_avg_pool(x, (1,) + size, "adaptive_avg_pool1d")
    return reshape(out, shape[:-1] + size)
