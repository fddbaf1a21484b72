"""Fault injection on the embedded runtime: the right alarm goes to ALARM, and only then.

The system runs a small world cleanly first (every alarm in its healthy state), then faults are
injected the way they happen in production: a truncated .gz access log, a partition whose
detection keeps failing, a message left in a dead-letter queue. After each, the template's alarms
are evaluated over the metrics the functions really published (accesswatch_tools.embedded.metrics).

One runtime for the module (the ``system`` fixture runs the clean world once), one test per scenario.
pytest sets sys.stdout afresh at every test phase; the runtime points it at its capture for each
invocation (EmbeddedAws._handler_stdout), so the metrics handlers print reach their logs in every test.

The scenarios share the runtime but not an order: each checks its own alarms before and after its
fault, and the clean run's states are read by the fixture before any fault is injected.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from accesswatch.dal.ledger import Ledger
from accesswatch_tools.alarms.evaluate import AlarmStatus, State
from accesswatch_tools.alarms.series import MetricKey
from accesswatch_tools.cli.commands.alarms import render
from accesswatch_tools.embedded.metrics import (
    evaluate_local_alarms,
    publish_invocation_metrics,
    publish_service_metrics,
)
from accesswatch_tools.embedded.runtime import EmbeddedAws, Invocation
from accesswatch_tools.operate.alarms import alarm_rows
from accesswatch_tools.operate.deployment import wait_for_executions
from accesswatch_tools.operate.world_run import run_world, upload

pytestmark = pytest.mark.e2e

# Healthy after a clean run: DynamoDB throttle alarms ignore missing data (INSUFFICIENT_DATA, as on
# AWS) and the findings band is still training; everything else is OK.
NOT_OK_WHEN_HEALTHY = {
    "FindingsTableReadThrottleAlarm", "FindingsTableWriteThrottleAlarm", "CasesTableReadThrottleAlarm",
    "CasesTableWriteThrottleAlarm", "LedgerTableReadThrottleAlarm", "LedgerTableWriteThrottleAlarm",
    "IdempotencyTableReadThrottleAlarm", "IdempotencyTableWriteThrottleAlarm", "AuditTableReadThrottleAlarm",
    "AuditTableWriteThrottleAlarm", "FindingsSpikeAlarm",
}


class InjectedFault(RuntimeError):
    pass


@dataclass
class System:
    aws: EmbeddedAws
    world: Path
    failing: set[str] = field(default_factory=set)  # logical ids of functions made to raise
    after_clean_run: dict[str, AlarmStatus] = field(default_factory=dict)
    rows_after_clean_run: list[dict[str, str]] = field(default_factory=list)  # as the CLI lists them

    def states(self) -> dict[str, State]:
        return {s.logical_id: s.state for s in self.statuses().values()}

    def statuses(self) -> dict[str, AlarmStatus]:
        return {s.logical_id: s for s in evaluate_local_alarms(self.aws)}

    def expect(self, expected: dict[str, State]) -> None:
        statuses = self.statuses()
        wrong = {name: (statuses[name].state.value, statuses[name].reason)
                 for name, state in expected.items() if statuses[name].state is not state}
        assert not wrong, wrong


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    from accesswatch_tools.world import generate

    tmp_path = tmp_path_factory.mktemp("ops-faults")
    world = tmp_path / "world"
    generate(world, staff=25, clients=500, days=2, seed=5)
    holder: dict[str, System] = {}

    def wrapper(logical_id: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def maybe_fail(event: Any, context: Any) -> Any:
            system = holder["system"]
            if logical_id in system.failing:
                raise InjectedFault(f"injected fault in {logical_id}")
            return handler(event, context)

        return maybe_fail

    def publish(invocation: Invocation) -> None:
        aws = holder["system"].aws
        publish_invocation_metrics(invocation, aws.client("cloudwatch"), aws.resource_name(invocation.function))

    with EmbeddedAws(handler_wrapper=wrapper, on_invocation=publish) as aws:
        system = holder["system"] = System(aws, world)
        outcome = run_world(aws, world / "reference", world / "logs", tmp_path / "out")
        assert outcome.ok, outcome.problems
        # every invocation's output was captured: its metrics are there to publish
        assert all('"_aws"' in i.logs for i in aws.invocations), "handler output was not captured"
        system.after_clean_run = system.statuses()
        system.rows_after_clean_run = alarm_rows(aws)
        yield system


def test_a_clean_run_leaves_every_alarm_healthy(system: System) -> None:
    statuses = system.after_clean_run
    unhealthy = {name: (s.state.value, s.reason) for name, s in statuses.items()
                 if s.state is not State.OK and name not in NOT_OK_WHEN_HEALTHY}
    assert not unhealthy, unhealthy
    not_ok = {name: statuses[name].state for name in NOT_OK_WHEN_HEALTHY}
    assert not_ok == dict.fromkeys(NOT_OK_WHEN_HEALTHY, State.INSUFFICIENT_DATA), not_ok
    # the CLI shows the same, worst first
    rows = system.rows_after_clean_run
    assert {r["logical_id"] for r in rows} == set(statuses)
    assert f"{len(rows)} alarms: 0 ALARM, {len(NOT_OK_WHEN_HEALTHY)} INSUFFICIENT_DATA" in render(rows)


def test_a_truncated_gz_raises_the_rejected_files_alarm(system: System, tmp_path: Path) -> None:
    system.expect({"AccessLogRejectedAlarm": State.OK})
    good = next(p for p in sorted((system.world / "logs").iterdir()) if p.name.endswith(".gz"))
    data = good.read_bytes()
    assert gzip.decompress(data)  # a real gzip file ...
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(data[: len(data) // 2])  # ... cut in half in transit
    upload(system.aws, truncated, "access-logs/cms/fault/truncated.csv.gz")

    ledger = Ledger(system.aws.resource_name("LedgerTable"), system.aws.resource("dynamodb"))
    assert any(f.get("key") == "access-logs/cms/fault/truncated.csv.gz" and f.get("status") == "rejected"
               for f in ledger.all_files()), "the truncated file should be rejected whole"
    # a rejection is the system working: no function error, nothing else fires
    system.expect({"AccessLogRejectedAlarm": State.ALARM, "IngestFunctionErrorsAlarm": State.OK,
                   "ReferenceRejectedAlarm": State.OK})
    assert "1 of the last 1 datapoint(s) greater than 0" in system.statuses()["AccessLogRejectedAlarm"].reason


def test_a_failing_partition_raises_detect_errors_and_failed_execution_alarms(system: System) -> None:
    system.expect({"DetectFunctionErrorsAlarm": State.OK, "DetectionStateMachineFailedAlarm": State.OK})
    source = next(p for p in sorted((system.world / "logs").iterdir()) if not p.name.endswith(".gz"))
    system.failing.add("DetectFunction")
    try:
        upload(system.aws, source, f"access-logs/cms/fault/replayed-{source.name}")
        executions = wait_for_executions(system.aws, "DetectionStateMachine", timeout_s=120)
    finally:
        system.failing.discard("DetectFunction")
    assert sum(e["status"] == "FAILED" for e in executions) == 1

    system.expect({"DetectFunctionErrorsAlarm": State.ALARM, "DetectionStateMachineFailedAlarm": State.ALARM,
                   "IngestFunctionErrorsAlarm": State.OK, "CaseStateMachineFailedAlarm": State.OK})

    # execution metrics are reconciled, never counted twice however often they are published
    publish_service_metrics(system.aws)
    publish_service_metrics(system.aws)
    key = MetricKey.of("AWS/States", "ExecutionsFailed",
                       {"StateMachineArn": system.aws.resource_name("DetectionStateMachine")})
    start = min(e["startDate"] for e in executions)
    stats = system.aws.client("cloudwatch").get_metric_statistics(
        Namespace=key.namespace, MetricName=key.name, Dimensions=key.dimension_list(),
        StartTime=start - timedelta(hours=1), EndTime=start + timedelta(hours=2), Period=3600, Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 1


def test_a_dead_letter_message_raises_the_depth_alarm(system: System) -> None:
    system.expect({"IngestDeadLetterQueueDepthAlarm": State.OK})
    sqs = system.aws.client("sqs")
    url = system.aws.resource_name("IngestDeadLetterQueue")
    sqs.send_message(QueueUrl=url, MessageBody='{"Records": [{"s3": {"object": {"key": "access-logs/cms/x.csv"}}}]}')
    system.expect({"IngestDeadLetterQueueDepthAlarm": State.ALARM, "CaseDeadLetterQueueDepthAlarm": State.OK})
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # drained: the maximum over the 5-minute period still says 1 until that period has passed
    later = {s.logical_id: s for s in evaluate_local_alarms(system.aws, time.time() + 360)}
    assert later["IngestDeadLetterQueueDepthAlarm"].state is State.OK, later["IngestDeadLetterQueueDepthAlarm"].reason


def test_invocations_are_published_once(system: System) -> None:
    invocation = system.aws.invocations[-1]
    assert publish_invocation_metrics(invocation, system.aws.client("cloudwatch"), "any") == 0


def test_described_alarms_are_the_evaluated_ones(system: System) -> None:
    """DescribeAlarms (what the CLI and the console read) answers the local evaluation at that moment: the
    runtime's CloudWatch adapter created the template's alarms and sets their states whenever described."""
    for _ in range(2):  # again if a minute boundary fell between the two reads
        minute = int(time.time() // 60)
        described = {r["logical_id"]: r for r in alarm_rows(system.aws)}
        evaluated = {s.logical_id: s.as_dict() for s in evaluate_local_alarms(system.aws)}
        if int(time.time() // 60) == minute:
            break
    assert set(described) == set(evaluated) and len(described) > 30
    assert {k: (r["state"], r["reason"]) for k, r in described.items()} == \
        {k: (r["state"], r["reason"]) for k, r in evaluated.items()}
    # a change within the current minute is dated "now" until the minute ends (accesswatch_tools.alarms.evaluate)
    settled = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute * 60 - 60))
    assert {k: r["last_change"] for k, r in described.items() if evaluated[k]["last_change"] < settled} == \
        {k: r["last_change"] for k, r in evaluated.items() if r["last_change"] < settled}
    alarms = system.aws.client("cloudwatch").describe_alarms(AlarmNames=[described["IngestFunctionErrorsAlarm"]["name"]])
    assert alarms["MetricAlarms"][0]["MetricName"] == "Errors"
    assert alarms["MetricAlarms"][0]["Dimensions"] == [
        {"Name": "FunctionName", "Value": system.aws.resource_name("IngestFunction")}]
