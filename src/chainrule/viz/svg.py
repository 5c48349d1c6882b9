"""Drawing without Graphviz: chainrule's own layered layout, written out as SVG or PNG.

The layout (:mod:`chainrule.viz.layout`) is Sugiyama's, as in Graphviz's ``dot``, in
pure Python: no extra package is needed for SVG. PNG is drawn from the same layout
with matplotlib.
"""

import re
from dataclasses import dataclass
from html import escape

from . import style
from .layout import Layered, layered
from .model import label_lines

MARGIN = 12
CONST_FONT = 10
PNG_NODES = 300  # matplotlib takes about 10 ms a node, mostly drawing text
PNG_SIDE = 32000  # pixels
PNG_PIXELS = 20_000_000  # a larger PNG is drawn at a lower dpi
MIN_DPI = 24  # below this a PNG's text cannot be read
FRAME_PAD = 8  # between a frame's outline and what it holds
FRAME_LABEL = 18  # room above a frame's contents for its name


@dataclass
class Box:
    """A placed node: centre, size and label lines."""

    node: object
    x: float
    y: float
    w: float
    h: float
    lines: list

    @property
    def left(self):
        return self.x - self.w / 2

    @property
    def right(self):
        return self.x + self.w / 2


@dataclass
class Layout:
    """Placed nodes (by id), edges as point lists from source to target, and the canvas size."""

    boxes: dict
    paths: list  # (edge, [(x, y), ...])
    width: float
    height: float
    across: bool  # True when inputs are on the left (rankdir LR)
    placed: Layered  # the layered layout, with its bends, bus edges and work
    frames: list  # (frame, (left, top, right, bottom)), outer frames first


def _size(node, lines):
    """Width and height of a node's box, from its text (monospace, so widths are known)."""
    chars = max(len(text) for text, _ in lines)
    if style.small(node):
        return chars * CONST_FONT * 0.61 + 16, 12 + 13 * len(lines)
    return (
        chars * style.CHAR_WIDTH + 2 * style.PAD_X,
        len(lines) * style.LINE_HEIGHT + 2 * style.PAD_Y,
    )


def layout(graph, max_elements=10, rankdir="LR"):
    """Place every node of ``graph`` in layers (see :mod:`chainrule.viz.layout`).

    ``rankdir`` is ``"LR"`` (inputs on the left) or ``"TB"`` (inputs at the top).
    """
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"rankdir must be 'LR' or 'TB', got {rankdir!r}")
    # The layout works in (along a layer, across the layers); LR draws it transposed.
    across = rankdir == "LR"
    flip = (lambda a, r: (r, a)) if across else (lambda a, r: (a, r))
    boxes, sizes = {}, {}
    for node in graph.nodes:
        lines = label_lines(node, max_elements)
        w, h = _size(node, lines)
        boxes[node.id] = Box(node, 0.0, 0.0, w, h, lines)
        sizes[node.id] = (h, w) if across else (w, h)
    placed = layered(
        [n.id for n in graph.nodes], [(e.src.id, e.dst.id) for e in graph.edges], sizes
    )
    for node_id, box in boxes.items():
        box.x, box.y = flip(placed.along[node_id], placed.rank[node_id])
    routes = {pair: [flip(a, r) for a, r in points] for pair, points in placed.routes.items()}
    frames = _frame_outlines(graph, boxes)
    xs = [x for points in routes.values() for x, _ in points] + [r[0] for _, r in frames]
    ys = [y for points in routes.values() for _, y in points] + [r[1] for _, r in frames]
    left = min([b.left for b in boxes.values()] + xs)
    top = min([b.y - b.h / 2 for b in boxes.values()] + ys)
    for box in boxes.values():
        box.x += MARGIN - left
        box.y += MARGIN - top
    frames = [
        (frame, (x0 + MARGIN - left, y0 + MARGIN - top, x1 + MARGIN - left, y1 + MARGIN - top))
        for frame, (x0, y0, x1, y1) in frames
    ]
    paths = []
    for edge in graph.edges:
        points = [
            (x + MARGIN - left, y + MARGIN - top) for x, y in routes[(edge.src.id, edge.dst.id)]
        ]
        paths.append(
            (
                edge,
                _ends(
                    points,
                    boxes[edge.src.id],
                    boxes[edge.dst.id],
                    edge,
                    len(edge.dst.inputs),
                    across,
                ),
            )
        )
    width = max([b.right for b in boxes.values()] + [r[2] for _, r in frames]) + MARGIN
    height = max([b.y + b.h / 2 for b in boxes.values()] + [r[3] for _, r in frames]) + MARGIN
    return Layout(boxes, paths, width, height, across, placed, frames)


