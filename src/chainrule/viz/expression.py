"""The expressions of ``chainrule graph``: read and run without recursion, never by Python.

    q = x + y; f = q * z
    sum(relu(x @ w + b), axis=0)

An expression is numbers, names, ``+ - * / ** @`` with Python's precedence, unary
``-`` and ``+``, ``.T``, calls of the functions in :data:`FUNCTIONS` (keyword arguments
``axis``, ``keepdims`` and ``shape`` take literals) and ``name = expression`` statements
separated by ``;`` or new lines. The text is read token by token onto an operator
stack (shunting-yard) into postfix order and run on a value stack, so a 2,000-term sum
or 500 minus signs in a row need no recursion. Limits on the number of nodes and on
the size of every array are checked before each op runs, so no expression can make
the command allocate more than they allow.
"""

import keyword
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor

#: The functions an expression may call: name -> (positional arguments, keywords).
SIGNATURES = {
    **{
        name: (1, ())
        for name in (
            "exp",
            "log",
            "log1p",
            "sqrt",
            "abs",
            "sin",
            "cos",
            "tanh",
            "sigmoid",
            "relu",
            "softplus",
            "trace",
            "transpose",
            "flatten",
        )
    },
    **{
        name: (1, ("axis", "keepdims"))
        for name in ("sum", "mean", "max", "min", "prod", "logsumexp")
    },
    "softmax": (1, ("axis",)),
    "log_softmax": (1, ("axis",)),
    "reshape": (1, ("shape",)),
    "maximum": (2, ()),
    "minimum": (2, ()),
}
FUNCTIONS = {name: getattr(ops, name) for name in SIGNATURES}
MAX_NAME = 64  # characters
QUOTE = 80  # characters of the expression an error message quotes

_BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
    "@": operator.matmul,
}
_UNARY = {"-": operator.neg, "+": operator.pos}
# Python's precedence: ** binds tighter than a unary minus on its left (-x ** 2 is
# -(x ** 2)), a unary minus tighter than * / @, those tighter than + -.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "unary": 3, "**": 4}
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f]+)
  | (?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*|[-+*/@(),.;=\n\[\]])
""",
    re.VERBOSE,
)


class ExpressionError(ValueError):
    """An expression or a value the graph command cannot use."""


@dataclass
class Limits:
    """The most an expression may build: nodes, numbers in one array, numbers in all."""

    nodes: int = 2000
    elements: int = 1_000_000
    total: int = 4_000_000


def quote(text, limit=QUOTE):
    """``text`` quoted, cut to its first ``limit`` characters.

    >>> quote("x + y"), quote("x" * 100, 5)
    ("'x + y'", "'xxxxx...' (100 characters)")
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)".replace("'...", "...'", 1)


# ------------------------------------------------------------------------ reading
@dataclass
class _Token:
    kind: str  # number, name, op or end
    text: str
    at: int  # 1-based character position, for messages

    def __str__(self):
        if self.kind == "end":
            return "the end"
        return f"{quote(self.text, 20)} at character {self.at}"


class _Tokens:
    """The tokens of ``source``, read as needed, with a look ahead of two."""

    def __init__(self, source):
        self.source = source
        self.pos = 0
        self.ahead = []

    def _read(self):
        while True:
            if self.pos >= len(self.source):
                return _Token("end", "", self.pos + 1)
            match = _TOKEN.match(self.source, self.pos)
            if match is None or self.source.startswith("==", self.pos):
                char = self.source[self.pos]
                what = (
                    "text in quotes"
                    if char in "'\""
                    else "a comparison"
                    if char in "<>!="
                    else f"the character {char!r}"
                )
                raise ExpressionError(f"{what} is not allowed (at character {self.pos + 1})")
            start, self.pos = self.pos, match.end()
            kind = match.lastgroup
            if kind is not None and kind != "space":  # every alternative is a named group
                return _Token(kind, match.group(), start + 1)

    def peek(self, k=0):
        while len(self.ahead) <= k:
            self.ahead.append(self._read())
        return self.ahead[k]

    def take(self):
        token = self.peek()
        self.ahead.pop(0)
        return token

    def put_back(self, token):
        self.ahead.insert(0, token)


@dataclass
class _Call:
    """An open call on the operator stack: its arguments so far."""

    name: str
    at: int
    args: int = 0
    kwargs: dict = field(default_factory=dict)


