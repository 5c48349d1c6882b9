"""The MPI world and gradient averaging (mpi4py with any MPI, e.g. the MPICH wheel)."""

import functools
import hashlib
import json

import numpy as np

from . import guard


class DistributedError(RuntimeError):
    """The ranks of a job disagree: different parameters, or different collective calls.

    Raised on every rank at once, with the same message naming the first difference.
    """


class World:
    """The ranks of one job: ``rank``, ``size``, and collective operations on arrays.

    Every collective first checks, with one small allreduce, that all ranks make the
    same call (operation, dtypes and shapes): a mismatch raises
    :class:`DistributedError` on every rank instead of mixing up arrays, failing with
    "Message truncated" or waiting forever.
    """

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()

    @property
    def is_root(self):
        return self.rank == 0

    def shard(self, batch):
        """This rank's slice of a global batch (an array, or a tuple of aligned arrays)."""
        if isinstance(batch, tuple):
            return tuple(self.shard(b) for b in batch)
        return batch[self.rank :: self.size]

    def allreduce_sum(self, arrays):
        """Sum each array over the ranks, with one message per dtype (arrays are fused)."""
        arrays = [np.asarray(a) for a in arrays]
        if self.comm is None:
            return [a.copy() for a in arrays]
        items = tuple((f"array {i}", _spec(a)) for i, a in enumerate(arrays))
        return self._allreduce_sum(arrays, "allreduce_sum", items)

    def _allreduce_sum(self, arrays, what, items):
        from mpi4py import MPI

        self.agree(what, items)
        results: list[np.ndarray | None] = [None] * len(arrays)
        # One message per dtype, in the same order on every rank (a set's order is not).
        for dtype in sorted({a.dtype for a in arrays}, key=lambda d: d.str):
            group = [i for i, a in enumerate(arrays) if a.dtype == dtype]
            flat = np.concatenate([arrays[i].ravel() for i in group])
            total = np.empty_like(flat)
            self._wait(self.comm.Iallreduce(flat, total, op=MPI.SUM), what)
            offset = 0
            for i in group:
                n = arrays[i].size
                results[i] = total[offset : offset + n].reshape(arrays[i].shape)
                offset += n
        return results

    def broadcast(self, arrays, root=0):
        """Every rank receives root's copies of ``arrays``."""
        arrays = [np.array(a, order="C") for a in arrays]  # copies: received in place
        if self.comm is not None:
            what = f"broadcast from rank {root}"
            self.agree(what, tuple((f"array {i}", _spec(a)) for i, a in enumerate(arrays)))
            for a in arrays:
                self._wait(self.comm.Ibcast(a, root=root), what)
        return arrays

    def mean(self, value):
        """The mean of a scalar over the ranks (for logging losses and accuracies)."""
        return float(self.allreduce_sum([np.array([value], np.float64)])[0][0]) / self.size

    def agree(self, what, items):
        """Check that every rank calls ``what`` with the same ``items``.

        ``items`` is a tuple of ``(name, (dtype, shape, note))`` pairs. Costs one
        allreduce of two integers; on a mismatch every rank raises
        :class:`DistributedError` naming the first item that differs.
        """
        if self.comm is None:
            return
        from mpi4py import MPI

        call, mine = _signature(what, items)
        # The max of (h, -h) over the ranks gives the largest and the smallest h at once.
        both = np.empty(2, np.int64)
        self._wait(self.comm.Iallreduce(np.array([mine, -mine], np.int64), both, MPI.MAX), what)
        if both[0] != -both[1]:
            raise DistributedError(_first_difference(self._allgather_json(call, what)))

    def _allgather_json(self, value, what):
        """Every rank's ``value`` (JSON-serialisable), in rank order."""
        from mpi4py import MPI

        data = np.frombuffer(json.dumps(value).encode(), np.uint8)
        longest = np.empty(1, np.int64)
        self._wait(self.comm.Iallreduce(np.array([data.size], np.int64), longest, MPI.MAX), what)
        padded = np.full(int(longest[0]), ord(" "), np.uint8)  # JSON ignores the padding
        padded[: data.size] = data
        rows = np.empty((self.size, padded.size), np.uint8)
        self._wait(self.comm.Iallgather(padded, rows), what)
        return [json.loads(row.tobytes()) for row in rows]

    def _wait(self, request, what):
        job = guard.current()
        if job is None:
            request.Wait()
        else:
            job.wait(request, what)


def _spec(array, note=""):
    """What the ranks must agree on about an array: hashable, cheap to make."""
    return array.dtype, array.shape, note


@functools.lru_cache(maxsize=256)  # a training loop repeats the same few calls
def _signature(what, items):
    """The call as JSON text for the error message, and its 56-bit digest."""
    call = [what, [[name, f"{dtype} {tuple(shape)}{note}"] for name, (dtype, shape, note) in items]]
    digest = hashlib.blake2b(json.dumps(call).encode(), digest_size=7).digest()
    return call, int.from_bytes(digest, "little")


