"""Seeing backprop: graph export, rendering and chain-rule explanations.

>>> import chainrule as cr
>>> x = cr.tensor(-2.0, requires_grad=True, name="x")
>>> y = cr.tensor(5.0, requires_grad=True, name="y")
>>> z = cr.tensor(-4.0, requires_grad=True, name="z")
>>> q = x + y
>>> q.name = "q"
>>> f = q * z
>>> f.name = "f"
>>> print(cr.viz.explain(f).splitlines()[-1])
  d f/d y = upstream (-4) x local d q/d y (1) = -4   (add gate distributes)

``to_dot`` gives DOT text, ``render`` writes .svg/.png/.html/.dot files (with
Graphviz's ``dot`` when installed, else with chainrule's own layout), ``graph``
returns a view Jupyter shows inline, ``explain`` spells out the chain rule.
Each takes ``group="module"`` to draw one box per module call, for a forward run
inside ``record_scopes()``; ``scope(name)`` names any block as a box of its own.
"""

from ..autograd.scopes import record_scopes, scope
from .groups import GroupedGraph, group_graph
from .model import Graph, trace
from .views import GraphView, explain, graph, render, to_dot

__all__ = [
    "Graph",
    "GraphView",
    "GroupedGraph",
    "explain",
    "graph",
    "group_graph",
    "record_scopes",
    "render",
    "scope",
    "to_dot",
    "trace",
]
