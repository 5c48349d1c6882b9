"""Pictures of a graph: SVG, PNG, HTML or DOT files, and an inline view for Jupyter.

Graphviz's ``dot`` draws when it is on the PATH; otherwise chainrule lays the graph
out itself (pure Python, :mod:`chainrule.viz.layout`) and writes the SVG, or draws
the PNG with matplotlib, so a plain pip install can always draw SVG and HTML.
"""

import io
import shutil
import subprocess
from pathlib import Path

from ..serialization import write_atomically
from .dot import dot_source
from .explanation import explain_graph
from .groups import GroupedGraph, check_grouping, group_graph
from .html import page, strip_prolog
from .layout import bends
from .model import Graph, trace
from .svg import png_matplotlib, svg_text

ENGINES = ("auto", "dot", "python")
FORMATS = (".svg", ".png", ".html", ".dot", ".gv")
#: ``engine="auto"`` leaves a graph to dot while its nodes plus the bend points of its
#: long edges stay under this: dot's ordering slows down steeply past it (a 180-node
#: graph with 2,600 bend points took 4 s, one with 5,300 took 50 s), the Python layout
#: does not.
DOT_LIMIT = 2500
DOT_TIMEOUT = 120  # seconds


def dot_program(engine="auto"):
    """The path of Graphviz's ``dot`` to use, or None to draw in Python.

    ``engine`` is ``"auto"`` (dot when it is on the PATH), ``"dot"`` (required) or
    ``"python"`` (chainrule's own layout, never dot).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "python":
        return None
    program = shutil.which("dot")
    if program is None and engine == "dot":
        raise RuntimeError(
            "engine='dot' but Graphviz's dot is not on the PATH; install "
            "Graphviz or use engine='auto' to draw without it"
        )
    return program


def quick_for_dot(graph):
    """Whether Graphviz's dot lays ``graph`` out quickly (see :data:`DOT_LIMIT`)."""
    pairs = [(e.src.id, e.dst.id) for e in graph.edges]
    return len(graph.nodes) + bends([n.id for n in graph.nodes], pairs) <= DOT_LIMIT


def _run_dot(program, source, fmt, dpi=144):
    args = [program, "-q", f"-T{fmt}"] + ([f"-Gdpi={dpi}"] if fmt == "png" else [])
    try:
        result = subprocess.run(
            args, input=source.encode(), capture_output=True, timeout=DOT_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"Graphviz's dot did not finish within {DOT_TIMEOUT} s; draw this "
            "graph with engine='python' (or 'auto')"
        ) from None
    except OSError as exc:
        raise RuntimeError(f"cannot run Graphviz's dot ({program}): {exc}") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(
            "Graphviz's dot failed: "
            + (message[0] if message else f"exit status {result.returncode}")
            + "; draw with engine='python' instead"
        )
    return result.stdout


class GraphView:
    """A traced graph with its pictures; Jupyter shows it inline (``_repr_svg_``).

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True, name="x")
    >>> view = cr.viz.graph(x * x)
    >>> view
    <chainrule graph of mul1: 2 nodes, 2 edges>
    >>> view.svg(engine="python").startswith("<svg")
    True

    With ``group`` (``"module"`` or a depth, see :mod:`chainrule.viz.groups`) ``graph`` is
    the grouped graph and ``full`` the traced one.
    """

    def __init__(self, graph, max_elements=10, rankdir="LR", engine="auto", group=None):
        if group is not None and not isinstance(graph, GroupedGraph):
            graph = group_graph(graph, group)
        self.graph = graph
        self.group = graph.by if isinstance(graph, GroupedGraph) else None
        self.full = graph.full if isinstance(graph, GroupedGraph) else graph
        self.max_elements = max_elements
        self.rankdir = rankdir
        self.engine = engine

    @property
    def source(self):
        """The DOT text."""
        return dot_source(self.graph, self.max_elements, self.rankdir)

    def program(self, engine=None):
        """The Graphviz ``dot`` that draws this graph, or None when chainrule draws it.

        ``"auto"`` uses dot only for graphs it lays out quickly (:func:`quick_for_dot`).
        """
        engine = engine or self.engine
        program = dot_program(engine)
        if program is not None and engine == "auto" and not quick_for_dot(self.graph):
            return None
        return program

    def svg(self, engine=None):
        """The picture as SVG text (an ``<svg>`` element)."""
        program = self.program(engine)
        if program is not None:
            return strip_prolog(_run_dot(program, self.source, "svg").decode())
        return svg_text(self.graph, self.max_elements, self.rankdir)

    def _repr_svg_(self):
        return self.svg()

    def html(self, engine=None):
        """The interactive page (SVG plus node details on hover and click; a grouped
        graph's boxes open to their ops on click)."""
        return page(self.graph, self.svg(engine), self.max_elements, self.rankdir)

    def explain(self):
        """The chain rule, one line per edge (see :func:`chainrule.viz.explain`)."""
        return "\n".join(explain_graph(self.graph))

    def render(self, path, engine=None, dpi=144):
        """Write the picture to ``path``; its suffix picks the format (svg, png, html, dot).

        The file is replaced in one step: an error leaves the old one as it was.
        """
        path = Path(path)
        suffix = picture_format(path)
        if suffix in (".dot", ".gv"):
            data = self.source.encode()
        elif suffix == ".svg":
            data = self.svg(engine).encode()
        elif suffix == ".html":
            data = self.html(engine).encode()
        else:
            program = self.program(engine)
            if program is not None:
                data = _run_dot(program, self.source, "png", dpi)
            else:
                buffer = io.BytesIO()
                png_matplotlib(self.graph, buffer, self.max_elements, self.rankdir, dpi)
                data = buffer.getvalue()
        write_atomically(path, lambda f: f.write(data))
        return path

    def __repr__(self):
        grouped = (
            ""
            if self.group is None
            else ", grouped by " + ("module" if self.group == "module" else f"depth {self.group}")
        )
        return (
            f"<chainrule graph of {self.full.output.name}: {len(self.graph.nodes)} nodes, "
            f"{len(self.graph.edges)} edges{grouped}>"
        )