def _first_difference(calls):
    """The message for ranks whose ``[what, items]`` differ (the same on every rank)."""
    what, items = calls[0]
    rank = next((r for r, call in enumerate(calls) if call != calls[0]), 0)
    other_what, other_items = calls[rank]
    if other_what != what:
        return (
            f"the ranks called different collective operations: {what} on rank 0, "
            f"{other_what} on rank {rank} (did they take different numbers of steps?)"
        )
    for (name, mine), (other_name, theirs) in zip(items, other_items):
        if name != other_name:
            return (
                f"ranks differ in {what}: {name} ({mine}) on rank 0, {other_name} "
                f"({theirs}) on rank {rank}"
            )
        if mine != theirs:
            return f"ranks differ in {what}: {name} is {mine} on rank 0, {theirs} on rank {rank}"
    more, fewer = (0, rank) if len(items) > len(other_items) else (rank, 0)
    name, mine = (items if more == 0 else other_items)[min(len(items), len(other_items))]
    return (
        f"ranks differ in {what}: {len(items)} on rank 0, {len(other_items)} on rank "
        f"{rank}; rank {fewer} has no {name} ({mine})"
    )


def init() -> World:
    """The world this process runs in: MPI's COMM_WORLD under mpiexec, else one rank.

    Called once per job (later calls return the same world). Under ``mpiexec`` it
    also installs the guard: any failure on any rank ends the whole job with its error
    printed once (see :mod:`chainrule.distributed.guard`).
    """
    global _world
    if _world is None:
        try:
            from mpi4py import MPI
        except ImportError:
            _world = World(None)
            return _world
        comm = MPI.COMM_WORLD
        if comm.Get_size() > 1:
            guard.install(comm)
            _world = World(comm.Dup())  # the job's collectives never meet the user's
        else:
            _world = World(None)
    return _world


_world: World | None = None


class DataParallel:
    """Keeps a model's parameters identical across ranks and averages their gradients.

    At wrap time every rank must hold the same parameters (names, shapes, dtypes and
    which require gradients), else :class:`DistributedError` is raised on every rank
    naming the first difference; each step checks shapes and dtypes again.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> parallel = cr.distributed.DataParallel([w])   # one rank outside mpiexec
    >>> parallel.world.size
    1
    """

    def __init__(self, module_or_parameters, world=None):
        self.world = world or init()
        if hasattr(module_or_parameters, "named_parameters"):
            named = list(module_or_parameters.named_parameters())
        else:
            named = [(str(i), p) for i, p in enumerate(module_or_parameters)]
        self.labels = [f"parameter {name!r}" for name, _ in named]
        self.parameters = [p for _, p in named]
        self.world.agree(
            "DataParallel",
            tuple(
                (label, _spec(p.data, "" if p.requires_grad else " without gradient"))
                for label, p in zip(self.labels, self.parameters)
            ),
        )
        self.broadcast_parameters()

    def broadcast_parameters(self, root=0):
        """Give every rank root's parameter values (call after building the model)."""
        values = self.world.broadcast([p.data for p in self.parameters], root)
        for p, value in zip(self.parameters, values):
            p.data = value

    def average_gradients(self, weight=1.0):
        """Replace each gradient by the weighted mean over the ranks.

        ``weight`` is this rank's share of the global batch (its sample count); with
        mean-reduced losses this makes the result the whole batch's gradient. A rank
        without a gradient for a parameter, or with weight 0 (no samples), adds zeros;
        a parameter that has a gradient on no rank keeps ``grad = None`` everywhere.
        """
        from ..tensor import Tensor

        weight = float(weight)
        if not weight >= 0 or weight == float("inf"):
            raise ValueError(
                f"average_gradients: weight must be a finite number >= 0 "
                f"(this rank's sample count), got {weight}"
            )
        trainable = [
            (label, p) for label, p in zip(self.labels, self.parameters) if p.requires_grad
        ]
        grads = [
            np.zeros_like(p.data)
            if p.grad is None or weight == 0
            else (p.grad.data * weight).astype(p.data.dtype, copy=False)
            for _, p in trainable
        ]
        # Which ranks had a gradient travels with the weight, in the same message.
        counts = np.array([weight] + [p.grad is not None for _, p in trainable], np.float64)
        items = tuple((name, _spec(g)) for (name, _), g in zip(trainable, grads))
        if self.world.comm is None:
            sums = grads + [counts]
        else:
            sums = self.world._allreduce_sum(grads + [counts], "average_gradients", items)
        counts = sums.pop()
        total = counts[0]
        for (_, p), g, count in zip(trainable, sums, counts[1:]):
            if count:
                g = g / total if total > 0 else np.zeros_like(g)  # no samples on any rank
                p.grad = Tensor._new(g.astype(p.data.dtype, copy=False))
