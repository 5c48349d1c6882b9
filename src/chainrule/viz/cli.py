"""``chainrule graph``: draw and explain the graph of a small expression.

    chainrule graph "(x + y) * z" --x -2 --y 5 --z -4 --out graph.svg

The expression is read by :mod:`chainrule.viz.expression` (numbers, names,
``+ - * / ** @``, unary minus, ``.T``, calls to a fixed set of chainrule functions and
``name = ...`` assignments that name intermediate nodes); nothing is ever evaluated by
Python. Every failure is one line on stderr and a non-zero exit status.
"""

import argparse
import ast
import importlib.util
import keyword
import math
import os
import sys
import textwrap

import numpy as np

from ..tensor import Tensor
from .expression import FUNCTIONS, MAX_NAME, ExpressionError, Limits, evaluate, quote
from .views import ENGINES, dot_program, graph, picture_format

_OPTIONS = ("out", "html", "seed", "engine", "rankdir")
LIMITS = Limits()  # nodes, numbers in one array, numbers in all arrays

EXAMPLES = """\
examples:
  chainrule graph "(x + y) * z" --x -2 --y 5 --z -4 --out graph.svg
  chainrule graph "q = x + y; f = q * z" --x -2 --y 5 --z -4 --html graph.html
  chainrule graph "sum(relu(x @ w + b))" --x shape=4,3 --w shape=3,2 --b "[0.1, -0.1]" --seed 1

Variables follow the expression as --NAME VALUE: a number, a nested list such as
"[[1,2],[3,4]]", or shape=2,3 for standard-normal values drawn with --seed. The names
out, html, seed, engine and rankdir are taken by the options. "q = x + y; f = q * z"
names the intermediate nodes q and f. The command draws at most 2,000 nodes and arrays of
at most 1,000,000 numbers (4,000,000 in all); draw bigger graphs from Python with
cr.viz.render(output, "graph.svg").

functions:
""" + textwrap.fill(", ".join(FUNCTIONS), width=88, initial_indent="  ", subsequent_indent="  ")


def register(subparsers):
    """Add the ``graph`` subcommand to a ``chainrule`` argument parser's subparsers.

    The parsed namespace's ``func`` runs it: ``sys.exit(args.func(args))``.
    """
    parser = subparsers.add_parser(
        "graph",
        help="draw and explain the graph of an expression",
        description="Run an expression forward and backward, draw its graph and print the "
        "chain rule edge by edge.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _configure(parser)
    return parser


def _configure(parser):
    parser.add_argument("expression", help='e.g. "(x + y) * z" or "q = x + y; f = q * z"')
    parser.add_argument(
        "--out", metavar="PATH", help="write the picture: .svg, .png, .html or .dot"
    )
    parser.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="PATH",
        help="also write the interactive page (default: next to --out)",
    )
    # Checked by _option, as when they follow the expression: one line, not a usage text.
    parser.add_argument("--seed", default="0", help="seed for shape=... values (default 0)")
    parser.add_argument(
        "--engine",
        default="auto",
        help="dot (Graphviz), python (no Graphviz) or auto (the default: dot "
        "when installed and the graph is small enough for it)",
    )
    parser.add_argument(
        "--rankdir", default="LR", help="inputs on the left (LR, the default) or at the top (TB)"
    )
    # Variables have the user's names, so they cannot be declared: they are read from here.
    parser.add_argument(
        "variables",
        nargs=argparse.REMAINDER,
        metavar="--NAME VALUE",
        help="a value for each variable of the expression",
    )
    parser.set_defaults(func=run)


