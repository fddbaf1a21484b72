# The two commands of the README:
#   make demo   set up, then synthesise a world and run it through the whole system locally
#   make test   set up, then run every check CI runs (static checks, then the test suite)
# Setup is a virtual environment in .venv with the project and its tools (PyPI only).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml layers/shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/accesswatch demo

# cfn-lint, checkov (in its own venv: it pins an old boto3), ruff, mypy.
lint: $(STAMP)
	BIN=$(BIN) scripts/static-checks

test: lint
	$(BIN)/pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) demo-out .accesswatch .pytest_cache .ruff_cache .mypy_cache
