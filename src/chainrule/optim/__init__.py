"""Optimizers, learning-rate schedules and gradient clipping.

Update rules and defaults follow PyTorch's documented algorithms; updates run
on ``p.data`` in the parameter's dtype, outside autograd.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .clip import clip_grad_norm_
from .optimizer import Optimizer, flatten_state_dict, unflatten_state_dict
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "clip_grad_norm_",
    "lr_scheduler",
    "flatten_state_dict",
    "unflatten_state_dict",
]
