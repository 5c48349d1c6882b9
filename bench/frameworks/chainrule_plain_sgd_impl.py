"""chainrule_plain with the README's loop: ``optimizer.zero_grad()`` and ``cr.optim.SGD``."""

from bench.frameworks.chainrule_plain_impl import VERSION  # noqa: F401
from bench.frameworks.chainrule_plain_impl import (  # noqa: F401
    make_mlp_step_optimizer as make_mlp_step,
)
