"""Colours and fonts shared by the DOT, SVG and matplotlib drawings, so they look alike."""

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
FONT_SIZE = 12  # pixels in SVG
LINE_HEIGHT = 16
CHAR_WIDTH = 0.61 * FONT_SIZE  # a monospace advance, close to DejaVu Sans Mono's
PAD_X, PAD_Y = 8, 5

EDGE = "#6b7280"
TEXT = {
    "title": "#111827",
    "meta": "#6b7280",
    "value": "#1f2937",
    "grad": "#dc2626",
    "param": "#1e40af",
}

# (fill, border) per kind of node.
FILL = {
    "op": ("#fef3c7", "#d97706"),  # amber: computation
    "param": ("#dbeafe", "#2563eb"),  # blue: leaves that get a gradient
    "data": ("#f3f4f6", "#9ca3af"),  # grey: leaves without one (inputs, targets)
    "const": ("#ffffff", "#9ca3af"),
    "output": ("#dcfce7", "#16a34a"),  # green: the output
    "group": ("#ccfbf1", "#0d9488"),  # teal: a module's ops in one box (viz.groups)
    "ref": ("#ffffff", "#0d9488"),  # a node outside an expanded box
}
# (fill, border) of a frame: the dashed outline of a call around its boxes (viz.groups).
FRAME = ("#f0fdfa", "#14b8a6")


def colours(node):
    """The (fill, border) colours of a graph node."""
    if node.is_output:
        return FILL["output"]
    if node.kind == "leaf":
        return FILL["param"] if node.requires_grad else FILL["data"]
    return FILL[node.kind]


def small(node):
    """Whether a node is drawn as a small dashed ellipse (constants, refs) not a box."""
    return node.kind in ("const", "ref")
