"""Train a multi-layer perceptron or a convolutional network on an offline dataset, or a
character-level LSTM language model on a text, with checkpoints that resume exactly.

:func:`train` runs the whole job described by a :class:`TrainConfig`: it loads the data
(standardised samples, or a text as character ids), builds the network, and after every
epoch writes ``checkpoint.npz`` (model, optimizer and data-loader state, configuration,
metrics), ``metrics.json`` and, at the end, ``curves.png`` into the output directory. A
run resumed from a checkpoint ends with exactly the parameters of an uninterrupted run.
:func:`evaluate` scores a model on arrays; :func:`evaluate_checkpoint` rebuilds a saved
model and scores it on its data; :func:`sample_checkpoint` generates text from a saved
language model (see :mod:`chainrule.train_text`).

>>> import tempfile
>>> config = TrainConfig(dataset="iris", hidden=(16,), epochs=3, out=tempfile.mkdtemp())
>>> result = train(config)
>>> result.epoch, len(result.history), 0.0 <= result.test_accuracy <= 1.0
(3, 3, True)
>>> sorted(evaluate_checkpoint(result.checkpoint))
['accuracy', 'confusion', 'loss', 'num_samples']
"""

import contextlib
import dataclasses
import errno
import itertools
import json
import math
import numbers
import os
import sys
import tempfile
import time
from typing import TypeGuard

import numpy as np

from . import nn, optim
from .autograd.mode import no_grad
from .data import DATASETS, DataLoader, load_dataset, one_hot
from .data.datasets import IMAGE_SHAPES
from .data.files import SOURCES as DATA_FILES
from .data.text import TEXT_DATASETS, TextStreams, load_text
from .distributed import DataParallel, init
from .errors import CheckpointError
from .serialization import load, save, write_atomically
from .tensor import Tensor
from .train_text import CLIP_NORM, CharLSTM, Unrolled, evaluate_text, parameter_shapes, sample

