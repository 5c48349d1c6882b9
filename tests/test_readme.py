"""The README's self-contained Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = [
    b
    for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    if b.startswith(("import numpy", "import chainrule"))
]


def test_readme_has_runnable_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(source, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # examples may write files
    exec(compile(source, str(README), "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    if "f.backward()" in source:
        assert printed.split() == ["-12.0", "-4.0", "-4.0", "3.0"]
    if "test accuracy" in source:
        assert float(printed.split()[-1]) >= 0.95


def test_every_function_in_the_numpy_surface_table_exists():
    import chainrule as cr

    table = README.read_text().split("### The differentiable NumPy surface")[1].split("\n\n")[2]
    rows = [line.split("|") for line in table.splitlines()[2:]]
    assert len(rows) >= 9
    for row in rows:
        namespace = cr.linalg if "cr.linalg" in row[1] else cr
        for name in row[2].strip(" `").split():
            assert callable(getattr(namespace, name, None)), f"{row[1].strip()}: {name}"
