"""A captured step as data, and the one Python function that replays it.

A :class:`Program` is a list of :class:`Instruction` s over numbered slots. A slot is
an array the step reads (an argument, a tensor from outside the step, a constant) or
computes (a kernel's output, a gradient share). An instruction is one call: an op's
forward kernel, a backward rule, the engine's fit, sum or accumulation, or a unit
replayed whole (``optimizer.step()``, ``zero_grad()``, DataParallel's allreduce).

:func:`compare` decides whether two captures of the same step did the same thing, and
:func:`generate` writes the program as Python source, one line per instruction, with
every array in a local variable that is deleted after its last use.
"""

import keyword
import math
import operator

import numpy as np

from ..tensor import Tensor

# The attribute that holds a Tensor's ndarray (a plain slot: the fastest read there is).
ARRAY_ATTRIBUTE = "_data" if "_data" in Tensor.__slots__ else "data"


class Ref:
    """A slot used as an argument."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __repr__(self):
        return f"s{self.index}"


class Obj:
    """A Python object used by reference: a leaf tensor, an optimizer, a module."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"<{type(self.value).__name__}>"


class Like:
    """What the engine's fit reads of an input's array: its shape and dtype, nothing else."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype

    def __eq__(self, other):
        return type(other) is Like and (self.shape, self.dtype) == (other.shape, other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def __repr__(self):
        return f"Like({self.shape}, {self.dtype})"


class NewTensor:
    """An output of the step: a new Tensor around a slot's array."""

    __slots__ = ("ref",)

    def __init__(self, ref):
        self.ref = ref


class Slot:
    """One array of the step. ``kind`` is ``arg`` (``source`` is its position), ``read``
    (the array of a tensor from outside the step, ``source``), ``constant`` (``source`` is
    the array itself) or ``computed`` (made by instruction ``producer``)."""

    __slots__ = (
        "index",
        "kind",
        "source",
        "shape",
        "dtype",
        "strides",
        "producer",
        "escapes",
        "shares",
    )

    def __init__(self, index, kind, source, value, producer=None, shares=None):
        self.index, self.kind, self.source, self.producer = index, kind, source, producer
        self.shape = getattr(value, "shape", None)
        self.dtype = getattr(value, "dtype", None)
        self.strides = getattr(value, "strides", None)
        self.escapes = False  # held beyond the step (a .grad, a parameter, an output)
        self.shares = shares  # the slot whose memory it is or looks into (no new memory)

    @property
    def nbytes(self):
        if self.shape is None or self.dtype is None:
            return 0
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize


class Instruction:
    """One call of the schedule: ``outputs = fn(*args, **kwargs)``.

    ``kind`` is ``arg``, ``read``, ``kernel``, ``rule``, ``fit``, ``add``, ``seed``,
    ``set``, ``accumulate``, ``grad``, ``clear`` or ``unit``; ``label`` names it in views.
    """

    __slots__ = ("kind", "fn", "args", "kwargs", "outputs", "label", "ensure_array")

    def __init__(self, kind, fn, args, kwargs, outputs, label, ensure_array=False):
        self.kind, self.fn, self.args, self.kwargs = kind, fn, tuple(args), kwargs
        self.outputs, self.label, self.ensure_array = tuple(outputs), label, ensure_array

    def refs(self):
        """Indices of the slots it reads."""
        return slot_indices((self.args, self.kwargs))


def slot_indices(value):
    """Indices of the slots a template refers to (its Refs and new tensors, inside
    tuples, lists and dicts)."""
    found: list[int] = []
    _walk_refs(value, found)
    return found


def _walk_refs(value, found):
    if type(value) is Ref:
        found.append(value.index)
    elif type(value) is NewTensor:
        found.append(value.ref.index)
    elif type(value) in (tuple, list):
        for item in value:
            _walk_refs(item, found)
    elif type(value) is dict:
        for item in value.values():
            _walk_refs(item, found)


