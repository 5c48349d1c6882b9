"""Grouped graphs: one box per module call (or named scope), each expandable to its ops.

:func:`group_graph` folds a traced :class:`~chainrule.viz.model.Graph` by the scopes
recorded while it was built (:mod:`chainrule.autograd.scopes`): the ops a call made
become one :class:`Group` node, the parameters and constants only those ops use go
inside it, and edges join the boxes. Every step is one pass over the nodes and edges
(plus a sort of the op numbers), so grouping stays linear, like the layout.

``group="module"`` puts each op in the innermost scope that made it, when that scope
called no other scope that made ops of this graph: a ``Sequential``'s children become
boxes, and an op the container itself made (a ``flatten`` between two children) stays
an op node. A scope that is not a box but holds boxes or ops is a :class:`Frame`: the
pictures draw it as an outline around them (an RNN around its time steps' boxes), with
the parameters and constants that only its contents use.

``group=d`` (an int) stops ``d`` calls deep: 0 boxes the outermost scopes
(the whole model), 1 their children, and so on; a shallower scope that calls no other
is a box as with ``"module"``.

>>> import chainrule as cr
>>> h = cr.tensor([1.0, 2.0], requires_grad=True, name="h")
>>> with cr.viz.scope("layer"):
...     y = (h * 2).tanh()
>>> grouped = group_graph(cr.viz.trace(y.sum()), "module")
>>> [(n.name, n.kind) for n in grouped.nodes]
[('h', 'leaf'), ('layer', 'group'), ('sum1', 'op')]
>>> [n.name for n in grouped.nodes[1].members]
['mul1', 'tanh1']
"""

from dataclasses import dataclass, field

import numpy as np

from ..autograd.scopes import recorded
from ..nn.module import Parameter
from .model import Edge, Graph, Node, _prefixed, format_number, format_shape, postorder, value_lines

#: Distinct op names listed in a box, before "..." (the expansion shows them all).
OP_SUMMARY = 48


@dataclass(eq=False, repr=False)
class Group(Node):
    """The ops one scope made, drawn as one box (``kind == "group"``)."""

    owner: object = None  # the Module called, or the scope's name
    path: str = ""  # e.g. features.0, rnn/t=3 ("" for the outermost module)
    members: list = field(default_factory=list)  # its op nodes, inputs first
    held: list = field(default_factory=list)  # leaves and constants only its ops use
    # (name, node): held leaves with gradients (a box's parameters, where an op node
    # keeps its op's keyword arguments)
    params: list = field(default_factory=list)  # type: ignore[assignment]
    outputs: list = field(default_factory=list)  # members used outside (or the output)

    @property
    def module_type(self):
        return None if isinstance(self.owner, str) else type(self.owner).__name__

    def lines(self, max_elements=10):
        """The box's label as ``(text, role)`` pairs: title, ops and output, parameters
        (shape and gradient norm), then the output's value and gradient."""
        shapes = ", ".join(format_shape(m.value.shape) for m in self.outputs)
        count = len(self.members)
        made = f"{count} op{'s' if count != 1 else ''} -> {shapes} {self.outputs[-1].value.dtype}"
        lines = [(self.name, "title"), (made, "meta"), (op_summary(self.members), "meta")]
        width = max((len(name) for name, _ in self.params), default=0)
        for name, leaf in self.params:
            text = f"{name.ljust(width)} {format_shape(leaf.value.shape)}"
            if leaf.grad is not None:
                text += f"  |grad| {format_number(norm(leaf.grad))}"
            lines.append((text, "param"))
        if len(self.outputs) == 1:
            lines += _prefixed("value ", value_lines(self.value, max_elements), "value")
            if self.grad is not None:
                lines += _prefixed("grad  ", value_lines(self.grad, max_elements), "grad")
        return lines


@dataclass(eq=False)
class Frame:
    """A scope drawn around the boxes and ops it made (its ``units``, in drawing order):
    a module that called others, or a named scope such as an RNN's layer."""

    name: str
    owner: object  # the Module called, or the scope's name
    path: str
    parent: "Frame | None" = None  # the frame around this one
    id: str = ""
    units: list = field(default_factory=list)

    module_type = Group.module_type

    def __repr__(self):
        return f"<Frame {self.id} {self.name!r}: {len(self.units)} units>"


