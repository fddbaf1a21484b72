"""``report``: the quarterly governance and OIA tables for a period, written to OUT/reports/.

A ``--to`` after today (New Zealand date) is clipped to today, with a line saying so on standard error; a
``--from`` after today is refused (exit 1). The summary lists what each quarter's figures cover.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from accesswatch.quarters import Period, nz_today, quarter_label
from accesswatch.reports.coverage import clip_to_today
from accesswatch_tools.cli.context import CliError, add_target_options, deployment


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_report(args: argparse.Namespace) -> int:
    from accesswatch_tools.operate.report import write_report

    try:
        asked = Period(args.date_from, args.date_to)
        period, message = clip_to_today(asked, nz_today())
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if message:
        print(f"accesswatch: {message}", file=sys.stderr)
    report, written = write_report(deployment(args), asked, Path(args.out), threshold=args.threshold,
                                   systems=args.system or None, publish=args.publish)
    period = report.period
    print(f"accesswatch: report for {period.label} ({len(period.quarters)} quarter(s)), "
          f"threshold {report.threshold}, {report.withheld_cells()} cell(s) withheld, "
          f"{report.no_data_cells()} cell(s) with no data")
    for table in report.tables:
        print(f"  Table {table.number}: {table.title}")
    if report.coverage is not None:
        print("access logs behind the figures (tables 4 to 8):")
        for q in period.quarters:
            print(f"  quarter ending {quarter_label(q)}: {report.coverage.quarter(q, period).text()}")
    target = Path(args.out) / "reports"
    print(f"files in {target}/: " + " ".join(p.relative_to(target).as_posix() for p in written))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("report", help="quarterly governance and OIA tables (CSV, JSON, XLSX) for a period")
    parser.add_argument("--from", dest="date_from", type=_date, required=True, help="first NZ date (YYYY-MM-DD)")
    parser.add_argument("--to", dest="date_to", type=_date, required=True,
                        help="last NZ date (YYYY-MM-DD); a date after today is clipped to today, with a message")
    parser.add_argument("--out", required=True, help="directory; files go to OUT/reports/")
    parser.add_argument("--threshold", type=int, default=None,
                        help="withhold counts below this (default: the template's SmallCountThreshold)")
    parser.add_argument("--system", action="append", default=[],
                        help="count users of this system only (repeatable; default all)")
    parser.add_argument("--publish", action="store_true",
                        help="also write the files under reports/<from>_<to>/ in the curated bucket")
    add_target_options(parser)
    parser.set_defaults(func=cmd_report)
