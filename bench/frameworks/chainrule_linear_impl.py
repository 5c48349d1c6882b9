"""chainrule with cr.nn.Linear's weight layout: out x in, and the fused ``cr.linear`` op.

Every other entry stores W in x out and computes ``x @ W + b``; this one shows what the
PyTorch-style layout costs on the same BLAS (``x @ W.T`` is a transposed-operand product).
"""

from bench.frameworks.chainrule_impl import VERSION  # noqa: F401
from bench.frameworks.chainrule_impl import make_mlp_step_linear as make_mlp_step  # noqa: F401
