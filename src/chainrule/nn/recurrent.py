"""Recurrent layers: RNN, LSTM and GRU over whole sequences, and their one-step cells.

Names, arguments, defaults, parameter names and shapes, gate order (i, f, g, o for the
LSTM, r, z, n for the GRU) and initialisation (every parameter from
U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))) are PyTorch's, so a PyTorch state_dict
loads once converted to arrays (``load_state_dict({k: v.numpy()})``).

An LSTM layer runs each direction as two nodes: one product for every step's input
projection (``step_linear`` over the whole (T, N, in) sequence) and ``lstm_sequence``,
the loop over the steps, whose rules are backpropagation through time (W_hh's gradient
one product over all steps, not a share per step). While scopes are recorded
(``cr.viz.record_scopes()``, for pictures grouped by module) it is unrolled instead, one
``lstm_step`` node per step inside a scope named ``t=...``, so that each step is drawn
as a box; both compute the same values (the suite checks it). A GRU or RNN step is
always unrolled: its two projections and ``gru_cell``, or the projections (the input's
added in place into the hidden one) and its tanh or relu.

An unrolled step projects its own slice of the input. One product over all steps,
sliced per step, would give every slice's gradient the shape of the whole (T, N, 4H)
product: backward would cost O(T^2) (13 ms of zero-filled copies at 32 steps of the
benchmark's LSTM, 4x that at 64), while per-step products take the same BLAS time (48 us
a step for 32 x 64 x 1024, thread time). Without a graph (``no_grad``, sampling) the
projection is one product.

>>> import chainrule as cr
>>> lstm = LSTM(4, 8, num_layers=2, rng=0)
>>> out, (h, c) = lstm(cr.randn(5, 3, 4))
>>> out.shape, h.shape, c.shape
((5, 3, 8), (2, 3, 8), (2, 3, 8))
>>> [name for name, _ in lstm.named_parameters()][:4]
['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
"""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext
from typing import Any

import numpy as np

from ..autograd.mode import GradMode
from ..errors import ShapeError
from ..ops import concatenate, getitem, matmul, relu, reshape, stack, swapaxes, tanh, transpose
from ..ops.recurrent import _gru_cell, _lstm_cell, _lstm_sequence, _lstm_step, step_linear
from ..ops.registry import Case, Spec, composite, data_of
from ..tensor import Tensor
from ..typing import DTypeLike, Seed
from . import functional as F
from . import init
from .module import Module, Parameter

try:  # per-step boxes in grouped graph pictures
    from ..autograd import scopes as _scopes
except ImportError:  # pragma: no cover - the views that draw them are optional
    _scopes = None  # type: ignore[assignment]

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _dtype(dtype):
    return np.dtype(np.float32 if dtype is None else dtype)


def _shape(x):
    return np.shape(data_of(x))


def _scope(name, on):
    return _scopes.scope(name) if on else nullcontext()


def _recording():
    return _scopes is not None and _scopes.recording


def _project(x, weight, bias):
    """``x @ weight.T + bias``: one ``step_linear`` node (feature-major, see its note);
    ``bias`` may be the input's projection, added in place."""
    return step_linear(x, weight, bias)


def _needs_graph(*values):
    return GradMode.enabled and any(isinstance(v, Tensor) and v.requires_grad for v in values)


def _steps_call(f, x):
    """How the suite calls time_steps: the steps flattened, one after another."""
    return concatenate([reshape(step, (-1,)) for step in f(x)])


