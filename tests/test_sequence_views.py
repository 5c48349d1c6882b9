"""Views of unrolled recurrent layers (issue #18): one box per time step inside the
layer's frame, and the explanation of the gradient carried along the recurrent edge."""

import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_viz import HAS_DOT, IN_CI, SVG

import chainrule as cr
from chainrule.nn import Module
from chainrule.viz import groups, model
from chainrule.viz.explanation import group_lines

STEPS = 4
WHICH = shutil.which  # before the fixture below replaces it


class Net(Module):
    """A recurrent layer and a linear head on its last output, as models use them."""

    def __init__(self, layer):
        super().__init__()
        self.rnn = layer
        width = layer.hidden_size * (2 if layer.bidirectional else 1)
        self.head = cr.nn.Linear(width, 2, dtype=np.float64, rng=1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1]).sum()


def unrolled(kind="RNN", **options):
    """A small ``kind`` layer over STEPS steps in float64, and its loss, recorded."""
    layer = getattr(cr.nn, kind)(3, 4, dtype=np.float64, rng=0, **options)
    net = Net(layer)
    x = cr.tensor(np.random.default_rng(0).normal(size=(STEPS, 2, 3)), name="x")
    with cr.viz.record_scopes():
        loss = net(x)
    loss.name = "loss"
    return net, loss


def _box(grouped, name):
    return next(g for g in grouped.groups if g.name == name)


@pytest.fixture(autouse=True)
def python_layout(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)


# --------------------------------------------------------------------- boxes and frames
@pytest.mark.parametrize(
    "kind, ops",
    [
        ("RNN", ["step_linear", "step_linear", "tanh"]),
        ("LSTM", ["step_linear", "lstm_step"]),
        ("GRU", ["step_linear", "step_linear", "gru_cell"]),
    ],
)
def test_each_time_step_is_one_box_inside_the_layers_frame(kind, ops):
    net, loss = unrolled(kind)
    grouped = cr.viz.graph(loss, group="module").graph
    steps = [f"rnn/t={t}" for t in range(STEPS)]
    assert [g.name for g in grouped.groups] == steps + ["head: Linear"]
    # After the first step (from a zero state: no hidden product) every step makes the
    # same ops: its input's projection, the hidden one and the cell.
    for box in grouped.groups[1:STEPS]:
        assert sorted(n.op_name for n in box.members) == sorted(ops)
    frame = grouped.frame_of[grouped.groups[0]]
    assert frame.name == f"rnn: {kind}" and frame.owner is net.rnn
    assert frame.parent is not None and frame.parent.owner is net  # the model's frame
    assert [grouped.frame_of[g] for g in grouped.groups] == [frame] * STEPS + [frame.parent]
    # The layer's weights are drawn inside its frame: only its steps read them.
    inside = {u.name for u in frame.units if u.kind == "leaf"}
    assert inside == {name for name, _ in net.named_parameters() if name.startswith("rnn.")}


def test_steps_are_joined_by_the_recurrent_edges_only_in_order():
    _, loss = unrolled("LSTM")
    grouped = cr.viz.graph(loss, group="module").graph
    steps = {g: int(g.name.rsplit("=", 1)[1]) for g in grouped.groups[:STEPS]}
    between = [
        (steps[e.src], steps[e.dst]) for e in grouped.edges if e.src in steps and e.dst in steps
    ]
    assert sorted(between) == [(t, t + 1) for t in range(STEPS - 1)]


def _rects(svg):
    """The rectangle of every drawn node and frame, by id: (left, top, right, bottom)."""
    found = {}
    for g in ET.fromstring(svg).iter(SVG + "g"):
        rect = g.find(SVG + "rect")
        if g.get("class") in ("node", "frame") and rect is not None:
            x, y = float(rect.get("x")), float(rect.get("y"))
            found[g.get("id")] = (x, y, x + float(rect.get("width")), y + float(rect.get("height")))
    return found


