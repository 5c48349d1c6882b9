"""``chainrule graph``: draw and explain the graph of a small expression.

    chainrule graph "(x + y) * z" --x -2 --y 5 --z -4 --out graph.svg

The expression is parsed with :mod:`ast` and walked over an allow-list (numbers,
names, ``+ - * / ** @``, unary minus, ``.T``, calls to a fixed set of chainrule
functions and ``name = ...`` assignments that name intermediate nodes); nothing
is ever evaluated by Python itself.
"""

import argparse
import ast
import operator
import sys
import textwrap

import numpy as np

from .. import ops
from ..tensor import Tensor
from .views import ENGINES, graph

#: The functions an expression may call.
FUNCTIONS = {name: getattr(ops, name) for name in (
    "exp", "log", "log1p", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "softplus",
    "sum", "mean", "max", "min", "prod", "maximum", "minimum", "softmax", "log_softmax",
    "logsumexp", "trace", "transpose", "reshape", "flatten")}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow, ast.MatMult: operator.matmul}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_OPTIONS = ("out", "html", "seed", "engine", "rankdir")
_MAX_ELEMENTS = 1_000_000

EXAMPLES = """\
examples:
  chainrule graph "(x + y) * z" --x -2 --y 5 --z -4 --out graph.svg
  chainrule graph "q = x + y; f = q * z" --x -2 --y 5 --z -4 --html graph.html
  chainrule graph "sum(relu(x @ w + b))" --x shape=4,3 --w shape=3,2 --b "[0.1, -0.1]" --seed 1

Variables follow the expression as --NAME VALUE: a number, a nested list such as
"[[1,2],[3,4]]", or shape=2,3 for standard-normal values drawn with --seed. The names
out, html, seed, engine and rankdir are taken by the options. "q = x + y; f = q * z"
names the intermediate nodes q and f.

functions:
""" + textwrap.fill(", ".join(FUNCTIONS), width=88, initial_indent="  ", subsequent_indent="  ")


class ExpressionError(ValueError):
    """An expression or a value the graph command cannot use."""


def register(subparsers):
    """Add the ``graph`` subcommand to a ``chainrule`` argument parser's subparsers.

    The parsed namespace's ``func`` runs it: ``sys.exit(args.func(args))``.
    """
    parser = subparsers.add_parser(
        "graph", help="draw and explain the graph of an expression",
        description="Run an expression forward and backward, draw its graph and print the "
                    "chain rule edge by edge.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _configure(parser)
    return parser


def _configure(parser):
    parser.add_argument("expression", help='e.g. "(x + y) * z" or "q = x + y; f = q * z"')
    parser.add_argument("--out", metavar="PATH",
                        help="write the picture: .svg, .png, .html or .dot")
    parser.add_argument("--html", nargs="?", const="", metavar="PATH",
                        help="also write the interactive page (default: next to --out)")
    parser.add_argument("--seed", type=int, default=0, help="seed for shape=... values")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="dot (Graphviz), python (grandalf) or auto (dot when installed)")
    parser.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                        help="inputs on the left (LR) or at the top (TB)")
    # Variables have the user's names, so they cannot be declared: they are read from here.
    parser.add_argument("variables", nargs=argparse.REMAINDER, metavar="--NAME VALUE",
                        help="a value for each variable of the expression")
    parser.set_defaults(func=run)