@composite(
    Spec(
        [Case(((5, 2, 3),)), Case(((1, 4),)), Case(((8,),))],
        call=_steps_call,
        ref=lambda np, x: np.reshape(x, (-1,)),
    )
)
def time_steps(x):
    """The steps of a time-major sequence ``x`` (T, ...) as T tensors (...).

    A sequence that needs a gradient is halved, the halves halved again, down to single
    steps: each step's gradient then travels up log2(T) levels of slices, O(T log T) in
    all, where T slices of the whole would cost O(T^2) (a slice's gradient has the
    whole's shape). Anything else is sliced without a graph.
    """
    length = _shape(x)[0]
    if not _needs_graph(x):
        data = data_of(x)
        return [data[t] for t in range(length)]
    steps, pending = [None] * length, [(x, 0, length)]
    while pending:
        part, start, stop = pending.pop()
        if stop - start == 1:
            steps[start] = getitem(part, 0)
            continue
        middle = (stop - start) // 2
        pending.append((getitem(part, slice(middle, None)), start + middle, stop))
        pending.append((getitem(part, slice(0, middle)), start, start + middle))
    return steps


def _projections(sequence, params):
    """Every step's input projection from one product when no graph is recorded (no_grad,
    sampling, inputs and weights that need no gradient); None otherwise."""
    if _needs_graph(params.w_ih, params.bias) or sequence.needs_graph():
        return None
    return list(data_of(_project(data_of(sequence.whole()), params.w_ih, params.bias)))


class _Sequence:
    """A layer's input or output in one direction, as its steps (T tensors (N, F)) or
    as one (T, N, F) tensor: whichever the layer reading it asks for is made from the
    other when it is not there. An unrolled LSTM's steps are packed states (h, c), whose
    h is the output."""

    __slots__ = ("_steps", "_whole", "_packed")

    def __init__(self, steps=None, whole=None, packed=False):
        self._steps, self._whole, self._packed = steps, whole, packed

    def steps(self):
        """The per-step tensors (N, F)."""
        if self._steps is None:
            self._steps = time_steps(self._whole)
        elif self._packed:
            self._steps, self._packed = [getitem(s, 0) for s in self._steps], False
        return self._steps

    @property
    def dtype(self):
        return data_of(self._whole if self._whole is not None else self._steps[0]).dtype

    def needs_graph(self):
        """Whether a gradient flows back into the sequence."""
        if self._whole is not None:
            return _needs_graph(self._whole)
        return _needs_graph(*self._steps)

    def whole(self):
        """The sequence as one (T, N, F) tensor."""
        if self._whole is None:
            stacked = stack(self._steps)
            self._whole = getitem(stacked, (slice(None), 0)) if self._packed else stacked
        return self._whole


def _joined(directions):
    """The directions' outputs side by side (their features concatenated)."""
    if len(directions) == 1:
        return directions[0]
    if all(d._whole is not None for d in directions):
        return _Sequence(whole=concatenate([d.whole() for d in directions], axis=-1))
    return _Sequence(
        steps=[concatenate(pair, axis=-1) for pair in zip(*(d.steps() for d in directions))]
    )


def _reset(module, hidden_size):
    """Every parameter of ``module`` from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as
    new arrays (graphs that saved the old values keep them, as after ``p.data = ...``)."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for weight in module.parameters():
        weight.data = init.uniform_(np.empty_like(weight.data), -bound, bound, module.rng)


class _Direction:
    """One layer's parameters in one direction, as the loops read them."""

    __slots__ = ("b_hh", "b_ih", "bias", "w_hh", "w_hr", "w_ih")
    b_ih: Any  # Parameters, or None when the module has no biases
    b_hh: Any

    def __init__(self, module, suffix, mode):
        def get(name):
            return getattr(module, name + suffix)

        self.w_ih, self.w_hh = get("weight_ih"), get("weight_hh")
        self.b_ih, self.b_hh = (get("bias_ih"), get("bias_hh")) if module.bias else (None, None)
        self.w_hr = get("weight_hr") if getattr(module, "proj_size", 0) else None
        # RNN and LSTM add both biases to the gates: one sum per sequence. The GRU's hidden
        # bias sits inside r * (W_hn h + b_hn) and stays apart.
        self.bias = self.b_ih if mode == "GRU" or not module.bias else self.b_ih + self.b_hh


class RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters, checks, the layer and direction loops."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if (
            not isinstance(dropout, (int, float))
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                f"{name}: dropout should be a number in range [0, 1] "
                "representing the probability of an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so "
                "non-zero dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        if not isinstance(hidden_size, (int, np.integer)) or isinstance(hidden_size, bool):
            raise TypeError(
                f"{name}: hidden_size should be of type int, got: {type(hidden_size).__name__}"
            )
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        self.rng = init.as_generator(rng)
        gates = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        directions = 2 if bidirectional else 1
        dtype = _dtype(dtype)
        self._flat_weights_names = []
        bound = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            width = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes: dict[str, tuple[int, ...]] = {
                    "weight_ih": (gates, width),
                    "weight_hh": (gates, real_hidden),
                }
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for kind, shape in shapes.items():
                    # Filled as arrays, then wrapped: fresh parameters have no in-place
                    # history for the graph to check.
                    values = init.uniform_(np.empty(shape, dtype), -bound, bound, self.rng)
                    setattr(self, kind + suffix, Parameter(values))
                    self._flat_weights_names.append(kind + suffix)

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _reset(self, self.hidden_size)

    def flatten_parameters(self) -> None:
        """Nothing to do here (PyTorch packs its weights for cuDNN)."""

    @property
    def all_weights(self):
        """The parameters of each layer and direction, as lists (PyTorch's order)."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[k : k + per]] for k in range(0, len(names), per)]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text

    # ------------------------------------------------------------------ checks
    def _time_major(self, input):
        """The input as (T, N, input_size), and whether it came without a batch axis."""
        shape = _shape(input)
        name = type(self).__name__
        if len(shape) not in (2, 3):
            raise ShapeError(
                f"{name}: Expected input to be 2D or 3D, got {len(shape)}D instead (shape {shape})"
            )
        if shape[-1] != self.input_size:
            raise ShapeError(
                f"{name}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {shape[-1]} (input of shape {shape})"
            )
        if len(shape) == 2:
            return reshape(input, (shape[0], 1, shape[1])), False
        return (swapaxes(input, 0, 1) if self.batch_first else input), True

    def _initial(self, state, batch, size, batched, what):
        """A given initial state as (layers * directions, N, size)."""
        shape = _shape(state)
        name = type(self).__name__
        if len(shape) != (3 if batched else 2):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise ShapeError(
                f"{name}: For {kind} input, {what} should also be "
                f"{3 if batched else 2}-D but got {len(shape)}-D tensor"
            )
        if not batched:
            state = reshape(state, (shape[0], 1, shape[1]))
        expected = (self.num_layers * (2 if self.bidirectional else 1), batch, size)
        if _shape(state) != expected:
            raise ShapeError(
                f"{name}: Expected {what} size {expected}, got "
                f"{list(_shape(state)) if batched else list(shape)}"
            )
        return state

    # ------------------------------------------------------------------ the loops
    def _run(self, input, initial):
        """Every layer and direction over the sequence: (output, [final states per kind]).

        ``initial`` is a list of (layers * directions, N, size) states (h, and c for the
        LSTM), or None for zeros.
        """
        x, batched = self._time_major(input)
        length, batch = _shape(x)[:2]
        if length == 0:
            raise ShapeError(
                f"{type(self).__name__}: the input has no time steps (shape {_shape(input)})"
            )
        directions = 2 if self.bidirectional else 1
        scoped = _recording()
        sequence = _Sequence(whole=x)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                index = layer * directions + direction
                start = None if initial is None else [getitem(s, index) for s in initial]
                with _scope(suffix[1:], scoped and self.num_layers * directions > 1):
                    params = _Direction(self, suffix, self.mode)
                    seq, last = self._direction(
                        sequence, start, params, bool(direction), batch, scoped
                    )
                outputs.append(seq)
                finals.append(last)
            sequence = _joined(outputs)
            if layer < self.num_layers - 1 and self.dropout and self.training:
                sequence = _Sequence(
                    whole=F.dropout(sequence.whole(), self.dropout, True, self.rng)
                )
        output = sequence.whole()
        if not batched:
            output = reshape(output, (length,) + _shape(output)[2:])
        elif self.batch_first:
            output = swapaxes(output, 0, 1)
        states = []
        for kind in range(len(finals[0])):
            state = stack([last[kind] for last in finals])
            states.append(state if batched else reshape(state, (_shape(state)[0], -1)))
        return output, states

    def _zeros(self, sequence, *shape):
        """A zero state of ``shape`` (..., N, size) in the dtype of the input ``sequence``
        and the weights, feature-major (its last two axes swapped in memory) as the steps'
        own states are."""
        dtype = np.result_type(sequence.dtype, self.weight_ih_l0.dtype)
        return np.zeros(shape[:-2] + (shape[-1], shape[-2]), dtype).swapaxes(-1, -2)

    def _direction(self, sequence, start, params, reverse, batch, scoped):
        """One layer in one direction over its input ``sequence``: the output sequence and
        the final state(s)."""
        raise NotImplementedError


class RNN(RNNBase):
    """An Elman RNN, ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu),
    over a sequence (T, N, input_size) (N first with ``batch_first``; (T, input_size)
    unbatched). ``forward(input, hx=None)`` returns ``(output, h_n)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            rng=rng,
        )

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        initial = None
        if hx is not None:
            x_shape = _shape(input)
            batched = len(x_shape) == 3
            batch = (x_shape[0] if self.batch_first else x_shape[1]) if batched else 1
            initial = [self._initial(hx, batch, self.hidden_size, batched, "hidden")]
        output, (h_n,) = self._run(input, initial)
        return output, h_n

    def _direction(self, sequence, start, params, reverse, batch, scoped):
        steps, projected = sequence.steps(), _projections(sequence, params)
        act = tanh if self.mode == "RNN_TANH" else relu
        length = len(steps)
        h = (
            start[0]
            if start is not None
            else (None if length > 1 else self._zeros(sequence, batch, self.hidden_size))
        )
        outputs = [None] * length
        for t in range(length - 1, -1, -1) if reverse else range(length):
            with _scope(f"t={t}", scoped):
                pre = projected[t] if projected else _project(steps[t], params.w_ih, params.bias)
                if h is not None:
                    pre = _project(h, params.w_hh, pre)
                h = outputs[t] = act(pre)
        return _Sequence(steps=outputs), (h,)


