"""The recorded graph as plain data: nodes, edges, forward values, gradients and names.

:func:`trace` walks the graph behind a tensor once and computes everything the
views need: every node's value and gradient (through the engine, leaving
``.grad`` alone), the share of gradient sent along each edge, and each edge's
local derivative. DOT, SVG, HTML and the explanation all read this one structure.
"""

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import engine
from ..autograd.mode import no_grad
from ..ops.reduce import sum_to
from ..tensor import Tensor

#: Ops whose Jacobian is diagonal (after broadcasting): a vjp of ones gives the local derivative.
ELEMENTWISE = frozenset(
    {
        "add",
        "sub",
        "mul",
        "div",
        "pow",
        "neg",
        "exp",
        "log",
        "log1p",
        "sqrt",
        "abs",
        "sin",
        "cos",
        "tanh",
        "sigmoid",
        "relu",
        "leaky_relu",
        "softplus",
        "clip",
        "maximum",
        "minimum",
        "where",
        "astype",
    }
)
#: Infix spelling of binary ops, so a node reads ``q = x + y``.
INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "matmul": "@"}
#: The largest Jacobian (output size x input size) worked out element by element.
JACOBIAN_LIMIT = 256


@dataclass(eq=False)
class Node:
    """One node: an op's result, a leaf tensor or a raw constant."""

    id: str
    kind: str  # "op", "leaf" or "const"; grouped views add "group" and "ref" (viz.groups)
    name: str
    value: np.ndarray
    tensor: Tensor | None = None
    op: Any = None
    params: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    arrays: list | None = None  # what the op's forward received (its vjps read these)
    grad: np.ndarray | None = None
    is_output: bool = False

    def __repr__(self):  # not the dataclass's: that one walks every input, recursively
        return f"<Node {self.id} {self.name!r} ({self.kind})>"

    @property
    def requires_grad(self):
        return self.tensor is not None and self.tensor.requires_grad

    @property
    def op_name(self):
        return self.op.name if self.op is not None else None


@dataclass(eq=False)
class Edge:
    """Input ``index`` of ``dst`` is ``src``; ``grad`` is the share sent back along it."""

    src: Node
    dst: Node
    index: int
    grad: np.ndarray | None = None
    local: np.ndarray | None = None  # d dst / d src: elementwise (dst's shape) or a full Jacobian
    local_kind: str = ""  # "elementwise", "jacobian" or "" (too large to write out)

    def __repr__(self):
        return f"<Edge {self.src.name} -> {self.dst.name} (input {self.index})>"


@dataclass(eq=False)
class Graph:
    """Nodes in topological order (every node after its inputs), edges, the output node."""

    nodes: list
    edges: list
    output: Node
    seed: np.ndarray | None = None

    def __repr__(self):
        return f"<Graph of {self.output.name}: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    @property
    def has_grads(self):
        return self.seed is not None

    def __post_init__(self):
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self._paths = None
        for e in self.edges:
            self._in.setdefault(e.dst.id, []).append(e)
            self._out.setdefault(e.src.id, []).append(e)

    def in_edges(self, node):
        """The edges into ``node``, by input index."""
        return self._in.get(node.id, [])

    def out_edges(self, node):
        """The edges from ``node`` to the ops that use it."""
        return self._out.get(node.id, [])

    def gradient_paths(self, node):
        """How many edges carry a share of gradient back to ``node`` (0 without gradients)."""
        if self._paths is None:  # counted once: a node may feed thousands of ops
            self._paths = {}
            for e in self.edges:
                if e.grad is not None:
                    self._paths[e.src.id] = self._paths.get(e.src.id, 0) + 1
        return self._paths.get(node.id, 0)

    def node_of(self, tensor):
        """The node of ``tensor`` (None when it is not in the graph)."""
        for node in self.nodes:
            if node.tensor is tensor:
                return node
        return None


