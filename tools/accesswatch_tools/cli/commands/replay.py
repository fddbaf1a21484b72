"""``replay --from DATE --to DATE``: re-evaluate stored partitions with the current rules and reference."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.cli.output import json_line, nz_day, seconds, table
from accesswatch_tools.operate.deployment import OperationError


def replay(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """``accesswatch_tools.operate.replay.replay``, imported when a replay runs (polars, the replay service)."""
    from accesswatch_tools.operate.replay import replay as run

    return run(*args, **kwargs)


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        report = replay(deployment(args), args.date_from, args.date_to, timeout_s=args.timeout)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    if not args.show_ids:
        report.pop("no_longer_raised_ids")
    if args.json:
        print(json_line(report))
    else:
        print("\n".join(render(report, args)))
    return 0 if report["execution"] == "SUCCEEDED" else 2


def render(report: Mapping[str, Any], args: argparse.Namespace) -> list[str]:
    """What the replay changed, per rule, for a person."""
    lines = [f"replay of {args.date_from} to {args.date_to} (New Zealand dates): {report['partitions']} "
             f"partition(s) judged against reference snapshot {report['snapshot_id']}; execution "
             f"{report['execution']}"]
    kinds = ("new", "raised_again", "no_longer_raised")
    rules = sorted({rule for kind in kinds for rule in report.get(kind) or {}})
    rows = [(rule, *(str((report.get(kind) or {}).get(rule, 0)) for kind in kinds)) for rule in rules]
    rows.append(("total", *(str(sum((report.get(kind) or {}).values())) for kind in kinds)))
    lines += table(rows, ("RULE", "NEW", "RAISED AGAIN", "NO LONGER RAISED"))
    for finding_id in report.get("no_longer_raised_ids") or []:
        lines.append(f"no longer raised: {finding_id}")
    return lines


def register(sub: Any) -> None:
    parser = sub.add_parser("replay", help="re-evaluate stored partitions against the current rules and reference data")
    parser.add_argument("--from", dest="date_from", required=True, type=nz_day, metavar="YYYY-MM-DD",
                        help="first New Zealand date of the stored partitions to judge again")
    parser.add_argument("--to", dest="date_to", required=True, type=nz_day, metavar="YYYY-MM-DD",
                        help="last New Zealand date, inclusive")
    parser.add_argument("--timeout", type=seconds, default=3600.0, metavar="SECONDS",
                        help="how long to wait for the detection execution, in seconds (default 3600)")
    parser.add_argument("--show-ids", action="store_true", help="list the finding ids no longer raised")
    parser.add_argument("--json", action="store_true",
                        help="the result as one JSON object on one line, for scripts (default: a table)")
    add_target_options(parser)
    parser.set_defaults(func=cmd_replay)
