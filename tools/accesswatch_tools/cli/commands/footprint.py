"""``footprint CLIENT_ID``: every access to one client's record (a Privacy Act request), with what it covers."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from accesswatch_tools.cli.context import (
    CliError,
    add_reason_option,
    add_target_options,
    audited,
    deployment,
    state_dir,
)
from accesswatch_tools.operate.deployment import OperationError

CLIENT_SAFE_SUFFIXES = (".csv", ".html", ".htm")
INTERNAL_SUFFIXES = (".csv", ".json", ".jsonl")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_footprint(args: argparse.Namespace) -> int:
    from accesswatch_tools.operate.footprint import answer_footprint, write_client_safe, write_footprint

    out = Path(args.out) if args.out else None
    allowed = CLIENT_SAFE_SUFFIXES if args.client_safe else INTERNAL_SUFFIXES
    if out is not None and out.suffix.lower() not in allowed:
        raise CliError(f"--out {out.name}: {'a client-safe' if args.client_safe else 'a'} footprint is written "
                       f"as {', '.join(allowed)}")
    if args.date_from and args.date_to and args.date_to < args.date_from:
        raise CliError(f"--to {args.date_to} is before --from {args.date_from}")
    engine = args.engine
    if engine == "auto":
        engine = "athena" if args.stack else "partitions"
    cache = None if args.no_cache or args.stack else state_dir(args) / "partition-cache"
    dep = deployment(args)
    try:
        answer = answer_footprint(dep, args.client_id, args.date_from, args.date_to,
                                  allow_unknown=args.allow_unknown_client, engine=engine, cache_dir=cache,
                                  systems=args.system or None, with_names=args.with_staff_names)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    meta = answer.meta
    # Recorded before anything is written or shown: no audit record, no footprint.
    audited(dep, args, "footprint_client_safe" if args.client_safe else "footprint",
            subject={"client_id": args.client_id, "from": meta.start, "to": meta.end,
                     "systems": list(args.system or []), "with_staff_names": bool(args.with_staff_names)},
            result={"accesses": answer.frame.height, "users": answer.users,
                    **({} if args.client_safe else {"findings": answer.flagged})})
    if args.client_safe:
        write_client_safe(answer, out, with_names=args.with_staff_names)
    else:
        write_footprint(answer.frame, out, answer.meta)
    kind = "client-safe footprint" if args.client_safe else "footprint"
    summary = (f"accesswatch: client {args.client_id}: {answer.frame.height} access(es) by {answer.users} "
               f"user(s) from {meta.start} to {meta.end}")
    if not args.client_safe:
        summary += f", {answer.flagged} raised findings"
    lines = [summary + (f"; {kind} written to {out}" if out else "")]
    lines += [f"  {line}" for line in meta.lines()]
    print("\n".join(lines), file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "footprint",
        help="every access to one client's record and what the logs cover (internal, or --client-safe)",
        description="Every access to one client's record (a Privacy Act request). The client id must be in the "
                    "current clients reference snapshot (ids are text: leading zeros count). Every footprint "
                    "states the period asked for, the days each system's logs exist, and the days in the "
                    "period without logs (on standard error, and in the output: '#' lines heading the CSV, a "
                    "'footprint' object in JSON).")
    parser.add_argument("client_id", help="the client id exactly as the clients snapshot has it (text)")
    parser.add_argument("--from", dest="date_from", type=_date, default=None,
                        help="first NZ date, YYYY-MM-DD (default: the first day any logs are held)")
    parser.add_argument("--to", dest="date_to", type=_date, default=None,
                        help="last NZ date, YYYY-MM-DD (default: today; a later date is clipped to today)")
    parser.add_argument("--out", default=None,
                        help="write here instead of standard output: .csv, .json or .jsonl; with --client-safe "
                             ".csv or .html (a printable document)")
    parser.add_argument("--client-safe", action="store_true",
                        help="the footprint to give the client: date and time (NZ), system, staff role and team, "
                             "what was done in plain words; no finding, case, event or user ids, no rules")
    parser.add_argument("--allow-unknown-client", action="store_true",
                        help="go ahead when the id is not in the clients snapshot (the footprint then says so) "
                             "instead of exiting 1")
    parser.add_argument("--system", action="append", default=[], help="only this system (repeatable)")
    parser.add_argument("--with-staff-names", action="store_true",
                        help="add the staff members' names, read now from the current staff snapshot in the "
                             "raw bucket (left out by default; in a client-safe footprint only where policy "
                             "allows)")
    parser.add_argument("--engine", choices=("auto", "partitions", "athena"), default="auto",
                        help="partitions: polars over the curated partitions; athena: the stack's workgroup "
                             "(default: athena with --stack, else partitions)")
    parser.add_argument("--no-cache", action="store_true", help="do not keep downloaded partitions locally")
    add_reason_option(parser)
    add_target_options(parser)
    parser.set_defaults(func=cmd_footprint)
