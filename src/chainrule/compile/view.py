"""What a compiled step replays: its calls and arrays, as text or as a DOT graph.

``step.schedule`` lists every call of the replay in order with the arrays it reads and
makes (shape, dtype, bytes), which of them come from outside (arguments, parameters,
constants), which outlive the step (gradients, outputs), and where an array is only
another name for one it read (a rule that hands its gradient on, a view).
"""

from .schedule import Obj, label_of, lifetimes


def _quote(text):
    """A DOT string literal of ``text`` (its line breaks kept)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _object_name(value):
    name = getattr(value, "name", None)
    return name if isinstance(name, str) and name else f"{type(value).__name__} {id(value):x}"


def _size(nbytes):
    if nbytes < 1024:
        return f"{nbytes} B"
    return f"{nbytes / 1024:.1f} KiB" if nbytes < 1024**2 else f"{nbytes / 1024**2:.1f} MiB"


class Schedule:
    """The replay of one captured step (``program``) and its generated ``source``."""

    def __init__(self, program, source):
        self.program, self.source = program, source
        self.last_use, self.replayed = lifetimes(program)

    def kernels(self):
        """The label of every call a replay makes, in order."""
        return [
            instruction.label
            for position, instruction in enumerate(self.program.instructions)
            if position in self.replayed
        ]

    def buffers(self):
        """``(slot, origin, bytes, note)`` for every array of the step; the note says when
        a replay lets go of it, and whether it is new memory at all."""
        rows = []
        end = len(self.program.instructions)
        for slot in self.program.slots:
            if (
                slot.shape is None
                or slot.producer is not None
                and slot.producer not in self.replayed
            ):
                continue
            origin = {
                "arg": f"argument {slot.source}",
                "read": "read from a tensor outside the step",
                "constant": "constant",
            }.get(slot.kind) or self._producer(slot)
            last = self.last_use.get(slot.index, slot.producer)
            if slot.escapes or last == end:
                notes = ["outlives the step"]
            elif slot.kind == "computed":
                notes = [f"let go after call {last}"]
            else:
                notes = [f"last read by call {last}"]
            if slot.shares is not None:
                notes.append(f"no new memory: shares {self._name(slot.shares)}")
            rows.append((self._name(slot.index), origin, slot.nbytes, "; ".join(notes)))
        return rows

    def _producer(self, slot):
        return "made by " + self.program.instructions[slot.producer].label

    def text(self):
        """One line per call, then one per array: a plain listing of the replay."""
        lines = [f"compiled step: {len(self.replayed)} calls"]
        for position, instruction in enumerate(self.program.instructions):
            if position not in self.replayed:
                continue
            reads = ", ".join(self._name(i) for i in instruction.refs())
            makes = ", ".join(f"s{i}" for i in instruction.outputs)
            arrow = f" -> {makes}" if makes else ""
            what = label_of(instruction.fn) if instruction.fn is not None else instruction.kind
            lines.append(f"  {position:3d} {instruction.label:<28} {what}({reads}){arrow}")
        total = 0
        lines.append("arrays:")
        for name, origin, nbytes, note in self.buffers():
            total += 0 if "no new memory" in note else nbytes
            lines.append(
                f"  {name:>5} {_size(nbytes):>10}  {origin}" + (f" ({note})" if note else "")
            )
        lines.append(f"  total {_size(total)}")
        return "\n".join(lines)

    def _name(self, index):
        return f"c{index}" if self.program.slots[index].kind == "constant" else f"s{index}"

    def dot(self):
        """The schedule as a DOT graph: calls as boxes in replay order, arrays as ellipses
        labelled with shape, dtype and size (shaded when they outlive the step), the
        objects a call works on (an optimizer, a parameter) as dashed edges' ends."""
        slots = self.program.slots
        lines = ["digraph schedule {", "  rankdir=TB;", '  node [fontname="Helvetica"];']
        for slot in slots:
            if (
                slot.shape is None
                or slot.producer is not None
                and slot.producer not in self.replayed
            ):
                continue
            label = _quote(
                f"{self._name(slot.index)}\n{slot.shape} {slot.dtype}\n{_size(slot.nbytes)}"
            )
            style = ', style=filled, fillcolor="#dddddd"' if slot.escapes else ""
            lines.append(f"  {self._name(slot.index)} [shape=ellipse, label={label}{style}];")
        for position, instruction in enumerate(self.program.instructions):
            if position not in self.replayed:
                continue
            node = f"i{position}"
            lines.append(
                f"  {node} [shape=box, label={_quote(f'{position}: {instruction.label}')}];"
            )
            for index in dict.fromkeys(instruction.refs()):
                if slots[index].shape is not None:
                    lines.append(f"  {self._name(index)} -> {node};")
            for index in instruction.outputs:
                if slots[index].shape is not None:
                    lines.append(f"  {node} -> s{index};")
            for arg in instruction.args:
                if type(arg) is Obj:
                    lines.append(f"  {node} -> {_quote(_object_name(arg.value))} [style=dashed];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def __str__(self):
        return self.text()

    def __repr__(self):
        return f"<Schedule: {len(self.replayed)} calls>"


__all__ = ["Schedule"]
