"""The op registry: every differentiable primitive, declared once with its rules.

An op has a forward on plain arrays and one vector-Jacobian product (vjp) per
input, ``vjp(g, out, *inputs, **params) -> gradient for that input``. An op whose
rules would recompute part of its forward (cross-entropy's softmax) can keep it:
its ``keeps`` forward returns ``(out, kept)`` and a recorded node hands ``kept`` to
the rules after the inputs on the plain backward (the rules recompute it when it is
not there: graph-building backward, checks that call a rule directly). The vjps
are written with chainrule's own functions, which run plain NumPy when handed
ndarrays (ordinary backward) and record a graph when handed Tensors
(``create_graph=True``), so every derivative is itself differentiable.

Broadcasting and dtype are not the rules' business: the engine sums each
gradient back to its input's shape in one place (``autograd.engine``).
"""

import itertools
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.mode import GradMode
from ..errors import ShapeError
from ..tensor import Tensor

#: name -> Op, in declaration order; the test suite is generated from it.
REGISTRY: dict[str, Any] = {}
#: name -> Composite: public functions written with registered ops, checked like them.
COMPOSITES: dict[str, Any] = {}

_NO_PARAMS: dict[str, Any] = {}
#: The step that ``chainrule.compile`` is capturing, or None (always, outside a capture):
#: while set, every op applied is handed to it (``compile.capture.Recorder.apply``).
recorder: Any = None
# Creation order of recorded nodes: a node is always made after its inputs, so backward
# can visit nodes by decreasing sequence number without sorting the graph first.
_sequence = itertools.count()


@dataclass
class Case:
    """One test case of an op: input shapes, keyword parameters and an input domain."""

    shapes: tuple
    params: dict = field(default_factory=dict)
    domain: object = None  # None: the spec's domain


@dataclass
class Spec:
    """How the generated suite checks an op.

    ``domain`` is ``(low, high)`` for uniform samples or ``callable(rng, shape)``;
    ``ref(np, *arrays, **params)`` computes the op with a NumPy-like module, so the
    suite can run it under an independent autodiff (HIPS autograd) as a reference;
    ``call(op, *inputs, **params)``, when given, is what the suite differentiates
    (for ops defined on a subset, such as symmetric matrices).
    """

    cases: list
    domain: object = (-2.0, 2.0)
    ref: object = None
    second_order: bool = True
    atol: float = 1e-5
    rtol: float = 1e-3
    call: object = None


class Op:
    """A differentiable primitive: ``forward(*arrays, **params)`` plus one vjp per input.

    Calling an op with ndarrays runs the forward alone; with any Tensor argument it
    records a node (when grad mode is on and an input requires grad).
    """

    __slots__ = (
        "name",
        "forward",
        "vjps",
        "variadic",
        "spec",
        "saves_out",
        "doc",
        "fresh_output",
        "fitted_shares",
        "keeps",
    )

    def __init__(
        self, name, forward, vjps, spec, saves_out=False, variadic=None, doc=None, keeps=None
    ):
        self.name = name
        self.forward = forward
        # Ops of any arity have one rule for every input, variadic(i, g, out, inputs, **params),
        # handed the inputs as one sequence: n calls of an n-input op stay O(n) (unpacking
        # them would copy the n inputs on every call).
        self.variadic = variadic
        self.vjps = vjps if variadic is None else _EveryInput(variadic)
        self.spec = spec
        self.saves_out = saves_out  # its vjps read the output: in-place changes to it are fatal
        self.doc = forward.__doc__ if doc is None else doc
        self.keeps = keeps  # None, or the forward that also returns what the rules reuse
        # What a ufunc kernel guarantees, so that the hot path need not check it: its output
        # is a new array (never a view of an input), and with one input the gradient comes
        # back in that input's shape and dtype (no summing back, no cast).
        ufunc = isinstance(forward, np.ufunc)
        self.fresh_output = ufunc
        self.fitted_shares = ufunc and forward.nin == 1

    def variadic_rules(self, inputs, params):
        """One ``rule(g, out)`` per input, bound to all the inputs at once (backward's form)."""
        variadic = self.variadic
        return [
            lambda g, out, i=i: variadic(i, g, out, inputs, **params) for i in range(len(inputs))
        ]

    def vjp(self, i, g, out, inputs, params):
        if self.variadic is not None:
            return self.variadic(i, g, out, inputs, **params)
        return self.vjps[i](g, out, *inputs, **params)

    def __call__(self, *args, **params):
        for a in args:
            if isinstance(a, Tensor):
                return apply(self, args, params)
        return self.forward(*args, **params) if params else self.forward(*args)

    def __repr__(self):
        return f"<op {self.name}>"


