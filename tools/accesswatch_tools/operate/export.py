"""Reading the system's results back out: findings export, cases, quarantine, per-file summary, and
``accesswatch export`` (everything the system holds, or a period of it, as JSON Lines).

The same functions serve the embedded runtime and a deployed stack (they take names and boto3-backed
stores, nothing local). What one run did (``accesswatch run``'s outputs): operate/run_scope.py.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, timedelta
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


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON Lines; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
            count += 1
    return count


def collect_findings(store: FindingStore, period: Period | None = None) -> list[dict[str, Any]]:
    """Every finding (of ``period``: New Zealand dates of the access), oldest access first."""
    if period is None:
        items = list(store.scan())
    else:
        first, last = period.days()
        items = [i for i in store.scan(first_day=first, last_day=last) if period.holds(str(i.get("nz_date") or ""))]
    items.sort(key=lambda i: (i.get("occurred_at_utc", ""), i.get("event_id", ""), i.get("rule", "")))
    return items


def collect_cases(store: CaseStore, period: Period | None = None) -> list[dict[str, Any]]:
    """Every case (opened in ``period``: New Zealand dates of ``opened_at``), oldest first."""
    if period is None:
        cases = list(store.scan_cases())
    else:
        opened_from, opened_before = period.instants()
        cases = [c for c in store.scan_cases(opened_from=opened_from, opened_before=opened_before)
                 if period.holds(_nz_day_of(str(c.get("opened_at") or "")))]
    return sorted(cases, key=lambda c: (c.get("opened_at", ""), c["case_id"]))


class ExportError(Exception):
    """An export that cannot be made as asked (bad period, unwritable file): one line for the user."""


@dataclass(frozen=True)
class Period:
    """New Zealand dates ``start`` to ``end``, inclusive; either may be open."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ExportError(f"--from {self.start} is after --to {self.end}")

    def days(self) -> tuple[str | None, str | None]:
        return (self.start.isoformat() if self.start else None, self.end.isoformat() if self.end else None)

    def holds(self, day: str) -> bool:
        first, last = self.days()
        return bool(day) and (first is None or day >= first) and (last is None or day <= last)

    def instants(self) -> tuple[str | None, str | None]:
        """[from, before) as UTC instants in the stored form (``2025-03-30T11:00:00.000Z``): NZ midnights."""
        from accesswatch.quarters import nz_midnight

        def text(day: date) -> str:
            return nz_midnight(day).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

        return (text(self.start) if self.start else None,
                text(self.end + timedelta(days=1)) if self.end else None)

    def describe(self) -> str:
        first, last = self.days()
        if first and last:
            return f"{first} to {last}"
        if first:
            return f"from {first}"
        return f"to {last}" if last else "all dates"


def _nz_day_of(instant: str) -> str:
    from accesswatch.quarters import nz_date, parse_instant

    try:
        return nz_date(parse_instant(instant)).isoformat()
    except ValueError:
        return ""


EXPORT_KINDS = ("findings", "cases")


def export_lines(findings: FindingStore, cases: CaseStore, kind: str, period: Period) -> list[dict[str, Any]]:
    """The export lines of ``kind`` (``findings``: ``export_finding``, by the NZ date of the access;
    ``cases``: ``export_case``, by the NZ date the case opened), oldest first."""
    if kind == "findings":
        return [export_finding(f) for f in collect_findings(findings, period)]
    if kind == "cases":
        return [export_case(c) for c in collect_cases(cases, period)]
    raise ExportError(f"unknown export {kind!r}; one of {', '.join(EXPORT_KINDS)}")


def writable_target(path: Path) -> Path:
    """``path`` if a file can be written there (checked before any table is read), else ExportError."""
    if path.is_dir():
        raise ExportError(f"--out {path} is a directory; give the name of a file in it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"--out {path}: directory {parent} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    except OSError as exc:
        raise ExportError(f"--out {path}: cannot write in {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def write_export(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` to ``path`` as JSON Lines, whole or not at all (a temporary file beside it, then renamed
    over it); returns how many lines."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    partial = Path(temporary)
    try:
        count = write_jsonl(partial, rows)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def _quarantine_records(data: bytes) -> list[dict[str, Any]]:
    """A quarantine object's records as ``{key, line, reason, field, fields}``: the field that failed and the
    names of the line's fields (null and [] in records written before they were kept); never a raw line."""
    records = []
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records.append({"key": record["key"], "line": record["line"], "reason": record["reason"],
                            "field": record.get("field"), "fields": list(record.get("fields") or [])})
    return records


def collect_quarantine(objects: ObjectStore, curated_bucket: str, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every quarantined line and rejected file as ``{key, line, reason, field, fields}`` (no raw content)."""
    records: list[dict[str, Any]] = []
    for key in sorted(objects.keys(curated_bucket, "quarantine/")):
        records += _quarantine_records(objects.get_bytes(curated_bucket, key))
    return _with_rejected(records, files)


def quarantine_of(objects: ObjectStore, curated_bucket: str, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The quarantined lines and rejected files among ``files`` (ledger items) as ``{key, line, reason, field,
    fields}``: one read of each file's quarantine object (``CuratedLayout.quarantine``), only for files that
    have one."""
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
            records.append({"key": item["key"], "line": None, "reason": item.get("reason", "rejected"),
                            "field": None, "fields": []})
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


def export_to_file(dep: Any, kind: str, period: Period, out: Path) -> int:
    """``accesswatch export``: everything of ``kind`` the deployment holds in ``period`` (one whole-table scan,
    filtered by the service) written to ``out``; returns how many lines. ``out`` is checked before the scan."""
    target = writable_target(out)
    return write_export(target, export_rows(dep, kind, period))


def export_rows(dep: Any, kind: str, period: Period) -> list[dict[str, Any]]:
    """The lines ``accesswatch export KIND`` writes (``export_lines`` over the deployment's tables)."""
    dynamodb = dep.resource("dynamodb")
    return export_lines(FindingStore(dep.resource_name("FindingsTable"), dynamodb),
                        CaseStore(dep.resource_name("CasesTable"), dynamodb), kind, period)
