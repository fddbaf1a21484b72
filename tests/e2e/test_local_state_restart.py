"""Durable local state (issue 14, item 2): cases decided before `local stop`, and cases waiting for a person,
are all there after `local start`, and a waiting case is decided after the restart; `local reset` empties it.
Real processes, each command its own `accesswatch` process (tests/e2e/test_local_endpoint_crash.py: kill -9)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from support.endpoint import CLI

pytestmark = pytest.mark.e2e

WAIT_S = 180.0  # an upper bound for a loaded CI machine, not a measured time


def _env(state: Path) -> dict[str, str]:
    env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(state)}
    env.pop("AWS_PROFILE", None)
    return env


def _cli(state: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(state), cwd=cwd, text=True, capture_output=True,
                          timeout=900, check=False)


def _cases(state: Path, cwd: Path) -> dict[str, dict[str, object]]:
    listed = _cli(state, cwd, "cases", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {str(c["case_id"]): c for c in (json.loads(line) for line in listed.stdout.splitlines() if line)}


def _wait_status(state: Path, cwd: Path, case_id: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + WAIT_S
    while True:
        case = _cases(state, cwd)[case_id]
        if case["status"] == status:
            return case
        assert time.monotonic() < deadline, f"{case_id} stuck at {case['status']}, expected {status}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from accesswatch_tools.world import generate

    out = tmp_path_factory.mktemp("durable-world")
    generate(out, staff=20, clients=600, days=2, seed=5)
    return out


def test_cases_decided_and_waiting_come_back_after_stop_and_start_and_a_waiting_one_is_decided_after(
        state: Path, tmp_path: Path, world: Path) -> None:
    ran = _cli(state, tmp_path, "run", "--reference", str(world / "reference"), "--logs", str(world / "logs"),
               "--out", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    before = _cases(state, tmp_path)
    assert len(before) >= 2 and all(c["status"] == "investigating" for c in before.values())
    decided, waiting = sorted(before)[:2]
    decide = _cli(state, tmp_path, "cases", "decide", decided, "--decision", "founded", "--er-type",
                  "inappropriate_access", "--all-rules-founded", "--note", "before the restart")
    assert decide.returncode == 0, decide.stderr
    _wait_status(state, tmp_path, decided, "awaiting_outcome")

    stopped = _cli(state, tmp_path, "local", "stop")
    assert stopped.returncode == 0 and "stopped local endpoint" in stopped.stdout
    assert "state saved" in (state / "endpoint.log").read_text(encoding="utf-8")
    restarted = _cli(state, tmp_path, "local", "start")
    assert restarted.returncode == 0, restarted.stderr

    after = _cases(state, tmp_path)
    assert set(after) == set(before)
    assert after[decided]["status"] == "awaiting_outcome"
    assert all(after[c]["status"] == "investigating" for c in after if c != decided)

    # A case that waited for a decision through the restart takes one now; the decided one takes its outcome.
    decide = _cli(state, tmp_path, "cases", "decide", waiting, "--decision", "founded", "--er-type",
                  "inappropriate_access", "--all-rules-founded", "--note", "after the restart")
    assert decide.returncode == 0, decide.stderr
    _wait_status(state, tmp_path, waiting, "awaiting_outcome")
    outcome = _cli(state, tmp_path, "cases", "outcome", decided, "--outcome", "written_warning",
                   "--note", "after the restart")
    assert outcome.returncode == 0, outcome.stderr
    _wait_status(state, tmp_path, decided, "closed_founded")
    verified = _cli(state, tmp_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Emptying it is explicit.
    reset = _cli(state, tmp_path, "local", "reset")
    assert reset.returncode == 0, reset.stderr
    assert "deleted the saved state" in reset.stdout and "stopped local endpoint" in reset.stdout
    assert _cli(state, tmp_path, "local", "start").returncode == 0
    assert _cases(state, tmp_path) == {}
