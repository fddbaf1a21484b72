"""Producing the quarterly release from a deployment: load cases, findings and users, build, publish.

Used by the report function (scheduled after each New Zealand quarter, or invoked with a period)
and by ``accesswatch report``; both end with the same files, in ``OUT/reports/`` or under
``reports/<from>_<to>/`` in the curated bucket.

A period that ends after today (New Zealand date) is clipped to today, and the release says so
(``coverage.clip_to_today``); one that starts after today is refused. The days with logs per system
come from one listing of the curated partitions of the period (keys only), the same listing whose
objects Table 8 reads.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from accesswatch.cases.scoring import ScoringSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.dal.partitions import PartitionObject, PartitionStore
from accesswatch.dal.reporting import FindingQueries
from accesswatch.quarters import Period, nz_date, quarter_end
from accesswatch.reports.build import ReportInputs, build_report
from accesswatch.reports.coverage import Coverage, clip_to_today
from accesswatch.reports.model import Report
from accesswatch.reports.render import render_files
from accesswatch.rules import CATALOG

REPORTS_PREFIX = "reports/"


@dataclass
class ReportSources:
    cases: CaseStore
    findings: FindingQueries
    partitions: PartitionStore
    ledger: Ledger
    store: ObjectStore
    curated_bucket: str


def catalog_rules() -> dict[str, tuple[str, str]]:
    """Live rules first, in catalog order: id -> (severity, description)."""
    return {r.id: (r.severity.value, r.description) for r in CATALOG if r.status == "live"}


def staff_snapshot(ledger: Ledger, store: ObjectStore, bucket: str) -> pl.DataFrame | None:
    """The current staff snapshot (all text columns), or None before any arrived."""
    pointer = ledger.reference_pointer() or {}
    staff = (pointer.get("kinds") or {}).get("staff")
    if not staff:
        return None
    return store.get_parquet(bucket, staff["key"])


def account_types(staff: pl.DataFrame | None) -> dict[str, str]:
    if staff is None or "user_id" not in staff.columns:
        return {}
    kinds = staff.select(
        pl.col("user_id"),
        pl.col("account_type").fill_null("person").str.strip_chars().str.to_lowercase()
        if "account_type" in staff.columns else pl.lit("person").alias("account_type"),
    ).unique(subset=["user_id"], keep="first")
    return dict(zip(kinds["user_id"].to_list(), kinds["account_type"].to_list(), strict=True))


def users_by_quarter(partitions: PartitionStore, period: Period, systems: Sequence[str] | None = None,
                     objects: Sequence[PartitionObject] | None = None) -> dict[date, set[str]]:
    """Distinct user ids per quarter from the partitions of the period's days (user_id column only);
    ``objects``: the period's partitions already listed (those of other systems are skipped)."""
    if objects is None:
        objects = partitions.list(period.start, period.end, systems)
    elif systems:
        objects = [o for o in objects if o.system in systems]
    found: dict[date, set[str]] = defaultdict(set)
    for frame in partitions.frames(objects, ["user_id", "nz_date"]):
        for day, users in frame.group_by("nz_date").agg(pl.col("user_id").unique()).iter_rows():
            if period.contains(day):
                found[quarter_end(day)].update(users)
    return dict(found)


def min_decisions(environ: Mapping[str, str] | None = None) -> int:
    """Decisions a rule needs before Table 9 can flag it for demotion: ``CASE_PRECISION_MIN_DECISIONS``,
    the setting that lets precision scale the rule's weight (default 20). Only that variable is read."""
    env = os.environ if environ is None else environ
    name = "CASE_PRECISION_MIN_DECISIONS"
    return ScoringSettings.from_env({name: env[name]} if name in env else {}).case_precision_min_decisions


def log_days(objects: Sequence[PartitionObject]) -> dict[str, frozenset[date]]:
    """System -> the New Zealand dates that have a partition (logs)."""
    found: dict[str, set[date]] = defaultdict(set)
    for o in objects:
        found[o.system].add(o.nz_date)
    return {system: frozenset(days) for system, days in found.items()}


def load_inputs(sources: ReportSources, period: Period, systems: Sequence[str] | None = None, *,
                today: date | None = None, requested: Period | None = None,
                message: str | None = None) -> ReportInputs:
    """Everything the release is built from; ``today`` (NZ date, default now) dates the coverage."""
    rules = catalog_rules()
    findings: list[dict[str, Any]] = []
    for rule in rules:
        for q in period.quarters:
            findings.extend(f for f in sources.findings.in_rule_quarter(rule, q.isoformat())
                            if period.contains(date.fromisoformat(str(f["nz_date"]))))
    staff = staff_snapshot(sources.ledger, sources.store, sources.curated_bucket)
    known = sources.partitions.systems()
    objects = sources.partitions.list(period.start, period.end, sorted(set(known) | set(systems or ())))
    coverage = Coverage(log_days(objects), today or nz_date(datetime.now(UTC)), tuple(known), requested, message)
    return ReportInputs(
        cases=list(sources.cases.scan_cases()),
        findings=findings,
        users_by_quarter=users_by_quarter(sources.partitions, period, systems, objects),
        account_types=account_types(staff),
        rules=rules,
        systems=tuple(systems or ()),
        min_decisions=min_decisions(),
        coverage=coverage,
    )


def produce(sources: ReportSources, period: Period, *, threshold: int, systems: Sequence[str] | None = None,
            generated_at: datetime | None = None) -> Report:
    """The release for ``period``, clipped to today (New Zealand date) if it ends later: ``report.period``
    is what it covers, ``report.coverage.message`` says why it differs (``ValueError`` if it starts later)."""
    generated = generated_at or datetime.now(UTC)
    today = nz_date(generated)
    clipped, message = clip_to_today(period, today)
    inputs = load_inputs(sources, clipped, systems, today=today,
                         requested=period if message else None, message=message)
    return build_report(inputs, clipped, threshold=threshold, generated_at=generated)


def report_prefix(period: Period) -> str:
    return f"{REPORTS_PREFIX}{period.start.isoformat()}_{period.end.isoformat()}/"


CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def publish(report: Report, store: ObjectStore, bucket: str) -> list[str]:
    """Write the release's files under ``reports/<from>_<to>/`` in the curated bucket."""
    prefix = report_prefix(report.period)
    keys = []
    for name, data in sorted(render_files(report).items()):
        suffix = name[name.rfind("."):]
        store.put_bytes(bucket, prefix + name, data, CONTENT_TYPES.get(suffix, "application/octet-stream"))
        keys.append(prefix + name)
    return keys