def passthrough(g, out, *inputs, **params):
    """The rule of an input that receives the upstream gradient unchanged (the add gate's).

    The engine recognises it and hands ``g`` on without calling it.
    """
    return g


class _EveryInput:
    """The vjps of an op of any arity, one per input in the ``vjp(g, out, *inputs)`` form."""

    __slots__ = ("variadic",)

    def __init__(self, variadic):
        self.variadic = variadic

    def __getitem__(self, i):
        variadic = self.variadic
        return lambda g, out, *inputs, **params: variadic(i, g, out, inputs, **params)


def defop(*vjps, name=None, spec=None, saves_out=False, variadic=None, kernel=None, keeps=None):
    """Register ``forward`` as an op with the given per-input vjps.

    ``kernel``, when given, is a NumPy function that *is* the forward (a ufunc, say):
    ops call it directly, one Python call less per op, and the decorated function only
    names and documents the op. ``keeps(*arrays, **params) -> (out, kept)``, when given,
    is the forward recorded nodes run, keeping ``kept`` for the rules (module doc).

    >>> import numpy as np
    >>> from chainrule.ops.registry import defop, REGISTRY
    >>> 'exp' in REGISTRY
    True
    >>> REGISTRY['exp'].forward is np.exp, REGISTRY['exp'].doc
    (True, 'e ** a.')
    """

    def register(function):
        op_name = name or function.__name__.lstrip("_")
        if op_name in REGISTRY:
            raise ValueError(f"op {op_name!r} is registered twice")
        if not vjps and variadic is None:
            raise TypeError(f"op {op_name!r} has no backward rule")
        op = Op(
            op_name,
            kernel or function,
            vjps,
            spec,
            saves_out,
            variadic,
            doc=function.__doc__,
            keeps=keeps,
        )
        REGISTRY[op_name] = op
        return op

    return register


class Composite:
    """A public function composed of registered ops, with the spec the suite checks it by.

    It is differentiable to any order because its parts are; the spec makes sure of it.
    """

    __slots__ = ("name", "function", "spec", "doc")

    def __init__(self, name, function, spec):
        self.name, self.function, self.spec, self.doc = name, function, spec, function.__doc__

    def __call__(self, *args, **params):
        return self.function(*args, **params)

    def __repr__(self):
        return f"<composite {self.name}>"


def composite(spec, name=None):
    """Declare the test spec of a function composed of registered ops.

    The function itself is returned unchanged; the generated suite runs the same checks
    on it as on a primitive (gradcheck, gradgradcheck, the reference, float32).

    >>> from chainrule.ops.registry import COMPOSITES
    >>> COMPOSITES['mean'].function.__name__
    'mean'
    """

    def register(function):
        key = name or function.__name__.lstrip("_")
        if key in COMPOSITES or key in REGISTRY:
            raise ValueError(f"function {key!r} is declared twice")
        COMPOSITES[key] = Composite(key, function, spec)
        return function

    return register


def _shapes(args):
    return ", ".join(str(np.shape(a._data if isinstance(a, Tensor) else a)) for a in args)


