"""The autodiff engine, grad-mode switches and function transforms."""
