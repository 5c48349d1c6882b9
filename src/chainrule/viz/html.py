"""A self-contained interactive page: the SVG picture plus every node's numbers.

Hovering over a node shows its full forward value, the local gradient of each of
its inputs, its gradient and how that gradient was assembled; clicking pins the
node. Everything is inline (no scripts, styles or fonts from the network).
"""

import json
import re
from html import escape

from .explanation import arrivals, explain_graph
from .model import format_shape, full_text, title

_STYLE = """
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #111827; display: flex;
       height: 100vh; }
#cr-graph { flex: 1; overflow: auto; padding: 12px; }
#cr-graph g.node { cursor: pointer; }
#cr-graph g.node.cr-selected rect, #cr-graph g.node.cr-selected polygon,
#cr-graph g.node.cr-selected path, #cr-graph g.node.cr-selected ellipse {
  stroke: #7c3aed; stroke-width: 3; }
#cr-detail { width: 440px; border-left: 1px solid #e5e7eb; padding: 12px 16px;
             overflow: auto; background: #fafafa; }
#cr-detail h2 { font-size: 16px; margin: 4px 0; font-family: monospace; }
#cr-detail h3 { font-size: 13px; margin: 14px 0 4px; color: #374151; }
#cr-detail pre { margin: 0; padding: 6px 8px; background: white; border: 1px solid #e5e7eb;
                 border-radius: 4px; overflow-x: auto; font-size: 12px; }
#cr-detail .cr-grad { color: #dc2626; }
#cr-detail .cr-hint { color: #6b7280; }
details { margin-top: 16px; }
"""

_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('cr-data').textContent);
  var panel = document.getElementById('cr-detail');
  var pinned = null;
  function add(parent, tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) el.className = cls;
    parent.appendChild(el);
    return el;
  }
  function show(id) {
    var d = data[id];
    panel.textContent = '';
    panel.setAttribute('data-node', id);
    add(panel, 'h2', d.title);
    add(panel, 'div', d.meta, 'cr-hint');
    add(panel, 'h3', 'forward value');
    add(panel, 'pre', d.value, 'cr-value');
    d.local.forEach(function (l) {
      add(panel, 'h3', 'local gradient ' + l.label);
      add(panel, 'pre', l.text, 'cr-local');
    });
    add(panel, 'h3', 'gradient d ' + d.output + '/d ' + d.name);
    add(panel, 'pre', d.grad === null ? '(no gradient)' : d.grad, 'cr-grad');
    if (d.chain.length) {
      add(panel, 'h3', 'chain rule');
      add(panel, 'pre', d.chain.join('\\n'), 'cr-chain');
    }
    add(panel, 'p', pinned ? 'pinned: click the node again to unpin' : 'click to pin',
        'cr-hint');
  }
  document.querySelectorAll('#cr-graph g.node').forEach(function (g) {
    if (!(g.id in data)) return;
    g.addEventListener('mouseenter', function () { if (!pinned) show(g.id); });
    g.addEventListener('click', function () {
      document.querySelectorAll('.cr-selected').forEach(function (s) {
        s.classList.remove('cr-selected');
      });
      pinned = pinned === g.id ? null : g.id;
      if (pinned) g.classList.add('cr-selected');
      show(g.id);
    });
  });
})();
"""


def node_data(graph):
    """What the page shows for each node, keyed by node id."""
    data = {}
    for node in graph.nodes:
        local = []
        for edge in graph.in_edges(node):
            label = f"d {node.name}/d {edge.src.name}"
            if edge.local_kind == "elementwise":
                text = full_text(edge.local)
                label += " (elementwise)"
            elif edge.local_kind == "jacobian":
                text = full_text(edge.local)
                label += (f" (Jacobian, {format_shape(node.value.shape)} by "
                          f"{format_shape(edge.src.value.shape)})")
            elif edge.src.requires_grad and node.grad is not None:
                text = f"too large to write out; applied as the vjp of {node.op_name}"
            else:
                continue
            local.append({"label": label, "text": text})
        kind = node.op_name or ("constant" if node.kind == "const" else "leaf")
        data[node.id] = {
            "name": node.name,
            "title": title(node),
            "meta": f"{kind}, shape {format_shape(node.value.shape)}, {node.value.dtype}",
            "value": full_text(node.value),
            "grad": None if node.grad is None else full_text(node.grad),
            "local": local,
            "chain": arrivals(graph, node) if graph.has_grads else [],
            "output": graph.output.name,
        }
    return data


def page(graph, svg):
    """The HTML page for ``graph`` around an already drawn ``svg`` (nodes are ``g#nK``)."""
    svg = strip_prolog(svg)  # Graphviz writes an XML prolog and a doctype
    # JSON inside <script>: only "</" could end the element early.
    data = json.dumps(node_data(graph)).replace("</", "<\\/")
    explanation = escape("\n".join(explain_graph(graph)))
    name = escape(graph.output.name)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>chainrule graph of {name}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<main id=\"cr-graph\">\n{svg}\n<details><summary>The chain rule, edge by edge"
        f"</summary><pre id=\"cr-explanation\">{explanation}</pre></details>\n</main>\n"
        "<aside id=\"cr-detail\"><p class=\"cr-hint\">Hover over a node to see its value, "
        "local gradient and gradient; click to pin it.</p></aside>\n"
        f"<script type=\"application/json\" id=\"cr-data\">{data}</script>\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def strip_prolog(svg):
    """The ``<svg>`` element alone, without an XML declaration, doctype or comments."""
    return re.sub(r"<!--.*?-->", "", svg[svg.index("<svg"):], flags=re.S)