def apply(op, args, params=_NO_PARAMS, recorded=False):
    """Run ``op`` on Tensor/array arguments and record the node that made the result.

    ``recorded``: the capture of a compiled step has already seen this call.
    """
    if recorder is not None and not recorded:
        return recorder.apply(op, args, params)
    arrays = []
    record = False
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a._data)
            if a.requires_grad:
                record = True
        else:
            arrays.append(a)
    record = record and GradMode.enabled
    try:
        if record and op.keeps is not None:
            out, kept = op.keeps(*arrays, **params)
            arrays = arrays + [kept]  # the rules find it after the inputs
        else:
            out = op.forward(*arrays, **params) if params else op.forward(*arrays)
    except np.linalg.LinAlgError:
        raise  # a singular matrix is not a shape problem: the forward's own message stands
    except ValueError as exc:
        message = str(exc).removeprefix(f"{op.name}: ")  # NumPy's own may name the op too
        raise ShapeError(f"{op.name}: {message} (operand shapes {_shapes(args)})") from None
    if type(out) is not ndarray:
        out = np.asarray(out)
    if record:
        # The node, made here without __init__ or a call: every slot written once.
        t = new_tensor(Tensor)
        t._data = out
        t.grad = None
        t.requires_grad = True
        t.name = None
        t._op = op
        t._inputs = args
        t._params = params
        t._versions = record_versions(args) if Tensor.inplace_ops else None
        t._counter = None
        t._hooks = None
        t._retains_grad = False
        t._seq = next(_sequence)
        t._arrays = arrays  # what the vjps read on the plain-array path (and what is kept)
        t._consumers = None
        _note_consumer(t, args)
    else:
        t = _new(out)
    if not op.fresh_output and (out.base is not None or (arrays and out is arrays[0])):
        _share_counter(t, out, args)
    return t


def _note_consumer(node, args):
    """Tell each input tensor that ``node`` saved its values, so that its ``.data`` watches
    writes while the node can still run backward (see ``Tensor.data``)."""
    ref = weakref.ref(node)
    for a in args:
        if isinstance(a, Tensor):
            consumers = a._consumers
            if consumers is None:
                a._consumers = [ref]
            else:
                consumers.append(ref)
                size = len(consumers)
                # A parameter used step after step: drop the dead nodes now and then (at
                # each power of two, so a weight shared by 10,000 live time steps costs
                # amortised O(1) per use, not a scan each).
                if size >= 16 and size & (size - 1) == 0:
                    a._consumers = [r for r in consumers if (n := r()) is not None and n._inputs]


def _share_counter(t, out, args):
    """A view shares the version counter of the tensor it looks into, so that in-place
    changes made through either are seen by the graphs that saved the other."""
    for a in args:
        if isinstance(a, Tensor) and np.may_share_memory(out, a._data):
            if a._counter is None:
                a._counter = [0]
            t._counter = a._counter
            return


def record_versions(args):
    """Versions of the inputs, then of the output itself (checked at backward)."""
    versions = [x._version if isinstance(x, Tensor) else 0 for x in args]
    versions.append(0)
    return versions


_new, new_tensor, ndarray = Tensor._new, object.__new__, np.ndarray


# Shapes the generated suite runs every elementwise op on: plain, 0-d, empty, 3-d.
UNARY_SHAPES = [(3, 4), (), (0, 3), (2, 1, 3)]
# Pairs that exercise broadcasting both ways, against 0-d, and with an empty axis.
BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((0, 3), (3,)),
]


def unary_spec(ref, domain=(-2.0, 2.0), params=None, **options):
    """A spec running a one-input op over :data:`UNARY_SHAPES`."""
    cases = [Case((shape,), dict(params or {})) for shape in UNARY_SHAPES]
    return Spec(cases, domain=domain, ref=ref, **options)


def binary_spec(ref, domain=(-2.0, 2.0), **options):
    """A spec running a two-input op over :data:`BINARY_SHAPES`."""
    return Spec([Case(shapes) for shapes in BINARY_SHAPES], domain=domain, ref=ref, **options)


def data_of(x):
    """The ndarray behind a Tensor (or the value itself): for masks that carry no gradient."""
    return x._data if isinstance(x, Tensor) else x
