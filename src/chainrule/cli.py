"""The ``chainrule`` command: ``train``, ``evaluate``, ``sample`` and, with the viz
package, ``graph``.

    chainrule train                              # MLP on digits, results in runs/digits
    chainrule train --model cnn --dataset mnist --epochs 5
    chainrule train --hidden 128,64 --optimizer momentum --lr 0.05 --epochs 20
    chainrule train --resume runs/digits/checkpoint.npz --epochs 40
    chainrule evaluate runs/digits/checkpoint.npz
    chainrule train --model lstm --dataset text  # character-level LSTM, in runs/text
    chainrule sample runs/text/checkpoint.npz --prompt "def " --length 200

Every failure (a bad option, a damaged checkpoint, an output directory that cannot be
written, a full disk) prints one line naming the problem and exits non-zero: 2 for
settings, 1 for the rest.
"""

import argparse
import json
import math
import os
import sys

from . import __version__
from .data import TEXT_DATASETS, DatasetFileError, available_datasets
from .data.datasets import MissingDependencyError
from .errors import CheckpointError

TRAIN_EXAMPLES = """\
examples:
  chainrule train
  chainrule train --dataset iris --hidden 16 --epochs 50
  chainrule train --hidden 128,64 --activation tanh --optimizer nesterov --lr 0.02
  chainrule train --model cnn --dataset mnist --epochs 5
  chainrule train --model cnn --channels 16,32 --kernel 3 --dataset fashion_mnist \\
      --data-dir ~/data/FashionMNIST/raw
  chainrule train --resume runs/digits/checkpoint.npz --epochs 40
  chainrule train --model lstm --dataset text --epochs 1
  chainrule train --model lstm --text book.txt --hidden 512 --layers 2 --seq-len 64

--model lstm trains a character-level language model on the characters of --text FILE
(default: Python sources of the standard library; the last tenth is the test text) and
reports bits per character; generate text from it with chainrule sample.

Every epoch rewrites OUT/checkpoint.npz and OUT/metrics.json; OUT/curves.png is drawn
at the end. An OUT that already holds a run is refused: continue it with --resume, or
replace it with --overwrite. --epochs counts all epochs, those before a resume included.
When resuming, the saved settings are used; only --epochs, --lr, --weight-decay and --out
may change.
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (subcommands' parsers are too)."""

    def error(self, message):
        from .distributed import report_error

        # Once for the whole job under mpiexec, and the other ranks are not left waiting.
        report_error(f"{self.prog}: {message} (see {self.prog} --help)")
        self.exit(2)


