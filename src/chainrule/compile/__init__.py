"""``cr.compile``: capture a training step once, replay it without Python dispatch.

>>> import numpy as np
>>> import chainrule as cr
>>> w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
>>> optimizer = cr.optim.SGD([w], lr=0.1)
>>> @cr.compile
... def step(x):
...     optimizer.zero_grad()
...     loss = ((x @ w) ** 2).mean()
...     loss.backward()
...     optimizer.step()
...     return loss
>>> x = cr.tensor(np.array([[1.0, 0.5], [2.0, 1.0]]))
>>> [round(step(x).item(), 4) for _ in range(4)]  # two eager captures, then replays
[10.0, 1.4062, 0.1978, 0.0278]
>>> step.schedule.kernels()  # doctest: +NORMALIZE_WHITESPACE
['argument 0', 'Optimizer.zero_grad', 'w', 'matmul', 'pow', 'sum', 'div', 'seed',
 'div rule 0', 'sum rule 0', 'pow rule 0', 'matmul rule 1', 'new set', 'accumulate',
 'Optimizer.step']

The first calls run eagerly while a recorder writes down every call that computes the
step (``compile.capture``): each op's forward kernel and the arrays it read, each
backward rule, the engine's fits, sums and gradient accumulations, and the units that
are replayed whole (``optimizer.step()``, ``zero_grad()``, DataParallel's gradient
averaging). When two captures in a row agree, later calls replay the record as one
generated Python function (``compile.schedule``): the same kernels and rules on the new
arrays, in the same order, so the results equal eager mode's to the last bit, with no
Tensor objects, graph records or per-op checks in between.

Guards: the cache (``cache_size`` entries, least recently used first out) is keyed by the
arguments' kinds, shapes and dtypes and by the other arguments' values; a replay also
checks the shapes and dtypes of the tensors the step reads from outside (parameters) and
whether their gradients were set when the step began, and captures anew on a mismatch.
A step is never replayed, and runs eagerly with a one-line warning, when a capture sees
what a replay could not repeat (``capture.Recorder``): a traced value read into Python
(``float(loss)``, ``t.item()``, ``bool(t)``, ``t.numpy()``, ``np.asarray(t)``, a
comparison), random draws, tensors from before the call changed other than by the
recorded calls (BatchNorm's running statistics, ``p.data = ...``), hooks,
``create_graph``, ``retain_grad``; or when captures keep disagreeing (a different
tensor or a different array made in Python on every call).

A replay runs none of the step's Python, so what it cannot see is Python state: the
step's own names (its globals and closure variables) are checked on every call, but
objects it finds through containers or attributes (a dict of optimizers, a Parameter
object replaced in a module, not just its ``.data``) stay the ones it captured, and
counters or lists it changes are not changed again. Writes into an array behind
chainrule's back are seen only for arrays the step read. Tensors a replay returns are
new and carry no graph. An argument or tensor the step read with the same values in
both captures may have been turned into constants by Python code unseen: the replay
then holds only while it is the same, unchanged object (new inputs capture again).

``chainrule.compile`` is this module, and calling it is calling :func:`compile`: the
package stays importable (``from chainrule.compile import Schedule``) while
``cr.compile`` is the decorator.
"""

import functools
import sys
import types
import warnings
from collections import OrderedDict

import numpy as np

from ..ops import registry
from ..ops.registry import data_of
from ..tensor import Tensor
from .capture import Recorder
from .schedule import build, compare
from .view import Schedule

#: Captures of one signature that may disagree before the step is left to run eagerly.
MAX_CAPTURES = 4


class Compiled:
    """A step function with its cache of captured programs (see the module doc)."""

    def __init__(self, fn, cache_size=8):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.cache_size = cache_size
        self.cache = OrderedDict()
        self.last = None  # the cache entry of the latest call
        self.warned = set()
        self.replays = 0  # calls that ran as replays

    def __get__(self, instance, owner=None):
        return self if instance is None else functools.partial(self, instance)

    @property
    def schedule(self):
        """The :class:`Schedule` of the latest call's replay (None before one is ready)."""
        entry = self.last
        return None if entry is None or entry.replay is None else entry.replay.schedule

    @property
    def eager_reason(self):
        """Why the latest call ran eagerly for good (None when it replays or captures)."""
        return None if self.last is None else self.last.reason

    def __call__(self, *args, **kwargs):
        if registry.recorder is not None:  # inside another capture: part of that one
            return self.fn(*args, **kwargs)
        key, arguments, pinned = _signature(args, kwargs)
        entry = self.cache.get(key)
        if entry is None:
            entry = self.cache[key] = _Entry(pinned)
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        self.cache.move_to_end(key)
        self.last = entry
        if entry.reason is not None:
            return self.fn(*args, **kwargs)
        values = list(args) + [kwargs[k] for k in sorted(kwargs)]
        if entry.replay is not None:
            if entry.replay.guard(values):
                entry.misses = 0
                self.replays += 1
                return entry.replay.run(*values)
            entry.replay = entry.previous = None  # parameters or gradients changed: again
            entry.misses += 1
            if entry.misses > MAX_CAPTURES:
                self._eager(
                    entry,
                    "no replay held on the next call, time after time (new "
                    "inputs with the same values, gradients cleared between calls?)",
                )
                return self.fn(*args, **kwargs)
        return self._capture(entry, args, kwargs, values, arguments)

    def _capture(self, entry, args, kwargs, values, arguments):
        recorder = Recorder()
        bindings = _bindings(self.fn)
        result = recorder.run(self.fn, args, kwargs, arguments)
        entry.captures += 1
        if recorder.invalid is not None:
            self._eager(entry, recorder.invalid)
            return result
        previous, entry.previous = entry.previous, recorder
        if previous is not None:
            verdict = compare(previous.program, recorder.program)
            if verdict.same:
                try:
                    entry.replay = _Replay(recorder, previous, values, self.fn, bindings)
                except Exception as exc:  # never the user's failure: say it, run eagerly
                    self._eager(entry, f"its replay could not be built ({exc!r})")
                    return result
                entry.previous, entry.captures = None, 0  # no more comparisons
            elif entry.captures >= MAX_CAPTURES:
                self._eager(
                    entry, f"it computes something different on every call: {verdict.reason}"
                )
        return result

    def _eager(self, entry, reason):
        entry.reason = reason
        entry.previous = entry.replay = None
        if reason not in self.warned:
            self.warned.add(reason)
            name = getattr(self.fn, "__qualname__", repr(self.fn))
            warnings.warn(
                f"cr.compile: {name} runs eagerly: {reason}", RuntimeWarning, stacklevel=3
            )