class LSTM(RNNBase):
    """A long short-term memory RNN over a sequence: gates i, f, g, o from
    ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh``, ``c_t = f c_{t-1} + i g``,
    ``h_t = o tanh(c_t)`` (projected by ``weight_hr`` when ``proj_size > 0``).

    ``forward(input, hx=None)`` with ``hx = (h_0, c_0)`` returns
    ``(output, (h_n, c_n))``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            dtype=dtype,
            rng=rng,
        )

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        initial = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
            x_shape = _shape(input)
            batched = len(x_shape) == 3
            batch = (x_shape[0] if self.batch_first else x_shape[1]) if batched else 1
            initial = [
                self._initial(
                    hx[0], batch, self.proj_size or self.hidden_size, batched, "hidden[0]"
                ),
                self._initial(hx[1], batch, self.hidden_size, batched, "hidden[1]"),
            ]
        output, (h_n, c_n) = self._run(input, initial)
        return output, (h_n, c_n)

    def _direction(self, sequence, start, params, reverse, batch, scoped):
        if params.w_hr is not None:
            return self._projected_direction(sequence, start, params, reverse, batch, scoped)
        # (h, c) packed, feature-major as the steps' states.
        state = self._zeros(sequence, 2, batch, self.hidden_size) if start is None else stack(start)
        if not scoped:
            # The whole loop as one node: one product for every step's input projection,
            # and backward through time in one rule (see ops.recurrent.lstm_sequence).
            gates = _project(sequence.whole(), params.w_ih, params.bias)
            states = _lstm_sequence(gates, state, params.w_hh, reverse=reverse)
            last = 0 if reverse else _shape(states)[0] - 1
            return _Sequence(whole=getitem(states, (slice(None), 0))), (
                getitem(states, (last, 0)),
                getitem(states, (last, 1)),
            )
        # Drawn step by step (views grouping by module): one node per time step.
        steps, projected = sequence.steps(), _projections(sequence, params)
        length = len(steps)
        # From zeros the first step's hidden product adds exactly 0: the cell alone, unless
        # it is the only step (then the product gives W_hh its zero gradient, as PyTorch).
        cell_only = start is None and length > 1
        states = [None] * length
        for t in range(length - 1, -1, -1) if reverse else range(length):
            with _scope(f"t={t}", scoped):
                xg = projected[t] if projected else _project(steps[t], params.w_ih, params.bias)
                if cell_only:
                    state, cell_only = _lstm_cell(xg, state[1]), False
                else:
                    state = _lstm_step(xg, state, params.w_hh)
                states[t] = state
        return _Sequence(steps=states, packed=True), (getitem(state, 0), getitem(state, 1))

    def _projected_direction(self, sequence, start, params, reverse, batch, scoped):
        """With ``proj_size``: the cell, then h projected by ``weight_hr``."""
        steps, projected = sequence.steps(), _projections(sequence, params)
        length = len(steps)
        if start is not None:
            h, c = start
        else:
            c = self._zeros(sequence, batch, self.hidden_size)
            # A first product with zeros adds exactly 0: skipped, unless it is the only step
            # (then it gives W_hh its zero gradient, as PyTorch's does).
            h = None if length > 1 else self._zeros(sequence, batch, self.proj_size)
        outputs = [None] * length
        for t in range(length - 1, -1, -1) if reverse else range(length):
            with _scope(f"t={t}", scoped):
                gates = projected[t] if projected else _project(steps[t], params.w_ih, params.bias)
                if h is not None:
                    gates = _project(h, params.w_hh, gates)
                packed = _lstm_cell(gates, c)
                c = getitem(packed, 1)
                h = outputs[t] = matmul(getitem(packed, 0), transpose(params.w_hr))
        return _Sequence(steps=outputs), (h, c)


class GRU(RNNBase):
    """A gated recurrent unit RNN over a sequence: ``r, z = sigmoid(...)``,
    ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``, ``h' = (1 - z) n + z h``.

    ``forward(input, hx=None)`` returns ``(output, h_n)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            rng=rng,
        )

    forward = RNN.forward

    def _direction(self, sequence, start, params, reverse, batch, scoped):
        steps, projected = sequence.steps(), _projections(sequence, params)
        length = len(steps)
        h = start[0] if start is not None else self._zeros(sequence, batch, self.hidden_size)
        # From zeros the first hidden projection is its bias alone (exactly): skipped,
        # unless it is the only step (then W_hh gets its zero gradient, as in PyTorch).
        skip = start is None and length > 1
        outputs = [None] * length
        for t in range(length - 1, -1, -1) if reverse else range(length):
            with _scope(f"t={t}", scoped):
                gx = projected[t] if projected else _project(steps[t], params.w_ih, params.bias)
                if skip:
                    gh = (
                        params.b_hh
                        if params.b_hh is not None
                        else np.zeros(_shape(gx)[-1:], data_of(h).dtype)
                    )
                    skip = False
                else:
                    gh = _project(h, params.w_hh, params.b_hh)
                h = outputs[t] = _gru_cell(gx, gh, h)
        return _Sequence(steps=outputs), (h,)