class Program:
    """What one capture recorded: slots, instructions, the output's template."""

    def __init__(self, slots, instructions, output, arguments):
        self.slots, self.instructions, self.output = slots, instructions, output
        self.arguments = arguments  # per position: "tensor", "array" or None (a static value)


# ----------------------------------------------------------------------------- comparing
class Verdict:
    """Whether two captures agree, and if not, why not."""

    def __init__(self, same, reason=""):
        self.same, self.reason = same, reason


def compare(first, second):
    """Whether ``second`` (the later capture) replays what ``first`` did, given new inputs."""
    if len(first.instructions) != len(second.instructions):
        return Verdict(False, "a different number of operations on each call")
    if len(first.slots) != len(second.slots):
        return Verdict(False, "a different number of arrays on each call")
    for a, b in zip(first.instructions, second.instructions):
        if a.kind != b.kind or not _same_function(a.fn, b.fn) or a.outputs != b.outputs:
            return Verdict(False, f"different operations on each call ({a.label} / {b.label})")
        if not (_same(a.args, b.args) and _same(a.kwargs, b.kwargs)):
            return Verdict(False, f"different arguments to {a.label} on each call")
    for a, b in zip(first.slots, second.slots):
        if a.kind != b.kind:
            return Verdict(False, "arrays of different origins on each call")
        if a.kind == "read" and a.source is not b.source:
            return Verdict(
                False, "it reads a different tensor on each call (rebound between calls?)"
            )
        if a.kind == "constant" and a.source is not b.source:
            if not _same_array(a.source, b.source):
                return Verdict(
                    False,
                    f"an array of shape {b.shape} made outside chainrule's ops differs "
                    "between calls (random, or computed from the data in Python)",
                )
    if not _same(first.output, second.output):
        return Verdict(False, "it returns something different on each call")
    return Verdict(True)


def _same_function(f, g):
    if f is g:
        return True
    try:
        return bool(f == g)  # bound methods of the same object compare equal
    except Exception:
        return False


