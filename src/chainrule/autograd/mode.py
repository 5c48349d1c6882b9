"""Switches that change how operations record: no_grad, enable_grad, detect_anomaly."""

import functools
from collections.abc import Callable
from typing import Any, Literal, Self, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


class GradMode:
    """Process-wide recording state, read by every op on the hot path."""

    enabled = True
    anomaly = False


class _Switch:
    """A context manager (and decorator) that sets one GradMode flag and restores it."""

    flag = "enabled"
    value = True

    def __enter__(self) -> Self:
        self._previous = getattr(GradMode, self.flag)
        setattr(GradMode, self.flag, self.value)
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        setattr(GradMode, self.flag, self._previous)
        return False

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature


class no_grad(_Switch):
    """Run operations without recording a graph (for updates and evaluation).

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    value = False


class enable_grad(_Switch):
    """Record a graph again inside a ``no_grad`` block."""

    value = True


class detect_anomaly(_Switch):
    """Make backward raise at the first op whose gradient holds NaN or inf, naming it."""

    flag = "anomaly"
    value = True


def is_grad_enabled() -> bool:
    return GradMode.enabled
