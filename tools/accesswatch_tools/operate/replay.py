"""Re-evaluating stored partitions on a deployment with the current rules and reference data, and saying
which findings changed (accesswatch.services.replay)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.services.replay import compare, plan_replay, start_replay
from accesswatch_tools.operate.deployment import Deployment, OperationError, wait_for_executions


def replay(aws: Deployment, start: date, end: date, *, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Start a replay of [start, end], wait for it, and say what changed."""
    if end < start:
        raise OperationError("--to is before --from")
    curated = aws.resource_name("CuratedBucket")
    store = ObjectStore(aws.client("s3"))
    dynamodb = aws.resource("dynamodb")
    ledger = Ledger(aws.resource_name("LedgerTable"), dynamodb)
    findings = FindingStore(aws.resource_name("FindingsTable"), dynamodb)
    snapshot_id = ledger.current_snapshot_id()
    if snapshot_id is None:
        raise OperationError("no reference index has been published yet: nothing to judge against")
    plan = plan_replay(list(store.keys(curated, "events/")), curated, start, end)
    if not plan.partitions:
        raise OperationError(f"no stored partitions between {start} and {end}")
    before = list(findings.scan())
    arn = start_replay(plan, snapshot_id, curated_bucket=curated,
                       state_machine_arn=aws.resource_name("DetectionStateMachine"), store=store, ledger=ledger,
                       executions=Executions(aws.client("stepfunctions")), attempt=uuid.uuid4().hex[:8])
    done = wait_for_executions(aws, "DetectionStateMachine", timeout_s=timeout_s)
    status = next((e["status"] for e in done if e["executionArn"] == arn), "UNKNOWN")
    return {"partitions": len(plan.partitions), "execution": status,
            **compare(before, list(findings.scan()), snapshot_id, start, end)}