__all__ = [
    "TrainConfig",
    "TrainResult",
    "ConfigError",
    "NonFiniteLossError",
    "RunExistsError",
    "OutputError",
    "InsufficientMemoryError",
    "train",
    "evaluate",
    "evaluate_checkpoint",
    "sample_checkpoint",
    "load_model",
    "build_model",
    "build_optimizer",
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "WEIGHT_DECAY",
    "MODELS",
]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
LOSSES = ("cross_entropy", "mse", "hinge")
MODELS = ("mlp", "cnn", "lstm")
# What the settings left as None become for an MLP or a CNN (then CNN_DEFAULTS for a CNN).
CLASSIFIER_DEFAULTS = {"dataset": "digits", "activation": "relu", "epochs": 30}
# What the CNN settings left as None become: a LeNet-like network (two 5x5 convolutions
# of 32 and 64 channels, each followed by 2x2 max-pooling, then one hidden layer of 256),
# trained on randomly shifted images (the dataset's augmentation, see --augment).
CNN_DEFAULTS = {"hidden": (256,), "channels": (32, 64), "kernel": 5, "augment": True}
# A CNN's defaults for Adam and AdamW: smaller steps and no weight decay. On the mnist
# subset (5 epochs) AdamW at 3e-3 with decay 0.3 ended at 0.931 test accuracy, still
# underfitting the shifted images; at 1e-3 without decay 0.973 to 0.974.
CNN_LR = {"adam": 1e-3, "adamw": 1e-3}
# What an LSTM language model's settings left as None become. On the default text (the
# standard library, 0.46 M training characters) these reach 2.53, 2.37 and 2.33 bits per
# character on the test text after epochs 1 to 3 (about 18 s of CPU time each; 34 to 43 s
# on 2 cores busy with other work), and 2.32 after a fourth; hidden 128 at lr 1e-2
# stayed near 2.42 after 6 epochs, and 64-step chunks learnt slower per epoch.
LSTM_DEFAULTS = {
    "dataset": "text",
    "epochs": 3,
    "hidden": (256,),
    "layers": 1,
    "embedding": 32,
    "seq_len": 32,
}
LSTM_LR = {"adam": 5e-3, "adamw": 5e-3}
MLP_HIDDEN = (1024,)
# The learning rate each optimizer gets when none is given.
OPTIMIZERS = {
    "sgd": 0.1,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adagrad": 0.05,
    "rmsprop": 1e-3,
    "adam": 3e-3,
    "adamw": 3e-3,
}
# The weight decay when none is given (0 for the others). Decoupled decay this strong
# keeps the wide default network from overfitting digits: measured over 40 seeds,
# the worst test accuracy rose from 0.972 (Adam, no decay) to 0.975.
WEIGHT_DECAY = {"adamw": 0.3}
CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.json"
PLOT = "curves.png"
# Marks the checkpoints written here, so a model state dict saved by hand is not
# mistaken for a training run.
_KIND = "chainrule.train"
# The test split is the same for every seed (the seed varies initialisation and
# shuffling), so that runs with different seeds are scored on the same samples.
_SPLIT_SEED = 0
# Settings that may change when a run is resumed; any other difference is an error.
RESUMABLE = ("epochs", "lr", "weight_decay", "out")
# The settings that only a CNN has; None for an MLP.
CNN_ONLY = ("channels", "kernel", "augment")
# The settings that only an LSTM language model has.
LSTM_ONLY = ("layers", "embedding", "seq_len", "text")
# More epochs than anyone means (at a millisecond each, a thousand years) is a typo, not
# a run to start and leave checkpointing forever.
MAX_EPOCHS = 1_000_000
# Far deeper than an MLP trained here gets useful; also bounds what a checkpoint's
# config can make the loader build.
MAX_LAYERS = 1000
# The fields of a training checkpoint, and those of each row of its history.
_FIELDS = ("kind", "epoch", "config", "model", "optimizer", "loader", "history", "data")
_METRICS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run; stored in its checkpoint.

    ``lr=None`` takes the optimizer's entry in :data:`OPTIMIZERS`; ``weight_decay=None``
    its entry in :data:`WEIGHT_DECAY` (or 0); ``out=None`` is
    ``runs/<dataset>``, or the checkpoint's directory when resuming. ``epochs`` is the
    total number of epochs, counting those before a resume.

    ``model="cnn"`` trains convolutional blocks (Conv2d with ``kernel`` and padding
    ``kernel // 2``, the activation, MaxPool2d(2)), one per entry of ``channels``, then
    the ``hidden`` Linear layers, on images; ``augment`` applies the dataset's
    augmentation (random shifts; mirroring for clothes and photographs) to training
    batches. Settings left as None take :data:`CNN_DEFAULTS`; an MLP has none of them.
    ``data_dir`` is the directory of the mnist, fashion_mnist or cifar10 files a user
    downloaded (see :func:`chainrule.data.load_dataset`).

    ``model="lstm"`` trains a character-level language model (:class:`CharLSTM`: an
    ``embedding`` of each character, ``layers`` LSTM layers of size ``hidden``, a Linear
    head) on the ``text`` file's characters (default: Python sources of the standard
    library) by truncated backpropagation through time: ``batch_size`` streams through
    the text, ``seq_len`` steps per chunk, gradients clipped to norm
    :data:`~chainrule.train_text.CLIP_NORM`. Settings left as None take
    :data:`LSTM_DEFAULTS`; it has no ``activation``, and only cross-entropy loss.

    >>> TrainConfig(hidden="128,64").hidden
    (128, 64)
    >>> config = TrainConfig(model="cnn", dataset="mnist", channels="8,16")
    >>> config.hidden, config.channels, config.kernel, config.augment
    ((256,), (8, 16), 5, True)
    >>> lstm = TrainConfig(model="lstm")
    >>> lstm.dataset, lstm.hidden, lstm.layers, lstm.seq_len, lstm.epochs, lstm.activation
    ('text', (256,), 1, 32, 3, None)
    """

    dataset: str | None = None
    hidden: tuple | None = None
    activation: str | None = None
    loss: str = "cross_entropy"
    optimizer: str = "adamw"
    lr: float | None = None
    batch_size: int = 32
    epochs: int | None = None
    seed: int = 0
    weight_decay: float | None = None
    out: str | None = None
    model: str = "mlp"
    channels: tuple | None = None
    kernel: int | None = None
    augment: bool | None = None
    data_dir: str | None = None
    layers: int | None = None
    embedding: int | None = None
    seq_len: int | None = None
    text: str | None = None

    def __post_init__(self):
        if self.model == "lstm":
            defaults = LSTM_DEFAULTS
        elif self.model == "cnn":
            defaults = {**CLASSIFIER_DEFAULTS, **CNN_DEFAULTS}
        else:
            defaults = {**CLASSIFIER_DEFAULTS, "hidden": MLP_HIDDEN}
        for field, default in defaults.items():
            if getattr(self, field) is None:
                setattr(self, field, default)
        self.hidden = _layer_sizes("hidden", self.hidden, "128 or '128,64'")
        if self.channels is not None:
            self.channels = _layer_sizes("channels", self.channels, "32 or '32,64'")
        for field in ("out", "data_dir", "text"):
            if isinstance(getattr(self, field), os.PathLike):
                setattr(self, field, os.fspath(getattr(self, field)))
        self._check()
        # Absolute, so that a run resumed or evaluated from elsewhere reads the same files.
        for field in ("data_dir", "text"):
            if getattr(self, field) is not None:
                setattr(self, field, os.path.abspath(getattr(self, field)))

    def _check(self):
        def require(ok, field, message):
            if not ok:
                raise ConfigError(field, f"{message}, got {_short(getattr(self, field))}")

        def integer(value) -> TypeGuard[int]:
            return isinstance(value, numbers.Integral) and not isinstance(value, bool)

        def real(value):
            return (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )

        # Tuples after __post_init__; channels stays None for a model without them.
        hidden, channels = self.hidden or (), self.channels or ()
        lstm = self.model == "lstm"
        for field, names in (
            ("model", MODELS),
            ("dataset", (*DATASETS, *TEXT_DATASETS)),
            ("activation", ACTIVATIONS),
            ("loss", LOSSES),
            ("optimizer", OPTIMIZERS),
        ):
            value = getattr(self, field)
            if field == "activation" and lstm:
                require(
                    value is None,
                    field,
                    "is a setting of models 'mlp' and 'cnn' only (an LSTM's gates have "
                    "their own nonlinearities)",
                )
                continue
            require(
                isinstance(value, str) and value in names,
                field,
                f"must be one of {', '.join(names)}",
            )
        if lstm:
            require(
                self.dataset in TEXT_DATASETS,
                "dataset",
                f"must be a text for model 'lstm' ({', '.join(TEXT_DATASETS)})",
            )
            require(
                self.loss == "cross_entropy",
                "loss",
                "must be cross_entropy for model 'lstm' (the next character's class)",
            )
            require(
                len(hidden) == 1,
                "hidden",
                "must be one size for model 'lstm', the LSTM's (--layers stacks more)",
            )
            for field in ("layers", "embedding", "seq_len"):
                value = getattr(self, field)
                require(integer(value) and value > 0, field, "must be a positive integer")
            require(
                integer(self.layers) and self.layers <= MAX_LAYERS,
                "layers",
                f"must be at most {MAX_LAYERS}",
            )
            require(
                self.text is None or isinstance(self.text, str) and self.text.strip(),
                "text",
                "must be a file name",
            )
        else:
            require(
                self.dataset not in TEXT_DATASETS,
                "dataset",
                "is a text, for model 'lstm' only (a character-level language model)",
            )
            for field in LSTM_ONLY:
                require(getattr(self, field) is None, field, "is a setting of model 'lstm' only")
        if self.model == "cnn":
            require(
                self.dataset in IMAGE_SHAPES,
                "dataset",
                f"must be a dataset of images for model 'cnn' ({', '.join(sorted(IMAGE_SHAPES))})",
            )
            require(all(c > 0 for c in channels), "channels", "must be positive")
            require(len(channels) <= MAX_LAYERS, "channels", f"must be at most {MAX_LAYERS} layers")
            require(
                integer(self.kernel) and self.kernel > 0, "kernel", "must be a positive integer"
            )
            require(isinstance(self.augment, (bool, np.bool_)), "augment", "must be True or False")
            self.augment = bool(self.augment)
            _feature_maps(self)  # the conv layers fit the images
        else:
            for field in CNN_ONLY:
                require(getattr(self, field) is None, field, "is a setting of model 'cnn' only")
        require(
            self.data_dir is None or self.dataset in DATA_FILES,
            "data_dir",
            f"is read for {', '.join(sorted(DATA_FILES))} only, not {self.dataset!r}",
        )
        require(
            self.data_dir is None or isinstance(self.data_dir, str) and self.data_dir.strip(),
            "data_dir",
            "must be a directory name",
        )
        require(all(h > 0 for h in hidden), "hidden", "sizes must be positive")
        require(len(hidden) <= MAX_LAYERS, "hidden", f"must be at most {MAX_LAYERS} layers")
        require(
            self.lr is None or real(self.lr) and self.lr > 0,
            "lr",
            "must be a positive finite number",
        )
        require(
            integer(self.batch_size) and self.batch_size > 0,
            "batch_size",
            "must be a positive integer",
        )
        require(
            integer(self.epochs) and 0 <= self.epochs <= MAX_EPOCHS,
            "epochs",
            f"must be an integer from 0 to {MAX_EPOCHS:,}",
        )
        require(integer(self.seed) and self.seed >= 0, "seed", "must be an integer >= 0")
        require(
            self.weight_decay is None or real(self.weight_decay) and self.weight_decay >= 0,
            "weight_decay",
            "must be a finite number >= 0",
        )
        require(
            self.out is None or isinstance(self.out, str) and self.out.strip(),
            "out",
            "must be a directory name",
        )

    @property
    def learning_rate(self):
        """``lr``, or the optimizer's default when it is None (:data:`CNN_LR` first for a
        CNN, :data:`LSTM_LR` for an LSTM)."""
        if self.lr is not None:
            return self.lr
        model_lr = {"cnn": CNN_LR, "lstm": LSTM_LR}.get(self.model, {})
        return model_lr.get(self.optimizer, OPTIMIZERS[self.optimizer])

    @property
    def decay(self):
        """``weight_decay``, or the optimizer's default when it is None (0 for a CNN or
        an LSTM)."""
        if self.weight_decay is None:
            if self.model in ("cnn", "lstm"):
                return 0.0
            return WEIGHT_DECAY.get(self.optimizer, 0.0)
        return self.weight_decay

    def to_dict(self):
        """Plain values only (``hidden`` and ``channels`` as lists), ready for JSON or a
        checkpoint."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden or ())
        if self.channels is not None:
            values["channels"] = list(self.channels)
        return values

    @classmethod
    def from_dict(cls, values):
        """Inverse of :meth:`to_dict`; unknown keys raise TypeError."""
        return cls(**values)