def main(argv=None):
    """Run ``chainrule graph`` with ``argv`` (the arguments after ``graph``)."""
    parser = argparse.ArgumentParser(
        prog="chainrule graph", description="Draw and explain the graph of an expression.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _configure(parser)
    return run(parser.parse_args(argv))


def run(args):
    """Parse, run forward and backward, print the explanation, write the pictures."""
    try:
        options, texts = _split(args)
        rng = np.random.default_rng(options.seed)
        variables = {name: Tensor(parse_value(text, rng), requires_grad=True, name=name)
                     for name, text in texts.items()}
        output = evaluate(options.expression, variables)
    except ExpressionError as exc:
        print(f"chainrule graph: {exc}", file=sys.stderr)
        return 2
    if output.name is None:
        output.name = "f" if "f" not in variables else "out"
    view = graph(output, rankdir=options.rankdir, engine=options.engine)
    print(view.explain())
    if options.out:
        print(f"wrote {view.render(options.out)}")
    if options.html is not None:
        path = options.html or _beside(options.out, ".html")
        print(f"wrote {view.render(path)}")
    return 0


def _beside(path, suffix):
    if not path:
        return "graph" + suffix
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    return stem + suffix


def _split(args):
    """Options and ``--NAME VALUE`` variables from what followed the expression."""
    options = argparse.Namespace(**vars(args))
    texts, tokens, i = {}, list(args.variables), 0
    while i < len(tokens):
        token = tokens[i]
        key, equals, value = token[2:].partition("=")
        if not token.startswith("--") or not key.isidentifier():
            raise ExpressionError(f"expected --NAME VALUE, got {token!r}")
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
        else:
            texts[key] = value
    return options, texts


def _option(key, value):
    if key == "seed":
        try:
            return int(value)
        except ValueError:
            raise ExpressionError(f"--seed needs an integer, got {value!r}") from None
    if key == "engine" and value not in ENGINES:
        raise ExpressionError(f"--engine must be one of {', '.join(ENGINES)}")
    if key == "rankdir" and value not in ("LR", "TB"):
        raise ExpressionError("--rankdir must be LR or TB")
    return value


def parse_value(text, rng=None):
    """A variable's value: a number, a nested list, or ``shape=2,3`` (standard normal).

    >>> parse_value("-2"), parse_value("[[1, 2], [3, 4]]").shape
    (array(-2.), (2, 2))
    >>> parse_value("shape=2,3", np.random.default_rng(0)).shape
    (2, 3)
    """
    text = text.strip()
    if text.startswith("shape="):
        try:
            shape = tuple(int(n) for n in text[6:].split(",") if n.strip())
        except ValueError:
            raise ExpressionError(f"bad shape in {text!r}: use shape=2,3") from None
        if any(n < 0 for n in shape) or np.prod(shape) > _MAX_ELEMENTS:
            raise ExpressionError(f"shape {shape} is negative or too large")
        return (rng or np.random.default_rng()).standard_normal(shape)
    try:
        # literal_eval reads literals only (numbers, lists); it never runs code.
        value = np.asarray(ast.literal_eval(text), dtype=np.float64)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ExpressionError(f"cannot read {text!r} as a number or a nested list of "
                              "numbers (or shape=2,3)") from None
    return value


def evaluate(source, variables):
    """Run ``source`` over ``variables`` (name -> Tensor) and return the resulting Tensor.

    >>> import chainrule as cr
    >>> x = cr.tensor(3.0, requires_grad=True, name="x")
    >>> evaluate("q = x * x; exp(-q)", {"x": x}).grad_fn
    <exp backward>
    >>> evaluate("__import__('os')", {})
    Traceback (most recent call last):
    ...
    chainrule.viz.cli.ExpressionError: '__import__' is not a function an expression may call
    """
    try:
        tree = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ExpressionError(f"cannot parse {source!r}: {exc}") from None
    if not tree.body:
        raise ExpressionError("the expression is empty")
    names, result = dict(variables), None
    for statement in tree.body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            result = _Evaluator(names).visit(statement.value)
            target = statement.targets[0].id
            if isinstance(result, Tensor) and result.name is None and not result.is_leaf:
                result.name = target  # q = x + y names the node q
            names[target] = result
        elif isinstance(statement, ast.Expr):
            result = _Evaluator(names).visit(statement.value)
        else:
            raise ExpressionError(f"only expressions and 'name = expression' are allowed, "
                                  f"not {type(statement).__name__}")
    if not isinstance(result, Tensor):
        raise ExpressionError("the expression uses no variables: give at least one, "
                              "e.g. --x 2")
    return result


class _Evaluator(ast.NodeVisitor):
    """Evaluates the allow-listed nodes; anything else is an error."""

    def __init__(self, names):
        self.names = names

    def generic_visit(self, node):
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")

    def visit_Constant(self, node):
        if type(node.value) not in (int, float):
            raise ExpressionError(f"{node.value!r} is not a number")
        return float(node.value)  # floats: 10 ** 10 ** 10 overflows at once instead of hanging

    def visit_Name(self, node):
        if node.id in self.names:
            return self.names[node.id]
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function: call it, e.g. {node.id}(x)")
        raise ExpressionError(f"no value for {node.id!r}: pass --{node.id} VALUE")

    def visit_BinOp(self, node):
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        return self._apply(op, self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node):
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        return self._apply(op, self.visit(node.operand))

    def visit_Attribute(self, node):
        if node.attr != "T":
            raise ExpressionError(f"attribute .{node.attr} is not allowed (only .T)")
        return self._apply(lambda x: x.T, self.visit(node.value))

    def visit_Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            shown = name or ast.unparse(node.func)
            raise ExpressionError(f"{shown!r} is not a function an expression may call")
        args = [self.visit(a) for a in node.args]
        keywords = {}
        for kw in node.keywords:
            if kw.arg not in ("axis", "keepdims", "shape"):
                raise ExpressionError(f"keyword {kw.arg!r} is not allowed in {name}()")
            try:
                keywords[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:
                raise ExpressionError(f"{kw.arg}= needs a literal value") from None
        return self._apply(FUNCTIONS[name], *args, **keywords)

    @staticmethod
    def _apply(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ExpressionError:
            raise
        except ArithmeticError as exc:
            raise ExpressionError(f"{type(exc).__name__} in the expression: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise ExpressionError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
