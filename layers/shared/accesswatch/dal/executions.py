"""Step Functions executions: started idempotently (the execution name is the idempotency key), listed
and described."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
from botocore.exceptions import ClientError

_NAME = re.compile(r"[^A-Za-z0-9_-]")
FAILED_STATES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


class Executions:
    def __init__(self, client: Any | None = None) -> None:
        self.sfn = client or boto3.client("stepfunctions")

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """Start once: a second start with the same name returns the first execution's ARN."""
        safe = _NAME.sub("-", name)[:80]
        try:
            return str(self.sfn.start_execution(stateMachineArn=state_machine_arn, name=safe,
                                                input=json.dumps(payload, default=str))["executionArn"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
        return execution_arn(state_machine_arn, safe)

    def send_success(self, token: str, output: dict[str, Any]) -> None:
        self.sfn.send_task_success(taskToken=token, output=json.dumps(output))

    def all(self, state_machine_arn: str) -> list[dict[str, Any]]:
        """Every execution of the state machine (name, executionArn, status, startDate, ...)."""
        found: list[dict[str, Any]] = []
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
            found.extend(page["executions"])
        return found

    def input_of(self, arn: str) -> dict[str, Any]:
        return dict(json.loads(self.sfn.describe_execution(executionArn=arn).get("input") or "{}"))

    def status(self, arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, ...; ``missing`` when no such execution exists."""
        try:
            return str(self.sfn.describe_execution(executionArn=arn)["status"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return "missing"
            raise