def _frame_outlines(graph, boxes):
    """Each frame of a grouped graph with the rectangle around its units and inner
    frames (padded, with room for its name on top), outer frames first."""
    around: dict = {}  # frame -> the rectangles it goes around
    outlines = []
    for frame in reversed(getattr(graph, "frames", ())):  # inner frames come later
        parts = around.pop(frame, [])
        parts += [_edges(boxes[unit.id]) for unit in frame.units]
        if not parts:
            continue
        x0, y0 = min(p[0] for p in parts), min(p[1] for p in parts)
        x1, y1 = max(p[2] for p in parts), max(p[3] for p in parts)
        # Wide enough for its name, which sits inside the top edge.
        x1 = max(x1, x0 + len(frame.name) * style.CHAR_WIDTH + 2 * FRAME_PAD)
        rect = (x0 - FRAME_PAD, y0 - FRAME_PAD - FRAME_LABEL, x1 + FRAME_PAD, y1 + FRAME_PAD)
        outlines.append((frame, rect))
        if frame.parent is not None:
            around.setdefault(frame.parent, []).append(rect)
    return outlines[::-1]


def _edges(box):
    return box.left, box.y - box.h / 2, box.right, box.y + box.h / 2


def _ends(points, src, dst, edge, n_inputs, across):
    """Leave the source on its far side, reach the target's near side, spread by input index."""
    side = dst.h if across else dst.w
    spread = min(12.0, side / (n_inputs + 1)) if n_inputs > 1 else 0.0
    shift = (edge.index - (n_inputs - 1) / 2) * spread
    if across:
        return [(src.right, src.y)] + points[1:-1] + [(dst.left - 1, dst.y + shift)]
    return [(src.x, src.y + src.h / 2)] + points[1:-1] + [(dst.x + shift, dst.y - dst.h / 2 - 1)]


def _controls(p0, p1, across):
    """Bezier control points leaving and entering along the layout's direction."""
    (x0, y0), (x1, y1) = p0, p1
    if across:
        dx = (x1 - x0) / 2
        return (x0 + dx, y0), (x1 - dx, y1)
    dy = (y1 - y0) / 2
    return (x0, y0 + dy), (x1, y1 - dy)


def _curve(points, across):
    """An SVG path through ``points`` with tangents along the layout's direction."""
    parts = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for p0, p1 in zip(points, points[1:]):
        (ax, ay), (bx, by) = _controls(p0, p1, across)
        parts.append(f"C{ax:.1f},{ay:.1f} {bx:.1f},{by:.1f} {p1[0]:.1f},{p1[1]:.1f}")
    return " ".join(parts)


