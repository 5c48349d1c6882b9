# Two entry points: `make train` (the main job) and `make test` (the suite).
# Both build a local virtual environment first; nothing else needs to be installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: train test bench docs clean

$(BIN)/chainrule: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The main job starts afresh each time (`chainrule train` alone refuses to replace a run).
train: $(BIN)/chainrule
	$(BIN)/chainrule train --overwrite

test: $(BIN)/chainrule
	$(BIN)/python -m pytest -q

bench: $(BIN)/chainrule
	$(BIN)/python -m bench

# The documentation site, into site/; --strict: a broken link or reference fails it.
docs: $(BIN)/chainrule
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .bench-venv .pytest_cache runs site
