"""Module and Parameter: the containers that hold a network's trainable state.

A Module registers the Parameters and sub-modules assigned to its attributes, in
assignment order, as PyTorch does; ``named_parameters()``, ``state_dict()`` and the
repr all follow that order. Buffers (:meth:`Module.register_buffer`) are state that is
not trained, such as BatchNorm's running statistics: they sit beside the parameters in
``state_dict()`` (persistent ones only) but not in ``parameters()``.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self

import numpy as np

from ..autograd import scopes as _scopes
from ..tensor import Tensor, _as_array
from ..typing import DTypeLike, TensorLike


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable: a leaf with ``requires_grad=True``.

    A Tensor's data is shared (as in PyTorch); other data is copied. The dtype is kept.

    >>> import numpy as np
    >>> from chainrule.nn import Parameter
    >>> p = Parameter(np.zeros((2, 3)))
    >>> p.requires_grad, p.is_leaf, p.dtype
    (True, True, dtype('float64'))
    """

    __slots__ = ()

    def __init__(
        self, data: TensorLike, requires_grad: bool = True, name: str | None = None
    ) -> None:
        if isinstance(data, Tensor):
            name = data.name if name is None else name
            array = data.data
        else:
            array = _as_array(data)
        # Tensor.__init__ copies what it is given: give it nothing, then share the array.
        super().__init__((), name=name)
        self.data = array
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


