"""The MPI world and gradient averaging (mpi4py with any MPI, e.g. the MPICH wheel)."""

import numpy as np


class World:
    """The ranks of one job: ``rank``, ``size``, and collective operations on arrays."""

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
        return batch[self.rank::self.size]

    def allreduce_sum(self, arrays):
        """Sum each array over the ranks, with one message per dtype (arrays are fused)."""
        arrays = [np.asarray(a) for a in arrays]
        if self.comm is None:
            return [a.copy() for a in arrays]
        from mpi4py import MPI

        results = [None] * len(arrays)
        # One message per dtype, in the same order on every rank (a set's order is not).
        for dtype in sorted({a.dtype for a in arrays}, key=lambda d: d.str):
            group = [i for i, a in enumerate(arrays) if a.dtype == dtype]
            flat = np.concatenate([arrays[i].ravel() for i in group]) if group else None
            total = np.empty_like(flat)
            self.comm.Allreduce(flat, total, op=MPI.SUM)
            offset = 0
            for i in group:
                n = arrays[i].size
                results[i] = total[offset:offset + n].reshape(arrays[i].shape)
                offset += n
        return results

    def broadcast(self, arrays, root=0):
        """Every rank receives root's copies of ``arrays``."""
        arrays = [np.ascontiguousarray(a) for a in arrays]
        if self.comm is not None:
            for a in arrays:
                self.comm.Bcast(a, root=root)
        return arrays

    def mean(self, value):
        """The mean of a scalar over the ranks (for logging losses and accuracies)."""
        return float(self.allreduce_sum([np.array([value], np.float64)])[0][0]) / self.size


def init():
    """The world this process runs in: MPI's COMM_WORLD under mpiexec, else one rank."""
    try:
        from mpi4py import MPI
    except ImportError:
        return World(None)
    comm = MPI.COMM_WORLD
    return World(comm if comm.Get_size() > 1 else None)


class DataParallel:
    """Keeps a model's parameters identical across ranks and averages their gradients.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> parallel = cr.distributed.DataParallel([w])   # one rank outside mpiexec
    >>> parallel.world.size
    1
    """

    def __init__(self, module_or_parameters, world=None):
        self.world = world or init()
        params = module_or_parameters
        if hasattr(params, "parameters"):
            params = params.parameters()
        self.parameters = list(params)
        self.broadcast_parameters()

    def broadcast_parameters(self, root=0):
        """Give every rank root's parameter values (call after building the model)."""
        values = self.world.broadcast([p.data for p in self.parameters], root)
        for p, value in zip(self.parameters, values):
            p.data = value

    def average_gradients(self, weight=1.0):
        """Replace each gradient by the weighted mean over the ranks.

        ``weight`` is this rank's share of the global batch (its sample count); with
        mean-reduced losses this makes the result the whole batch's gradient.
        """
        from ..tensor import Tensor

        with_grad = [p for p in self.parameters if p.grad is not None]
        sums = self.world.allreduce_sum([p.grad.data * weight for p in with_grad]
                                        + [np.array([weight], np.float64)])
        total = sums.pop()[0]
        for p, g in zip(with_grad, sums):
            p.grad = Tensor._new((g / total).astype(p.data.dtype, copy=False))
