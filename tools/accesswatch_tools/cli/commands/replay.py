"""``replay --from DATE --to DATE``: re-evaluate stored partitions with the current rules and reference."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import date
from typing import Any

from accesswatch.dal.executions import Executions
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.services.replay import compare, plan_replay, start_replay
from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.operate.deployment import Deployment, wait_for_executions


def replay(aws: Deployment, start: date, end: date, *, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Start a replay of [start, end], wait for it, and say what changed."""
    if end < start:
        raise CliError("--to is before --from")
    curated = aws.resource_name("CuratedBucket")
    store = ObjectStore(aws.client("s3"))
    dynamodb = aws.resource("dynamodb")
    ledger = Ledger(aws.resource_name("LedgerTable"), dynamodb)
    findings = FindingStore(aws.resource_name("FindingsTable"), dynamodb)
    snapshot_id = ledger.current_snapshot_id()
    if snapshot_id is None:
        raise CliError("no reference index has been published yet: nothing to judge against")
    plan = plan_replay(list(store.keys(curated, "events/")), curated, start, end)
    if not plan.partitions:
        raise CliError(f"no stored partitions between {start} and {end}")
    before = list(findings.scan())
    arn = start_replay(plan, snapshot_id, curated_bucket=curated,
                       state_machine_arn=aws.resource_name("DetectionStateMachine"), store=store, ledger=ledger,
                       executions=Executions(aws.client("stepfunctions")), attempt=uuid.uuid4().hex[:8])
    done = wait_for_executions(aws, "DetectionStateMachine", timeout_s=timeout_s)
    status = next((e["status"] for e in done if e["executionArn"] == arn), "UNKNOWN")
    return {"partitions": len(plan.partitions), "execution": status,
            **compare(before, list(findings.scan()), snapshot_id, start, end)}


def cmd_replay(args: argparse.Namespace) -> int:
    report = replay(deployment(args), date.fromisoformat(args.date_from), date.fromisoformat(args.date_to),
                    timeout_s=args.timeout)
    if not args.show_ids:
        report.pop("no_longer_raised_ids")
    print(json.dumps(report, indent=2))
    return 0 if report["execution"] == "SUCCEEDED" else 2


def register(sub: Any) -> None:
    replay = sub.add_parser("replay", help="re-evaluate stored partitions against the current rules and reference data")
    replay.add_argument("--from", dest="date_from", required=True, help="first New Zealand date (YYYY-MM-DD)")
    replay.add_argument("--to", dest="date_to", required=True, help="last New Zealand date (YYYY-MM-DD)")
    replay.add_argument("--timeout", type=float, default=3600.0)
    replay.add_argument("--show-ids", action="store_true", help="list the finding ids no longer raised")
    add_target_options(replay)
    replay.set_defaults(func=cmd_replay)
