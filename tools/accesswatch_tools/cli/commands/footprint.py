"""``footprint CLIENT_ID``: every access to one client's record (a Privacy Act request)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from accesswatch_tools.cli.context import CliError, add_target_options, deployment, state_dir
from accesswatch_tools.operate.deployment import OperationError
from accesswatch_tools.operate.footprint import footprint, write_footprint


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_footprint(args: argparse.Namespace) -> int:
    from accesswatch.quarters import nz_date
    from accesswatch.services.footprint import EARLIEST

    start = args.date_from or EARLIEST
    end = args.date_to or nz_date(datetime.now(UTC))
    if end < start:
        raise CliError(f"--to {end} is before --from {start}")
    engine = args.engine
    if engine == "auto":
        engine = "athena" if args.stack else "partitions"
    cache = None if args.no_cache or args.stack else state_dir(args) / "partition-cache"
    dep = deployment(args)
    try:
        frame = footprint(dep, args.client_id, start, end, engine=engine, cache_dir=cache,
                          systems=args.system or None, with_names=args.with_staff_names)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    write_footprint(frame, Path(args.out) if args.out else None)
    flagged = frame.filter(pl.col("findings") != "").height
    users = frame["user_id"].n_unique() if frame.height else 0
    print(f"accesswatch: client {args.client_id}: {frame.height} access(es) by {users} user(s) from {start} to "
          f"{end}, {flagged} raised findings" + (f"; written to {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("footprint", help="every access to one client's record, with role, team, "
                                              "assignment cover and findings (staff names hidden)")
    parser.add_argument("client_id")
    parser.add_argument("--from", dest="date_from", type=_date, default=None, help="first NZ date (default: all)")
    parser.add_argument("--to", dest="date_to", type=_date, default=None, help="last NZ date (default: today)")
    parser.add_argument("--out", default=None, help="write CSV (or .jsonl) here instead of standard output")
    parser.add_argument("--system", action="append", default=[], help="only this system (repeatable)")
    parser.add_argument("--with-staff-names", action="store_true",
                        help="add the staff members' names (left out by default)")
    parser.add_argument("--engine", choices=("auto", "partitions", "athena"), default="auto",
                        help="partitions: polars over the curated partitions; athena: the stack's workgroup "
                             "(default: athena with --stack, else partitions)")
    parser.add_argument("--no-cache", action="store_true", help="do not keep downloaded partitions locally")
    add_target_options(parser)
    parser.set_defaults(func=cmd_footprint)