def svg_text(graph, max_elements=10, rankdir="LR", prefix=""):
    """A standalone SVG picture of ``graph``: one ``<g class="node" id="nK">`` per node.

    ``prefix`` goes before the ids of the edges and the arrowhead, so that several
    pictures can share a page.
    """
    lay = layout(graph, max_elements, rankdir)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.1f} {lay.height:.1f}" '
        f'font-family="{style.FONT}" font-size="{style.FONT_SIZE}" xml:space="preserve">',
        f'<defs><marker id="{prefix}cr-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{style.EDGE}"/></marker></defs>',
        '<rect class="background" width="100%" height="100%" fill="white"/>',
    ]
    out += [_svg_frame(frame, rect) for frame, rect in lay.frames]
    for k, (edge, points) in enumerate(lay.paths, start=1):
        out.append(
            f'<g class="edge" id="{prefix}e{k}"><title>{escape(edge.src.name)} -&gt; '
            f'{escape(edge.dst.name)}</title><path d="{_curve(points, lay.across)}" '
            f'fill="none" stroke="{style.EDGE}" stroke-width="1.2" '
            f'marker-end="url(#{prefix}cr-arrow)"/></g>'
        )
    for box in lay.boxes.values():
        out.append(_svg_node(box))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_frame(frame, rect):
    """A frame: a dashed outline behind the boxes it holds, its name inside the top edge."""
    x0, y0, x1, y1 = rect
    fill, border = style.FRAME
    return (
        f'<g class="frame" id="{frame.id}" data-name="{escape(frame.name)}">'
        f"<title>{escape(frame.name)}</title>"
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
        f'rx="10" fill="{fill}" stroke="{border}" stroke-width="1.2" '
        f'stroke-dasharray="6,4"/>'
        f'<text class="frame-title" x="{x0 + FRAME_PAD:.1f}" y="{y0 + FRAME_LABEL - 4:.1f}" '
        f'fill="{border}" font-weight="bold">{escape(_keep_spaces(frame.name))}</text></g>'
    )


def _svg_node(box):
    node = box.node
    fill, border = style.colours(node)
    head = (
        f'<g class="node" id="{node.id}" data-name="{escape(node.name)}">'
        f"<title>{escape(node.name)}</title>"
    )
    if style.small(node):
        shape = (
            f'<ellipse cx="{box.x:.1f}" cy="{box.y:.1f}" rx="{box.w / 2:.1f}" '
            f'ry="{box.h / 2:.1f}" fill="{fill}" stroke="{border}" '
            f'stroke-dasharray="3,2"/>'
        )
        top = box.y - (len(box.lines) - 1) * 13 / 2
        texts = [
            f'<text x="{box.x:.1f}" y="{top + 13 * k:.1f}" text-anchor="middle" '
            f'dominant-baseline="central" font-size="{CONST_FONT}" '
            f'fill="{style.TEXT["meta"]}">{escape(text)}</text>'
            for k, (text, _) in enumerate(box.lines)
        ]
        return head + shape + "".join(texts) + "</g>"
    width = 3 if node.is_output else 1.2
    shape = (
        f'<rect x="{box.left:.1f}" y="{box.y - box.h / 2:.1f}" width="{box.w:.1f}" '
        f'height="{box.h:.1f}" rx="7" fill="{fill}" stroke="{border}" '
        f'stroke-width="{width}"/>'
    )
    texts = []
    for k, (text, role) in enumerate(box.lines):
        y = box.y - box.h / 2 + style.PAD_Y + (k + 0.75) * style.LINE_HEIGHT
        weight = ' font-weight="bold"' if role == "title" else ""
        texts.append(
            f'<text class="{role}" x="{box.left + style.PAD_X:.1f}" y="{y:.1f}" '
            f'fill="{style.TEXT[role]}"{weight}>{escape(_keep_spaces(text))}</text>'
        )
    return head + shape + "".join(texts) + "</g>"


def _keep_spaces(text):
    """Runs of spaces as no-break spaces: browsers collapse them in SVG text otherwise."""
    return re.sub(" (?= )", "\u00a0", text)