def parse(source):
    """``source`` as statements: ``(target token or None, postfix program)`` pairs.

    A program is a list of ``(kind, value, at)``: kind ``number``, ``name``, ``unary``,
    ``binary``, ``T`` or ``call`` (value ``(function, positional count, keywords)``).

    >>> [(kind, value) for kind, value, _ in parse("-x ** 2")[0][1]]
    [('name', 'x'), ('number', 2.0), ('binary', '**'), ('unary', '-')]
    """
    tokens, statements = _Tokens(source), []
    while tokens.peek().kind != "end":
        if tokens.peek().text in (";", "\n"):
            tokens.take()
            continue
        target = None
        if tokens.peek().kind == "name" and tokens.peek(1).text == "=":
            target = tokens.take()
            _check_name(target)
            tokens.take()
        statements.append((target, _expression(tokens)))
    return statements


def _check_name(token):
    if keyword.iskeyword(token.text) or keyword.issoftkeyword(token.text):
        raise ExpressionError(
            f"{token.text!r} is not allowed (at character {token.at}): "
            "only arithmetic and function calls are"
        )
    if len(token.text) > MAX_NAME:
        raise ExpressionError(
            f"the name {quote(token.text, 20)} at character {token.at} is "
            f"longer than {MAX_NAME} characters"
        )


def _expression(tokens):
    """One statement's expression in postfix order; reads its ``;``, new line or end."""
    # stack: ("unary"/"binary", symbol, at), ("paren", "(", at), _Call
    out: list[Any] = []
    stack: list[Any] = []
    operand = True  # expecting an operand (else an operator)
    while True:
        token = tokens.take()
        text = token.text
        if operand:
            if token.kind == "number":
                out.append(("number", _number(token), token.at))
                operand = False
            elif token.kind == "name":
                _check_name(token)
                if tokens.peek().text == "(":
                    if text not in FUNCTIONS:
                        raise ExpressionError(
                            f"{quote(text, 20)} is not a function an "
                            f"expression may call (at character "
                            f"{token.at})"
                        )
                    tokens.take()
                    stack.append(_Call(text, token.at))
                    operand = not _arguments(stack, tokens, out)
                else:
                    out.append(("name", text, token.at))
                    operand = False
            elif text == "(":
                stack.append(("paren", "(", token.at))
            elif text in _UNARY:
                stack.append(("unary", text, token.at))
            else:
                raise ExpressionError(f"expected a number, a name or '(', got {token}")
            continue
        if text in _BINARY:
            level = _PRECEDENCE[text]
            while stack and isinstance(stack[-1], tuple) and stack[-1][0] != "paren":
                top = _PRECEDENCE["unary" if stack[-1][0] == "unary" else stack[-1][1]]
                if top < level or (top == level and text == "**"):  # ** groups right
                    break
                out.append(stack.pop())
            stack.append(("binary", text, token.at))
            operand = True
        elif text == ".":
            attribute = tokens.take()
            if attribute.text != "T":
                raise ExpressionError(
                    f"the attribute after '.' at character {token.at} is not allowed: only .T is"
                )
            out.append(("T", None, token.at))
        elif text in (")", ","):
            _close_operators(stack, out)
            if not stack:
                raise ExpressionError(f"{text!r} at character {token.at} has no '(' before it")
            if text == ")":
                opened = stack.pop()
                if isinstance(opened, _Call):
                    opened.args += 1
                    out.append(_call_item(opened))
                continue
            if not isinstance(stack[-1], _Call):
                raise ExpressionError(
                    f"',' at character {token.at} is outside a function "
                    "call: tuples are not allowed"
                )
            stack[-1].args += 1
            operand = not _arguments(stack, tokens, out)
        elif text in (";", "\n") or token.kind == "end":
            _close_operators(stack, out)
            if stack:
                what = stack[-1].name + "(" if isinstance(stack[-1], _Call) else "'('"
                at = stack[-1].at if isinstance(stack[-1], _Call) else stack[-1][2]
                raise ExpressionError(f"{what} at character {at} is never closed")
            return out
        elif text == "=":
            raise ExpressionError(
                f"'=' at character {token.at}: only 'name = expression' "
                "may assign, at the start of a statement"
            )
        else:
            raise ExpressionError(f"expected an operator, got {token}")


def _close_operators(stack, out):
    """Move the operators above the innermost '(' or call to the output."""
    while stack and isinstance(stack[-1], tuple) and stack[-1][0] != "paren":
        out.append(stack.pop())


