"""Which op's backward is wrong? Each node of a recorded graph, checked on its own.

:func:`check_graph` takes every op node of a graph, makes float64 copies of its
recorded inputs, and compares the op's vjp for each input with central finite
differences of the op's forward, both contracted with a random cotangent. A
wrong rule is found by name, even deep inside a large model, without having to
guess which function to pass to :func:`chainrule.gradcheck`.
"""

from dataclasses import dataclass, field

import numpy as np

from .autograd.mode import no_grad
from .errors import GradcheckError
from .ops.reduce import sum_to
from .tensor import Tensor
from .viz.model import trace


@dataclass
class NodeCheck:
    """One input of one op node: the worst disagreement found between vjp and differences."""

    node: str
    op: str
    input: int
    shape: tuple[int, ...]
    checked: int  # elements compared (a random sample for large inputs)
    max_error: float  # the largest |analytic - numeric| over the checked elements
    index: tuple[int, ...] = ()  # where the worst element is
    analytic: float = 0.0
    numeric: float = 0.0
    ok: bool = True

    def describe(self) -> str:
        return (
            f"backward of op '{self.op}' (node '{self.node}') disagrees with finite "
            f"differences for input {self.input} (shape {self.shape}): worst element "
            f"{self.index}, analytic {self.analytic:.6g}, numeric {self.numeric:.6g}"
        )


@dataclass
class GraphCheck:
    """Every check made by :func:`check_graph`, in backward order."""

    checks: list[NodeCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[NodeCheck]:
        return [c for c in self.checks if not c.ok]

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        failures = self.failures
        ops = len({c.node for c in self.checks})
        head = (
            f"check_graph: {len(self.checks)} vjps of {ops} op nodes checked, "
            + (f"{len(failures)} disagree" if failures else "all agree")
            + " with finite differences"
        )
        wide = max([len(c.node) for c in self.checks] + [4]) + 2
        op_wide = max([len(c.op) for c in self.checks] + [2]) + 2
        rows = [
            f"  {'node':<{wide}}{'op':<{op_wide}}{'input':>5}  {'shape':<12}"
            f"{'max error':>10}  result"
        ]
        for c in self.checks:
            rows.append(
                f"  {c.node:<{wide}}{c.op:<{op_wide}}{c.input:>5}  {str(c.shape):<12}"
                f"{c.max_error:>10.3g}  {'ok' if c.ok else 'WRONG'}"
            )
        return "\n".join([head] + rows)


def check_graph(
    output: Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    max_elements: int = 64,
    seed: int | None = 0,
    raise_on_error: bool = True,
) -> GraphCheck:
    """Check every op node behind ``output``: its vjps against central differences.

    Each op's forward is re-run alone on float64 copies of its recorded inputs, so
    the check needs the graph intact (before backward, or after
    ``backward(retain_graph=True)``). For inputs larger than ``max_elements`` a random
    sample of elements is checked. Where the central difference disagrees but a
    one-sided one agrees, the input sits on a kink (relu at 0, tied maxima) and the
    vjp's choice is accepted. Raises :class:`~chainrule.GradcheckError` naming the
    first wrong op in backward order (its ``report`` attribute holds every check);
    with ``raise_on_error=False`` returns the :class:`GraphCheck` report instead.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> report = check_graph((x * x).exp().sum())
    >>> report.ok, [c.op for c in report.checks]
    (True, ['sum', 'exp', 'mul', 'mul'])
    """
    graph = trace(output, grads=False)
    rng = np.random.default_rng(seed)
    report = GraphCheck()
    with no_grad():
        for node in reversed(graph.nodes):
            if node.kind != "op":
                continue
            for i, src in enumerate(node.inputs):
                if src.requires_grad:
                    report.checks.append(_check_input(node, i, eps, atol, rtol, max_elements, rng))
    if raise_on_error and not report.ok:
        error = GradcheckError("check_graph: " + report.failures[0].describe())
        error.report = report
        raise error
    return report


def _float64(array):
    """A float64 copy of a floating array; other arrays (indices, masks) as they are."""
    return array.astype(np.float64) if np.issubdtype(array.dtype, np.floating) else array


def _check_input(node, i, eps, atol, rtol, max_elements, rng):
    op, params = node.op, node.params
    args = [_float64(a) if isinstance(a, np.ndarray) else a for a in node.arrays]
    x = np.array(args[i], dtype=np.float64)

    def forward(xi):
        return np.asarray(op.forward(*args[:i], xi, *args[i + 1 :], **params))

    out = forward(x)
    if not np.issubdtype(out.dtype, np.floating):
        return NodeCheck(node.name, op.name, i, x.shape, 0, 0.0)
    # An op that computes in lower precision (astype to float32) needs a coarser step.
    if out.dtype != np.float64:
        eps, atol, rtol = (max(eps, 1e-3), max(atol, 1e-3), max(rtol, 1e-2))
    cotangent = rng.standard_normal(out.shape)
    share = op.vjp(i, cotangent, out, args, params)
    analytic = (
        np.zeros(x.shape)
        if share is None
        else np.asarray(
            sum_to(np.asarray(share.data if isinstance(share, Tensor) else share), x.shape),
            dtype=np.float64,
        )
    )
    size = x.size
    chosen = (
        np.arange(size)
        if size <= max_elements
        else np.sort(rng.choice(size, max_elements, replace=False))
    )
    worst = NodeCheck(node.name, op.name, i, x.shape, len(chosen), 0.0)
    base = float(np.sum(cotangent * out))
    worst_excess = -np.inf
    for j in chosen:
        values = []
        for step in (eps, -eps):
            shifted = x.copy()
            shifted.flat[j] += step
            values.append(float(np.sum(cotangent * forward(shifted))))
        plus, minus = values
        a = analytic.flat[j]
        numeric = (plus - minus) / (2 * eps)
        excess = abs(a - numeric) - (atol + rtol * abs(numeric))
        if excess > 0:  # on a kink either one-sided difference is a valid choice
            for one_sided in ((plus - base) / eps, (base - minus) / eps):
                one_excess = abs(a - one_sided) - (atol + rtol * abs(one_sided))
                if one_excess < excess:
                    excess, numeric = one_excess, one_sided
        if excess > worst_excess:
            worst_excess = excess
            worst.index = tuple(int(k) for k in np.unravel_index(j, x.shape))
            worst.analytic, worst.numeric = float(a), float(numeric)
        worst.max_error = max(worst.max_error, abs(a - numeric))
    worst.ok = bool(worst_excess <= 0) or len(chosen) == 0
    return worst
