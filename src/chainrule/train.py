"""Train a multi-layer perceptron on an offline dataset, with checkpoints that resume exactly.

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
import json
import math
import os
import sys
import time

import numpy as np

from . import nn, optim
from .autograd.mode import no_grad
from .data import DataLoader, load_dataset, one_hot
from .distributed import DataParallel, init
from .errors import CheckpointError
from .serialization import load, save, write_atomically
from .tensor import Tensor

__all__ = ["TrainConfig", "TrainResult", "NonFiniteLossError", "train", "evaluate",
           "evaluate_checkpoint", "load_model", "build_model", "build_optimizer",
           "ACTIVATIONS", "LOSSES", "OPTIMIZERS", "WEIGHT_DECAY"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "leaky_relu": nn.LeakyReLU}
LOSSES = ("cross_entropy", "mse", "hinge")
# The learning rate each optimizer gets when none is given.
OPTIMIZERS = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05,
              "rmsprop": 1e-3, "adam": 3e-3, "adamw": 3e-3}
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


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run; stored in its checkpoint.

    ``lr=None`` takes the optimizer's entry in :data:`OPTIMIZERS`; ``weight_decay=None``
    its entry in :data:`WEIGHT_DECAY` (or 0); ``out=None`` is
    ``runs/<dataset>``, or the checkpoint's directory when resuming. ``epochs`` is the
    total number of epochs, counting those before a resume.

    >>> TrainConfig(hidden="128,64").hidden
    (128, 64)
    """

    dataset: str = "digits"
    hidden: tuple = (1024,)
    activation: str = "relu"
    loss: str = "cross_entropy"
    optimizer: str = "adamw"
    lr: float | None = None
    batch_size: int = 32
    epochs: int = 30
    seed: int = 0
    weight_decay: float | None = None
    out: str | None = None

    def __post_init__(self):
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)):
            hidden = [hidden]
        elif isinstance(hidden, str):
            hidden = [h for h in hidden.split(",") if h.strip()]
        try:
            self.hidden = tuple(int(h) for h in hidden)
        except (TypeError, ValueError):
            raise ValueError(f"TrainConfig: hidden must be layer sizes such as 128 or "
                             f"'128,64', got {self.hidden!r}") from None
        self._check()

    def _check(self):
        def require(ok, message):
            if not ok:
                raise ValueError(f"TrainConfig: {message}")

        require(all(h > 0 for h in self.hidden), f"hidden sizes must be positive, "
                                                 f"got {self.hidden}")
        require(self.activation in ACTIVATIONS, f"activation must be one of "
                f"{', '.join(ACTIVATIONS)}, got {self.activation!r}")
        require(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, "
                                     f"got {self.loss!r}")
        require(self.optimizer in OPTIMIZERS, f"optimizer must be one of "
                f"{', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        require(self.lr is None or self.lr > 0, f"lr must be positive, got {self.lr}")
        require(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
        require(self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}")
        require(self.weight_decay is None or self.weight_decay >= 0,
                f"weight_decay must be >= 0, got {self.weight_decay}")

    @property
    def learning_rate(self):
        """``lr``, or the optimizer's default when it is None."""
        return OPTIMIZERS[self.optimizer] if self.lr is None else self.lr

    @property
    def decay(self):
        """``weight_decay``, or the optimizer's default when it is None."""
        if self.weight_decay is None:
            return WEIGHT_DECAY.get(self.optimizer, 0.0)
        return self.weight_decay

    def to_dict(self):
        """Plain values only (``hidden`` as a list), ready for JSON or a checkpoint."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values

    @classmethod
    def from_dict(cls, values):
        """Inverse of :meth:`to_dict`; unknown keys raise TypeError."""
        return cls(**values)


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


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the last good checkpoint is untouched."""

    def __init__(self, message, epoch, step, checkpoint=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.checkpoint = checkpoint


# ---------------------------------------------------------------------------- building

def build_model(config, num_features, num_classes, rng=None):
    """The MLP of ``config``: Linear layers with the activation between them.

    >>> build_model(TrainConfig(hidden=(8,)), 4, 3, rng=0)
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    """
    rng = np.random.default_rng(rng)
    layers = []
    width = num_features
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
    kinds = {"adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "adam": optim.Adam,
             "adamw": optim.AdamW}
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
        outputs, Tensor(one_hot(labels, num_classes, dtype=outputs.dtype)))


# ---------------------------------------------------------------------------- evaluation

def evaluate(model, x, y, loss="cross_entropy", batch_size=1024):
    """Mean loss, accuracy and confusion matrix of ``model`` on ``(x, y)``, without a graph.

    ``confusion[i, j]`` counts samples of class ``i`` predicted as class ``j``.

    >>> model = build_model(TrainConfig(hidden=(4,)), 2, 2, rng=0)
    >>> scores = evaluate(model, np.zeros((3, 2), np.float32), np.array([0, 1, 1]))
    >>> scores["num_samples"], int(scores["confusion"].sum())
    (3, 3)
    """
    x = np.asarray(x)
    y = np.asarray(y)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = np.concatenate([model(Tensor(x[start:start + batch_size])).data
                                      for start in range(0, max(len(x), 1), batch_size)])
            num_classes = outputs.shape[1]
            loss_value = _loss_function(loss, num_classes)(Tensor(outputs), y).item()
    finally:
        model.train(was_training)
    predicted = outputs.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    return {"loss": float(loss_value), "accuracy": float(np.mean(predicted == y)),
            "confusion": confusion, "num_samples": int(len(y))}


def load_model(path):
    """Rebuild the model saved in the training checkpoint at ``path``.

    Returns ``(model, state)``, ``state`` being the whole checkpoint as loaded.
    """
    state = load(path)
    _check_kind(state, path)
    config = TrainConfig.from_dict(state["config"])
    data = state["data"]
    model = build_model(config, data["num_features"], data["num_classes"])
    model.load_state_dict(state["model"])
    return model, state


def evaluate_checkpoint(path, split="test"):
    """Score the model saved at ``path`` on its dataset's ``test`` or ``train`` split."""
    model, state = load_model(path)
    config = TrainConfig.from_dict(state["config"])
    dataset = _load_data(config)
    x, y = ((dataset.x_test, dataset.y_test) if split == "test"
            else (dataset.x_train, dataset.y_train))
    return evaluate(model, x, y, config.loss)


def _check_kind(state, path):
    if not isinstance(state, dict) or state.get("kind") != _KIND:
        raise CheckpointError(f"{path}: not a training checkpoint (no kind {_KIND!r}); "
                              "it was not written by chainrule train")


def _load_data(config):
    # The split and the standardisation statistics depend on the dataset alone, so a
    # resumed run or an evaluation sees exactly the arrays the original run saw.
    return load_dataset(config.dataset, seed=_SPLIT_SEED)


# ---------------------------------------------------------------------------- training

def train(config=None, *, resume=None, overrides=None, log=None, progress=False, world=None):
    """Run the training job of ``config`` and return a :class:`TrainResult`.

    ``resume`` is the path of a checkpoint to continue from. The saved configuration
    is then used, updated with the ``overrides`` dict; or ``config`` is given whole.
    Either way it may differ from the saved one only in :data:`RESUMABLE` fields.
    ``log`` receives one line per epoch (e.g. ``print``); ``progress=True`` shows a
    tqdm bar over each epoch's batches.

    Raises :class:`NonFiniteLossError` when the loss stops being finite, after which
    the last checkpoint written is the last good one.

    Under ``mpiexec`` (``world``: the MPI world, found by default) the run is data
    parallel: every rank takes its slice of each batch and the gradients are averaged,
    so the ranks take the steps one process would; only rank 0 logs and writes files.
    """
    world = world or init()
    log = (log or (lambda line: None)) if world.is_root else (lambda line: None)
    state = None if resume is None else load(resume)
    config = _resolve_config(config, overrides, state, resume)
    out = config.out or (os.path.dirname(os.path.abspath(resume)) if resume
                         else os.path.join("runs", config.dataset))
    os.makedirs(out, exist_ok=True)
    checkpoint_path = os.path.join(out, CHECKPOINT)

    dataset = _load_data(config)
    init_seed, shuffle_seed = np.random.SeedSequence(config.seed).spawn(2)
    model = build_model(config, dataset.num_features, dataset.num_classes,
                        rng=np.random.default_rng(init_seed))
    parallel = DataParallel(model, world)
    optimizer = build_optimizer(config, model.parameters())
    loader = DataLoader(dataset.x_train, dataset.y_train, batch_size=config.batch_size,
                        shuffle=True, seed=shuffle_seed)
    loss_fn = _loss_function(config.loss, dataset.num_classes)
    history, epoch = [], 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        loader.load_state_dict(state["loader"])
        history, epoch = list(state["history"]), int(state["epoch"])
        # Options changed on resume take effect (unchanged ones are set to what they were).
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate
            group["weight_decay"] = config.decay
    log(f"{dataset.description}; model {_describe(config, dataset)}")
    if epoch:
        log(f"resuming from {resume} after epoch {epoch}")

    def checkpoint():
        return {"kind": _KIND, "epoch": epoch, "config": config.to_dict(),
                "model": dict(model.state_dict()), "optimizer": optimizer.state_dict(),
                "loader": loader.state_dict(), "history": history,
                "data": {"name": dataset.name, "num_features": dataset.num_features,
                         "num_classes": dataset.num_classes,
                         "standardizer": dataset.standardizer.state_dict()}}

    started = time.perf_counter()
    last_good = resume
    with _one_blas_thread():
        while epoch < config.epochs:
            epoch += 1
            epoch_start = time.perf_counter()
            train_loss, train_accuracy = _train_epoch(
                model, optimizer, loader, loss_fn, epoch, config.epochs,
                progress and world.is_root, last_good, parallel)
            scores = evaluate(model, dataset.x_test, dataset.y_test, config.loss)
            history.append({"epoch": epoch, "train_loss": train_loss,
                            "train_accuracy": train_accuracy, "test_loss": scores["loss"],
                            "test_accuracy": scores["accuracy"],
                            "seconds": time.perf_counter() - epoch_start})
            if world.is_root:
                save(checkpoint(), checkpoint_path)
                _write_metrics(out, config, history)
            last_good = checkpoint_path
            log(f"epoch {epoch:3d}/{config.epochs}  train loss {train_loss:.4f}  "
                f"train acc {train_accuracy:.4f}  test acc {scores['accuracy']:.4f}  "
                f"({history[-1]['seconds'] * 1e3:.0f} ms)")

    if history:
        final = history[-1]
    else:  # zero epochs: score the initial model, and still leave a checkpoint behind
        final = evaluate(model, dataset.x_test, dataset.y_test, config.loss)
        if world.is_root:
            save(checkpoint(), checkpoint_path)
            _write_metrics(out, config, history)
    if world.is_root:
        _write_plot(os.path.join(out, PLOT), history, config)
    return TrainResult(model=model, optimizer=optimizer, config=config, history=history,
                       epoch=epoch, test_loss=final["test_loss" if history else "loss"],
                       test_accuracy=final["test_accuracy" if history else "accuracy"],
                       out=out, checkpoint=checkpoint_path,
                       seconds=time.perf_counter() - started)


def _train_epoch(model, optimizer, loader, loss_fn, epoch, epochs, progress, last_good,
                 parallel):
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
                        [np.array([value * len(yb), hits, len(yb)], np.float64)])[0]
                    value, hits, count = value / count, int(hits), int(count)
                else:
                    count = len(yb)
                if not math.isfinite(value):
                    _stop(f"non-finite loss ({value})", epoch, step, last_good)
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
        _stop("non-finite parameters", epoch, step, last_good)
    return total_loss / seen, correct / seen


def _stop(found, epoch, step, last_good):
    kept = (f"the last good checkpoint {last_good} is left unchanged" if last_good
            else "no checkpoint was written")
    raise NonFiniteLossError(f"training stopped: {found} at epoch {epoch}, step {step}; "
                             f"{kept}. Try a smaller learning rate.", epoch, step, last_good)


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
    return tqdm(loader, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch",
                file=sys.stdout, dynamic_ncols=True)


def _resolve_config(config, overrides, state, resume):
    if state is None:
        return config if config is not None else TrainConfig(**(overrides or {}))
    _check_kind(state, resume)
    saved = TrainConfig.from_dict(state["config"])
    if config is None:
        config = dataclasses.replace(saved, **(overrides or {}))
    return _resumed_config(saved, config, resume)


def _resumed_config(saved, given, path):
    changed = [field.name for field in dataclasses.fields(TrainConfig)
               if field.name not in RESUMABLE
               and getattr(given, field.name) != getattr(saved, field.name)]
    if changed:
        details = ", ".join(f"{name}={getattr(saved, name)!r} (given "
                            f"{getattr(given, name)!r})" for name in changed)
        raise ValueError(f"cannot resume from {path} with different settings: it was saved "
                         f"with {details}; only {', '.join(RESUMABLE)} may change")
    return given


def _describe(config, dataset):
    sizes = [dataset.num_features, *config.hidden, dataset.num_classes]
    return (f"{'-'.join(map(str, sizes))} {config.activation}, {config.loss} loss, "
            f"{config.optimizer} lr {config.learning_rate:g} weight decay {config.decay:g}, "
            f"batch {config.batch_size}")


def _write_metrics(out, config, history):
    metrics = {"dataset": config.dataset, "config": config.to_dict(), "epochs": history,
               "final": history[-1] if history else None}
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
    fig.suptitle(f"{config.dataset}: {config.optimizer}, hidden {list(config.hidden)}")
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100))
