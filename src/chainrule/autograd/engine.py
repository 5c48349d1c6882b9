"""Reverse-mode backward: an iterative topological walk applying the chain rule.

For every node, in reverse topological order, the engine takes the upstream
gradient ``g`` and asks the node's op for each input's share (downstream =
upstream x local). It then fits that share to the input (summing back over
broadcast axes, restoring the dtype) in one place, :func:`_fit`, and adds it to
what the input has already received (fan-out adds, out of place).
"""

import heapq
from typing import Any

import numpy as np

from .. import memory
from ..errors import ShapeError
from ..tensor import Tensor
from .mode import GradMode


def backward(roots, gradients, retain_graph=None, create_graph=False, inputs=None, recording=None):
    """Propagate ``gradients`` from ``roots`` back through the graph.

    Without ``inputs`` the result is accumulated into every reachable leaf's ``.grad``;
    with ``inputs`` (a list of tensors) nothing is accumulated and their gradients are
    returned instead (None where no gradient reaches them).

    Nodes are visited by decreasing creation number (a max-heap): every consumer of a
    node was made after it, so by the time a node comes off the heap its gradient is
    complete. No topological sort, no recursion, and only the nodes a gradient reaches.
    When the heap is empty the one node just reached is next without going through it:
    every node still to visit was made before it (a chain never touches the heap).

    ``recording``: while ``chainrule.compile`` captures a step, the recorder that sees each
    rule, fit, sum and accumulation (False: this backward is not to be recorded).
    """
    if recording is None and _registry.recorder is not None:
        return _registry.recorder.backward(roots, gradients, retain_graph, create_graph, inputs)
    recording = recording or None
    if not memory.decided:  # training has started: keep freed blocks for the next step
        memory.apply_policy()
    if retain_graph is None:
        retain_graph = create_graph
    grads: dict[Tensor, Any] = {}
    for root, gradient in zip(roots, gradients):
        seed = _seed(root, gradient, create_graph)
        if recording is not None:
            recording.seed(seed, gradient)
        if root in grads:
            seed = grads[root] + seed if recording is None else recording.add(grads[root], seed)
        grads[root] = seed
    targets = None if inputs is None else {t: None for t in inputs}
    # Nodes made before every target cannot lead to one: no need to visit them.
    horizon = -1 if targets is None else min(t._seq for t in targets)
    heap = [(-node._seq, node) for node in grads if node._op is not None]
    heapq.heapify(heap)
    check_versions = Tensor.inplace_ops > 0
    anomaly = GradMode.anomaly
    heappush, heappop, heappushpop = heapq.heappush, heapq.heappop, heapq.heappushpop

    previous_mode, GradMode.enabled = GradMode.enabled, bool(create_graph)
    try:
        node = heappop(heap)[1] if heap else None
        while node is not None:
            g = grads.pop(node)
            if node._hooks:
                g = _run_hooks(node, g) if recording is None else recording.hooked(node, g)
            if targets is not None and node in targets:
                targets[node] = g
            elif node._retains_grad:
                (_accumulate if recording is None else recording.accumulate)(node, g, set())
            op, node_inputs, params = node._op, node._inputs, node._params
            if node_inputs is None:
                raise RuntimeError(
                    f"backward through the graph a second time: the graph of '{op.name}' was "
                    "freed by the first backward; pass retain_graph=True to keep it"
                )
            if check_versions:
                node_inputs = recorded_inputs(node)
                _check_versions(node, node_inputs)
            out: Any  # the node itself when the rules record a graph, else its array
            if create_graph:
                args, out = node_inputs, node
            else:
                args, out = node._arrays, node._data
            vjps = op.vjps
            if op.variadic is not None and recording is None:  # rules bound to all the inputs
                vjps, args, params = op.variadic_rules(args, params), (), None
            following = None  # the first input reached for the first time, if it is a node
            for i, x in enumerate(node_inputs):
                if not (isinstance(x, Tensor) and x.requires_grad):
                    continue
                if targets is not None and x._seq < horizon and x not in targets:
                    continue  # made before every target (leaves included): leads to none
                rule = vjps[i]
                if rule is passthrough:
                    share = g
                else:
                    if recording is not None:
                        share = recording.share(op, i, g, out, args, params)
                    else:
                        share = rule(g, out, *args, **params) if params else rule(g, out, *args)
                    if share is None:
                        continue
                if not op.fitted_shares:
                    data = x._data
                    if share.shape != data.shape or share.dtype != data.dtype:
                        share = (
                            _fit(share, data) if recording is None else recording.fit(share, data)
                        )
                if anomaly:
                    _check_finite(share, op, i)
                if x in grads:
                    # Out of place: shares may alias each other.
                    if recording is None:
                        grads[x] = grads[x] + share
                    else:
                        grads[x] = recording.add(grads[x], share)
                else:
                    grads[x] = share
                    if x._op is not None:
                        if following is None:
                            following = x
                        else:
                            heappush(heap, (-x._seq, x))
            if not retain_graph:
                node._inputs = node._arrays = None
            # Next, the node made last among those pending. In a chain that is the one input
            # just reached, and the heap is not needed.
            if not heap:
                node = following
            elif following is None:
                node = heappop(heap)[1]
            else:
                node = heappushpop(heap, (-following._seq, following))[1]
        # What is left are leaves, each with its complete gradient.
        stored: set[int] = set()  # ids of arrays handed to leaves, so no two leaves share one
        for leaf, g in grads.items():
            if leaf._hooks:
                g = _run_hooks(leaf, g) if recording is None else recording.hooked(leaf, g)
            if targets is not None:
                if leaf in targets:
                    targets[leaf] = g
            else:
                (_accumulate if recording is None else recording.accumulate)(leaf, g, stored)
    finally:
        GradMode.enabled = previous_mode
    if targets is not None:
        return [targets[t] for t in inputs]
    return None


