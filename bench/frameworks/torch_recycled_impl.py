"""PyTorch eager (torch_impl's step) under chainrule's allocator policy, for a comparison
at equal allocation policy: PyTorch's CPU tensors come from the same glibc malloc."""

from chainrule.memory import reuse_freed_memory

from bench.frameworks.torch_impl import (
    ALLOCATION_COUNTER,
    NUMPY_ARRAYS,  # noqa: F401
    VERSION,
    allocated_peak_mib,
    make_cnn_step,
    make_conv2d,
    make_mlp_step,
)

reuse_freed_memory()
