"""The state of every alarm in the template on a deployment, as CloudWatch reports it (``describe_alarms``).

On a deployed stack the alarms are the stack's own. On the embedded runtime (the local endpoint or an
in-process runtime) moto's CloudFormation skips them: the runtime creates them in its CloudWatch and keeps
their states current from the metrics the functions really published there, evaluated whenever they are
described (``accesswatch_tools.embedded.adapters.cloudwatch``, docs/operations.md). The rows are built the
same way on both (``accesswatch.alarm_states``, which the console's operations page uses too).
"""

from __future__ import annotations

from typing import Any

from accesswatch.alarm_states import alarm_row, described_alarms, worst_first
from accesswatch_tools.alarms.definitions import alarm_resources
from accesswatch_tools.operate.deployment import AwsStack


def alarm_names(target: Any) -> dict[str, str]:
    """Logical id -> alarm name of every alarm in the template, in template order."""
    if isinstance(target, AwsStack):
        return {logical_id: target.physical.get(logical_id, "") for logical_id in alarm_resources(target.template)}
    from accesswatch_tools.embedded.metrics import local_alarm_definitions

    return {d.logical_id: d.name for d in local_alarm_definitions(target)}


def alarm_rows(target: Any) -> list[dict[str, str]]:
    """The template's alarms as CloudWatch reports them, worst first (template order within a state)."""
    names = alarm_names(target)
    found = described_alarms(target.client("cloudwatch"), names=list(names.values()))
    rows = []
    for logical_id, name in names.items():
        alarm = found.get(name)
        if alarm is None:
            rows.append({"name": name or logical_id, "logical_id": logical_id, "state": "NOT_DEPLOYED",
                         "reason": "the stack has no such alarm (deploy the current template)", "last_change": ""})
            continue
        row = alarm_row(alarm)
        rows.append({"name": row["name"], "logical_id": logical_id, "state": row["state"],
                     "reason": row["reason"], "last_change": row["last_change"]})
    return worst_first(rows)