def _same(a, b):
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if type(a) is Ref:
        return a.index == b.index
    if type(a) is NewTensor:
        return a.ref.index == b.ref.index
    if type(a) is Obj:
        return a.value is b.value
    if type(a) in (tuple, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return _same_array(a, b)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    try:
        return bool(a == b)
    except Exception:
        return False


def _same_array(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


# ------------------------------------------------------------------------------- writing
class _Namespace:
    """Names for the objects the generated function refers to (kernels, tensors, values)."""

    def __init__(self):
        self.values = {"ndarray": np.ndarray, "asarray": np.asarray, "new": Tensor._new}
        self.names = {}

    def name(self, value, prefix):
        key = id(value)
        if key not in self.names:
            self.names[key] = f"{prefix}{len(self.names)}"
            self.values[self.names[key]] = value
        return self.names[key]


def _slot_name(program, index):
    slot = program.slots[index]
    return f"c{index}" if slot.kind == "constant" else f"s{index}"


def _literal(value):
    """Source for a value that is its own repr (ints, bools, short strings, None), or None."""
    if value is None or type(value) in (bool, int, str) and len(repr(value)) < 40:
        return repr(value)
    if type(value) is float and math.isfinite(value):
        return repr(value)
    return None


def _render(program, names, value):
    if type(value) is Ref:
        return _slot_name(program, value.index)
    if type(value) is NewTensor:
        return f"new({_slot_name(program, value.ref.index)})"
    if type(value) is Obj:
        return names.name(value.value, "o")
    if slot_indices(value):  # a structure holding slots: rebuilt on every call
        if type(value) is tuple:
            return "(" + "".join(_render(program, names, v) + ", " for v in value) + ")"
        if type(value) is list:
            return "[" + ", ".join(_render(program, names, v) for v in value) + "]"
        if type(value) is dict:
            items = (f"{k!r}: {_render(program, names, v)}" for k, v in value.items())
            return "{" + ", ".join(items) + "}"
    literal = _literal(value)
    return literal if literal is not None else names.name(value, "k")


def _call(program, names, instruction):
    fn = names.name(instruction.fn, "f")
    parts = [_render(program, names, a) for a in instruction.args]
    kwargs = instruction.kwargs
    if all(key.isidentifier() and not keyword.iskeyword(key) for key in kwargs):
        parts += [f"{key}={_render(program, names, value)}" for key, value in kwargs.items()]
    elif kwargs:
        parts.append("**" + _render(program, names, dict(kwargs)))
    return f"{fn}({', '.join(parts)})"


def statement(program, names, instruction):
    """The line of Python that runs one instruction."""
    kind, outputs = instruction.kind, [f"s{i}" for i in instruction.outputs]
    target = ", ".join(outputs)
    if kind == "arg":
        position, is_tensor = instruction.args
        return f"{target} = a{position}" + (f".{ARRAY_ATTRIBUTE}" if is_tensor else "")
    if kind == "read":
        return f"{target} = {_render(program, names, instruction.args[0])}.{ARRAY_ATTRIBUTE}"
    if kind == "grad":
        tensor = _render(program, names, instruction.args[0])
        return f"{target} = {tensor}.grad.{ARRAY_ATTRIBUTE}"
    if kind == "clear":
        return f"{_render(program, names, instruction.args[0])}.grad = None"
    if kind == "set":
        return f"{target} = set()"
    call = _call(program, names, instruction)
    if not outputs:
        return call
    line = f"{target} = {call}"
    if instruction.ensure_array:  # as registry.apply does with a kernel's result
        first = outputs[0]
        line += f"\n    if type({first}) is not ndarray:\n        {first} = asarray({first})"
    return line


# Instructions that only read an array (no effect): left out when nothing uses it.
_READS = ("read", "grad", "item")


def lifetimes(program):
    """``(last_use, replayed)``: the position of each slot's last use (past the end for
    what the step returns), and the positions of the instructions a replay runs (all but
    reads whose result nothing uses)."""
    last_use = {}
    for position, instruction in enumerate(program.instructions):
        for index in instruction.refs():
            last_use[index] = position
    for index in slot_indices(program.output):
        last_use[index] = len(program.instructions)
    replayed = {
        position
        for position, instruction in enumerate(program.instructions)
        if instruction.kind not in _READS or any(i in last_use for i in instruction.outputs)
    }
    return last_use, replayed


def generate(program, arguments):
    """The source of ``replay(a0, a1, ...)`` and the namespace it runs in.

    Each slot is a local variable, deleted right after its last use, so that the arrays
    of a replay live no longer than those of an eager step.
    """
    names = _Namespace()
    for slot in program.slots:
        if slot.kind == "constant":
            names.values[f"c{slot.index}"] = slot.source
    last_use, replayed = lifetimes(program)
    lines = []
    for position, instruction in enumerate(program.instructions):
        if position not in replayed:
            continue
        lines.append("    " + statement(program, names, instruction))
        dead = [
            f"s{i}"
            for i in instruction.refs() + list(instruction.outputs)
            if last_use.get(i, -1) <= position and program.slots[i].kind != "constant"
        ]
        if dead:
            lines.append("    del " + ", ".join(dict.fromkeys(dead)))
    lines.append("    return " + _render(program, names, program.output))
    header = "def replay(" + ", ".join(f"a{i}" for i in range(arguments)) + "):"
    return "\n".join([header] + lines) + "\n", names.values


def build(program, arguments):
    """The replay function of ``program`` (``arguments``: how many it takes)."""
    source, namespace = generate(program, arguments)
    code = compile(source, "<chainrule.compile replay>", "exec")
    exec(code, namespace)  # noqa: S102  (source written above from the program alone)
    replay = namespace["replay"]
    replay.source = source
    return replay


def label_of(fn):
    """A short name for a kernel or rule in views and messages."""
    if isinstance(fn, np.ufunc):
        return f"np.{fn.__name__}"
    if fn is operator.add:
        return "add"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return name.replace(".<locals>", "")
