"""Tests for grouped views: one box per module call or named scope (issue #17's views).

The scopes come from ``Module.__call__`` while ``cr.viz.record_scopes()`` is on. Until
that hook is wired into nn/module.py, the ``module_scopes`` fixture patches in the same
three lines, so these tests check the recorder, the grouping and the pictures either
way (and ``test_module_calls_are_recorded_only_while_recording`` checks the real hook
once it is there).
"""

import doctest
import json
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_viz import HAS_DOT, IN_CI, SVG, browser  # noqa: F401  (browser: a fixture)

import chainrule as cr
from chainrule.autograd import scopes
from chainrule.nn import Module
from chainrule.viz import groups, model
from chainrule.viz import html as viz_html
from chainrule.viz import svg as viz_svg

WHICH = shutil.which


class Nop(Module):
    def forward(self, x):
        return x


def _hooked_call(self, *args, **kwargs):
    """What nn/module.py's Module.__call__ does once the hook is wired."""
    if scopes.recording:
        return scopes.call(self, args, kwargs)
    return self.forward(*args, **kwargs)


def _hook_is_wired():
    nop = Nop()
    with scopes.record_scopes():
        nop(1)
    return bool(scopes._closed) and scopes._closed[-1][2] is nop


@pytest.fixture(autouse=True)
def module_scopes(monkeypatch):
    if not _hook_is_wired():
        monkeypatch.setattr(Module, "__call__", _hooked_call)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)  # the Python layout


def small_cnn(seed=0):
    """Conv2d-ReLU-MaxPool2d-Flatten-Linear on 2 images of 1x8x8, and its loss."""
    rng = np.random.default_rng(seed)
    net = cr.nn.Sequential(
        cr.nn.Conv2d(1, 4, 3, dtype=np.float64),
        cr.nn.ReLU(),
        cr.nn.MaxPool2d(2),
        cr.nn.Flatten(),
        cr.nn.Linear(36, 3, dtype=np.float64),
    )
    x = cr.tensor(rng.standard_normal((2, 1, 8, 8)), name="x")
    with cr.viz.record_scopes():
        loss = cr.nn.functional.cross_entropy(net(x), cr.tensor([0, 2]))
    loss.name = "loss"
    return net, loss


def _svg_nodes(svg):
    root = ET.fromstring(svg)
    return {g.get("id"): g for g in root.iter(SVG + "g") if g.get("class") == "node"}


def _texts(g):
    return [t.text.replace("\u00a0", " ") for t in g.iter(SVG + "text")]


# --------------------------------------------------------------------- recording
def test_a_scope_holds_exactly_the_nodes_made_inside_it():
    a = cr.tensor(1.0, requires_grad=True)
    before = a * 2
    with cr.viz.scope("outer"):
        inside = before + 1
        with cr.viz.scope("inner"):
            deeper = inside.exp()
    after = deeper * 3
    found = {s.owner: s for s in scopes.recorded(before._seq, after._seq)}
    assert set(found) == {"outer", "inner"}
    holds = {
        name: [t for t in (before, inside, deeper, after) if s.start < t._seq < s.end]
        for name, s in found.items()
    }
    assert holds["outer"] == [inside, deeper] and holds["inner"] == [deeper]
    assert not scopes.recording  # a scope switches recording on inside only


def test_record_scopes_as_a_switch_and_as_a_context():
    assert not scopes.recording
    with cr.viz.record_scopes():
        assert scopes.recording
        with cr.viz.record_scopes(False):
            assert not scopes.recording
        assert scopes.recording
    assert not scopes.recording
    cr.viz.record_scopes()
    try:
        assert scopes.recording
    finally:
        cr.viz.record_scopes(False)
    assert not scopes.recording


def test_module_calls_are_recorded_only_while_recording():
    nop, count = Nop(), len(scopes._closed)
    nop(1)  # off: Module.__call__ does nothing but the flag test
    assert len(scopes._closed) == count
    with cr.viz.record_scopes():
        nop(1)
    assert len(scopes._closed) == count + 1 and scopes._closed[-1][2] is nop


