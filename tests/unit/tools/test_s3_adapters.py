"""The S3 notification worker (tools/accesswatch_tools/embedded/adapters/s3.py) against moto's ordinary
path, on plain moto: a versioned bucket notifying a Lambda function whose one invocation seam
(``LambdaFunction._invoke_lambda``, which the runtime replaces) records each event it is given.

Differential: the same puts with moto's synchronous delivery and with the worker deliver the same event
records (the ids and times each run draws normalised away), in the order of the puts. And the worker's
own promises: a put returns before its delivery is made, a delivery that raises is not lost and the next
ones are still made, the queue is drained when the adapter closes, within ``uploads_not_waiting`` a put
returns at once and the thread's next call waits for the deliveries of its own puts (never another
thread's), any other put returns after its delivery, and a call made inside an invocation never waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from accesswatch_tools.embedded.adapters import s3

REGION = "ap-southeast-2"
BUCKET = "raw"
PUTS = 60
WAIT_S = 60.0


class Recorder:
    """Stands for the runtime's invoke: records every event; ``before`` may raise or block."""

    def __init__(self, before: Callable[[dict[str, Any]], object] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.threads: set[str] = set()
        self.before = before
        self.lock = threading.Lock()

    def __call__(self, function: Any, event: Any = None) -> tuple[str, bool, str]:
        body = json.loads(event) if isinstance(event, str | bytes) else event
        with self.lock:
            self.events.append(body)
            self.threads.add(threading.current_thread().name)
        if self.before is not None:
            self.before(body)
        return "{}", False, ""

    def keys(self) -> list[str]:
        return [unquote_plus(e["Records"][0]["s3"]["object"]["key"]) for e in self.events]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@contextlib.contextmanager
def bucket_notifying(recorder: Recorder, *, worker: bool) -> Iterator[Any]:
    """A versioned bucket whose puts notify one function, delivered by moto (worker=False) or the worker."""
    from moto.awslambda.models import LambdaFunction

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict("os.environ", {"AWS_DEFAULT_REGION": REGION,
                                                           "AWS_ACCESS_KEY_ID": "testing",
                                                           "AWS_SECRET_ACCESS_KEY": "testing"}))
        stack.enter_context(mock_aws())
        stack.enter_context(mock.patch.object(LambdaFunction, "_invoke_lambda",
                                              lambda function, event=None: recorder(function, event)))
        client = boto3.client("s3", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        arn = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="ingest", Runtime="python3.11", Role=role, Handler="app.handler",
            Code={"ZipFile": _zip()})["FunctionArn"]
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        client.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"Id": "logs", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
                                              "Filter": {"Key": {"FilterRules": [{"Name": "prefix",
                                                                                  "Value": "logs/"}]}}}]})
        stack.enter_context(s3.s3_events_as_aws_sends_them())
        if worker:
            stack.enter_context(s3.notifications_off_the_uploader())
        yield client


def _put_many(client: Any, n: int = PUTS) -> list[dict[str, Any]]:
    puts = []
    for i in range(n):
        key = f"logs/file {i:03d}+ā.csv" if i % 7 == 0 else f"logs/file-{i:03d}.csv"
        body = f"event_id,n\ne{i},{i}\n".encode() * (1 + i % 5)
        if i % 10 == 3:
            key = f"logs/file-{i - 1:03d}.csv"  # the same key again: a new version
        response = client.put_object(Bucket=BUCKET, Key=key, Body=body)
        puts.append({"key": key, "etag": response["ETag"].strip('"'), "version": response["VersionId"],
                     "size": len(body)})
    client.put_object(Bucket=BUCKET, Key="other/ignored.csv", Body=b"x")  # no notification: filtered out
    return puts


def _normalised(events: list[dict[str, Any]], puts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with its run's random version id and put time replaced by what they must equal."""
    out = []
    for event, put in zip(events, puts, strict=True):
        (record,) = event["Records"]
        record = json.loads(json.dumps(record))
        obj = record["s3"]["object"]
        assert obj.pop("versionId") == put["version"]
        assert obj["eTag"] == put["etag"] and obj["size"] == put["size"]
        obj["sequencer"] = "present" if obj["sequencer"] else "missing"
        record["eventTime"] = "time" if record["eventTime"] else "missing"
        out.append(record)
    return out


def _sequencers(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["Records"][0]["s3"]["object"]["sequencer"], 16) for e in events]


