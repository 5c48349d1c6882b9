"""Train a multi-layer perceptron or a convolutional network on an offline dataset, with
checkpoints that resume exactly.

:func:`train` runs the whole job described by a :class:`TrainConfig`: it loads and
standardises the dataset, builds the network, and after every epoch writes
``checkpoint.npz`` (model, optimizer and data-loader state, configuration, metrics),
``metrics.json`` and, at the end, ``curves.png`` into the output directory. A run
resumed from a checkpoint ends with exactly the parameters of an uninterrupted run.
:func:`evaluate` scores a model on arrays; :func:`evaluate_checkpoint` rebuilds a saved
model and scores it on its dataset.

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

import numpy as np

from . import nn, optim
from .autograd.mode import no_grad
from .data import DATASETS, DataLoader, load_dataset, one_hot
from .data.datasets import IMAGE_SHAPES
from .data.files import SOURCES as DATA_FILES
from .distributed import DataParallel, init
from .errors import CheckpointError
from .serialization import load, save, write_atomically
from .tensor import Tensor

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
MODELS = ("mlp", "cnn")
# What the CNN settings left as None become: a LeNet-like network (two 5x5 convolutions
# of 32 and 64 channels, each followed by 2x2 max-pooling, then one hidden layer of 256),
# trained on randomly shifted images (the dataset's augmentation, see --augment).
CNN_DEFAULTS = {"hidden": (256,), "channels": (32, 64), "kernel": 5, "augment": True}
# A CNN's defaults for Adam and AdamW: smaller steps and no weight decay. On the mnist
# subset (5 epochs) AdamW at 3e-3 with decay 0.3 ended at 0.931 test accuracy, still
# underfitting the shifted images; at 1e-3 without decay 0.973 to 0.974.
CNN_LR = {"adam": 1e-3, "adamw": 1e-3}
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

    >>> TrainConfig(hidden="128,64").hidden
    (128, 64)
    >>> config = TrainConfig(model="cnn", dataset="mnist", channels="8,16")
    >>> config.hidden, config.channels, config.kernel, config.augment
    ((256,), (8, 16), 5, True)
    """

    dataset: str = "digits"
    hidden: tuple | None = None
    activation: str = "relu"
    loss: str = "cross_entropy"
    optimizer: str = "adamw"
    lr: float | None = None
    batch_size: int = 32
    epochs: int = 30
    seed: int = 0
    weight_decay: float | None = None
    out: str | None = None
    model: str = "mlp"
    channels: tuple | None = None
    kernel: int | None = None
    augment: bool | None = None
    data_dir: str | None = None

    def __post_init__(self):
        if self.model == "cnn":
            for field, default in CNN_DEFAULTS.items():
                if getattr(self, field) is None:
                    setattr(self, field, default)
        elif self.hidden is None:
            self.hidden = MLP_HIDDEN
        self.hidden = _layer_sizes("hidden", self.hidden, "128 or '128,64'")
        if self.channels is not None:
            self.channels = _layer_sizes("channels", self.channels, "32 or '32,64'")
        for field in ("out", "data_dir"):
            if isinstance(getattr(self, field), os.PathLike):
                setattr(self, field, os.fspath(getattr(self, field)))
        self._check()
        if self.data_dir is not None:
            # Absolute, so that a run resumed or evaluated from elsewhere reads the same files.
            self.data_dir = os.path.abspath(self.data_dir)

    def _check(self):
        def require(ok, field, message):
            if not ok:
                raise ConfigError(field, f"{message}, got {_short(getattr(self, field))}")

        def integer(value):
            return isinstance(value, numbers.Integral) and not isinstance(value, bool)

        def real(value):
            return (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )

        for field, names in (
            ("model", MODELS),
            ("dataset", DATASETS),
            ("activation", ACTIVATIONS),
            ("loss", LOSSES),
            ("optimizer", OPTIMIZERS),
        ):
            value = getattr(self, field)
            require(
                isinstance(value, str) and value in names,
                field,
                f"must be one of {', '.join(names)}",
            )
        if self.model == "cnn":
            require(
                self.dataset in IMAGE_SHAPES,
                "dataset",
                f"must be a dataset of images for model 'cnn' ({', '.join(sorted(IMAGE_SHAPES))})",
            )
            require(all(c > 0 for c in self.channels), "channels", "must be positive")
            require(
                len(self.channels) <= MAX_LAYERS, "channels", f"must be at most {MAX_LAYERS} layers"
            )
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
        require(all(h > 0 for h in self.hidden), "hidden", "sizes must be positive")
        require(len(self.hidden) <= MAX_LAYERS, "hidden", f"must be at most {MAX_LAYERS} layers")
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
        CNN)."""
        if self.lr is not None:
            return self.lr
        if self.model == "cnn" and self.optimizer in CNN_LR:
            return CNN_LR[self.optimizer]
        return OPTIMIZERS[self.optimizer]

    @property
    def decay(self):
        """``weight_decay``, or the optimizer's default when it is None (0 for a CNN)."""
        if self.weight_decay is None:
            return 0.0 if self.model == "cnn" else WEIGHT_DECAY.get(self.optimizer, 0.0)
        return self.weight_decay

    def to_dict(self):
        """Plain values only (``hidden`` and ``channels`` as lists), ready for JSON or a
        checkpoint."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
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
    try:
        items = list(items)
        sizes = tuple(
            int(h)
            for h in items
            if isinstance(h, (str, numbers.Integral)) and not isinstance(h, bool)
        )
    except (TypeError, ValueError):
        sizes = items = None
    if sizes is None or len(sizes) != len(items):
        raise ConfigError(field, f"must be layer sizes such as {example}, got {_short(value)}")
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
    the convolutional blocks of a CNN (whose input is the dataset's images).

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
    """
    rng = np.random.default_rng(rng)
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
    shapes = {}
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


