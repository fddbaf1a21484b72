"""Starting state machine executions idempotently (the execution name is the idempotency key)."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
from botocore.exceptions import ClientError

_NAME = re.compile(r"[^A-Za-z0-9_-]")


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
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{safe}"
        return arn

    def send_success(self, token: str, output: dict[str, Any]) -> None:
        self.sfn.send_task_success(taskToken=token, output=json.dumps(output))