def _arguments(stack, tokens, out):
    """At the start of an argument of the call on top: read keyword arguments.

    True when the call was closed here (``f()``, ``f(x,)``, ``f(x, axis=0)``).
    """
    call = stack[-1]
    while tokens.peek().kind == "name" and tokens.peek(1).text == "=":
        name = tokens.take()
        tokens.take()
        allowed = SIGNATURES[call.name][1]
        if name.text not in allowed:
            raise ExpressionError(
                f"keyword {quote(name.text, 20)} is not allowed in "
                f"{call.name}()" + (f"; use {', '.join(allowed)}" if allowed else "")
            )
        if name.text in call.kwargs:
            raise ExpressionError(f"{name.text}= is given twice in {call.name}()")
        call.kwargs[name.text] = _literal(tokens, name.text)
        after = tokens.take()
        if after.text == ")":
            break
        if after.text != ",":
            raise ExpressionError(f"expected ',' or ')' after {name.text}=..., got {after}")
    else:
        if tokens.peek().text != ")":
            if call.kwargs:
                raise ExpressionError(
                    f"in {call.name}(), an argument follows the keyword "
                    f"arguments, at character {tokens.peek().at}"
                )
            return False
        tokens.take()
    stack.pop()
    out.append(_call_item(call))
    return True


def _call_item(call):
    wanted, keywords = SIGNATURES[call.name]
    if call.args != wanted:
        by_name = f"; give {', '.join(k + '=' for k in keywords)} by name" if keywords else ""
        raise ExpressionError(
            f"{call.name}() at character {call.at} takes {wanted} "
            f"argument{'s' if wanted > 1 else ''}, not {call.args}{by_name}"
        )
    return ("call", (call.name, call.args, call.kwargs), call.at)


def _number(token):
    try:
        return float(token.text)
    except ValueError:
        raise ExpressionError(f"cannot read the number {token}") from None


def _literal(tokens, name):
    """A keyword's value: an integer, None, True, False, or a tuple or list of integers."""
    token = tokens.take()
    if token.text in ("(", "["):
        close = ")" if token.text == "(" else "]"
        items = []
        while tokens.peek().text != close:
            items.append(_integer(tokens, name))
            if tokens.peek().text != close:
                separator = tokens.take()
                if separator.text != ",":
                    raise ExpressionError(f"expected ',' or {close!r} in {name}=, got {separator}")
        tokens.take()
        return tuple(items)
    if token.text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[token.text]
    tokens.put_back(token)
    return _integer(tokens, name)


def _integer(tokens, name):
    sign = 1
    if tokens.peek().text == "-":
        tokens.take()
        sign = -1
    token = tokens.take()
    if token.kind != "number" or not token.text.isdigit() or len(token.text) > 18:
        raise ExpressionError(
            f"{name}= takes whole numbers, None, True or False, or a "
            f"tuple of whole numbers; got {token}"
        )
    return sign * int(token.text)


# ------------------------------------------------------------------------ running
def evaluate(source, variables, limits=None):
    """Run ``source`` over ``variables`` (name -> Tensor) and return the result.

    The result is a Tensor (or a number when no variable is used). ``limits`` (a
    :class:`Limits`) bounds what the expression may build.

    >>> import chainrule as cr
    >>> x = cr.tensor(3.0, requires_grad=True, name="x")
    >>> evaluate("q = x * x; exp(-q)", {"x": x}).grad_fn
    <exp backward>
    >>> evaluate("__import__('os')", {})
    Traceback (most recent call last):
    ...
    chainrule.viz.expression.ExpressionError: cannot read "__import__('os')": '__import__' \
is not a function an expression may call (at character 1)
    """
    try:
        statements = parse(source)
    except ExpressionError as exc:
        raise ExpressionError(f"cannot read {quote(source)}: {exc}") from None
    if not statements:
        raise ExpressionError("the expression is empty")
    run = _Run(dict(variables), limits or Limits())
    result = None
    for target, program in statements:
        result = run.program(program)
        if target is not None:
            run.assign(target, result)
    return result