def _within(inner, outer):
    return (
        outer[0] < inner[0] and outer[1] < inner[1] and inner[2] < outer[2] and inner[3] < outer[3]
    )


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_the_picture_draws_the_steps_inside_the_layers_outline(kind, tmp_path):
    _, loss = unrolled(kind)
    view = cr.viz.graph(loss, group="module")
    grouped = view.graph
    rects = _rects(view.svg(engine="python"))
    frame = grouped.frame_of[grouped.groups[0]]
    steps = grouped.groups[:STEPS]
    assert all(_within(rects[box.id], rects[frame.id]) for box in steps)
    assert _within(rects[frame.id], rects[frame.parent.id])  # nested in the model's frame
    head = grouped.groups[STEPS]
    assert not _within(rects[head.id], rects[frame.id])
    svg = view.svg(engine="python")
    assert re.search(rf'<g class="frame" id="{frame.id}" data-name="rnn: {kind}">', svg)
    # The page carries the same picture, outlines included.
    page = cr.viz.render(loss, tmp_path / "rnn.html", group="module").read_text()
    assert f'data-name="rnn: {kind}"' in page and page.count('class="frame"') == 2


def _cluster_members(source):
    """Each DOT cluster's label and the node ids declared directly or deeper inside it."""
    members, stack = {}, []
    for line in source.splitlines():
        text = line.strip()
        if text.startswith("subgraph cluster_"):
            stack.append(None)
        elif text.startswith("graph [") and stack and stack[-1] is None:
            stack[-1] = re.search(r'label="([^"]*)"', text).group(1)
            members[stack[-1]] = []
        elif text == "}" and stack:
            stack.pop()
        elif re.match(r"[ng]\d+ \[", text):
            for label in stack:
                members[label].append(text.split()[0])
    return members


def test_dot_source_nests_the_steps_in_clusters():
    _, loss = unrolled("GRU")
    view = cr.viz.graph(loss, group="module")
    members = _cluster_members(view.source)
    steps = {box.id for box in view.graph.groups[:STEPS]}
    assert set(members) == {"Net", "rnn: GRU"}
    assert steps <= set(members["rnn: GRU"]) and steps <= set(members["Net"])
    assert view.graph.groups[STEPS].id not in members["rnn: GRU"]


@pytest.mark.skipif(not HAS_DOT and not IN_CI, reason="Graphviz's dot is not installed")
def test_graphviz_draws_the_clusters(monkeypatch):
    monkeypatch.setattr(shutil, "which", WHICH)
    _, loss = unrolled("RNN")
    view = cr.viz.graph(loss, group="module")
    svg = view.svg(engine="dot")
    clusters = {
        g.get("id"): next(g.iter(SVG + "text")).text
        for g in ET.fromstring(svg).iter(SVG + "g")
        if g.get("class") == "cluster"
    }
    assert sorted(clusters.values()) == ["Net", "rnn: RNN"]
    frame = view.graph.frame_of[view.graph.groups[0]]
    assert clusters[frame.id] == "rnn: RNN"


def test_layers_and_directions_are_frames_of_their_own():
    net, loss = unrolled("LSTM", num_layers=2, bidirectional=True)
    grouped = cr.viz.graph(loss, group="module").graph
    frames = {f.name: f for f in grouped.frames}
    assert set(frames) == {
        "Net",
        "rnn: LSTM",
        "rnn/l0",
        "rnn/l0_reverse",
        "rnn/l1",
        "rnn/l1_reverse",
    }
    for name in ("rnn/l0", "rnn/l0_reverse", "rnn/l1", "rnn/l1_reverse"):
        assert frames[name].parent is frames["rnn: LSTM"]
        boxes = [u.name for u in frames[name].units if u.kind == "group"]
        order = range(STEPS - 1, -1, -1) if name.endswith("reverse") else range(STEPS)
        assert boxes == [f"{name}/t={t}" for t in order]  # in the order they ran


# --------------------------------------------------------------------- the explanation
def _line(text, src, dst):
    return next(
        s for s in text.splitlines() if s.startswith(f"  d loss/d [{src}] ") and f"[{dst}] =" in s
    )


