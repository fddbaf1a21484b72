"""One local endpoint per state directory, however many commands start one at once (issue 18, item 1).

Real processes: `accesswatch` commands started together on a fresh state directory, the endpoint they
share, and the process table (``find_endpoints`` reads /proc) to count endpoint processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.endpoint import CLI

from accesswatch_tools.embedded import server
from accesswatch_tools.operate.world_run import UNFINISHED_FILE_STATES

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="counts processes in /proc")]



def _env(state: Path) -> dict[str, str]:
    env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(state)}
    env.pop("AWS_PROFILE", None)
    return env


def _spawn(state: Path, cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], env=_env(state), cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _cli(state: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(state), cwd=cwd, text=True, capture_output=True,
                          timeout=600, check=False)


def test_concurrent_starts_give_one_endpoint_that_every_caller_joins(state: Path, tmp_path: Path) -> None:
    starts = [_spawn(state, tmp_path, "local", "start") for _ in range(3)]
    results = [_finish(p) for p in starts]
    assert all(rc == 0 for rc, _, _ in results), results
    assert all("Traceback" not in err for _, _, err in results)
    survey = server.find_endpoints(state)
    assert len(survey.endpoints) == 1, survey  # one endpoint process of the directory in the process table
    endpoint = survey.endpoints[0]
    assert endpoint.holds_lock and endpoint.recorded and endpoint.state == "running"
    record = json.loads((state / "endpoint.json").read_text())
    assert record["pid"] == endpoint.pid
    outs = [out for _, out, _ in results]
    assert all(f"{record['url']} (pid {endpoint.pid}" in out for out in outs), outs  # every caller: that one
    assert sum("started)" in out for out in outs) == 1 and sum("already running" in out for out in outs) == 2

    # A command that only connects reaches the same endpoint; `local status` shows one, exit 0.
    dep = server.connect(state)
    assert dep.url == record["url"]
    status = _cli(state, tmp_path, "local", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert [e["pid"] for e in json.loads(status.stdout)["endpoints"]] == [endpoint.pid]

    # An endpoint started by hand, not through `start`, does not serve a second copy: the lock refuses it.
    by_hand = subprocess.run([sys.executable, "-m", server.ENDPOINT_MODULE, "--state-dir", str(state)],
                             env=_env(state), text=True, capture_output=True, timeout=120, check=False)
    assert by_hand.returncode == server.EXIT_LOCKED, by_hand.stderr
    assert f"another local endpoint (pid {endpoint.pid})" in by_hand.stderr
    assert json.loads((state / "endpoint.json").read_text())["pid"] == endpoint.pid


def test_status_and_stop_find_an_endpoint_process_that_holds_no_lock(state: Path, tmp_path: Path) -> None:
    """An endpoint of the directory started without the lock (by an accesswatch from before it, as in the
    issue: the process holding the data, named by no endpoint.json) is found, reported and stopped."""
    started = _cli(state, tmp_path, "local", "start")
    assert started.returncode == 0, started.stderr
    serving = server.find_endpoints(state).endpoints[0].pid
    # Stands in for the old endpoint process: what identifies one is its command line.
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", server.ENDPOINT_MODULE,
                               "--state-dir", "state"], cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while orphan.pid not in {e.pid for e in server.find_endpoints(state).endpoints}:
            assert time.monotonic() < deadline, "the orphan never showed in the process table"
            time.sleep(0.05)
        status = _cli(state, tmp_path, "local", "status", "--json")
        assert status.returncode == 4, (status.stdout, status.stderr)
        states = {e["pid"]: e["state"] for e in json.loads(status.stdout)["endpoints"]}
        assert states == {serving: "running", orphan.pid: "orphan (no lock, not recorded)"}
        assert f"pid {orphan.pid}" in status.stderr and "`accesswatch local stop`" in status.stderr

        # A start joins the locked endpoint and says what else it found.
        again = _cli(state, tmp_path, "local", "start")
        assert again.returncode == 0 and f"pid {serving}, already running" in again.stdout
        assert f"pid {orphan.pid}" in again.stderr

        stopped = _cli(state, tmp_path, "local", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"stopped local endpoint pid {serving} (running)" in stopped.stdout
        assert f"stopped local endpoint pid {orphan.pid} (orphan" in stopped.stdout
        assert orphan.wait(timeout=30) == -signal.SIGTERM
        assert server.find_endpoints(state).endpoints == []
        assert _cli(state, tmp_path, "local", "status").returncode == 3
    finally:
        if orphan.poll() is None:
            orphan.kill()


def _split_world(world: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The world's log files in two folders: one for each of two runs."""
    halves = (tmp_path / "logs-a", tmp_path / "logs-b")
    for half in halves:
        half.mkdir()
    for i, path in enumerate(sorted(p for p in (world / "logs").iterdir() if p.is_file())):
        shutil.copy(path, halves[i % 2] / path.name)
    return halves


def _ledger(state: Path) -> dict[str, Any]:
    from accesswatch.dal.ledger import Ledger
    from accesswatch_tools.operate.export import ledger_files

    dep = server.connect(state)
    return {row["key"]: row for row in ledger_files(Ledger(dep.resource_name("LedgerTable"),
                                                           dep.resource("dynamodb")))}


def test_two_runs_at_once_on_a_fresh_state_directory_both_complete_on_one_system(state: Path,
                                                                                 tmp_path: Path) -> None:
    from accesswatch_tools.world import generate

    world = tmp_path / "world"
    generate(world, staff=20, clients=600, days=2, seed=18)
    logs_a, logs_b = _split_world(world, tmp_path)
    runs = [_spawn(state, tmp_path, "run", "--reference", str(world / "reference"), "--logs", str(logs),
                   "--out", str(tmp_path / f"out-{logs.name}")) for logs in (logs_a, logs_b)]
    results = [_finish(p) for p in runs]
    for rc, out, err in results:
        assert rc == 0, (out[-2000:], err[-2000:])
        assert "Traceback" not in err

    survey = server.find_endpoints(state)
    assert len(survey.endpoints) == 1 and survey.endpoints[0].holds_lock, survey
    # Both runs' files are in the one system, every one of them finished.
    ledger = _ledger(state)
    uploaded = {f"access-logs/cms/{p.name}" for logs in (logs_a, logs_b) for p in logs.iterdir()}
    assert uploaded <= set(ledger), uploaded - set(ledger)
    assert not {k for k in uploaded if ledger[k]["status"] in UNFINISHED_FILE_STATES}, ledger
    for logs in (logs_a, logs_b):
        assert "detected" in {ledger[f"access-logs/cms/{p.name}"]["status"] for p in logs.iterdir()}
    # Every case either run exported is there for later commands.
    listed = {json.loads(line)["case_id"] for line in _cli(state, tmp_path, "cases", "list", "--json")
              .stdout.splitlines()}
    exported = {json.loads(line)["case_id"] for logs in (logs_a, logs_b)
                for line in (tmp_path / f"out-{logs.name}" / "cases.jsonl").read_text().splitlines()}
    assert exported and exported <= listed
    checked = _cli(state, tmp_path, "verify", "--json")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
