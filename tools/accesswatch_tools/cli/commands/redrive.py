"""``accesswatch redrive``: the redrive service (accesswatch.services.redrive) on the local endpoint or a
stack, as a command: what was done (a table, or ``--json``: one line), and exit 1 when something needs an
operator."""

from __future__ import annotations

import argparse
from typing import Any

from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.cli.output import json_line, seconds, table
from accesswatch_tools.operate.deployment import OperationError


def redrive(*args: Any, **kwargs: Any) -> Any:
    """``accesswatch_tools.operate.redrive.redrive``, imported when a redrive runs."""
    from accesswatch_tools.operate.redrive import redrive as run

    return run(*args, **kwargs)


def cmd_redrive(args: argparse.Namespace) -> int:
    try:
        report = redrive(deployment(args), wait=not args.no_wait, dry_run=args.dry_run, timeout_s=args.timeout)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json_line(report.as_dict()))
    elif report.actions:
        rows = [(a.kind, a.subject, a.status, a.detail or "-") for a in report.actions]
        print("\n".join(table(rows, ("KIND", "SUBJECT", "STATUS", "DETAIL"))))
    if not args.json:
        for item in report.left:
            print(f"needs an operator: {item}")
        if not report.actions and not report.left:
            print("accesswatch redrive: nothing failed, nothing to do")
    if not report.ok and not args.dry_run:
        raise CliError(f"{len(report.left)} item(s) need an operator; "
                       f"{len(report.failed_again)} "
                       "redriven item(s) failed again")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("redrive", help="finish failed ingests, detections and case workflows without duplicates")
    parser.add_argument("--dry-run", action="store_true", help="say what would be redriven, change nothing")
    parser.add_argument("--no-wait", action="store_true", help="start the work and return without waiting")
    parser.add_argument("--json", action="store_true",
                        help="what was done as one JSON object on one line, for scripts (default: a table)")
    parser.add_argument("--timeout", type=seconds, default=1800.0, metavar="SECONDS",
                        help="how long to wait for the redriven work, in seconds (default 1800)")
    add_target_options(parser)
    parser.set_defaults(func=cmd_redrive)