# ----------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (G * hidden, input), ``weight_hh``
    (G * hidden, hidden), ``bias_ih`` and ``bias_hh`` (G * hidden), from
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dtype = _dtype(dtype)
        self.rng = init.as_generator(rng)
        gates = num_chunks * hidden_size
        bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (gates, input_size),
            "weight_hh": (gates, hidden_size),
        }
        if bias:
            shapes.update(bias_ih=(gates,), bias_hh=(gates,))
        else:
            self.bias_ih = self.bias_hh = None
        for name, shape in shapes.items():  # filled as arrays, then wrapped (see RNNBase)
            setattr(
                self,
                name,
                Parameter(init.uniform_(np.empty(shape, dtype), -bound, bound, self.rng)),
            )

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _reset(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text

    def _batched(self, input):
        """The input as (N, input_size), and whether it came without a batch axis."""
        shape = _shape(input)
        if len(shape) not in (1, 2):
            raise ShapeError(
                f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                f"{len(shape)}D instead (shape {shape})"
            )
        if shape[-1] != self.input_size:
            raise ShapeError(
                f"{type(self).__name__}: input has inconsistent input_size: got "
                f"{shape[-1]} expected {self.input_size} (shape {shape})"
            )
        return (input, True) if len(shape) == 2 else (reshape(input, (1, shape[0])), False)

    def _state(self, state, input, batch, batched, what="hidden"):
        """A given state as (N, hidden_size); zeros for None."""
        if state is None:
            dtype = np.result_type(data_of(input).dtype, self.weight_ih.dtype)
            return np.zeros((batch, self.hidden_size), dtype)
        shape = _shape(state)
        if len(shape) != (2 if batched else 1):
            raise ShapeError(
                f"{type(self).__name__}: Expected {what} to be "
                f"{2 if batched else 1}D for {2 if batched else 1}D input, got "
                f"{len(shape)}D (shape {shape})"
            )
        if not batched:
            state = reshape(state, (1, shape[0]))
        if _shape(state) != (batch, self.hidden_size):
            raise ShapeError(
                f"{type(self).__name__}: {what} of shape {shape} does not match "
                f"batch {batch} and hidden_size {self.hidden_size}"
            )
        return state

    def _gates(self, x, h):
        """``x W_ih^T + b_ih + h W_hh^T + b_hh``."""
        gates = _project(h, self.weight_hh, _project(x, self.weight_ih, self.bias_ih))
        return gates if self.bias_hh is None else gates + self.bias_hh


def _unbatched(value, batched):
    return value if batched else reshape(value, _shape(value)[1:])


class RNNCell(RNNCellBase):
    """One Elman RNN step, ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu);
    ``forward(input, hx=None)`` returns ``h'``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, dtype, rng)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._batched(input)
        h = self._state(hx, x, _shape(x)[0], batched)
        pre = self._gates(x, h)
        return _unbatched(tanh(pre) if self.nonlinearity == "tanh" else relu(pre), batched)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o, one fused ``lstm_cell``);
    ``forward(input, hx=None)`` with ``hx = (h, c)`` returns ``(h', c')``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, dtype, rng)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        x, batched = self._batched(input)
        batch = _shape(x)[0]
        if hx is None:
            h = c = self._state(None, x, batch, batched)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTMCell: hx must be a tuple (h, c)")
            h = self._state(hx[0], x, batch, batched, "hx[0]")
            c = self._state(hx[1], x, batch, batched, "hx[1]")
        packed = _lstm_cell(self._gates(x, h), c)
        return _unbatched(getitem(packed, 0), batched), _unbatched(getitem(packed, 1), batched)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n, one fused ``gru_cell``); ``forward(input, hx=None)``
    returns ``h'``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: DTypeLike = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, dtype, rng)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._batched(input)
        h = self._state(hx, x, _shape(x)[0], batched)
        gx = _project(x, self.weight_ih, self.bias_ih)
        gh = _project(h, self.weight_hh, self.bias_hh)
        return _unbatched(_gru_cell(gx, gh, h), batched)
