"""A convolution as one matrix product (im2col), and its backward pass as col2im.

Every output pixel of a convolution sees one receptive field: C x kh x kw input values.
im2col copies each receptive field into a column, the columns of all images and all
output positions side by side:

    cols   (C * kh * kw, N * OH * OW)
    W      (O, C * kh * kw)              each filter flattened into a row
    Y = W @ cols + b                     (O, N * OH * OW), then reshaped to (N, O, OH, OW)

So the whole batch is one GEMM, and the backward pass is the matrix product's:

    dW    = dY @ cols.T                  (O, C * kh * kw)
    db    = dY summed over its columns
    dcols = W.T @ dY                     (C * kh * kw, N * OH * OW)
    dx    = col2im(dcols)

col2im adds each column back into the image where im2col took it from; where windows
overlap, an input pixel sits in several columns, and its gradient is the sum of theirs.
That makes col2im im2col's adjoint (<im2col(x), c> = <x, col2im(c)>), which is exactly
what a backward pass needs. This script writes both with NumPy (one loop over the
kernel's taps, never over positions) and checks the convolution and all three
gradients against ``cr.nn.functional.conv2d``, in float64.

    python examples/im2col_convolution.py
"""

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F


def output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, kh, kw, stride=1, padding=0):
    """The receptive fields of ``x`` (N, C, H, W) as the columns of a
    (C * kh * kw, N * OH * OW) matrix; rows ordered (channel, kernel row, kernel column),
    columns (image, output row, output column)."""
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((c, kh, kw, n, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            # Tap (i, j) of every window at once: a strided slice of the padded images.
            taps = padded[
                :, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride
            ]
            cols[:, i, j] = taps.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(cols, shape, kh, kw, stride=1, padding=0):
    """im2col's adjoint: add the columns back into images of ``shape`` (N, C, H, W)."""
    n, c, h, w = shape
    oh, ow = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), cols.dtype)
    blocks = cols.reshape(c, kh, kw, n, oh, ow)
    for i in range(kh):
        for j in range(kw):
            padded[
                :, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride
            ] += blocks[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, padding : padding + h, padding : padding + w]


def conv2d_forward(x, weight, bias, stride=1, padding=0):
    """Cross-correlation (PyTorch's conv2d) as im2col and one product; returns the
    output and the columns, which the weight gradient needs."""
    n, _, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    cols = im2col(x, kh, kw, stride, padding)
    y = weight.reshape(out_channels, -1) @ cols + bias[:, None]
    oh, ow = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    return y.reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3), cols


def conv2d_backward(dy, cols, x_shape, weight, stride=1, padding=0):
    """(dx, dweight, dbias) from the upstream gradient ``dy`` (N, O, OH, OW)."""
    out_channels, _, kh, kw = weight.shape
    dy = dy.transpose(1, 0, 2, 3).reshape(out_channels, -1)  # the layout of W @ cols
    dweight = (dy @ cols.T).reshape(weight.shape)
    dbias = dy.sum(axis=1)
    dcols = weight.reshape(out_channels, -1).T @ dy
    return col2im(dcols, x_shape, kh, kw, stride, padding), dweight, dbias


def error(a, b):
    """Largest difference relative to the largest value: max|a - b| / max|b|."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def show_columns():
    """The column matrix of one 4 x 4 image and a 3 x 3 kernel: four windows, four columns."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    print("image:\n", x[0, 0], sep="")
    print("its im2col matrix (a column per 3x3 window, 9 values each):\n", im2col(x, 3, 3), sep="")


def main(
    batch=2,
    channels=3,
    size=(7, 6),
    out_channels=4,
    kernel=(3, 3),
    stride=2,
    padding=1,
    seed=0,
    verbose=True,
):
    """Check im2col, the convolution and its gradients against chainrule (float64);
    returns the largest relative errors."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, channels) + tuple(size))
    weight = rng.normal(size=(out_channels, channels) + tuple(kernel))
    bias = rng.normal(size=out_channels)
    geometry = {"stride": stride, "padding": padding}

    y, cols = conv2d_forward(x, weight, bias, **geometry)
    dy = rng.normal(size=y.shape)
    grads = conv2d_backward(dy, cols, x.shape, weight, **geometry)

    xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, weight, bias))
    yt = F.conv2d(xt, wt, bt, **geometry)
    yt.backward(dy)
    # unfold is PyTorch's im2col, one (C * kh * kw, OH * OW) matrix per image.
    unfolded = F.unfold(cr.tensor(x), kernel, padding=padding, stride=stride).numpy()
    ours = cols.reshape(cols.shape[0], batch, -1).transpose(1, 0, 2)
    # The adjoint identity, with a random matrix of columns.
    c = rng.normal(size=cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * col2im(c, x.shape, *kernel, **geometry))
    result = {
        "columns_vs_unfold": error(ours, unfolded),
        "forward_vs_conv2d": error(y, yt.numpy()),
        "dx_vs_conv2d": error(grads[0], xt.grad.numpy()),
        "dweight_vs_conv2d": error(grads[1], wt.grad.numpy()),
        "dbias_vs_conv2d": error(grads[2], bt.grad.numpy()),
        "adjoint_identity": abs(lhs - rhs) / abs(rhs),
    }
    if verbose:
        show_columns()
        print(
            f"\nx {x.shape}, weight {weight.shape}, stride {stride}, padding {padding}: "
            f"cols {cols.shape}, y {y.shape}"
        )
        for name, value in result.items():
            print(f"{name:20s} {value:.1e}")
    return result


if __name__ == "__main__":
    main()
