"""The backward engine: seeding, accumulation, graph lifetime, grad modes, hooks,
in-place safety, higher-order gradients and deep graphs."""

import gc
import sys
import time
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ShapeError

RNG = np.random.default_rng(31415)


def leaf(values):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# ----------------------------------------------------------------------- seeding backward
def test_backward_of_a_scalar_seeds_with_one():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_backward_of_a_one_element_array_needs_no_gradient():
    x = leaf([[3.0]])
    (x * 2).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0]])


def test_backward_of_a_non_scalar_without_gradient_raises():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"scalar.*\(2,\)"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_names_both_shapes():
    y = leaf(np.ones((2, 3))) * 2
    with pytest.raises(cr.ShapeError) as info:
        y.backward(np.ones((3, 2)))
    assert "(3, 2)" in str(info.value) and "(2, 3)" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_backward_with_a_gradient_computes_a_vector_jacobian_product():
    x_np = RNG.standard_normal(4)
    x = leaf(x_np)
    upstream = RNG.standard_normal(4)
    x.sin().backward(upstream)
    np.testing.assert_allclose(x.grad.numpy(), upstream * np.cos(x_np), rtol=1e-12)
    x.grad = None
    x.sin().backward(cr.tensor(upstream))  # a Tensor gradient works the same
    np.testing.assert_allclose(x.grad.numpy(), upstream * np.cos(x_np), rtol=1e-12)


def test_backward_from_a_tensor_outside_any_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0, 2.0]).sum().backward()


def test_backward_of_a_leaf_gives_its_seed():
    x = leaf(3.0)
    x.backward()
    assert x.grad.item() == 1.0


def test_the_gradient_argument_is_never_aliased_or_changed():
    x = leaf([1.0, 2.0])
    upstream = np.array([5.0, 7.0])
    (x + 0).backward(upstream)
    assert not np.shares_memory(x.grad.numpy(), upstream)
    x.grad.numpy()[0] = -1.0
    np.testing.assert_array_equal(upstream, [5.0, 7.0])


# ----------------------------------------------------------------------- accumulation
def test_leaf_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, -2.0])
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 3 * 2 * np.array([1.0, -2.0]))


def test_fan_out_adds_the_gradients_of_every_use():
    # The add-gate rule at a branch point: a variable used k times gets the sum of the k
    # upstream gradients (here d/dx of x*x + 3x + x = 2x + 4).
    x = leaf([1.0, 2.0])
    y = x * x + 3 * x + x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.array([1.0, 2.0]) + 4)


def test_a_node_used_twice_sends_both_shares_upstream():
    x = leaf([1.5])
    h = x.exp()
    (h + h * h).sum().backward()  # d/dx (e^x + e^2x) = e^x + 2 e^2x
    np.testing.assert_allclose(x.grad.numpy(), np.exp(1.5) + 2 * np.exp(3.0), rtol=1e-12)


def test_a_diamond_graph_sums_both_paths():
    x = leaf([0.3])
    a, b = x.sin(), x.cos()
    (a * b).sum().backward()  # d/dx sin x cos x = cos 2x
    np.testing.assert_allclose(x.grad.numpy(), np.cos(0.6), rtol=1e-12)


def test_two_leaves_never_share_gradient_memory():
    x, w = leaf(np.ones((2, 2))), leaf(np.ones((2, 2)))
    (x.reshape(4) + w.reshape(4)).backward(np.arange(4.0))
    assert not np.shares_memory(x.grad.numpy(), w.grad.numpy())
    x.grad.numpy()[...] *= 10  # an in-place change to one gradient leaves the other alone
    np.testing.assert_array_equal(w.grad.numpy(), np.arange(4.0).reshape(2, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("batch", [0, 1, 5, 300])
def test_a_bias_gets_the_batch_sum_in_its_own_dtype(dtype, batch):
    # dY summed over the M samples (a product with ones for BLAS floats, add.reduce else).
    rng = np.random.default_rng(batch)
    dy = (rng.standard_normal((batch, 7)) * 8).astype(dtype)
    b = cr.tensor(np.zeros(7, dtype), requires_grad=dtype != np.int64)
    if dtype == np.int64:
        from chainrule.ops.reduce import sum_to

        total = sum_to(dy, (7,))
    else:
        y = cr.tensor(np.zeros((batch, 7), dtype)) + b
        y.backward(dy)
        total = b.grad.numpy()
    assert total.shape == (7,) and total.dtype == dtype and total.flags.writeable
    exact = dy.astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(
        total,
        exact,
        rtol=1e-5 if dtype == np.float32 else 1e-12,
        atol=1e-4 if dtype == np.float32 else 1e-10,
    )


def test_gradient_has_the_leaf_dtype_when_precisions_mix():
    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    w = cr.tensor(np.array([0.5, 0.25]))  # float64
    (x * w).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.25])