def _seed(root, gradient, create_graph):
    if not isinstance(root, Tensor) or not root.requires_grad:
        raise RuntimeError(
            "backward: the output does not require grad and has no grad_fn "
            "(no input of its graph has requires_grad=True)"
        )
    shape, dtype = root._data.shape, root._data.dtype
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError(
                f"backward: a gradient can be implied only for a scalar output; "
                f"this output has shape {shape}, pass gradient="
            )
        seed: Any
        # Fresh, so no copy; np.array makes the usual 0-d seed in a quarter of np.ones' time.
        seed = np.array(1, dtype) if shape == () else np.ones(shape, dtype)
    elif create_graph and isinstance(gradient, Tensor):
        seed = gradient
    else:
        data = gradient._data if isinstance(gradient, Tensor) else gradient
        if np.iscomplexobj(data) and not np.iscomplexobj(root._data):
            raise TypeError(
                f"backward: a complex gradient for a real output of dtype {dtype} "
                "(its imaginary part would be dropped)"
            )
        seed = np.array(data, dtype=dtype, copy=True)  # never alias the caller's array
    if seed.shape != shape:
        raise ShapeError(
            f"backward: gradient of shape {seed.shape} does not match the output of shape {shape}"
        )
    return Tensor._new(seed) if create_graph and not isinstance(seed, Tensor) else seed


def _fit(share, data):
    """Sum a gradient back to the shape of its input's array ``data`` and give it its dtype."""
    if share.shape != data.shape:
        share = sum_to(share, data.shape)
    if share.dtype != data.dtype:
        share = astype(share, data.dtype)
    return share


def _accumulate(tensor, g, stored):
    if isinstance(g, Tensor):
        tensor.grad = g if tensor.grad is None else tensor.grad + g
        return
    if type(g) is not ndarray:
        g = np.asarray(g)
    owner = g.base
    if owner is None:
        owner = g
    # A .grad is the leaf's own array: copy a read-only one, or one another leaf already got
    # (views of one array share its memory).
    if id(owner) in stored or not g.flags.writeable:
        g = owner = g.copy()
    stored.add(id(owner))
    tensor.grad = _new(g) if tensor.grad is None else _new(tensor.grad._data + g)


def _run_hooks(node, g):
    """Hooks see a Tensor; what they return replaces g, in g's own kind (array or Tensor)
    and in the tensor's dtype. A gradient of another shape is an error."""
    graph = isinstance(g, Tensor)
    for hook in list(node._hooks):
        result = hook(g if graph else Tensor._new(np.asarray(g)))
        if result is None:
            continue
        g = result if graph else np.asarray(data_of(result))
        if g.shape != node._data.shape:
            raise ShapeError(
                f"hook {getattr(hook, '__name__', hook)!r} returned a gradient "
                f"of shape {g.shape} for a tensor of shape {node._data.shape}"
            )
        g = _fit(g, node._data)  # the shape is right by now: this restores the dtype
    return g


def recorded_inputs(node):
    """The node's inputs as they were when it was recorded.

    An input changed in place inside a graph later became another node; the tensor it was
    before is its ``_before``, and that is what this node used.
    """
    inputs = node._inputs
    if not Tensor.rebased:
        return inputs
    resolved = list(inputs)
    for i, x in enumerate(inputs):
        while isinstance(x, Tensor) and x._seq > node._seq:
            before = getattr(x, "_before", None)
            if before is None:
                break
            x = before
        resolved[i] = x
    return tuple(resolved)


def _check_versions(node, inputs):
    saved = node._versions or [0] * (len(inputs) + 1)  # made before any in-place op
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x._version != saved[i]:
            raise RuntimeError(
                f"backward of '{node._op.name}': input {i} (shape {x.shape}) was modified by an "
                f"in-place operation after it was used (version {x._version}, expected "
                f"{saved[i]}); use an out-of-place op or a copy"
            )
    if node._op.saves_out and node._version != saved[-1]:
        raise RuntimeError(
            f"backward of '{node._op.name}': its output (shape {node.shape}) was modified by an "
            f"in-place operation (version {node._version}, expected {saved[-1]})"
        )


def _check_finite(share, op, i):
    values = share._data if isinstance(share, Tensor) else np.asarray(share)
    if not np.all(np.isfinite(values)):
        kind = "nan" if np.isnan(values).any() else "inf"
        raise RuntimeError(
            f"detect_anomaly: backward of '{op.name}' produced {kind} in the "
            f"gradient of input {i} (shape {values.shape})"
        )


def grad(
    outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False
):
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``."""
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):  # one array, Tensor or number
        grad_outputs = [grad_outputs]
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"grad: an input of shape {x.shape} does not require grad")
    result = backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs)
    if not allow_unused and any(r is None for r in result):
        raise RuntimeError(
            "grad: an input is not reachable from the outputs "
            "(pass allow_unused=True to get None for it)"
        )
    result = [
        r if r is None or isinstance(r, Tensor) else Tensor._new(np.asarray(r)) for r in result
    ]
    return result[0] if single else tuple(result)


from ..ops.elementwise import astype  # noqa: E402  (ops import the tensor this module serves)
from ..ops.reduce import sum_to  # noqa: E402
from ..ops import registry as _registry  # noqa: E402
from ..ops.registry import data_of, passthrough  # noqa: E402

_new, ndarray = Tensor._new, np.ndarray
