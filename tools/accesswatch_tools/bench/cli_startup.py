"""What each everyday ``accesswatch`` command costs to start and answer, in fresh processes.

``python -m accesswatch_tools.bench.cli_startup`` synthesises a small world (40 staff, the tests'
``small_world``), runs it with ``accesswatch run`` in a temporary state directory (which leaves the local
endpoint running), then runs each command of ``COMMANDS`` ``--repeat`` times (default 3), each in a fresh
``python -m accesswatch_tools.cli.main`` process as a person or a test would type it, and prints per command
the child's CPU seconds (user + sys, from ``os.wait4``) and wall seconds (median of the runs), the number of
modules it imported and whether polars, moto or ``accesswatch.services.replay`` were among them. The
endpoint is stopped at the end. Results are kept in benchmarks/results/cli-startup.md.
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


def run_once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[int, float, float, list[str]]:
    """One fresh process: (exit code, CPU seconds, wall seconds, modules imported)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        code = _CHILD.format(out=out.name, argv=list(argv))
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=cwd,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        text = Path(out.name).read_text()
        return child.returncode, usage.ru_utime + usage.ru_stime, wall, json.loads(text) if text else []


def measure(argv: Sequence[str], env: dict[str, str], cwd: Path, repeat: int) -> Measured:
    runs = [run_once(argv, env, cwd) for _ in range(repeat)]
    modules = runs[-1][3]
    return Measured(" ".join(argv), tuple(r[0] for r in runs), statistics.median(r[1] for r in runs),
                    statistics.median(r[2] for r in runs), len(modules),
                    tuple(h for h in HEAVY if h in modules))


def _cli(env: dict[str, str], cwd: Path, *argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "accesswatch_tools.cli.main", *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"accesswatch {' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def render(results: Sequence[Measured], repeat: int) -> list[str]:
    lines = [f"| command | exit | CPU s (median of {repeat}) | wall s | modules | heavy imported |",
             "|---|---|---:|---:|---:|---|"]
    for r in results:
        codes = ",".join(str(c) for c in sorted(set(r.exit_codes)))
        lines.append(f"| `accesswatch {r.command}` | {codes} | {r.cpu:.2f} | {r.wall:.2f} | {r.modules} | "
                     f"{', '.join(r.heavy) or '-'} |")
    lines.append(f"| total | | {sum(r.cpu for r in results):.2f} | {sum(r.wall for r in results):.2f} | | |")
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
            commands = _commands(first["case_id"], first["client_ids"][0], first["user_id"])
            results = []
            for command in commands:
                results.append(measure(command, env, work, args.repeat))
                print(render(results, args.repeat)[-2], flush=True, file=sys.stderr)
        finally:
            subprocess.run([sys.executable, "-m", "accesswatch_tools.cli.main", "local", "stop"], env=env, cwd=work,
                           capture_output=True, check=False, timeout=300)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s); 40-staff world (seed 11), local endpoint")
    print("\n".join(render(results, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
