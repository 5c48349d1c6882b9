"""The chain rule, spelled out: one line per edge, in the order backward visits them.

Every line reads downstream = upstream x local. For scalars the numbers are
written out, as in the CS231n walkthrough; for tensors the line names the rule
(dX = dY W^T, dW = X^T dY, the sum over a broadcast batch) and the shapes.
"""

import re
from collections import defaultdict
from types import SimpleNamespace

import numpy as np

from .groups import Group, norm, op_summary
from .model import expression, format_number, format_shape, value_lines

# Local derivative of an op's output with respect to input i, over its input names
# a, b and its own name out. None: no short formula.
LOCAL = {
    "add": ("1", "1"),
    "sub": ("1", "-1"),
    "mul": ("{b}", "{a}"),
    "div": ("1/{b}", "-{a}/{b}^2"),
    "pow": ("{b}*{a}^({b}-1)", "{out}*ln({a})"),
    "neg": ("-1",),
    "exp": ("exp({a})",),
    "log": ("1/{a}",),
    "log1p": ("1/(1+{a})",),
    "sqrt": ("1/(2*sqrt({a}))",),
    "abs": ("sign({a})",),
    "sin": ("cos({a})",),
    "cos": ("-sin({a})",),
    "tanh": ("1-{out}^2",),
    "sigmoid": ("{out}*(1-{out})",),
    "relu": ("[{a} > 0]",),
    "leaky_relu": ("[{a} > 0] or slope",),
    "softplus": ("sigmoid({a})",),
    "maximum": ("[{a} is the larger]", "[{b} is the larger]"),
    "minimum": ("[{a} is the smaller]", "[{b} is the smaller]"),
    "max": ("[{a} is the max]",),
    "min": ("[{a} is the min]",),
    "sum": ("1",),
    "astype": ("1",),
}
# What each gate does to the upstream gradient, in the notes' words.
GATES = {
    "add": "add gate distributes",
    "sub": "sub gate distributes, negated to the second input",
    "mul": "mul gate swaps its inputs",
    "maximum": "max gate routes",
    "minimum": "min gate routes",
    "max": "max gate routes",
    "min": "min gate routes",
}


# The state an unrolled recurrent layer carries from one time step's box to the next, and
# how its gradient is made from the later step's (column vectors, as the notes write them;
# dgates: the gradient at the step's gate pre-activations). Keyed by the layer's kind:
# the module's class without "Cell", and the RNN's nonlinearity.
RECURRENT = {
    "RNN": ("h_{s}", "dh_{s} = W_hh^T (dh_{t} * (1 - h_{t}^2))"),
    "RNN relu": ("h_{s}", "dh_{s} = W_hh^T (dh_{t} * [h_{t} > 0])"),
    "LSTM": ("(h_{s}, c_{s})", "dh_{s} = W_hh^T dgates_{t}, dc_{s} = f_{t} * dc_{t}"),
    "GRU": ("h_{s}", "dh_{s} = z_{t} * dh_{t} + W_hh^T dgates_{t}"),
}
_STEP = re.compile(r"t=(\d+)")


def explain_graph(graph):
    """The lines of :func:`chainrule.viz.explain` for a traced (or grouped) graph."""
    if getattr(graph, "full", None) is not None:
        return explain_grouped(graph)
    lines = ["forward"]
    for node in graph.nodes:
        if node.kind == "op":
            lines.append(f"  {node.name} = {expression(node)} = {_summary(node.value)}")
    if not graph.has_grads:
        return lines + ["backward", "  (nothing to explain: the output needs no gradient)"]
    out = graph.output
    lines += ["backward", f"  d {out.name}/d {out.name} = {_seed(graph.seed)}"]
    arrived: defaultdict = defaultdict(list)  # node -> the edges its gradient came along
    for node in reversed(graph.nodes):
        if len(arrived[node]) > 1:
            lines.append(_sum_line(out, node, arrived[node]))
        if node.kind != "op" or node.grad is None:
            continue
        for edge in graph.in_edges(node):
            if edge.grad is not None:
                lines.append(edge_line(graph, edge))
                arrived[edge.src].append(edge)
    return lines


def explain_grouped(grouped):
    """The chain rule with each group as one step: what it made, then (backward) the
    gradient it sends to each input and parameter; ops outside groups line by line."""
    full = grouped.full
    lines = ["forward"]
    for unit in grouped.nodes:
        if unit.kind == "group":
            made = ", ".join(
                _summary(m.value) if len(unit.outputs) == 1 else f"{m.name} = {_summary(m.value)}"
                for m in unit.outputs
            )
            lines.append(f"  [{unit.name}] {op_summary(unit.members)} -> {made}")
        elif unit.kind == "op":
            lines.append(f"  {unit.name} = {expression(unit)} = {_summary(unit.value)}")
    if not full.has_grads:
        return lines + ["backward", "  (nothing to explain: the output needs no gradient)"]
    out = full.output
    lines += ["backward", f"  d {out.name}/d {out.name} = {_seed(full.seed)}"]
    arrived: defaultdict = defaultdict(list)  # node -> what its gradient came as (edges or shares)
    for unit in reversed(grouped.nodes):
        for node in unit.outputs if unit.kind == "group" else [unit]:
            inside = unit.kind == "group" and any(  # then part of it never arrives here
                grouped.unit[e.dst] is unit for e in full.out_edges(node)
            )
            if len(arrived[node]) > 1 and not inside:
                lines.append(_sum_line(out, node, arrived[node], output_name(grouped, node)))
        if unit.kind == "group":
            text, shares = group_lines(grouped, unit)
            lines += text
            for src, grad in shares:
                arrived[src].append(SimpleNamespace(grad=grad))
        elif unit.kind == "op" and unit.grad is not None:
            for edge in full.in_edges(unit):
                if edge.grad is not None:
                    lines.append(edge_line(full, edge, lambda n: output_name(grouped, n)))
                    arrived[edge.src].append(edge)
    return lines


