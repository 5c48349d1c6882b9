"""Graph -> DOT text (Graphviz), one node per op, leaf and constant."""

from html import escape

from . import style
from .model import label_lines


def dot_source(graph, max_elements=10, rankdir="LR"):
    """DOT text for a traced :class:`~chainrule.viz.graph.Graph`.

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
    for node in graph.nodes:
        lines.append(f"  {node.id} {_attributes(_node_attributes(node, max_elements))};")
    for edge in graph.edges:
        attributes = {"tooltip": f"{edge.src.name} is input {edge.index} of {edge.dst.name}"}
        lines.append(f"  {edge.src.id} -> {edge.dst.id} {_attributes(attributes)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


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
