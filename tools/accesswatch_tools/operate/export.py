"""Reading the system's results back out: findings export, cases, quarantine, per-file summary.

The same functions serve the embedded runtime and a deployed stack (they take names and boto3-backed
stores, nothing local).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from accesswatch.cases.service import case_record
from accesswatch.contract import FINDING_EXPORT_FIELDS
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore

EXPORT_EXTRA_FIELDS = ("system", "rule_status", "snapshot_id", "case_id")


def export_finding(item: dict[str, Any]) -> dict[str, Any]:
    """The contract's findings export line (then a few more fields of ours)."""
    out = {f: item.get(f) for f in FINDING_EXPORT_FIELDS}
    evidence = out.get("evidence")
    if isinstance(evidence, str):
        out["evidence"] = json.loads(evidence) if evidence else {}
    for f in EXPORT_EXTRA_FIELDS:
        out[f] = item.get(f)
    return out


def export_case(case: dict[str, Any]) -> dict[str, Any]:
    """One line of ``cases.jsonl``: the same shape as ``accesswatch cases list --json``."""
    return case_record(case)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")


def collect_findings(store: FindingStore) -> list[dict[str, Any]]:
    items = list(store.scan())
    items.sort(key=lambda i: (i.get("occurred_at_utc", ""), i.get("event_id", ""), i.get("rule", "")))
    return items


def collect_cases(store: CaseStore) -> list[dict[str, Any]]:
    return sorted(store.scan_cases(), key=lambda c: (c.get("opened_at", ""), c["case_id"]))


def _quarantine_records(data: bytes) -> list[dict[str, Any]]:
    """A quarantine object's records as ``{key, line, reason}`` (the raw line it keeps is left out)."""
    records = []
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records.append({"key": record["key"], "line": record["line"], "reason": record["reason"]})
    return records


def collect_quarantine(objects: ObjectStore, curated_bucket: str, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every quarantined line and rejected file as ``{key, line, reason}`` (raw content left out)."""
    records: list[dict[str, Any]] = []
    for key in sorted(objects.keys(curated_bucket, "quarantine/")):
        records += _quarantine_records(objects.get_bytes(curated_bucket, key))
    return _with_rejected(records, files)


def quarantine_of(objects: ObjectStore, curated_bucket: str, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The quarantined lines and rejected files among ``files`` (ledger items) as ``{key, line, reason}``: one
    read of each file's quarantine object (``CuratedLayout.quarantine``), only for files that have one."""
    records: list[dict[str, Any]] = []
    for item in files:
        if item.get("kind", "access-log") != "access-log" or not (
                int(item.get("quarantined", 0) or 0) or item.get("status") == "rejected"):
            continue
        key = CuratedLayout.quarantine(str(item.get("system") or "unknown"), str(item.get("ingest_id", "")))
        if objects.exists(curated_bucket, key):
            records += _quarantine_records(objects.get_bytes(curated_bucket, key))
    return _with_rejected(records, files)


def _with_rejected(records: list[dict[str, Any]], files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` with a record for each rejected file among ``files`` that has none, sorted."""
    logged = {r["key"] for r in records if r["line"] is None}
    for item in files:
        if item.get("status") == "rejected" and item["key"] not in logged:
            records.append({"key": item["key"], "line": None, "reason": item.get("reason", "rejected")})
    records.sort(key=lambda r: (r["key"], -1 if r["line"] is None else r["line"]))
    return records


def file_summary(item: dict[str, Any]) -> dict[str, Any]:
    out = {
        "key": item["key"],
        "kind": item.get("kind", "access-log"),
        "status": item["status"],
        "lines_read": int(item.get("lines_read", 0) or 0),
        "accepted": int(item.get("accepted", 0) or 0),
        "quarantined": int(item.get("quarantined", 0) or 0),
    }
    if item.get("reason"):
        out["reason"] = item["reason"]
    for extra in ("validation_errors", "validation_warnings", "snapshot_id"):
        if item.get(extra) not in (None, ""):
            out[extra] = item[extra]
    return out


def finding_route(finding: dict[str, Any]) -> str:
    """Where a finding went: in a case, suppressed by an exception, in its user's risk ledger
    (accumulate tier, below the threshold or queued), or recorded only (staging rules)."""
    if finding.get("case_id"):
        return "in a case"
    if finding.get("suppressed_by"):
        return "suppressed"
    if finding.get("rule_status", "live") != "live" or finding.get("tier") == "record":
        return "recorded only (staging)"
    return "risk ledger (no case yet)"


def summarise(files: list[dict[str, Any]], findings: list[dict[str, Any]], cases: list[dict[str, Any]],
              executions: dict[str, Counter[str]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    file_rows = sorted((file_summary(f) for f in files), key=lambda f: (f["kind"], f["key"]))
    logs = [f for f in file_rows if f["kind"] == "access-log"]
    return {
        "files": file_rows,
        "totals": {
            "files": len(logs),
            "lines_read": sum(f["lines_read"] for f in logs),
            "accepted": sum(f["accepted"] for f in logs),
            "quarantined": sum(f["quarantined"] for f in logs),
            "rejected_files": sum(1 for f in file_rows if f["status"] == "rejected"),
            "findings": len(findings),
            "cases": len(cases),
        },
        "findings_by_rule": dict(sorted(Counter(f["rule"] for f in findings).items())),
        "cases_by_status": dict(sorted(Counter(c.get("status", "") for c in cases).items())),
        "cases_by_trigger": dict(sorted(Counter(str(c.get("trigger") or "") for c in cases).items())),
        "findings_by_route": dict(sorted(Counter(finding_route(f) for f in findings).items())),
        "executions": {name: dict(sorted(c.items())) for name, c in executions.items()},
        **(extra or {}),
    }


def ledger_files(ledger: Ledger) -> list[dict[str, Any]]:
    return ledger.all_files()
