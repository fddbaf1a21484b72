"""``accesswatch local stop`` returns as soon as the endpoint has saved and is gone: the endpoint's HTTP server
looks for a stop request every ``SHUTDOWN_POLL_S`` (not socketserver's 0.5 s), and after a clean stop the
process ends once the state is saved and endpoint.json removed, without tearing down the runtime or the
interpreter (nothing of which reaches the disk). The endpoint runs in a child process with a stand-in runtime
and durable state that record what happened to them; no timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from accesswatch_tools.embedded import server

_ENDPOINT = r"""
import atexit, json, socketserver, sys
from pathlib import Path

state = Path(sys.argv[1])

def mark(**what):
    with (state / "marks.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(what) + "\n")

import accesswatch_tools.embedded.persistence as persistence
import accesswatch_tools.embedded.runtime as runtime

class Runtime:
    physical = {"CasesTable": "cases"}
    def __init__(self, **_): pass
    def __enter__(self):
        # S3 bodies spilled to disk, as the real runtime's S3 adapter keeps them (TMPDIR: the test's directory)
        from accesswatch_tools.embedded.adapters import s3
        self.spilling = s3.bodies_spilled_to_disk()
        self.spilling.__enter__()
        return self
    def __exit__(self, *exc): mark(event="runtime torn down")

class Durable:
    def __init__(self, state_dir, aws, *, skip_buckets): pass
    def restore(self, inner): return []
    def app(self, inner): return inner
    def start(self): pass
    def close(self):
        mark(event="saved")
        return True

runtime.EmbeddedAws = Runtime
persistence.DurableState = Durable
serve_forever = socketserver.BaseServer.serve_forever

def recorded(self, poll_interval=0.5):
    mark(event="serving", poll_interval=poll_interval)
    serve_forever(self, poll_interval)

socketserver.BaseServer.serve_forever = recorded
atexit.register(lambda: mark(event="interpreter teardown"))
from accesswatch_tools.embedded import server
server.serve(state)
mark(event="serve returned")
"""


def _start(state: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The endpoint under a shell that writes its exit status to state/rc (the endpoint is not our child, as
    with `accesswatch local stop`); (the shell, the endpoint's pid) once it serves."""
    state.mkdir()
    spill = state.parent / "tmp"
    spill.mkdir()
    shell = subprocess.Popen(["/bin/sh", "-c", '"$0" -c "$1" "$2" 2>"$2/stderr"; echo $? > "$2/rc"',  # noqa: S607
                              sys.executable, _ENDPOINT, str(state)], start_new_session=True,
                             env={**os.environ, "TMPDIR": str(spill)})
    deadline = time.monotonic() + 120
    while (record := server._read_record(state)) is None:
        if shell.poll() is not None or time.monotonic() > deadline:
            shell.kill()
            pytest.fail(f"the endpoint did not serve: {(state / 'stderr').read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return shell, int(record["pid"])


def _marks(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "marks.jsonl").read_text(encoding="utf-8").splitlines()]


def test_local_stop_returns_once_the_endpoint_has_saved_and_is_gone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    shell, pid = _start(state)
    spilled = list((tmp_path / "tmp").glob(f"accesswatch-s3-{pid}-*"))
    assert len(spilled) == 1, "the endpoint's runtime made no spill directory: the test checks nothing below"
    try:
        stopped = server.stop(state)
        assert [e.pid for e in stopped.stopped] == [pid]
        assert not server._alive(pid)  # gone (or a zombie, which is gone) when stop returns
        assert server.lock_holder(state) is None
        assert not (state / "endpoint.json").exists()
        assert shell.wait(timeout=60) == 0
    finally:
        if shell.poll() is None:
            shell.kill()
    # Stopped by SIGTERM after its last save (not killed after the timeout: its exit status is 0), its servers
    # polling for the stop every SHUTDOWN_POLL_S, and nothing torn down after the save.
    assert (state / "rc").read_text().strip() == "0"
    assert _marks(state) == [{"event": "serving", "poll_interval": server.SHUTDOWN_POLL_S}, {"event": "saved"}]
    assert "accesswatch: stopping; state saved" in (state / "stderr").read_text(encoding="utf-8")
    assert server.SHUTDOWN_POLL_S <= 0.1
    # The S3 bodies it spilled (raw logs and snapshots: personal information) went with it, although os._exit
    # skipped the runtime's own removal.
    assert not spilled[0].exists()

