"""CloudWatch metrics on the embedded runtime, and the template's alarms evaluated over them.

On AWS, CloudWatch Logs extracts the functions' EMF lines into metrics, and Lambda, Step
Functions and SQS publish their own (``AWS/Lambda`` Errors, ``AWS/States`` ExecutionsFailed,
``AWS/SQS`` queue depth ...); CloudWatch then evaluates the alarms. moto does none of that: it only
stores what ``put_metric_data`` gives it. This module fills the gap with the same metric names and
dimensions, so the template's alarm definitions apply unchanged:

* :func:`publish_invocation_metrics` — one invocation's EMF lines (``AccessWatch``) and its
  ``AWS/Lambda`` Invocations/Errors/Duration, put as CloudWatch would store them (one-minute
  resolution: timestamps floored to the minute). The runtime calls it for every invocation;
  each invocation is published once whoever calls it.
* :func:`publish_service_metrics` — ``AWS/States`` execution counts computed from the Step
  Functions API (idempotent: only what CloudWatch does not hold yet is put) and ``AWS/SQS`` queue
  depth sampled now.
* :func:`evaluate_local_alarms` — the template's alarms (moto skips them) resolved against the
  deployed stack and evaluated with :mod:`accesswatch_tools.alarms.evaluate` over the metric data read back
  from CloudWatch, replayed from the stack's creation. Throttles and DynamoDB throttle events never
  occur locally, so those metrics stay absent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accesswatch_tools.alarms.definitions import AlarmDefinition, load_alarms
from accesswatch_tools.alarms.emf import EmfError, MetricSample, emf_records, parse_emf_record
from accesswatch_tools.alarms.evaluate import AlarmStatus, simulate_all
from accesswatch_tools.alarms.intrinsics import deployment_resolver
from accesswatch_tools.alarms.series import MINUTE, Aggregate, MetricKey, Series, floor_minute

LOG = logging.getLogger(__name__)

_PUT_BATCH = 500  # put_metric_data takes up to 1000 metrics per call
_MAX_VALUES = 150  # and up to 150 distinct values per metric
_STATS_WINDOW_MINUTES = 1440  # get_metric_statistics returns at most 1440 datapoints

_PUBLISHED_MEMORY = 100_000  # request ids remembered to publish each invocation once
_published: set[str] = set()
_published_order: deque[str] = deque()
_published_lock = threading.Lock()

STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _group(samples: Iterable[MetricSample]) -> dict[str, list[dict[str, Any]]]:
    """Samples as put_metric_data MetricData per namespace: one datum per (metric, minute, unit)."""
    grouped: dict[tuple[MetricKey, float, str], dict[float, int]] = defaultdict(lambda: defaultdict(int))
    for s in samples:
        grouped[(s.key, floor_minute(s.timestamp), s.unit)][s.value] += 1
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (key, minute, unit), counts in grouped.items():
        items = sorted(counts.items())
        for i in range(0, len(items), _MAX_VALUES):
            chunk = items[i : i + _MAX_VALUES]
            datum: dict[str, Any] = {
                "MetricName": key.name,
                "Dimensions": key.dimension_list(),
                "Timestamp": _ts(minute),
                "Values": [v for v, _ in chunk],
                "Counts": [float(c) for _, c in chunk],
            }
            if unit and unit != "None":
                datum["Unit"] = unit
            out[key.namespace].append(datum)
    return out


def _moto_backend(cloudwatch: Any) -> Any | None:
    """moto's CloudWatch backend when this client is answered by moto in this process, else None."""
    try:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core.models import botocore_stubber
    except ImportError:  # moto is a local-runtime dependency: without it nothing is served in process
        return None
    region = cloudwatch.meta.region_name
    if not botocore_stubber.enabled or cloudwatch.meta.endpoint_url != f"https://monitoring.{region}.amazonaws.com":
        return None
    return cloudwatch_backends[os.environ.get("MOTO_ACCOUNT_ID", "123456789012")][region]


