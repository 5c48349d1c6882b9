"""A layered (Sugiyama) layout in pure Python, in time near-linear in the size of the graph.

The steps are those of Graphviz's ``dot``: put every node in a layer, order each layer
to keep edges from crossing, then place the nodes of a layer along it. Coordinates are
``(along, rank)``: ``along`` runs within a layer, ``rank`` across the layers, inputs first.

An edge that skips layers bends through one point per skipped layer, as in ``dot``. A
node used all along a long graph (``x + x + ... + x``) would need a number of bend
points that grows with the square of the graph's length, so an edge longer than
:data:`MAX_SPAN` layers takes the *bus* instead: a lane beside the drawing that every
long edge of one source shares. That keeps the work linear in nodes plus edges.

>>> lay = layered(["x", "y", "q"], [("x", "q"), ("y", "q")], {k: (20, 10) for k in "xyq"})
>>> [lay.layer[k] for k in "xyq"], lay.along["x"] < lay.along["y"]
([0, 0, 1], True)
"""

from dataclasses import dataclass
from itertools import pairwise

MAX_SPAN = 8  # an edge over more layers than this takes the bus
SWEEPS = 6  # rounds of ordering (and of placing), each one pass down and one up
NODE_GAP = 16  # between neighbours in a layer
LAYER_GAP = 48  # between layers
LANE_GAP = 8  # between bus lanes, and between the drawing and the first lane
BEND_SIZE = 6  # room a bend point takes in its layer


@dataclass
class Layered:
    """Node centres, edge routes and how much work placing them took.

    ``along``/``rank``: each node's centre; ``layer``: its layer; ``routes``: for each
    ``(source, target)`` pair the points from the source's centre to the target's;
    ``bus``: the pairs routed along a lane; ``bends``: the number of bend points;
    ``work``: vertex and edge visits of the ordering and placing passes.
    """

    along: dict
    rank: dict
    layer: dict
    routes: dict
    bus: set
    bends: int
    work: int


def layered(nodes, edges, sizes, max_span=MAX_SPAN):
    """Lay out ``nodes`` (inputs before the nodes that use them) joined by ``edges``.

    ``edges`` are ``(source, target)`` pairs; ``sizes[node]`` is ``(along, rank)``, the
    node's extent along its layer and across it.
    """
    index, pairs, layer = _layering(nodes, edges)

    # The vertices ordered in the layers: the nodes, then one bend point per skipped layer.
    extent = [sizes[node][0] for node in nodes]
    # Neighbours one layer up and down, bend points included.
    up: list[list[int]] = [[] for _ in nodes]
    down: list[list[int]] = [[] for _ in nodes]
    chains, bus = {}, set()
    vertex_layer = list(layer)
    for a, b in pairs:
        i, j = index[a], index[b]
        span = layer[j] - layer[i]
        if span > max_span:
            bus.add((a, b))
            continue
        chain = [i]
        for step in range(1, span):
            vertex_layer.append(layer[i] + step)
            extent.append(BEND_SIZE)
            up.append([])
            down.append([])
            chain.append(len(vertex_layer) - 1)
        chain.append(j)
        for u, v in pairwise(chain):
            down[u].append(v)
            up[v].append(u)
        chains[(a, b)] = chain

    n_layers = max(vertex_layer, default=-1) + 1
    rows: list[list[int]] = [[] for _ in range(n_layers)]
    for v in _initial_order(len(nodes), len(vertex_layer), chains.values()):
        rows[vertex_layer[v]].append(v)
    work = _order(rows, up, down)
    coords, placing = _place(rows, up, down, extent)
    work += placing

    # Across the layers: each layer as thick as its thickest node.
    thickness = [0.0] * n_layers
    for v, node in enumerate(nodes):
        thickness[layer[v]] = max(thickness[layer[v]], sizes[node][1])
    middle, position = [], 0.0
    for t in thickness:
        middle.append(position + t / 2)
        position += t + LAYER_GAP

    along = {node: coords[v] for v, node in enumerate(nodes)}
    rank = {node: middle[layer[v]] for v, node in enumerate(nodes)}
    routes = {
        pair: [(coords[v], middle[vertex_layer[v]]) for v in chain]
        for pair, chain in chains.items()
    }
    # One lane per source, past the far side, where the bend points went too.
    lanes: dict[int, float] = {}
    high = max((coords[v] + extent[v] / 2 for v in range(len(vertex_layer))), default=0.0)
    for a, b in pairs:
        if (a, b) in bus:
            lane = high + LANE_GAP * (1 + lanes.setdefault(a, len(lanes)))
            i, j = index[a], index[b]
            leave = middle[layer[i]] + thickness[layer[i]] / 2 + LAYER_GAP / 2
            arrive = middle[layer[j]] - thickness[layer[j]] / 2 - LAYER_GAP / 2
            routes[(a, b)] = [
                (along[a], rank[a]),
                (lane, leave),
                (lane, arrive),
                (along[b], rank[b]),
            ]
    return Layered(
        along,
        rank,
        {node: layer[v] for v, node in enumerate(nodes)},
        routes,
        bus,
        len(vertex_layer) - len(nodes),
        work,
    )


