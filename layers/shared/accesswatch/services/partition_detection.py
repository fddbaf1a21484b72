"""Detecting one curated partition: rules over events, findings written once, cases assigned."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

import polars as pl

from accesswatch.cases.exceptions import active
from accesswatch.cases.scoring import ScoringSettings
from accesswatch.config import DetectSettings
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.exceptions import ExceptionStore
from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import now_iso
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.detection import detect
from accesswatch.findings import conflict_finding_id
from accesswatch.quarters import nz_date, parse_instant, quarter_end
from accesswatch.reference.index import ReferenceIndex
from accesswatch.rules import TIER_OF
from accesswatch.services.routing import case_router


class IndexCache:
    """Reference indexes loaded once per container, keyed by snapshot id (a few kept)."""

    def __init__(self, load: Callable[[str], bytes], keep: int = 2) -> None:
        self._load = load
        self._keep = keep
        self._cache: OrderedDict[str, ReferenceIndex] = OrderedDict()

    def get(self, snapshot_id: str) -> ReferenceIndex:
        if snapshot_id in self._cache:
            self._cache.move_to_end(snapshot_id)
            return self._cache[snapshot_id]
        index = ReferenceIndex.from_bytes(self._load(snapshot_id))
        if index.snapshot_id != snapshot_id:
            raise ValueError(f"index object for {snapshot_id} holds snapshot {index.snapshot_id}")
        self._cache[snapshot_id] = index
        while len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return index


def index_loader(store: ObjectStore, bucket: str) -> Callable[[str], bytes]:
    return lambda snapshot_id: store.get_bytes(bucket, CuratedLayout.reference_index(snapshot_id))


def finding_items(found: pl.DataFrame, partition_key: str) -> list[dict[str, Any]]:
    """Findings frame -> table items (strings only; evidence stays a JSON text)."""
    items = []
    for row in found.iter_rows(named=True):
        quarter = quarter_end(row["nz_date"]).isoformat()
        items.append({
            "finding_id": row["finding_id"], "system": row["system"], "event_id": row["event_id"],
            "rule": row["rule"], "severity": row["severity"], "rule_status": row["rule_status"],
            "tier": TIER_OF.get(row["rule"], "record") if row["rule_status"] == "live" else "record",
            "modifiers": row["modifiers"] or "",
            "user_id": row["user_id"], "client_id": row["client_id"], "occurred_at": row["occurred_at"],
            "occurred_at_utc": row["occurred_at_utc"].isoformat(), "nz_date": row["nz_date"].isoformat(),
            "quarter": quarter, "rule_quarter": f"{row['rule']}#{quarter}",
            "explanation": row["explanation"], "evidence": row["evidence"],
            "snapshot_id": row["snapshot_id"], "partition_key": partition_key,
        })
    return items


_EVENT_CONTENT = ("user_id", "client_id", "occurred_at_utc")


def _keep_conflicting_events(items: list[dict[str, Any]], results: list[tuple[bool, dict[str, Any]]],
                             findings: FindingStore) -> tuple[list[tuple[bool, dict[str, Any]]], int]:
    """A finding whose id already existed for another event's content (an event_id reused with other
    content that ingest could not see: another date, or two files ingested at once) would hide this
    access behind the earlier finding. It is written under its own conflict id instead, naming the earlier
    finding, and routed like any other; the count goes to the EventIdConflicts metric."""
    kept: list[tuple[bool, dict[str, Any]]] = []
    conflicts = 0
    for item, (written, stored) in zip(items, results, strict=True):
        if written or all(str(stored.get(k)) == str(item[k]) for k in _EVENT_CONTENT):
            kept.append((written, stored))
            continue
        conflicts += 1
        twin = {**item, "event_conflict_of": item["finding_id"],
                "finding_id": conflict_finding_id(*(str(item[k]) for k in ("system", "event_id", "rule")),
                                                  *(str(item[k]) for k in _EVENT_CONTENT))}
        kept.append(findings.put_if_new(twin))
    return kept, conflicts


def detect_partition(partition: dict[str, Any], snapshot_id: str, *, settings: DetectSettings, store: ObjectStore,
                     indexes: IndexCache, findings: FindingStore, cases: CaseStore,
                     executions: Executions, scoring: ScoringSettings) -> dict[str, Any]:
    index = indexes.get(snapshot_id)
    events = store.get_parquet(partition["bucket"], partition["key"])
    found = detect(events, index)
    items = finding_items(found, partition["key"])
    staged = findings.stage(items)  # written when routing has marked them (the router flushes)
    results, conflicts = _keep_conflicting_events(items, staged.results, findings)
    stored = [item for _written, item in results]
    router = case_router(cases=cases, findings=staged, executions=executions,
                         case_state_machine_arn=settings.case_state_machine_arn, scoring=scoring)
    exception_store = ExceptionStore(cases)
    routed = router.route(stored, exceptions=active(exception_store.all(), nz_date(parse_instant(now_iso()))))
    for exception_id, n in sorted(routed.suppressed.items()):
        exception_store.count_suppressed(exception_id, n)
    case_counts = routed.counts()
    by_rule = Counter(item["rule"] for item in stored)
    return {
        "partition": partition["key"],
        "snapshot_id": snapshot_id,
        "events": events.height,
        "findings": len(stored),
        "new_findings": sum(1 for written, _ in results if written),
        "event_id_conflicts": conflicts,
        "by_rule": dict(sorted(by_rule.items())),
        **case_counts,
    }
