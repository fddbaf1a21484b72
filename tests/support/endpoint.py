"""Running the CLI as separate processes against a local endpoint (the ``state`` fixture is in
tests/conftest.py)."""

from __future__ import annotations

import sys

CLI = [sys.executable, "-m", "accesswatch_tools.cli.main"]
