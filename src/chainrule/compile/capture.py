"""Capturing a step: run it eagerly once while writing down every call that computed it.

While a :class:`Recorder` is active (``ops.registry.recorder``), every op applied hands
its call to :meth:`Recorder.apply`, backward hands it each rule, fit, sum and
accumulation (``autograd.engine.backward``), and the units that are replayed whole
(:data:`UNITS`: ``optimizer.step()``, ``zero_grad()``, a learning-rate schedule's
``step()``, DataParallel's gradient averaging) are wrapped for the length of the
capture. The call itself runs exactly as in eager mode; the recorder only watches.

What it cannot replay faithfully it notes in ``invalid`` (the call still completes
eagerly, correctly): a traced value read into Python (:class:`TracedTensor`), random
draws, tensors from before the call changed outside the recorded calls (running
statistics, a manual ``p.data = ...``), an optimizer's settings changed by hand, arrays
the call was given or made that changed while it ran, hooks, ``create_graph``,
``retain_grad``, ``cr.grad`` inside the step.
"""

import functools
import gc
import hashlib
import importlib
import operator
import random
import threading
import weakref

import numpy as np

from ..autograd import engine
from ..autograd.mode import GradMode
from ..ops import registry
from ..ops.registry import data_of
from ..optim.optimizer import Optimizer
from ..tensor import Tensor
from .schedule import Instruction, Like, NewTensor, Obj, Program, Ref, Slot, slot_indices

#: Methods replayed whole, as one instruction that calls them again: they read and write
#: parameters, gradients and optimizer state through Python, not through ops.
UNITS = (
    ("chainrule.optim.optimizer", "Optimizer", "step"),
    ("chainrule.optim.optimizer", "Optimizer", "zero_grad"),
    ("chainrule.nn.module", "Module", "zero_grad"),
    ("chainrule.distributed.parallel", "DataParallel", "average_gradients"),
    ("chainrule.optim.lr_scheduler", "LRScheduler", "step"),
    ("chainrule.optim.lr_scheduler", "ReduceLROnPlateau", "step"),
)


