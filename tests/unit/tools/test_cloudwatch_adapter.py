"""The embedded runtime's CloudWatch adapter: every template alarm can be put into moto's CloudWatch as
PutMetricAlarm takes it, and evaluated states are written on moto's alarms with their time of change
(the end-to-end check, with real metrics, is in tests/e2e/test_ops_faults.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from accesswatch_tools.alarms.definitions import alarm_resources, load_alarms
from accesswatch_tools.alarms.evaluate import AlarmStatus, State
from accesswatch_tools.alarms.intrinsics import symbolic_resolver
from accesswatch_tools.embedded.adapters.cloudwatch import alarm_request, apply_states
from accesswatch_tools.embedded.template import load_template

TEMPLATE = load_template()
REGION = "ap-southeast-2"


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    with mock.patch.dict(os.environ, env), mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def _backend() -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends["123456789012"][REGION]


def test_every_template_alarm_is_put_as_its_definition_says(cloudwatch: Any) -> None:
    definitions = load_alarms(TEMPLATE, symbolic_resolver(TEMPLATE))
    resources = alarm_resources(TEMPLATE)
    assert len(definitions) == len(resources) > 30
    for definition in definitions:
        cloudwatch.put_metric_alarm(**alarm_request(definition, resources[definition.logical_id]))
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert set(alarms) == {d.name for d in definitions}
    for definition in definitions:
        alarm = alarms[definition.name]
        assert alarm["ComparisonOperator"] == definition.comparison
        assert alarm["EvaluationPeriods"] == definition.evaluation_periods
        assert alarm["AlarmActions"] == list(definition.actions)
        if "Metrics" in resources[definition.logical_id]["Properties"]:
            assert [q["Id"] for q in alarm["Metrics"]] == [q.id for q in definition.queries]
        else:
            key = definition.queries[0].metric.key  # type: ignore[union-attr]
            assert (alarm["Namespace"], alarm["MetricName"]) == (key.namespace, key.name)
            assert alarm["Dimensions"] == key.dimension_list()
            assert alarm["Period"] == definition.period


def _status(name: str, state: State, reason: str, last_change: float) -> AlarmStatus:
    return AlarmStatus(logical_id=name, name=name, state=state, reason=reason, last_change=last_change,
                       evaluated_at=last_change + 60)


def test_states_are_written_with_the_time_of_their_last_change(cloudwatch: Any) -> None:
    for name in ("a", "b"):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AccessWatch", MetricName="FilesRejected",
                                    Statistic="Sum", Period=300, EvaluationPeriods=1, Threshold=0,
                                    ComparisonOperator="GreaterThanThreshold")
    changed = apply_states(_backend(), [_status("a", State.ALARM, "1 of the last 1 datapoint(s) greater than 0",
                                                1_700_000_000.0),
                                        _status("b", State.OK, "fine", 1_700_000_060.0),
                                        _status("gone", State.ALARM, "deleted alarms are skipped", 0.0)])
    assert changed == 1  # b was already OK
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert alarms["a"]["StateValue"] == "ALARM"
    assert alarms["a"]["StateReason"] == "1 of the last 1 datapoint(s) greater than 0"
    assert alarms["a"]["StateUpdatedTimestamp"].timestamp() == 1_700_000_000.0
    assert alarms["b"]["StateValue"] == "OK" and alarms["b"]["StateReason"] == "fine"
    # the same state again is no new transition
    assert apply_states(_backend(), [_status("a", State.ALARM, "still", 1_700_000_000.0)]) == 0
    assert len(_backend().alarms["a"].history) == 1