def test_non_leaf_gradients_are_not_kept_unless_asked():
    x = leaf([1.0, 2.0])
    h = x * 3
    (h * h).sum().backward()
    assert h.grad is None


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])  # d(h^2)/dh = 2h
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, 36.0])


def test_retain_grad_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        cr.tensor([1.0]).retain_grad()


# ----------------------------------------------------------------------- graph lifetime
def test_intermediate_buffers_are_freed_after_backward():
    x = leaf(RNG.standard_normal(1000))
    h = x * 2
    e = h.exp()
    y = e.sum()
    refs = [weakref.ref(t) for t in (h, e)] + [
        weakref.ref(t.numpy(force_writable=True)) for t in (h, e)
    ]
    del h, e
    assert all(r() is not None for r in refs)  # the graph holds them until backward
    y.backward()
    # Dropped by reference counting alone, without a cycle collection.
    assert all(r() is None for r in refs)
    gc.collect()


def test_retain_graph_keeps_buffers_until_the_last_backward():
    x = leaf(RNG.standard_normal(10))
    h = x.tanh()
    y = (h * h).sum()
    ref = weakref.ref(h.numpy(force_writable=True))
    del h
    y.backward(retain_graph=True)
    assert ref() is not None
    y.backward()
    assert ref() is None
    # Two passes accumulate: twice d/dx tanh(x)^2.
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * t * (1 - t * t), rtol=1e-12)


def test_a_second_backward_without_retain_graph_raises_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))  # only once


# ----------------------------------------------------------------------- grad modes
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


def test_no_grad_works_as_a_decorator():
    @cr.no_grad()
    def double(t):
        return t * 2

    assert not double(leaf([1.0])).requires_grad
    assert cr.is_grad_enabled()


def test_enable_grad_records_again_inside_no_grad():
    x = leaf([1.0, 2.0])
    with cr.no_grad():
        with cr.enable_grad():
            y = (x * x).sum()
        z = x * 2
    assert y.requires_grad and not z.requires_grad
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with cr.no_grad():
            raise KeyError("boom")
    assert cr.is_grad_enabled()


def test_detach_stops_the_gradient():
    x = leaf([2.0, 3.0])
    y = (x * x.detach()).sum()  # x.detach() is a constant: d/dx = x, not 2x
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0])


# ----------------------------------------------------------------------- hooks
def test_a_hook_on_a_leaf_sees_and_can_replace_its_gradient():
    x = leaf([1.0, 2.0])
    seen = []

    def triple(grad):
        seen.append(grad.numpy().copy())
        return grad * 3

    x.register_hook(triple)
    (x * x).sum().backward()
    np.testing.assert_array_equal(seen[0], [2.0, 4.0])
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])


def test_a_hook_on_an_intermediate_changes_what_flows_upstream():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda grad: grad * 10)
    (h * h).sum().backward()  # d/dh = 2h = [4, 8]; x.grad = 10 * 2 * [4, 8]
    np.testing.assert_array_equal(x.grad.numpy(), [80.0, 160.0])


def test_a_hook_returning_none_leaves_the_gradient_alone():
    x = leaf([1.0, 2.0])
    calls = []
    x.register_hook(lambda grad: calls.append(1))
    (x * x).sum().backward()
    assert calls == [1]
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_a_hook_gradient_comes_back_in_the_tensors_dtype():
    x = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    h = x.exp()  # exp's rule passes on the dtype of the gradient it is given
    h.register_hook(lambda grad: grad.astype(np.float64) * 10)
    h.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 10 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_a_hook_gradient_of_another_shape_is_an_error_naming_the_hook():
    x = leaf([1.0, 2.0])
    h = x * 2

    def widen(grad):
        return cr.tensor(np.zeros(3))

    h.register_hook(widen)
    with pytest.raises(ShapeError, match=r"hook 'widen' .* shape \(3,\) .* shape \(2,\)"):
        (h * h).sum().backward()


def test_a_removed_hook_no_longer_runs():
    x = leaf([1.0, 2.0])
    handle = x.register_hook(lambda grad: grad * 100)
    handle.remove()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    handle.remove()  # removing twice is harmless


def test_a_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError):
        cr.tensor([1.0]).register_hook(lambda grad: grad)