def bends(nodes, edges):
    """How many bend points the edges would need if no edge took the bus (as in ``dot``).

    >>> bends(["x", "a", "b"], [("x", "a"), ("a", "b"), ("x", "b")])
    1
    """
    index, pairs, layer = _layering(nodes, edges)
    return sum(layer[index[b]] - layer[index[a]] - 1 for a, b in pairs)


def _layering(nodes, edges):
    """Node indexes, the connected pairs (each once) and each node's layer."""
    index = {node: k for k, node in enumerate(nodes)}
    pairs = list(dict.fromkeys(edges))  # one route per connected pair (x * x has two edges)
    preds: list[list[int]] = [[] for _ in nodes]
    succs: list[list[int]] = [[] for _ in nodes]
    for a, b in pairs:
        preds[index[b]].append(index[a])
        succs[index[a]].append(index[b])
    return index, pairs, _layers(len(nodes), preds, succs)


def _layers(n, preds, succs):
    """Each node's layer: just after its last input, then moved as late as its users allow.

    The second pass puts a constant or a leaf next to the op that uses it, not in the
    first layer, which keeps most edges one layer long.
    """
    layer = [0] * n
    for v in range(n):
        layer[v] = max((layer[p] + 1 for p in preds[v]), default=0)
    for v in reversed(range(n)):
        if succs[v]:
            layer[v] = min(layer[s] for s in succs[v]) - 1
    return layer


def _initial_order(n_nodes, n_vertices, chains):
    """The nodes in the order given, then the bend points: ties keep the nodes first."""
    order = list(range(n_nodes))
    for chain in chains:
        order.extend(chain[1:-1])
    assert len(order) == n_vertices
    return order


def _order(rows, up, down):
    """Barycentre sweeps: sort each layer by where its neighbours sit in the layer before."""
    where = [0.0] * len(up)

    def number(row):
        for k, v in enumerate(row):
            where[v] = (k + 0.5) / len(row)

    for row in rows:
        number(row)
    work = 0
    for _ in range(SWEEPS):
        for rows_in_order, links in ((rows[1:], up), (rows[-2::-1], down)):
            for row in rows_in_order:
                keys = {}
                for v in row:
                    near = links[v]
                    keys[v] = sum(where[u] for u in near) / len(near) if near else where[v]
                    work += 1 + len(near)
                row.sort(key=keys.__getitem__)  # stable: ties keep inputs in order
                number(row)
    return work


def _place(rows, up, down, extent):
    """Positions along each layer: near the neighbours' (weighted by their degree), apart.

    Weighing by degree keeps a chain of ops straight: a constant or a leaf used once
    moves next to its op rather than pulling the op off the chain.
    """
    degree = [(len(u) + len(d)) ** 2 for u, d in zip(up, down)]
    coords = [0.0] * len(up)
    for row in rows:  # packed and centred to start
        position = 0.0
        for v in row:
            coords[v] = position + extent[v] / 2
            position += extent[v] + NODE_GAP
        for v in row:
            coords[v] -= (position - NODE_GAP) / 2
    work = 0
    for sweep in range(SWEEPS):
        last = sweep == SWEEPS - 1
        for rows_in_order, links in ((rows[1:], up), (rows[-2::-1], down)):
            for row in rows_in_order:
                wanted = []
                for v in row:
                    near = up[v] + down[v] if last else links[v]
                    weight = sum(degree[u] for u in near)
                    wanted.append(
                        sum(coords[u] * degree[u] for u in near) / weight if near else coords[v]
                    )
                    work += 1 + len(near)
                placed = _closest(wanted, [extent[v] for v in row], [degree[v] for v in row])
                for v, c in zip(row, placed):
                    coords[v] = c
    return coords, work


def _closest(wanted, extents, weights):
    """Positions in order, ``NODE_GAP`` apart, nearest to ``wanted`` (weighted least squares).

    Shifting each position by the room the ones before it need turns the gaps into
    "non-decreasing", solved exactly by pooling adjacent violators in linear time.

    >>> _closest([0, 0, 0], [10, 10, 10], [1, 1, 1])
    [-26.0, 0.0, 26.0]
    """
    offsets, total = [], 0.0
    for k, size in enumerate(extents):
        if k:
            total += (extents[k - 1] + size) / 2 + NODE_GAP
        offsets.append(total)
    blocks = []  # [mean, weight, count]
    for w, offset, weight in zip(wanted, offsets, weights):
        blocks.append([w - offset, max(weight, 1), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, weight, count = blocks.pop()
            last = blocks[-1]
            last[0] = (last[0] * last[1] + mean * weight) / (last[1] + weight)
            last[1] += weight
            last[2] += count
    levels = [mean for mean, _, count in blocks for _ in range(count)]
    return [level + offset for level, offset in zip(levels, offsets)]
