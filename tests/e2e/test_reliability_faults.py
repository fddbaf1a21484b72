"""Fault injection around the pipeline's services: DynamoDB throttling, SNS failing in the case
workflow, and the same S3 notification delivered twice at once. After each, nothing is lost,
nothing is doubled, and `accesswatch verify` passes."""

from __future__ import annotations

import inspect
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodb.responses import DynamoHandler
from moto.sns.exceptions import SNSException
from moto.sns.models import SNSBackend
from support.reliability import (
    assert_sound,
    explain,
    logs_subset,
    sns_case_notifications,
    tiny_world,
    upload_logs,
)

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.embedded.template import load_template
from accesswatch_tools.operate.deployment import executions
from accesswatch_tools.operate.redrive import redrive
from accesswatch_tools.operate.stored_state import verify
from accesswatch_tools.operate.world_run import reference_files, run_world, settle, upload

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("tiny"))


# ------------------------------------------------------------------------------ DynamoDB throttling
class Throttled(DynamodbException):
    error_type = ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException"

    def __init__(self) -> None:
        super().__init__(self.error_type, "The level of configured provisioned throughput was exceeded (injected)")


@dataclass
class Throttler:
    """Rejects every ``every``-th write request to the named tables with ProvisionedThroughputExceeded,
    as the DynamoDB API does when a table's capacity is exceeded (before anything is written), up to
    ``limit`` times per table (boto3's backoff sleeps are real: a few dozen keep the test quick)."""

    tables: set[str]
    every: int = 3
    limit: int = 8
    injected: Counter[str] = field(default_factory=Counter)
    _calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def flaky(handler: Any) -> Any:
            # a single-item write names its table; a batch (the findings' writes) its tables' requests
            table = handler.body.get("TableName") or next(iter(handler.body.get("RequestItems") or {}), None)
            if table in self.tables:
                with self._lock:
                    self._calls[table] += 1
                    if self._calls[table] % self.every == 1 and self.injected[table] < self.limit:
                        self.injected[table] += 1
                        raise Throttled()
            return real(handler)
        return flaky


def test_dynamodb_throttling_is_retried_with_backoff_and_nothing_is_lost(world: Path, tmp_path: Path):
    with EmbeddedAws() as aws:
        tables = {aws.resource_name(t) for t in ("FindingsTable", "CasesTable", "LedgerTable", "IdempotencyTable")}
        throttler = Throttler(tables, every=2)  # every other write: the findings table takes few (batches)
        with mock.patch.object(DynamoHandler, "put_item", throttler.wrap(DynamoHandler.put_item)), \
                mock.patch.object(DynamoHandler, "update_item", throttler.wrap(DynamoHandler.update_item)), \
                mock.patch.object(DynamoHandler, "batch_write_item", throttler.wrap(DynamoHandler.batch_write_item)):
            outcome = run_world(aws, world / "reference", logs_subset(world, tmp_path / "logs", 2), tmp_path / "out")
        assert outcome.ok, "\n".join(outcome.problems + explain(aws))
        # Every table the pipeline writes was throttled, many times, and no invocation failed.
        assert set(throttler.injected) == tables and min(throttler.injected.values()) >= 4, throttler.injected
        assert not aws.invocation_failures()
        sound = assert_sound(aws, export=tmp_path / "out" / "findings.jsonl")
        assert len(sound["findings"]) == outcome.summary["totals"]["findings"] > 20


# ------------------------------------------------------------------------------ SNS failing
class KmsDisabled(SNSException):
    code = "KMSDisabled"
    message = "The request was rejected because the specified KMS key is disabled (injected)"


