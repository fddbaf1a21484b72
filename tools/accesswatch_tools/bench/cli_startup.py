"""What each everyday ``accesswatch`` command costs to start and answer, in fresh processes.

``python -m accesswatch_tools.bench.cli_startup`` synthesises a small world (40 staff, the tests'
``small_world``), runs it with ``accesswatch run`` in a temporary state directory (which leaves the local
endpoint running), then runs each command of ``COMMANDS`` ``--repeat`` times (default 3), each in a fresh
``python -m accesswatch_tools.cli.main`` process as a person or a test would type it, and prints per command
the child's CPU seconds (user + sys, from ``os.wait4``), the endpoint process's CPU seconds over the same run
(``/proc/<pid>/stat``: its request handling, and whatever its background threads did meanwhile), wall seconds,
and what is left of the wall time once both are taken away (waiting: sleeps, polls, the endpoint's workflow
threads off the clock of neither... negative when the two ran at once on two CPUs); medians of the runs; the
number of modules the child imported and whether polars, moto or ``accesswatch.services.replay`` were among
them. Commands that change the system (``cases decide``) run once per case, on different cases. At the end,
``accesswatch local stop``'s wall time (the endpoint saving and ending). Results are kept in
benchmarks/results/cli-startup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accesswatch_tools.embedded.server import proc_stat

HEAVY = ("polars", "moto", "accesswatch.services.replay")

# The child: main() as ``accesswatch`` runs it, and at exit the modules it imported written to a file.
_CHILD = r"""
import atexit, json, sys
def _dump():
    with open({out!r}, "w") as fh:
        json.dump(sorted(sys.modules), fh)
atexit.register(_dump)
from accesswatch_tools.cli.main import main
sys.argv[0] = "accesswatch"
sys.exit(main({argv!r}))
"""


@dataclass(frozen=True)
class Measured:
    command: str
    exit_codes: tuple[int, ...]
    cpu: float
    wall: float
    modules: int
    heavy: tuple[str, ...]
    server_cpu: float = 0.0
    waiting: float = 0.0


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process so far (0.0 if it is gone)."""
    fields = proc_stat(pid)
    if fields is None or len(fields) < 13:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(args: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> tuple[int, float, float]:
    """A fresh process run to its end: (exit code, its own user + system CPU seconds, wall seconds)."""
    started = time.perf_counter()
    child = subprocess.Popen(list(args), env=env, cwd=cwd,  # noqa: S603
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return child.returncode, usage.ru_utime + usage.ru_stime, wall


def endpoint_pid(state: Path) -> int:
    return int(json.loads((state / "endpoint.json").read_text(encoding="utf-8"))["pid"])


def _commands(case_id: str, client_id: str, user_id: str) -> list[list[str]]:
    return [
        ["--help"],
        ["cases", "list", "--help"],
        ["local", "status"],
        ["cases", "list"],
        ["cases", "list", "--json"],
        ["cases", "show", case_id],
        ["cases", "queue"],
        ["cases", "precision"],
        ["findings", "list"],
        ["exceptions", "list"],
        ["alarms"],
        ["footprint", client_id],
        ["history", user_id],
    ]


def run_once(argv: Sequence[str], env: dict[str, str], cwd: Path,
             server: int | None = None) -> tuple[int, float, float, list[str], float]:
    """One fresh process: (exit code, CPU seconds, wall seconds, modules imported, the CPU seconds process
    ``server`` spent meanwhile)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        code = _CHILD.format(out=out.name, argv=list(argv))
        server_before = process_cpu(server) if server else 0.0
        exit_code, cpu, wall = run_child([sys.executable, "-c", code], env, cwd)
        server_cpu = process_cpu(server) - server_before if server else 0.0
        text = Path(out.name).read_text()
        return exit_code, cpu, wall, json.loads(text) if text else [], server_cpu


def measure(argv: Sequence[str] | Sequence[Sequence[str]], env: dict[str, str], cwd: Path, repeat: int,
            server: int | None = None) -> Measured:
    """``argv`` run ``repeat`` times, or each of a list of argvs once (a command that changes the system)."""
    runs_of: list[list[str]] = ([[str(word) for word in a] for a in argv] if argv and not isinstance(argv[0], str)
                                else [[str(word) for word in argv]] * repeat)
    runs = [run_once(a, env, cwd, server) for a in runs_of]
    modules = runs[-1][3]
    shown = " ".join(runs_of[0]) + (" (each on its own case)" if len({tuple(a) for a in runs_of}) > 1 else "")
    return Measured(shown, tuple(r[0] for r in runs), statistics.median(r[1] for r in runs),
                    statistics.median(r[2] for r in runs), len(modules),
                    tuple(h for h in HEAVY if h in modules), statistics.median(r[4] for r in runs),
                    statistics.median(r[2] - r[1] - r[4] for r in runs))


def _cli(env: dict[str, str], cwd: Path, *argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "accesswatch_tools.cli.main", *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"accesswatch {' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def render(results: Sequence[Measured], repeat: int) -> list[str]:
    lines = [f"| command | exit | client CPU s (median of {repeat}) | endpoint CPU s | wall s | waiting s | modules "
             "| heavy imported |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        codes = ",".join(str(c) for c in sorted(set(r.exit_codes)))
        lines.append(f"| `accesswatch {r.command}` | {codes} | {r.cpu:.2f} | {r.server_cpu:.2f} | {r.wall:.2f} | "
                     f"{r.waiting:.2f} | {r.modules} | {', '.join(r.heavy) or '-'} |")
    lines.append(f"| total | | {sum(r.cpu for r in results):.2f} | {sum(r.server_cpu for r in results):.2f} | "
                 f"{sum(r.wall for r in results):.2f} | {sum(r.waiting for r in results):.2f} | | |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accesswatch_tools.bench.cli_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per command (default 3)")
    args = parser.parse_args(argv)
    from accesswatch_tools.world import generate

    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(work / "state")}
        env.pop("AWS_PROFILE", None)
        generate(work / "world", staff=40, clients=1500, days=3, seed=11)
        try:
            _cli(env, work, "run", "--reference", str(work / "world" / "reference"), "--logs",
                 str(work / "world" / "logs"), "--out", str(work / "out"))
            cases = [json.loads(line) for line in _cli(env, work, "cases", "list", "--json").splitlines()]
            if not cases:
                raise SystemExit("the small world opened no case")
            first = cases[0]
            commands: list[Any] = _commands(first["case_id"], first["client_ids"][0], first["user_id"])
            waiting = [c["case_id"] for c in cases[1:] if c.get("status") == "investigating"][:args.repeat]
            if len(waiting) == args.repeat:
                commands.append([["cases", "decide", case_id, "--decision", "unfounded", "--reason", "duplicate"]
                                 for case_id in waiting])
            server = endpoint_pid(work / "state")
            results = []
            for command in commands:
                results.append(measure(command, env, work, args.repeat, server))
                print(render(results, args.repeat)[-2], flush=True, file=sys.stderr)
        finally:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "accesswatch_tools.cli.main", "local", "stop"], env=env, cwd=work,
                           capture_output=True, check=False, timeout=300)
            stop_wall = time.perf_counter() - started
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s); 40-staff world (seed 11), local endpoint")
    print("\n".join(render(results, args.repeat)))
    print(f"\n`accesswatch local stop` (after the commands above; the endpoint saves, then ends): {stop_wall:.2f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