def test_a_module_that_raises_still_closes_its_scope():
    class Broken(Module):
        def forward(self, x):
            raise ValueError("no")

    broken = Broken()
    with cr.viz.record_scopes(), pytest.raises(ValueError):
        broken(1)
    assert scopes._closed[-1][2] is broken and not scopes.recording


def test_the_scope_list_stays_bounded(monkeypatch):
    monkeypatch.setattr(scopes, "LIMIT", 10)
    monkeypatch.setattr(scopes, "_closed", [])
    for k in range(25):
        with cr.viz.scope(f"s{k}"):
            pass
    assert len(scopes._closed) <= 10 and scopes._closed[-1][2] == "s24"


def test_scope_if_recording_does_nothing_while_off():
    count = len(scopes._closed)
    with scopes.scope_if_recording("t=0"):
        pass
    assert len(scopes._closed) == count
    with cr.viz.record_scopes(), scopes.scope_if_recording("t=0"):
        pass
    assert scopes._closed[-1][2] == "t=0"


# --------------------------------------------------------------------- the small CNN
def test_the_small_cnn_grouped_has_one_box_per_module():
    net, loss = small_cnn()
    view = cr.viz.graph(loss, group="module")
    names = [f"{name}: {type(m).__name__}" for name, m in net.named_children()]
    boxes = [n for n in view.graph.nodes if n.kind == "group"]
    assert [b.name for b in boxes] == names  # in forward order
    assert [n.name for n in view.graph.nodes if n.kind != "group"] == ["x", "loss"]
    # Every op of the full graph is in exactly one box, or drawn on its own.
    ops = [n for n in view.full.nodes if n.kind == "op"]
    assert sorted(n.id for b in boxes for n in b.members) == sorted(
        n.id for n in ops if n.name != "loss"
    )
    # The boxes form the chain conv -> relu -> pool -> flatten -> linear -> loss.
    pairs = [(e.src.name, e.dst.name) for e in view.graph.edges]
    assert pairs == list(zip(["x"] + names, names + ["loss"]))

    svg = view.svg(engine="python")
    drawn = _svg_nodes(svg)
    assert set(drawn) == {n.id for n in view.graph.nodes}  # the boxes, x and the loss
    grads = cr.autograd.grad(loss, list(net.parameters()), retain_graph=True)
    norms = {
        name: np.linalg.norm(g.data if isinstance(g, cr.Tensor) else g)
        for (name, _), g in zip(net.named_parameters(), grads)
    }
    for box in boxes:
        texts = _texts(drawn[box.id])
        assert texts[0] == box.name
        module = dict(net.named_children())[box.path]
        for name, p in module.named_parameters():
            line = next(t for t in texts if t.startswith(name + " "))
            shape = "x".join(map(str, p.shape))
            assert re.fullmatch(rf"{name} +{shape}  \|grad\| (\S+)", line)
            shown = float(line.rsplit(" ", 1)[1])  # 4 significant digits: within 5e-4
            assert shown == pytest.approx(norms[f"{box.path}.{name}"], rel=5e-4)
    conv = dict(zip(names, boxes))["0: Conv2d"]
    assert "convolution" in _texts(drawn[conv.id])


@pytest.mark.parametrize("engine", ["python", "dot"])
def test_the_small_cnn_expanded_in_html_has_all_ops(engine, tmp_path, monkeypatch):
    if engine == "dot":
        monkeypatch.setattr(shutil, "which", WHICH)  # Graphviz draws the boxes
        if not HAS_DOT and not IN_CI:
            pytest.skip("Graphviz's dot is not installed")
    _, loss = small_cnn()
    page = cr.viz.render(loss, tmp_path / "cnn.html", engine=engine, group="module").read_text()
    full = model.trace(loss)
    grouped = groups.group_graph(full, "module")
    ops = [n.id for n in full.nodes if n.kind == "op"]
    # Each box's expansion is a picture of its ops; with the op drawn outside any box,
    # every op of the graph is on the page exactly once.
    for box in grouped.groups:
        expansion = rf'<div class="cr-expansion" id="cr-x-{box.id}" hidden>.*?(<svg.*?</svg>)'
        match = re.search(expansion, page, re.S)
        inside = _svg_nodes(match.group(1))
        assert [i for i in inside if i in ops] == [n.id for n in box.members]
    for op in ops:
        assert len(re.findall(rf'<g (?:class="node" )?id="{op}"', page)) == 1, op
    data = json.loads(re.search(r'id="cr-data">(.*?)</script>', page, re.S).group(1))
    assert set(ops) <= set(data)  # hovering an op inside a box shows its numbers
    conv = data[grouped.groups[0].id]
    assert conv["kind"] == "group" and conv["title"] == "0: Conv2d"
    assert conv["ops"] == [model.title(n) for n in grouped.groups[0].members]
    assert [p.split()[0] for p in conv["params"]] == ["weight", "bias"]