@dataclass(eq=False, repr=False)
class GroupedGraph(Graph):
    """A graph whose nodes are groups and the nodes left outside them.

    ``full`` is the traced graph it folds; ``groups`` its groups in drawing order;
    ``unit`` maps every node of ``full`` to the node that shows it here (its group,
    or itself); ``frames`` are the scopes drawn around units (outer ones first) and
    ``frame_of`` maps a unit to the innermost frame around it (units outside every
    frame are not in it).
    """

    full: Graph = field(kw_only=True)
    groups: list = field(default_factory=list)
    unit: dict = field(default_factory=dict)
    by: object = "module"
    frames: list = field(default_factory=list)
    frame_of: dict = field(default_factory=dict)

    def __repr__(self):
        return (
            f"<GroupedGraph of {self.output.name}: {len(self.groups)} groups, "
            f"{len(self.nodes)} nodes, {len(self.edges)} edges>"
        )


def norm(a):
    """The Euclidean norm of all of ``a``'s elements (in float64)."""
    a = np.asarray(a)
    if np.iscomplexobj(a):
        a = np.abs(a)
    return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def op_summary(nodes):
    """The ops' names in order, repeats counted: ``reshape x2, convolution, add``."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.op_name] = counts.get(node.op_name, 0) + 1
    text = ""
    for name, count in counts.items():
        part = name if count == 1 else f"{name} x{count}"
        if text and len(text) + len(part) + 2 > OP_SUMMARY:
            return text + ", ..."
        text = f"{text}, {part}" if text else part
    return text


def check_grouping(group):
    """``group`` if it names a grouping, else a ValueError."""
    if group == "module" or (isinstance(group, int) and not isinstance(group, bool) and group >= 0):
        return group
    raise ValueError(f"group must be None, 'module' or a scope depth (an int >= 0), got {group!r}")


def group_graph(graph, group="module"):
    """Fold ``graph`` into a :class:`GroupedGraph` by the scopes recorded as it was built.

    Raises ValueError when no scope holds an op of the graph (the forward ran without
    ``cr.viz.record_scopes()``), naming the fix.
    """
    check_grouping(group)
    ops = sorted((n for n in graph.nodes if n.kind == "op"), key=_seq)
    scopes = recorded(_seq(ops[0]), _seq(ops[-1])) if ops else []
    parent, inner = _nest(scopes, ops)
    chosen = _choose(group, scopes, parent, inner)
    if not any(k >= 0 for k in chosen.values()):  # some scope with ops calls no other
        raise ValueError(
            f"group={group!r}: no scopes were recorded while this graph was built; "
            "run the forward inside `with cr.viz.record_scopes():` (or cr.viz.scope)"
        )
    paths = _paths(scopes, parent)

    groups, unit = {}, {}
    for node in graph.nodes:  # topological order, so members come inputs first
        k = chosen.get(node, -1)
        if k < 0:
            unit[node] = node
            continue
        if k not in groups:
            # Named, given a value and the rest once all its members are known.
            groups[k] = Group("", "group", "", np.empty(0), owner=scopes[k].owner, path=paths[k])
        groups[k].members.append(node)
        unit[node] = groups[k]
    _name([groups[k] for k in sorted(groups)])  # in call order, for the #2 of a second call
    for node in graph.nodes:  # a leaf or constant that only one group's ops use goes inside
        if node.kind != "op":
            users = {unit[e.dst] for e in graph.out_edges(node)}
            if len(users) == 1 and _holdable(node):
                box = users.pop()
                if isinstance(box, Group):
                    box.held.append(node)
                    unit[node] = box
    for box in groups.values():
        _finish(box, graph, unit)
    nodes, edges = _fold(graph, unit)
    for k, box in enumerate((n for n in nodes if isinstance(n, Group)), start=1):
        box.id = f"g{k}"
    frames, frame_of = _frames(graph, nodes, unit, scopes, parent, inner, chosen, paths)
    return GroupedGraph(
        nodes,
        edges,
        unit[graph.output],
        graph.seed,
        full=graph,
        groups=[n for n in nodes if isinstance(n, Group)],
        unit=unit,
        by=group,
        frames=frames,
        frame_of=frame_of,
    )


def _seq(node):
    return node.tensor._seq


def _nest(scopes, ops):
    """Each scope's parent (an index, -1 for none) and each op's innermost scope (or -1).

    One sweep over the scopes and the ops in creation order, with the open scopes on a
    stack: scopes nest as the calls did.
    """
    parent, inner = [-1] * len(scopes), {}
    stack: list[int] = []
    k = 0
    for node in ops:
        number = _seq(node)
        while k < len(scopes) and scopes[k].start < number:
            while stack and scopes[stack[-1]].end < scopes[k].start:
                stack.pop()
            parent[k] = stack[-1] if stack else -1
            stack.append(k)
            k += 1
        while stack and scopes[stack[-1]].end < number:
            stack.pop()
        inner[node] = stack[-1] if stack else -1
    return parent, inner


def _choose(group, scopes, parent, inner):
    """The scope (index) each op is drawn in, -1 for an op drawn on its own.

    The boxes are the scopes ``group`` calls deep and the shallower ones that called no
    scope making ops of this graph (``"module"``: those at any depth).
    """
    calls_others = [False] * len(scopes)
    for k in set(inner.values()):
        p = parent[k] if k >= 0 else -1
        while p >= 0 and not calls_others[p]:
            calls_others[p] = True
            p = parent[p]
    box = [-1 if calls else k for k, calls in enumerate(calls_others)]
    if group != "module":
        depth = [0] * len(scopes)
        for k, p in enumerate(parent):  # a parent starts before its children: done already
            depth[k] = depth[p] + 1 if p >= 0 else 0
            if depth[k] == group:
                box[k] = k
            elif depth[k] > group:
                box[k] = box[p]
    return {node: box[k] if k >= 0 else -1 for node, k in inner.items()}


def _paths(scopes, parent):
    """Each scope's path: module names joined by dots, named scopes by slashes.

    A module is named as its nearest calling module names it (``features.0``); one that
    module does not hold is named by its type; the outermost module adds nothing.
    """
    paths: list[str] = []
    module_last: list[bool] = []
    module_of: list = []
    names = {}  # id(module) -> {id(descendant): its dotted name}
    for k, s in enumerate(scopes):
        p = parent[k]
        above = paths[p] if p >= 0 else ""
        caller = module_of[p] if p >= 0 else None  # the nearest enclosing module call
        if isinstance(s.owner, str):
            segment, is_module = s.owner, False
            module_of.append(caller)
        else:
            module_of.append(s.owner)
            is_module = True
            if caller is None:
                segment = ""
            else:
                if id(caller) not in names:
                    names[id(caller)] = {id(m): name for name, m in caller.named_modules()}
                segment = names[id(caller)].get(id(s.owner)) or type(s.owner).__name__
        if not segment:
            paths.append(above)
            module_last.append(module_last[p] if p >= 0 else False)
            continue
        dot = is_module and p >= 0 and module_last[p]
        paths.append(f"{above}{'.' if dot else '/'}{segment}" if above else segment)
        module_last.append(is_module)
    return paths


def _name(groups):
    """Name each group ``path: Type`` (a module) or ``path`` (a named scope), with ``#2``,
    ``#3`` for a module called again."""
    calls: dict[str, int] = {}
    for box in groups:
        kind = box.module_type
        name = box.path if kind is None else (f"{box.path}: {kind}" if box.path else kind)
        calls[name] = calls.get(name, 0) + 1
        box.name = name if calls[name] == 1 else f"{name} #{calls[name]}"


