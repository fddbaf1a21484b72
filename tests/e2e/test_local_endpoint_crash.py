"""Durable local state (issue 14, item 2; crashes say so, issue 18): `kill -9` of the local endpoint while
`accesswatch run` talks to it ends the command with one clear line; the next start brings back everything
the endpoint had acknowledged, and the same run again completes without duplicates. Real processes
throughout, each command its own `accesswatch` process (tests/e2e/test_local_state_restart.py: stop and start)."""

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
                          timeout=900, check=False)


def _raw_objects(state: Path) -> int:
    dep = server.connect(state)
    listed = dep.client("s3").list_objects_v2(Bucket=dep.resource_name("RawBucket"))
    return int(listed.get("KeyCount", 0))


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _cases(state: Path, cwd: Path) -> dict[str, dict[str, object]]:
    listed = _cli(state, cwd, "cases", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {str(c["case_id"]): c for c in (json.loads(line) for line in listed.stdout.splitlines() if line)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from accesswatch_tools.world import generate

    out = tmp_path_factory.mktemp("durable-world")
    generate(out, staff=20, clients=600, days=2, seed=5)
    return out


def test_kill_9_mid_run_loses_nothing_acknowledged_and_the_same_run_again_completes_without_duplicates(
        state: Path, tmp_path: Path, world: Path) -> None:
    started = _cli(state, tmp_path, "local", "start")
    assert started.returncode == 0, started.stderr
    pid = json.loads((state / "endpoint.json").read_text())["pid"]

    run = subprocess.Popen([*CLI, "run", "--reference", str(world / "reference"), "--logs", str(world / "logs"),
                            "--out", str(tmp_path / "out")], env=_env(state), cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Kill the endpoint once the run is talking to it (its first uploads are in), well before it ends.
        deadline = time.monotonic() + 120
        while (acknowledged := _raw_objects(state)) < 2:
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
    assert "is saved" in lines[0] and "`accesswatch local start`" in lines[0]

    # A later command says what happened, and starts nothing.
    listed = _cli(state, tmp_path, "cases", "list")
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert f"the previous local endpoint (pid {pid}, started at " in listed.stderr
    assert "comes back at the next start" in listed.stderr
    assert server.find_endpoints(state).endpoints == []

    # The next start brings back every upload the endpoint had acknowledged.
    again = _cli(state, tmp_path, "local", "start")
    assert again.returncode == 0, again.stderr
    assert f"the previous local endpoint (pid {pid}, started at " in again.stderr and "starting it again" in again.stderr
    assert _raw_objects(state) >= acknowledged

    # The same run again completes, and nothing is doubled: the system holds exactly the findings and cases of
    # one clean run of the world.
    rerun = _cli(state, tmp_path, "run", "--reference", str(world / "reference"), "--logs", str(world / "logs"),
                 "--out", str(tmp_path / "out2"))
    assert rerun.returncode == 0, rerun.stderr
    verified = _cli(state, tmp_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    exported = _cli(state, tmp_path, "export", "findings", "--out", str(tmp_path / "all.jsonl"))
    assert exported.returncode == 0, exported.stderr
    clean = _cli(state, tmp_path, "run", "--in-process", "--reference", str(world / "reference"),
                 "--logs", str(world / "logs"), "--out", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr
    held = [f["finding_id"] for f in _jsonl(tmp_path / "all.jsonl")]
    assert len(held) == len(set(held))
    assert set(held) == {f["finding_id"] for f in _jsonl(tmp_path / "clean" / "findings.jsonl")}
    assert len(_cases(state, tmp_path)) == len(_jsonl(tmp_path / "clean" / "cases.jsonl"))
