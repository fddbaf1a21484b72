"""``export findings|cases``: everything the system holds (local endpoint or --stack), or a period of it, as
JSON Lines in the same line shapes as ``accesswatch run`` writes (without the run's own fields)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from accesswatch_tools.cli.context import CliError, add_reason_option, add_target_options, audited, deployment
from accesswatch_tools.cli.output import nz_day

# kind -> (one, many, what --from/--to compare, the line's shape)
_CHOSEN = {"findings": "of accesses on NZ dates", "cases": "opened on NZ dates"}
_WHAT = {
    "findings": ("finding", "findings", "the New Zealand date of the access (occurred_at)",
                 "one line per finding, as findings.jsonl: the contract's fields (finding_id, event_id, rule, "
                 "severity, user_id, client_id, occurred_at, explanation, evidence), then system, rule_status, "
                 "snapshot_id and case_id"),
    "cases": ("case", "cases", "the New Zealand date the case opened (opened_at)",
              "one line per case, as cases.jsonl and `cases list --json`: case_id, user_id, status, priority, "
              "score, tier, rules, client_ids, finding_ids, opened_at and the case's details"),
}
# accesswatch_tools.operate.export.EXPORT_KINDS (polars and the DAL to import; tests/unit/tools/test_cli_imports.py
# proves them the same)
EXPORT_KINDS = tuple(_WHAT)


def cmd_export(args: argparse.Namespace) -> int:
    from accesswatch_tools.operate.export import (
        ExportError,
        Period,
        export_rows,
        writable_target,
        write_export,
    )

    try:
        period = Period(args.date_from, args.date_to)
        target = writable_target(Path(args.out))  # before the endpoint or stack is reached
        dep = deployment(args)
        rows = export_rows(dep, args.kind, period)
        first, last = period.days()
        ids = {"case_ids": [r["case_id"] for r in rows]} if args.kind == "cases" else {}
        # Recorded before the file is written: no audit record, no export.
        audited(dep, args, f"export_{args.kind}", subject={"from": first, "to": last, **ids},
                result={args.kind: len(rows)})
        count = write_export(target, rows)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    one, many, _, _ = _WHAT[args.kind]
    chosen = "" if args.date_from is None and args.date_to is None else f" {_CHOSEN[args.kind]} {period.describe()}"
    print(f"accesswatch: {count} {one if count == 1 else many}{chosen} written to {args.out}")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "export", help="everything the system holds, or a period of it: findings or cases as JSON Lines "
                       "(local endpoint or --stack)",
        description="Everything the system holds, whichever run or upload produced it (`accesswatch run` writes "
                    "only what that run did). Reads the whole findings or cases table once (a scan the service "
                    "filters to the period).")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{findings,cases}")
    for kind in EXPORT_KINDS:
        one, many, by, shape = _WHAT[kind]
        action = kinds.add_parser(kind, help=f"every {one} the system holds, as JSON Lines",
                                  description=f"Every {one} the system holds as JSON Lines ({shape}), oldest "
                                              f"first. --from and --to choose {many} by {by}, inclusive.")
        action.add_argument("--from", dest="date_from", type=nz_day, metavar="YYYY-MM-DD",
                            help=f"first day: {by}")
        action.add_argument("--to", dest="date_to", type=nz_day, metavar="YYYY-MM-DD",
                            help=f"last day, inclusive: {by}")
        action.add_argument("--out", required=True, metavar="FILE",
                            help="the file to write (replaced whole, never left half-written)")
        add_reason_option(action)
        add_target_options(action)
        action.set_defaults(func=cmd_export)