def _frames(graph, units, unit, scopes, parent, inner, chosen, paths):
    """The scopes around the units (outer ones first, each with its units) and each
    unit's innermost frame.

    A box's frame is its scope's parent, a loose op's the scope that made it. A leaf or
    constant outside the boxes goes in the innermost frame around every op that reads it
    (an RNN's hidden weight, read by every step), unless it is a tensor the user named.
    """
    around = {}  # unit -> the index of its innermost enclosing scope
    for node in graph.nodes:
        if node.kind == "op" and unit[node] is node:
            around[node] = inner.get(node, -1)
    for box in units:
        if isinstance(box, Group):
            around[box] = parent[chosen[box.members[0]]]
    made: dict[int, Frame] = {}  # made outer ones first (parents start earlier)
    for k in sorted({p for innermost in around.values() for p in _chain(innermost, parent)}):
        made[k] = Frame("", scopes[k].owner, paths[k], made.get(parent[k]))
    frames = list(made.values())
    frame_of = {u: made[k] for u, k in around.items() if k >= 0}
    for node in units:
        if node.kind in ("leaf", "const") and _holdable(node):
            users = [frame_of.get(unit[e.dst]) for e in graph.out_edges(node)]
            common = _common(users) if users and all(users) else None
            if common is not None:
                frame_of[node] = common
    for node in units:  # drawing order
        if node in frame_of:
            frame_of[node].units.append(node)
    _name(frames)
    for k, frame in enumerate(frames, start=1):
        frame.id = f"f{k}"
    return frames, frame_of