def test_sns_failure_parks_cases_in_the_dead_letter_queue_and_redrive_finishes_them(world: Path, tmp_path: Path):
    attempts: Counter[str] = Counter()
    broken = {"on": True}
    real_publish = SNSBackend.publish

    def publish(backend: Any, message: str, arn: str | None, *args: Any, **kwargs: Any) -> str:
        if broken["on"] and arn == topic:
            attempts[json.loads(message).get("case_id", "")] += 1
            raise KmsDisabled()
        return real_publish(backend, message, arn, *args, **kwargs)

    with EmbeddedAws() as aws, mock.patch.object(SNSBackend, "publish", publish):
        topic = aws.resource_name("IntegrityTopic")
        outcome = run_world(aws, world / "reference", logs_subset(world, tmp_path / "logs", 1), tmp_path / "out")
        cases = CaseStore(aws.resource_name("CasesTable"))
        case_ids = {c["case_id"] for c in cases.scan_cases()}
        assert case_ids

        # Retried (the first try and three retries per case), then parked, and the run says so.
        runs = Counter(e["name"] for e in executions(aws, "CaseStateMachine"))
        assert attempts == Counter({case_id: 4 for case_id in case_ids}), (runs, aws.invocation_failures())
        assert f"{len(case_ids)} CaseStateMachine execution(s) FAILED" in outcome.problems
        assert {e["status"] for e in executions(aws, "CaseStateMachine")} == {"FAILED"}
        sqs = aws.client("sqs")
        queue = aws.resource_name("CaseDeadLetterQueue")
        parked = _drain(sqs, queue)
        assert Counter(m["case_id"] for m in parked) == Counter(case_ids)
        assert {m["error"]["Error"] for m in parked} == {"SNS.KMSDisabledException"}
        _return(sqs, queue, parked)

        # Nothing lost: the findings and cases are all there; verify names exactly the parked workflows.
        problems = [str(p) for p in verify(aws).problems]
        assert sorted(problems) == sorted(
            f"executions: {case_id}: case workflow FAILED at triaged (dead-letter queue; accesswatch redrive)"
            for case_id in case_ids)
        alarm = load_template()["Resources"]["CaseDeadLetterQueueDepthAlarm"]["Properties"]
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["CaseDeadLetterQueue",
                                                                                       "QueueName"]}}]

        # SNS is back: redrive restarts each parked case once and empties the dead-letter queue.
        broken["on"] = False
        report = redrive(aws, timeout_s=300)
        assert report.ok, report.as_dict()
        assert sorted(a.subject for a in report.actions if a.kind == "case") == sorted(case_ids)
        assert {a.status for a in report.actions} == {"RUNNING"}  # each waits on an investigator
        assert _drain(sqs, queue) == []
        assert sns_case_notifications(aws) == Counter({case_id: 1 for case_id in case_ids})
        for case_id in case_ids:
            case = cases.get(case_id)
            assert case is not None and case["status"] == "investigating"
            assert "redriven" in {h["state"] for h in cases.history(case_id)}
        assert_sound(aws)
        assert redrive(aws).actions == []


