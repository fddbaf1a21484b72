"""``history USER_ID``: every access one staff member made in a period, with a summary and their team's median
(the mirror image of a client's footprint). An audited read: recorded before anything is shown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from accesswatch_tools.cli.commands.footprint import _date
from accesswatch_tools.cli.context import (
    CliError,
    add_reason_option,
    add_target_options,
    audited,
    deployment,
    state_dir,
)
from accesswatch_tools.cli.output import identifier
from accesswatch_tools.operate.deployment import OperationError

OUT_SUFFIXES = (".txt", ".csv", ".json", ".jsonl")
SHOWN_ACCESSES = 200


def cmd_history(args: argparse.Namespace) -> int:
    from accesswatch_tools.operate.history import (
        answer_history,
        counts,
        csv_text,
        json_document,
        json_lines,
        text_report,
    )

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in OUT_SUFFIXES:
        raise CliError(f"--out {out.name}: a history is written as {', '.join(OUT_SUFFIXES)}")
    if args.date_from and args.date_to and args.date_to < args.date_from:
        raise CliError(f"--to {args.date_to} is before --from {args.date_from}")
    engine = args.engine
    if engine == "auto":
        engine = "athena" if args.stack else "partitions"
    cache = None if args.no_cache or args.stack else state_dir(args) / "partition-cache"
    dep = deployment(args)
    try:
        history = answer_history(dep, args.user_id, args.date_from, args.date_to, engine=engine, cache_dir=cache,
                                 systems=args.system or None)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    meta, c = history.meta, counts(history)
    # Recorded before anything is written or shown: no audit record, no history.
    audited(dep, args, "staff_history",
            subject={"user_id": args.user_id, "from": meta.start, "to": meta.end, "systems": list(args.system or [])},
            result={"accesses": c.accesses, "clients": c.clients, "findings": c.flagged})
    suffix = out.suffix.lower() if out is not None else ""
    if suffix == ".csv":
        text = csv_text(history)
    elif suffix == ".json":
        text = json_document(history)
    elif suffix == ".jsonl" or args.json:
        text = json_lines(history)
    else:
        text = text_report(history, limit=None if (args.all or out is not None) else SHOWN_ACCESSES)
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    summary = (f"accesswatch: user {args.user_id}: {c.accesses} access(es) to {c.clients} client(s) from "
               f"{meta.start} to {meta.end}, {c.not_covered} not covered by an assignment, {c.flagged} raised findings")
    lines = [summary + (f"; history written to {out}" if out else "")]
    if args.json or out is not None:  # the text report already carries these
        lines += [f"  {line}" for line in meta.lines()] + [f"  {line}" for line in history.team.lines()]
    print("\n".join(lines), file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "history",
        help="every access one staff member made in a period, by client and screen, against their team's median",
        description="Every access one staff member (user id) made in a period, from the curated partitions "
                    "(polars; Athena with --stack): when (NZ time), client id, action, screen, site, whether an "
                    "assignment covered it and the findings it raised; then a summary by client and by screen and "
                    "how the user compares with the median of the other members of their team (accesses per day "
                    "with logs, distinct clients, sensitive-screen accesses). Ids only: no names, addresses or "
                    "dates of birth. Every history is an audited read (who, when, which user, period, --reason).")
    parser.add_argument("user_id", type=identifier("user"),
                        help="the staff user id exactly as the staff snapshot has it, e.g. u112017")
    parser.add_argument("--from", dest="date_from", type=_date, default=None,
                        help="first NZ date, YYYY-MM-DD (default: the first day any logs are held)")
    parser.add_argument("--to", dest="date_to", type=_date, default=None,
                        help="last NZ date, YYYY-MM-DD (default: today; a later date is clipped to today)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per access on standard output (event_id, occurred_at, "
                             "occurred_at_nz, client_id, action, screen, site, covered, finding_ids, ...); the "
                             "summary goes to standard error")
    parser.add_argument("--out", default=None,
                        help="write here instead of standard output: .txt (the report), .csv (accesses, after "
                             "'#' lines on coverage), .jsonl (one access a line) or .json (summary, team "
                             "comparison and accesses in one object)")
    parser.add_argument("--all", action="store_true",
                        help=f"the text report lists every access (default: the first {SHOWN_ACCESSES})")
    parser.add_argument("--system", action="append", default=[], help="only this system (repeatable)")
    parser.add_argument("--engine", choices=("auto", "partitions", "athena"), default="auto",
                        help="partitions: polars over the curated partitions; athena: the stack's workgroup "
                             "(default: athena with --stack, else partitions)")
    parser.add_argument("--no-cache", action="store_true", help="do not keep downloaded partitions locally")
    add_reason_option(parser)
    add_target_options(parser)
    parser.set_defaults(func=cmd_history)
