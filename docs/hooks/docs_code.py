"""Running the documentation's code: the test suite checks it, the build draws its figures.

A page's ```python blocks run in order, in one namespace, in a working directory of
their own (``tests/test_docs.py`` runs every page; the build runs the pages that have
figures). A ```text title="Output" block right after a python block is what that block
prints, and the tests compare the two. A python block that must not run says why on its
first line: ``# not run: <reason>``. A ``--8<-- "path"`` line (pymdownx.snippets) stands
for the file it names, in the build and here alike.

An image that a page links as ``figures/NAME`` is a file its code writes as ``NAME``:
the build runs the page and adds what it wrote to the site (``on_files``), so every
picture comes from the code beside it.
"""

import contextlib
import io
import os
import posixpath
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
SNIPPET = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<path>[^"]+)"[ \t]*$', re.M)
FIGURE = re.compile(r"!\[[^\]]*\]\(figures/(?P<name>[^)\s]+)\)")
SKIP = "# not run:"


@dataclass
class Block:
    """One python block of a page, and the output shown after it (None when none is shown)."""

    line: int  # where its code starts in the page, counting from 1
    source: str
    output: str | None
    skip_reason: str | None


def _dedent(body, indent):
    return "".join(line.removeprefix(indent) for line in body.splitlines(keepends=True))


def _expand_snippets(text):
    def file_text(match):
        content = (ROOT / match["path"]).read_text()
        return "".join(match["indent"] + line for line in content.splitlines(keepends=True))

    return SNIPPET.sub(file_text, text)


def code_blocks(page):
    """The python blocks of a Markdown file, in order, each with the output shown after it."""
    text = Path(page).read_text()
    blocks, fences = [], list(FENCE.finditer(text))
    for i, fence in enumerate(fences):
        if fence["info"].split()[:1] != ["python"]:
            continue
        output = None
        after = fences[i + 1] if i + 1 < len(fences) else None
        if (
            after is not None
            and not text[fence.end() : after.start()].strip()
            and after["info"].split()[:1] == ["text"]
            and 'title="Output"' in after["info"]
        ):
            output = _dedent(after["body"], after["indent"])
        source = _expand_snippets(_dedent(fence["body"], fence["indent"]))
        first_line = source.lstrip().splitlines()[0] if source.strip() else ""
        skip_reason = None
        if first_line.startswith(SKIP):
            skip_reason = first_line.removeprefix(SKIP).strip()
            if not skip_reason:
                raise ValueError(f"{page}: a block marked '{SKIP}' must give its reason")
        line = text.count("\n", 0, fence.start("body")) + 1
        blocks.append(Block(line, source, output, skip_reason))
    return blocks


def run_page(page, workdir):
    """Run a page's blocks in order in one namespace, in ``workdir``; yield each block that
    ran with what it printed."""
    page, namespace = Path(page).resolve(), {"__name__": "__docs__"}
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        for block in code_blocks(page):
            if block.skip_reason:
                continue
            # Leading newlines keep the page's line numbers in tracebacks.
            code = compile("\n" * (block.line - 1) + block.source, str(page), "exec")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(code, namespace)
            yield block, printed.getvalue()
    finally:
        os.chdir(previous)


def figures(page):
    """The names of the figures a page links, which its code must write."""
    return [match["name"] for match in FIGURE.finditer(Path(page).read_text())]


def on_files(files, config):
    """MkDocs hook: run every page that has figures and add the files it wrote to the site."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    for file in list(files.documentation_pages()):
        names = figures(file.abs_src_path)
        if not names:
            continue
        with tempfile.TemporaryDirectory() as workdir:
            for _ in run_page(file.abs_src_path, workdir):
                pass
            for name in names:
                made = Path(workdir, name)
                if not made.is_file():
                    raise PluginError(f"{file.src_uri}: its code wrote no {name} (figures/{name})")
                uri = posixpath.join(posixpath.dirname(file.src_uri), "figures", name)
                files.append(File.generated(config, uri, content=made.read_bytes()))
    return files
