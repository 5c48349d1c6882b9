"""Reverse-mode backward: an iterative topological walk applying the chain rule.

For every node, in reverse topological order, the engine takes the upstream
gradient ``g`` and asks the node's op for each input's share (downstream =
upstream x local). It then fits that share to the input (summing back over
broadcast axes, restoring the dtype) in one place, :func:`_fit`, and adds it to
what the input has already received (fan-out adds, out of place).
"""

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .mode import GradMode


def backward(roots, gradients, retain_graph=None, create_graph=False, inputs=None):
    """Propagate ``gradients`` from ``roots`` back through the graph.

    Without ``inputs`` the result is accumulated into every reachable leaf's ``.grad``;
    with ``inputs`` (a list of tensors) nothing is accumulated and their gradients are
    returned instead (None where no gradient reaches them).
    """
    if retain_graph is None:
        retain_graph = create_graph
    grads = {}
    for root, gradient in zip(roots, gradients):
        seed = _seed(root, gradient, create_graph)
        grads[root] = grads[root] + seed if root in grads else seed
    targets = None if inputs is None else {t: None for t in inputs}
    order = _topological(roots)
    relevant = None if targets is None else _leading_to(order, targets)
    anomaly = GradMode.anomaly
    stored = set()  # ids of arrays handed to leaves in this pass, to avoid aliasing them

    previous_mode, GradMode.enabled = GradMode.enabled, bool(create_graph)
    try:
        for node in reversed(order):
            g = grads.pop(node, None)
            if g is None:
                continue
            if node._hooks:
                g = _run_hooks(node, g)
            if targets is not None and node in targets:
                targets[node] = g
            op = node._op
            if op is None:
                if targets is None:
                    _accumulate(node, g, stored)
                continue
            if node._retains_grad and targets is None:
                _accumulate(node, g, stored)
            node_inputs = node._inputs
            if node_inputs is None:
                raise RuntimeError(
                    f"backward through the graph a second time: the graph of '{op.name}' was "
                    "freed by the first backward; pass retain_graph=True to keep it")
            _check_versions(node)
            if create_graph:
                args, out = node_inputs, node
            else:
                args = [x.data if isinstance(x, Tensor) else x for x in node_inputs]
                out = node.data
            params = node._params
            for i, x in enumerate(node_inputs):
                if not (isinstance(x, Tensor) and x.requires_grad):
                    continue
                if relevant is not None and x not in relevant:
                    continue
                share = op.vjp(i, g, out, args, params)
                if share is None:
                    continue
                share = _fit(share, x)
                if anomaly:
                    _check_finite(share, op, i)
                previous = grads.get(x)
                grads[x] = share if previous is None else previous + share
            if not retain_graph:
                node._inputs = None
    finally:
        GradMode.enabled = previous_mode
    if targets is not None:
        return [targets[t] for t in inputs]
    return None


def _seed(root, gradient, create_graph):
    if not isinstance(root, Tensor) or not root.requires_grad:
        raise RuntimeError("backward: the output does not require grad and has no grad_fn "
                           "(no input of its graph has requires_grad=True)")
    shape, dtype = root.data.shape, root.data.dtype
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: a gradient can be implied only for a scalar output; "
                               f"this output has shape {shape}, pass gradient=")
        gradient = np.ones(shape, dtype=dtype)
    if create_graph and isinstance(gradient, Tensor):
        seed = gradient
    else:
        data = gradient.data if isinstance(gradient, Tensor) else gradient
        seed = np.array(data, dtype=dtype, copy=True)  # never alias the caller's array
    if seed.shape != shape:
        raise ShapeError(f"backward: gradient of shape {seed.shape} does not match the output "
                         f"of shape {shape}")
    return Tensor._new(seed) if create_graph and not isinstance(seed, Tensor) else seed


def _topological(roots):
    """Nodes that need a gradient, every node after all of its inputs (no recursion)."""
    order, seen = [], set()
    stack = [(root, False) for root in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        node_inputs = node._inputs
        if node_inputs is not None:
            for x in node_inputs:
                if isinstance(x, Tensor) and x.requires_grad and x not in seen:
                    stack.append((x, False))
    return order


def _leading_to(order, targets):
    """The nodes from which some target can be reached (only they need gradients)."""
    relevant = set()
    for node in order:  # inputs come first, so their membership is already known
        if node in targets or (node._inputs is not None and any(
                isinstance(x, Tensor) and x in relevant for x in node._inputs)):
            relevant.add(node)
    return relevant


def _fit(share, x):
    """Sum a gradient back to its input's shape and give it the input's dtype."""
    data = x.data
    if share.shape != data.shape:
        share = sum_to(share, data.shape)
    if share.dtype != data.dtype:
        share = astype(share, data.dtype)
    return share


def _accumulate(tensor, g, stored):
    if isinstance(g, Tensor):
        tensor.grad = g if tensor.grad is None else tensor.grad + g
        return
    g = np.asarray(g)
    if (not g.flags.writeable or id(g) in stored
            or (g.base is not None and id(g.base) in stored)):
        g = g.copy()
    stored.add(id(g))
    tensor.grad = Tensor._new(g) if tensor.grad is None else Tensor._new(tensor.grad.data + g)


def _run_hooks(node, g):
    for hook in list(node._hooks):
        wrapped = g if isinstance(g, Tensor) else Tensor._new(np.asarray(g))
        result = hook(wrapped)
        if result is not None:
            g = result if isinstance(g, Tensor) else np.asarray(result.data
                                                                 if isinstance(result, Tensor)
                                                                 else result)
    return g


def _check_versions(node):
    saved = node._versions
    for i, x in enumerate(node._inputs):
        if isinstance(x, Tensor) and x._version != saved[i]:
            raise RuntimeError(
                f"backward of '{node._op.name}': input {i} (shape {x.shape}) was modified by an "
                f"in-place operation after it was used (version {x._version}, expected "
                f"{saved[i]}); use an out-of-place op or a copy")
    if node._op.saves_out and node._version != saved[-1]:
        raise RuntimeError(
            f"backward of '{node._op.name}': its output (shape {node.shape}) was modified by an "
            f"in-place operation (version {node._version}, expected {saved[-1]})")


def _check_finite(share, op, i):
    values = share.data if isinstance(share, Tensor) else np.asarray(share)
    if not np.all(np.isfinite(values)):
        kind = "nan" if np.isnan(values).any() else "inf"
        raise RuntimeError(f"detect_anomaly: backward of '{op.name}' produced {kind} in the "
                           f"gradient of input {i} (shape {values.shape})")


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``."""
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"grad: an input of shape {x.shape} does not require grad")
    result = backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs)
    if not allow_unused and any(r is None for r in result):
        raise RuntimeError("grad: an input is not reachable from the outputs "
                           "(pass allow_unused=True to get None for it)")
    result = [r if r is None or isinstance(r, Tensor) else Tensor._new(np.asarray(r))
              for r in result]
    return result[0] if single else tuple(result)


from ..ops.elementwise import astype  # noqa: E402  (ops import the tensor this module serves)
from ..ops.reduce import sum_to  # noqa: E402
