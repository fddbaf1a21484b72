"""Producing the quarterly release from a deployment: load cases, findings and users, build, publish.

Used by the report function (scheduled after each New Zealand quarter, or invoked with a period)
and by ``accesswatch report``; both end with the same files, in ``OUT/reports/`` or under
``reports/<from>_<to>/`` in the curated bucket.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from accesswatch.cases.scoring import ScoringSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.dal.partitions import PartitionStore
from accesswatch.dal.reporting import FindingQueries
from accesswatch.quarters import Period, quarter_end
from accesswatch.reports.build import ReportInputs, build_report
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


def users_by_quarter(partitions: PartitionStore, period: Period,
                     systems: Sequence[str] | None = None) -> dict[date, set[str]]:
    """Distinct user ids per quarter from the partitions of the period's days (user_id column only)."""
    objects = partitions.list(period.start, period.end, systems)
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


def load_inputs(sources: ReportSources, period: Period, systems: Sequence[str] | None = None) -> ReportInputs:
    rules = catalog_rules()
    findings: list[dict[str, Any]] = []
    for rule in rules:
        for q in period.quarters:
            findings.extend(f for f in sources.findings.in_rule_quarter(rule, q.isoformat())
                            if period.contains(date.fromisoformat(str(f["nz_date"]))))
    staff = staff_snapshot(sources.ledger, sources.store, sources.curated_bucket)
    return ReportInputs(
        cases=list(sources.cases.scan_cases()),
        findings=findings,
        users_by_quarter=users_by_quarter(sources.partitions, period, systems),
        account_types=account_types(staff),
        rules=rules,
        systems=tuple(systems or ()),
        min_decisions=min_decisions(),
    )


def produce(sources: ReportSources, period: Period, *, threshold: int, systems: Sequence[str] | None = None,
            generated_at: datetime | None = None) -> Report:
    return build_report(load_inputs(sources, period, systems), period, threshold=threshold,
                        generated_at=generated_at)


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
