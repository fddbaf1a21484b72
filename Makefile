# The two commands of the README:
#   make demo   set up, then synthesise a world and run it through the whole system locally
#   make test   set up, then run every check CI runs (static checks, then the test suite)
# Setup is a virtual environment in .venv with the project and its tools (PyPI only), on Python 3.12 (the
# Lambda runtime's, template.yaml) when the machine has one (scripts/find-python), else on python3 with a
# warning. A .venv on another Python is made again. `make setup PYTHON=/path/to/python` chooses one.

PYTHON ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AWS_CLI_VERSION := 1.46.3

.PHONY: setup demo test lint clean

# Always run (a phony target): the script decides, in one place, whether the venv is current (its Python, and
# installed since pyproject.toml and the layer's requirements last changed), and makes it again only if not.
setup:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" scripts/setup-venv

demo: setup
	$(BIN)/accesswatch demo

# cfn-lint, checkov, ruff, mypy, sam validate --lint and sam build (checkov and the SAM CLI in their own venvs).
lint: setup
	BIN=$(BIN) scripts/static-checks

# The AWS CLI caps docutils, rsa, colorama and PyYAML, so it has its own venv too; its test (tests/e2e/test_aws_cli.py) must
# find it under make test, not skip. Likewise Debian's chromium and chromedriver for the console's browser test
# (tests/e2e/test_console_browser.py): scripts/install-browser installs them when it can (it never fails).
test: lint
	BIN=$(BIN) scripts/tool-venv awscli "awscli==$(AWS_CLI_VERSION)" >/dev/null
	scripts/install-browser
	ACCESSWATCH_REQUIRE_AWS_CLI=1 ACCESSWATCH_REQUIRE_BROWSER=1 $(BIN)/pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) demo-out .accesswatch .pytest_cache .ruff_cache .mypy_cache