def build_parser():
    """The argument parser of the ``chainrule`` command, with every subcommand."""
    from .train import (
        ACTIVATIONS,
        CLASSIFIER_DEFAULTS,
        CNN_DEFAULTS,
        CNN_LR,
        LOSSES,
        LSTM_DEFAULTS,
        LSTM_LR,
        MLP_HIDDEN,
        MODELS,
        OPTIMIZERS,
        WEIGHT_DECAY,
        TrainConfig,
    )
    from .train_text import CLIP_NORM

    parser = _Parser(
        prog="chainrule",
        description="Reverse-mode automatic differentiation over NumPy: train and "
        "evaluate networks, draw computational graphs.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    defaults = TrainConfig()
    train = subparsers.add_parser(
        "train",
        help="train an MLP, a CNN or an LSTM language model offline (default: MLP on digits)",
        description="Train a multi-layer perceptron, a convolutional network or a "
        "character-level LSTM language model, checkpointing after every epoch.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Defaults are None so that a resumed run can tell the flags given from those left out.
    train.add_argument(
        "--dataset",
        choices=[*available_datasets(), *TEXT_DATASETS],
        help=f"dataset to train on; text is for lstm (default: {defaults.dataset}, "
        f"{LSTM_DEFAULTS['dataset']} for lstm)",
    )
    train.add_argument(
        "--model",
        choices=MODELS,
        help="mlp: Linear layers; cnn: conv blocks (conv, activation, 2x2 "
        "max-pool) before them, for image datasets; lstm: a character-level language "
        f"model (embedding, LSTM, Linear) on a text (default: {defaults.model})",
    )
    train.add_argument(
        "--hidden",
        metavar="SIZES",
        help="hidden Linear layer sizes, comma separated; for lstm the one size of the "
        f"LSTM layers (default: {_join(MLP_HIDDEN)} for mlp, "
        f"{_join(CNN_DEFAULTS['hidden'])} for cnn, {_join(LSTM_DEFAULTS['hidden'])} for lstm)",
    )
    train.add_argument(
        "--channels",
        metavar="SIZES",
        help="cnn: output channels of the conv layers, comma separated "
        f"(default: {_join(CNN_DEFAULTS['channels'])})",
    )
    train.add_argument(
        "--kernel",
        type=int,
        help=f"cnn: conv kernel size, padded by half of it (default: {CNN_DEFAULTS['kernel']})",
    )
    train.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="cnn: randomly shift (and for fashion_mnist and cifar10 mirror) "
        "training images (default: on)",
    )
    train.add_argument(
        "--text",
        metavar="FILE",
        help="lstm: the UTF-8 text to learn, its last tenth held out for testing "
        "(default: Python source files of the standard library)",
    )
    train.add_argument(
        "--layers",
        type=int,
        help=f"lstm: number of stacked LSTM layers (default: {LSTM_DEFAULTS['layers']})",
    )
    train.add_argument(
        "--embedding",
        type=int,
        help=f"lstm: size of each character's embedding (default: {LSTM_DEFAULTS['embedding']})",
    )
    train.add_argument(
        "--seq-len",
        type=int,
        help="lstm: time steps backpropagated through per update; the state carries on "
        f"into the next chunk, detached (default: {LSTM_DEFAULTS['seq_len']}); gradients "
        f"are clipped to norm {CLIP_NORM:g}",
    )
    train.add_argument(
        "--data-dir",
        metavar="DIR",
        help="read mnist, fashion_mnist or cifar10 from the files downloaded "
        "into DIR (their official train/test split)",
    )
    train.add_argument(
        "--activation",
        choices=list(ACTIVATIONS),
        help=f"mlp, cnn: activation between layers (default: {CLASSIFIER_DEFAULTS['activation']})",
    )
    train.add_argument("--loss", choices=LOSSES, help=f"training loss (default: {defaults.loss})")
    train.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        help=f"update rule; momentum and nesterov are SGD with momentum 0.9 "
        f"(default: {defaults.optimizer})",
    )
    train.add_argument(
        "--lr",
        type=float,
        help="learning rate (default: "
        + ", ".join(f"{k} {v:g}" for k, v in OPTIMIZERS.items())
        + "; for cnn "
        + ", ".join(f"{k} {v:g}" for k, v in CNN_LR.items())
        + "; for lstm "
        + ", ".join(f"{k} {v:g}" for k, v in LSTM_LR.items())
        + ")",
    )
    train.add_argument(
        "--batch-size",
        type=int,
        help="samples per mini-batch; for lstm the number of streams through the text "
        f"read side by side (default: {defaults.batch_size})",
    )
    train.add_argument(
        "--epochs",
        type=int,
        help=f"total number of epochs (default: {defaults.epochs}, "
        f"{LSTM_DEFAULTS['epochs']} for lstm)",
    )
    train.add_argument(
        "--seed", type=int, help=f"seed of initialisation and shuffling (default: {defaults.seed})"
    )
    train.add_argument(
        "--weight-decay",
        type=float,
        help="L2 penalty, decoupled for adamw (default: "
        + ", ".join(f"{k} {v:g}" for k, v in WEIGHT_DECAY.items())
        + ", 0 for the others and for cnn and lstm)",
    )
    train.add_argument(
        "--out",
        metavar="DIR",
        help="output directory (default: runs/DATASET, or the checkpoint's "
        "directory when resuming)",
    )
    train.add_argument(
        "--resume", metavar="CHECKPOINT", help="continue the run saved in CHECKPOINT"
    )
    train.add_argument(
        "--overwrite", action="store_true", help="replace the run already in the output directory"
    )
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a saved model on its dataset",
        description="Rebuild the model saved in a training checkpoint and report its loss, "
        "accuracy and confusion matrix (for a language model: loss, bits per character "
        "and accuracy of the next character).",
    )
    evaluate.add_argument("checkpoint", help="a checkpoint.npz written by chainrule train")
    evaluate.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which part of the dataset to score (default: test)",
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the results as JSON instead of text"
    )
    evaluate.set_defaults(func=run_evaluate)

    sample = subparsers.add_parser(
        "sample",
        help="generate text from a saved language model",
        description="Print PROMPT followed by the characters a language model trained with "
        "--model lstm generates after it, one at a time.",
    )
    sample.add_argument(
        "checkpoint", help="a checkpoint.npz written by chainrule train --model lstm"
    )
    sample.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    sample.add_argument(
        "--length", type=int, default=200, help="characters to generate (default: 200)"
    )
    sample.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="below 1 picks likelier characters, above 1 more varied ones; 0 always the "
        "likeliest (default: 1)",
    )
    sample.add_argument(
        "--seed", type=int, help="seed of the draws, to repeat a sample (default: fresh each run)"
    )
    sample.set_defaults(func=run_sample)

    try:
        from .viz import cli as viz_cli
    except ImportError:  # the graph command is optional
        pass
    else:
        viz_cli.register(subparsers)
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


