"""The benchmarks' measures of other processes: a fresh process's own CPU (``cli_startup.run_child``) and a running
one's from Linux's ``/proc/<pid>/stat`` (``embedded.server.proc_stat``, also what ``local stop`` reads a zombie by)."""

from __future__ import annotations

import os
import sys

from accesswatch_tools.bench.cli_startup import process_cpu, run_child
from accesswatch_tools.embedded.server import proc_stat


def _a_pid_that_is_not_running() -> int:
    pid = 4_194_000  # above any pid_max a default Linux hands out
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


def test_a_running_process_has_its_state_first_and_its_cpu_ticks() -> None:
    sum(range(2_000_000))
    fields = proc_stat(os.getpid())
    assert fields is not None and fields[0] in {"R", "S"}
    assert process_cpu(os.getpid()) > 0


def test_a_process_that_is_not_there_reads_as_none_and_no_cpu() -> None:
    gone = _a_pid_that_is_not_running()
    assert proc_stat(gone) is None
    assert process_cpu(gone) == 0.0


def test_a_fresh_process_is_timed_by_its_own_cpu_and_its_exit_code_kept() -> None:
    code, cpu, wall = run_child([sys.executable, "-c", "import sys; sum(range(3_000_000)); sys.exit(3)"], dict(os.environ))
    assert code == 3
    assert 0 < cpu and 0 < wall
