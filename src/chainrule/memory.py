"""Allocator policy: keep freed memory for reuse instead of returning it to the OS.

Training allocates the same large temporaries every step. glibc hands blocks above
its mmap threshold straight back to the kernel when they are freed, so each step
page-faults its arrays in again (30-50% of a large step's time). Raising the mmap
and trim thresholds keeps those pages in the process for the next step.

It is a process-wide setting, so importing chainrule changes nothing: the first
``backward`` applies it (:func:`apply_policy`), because a process that runs backward is
training. To keep the C library's own behaviour, set ``CHAINRULE_REUSE_FREED_MEMORY=0``
in the environment or ``chainrule.memory.automatic = False`` before the first backward.
"""

import ctypes
import ctypes.util
import os

#: Whether the first backward applies :func:`reuse_freed_memory` (see the module doc).
automatic = os.environ.get("CHAINRULE_REUSE_FREED_MEMORY", "1") != "0"
#: Whether :func:`apply_policy` has run (backward checks this flag, nothing more).
decided = False


def apply_policy():
    """Apply the allocator policy once, unless :data:`automatic` was switched off."""
    global decided
    decided = True
    if automatic:
        reuse_freed_memory()


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(max_block=1 << 30):
    """Let glibc recycle freed blocks up to ``max_block`` bytes; returns True if applied.

    A no-op (returning False) where the C library is not glibc.

    >>> import chainrule as cr
    >>> cr.memory.reuse_freed_memory() in (True, False)
    True
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    applied = mallopt(_M_MMAP_THRESHOLD, min(max_block, 1 << 30)) == 1
    return applied and mallopt(_M_TRIM_THRESHOLD, 2 * min(max_block, 1 << 30)) == 1
