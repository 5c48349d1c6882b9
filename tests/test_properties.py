"""Engine contracts as properties: gradient shapes and dtypes, untouched inputs, no recursion."""

import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr

FLOATS = st.sampled_from([np.float32, np.float64])
SETTINGS = settings(max_examples=100, deadline=None)


def _array(draw, shape, dtype, low=0.5, high=2.0):
    """Values kept in [low, high] (either sign): every op below is smooth there."""
    magnitudes = draw(
        hnp.arrays(dtype, shape, elements=st.floats(low, high, width=np.finfo(dtype).bits))
    )
    signs = draw(hnp.arrays(np.int8, shape, elements=st.sampled_from([-1, 1])))
    return np.asarray(magnitudes * signs, dtype=dtype)  # 0-d stays an array


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": cr.maximum,
    "minimum": cr.minimum,
    "where": lambda a, b: cr.where(a > 0, a, b),
    "pow": lambda a, b: abs(a) ** b,
}

UNARY = {
    "exp": cr.exp,
    "tanh": cr.tanh,
    "sigmoid": cr.sigmoid,
    "sin": cr.sin,
    "relu": cr.relu,
    "softplus": cr.softplus,
    "log_abs": lambda t: abs(t).log(),
    "sqrt_abs": lambda t: abs(t).sqrt(),
    "square": lambda t: t**2,
    "neg": lambda t: -t,
    "softmax": cr.softmax,
    "log_softmax": cr.log_softmax,
    "clip": lambda t: cr.clip(t, -1.0, 1.0),
}


@st.composite
def binary_case(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    dtypes = draw(FLOATS), draw(FLOATS)
    arrays = [_array(draw, shape, dtype) for shape, dtype in zip(shapes.input_shapes, dtypes)]
    return draw(st.sampled_from(sorted(BINARY))), arrays


@SETTINGS
@given(binary_case())
def test_binary_op_gradients_have_each_input_shape_and_dtype(case):
    name, (a_np, b_np) = case
    a, b = cr.from_numpy(a_np, requires_grad=True), cr.from_numpy(b_np, requires_grad=True)
    out = BINARY[name](a, b)
    assert out.shape == np.broadcast_shapes(a_np.shape, b_np.shape)
    assert out.dtype == np.result_type(a_np, b_np)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    for tensor, array in ((a, a_np), (b, b_np)):
        assert tensor.grad.shape == array.shape
        assert tensor.grad.dtype == array.dtype
        assert np.all(np.isfinite(tensor.grad.numpy()))


@SETTINGS
@given(st.data())
def test_unary_op_gradients_have_the_input_shape_and_dtype(data):
    dtype = data.draw(FLOATS)
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x_np = _array(data.draw, shape, dtype)
    name = data.draw(st.sampled_from(sorted(UNARY)))
    x = cr.from_numpy(x_np, requires_grad=True)
    out = UNARY[name](x)
    assert out.dtype == dtype
    out.sum().backward()
    assert x.grad.shape == shape and x.grad.dtype == dtype


REDUCTIONS = ["sum", "mean", "max", "min", "prod", "var", "std", "logsumexp"]


@SETTINGS
@given(st.data())
def test_reduction_gradients_have_the_input_shape_for_any_axes(data):
    dtype = data.draw(FLOATS)
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    axes = data.draw(st.none() | hnp.valid_tuple_axes(len(shape), min_size=1))
    keepdims = data.draw(st.booleans())
    name = data.draw(st.sampled_from(REDUCTIONS))
    x_np = _array(data.draw, shape, dtype)
    x = cr.from_numpy(x_np, requires_grad=True)
    # The std of equal values has an infinite derivative (nan gradient), as in NumPy.
    with np.errstate(divide="ignore", invalid="ignore"):
        out = getattr(x, name)(axis=axes, keepdims=keepdims)
        out.backward(np.ones(out.shape, dtype=out.dtype))
    reference = getattr(np, name if name != "logsumexp" else "sum")(
        x_np, axis=axes, keepdims=keepdims
    )
    assert out.shape == np.shape(reference)
    assert x.grad.shape == shape and x.grad.dtype == dtype
    # Sum hands every input element the unit upstream gradient; mean, max and min conserve
    # it, one unit per output element (ties split it). Float32 sums: rtol 1e-4.
    if name == "sum":
        np.testing.assert_allclose(x.grad.numpy(), np.ones(shape), rtol=1e-6)
    elif name in ("mean", "max", "min"):
        np.testing.assert_allclose(x.grad.numpy().sum(), out.numpy().size, rtol=1e-4)


@SETTINGS
@given(st.data())
def test_matmul_gradients_have_each_operand_shape(data):
    dtype = data.draw(FLOATS)
    shapes = data.draw(
        hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=3)
    )
    a_np, b_np = (_array(data.draw, shape, dtype) for shape in shapes.input_shapes)
    a, b = cr.from_numpy(a_np, requires_grad=True), cr.from_numpy(b_np, requires_grad=True)
    out = a @ b
    assert out.shape == shapes.result_shape
    out.backward(np.ones(out.shape, dtype=dtype))
    assert a.grad.shape == a_np.shape and b.grad.shape == b_np.shape
    assert a.grad.dtype == dtype and b.grad.dtype == dtype


