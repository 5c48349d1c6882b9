"""Hand-written NumPy (numpy_impl's formulas) under chainrule's allocator policy.

The same process-wide setting chainrule's workloads run with
(`chainrule.memory.reuse_freed_memory`): freed blocks are recycled instead of being
returned to the OS, so ratios against this variant compare the two at equal allocation
policy.
"""

from chainrule.memory import reuse_freed_memory

from bench.frameworks.numpy_impl import (
    VERSION,
    make_cnn_step,
    make_conv2d,  # noqa: F401
    make_mlp_step,
)

reuse_freed_memory()