def run_train(args):
    """``chainrule train``: train, print one line per epoch; 1 or 2 when training failed."""
    from .train import (
        CHECKPOINT,
        ConfigError,
        InsufficientMemoryError,
        NonFiniteLossError,
        RunExistsError,
        train,
    )

    given = {
        name: getattr(args, name)
        for name in (
            "dataset",
            "model",
            "hidden",
            "channels",
            "kernel",
            "augment",
            "data_dir",
            "text",
            "layers",
            "embedding",
            "seq_len",
            "activation",
            "loss",
            "optimizer",
            "lr",
            "batch_size",
            "epochs",
            "seed",
            "weight_decay",
            "out",
        )
        if getattr(args, name) is not None
    }
    if args.resume == "":
        return _fail("train", "--resume needs a checkpoint path, got ''", 2)
    try:
        result = train(
            resume=args.resume,
            overrides=given,
            overwrite=args.overwrite,
            log=_print,
            progress=sys.stdout.isatty(),
        )
    except KeyboardInterrupt:
        _fail(
            "train",
            "interrupted; the checkpoint of the last finished epoch is kept, "
            "continue with --resume",
            130,
        )
        return 130
    except ConfigError as exc:
        return _fail("train", f"--{exc.field.replace('_', '-')} {exc.problem}", 2)
    except RunExistsError as exc:
        checkpoint = os.path.join(exc.out, CHECKPOINT)
        return _fail(
            "train",
            f"{exc.out} already holds a training run "
            f"({', '.join(exc.found)}); continue it with --resume "
            f"{checkpoint} or replace it with --overwrite",
            1,
        )
    except InsufficientMemoryError as exc:
        return _fail("train", str(exc), 1)
    except MemoryError as exc:
        return _fail(
            "train",
            f"out of memory ({exc or 'an allocation failed'}); use smaller "
            f"--hidden or --channels sizes or --batch-size",
            1,
        )
    except ValueError as exc:
        return _fail("train", exc, 2)
    except (NonFiniteLossError, CheckpointError, MissingDependencyError, OSError) as exc:
        return _fail("train", exc, 1)
    from .distributed import init

    if init().is_root:  # under mpiexec every rank trains; one reports
        bits = ""
        if result.config.model == "lstm":
            bits = f"test bits/char {result.test_loss / math.log(2):.3f}, "
        print(
            f"{bits}test accuracy {result.test_accuracy:.4f}, test loss "
            f"{result.test_loss:.4f} after {result.epoch} epochs ({result.seconds:.1f} s); "
            f"wrote {result.out}"
        )
    return 0


