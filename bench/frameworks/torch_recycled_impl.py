"""PyTorch eager (torch_impl's step) under chainrule's allocator policy, for a comparison
at equal allocation policy: PyTorch's CPU tensors come from the same glibc malloc."""

from chainrule.memory import reuse_freed_memory

from bench.frameworks.torch_impl import NUMPY_ARRAYS, VERSION, make_mlp_step  # noqa: F401

reuse_freed_memory()