def picture_format(path):
    """The suffix of ``path`` when it names a format :meth:`GraphView.render` writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the format of {str(path)!r}: use one of {', '.join(FORMATS)}"
        )
    return suffix


def graph(output, gradient=None, max_elements=10, rankdir="LR", engine="auto", group=None):
    """Trace ``output``'s graph (values and gradients) into a :class:`GraphView`.

    ``gradient`` seeds backward (ones by default); tensors with more than
    ``max_elements`` elements are labelled by min/mean/max; ``rankdir`` is ``"LR"``
    or ``"TB"``; ``engine`` is ``"auto"``, ``"dot"`` or ``"python"``. ``group="module"``
    draws each module call as one box (the forward must run inside
    ``cr.viz.record_scopes()``); an int boxes the scopes that many calls deep.
    """
    if group is not None:
        check_grouping(group)  # before tracing: a typo should not cost a backward pass
    if isinstance(output, GraphView):
        return (
            output
            if group is None
            else GraphView(output.full, output.max_elements, output.rankdir, output.engine, group)
        )
    traced = output if isinstance(output, Graph) else trace(output, gradient)
    return GraphView(traced, max_elements, rankdir, engine, group)


def to_dot(output, gradient=None, max_elements=10, rankdir="LR", group=None):
    """DOT text for the graph that produced ``output``.

    One node per op, leaf and constant, labelled with the op, shape, dtype, forward
    value and gradient (the viz runs backward itself, leaving ``.grad`` alone).

    >>> import chainrule as cr
    >>> x = cr.tensor(-2.0, requires_grad=True, name="x")
    >>> print(to_dot(x * 3).splitlines()[0])
    digraph chainrule {
    """
    return graph(output, gradient, max_elements, rankdir, group=group).source


def render(
    output, path, engine="auto", gradient=None, max_elements=10, rankdir="LR", dpi=144, group=None
):
    """Draw the graph of ``output`` to ``path`` (.svg, .png, .html or .dot) and return the path.

    With ``engine="auto"`` Graphviz's ``dot`` draws when it is on the PATH (and the graph
    is one it lays out quickly), else chainrule lays the graph out and writes the SVG
    (or matplotlib draws the PNG). ``group="module"`` draws one box per module call
    (see :func:`graph`), inside a dashed outline of each call that made boxes (an RNN's
    outline around one box per time step); in the .html page a click on a box shows its
    ops.
    """
    view = graph(output, gradient, max_elements, rankdir, engine, group)
    return view.render(path, dpi=dpi)


def explain(output, gradient=None, show=False, group=None):
    """The chain rule for ``output``, one line per edge in backward order; printed if ``show``.

    With ``group`` (see :func:`graph`) a module's box is one step: the gradient it sends
    back to each of its inputs and parameters. Between two time steps of an unrolled
    recurrent layer (boxes ``t=K`` and ``t=K-1``) it says which gradient the recurrent edge
    carries: the one with respect to the earlier step's state, and how it is made.

    >>> import chainrule as cr
    >>> x = cr.tensor(-2.0, requires_grad=True, name="x")
    >>> y = cr.tensor(5.0, requires_grad=True, name="y")
    >>> q = x + y
    >>> q.name = "q"
    >>> print(explain(q))
    forward
      q = x + y = 3
    backward
      d q/d q = 1
      d q/d x = upstream (1) x local d q/d x (1) = 1   (add gate distributes)
      d q/d y = upstream (1) x local d q/d y (1) = 1   (add gate distributes)
    """
    view = graph(output, gradient, group=group)
    text = view.explain()
    if show:
        print(text)
    return text
