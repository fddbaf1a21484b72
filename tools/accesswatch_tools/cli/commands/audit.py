"""``audit list``: the application audit records of reads (who, when, what, why), local endpoint or --stack.

Reading the audit log is itself a read: it leaves its own record (action ``audit_list``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from accesswatch.audit import ACTIONS, record_view
from accesswatch.quarters import nz_today
from accesswatch_tools.cli.context import CliError, add_reason_option, add_target_options, audited, deployment
from accesswatch_tools.cli.output import json_help, json_line, nz_day, nz_time, one_of, table
from accesswatch_tools.operate.deployment import OperationError

DEFAULT_DAYS = 7  # without --from: the last week of NZ dates, today included
SHOWN_IDS = 3


def describe(values: Mapping[str, Any]) -> str:
    """``key value`` pairs of a record's subject or result, lists as their first ids and a count."""
    parts = []
    for key, value in values.items():
        if key.endswith("_total") and isinstance(values.get(key.removesuffix("_total")), list):
            continue  # said with its list
        if isinstance(value, list):
            total = values.get(f"{key}_total", len(value))
            shown = ",".join(str(v) for v in value[:SHOWN_IDS])
            more = f",+{int(total) - SHOWN_IDS}" if int(total) > SHOWN_IDS else ""
            parts.append(f"{key} {shown}{more}" if value else f"{key} -")
        elif isinstance(value, bool):
            if value:
                parts.append(key)
        else:
            parts.append(f"{key} {value}")
    return " ".join(parts) or "-"


def render(records: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [(nz_time(r.get("at"), seconds=True), str(r.get("actor", "")), str(r.get("action", "")),
             describe(r.get("subject") or {}), describe(r.get("result") or {}), str(r.get("reason") or "-"),
             str(r.get("target") or "")) for r in records]
    return table(rows, ("AT (NZ)", "ACTOR", "ACTION", "WHAT (IDS)", "RESULT", "REASON", "TARGET"))


def cmd_list(args: argparse.Namespace) -> int:
    last = args.date_to or nz_today()
    first = args.date_from or (last - timedelta(days=DEFAULT_DAYS - 1))
    dep = deployment(args)
    try:
        from accesswatch_tools.operate.audit import audit_records

        records = audit_records(dep, first, last, actor=args.actor, action=args.action)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    audited(dep, args, "audit_list",
            subject={"from": first, "to": last, "actor_filter": args.actor, "action_filter": args.action},
            result={"records": len(records)})
    if args.json:
        for record in records:
            print(json_line(record_view(record)))
        return 0
    print("\n".join(render(records)))
    print(f"{len(records)} audit record(s) of NZ dates {first} to {last}, oldest first")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("audit", help="who read what, when and why: the audit records of footprints, exports, "
                                          "run outputs and case reads (local endpoint or --stack)")
    actions = parser.add_subparsers(dest="audit_command", required=True)
    listing = actions.add_parser(
        "list", help="audit records of a period, oldest first",
        description="The application audit records of reads, oldest first: when (NZ time), who (the authenticated "
                    "caller: the IAM identity with --stack, locally the OS user), what (ids only) and the reason "
                    "given. This read is itself recorded (action audit_list).")
    listing.add_argument("--from", dest="date_from", type=nz_day, metavar="YYYY-MM-DD",
                         help=f"first NZ date (default: {DEFAULT_DAYS - 1} days before --to)")
    listing.add_argument("--to", dest="date_to", type=nz_day, metavar="YYYY-MM-DD",
                         help="last NZ date, inclusive (default: today)")
    listing.add_argument("--actor", default=None,
                         help="only this actor, exactly as recorded (e.g. assumed-role/Investigator/jane)")
    listing.add_argument("--action", type=one_of("action", ACTIONS), metavar="ACTION",
                         help=f"only this kind of read: {', '.join(ACTIONS)}")
    listing.add_argument("--json", action="store_true", help=json_help("record", "times as stored, UTC"))
    add_reason_option(listing)
    add_target_options(listing)
    listing.set_defaults(func=cmd_list)