def group_lines(grouped, box):
    """A group's backward step: one line per input it sends a gradient to, one per
    parameter; also the ``(input, gradient)`` pairs sent."""
    full, unit = grouped.full, grouped.unit
    out = full.output
    upstream = ", ".join(format_shape(m.grad.shape) for m in box.outputs if m.grad is not None)
    through = f"upstream ({upstream}) back through [{box.name}]"
    sums: dict = {}  # an input read from outside -> the gradient it gets from this box
    uses: dict = {}  # and how many of this box's edges it comes along
    for node in box.members:
        for edge in full.in_edges(node):
            if edge.grad is not None and unit[edge.src] is not box:
                sums[edge.src] = sums[edge.src] + edge.grad if edge.src in sums else edge.grad
                uses[edge.src] = uses.get(edge.src, 0) + 1
    lines = []
    for src, grad in sums.items():
        assign = "+=" if full.gradient_paths(src) > uses[src] else "="
        note = recurrent_note(grouped, unit[src], box)
        lines.append(
            f"  d {out.name}/d {output_name(grouped, src)} {assign} {through} = {_summary(grad)}"
            + (f"   ({note})" if note else "")
        )
    for _, leaf in box.params:
        if leaf.grad is not None:
            lines.append(
                f"  d {out.name}/d {leaf.name} = {through} = {_summary(leaf.grad)}, "
                f"norm {format_number(norm(leaf.grad))}"
            )
    return lines, list(sums.items())


def recurrent_note(grouped, src, box):
    """What the gradient from time step ``box`` back to time step ``src`` is, when the two
    are consecutive steps of one unrolled loop (paths that differ in one ``t=K`` scope,
    by one step); else "".

    The note names the state the later step read (h_K, or (h_K, c_K) for an LSTM) and,
    for chainrule's recurrent layers and cells, the rule that makes its gradient.
    """
    if not isinstance(src, Group):
        return ""
    steps = _steps_apart(src.path, box.path)
    if steps is None:
        return ""
    s, t = steps
    state, rule = RECURRENT.get(_recurrent_kind(grouped, box), ("the state of step {s}", ""))
    text = f"recurrent edge, t={t} -> t={s}: the gradient with respect to {state}"
    return (text + (", " + rule if rule else "")).format(s=s, t=t)


def _steps_apart(earlier, later):
    """(s, t) when two paths are steps s and t = s +- 1 of one loop: the same scopes but
    for one ``t=K`` segment."""
    a, b = earlier.split("/"), later.split("/")
    if len(a) != len(b):
        return None
    differ = [(x, y) for x, y in zip(a, b) if x != y]
    if len(differ) != 1:
        return None
    x, y = (_STEP.fullmatch(part) for part in differ[0])
    if x is None or y is None or abs(int(x[1]) - int(y[1])) != 1:
        return None
    return int(x[1]), int(y[1])


def _recurrent_kind(grouped, box):
    """The kind of recurrent layer (a key of :data:`RECURRENT`) that made ``box``: the
    box's module, or the nearest module around it; None for a loop of the user's own."""
    owners = [box.owner]
    frame = grouped.frame_of.get(box)
    while frame is not None:
        owners.append(frame.owner)
        frame = frame.parent
    module = next((o for o in owners if not isinstance(o, str)), None)
    kind = type(module).__name__.removesuffix("Cell")
    if kind == "RNN" and getattr(module, "nonlinearity", "tanh") == "relu":
        return "RNN relu"
    return kind if kind in RECURRENT else None


def output_name(grouped, node):
    """A node as the explanation of a grouped graph names it: a group's only output by
    the group (``[0: Conv2d]``), other nodes by their own name."""
    box = grouped.unit[node]
    if box is node or node not in box.outputs:
        return node.name
    return f"[{box.name}]" if len(box.outputs) == 1 else f"[{box.name}].{node.name}"


def arrivals(graph, node):
    """The lines saying how ``node``'s gradient was made (for the interactive page)."""
    edges = [e for e in graph.out_edges(node) if e.grad is not None]
    lines = [edge_line(graph, e) for e in edges]
    if len(edges) > 1:
        lines.append(_sum_line(graph.output, node, edges))
    return [line.strip() for line in lines]