def _layer_sizes(field, value, example):
    """``value`` (an int, "128,64" or a sequence of ints) as a tuple of ints."""
    items = value
    if isinstance(value, numbers.Integral):
        items = [value]
    elif isinstance(value, str):
        # Every item counts: "" or "128,,64" is a typo, not a request for fewer layers.
        items = value.split(",")
    problem = f"must be layer sizes such as {example}, got {_short(value)}"
    try:
        items = list(items)
        sizes = tuple(
            int(h)
            for h in items
            if isinstance(h, (str, numbers.Integral)) and not isinstance(h, bool)
        )
    except (TypeError, ValueError):
        raise ConfigError(field, problem) from None
    if len(sizes) != len(items):
        raise ConfigError(field, problem)
    return sizes


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the trained model and how it got there."""

    model: nn.Module
    optimizer: optim.Optimizer
    config: TrainConfig
    history: list
    epoch: int
    test_loss: float
    test_accuracy: float
    out: str
    checkpoint: str
    seconds: float


class ConfigError(ValueError):
    """A training setting out of range; ``field`` names it (``batch_size``, ``lr``, ...)."""

    def __init__(self, field, problem):
        super().__init__(f"TrainConfig: {field} {problem}")
        self.field = field
        self.problem = problem


class RunExistsError(FileExistsError):
    """The output directory already holds a training run, which would be overwritten."""

    def __init__(self, out, found):
        super().__init__(
            f"{out} already holds a training run ({', '.join(found)}); resume "
            f"it or pass overwrite=True to replace it"
        )
        self.out = out
        self.found = found


class OutputError(OSError):
    """The output directory or a file in it cannot be written; names the path."""


class InsufficientMemoryError(MemoryError):
    """The run would need more memory than the machine has available."""


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the last good checkpoint is untouched."""

    def __init__(self, message, epoch, step, checkpoint=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.checkpoint = checkpoint


# ---------------------------------------------------------------------------- building


def build_model(config, num_features, num_classes, rng=None):
    """The network of ``config``: Linear layers with the activation between them, after
    the convolutional blocks of a CNN (whose input is the dataset's images); for an LSTM
    a :class:`CharLSTM` over a vocabulary of ``num_classes`` characters (the number of
    features too: one id per character).

    >>> build_model(TrainConfig(hidden=(8,)), 4, 3, rng=0)
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    >>> cnn = TrainConfig(model="cnn", dataset="digits", channels=(4,), kernel=3, hidden=(8,))
    >>> build_model(cnn, 64, 10, rng=0)[:4]
    Sequential(
      (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
      (1): ReLU()
      (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
      (3): Flatten(start_dim=1, end_dim=-1)
    )
    >>> build_model(TrainConfig(model="lstm", hidden=8, embedding=4), 20, 20, rng=0)
    CharLSTM(
      (embedding): Embedding(20, 4)
      (lstm): LSTM(4, 8, batch_first=True)
      (head): Linear(in_features=8, out_features=20, bias=True)
    )
    """
    rng = np.random.default_rng(rng)
    if config.model == "lstm":
        (hidden,) = config.hidden
        return CharLSTM(num_classes, config.embedding, hidden, config.layers, rng=rng)
    layers = []
    width = num_features
    if config.model == "cnn":
        shapes = _feature_maps(config)
        k = config.kernel
        for (c_in, _, _), (c_out, _, _) in itertools.pairwise(shapes):
            layers += [
                nn.Conv2d(c_in, c_out, k, padding=k // 2, rng=rng),
                ACTIVATIONS[config.activation](),
                nn.MaxPool2d(2),
            ]
        layers.append(nn.Flatten())
        width = math.prod(shapes[-1])
    for size in config.hidden:
        layers += [nn.Linear(width, size, rng=rng), ACTIVATIONS[config.activation]()]
        width = size
    layers.append(nn.Linear(width, num_classes, rng=rng))
    return nn.Sequential(*layers)


def build_optimizer(config, params):
    """The optimizer named by ``config.optimizer`` over ``params``.

    ``momentum`` and ``nesterov`` are SGD with momentum 0.9.
    """
    options = {"lr": config.learning_rate, "weight_decay": config.decay}
    name = config.optimizer
    if name == "sgd":
        return optim.SGD(params, **options)
    if name in ("momentum", "nesterov"):
        return optim.SGD(params, momentum=0.9, nesterov=name == "nesterov", **options)
    kinds = {
        "adagrad": optim.Adagrad,
        "rmsprop": optim.RMSprop,
        "adam": optim.Adam,
        "adamw": optim.AdamW,
    }
    return kinds[name](params, **options)


def _loss_function(name, num_classes):
    """``f(outputs, labels) -> scalar Tensor`` for a loss named in :data:`LOSSES`."""
    if name == "cross_entropy":
        return nn.CrossEntropyLoss()
    if name == "hinge":
        return nn.MultiMarginLoss()
    # Squared error between the raw outputs and one-hot targets.
    criterion = nn.MSELoss()
    return lambda outputs, labels: criterion(
        outputs, Tensor(one_hot(labels, num_classes, dtype=outputs.dtype))
    )


def _feature_maps(config):
    """(C, H, W) of a CNN's input image and of the output of each convolutional block.

    A convolution with padding ``k // 2`` keeps the size (one more for an even kernel),
    the pooling halves it, rounding down. A ConfigError when it would reach zero.

    >>> _feature_maps(TrainConfig(model="cnn", dataset="mnist"))
    [(1, 28, 28), (32, 14, 14), (64, 7, 7)]
    """
    shapes = [IMAGE_SHAPES[config.dataset]]
    k = config.kernel
    side = min(shapes[0][1:])
    if k > side:  # the padding would be most of what the first layer sees
        raise ConfigError(
            "kernel", f"must be at most {side}, the side of {config.dataset}'s images, got {k}"
        )
    for channels in config.channels:
        _, height, width = shapes[-1]
        size = [(n + 2 * (k // 2) - k + 1) // 2 for n in (height, width)]
        if min(size) < 1:
            raise ConfigError(
                "channels",
                f"has too many conv layers for {config.dataset}'s "
                f"images: each halves their size, so at most "
                f"{len(shapes) - 1} fit, got {len(config.channels)}",
            )
        shapes.append((channels, *size))
    return shapes


def _parameter_shapes(config, num_features, num_classes):
    """The state-dict keys and shapes of :func:`build_model`'s network, without building it.

    >>> _parameter_shapes(TrainConfig(hidden=(8,)), 4, 3)
    {'0.weight': (8, 4), '0.bias': (8,), '2.weight': (3, 8), '2.bias': (3,)}
    >>> cnn = TrainConfig(model="cnn", dataset="digits", channels=(4,), kernel=3, hidden=(8,))
    >>> list(_parameter_shapes(cnn, 64, 10).items())[:3]
    [('0.weight', (4, 1, 3, 3)), ('0.bias', (4,)), ('4.weight', (8, 64))]
    """
    if config.model == "lstm":
        (hidden,) = config.hidden
        return parameter_shapes(num_classes, config.embedding, hidden, config.layers)
    shapes: dict[str, tuple[int, ...]] = {}
    first = 0  # the index of the first Linear layer in the Sequential
    if config.model == "cnn":
        maps = _feature_maps(config)
        for i, ((c_in, _, _), (c_out, _, _)) in enumerate(itertools.pairwise(maps)):
            shapes[f"{3 * i}.weight"] = (c_out, c_in, config.kernel, config.kernel)
            shapes[f"{3 * i}.bias"] = (c_out,)
        first = 3 * len(config.channels) + 1
        num_features = math.prod(maps[-1])
    widths = [num_features, *config.hidden, num_classes]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        shapes[f"{first + 2 * i}.weight"] = (fan_out, fan_in)
        shapes[f"{first + 2 * i}.bias"] = (fan_out,)
    return shapes


# ---------------------------------------------------------------------------- memory

# Arrays the size of the parameters that each optimizer keeps (momentum, moments, ...).
_STATE_ARRAYS = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 1,
    "adagrad": 1,
    "rmsprop": 1,
    "adam": 2,
    "adamw": 2,
}
# The rows :func:`evaluate` scores at once are fewer for wide layers, so that a batch's
# activations stay near this size.
_EVAL_BYTES = 64 << 20
# Where Linux puts a container's memory limit (cgroup v2).
_CGROUP = "/sys/fs/cgroup"
_MEMINFO = "/proc/meminfo"


def estimate_memory(config, num_features, num_classes, num_train, num_test):
    """Bytes of memory a run of ``config`` needs at its peak, beyond the data.

    The parameters and the optimizer state live throughout. A training step adds the
    gradients and temporaries (four parameter-sized arrays, one more per optimizer state
    array) and, per sample of the batch, four arrays of every layer's width; scoring the
    test set adds four per sample of an evaluation batch; a checkpoint write adds a copy
    of everything it saves. Checked with ``ru_maxrss`` on iris, digits and mnist (hidden
    2048 to 300000, one to four layers, batch 32 to 4000, SGD, momentum and AdamW): the
    memory a run added was 0.7 to 1.1 times this estimate. A convolutional block counts
    as two layers, its output before and after the pooling: the im2col columns are made a
    few hundred KiB at a time and never kept. Checked the same way on mnist-sized images
    (one or two conv blocks, 8 to 64 channels, kernel 3 or 5, batch 512 to 2048): 0.5 to
    0.9 times this estimate (counting the columns whole made it 3 to 7 times too high).

    >>> estimate_memory(TrainConfig(hidden=(100_000_000,)), 64, 10, 1437, 360) > 2**35
    True
    """
    shapes = _parameter_shapes(config, num_features, num_classes)
    params = 4 * sum(math.prod(shape) for shape in shapes.values())
    kept = params * (1 + _STATE_ARRAYS[config.optimizer])
    widths = _layer_widths(config, num_classes)
    per_sample = 4 * sum(widths)
    step = (
        kept
        + (4 + _STATE_ARRAYS[config.optimizer]) * params
        + 4 * min(config.batch_size, num_train) * per_sample
    )
    scoring = kept + 4 * min(_eval_batch(max(widths)), num_test) * per_sample
    saving = 2 * kept
    return max(step, scoring, saving)


def available_memory():
    """Bytes this process may still allocate, or None when that cannot be found out.

    ``MemAvailable`` from ``/proc/meminfo`` (or the free pages from ``os.sysconf``),
    capped by the container's cgroup limit when there is one.
    """
    found = []
    try:
        with open(_MEMINFO) as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            pass
    try:
        with open(os.path.join(_CGROUP, "memory.max")) as f:
            limit = f.read().strip()
        if limit != "max":
            with open(os.path.join(_CGROUP, "memory.current")) as f:
                used = int(f.read())
            with open(os.path.join(_CGROUP, "memory.stat")) as f:
                # The kernel reclaims inactive page cache before it kills anything.
                cache = sum(int(line.split()[1]) for line in f if line.startswith("inactive_file "))
            found.append(max(int(limit) - used + cache, 0))
    except (OSError, ValueError, IndexError):
        pass
    return min(found) if found else None


def _check_memory(config, task):
    needed = estimate_memory(
        config, task.num_features, task.num_classes, task.num_train, task.num_test
    )
    available = available_memory()
    if available is not None and needed > available:
        raise InsufficientMemoryError(
            f"the {_sizes(config, task)} network needs about {_format_bytes(needed)} of "
            f"memory to train, but only {_format_bytes(available)} is available; use "
            f"smaller hidden sizes{_SMALLER.get(config.model, '')} or a smaller batch size"
        )


# What else makes a model of each kind smaller, for the message of _check_memory.
_SMALLER = {"cnn": ", fewer channels", "lstm": ", a smaller vocabulary, shorter sequences"}


def _eval_batch(widest):
    return max(1, min(1024, _EVAL_BYTES // (4 * widest)))


def _layer_widths(config, num_classes):
    """Values per sample that each layer's forward pass makes: for a conv block its
    output before and after the 2x2 pooling, then the widths of the Linear layers.
    A language model's sample is a stream of ``seq_len`` steps: at each, the embedding,
    each LSTM layer's four gates, and the logits.

    >>> _layer_widths(TrainConfig(model="cnn", dataset="mnist", channels=(8,)), 10)
    [6272, 1568, 256, 10]
    >>> _layer_widths(TrainConfig(model="lstm", hidden=8, embedding=4, seq_len=10), 5)
    [40, 320, 50]
    """
    if config.model == "lstm":
        steps, (hidden,) = config.seq_len, config.hidden
        lstm = [steps * 4 * hidden] * config.layers
        return [steps * config.embedding, *lstm, steps * num_classes]
    widths = []
    if config.model == "cnn":
        maps = _feature_maps(config)
        for c_out, height, width in maps[1:]:
            pooled = c_out * height * width
            widths += [4 * pooled, pooled]  # the size before the 2x2 pooling (about)
    return widths + [*config.hidden, num_classes]


def _format_bytes(n):
    """
    >>> _format_bytes(3 * 2**30), _format_bytes(5 * 2**20)
    ('3.0 GiB', '5 MiB')
    """
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


# ---------------------------------------------------------------------------- evaluation


def evaluate(model, x, y, loss="cross_entropy", batch_size=None):
    """Mean loss, accuracy and confusion matrix of ``model`` on ``(x, y)``, without a graph.

    ``confusion[i, j]`` counts samples of class ``i`` predicted as class ``j``.
    ``batch_size=None`` scores up to 1024 rows at once, fewer for very wide layers.

    >>> model = build_model(TrainConfig(hidden=(4,)), 2, 2, rng=0)
    >>> scores = evaluate(model, np.zeros((3, 2), np.float32), np.array([0, 1, 1]))
    >>> scores["num_samples"], int(scores["confusion"].sum())
    (3, 3)
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if batch_size is None:
        # A conv layer's im2col columns hold its weight's fan-in per input pixel (at most).
        widest = max(
            (
                p.shape[0] if p.ndim < 4 else p[0].size * math.prod(x.shape[2:])
                for p in model.parameters()
                if p.ndim
            ),
            default=1,
        )
        batch_size = _eval_batch(widest)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = np.concatenate(
                [
                    model(Tensor(x[start : start + batch_size])).data
                    for start in range(0, max(len(x), 1), batch_size)
                ]
            )
            num_classes = outputs.shape[1]
            loss_value = _loss_function(loss, num_classes)(Tensor(outputs), y).item()
    finally:
        model.train(was_training)
    predicted = outputs.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    return {
        "loss": float(loss_value),
        "accuracy": float(np.mean(predicted == y)),
        "confusion": confusion,
        "num_samples": int(len(y)),
    }


def load_model(path):
    """Rebuild the model saved in the training checkpoint at ``path``.

    Returns ``(model, state)``, ``state`` being the whole checkpoint as loaded. A file
    that is not a sound training checkpoint raises CheckpointError naming the field.
    """
    state, config = _read_checkpoint(path, for_training=False)
    return _saved_model(state, config, path), state


def evaluate_checkpoint(path, split="test"):
    """Score the model saved at ``path`` on its data's ``test`` or ``train`` split.

    A language model's scores hold ``bits_per_char`` and no confusion matrix.
    """
    state, config = _read_checkpoint(path, for_training=False)
    task = _task(config)
    task.check_saved(state["data"], path)
    return task.evaluate(_saved_model(state, config, path), split)


def sample_checkpoint(path, prompt="\n", length=200, temperature=1.0, seed=None):
    """``prompt`` followed by ``length`` characters generated by the language model saved
    at ``path`` (see :func:`chainrule.train_text.sample`); ``seed`` makes it repeatable.

    A checkpoint of another kind of model raises CheckpointError; a prompt character
    outside the model's vocabulary raises ValueError naming it.
    """
    state, config = _read_checkpoint(path, for_training=False)
    if config.model != "lstm":
        raise CheckpointError(
            f"{path}: holds model {config.model!r} trained on {config.dataset}, not a "
            f"language model (train one with model 'lstm')"
        )
    model = _saved_model(state, config, path)
    return sample(model, state["data"]["vocabulary"], prompt, length, temperature, rng=seed)


def _config_eval_batch(config, num_classes):
    return _eval_batch(max(_layer_widths(config, num_classes)))


def _check_kind(state, path):
    if not isinstance(state, dict) or state.get("kind") != _KIND:
        raise CheckpointError(
            f"{path}: not a training checkpoint (no kind {_KIND!r}); "
            "it was not written by chainrule train"
        )


def _load_data(config):
    # The split and the standardisation statistics depend on the dataset alone, so a
    # resumed run or an evaluation sees exactly the arrays the original run saw. A CNN
    # gets NCHW images standardised per channel: it shares its weights across pixels,
    # so the pixels share one scale (per-pixel scaling blows up rarely-inked borders).
    if config.model == "cnn":
        return load_dataset(
            config.dataset,
            seed=_SPLIT_SEED,
            flatten=False,
            standardize="channel",
            path=config.data_dir,
        )
    return load_dataset(config.dataset, seed=_SPLIT_SEED, path=config.data_dir)


# ---------------------------------------------------------------------------- checkpoints
# A checkpoint can pass its checksum and still not be what this version writes (edited
# by hand, from a newer version, a model state dict saved over it): every field is
# checked here before any of it is used, and a mismatch names the field.


def _read_checkpoint(path, for_training):
    """Load and check the training checkpoint at ``path``; returns ``(state, config)``.

    ``for_training`` also checks what resuming needs (optimizer, loader, history).
    """
    state = load(path)
    _check_kind(state, path)
    unknown = [key for key in state if key not in _FIELDS]
    _expect(
        not unknown,
        path,
        f"field {_short(unknown[0])}" if unknown else "",
        "is not one this version of chainrule writes (a newer version's checkpoint?)",
    )
    for field in _FIELDS if for_training else ("config", "data", "model"):
        _expect(field in state, path, field, "is missing")
    config = _saved_config(state["config"], path)
    data = state["data"]
    _expect(isinstance(data, dict), path, "data", "must be a dict")
    for key in ("num_features", "num_classes"):
        _expect(
            _is_count(data.get(key)) and data[key] > 0,
            path,
            f"data[{key!r}]",
            f"must be a positive integer, got {_short(data.get(key))}",
        )
    name = data.get("name", config.dataset)
    _expect(
        isinstance(name, str) and name == config.dataset,
        path,
        "data['name']",
        f"is {_short(name)}, but the config's dataset is {config.dataset!r}",
    )
    if config.model == "lstm":
        _check_text_data(data, path)
    _check_model_state(state["model"], config, data, path)
    if not for_training:
        return state, config
    diverged = _non_finite(state["model"].items())
    _expect(
        diverged is None,
        path,
        f"model[{diverged!r}]",
        "holds non-finite values (the run had diverged); it cannot be resumed",
    )
    epoch = state["epoch"]
    _expect(
        _is_count(epoch) and epoch >= 0,
        path,
        "epoch",
        f"must be an integer >= 0, got {_short(epoch)}",
    )
    history = state["history"]
    _expect(
        isinstance(history, list) and len(history) == epoch,
        path,
        "history",
        f"must be a list of one row per epoch ({epoch})",
    )
    for i, row in enumerate(history):
        for key in _METRICS:
            _expect(
                isinstance(row, dict) and _is_number(row.get(key)),
                path,
                f"history[{i}][{key!r}]",
                "is missing or not a number",
            )
    for field in ("optimizer", "loader"):
        _expect(isinstance(state[field], dict), path, field, "must be a dict")
    return state, config


def _saved_config(values, path):
    _expect(isinstance(values, dict), path, "config", "must be a dict")
    known = {field.name for field in dataclasses.fields(TrainConfig)}
    unknown = [key for key in values if key not in known]
    _expect(
        not unknown,
        path,
        f"config[{_short(unknown[0])}]" if unknown else "",
        "is not a setting this version of chainrule knows (a newer version's checkpoint?)",
    )
    try:
        return TrainConfig.from_dict(values)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: config[{exc.field!r}] {exc.problem}") from None


def _check_model_state(saved, config, data, path):
    # Before building the network: a config naming huge layers must not allocate them.
    _expect(isinstance(saved, dict), path, "model", "must be a dict of parameter arrays")
    if config.model == "cnn":
        image = IMAGE_SHAPES[config.dataset]
        _expect(
            data["num_features"] == math.prod(image),
            path,
            "data['num_features']",
            f"is {data['num_features']}, but {config.dataset}'s images have "
            f"{math.prod(image)} pixel values",
        )
    try:
        shapes = _parameter_shapes(config, data["num_features"], data["num_classes"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: config[{exc.field!r}] {exc.problem}") from None
    for key in saved:
        _expect(
            key in shapes,
            path,
            f"model[{_short(key)}]",
            f"is not a parameter of the network the config describes ({_short(list(shapes))})",
        )
    for key, shape in shapes.items():
        value = saved.get(key)
        _expect(value is not None, path, f"model[{key!r}]", "is missing")
        _expect(
            isinstance(value, np.ndarray) and value.dtype.kind == "f",
            path,
            f"model[{key!r}]",
            "must be a floating-point array",
        )
        _expect(
            value.shape == shape,
            path,
            f"model[{key!r}]",
            f"has shape {value.shape}, the config's network needs {shape}",
        )


def _check_text_data(data, path):
    """A language model's data: one id per character, both ways, and what sampling and
    scoring need (the vocabulary, the text's digest)."""
    size = data["num_classes"]
    _expect(
        data["num_features"] == size,
        path,
        "data['num_features']",
        f"is {data['num_features']}, but a language model's inputs are its {size} characters",
    )
    vocabulary = data.get("vocabulary")
    _expect(
        isinstance(vocabulary, str) and len(set(vocabulary)) == len(vocabulary) == size,
        path,
        "data['vocabulary']",
        f"must be a string of {size} distinct characters, got {_short(vocabulary)}",
    )
    digest = data.get("sha256")
    _expect(
        isinstance(digest, str) and len(digest) == 64,
        path,
        "data['sha256']",
        f"must be the text's SHA-256 digest (64 hex digits), got {_short(digest)}",
    )


def _check_data(data, dataset, path):
    """The checkpoint was written for this dataset (its sizes and name agree)."""
    for key, value in (
        ("name", dataset.name),
        ("num_features", dataset.num_features),
        ("num_classes", dataset.num_classes),
    ):
        _expect(
            data.get(key, value) == value,
            path,
            f"data[{key!r}]",
            f"is {data.get(key)!r}, but dataset {dataset.name} has {value}",
        )


def _saved_model(state, config, path):
    data = state["data"]
    model = build_model(config, data["num_features"], data["num_classes"])
    _load_into(model, state["model"], "model", path)
    return model


def _load_optimizer(optimizer, saved, config, path):
    """Load ``saved`` into ``optimizer`` after checking it is that optimizer's state."""
    # A one-element run of the same optimizer shows which options and state it keeps.
    probe = Tensor(np.zeros(1, np.float32), requires_grad=True)
    probe.grad = Tensor(np.zeros(1, np.float32))
    scratch = build_optimizer(config, [probe])
    scratch.step()
    options = sorted(set(scratch.param_groups[0]) - {"params"})
    keys = sorted(scratch.state[probe])
    name = f"{type(optimizer).__name__} (config optimizer {config.optimizer!r})"
    groups = saved.get("param_groups")
    _expect(
        isinstance(groups, list) and len(groups) == len(optimizer.param_groups),
        path,
        "optimizer['param_groups']",
        f"must be a list of {len(optimizer.param_groups)} parameter group",
    )
    for i, group in enumerate(groups):
        found = (
            sorted(set(group) - {"params"}, key=str)
            if isinstance(group, dict)
            else type(group).__name__
        )
        _expect(
            found == options,
            path,
            f"optimizer['param_groups'][{i}]",
            f"has the options {_short(found)}, but {name} takes {options}",
        )
    # One group (see build_optimizer) numbering the parameters in order.
    count = len(optimizer.param_groups[0]["params"])
    params = groups[0].get("params")
    _expect(
        isinstance(params, (list, tuple, np.ndarray)) and [*np.ravel(params)] == list(range(count)),
        path,
        "optimizer['param_groups'][0]['params']",
        f"must be 0 to {count - 1} in order",
    )
    entries = saved.get("state")
    _expect(isinstance(entries, dict), path, "optimizer['state']", "must be a dict")
    for index, entry in entries.items():
        found = sorted(entry, key=str) if isinstance(entry, dict) else type(entry).__name__
        _expect(
            found == keys,
            path,
            f"optimizer['state'][{_short(index)}]",
            f"holds {_short(found)}, but {name} keeps {keys}",
        )
        for key in type(optimizer)._scalar_state:
            if key in entry:
                _expect(
                    _is_count(entry[key]) and entry[key] >= 0,
                    path,
                    f"optimizer['state'][{index!r}][{key!r}]",
                    f"must be an integer >= 0, got {_short(entry[key])}",
                )
    _load_into(optimizer, saved, "optimizer", path)


def _load_into(target, saved, field, path):
    """``target.load_state_dict(saved)``, its refusals raised as CheckpointError."""
    try:
        target.load_state_dict(saved)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as exc:
        reason = f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        reason = "; ".join(part.strip() for part in reason.splitlines() if part.strip())
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        raise CheckpointError(f"{path}: {field} does not fit: {reason}") from None


def _non_finite(arrays):
    """The name of the first array in ``(name, array)`` pairs holding a NaN or inf."""
    for name, value in arrays:
        value = np.asarray(value)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return name
    return None


def _short(value, limit=80):
    """``repr(value)``, cut to ``limit`` characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expect(ok, path, field, problem):
    if not ok:
        raise CheckpointError(f"{path}: {field} {problem}")


def _is_count(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------- tasks
# What training and scoring do differently for a classifier (an MLP or a CNN on labelled
# samples) and for a language model (an LSTM on the characters of a text): the data, its
# batches, a batch's loss, the scores and the data kept in the checkpoint.


def _task(config):
    return _LanguageModel(config) if config.model == "lstm" else _Classification(config)


class _Classification:
    """An MLP or a CNN on a dataset of labelled samples."""

    clip = None

    def __init__(self, config):
        self.config = config
        self.dataset = _load_data(config)
        self.num_features = self.dataset.num_features
        self.num_classes = self.dataset.num_classes
        self.num_train, self.num_test = len(self.dataset.y_train), len(self.dataset.y_test)
        self.description = self.dataset.description

    def check_saved(self, data, path):
        _check_data(data, self.dataset, path)

    def loader(self, seed, world):
        augmentation = self.dataset.augmentation if self.config.augment else {}
        return DataLoader(
            self.dataset.x_train,
            self.dataset.y_train,
            batch_size=self.config.batch_size,
            shuffle=True,
            seed=seed,
            **augmentation,
        )

    def batch_loss(self, model):
        """``f(xb, yb) -> (loss, hits, count)`` for the batches of one epoch."""
        loss_fn = _loss_function(self.config.loss, self.num_classes)

        def loss_of(xb, yb):
            outputs = model(Tensor(xb))
            hits = int(np.sum(outputs.data.argmax(axis=1) == yb))
            return loss_fn(outputs, yb), hits, len(yb)

        return loss_of

    def evaluate(self, model, split="test"):
        ds = self.dataset
        x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x_train, ds.y_train)
        eval_batch = _config_eval_batch(self.config, self.num_classes)
        return evaluate(model, x, y, self.config.loss, eval_batch)

    def data_state(self):
        return {
            "name": self.dataset.name,
            "num_features": self.num_features,
            "num_classes": self.num_classes,
            "standardizer": self.dataset.standardizer.state_dict(),
        }

    def more_metrics(self, train_loss, scores):
        return {}

    def summary(self, row):
        return (
            f"train loss {row['train_loss']:.4f}  train acc {row['train_accuracy']:.4f}  "
            f"test acc {row['test_accuracy']:.4f}"
        )


class _LanguageModel:
    """A :class:`CharLSTM` on the characters of a text, by truncated backpropagation
    through time; the last tenth of the text is the test text."""

    clip = CLIP_NORM

    def __init__(self, config):
        self.config = config
        self.corpus = load_text(config.text)
        # One id per character both ways; a "sample" is one of the parallel streams.
        self.num_features = self.num_classes = self.corpus.num_classes
        self.num_train = self.num_test = config.batch_size
        self.description = self.corpus.description

    def check_saved(self, data, path):
        source = self.config.text or "the standard library of the Python that runs this"
        _expect(
            data["sha256"] == self.corpus.sha256,
            path,
            "data['sha256']",
            f"differs from the digest of the text now read from {source}: the text is "
            "not the one the model was trained on",
        )

    def loader(self, seed, world):
        # The streams follow the text in order: the seed varies the initialisation only.
        config, train = self.config, self.corpus.train
        if len(train) <= config.batch_size:
            raise ConfigError(
                "batch_size",
                f"must be below the {len(train)} characters of the training text (each "
                f"stream needs two at least), got {config.batch_size}",
            )
        if world.size > config.batch_size:
            raise ConfigError(
                "batch_size",
                f"must be at least the {world.size} processes under mpiexec for model "
                f"'lstm' (each trains whole streams), got {config.batch_size}",
            )
        return TextStreams(train, config.batch_size, config.seq_len)

    def batch_loss(self, model):
        # A new one each epoch: the state carried along the streams starts from zeros.
        return Unrolled(model)

    def evaluate(self, model, split="test"):
        ids = self.corpus.test if split == "test" else self.corpus.train
        return evaluate_text(model, ids, self.config.batch_size, self.config.seq_len)

    def data_state(self):
        return {
            "name": self.corpus.name,
            "num_features": self.num_features,
            "num_classes": self.num_classes,
            "vocabulary": self.corpus.vocabulary,
            "sha256": self.corpus.sha256,
        }

    def more_metrics(self, train_loss, scores):
        return {
            "train_bits_per_char": train_loss / math.log(2),
            "test_bits_per_char": scores["bits_per_char"],
        }

    def summary(self, row):
        return (
            f"train loss {row['train_loss']:.4f}  test loss {row['test_loss']:.4f}  "
            f"test bits/char {row['test_bits_per_char']:.3f}  "
            f"test acc {row['test_accuracy']:.4f}"
        )


# ---------------------------------------------------------------------------- training


def train(
    config=None,
    *,
    resume=None,
    overrides=None,
    overwrite=False,
    log=None,
    progress=False,
    world=None,
):
    """Run the training job of ``config`` and return a :class:`TrainResult`.

    ``resume`` is the path of a checkpoint to continue from. The saved configuration
    is then used, updated with the ``overrides`` dict; or ``config`` is given whole.
    Either way it may differ from the saved one only in :data:`RESUMABLE` fields, and
    ``epochs`` must be above the epochs already trained.
    ``log`` receives one line per epoch (e.g. ``print``); ``progress=True`` shows a
    tqdm bar over each epoch's batches.

    Everything is checked before training starts: the settings (:class:`ConfigError`),
    the checkpoint (CheckpointError naming the field), the memory the run needs
    (:class:`InsufficientMemoryError`), and the output directory: it must be writable
    (:class:`OutputError`) and hold no other run unless ``overwrite=True``
    (:class:`RunExistsError`).

    Raises :class:`NonFiniteLossError` when the loss stops being finite, and
    :class:`OutputError` when a file cannot be written (a full disk); either way the
    last checkpoint written is left as it was.

    Under ``mpiexec`` (``world``: the MPI world, found by default) the run is data
    parallel: every rank takes its slice of each batch (a language model's rank, its share
    of the streams through the text) and the gradients are averaged, so the ranks take
    the steps one process would; only rank 0 logs and writes files.
    """
    world = world or init()
    log = (log or (lambda line: None)) if world.is_root else (lambda line: None)
    state, saved = (None, None) if resume is None else _read_checkpoint(resume, True)
    config = _resolve_config(config, overrides, saved, resume)
    epoch = 0 if state is None else state["epoch"]
    if state is not None and config.epochs <= epoch:
        raise ConfigError(
            "epochs",
            f"must be above the {epoch} epochs already trained in "
            f"{resume} to continue it, got {config.epochs}",
        )
    out = config.out or (
        os.path.dirname(os.path.abspath(resume)) if resume else os.path.join("runs", config.dataset)
    )

    task = _task(config)
    if state is not None:
        task.check_saved(state["data"], resume)
    _check_memory(config, task)

    init_seed, shuffle_seed = np.random.SeedSequence(config.seed).spawn(2)
    model = build_model(
        config, task.num_features, task.num_classes, rng=np.random.default_rng(init_seed)
    )
    parallel = DataParallel(model, world)
    optimizer = build_optimizer(config, model.parameters())
    loader = task.loader(shuffle_seed, world)
    history, last_good, kept = [], resume, None
    if state is not None:
        _load_into(model, state["model"], "model", resume)
        _load_optimizer(optimizer, state["optimizer"], config, resume)
        _load_into(loader, state["loader"], "loader", resume)
        history = list(state["history"])
        # Options changed on resume take effect (unchanged ones are set to what they were).
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate
            group["weight_decay"] = config.decay
        diverged = _non_finite(
            (f"optimizer['state'][{i}][{key!r}]", value)
            for i, entry in state["optimizer"]["state"].items()
            for key, value in entry.items()
        )
        if diverged is not None:  # not a good checkpoint to point back to
            last_good = None
            kept = (
                f"the checkpoint it resumed from, {resume}, already held non-finite "
                f"values in {diverged} and is left unchanged"
            )
    # Last of the checks, so that a refused run leaves no directory behind.
    checkpoint_path = _prepare_out(out, resume, overwrite)
    log(f"{task.description}; model {_describe(config, task)}")
    if epoch:
        log(f"resuming from {resume} after epoch {epoch}")

    def checkpoint():
        return {
            "kind": _KIND,
            "epoch": epoch,
            "config": config.to_dict(),
            "model": dict(model.state_dict()),
            "optimizer": optimizer.state_dict(),
            "loader": loader.state_dict(),
            "history": history,
            "data": task.data_state(),
        }

    def write_results():
        if not world.is_root:
            return
        _write(checkpoint_path, lambda: save(checkpoint(), checkpoint_path), _kept(last_good, kept))
        saved_as = f"the checkpoint of epoch {epoch} was saved to {checkpoint_path}"
        _write(os.path.join(out, METRICS), lambda: _write_metrics(out, config, history), saved_as)

    started = time.perf_counter()
    with _one_blas_thread():
        while epoch < config.epochs:
            epoch += 1
            epoch_start = time.perf_counter()
            train_loss, train_accuracy = _train_epoch(
                model,
                optimizer,
                loader,
                task.batch_loss(model),
                epoch,
                config.epochs,
                progress and world.is_root,
                last_good,
                _kept(last_good, kept),
                parallel,
                clip=task.clip,
            )
            scores = task.evaluate(model)
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_accuracy": train_accuracy,
                    "test_loss": scores["loss"],
                    "test_accuracy": scores["accuracy"],
                    **task.more_metrics(train_loss, scores),
                    "seconds": time.perf_counter() - epoch_start,
                }
            )
            write_results()
            last_good = checkpoint_path
            log(
                f"epoch {epoch:3d}/{config.epochs}  {task.summary(history[-1])}  "
                f"({history[-1]['seconds'] * 1e3:.0f} ms)"
            )

    if history:
        final = history[-1]
    else:  # zero epochs: score the initial model, and still leave a checkpoint behind
        final = task.evaluate(model)
        write_results()
    if world.is_root:
        plot = os.path.join(out, PLOT)
        _write(
            plot,
            lambda: _write_plot(plot, history, config),
            f"the checkpoint of epoch {epoch} was saved to {checkpoint_path}",
        )
    return TrainResult(
        model=model,
        optimizer=optimizer,
        config=config,
        history=history,
        epoch=epoch,
        test_loss=final["test_loss" if history else "loss"],
        test_accuracy=final["test_accuracy" if history else "accuracy"],
        out=out,
        checkpoint=checkpoint_path,
        seconds=time.perf_counter() - started,
    )


def _prepare_out(out, resume, overwrite):
    """Create the output directory and make sure, before any training, that it can be
    written and holds no other run (unless ``overwrite``); returns the checkpoint path."""
    if os.path.splitext(out.rstrip("/" + os.sep))[1].lower() in (
        ".npz",
        ".json",
        ".png",
    ) and not os.path.isdir(out):
        raise ConfigError(
            "out",
            f"is a directory, which gets {CHECKPOINT}, {METRICS} and "
            f"{PLOT}; {out!r} looks like a file name",
        )
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"output directory {out} exists and is not a directory")
    checkpoint_path = os.path.join(out, CHECKPOINT)
    found = [
        name for name in (CHECKPOINT, METRICS, PLOT) if os.path.lexists(os.path.join(out, name))
    ]
    resuming_here = (
        resume is not None
        and os.path.exists(checkpoint_path)
        and os.path.samefile(resume, checkpoint_path)
    )
    if found and not (overwrite or resuming_here):
        raise RunExistsError(out, found)
    for name in found:
        if not os.path.isfile(os.path.join(out, name)):
            raise OutputError(
                f"{os.path.join(out, name)} is not a regular file, so the run cannot write it"
            )
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out} ({exc.strerror or exc})") from None
    try:  # a file that can be created now will not fail the first save for permissions
        fd, probe = tempfile.mkstemp(dir=out, prefix=".chainrule-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"cannot write to output directory {out} ({exc.strerror or exc})"
        ) from None
    return checkpoint_path


def _write(path, write, kept):
    """``write()``; an OSError (a full disk, a lost permission) becomes an OutputError
    naming ``path`` and what was kept."""
    try:
        write()
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        reason = exc.strerror or str(exc) or code
        raise OutputError(f"cannot write {path} ({reason}); {kept}") from exc


def _kept(last_good, note=None):
    if last_good:
        return f"the last good checkpoint {last_good} is left unchanged"
    return note or "no checkpoint was written"


def _train_epoch(
    model,
    optimizer,
    loader,
    batch_loss,
    epoch,
    epochs,
    progress,
    last_good,
    kept,
    parallel,
    clip=None,
):
    """One pass over the loader; returns the mean training loss and accuracy.

    ``batch_loss(xb, yb)`` returns a batch's mean loss (a Tensor), how many of its
    predictions were right and how many it made. ``clip``: the gradient norm to clip to,
    after the ranks' gradients are averaged (so every rank clips alike).
    """
    world = parallel.world
    model.train()
    bar = _progress_bar(loader, epoch, epochs) if progress else None
    total_loss, correct, seen = 0.0, 0, 0
    try:
        for step, batch in enumerate(bar if bar is not None else loader, start=1):
            xb, yb = world.shard(batch) if world.size > 1 else batch
            # Overflow is expected when training diverges; it is caught just below.
            with np.errstate(over="ignore", invalid="ignore"):
                if len(yb):
                    loss, hits, mine = batch_loss(xb, yb)
                    value = loss.item()
                else:  # a last batch smaller than the world: this rank adds nothing
                    loss, value, hits, mine = None, 0.0, 0, 0
                if world.size > 1:  # the whole batch's loss, so every rank stops together
                    value, hits, count = world.allreduce_sum(
                        [np.array([value * mine, hits, mine], np.float64)]
                    )[0]
                    value, hits, count = value / count, int(hits), int(count)
                else:
                    count = mine
                if not math.isfinite(value):
                    _stop(f"non-finite loss ({value})", epoch, step, last_good, kept)
                optimizer.zero_grad()
                if loss is not None:
                    loss.backward()
                else:
                    for p in model.parameters():
                        p.grad = Tensor(np.zeros_like(p.data))
                if world.size > 1:
                    parallel.average_gradients(weight=mine)
                if clip is not None:
                    optim.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            total_loss += value * count
            correct += hits
            seen += count
            if bar is not None:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    # The last step can overflow the parameters while its loss was still finite.
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        _stop("non-finite parameters", epoch, step, last_good, kept)
    return total_loss / seen, correct / seen


def _stop(found, epoch, step, last_good, kept):
    raise NonFiniteLossError(
        f"training stopped: {found} at epoch {epoch}, step {step}; "
        f"{kept}. Try a smaller learning rate.",
        epoch,
        step,
        last_good,
    )


def _one_blas_thread():
    """Limit BLAS to one thread while training, when threadpoolctl is installed.

    Mini-batch products are small: splitting them over threads costs more in
    synchronisation than it saves, and several times more when the cores are busy
    with other work.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _progress_bar(loader, epoch, epochs):
    """A tqdm bar over the loader, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        loader,
        desc=f"epoch {epoch}/{epochs}",
        leave=False,
        unit="batch",
        file=sys.stdout,
        dynamic_ncols=True,
    )


def _resolve_config(config, overrides, saved, resume):
    if saved is None:
        return config if config is not None else TrainConfig(**(overrides or {}))
    if config is None:
        overrides = overrides or {}
        try:
            # Not the saved out: the run continues next to its checkpoint (wherever it was
            # copied to) unless told otherwise, never in the directory it was first written to.
            config = dataclasses.replace(saved, **{"out": None, **overrides})
        except ConfigError:
            # A setting that cannot be resumed (--model mlp on a CNN's checkpoint leaves
            # its channels behind): name it rather than the setting it broke.
            changed = [
                name
                for name, value in overrides.items()
                if name not in RESUMABLE and value != getattr(saved, name)
            ]
            if not changed:
                raise
            _refuse_resume(saved, overrides, changed, resume)
    return _resumed_config(saved, config, resume)


def _resumed_config(saved, given, path):
    changed = [
        field.name
        for field in dataclasses.fields(TrainConfig)
        if field.name not in RESUMABLE and getattr(given, field.name) != getattr(saved, field.name)
    ]
    if changed:
        _refuse_resume(saved, {name: getattr(given, name) for name in changed}, changed, path)
    return given


def _refuse_resume(saved, given, changed, path):
    details = ", ".join(
        f"{name}={_short(getattr(saved, name))} (given {_short(given[name])})" for name in changed
    )
    raise ValueError(
        f"cannot resume from {path} with different settings: it was saved "
        f"with {details}; only {', '.join(RESUMABLE)} may change"
    )


def _sizes(config, data):
    """The layer sizes of the network, for messages; ``data`` has ``num_features`` and
    ``num_classes``.

    >>> _sizes(TrainConfig(model="cnn", dataset="mnist"), load_dataset("iris"))
    '1x28x28-conv5x5:32-pool-conv5x5:64-pool-256-3'
    >>> _sizes(TrainConfig(model="lstm", layers=2), load_dataset("iris"))
    '3-embedding:32-lstm:256x2-3'
    """
    if config.model == "lstm":
        (hidden,) = config.hidden
        depth = f"x{config.layers}" if config.layers > 1 else ""
        sizes = [data.num_classes, f"embedding:{config.embedding}", f"lstm:{hidden}{depth}"]
        return "-".join(map(str, [*sizes, data.num_classes]))
    if config.model == "cnn":
        k = config.kernel
        layers = ["x".join(map(str, IMAGE_SHAPES[config.dataset]))]
        layers += [f"conv{k}x{k}:{c}-pool" for c in config.channels]
    else:
        layers = [data.num_features]
    return "-".join(map(str, [*layers, *config.hidden, data.num_classes]))


def _describe(config, data):
    if config.model == "lstm":
        network = f"{_sizes(config, data)}, {config.loss} loss"
        batches = (
            f"{config.batch_size} streams of {config.seq_len}-step chunks, gradient norm "
            f"clipped to {CLIP_NORM:g}"
        )
    else:
        augment = ", augmented" if config.augment else ""
        network = f"{_sizes(config, data)} {config.activation}{augment}, {config.loss} loss"
        batches = f"batch {config.batch_size}"
    return (
        f"{network}, {config.optimizer} lr {config.learning_rate:g} weight decay "
        f"{config.decay:g}, {batches}"
    )


def _write_metrics(out, config, history):
    metrics = {
        "dataset": config.dataset,
        "config": config.to_dict(),
        "epochs": history,
        "final": history[-1] if history else None,
    }
    text = json.dumps(metrics, indent=2) + "\n"
    write_atomically(os.path.join(out, METRICS), lambda f: f.write(text.encode("utf-8")))


def _write_plot(path, history, config):
    """Loss and accuracy per epoch as a PNG; skipped when matplotlib is missing."""
    if not history:
        return
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return
    # A Figure on its own (no pyplot) draws with Agg and leaves the global backend alone.
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for key, label in (("train", "train"), ("test", "test")):
        loss_ax.plot(epochs, [row[f"{key}_loss"] for row in history], label=label)
        acc_ax.plot(epochs, [row[f"{key}_accuracy"] for row in history], label=label)
    loss_ax.set(xlabel="epoch", ylabel=f"{config.loss} loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    layers = f"channels {list(config.channels)}, " if config.model == "cnn" else ""
    fig.suptitle(
        f"{config.dataset} {config.model}: {config.optimizer}, {layers}hidden {list(config.hidden)}"
    )
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100))
