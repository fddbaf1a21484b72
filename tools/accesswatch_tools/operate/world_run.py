"""``accesswatch run`` on the embedded runtime: upload as production receives files, wait, export."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.models import SourceObject
from accesswatch_tools.embedded.adapters import s3 as s3_adapters
from accesswatch_tools.embedded.template import resources_of_type
from accesswatch_tools.operate.deployment import Deployment, backoff, executions, wait_for_executions
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


def upload(aws: Deployment, path: Path, key: str) -> SourceObject:
    """Upload as production receives files; returns the put (``settle`` waits for its ingestion).

    The file object itself is the body: botocore streams it (no copy of the file in memory here). On the
    embedded runtime, in process, the put returns once the notification is delivered (by the runtime's
    worker, embedded/adapters/s3.py), unless within ``uploads_not_waiting`` as ``run_world`` uploads; over
    HTTP to the local endpoint, as on AWS, it returns once stored."""
    bucket = aws.resource_name("RawBucket")
    with path.open("rb") as body:
        response = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return SourceObject(bucket, key, str(response.get("ETag", "")).strip('"'), response.get("VersionId"))


def s3_triggered_functions(aws: Deployment) -> set[str]:
    return {
        name for name, res in resources_of_type(aws.template, "AWS::Serverless::Function").items()
        if any(e.get("Type") == "S3" for e in res["Properties"].get("Events", {}).values())
    }


def notified(aws: Deployment, key: str) -> bool:
    """Whether a put of ``key`` to the raw bucket triggers a function (its S3 events' key filters)."""
    for res in resources_of_type(aws.template, "AWS::Serverless::Function").values():
        for event in res["Properties"].get("Events", {}).values():
            props = event.get("Properties", {})
            if event.get("Type") != "S3" or props.get("Bucket") != {"Ref": "RawBucket"}:
                continue
            rules = {r["Name"].lower(): r["Value"] for r in props.get("Filter", {}).get("S3Key", {}).get("Rules", [])}
            if key.startswith(rules.get("prefix", "")) and key.endswith(rules.get("suffix", "")):
                return True
    return False


def _ledger_items(aws: Deployment, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The ledger's file items of ``ids`` (ingest ids), read consistently, 100 keys per request."""
    dynamodb = aws.resource("dynamodb")
    table = aws.resource_name("LedgerTable")
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 100):
        request: dict[str, Any] = {table: {"Keys": [{"pk": Ledger.file_pk(i)} for i in ids[start:start + 100]],
                                           "ConsistentRead": True, "ProjectionExpression": "pk, #s, execution_arn",
                                           "ExpressionAttributeNames": {"#s": "status"}}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(table, []):
                found[str(item["pk"]).removeprefix("FILE#")] = item
            request = response.get("UnprocessedKeys") or {}
    return found


def _recorded(item: dict[str, Any] | None) -> bool:
    """A put whose ingestion is recorded: any status but ingesting, and a detecting file's execution started
    (its ledger item says detecting before the execution starts, then names it)."""
    if item is None or item.get("status") == FileStatus.INGESTING.value:
        return False
    return item.get("status") != FileStatus.DETECTING.value or bool(item.get("execution_arn"))


def wait_for_ingestion(aws: Deployment, puts: Sequence[SourceObject], deadline: float, *,
                       failures_before: int = 0) -> None:
    """Wait until the ledger records the ingestion of every put that triggers a function (by its put id,
    else its content id: the reference function keys a file by the put, the ingest function by its
    content). A function that failed before writing the ledger leaves no item: the wait ends when the
    failures of the raw bucket's functions since ``failures_before`` account for every put not recorded.
    The same on AWS and on the embedded runtime; on AWS a failed delivery is retried, so it waits longer."""
    waiting = {p.put_id: p for p in puts if notified(aws, p.key)}
    s3_functions = s3_triggered_functions(aws)
    pause = backoff(0.05)
    while waiting:
        items = _ledger_items(aws, sorted(set(waiting) | {p.ingest_id for p in waiting.values()}))
        failed_items = 0
        for put_id, put in list(waiting.items()):
            item = items.get(put_id) or items.get(put.ingest_id)
            if _recorded(item):
                del waiting[put_id]
                failed_items += item is not None and item.get("status") == FileStatus.FAILED.value
        if not waiting:
            return
        failures = [f for f in aws.invocation_failures()[failures_before:] if f["function"] in s3_functions]
        if len(failures) - failed_items >= len(waiting):
            return  # every put not recorded is accounted for by a failed invocation (run_world reports it)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} uploaded file(s) not yet ingested")
        time.sleep(pause())


def _waiting_on_a_person(cases: CaseStore, case_ids: set[str]) -> set[str]:
    if len(case_ids) > 25:
        return case_ids & cases.ids_with_status(WAITING_ON_A_PERSON)
    return {c for c in case_ids if ((cases.get(c) or {}).get("status") in WAITING_ON_A_PERSON)}


def settle(aws: Deployment, cases: CaseStore, timeout_s: float, *, puts: Sequence[SourceObject] = (),
           failures_before: int = 0) -> dict[str, Counter[str]]:
    """Wait for the ingestion of ``puts``, for detection to finish and for every case to reach a person (or
    finish); returns the count of executions by status per state machine (one full listing each, at the end).

    Polls back off (0.05 s up to 1 s); they list only running executions, and a case execution whose case
    is known to wait on a person is not looked at again: only the others are described, one by one."""
    deadline = time.monotonic() + timeout_s
    wait_for_ingestion(aws, puts, deadline, failures_before=failures_before)
    wait_for_executions(aws, "DetectionStateMachine", timeout_s=max(0.0, deadline - time.monotonic()))
    sfn = aws.client("stepfunctions")
    known_waiting: set[str] = set()  # execution arns whose case waits on a person
    pause = backoff(0.05)
    while True:
        # A redriven case's execution is named <case_id>-redrive-<n>.
        unsettled = {e["executionArn"]: e["name"].split("-redrive-")[0]
                     for e in executions(aws, "CaseStateMachine", status="RUNNING")
                     if e["executionArn"] not in known_waiting}
        while unsettled:
            waiting = _waiting_on_a_person(cases, set(unsettled.values()))
            for arn, case_id in list(unsettled.items()):
                if case_id in waiting:
                    known_waiting.add(arn)
                    del unsettled[arn]
            if not unsettled:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"case executions still running after {timeout_s:.0f}s")
            time.sleep(pause())
            for arn in list(unsettled):
                if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
                    del unsettled[arn]
        counts = {name: executions(aws, name) for name in resources_of_type(aws.template,
                                                                            "AWS::Serverless::StateMachine")}
        # Exact at the end: a case execution started since the first listing is looked at too.
        if all(e["executionArn"] in known_waiting for e in counts.get("CaseStateMachine", [])
               if e["status"] == "RUNNING"):
            return {name: Counter(e["status"] for e in found) for name, found in counts.items()}


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
    puts: list[SourceObject] = []
    for label, files in (("uploading reference", [(p, f"reference/{p.name}") for p in refs]),
                         ("uploading logs", logs)):
        bar = Progress(label, len(files))
        for path, key in files:
            # The uploads do not wait for the ingestion they trigger (on the embedded runtime in process
            # too): settle waits for all of it.
            with s3_adapters.uploads_not_waiting():
                put = upload(aws, path, key)
            if isinstance(put, SourceObject):  # a wrapped upload (the bench's timing) may not return it
                puts.append(put)
            bar.advance()
        bar.close()
    bar = Progress("ingesting and detecting", 1)
    cases = CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb"))
    execution_counts = settle(aws, cases, timeout_s, puts=puts, failures_before=failures_before)
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