class _Run:
    """Runs postfix programs over named values, counting what they build."""

    def __init__(self, names, limits):
        self.names = names
        self.assigned = set()
        self.limits = limits
        self.used = set()  # the variables the graph holds
        self.nodes = 0  # ops and constants
        self.total = 0  # numbers in every array made

    def assign(self, target, value):
        name = target.text
        if name in self.names or name in FUNCTIONS:
            what = (
                "a function"
                if name in FUNCTIONS
                else "already a node"
                if name in self.assigned
                else "a variable"
            )
            raise ExpressionError(
                f"{name!r} at character {target.at} is {what}: give the new node a name of "
                f"its own (every node of the picture has one), e.g. {name}2 = ..."
            )
        if isinstance(value, Tensor) and value.name is None and not value.is_leaf:
            value.name = name  # q = x + y names the node q
        self.names[name] = value
        self.assigned.add(name)

    def program(self, program):
        values = []
        for kind, value, at in program:
            if kind == "number":
                values.append(value)
            elif kind == "name":
                values.append(self.lookup(value, at))
            elif kind == "unary":
                values.append(self.apply(_UNARY[value], f"unary {value!r}", at, values.pop()))
            elif kind == "binary":
                right = values.pop()
                values.append(self.apply(_BINARY[value], repr(value), at, values.pop(), right))
            elif kind == "T":
                values.append(self.apply(_transpose, "'.T'", at, values.pop()))
            else:
                name, count, kwargs = value
                args = values[len(values) - count :]
                del values[len(values) - count :]
                values.append(self.apply(FUNCTIONS[name], f"{name}()", at, *args, **kwargs))
        return values.pop()

    def lookup(self, name, at):
        if name in self.names:
            value = self.names[name]
            if isinstance(value, Tensor) and name not in self.assigned and name not in self.used:
                self.used.add(name)
                self.total += value.size
                self._check_nodes()
            return value
        if name in FUNCTIONS:
            raise ExpressionError(f"{name} is a function: call it, e.g. {name}(x)")
        raise ExpressionError(
            f"no value for {quote(name, 20)} (at character {at}): pass --{name} VALUE"
        )

    def apply(self, fn, what, at, *args, **kwargs):
        """``fn(*args)``, once the limits allow what it would make."""
        if any(isinstance(a, Tensor) for a in args):
            self._make_room(_result_shape(fn, args), what, at)
        try:
            result = fn(*args, **kwargs)
        except OverflowError:
            raise ExpressionError(
                f"{what} at character {at}: the number is too large (OverflowError)"
            ) from None
        except ZeroDivisionError:
            raise ExpressionError(
                f"{what} at character {at}: division by zero (ZeroDivisionError)"
            ) from None
        except (ArithmeticError, ValueError, TypeError, IndexError, RuntimeError) as exc:
            lines = str(exc).strip().splitlines()  # the first line says what went wrong
            raise ExpressionError(
                f"{what} at character {at}: {lines[0] if lines else type(exc).__name__}"
            ) from None
        if isinstance(result, complex):  # (-8) ** 0.5 in Python
            raise ExpressionError(f"{what} at character {at} gives a complex number")
        if isinstance(result, Tensor):
            self.nodes += 1 + sum(not isinstance(a, Tensor) for a in args)  # constants too
            self._check_nodes()
        return result

    def _make_room(self, shape, what, at):
        size = math.prod(shape) if shape is not None else 0
        if size > self.limits.elements or self.total + size > self.limits.total:
            described = "x".join(map(str, shape)) if shape else "scalar"
            limit = (
                f"more than the {self.limits.elements:,} numbers one array may hold"
                if size > self.limits.elements
                else f"more than the {self.limits.total:,} numbers all arrays together may hold"
            )
            raise ExpressionError(
                f"{what} at character {at} would make an array of "
                f"{size:,} numbers ({described}), {limit} in chainrule "
                f"graph; {_FROM_PYTHON}"
            )
        self.total += size

    def _check_nodes(self):
        if self.nodes + len(self.used) > self.limits.nodes:
            raise ExpressionError(
                f"the expression makes more than {self.limits.nodes:,} "
                f"nodes, the most chainrule graph draws; {_FROM_PYTHON}"
            )


_FROM_PYTHON = (
    "draw bigger graphs from Python: cr.viz.render(output, 'graph.svg') (see docs/viz.md)"
)


def _transpose(x):
    return x.T


def _result_shape(fn, args):
    """The shape ``fn(*args)`` will have, computed before it runs; None when it fails.

    Only broadcasting and matrix products make arrays larger than their inputs.
    """
    shapes = [np.shape(a.data if isinstance(a, Tensor) else a) for a in args]
    try:
        if fn is operator.matmul:
            (a, b) = shapes
            if not a or not b:
                return None
            batch = np.broadcast_shapes(a[:-2], b[:-2])
            return batch + a[-2:-1] + b[-1:] if len(b) > 1 else batch + a[-2:-1]
        if len(shapes) > 1:
            return np.broadcast_shapes(*shapes)
    except ValueError:  # the op itself says what does not fit
        return None
    return max(shapes, key=math.prod)
