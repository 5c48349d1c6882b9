"""The op suite, generated from the registry: every primitive and every declared
composite, every spec case.

Each case is checked three ways, in float64: gradcheck (central differences),
gradgradcheck (the vjp itself, differentiated), and values and vector-Jacobian
products against HIPS autograd running the spec's reference formula.
"""

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.registry import COMPOSITES, REGISTRY, Op

autograd = pytest.importorskip("autograd")  # a dev dependency: always installed by `make test`
import autograd.numpy as anp  # noqa: E402


def _cases(when=lambda spec: True, table=None):
    ops = list(REGISTRY.values()) + list(COMPOSITES.values()) if table is None else table
    return [
        pytest.param(op, case, id=f"{op.name}-{i}")
        for op in ops
        if op.spec and when(op.spec)
        for i, case in enumerate(op.spec.cases)
    ]


def _primitive_cases():
    return _cases(table=list(REGISTRY.values()))


def _inputs(op, case, seed):
    rng = np.random.default_rng(seed)
    domain = case.domain or op.spec.domain
    if callable(domain):
        return [np.asarray(domain(rng, shape), dtype=np.float64) for shape in case.shapes]
    low, high = domain
    return [rng.uniform(low, high, shape) for shape in case.shapes]


def _fn(op, case):
    if op.spec.call is not None:
        return lambda *xs: op.spec.call(op, *xs, **case.params)
    return lambda *xs: op(*xs, **case.params)


def test_every_registered_op_has_rules_and_a_spec():
    assert len(REGISTRY) >= 40
    for name, op in REGISTRY.items():
        assert op.spec is not None and op.spec.cases, f"op {name!r} has no test spec"
        assert op.vjps, f"op {name!r} has no backward rule"
    for name, function in COMPOSITES.items():
        assert function.spec.cases, f"composite {name!r} has no test case"
        assert not isinstance(function, Op)


@pytest.mark.parametrize("op, case", _cases())
def test_gradcheck(op, case):
    inputs = _inputs(op, case, seed=0)
    assert cr.gradcheck(_fn(op, case), inputs, atol=op.spec.atol, rtol=op.spec.rtol)


@pytest.mark.parametrize("op, case", _cases(lambda spec: spec.second_order))
def test_gradgradcheck(op, case):
    inputs = _inputs(op, case, seed=1)
    assert cr.gradgradcheck(_fn(op, case), inputs, atol=op.spec.atol, rtol=op.spec.rtol)


@pytest.mark.parametrize("op, case", _cases(lambda spec: spec.ref is not None))
def test_matches_autograd(op, case):
    inputs = _inputs(op, case, seed=2)
    tensors = [cr.tensor(x, requires_grad=True) for x in inputs]
    out = _fn(op, case)(*tensors)
    expected = op.spec.ref(np, *inputs, **case.params)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)

    cotangent = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(cotangent)
    for i, (x, t) in enumerate(zip(inputs, tensors)):

        def ref_of_input(xi, i=i):
            args = list(inputs)
            args[i] = xi
            return op.spec.ref(anp, *args, **case.params)

        vjp, _ = autograd.make_vjp(ref_of_input)(x)
        # Both sides are exact float64 formulas; only rounding separates them.
        np.testing.assert_allclose(
            t.grad.numpy(), vjp(cotangent), rtol=1e-9, atol=1e-11, err_msg=f"{op.name}: input {i}"
        )


@pytest.mark.parametrize("op, case", _cases())
def test_float32_stays_float32(op, case):
    inputs = [x.astype(np.float32) for x in _inputs(op, case, seed=4)]
    tensors = [cr.tensor(x, requires_grad=True) for x in inputs]
    out = _fn(op, case)(*tensors)
    if op.name == "astype":
        return  # its job is to change the dtype
    assert out.dtype == np.float32, f"{op.name} gave {out.dtype}"
    out.backward(np.ones(out.shape, np.float32))
    for t in tensors:
        assert t.grad.dtype == np.float32 and t.grad.shape == t.shape