def trace(output, gradient=None, grads=True):
    """The graph that produced ``output``, with gradients when it can compute them.

    Gradients are d output / d node, seeded with ``gradient`` (ones by default, which
    for a non-scalar output is the gradient of its sum). They need the graph intact:
    draw before ``backward`` or after ``backward(retain_graph=True)``. The engine computes
    them without touching ``.grad``; hooks registered on tensors run as in any backward.

    >>> import chainrule as cr
    >>> x = cr.tensor(3.0, requires_grad=True, name="x")
    >>> g = trace((x * x).exp())
    >>> [n.name for n in g.nodes], g.node_of(x).grad.item() > 0
    (['x', 'mul1', 'exp1'], True)
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"expected a Tensor, got {type(output).__name__}")
    tensors = _topological(output)
    nodes: list[Node] = []
    edges: list[Edge] = []
    by_tensor: dict[Tensor, Node] = {}
    counts: dict[str, int] = {}
    ids = itertools.count(1)
    taken = {t.name for t in tensors if t.name}
    for t in tensors:
        kind = "leaf" if t._op is None else "op"
        base = "leaf" if kind == "leaf" else t._op.name
        node = Node(
            f"n{next(ids)}",
            kind,
            t.name or _fresh(base, counts, taken),
            t.data,
            t,
            t._op,
            dict(t._params or {}),
        )
        for i, x in enumerate(t._inputs or ()):
            if isinstance(x, Tensor):
                src = by_tensor[x]
            else:
                src = Node(f"n{next(ids)}", "const", _const_name(x, counts, taken), np.asarray(x))
                nodes.append(src)
            node.inputs.append(src)
            edges.append(Edge(src, node, i))
        if kind == "op":
            saved = getattr(t, "_arrays", None)  # the inputs' arrays, then what the op kept
            node.arrays = (
                list(saved[: len(node.inputs)])
                if saved is not None
                else [n.value for n in node.inputs]
            )
        by_tensor[t] = node
        nodes.append(node)
    out = by_tensor[output]
    out.is_output = True
    graph = Graph(nodes, edges, out)
    if grads and output.requires_grad:
        _gradients(graph, gradient)
    return graph


def postorder(root, inputs_of):
    """Everything reachable from ``root`` through ``inputs_of(item)``, each after its inputs
    and in input order (iterative: a deep graph needs no recursion)."""
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        item, expanded = stack.pop()
        if expanded:
            order.append(item)
            continue
        if item in seen:
            continue
        seen.add(item)
        stack.append((item, True))
        # Reversed, so input 0 is visited (and numbered) first.
        for x in reversed(inputs_of(item)):
            if x not in seen:
                stack.append((x, False))
    return order


def _tensor_inputs(t):
    if t._op is not None and t._inputs is None:
        raise RuntimeError(
            f"the graph behind '{t._op.name}' was freed by backward(); draw or check it "
            "before backward, or call backward(retain_graph=True)"
        )
    return [x for x in t._inputs or () if isinstance(x, Tensor)]


def _topological(output):
    """Every tensor behind ``output``, each after its inputs (iterative, no recursion)."""
    return postorder(output, _tensor_inputs)


def _fresh(base, counts, taken):
    """``base`` numbered (mul1, mul2, ...), skipping names the user already gave."""
    while True:
        counts[base] = counts.get(base, 0) + 1
        name = f"{base}{counts[base]}"
        if name not in taken:
            taken.add(name)
            return name


def _const_name(value, counts, taken):
    array = np.asarray(value)
    return format_number(array.item()) if array.size == 1 else _fresh("const", counts, taken)


def _gradients(graph, gradient):
    """Fill in every node's gradient, each edge's share and each edge's local derivative."""
    output = graph.output.tensor
    if gradient is None:
        seed = np.ones_like(output.data)
    else:
        seed = np.array(
            gradient.data if isinstance(gradient, Tensor) else gradient, dtype=output.dtype
        )
    wanted = [n for n in graph.nodes if n.requires_grad]
    found = engine.backward([output], [seed], retain_graph=True, inputs=[n.tensor for n in wanted])
    for node, g in zip(wanted, found):
        if g is not None:
            node.grad = np.asarray(g.data if isinstance(g, Tensor) else g)
    graph.seed = np.asarray(seed)
    with no_grad():
        for edge in graph.edges:
            if edge.src.requires_grad:
                _edge_rule(edge)


def _edge_rule(edge):
    """The edge's share of the upstream gradient and its local derivative, as arrays."""
    dst, src, i = edge.dst, edge.src, edge.index

    def vjp(g):
        share = dst.op.vjp(i, g, dst.value, dst.arrays, dst.params)
        return None if share is None else np.asarray(getattr(share, "data", share))

    if dst.grad is not None:
        share = vjp(dst.grad)
        if share is not None:
            edge.grad = np.asarray(sum_to(share, src.value.shape), dtype=src.value.dtype)
    if dst.op_name in ELEMENTWISE:
        local = vjp(np.ones_like(dst.value))
        if local is not None:
            edge.local, edge.local_kind = np.broadcast_to(local, dst.value.shape), "elementwise"
    elif 0 < dst.value.size * src.value.size <= JACOBIAN_LIMIT:
        rows = []
        for k in range(dst.value.size):
            basis = np.zeros(dst.value.size, dtype=dst.value.dtype)
            basis[k] = 1
            row = vjp(basis.reshape(dst.value.shape))
            if row is None:
                return
            rows.append(np.asarray(sum_to(row, src.value.shape)).ravel())
        edge.local = np.array(rows).reshape(dst.value.shape + src.value.shape)
        edge.local_kind = "jacobian"


# ---------------------------------------------------------------------- text
def format_number(v):
    """A number in at most 4 significant digits, integers without a decimal point.

    >>> format_number(-12.0), format_number(0.1 + 0.2), format_number(-0.0)
    ('-12', '0.3', '0')
    """
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (complex, np.complexfloating)):
        return str(v)
    v = float(v)
    text = f"{v:.4g}"
    return "0" if text == "-0" else text


