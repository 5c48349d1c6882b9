"""A self-contained interactive page: the SVG picture plus every node's numbers.

Hovering over a node shows its full forward value, the local gradient of each of
its inputs, its gradient and how that gradient was assembled; clicking pins the
node. In a grouped picture a click on a module's box opens its ops in place (drawn
beforehand, one small picture per box, so the page needs no layout code) and a
second click closes them. Everything is inline (no scripts, styles or fonts from
the network).
"""

import json
import re
from html import escape

from . import style
from .explanation import arrivals, explain_graph, group_lines
from .groups import inner_graph, norm, op_summary
from .model import format_number, format_shape, full_text, title
from .svg import svg_text

_STYLE = """
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #111827; display: flex;
       height: 100vh; }
#cr-graph { flex: 1; overflow: auto; padding: 12px; position: relative; }
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
.cr-expansion { position: absolute; z-index: 10; background: white; border-radius: 8px;
                border: 2px solid $GROUP; box-shadow: 0 6px 20px rgba(0, 0, 0, 0.25); }
.cr-expansion[hidden] { display: none; }
.cr-expansion-head { padding: 4px 8px; font: 12px monospace; border-bottom: 1px solid #e5e7eb; }
.cr-expansion-head button { margin-left: 8px; font-size: 11px; cursor: pointer; }
""".replace("$GROUP", style.FILL["group"][1])

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
  function toggle(id) {
    var box = document.getElementById(id);
    var open = document.getElementById('cr-x-' + id);
    if (!open.hidden) {
      open.hidden = true;
      box.classList.remove('cr-open');
      return;
    }
    var host = document.getElementById('cr-graph');
    var at = box.getBoundingClientRect(), origin = host.getBoundingClientRect();
    open.style.left = (at.left - origin.left + host.scrollLeft) + 'px';
    open.style.top = (at.bottom - origin.top + host.scrollTop + 4) + 'px';  // box stays seen
    open.hidden = false;
    box.classList.add('cr-open');
  }
  function showGroup(d) {
    if (d.params.length) {
      add(panel, 'h3', 'parameters (shape, gradient norm)');
      add(panel, 'pre', d.params.join('\\n'), 'cr-params');
    }
    add(panel, 'h3', 'ops');
    add(panel, 'pre', d.ops.join('\\n'), 'cr-ops');
    add(panel, 'h3', 'output value');
    add(panel, 'pre', d.value, 'cr-value');
    add(panel, 'h3', 'gradient d ' + d.output + '/d output');
    add(panel, 'pre', d.grad === null ? '(no gradient)' : d.grad, 'cr-grad');
    if (d.chain.length) {
      add(panel, 'h3', 'chain rule through the box');
      add(panel, 'pre', d.chain.join('\\n'), 'cr-chain');
    }
    add(panel, 'p', 'click the box to show or hide its ops', 'cr-hint');
  }
  function show(id) {
    var d = data[id];
    panel.textContent = '';
    panel.setAttribute('data-node', id);
    add(panel, 'h2', d.title);
    add(panel, 'div', d.meta, 'cr-hint');
    if (d.kind === 'group') return showGroup(d);
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
      if (data[g.id].kind === 'group') {
        toggle(g.id);
        return show(g.id);
      }
      document.querySelectorAll('.cr-selected').forEach(function (s) {
        s.classList.remove('cr-selected');
      });
      pinned = pinned === g.id ? null : g.id;
      if (pinned) g.classList.add('cr-selected');
      show(g.id);
    });
  });
  document.querySelectorAll('#cr-graph .cr-close').forEach(function (b) {
    b.addEventListener('click', function () { toggle(b.getAttribute('data-group')); });
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
                label += (
                    f" (Jacobian, {format_shape(node.value.shape)} by "
                    f"{format_shape(edge.src.value.shape)})"
                )
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


def group_data(grouped):
    """What the page shows for each group of a grouped graph, keyed by group id."""
    data = {}
    for box in grouped.groups:
        params = []
        for name, leaf in box.params:
            grad = "" if leaf.grad is None else f"  |grad| {format_number(norm(leaf.grad))}"
            params.append(f"{name} {format_shape(leaf.value.shape)}{grad}")
        data[box.id] = {
            "kind": "group",
            "name": box.name,
            "title": box.name,
            "meta": f"{len(box.members)} ops: {op_summary(box.members)}",
            "params": params,
            "ops": [title(node) for node in box.members],
            "value": full_text(box.value),
            "grad": None if box.grad is None else full_text(box.grad),
            "chain": (
                [line.strip() for line in group_lines(grouped, box)[0]] if grouped.has_grads else []
            ),
            "output": grouped.full.output.name,
        }
    return data


def expansions(grouped, max_elements=10, rankdir="LR"):
    """Each group's ops drawn on their own, hidden until its box is clicked."""
    parts = []
    for box in grouped.groups:
        svg = svg_text(inner_graph(box, grouped), max_elements, rankdir, prefix=f"{box.id}-")
        parts.append(
            f'<div class="cr-expansion" id="cr-x-{box.id}" hidden>'
            f'<div class="cr-expansion-head"><b>{escape(box.name)}</b> '
            f'{len(box.members)} ops<button type="button" class="cr-close" '
            f'data-group="{box.id}">close</button></div>\n{svg}</div>'
        )
    return "\n".join(parts)


def page(graph, svg, max_elements=10, rankdir="LR"):
    """The HTML page for ``graph`` around an already drawn ``svg`` (nodes are ``g#nK``).

    For a grouped graph the page also holds every node of the full graph (in the
    expansions, drawn with ``max_elements`` and ``rankdir``) and their numbers.
    """
    svg = strip_prolog(svg)  # Graphviz writes an XML prolog and a doctype
    full = getattr(graph, "full", None)
    data = node_data(graph if full is None else full)
    extra = ""
    if full is not None:
        data.update(group_data(graph))
        extra = expansions(graph, max_elements, rankdir) + "\n"
    # JSON inside <script>: only "</" could end the element early.
    data = json.dumps(data).replace("</", "<\\/")
    explanation = escape("\n".join(explain_graph(graph)))
    name = escape((graph if full is None else full).output.name)
    hint = "" if full is None else " Click a module's box to show or hide its ops."
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>chainrule graph of {name}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<main id="cr-graph">\n{svg}\n{extra}<details><summary>The chain rule, edge by edge'
        f'</summary><pre id="cr-explanation">{explanation}</pre></details>\n</main>\n'
        '<aside id="cr-detail"><p class="cr-hint">Hover over a node to see its value, '
        f"local gradient and gradient; click to pin it.{hint}</p></aside>\n"
        f'<script type="application/json" id="cr-data">{data}</script>\n'
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def strip_prolog(svg):
    """The ``<svg>`` element alone, without an XML declaration, doctype or comments."""
    return re.sub(r"<!--.*?-->", "", svg[svg.index("<svg") :], flags=re.S)
