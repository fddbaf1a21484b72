"""Where the CLI's commands act: the local endpoint (default), an in-process runtime, or AWS.

All three give boto3 clients and the physical names of the template's resources; everything
the CLI does goes through this, so the same command code serves local and deployed systems.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol


class OperationError(Exception):
    """An operation on a deployment that cannot go on, said in one line for a person (the CLI prints it as
    its own error): a deployed function that raised, nothing to act on, a resource the deployment lacks."""


class Deployment(Protocol):
    template: dict[str, Any]

    def client(self, service: str) -> Any: ...

    def resource(self, service: str) -> Any: ...

    def resource_name(self, logical_id: str) -> str: ...

    def invocation_failures(self) -> list[dict[str, str]]: ...


class AwsStack:
    """A stack deployed with ``sam deploy``: physical names from CloudFormation."""

    # ListExecutions is eventually consistent on AWS: an execution that has just ended may still be listed as
    # RUNNING (the embedded runtime's listing is exact). Readers that need a current status describe those.
    listing_lags = True

    def __init__(self, stack_name: str, region: str | None = None) -> None:
        import boto3

        from accesswatch_tools.embedded.template import TEMPLATE_PATH, load_template

        self.stack_name = stack_name
        self.session = boto3.session.Session(region_name=region)
        self.template = load_template(TEMPLATE_PATH)
        cfn = self.session.client("cloudformation")
        self.physical = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for summary in page["StackResourceSummaries"]:
                self.physical[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def resource(self, service: str) -> Any:
        return self.session.resource(service)

    def resource_name(self, logical_id: str) -> str:
        return self.physical[logical_id]

    def invocation_failures(self) -> list[dict[str, str]]:
        return []  # on AWS, failed invocations show in CloudWatch metrics and alarms


def invoke_function(dep: Deployment, logical_id: str, payload: dict[str, Any], what: str) -> dict[str, Any]:
    """Run a deployed function as its schedule does and return its result; OperationError if it raised."""
    import json

    response = dep.client("lambda").invoke(FunctionName=dep.resource_name(logical_id),
                                           Payload=json.dumps(payload).encode())
    body = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise OperationError(f"the {what} function failed: {body.get('errorType', 'error')}: "
                             f"{str(body.get('errorMessage', ''))[:300]}")
    return dict(body)


def executions(deployment: Deployment, logical_id: str, *, status: str | None = None) -> list[dict[str, Any]]:
    """Every execution of the state machine, or only those with ``status`` (Step Functions' statusFilter:
    fewer listed, and listing costs per execution listed)."""
    sfn = deployment.client("stepfunctions")
    arn = deployment.resource_name(logical_id)
    result: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"stateMachineArn": arn}
    if status is not None:
        kwargs["statusFilter"] = status
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        result.extend(page["executions"])
    return result


POLL_MAX_S = 1.0  # the longest pause between two polls of a wait


def backoff(poll_s: float, limit_s: float = POLL_MAX_S) -> Callable[[], float]:
    """Pauses for a wait: ``poll_s`` at first, then half as long again each time up to ``limit_s``
    (a short wait is noticed at once; a long one polls about once a second)."""
    pause = [poll_s]

    def next_pause() -> float:
        current = pause[0]
        pause[0] = min(limit_s, current * 1.5)
        return current
    return next_pause


def wait_for_executions(deployment: Deployment, logical_id: str, *, timeout_s: float = 600.0,
                        settled: Callable[[dict[str, Any]], bool] | None = None,
                        poll_s: float = 0.05) -> list[dict[str, Any]]:
    """Poll until no execution of the state machine is running (or ``settled`` says it may stay); returns
    every execution, listed once at the end. Polls list only running executions, ever less often."""
    deadline = time.monotonic() + timeout_s
    pause = backoff(poll_s)
    while True:
        pending = [e for e in executions(deployment, logical_id, status="RUNNING")
                   if not (settled and settled(e))]
        if not pending:
            found = executions(deployment, logical_id)
            # An execution started between the two listings is still running: wait for it too.
            if not [e for e in found if e["status"] == "RUNNING" and not (settled and settled(e))]:
                return found
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} {logical_id} executions still running after {timeout_s:.0f}s")
        time.sleep(pause())
