"""The documentation runs: every Python block of the README, CONTRIBUTING and docs/ pages
executes, prints the output shown under it and writes the figures its page links; the
API reference names every public name; the README's links lead somewhere.

How a page's code is found and run is shared with the site build (docs/hooks/docs_code.py).
"""

import doctest
import functools
import importlib
import importlib.util
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

_spec = importlib.util.spec_from_file_location("docs_code", DOCS / "hooks" / "docs_code.py")
docs_code = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_code)

PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md"))]
# doctest's comparison: "..." in a shown output matches anything (timings, rounding noise).
CHECKER, FLAGS = doctest.OutputChecker(), doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _name(page):
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", [p for p in PAGES if docs_code.code_blocks(p)], ids=_name)
def test_the_code_of_a_page_runs_and_prints_what_it_shows(page, tmp_path):
    for block, printed in docs_code.run_page(page, tmp_path):
        if block.output is not None and not CHECKER.check_output(block.output, printed, FLAGS):
            pytest.fail(
                f"{_name(page)}:{block.line}: the block printed\n{printed}\n"
                f"but the page shows\n{block.output}"
            )
    for name in docs_code.figures(page):
        assert (tmp_path / name).is_file(), f"{_name(page)} links figures/{name}: never written"


def test_every_tutorial_runs_code_and_shows_its_output():
    for page in sorted((DOCS / "tutorials").glob("*.md")):
        blocks = docs_code.code_blocks(page)
        assert any(b.output is not None and not b.skip_reason for b in blocks), _name(page)


def test_an_output_that_differs_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('```python\nprint(1 + 1)\n```\n\n```text title="Output"\n3\n```\n')
    [(block, printed)] = docs_code.run_page(page, tmp_path)
    assert printed == "2\n" and block.output == "3\n"
    assert not CHECKER.check_output(block.output, printed, FLAGS)


def test_a_block_is_skipped_only_with_a_reason(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\n# not run: it needs mpiexec\nraise SystemExit\n```\n")
    assert list(docs_code.run_page(page, tmp_path)) == []
    page.write_text("```python\n# not run:\nraise SystemExit\n```\n")
    with pytest.raises(ValueError, match="must give its reason"):
        docs_code.code_blocks(page)


def test_the_readme_links_to_files_that_exist():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\((?!https?://)([^)#\s]+)", text)
    assert len(targets) >= 10
    for target in targets:
        assert (ROOT / target).exists(), f"README.md links {target}"


def test_every_function_in_the_numpy_surface_table_exists():
    import chainrule as cr

    text = (DOCS / "numpy.md").read_text()
    table = text.split("## The differentiable NumPy surface")[1].split("\n\n")[2]
    rows = [line.split("|") for line in table.splitlines()[2:]]
    assert len(rows) >= 9
    for row in rows:
        namespace = cr.linalg if "cr.linalg" in row[1] else cr
        for name in row[2].strip(" `").split():
            assert callable(getattr(namespace, name, None)), f"{row[1].strip()}: {name}"


# Each namespace and the reference pages that document it.
NAMESPACES = {
    "chainrule": ["tensor.md", "autograd.md", "serialization.md", "ops/*.md"],
    "chainrule.linalg": ["linalg.md"],
    "chainrule.nn": ["nn.md"],
    "chainrule.nn.functional": ["nn-functional.md"],
    "chainrule.optim": ["optim.md"],
    "chainrule.data": ["data.md"],
    "chainrule.viz": ["viz.md"],
    "chainrule.distributed": ["distributed.md"],
}


def _public_names(namespace):
    """A package's public names are what its __init__ imports (submodules aside); a plain
    module's are its __all__."""
    module = importlib.import_module(namespace)
    if hasattr(module, "__path__"):
        return {
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        }
    return set(module.__all__)


def _documented(package, ident):
    """The names a ``::: ident`` line renders: the object itself, or a module's members
    as mkdocstrings picks them (its own definitions, and imports listed in __all__)."""
    obj = package[ident.removeprefix("chainrule.")]
    if not obj.is_module:
        return {obj.name}
    return {
        name
        for name, member in obj.members.items()
        if not name.startswith("_")
        and (member.is_public if member.is_alias else not member.is_module)
    }


@functools.cache
def _static_package():
    """chainrule as mkdocstrings reads it: statically, with griffe (the docs extra)."""
    griffe = pytest.importorskip("griffe")
    return griffe.load("chainrule", search_paths=[str(ROOT / "src")], resolve_aliases=True)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_the_api_reference_documents_every_public_name(namespace):
    package = _static_package()
    documented = set()
    for pattern in NAMESPACES[namespace]:
        for page in REFERENCE.glob(pattern):
            text = page.read_text()
            for ident in re.findall(r"^::: ([\w.]+)", text, re.M):
                documented |= _documented(package, ident)
            # Names griffe cannot see (tuple assignments such as `acos, asin = ...`) are
            # listed on an "Aliases:" line of the page.
            for line in re.findall(r"^Aliases:.*$", text, re.M):
                documented |= set(re.findall(r"`(\w+)`", line))
    missing = sorted(_public_names(namespace) - documented)
    assert not missing, f"{namespace}: not in docs/reference: {missing}"