@pytest.mark.parametrize("op, case", _primitive_cases())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_what_the_hot_path_takes_on_trust(op, case, dtype):
    """apply skips the view check for ops with a fresh output, backward skips fitting
    shares for ops whose shares come fitted: both promises hold, checked on the raw rules."""
    arrays = [x.astype(dtype) for x in _inputs(op, case, seed=5)]
    out = np.asarray(op.forward(*arrays, **case.params))
    if op.fresh_output:
        assert not any(np.may_share_memory(out, x) for x in arrays), op.name
    if op.fitted_shares:
        g = np.random.default_rng(6).standard_normal(out.shape).astype(out.dtype)
        for i, x in enumerate(arrays):
            share = np.asarray(op.vjp(i, g, out, arrays, case.params))
            assert (share.shape, share.dtype) == (x.shape, x.dtype), f"{op.name}: input {i}"


@pytest.mark.parametrize("op, case", [p for p in _primitive_cases() if p.values[0].keeps])
def test_what_forward_keeps_changes_nothing(op, case):
    """An op that keeps part of its forward for its rules gives the same loss, and its
    rules the same shares, as when they recompute it (graph building, direct calls)."""
    arrays = _inputs(op, case, seed=7)
    out = np.asarray(op.forward(*arrays, **case.params))
    kept_out, kept = op.keeps(*arrays, **case.params)
    np.testing.assert_array_equal(kept_out, out)
    g = np.random.default_rng(8).standard_normal(out.shape)
    for i in range(len(arrays)):
        recomputed = op.vjp(i, g, out, arrays, case.params)
        reused = op.vjp(i, g, out, arrays + [kept], case.params)
        np.testing.assert_allclose(
            reused, recomputed, rtol=1e-12, atol=1e-15, err_msg=f"{op.name}: input {i}"
        )


def test_a_recorded_node_reuses_what_its_forward_kept():
    x = cr.tensor(np.random.default_rng(9).standard_normal((4, 3)), requires_grad=True)
    loss = cr.nn.functional.cross_entropy(x, cr.tensor(np.array([2, 0, 1, 2])))
    inputs_and_kept = loss._arrays
    assert len(inputs_and_kept) == 2 and inputs_and_kept[0] is x.numpy(force_writable=True)
    np.testing.assert_allclose(inputs_and_kept[1].sum(axis=1), 1.0)  # the softmax
    with cr.no_grad():  # not recorded: nothing kept
        assert cr.nn.functional.cross_entropy(x, cr.tensor(np.array([2, 0, 1, 2])))._arrays is None


@pytest.mark.parametrize(
    "op", [pytest.param(op, id=op.name) for op in REGISTRY.values() if op.doc and ">>>" in op.doc]
)
def test_the_examples_in_an_ops_docstring_run(op):
    """A registered op is an Op object, which doctest's module collection passes over."""
    import doctest

    test = doctest.DocTestParser().get_doctest(op.doc, {"np": np, "cr": cr}, op.name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=lambda text: None)
    assert runner.failures == 0, f"{op.name}: {runner.failures} example(s) failed"


@pytest.mark.parametrize("op, case", _cases())
def test_graph_building_backward_gives_the_plain_gradient(op, case):
    """A rule runs on plain arrays in ordinary backward and on Tensors under create_graph:
    both paths must give the same numbers (gradgradcheck only sees the second)."""
    from chainrule.autograd import engine

    inputs = _inputs(op, case, seed=10)
    plain = [cr.tensor(x, requires_grad=True) for x in inputs]
    out = _fn(op, case)(*plain)
    cotangent = np.random.default_rng(11).standard_normal(out.shape)
    out.backward(cotangent)
    graph = [cr.tensor(x, requires_grad=True) for x in inputs]
    grads = engine.grad(
        _fn(op, case)(*graph),
        graph,
        grad_outputs=cr.tensor(cotangent),
        create_graph=True,
        allow_unused=True,
    )
    for i, (t, g) in enumerate(zip(plain, grads)):
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(t.shape) if g is None else g.numpy()
        np.testing.assert_allclose(
            got, expected, rtol=1e-10, atol=1e-12, err_msg=f"{op.name}: input {i}"
        )
