"""Adapter of moto's CloudWatch: the template's alarms exist there, and DescribeAlarms answers their current state.

moto's CloudFormation skips ``AWS::CloudWatch::Alarm`` and moto evaluates no alarm. So once the stack is
created, :func:`template_alarms` puts every alarm of the template (``put_metric_alarm``, its names and
dimensions resolved against the stack, as CloudFormation would), and every DescribeAlarms or
DescribeAlarmsForMetric request moto answers, in process or over the local endpoint's HTTP, first sets each
alarm's state, reason and time of change from the local evaluation of the metrics the functions published
(:func:`accesswatch_tools.embedded.metrics.evaluate_local_alarms`). The CLI and the console then read alarms
with the same AWS API calls locally and on AWS. docs/local-runtime.md lists every adapter and why it exists.

Evaluating on each describe (not on a timer) keeps the answer exact at the moment it is asked, and costs
nothing while nobody asks. The state is written on moto's alarm object rather than with SetAlarmState,
which would stamp every describe as a change: ``StateUpdatedTimestamp`` is the evaluated time of the last
transition, as CloudWatch reports it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from accesswatch_tools.alarms.definitions import AlarmDefinition, alarm_resources
from accesswatch_tools.alarms.evaluate import AlarmStatus

LOG = logging.getLogger(__name__)


def alarm_request(definition: AlarmDefinition, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The PutMetricAlarm parameters of one template alarm, from its resolved definition."""
    request: dict[str, Any] = {
        "AlarmName": definition.name,
        "AlarmDescription": definition.description,
        "ActionsEnabled": True,
        "AlarmActions": list(definition.actions),
        "OKActions": list(definition.ok_actions),
        "InsufficientDataActions": list(definition.insufficient_data_actions),
        "EvaluationPeriods": definition.evaluation_periods,
        "DatapointsToAlarm": definition.datapoints_to_alarm,
        "ComparisonOperator": definition.comparison,
        "TreatMissingData": definition.treat_missing_data,
    }
    if definition.threshold is not None:
        request["Threshold"] = definition.threshold
    if definition.threshold_metric_id is not None:
        request["ThresholdMetricId"] = definition.threshold_metric_id
    if "Metrics" not in resource.get("Properties", {}):
        metric = definition.queries[0].metric
        assert metric is not None  # noqa: S101 - a simple alarm's one query is its metric
        request.update(Namespace=metric.key.namespace, MetricName=metric.key.name,
                       Dimensions=metric.key.dimension_list(), Statistic=metric.stat, Period=metric.period)
        return request
    queries: list[dict[str, Any]] = []
    for query in definition.queries:
        item: dict[str, Any] = {"Id": query.id, "ReturnData": query.return_data}
        if query.label:
            item["Label"] = query.label
        if query.metric is not None:
            item["MetricStat"] = {"Metric": {"Namespace": query.metric.key.namespace,
                                             "MetricName": query.metric.key.name,
                                             "Dimensions": query.metric.key.dimension_list()},
                                  "Period": query.metric.period, "Stat": query.metric.stat}
        else:
            item["Expression"] = query.expression_text
        queries.append(item)
    request["Metrics"] = queries
    return request


def put_template_alarms(deployment: Any) -> list[AlarmDefinition]:
    """Create every alarm of the template in the deployment's CloudWatch; returns their definitions."""
    from accesswatch_tools.embedded.metrics import local_alarm_definitions

    definitions = local_alarm_definitions(deployment)
    resources = alarm_resources(deployment.template)
    cloudwatch = deployment.client("cloudwatch")
    for definition in definitions:
        cloudwatch.put_metric_alarm(**alarm_request(definition, resources[definition.logical_id]))
    return definitions


def _naive_utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None)  # moto keeps naive UTC datetimes


def apply_states(backend: Any, statuses: list[AlarmStatus]) -> int:
    """Write evaluated states on moto's alarms (a transition recorded in its history); returns how many changed."""
    changed = 0
    for status in statuses:
        alarm = backend.alarms.get(status.name)
        if alarm is None:  # deleted by someone: CloudWatch would not evaluate it either
            continue
        since = _naive_utc(status.last_change)
        if alarm.state_value != status.state.value:
            alarm.update_state(status.reason, "{}", status.state.value)
            changed += 1
        alarm.state_reason = status.reason
        alarm.state_updated_timestamp = since
    return changed


@contextlib.contextmanager
def template_alarms(deployment: Any) -> Iterator[list[AlarmDefinition]]:
    """The template's alarms created in moto's CloudWatch and evaluated whenever they are described."""
    from moto.cloudwatch.responses import CloudWatchResponse

    from accesswatch_tools.embedded.metrics import evaluate_local_alarms

    definitions = put_template_alarms(deployment)
    names = {d.name for d in definitions}
    lock = threading.Lock()  # one evaluation at a time: a describe waits for the one under way, then its own

    def refreshed(original: Any) -> Any:
        def answer(response: CloudWatchResponse) -> Any:
            backend = response.cloudwatch_backend
            if names & set(backend.alarms):
                started = time.monotonic()
                with lock:
                    changed = apply_states(backend, evaluate_local_alarms(deployment))
                LOG.debug("alarms evaluated for a describe in %.3fs, %d changed", time.monotonic() - started, changed)
            return original(response)

        return answer

    with (mock.patch.object(CloudWatchResponse, "describe_alarms",
                            refreshed(CloudWatchResponse.describe_alarms)),
          mock.patch.object(CloudWatchResponse, "describe_alarms_for_metric",
                            refreshed(CloudWatchResponse.describe_alarms_for_metric))):
        yield definitions