def main(argv=None):
    """Run ``chainrule graph`` with ``argv`` (the arguments after ``graph``)."""
    parser = argparse.ArgumentParser(
        prog="chainrule graph",
        description="Draw and explain the graph of an expression.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _configure(parser)
    return run(parser.parse_args(argv))


def run(args):
    """Parse, run forward and backward, print the explanation, write the pictures.

    Returns the exit status: 0, 2 for a bad expression or option, 1 when drawing or
    writing failed; the error is one line on stderr.
    """
    try:
        with np.errstate(all="ignore"):  # nan and inf show in the picture, not as warnings
            return _run(args)
    except ExpressionError as exc:
        return _fail(exc, 2)
    except BrokenPipeError:  # stdout closed early (| head): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (OSError, RuntimeError, ImportError, ValueError, MemoryError) as exc:
        return _fail(exc, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(error, status):
    lines = str(error).strip().splitlines() or [type(error).__name__]
    print(f"chainrule graph: {lines[0]}", file=sys.stderr)
    return status


def _run(args):
    options, texts = _split(args)
    outputs = _outputs(options)
    rng = np.random.default_rng(options.seed)
    variables, total = {}, 0
    for name, text in texts.items():
        value = parse_value(text, rng, name=name, room=LIMITS.total - total)
        total += value.size
        variables[name] = Tensor(value, requires_grad=True, name=name)
    output = evaluate(options.expression, variables, LIMITS)
    if not isinstance(output, Tensor) or not output.requires_grad:
        raise ExpressionError("the expression uses no variables: give at least one, e.g. --x 2")
    if output.name is None:
        taken = set(variables) | {t.name for t in _named(output)}
        output.name = next((n for n in ("f", "out", "result") if n not in taken), None)
    view = graph(output, rankdir=options.rankdir, engine=options.engine)
    print(view.explain())
    for path in outputs:
        print(f"wrote {view.render(path)}")
    _note_not_finite(view.graph)
    return 0


def _named(output):
    """The tensors behind ``output`` (iteratively), to keep its name from clashing."""
    seen, stack = set(), [output]
    while stack:
        t = stack.pop()
        if id(t) not in seen:
            seen.add(id(t))
            yield t
            stack.extend(x for x in (t._inputs or ()) if isinstance(x, Tensor))


def _outputs(options):
    """The files to write, checked before any work: format, folder, engine."""
    paths = []  # (path, the page of --html)
    if options.out is not None:
        if not options.out.strip():
            raise ExpressionError("--out needs a file name, e.g. --out graph.svg")
        paths.append((options.out, False))
    if options.html is not None:
        paths.append((options.html or _beside(options.out, ".html"), True))
    try:
        program = dot_program(options.engine)
    except RuntimeError:
        raise ExpressionError(
            "--engine dot: Graphviz's dot is not on the PATH; install "
            "Graphviz, or use --engine auto to draw without it"
        ) from None
    for path, page in paths:
        try:
            suffix = picture_format(path)
        except ValueError as exc:
            raise ExpressionError(str(exc)) from None
        if page and suffix != ".html":
            raise ExpressionError(f"--html writes a .html page, not {quote(path)}")
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise ExpressionError(f"{quote(path)} is a directory; give a file name")
        if not os.path.isdir(folder):
            raise ExpressionError(f"the folder of {quote(path)} does not exist")
        if not os.access(folder, os.W_OK):
            raise ExpressionError(f"cannot write into the folder of {quote(path)}")
        if suffix == ".png" and program is None and importlib.util.find_spec("matplotlib") is None:
            raise ExpressionError(
                "a .png without Graphviz's dot needs matplotlib (pip install "
                "'chainrule[train]'); or write .svg or .html, which need "
                "nothing more"
            )
    return [path for path, _ in paths]


def _note_not_finite(traced):
    """Point to where nan or inf first appears: forward, else backward from the output."""

    def bad(array):
        return (
            array is not None
            and np.issubdtype(np.asarray(array).dtype, np.number)
            and not np.all(np.isfinite(array))
        )

    first = next(((node, "value") for node in traced.nodes if bad(node.value)), None)
    first = first or next(
        ((node, "gradient") for node in reversed(traced.nodes) if bad(node.grad)), None
    )
    if first is not None:
        print(
            f"chainrule graph: note: the {first[1]} of {first[0].name} is not finite (nan "
            "or inf); the picture shows the rest",
            file=sys.stderr,
        )


def _beside(path, suffix):
    if not path:
        return "graph" + suffix
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    return stem + suffix


def _split(args):
    """Options and ``--NAME VALUE`` variables from what followed the expression."""
    options = argparse.Namespace(**vars(args))
    for key in ("seed", "engine", "rankdir"):
        setattr(options, key, _option(key, getattr(args, key)))
    texts, tokens, i = {}, list(args.variables), 0
    while i < len(tokens):
        token = tokens[i]
        key, equals, value = token[2:].partition("=")
        if not token.startswith("--") or not key.isidentifier():
            raise ExpressionError(f"expected --NAME VALUE, got {quote(token, 40)}")
        if equals:
            i += 1
        elif key == "html" and (i + 1 == len(tokens) or tokens[i + 1].startswith("--")):
            value, i = "", i + 1
        elif i + 1 < len(tokens):
            value, i = tokens[i + 1], i + 2
        else:
            raise ExpressionError(f"--{key} needs a value")
        if key in _OPTIONS:
            setattr(options, key, _option(key, value))
        elif key in texts:
            raise ExpressionError(f"--{key} is given twice")
        else:
            texts[key] = _check_variable(key, value)
    return options, texts


def _check_variable(name, value):
    """``value``, once ``name`` is one the expression can use for a variable."""
    if len(name) > MAX_NAME:
        raise ExpressionError(
            f"--{name[:20]}...: a variable's name has at most {MAX_NAME} characters"
        )
    if name in FUNCTIONS or name == "T" or keyword.iskeyword(name):
        what = "a function" if name in FUNCTIONS else "taken" if name == "T" else "a keyword"
        raise ExpressionError(f"--{name}: {name} is {what}, so it cannot name a variable")
    return value


def _option(key, value):
    if key == "seed":
        try:
            seed = int(value)
        except ValueError:
            raise ExpressionError(f"--seed needs an integer, got {quote(value, 40)}") from None
        if seed < 0:
            raise ExpressionError(f"--seed must be 0 or more, got {seed}")
        return seed
    if key == "engine" and value not in ENGINES:
        raise ExpressionError(f"--engine must be one of {', '.join(ENGINES)}")
    if key == "rankdir" and value not in ("LR", "TB"):
        raise ExpressionError("--rankdir must be LR or TB")
    return value


def parse_value(text, rng=None, name="x", room=None):
    """A variable's value: a number, a nested list, or ``shape=2,3`` (standard normal).

    ``room`` is how many numbers may still be made (the rest of :data:`LIMITS`).

    >>> parse_value("-2"), parse_value("[[1, 2], [3, 4]]").shape
    (array(-2.), (2, 2))
    >>> parse_value("shape=2,3", np.random.default_rng(0)).shape
    (2, 3)
    >>> parse_value("None")
    Traceback (most recent call last):
    ...
    chainrule.viz.expression.ExpressionError: --x: cannot read 'None' as a number or a \
nested list of numbers (or shape=2,3)
    """
    text = text.strip()
    room = LIMITS.total if room is None else room
    if text.startswith("shape="):
        try:
            shape = tuple(int(n) for n in text[6:].split(",") if n.strip())
        except ValueError:
            raise ExpressionError(
                f"--{name}: bad shape in {quote(text, 40)}: use shape=2,3"
            ) from None
        size = math.prod(shape)
        if any(n < 0 for n in shape) or len(shape) > 32:
            raise ExpressionError(f"--{name}: shape {quote(text[6:], 40)[1:-1]} is not a shape")
        if size > min(LIMITS.elements, room):
            raise ExpressionError(
                f"--{name}: shape {quote(text[6:], 40)[1:-1]} has {size:,} numbers, more than "
                f"chainrule graph allows ({LIMITS.elements:,} in one array, "
                f"{LIMITS.total:,} in all); draw bigger graphs from Python with cr.viz"
            )
        return (rng or np.random.default_rng()).standard_normal(shape)
    try:
        # literal_eval reads literals only (numbers, lists); it never runs code.
        value = np.asarray(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = None
    if value is None or value.dtype.kind not in "iuf":  # None, True, text, complex, ragged
        raise ExpressionError(
            f"--{name}: cannot read {quote(text, 40)} as a number or a "
            "nested list of numbers (or shape=2,3)"
        )
    if value.size > min(LIMITS.elements, room):
        raise ExpressionError(
            f"--{name}: {value.size:,} numbers are more than chainrule graph allows"
        )
    return value.astype(np.float64)


if __name__ == "__main__":
    sys.exit(main())
