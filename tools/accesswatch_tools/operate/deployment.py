"""Where the CLI's commands act: the local endpoint (default), an in-process runtime, or AWS.

All three give boto3 clients and the physical names of the template's resources; everything
the CLI does goes through this, so the same command code serves local and deployed systems.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from accesswatch_tools.embedded.template import TEMPLATE_PATH, load_template


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

    def __init__(self, stack_name: str, region: str | None = None) -> None:
        import boto3

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


def executions(deployment: Deployment, logical_id: str) -> list[dict[str, Any]]:
    sfn = deployment.client("stepfunctions")
    arn = deployment.resource_name(logical_id)
    result: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        result.extend(page["executions"])
    return result


def wait_for_executions(deployment: Deployment, logical_id: str, *, timeout_s: float = 600.0,
                        settled: Callable[[dict[str, Any]], bool] | None = None,
                        poll_s: float = 0.05) -> list[dict[str, Any]]:
    """Poll until no execution of the state machine is running (or ``settled`` says it may stay)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = executions(deployment, logical_id)
        pending = [e for e in found if e["status"] == "RUNNING" and not (settled and settled(e))]
        if not pending:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} {logical_id} executions still running after {timeout_s:.0f}s")
        time.sleep(poll_s)