@st.composite
def expression_case(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    arrays = [_array(draw, shape, np.float64) for shape in shapes.input_shapes]
    # Softmax (variant 3) needs an axis: not for an all-0-d case.
    return arrays, draw(st.integers(0, 3 if shapes.result_shape else 2))


def _expression(a, b, c, variant):
    """A small graph with fan-out, broadcasting and a reduction."""
    h = a * b + c.tanh()
    if variant == 0:
        return h * h
    if variant == 1:
        return (h.exp() / (1 + b * b)).sum(axis=-1)
    if variant == 2:
        return cr.maximum(h, a) - c.sigmoid() * a
    return cr.softmax(h + a, axis=-1)


@settings(max_examples=60, deadline=None)
@given(expression_case())
def test_forward_and_backward_never_mutate_their_inputs(case):
    arrays, variant = case
    originals = [array.copy() for array in arrays]
    tensors = [cr.from_numpy(array, requires_grad=True) for array in arrays]  # shares memory
    out = _expression(*tensors, variant)
    upstream = np.linspace(-1.0, 1.0, out.numpy().size).reshape(out.shape)
    upstream_copy = upstream.copy()
    out_copy = out.numpy().copy()
    out.backward(upstream)
    for array, original in zip(arrays, originals):
        np.testing.assert_array_equal(array, original)
    np.testing.assert_array_equal(upstream, upstream_copy)
    np.testing.assert_array_equal(out.numpy(), out_copy)
    for tensor, array in zip(tensors, arrays):
        assert not np.shares_memory(tensor.grad.numpy(), array)
        assert not np.shares_memory(tensor.grad.numpy(), upstream)


@settings(max_examples=60, deadline=None)
@given(expression_case())
def test_backward_equals_the_jacobian_transpose_times_the_upstream(case):
    arrays, variant = case
    tensors = [cr.from_numpy(array, requires_grad=True) for array in arrays]
    out = _expression(*tensors, variant)
    upstream = np.cos(np.arange(out.numpy().size)).reshape(out.shape)
    out.backward(upstream)
    jacobians = cr.jacobian(lambda *xs: _expression(*xs, variant), argnums=(0, 1, 2))(*arrays)
    for tensor, jac, array in zip(tensors, jacobians, arrays):
        expected = (
            np.tensordot(upstream, jac, axes=upstream.ndim) if upstream.ndim else (upstream * jac)
        )
        # Same float64 arithmetic in another order: agreement to ~1e-15, checked at 1e-10.
        np.testing.assert_allclose(
            tensor.grad.numpy(), np.reshape(expected, array.shape), rtol=1e-10, atol=1e-12
        )


def _frame_depth():
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


STEPS = [
    (lambda t: t + 0.5, 1.0),
    (lambda t: -t, -1.0),
    (lambda t: t * 1.01, 1.01),  # factors near 1: 4000 steps stay far from overflow
    (lambda t: t / 1.01, 1 / 1.01),
    (lambda t: t.reshape(1, -1).T.reshape(-1), 1.0),
]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, len(STEPS) - 1), min_size=1, max_size=12), st.integers(1500, 4000))
def test_deep_chains_backward_without_recursion(pattern, depth):
    x = cr.tensor(np.array([0.25, -0.5]), requires_grad=True)
    y, slope = x, 1.0
    for i in range(depth):
        step, factor = STEPS[pattern[i % len(pattern)]]
        y, slope = step(y), slope * factor
    limit = sys.getrecursionlimit()
    # Far fewer frames than the chain has nodes: any per-node recursion would overflow.
    sys.setrecursionlimit(_frame_depth() + 200)
    try:
        y.sum().backward()
    finally:
        sys.setrecursionlimit(limit)
    # Thousands of roundings in another order: ~1e-13 apart at most, so 1e-10 is ample.
    np.testing.assert_allclose(x.grad.numpy(), [slope, slope], rtol=1e-10)