def test_the_worker_delivers_the_same_records_as_moto_in_the_order_of_the_puts():
    runs = {}
    for worker in (False, True):
        recorder = Recorder()
        with bucket_notifying(recorder, worker=worker) as client:
            puts = _put_many(client)
        runs[worker] = (recorder, puts)
    (sync, sync_puts), (queued, queued_puts) = runs[False], runs[True]
    assert len(sync.events) == len(queued.events) == PUTS
    assert [p["key"] for p in sync_puts] == [p["key"] for p in queued_puts]
    assert _normalised(sync.events, sync_puts) == _normalised(queued.events, queued_puts)
    for recorder in (sync, queued):
        assert sorted(_sequencers(recorder.events)) == _sequencers(recorder.events)  # the puts' order
        assert len(set(_sequencers(recorder.events))) == PUTS
    assert queued.threads == {"accesswatch-s3-notifications"}
    assert "accesswatch-s3-notifications" not in sync.threads


def test_a_put_returns_before_its_delivery_which_the_putting_threads_next_call_waits_for():
    release = threading.Event()
    recorder = Recorder(before=lambda body: release.wait(WAIT_S))
    with bucket_notifying(recorder, worker=True) as client, s3.uploads_not_waiting():
        client.put_object(Bucket=BUCKET, Key="logs/a.csv", Body=b"a")  # returns: its delivery is held
        client.put_object(Bucket=BUCKET, Key="logs/b.csv", Body=b"b")  # an upload never waits either
        assert s3.deliveries_pending() == 2

        seen: list[int] = []
        other = threading.Thread(target=lambda: seen.append(len(client.list_buckets()["Buckets"])))
        other.start()
        other.join(WAIT_S)
        assert seen == [1] and s3.deliveries_pending() == 2  # another thread's call does not wait

        threading.Timer(0.2, release.set).start()
        client.head_object(Bucket=BUCKET, Key="logs/a.csv")  # this thread's next call waits
        assert s3.deliveries_pending() == 0 and recorder.keys() == ["logs/a.csv", "logs/b.csv"]


def test_any_other_put_returns_after_its_delivery_as_with_moto():
    """Outside ``uploads_not_waiting`` an in-process put returns once its delivery is made (on the worker)."""
    recorder = Recorder()
    with bucket_notifying(recorder, worker=True) as client:
        for i in range(5):
            client.put_object(Bucket=BUCKET, Key=f"logs/{i}.csv", Body=b"x")
            assert len(recorder.events) == i + 1 and s3.deliveries_pending() == 0
    assert recorder.threads == {"accesswatch-s3-notifications"}


def test_a_delivery_that_raises_is_not_lost_and_the_next_ones_are_made():
    def fail_some(body: dict[str, Any]) -> None:
        if unquote_plus(body["Records"][0]["s3"]["object"]["key"]).endswith("3.csv"):
            raise RuntimeError("the function failed")

    recorder = Recorder(before=fail_some)
    with bucket_notifying(recorder, worker=True) as client:
        puts = _put_many(client, 40)
        assert s3.wait_for_deliveries(WAIT_S)
    assert recorder.keys() == [p["key"] for p in puts]
    assert sum(k.endswith("1.csv") for k in recorder.keys()) == 3  # failed, and the next ones were made


def test_every_queued_delivery_is_made_before_the_adapter_closes():
    gate = threading.Semaphore(0)
    recorder = Recorder(before=lambda body: gate.acquire(timeout=WAIT_S))
    with bucket_notifying(recorder, worker=True) as client:
        def put() -> None:
            with s3.uploads_not_waiting():
                client.put_object(Bucket=BUCKET, Key="logs/x.csv", Body=b"x")

        threads = [threading.Thread(target=put) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT_S)
        assert s3.deliveries_pending() == 5
        for _ in range(5):
            gate.release()
    assert len(recorder.events) == 5
    assert sorted(_sequencers(recorder.events)) == _sequencers(recorder.events)  # puts from 5 threads, in order
    assert s3.deliveries_pending() == 0


def test_a_delivery_added_after_the_worker_stopped_is_made_by_the_adder():
    made: list[tuple[Any, ...]] = []
    deliveries = s3.Deliveries(lambda *args: made.append(args))
    deliveries.add("first")
    deliveries.close()
    assert made == [("first",)]
    deliveries.add("late")  # a put racing the runtime's close
    assert made == [("first",), ("late",)] and deliveries.pending() == 0


def test_a_call_made_inside_an_invocation_does_not_wait_for_the_deliveries_it_queued():
    def nested(body: dict[str, Any]) -> None:
        if unquote_plus(body["Records"][0]["s3"]["object"]["key"]) == "logs/parent.csv":
            client = boto3.client("s3", region_name=REGION)
            client.put_object(Bucket=BUCKET, Key="logs/child.csv", Body=b"c")  # queued behind this delivery
            client.head_object(Bucket=BUCKET, Key="logs/child.csv")  # would wait for itself: must not

    recorder = Recorder(before=nested)
    with bucket_notifying(recorder, worker=True) as client:
        client.put_object(Bucket=BUCKET, Key="logs/parent.csv", Body=b"p")
        assert s3.wait_for_deliveries(WAIT_S), "a delivery waited on the deliveries queued behind it"
        client.head_object(Bucket=BUCKET, Key="logs/parent.csv")
    assert recorder.keys() == ["logs/parent.csv", "logs/child.csv"]