def _put(cloudwatch: Any, grouped: dict[str, list[dict[str, Any]]]) -> int:
    """put_metric_data. In the embedded runtime's own process the call goes straight to moto's
    backend operation (the one its API handler calls): the HTTP-shaped round trip costs ~2 ms a call,
    a fifth of a demo's time when every invocation publishes."""
    backend = _moto_backend(cloudwatch)
    count = 0
    for namespace, data in grouped.items():
        for i in range(0, len(data), _PUT_BATCH):
            batch = data[i : i + _PUT_BATCH]
            if backend is not None:
                # moto keeps timestamps as naive UTC, as its request parser produces them
                backend.put_metric_data(namespace, [{**d, "Timestamp": d["Timestamp"].replace(tzinfo=None)}
                                                    for d in batch])
            else:
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)
            count += len(batch)
    return count


def invocation_samples(invocation: Any, function_name: str, now: float | None = None) -> list[MetricSample]:
    """What CloudWatch would hold for one invocation: its EMF samples and its AWS/Lambda metrics."""
    now = time.time() if now is None else now
    samples: list[MetricSample] = []
    for record in emf_records(invocation.logs or ""):
        try:
            samples.extend(parse_emf_record(record))
        except EmfError as exc:
            # As CloudWatch Logs does with an invalid EMF line: kept as a log, not a metric. Said
            # here so that a broken metric line cannot go unnoticed in development.
            LOG.warning("invalid EMF line from %s ignored: %s", invocation.function, exc)
    lambda_dims = {"FunctionName": function_name}
    samples += [
        MetricSample(MetricKey.of("AWS/Lambda", "Invocations", lambda_dims), now, 1.0, "Count"),
        MetricSample(MetricKey.of("AWS/Lambda", "Errors", lambda_dims), now, 1.0 if invocation.errored else 0.0,
                     "Count"),
        MetricSample(MetricKey.of("AWS/Lambda", "Duration", lambda_dims), now,
                     round(float(invocation.duration_s) * 1000.0, 3), "Milliseconds"),
    ]
    return samples


def publish_invocation_metrics(invocation: Any, cloudwatch: Any, function_name: str) -> int:
    """Put one invocation's metrics (EMF and AWS/Lambda); once per invocation. Returns data put."""
    with _published_lock:
        if invocation.request_id in _published:
            return 0
        _published.add(invocation.request_id)
        _published_order.append(invocation.request_id)
        if len(_published_order) > _PUBLISHED_MEMORY:
            _published.discard(_published_order.popleft())
    return _put(cloudwatch, _group(invocation_samples(invocation, function_name)))


def _existing_sums(cloudwatch: Any, key: MetricKey, start: float, end: float) -> dict[float, float]:
    data = read_metric_data(cloudwatch, [key], start, end).get(key)
    if data is None:
        return {}
    return {m: data.statistic("Sum", m, m + MINUTE) or 0.0 for m in data.minutes}


def _execution_counts(sfn: Any, arn: str) -> dict[str, dict[float, int]]:
    counts: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            counts["ExecutionsStarted"][floor_minute(execution["startDate"].timestamp())] += 1
            metric = EXECUTION_METRICS.get(execution["status"])
            if metric and execution.get("stopDate") is not None:
                counts[metric][floor_minute(execution["stopDate"].timestamp())] += 1
    return counts