# ----------------------------------------------------------------------- in-place safety
@pytest.mark.parametrize(
    "change",
    [
        lambda w: w.__iadd__(1),
        lambda w: w.mul_(2),
        lambda w: w.sub_(1),
        lambda w: w.div_(2),
        lambda w: w.__setitem__(0, 5.0),
        lambda w: w.fill_(3.0),
        lambda w: w.zero_(),
        lambda w: w.copy_(cr.tensor(np.zeros(3))),
    ],
    ids=["iadd", "mul_", "sub_", "div_", "setitem", "fill_", "zero_", "copy_"],
)
def test_changing_a_saved_tensor_in_place_raises_at_backward_naming_the_op(change):
    w = cr.tensor(np.array([1.0, 2.0, 3.0]))
    x = leaf([1.0, 1.0, 1.0])
    y = (x * w).sum()  # mul saves w for x's gradient
    change(w)
    with pytest.raises(RuntimeError, match="'mul'.*in-place"):
        y.backward()


def test_changing_a_saved_tensor_through_a_view_raises():
    for change in (lambda w: w[0].mul_(3), lambda w: w.T.add_(1), lambda w: w.reshape(4).sub_(1)):
        w = cr.tensor(np.ones((2, 2)))
        x = leaf(np.ones((2, 2)))
        y = (x * w).sum()
        with cr.no_grad():
            change(w)
        with pytest.raises(RuntimeError, match="in-place"):
            y.backward()


def test_changing_a_saved_tensor_through_detach_raises():
    w = leaf([1.0, 2.0])
    x = leaf([1.0, 1.0])
    y = (x * w).sum()
    w.detach().mul_(5)
    with pytest.raises(RuntimeError, match="'mul'"):
        y.backward()


def test_changing_a_saved_output_in_place_outside_the_graph_raises():
    x = leaf([0.5, 1.0])
    h = x.exp()  # exp's rule reuses its output
    with cr.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match="'exp'"):
        h.sum().backward()


def test_initialising_a_saved_tensor_in_place_raises():
    w = cr.tensor(np.array([1.0, 2.0]))
    x = leaf([1.0, 1.0])
    y = (x * w).sum()
    cr.nn.init.constant_(w, 5.0)
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_a_changed_tensor_used_afterwards_gives_the_right_gradient():
    w = cr.nn.init.constant_(cr.tensor(np.array([1.0, 2.0])), 3.0)
    w.add_(1)
    x = leaf([1.0, 1.0])
    (x * w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_in_place_on_a_leaf_that_requires_grad_raises_naming_the_op():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="in-place add on a leaf"):
        x += 1
    with pytest.raises(RuntimeError, match="leaf"):
        x.mul_(2)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


def test_in_place_on_a_leaf_under_no_grad_is_an_update():
    x = leaf([1.0, 2.0])
    with cr.no_grad():
        x -= 0.5
    np.testing.assert_array_equal(x.numpy(), [0.5, 1.5])
    assert x.is_leaf and x.requires_grad


def test_in_place_on_a_fresh_non_leaf_gives_the_right_gradient():
    x = leaf([1.0, 2.0])
    h = x * 2
    h += 1
    (h * h).sum().backward()  # d/dx (2x + 1)^2 = 4 (2x + 1)
    np.testing.assert_array_equal(x.grad.numpy(), 4 * (2 * np.array([1.0, 2.0]) + 1))


@pytest.mark.parametrize(
    "change, gradient",
    [
        (lambda h: h.mul_(3), lambda x: 3 * np.exp(x)),
        (lambda h: h.__imul__(h), lambda x: 2 * np.exp(2 * x)),
        (lambda h: h.sub_(h.grad_fn.inputs[0] ** 2), lambda x: np.exp(x) - 2 * x),
        (lambda h: h.__itruediv__(2), lambda x: np.exp(x) / 2),
        (lambda h: h.__setitem__(0, 0.0), lambda x: np.array([0.0, np.exp(x[1])])),
    ],
    ids=["mul_", "h*=h", "sub_", "itruediv", "setitem"],
)
def test_in_place_ops_in_a_graph_differentiate_correctly(change, gradient):
    x_np = np.array([0.5, -0.25])
    x = leaf(x_np)
    h = x.exp()
    change(h)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), gradient(x_np), rtol=1e-12)


def test_indexed_in_place_update_of_a_non_leaf_is_right_or_refused():
    # h[0] += 1 reads h[0] and writes it back; never a silently wrong gradient.
    x = leaf(np.arange(4.0).reshape(2, 2))
    h = x * 2
    h[0] += 1
    try:
        (h * h).sum().backward()
    except RuntimeError as error:
        assert "in-place" in str(error)
    else:
        np.testing.assert_array_equal(x.grad.numpy(), 4 * (x.numpy() * 2 + [[1], [0]]))