def format_shape(shape):
    """``4x3`` for matrices, ``5`` for vectors, ``scalar`` for 0-d.

    >>> format_shape((4, 3)), format_shape((5,)), format_shape(())
    ('4x3', '5', 'scalar')
    """
    return "x".join(str(n) for n in shape) if shape else "scalar"


def value_lines(a, max_elements=10):
    """A value in a few short lines: every element when small, else min, mean and max.

    >>> value_lines(np.array([[1.0, -2.0], [3.5, 4.0]]))
    ['[  1,  -2]', '[3.5,   4]']
    >>> value_lines(np.array([[1.0], [2.0]]))
    ['[1, 2].T']
    >>> value_lines(np.arange(100.0))
    ['min 0, mean 49.5, max 99']
    """
    a = np.asarray(a)
    if a.size == 0:
        return ["(empty)"]
    if a.ndim == 0:
        return [format_number(a.item())]
    if a.size > max_elements:
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            return [f"{a.size} elements"]
        return [
            f"min {format_number(a.min())}, mean {format_number(a.mean())}, "
            f"max {format_number(a.max())}"
        ]
    if a.ndim == 2 and a.shape[1] == 1 and a.shape[0] > 1:  # a column reads best lying down
        return ["[" + ", ".join(format_number(v) for v in a.ravel()) + "].T"]
    rows = a.reshape(-1, a.shape[-1])
    cells = [[format_number(v) for v in row] for row in rows]
    # Columns line up across rows; a single row needs no padding.
    width = max(len(c) for row in cells for c in row) if len(cells) > 1 else 0
    if a.ndim == 1:
        return ["[" + ", ".join(cells[0]) + "]"]
    return ["[" + ", ".join(c.rjust(width) for c in row) + "]" for row in cells]


def full_text(a, limit=10_000):
    """Every element of ``a`` (up to ``limit`` elements, then NumPy's summary)."""
    a = np.asarray(a)
    threshold = a.size + 1 if a.size <= limit else 1000
    return np.array2string(
        a,
        separator=", ",
        threshold=threshold,
        max_line_width=100,
        precision=6,
        suppress_small=False,
    )


def format_param(value):
    """A parameter value as it would be typed, arrays by their shape."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        return f"<{format_shape(value.shape)} {value.dtype}>"
    if isinstance(value, type) or isinstance(value, np.dtype):
        return np.dtype(value).name
    return repr(value)


def expression(node):
    """The op applied to its inputs' names: ``x + y``, ``relu(h)``, ``sum(h, axis=(0,))``.

    Defaults (``axis=None``, ``keepdims=False``) are left out to keep labels short.
    """
    names = [n.name for n in node.inputs]
    op = node.op_name
    if op in INFIX and len(names) == 2 and not node.params:
        return f"{names[0]} {INFIX[op]} {names[1]}"
    if op == "neg" and len(names) == 1:
        return f"-{names[0]}"
    params = [
        f"{k}={format_param(v)}"
        for k, v in node.params.items()
        if not (k == "axis" and v is None) and not (k == "keepdims" and v is False)
    ]
    return f"{op}({', '.join(names + params)})"


def title(node):
    """The first line of a node's label: ``q = x + y``, a leaf's name, a constant's value."""
    if node.kind == "op":
        return f"{node.name} = {expression(node)}"
    return node.name


def label_lines(node, max_elements=10):
    """A node's label as ``(text, role)`` pairs; roles: title, meta, value, grad.

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True, name="x")
    >>> node = trace(x * 3).output
    >>> label_lines(node)
    [('mul1 = x * 3', 'title'), ('mul  scalar float32', 'meta'), ('value 6', 'value'), \
('grad  1', 'grad')]
    """
    if node.kind == "group":  # a module's box (viz.groups)
        return node.lines(max_elements)
    if node.kind in ("const", "ref"):  # a ref stands for a node outside an expanded box
        meta = f"{format_shape(node.value.shape)} {node.value.dtype}"
        scalar = node.value.size == 1 and node.kind == "const"
        return [(node.name, "title")] + ([] if scalar else [(meta, "meta")])
    kind = (
        node.op_name if node.kind == "op" else ("leaf" if node.requires_grad else "leaf, no grad")
    )
    lines = [
        (title(node), "title"),
        (f"{kind}  {format_shape(node.value.shape)} {node.value.dtype}", "meta"),
    ]
    lines += _prefixed("value ", value_lines(node.value, max_elements), "value")
    if node.grad is not None:
        lines += _prefixed("grad  ", value_lines(node.grad, max_elements), "grad")
    return lines


def _prefixed(prefix, texts, role):
    pad = " " * len(prefix)
    return [((prefix if k == 0 else pad) + text, role) for k, text in enumerate(texts)]
