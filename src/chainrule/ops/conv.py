"""Convolution: im2col and col2im, an adjoint pair, and the convolutions built on them.

``im2col`` copies every receptive field of an NCHW image into a column with NumPy stride
tricks (one strided copy, no Python loop over positions), the columns of all images side
by side: ``cols[k, n, l]`` with k = (channel, kernel row, kernel column) and l the window
(PyTorch's ``unfold`` is its (N, K, L) transpose). ``col2im`` (``fold``) adds columns back
into an image. Each is the other's gradient, so both are differentiable to any order. A
convolution is then im2col and a matrix product (groups are the product's batch axis),
the bias added in place:

    out[o, (n, l)] = sum_k weight[o, k] * cols[k, (n, l)] + bias[o]

Its input gradient, ``weight^T @ g`` then col2im, is the transposed convolution, and the
transposed convolution has the convolution as its input gradient; the weight gradient
``g @ cols^T`` is a product again. These three are primitives, each the others' gradient,
that work a block of images at a time (the block's columns stay in cache for the product
that reads them) and keep no columns for backward: the weight gradient makes them again.
The product leaves the output channel-major in memory, (C_out, N, H, W); the result is its
(N, C_out, H, W) view, not a reordered copy (elementwise ops and pooling keep that layout,
and the next gradient comes back in it). Every window count comes from
:func:`output_size` (pooling uses it too).

>>> import chainrule as cr
>>> x = cr.ones(1, 1, 4, 4)
>>> unfold(x, 3).shape      # 9 values per window, 2 x 2 windows
(1, 9, 4)
>>> conv2d(x, cr.ones(2, 1, 3, 3), padding=1).shape
(1, 2, 4, 4)
"""

import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ShapeError
from .reduce import sum as _sum
from .registry import Case, Spec, composite, data_of, defop
from .shape import reshape, transpose

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "fold", "unfold"]