def test_clicking_a_box_in_the_browser_toggles_its_ops(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _, loss = small_cnn()
    grouped = groups.group_graph(model.trace(loss), "module")
    conv = grouped.groups[0]
    path = cr.viz.render(loss, tmp_path / "cnn.html", group="module")
    browser.get(path.resolve().as_uri())
    box = browser.find_element(By.CSS_SELECTOR, f"g.node#{conv.id}")
    expansion = browser.find_element(By.ID, f"cr-x-{conv.id}")
    assert not expansion.is_displayed()

    ActionChains(browser).move_to_element(box).click().perform()
    assert expansion.is_displayed()
    detail = browser.find_element(By.ID, "cr-detail")
    assert detail.find_element(By.TAG_NAME, "h2").text == "0: Conv2d"
    assert "weight 4x1x3x3" in detail.find_element(By.CSS_SELECTOR, "pre.cr-params").text
    # The ops inside show their own numbers on hover.
    matmul = next(n for n in conv.members if n.op_name == "convolution")
    inner = expansion.find_element(By.CSS_SELECTOR, f"g.node#{matmul.id}")
    assert inner.is_displayed()
    ActionChains(browser).move_to_element(inner).perform()
    assert detail.get_attribute("data-node") == matmul.id
    # The box stays in view beside its expansion: a second click closes it.
    ActionChains(browser).move_to_element(box).click().perform()
    assert not expansion.is_displayed()
    ActionChains(browser).move_to_element(box).click().perform()
    expansion.find_element(By.CSS_SELECTOR, "button.cr-close").click()
    assert not expansion.is_displayed()
    assert not browser.get_log("browser")  # no script errors


def test_grouped_dot_png_and_explanation_of_the_small_cnn(tmp_path):
    pytest.importorskip("matplotlib")
    net, loss = small_cnn()
    source = cr.viz.to_dot(loss, group="module")
    assert len(re.findall(r"^\s*g\d+ \[", source, re.M)) == 5
    assert "0: Conv2d" in source and "convolution1" not in source
    png = cr.viz.render(loss, tmp_path / "cnn.png", group="module")
    assert png.read_bytes().startswith(b"\x89PNG")

    text = cr.viz.explain(loss, group="module")
    lines = text.splitlines()
    assert lines[1].startswith("  [0: Conv2d] convolution -> (2x4x6x6)")
    weight = next(p for name, p in net.named_parameters() if name == "0.weight")
    (g,) = cr.autograd.grad(loss, [weight], retain_graph=True)
    line = next(t for t in lines if t.startswith("  d loss/d 0.weight ="))
    assert "upstream (2x4x6x6) back through [0: Conv2d]" in line
    norm = float(line.rsplit("norm ", 1)[1])
    assert norm == pytest.approx(np.linalg.norm(np.asarray(g)), rel=5e-4)
    assert "  d loss/d [3: Flatten] = upstream (2x3) back through [4: Linear]" in text
    assert "  d loss/d [4: Linear] = vjp of cross_entropy applied to upstream" in text


# --------------------------------------------------------------------- nesting and naming
class Net(Module):
    def __init__(self):
        super().__init__()
        self.features = cr.nn.Sequential(cr.nn.Linear(4, 5, rng=0), cr.nn.Tanh())
        self.head = cr.nn.Linear(5, 2, rng=1)

    def forward(self, x):
        return self.head(self.features(x) * 2)  # the * 2 is the container's own op


def test_nested_modules_are_named_by_path_and_grouped_by_depth():
    net = Net()
    with cr.viz.record_scopes():
        out = net(cr.tensor(np.ones((3, 4), np.float32), name="x")).sum()
    names = {}
    for group in ["module", 0, 1, 2]:
        view = cr.viz.graph(out, group=group)
        names[group] = [n.name for n in view.graph.nodes]
    assert names["module"] == [
        "x",
        "features.0: Linear",
        "features.1: Tanh",
        "2",
        "mul1",
        "head: Linear",
        "sum1",
    ]  # the constant 2 and mul1 are Net's
    assert names[0] == ["x", "Net", "sum1"]
    assert names[1] == ["x", "features: Sequential", "2", "mul1", "head: Linear", "sum1"]
    assert names[2] == names["module"]  # head, one call deep, calls nothing: still a box
    depth1 = cr.viz.graph(out, group=1).graph
    features = depth1.groups[0]
    # A box lists its parameters by their names inside the module it draws.
    assert [name for name, _ in features.params] == ["0.weight", "0.bias"]
    assert [n.name for n in features.members] == ["linear1", "tanh1"]


def test_a_module_called_twice_is_two_boxes():
    layer = cr.nn.Linear(3, 3, rng=0)
    with cr.viz.record_scopes():
        out = layer(layer(cr.ones(1, 3))).sum()
    view = cr.viz.graph(out, group="module")
    # The shared weight and bias feed both calls, so they stay outside either box.
    assert [n.name for n in view.graph.nodes] == ["weight", "bias", "Linear", "Linear #2", "sum1"]
    first, second = view.graph.groups
    assert [n.name for n in second.inputs] == ["Linear", "weight", "bias"]
    assert len(first.held) == 1 and not first.params  # the unnamed input, inside


def test_time_steps_as_scopes_give_one_box_per_step():
    """The mechanism issue #18 uses: an RNN names each time step with a scope."""
    rng = np.random.default_rng(0)
    W = cr.tensor(rng.standard_normal((3, 3)) * 0.5, requires_grad=True, name="W")
    U = cr.tensor(rng.standard_normal((2, 3)) * 0.5, requires_grad=True, name="U")
    h, states = cr.zeros(1, 3), []
    for t in range(4):
        with cr.viz.scope(f"t={t}"):
            h = (h @ W + cr.tensor(rng.standard_normal((1, 2))) @ U).tanh()
        states.append(h)
    loss = (h * h).sum()
    view = cr.viz.graph(loss, group="module")
    boxes = view.graph.groups
    assert [b.name for b in boxes] == ["t=0", "t=1", "t=2", "t=3"]
    assert all(len(b.members) == 4 for b in boxes)  # matmul x2, add, tanh
    # The weights every step uses stay outside, with an edge into each box; the zero
    # state and each step's input (unnamed, no gradient) are inside their step.
    into = {(e.src.name, e.dst.name) for e in view.graph.edges}
    assert {(w, b.name) for w in "WU" for b in boxes} <= into
    assert {(f"t={t}", f"t={t + 1}") for t in range(3)} <= into
    assert len(boxes[0].held) == 2 and all(len(b.held) == 1 for b in boxes[1:])
    # The explanation steps back through the boxes; the shares are the real gradients.
    text = cr.viz.explain(loss, group="module")
    found = cr.autograd.grad(loss, states[:3], retain_graph=True)
    for t in range(3):
        line = next(s for s in text.splitlines() if s.startswith(f"  d sum1/d [t={t}] ="))
        assert f"back through [t={t + 1}]" in line
        assert line.endswith(
            f"(recurrent edge, t={t + 1} -> t={t}: the gradient with respect "
            f"to the state of step {t})"
        )
        values = line.rsplit("= [", 1)[1].split("]")[0]
        shown = [float(v) for v in values.split(", ")]
        # Printed to 4 significant digits: within 5e-4 relative (1e-4 near zero).
        assert np.allclose(shown, np.asarray(found[t]).ravel(), rtol=5e-4, atol=1e-4)
    assert "d sum1/d W = (3x3) + (3x3) + (3x3) + (3x3) =" in text


def test_named_scopes_and_modules_nest_in_paths():
    class Stepper(Module):
        def __init__(self):
            super().__init__()
            self.cell = cr.nn.Linear(2, 2, rng=0)

        def forward(self, x):
            for t in range(2):
                with cr.viz.scope(f"t={t}"):
                    x = self.cell(x).tanh()
            return x

    class Model(Module):
        def __init__(self):
            super().__init__()
            self.rnn = Stepper()

        def forward(self, x):
            return self.rnn(x)

    with cr.viz.scope("step"):
        out = Model()(cr.ones(1, 2)).sum()
    leaves = [n.name for n in cr.viz.graph(out, group="module").graph.groups]
    assert leaves == ["step/rnn/t=0/cell: Linear", "step/rnn/t=1/cell: Linear"]
    steps = [n.name for n in cr.viz.graph(out, group=2).graph.groups]
    assert steps == ["step/rnn: Stepper"]
    ts = [n.name for n in cr.viz.graph(out, group=3).graph.groups]
    assert ts == ["step/rnn/t=0", "step/rnn/t=1"]


def test_a_named_input_stays_outside_and_parameters_go_inside():
    layer = cr.nn.Linear(3, 2, rng=0)
    x = cr.tensor(np.ones((4, 3), np.float32), name="x")
    x_grad = cr.tensor(np.ones((4, 3), np.float32), requires_grad=True, name="xg")
    with cr.viz.record_scopes():
        out = (layer(x) + layer(x_grad)).sum()
    view = cr.viz.graph(out, group="module")
    loose = [n.name for n in view.graph.nodes if n.kind != "group"]
    assert {"x", "xg"} <= set(loose) and "weight" in loose  # shared by both calls: outside
    layer2 = cr.nn.Linear(3, 2, rng=0)
    with cr.viz.record_scopes():
        out = layer2(x).sum()
    (box,) = cr.viz.graph(out, group="module").graph.groups
    assert [name for name, _ in box.params] == ["weight", "bias"]
    assert [n.name for n in box.inputs] == ["x"]


# --------------------------------------------------------------------- errors
def test_grouping_without_recorded_scopes_names_the_fix():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = cr.nn.Linear(2, 2, rng=0)(x).sum()  # recording off
    with pytest.raises(ValueError, match="record_scopes"):
        cr.viz.render(out, "never.svg", group="module")


@pytest.mark.parametrize("group", ["modules", -1, 1.5, True])
def test_a_bad_group_is_one_clear_error(group, monkeypatch):
    monkeypatch.setattr(model, "trace", lambda *a, **k: pytest.fail("traced anyway"))
    with pytest.raises(ValueError, match="group must be None, 'module' or a scope depth"):
        cr.viz.graph(cr.tensor(1.0, requires_grad=True) * 2, group=group)


def test_scopes_of_other_graphs_do_not_leak_in():
    with cr.viz.scope("first"):
        a = cr.tensor(1.0, requires_grad=True) * 2
    with cr.viz.scope("second"):
        b = cr.tensor(1.0, requires_grad=True) * 3
    assert [g.name for g in cr.viz.graph(b, group="module").graph.groups] == ["second"]
    assert [g.name for g in cr.viz.graph(a, group="module").graph.groups] == ["first"]


# --------------------------------------------------------------------- size and docs
def test_a_long_chain_of_scopes_groups_in_one_pass():
    x = cr.tensor(0.5, requires_grad=True, name="x")
    y = x
    for t in range(2000):
        with cr.viz.scope(f"t={t}"):
            y = (y * 0.5).sin()
    grouped = groups.group_graph(model.trace(y), "module")
    assert len(grouped.groups) == 2000 and len(grouped.nodes) == 2001
    assert viz_svg.svg_text(grouped).count('class="node"') == 2001
    page = viz_html.page(grouped, viz_svg.svg_text(grouped))
    assert page.count('class="cr-expansion"') == 2000


@pytest.mark.parametrize("module", [groups, scopes])
def test_docstring_examples_run(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