def _seed(seed):
    if seed.size == 1:
        return format_number(seed.item())
    if np.all(seed == 1):
        return f"ones ({format_shape(seed.shape)}), the gradient of the sum"
    return f"the given gradient ({format_shape(seed.shape)})"


def _summary(a):
    """A value on one line: the numbers when few, else the shape and min/mean/max."""
    a = np.asarray(a)
    lines = value_lines(a, max_elements=6)
    if len(lines) == 1 and a.size <= 6:
        return lines[0]
    return f"({format_shape(a.shape)}) {value_lines(a, max_elements=0)[0]}"


def _sum_line(out, node, edges, name=None):
    terms = " + ".join(
        _summary(e.grad) if e.grad.size == 1 else f"({format_shape(e.grad.shape)})" for e in edges
    )
    return (
        f"  d {out.name}/d {name or node.name} = {terms} = {_summary(node.grad)}"
        f"   (used {len(edges)} times: the gradients add)"
    )


def edge_line(graph, edge, name=None):
    """One edge of the chain rule: d out/d src = upstream x local = share.

    ``name(node)``, when given, names the source on the left (grouped explanations).
    """
    out, src, dst = graph.output, edge.src, edge.dst
    shared = graph.gradient_paths(src) > 1
    assign = "+=" if shared else "="
    head = f"  d {out.name}/d {src.name if name is None else name(src)} {assign} "
    note = GATES.get(dst.op_name)
    if src.value.size == 1 and dst.value.size == 1:
        formula = _local_formula(edge)
        local = format_number(np.asarray(edge.local).item()) if edge.local is not None else "?"
        written = local if formula in (None, local) else f"{formula} = {local}"
        text = (
            f"upstream ({format_number(dst.grad.item())}) x local d {dst.name}/d {src.name} "
            f"({written}) = {format_number(edge.grad.item())}"
        )
    else:
        text, rule = _tensor_rule(edge)
        note = rule or note
        text += f" = {_summary(edge.grad)}"
    return head + text + (f"   ({note})" if note else "")


def _local_formula(edge):
    formulas = LOCAL.get(edge.dst.op_name)
    if formulas is None or edge.index >= len(formulas):
        return None
    names = [n.name for n in edge.dst.inputs]
    values = dict(a=names[0], b=names[1] if len(names) > 1 else "", out=edge.dst.name)
    if edge.dst.op_name == "pow" and edge.index == 0 and edge.dst.inputs[1].kind == "const":
        n = edge.dst.inputs[1].value
        if n.size == 1:  # a constant power reads better worked out: 2*x, 3*x^2
            n = n.item()
            power = "" if n - 1 == 1 else f"^{format_number(n - 1)}"
            return f"{format_number(n)}*{names[0]}{power}"
    return formulas[edge.index].format(**values)


def _tensor_rule(edge):
    """How a tensor edge's gradient is made, and the name of the rule used."""
    src, dst, i = edge.src, edge.dst, edge.index
    up = f"upstream ({format_shape(dst.grad.shape)})"
    op = dst.op_name
    if op == "matmul" and src.value.ndim == 2 and all(n.value.ndim == 2 for n in dst.inputs):
        a, b = dst.inputs
        if i == 0:
            return (
                f"{up} @ {b.name}^T ({format_shape(b.value.shape[::-1])})",
                "matmul: dX = dY W^T",
            )
        return f"{a.name}^T ({format_shape(a.value.shape[::-1])}) @ {up}", "matmul: dW = X^T dY"
    if op == "linear" and dst.value.ndim == 2 and dst.inputs[0].value.ndim == 2:
        x, w, _ = dst.inputs  # x @ W^T + b, W of shape (out, in) as in PyTorch
        if i == 0:
            return f"{up} @ {w.name} ({format_shape(w.value.shape)})", "linear: dX = dY W"
        if i == 1:
            return (f"{up}^T @ {x.name} ({format_shape(x.value.shape)})", "linear: dW = dY^T X")
        return (
            f"{up}, summed over axis 0 to ({format_shape(src.value.shape)})",
            "linear: the bias gets the sum over the batch",
        )
    if op == "sum":
        return f"{up} copied over the summed axes to ({format_shape(src.value.shape)})", None
    if edge.local_kind == "elementwise":
        formula = _local_formula(edge) or f"d {dst.name}/d {src.name}"
        text = up if formula == "1" else f"{up} * {formula}"
        if src.value.shape != dst.value.shape:
            axes = _broadcast_axes(src.value.shape, dst.value.shape)
            text += f", summed over axis {axes} to ({format_shape(src.value.shape)})"
            return text, (GATES.get(op, op) + "; broadcast: sum over the batch")
        return text, None
    return f"vjp of {op} applied to {up}", None


def _broadcast_axes(small, big):
    """The axes of ``big`` that broadcasting ``small`` stretched: summed in the gradient."""
    lead = len(big) - len(small)
    axes = list(range(lead)) + [
        lead + k for k, n in enumerate(small) if n == 1 and big[lead + k] != 1
    ]
    return axes[0] if len(axes) == 1 else tuple(axes)
