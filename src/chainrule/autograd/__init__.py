"""The autodiff engine, grad-mode switches and function transforms.

``cr.autograd.grad(outputs, inputs, ...)`` returns gradients without touching ``.grad``
(PyTorch's ``torch.autograd.grad``); ``cr.autograd.backward`` is the engine itself.
"""

__all__ = ["backward", "grad"]


def __getattr__(name):
    # Resolved on first use: tensor.py imports autograd.mode before the engine can load.
    if name in __all__:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