def estimate_memory(config, num_features, num_classes, num_train, num_test):
    """Bytes of memory a run of ``config`` needs at its peak, beyond the data.

    The parameters and the optimizer state live throughout. A training step adds the
    gradients and temporaries (four parameter-sized arrays, one more per optimizer state
    array) and, per sample of the batch, four arrays of every layer's width; scoring the
    test set adds four per sample of an evaluation batch; a checkpoint write adds a copy
    of everything it saves. Checked with ``ru_maxrss`` on iris, digits and mnist (hidden
    2048 to 300000, one to four layers, batch 32 to 4000, SGD, momentum and AdamW): the
    memory a run added was 0.7 to 1.1 times this estimate. A convolutional block counts
    as two layers: its im2col columns (in channels x kernel area x output pixels) and its
    output (an approximation; see :func:`_layer_widths`).

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
        with open("/proc/meminfo") as f:
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


def _check_memory(config, dataset):
    needed = estimate_memory(
        config, dataset.num_features, dataset.num_classes, len(dataset.y_train), len(dataset.y_test)
    )
    available = available_memory()
    if available is not None and needed > available:
        raise InsufficientMemoryError(
            f"the {_sizes(config, dataset)} network needs about {_format_bytes(needed)} of "
            f"memory to train, but only {_format_bytes(available)} is available; use "
            f"smaller hidden sizes{', fewer channels' if config.model == 'cnn' else ''} or "
            f"a smaller batch size"
        )


def _eval_batch(widest):
    return max(1, min(1024, _EVAL_BYTES // (4 * widest)))


def _layer_widths(config, num_classes):
    """Values per sample that each layer's forward pass makes: for a conv block its
    im2col columns and its (pre-pooling) output, then the widths of the Linear layers.

    >>> _layer_widths(TrainConfig(model="cnn", dataset="mnist", channels=(8,)), 10)
    [19600, 6272, 256, 10]
    """
    widths = []
    if config.model == "cnn":
        maps = _feature_maps(config)
        for (c_in, _, _), (c_out, height, width) in itertools.pairwise(maps):
            pixels = 4 * height * width  # the size before the 2x2 pooling (about)
            widths += [c_in * config.kernel**2 * pixels, c_out * pixels]
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
    """Score the model saved at ``path`` on its dataset's ``test`` or ``train`` split."""
    state, config = _read_checkpoint(path, for_training=False)
    dataset = _load_data(config)
    _check_data(state["data"], dataset, path)
    model = _saved_model(state, config, path)
    x, y = (
        (dataset.x_test, dataset.y_test) if split == "test" else (dataset.x_train, dataset.y_train)
    )
    return evaluate(model, x, y, config.loss, _config_eval_batch(config, dataset.num_classes))


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
    parallel: every rank takes its slice of each batch and the gradients are averaged,
    so the ranks take the steps one process would; only rank 0 logs and writes files.
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

    dataset = _load_data(config)
    if state is not None:
        _check_data(state["data"], dataset, resume)
    _check_memory(config, dataset)

    init_seed, shuffle_seed = np.random.SeedSequence(config.seed).spawn(2)
    model = build_model(
        config, dataset.num_features, dataset.num_classes, rng=np.random.default_rng(init_seed)
    )
    parallel = DataParallel(model, world)
    optimizer = build_optimizer(config, model.parameters())
    augmentation = dataset.augmentation if config.augment else {}
    loader = DataLoader(
        dataset.x_train,
        dataset.y_train,
        batch_size=config.batch_size,
        shuffle=True,
        seed=shuffle_seed,
        **augmentation,
    )
    eval_batch = _config_eval_batch(config, dataset.num_classes)
    loss_fn = _loss_function(config.loss, dataset.num_classes)
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
    log(f"{dataset.description}; model {_describe(config, dataset)}")
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
            "data": {
                "name": dataset.name,
                "num_features": dataset.num_features,
                "num_classes": dataset.num_classes,
                "standardizer": dataset.standardizer.state_dict(),
            },
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
                loss_fn,
                epoch,
                config.epochs,
                progress and world.is_root,
                last_good,
                _kept(last_good, kept),
                parallel,
            )
            scores = evaluate(model, dataset.x_test, dataset.y_test, config.loss, eval_batch)
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_accuracy": train_accuracy,
                    "test_loss": scores["loss"],
                    "test_accuracy": scores["accuracy"],
                    "seconds": time.perf_counter() - epoch_start,
                }
            )
            write_results()
            last_good = checkpoint_path
            log(
                f"epoch {epoch:3d}/{config.epochs}  train loss {train_loss:.4f}  "
                f"train acc {train_accuracy:.4f}  test acc {scores['accuracy']:.4f}  "
                f"({history[-1]['seconds'] * 1e3:.0f} ms)"
            )

    if history:
        final = history[-1]
    else:  # zero epochs: score the initial model, and still leave a checkpoint behind
        final = evaluate(model, dataset.x_test, dataset.y_test, config.loss, eval_batch)
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
        reason = exc.strerror or str(exc) or errno.errorcode.get(exc.errno, type(exc).__name__)
        raise OutputError(f"cannot write {path} ({reason}); {kept}") from exc