def png_matplotlib(graph, path, max_elements=10, rankdir="LR", dpi=150):
    """Draw the same layout as :func:`svg_text` with matplotlib and save it as PNG.

    ``path`` is a file name or a binary file. A picture of more than
    :data:`PNG_PIXELS` is drawn at a lower dpi, down to :data:`MIN_DPI`; past that, or
    past :data:`PNG_NODES` nodes, it is a ValueError that says to write SVG or HTML.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
        from matplotlib.path import Path
    except ImportError:
        raise ImportError(
            "PNG without Graphviz needs matplotlib: pip install "
            "'chainrule[train]' (or install Graphviz's dot)"
        ) from None
    if len(graph.nodes) > PNG_NODES:
        raise ValueError(
            f"a PNG of {len(graph.nodes)} nodes without Graphviz would take "
            f"matplotlib minutes (it draws up to {PNG_NODES}); write .svg or "
            ".html instead, or install Graphviz"
        )
    lay = layout(graph, max_elements, rankdir)
    px = 1 / 100  # the layout is in SVG pixels; 100 of them to an inch
    # matplotlib draws at most 2**16 pixels a side, and time goes with the pixels.
    fits = min(
        PNG_SIDE / (max(lay.width, lay.height) * px),
        (PNG_PIXELS / (lay.width * lay.height * px * px)) ** 0.5,
    )
    if fits < MIN_DPI:
        raise ValueError(
            f"this graph of {len(graph.nodes)} nodes is too large for a PNG "
            f"({lay.width:.0f} x {lay.height:.0f} pixels at 100 dpi); write .svg "
            "or .html instead"
        )
    dpi = min(dpi, fits)
    fig = Figure(figsize=(lay.width * px, lay.height * px), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, lay.width)
    ax.set_ylim(lay.height, 0)
    ax.axis("off")
    points_per_pixel = 72 * px
    fill, border = style.FRAME
    for frame, (x0, y0, x1, y1) in lay.frames:
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                boxstyle="round,pad=0,rounding_size=10",
                facecolor=fill,
                edgecolor=border,
                linestyle="--",
                linewidth=1,
            )
        )
        ax.text(
            x0 + FRAME_PAD,
            y0 + FRAME_LABEL - 4,
            frame.name,
            ha="left",
            va="baseline",
            family="monospace",
            fontsize=style.FONT_SIZE * points_per_pixel,
            color=border,
            weight="bold",
        )
    for _, pts in lay.paths:
        vertices, codes = [pts[0]], [Path.MOVETO]
        for p0, p1 in zip(pts, pts[1:]):
            vertices += [*_controls(p0, p1, lay.across), p1]
            codes += [Path.CURVE4] * 3
        ax.add_patch(
            FancyArrowPatch(
                path=Path(vertices, codes),
                arrowstyle="-|>",
                mutation_scale=10,
                color=style.EDGE,
                linewidth=1.0,
            )
        )
    for box in lay.boxes.values():
        node = box.node
        fill, border = style.colours(node)
        if style.small(node):
            ax.add_patch(
                Ellipse(
                    (box.x, box.y), box.w, box.h, facecolor=fill, edgecolor=border, linestyle="--"
                )
            )
            top = box.y - (len(box.lines) - 1) * 13 / 2
            for k, (text, _) in enumerate(box.lines):
                ax.text(
                    box.x,
                    top + 13 * k,
                    text,
                    ha="center",
                    va="center",
                    family="monospace",
                    fontsize=CONST_FONT * points_per_pixel,
                    color=style.TEXT["meta"],
                )
            continue
        ax.add_patch(
            FancyBboxPatch(
                (box.left, box.y - box.h / 2),
                box.w,
                box.h,
                boxstyle="round,pad=0,rounding_size=7",
                facecolor=fill,
                edgecolor=border,
                linewidth=2.5 if node.is_output else 1,
            )
        )
        for k, (text, role) in enumerate(box.lines):
            y = box.y - box.h / 2 + style.PAD_Y + (k + 0.75) * style.LINE_HEIGHT
            ax.text(
                box.left + style.PAD_X,
                y,
                text,
                ha="left",
                va="baseline",
                family="monospace",
                fontsize=style.FONT_SIZE * points_per_pixel,
                color=style.TEXT[role],
                weight="bold" if role == "title" else "normal",
            )
    fig.savefig(path, dpi=dpi, facecolor="white", format="png")
