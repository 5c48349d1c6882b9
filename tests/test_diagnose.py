"""Tests for check_graph: every op node of a graph checked against finite differences."""

import doctest

import numpy as np
import pytest

import chainrule as cr
from chainrule import diagnose
from chainrule.diagnose import check_graph
from chainrule.ops.registry import REGISTRY, Case, Spec, defop


def model_loss(seed=0):
    rng = np.random.default_rng(seed)
    X = cr.tensor(rng.standard_normal((6, 4)), name="X")
    W = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True, name="W")
    b = cr.tensor(rng.standard_normal(3), requires_grad=True, name="b")
    h = (X @ W + b).tanh()
    return (h.softmax(axis=1).log() * h.sigmoid()).mean() + h.std() + cr.max(h, axis=0).sum()


def test_a_correct_graph_passes_and_every_op_node_is_listed():
    loss = model_loss()
    report = check_graph(loss)
    assert report.ok and bool(report) and not report.failures
    graph = cr.viz.trace(loss, grads=False)
    expected = sorted(
        (n.name, i)
        for n in graph.nodes
        if n.kind == "op"
        for i, src in enumerate(n.inputs)
        if src.requires_grad
    )
    assert sorted((c.node, c.input) for c in report.checks) == expected
    assert all(c.max_error < 1e-6 and c.checked > 0 for c in report.checks)
    text = str(report)
    assert text.startswith(f"check_graph: {len(report.checks)} vjps of ") and "all agree" in text
    assert "matmul" in text and "WRONG" not in text
    loss.backward()  # the check left the graph as it was


def test_an_op_that_kept_part_of_its_forward_is_checked_on_its_inputs_alone():
    # Cross-entropy's node also holds the softmax it kept for its rule: the check must
    # re-run the op on the inputs only, and its rule agree with finite differences.
    x = cr.tensor(np.random.default_rng(1).standard_normal((5, 4)), requires_grad=True)
    loss = cr.nn.functional.cross_entropy(x * 2.0, np.array([0, 3, 1, 1, 2]))
    report = check_graph(loss)
    assert report.ok and {c.op for c in report.checks} == {"mul", "cross_entropy"}


@pytest.fixture
def broken_ops():
    """Deliberately wrong ops, registered for one test and removed from the registry after."""
    names = []

    def register(name, forward, *vjps):
        full = f"diagnose_test_{name}"
        op = defop(*vjps, name=full, spec=Spec([Case(((3,),) * len(vjps))]))(forward)
        names.append(full)
        return op

    yield register
    for name in names:
        REGISTRY.pop(name, None)
    assert not any(name.startswith("diagnose_test_") for name in REGISTRY)


def test_a_wrong_backward_is_found_by_name(broken_ops):
    # d(x^2)/dx is 2x; this rule forgets the 2.
    square = broken_ops("square", lambda a: a * a, lambda g, out, a: g * a)
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True, name="x")
    loss = (square(x.exp()) * 2.0).sum()
    with pytest.raises(cr.GradcheckError) as info:
        check_graph(loss)
    message = str(info.value)
    assert "op 'diagnose_test_square'" in message and "input 0" in message
    assert "node 'diagnose_test_square1'" in message
    failure = info.value.report.failures[0]
    assert failure.op == "diagnose_test_square" and failure.input == 0
    # The worst element and both values are reported; the true derivative is twice the rule's.
    assert failure.index in {(0,), (1,), (2,)}
    assert failure.numeric == pytest.approx(2 * failure.analytic, rel=1e-4)
    assert f"analytic {failure.analytic:.6g}, numeric {failure.numeric:.6g}" in message
    # Every other op was checked and is fine.
    assert [c.op for c in info.value.report.checks if c.ok] == ["sum", "mul", "exp"]


def test_the_wrong_input_of_a_binary_op_is_named(broken_ops):
    # d(a*b)/db is a; this rule returns b instead (only input 1 is wrong).
    product = broken_ops(
        "product", lambda a, b: a * b, lambda g, out, a, b: g * b, lambda g, out, a, b: g * b
    )
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True, name="a")
    b = cr.tensor([-1.0, 0.5, 4.0], requires_grad=True, name="b")
    report = check_graph(product(a, b).sum(), raise_on_error=False)
    assert not report.ok
    assert [(c.op, c.input) for c in report.failures] == [("diagnose_test_product", 1)]
    assert "WRONG" in str(report)


def test_kinks_accept_either_one_sided_derivative():
    x = cr.tensor([0.0, 1.0, -1.0, 2.0], requires_grad=True, name="x")
    tied = cr.tensor([3.0, 3.0, 1.0], requires_grad=True, name="tied")
    loss = x.relu().sum() + x.abs().sum() + cr.max(tied) + cr.maximum(x, 1.0).sum()
    assert check_graph(loss).ok


def test_large_inputs_are_sampled():
    w = cr.tensor(np.random.default_rng(0).standard_normal((30, 40)), requires_grad=True)
    report = check_graph((w * w).sum(), max_elements=16)
    assert report.ok and {c.checked for c in report.checks} == {16}


def test_float32_graphs_and_lower_precision_ops_are_checked_in_float64():
    x = cr.tensor([0.5, 1.5], requires_grad=True)  # float32
    report = check_graph(x.double().exp().astype(np.float32).log().sum())
    assert report.ok and len(report.checks) == 5


def test_needs_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        check_graph(loss)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert check_graph(y).ok


def test_a_leaf_has_nothing_to_check():
    report = check_graph(cr.tensor([1.0], requires_grad=True))
    assert report.ok and report.checks == []


def test_docstring_examples_run():
    assert doctest.testmod(diagnose).failed == 0
