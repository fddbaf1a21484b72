"""Redrive: finish what failed, without duplicates, and say what was done (``accesswatch redrive``).

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
starts fresh executions instead, and how it maps to the AWS operations. All AWS access is the DAL's.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from accesswatch.cases.workflow import WAITING_ON_A_PERSON
from accesswatch.dal.cases import CaseStore
from accesswatch.dal.executions import FAILED_STATES, Executions, execution_arn
from accesswatch.dal.functions import Functions
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.queues import DeadLetters

# A case that failed before a person acted on it can be run again from the start.
RESTARTABLE_CASE_STATES = frozenset({"opened", "triaged", "notified"})
_SUFFIX = re.compile(r"-redrive-\d+$")


class RedriveTimeout(RuntimeError):
    pass


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
        return [a for a in self.actions if a.status in FAILED_STATES | {"failed", "missing"}]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "actions": [asdict(a) for a in self.actions], "left": self.left}


def redrive_name(name: str, attempt: int) -> str:
    return f"{_SUFFIX.sub('', name)[:60]}-redrive-{attempt}"


@dataclass
class Redrive:
    """The stores and names of one deployment (the CLI builds it for the local endpoint or a stack)."""

    ledger: Ledger
    cases: CaseStore
    executions: Executions
    functions: Functions
    dead_letters: DeadLetters
    detection_state_machine_arn: str
    case_state_machine_arn: str
    ingest_function: str
    reference_function: str

    def run(self, *, wait: bool = True, dry_run: bool = False, timeout_s: float = 1800.0) -> RedriveReport:
        report = RedriveReport()
        ingest_actions, left = self.ingests(dry_run=dry_run)
        report.actions += ingest_actions
        report.actions += self.detections(dry_run=dry_run)
        case_actions, case_left = self.case_workflows(dry_run=dry_run)
        report.actions += case_actions
        report.left = left + case_left
        if wait and not dry_run and report.actions:
            self.wait(report.actions, timeout_s)
        return report

    def detections(self, *, dry_run: bool) -> list[Action]:
        machine = self.detection_state_machine_arn
        found = self.executions.all(machine)
        by_arn = {e["executionArn"]: e for e in found}
        failed: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        for ex in found:
            if ex["status"] in FAILED_STATES:
                payload = self.executions.input_of(ex["executionArn"])
                failed.setdefault(str(payload.get("ingest_id")), []).append((ex, payload))
        actions = []
        for ingest_id, runs in sorted(failed.items()):
            item = self.ledger.get_file(ingest_id)
            current = by_arn.get(str((item or {}).get("execution_arn")))
            if (item or {}).get("status") == FileStatus.DETECTED.value:
                continue  # a later execution finished it
            if current is not None and current["status"] in ("RUNNING", "SUCCEEDED"):
                continue  # already redriven
            latest, payload = max(runs, key=lambda r: r[0]["startDate"])
            attempt = int((item or {}).get("redrives", 0) or 0) + 1
            name = redrive_name(latest["name"], attempt)
            arn = execution_arn(machine, name)
            action = Action("detection", ingest_id, latest["executionArn"], arn)
            actions.append(action)
            if dry_run:
                action.status = "would start"
                continue
            if item is not None:
                # Marked before the start: the execution's last step records the outcome, and must win.
                self.ledger.update_file(ingest_id, FileStatus.DETECTING, execution_arn=arn, redrives=attempt,
                                        redriven_from=latest["executionArn"], reason="")
            self.executions.start(machine, name, payload)
        return actions

    def ingests(self, *, dry_run: bool) -> tuple[list[Action], list[str]]:
        """Files whose ingest (or reference) function failed: deliver their notification again."""
        functions = {"access-log": self.ingest_function, "reference": self.reference_function}
        actions, left = [], []
        for item in sorted(self.ledger.files_with_status(FileStatus.FAILED), key=lambda i: str(i.get("key"))):
            if item.get("execution_arn"):
                continue  # detection failures are redriven by ``detections``
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
            error = self.functions.invoke(functions[str(item["kind"])], notification)
            if error:
                action.status = "failed"
                action.detail += f": {error}"
        return actions, left

    def case_workflows(self, *, dry_run: bool) -> tuple[list[Action], list[str]]:
        machine = self.case_state_machine_arn
        runs: dict[str, list[dict[str, Any]]] = {}
        for ex in self.executions.all(machine):
            runs.setdefault(_SUFFIX.sub("", ex["name"]), []).append(ex)
        actions, left = [], []
        for case_id, found in sorted(runs.items()):
            latest = max(found, key=lambda e: e["startDate"])
            if latest["status"] not in FAILED_STATES:
                continue
            case = self.cases.get(case_id)
            if case is None:
                left.append(f"case execution {latest['name']} {latest['status']} but case {case_id} does not exist")
                continue
            if case.get("status") not in RESTARTABLE_CASE_STATES:
                left.append(f"case {case_id} workflow {latest['status']} at status {case.get('status')}: "
                            "a person has acted on it, so it is not restarted; see the case dead-letter queue")
                continue
            name = redrive_name(case_id, len(found))
            action = Action("case", case_id, latest["executionArn"], execution_arn(machine, name))
            actions.append(action)
            if dry_run:
                action.status = "would start"
                continue
            arn = self.executions.start(machine, name, {"case_id": case_id})
            self.cases.update(case_id, execution_arn=arn)
            self.cases.append_history(case_id, state="redriven", actor="accesswatch redrive",
                                      note=f"workflow restarted after {latest['status']}")
        if actions and not dry_run:
            self.dead_letters.remove_cases({a.subject for a in actions})
        return actions, left

    def wait(self, actions: list[Action], timeout_s: float) -> None:
        """Until every execution started here has finished, or (a case) waits on a person."""
        deadline = time.monotonic() + timeout_s
        pending = [a for a in actions if a.execution_arn]
        while pending:
            for action in list(pending):
                action.status = self.executions.status(str(action.execution_arn))
                if action.status != "RUNNING" or (action.kind == "case" and str(
                        (self.cases.get(action.subject) or {}).get("status")) in WAITING_ON_A_PERSON):
                    pending.remove(action)
            if pending and time.monotonic() > deadline:
                raise RedriveTimeout(f"{len(pending)} redriven execution(s) still running after {timeout_s:.0f}s")
            if pending:
                time.sleep(0.2)