# ----------------------------------------------------------------------- geometry
def output_size(size, kernel, stride=1, padding=(0, 0), dilation=1, ceil_mode=False):
    """How many windows fit along one axis: PyTorch's formula for convolution and pooling.

    ``padding`` is ``(before, after)``. With ``ceil_mode`` a last, partial window counts,
    unless it would start in the right-hand padding. A negative count means the padded
    axis is shorter than the kernel's (dilated) extent.

    >>> output_size(32, 3, padding=(1, 1)), output_size(5, 2, 2)
    (32, 2)
    >>> output_size(5, 2, 2, ceil_mode=True)
    3
    """
    before, after = padding
    span = size + before + after - dilation * (kernel - 1) - 1
    if span < 0:
        return span
    if not ceil_mode:
        return span // stride + 1
    count = -(-span // stride) + 1
    if (count - 1) * stride >= size + before:
        count -= 1
    return count


def ntuple(value, n, op, name):
    """An int or a sequence of ``n`` ints as a tuple of ``n`` Python ints."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != n or not all(isinstance(v, (int, np.integer)) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


def grid(op, size, kernel_size, dilation, padding, stride, ceil_mode=False, what=None):
    """The number of windows along each spatial axis, or a ShapeError naming ``op``, the
    input's size, its padded size and the kernel's extent."""
    counts = tuple(
        output_size(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip(size, kernel_size, stride, padding, dilation)
    )
    if min(counts, default=1) < 1:
        padded = tuple(n + a + b for n, (a, b) in zip(size, padding))
        extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
        raise ShapeError(
            f"{op}: {what or 'input'} of spatial size {tuple(size)} (padded: "
            f"{padded}) is smaller than the kernel's extent {extent} (kernel "
            f"{tuple(kernel_size)}, dilation {tuple(dilation)})"
        )
    return counts


def _spatial(x):
    return tuple(np.shape(data_of(x))[2:])


def _check_geometry(op, kernel_size, dilation, stride, padding):
    if min(kernel_size) < 1 or min(dilation) < 1 or min(stride) < 1:
        raise ValueError(
            f"{op}: kernel_size, dilation and stride must be positive, got "
            f"kernel_size={kernel_size}, dilation={dilation}, stride={stride}"
        )
    if min(min(pair) for pair in padding) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")


# ----------------------------------------------------------------------- padding
def _pad2(x, padding, fill=0):
    """x with its last two axes padded by ``((top, bottom), (left, right))``; a negative
    amount crops instead (the transposed convolution's output_padding needs it)."""
    if not any(itertools.chain(*padding)):
        return x
    (top, bottom), (left, right) = padding
    height, width = x.shape[-2:]
    # full_like keeps x's memory order (a channel-major input stays channel-major).
    out = np.full_like(x, fill, shape=x.shape[:-2] + (height + top + bottom, width + left + right))
    out[
        ...,
        max(top, 0) : max(top, 0) + height - max(-top, 0) - max(-bottom, 0),
        max(left, 0) : max(left, 0) + width - max(-left, 0) - max(-right, 0),
    ] = x[..., max(-top, 0) : height - max(-bottom, 0), max(-left, 0) : width - max(-right, 0)]
    return out


def _unpad2(x, padding, size):
    """The adjoint of :func:`_pad2`: the ``size`` region inside the padding."""
    if not any(itertools.chain(*padding)):
        return x
    (top, bottom), (left, right) = padding
    if min(top, bottom, left, right) >= 0:
        return x[..., top : top + size[0], left : left + size[1]]
    return _pad2(x, ((-top, -bottom), (-left, -right)))


def _windows(x, kernel_size, dilation, stride, counts):
    """A read-only strided view (N, C, kh, kw, oh, ow) of every window of x (padded)."""
    n, c = x.shape[:2]
    sn, sc, sy, sx = x.strides
    (kh, kw), (dh, dw), (sh, sw) = kernel_size, dilation, stride
    return as_strided(
        x,
        (n, c, kh, kw) + tuple(counts),
        (sn, sc, sy * dh, sx * dw, sy * sh, sx * sw),
        writeable=False,
    )


def _disjoint(kernel_size, dilation, stride):
    """True when no two (window, tap) pairs read the same element (pooling 2x2, stride 2)."""
    return all(s >= d * (k - 1) + 1 for k, d, s in zip(kernel_size, dilation, stride))


# ----------------------------------------------------------------------- im2col / col2im
def _selection(size, kernel_size, dilation, padding, stride):
    """The 0/1 matrix taking an image of ``size`` (one channel) to its columns, built one
    window at a time: an independent reference for the stride tricks the ops use."""
    counts = grid("selection", size, kernel_size, dilation, padding, stride)
    (kh, kw), (dh, dw), (sh, sw) = kernel_size, dilation, stride
    matrix = np.zeros((kh * kw * counts[0] * counts[1], size[0] * size[1]))
    positions = itertools.product(range(kh), range(kw), *map(range, counts))
    for row, (i, j, oy, ox) in enumerate(positions):
        y, x = oy * sh - padding[0][0] + i * dh, ox * sw - padding[1][0] + j * dw
        if 0 <= y < size[0] and 0 <= x < size[1]:
            matrix[row, y * size[1] + x] = 1.0
    return matrix


def _im2col_ref(xp, x, kernel_size, dilation, padding, stride):
    n, c, h, w = x.shape
    matrix = _selection((h, w), kernel_size, dilation, padding, stride)
    cols = xp.dot(xp.reshape(x, (n * c, h * w)), matrix.T)
    kernel = kernel_size[0] * kernel_size[1]
    return xp.reshape(cols, (n, c * kernel, matrix.shape[0] // kernel))


def _col2im_ref(xp, cols, output_size, kernel_size, dilation, padding, stride):
    n, k, _ = cols.shape
    matrix = _selection(output_size, kernel_size, dilation, padding, stride)
    c = k // (kernel_size[0] * kernel_size[1])
    image = xp.dot(xp.reshape(cols, (n * c, matrix.shape[0])), matrix)
    return xp.reshape(image, (n, c) + tuple(output_size))


_GEOMETRIES = [  # (kernel_size, dilation, padding, stride) for the im2col/col2im cases
    ((2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    ((3, 2), (1, 2), ((1, 1), (0, 2)), (2, 1)),
    ((2, 2), (1, 1), ((0, 1), (0, 1)), (2, 2)),  # disjoint windows (the pooling case)
    ((3, 3), (2, 1), ((2, 1), (1, -1)), (1, 2)),  # a negative pad crops (output_padding)
]


def _geometry_params(kernel_size, dilation, padding, stride):
    return {"kernel_size": kernel_size, "dilation": dilation, "padding": padding, "stride": stride}


def _columns_ref(xp, x, **geometry):
    return xp.transpose(_im2col_ref(xp, x, **geometry), (1, 0, 2))


@defop(
    lambda g, out, x, **geometry: _col2im(g, output_size=_spatial(x), **geometry),
    name="im2col",
    spec=Spec(
        [Case(((2, 3, 5, 6),), _geometry_params(*geometry)) for geometry in _GEOMETRIES]
        + [
            Case(((1, 1, 3, 3),), _geometry_params(*_GEOMETRIES[0])),
            Case(((0, 2, 4, 4),), _geometry_params(*_GEOMETRIES[0])),
        ],
        ref=_columns_ref,
    ),
)
def _im2col(x, kernel_size, dilation, padding, stride):
    """Every window of the NCHW image x as a column, the images side by side:
    (C * kh * kw, N, windows), channels outermost, so that one matrix product serves the
    whole batch (unfold is its transpose). ``padding`` is ``((top, bottom), (left, right))``.
    """
    n, c, height, width = x.shape
    (kh, kw) = kernel_size
    counts = grid("im2col", (height, width), kernel_size, dilation, padding, stride)
    out = np.empty((c, kh, kw, n) + counts, dtype=x.dtype)
    windows = _windows(_pad2(x, padding), kernel_size, dilation, stride, counts)
    np.copyto(out, windows.transpose(1, 2, 3, 0, 4, 5))  # the one copy
    return out.reshape(c * kh * kw, n, counts[0] * counts[1])


def _col2im_cases():
    cases = []
    for geometry in _GEOMETRIES:
        params = _geometry_params(*geometry)
        params["output_size"] = (5, 6)
        (kh, kw), dilation, padding, stride = geometry
        counts = grid("col2im", (5, 6), (kh, kw), dilation, padding, stride)
        cases.append(Case(((2 * kh * kw, 2, counts[0] * counts[1]),), params))
    return cases


def _image_ref(xp, cols, **geometry):
    return _col2im_ref(xp, xp.transpose(cols, (1, 0, 2)), **geometry)


@defop(
    lambda g, out, cols, output_size, **geometry: _im2col(g, **geometry),
    name="col2im",
    spec=Spec(_col2im_cases(), ref=_image_ref),
)
def _col2im(cols, output_size, kernel_size, dilation, padding, stride):
    """Columns (C * kh * kw, N, windows) added back into an (N, C, *output_size) image,
    overlapping windows summed (the adjoint of im2col; fold is it on unfold's layout).

    The image is built channel-major, (C, N, H, W) in memory, and returned as its
    (N, C, H, W) view: no copy to reorder it.
    """
    (kh, kw) = kernel_size
    rows, n, _ = cols.shape
    c = rows // (kh * kw)
    counts = grid("col2im", output_size, kernel_size, dilation, padding, stride)
    image = _padded_zeros((c, n) + tuple(output_size), padding, cols.dtype)
    _add_columns(image, cols.reshape((c, kh, kw, n) + counts), dilation, stride)
    return _unpad2(image, padding, output_size).transpose(1, 0, 2, 3)


def _padded_zeros(shape, padding, dtype):
    """Zeros of ``shape`` (.., H, W) with ``padding`` added around the last two axes."""
    (top, bottom), (left, right) = padding
    return np.zeros(shape[:-2] + (shape[-2] + top + bottom, shape[-1] + left + right), dtype)


def _add_columns(image, blocks, dilation, stride):
    """Add the columns ``blocks`` (C, kh, kw, N, oh, ow) into the padded ``image``
    (C, N, H, W) where im2col took them from (col2im)."""
    (kh, kw), (dh, dw), (sh, sw), (oh, ow) = blocks.shape[1:3], dilation, stride, blocks.shape[-2:]
    if _disjoint((kh, kw), dilation, stride):
        # Every element is written at most once: one strided assignment.
        sc, sn, sy, sx = image.strides
        as_strided(image, blocks.shape, (sc, sy * dh, sx * dw, sn, sy * sh, sx * sw))[...] = blocks
        return
    # One strided add per kernel tap (kh * kw of them), never one per position.
    for i, j in itertools.product(range(kh), range(kw)):
        image[
            :,
            :,
            i * dh : i * dh + sh * (oh - 1) + 1 : sh,
            j * dw : j * dw + sw * (ow - 1) + 1 : sw,
        ] += blocks[:, i, j]


# ----------------------------------------------------------------------- unfold / fold
def _pads(padding, n, op):
    return tuple((p, p) for p in ntuple(padding, n, op, "padding"))


def _batched(x, ndim, op, what):
    """x with a batch axis (PyTorch's unbatched inputs), and whether one was added."""
    shape = np.shape(data_of(x))
    if len(shape) == ndim - 1:
        return reshape(x, (1,) + shape), True
    if len(shape) != ndim:
        raise ShapeError(
            f"{op}: expected a {ndim - 1}-d (unbatched) or {ndim}-d (batched) "
            f"{what}, got {what} of shape {shape}"
        )
    return x, False


def batched_ref(ref, ndim):
    """A reference formula for batched inputs that also takes unbatched ones."""

    def run(xp, x, *rest, **params):
        if x.ndim == ndim:
            return ref(xp, x, *rest, **params)
        return ref(xp, x[None], *rest, **params)[0]

    return run


def _unbatched(out, added):
    return reshape(out, np.shape(data_of(out))[1:]) if added else out


def _unfold_ref(xp, x, kernel_size, dilation=1, padding=0, stride=1):
    pairs = (
        ((padding, padding),) * 2 if isinstance(padding, int) else tuple((p, p) for p in padding)
    )
    k, d, s = (ntuple(v, 2, "unfold", "") for v in (kernel_size, dilation, stride))
    return _im2col_ref(xp, x, k, d, pairs, s)


@composite(
    Spec(
        [
            Case(((2, 3, 5, 6),), {"kernel_size": (2, 3)}),
            Case(((1, 2, 5, 5),), {"kernel_size": 3, "dilation": 2, "padding": 1, "stride": 2}),
            Case(((1, 2, 4, 5),), {"kernel_size": (2, 2), "stride": (2, 1), "padding": (1, 0)}),
            Case(((2, 3, 4),), {"kernel_size": 2}),
        ],  # unbatched
        ref=batched_ref(_unfold_ref, 4),
    )
)
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of a batched image (N, C, H, W) as columns (N, C * kh * kw, L)
    (im2col), as ``torch.nn.functional.unfold``; (C, H, W) gives (C * kh * kw, L)."""
    x, added = _batched(input, 4, "unfold", "input")
    geometry = _geometry("unfold", kernel_size, dilation, padding, stride)
    grid("unfold", _spatial(x), **geometry)  # an error here names unfold
    return _unbatched(transpose(_im2col(x, **geometry), (1, 0, 2)), added)


def _geometry(op, kernel_size, dilation, padding, stride, n=2):
    geometry = {
        "kernel_size": ntuple(kernel_size, n, op, "kernel_size"),
        "dilation": ntuple(dilation, n, op, "dilation"),
        "padding": _pads(padding, n, op),
        "stride": ntuple(stride, n, op, "stride"),
    }
    _check_geometry(op, **geometry)
    return geometry


def _fold_ref(xp, cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    pairs = (
        ((padding, padding),) * 2 if isinstance(padding, int) else tuple((p, p) for p in padding)
    )
    k, d, s = (ntuple(v, 2, "fold", "") for v in (kernel_size, dilation, stride))
    return _col2im_ref(xp, cols, ntuple(output_size, 2, "fold", ""), k, d, pairs, s)


@composite(
    Spec(
        [
            Case(((2, 6, 12),), {"output_size": (4, 4), "kernel_size": (2, 1)}),
            Case(
                ((1, 18, 9),),
                {"output_size": (5, 5), "kernel_size": 3, "dilation": 1, "padding": 1, "stride": 2},
            ),
            Case(
                ((1, 8, 6),),
                {"output_size": (4, 3), "kernel_size": (2, 2), "stride": (2, 1), "padding": (1, 0)},
            ),
            Case(((8, 6),), {"output_size": (3, 4), "kernel_size": 2}),
        ],  # unbatched
        ref=batched_ref(_fold_ref, 3),
    )
)
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns (N, C * kh * kw, L) summed back into an image (N, C, *output_size)
    (col2im), as ``torch.nn.functional.fold``; (C * kh * kw, L) gives (C, *output_size)."""
    cols, added = _batched(input, 3, "fold", "input")
    geometry = _geometry("fold", kernel_size, dilation, padding, stride)
    output_size = ntuple(output_size, 2, "fold", "output_size")
    _, rows, count = np.shape(data_of(cols))
    (kh, kw) = geometry["kernel_size"]
    if rows % (kh * kw):
        raise ShapeError(
            f"fold: input of shape {np.shape(data_of(input))} has {rows} rows, "
            f"not a multiple of the kernel's {kh} * {kw} = {kh * kw} elements"
        )
    counts = grid("fold", output_size, what="output", **geometry)
    if count != counts[0] * counts[1]:
        raise ShapeError(
            f"fold: input of shape {np.shape(data_of(input))} has {count} "
            f"blocks, but output_size {output_size} holds {counts[0]} x "
            f"{counts[1]} = {counts[0] * counts[1]} blocks of kernel "
            f"{geometry['kernel_size']}"
        )
    cols = transpose(cols, (1, 0, 2))
    return _unbatched(_col2im(cols, output_size=output_size, **geometry), added)


# ----------------------------------------------------------------------- convolution
def _conv_padding(op, padding, kernel_size, dilation, stride, n):
    """Padding ``((before, after), ...)`` from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ValueError(
                f"{op}: padding must be 'valid', 'same', an int or a tuple, got {padding!r}"
            )
        if any(s != 1 for s in stride):
            raise ValueError(
                f"{op}: padding='same' is not supported for strided convolutions (stride {stride})"
            )
        # PyTorch puts the odd element of the total padding after (bottom, right).
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return _pads(padding, n, op)


def _check_conv(op, x_shape, w_shape, bias, groups, transposed):
    """Channel counts of input, weight and bias, checked; returns (in, out) channels."""
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if len(w_shape) != len(x_shape):
        raise ShapeError(
            f"{op}: weight of shape {w_shape} must have {len(x_shape)} "
            f"dimensions for input of shape {x_shape}"
        )
    channels = x_shape[1]
    if transposed:
        expected, out_channels = w_shape[0], w_shape[1] * groups
        if w_shape[0] % groups:
            raise ShapeError(
                f"{op}: weight of shape {w_shape} has {w_shape[0]} input "
                f"channels, not divisible by groups={groups}"
            )
    else:
        expected, out_channels = w_shape[1] * groups, w_shape[0]
        if w_shape[0] % groups:
            raise ShapeError(
                f"{op}: weight of shape {w_shape} has {w_shape[0]} output "
                f"channels, not divisible by groups={groups}"
            )
    if channels != expected:
        raise ShapeError(
            f"{op}: input of shape {x_shape} has {channels} channels, but weight "
            f"of shape {w_shape} with groups={groups} expects {expected}"
        )
    if bias is not None and np.shape(data_of(bias)) != (out_channels,):
        raise ShapeError(
            f"{op}: bias of shape {np.shape(data_of(bias))} must have shape "
            f"({out_channels},) for weight of shape {w_shape}"
        )
    return channels, out_channels


# ----------------------------------------------------------------------- the primitives
# NOTE: the convolution, its transpose and its weight gradient are primitives, for memory
# and speed. Each runs im2col (or col2im) on a block of images at a time, about
# _BLOCK_BYTES of columns that stay in cache for the matrix product reading them, and
# none keeps columns for backward: the convolution saves its input and weight only, and
# its weight gradient makes the columns again, block by block. Each is the others'
# gradient (DeZero's conv2d, deconv2d and conv2d_grad_w), so all orders come free.
_BLOCK_BYTES = 1 << 19


def _image_blocks(n, per_image):
    """(start, stop) of blocks of the n images, each about ``_BLOCK_BYTES`` at
    ``per_image`` bytes an image, at least one image."""
    step = max(1, _BLOCK_BYTES // max(per_image, 1))
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def _channel_rows(a, start, stop):
    """Images ``start:stop`` of the NCHW array ``a`` as rows (C, images * H * W): a view
    when ``a`` is channel-major in memory (as convolutions return it), else a copy."""
    return a[start:stop].transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def _column_blocks(x, kernel_size, dilation, padding, stride, counts, dtype):
    """im2col of x a block of images at a time: (start, stop, columns (C * kh * kw,
    images * windows)) in ``dtype``."""
    c = x.shape[1]
    rows = c * kernel_size[0] * kernel_size[1]
    # One padded copy and one strided view of every window; each block copies its part.
    windows = _windows(_pad2(x, padding), kernel_size, dilation, stride, counts)
    per_image = rows * counts[0] * counts[1] * dtype.itemsize
    for start, stop in _image_blocks(x.shape[0], per_image):
        cols = np.empty((c,) + tuple(kernel_size) + (stop - start,) + tuple(counts), dtype)
        np.copyto(cols, windows[start:stop].transpose(1, 2, 3, 0, 4, 5))
        yield start, stop, cols.reshape(rows, -1)


def _by_group(a, groups):
    """(G * a, b) rows as (G, a, b): one matrix per group (a view)."""
    return a.reshape((groups, a.shape[0] // groups) + a.shape[1:])


def _convolution_vjp(i, g, out, inputs, dilation, padding, stride, groups):
    x, weight = inputs[:2]
    geometry = {"dilation": dilation, "padding": padding, "stride": stride, "groups": groups}
    if i == 0:
        return _convolution_transpose(g, weight, size=_spatial(x), **geometry)
    if i == 1:
        kernel_size = np.shape(data_of(weight))[2:]
        return _convolution_weight(x, g, kernel_size=kernel_size, **geometry)
    return _sum(g, axis=(0, 2, 3))


def _convolution_ref(xp, x, weight, *bias, dilation, padding, stride, groups):
    k = weight.shape[2:]
    n, o = x.shape[0], weight.shape[0]
    cols = _im2col_ref(xp, x, k, dilation, padding, stride)
    cols = xp.reshape(cols, (n, groups, cols.shape[1] // groups, cols.shape[-1]))
    w = xp.reshape(weight, (groups, o // groups, -1))
    counts = grid("", x.shape[2:], k, dilation, padding, stride)
    out = xp.reshape(xp.einsum("gok,ngkl->ngol", w, cols), (n, o) + counts)
    return out + xp.reshape(bias[0], (-1, 1, 1)) if bias else out


# (x, weight) shapes of a convolution and its geometry, for the three primitives' cases.
_PRIMITIVE_CASES = [
    ((2, 3, 5, 6), (4, 3, 3, 3), ((1, 1), (1, 1)), (1, 1), (1, 1), 1),
    ((1, 4, 7, 6), (6, 2, 2, 3), ((1, 0), (2, 1)), (2, 1), (2, 1), 2),
    ((2, 2, 5, 6), (2, 2, 3, 3), ((1, 0), (1, -1)), (2, 2), (1, 1), 1),  # a crop after
    ((0, 2, 4, 4), (3, 2, 2, 2), ((0, 0), (0, 0)), (1, 1), (1, 1), 1),  # no images
]


def _primitive_cases(op):
    """The cases of ``op`` ('convolution', 'transpose' or 'weight') for every geometry of
    _PRIMITIVE_CASES; the convolution and its transpose with a bias where the batch is
    not 1."""
    cases = []
    for x, w, padding, stride, dilation, groups in _PRIMITIVE_CASES:
        y = (x[0], w[0]) + grid("", x[2:], w[2:], dilation, padding, stride)
        params = {"dilation": dilation, "padding": padding, "stride": stride, "groups": groups}
        if op == "convolution":
            shapes = (x, w) + (((w[0],),) if x[0] != 1 else ())
        elif op == "transpose":
            shapes = (y, w) + (((x[1],),) if x[0] != 1 else ())
            params["size"] = x[2:]
        else:
            shapes = (x, y)
            params["kernel_size"] = w[2:]
        cases.append(Case(shapes, params))
    return cases


@defop(
    variadic=_convolution_vjp,
    name="convolution",
    spec=Spec(_primitive_cases("convolution"), ref=_convolution_ref),
)
def _convolution(x, weight, *bias, dilation, padding, stride, groups):
    """The convolution of the NCHW images x with ``weight`` (C_out, C_in / G, kh, kw)
    (plus ``bias`` per output channel, when given), ``padding`` as
    ``((top, bottom), (left, right))``: im2col and one product per block of images.

    The result is built channel-major, (C_out, N, H, W) in memory, and returned as its
    (N, C_out, H, W) view: every block's product is written where it belongs.
    """
    n = x.shape[0]
    channels, kernel_size = weight.shape[0], weight.shape[2:]
    counts = grid("convolution", x.shape[2:], kernel_size, dilation, padding, stride)
    dtype = np.result_type(x, weight, *bias)
    windows = counts[0] * counts[1]
    out = np.empty((channels, n * windows), dtype)
    w = _by_group(weight.reshape(channels, -1).astype(dtype, copy=False), groups)
    shift = _by_group(bias[0].astype(dtype, copy=False)[:, None], groups) if bias else None
    grouped_out = _by_group(out, groups)
    for start, stop, cols in _column_blocks(
        x, kernel_size, dilation, padding, stride, counts, dtype
    ):
        block = grouped_out[:, :, start * windows : stop * windows]  # a view: written in place
        np.matmul(w, _by_group(cols, groups), out=block)
        if shift is not None:
            block += shift  # while the block is in cache
    return out.reshape((channels, n) + counts).transpose(1, 0, 2, 3)


def _convolution_transpose_vjp(i, g, out, inputs, size, dilation, padding, stride, groups):
    y, weight = inputs[:2]
    geometry = {"dilation": dilation, "padding": padding, "stride": stride, "groups": groups}
    if i == 0:
        return _convolution(g, weight, **geometry)
    if i == 1:
        kernel_size = np.shape(data_of(weight))[2:]
        return _convolution_weight(g, y, kernel_size=kernel_size, **geometry)
    return _sum(g, axis=(0, 2, 3))


def _convolution_transpose_ref(xp, y, weight, *bias, size, dilation, padding, stride, groups):
    n, o = y.shape[:2]
    w = xp.reshape(weight, (groups, o // groups, -1))
    windows = y.shape[2] * y.shape[3]
    cols = xp.einsum("gok,ngol->ngkl", w, xp.reshape(y, (n, groups, o // groups, windows)))
    k = weight.shape[2:]
    out = _col2im_ref(
        xp,
        xp.reshape(cols, (n, weight.size // o * groups, windows)),
        size,
        k,
        dilation,
        padding,
        stride,
    )
    return out + xp.reshape(bias[0], (-1, 1, 1)) if bias else out


@defop(
    variadic=_convolution_transpose_vjp,
    name="convolution_transpose",
    spec=Spec(_primitive_cases("transpose"), ref=_convolution_transpose_ref),
)
def _convolution_transpose(y, weight, *bias, size, dilation, padding, stride, groups):
    """The adjoint of :func:`_convolution` with ``weight``, for an input of spatial
    ``size``: y (N, C_out, oh, ow) to (N, C_in, *size), the product ``weight^T @ y`` then
    col2im per block of images (plus ``bias`` per channel, when given). Channel-major in
    memory, as the convolution's result.
    """
    n, channels = y.shape[:2]
    kernel_size = weight.shape[2:]
    c = weight.shape[1] * groups
    counts = grid("convolution_transpose", size, kernel_size, dilation, padding, stride)
    dtype = np.result_type(y, weight, *bias)
    image = np.empty((c, n) + tuple(size), dtype)
    # weight^T per group: (G, C_in / G * kh * kw, C_out / G).
    w = _by_group(weight.reshape(channels, -1).astype(dtype, copy=False), groups)
    w = w.transpose(0, 2, 1)
    # With stride 1, col2im's additions take most of the time unless the product's inner
    # dimension (C_out / G) outweighs its rows (C_in / G * kh * kw): then the columns of
    # one kernel row at a time, in blocks of kh times more images, pay.
    kernel_rows = 1 if stride == (1, 1) and channels <= w.shape[1] * groups else kernel_size[0]
    made = c * kernel_rows * kernel_size[1]  # rows of columns at a time
    for start, stop in _image_blocks(n, made * counts[0] * counts[1] * dtype.itemsize):
        target = image[:, start:stop]
        if stride == (1, 1):
            _transpose_rows(target, w, y[start:stop], kernel_size, dilation, padding, kernel_rows)
        else:
            product = np.matmul(w, _by_group(_channel_rows(y, start, stop), groups))
            blocks = product.reshape((c,) + tuple(kernel_size) + (stop - start,) + counts)
            padded = _padded_zeros(target.shape, padding, dtype)
            _add_columns(padded, blocks, dilation, stride)
            target[...] = _unpad2(padded, padding, size)
        if bias:
            target += bias[0].reshape(-1, 1, 1, 1)
    return image.transpose(1, 0, 2, 3)


def _transpose_rows(target, w, y, kernel_size, dilation, padding, kernel_rows):
    """col2im(w @ y) into ``target`` (C_in, N, H, W) for stride 1, where a window's rows
    follow each other in the padded image: y's rows are widened to the padded width
    (zeros after each), so that every kernel tap adds one run of oh * width elements per
    image and channel, not oh runs of ow (short rows are most of col2im's time). The
    product makes the columns of ``kernel_rows`` kernel rows at a time."""
    (kh, kw), (dh, dw) = kernel_size, dilation
    c, n = target.shape[:2]
    channels, (oh, ow) = y.shape[1], y.shape[2:]
    (top, bottom), (left, right) = padding
    height, width = target.shape[2] + top + bottom, target.shape[3] + left + right
    wide = np.zeros((channels, n, oh, width), target.dtype)
    wide[..., :ow] = y.transpose(1, 0, 2, 3)
    groups = w.shape[0]
    wide = _by_group(wide.reshape(channels, -1), groups)
    # w's rows are (channel, kernel row, kernel column) in each group.
    by_row = w.reshape((groups, c // groups) + tuple(kernel_size) + (w.shape[-1],))
    # The last taps' runs end (kw - 1) * dw elements past the last row: zeros there.
    planes = np.zeros((c, n, height * width + (kw - 1) * dw), target.dtype)
    for first in range(0, kh, kernel_rows):
        rows = by_row[:, :, first : first + kernel_rows].reshape(groups, -1, w.shape[-1])
        cols = np.matmul(rows, wide).reshape(c, kernel_rows, kw, n, oh * width)
        for i, j in itertools.product(range(kernel_rows), range(kw)):
            offset = (first + i) * dh * width + j * dw
            planes[:, :, offset : offset + oh * width] += cols[:, i, j]
    padded = planes[:, :, : height * width].reshape(c, n, height, width)
    target[...] = _unpad2(padded, padding, target.shape[2:])


def _convolution_weight_vjp(i, g, out, inputs, kernel_size, dilation, padding, stride, groups):
    x, y = inputs
    geometry = {"dilation": dilation, "padding": padding, "stride": stride, "groups": groups}
    if i == 0:
        return _convolution_transpose(y, g, size=_spatial(x), **geometry)
    return _convolution(x, g, **geometry)


def _convolution_weight_ref(xp, x, y, kernel_size, dilation, padding, stride, groups):
    n, o = y.shape[:2]
    cols = _im2col_ref(xp, x, kernel_size, dilation, padding, stride)
    cols = xp.reshape(cols, (n, groups, cols.shape[1] // groups, cols.shape[-1]))
    rows = xp.reshape(y, (n, groups, o // groups, cols.shape[-1]))
    w = xp.einsum("ngol,ngkl->gok", rows, cols)
    return xp.reshape(w, (o, x.shape[1] // groups) + tuple(kernel_size))


@defop(
    variadic=_convolution_weight_vjp,
    name="convolution_weight",
    spec=Spec(_primitive_cases("weight"), ref=_convolution_weight_ref),
)
def _convolution_weight(x, y, kernel_size, dilation, padding, stride, groups):
    """The gradient of :func:`_convolution` for its weight: the upstream gradient y
    (N, C_out, oh, ow) times x's columns, ``y @ cols^T`` (C_out, C_in / G, *kernel_size),
    the columns made a block of images at a time and never all at once.
    """
    channels = y.shape[1]
    c = x.shape[1]
    dtype = np.result_type(x, y)
    total = np.zeros(
        (groups, c // groups * kernel_size[0] * kernel_size[1], channels // groups), dtype
    )
    for start, stop, cols in _column_blocks(
        x, kernel_size, dilation, padding, stride, y.shape[2:], dtype
    ):
        rows = _by_group(_channel_rows(y, start, stop), groups)
        # cols @ rows^T, not rows @ cols^T: BLAS runs this order faster (the long inner
        # dimension is contiguous in both), and the sum comes out transposed.
        total += np.matmul(_by_group(cols, groups), rows.transpose(0, 2, 1))
    return total.transpose(0, 2, 1).reshape((channels, c // groups) + tuple(kernel_size))


# ----------------------------------------------------------------------- convolution
def _conv2d_ref(xp, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    s, d = ntuple(stride, 2, "", ""), ntuple(dilation, 2, "", "")
    pads = _conv_padding("", padding, weight.shape[2:], d, s, 2)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return _convolution_ref(xp, *inputs, dilation=d, padding=pads, stride=s, groups=groups)


_CONV2D_CASES = [
    Case(((2, 3, 5, 6), (4, 3, 3, 3), (4,))),
    Case(((1, 2, 7, 6), (3, 2, 3, 2), (3,)), {"stride": 2, "padding": 1}),
    Case(
        ((2, 4, 5, 5), (6, 2, 2, 3), (6,)),
        {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2},
    ),
    Case(((1, 2, 6, 5), (2, 2, 3, 3)), {"dilation": 2, "padding": "same"}),
    Case(((1, 3, 5, 4), (3, 1, 2, 2), (3,)), {"padding": "same", "groups": 3}),
    Case(((2, 2, 4, 4), (2, 2, 1, 1), (2,)), {"padding": "valid", "stride": 3}),
    Case(((2, 5, 5), (3, 2, 3, 3), (3,)), {"padding": 1}),  # unbatched
]


@composite(Spec(_CONV2D_CASES, ref=batched_ref(_conv2d_ref, 4)))
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch) of NCHW ``input`` with ``weight``
    (out_channels, in_channels / groups, kh, kw): im2col and one matrix product.

    ``padding`` is an int, a pair, 'valid' (none) or 'same' (stride 1; an odd total puts
    the extra row and column after). A (C, H, W) input gives a (C_out, H_out, W_out) result.
    """
    x, added = _batched(input, 4, "conv2d", "input")
    out = _conv(x, weight, bias, stride, padding, dilation, groups, "conv2d")
    return _unbatched(out, added)


def _conv(x, weight, bias, stride, padding, dilation, groups, op):
    x_shape, w_shape = np.shape(data_of(x)), np.shape(data_of(weight))
    _check_conv(op, x_shape, w_shape, bias, groups, transposed=False)
    kernel_size = w_shape[2:]
    stride = ntuple(stride, 2, op, "stride")
    dilation = ntuple(dilation, 2, op, "dilation")
    padding = _conv_padding(op, padding, kernel_size, dilation, stride, 2)
    _check_geometry(op, kernel_size, dilation, stride, padding)
    grid(op, x_shape[2:], kernel_size, dilation, padding, stride)  # an error here names op
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return _convolution(*inputs, dilation=dilation, padding=padding, stride=stride, groups=groups)


def _to_2d(op, x, weight, stride, padding, dilation, output_padding=None):
    """A 1-D convolution's arguments as a 2-D one's over a height-1 image."""
    x, added = _batched(x, 3, op, "input")
    x_shape, w_shape = np.shape(data_of(x)), np.shape(data_of(weight))
    if len(w_shape) != 3:
        raise ShapeError(
            f"{op}: weight of shape {w_shape} must have 3 dimensions for input of shape {x_shape}"
        )
    x = reshape(x, x_shape[:2] + (1,) + x_shape[2:])
    weight = reshape(weight, w_shape[:2] + (1,) + w_shape[2:])
    if not isinstance(padding, str):
        padding = (0,) + ntuple(padding, 1, op, "padding")
    args = [
        x,
        weight,
        (1,) + ntuple(stride, 1, op, "stride"),
        padding,
        (1,) + ntuple(dilation, 1, op, "dilation"),
    ]
    if output_padding is not None:
        args.append((0,) + ntuple(output_padding, 1, op, "output_padding"))
    return args, added


def _from_2d(out, added):
    shape = np.shape(data_of(out))
    return _unbatched(reshape(out, shape[:2] + shape[3:]), added)


def _conv1d_ref(xp, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    padding = padding if isinstance(padding, str) else (0, ntuple(padding, 1, "", "")[0])
    out = _conv2d_ref(
        xp,
        x[:, :, None, :],
        weight[:, :, None, :],
        bias,
        (1, ntuple(stride, 1, "", "")[0]),
        padding,
        (1, ntuple(dilation, 1, "", "")[0]),
        groups,
    )
    return out[:, :, 0, :]


@composite(
    Spec(
        [
            Case(((2, 3, 7), (4, 3, 3), (4,))),
            Case(
                ((1, 4, 9), (4, 2, 2), (4,)),
                {"stride": 2, "padding": 1, "dilation": 3, "groups": 2},
            ),
            Case(((2, 2, 6), (3, 2, 4)), {"padding": "same", "dilation": 1}),
            Case(((1, 1, 5), (2, 1, 5), (2,)), {"padding": "valid"}),
        ],
        ref=_conv1d_ref,
    )
)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of (N, C, L) ``input`` with ``weight`` (out, in / groups, k), as
    ``torch.nn.functional.conv1d`` (a height-1 :func:`conv2d`)."""
    args, added = _to_2d("conv1d", input, weight, stride, padding, dilation)
    x, weight, stride, padding, dilation = args
    return _from_2d(_conv(x, weight, bias, stride, padding, dilation, groups, "conv1d"), added)


def transposed_size(size, kernel, stride, padding, output_padding, dilation):
    """The output length of a transposed convolution (the input length of the convolution
    it transposes): (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1 +
    output_padding."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1 + output_padding


def _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, op):
    x_shape, w_shape = np.shape(data_of(x)), np.shape(data_of(weight))
    _check_conv(op, x_shape, w_shape, bias, groups, transposed=True)
    kernel_size = w_shape[2:]
    stride = ntuple(stride, 2, op, "stride")
    dilation = ntuple(dilation, 2, op, "dilation")
    padding = ntuple(padding, 2, op, "padding")
    output_padding = ntuple(output_padding, 2, op, "output_padding")
    _check_geometry(op, kernel_size, dilation, stride, _pads(padding, 2, op))
    for p, s, d in zip(output_padding, stride, dilation):
        if not 0 <= p < max(s, d):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be non-negative "
                f"and smaller than stride {stride} or dilation {dilation}"
            )
    size = tuple(
        transposed_size(*args)
        for args in zip(x_shape[2:], kernel_size, stride, padding, output_padding, dilation)
    )
    if min(size) < 1:
        raise ShapeError(
            f"{op}: input of shape {x_shape} with weight of shape {w_shape} "
            f"gives an empty output of spatial size {size}"
        )
    # The output padding shortens the crop after (bottom, right): the extra rows are the
    # ones a stride-s convolution of a larger image would also have skipped.
    pads = tuple((p, p - q) for p, q in zip(padding, output_padding))
    # weight (C_in, C_out / G, kh, kw) is the weight of the convolution this transposes.
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return _convolution_transpose(
        *inputs, size=size, dilation=dilation, padding=pads, stride=stride, groups=groups
    )


def _conv_transpose2d_ref(
    xp, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    s, p, q, d = (ntuple(v, 2, "", "") for v in (stride, padding, output_padding, dilation))
    size = tuple(map(transposed_size, x.shape[2:], weight.shape[2:], s, p, q, d))
    pads = tuple((a, a - b) for a, b in zip(p, q))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return _convolution_transpose_ref(
        xp, *inputs, size=size, dilation=d, padding=pads, stride=s, groups=groups
    )


@composite(
    Spec(
        [
            Case(((2, 3, 3, 4), (3, 2, 3, 3), (2,))),
            Case(
                ((1, 2, 3, 3), (2, 3, 3, 2), (3,)), {"stride": 2, "padding": 1, "output_padding": 1}
            ),
            Case(
                ((1, 4, 3, 2), (4, 1, 2, 3), (2,)),
                {
                    "stride": (1, 2),
                    "padding": (0, 1),
                    "output_padding": (1, 0),
                    "groups": 2,
                    "dilation": (2, 1),
                },
            ),
            Case(((2, 3, 2), (2, 2, 2, 2)), {"stride": 3}),  # unbatched, gaps
        ],
        ref=batched_ref(_conv_transpose2d_ref, 4),
    )
)
def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed 2-D convolution ("deconvolution") of NCHW ``input`` with ``weight``
    (in_channels, out_channels / groups, kh, kw): the input gradient of :func:`conv2d`,
    one matrix product then col2im. ``output_padding`` adds rows and columns after."""
    x, added = _batched(input, 4, "conv_transpose2d", "input")
    return _unbatched(
        _conv_transpose(
            x, weight, bias, stride, padding, output_padding, groups, dilation, "conv_transpose2d"
        ),
        added,
    )


def _conv_transpose1d_ref(
    xp, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    one = [(1, ntuple(v, 1, "", "")[0]) for v in (stride, dilation)]
    out = _conv_transpose2d_ref(
        xp,
        x[:, :, None, :],
        weight[:, :, None, :],
        bias,
        one[0],
        (0, ntuple(padding, 1, "", "")[0]),
        (0, ntuple(output_padding, 1, "", "")[0]),
        groups,
        one[1],
    )
    return out[:, :, 0, :]


@composite(
    Spec(
        [
            Case(((2, 3, 4), (3, 2, 3), (2,))),
            Case(
                ((1, 4, 3), (4, 1, 3), (2,)),
                {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "dilation": 2},
            ),
        ],
        ref=_conv_transpose1d_ref,
    )
)
def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed 1-D convolution of (N, C, L) ``input`` with ``weight``
    (in_channels, out_channels / groups, k), as ``torch.nn.functional.conv_transpose1d``."""
    op = "conv_transpose1d"
    args, added = _to_2d(
        op, input, weight, stride, padding, dilation, output_padding=output_padding
    )
    x, weight, stride, padding, dilation, output_padding = args
    return _from_2d(
        _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, op),
        added,
    )