def test_zero_gives_zeros_even_over_inf_and_nan():
    t = cr.tensor(np.array([np.inf, np.nan, -3.0]))
    t.zero_()
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.0, 0.0])


# ----------------------------------------------------------------------- higher order
def test_create_graph_makes_the_gradient_differentiable():
    x = leaf(1.5)
    (x**3).backward(create_graph=True)
    first = x.grad
    assert first.requires_grad
    np.testing.assert_allclose(first.numpy(), 3 * 1.5**2)
    x.grad = None
    first.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * 1.5)  # d2/dx2 x^3 = 6x


def test_second_and_third_derivatives_of_tanh_match_closed_forms():
    x_np = np.array([-1.2, 0.1, 0.8])
    x = leaf(x_np)
    d1 = cr.autograd.grad(x.tanh().sum(), x, create_graph=True)
    d2 = cr.autograd.grad(d1.sum(), x, create_graph=True)
    d3 = cr.autograd.grad(d2.sum(), x)
    t = np.tanh(x_np)
    np.testing.assert_allclose(d1.numpy(), 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(d2.numpy(), -2 * t * (1 - t**2), rtol=1e-12)
    np.testing.assert_allclose(d3.numpy(), (6 * t**2 - 2) * (1 - t**2), rtol=1e-10)


def test_hessian_vector_product_of_a_matmul_network_matches_the_closed_form():
    # f(w) = sum(tanh(A w)); grad = A^T (1 - t^2); Hessian = A^T diag(-2 t (1 - t^2)) A.
    a_np, w_np, v_np = RNG.standard_normal((4, 3)), RNG.standard_normal(3), RNG.standard_normal(3)
    w = leaf(w_np)
    g = cr.autograd.grad((cr.tensor(a_np) @ w).tanh().sum(), w, create_graph=True)
    (g * cr.tensor(v_np)).sum().backward()
    t = np.tanh(a_np @ w_np)
    hessian = a_np.T @ np.diag(-2 * t * (1 - t**2)) @ a_np
    np.testing.assert_allclose(g.numpy(), a_np.T @ (1 - t**2), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), hessian @ v_np, rtol=1e-10, atol=1e-12)


def test_create_graph_gradients_flow_through_hooks():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda grad: grad * 2)
    (x**3).sum().backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * 3 * np.array([1.0, 4.0]))
    assert x.grad.requires_grad


# ----------------------------------------------------------------------- deep graphs
def _chain(length):
    x = cr.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(length):
        y = y * 1.0
    return x, y


def test_backward_through_a_million_ops_needs_no_recursion(record_property):
    assert sys.getrecursionlimit() <= 10_000  # the default limit (1000) is not raised here
    start = time.perf_counter()
    x, y = _chain(1_000_000)
    built = time.perf_counter()
    y.backward()
    done = time.perf_counter()
    assert x.grad.item() == 1.0
    record_property("chain_1e6_forward_s", round(built - start, 3))
    record_property("chain_1e6_backward_s", round(done - built, 3))
    print(f"\n1,000,000-op chain: forward {built - start:.2f} s, backward {done - built:.2f} s")
    del y  # freeing the spent chain must not recurse either


def _ladder(length):
    """A chain with a fan-out at every step, so the walk goes through its heap."""
    x = cr.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(length):
        y = (y * 0.5).tanh() + y * 0.5
    return x, y


def _steps_in_backward(graph, length):
    """The Python bytecodes the backward walk executes, loops included: a work count that,
    unlike a time, is the same on every run."""
    x, y = graph(length)
    steps = 0

    def trace(frame, event, arg):
        nonlocal steps
        frame.f_trace_opcodes = True
        steps += 1
        return trace

    gc.disable()  # a collection mid-walk could run finalizers and add steps of its own
    sys.settrace(trace)
    try:
        y.backward()
    finally:
        sys.settrace(None)
        gc.enable()
    assert x.grad is not None
    return steps


@pytest.mark.parametrize("graph", [_chain, _ladder], ids=["chain", "fan-out ladder"])
def test_backward_work_grows_linearly_with_depth(graph):
    small, medium, large = (_steps_in_backward(graph, n) for n in (1_000, 2_000, 4_000))
    # The same number of steps per node at every depth: doubling the graph doubles the
    # work exactly. A walk that rescanned what it had visited would grow faster.
    assert large - medium == 2 * (medium - small)
    assert medium - small >= 10 * 1_000  # the count does see the walk (many steps per node)


def test_dropping_an_unused_deep_graph_does_not_crash():
    x, y = _chain(200_000)
    del y
    gc.collect()
    assert x.grad is None