def publish_service_metrics(deployment: Any, now: float | None = None) -> int:
    """Put the AWS/States and AWS/SQS metrics moto does not publish, computed from their APIs.

    Execution counts are reconciled with what CloudWatch already holds (so calling this again, from
    any process, never counts an execution twice); queue depth is a sample taken now.
    """
    from accesswatch_tools.embedded.template import resources_of_type

    now = time.time() if now is None else now
    cloudwatch = deployment.client("cloudwatch")
    put: dict[str, list[dict[str, Any]]] = defaultdict(list)
    sfn = deployment.client("stepfunctions")
    for kind in STATE_MACHINE_TYPES:
        for logical_id in resources_of_type(deployment.template, kind):
            arn = deployment.resource_name(logical_id)
            for metric, by_minute in _execution_counts(sfn, arn).items():
                key = MetricKey.of("AWS/States", metric, {"StateMachineArn": arn})
                existing = _existing_sums(cloudwatch, key, min(by_minute), max(by_minute) + MINUTE)
                for minute, n in sorted(by_minute.items()):
                    missing = n - existing.get(minute, 0.0)
                    if missing > 0:
                        put["AWS/States"].append({"MetricName": metric, "Dimensions": key.dimension_list(),
                                                  "Timestamp": _ts(minute), "Value": missing, "Unit": "Count"})
    sqs = deployment.client("sqs")
    for logical_id in resources_of_type(deployment.template, "AWS::SQS::Queue"):
        url = deployment.resource_name(logical_id)
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        dims = [{"Name": "QueueName", "Value": url.rstrip("/").rsplit("/", 1)[-1]}]
        for metric, attribute in (("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessages"),
                                  ("ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesNotVisible")):
            put["AWS/SQS"].append({"MetricName": metric, "Dimensions": dims, "Timestamp": _ts(floor_minute(now)),
                                   "Value": float(attributes.get(attribute, 0)), "Unit": "Count"})
    return _put(cloudwatch, put)


def read_metric_data(cloudwatch: Any, keys: Iterable[MetricKey], start: float, end: float) -> dict[MetricKey, Series]:
    """Per-minute aggregates of each metric over ``[start, end)``, as CloudWatch returns them."""
    start, end = floor_minute(start), floor_minute(end) + MINUTE
    out: dict[MetricKey, Series] = {}
    for key in sorted(set(keys)):
        aggregates: list[Aggregate] = []
        lo = start
        while lo < end:
            hi = min(end, lo + _STATS_WINDOW_MINUTES * MINUTE)
            response = cloudwatch.get_metric_statistics(
                Namespace=key.namespace, MetricName=key.name, Dimensions=key.dimension_list(),
                StartTime=_ts(lo), EndTime=_ts(hi), Period=MINUTE,
                Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
            )
            for point in response["Datapoints"]:
                aggregates.append(Aggregate(point["Timestamp"].timestamp(), float(point["Sum"]),
                                            float(point["SampleCount"]), float(point["Minimum"]),
                                            float(point["Maximum"])))
            lo = hi
        if aggregates:
            out[key] = Series(aggregates)
    return out


@dataclass(frozen=True)
class StackInfo:
    name: str
    created: float
    parameters: dict[str, str]
    physical: dict[str, str]
    region: str
    account_id: str


def stack_info(deployment: Any) -> StackInfo:
    """The embedded runtime's stack, through the CloudFormation API (works through the local endpoint)."""
    from accesswatch_tools.embedded.template import STACK_NAME

    cloudformation = deployment.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    physical: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK_NAME):
        for summary in page["StackResourceSummaries"]:
            physical[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
    account = deployment.client("sts").get_caller_identity()["Account"]
    return StackInfo(STACK_NAME, stack["CreationTime"].timestamp(),
                     {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])},
                     physical, cloudformation.meta.region_name, account)


def local_alarm_definitions(deployment: Any, info: StackInfo | None = None) -> list[AlarmDefinition]:
    """The template's alarms, resolved against the embedded runtime's stack."""
    info = info or stack_info(deployment)
    resolver = deployment_resolver(deployment.template, physical=info.physical, parameters=info.parameters,
                                   stack_name=info.name, region=info.region, account_id=info.account_id)
    return load_alarms(deployment.template, resolver)


def evaluate_local_alarms(deployment: Any, now: float | None = None, *, publish: bool = True) -> list[AlarmStatus]:
    """Every template alarm's state on the embedded runtime, from the metrics published there."""
    now = time.time() if now is None else now
    if publish:
        publish_service_metrics(deployment, now)
    info = stack_info(deployment)
    alarms = local_alarm_definitions(deployment, info)
    keys = {key for alarm in alarms for key in alarm.metric_keys}
    data = read_metric_data(deployment.client("cloudwatch"), keys, info.created - MINUTE, now + MINUTE)
    return simulate_all(alarms, data, info.created, now)
