"""``report``: the quarterly governance and OIA tables for a period, written to OUT/reports/."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from accesswatch.quarters import Period
from accesswatch.reports.model import Report
from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.operate.deployment import Deployment


def template_threshold(dep: Deployment) -> int:
    return int(dep.template.get("Parameters", {}).get("SmallCountThreshold", {}).get("Default", 5))


def report_sources(dep: Deployment, cache_dir: Path | None = None) -> Any:
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.ledger import Ledger
    from accesswatch.dal.objects import ObjectStore
    from accesswatch.dal.partitions import PartitionStore
    from accesswatch.dal.reporting import FindingQueries
    from accesswatch.services.report import ReportSources

    dynamodb = dep.resource("dynamodb")
    s3 = dep.client("s3")
    bucket = dep.resource_name("CuratedBucket")
    return ReportSources(
        cases=CaseStore(dep.resource_name("CasesTable"), dynamodb),
        findings=FindingQueries(dep.resource_name("FindingsTable"), dynamodb),
        partitions=PartitionStore(s3, bucket, cache_dir=cache_dir),
        ledger=Ledger(dep.resource_name("LedgerTable"), dynamodb),
        store=ObjectStore(s3),
        curated_bucket=bucket,
    )


def write_report(dep: Deployment, period: Period, out_dir: Path, *, threshold: int | None = None,
                 systems: Sequence[str] | None = None, publish: bool = False) -> tuple[Report, list[Path]]:
    """Build the release from ``dep`` and write its files to ``out_dir/reports/`` (and the bucket if asked)."""
    from accesswatch.reports.render import render_files
    from accesswatch.services.report import produce
    from accesswatch.services.report import publish as publish_to_bucket

    sources = report_sources(dep)
    report = produce(sources, period, threshold=template_threshold(dep) if threshold is None else threshold,
                     systems=systems)
    target = out_dir / "reports"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(render_files(report).items()):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
        written.append(target / name)
    if publish:
        publish_to_bucket(report, sources.store, sources.curated_bucket)
    return report, written


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
