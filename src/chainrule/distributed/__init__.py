"""Data-parallel training over MPI.

Every rank holds the whole model and the same data order; each takes its own slice
of every global batch, computes gradients, and one allreduce per step averages them
(weighted by slice size), so all ranks apply the same update as a single process
would on the whole batch. Without mpi4py (or outside ``mpiexec``) the world has one
rank and the same code runs unchanged.

    mpiexec -n 4 python train_script.py
"""

from .parallel import DataParallel, World, init

__all__ = ["DataParallel", "World", "init"]