class _Entry:
    __slots__ = ("pinned", "previous", "replay", "reason", "captures", "misses")

    def __init__(self, pinned):
        self.pinned = pinned  # objects the key names by identity, kept alive with it
        self.previous = self.replay = self.reason = None
        self.captures = 0  # since the last replay was built
        self.misses = 0  # replays that did not hold on the call after them, in a row


class _Replay:
    """A program ready to replay, with what must still hold for it to apply."""

    def __init__(self, recorder, previous, values, fn, bindings):
        program = recorder.program
        self.fn, self.bindings = fn, bindings
        self.run = build(program, len(values))
        self.schedule = Schedule(program, self.run.source)
        reads = {}
        for slot in program.slots:
            if slot.kind == "read":
                reads[id(slot.source)] = (slot.source, slot.shape, slot.dtype, slot.strides)
        self.reads = list(reads.values())
        self.leaves = list(recorder.leaves.values())
        # An input with the same values in both captures may have been read into Python
        # (to make an array, a number the step uses) without the captures telling: the
        # replay holds only while it is the same, unchanged object.
        self.held = []
        before = {index: fingerprint for index, _, fingerprint in previous.inputs}
        for index, array, fingerprint in recorder.inputs:
            slot = program.slots[index]
            if slot.kind == "constant" or before[index] != fingerprint:
                continue
            owner = values[slot.source] if slot.kind == "arg" else slot.source
            self.held.append((slot.kind, slot.source, owner, array, _version(owner)))

    def guard(self, values):
        now = _bindings(self.fn)
        if len(now) != len(self.bindings) or any(a is not b for a, b in zip(now, self.bindings)):
            return False
        for tensor, shape, dtype, strides in self.reads:
            array = data_of(tensor)
            if array.shape != shape or array.dtype != dtype or array.strides != strides:
                return False
        for leaf, without_grad in self.leaves:
            if (leaf.grad is None) is not without_grad:
                return False
        for kind, source, owner, array, version in self.held:
            if kind == "arg" and values[source] is not owner:
                return False
            if data_of(owner) is not array or _version(owner) != version:
                return False
        return True


def _version(value):
    return value._version if isinstance(value, Tensor) else 0


_UNBOUND = object()


def _bindings(fn):
    """What the step's own names refer to: its closure's cells and the globals it names.

    A replay holds only while they are the same objects: a name rebound between calls (a
    new optimizer, model or batch assigned to it) must be read again, by a new capture.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return ()
    cells = tuple(_cell(c) for c in fn.__closure__ or ())
    named = fn.__globals__
    return cells + tuple(named.get(name, _UNBOUND) for name in code.co_names)


def _cell(cell):
    try:
        return cell.cell_contents
    except ValueError:  # not bound yet
        return _UNBOUND


def _describe(value, pinned):
    """What the cache key holds of one argument."""
    if isinstance(value, Tensor):
        array = data_of(value)
        return (
            "tensor",
            array.shape,
            array.dtype.str,
            array.strides,
            value.requires_grad,
        ), "tensor"
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, value.strides), "array"
    if type(value) in (tuple, list):
        return (type(value).__name__,) + tuple(_describe(v, pinned)[0] for v in value), None
    try:
        hash(value)
    except TypeError:
        pinned.append(value)
        return ("object", id(value)), None
    if value is None or isinstance(value, (bool, int, float, str, bytes, np.generic)):
        return ("value", type(value), value), None
    pinned.append(value)  # a module, a function...: by identity, kept alive with the entry
    return ("object", id(value)), None


def _signature(args, kwargs):
    """The cache key of a call, each argument's kind ("tensor", "array" or None for a
    static value), and the objects the key names by identity."""
    pinned: list[object] = []
    parts, arguments = [], []
    for value in list(args) + [kwargs[k] for k in sorted(kwargs)]:
        part, kind = _describe(value, pinned)
        parts.append(part)
        arguments.append(kind)
    return (len(args), tuple(sorted(kwargs)), tuple(parts)), arguments, pinned


def compile(fn=None, *, cache_size=8):
    """Compile a step function: ``@cr.compile`` or ``cr.compile(step, cache_size=8)``."""
    if fn is None:
        return functools.partial(compile, cache_size=cache_size)
    return Compiled(fn, cache_size=cache_size)


class _CallableModule(types.ModuleType):
    """``cr.compile(step)`` calls :func:`compile`; ``chainrule.compile`` stays a package."""

    def __call__(self, fn=None, *, cache_size=8):
        return compile(fn, cache_size=cache_size)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["Compiled", "MAX_CAPTURES", "Schedule", "compile"]
