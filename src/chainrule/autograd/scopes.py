"""Scopes: which module call (or named block) made each node of a graph.

Grouped pictures (``cr.viz.render(loss, path, group="module")``) draw one box per
module call; this is how they know which ops a call made. Recorded nodes are numbered
in creation order (``_seq``, from ``ops.registry``), so a call that takes a number from
that counter when it starts and another when it ends made exactly the nodes numbered in
between. A scope is therefore three values, ``(start, end, owner)``, kept in a list
here: nothing is stored on the nodes, ``apply`` is untouched, and the scopes nest as
the calls do.

Recording is off by default; ``Module.__call__`` tests :data:`recording` and nothing
else when it is off. It is on inside ``record_scopes()`` and inside every ``scope(name)``
block. It is one switch for the process: graphs built by several threads at once may
have their scopes mixed.

>>> import chainrule as cr
>>> with scope("block"):
...     y = cr.tensor(2.0, requires_grad=True) * 3
>>> [(s.owner, s.start < y._seq < s.end) for s in recorded(y._seq, y._seq)]
[('block', True)]
"""

from contextlib import nullcontext
from typing import NamedTuple

from ..ops.registry import _sequence

#: Whether module calls note their scope (read by ``Module.__call__`` on every call).
recording = False
#: Closed scopes as ``(start, end, owner)``, in the order they closed. Past
#: :data:`LIMIT` the older half is dropped, so recording left on through a training run
#: holds bounded memory (the last few thousand steps' scopes).
_closed: list[tuple[int, int, object]] = []
LIMIT = 200_000
_NOTHING = nullcontext()


class Scope(NamedTuple):
    """A closed scope: the nodes numbered strictly between ``start`` and ``end`` are its."""

    start: int
    end: int
    owner: object  # the Module called, or the scope's name


def _close(start, owner):
    _closed.append((start, next(_sequence), owner))
    if len(_closed) > LIMIT:
        del _closed[: LIMIT // 2]


def call(module, args, kwargs):
    """``module.forward(*args, **kwargs)`` as one scope: what ``Module.__call__`` runs
    while :data:`recording` is on."""
    start = next(_sequence)
    try:
        return module.forward(*args, **kwargs)
    finally:
        _close(start, module)


class record_scopes:
    """Record which module call made each op, for ``cr.viz.render(..., group="module")``.

    As a context manager it records inside the block; called on its own it switches
    recording on (or off, with ``False``) until it is switched again, as
    ``cr.set_grad_enabled`` does.

    >>> from chainrule.autograd import scopes
    >>> with record_scopes():
    ...     print(scopes.recording)
    True
    >>> scopes.recording
    False
    """

    def __init__(self, enabled=True):
        global recording
        self.previous, recording = recording, bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global recording
        recording = self.previous


class scope:
    """Name a block of code: a grouped picture draws the ops made inside as one box.

    It records module calls inside it too (as :class:`record_scopes` does). Scopes nest:
    ``scope("t=3")`` inside a module ``rnn`` is drawn as ``rnn/t=3``.

    >>> import chainrule as cr
    >>> h = cr.tensor([1.0, 2.0], requires_grad=True, name="h")
    >>> for t in range(3):
    ...     with cr.viz.scope(f"t={t}"):
    ...         h = (h * 0.5).tanh()
    >>> cr.viz.graph(h, group="module")
    <chainrule graph of tanh3: 4 nodes, 3 edges, grouped by module>
    """

    __slots__ = ("name", "previous", "start")

    def __init__(self, name):
        self.name = str(name)

    def __enter__(self):
        global recording
        self.previous, recording = recording, True
        self.start = next(_sequence)
        return self

    def __exit__(self, *exc):
        global recording
        recording = self.previous
        _close(self.start, self.name)


def scope_if_recording(name):
    """``scope(name)`` while recording is on, else a context that does nothing: for
    library code that opens a scope on every step of a loop (an RNN's time steps)."""
    return scope(name) if recording else _NOTHING


def recorded(low, high):
    """The closed scopes that overlap node numbers ``low`` to ``high``, by start."""
    found = []
    for k in range(len(_closed) - 1, -1, -1):
        start, end, owner = _closed[k]
        if end < low:  # scopes close in order: every earlier one ended earlier still
            break
        if start <= high:
            found.append(Scope(start, end, owner))
    found.reverse()  # mostly in order already; sort makes it exact (starts are unique)
    found.sort(key=lambda s: s.start)
    return found
