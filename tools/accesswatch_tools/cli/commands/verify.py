"""``accesswatch verify``: read everything the system stored and check its invariants (accesswatch_tools.verify).

Run it after any run: it exits non-zero with a clear list when something was lost, doubled, left
unfinished or disagrees with itself. It reads through the DAL, so it works on the local endpoint,
an in-process runtime (tests) and a deployed stack (--stack) alike.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accesswatch_tools.cli.context import add_target_options, deployment, state_dir
from accesswatch_tools.cli.output import json_line

if TYPE_CHECKING:
    from accesswatch_tools.verify import Problem


def endpoint_problems(directory: Path) -> list[Problem]:
    """On the local system: an endpoint process no command reaches may hold data verify cannot see, and a
    crashed endpoint's cases and decisions are gone, so a pass says nothing about them."""
    from accesswatch_tools.embedded import server
    from accesswatch_tools.verify import Problem

    survey = server.find_endpoints(directory)
    problems = [Problem("endpoints", f"pid {e.pid}", f"another endpoint process of {directory} that no command "
                                                     "reaches: its data is not checked (`accesswatch local stop` "
                                                     "stops every one)") for e in survey.strays]
    if survey.lost is not None:
        problems.append(Problem("endpoints", f"pid {survey.lost.get('pid')}",
                                server.lost_message(survey.lost, directory)))
    return problems


def cmd_verify(args: argparse.Namespace) -> int:
    from accesswatch_tools.operate.stored_state import verify

    export = Path(args.export) if args.export else None
    if export is not None and export.is_dir():
        export = export / "findings.jsonl"
    target = deployment(args)
    report = verify(target, export)
    if not getattr(args, "stack", None):
        report.problems.extend(endpoint_problems(state_dir(args)))
    if args.json:
        print(json_line(report.as_dict()))
    else:
        counted = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in report.counted.items())
        print(f"accesswatch verify: checked {counted}")
        for problem in report.problems:
            print(f"  FAIL {problem}", file=sys.stderr)
        print("accesswatch verify: " + ("every invariant holds" if report.ok
                                        else f"{len(report.problems)} problem(s)"))
    return 0 if report.ok else 1


def register(sub: Any) -> None:
    parser = sub.add_parser("verify", help="check the system's invariants: nothing lost, doubled or left unfinished")
    parser.add_argument("--json", action="store_true", help="the report as one JSON object on one line, for scripts")
    parser.add_argument("--export", default=None,
                        help="a findings export to check against the whole table: a file `accesswatch export "
                             "findings` wrote, or a run's findings.jsonl (or its output directory) when that run "
                             "is all the system holds (a run's outputs hold only what it did); default: the "
                             "export as `accesswatch export findings` would write it now")
    add_target_options(parser)
    parser.set_defaults(func=cmd_verify)
