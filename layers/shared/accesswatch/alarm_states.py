"""Alarm states as CloudWatch reports them (DescribeAlarms): the rows of ``accesswatch alarms`` and of the
console's operations page, worst first. The same calls on AWS and on the embedded runtime, whose adapter
keeps the template's alarms and their states in its CloudWatch (accesswatch_tools.embedded.adapters.cloudwatch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STATE_ORDER = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}  # anything else (NOT_DEPLOYED) before ALARM
_NAMES_PER_CALL = 100  # DescribeAlarms takes up to 100 AlarmNames


def described_alarms(cloudwatch: Any, *, names: Sequence[str] | None = None,
                     prefix: str | None = None) -> dict[str, dict[str, Any]]:
    """The metric alarms named (``names``) or whose names start with ``prefix`` (every alarm when neither),
    by name, as DescribeAlarms returns them."""
    paginator = cloudwatch.get_paginator("describe_alarms")
    if names is not None:
        wanted = [n for n in names if n]
        calls: list[dict[str, Any]] = [{"AlarmNames": wanted[i : i + _NAMES_PER_CALL]}
                                       for i in range(0, len(wanted), _NAMES_PER_CALL)]
    else:
        calls = [{"AlarmNamePrefix": prefix} if prefix else {}]
    found: dict[str, dict[str, Any]] = {}
    for call in calls:
        for page in paginator.paginate(AlarmTypes=["MetricAlarm"], **call):
            for alarm in page.get("MetricAlarms", []):
                found[alarm["AlarmName"]] = alarm
    return found


def alarm_row(alarm: Mapping[str, Any]) -> dict[str, str]:
    """One alarm as a row: name, state, reason and the time of its last change (UTC, ISO 8601 with Z)."""
    return {"name": str(alarm["AlarmName"]), "state": str(alarm["StateValue"]),
            "reason": str(alarm.get("StateReason", "")),
            "last_change": alarm["StateUpdatedTimestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")}


def worst_first(rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """ALARM first, then INSUFFICIENT_DATA, then OK; stable, so the order within a state is kept."""
    return sorted(rows, key=lambda r: STATE_ORDER.get(r["state"], -1))
