"""Crashes say so (issue 18, item 5): `kill -9` of the local endpoint while `accesswatch run` talks to it
ends the command with one clear line (no traceback, non-zero exit); later commands and the next start say
that the previous endpoint is gone and that its in-memory state was lost. Real processes throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.endpoint import CLI

from accesswatch_tools.embedded import server

pytestmark = pytest.mark.e2e



def _env(state: Path) -> dict[str, str]:
    env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(state)}
    env.pop("AWS_PROFILE", None)
    return env


def _cli(state: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(state), cwd=cwd, text=True, capture_output=True,
                          timeout=600, check=False)


def _raw_objects(state: Path) -> int:
    dep = server.connect(state)
    listed = dep.client("s3").list_objects_v2(Bucket=dep.resource_name("RawBucket"))
    return int(listed.get("KeyCount", 0))


def test_kill_9_of_the_endpoint_mid_run_is_one_clear_line_and_the_next_start_reports_the_loss(
        state: Path, tmp_path: Path) -> None:
    from accesswatch_tools.world import generate

    world = tmp_path / "world"
    generate(world, staff=20, clients=600, days=2, seed=5)
    started = _cli(state, tmp_path, "local", "start")
    assert started.returncode == 0, started.stderr
    record = json.loads((state / "endpoint.json").read_text())
    pid = record["pid"]

    run = subprocess.Popen([*CLI, "run", "--reference", str(world / "reference"), "--logs", str(world / "logs"),
                            "--out", str(tmp_path / "out")], env=_env(state), cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Kill the endpoint once the run is talking to it (its first uploads are in), well before it ends.
        deadline = time.monotonic() + 120
        while _raw_objects(state) < 2:
            assert run.poll() is None and time.monotonic() < deadline, "the run never reached the endpoint"
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.startswith("accesswatch:")]
    assert len(lines) == 1, err
    assert f"the local endpoint (pid {pid}) stopped while the command ran" in lines[0]
    assert "in-memory state (cases, decisions, findings) is lost" in lines[0]
    assert str(state) in lines[0] and "`accesswatch local start`" in lines[0]

    # A later command says the same, and starts nothing.
    listed = _cli(state, tmp_path, "cases", "list")
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert f"the previous local endpoint (pid {pid}, started at " in listed.stderr
    assert "was lost" in listed.stderr
    assert server.find_endpoints(state).endpoints == []
    status = _cli(state, tmp_path, "local", "status")
    assert status.returncode == 3 and f"pid {pid}" in status.stderr

    # The next start reports the lost endpoint once, then starts a fresh, empty one.
    fresh = _cli(state, tmp_path, "local", "start")
    assert fresh.returncode == 0, fresh.stderr
    assert f"the previous local endpoint (pid {pid}, started at " in fresh.stderr
    assert "its in-memory state (cases, decisions, findings) was lost" in fresh.stderr
    assert "starting a fresh one" in fresh.stderr and "started)" in fresh.stdout
    assert _raw_objects(state) == 0
    again = _cli(state, tmp_path, "local", "start")
    assert again.returncode == 0 and again.stderr == "" and "already running" in again.stdout