@pytest.mark.parametrize("worker", [False, True])
def test_filters_decide_deliveries_on_both_paths(worker: bool):
    recorder = Recorder()
    with bucket_notifying(recorder, worker=worker) as client:
        client.put_object(Bucket=BUCKET, Key="other/a.csv", Body=b"a")
        client.put_object(Bucket=BUCKET, Key="logs/a.csv", Body=b"a")
        client.head_object(Bucket=BUCKET, Key="logs/a.csv")
        assert recorder.keys() == ["logs/a.csv"]


# ----------------------------------------------------------------- bodies without quadratic copies
def _wrappers(raw: bytes, chunk_size: int) -> Any:
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    return AwsChunkedWrapper(io.BytesIO(raw), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32",
                             chunk_size=chunk_size)


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 5000, 70_001])
@pytest.mark.parametrize("reads", [[None], [0, -1, None], [5, 1, 2048, None], [1, 1, 1, 10_000, 3, 100_000, 7]])
def test_chunked_encoding_reads_the_same_bytes_as_botocore(size: int, reads: list[int | None]):
    raw = bytes(range(256)) * (size // 256) + bytes(size % 256)
    ordinary, linear = _wrappers(raw, 1024), _wrappers(raw, 1024)
    expected = [ordinary.read(n) for n in reads] + [ordinary.read(), ordinary.read()]
    with s3.linear_chunked_bodies():
        got = [linear.read(n) for n in reads] + [linear.read(), linear.read()]
        linear.seek(0)
        again = linear.read()
    assert got == expected
    assert again == b"".join(expected)


@pytest.mark.parametrize("size", [0, 1, 1024, 5000, 70_001])
def test_chunked_decoding_gives_the_same_body_as_moto(size: int):
    from moto.s3.responses import S3Response

    raw = bytes(reversed(range(256))) * (size // 256) + b"z" * (size % 256)
    encoded = _wrappers(raw, 999).read()
    ordinary = S3Response._handle_encoded_body(S3Response(), encoded)
    from_stream = S3Response._handle_encoded_body(S3Response(), io.BytesIO(encoded))
    with s3.linear_chunked_bodies():
        linear = S3Response._handle_encoded_body(S3Response(), encoded)
        linear_stream = S3Response._handle_encoded_body(S3Response(), io.BytesIO(encoded))
    assert ordinary == from_stream == linear == linear_stream == raw


def test_a_file_body_is_stored_and_read_back_as_moto_does_it(tmp_path: Any):
    """A put of a file (aws-chunked with a trailing checksum; with the header adapter, its checksum in a
    header) and what callers see of it: the same as moto's ordinary path."""
    path = tmp_path / "body.bin"
    path.write_bytes(bytes(range(251)) * 13_000 + b"tail")  # 3.3 MB: several 1 MB chunks
    data = path.read_bytes()
    seen = {}
    adapters = {"moto": (), "linear": (s3.linear_chunked_bodies,),
                "header": (s3.linear_chunked_bodies, s3.checksums_in_headers)}
    for mode, entered in adapters.items():
        with bucket_notifying(Recorder(), worker=False) as client, contextlib.ExitStack() as stack:
            for adapter in entered:
                stack.enter_context(adapter())
            with path.open("rb") as body:
                put = client.put_object(Bucket=BUCKET, Key="other/body.bin", Body=body)
            head = client.head_object(Bucket=BUCKET, Key="other/body.bin", ChecksumMode="ENABLED")
            whole = client.get_object(Bucket=BUCKET, Key="other/body.bin")["Body"].read()
            ranged = client.get_object(Bucket=BUCKET, Key="other/body.bin", Range="bytes=1000000-1000099")
            seen[mode] = (put["ETag"], put["VersionId"] == head["VersionId"], put.get("ChecksumCRC32"),
                            head["ContentLength"], head.get("ChecksumCRC32"), ranged["ContentLength"],
                            ranged["ContentRange"], whole == data, ranged["Body"].read() == data[1_000_000:1_000_100])
    assert seen["linear"] == seen["header"] == seen["moto"]
    etag, same_version, checksum, length, head_checksum = seen["header"][:5]
    assert etag.strip('"') == hashlib.md5(data).hexdigest() and same_version  # noqa: S324 - S3's ETag is an MD5
    assert checksum and checksum == head_checksum and length == len(data)
    assert seen["header"][5:] == (100, f"bytes 1000000-1000099/{len(data)}", True, True)