def _kept(last_good, note=None):
    if last_good:
        return f"the last good checkpoint {last_good} is left unchanged"
    return note or "no checkpoint was written"


def _train_epoch(
    model, optimizer, loader, loss_fn, epoch, epochs, progress, last_good, kept, parallel
):
    """One pass over the loader; returns the mean training loss and accuracy."""
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
                    outputs = model(Tensor(xb))
                    loss = loss_fn(outputs, yb)
                    value = loss.item()
                    hits = int(np.sum(outputs.data.argmax(axis=1) == yb))
                else:  # a last batch smaller than the world: this rank adds nothing
                    loss, value, hits = None, 0.0, 0
                if world.size > 1:  # the whole batch's loss, so every rank stops together
                    value, hits, count = world.allreduce_sum(
                        [np.array([value * len(yb), hits, len(yb)], np.float64)]
                    )[0]
                    value, hits, count = value / count, int(hits), int(count)
                else:
                    count = len(yb)
                if not math.isfinite(value):
                    _stop(f"non-finite loss ({value})", epoch, step, last_good, kept)
                optimizer.zero_grad()
                if loss is not None:
                    loss.backward()
                else:
                    for p in model.parameters():
                        p.grad = Tensor(np.zeros_like(p.data))
                if world.size > 1:
                    parallel.average_gradients(weight=len(yb))
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


def _sizes(config, dataset):
    """
    >>> _sizes(TrainConfig(model="cnn", dataset="mnist"), load_dataset("iris"))
    '1x28x28-conv5x5:32-pool-conv5x5:64-pool-256-3'
    """
    if config.model == "cnn":
        k = config.kernel
        layers = ["x".join(map(str, IMAGE_SHAPES[config.dataset]))]
        layers += [f"conv{k}x{k}:{c}-pool" for c in config.channels]
    else:
        layers = [dataset.num_features]
    return "-".join(map(str, [*layers, *config.hidden, dataset.num_classes]))


def _describe(config, dataset):
    augment = ", augmented" if config.augment else ""
    return (
        f"{_sizes(config, dataset)} {config.activation}{augment}, {config.loss} loss, "
        f"{config.optimizer} lr {config.learning_rate:g} weight decay {config.decay:g}, "
        f"batch {config.batch_size}"
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