def _drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message in the queue (made invisible for a while), with its receipt handle."""
    found: dict[str, dict[str, Any]] = {}
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", [])
        if not messages:
            return list(found.values())
        for m in messages:
            found[m["MessageId"]] = {**json.loads(m["Body"]), "_receipt": m["ReceiptHandle"]}


def _return(sqs: Any, queue: str, messages: list[dict[str, Any]]) -> None:
    for m in messages:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=m["_receipt"], VisibilityTimeout=0)


# ------------------------------------------------------------------------------ concurrent re-delivery
@dataclass
class _Context:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 2048
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((900 - (time.monotonic() - self.started)) * 1000))


def test_same_notification_delivered_twice_at_once_is_ingested_once(world: Path, tmp_path: Path):
    handlers: dict[str, Callable[..., Any]] = {}
    held: set[str] = set()

    def wrapper(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        if name != "IngestFunction":
            return handler
        handlers["ingest"] = handler

        def hold(event: dict[str, Any], context: Any) -> Any:
            # S3's own delivery of the target object is held back: the test delivers it, twice at once.
            if any(r["s3"]["object"]["key"].endswith(tuple(held)) for r in event.get("Records", [])):
                return {"held": True}
            return handler(event, context)
        return hold

    with EmbeddedAws(handler_wrapper=wrapper) as aws:
        for path in reference_files(world / "reference"):
            upload(aws, path, f"reference/{path.name}")
        paths = sorted((world / "logs").iterdir())
        upload(aws, paths[0], f"access-logs/cms/{paths[0].name}")  # an ordinary file loads the function
        target = paths[1]
        held.add(target.name)
        key = f"access-logs/cms/{target.name}"
        upload(aws, target, key)
        raw = aws.resource_name("RawBucket")
        head = aws.client("s3").head_object(Bucket=raw, Key=key)
        notification = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": raw}, "object": {"key": key, "eTag": head["ETag"].strip('"'),
                                                "size": head["ContentLength"]}}}]}

        function = aws.client("lambda").get_function_configuration(FunctionName=aws.resource_name("IngestFunction"))
        module = inspect.unwrap(handlers["ingest"]).__globals__
        inside, other_done = threading.Event(), threading.Event()
        raised: list[str] = []
        real_ingest_object, real_once = module["ingest_object"], module["ingest_once"]

        def slow_ingest_object(*args: Any, **kwargs: Any) -> Any:
            inside.set()
            assert other_done.wait(60), "the second delivery never finished"
            return real_ingest_object(*args, **kwargs)

        def recording_once(**kwargs: Any) -> Any:
            try:
                return real_once(**kwargs)
            except Exception as exc:
                raised.append(type(exc).__name__)
                raise

        outcomes: dict[str, Any] = {}
        settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)  # nothing else runs from here on

        def through_lambda(name: str) -> None:
            # The first delivery is an invocation of the runtime: it holds the invocation lock (as a
            # container would hold its request) and the function's environment while it works.
            response = aws.client("lambda").invoke(FunctionName=function["FunctionName"],
                                                   Payload=json.dumps(notification).encode())
            outcomes[name] = json.loads(response["Payload"].read())

        def alongside(name: str) -> None:
            # The second runs the same handler at the same time, as a second container would.
            try:
                outcomes[name] = handlers["ingest"](notification, _Context(function["FunctionName"],
                                                                           function["FunctionArn"]))
            except RuntimeError as exc:  # "1 of 1 objects failed": Lambda retries the event later
                outcomes[name] = exc

        held.clear()
        with mock.patch.dict(module, {"ingest_object": slow_ingest_object, "ingest_once": recording_once}):
            first = threading.Thread(target=through_lambda, args=("first",))
            first.start()
            assert inside.wait(60)
            second = threading.Thread(target=alongside, args=("second",))  # arrives while the first works
            second.start()
            second.join(60)
            other_done.set()
            first.join(60)
            assert not first.is_alive() and not second.is_alive()
            # Lambda retries the delivery that failed: it now gets the first delivery's result.
            through_lambda("retry")

        assert raised == ["IdempotencyAlreadyInProgressError"]
        assert isinstance(outcomes["second"], RuntimeError)
        ingested = outcomes["first"]["files"][0]
        assert ingested["status"] == "detecting" and ingested["accepted"] > 0
        assert outcomes["retry"] == outcomes["first"]

        settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)
        ledger = Ledger(aws.resource_name("LedgerTable"))
        logs = [f for f in ledger.all_files() if f["kind"] == "access-log"]
        assert sorted(f["key"] for f in logs) == sorted([f"access-logs/cms/{paths[0].name}", key])
        assert all(f["status"] == "detected" for f in logs)
        mine = ObjectStore(aws.client("s3")).keys(aws.resource_name("CuratedBucket"), "events/")
        assert len([k for k in mine if ingested["ingest_id"] in k]) == ingested["partitions"]
        detections = [e for e in executions(aws, "DetectionStateMachine") if e["name"].startswith(
            ingested["ingest_id"])]
        assert len(detections) == 1
        assert_sound(aws)


def test_reupload_with_changed_content_is_a_new_file_and_nothing_is_doubled(world: Path, tmp_path: Path):
    """The same key uploaded again with other content is ingested again (a new ETag); the events
    both versions share yield one finding each."""
    with EmbeddedAws() as aws:
        logs = logs_subset(world, tmp_path / "logs", 1)
        outcome = run_world(aws, world / "reference", logs, tmp_path / "out")
        assert outcome.ok, "\n".join(outcome.problems + explain(aws))
        path = next(logs.iterdir())
        if path.suffix == ".gz":
            import gzip

            body = gzip.decompress(path.read_bytes())
            changed = gzip.compress(body + body.splitlines(keepends=True)[1])  # one event delivered again
        else:
            body = path.read_bytes()
            changed = body + body.splitlines(keepends=True)[1]
        path.write_bytes(changed)
        upload_logs(aws, logs)
        settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)
        files = [f for f in Ledger(aws.resource_name("LedgerTable")).all_files() if f["kind"] == "access-log"]
        assert len(files) == 2 and len({f["key"] for f in files}) == 1
        assert sorted(f["lines_read"] for f in files)[1] == sorted(f["lines_read"] for f in files)[0] + 1
        assert_sound(aws)


def test_failed_ingest_is_visible_and_redrive_delivers_the_file_again(world: Path, tmp_path: Path):
    """Reading a file fails in the ingest function: the file is `failed`, verify says so, and redrive
    delivers its notification again (powertools released the idempotency key when the attempt raised)."""
    broken = {"on": True}

    def wrapper(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        if name == "IngestFunction":
            store = inspect.unwrap(handler).__globals__["STORE"]
            real = store.__class__.stream.__get__(store)

            def flaky(bucket: str, key: str, version_id: str | None = None) -> Any:
                if broken["on"] and key.endswith(target.name):
                    raise ConnectionError("the raw object could not be read (injected)")
                return real(bucket, key, version_id)
            store.stream = flaky
        return handler

    with EmbeddedAws(handler_wrapper=wrapper) as aws:
        logs = logs_subset(world, tmp_path / "logs", 2)
        target = sorted(logs.iterdir())[1]
        outcome = run_world(aws, world / "reference", logs, tmp_path / "out")
        key = f"access-logs/cms/{target.name}"
        assert f"{key}: failed (ConnectionError while ingesting)" in outcome.problems
        assert "IngestFunction failed (ObjectsFailed) on an uploaded object" in outcome.problems
        problems = [str(p) for p in verify(aws).problems]
        assert problems == [f"files: {key}: left failed (ConnectionError while ingesting)"]

        broken["on"] = False
        report = redrive(aws, timeout_s=300)
        assert report.ok, report.as_dict()
        assert [(a.kind, a.detail, a.status) for a in report.actions] == [("ingest", key, "invoked")]
        settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)
        item = {f["key"]: f for f in Ledger(aws.resource_name("LedgerTable")).all_files()}[key]
        assert item["status"] == "detected" and item["accepted"] > 0
        assert_sound(aws)
        assert redrive(aws).actions == []
