"""The quarterly governance and OIA tables for a period on a deployment: their sources, the template's
small-count threshold, and the release written to OUT/reports/ (and to the curated bucket if asked)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accesswatch.quarters import Period
from accesswatch.reports.model import Report
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
