"""Optimizer base class: parameter groups, per-parameter state and checkpoints.

Every optimizer updates ``p.data`` outside autograd, one parameter at a time, in
the parameter's own dtype. Gradients are read, never written: ``p.grad`` may
share memory with other arrays, so updates always build new arrays from it.

A parameter's array is updated in place, as PyTorch's optimizers do (no new array
per parameter and step), unless a graph that backward has not freed yet saved it:
that parameter gets a new array instead, so the graph keeps the values it saw.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import numpy as np

from ..tensor import Tensor, _saved_by_graph

#: What an optimizer is given: Tensors, or dicts with a ``"params"`` entry (param groups).
Params: TypeAlias = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class for optimizers; subclasses define ``_init_state`` and ``_update``.

    ``params`` is an iterable of Tensors, or of dicts with a ``"params"`` entry and
    per-group options that override ``defaults``. ``state`` maps each parameter to
    a dict of NumPy arrays and scalars.

    >>> import numpy as np
    >>> from chainrule import tensor
    >>> from chainrule.optim import SGD
    >>> a = tensor(np.zeros(2), requires_grad=True)
    >>> b = tensor(np.zeros(3), requires_grad=True)
    >>> opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> [group["lr"] for group in opt.param_groups]
    [0.1, 0.5]
    """

    # State entries that are counters, not arrays shaped like the parameter.
    _scalar_state = ("step",)

    def __init__(self, params: Params, defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        if isinstance(params, (Tensor, dict)):
            raise TypeError(
                f"{self._name}: params must be an iterable of Tensors or of dicts, "
                f"got a single {type(params).__name__}"
            )
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            options = ", ".join(f"{k}={v!r}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {options}")
        return "\n".join(lines + [")"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters; options it leaves out take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{self._name}: a param group must be a dict, got {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a param group needs a 'params' entry")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError(f"{self._name}: some parameters appear more than once")
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        """Raise ValueError for hyper-parameters out of range (subclasses extend)."""
        self._require(group["lr"] >= 0, "lr", group["lr"], ">= 0")

    def _require(self, ok, name, value, expected):
        if not ok:
            raise ValueError(f"{self._name}: invalid {name}={value!r}, expected {expected}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: set them to None, or to new zero Tensors."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                # A new Tensor rather than zeroing in place: the old gradient's
                # array may be shared with other tensors.
                p.grad = None if set_to_none else Tensor(np.zeros_like(p.data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if given."""
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.data if isinstance(p.grad, Tensor) else p.grad
                grad = np.asarray(grad, dtype=p.data.dtype)
                if grad.shape != p.data.shape:
                    raise ValueError(
                        f"{self._name}: gradient of shape {grad.shape} for a "
                        f"parameter of shape {p.data.shape}"
                    )
                state = self.state.setdefault(p, {})
                if not state:
                    self._init_state(state, p.data, group)
                array = p._data
                if _writable_in_place(p, array):
                    self._update(array, grad, state, group, out=array)
                else:
                    p.data = self._update(array, grad, state, group)
        return loss

    def _init_state(self, state, param, group):
        """Fill a parameter's empty state before its first update."""

    def _update(self, param, grad, state, group, out=None):
        """Return the new value of ``param`` (an ndarray) given its gradient, written
        into ``out`` when it is given (``param`` itself, for an update in place)."""
        raise NotImplementedError

    @staticmethod
    def _direction(param, grad, group, l2=True):
        """The gradient an update follows: negated for ``maximize``, then (``l2``) plus
        ``weight_decay * param``, in that order as in PyTorch's algorithms."""
        if group["maximize"]:
            grad = -grad
        weight_decay = float(group["weight_decay"])
        if l2 and weight_decay != 0:
            grad = grad + weight_decay * param
        return grad

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Return ``{"state": {index: {name: value}}, "param_groups": [...]}``.

        Parameters are numbered in the order of the groups, as in PyTorch; values
        are copies made of NumPy arrays, Python scalars and lists only, so
        :func:`flatten_state_dict` can store them without pickle.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _to_plain(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {name: _to_plain(value) for name, value in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a dict from :meth:`state_dict` (or from :func:`unflatten_state_dict`).

        The groups must hold as many parameters as when it was saved. Arrays are
        copied and cast to each parameter's dtype.
        """
        saved_groups = _as_list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{self._name}.load_state_dict: the state dict has "
                f"{len(saved_groups)} param groups, the optimizer has "
                f"{len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            indices = [int(k) for k in np.asarray(saved["params"]).reshape(-1)]
            if len(indices) != len(group["params"]):
                raise ValueError(
                    f"{self._name}.load_state_dict: param group {i} has "
                    f"{len(indices)} params in the state dict, "
                    f"{len(group['params'])} in the optimizer"
                )
            by_index.update(zip(indices, group["params"]))
            # Options missing from the state dict keep their current values.
            new_group = dict(group)
            new_group.update(
                (k, _from_plain(v, like=group.get(k))) for k, v in saved.items() if k != "params"
            )
            self._check_group(new_group)
            new_groups.append(new_group)
        new_state = {}
        for key, saved in state_dict.get("state", {}).items():
            if int(key) not in by_index:
                raise ValueError(
                    f"{self._name}.load_state_dict: state for unknown parameter index {key}"
                )
            p = by_index[int(key)]
            new_state[p] = {name: self._load_value(name, value, p) for name, value in saved.items()}
        self.param_groups = new_groups
        self.state = new_state

    def _load_value(self, name, value, p):
        if name in self._scalar_state:
            return int(np.asarray(value))
        array = np.array(value, dtype=p.data.dtype)
        if array.shape != p.data.shape:
            raise ValueError(
                f"{self._name}.load_state_dict: state {name!r} has shape "
                f"{array.shape}, its parameter has shape {p.data.shape}"
            )
        return array


def _to_plain(value):
    """Copy a state or option value as an ndarray, a Python scalar or a list."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(value, like=None):
    """Undo what saving did: 0-d arrays become scalars, 1-d arrays lists or tuples."""
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.item() if np.ndim(value) == 0 else value.tolist()
    if isinstance(like, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(like, bool) and not isinstance(value, str):
        return bool(value)
    return value


def _as_list(groups):
    # After unflatten_state_dict, a list comes back as a dict keyed "0", "1", ...
    if isinstance(groups, dict):
        return [groups[k] for k in sorted(groups, key=int)]
    return list(groups)


def flatten_state_dict(state_dict: Mapping[str, Any], sep: str = ".") -> dict[str, np.ndarray]:
    """Flatten a nested state dict into ``{"a.b.c": ndarray}``, ready for ``np.savez``.

    Lists of dicts are numbered; lists of numbers become arrays.

    >>> flat = flatten_state_dict({"state": {0: {"step": 3}},
    ...                            "param_groups": [{"lr": 0.1, "params": [0]}]})
    >>> sorted(flat)
    ['param_groups.0.lr', 'param_groups.0.params', 'state.0.step']
    >>> unflatten_state_dict(flat)["state"]["0"]["step"]
    array(3)
    """
    flat = {}

    def visit(prefix, value):
        if isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value):
            value = dict(enumerate(value))
        if isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                if sep in key:
                    raise ValueError(f"flatten_state_dict: key {key!r} contains {sep!r}")
                visit(f"{prefix}{sep}{key}" if prefix else key, item)
        else:
            array = np.asarray(value)
            if array.dtype == object:
                raise TypeError(
                    f"flatten_state_dict: {prefix!r} holds {type(value).__name__},"
                    f" which cannot be stored without pickle"
                )
            flat[prefix] = array

    visit("", state_dict)
    return flat


def unflatten_state_dict(flat: Mapping[str, Any], sep: str = ".") -> dict[str, Any]:
    """Nest the output of :func:`flatten_state_dict` again (keys stay strings).

    ``load_state_dict`` of optimizers and schedulers accepts the result as is.
    """
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(sep)
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _writable_in_place(p, array):
    """Whether ``p``'s array may be updated in place: no live graph saved it (a retained
    graph, or a forward made before the step, still reads the old values), and it is a
    writable array of its own."""
    return (
        not _saved_by_graph(p)
        and type(array) is np.ndarray
        and array.flags.writeable
        and array.base is None
    )