def test_the_recurrent_edge_carries_w_hh_transposed_times_the_tanh_gradient():
    """The share [rnn/t=K+1] sends back to [rnn/t=K] is dh_K = W_hh^T (dh_{K+1} * (1 -
    h_{K+1}^2)), which the explanation says; checked here from the boxes' own values."""
    net, loss = unrolled("RNN")
    grouped = groups.group_graph(model.trace(loss), "module")
    text = cr.viz.explain(loss, group="module")
    w_hh = net.rnn.weight_hh_l0.data
    for t in range(STEPS - 1):
        earlier, later = _box(grouped, f"rnn/t={t}"), _box(grouped, f"rnn/t={t + 1}")
        line = _line(text, f"rnn/t={t}", f"rnn/t={t + 1}")
        assert line.endswith(
            f"(recurrent edge, t={t + 1} -> t={t}: the gradient with respect to h_{t}, "
            f"dh_{t} = W_hh^T (dh_{t + 1} * (1 - h_{t + 1}^2)))"
        )
        _, shares = group_lines(grouped, later)
        (share,) = [g for src, g in shares if grouped.unit[src] is earlier]
        # Rows are samples: W_hh^T (...) is (...) @ W_hh. Float64, the same products in
        # another order: equal to rounding.
        expected = (later.grad * (1 - later.value**2)) @ w_hh
        np.testing.assert_allclose(share, expected, rtol=1e-12, atol=1e-15)
    # The loss reads the last step's output directly: nothing from later steps adds to it.
    assert "recurrent edge, t=4" not in text


@pytest.mark.parametrize(
    "kind, options, state, rule",
    [
        ("RNN", {"nonlinearity": "relu"}, "h_1", "dh_1 = W_hh^T (dh_2 * [h_2 > 0])"),
        ("LSTM", {}, "(h_1, c_1)", "dh_1 = W_hh^T dgates_2, dc_1 = f_2 * dc_2"),
        ("GRU", {}, "h_1", "dh_1 = z_2 * dh_2 + W_hh^T dgates_2"),
    ],
)
def test_the_explanation_names_the_state_each_layer_carries(kind, options, state, rule):
    _, loss = unrolled(kind, **options)
    text = cr.viz.explain(loss, group="module")
    line = _line(text, "rnn/t=1", "rnn/t=2")
    assert line.endswith(
        f"(recurrent edge, t=2 -> t=1: the gradient with respect to {state}, {rule})"
    )
    # The loss reads only the last step's output, so what step 2 sends back along the
    # edge is the whole gradient at step 1's state (packed (h, c) for the LSTM).
    grouped = groups.group_graph(model.trace(loss), "module")
    earlier, later = _box(grouped, "rnn/t=1"), _box(grouped, "rnn/t=2")
    _, shares = group_lines(grouped, later)
    (share,) = [g for src, g in shares if grouped.unit[src] is earlier]
    (whole,) = cr.autograd.grad(loss, [earlier.tensor], retain_graph=True)
    np.testing.assert_allclose(share, np.asarray(whole), rtol=1e-12, atol=1e-15)


def test_a_reverse_direction_steps_back_the_other_way_and_layers_are_not_recurrent():
    _, loss = unrolled("GRU", num_layers=2, bidirectional=True)
    text = cr.viz.explain(loss, group="module")
    line = _line(text, "rnn/l0_reverse/t=2", "rnn/l0_reverse/t=1")
    assert "(recurrent edge, t=1 -> t=2: the gradient with respect to h_2, dh_2 = z_1" in line
    # Only edges between neighbouring steps of one layer and direction are recurrent:
    # not layer 1's input (both directions' outputs of layer 0, concatenated).
    notes = [s for s in text.splitlines() if "(recurrent edge" in s]
    assert len(notes) == 4 * (STEPS - 1)  # two layers, two directions
    for note in notes:
        src, dst = re.findall(r"\[(rnn/l[01](?:_reverse)?)/t=(\d)\]", note)
        assert src[0] == dst[0] and abs(int(src[1]) - int(dst[1])) == 1
    into_layer_1 = [s for s in text.splitlines() if s.startswith("  d loss/d concatenate")]
    assert into_layer_1 and not any("recurrent" in s for s in into_layer_1)


def test_a_loop_over_a_cell_gets_the_cells_rule():
    cell = cr.nn.RNNCell(3, 4, dtype=np.float64, rng=0)
    rng = np.random.default_rng(0)
    h = cr.tensor(rng.normal(size=(2, 4)), name="h0")
    with cr.viz.record_scopes():
        for t in range(3):
            with cr.viz.scope(f"t={t}"):
                h = cell(cr.tensor(rng.normal(size=(2, 3))), h)
        loss = h.sum()
    loss.name = "loss"
    text = cr.viz.explain(loss, group="module")
    line = _line(text, "t=0: RNNCell", "t=1: RNNCell")
    assert line.endswith("the gradient with respect to h_0, dh_0 = W_hh^T (dh_1 * (1 - h_1^2)))")
