"""A deployment's stored state, read through the DAL, and the system's invariants checked over it.

``observe`` reads everything the system stored (ledger, partitions, manifests, quarantine, reference index,
findings and their export, cases and their histories, executions) into ``accesswatch_tools.verify.Observed``;
``verify`` checks it with ``accesswatch_tools.verify.check``. The checks themselves are pure and live in
``accesswatch_tools.verify``; this module is named for what it reads so that the two are not confused.
It works on the local endpoint, an in-process runtime (tests) and a deployed stack alike.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch_tools.operate.deployment import Deployment, executions
from accesswatch_tools.operate.export import collect_findings, export_finding
from accesswatch_tools.verify import (
    FAILED_EXECUTION_STATES,
    PARTITION_COLUMNS,
    Observed,
    Partition,
    Report,
    check,
)


def _partition(store: ObjectStore, bucket: str, key: str) -> Partition:
    frame = pl.read_parquet(io.BytesIO(store.get_bytes(bucket, key)), columns=list(PARTITION_COLUMNS))
    return Partition(key, frame)


def _quarantine_records(store: ObjectStore, bucket: str, key: str) -> tuple[str, int]:
    ingest_id = key.rsplit("/", 1)[-1].removesuffix(".jsonl")
    lines = store.get_bytes(bucket, key).decode("utf-8").splitlines()
    return ingest_id, sum(1 for line in lines if line.strip())


def _histories(cases: CaseStore) -> dict[str, list[dict[str, Any]]]:
    """Every case's history in one scan (a query per case is far slower, on moto above all)."""
    from boto3.dynamodb.conditions import Attr

    found: dict[str, list[dict[str, Any]]] = {}
    kwargs: dict[str, Any] = {"FilterExpression": Attr("sk").begins_with("HIST#")}
    while True:
        page = cases.table.scan(**kwargs)
        for item in page.get("Items", []):
            found.setdefault(str(item["case_id"]), []).append(dict(item))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    for entries in found.values():
        entries.sort(key=lambda h: str(h["sk"]))
    return found


def _detection_executions(aws: Deployment) -> list[dict[str, Any]]:
    """Detection executions; the unsuccessful ones with the ingest id their input names."""
    sfn = aws.client("stepfunctions")
    found = []
    for ex in executions(aws, "DetectionStateMachine"):
        row = {"name": ex["name"], "executionArn": ex["executionArn"], "status": ex["status"]}
        if ex["status"] in FAILED_EXECUTION_STATES:
            described = sfn.describe_execution(executionArn=ex["executionArn"])
            row["ingest_id"] = json.loads(described.get("input") or "{}").get("ingest_id")
        found.append(row)
    return found


def observe(aws: Deployment, export_path: Path | None = None, workers: int = 8) -> Observed:
    """Read the system's state through the DAL (the findings export from ``export_path`` if given,
    else built exactly as ``accesswatch run`` writes it)."""
    dynamodb = aws.resource("dynamodb")
    store = ObjectStore(aws.client("s3"))
    curated = aws.resource_name("CuratedBucket")
    ledger = Ledger(aws.resource_name("LedgerTable"), dynamodb)
    cases_store = CaseStore(aws.resource_name("CasesTable"), dynamodb)
    files = ledger.all_files()
    findings = collect_findings(FindingStore(aws.resource_name("FindingsTable"), dynamodb))
    keys = list(store.keys(curated, ""))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        partitions = list(pool.map(lambda k: _partition(store, curated, k),
                                   [k for k in keys if k.startswith("events/")]))
        quarantine = dict(pool.map(lambda k: _quarantine_records(store, curated, k),
                                   [k for k in keys if k.startswith("quarantine/")]))
    cases = list(cases_store.scan_cases())
    histories = _histories(cases_store)
    present = set(keys)
    manifests = {
        str(f["ingest_id"]): [p["key"] for p in store.get_json(curated, f["manifest_key"])]
        for f in files if f.get("manifest_key") and f["manifest_key"] in present and f.get("kind") != "replay"
    }
    if export_path is not None:
        export_lines = [line for line in export_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        export_lines = [json.dumps(export_finding(f), ensure_ascii=False) for f in findings]
    return Observed(
        files=files,
        snapshot_id=ledger.current_snapshot_id(),
        partitions=partitions,
        manifests=manifests,
        quarantine_records=quarantine,
        index_ids={k.rsplit("/", 1)[-1].removesuffix(".bin") for k in keys if k.startswith("reference/index/")},
        findings=findings,
        export_lines=export_lines,
        cases=cases,
        histories=histories,
        detection_executions=_detection_executions(aws),
        case_executions=[{"name": e["name"], "executionArn": e["executionArn"], "status": e["status"],
                          "startDate": e.get("startDate")} for e in executions(aws, "CaseStateMachine")],
        reference=ledger.reference_pointer(),
    )


def verify(aws: Deployment, export_path: Path | None = None) -> Report:
    return check(observe(aws, export_path))