# Parameters whose name was given by registration (not by the user), keyed by id: a
# Tensor compares elementwise, so it cannot be a key of a weak-keyed dict.
_AUTO_NAMED: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def _name_after_path(param: Tensor, path: str, old_path: str | None = None) -> None:
    """Name ``param`` after its path unless the user named it."""
    if param.name is None or (_AUTO_NAMED.get(id(param)) is param and param.name == old_path):
        param.name = path
        _AUTO_NAMED[id(param)] = param


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _add_indent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of layers and networks: subclasses set attributes and define ``forward``.

    >>> import chainrule as cr
    >>> class Affine(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = cr.nn.Parameter(cr.ones(2))
    ...         self.inner = cr.nn.Linear(2, 2, rng=0)
    ...     def forward(self, x):
    ...         return self.inner(x) * self.scale
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale', 'inner.weight', 'inner.bias']
    """

    # Set in __init__ through object.__setattr__ (declared here for type checkers).
    _parameters: OrderedDict[str, Parameter | None]
    _buffers: OrderedDict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: OrderedDict[str, Module | None]
    training: bool

    def __init__(self) -> None:
        # Set through object.__setattr__: our own __setattr__ needs these to exist.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        modules = self.__dict__.get("_modules")
        buffers = self.__dict__.get("_buffers")
        if isinstance(value, (Parameter, Module)):
            if params is None or modules is None:
                raise AttributeError(
                    f"cannot assign {type(value).__name__} {name!r} before Module.__init__() is "
                    "called"
                )
            self.__dict__.pop(name, None)
            self._forget_buffer(name)
            if isinstance(value, Parameter):
                modules.pop(name, None)
                self.register_parameter(name, value)
            else:
                params.pop(name, None)
                self.add_module(name, value)
        elif buffers is not None and name in buffers:
            buffers[name] = value = self._as_buffer(name, value)
            if value is not None:
                _name_after_path(value, name)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r} "
                    "(a Parameter or None is expected)"
                )
            params[name] = None
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to module {name!r} "
                    "(a Module or None is expected)"
                )
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when ordinary lookup fails: parameters, buffers and modules live in dicts.
        for store in ("_parameters", "_buffers", "_modules"):
            members = self.__dict__.get(store)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._modules):
            if name in store:
                del store[name]
                return
        if name in self.__dict__.get("_buffers", ()):
            self._forget_buffer(name)
            return
        object.__delattr__(self, name)

    def _forget_buffer(self, name):
        buffers = self.__dict__.get("_buffers")
        if buffers is not None:
            buffers.pop(name, None)
            self._non_persistent_buffers_set.discard(name)

    @staticmethod
    def _as_buffer(name: str, value: Tensor | np.ndarray | None) -> Tensor | None:
        """A buffer's value: a Tensor, None, or an ndarray (wrapped without a copy)."""
        if value is None or isinstance(value, Tensor):
            return value
        if isinstance(value, np.ndarray):
            return Tensor._new(value)
        raise TypeError(
            f"cannot assign {type(value).__name__} as buffer {name!r} (a Tensor, "
            "an ndarray or None is expected)"
        )

    def register_buffer(
        self, name: str, tensor: Tensor | np.ndarray | None, persistent: bool = True
    ) -> None:
        """Register ``tensor`` (a Tensor, an ndarray or None) as the buffer ``name``: state
        that is not trained, such as BatchNorm's running statistics.

        Buffers are attributes (``self.name``), listed by :meth:`named_buffers` and, when
        ``persistent``, saved by :meth:`state_dict` and restored by :meth:`load_state_dict`.
        A None buffer is left out of both, as in PyTorch.

        >>> import chainrule as cr, numpy as np
        >>> m = cr.nn.Module()
        >>> m.register_buffer("steps", np.array(0))
        >>> m.register_buffer("cache", np.zeros(2), persistent=False)
        >>> list(m.state_dict()), [name for name, _ in m.named_buffers()]
        (['steps'], ['steps', 'cache'])
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() is called")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string, got {type(name).__name__}")
        if "." in name or not name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        buffer = self._as_buffer(name, tensor)
        if buffer is not None:
            _name_after_path(buffer, name)
        self._buffers[name] = buffer
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter or None) as ``name``; it is named if unnamed."""
        if "." in name or not name:
            raise KeyError(f"parameter name must be a non-empty string without '.', got {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot register {type(param).__name__} as parameter {name!r} "
                "(wrap it in nn.Parameter)"
            )
        if param is not None:
            _name_after_path(param, name)
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None) as the child ``name``.

        Parameters the child named after their own path (``weight``, ``0.bias``) are
        renamed after the path from here (``fc.weight``), so graph pictures show where
        each came from; names chosen by the user are kept.
        """
        if "." in name or not name:
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module")
        self._modules[name] = module
        if module is not None:
            for path, tensor in (*module.named_parameters(), *module.named_buffers()):
                _name_after_path(tensor, f"{name}.{path}", old_path=path)

    # ------------------------------------------------------------------ traversal
    def named_modules(
        self, prefix: str = "", remove_duplicate: bool = True, memo: set[int] | None = None
    ) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module and every descendant (shared ones once)."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(
                    f"{prefix}.{name}" if prefix else name, remove_duplicate, memo
                )

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, each once."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for the direct children."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct children."""
        for _, module in self.named_children():
            yield module

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` in registration order, e.g. ``0.weight``."""
        seen = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, param in module._parameters.items():
                if param is None or (remove_duplicate and id(param) in seen):
                    continue
                seen.add(id(param))
                yield (f"{module_prefix}.{name}" if module_prefix else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The Parameters, each once, in registration order (what optimizers take)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, Tensor)`` for every buffer (None ones left out), e.g.
        ``0.running_mean``."""
        seen = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, buffer in module._buffers.items():
                if buffer is None or (remove_duplicate and id(buffer) in seen):
                    continue
                seen.add(id(buffer))
                yield (f"{module_prefix}.{name}" if module_prefix else name), buffer

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers, each once, in registration order."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # ------------------------------------------------------------------ state
    def _named_state(self):
        """What ``state_dict`` holds, as PyTorch orders it: each module's parameters, then
        its persistent buffers, module by module (shared ones under every name)."""
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dot + name, param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers_set:
                    yield dot + name, buffer

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """An ordered ``name -> ndarray`` copy of every parameter and persistent buffer."""
        return OrderedDict((name, tensor.data.copy()) for name, tensor in self._named_state())

    def _upgrade_state_dict(self, state_dict, prefix):
        """Fill in, in ``state_dict`` (a copy), entries that older checkpoints lack and that
        this module can do without (BatchNorm's ``num_batches_tracked``, as in PyTorch)."""

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Copy values from ``state_dict`` into the parameters and persistent buffers (all
        or nothing), each in its own dtype (``num_batches_tracked`` stays int64).

        PyTorch's state dicts load once converted to arrays (``{k: v.numpy()}``).
        Raises RuntimeError listing missing and unexpected keys (when ``strict``) and
        shape mismatches (always); returns ``(missing_keys, unexpected_keys)``.
        """
        state_dict = OrderedDict(state_dict)
        for prefix, module in self.named_modules(remove_duplicate=False):
            module._upgrade_state_dict(state_dict, f"{prefix}." if prefix else "")
        own = OrderedDict(self._named_state())
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        errors, values = [], []
        for key, param in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if value.shape != param.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{value.shape} from checkpoint, the shape in current model is "
                    f"{param.shape}."
                )
            values.append((param, value))
        if strict and unexpected:
            errors.insert(
                0,
                "Unexpected key(s) in state_dict: "
                + ", ".join(f'"{key}"' for key in unexpected)
                + ".",
            )
        if strict and missing:
            errors.insert(
                0, "Missing key(s) in state_dict: " + ", ".join(f'"{key}"' for key in missing) + "."
            )
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        for param, value in values:
            # New memory rather than an in-place write: graphs that saved the old values
            # keep them, as after ``p.data = ...``.
            param.data = np.array(value, dtype=param.dtype)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Self:
        """Set training mode here and in every descendant; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Self:
        """Set evaluation mode (Dropout becomes the identity); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad = Tensor._new(np.zeros_like(param.data))

    def apply(self, fn: Callable[[Module], object]) -> Self:
        """Call ``fn`` on every descendant, then on this module (e.g. custom init)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, dtype: DTypeLike) -> Self:
        """Convert every parameter's data, and every floating-point buffer's, to ``dtype``
        in place (gradients are cleared; integer buffers such as counts stay as they are)."""
        for param in self.parameters():
            param.data = param.data.astype(dtype)
            param.grad = None
        for buffer in self.buffers():
            if np.issubdtype(buffer.dtype, np.floating):
                buffer.data = buffer.data.astype(dtype)
        return self

    def double(self) -> Self:
        return self.to(np.float64)

    def float(self) -> Self:
        return self.to(np.float32)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _scopes.recording:  # cr.viz.record_scopes(): note which ops this call makes
            return _scopes.call(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The text inside this module's parentheses (its settings)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): {_add_indent(repr(module), 2)}" for name, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        text = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"
