"""``accesswatch run`` on the embedded runtime: upload as production receives files, wait, export."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch_tools.embedded.template import resources_of_type
from accesswatch_tools.operate.deployment import Deployment, executions, wait_for_executions
from accesswatch_tools.operate.export import (
    collect_cases,
    collect_findings,
    collect_quarantine,
    export_case,
    export_finding,
    ledger_files,
    summarise,
    write_jsonl,
)
from accesswatch_tools.operate.progress import Progress

# Reference kinds go up in this order so that the index is compiled once, when staff arrives last.
_REFERENCE_ORDER = ("watchlist", "assignments", "declarations", "relationships", "clients", "staff")
WAITING_ON_A_PERSON = frozenset({"investigating", "awaiting_outcome"})
UNFINISHED_FILE_STATES = frozenset({FileStatus.INGESTING.value, FileStatus.DETECTING.value,
                                    FileStatus.AWAITING_REFERENCE.value, FileStatus.FAILED.value})


@dataclass
class RunOutcome:
    summary: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def reference_files(reference_dir: Path) -> list[Path]:
    files = [p for p in reference_dir.iterdir() if p.is_file() and not p.name.startswith(".")]

    def order(p: Path) -> tuple[int, str]:
        kind = p.name.split(".", 1)[0].lower()
        return (_REFERENCE_ORDER.index(kind) if kind in _REFERENCE_ORDER else -1, p.name)

    return sorted(files, key=order)


def log_files(logs_dir: Path, system: str) -> list[tuple[Path, str]]:
    """(file, raw-bucket key): files at the top level go under ``system``, sub-folders name their own."""
    out = []
    for path in sorted(p for p in logs_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(logs_dir)
        key = f"access-logs/{system}/{rel.as_posix()}" if len(rel.parts) == 1 else f"access-logs/{rel.as_posix()}"
        out.append((path, key))
    return out


def upload(aws: Deployment, path: Path, key: str) -> None:
    """Upload as production receives files (the embedded runtime delivers the notification synchronously)."""
    with path.open("rb") as body:
        aws.client("s3").put_object(Bucket=aws.resource_name("RawBucket"), Key=key, Body=body)


def s3_triggered_functions(aws: Deployment) -> set[str]:
    return {
        name for name, res in resources_of_type(aws.template, "AWS::Serverless::Function").items()
        if any(e.get("Type") == "S3" for e in res["Properties"].get("Events", {}).values())
    }


def settle(aws: Deployment, cases: CaseStore, timeout_s: float) -> dict[str, Counter[str]]:
    """Wait for detection to finish and for every case to reach a person (or finish)."""
    wait_for_executions(aws, "DetectionStateMachine", timeout_s=timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        # A redriven case's execution is named <case_id>-redrive-<n>.
        running = {e["name"].split("-redrive-")[0] for e in executions(aws, "CaseStateMachine")
                   if e["status"] == "RUNNING"}
        if not running or running <= cases.ids_with_status(WAITING_ON_A_PERSON):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"case executions still running after {timeout_s:.0f}s")
        time.sleep(0.2)
    return {
        name: Counter(e["status"] for e in executions(aws, name))
        for name in resources_of_type(aws.template, "AWS::Serverless::StateMachine")
    }


def export_all(aws: Deployment, out_dir: Path, executions: dict[str, Counter[str]],
               extra: dict[str, Any]) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    dynamodb = aws.resource("dynamodb")
    ledger = Ledger(aws.resource_name("LedgerTable"), dynamodb)
    findings = collect_findings(FindingStore(aws.resource_name("FindingsTable"), dynamodb))
    cases = collect_cases(CaseStore(aws.resource_name("CasesTable"), dynamodb))
    files = ledger_files(ledger)
    quarantine = collect_quarantine(ObjectStore(aws.client("s3")), aws.resource_name("CuratedBucket"), files)
    write_jsonl(out_dir / "findings.jsonl", [export_finding(f) for f in findings])
    write_jsonl(out_dir / "cases.jsonl", [export_case(c) for c in cases])
    write_jsonl(out_dir / "quarantine.jsonl", quarantine)
    pointer = ledger.reference_pointer() or {}
    summary = summarise(files, findings, cases, executions,
                        {"snapshot_id": pointer.get("snapshot_id"), **extra})
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def run_world(aws: Deployment, reference_dir: Path, logs_dir: Path, out_dir: Path, *, system: str = "cms",
              timeout_s: float = 1800.0) -> RunOutcome:
    """Upload a world's reference snapshots then its logs, wait for the system, export its results."""
    started = time.monotonic()
    refs = reference_files(reference_dir)
    logs = log_files(logs_dir, system)
    failures_before = len(aws.invocation_failures())
    bar = Progress("uploading reference", len(refs))
    for path in refs:
        upload(aws, path, f"reference/{path.name}")
        bar.advance()
    bar.close()
    bar = Progress("ingesting logs", len(logs))
    for path, key in logs:
        upload(aws, path, key)
        bar.advance()
    bar.close()
    bar = Progress("detecting", 1)
    cases = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    execution_counts = settle(aws, cases, timeout_s)
    bar.advance()
    bar.close()
    failed = aws.invocation_failures()[failures_before:]
    summary = export_all(aws, out_dir, execution_counts, {
        "elapsed_s": round(time.monotonic() - started, 2),
        "invocation_errors": dict(Counter(f"{f['function']}:{f['error_type']}" for f in failed)),
    })
    problems = []
    s3_functions = s3_triggered_functions(aws)
    for failure in failed:
        if failure["function"] in s3_functions:
            problems.append(f"{failure['function']} failed ({failure['error_type']}) on an uploaded object")
    for row in summary["files"]:
        if row["status"] in UNFINISHED_FILE_STATES:
            problems.append(f"{row['key']}: {row['status']}" + (f" ({row['reason']})" if row.get("reason") else ""))
    for name, counts in execution_counts.items():
        for status in ("FAILED", "TIMED_OUT", "ABORTED"):
            if counts.get(status):
                errors = ", ".join(f"{k} x{n}" for k, n in sorted(summary["invocation_errors"].items()))
                problems.append(f"{counts[status]} {name} execution(s) {status}"
                                + (f" (invocation errors: {errors})" if errors else ""))
    return RunOutcome(summary, problems)
