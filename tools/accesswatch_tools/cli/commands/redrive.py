"""``accesswatch redrive``: finish what failed, without duplicates, and say what was done.

- **Detection**: a detection execution that failed (a partition kept failing after its retries, so
  the ledger says ``failed``) is started again with the same input under a new name
  (``<name>-redrive-<n>``), after the ledger is marked ``detecting`` with the new execution's ARN.
  Every partition is judged again; findings are conditional puts keyed by (system, event, rule) and
  cases are joined, never reopened, so nothing is doubled.
- **Ingest**: a file whose ingest function failed (ledger ``failed``, no detection execution) is
  delivered to its function again as the S3 notification it came with (bucket, key, ETag, version).
  Powertools idempotency released the key when the first attempt raised.
- **Cases**: a case whose workflow failed (the case dead-letter queue holds it) before anyone acted
  on it (status opened, triaged or notified) is started again from triage under a new name; its
  dead-letter message is deleted. A case that failed later is listed for an operator, not rerun.

AWS has its own redrive (``aws stepfunctions redrive-execution``); docs/reliability.md says why this
command starts fresh executions instead, and how it maps to the AWS operations.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from accesswatch.cases.workflow import WAITING_ON_A_PERSON
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.executions import Executions
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch_tools.cli.context import CliError, add_target_options, deployment
from accesswatch_tools.cli.deployment import Deployment, executions
from accesswatch_tools.verify import FAILED_EXECUTION_STATES

# A case that failed before a person acted on it can be run again from the start.
RESTARTABLE_CASE_STATES = frozenset({"opened", "triaged", "notified"})
_SUFFIX = re.compile(r"-redrive-\d+$")


@dataclass
class Action:
    kind: str  # detection | ingest | case
    subject: str  # ingest id or case id
    previous: str | None = None  # the failed execution
    execution_arn: str | None = None
    status: str = "started"  # started | invoked | failed | SUCCEEDED | ... (after waiting)
    detail: str = ""


@dataclass
class RedriveReport:
    actions: list[Action] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # what needs an operator

    @property
    def ok(self) -> bool:
        return not self.left and not self.failed_again

    @property
    def failed_again(self) -> list[Action]:
        return [a for a in self.actions if a.status in FAILED_EXECUTION_STATES | {"failed", "missing"}]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "actions": [asdict(a) for a in self.actions], "left": self.left}


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _redrive_name(name: str, attempt: int) -> str:
    return f"{_SUFFIX.sub('', name)[:60]}-redrive-{attempt}"


def redrive_detections(aws: Deployment, ledger: Ledger, *, dry_run: bool) -> list[Action]:
    sfn = aws.client("stepfunctions")
    machine = aws.resource_name("DetectionStateMachine")
    found = executions(aws, "DetectionStateMachine")
    by_arn = {e["executionArn"]: e for e in found}
    failed: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for ex in found:
        if ex["status"] in FAILED_EXECUTION_STATES:
            payload = json.loads(sfn.describe_execution(executionArn=ex["executionArn"]).get("input") or "{}")
            failed.setdefault(str(payload.get("ingest_id")), []).append((ex, payload))
    actions = []
    for ingest_id, runs in sorted(failed.items()):
        item = ledger.get_file(ingest_id)
        current = by_arn.get(str((item or {}).get("execution_arn")))
        if (item or {}).get("status") == FileStatus.DETECTED.value:
            continue  # a later execution finished it
        if current is not None and current["status"] in ("RUNNING", "SUCCEEDED"):
            continue  # already redriven
        latest, payload = max(runs, key=lambda r: r[0]["startDate"])
        attempt = int((item or {}).get("redrives", 0) or 0) + 1
        name = _redrive_name(latest["name"], attempt)
        arn = _execution_arn(machine, name)
        action = Action("detection", ingest_id, latest["executionArn"], arn)
        actions.append(action)
        if dry_run:
            action.status = "would start"
            continue
        if item is not None:
            # Marked before the start: the execution's last step records the outcome, and must win.
            ledger.update_file(ingest_id, FileStatus.DETECTING, execution_arn=arn, redrives=attempt,
                               redriven_from=latest["executionArn"], reason="")
        Executions(sfn).start(machine, name, payload)
    return actions


def redrive_ingests(aws: Deployment, ledger: Ledger, *, dry_run: bool) -> tuple[list[Action], list[str]]:
    """Files whose ingest (or reference) function failed: deliver their notification again."""
    functions = {"access-log": "IngestFunction", "reference": "ReferenceFunction"}
    actions, left = [], []
    for item in sorted(ledger.files_with_status(FileStatus.FAILED), key=lambda i: str(i.get("key"))):
        if item.get("execution_arn"):
            continue  # detection failures are redriven below
        if item.get("kind") not in functions or not item.get("key") or not item.get("bucket"):
            # The function failed before it recorded the file: its event waits in the ingest
            # dead-letter queue (on AWS), not in the ledger.
            left.append(f"file {item.get('ingest_id') or item.get('pk')} failed before its ledger item was "
                        "written; redeliver its event from the ingest dead-letter queue")
            continue
        action = Action("ingest", str(item["ingest_id"]), detail=str(item.get("key")), status="invoked")
        actions.append(action)
        if dry_run:
            action.status = "would invoke"
            continue
        obj: dict[str, Any] = {"key": item["key"], "eTag": item.get("etag") or None}
        if item.get("version_id"):
            obj["versionId"] = item["version_id"]
        notification = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                     "s3": {"bucket": {"name": item["bucket"]}, "object": obj}}]}
        response = aws.client("lambda").invoke(FunctionName=aws.resource_name(functions[str(item["kind"])]),
                                               Payload=json.dumps(notification).encode("utf-8"))
        if "FunctionError" in response:
            action.status = "failed"
            action.detail += f": {json.loads(response['Payload'].read() or b'{}').get('errorType', 'error')}"
    return actions, left


def redrive_cases(aws: Deployment, cases: CaseStore, *, dry_run: bool) -> tuple[list[Action], list[str]]:
    machine = aws.resource_name("CaseStateMachine")
    runs: dict[str, list[dict[str, Any]]] = {}
    for ex in executions(aws, "CaseStateMachine"):
        runs.setdefault(_SUFFIX.sub("", ex["name"]), []).append(ex)
    actions, left = [], []
    for case_id, found in sorted(runs.items()):
        latest = max(found, key=lambda e: e["startDate"])
        if latest["status"] not in FAILED_EXECUTION_STATES:
            continue
        case = cases.get(case_id)
        if case is None:
            left.append(f"case execution {latest['name']} {latest['status']} but case {case_id} does not exist")
            continue
        if case.get("status") not in RESTARTABLE_CASE_STATES:
            left.append(f"case {case_id} workflow {latest['status']} at status {case.get('status')}: "
                        "a person has acted on it, so it is not restarted; see the case dead-letter queue")
            continue
        name = _redrive_name(case_id, len(found))
        action = Action("case", case_id, latest["executionArn"], _execution_arn(machine, name))
        actions.append(action)
        if dry_run:
            action.status = "would start"
            continue
        arn = Executions(aws.client("stepfunctions")).start(machine, name, {"case_id": case_id})
        cases.update(case_id, execution_arn=arn)
        cases.append_history(case_id, state="redriven", actor="accesswatch redrive",
                             note=f"workflow restarted after {latest['status']}")
    if actions and not dry_run:
        _drain_case_dead_letters(aws, {a.subject for a in actions})
    return actions, left


def _drain_case_dead_letters(aws: Deployment, case_ids: set[str]) -> None:
    """Delete the dead-letter messages of the cases just restarted (others stay for an operator)."""
    sqs = aws.client("sqs")
    url = aws.resource_name("CaseDeadLetterQueue")
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                       WaitTimeSeconds=0).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                case_id = json.loads(message["Body"]).get("case_id")
            except ValueError:
                case_id = None
            if case_id in case_ids:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)


def redrive(aws: Deployment, *, wait: bool = True, dry_run: bool = False, timeout_s: float = 1800.0) -> RedriveReport:
    dynamodb = aws.resource("dynamodb")
    ledger = Ledger(aws.resource_name("LedgerTable"), dynamodb)
    cases = CaseStore(aws.resource_name("CasesTable"), dynamodb)
    report = RedriveReport()
    ingest_actions, left = redrive_ingests(aws, ledger, dry_run=dry_run)
    report.actions += ingest_actions
    report.actions += redrive_detections(aws, ledger, dry_run=dry_run)
    case_actions, case_left = redrive_cases(aws, cases, dry_run=dry_run)
    report.actions += case_actions
    report.left = left + case_left
    if wait and not dry_run and report.actions:
        _wait(aws, cases, report.actions, timeout_s)
    return report


def _wait(aws: Deployment, cases: CaseStore, actions: list[Action], timeout_s: float) -> None:
    """Until every execution started here has finished, or (a case) waits on a person."""
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    pending = [a for a in actions if a.execution_arn]
    while pending:
        for action in list(pending):
            try:
                status = sfn.describe_execution(executionArn=action.execution_arn)["status"]
            except sfn.exceptions.ExecutionDoesNotExist:
                status = "missing"
            action.status = status
            if status != "RUNNING" or (action.kind == "case" and str((cases.get(action.subject) or {}).get(
                    "status")) in WAITING_ON_A_PERSON):
                pending.remove(action)
        if pending and time.monotonic() > deadline:
            raise CliError(f"{len(pending)} redriven execution(s) still running after {timeout_s:.0f}s")
        if pending:
            time.sleep(0.2)


def cmd_redrive(args: argparse.Namespace) -> int:
    report = redrive(deployment(args), wait=not args.no_wait, dry_run=args.dry_run, timeout_s=args.timeout)
    print(json.dumps(report.as_dict(), indent=2))
    if not report.actions and not report.left:
        print("accesswatch redrive: nothing failed, nothing to do")
    if not report.ok and not args.dry_run:
        raise CliError(f"{len(report.left)} item(s) need an operator; "
                       f"{len(report.failed_again)} "
                       "redriven item(s) failed again")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("redrive", help="finish failed ingests, detections and case workflows without duplicates")
    parser.add_argument("--dry-run", action="store_true", help="say what would be redriven, change nothing")
    parser.add_argument("--no-wait", action="store_true", help="start the work and return without waiting")
    parser.add_argument("--timeout", type=float, default=1800.0)
    add_target_options(parser)
    parser.set_defaults(func=cmd_redrive)
