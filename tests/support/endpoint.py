"""Running the CLI as separate processes against a local endpoint (the ``state`` fixture is in
tests/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "accesswatch_tools.cli.main"]


@contextlib.contextmanager
def cli_runner(tmp_path: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[Any]:
    """``run(*args, ok=True)``: the CLI as its own process on a fresh state directory under ``tmp_path``
    (asserting exit 0 unless ``ok=False``); the endpoint it started is stopped afterwards."""
    env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(tmp_path / "state"), **(extra_env or {})}
    env.pop("AWS_PROFILE", None)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*CLI, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                              check=False)
        if ok:
            assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

    try:
        yield run
    finally:
        run("local", "stop", ok=False)