def _chain(k, parent):
    """Scope ``k`` and the scopes around it, inner first (nothing for -1)."""
    while k >= 0:
        yield k
        k = parent[k]


def _common(frames):
    """The innermost frame around all of ``frames`` (each a Frame), or None."""
    common = frames[0]
    for frame in frames[1:]:
        outer = set()
        while frame is not None:
            outer.add(frame)
            frame = frame.parent
        while common is not None and common not in outer:
            common = common.parent
    return common


def _holdable(node):
    """Whether a leaf or constant may be drawn inside the box of the ops that use it.

    Parameters, constants and unnamed leaves (what an op made without a graph) go inside;
    a tensor the user named (``x``) stays out.
    """
    return node.kind == "const" or isinstance(node.tensor, Parameter) or node.tensor.name is None


def _finish(box, graph, unit):
    """Fill in a group's outputs, parameters, value and gradient."""
    for node in box.members:
        if node is graph.output or any(unit[e.dst] is not box for e in graph.out_edges(node)):
            box.outputs.append(node)
    main = graph.output if graph.output in box.outputs else box.outputs[-1]
    box.value, box.grad, box.is_output = main.value, main.grad, main is graph.output
    box.tensor = main.tensor
    local = {}
    if box.module_type is not None:
        local = {id(p): name for name, p in box.owner.named_parameters()}
    box.params = [
        (local.get(id(n.tensor), n.name), n)
        for n in box.held
        if n.kind == "leaf" and n.requires_grad
    ]


def _fold(graph, unit):
    """The units (groups and the nodes outside them) in topological order, and one edge
    per pair of joined units. Iterative, like :func:`~chainrule.viz.model.trace`."""
    sources: dict = {}  # unit -> the units it reads, in input order, each once
    for node in graph.nodes:
        box = unit[node]
        reads = sources.setdefault(box, {})
        for edge in graph.in_edges(node):
            src = unit[edge.src]
            if src is not box:
                reads.setdefault(src, None)
    order = postorder(unit[graph.output], lambda box: list(sources[box]))
    edges = []
    for box in order:
        reads = list(sources[box])
        if isinstance(box, Group):
            box.inputs = reads
        edges += [Edge(src, box, i) for i, src in enumerate(reads)]
    return order, edges


def inner_graph(box, grouped):
    """The ops of one group as a graph of their own, for its expanded view.

    Nodes outside the group appear as small ``ref`` nodes: "from ..." for what its ops
    read, "to ..." for where its outputs go.
    """
    full, unit = grouped.full, grouped.unit
    refs: dict = {}
    nodes: list = []
    edges: list = []

    def ref(key, text, value):
        if key not in refs:
            refs[key] = Node(f"{box.id}-{len(refs) + 1}", "ref", text, value)
            nodes.append(refs[key])
        return refs[key]

    for node in box.members:
        for edge in full.in_edges(node):
            if unit[edge.src] is box:
                edges.append(edge)
            else:
                src = ref(edge.src, f"from {unit[edge.src].name}", edge.src.value)
                edges.append(Edge(src, node, edge.index))
    nodes += box.held + box.members
    for node in box.outputs:
        for edge in full.out_edges(node):
            key = (node, unit[edge.dst])
            if unit[edge.dst] is not box and key not in refs:
                edges.append(Edge(node, ref(key, f"to {unit[edge.dst].name}", node.value), 0))
    return Graph(nodes, edges, box.outputs[-1], full.seed)
