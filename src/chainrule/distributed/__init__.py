"""Data-parallel training over MPI.

Every rank holds the whole model and the same data order; each takes its own slice
of every global batch, computes gradients, and one allreduce per step averages them
(weighted by slice size), so all ranks apply the same update as a single process
would on the whole batch. Without mpi4py (or outside ``mpiexec``) the world has one
rank and the same code runs unchanged.

    mpiexec -n 4 python train_script.py

Nothing hangs: ranks that call different collectives, or hold different parameters,
get a :class:`DistributedError` on every rank; a rank that fails or exits while others
wait for it ends the whole job within seconds, its error printed once (see
:mod:`chainrule.distributed.guard`).
"""

from .guard import report_error
from .parallel import DataParallel, DistributedError, World, init

__all__ = ["DataParallel", "DistributedError", "World", "init", "report_error"]
