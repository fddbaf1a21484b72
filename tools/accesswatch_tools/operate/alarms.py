"""The state of every alarm in the template on a deployment (accesswatch_tools.alarms evaluates alarm
definitions; this reads or evaluates them for one deployment).

On a deployed stack the states are CloudWatch's own (``describe_alarms``). On the embedded runtime (the
local endpoint or an in-process runtime) moto stores metric data but neither creates nor evaluates alarms,
so the template's alarm definitions are evaluated over the metrics the functions really published there
(see ``accesswatch_tools.embedded.metrics`` and docs/operations.md).
"""

from __future__ import annotations

from typing import Any

from accesswatch_tools.alarms.definitions import alarm_resources
from accesswatch_tools.operate.deployment import AwsStack

_ORDER = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}


def aws_alarm_rows(stack: AwsStack) -> list[dict[str, str]]:
    """The template's alarms as CloudWatch reports them on a deployed stack."""
    names = {}
    for logical_id in alarm_resources(stack.template):
        names[logical_id] = stack.physical.get(logical_id, "")
    cloudwatch = stack.client("cloudwatch")
    found: dict[str, dict[str, Any]] = {}
    wanted = [n for n in names.values() if n]
    for i in range(0, len(wanted), 100):
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=wanted[i : i + 100]):
            for alarm in page.get("MetricAlarms", []):
                found[alarm["AlarmName"]] = alarm
    rows = []
    for logical_id, name in names.items():
        alarm = found.get(name)
        if alarm is None:
            rows.append({"name": name or logical_id, "logical_id": logical_id, "state": "NOT_DEPLOYED",
                         "reason": "the stack has no such alarm (deploy the current template)", "last_change": ""})
            continue
        rows.append({"name": name, "logical_id": logical_id, "state": alarm["StateValue"],
                     "reason": alarm.get("StateReason", ""),
                     "last_change": alarm["StateUpdatedTimestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")})
    return rows


def local_alarm_rows(target: Any) -> list[dict[str, str]]:
    """The template's alarms evaluated over the embedded runtime's published metrics."""
    from accesswatch_tools.embedded.metrics import evaluate_local_alarms

    return [status.as_dict() for status in evaluate_local_alarms(target)]


def alarm_rows(target: Any) -> list[dict[str, str]]:
    rows = aws_alarm_rows(target) if isinstance(target, AwsStack) else local_alarm_rows(target)
    return sorted(rows, key=lambda r: _ORDER.get(r["state"], -1))  # stable: template order within a state
