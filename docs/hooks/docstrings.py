"""A griffe extension: chainrule's docstrings, written for ``help()`` and doctest, as Markdown.

The docstrings are reST-flavoured prose (Sphinx roles such as :class:`Tensor`, ``literals``,
``>>>`` examples). Markdown reads ``>>>`` as a nested quote, so every run of doctest lines
becomes a ``pycon`` code block, and the roles become plain code (their targets are not
resolved: they stay text). For an op declared with ``@defop``, the reference also shows the
vector-Jacobian product of each input, read from the decorator.
"""

import ast
import re

import griffe

BACKWARD_HEADING = (
    "**Backward**: the gradient to each input, from the upstream gradient `g`, the output "
    "`out` and the inputs:"
)
ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`~?([^`]+)`")


def as_markdown(text):
    """``text`` with Sphinx roles as code spans and doctest runs as fenced ``pycon`` blocks."""
    text = ROLE.sub(r"`\1`", text)
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if not stripped.startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        # A doctest runs from its first prompt to the next blank line (doctest's own rule).
        indent = lines[i][: len(lines[i]) - len(stripped)]
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i].removeprefix(indent))
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [indent + "```pycon", *(indent + line for line in block), indent + "```"]
    return "\n".join(out)


def _vjp_lines(call, parameters):
    """One Markdown bullet per input of a ``defop(...)`` call: its vjp, as written."""
    lines = []
    for name, rule in zip(parameters, call.args):
        if isinstance(rule, ast.Name) and rule.id == "passthrough":
            text = "the upstream gradient `g`, unchanged"
        elif isinstance(rule, ast.Lambda):
            text = f"`{ast.unparse(rule.body)}`"
        else:
            text = f"`{ast.unparse(rule)}` (in the source)"
        lines.append(f"- `{name}`: {text}")
    return lines


class MarkdownDocstrings(griffe.Extension):
    """Convert each docstring once, when griffe has read the object."""

    def on_instance(self, *, node, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)
        if isinstance(node, ast.FunctionDef) and isinstance(obj, griffe.Function):
            self._show_vjps(node, obj)

    @staticmethod
    def _show_vjps(node, function):
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and getattr(decorator.func, "id", None) == "defop"
                and decorator.args
            ):
                parameters = [p.name for p in function.parameters]
                rules = _vjp_lines(decorator, parameters)
                note = "\n".join(["", BACKWARD_HEADING, "", *rules])
                if function.docstring is None:
                    function.docstring = griffe.Docstring(note.strip(), parent=function)
                else:
                    function.docstring.value += "\n" + note