class TracedTensor(Tensor):
    """A tensor computed inside the step being captured.

    Reading its values into Python (``item``, ``float``, ``bool``, ``numpy``,
    ``np.asarray``, comparisons, ``argmax``...) would let them steer the step or become
    constants of the replay, so the recorder notes it and the step is not replayed.
    """

    __slots__ = ()
    __hash__ = Tensor.__hash__  # nodes are dict keys, by identity (__eq__ is replaced below)

    def detach(self):
        alias = Tensor.detach(self)
        _retype(alias, TracedTensor)
        return alias

    def _inplace(self, op, *args, **params):
        in_graph = GradMode.enabled and (
            self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if not in_graph:  # written in place outside any op: nothing to replay it by
            _escape(f"in-place {op.name} outside the graph")
        return Tensor._inplace(self, op, *args, **params)

    def retain_grad(self):
        _escape("retain_grad() (a replay keeps no intermediate tensors)")
        return Tensor.retain_grad(self)


def _retype(t, cls):
    """Make ``t`` a TracedTensor or a plain Tensor again (the same slots: no copy)."""
    t.__class__ = cls


def _escape(what):
    recorder = registry.recorder
    if recorder is not None:
        recorder.escape(what)


def _escaping(name):
    base = getattr(Tensor, name)

    @functools.wraps(base)
    def method(self, *args, **kwargs):
        _escape(f"{name} of a traced tensor")
        return base(self, *args, **kwargs)

    return method


_READS = (
    "item tolist numpy __array__ __float__ __int__ __bool__ __index__ __repr__ __lt__ "
    "__le__ __gt__ __ge__ __eq__ __ne__ argmax argmin"
).split()
for _name in _READS:
    setattr(TracedTensor, _name, _escaping(_name))


def _seed_ones(shape, dtype):
    """backward's implied seed, d loss / d loss (engine._seed)."""
    return np.array(1, dtype) if shape == () else np.ones(shape, dtype)


def _seed_copy(gradient, dtype):
    """backward's seed from a given gradient, never aliased (engine._seed)."""
    return np.array(gradient, dtype=dtype, copy=True)


def _settings(optimizer):
    """An optimizer's hyper-parameters and parameter lists, to compare."""
    return [
        sorted((k, v if k != "params" else [id(p) for p in v]) for k, v in group.items())
        for group in optimizer.param_groups
    ]


def _view_of(base, shape, dtype, offset, strides):
    """The view of ``base`` with this layout (a Python slice of a step's array, replayed)."""
    return np.ndarray(shape, dtype, buffer=base, offset=offset, strides=strides)


def _random_states():
    """Every random source chainrule draws from, and Python's and NumPy's global ones."""
    from .. import creation
    from ..nn import init

    generators = (init.default_generator(), creation._rng)
    return (
        generators,
        [g.bit_generator.state for g in generators],
        np.random.get_state(legacy=False),
        random.getstate(),
    )


def digest(array):
    """A fingerprint of an array's values (with its shape and dtype): what the capture
    compares instead of keeping a copy (a batch copied twice would double its memory)."""
    array = np.asarray(array)
    key = f"{array.dtype.str}{array.shape}".encode()[:64]
    if array.dtype.hasobject:
        return hashlib.blake2b(repr(array.tolist()).encode(), digest_size=16, key=key).digest()
    values = np.ascontiguousarray(array).view(np.uint8).data  # no copy when contiguous
    return hashlib.blake2b(values, digest_size=16, key=key).digest()


class Recorder:
    """Watches one eager call of a step and writes it down as a :class:`Program`."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.slots = []
        self.instructions = []
        self.arrays = {}  # id(object) -> slot index, while the object lives (see _slot)
        self.kept = []
        self.inputs = []  # (slot index, array, digest): what the call read, checked at the end
        self.sets = {}  # id(set) -> slot of the engine's `stored` set of one backward
        self.aliases = {}  # id(traced alias of an argument) -> the argument itself
        self.retyped: list[Tensor] = []  # tensors made TracedTensor that outlive the call: restored
        self.invalid = None
        self.unit_depth = 0
        self.world = []  # every tensor alive when the call started
        self.state = {}  # id(tensor) -> [grad, array, version] as the program leaves it
        self.started_without_grad = {}  # id(tensor) -> whether its .grad was None at the start
        self.owners = {}  # id(array) -> a tensor from before the call that holds it
        self.leaves = {}  # id(leaf) -> (leaf, .grad None at the start): the replay's guard
        self.originals = []
        self.optimizers = {}  # id -> [optimizer, its settings as the program leaves them]

    # ------------------------------------------------------------------ the call
    def run(self, fn, args, kwargs, arguments):
        """Call ``fn`` eagerly under this recorder; returns its result."""
        objects = gc.get_objects()
        # type(), not isinstance: that may ask an object for __class__ (a lazy module warns).
        self.world = [o for o in objects if issubclass(type(o), Tensor)]
        self.optimizers = {
            id(o): [o, _settings(o)] for o in objects if issubclass(type(o), Optimizer)
        }
        del objects
        for t in self.world:
            self.state[id(t)] = [t.grad, data_of(t), t._version]
            self.started_without_grad[id(t)] = t.grad is None
            self.owners[id(data_of(t))] = t
        randomness = _random_states()
        args, kwargs = self._arguments(args, kwargs, arguments)
        self._install_units()
        registry.recorder = self
        try:
            result = fn(*args, **kwargs)
            self.output = self._output(result)
        finally:
            registry.recorder = None
            self._remove_units()
            for t in self.retyped:  # gradients and results: the caller's, plain again
                if type(t) is TracedTensor:
                    _retype(t, Tensor)
        self._checkpoint()
        if not _same_state(randomness, _random_states()):
            self.invalidate("it draws random numbers (dropout?): a replay would repeat them")
        self._check_inputs()
        self.program = Program(self.slots, self.instructions, self.output, arguments)
        # Let go of what only the capture needed: every array of the step, the process's
        # tensors and optimizers.
        self.world, self.state, self.started_without_grad, self.owners = [], {}, {}, {}
        self.optimizers, self.kept, self.arrays, self.sets = {}, [], {}, {}
        self.retyped, aliases, self.aliases = [], self.aliases, {}
        return _plain(result, aliases)

    def _check_inputs(self):
        """Whether the arrays the call read still hold what they held when read."""
        for _, array, before in self.inputs:
            if digest(array) != before:
                self.invalidate(
                    f"an array it read (shape {array.shape}) was changed in place while it "
                    "ran, outside chainrule's ops"
                )

    def invalidate(self, reason):
        if self.invalid is None:
            self.invalid = reason

    def recording(self):
        """Whether calls made now are the step's own, to be written down."""
        return self.invalid is None and not self.unit_depth and threading.get_ident() == self.thread

    def escape(self, what):
        if self.unit_depth == 0 and threading.get_ident() == self.thread:
            self.invalidate(f"it reads a traced value into Python ({what})")

    # ------------------------------------------------------------------ slots
    def _slot(self, kind, source, value, producer=None):
        index = len(self.slots)
        shares = None
        if kind == "computed" and isinstance(value, np.ndarray):
            base = value if id(value) in self.arrays else value.base
            shares = None if base is None else self.arrays.get(id(base))
        self.slots.append(Slot(index, kind, source, value, producer, shares))
        if value is not None and type(value) not in (bool, int, float, str):
            self.arrays[id(value)] = index  # any object a call made: passed on by identity
            if isinstance(value, np.ndarray):
                # Freed as in eager mode (the capture's peak memory is the step's own); its
                # id leaves the map before another array can take it.
                self.kept.append(weakref.ref(value, self._forget(id(value), index)))
            else:
                self.kept.append(value)  # NumPy scalars, lists: no weak references
        return index

    def _forget(self, key, index):
        arrays = self.arrays

        def forget(_):
            if arrays.get(key) == index:
                del arrays[key]

        return forget

    def _emit(self, kind, fn, args, kwargs, outputs, label, ensure_array=False):
        producer = len(self.instructions)
        indices = [self._slot("computed", None, value, producer) for value in outputs]
        self.instructions.append(
            Instruction(kind, fn, args, kwargs, indices, label, ensure_array=ensure_array)
        )
        for index, value in zip(indices, outputs):
            if type(value) in (list, tuple):  # what a kernel keeps for its rules, say
                for position, item in enumerate(value):
                    if isinstance(item, np.ndarray):
                        self._emit(
                            "item", operator.getitem, (Ref(index), position), {}, [item], "item"
                        )
        return indices

    def _input(self, kind, source, array):
        index = self._slot(kind, source, array)
        self.inputs.append((index, array, digest(array)))
        return index

    def ref(self, value):
        """The template of one argument: a Ref for arrays and tensors, the value itself for
        Python values (structures are walked)."""
        index = self.arrays.get(id(value))
        if index is not None:  # an array or another object a call made or the step read
            return Ref(index)
        if isinstance(value, Tensor):
            array = data_of(value)
            index = self.arrays.get(id(array))
            if index is not None:
                return Ref(index)
            if id(value) in self.state:  # from before the call: read anew on every replay
                return Ref(self._read(value, array))
            return Ref(self._input("constant", array, array))  # made in the call, not by ops
        if isinstance(value, (np.ndarray, np.generic)):
            index = self.arrays.get(id(value))
            if index is not None:
                return Ref(index)
            owner = self.owners.get(id(value))
            if owner is not None and data_of(owner) is value:  # a tensor's array, by itself
                return Ref(self._read(owner, value))
            view = None if isinstance(value, np.generic) else self._view(value)
            if view is not None:
                return view
            return Ref(self._input("constant", value, value))
        if type(value) in (tuple, list):
            return type(value)(self.ref(v) for v in value)
        if type(value) is dict:
            return {k: self.ref(v) for k, v in value.items()}
        return value

    def _view(self, array):
        """A view that Python code took of an array of the step (a slice of an argument,
        say): on a replay, the same view of that slot's new array."""
        base = array.base
        index = None if base is None else self.arrays.get(id(base))
        if index is None or not isinstance(base, np.ndarray) or not base.flags.c_contiguous:
            return None
        offset = array.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        layout = (array.shape, array.dtype, offset, array.strides)
        return Ref(self._emit("view", _view_of, (Ref(index), *layout), {}, [array], "view")[0])

    def _read(self, tensor, array):
        self._check_tensor(tensor)
        index = self._input("read", tensor, array)
        self.instructions.append(
            Instruction("read", None, (Obj(tensor),), {}, (index,), _named(tensor))
        )
        self.slots[index].producer = len(self.instructions) - 1
        return index

    def _arguments(self, args, kwargs, arguments):
        """The arguments the step sees: a traced alias for each Tensor (so that reading it
        into Python is noticed), the arrays themselves; their slots come first."""
        values = list(args) + [kwargs[k] for k in sorted(kwargs)]
        seen = []
        for position, (value, kind) in enumerate(zip(values, arguments)):
            if kind is None:
                seen.append(value)
                continue
            array = data_of(value)
            if kind == "tensor":
                if value.requires_grad:
                    self.invalidate("an argument requires grad (pass parameters by closure)")
                alias = Tensor._new(array)
                alias.requires_grad = value.requires_grad
                _retype(alias, TracedTensor)
                self.aliases[id(alias)] = value
                seen.append(alias)
            else:
                seen.append(value)
            index = self._input("arg", position, array)
            self.instructions.append(
                Instruction(
                    "arg", None, (position, kind == "tensor"), {}, (index,), f"argument {position}"
                )
            )
            self.slots[index].producer = len(self.instructions) - 1
        positional = seen[: len(args)]
        named = dict(zip(sorted(kwargs), seen[len(args) :]))
        return positional, named

    # ------------------------------------------------------------------ forward
    def apply(self, op, args, params):
        """registry.apply, written down: the kernel it ran, on which slots."""
        if not self.recording():
            return registry.apply(op, args, params, recorded=True)
        if params and _holds_tensor(params):
            self.invalidate(f"{op.name} was given a tensor as a parameter")
            return registry.apply(op, args, params, recorded=True)
        refs = [self.ref(a) for a in args]
        kwargs = self.ref(params) if params else {}
        t = registry.apply(op, args, params, recorded=True)
        outputs = [data_of(t)]
        keeps = t._op is op and op.keeps is not None
        if keeps:
            outputs.append(t._arrays[-1])
        self._emit(
            "kernel",
            op.keeps if keeps else op.forward,
            refs,
            kwargs,
            outputs,
            op.name,
            ensure_array=True,
        )
        _retype(t, TracedTensor)
        return t

    # ------------------------------------------------------------------ backward
    def backward(self, roots, gradients, retain_graph, create_graph, inputs):
        if not self.recording():
            return engine.backward(roots, gradients, retain_graph, create_graph, inputs, False)
        if create_graph or inputs is not None:
            self.invalidate("a backward with create_graph or inputs (cr.grad) inside the step")
            return engine.backward(roots, gradients, retain_graph, create_graph, inputs, False)
        return engine.backward(roots, gradients, retain_graph, create_graph, inputs, self)

    def seed(self, seed, gradient):
        if not self.recording():
            return
        if gradient is None:
            self._emit("seed", _seed_ones, (seed.shape, seed.dtype), {}, [seed], "seed")
        else:
            self._emit("seed", _seed_copy, (self.ref(gradient), seed.dtype), {}, [seed], "seed")

    def share(self, op, i, g, out, args, params):
        """One input's share of the upstream gradient: the op's rule, called as the engine
        calls it."""
        share = op.vjp(i, g, out, args, params)
        if not self.recording():
            return share
        kwargs = self.ref(params) if params else {}
        label = f"{op.name} rule {i}"
        if op.variadic is not None:
            call = (i, self.ref(g), self.ref(out), self.ref(list(args)))
            fn = op.variadic
        else:
            call = (self.ref(g), self.ref(out), *self.ref(list(args)))
            fn = op.vjps[i]
        self._emit("rule", fn, call, kwargs, [] if share is None else [share], label)
        return share

    def fit(self, share, data):
        result = engine._fit(share, data)
        if self.recording():
            like = Like(data.shape, data.dtype)
            self._emit("fit", engine._fit, (self.ref(share), like), {}, [result], "fit")
        return result

    def add(self, a, b):
        result = a + b
        if self.recording():
            self._emit("add", operator.add, (self.ref(a), self.ref(b)), {}, [result], "sum")
        return result

    def hooked(self, node, g):
        self.invalidate("a tensor hook (register_hook) in the step")
        return engine._run_hooks(node, g)

    def accumulate(self, leaf, g, stored):
        """A leaf's gradient handed to its ``.grad`` (engine._accumulate)."""
        if not self.recording():
            return engine._accumulate(leaf, g, stored)
        if leaf._op is not None or id(leaf) not in self.state:
            self.invalidate("a gradient kept on a tensor made in the step (retain_grad)")
            return engine._accumulate(leaf, g, stored)
        self._check_grad(leaf)
        self.leaves[id(leaf)] = (leaf, self.started_without_grad[id(leaf)])
        if id(stored) not in self.sets:
            self.sets[id(stored)] = self._emit("set", set, (), {}, [stored], "new set")[0]
            self.kept.append(stored)
        grad_ref, stored_ref = self.ref(g), Ref(self.sets[id(stored)])
        if type(grad_ref) is Ref:
            self.slots[grad_ref.index].escapes = True  # it may become the .grad itself
        engine._accumulate(leaf, g, stored)
        self._emit(
            "accumulate",
            engine._accumulate,
            (Obj(leaf), grad_ref, stored_ref),
            {},
            [],
            "accumulate",
        )
        grad = leaf.grad
        self.state[id(leaf)][0] = grad
        _retype(grad, TracedTensor)
        self.retyped.append(grad)
        index = self._emit("grad", None, (Obj(leaf),), {}, [data_of(grad)], f"{_named(leaf)}.grad")
        self.slots[index[0]].escapes = True

    # ------------------------------------------------------------------ units
    def unit(self, method, owner, args, kwargs):
        """A unit (UNITS): checked, called, and written down as one instruction."""
        if threading.get_ident() != self.thread:
            return method(owner, *args, **kwargs)
        if not self.recording():
            self.unit_depth += 1
            try:
                return method(owner, *args, **kwargs)
            finally:
                self.unit_depth -= 1
        static = self.ref((args, kwargs))
        if slot_indices(static):
            self.invalidate(f"{_unit_name(method)} was given arrays or tensors")
        self._checkpoint()
        self._check_inputs()
        self.unit_depth += 1
        try:
            result = method(owner, *args, **kwargs)
        finally:
            self.unit_depth -= 1
        # What the unit wrote in place (an optimizer's parameters) it writes again on every
        # replay: the arrays' values from here on are the ones to check at the end.
        self.inputs = [(index, array, digest(array)) for index, array, _ in self.inputs]
        self.instructions.append(
            Instruction("unit", method, (Obj(owner), *args), dict(kwargs), (), _unit_name(method))
        )
        for t in self.world:  # what the unit changed, it changes again on every replay
            self.state[id(t)] = [t.grad, data_of(t), t._version]
        for entry in self.optimizers.values():
            entry[1] = _settings(entry[0])
        return result

    def _install_units(self):
        for module_name, class_name, method_name in UNITS:
            cls = getattr(importlib.import_module(module_name), class_name)
            original = cls.__dict__[method_name]
            self.originals.append((cls, method_name, original))
            setattr(cls, method_name, _unit_wrapper(original))

    def _remove_units(self):
        for cls, method_name, original in self.originals:
            setattr(cls, method_name, original)
        self.originals = []

    # ------------------------------------------------------------------ state
    def _check_grad(self, leaf):
        """A leaf's .grad as the program left it, or None set by someone else (replayed as
        a clear at this point); anything else cannot be replayed."""
        state = self.state[id(leaf)]
        if leaf.grad is not state[0]:
            if leaf.grad is not None:
                self.invalidate(f"the .grad of {_named(leaf)} was set outside the recorded calls")
            self.instructions.append(
                Instruction("clear", None, (Obj(leaf),), {}, (), f"{_named(leaf)}.grad = None")
            )
            state[0] = None

    def _check_tensor(self, t):
        state = self.state[id(t)]
        if data_of(t) is not state[1] or t._version != state[2]:
            self.invalidate(
                f"{_named(t)} was changed outside the recorded calls (running statistics, "
                "a manual update of .data?)"
            )
            state[1], state[2] = data_of(t), t._version

    def _checkpoint(self):
        """Compare every tensor from before the call with what the program has done to it."""
        for t in self.world:
            if t.grad is not self.state[id(t)][0]:
                self._check_grad(t)
            self._check_tensor(t)
        for optimizer, settings in self.optimizers.values():
            if not _same_state(settings, _settings(optimizer)):
                self.invalidate(
                    f"the settings of {type(optimizer).__name__} (lr...) changed outside the "
                    "recorded calls (a schedule is replayed by its own .step())"
                )

    def _output(self, result):
        if isinstance(result, Tensor):
            index = self.arrays.get(id(data_of(result)))
            if type(result) is TracedTensor and index is not None:
                self.retyped.append(result)
                self.slots[index].escapes = True
                return NewTensor(Ref(index))
            if id(result) in self.state:
                return Obj(result)
            self.invalidate("it returns a tensor made outside chainrule's ops")
            return None
        if isinstance(result, np.ndarray):
            index = self.arrays.get(id(result))
            if index is None:
                self.invalidate("it returns an array computed outside chainrule's ops")
                return None
            self.slots[index].escapes = True
            return Ref(index)
        if type(result) in (tuple, list):
            return type(result)(self._output(r) for r in result)
        if type(result) is dict:
            return {k: self._output(v) for k, v in result.items()}
        if result is None or type(result) in (bool, int, float, str):
            return result
        self.invalidate(f"it returns a {type(result).__name__}")
        return None


def _plain(result, aliases):
    """The step's result with the argument aliases replaced by the arguments themselves."""
    if isinstance(result, Tensor):
        return aliases.get(id(result), result)
    if type(result) in (tuple, list):
        return type(result)(_plain(r, aliases) for r in result)
    if type(result) is dict:
        return {k: _plain(v, aliases) for k, v in result.items()}
    return result


def _holds_tensor(value):
    if isinstance(value, Tensor):
        return True
    if type(value) in (tuple, list):
        return any(_holds_tensor(v) for v in value)
    if type(value) is dict:
        return any(_holds_tensor(v) for v in value.values())
    return False


def _unit_wrapper(method):
    @functools.wraps(method)
    def unit(self, *args, **kwargs):
        recorder = registry.recorder
        if recorder is None:
            return method(self, *args, **kwargs)
        return recorder.unit(method, self, args, kwargs)

    return unit


def _unit_name(method):
    return getattr(method, "__qualname__", repr(method))


def _named(t):
    return t.name if getattr(t, "name", None) else f"tensor{list(t.shape)}"


def _same_state(a, b):
    """Whether two snapshots of random states are equal (nested dicts, tuples, arrays)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b))
    if type(a) in (tuple, list):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.random.Generator):
        return a is b
    return bool(a == b)


__all__ = ["Recorder", "TracedTensor", "UNITS"]
