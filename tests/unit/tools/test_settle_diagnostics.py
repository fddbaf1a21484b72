"""What ``settle`` says when a case execution does not settle in time (``world_run._where_stuck``): where each
stands, in ids, statuses and state names only."""

from __future__ import annotations

from typing import Any

from accesswatch_tools.operate.world_run import _where_stuck

ARN = "arn:aws:states:ap-southeast-2:123456789012:execution:CaseStateMachine:CASE-1"


class Sfn:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        if self.fail:
            raise ConnectionError("down")
        return {"status": "RUNNING"}

    def get_execution_history(self, **_: Any) -> dict[str, Any]:
        return {"events": [{"type": "TaskScheduled"},
                           {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Notify", "input": "{}"}}]}


class Cases:
    def get(self, case_id: str) -> dict[str, Any]:
        return {"case_id": case_id, "status": "triaged", "subject_name": "never shown"}


def test_a_stuck_execution_is_described_by_its_status_its_cases_and_its_last_states() -> None:
    said = _where_stuck(Sfn(), Cases(), ARN, "CASE-1")  # type: ignore[arg-type]
    assert said == "CASE-1 RUNNING, case CASE-1 triaged, last events: TaskScheduled, TaskStateEntered Notify"
    assert "never shown" not in said and "{}" not in said


def test_what_cannot_be_read_is_said_by_its_error_type() -> None:
    assert _where_stuck(Sfn(fail=True), Cases(), ARN, "CASE-1") == "CASE-1 (not described: ConnectionError)"  # type: ignore[arg-type]
