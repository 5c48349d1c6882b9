"""Data-parallel training over MPI."""