def run_evaluate(args):
    """``chainrule evaluate``: loss, accuracy and confusion matrix of a checkpoint."""
    from .train import evaluate_checkpoint

    if not args.checkpoint:
        return _fail("evaluate", "CHECKPOINT needs a path, got ''", 2)
    try:
        scores = evaluate_checkpoint(args.checkpoint, split=args.split)
    except MemoryError as exc:
        return _fail("evaluate", f"out of memory ({exc or 'an allocation failed'})", 1)
    except (CheckpointError, MissingDependencyError, DatasetFileError, OSError) as exc:
        return _fail("evaluate", exc, 1)
    if "bits_per_char" in scores:  # a language model
        if args.json:
            print(json.dumps(scores))
            return 0
        print(
            f"{args.split} loss {scores['loss']:.4f}  bits/char {scores['bits_per_char']:.3f}  "
            f"accuracy {scores['accuracy']:.4f}  ({scores['num_samples']} characters)"
        )
        return 0
    if args.json:
        print(json.dumps({**scores, "confusion": scores["confusion"].tolist()}))
        return 0
    print(
        f"{args.split} loss {scores['loss']:.4f}  accuracy {scores['accuracy']:.4f}  "
        f"({scores['num_samples']} samples)"
    )
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(_format_confusion(scores["confusion"]))
    return 0


def run_sample(args):
    """``chainrule sample``: print the prompt and the text a language model continues it with."""
    from .train import sample_checkpoint

    if not args.checkpoint:
        return _fail("sample", "CHECKPOINT needs a path, got ''", 2)
    if args.length < 0:
        return _fail("sample", f"--length must be >= 0, got {args.length}", 2)
    if not 0 <= args.temperature < math.inf:
        return _fail(
            "sample", f"--temperature must be a finite number >= 0, got {args.temperature}", 2
        )
    if args.seed is not None and args.seed < 0:
        return _fail("sample", f"--seed must be >= 0, got {args.seed}", 2)
    try:
        text = sample_checkpoint(
            args.checkpoint, args.prompt, args.length, args.temperature, args.seed
        )
    except MemoryError as exc:
        return _fail("sample", f"out of memory ({exc or 'an allocation failed'})", 1)
    except (CheckpointError, OSError) as exc:
        return _fail("sample", exc, 1)
    except ValueError as exc:  # the prompt
        return _fail("sample", exc, 2)
    print(text)
    return 0


def _fail(command, problem, status):
    """Print ``problem`` as one line and return ``status``.

    Under mpiexec the line is printed once for the whole job, and this rank's exit ends
    the ranks that would otherwise wait for it forever.
    """
    from .distributed import report_error

    message = " ".join(str(problem).splitlines()) or type(problem).__name__
    report_error(f"chainrule {command}: {message}")
    return status


def _format_confusion(confusion):
    """Right-aligned table with class numbers on both axes.

    >>> print(_format_confusion([[12, 0], [1, 3]]))
    true/pred  0  1
            0 12  0
            1  1  3
    """
    rows = [[str(v) for v in row] for row in confusion]
    width = max(len(str(len(rows) - 1)), *(len(v) for row in rows for v in row))
    label = "true/pred"
    lines = [label + " " + " ".join(f"{c:>{width}}" for c in range(len(rows)))]
    for c, row in enumerate(rows):
        lines.append(f"{c:>{len(label)}} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def _join(sizes):
    return ",".join(map(str, sizes))


def _print(line):
    print(line, flush=True)
