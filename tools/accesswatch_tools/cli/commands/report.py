"""``report``: the quarterly governance and OIA tables for a period, written to OUT/reports/."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from accesswatch.quarters import Period
from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.operate.report import write_report


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_report(args: argparse.Namespace) -> int:
    try:
        period = Period(args.date_from, args.date_to)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    report, written = write_report(deployment(args), period, Path(args.out), threshold=args.threshold,
                                   systems=args.system or None, publish=args.publish)
    print(f"accesswatch: report for {period.label} ({len(period.quarters)} quarter(s)), "
          f"threshold {report.threshold}, {report.withheld_cells()} cell(s) withheld")
    for table in report.tables:
        print(f"  Table {table.number}: {table.title}")
    target = Path(args.out) / "reports"
    print(f"files in {target}/: " + " ".join(p.relative_to(target).as_posix() for p in written))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("report", help="quarterly governance and OIA tables (CSV, JSON, XLSX) for a period")
    parser.add_argument("--from", dest="date_from", type=_date, required=True, help="first NZ date (YYYY-MM-DD)")
    parser.add_argument("--to", dest="date_to", type=_date, required=True, help="last NZ date (YYYY-MM-DD)")
    parser.add_argument("--out", required=True, help="directory; files go to OUT/reports/")
    parser.add_argument("--threshold", type=int, default=None,
                        help="withhold counts below this (default: the template's SmallCountThreshold)")
    parser.add_argument("--system", action="append", default=[],
                        help="count users of this system only (repeatable; default all)")
    parser.add_argument("--publish", action="store_true",
                        help="also write the files under reports/<from>_<to>/ in the curated bucket")
    add_target_options(parser)
    parser.set_defaults(func=cmd_report)
