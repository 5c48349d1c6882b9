"""Errors name the op and the shapes; invalid points follow NumPy; anomaly mode finds NaN/inf."""

import numpy as np
import pytest

import chainrule as cr


def ones(*shape):
    return cr.tensor(np.ones(shape))


def leaf(values):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# ----------------------------------------------------------------------- shape errors
def test_shape_error_is_a_value_error():
    assert issubclass(cr.ShapeError, ValueError)


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((2, 3), (2, 3)),
        ((3,), (4,)),
        ((5, 3), (4,)),
        ((2, 3, 4), (3, 4, 5)),  # batch axes 2 and 3 do not broadcast
    ],
)
def test_matmul_shape_mismatch_names_the_op_and_both_shapes(a_shape, b_shape):
    for call in (lambda a, b: a @ b, cr.matmul):
        with pytest.raises(cr.ShapeError) as info:
            call(ones(*a_shape), ones(*b_shape))
        message = str(info.value)
        assert "matmul" in message
        assert str(a_shape) in message and str(b_shape) in message


def test_matmul_of_a_scalar_raises_shape_error():
    with pytest.raises(cr.ShapeError, match=r"matmul.*\(\).*\(2,\)"):
        cr.tensor(np.array(2.0)) @ ones(2)


@pytest.mark.parametrize(
    "name, call",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a**b),
        ("maximum", cr.maximum),
        ("minimum", cr.minimum),
    ],
)
def test_broadcast_mismatch_names_the_op_and_both_shapes(name, call):
    with pytest.raises(cr.ShapeError) as info:
        call(ones(2, 3), ones(4))
    message = str(info.value)
    assert message.startswith(name)
    assert "(2, 3)" in message and "(4,)" in message


def test_broadcast_mismatch_with_a_gradient_raises_before_recording():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(cr.ShapeError):
        x * ones(3, 2)
    assert x.grad is None


@pytest.mark.parametrize(
    "name, call",
    [
        ("broadcast_to", lambda: ones(2, 3).broadcast_to((4, 3))),
        ("reshape", lambda: ones(2, 3).reshape(4)),
        ("concatenate", lambda: cr.concatenate([ones(2, 3), ones(2, 4)])),
        ("stack", lambda: cr.stack([ones(2, 3), ones(2, 4)])),
        ("inv", lambda: cr.linalg.inv(ones(2, 3))),
        ("det", lambda: cr.linalg.det(ones(2, 3))),
        ("solve", lambda: cr.linalg.solve(ones(3, 3), ones(4))),
        ("trace", lambda: cr.trace(ones(2))),
        ("einsum", lambda: cr.einsum("ij,jk->ik", ones(2, 3), ones(4, 5))),
        ("sum", lambda: ones(2, 3).sum(axis=2)),
        ("softmax", lambda: ones(2, 3).softmax(axis=3)),
    ],
)
def test_other_shape_errors_name_the_op(name, call):
    with pytest.raises(cr.ShapeError, match=f"^{name}"):
        call()


def test_index_out_of_range_is_an_index_error_with_the_shape():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        ones(2, 3)[5]


# ----------------------------------------------------------------------- invalid points
@pytest.mark.parametrize(
    "fn, numpy_fn, derivative",
    [
        (cr.log, np.log, lambda x: 1 / x),
        (cr.sqrt, np.sqrt, lambda x: 0.5 / np.sqrt(x)),
        (lambda t: 1.0 / t, lambda x: 1.0 / x, lambda x: -1.0 / (x * x)),
        (lambda t: t / t, lambda x: x / x, lambda x: 1 / x - x / (x * x)),
    ],
)
def test_functions_at_invalid_points_follow_numpy_values(fn, numpy_fn, derivative):
    points = np.array([0.0, -1.0, 4.0, -0.0])
    x = leaf(points)
    with np.errstate(all="ignore"):
        y = fn(x)
        y.sum().backward()
        expected_value, expected_grad = numpy_fn(points), derivative(points)
    np.testing.assert_array_equal(y.numpy(), expected_value)  # nan == nan, inf == inf here
    np.testing.assert_array_equal(x.grad.numpy(), expected_grad)


def test_log_of_zero_is_minus_inf_and_its_gradient_inf():
    x = leaf([0.0])
    with np.errstate(divide="ignore"):
        y = x.log()
        y.backward(np.ones(1))
    assert y.item() == -np.inf
    assert x.grad.item() == np.inf


# ----------------------------------------------------------------------- detect_anomaly
def test_detect_anomaly_names_the_op_whose_gradient_is_inf():
    x = leaf([0.0, 1.0])
    y = (x.sqrt() * 2).sum()  # sum and mul give finite gradients; sqrt at 0 gives inf
    with np.errstate(divide="ignore"), cr.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"'sqrt'.*inf"):
            y.backward()


def test_detect_anomaly_names_the_op_whose_gradient_is_nan():
    x = leaf([0.0, 2.0])
    with np.errstate(all="ignore"), cr.detect_anomaly():
        y = (x.log() * 0.0).sum()  # log's rule gives 0 / 0 at x = 0
        with pytest.raises(RuntimeError, match=r"'log'.*nan"):
            y.backward()


def test_detect_anomaly_stops_at_the_first_bad_op_in_backward_order():
    x = leaf([0.0])
    with np.errstate(all="ignore"), cr.detect_anomaly():
        y = x.sqrt().log()  # log's gradient at sqrt(0) = 0 is already inf, before sqrt's
        with pytest.raises(RuntimeError, match="'log'"):
            y.backward(np.ones(1))


def test_without_detect_anomaly_backward_lets_inf_through():
    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert x.grad.numpy()[0] == np.inf
    assert x.grad.numpy()[1] == 0.5


def test_detect_anomaly_passes_finite_gradients_and_switches_off_afterwards():
    x = leaf([1.0, 4.0])
    with cr.detect_anomaly():
        x.sqrt().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.25])
    x.grad = None
    y = cr.tensor([0.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        y.sqrt().sum().backward()  # outside the block: no error
    assert y.grad.item() == np.inf


def test_detect_anomaly_also_checks_second_order_backward():
    x = leaf([1.0])
    with cr.detect_anomaly():
        g = cr.autograd.grad(x.sqrt().sum(), x, create_graph=True)
        x0 = leaf([0.0])
        with np.errstate(all="ignore"):
            g0 = cr.autograd.grad((x0**1.5).sum(), x0, create_graph=True)
            with pytest.raises(RuntimeError, match="detect_anomaly"):
                g0.sum().backward()  # d2/dx2 x^1.5 = 0.75 x^-0.5 is inf at 0
    np.testing.assert_allclose(g.numpy(), [0.5])


# ----------------------------------------------------------------------- misuse
def test_int_tensors_cannot_require_grad():
    with pytest.raises(TypeError):
        cr.tensor([1, 2, 3], requires_grad=True)


def test_second_backward_error_is_a_runtime_error_naming_the_op():
    x = leaf([1.0])
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="'sum'.*retain_graph=True"):
        y.backward()


def test_clip_needs_a_bound():
    with pytest.raises(ValueError):
        cr.clip(ones(2), None, None)


def test_pad_refuses_modes_it_cannot_differentiate():
    with pytest.raises(ValueError, match="constant"):
        cr.pad(ones(2), 1, mode="reflect")
