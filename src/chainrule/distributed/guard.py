"""Ending an MPI job together: no rank waits forever for one that failed or left.

A collective waits for every rank, and so does MPICH's finalize: one rank that raises,
returns early or exits with an error used to leave the others spinning forever. The
guard, installed by :func:`chainrule.distributed.init` when the job has several ranks,
makes every exit a handshake over a private communicator:

- a rank that exits, for whatever reason, sends every other rank a notice, then waits
  for theirs before MPI finalizes (a failed rank waits at most :data:`FALLBACK` s);
- a rank that hears of a departed rank while it waits in a collective of
  :class:`~chainrule.distributed.World` ends the job (``MPI_Abort``) after saying why;
- an uncaught exception, or a message given to :func:`report_error`, is printed once for
  the whole job: by this rank when it is the lowest one still running (rank 0, as a
  rule), else it travels with the notice and that rank prints it, unless it printed the
  same text itself (every rank failing alike prints one message, not one per rank).

A rank killed by a signal is MPI's business: ``mpiexec`` ends the others at once.
"""

import atexit
import json
import os
import sys
import time
import traceback

GRACE = 0.5  # seconds a collective may still need to finish after a rank has left
FALLBACK = 5.0  # seconds a failed rank waits for the others to hear of it
ABORT_DELAY = 1.0  # seconds between the last message and the abort (output forwarding)
_NOTICE = 1  # the tag of exit notices

_guard = None  # the guard of this process, once installed


def current():
    """The installed guard, or None (one rank, or outside ``init``)."""
    return _guard


def install(comm):
    """Guard the job of ``comm`` (COMM_WORLD): exit handshake and exception hook."""
    global _guard
    if _guard is None and comm.Get_size() > 1:
        _guard = Guard(comm)
        atexit.register(_guard.on_exit)  # runs before mpi4py finalizes MPI
        previous = sys.excepthook

        def excepthook(kind, value, tb):
            try:
                _guard.fail(_describe_exception(kind, value, tb))
            except Exception:  # never lose the error in a broken hook
                previous(kind, value, tb)

        sys.excepthook = excepthook
    return _guard


def report_error(message):
    """Print ``message``, an error this rank met, to stderr once for the whole job.

    Outside ``mpiexec`` it is a plain print. Under it, ranks that fail alike print one
    message, and the job ends when this rank exits, even while the others compute.
    Return or exit after it: an ``MPI_Abort`` here could end the job before the
    message is printed. It may come before :func:`~chainrule.distributed.init`
    (a bad command line), which it then calls: a rank that exits before MPI starts
    would leave the others waiting in ``MPI_Init`` forever.
    """
    from .parallel import init

    try:
        init()
    except Exception:  # a broken MPI must not hide the message
        pass
    if _guard is None:
        print(message, file=sys.stderr, flush=True)
    else:
        _guard.fail(message)


def _describe_exception(kind, value, tb):
    from .parallel import DistributedError

    if isinstance(value, DistributedError):  # a full message; the traceback adds nothing
        return f"chainrule.distributed: {value}"
    return "".join(traceback.format_exception(kind, value, tb))


class Guard:
    """This rank's side of the exit handshake (see the module's docstring)."""

    def __init__(self, comm):
        self.comm = comm.Dup()  # notices never mix with the job's own messages
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.left = {}  # rank -> its exit notice
        self.failed = False
        self.unprinted = []  # this rank's failure messages that another rank will print
        self.printed = set()  # texts printed here, so that each prints once
        self.broken = False  # a collective was interrupted: MPI cannot finish it
        self.done = False

    # ------------------------------------------------------------------- messages

    def speaker(self):
        """The lowest rank still running: the one that prints for the job."""
        return min(r for r in range(self.size) if r not in self.left)

    def fail(self, text):
        """This rank failed with ``text``: print it now, or let the speaker print it."""
        self.failed = True
        if self.speaker() == self.rank:
            self._print(text)
        else:
            self.unprinted.append(text)

    def _print(self, text, rank=None):
        text = text.rstrip("\n")
        if text in self.printed:
            return
        self.printed.add(text)
        prefix = "" if rank is None else f"rank {rank}: "
        print(prefix + text, file=sys.stderr, flush=True)

    def _print_notices(self, waiting_in=None):
        """Print what the departed ranks could not print themselves."""
        for rank, notice in sorted(self.left.items()):
            for text in notice["messages"]:
                self._print(text, rank)
            if waiting_in and not notice["failed"]:
                self._print(
                    f"chainrule.distributed: rank {rank} exited while rank "
                    f"{self.rank} waited for it in {waiting_in}; ending the job "
                    "(did the ranks take different numbers of steps?)"
                )

    # ------------------------------------------------------------------- notices

    def _receive_notices(self):
        from mpi4py import MPI

        status = MPI.Status()
        while self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=_NOTICE, status=status):
            buffer = bytearray(status.Get_count(MPI.BYTE))
            source = status.Get_source()
            self.comm.Recv([buffer, MPI.BYTE], source=source, tag=_NOTICE)
            self.left[source] = json.loads(buffer.decode())

    def wait(self, request, what):
        """Wait for a nonblocking operation; end the job when a rank it needs has left.

        Spins briefly (a step's collective is usually ready within microseconds), then
        sleeps between tests so that a waiting rank leaves the CPU to the others.
        """
        started, noticed, pause = time.monotonic(), None, 0.0
        try:
            while not request.Test():
                now = time.monotonic()
                if now - started < 2e-4:
                    continue
                self._receive_notices()
                if self.left:
                    noticed = noticed or now
                    # A departed rank may have done its part: give the operation a moment.
                    if now - noticed > GRACE and (
                        self.speaker() == self.rank or now - noticed > FALLBACK
                    ):
                        self._print_notices(waiting_in=what)
                        self.abort()
                pause = min(1e-3, pause * 2 or 2e-5)
                time.sleep(pause)
        except BaseException:  # interrupted (Ctrl-C): the operation can never complete
            self.broken = True
            raise

    def on_exit(self):
        """Tell every rank that this one is leaving and wait until all of them are."""
        from mpi4py import MPI

        if self.done or MPI.Is_finalized():  # finalized by the program itself
            return
        self.done = True

        notice = json.dumps(
            {"failed": self.failed or self.broken, "messages": self.unprinted}
        ).encode()
        sends = [
            self.comm.Isend([notice, MPI.BYTE], dest=r, tag=_NOTICE)
            for r in range(self.size)
            if r != self.rank
        ]
        started = time.monotonic()
        while True:
            self._receive_notices()
            if len(self.left) == self.size - 1:
                break
            if (self.failed or self.broken) and time.monotonic() - started > FALLBACK:
                for text in self.unprinted:  # no rank was there to print it
                    self._print(text, self.rank)
                self.abort()
            time.sleep(0.01)
        if self.rank == 0:  # every rank is leaving: rank 0 prints what is left to print
            self._print_notices()
        MPI.Request.Waitall(sends)
        if self.broken:  # finalize would wait forever for the unfinished operation
            self.abort()

    def abort(self, status=1):
        """End every rank of the job now."""
        from mpi4py import MPI

        sys.stdout.flush()
        sys.stderr.flush()
        # mpiexec forwards the ranks' output asynchronously and an abort tears that down:
        # give the message printed above time to get through (a busy machine needs it).
        time.sleep(ABORT_DELAY)
        # MPICH prints a line of its own on abort; the reason was printed above.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        MPI.COMM_WORLD.Abort(status)
