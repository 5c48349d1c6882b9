"""Graph -> DOT text (Graphviz), one node per op, leaf and constant."""

from html import escape

from . import style
from .model import label_lines


def dot_source(graph, max_elements=10, rankdir="LR"):
    """DOT text for a traced :class:`~chainrule.viz.graph.Graph`.

    A grouped graph's frames (:class:`~chainrule.viz.groups.Frame`) become clusters:
    dashed outlines around their boxes, nested as the calls were.

    Op and leaf nodes get an HTML-like table label (title, op/shape/dtype, value and,
    in red, gradient); constants are small dashed ellipses. Every node carries
    ``id="nK"`` so the SVG Graphviz makes can be linked to the node data.
    """
    lines = [
        "digraph chainrule {",
        f'  graph [rankdir={rankdir}, bgcolor="white", nodesep=0.25, ranksep=0.45];',
        '  node [shape=plain, fontname="monospace", fontsize=10, '
        f'fontcolor="{style.TEXT["title"]}"];',
        f'  edge [color="{style.EDGE}", arrowsize=0.7];',
    ]
    inside: dict = {}  # frame (None: the top level) -> its nodes
    children: dict = {}  # frame (None: the top level) -> the frames inside it
    frame_of = getattr(graph, "frame_of", {})
    for node in graph.nodes:
        inside.setdefault(frame_of.get(node), []).append(node)
    for frame in getattr(graph, "frames", ()):
        children.setdefault(frame.parent, []).append(frame)
    lines += _cluster_lines(None, inside, children, max_elements, "  ")
    for edge in graph.edges:
        attributes = {"tooltip": f"{edge.src.name} is input {edge.index} of {edge.dst.name}"}
        lines.append(f"  {edge.src.id} -> {edge.dst.id} {_attributes(attributes)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster_lines(frame, inside, children, max_elements, indent):
    """The nodes of ``frame`` (of the top level for None), then its frames, each as a
    ``subgraph cluster_fK`` (nested as deep as the calls were)."""
    lines = [
        f"{indent}{node.id} {_attributes(_node_attributes(node, max_elements))};"
        for node in inside.get(frame, ())
    ]
    fill, border = style.FRAME
    for child in children.get(frame, ()):
        attributes = {
            "id": child.id,
            "label": child.name,
            "tooltip": child.name,
            "style": "rounded,dashed,filled",
            "fillcolor": fill,
            "color": border,
            "fontcolor": border,
            "fontname": "monospace",
            "fontsize": "11",
            "labeljust": "l",
        }
        lines.append(f"{indent}subgraph cluster_{child.id} {{")
        lines.append(f"{indent}  graph {_attributes(attributes)};")
        lines += _cluster_lines(child, inside, children, max_elements, indent + "  ")
        lines.append(f"{indent}}}")
    return lines


def _node_attributes(node, max_elements):
    fill, border = style.colours(node)
    attributes = {"id": node.id, "tooltip": node.name}
    if style.small(node):
        attributes.update(
            shape="ellipse",
            style="dashed,filled",
            fillcolor=fill,
            color=border,
            fontsize="9",
            margin="0.03",
            width="0.3",
            height="0.25",
            label=node.name,
        )
        return attributes
    rows = []
    for text, role in label_lines(node, max_elements):
        cell = escape(text, quote=False).replace(" ", "&#160;")
        if role == "title":
            cell = f"<B>{cell}</B>"
        else:
            cell = f'<FONT COLOR="{style.TEXT[role]}">{cell}</FONT>'
        rows.append(f'<TR><TD ALIGN="LEFT">{cell}</TD></TR>')
    width = 3 if node.is_output else 1
    # The rows sit in a padded cell, clear of the rounded border.
    table = (
        f'<TABLE BORDER="{width}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" '
        f'STYLE="ROUNDED" BGCOLOR="{fill}" COLOR="{border}"><TR><TD>'
        f'<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{"".join(rows)}</TABLE>'
        "</TD></TR></TABLE>"
    )
    attributes["label"] = _Html(table)
    return attributes


class _Html(str):
    """A label written as <...> (an HTML-like label), not as a quoted string."""


def _attributes(attributes):
    parts = []
    for key, value in attributes.items():
        if isinstance(value, _Html):
            parts.append(f"{key}=<{value}>")
        else:
            text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            parts.append(f'{key}="{text}"')
    return "[" + ", ".join(parts) + "]"
