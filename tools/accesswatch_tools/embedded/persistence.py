"""Durable local state: the local endpoint's AWS state kept in its state directory across restarts.

moto keeps everything in memory; the local endpoint (``embedded/server.py``) makes it durable with two files
in ``<state dir>/saved/``, as a database does with a checkpoint and a write-ahead log:

- **the journal** (``journal.bin``): every request that changes something (an upload, a DynamoDB write, a
  ``SendTaskSuccess``...), appended and flushed to disk (``fsync``) *before* the endpoint handles it, so a
  request the endpoint has answered is on disk whatever happens to the process afterwards. Each entry is
  framed with its length and SHA-256: a half-written last entry (the process died while writing it, so its
  request was never answered) is recognised and dropped.
- **the checkpoint** (``state.pickle``, object bodies in ``blobs/``): when the system is *quiet* (no request,
  invocation or S3 notification in flight, and every running Step Functions execution waiting for a person's
  task token) the endpoint saves every bucket object, table item, queue message, log group, metric and
  execution, then empties the journal. Written to a temporary file, flushed and renamed, so a crash leaves
  the previous checkpoint whole. Object bodies are written once each (an object version never changes).

On start the endpoint brings the stack up from ``template.yaml`` as always (generated names are stable:
``adapters/cloudformation.stable_physical_names``), puts the checkpoint's state back, brings back each case
workflow that was waiting for a person (a new execution of the same name enters the case state machine at
its ``Resume`` choice and waits at the same step **with the same task token**, so a decision made with it,
before or after the restart, completes it), then replays the journal's requests in order, waiting for the
system to be quiet before each (at-least-once, like every other hop here: every write is idempotent), and
takes a checkpoint. ``accesswatch local reset`` deletes the saved state, explicitly.

Not kept: Distributed Map runs (their parent executions are), the Lambda functions' and the stack's own
objects (made again from the template), and the time already spent waiting at a step with a deadline (the
deadline counts again from the restart).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LOG = logging.getLogger("accesswatch.local")

SAVED_DIR = "saved"
CHECKPOINT = "state.pickle"
JOURNAL = "journal.bin"
BLOBS = "blobs"
FORMAT = 1

# Request actions that change nothing (JSON and query protocols: X-Amz-Target or Action=...).
_READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "TransactGet", "Head", "Filter",
                  "Select", "Lookup", "Search", "Validate", "Test", "Receive", "Estimate")


def saved_dir(state_dir: Path) -> Path:
    return state_dir / SAVED_DIR


def has_saved_state(state_dir: Path) -> bool:
    directory = saved_dir(state_dir)
    return (directory / CHECKPOINT).exists() or (directory / JOURNAL).exists()


def reset(state_dir: Path) -> bool:
    """Delete the saved state (the caller has stopped the endpoint); True if there was any."""
    directory = saved_dir(state_dir)
    if not directory.exists():
        return False
    shutil.rmtree(directory)
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, write: Callable[[Any], Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


# ---------------------------------------------------------------------------------------------- journal
_FRAME = struct.Struct(">Q32s")  # payload length, SHA-256 of the payload


class Journal:
    """Append-only, fsync'd log of the requests that changed something since the last checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: io.BufferedWriter | None = None

    def append(self, entry: dict[str, Any]) -> None:
        payload = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _FRAME.pack(len(payload), hashlib.sha256(payload).digest()) + payload
        with self._lock:
            if self._handle is None:
                self._handle = self.path.open("ab")
            self._handle.write(frame)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def entries(self) -> list[dict[str, Any]]:
        """Every whole entry, in order; a torn last entry (never acknowledged) is cut off the file."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        found: list[dict[str, Any]] = []
        offset = 0
        while offset + _FRAME.size <= len(data):
            length, digest = _FRAME.unpack_from(data, offset)
            payload = data[offset + _FRAME.size: offset + _FRAME.size + length]
            if len(payload) < length or hashlib.sha256(payload).digest() != digest:
                break
            found.append(pickle.loads(payload))  # noqa: S301 - our own file, written by this endpoint
            offset += _FRAME.size + length
        if offset < len(data):
            _LOG.warning("journal: a torn last entry (%d bytes) dropped", len(data) - offset)
            with self.path.open("r+b") as handle:
                handle.truncate(offset)
                os.fsync(handle.fileno())
        return found

    def clear(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
            with self.path.open("wb") as handle:
                os.fsync(handle.fileno())

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def changes_state(method: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether a request to moto may change its state (and so goes into the journal first). Every console
    request but its stylesheet and script does: a page view writes its audit record (and, for personal details
    or a footprint, access events), an action sends a decision (embedded/console.py)."""
    if headers.get("x-accesswatch-console"):
        return headers["x-accesswatch-console"] != "static"
    target = headers.get("x-amz-target", "")
    if target:
        action = target.rsplit(".", 1)[-1]
        return not action.startswith(_READ_PREFIXES)
    content_type = headers.get("content-type", "")
    if method == "POST" and content_type.startswith("application/x-www-form-urlencoded") and b"Action=" in body:
        from urllib.parse import parse_qs

        action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
        return not action.startswith(_READ_PREFIXES)
    return method not in ("GET", "HEAD", "OPTIONS")


# ---------------------------------------------------------------------------------------------- the gate
class Gate:
    """Requests pass together; a checkpoint waits for those in flight and holds new ones back."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def busy(self) -> bool:
        with self._cond:
            return self._active > 0

    @contextlib.contextmanager
    def closed(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._closed = True
            self._cond.wait_for(lambda: self._active == 0)
        try:
            yield
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


class JournaledApp:
    """The endpoint's WSGI application: each request that changes state is journaled before moto handles it."""

    def __init__(self, app: Any, journal: Journal, gate: Gate, on_change: Callable[[], None]) -> None:
        self._app = app
        self._journal = journal
        self._gate = gate
        self._on_change = on_change

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._gate.request():
            body = _read_body(environ)
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            if environ.get("CONTENT_TYPE"):
                headers["content-type"] = environ["CONTENT_TYPE"]
            method = environ.get("REQUEST_METHOD", "GET")
            if changes_state(method, headers, body):
                self._journal.append({"method": method, "path": environ.get("PATH_INFO", "/"),
                                      "query": environ.get("QUERY_STRING", ""), "headers": headers, "body": body})
                self._on_change()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            # The response is built (and so the request handled) inside the gate.
            return list(self._app(environ, start_response))


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return bytes(stream.read(int(length)))
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""


def replay(app: Any, entry: dict[str, Any]) -> int:
    """Handle one journaled request again (in-process, no HTTP); its HTTP status."""
    from werkzeug.test import EnvironBuilder

    headers = dict(entry["headers"])
    content_type = headers.pop("content-type", None)
    headers.pop("content-length", None)
    builder = EnvironBuilder(method=entry["method"], path=entry["path"], query_string=entry["query"],
                             headers=headers, data=entry["body"], content_type=content_type)
    environ = builder.get_environ()
    statuses: list[str] = []

    def start_response(status: str, *_: Any) -> None:
        statuses.append(status)

    for _chunk in app(environ, start_response):
        pass
    return int(statuses[0].split()[0]) if statuses else 0


# ---------------------------------------------------------------------------------------------- S3 bodies
class _Pickler(pickle.Pickler):
    """Pickles an S3 object's body into ``blobs/`` (once per body) and keeps only its reference."""

    def __init__(self, handle: Any, blobs: Path, used: set[str]) -> None:
        super().__init__(handle, protocol=pickle.HIGHEST_PROTOCOL)
        self._blobs = blobs
        self._used = used
        from moto.s3.models import FakeKey

        self._key_type = FakeKey

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, self._key_type):
            state = {k: v for k, v in obj.__dict__.items() if k not in ("_value_buffer", "lock")}
            ref = hashlib.sha256(f"{obj.etag}/{obj.size}".encode()).hexdigest()
            blob = self._blobs / ref
            if ref not in self._used and not blob.exists():
                body = obj.value
                _write_atomically(blob, lambda handle: handle.write(body))
            self._used.add(ref)
            return _restore_key, (type(obj), state, str(blob))
        return NotImplemented


def _restore_key(cls: Any, state: dict[str, Any], blob: str) -> Any:
    import tempfile

    key = cls.__new__(cls)
    key.__dict__.update(state)
    key._value_buffer = tempfile.SpooledTemporaryFile(max_size=key._max_buffer_size)  # noqa: SIM115
    key.lock = threading.Lock()
    key.value = Path(blob).read_bytes()
    return key


# ---------------------------------------------------------------------------------------------- executions
@dataclass
class ExecutionRecord:
    state_machine_arn: str
    name: str
    arn: str
    status: str
    start_date: datetime.datetime
    stop_date: datetime.datetime | None
    input: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    waiting: dict[str, str] | None = None  # state, input, token: a workflow waiting for a person


def _waiting_at(execution: Any, history: list[dict[str, Any]]) -> dict[str, str] | None:
    """The step a running execution waits at for a task token, or None if it is doing something else."""
    if execution.status != "RUNNING" or not history:
        return None
    last = history[-1]
    if last.get("type") != "TaskSubmitted" or not str(
            last.get("taskSubmittedEventDetails", {}).get("resource", "")).endswith("waitForTaskToken"):
        return None
    # The callback pool keeps the endpoints of steps already answered: the open one has no outcome yet.
    pool = [token for token, endpoint in execution.exec_worker.env.callback_pool_manager._pool.items()
            if getattr(endpoint, "_outcome", None) is None and getattr(endpoint, "consumer_error", None) is None]
    entered = next((e for e in reversed(history) if e.get("type") == "TaskStateEntered"), None)
    if len(pool) != 1 or entered is None:
        return None
    details = entered["stateEnteredEventDetails"]
    return {"state": str(details["name"]), "input": str(details.get("input") or "{}"), "token": str(pool[0])}


def _execution_backend() -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from accesswatch_tools.embedded.runtime import ACCOUNT_ID, REGION

    return stepfunctions_parser_backends[ACCOUNT_ID][REGION]


def _capture_executions() -> tuple[list[ExecutionRecord], list[str]]:
    """Every execution's record; and the names of those running but not waiting (the system is not quiet)."""
    records: list[ExecutionRecord] = []
    busy: list[str] = []
    for machine in _execution_backend().state_machines:
        for execution in list(machine.executions):
            history = list(execution.to_history_output()["events"]) if execution.exec_worker is not None else []
            waiting = _waiting_at(execution, history)
            if execution.status == "RUNNING" and waiting is None:
                busy.append(execution.name)
            records.append(ExecutionRecord(
                machine.arn, execution.name, execution.exec_arn, execution.status, execution.start_date,
                execution.stop_date, json.dumps(execution.input_data), execution.output, execution.error,
                execution.cause, history, waiting))
    return records, busy


def busy_executions() -> list[str]:
    """The running executions not waiting for a task token (looks at running ones only: cheap)."""
    busy: list[str] = []
    for machine in _execution_backend().state_machines:
        for execution in list(machine.executions):
            if execution.exec_worker is None or execution.status != "RUNNING":
                continue
            if _waiting_at(execution, list(execution.to_history_output()["events"])) is None:
                busy.append(execution.name)
    return busy


class _ArchivedWorker:
    """What an execution finished before the restart keeps of its worker: its history."""

    class _Events:
        def __init__(self, events: list[dict[str, Any]]) -> None:
            self._events = events

        def get_event_history(self) -> list[dict[str, Any]]:
            return list(self._events)

    class _Env:
        def __init__(self, events: list[dict[str, Any]]) -> None:
            self.event_manager = _ArchivedWorker._Events(events)

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.env = _ArchivedWorker._Env(events)

    def stop(self, *_: Any, **__: Any) -> None:
        return None


def _archive(record: ExecutionRecord) -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    backend = _execution_backend()
    machine = backend.describe_state_machine(record.state_machine_arn)
    execution = Execution(name=record.name, sm_type=machine.sm_type, role_arn=machine.roleArn,
                          exec_arn=record.arn, account_id=backend.account_id, region_name=backend.region_name,
                          state_machine=machine, start_date=record.start_date, cloud_watch_logging_session=None,
                          input_data=record.input, trace_header=None, activity_store={})
    execution.exec_status = ExecutionStatus(record.status)
    execution.stop_date = record.stop_date
    execution.output = record.output
    execution.error = record.error
    execution.cause = record.cause
    execution.exec_worker = _ArchivedWorker(record.history)  # type: ignore[assignment]
    machine.executions.append(execution)


def _resume(record: ExecutionRecord) -> None:
    """A new execution of the same name that enters the state machine at its Resume choice and waits at the
    same step with the same task token (``adapters/stepfunctions.resume_tokens``); its history is the old
    one followed by the new."""
    from accesswatch_tools.embedded.adapters import stepfunctions as sfn_adapters

    assert record.waiting is not None
    backend = _execution_backend()
    state_input = json.loads(record.waiting["input"])
    state_input["resume_at"] = record.waiting["state"]
    sfn_adapters.RESUME_TOKENS[record.arn] = record.waiting["token"]
    execution = backend.start_execution(record.state_machine_arn, name=record.name,
                                        execution_input=json.dumps(state_input))
    execution.start_date = record.start_date
    earlier = record.history
    resumed_history = execution.to_history_output

    def history() -> Any:
        later = resumed_history()["events"]
        offset = len(earlier)
        renumbered = [{**e, "id": e["id"] + offset,
                       "previousEventId": (e.get("previousEventId") or 0) + offset} for e in later]
        return {"events": earlier + renumbered}

    execution.to_history_output = history  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------- the state
@dataclass
class Captured:
    """What a checkpoint holds."""

    physical: dict[str, str]
    buckets: dict[str, Any] = field(default_factory=dict)  # bucket name -> its keys (all versions)
    tables: dict[str, Any] = field(default_factory=dict)  # table name -> its items
    queues: dict[str, list[Any]] = field(default_factory=dict)  # queue name -> its messages
    log_groups: dict[str, Any] = field(default_factory=dict)
    metrics: list[Any] = field(default_factory=list)
    notifications: dict[str, list[Any]] = field(default_factory=dict)  # topic arn -> what it sent
    executions: list[ExecutionRecord] = field(default_factory=list)
    saved_at: float = 0.0
    format: int = FORMAT


def _backends() -> dict[str, Any]:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.dynamodb.models import dynamodb_backends
    from moto.logs.models import logs_backends
    from moto.s3.models import s3_backends
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    from accesswatch_tools.embedded.runtime import ACCOUNT_ID, REGION

    return {"s3": s3_backends[ACCOUNT_ID]["aws"], "dynamodb": dynamodb_backends[ACCOUNT_ID][REGION],
            "sqs": sqs_backends[ACCOUNT_ID][REGION], "logs": logs_backends[ACCOUNT_ID][REGION],
            "cloudwatch": cloudwatch_backends[ACCOUNT_ID][REGION], "sns": sns_backends[ACCOUNT_ID][REGION]}


def capture(physical: dict[str, str], skip_buckets: set[str]) -> tuple[Captured, list[str]]:
    """The state to save (call with the gate closed); and what keeps the system from being quiet."""
    records, busy = _capture_executions()
    be = _backends()
    captured = Captured(physical=dict(physical), executions=records, saved_at=time.time())
    for name, bucket in be["s3"].buckets.items():
        if name not in skip_buckets:
            captured.buckets[name] = bucket.keys
    for name, table in be["dynamodb"].tables.items():
        captured.tables[name] = table.items
    for name, queue in be["sqs"].queues.items():
        captured.queues[name] = list(queue._messages)
    captured.log_groups = dict(be["logs"].groups)
    captured.metrics = list(be["cloudwatch"].metric_data)
    captured.notifications = {arn: list(topic.sent_notifications) for arn, topic in be["sns"].topics.items()}
    return captured, busy


def write_checkpoint(state_dir: Path, captured: Captured) -> None:
    directory = saved_dir(state_dir)
    blobs = directory / BLOBS
    blobs.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    _write_atomically(directory / CHECKPOINT, lambda handle: _Pickler(handle, blobs, used).dump(captured))
    for blob in blobs.iterdir():  # bodies no object refers to any more
        if blob.name not in used and not blob.name.endswith(".tmp"):
            blob.unlink(missing_ok=True)


def read_checkpoint(state_dir: Path) -> Captured | None:
    path = saved_dir(state_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            captured = pickle.load(handle)  # noqa: S301 - our own file, written by this endpoint
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same clear message
        raise RuntimeError(f"{path} cannot be read ({type(exc).__name__}: written by another version of "
                           "accesswatch or its libraries?); `accesswatch local reset` discards it") from None
    if not isinstance(captured, Captured) or captured.format != FORMAT:
        raise RuntimeError(f"{path} was written by another version of accesswatch; "
                           "`accesswatch local reset` discards it")
    return captured


def put_back(captured: Captured, physical: dict[str, str]) -> list[str]:
    """Restore a checkpoint into the freshly created stack; notes (ids only) on what could not be."""
    notes: list[str] = []
    be = _backends()
    for name, keys in captured.buckets.items():
        bucket = be["s3"].buckets.get(name)
        if bucket is None:
            notes.append(f"bucket {name} no longer exists: its objects were not restored")
            continue
        bucket.keys = keys
    for name, items in captured.tables.items():
        table = be["dynamodb"].tables.get(name)
        if table is None:
            notes.append(f"table {name} no longer exists: its items were not restored")
            continue
        table.items = items
        table.__dict__.pop("_accesswatch_keys", None)  # the query adapter's index maps: built again
    for name, messages in captured.queues.items():
        queue = be["sqs"].queues.get(name)
        if queue is not None:
            for message in messages:
                message.change_visibility(0) if hasattr(message, "change_visibility") else None
            queue._messages = messages
    for name, group in captured.log_groups.items():
        be["logs"].groups[name] = group
    be["cloudwatch"].metric_data = captured.metrics + list(be["cloudwatch"].metric_data)
    for arn, sent in captured.notifications.items():
        topic = be["sns"].topics.get(arn)
        if topic is not None:
            topic.sent_notifications = sent + list(topic.sent_notifications)
    for record in captured.executions:
        if record.waiting is not None:
            _resume(record)
        elif record.status != "RUNNING":
            _archive(record)
        else:  # checkpoints are taken only when quiet: a running execution there is waiting
            notes.append(f"execution {record.name} was running, not waiting: not restored")
    return notes


# ---------------------------------------------------------------------------------------------- the endpoint's
QUIET_WAIT_S = 600.0  # how long a replayed request waits for the system to be quiet before it goes anyway
CHECK_EVERY_S = 0.5
FINAL_CHECKPOINT_WAIT_S = 15.0  # `local stop`: how long the endpoint waits to be quiet for a last checkpoint


class DurableState:
    """The local endpoint's saved state: restore on start, journal every change, checkpoint when quiet."""

    def __init__(self, state_dir: Path, aws: Any, *, skip_buckets: set[str]) -> None:
        self.state_dir = state_dir
        self.aws = aws
        self.skip_buckets = skip_buckets
        saved_dir(state_dir).mkdir(parents=True, exist_ok=True)
        self.journal = Journal(saved_dir(state_dir) / JOURNAL)
        self.gate = Gate()
        self._changes = 0
        self._saved = 0
        self._changes_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    # -------------------------------------------------------------- what the endpoint calls
    def changed(self) -> None:
        with self._changes_lock:
            self._changes += 1

    def app(self, inner: Any) -> JournaledApp:
        return JournaledApp(inner, self.journal, self.gate, self.changed)

    def restore(self, inner_app: Any) -> list[str]:
        """Put the checkpoint back, bring back waiting workflows, replay the journal, checkpoint. Notes (ids)."""
        notes: list[str] = []
        started = time.monotonic()
        captured = read_checkpoint(self.state_dir)
        if captured is not None:
            notes += put_back(captured, self.aws.physical)
            waiting = sum(1 for r in captured.executions if r.waiting is not None)
            notes.append(f"restored the state saved at {time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(captured.saved_at))}"
                         f"Z: {sum(len(t) for t in captured.tables.values())} table partitions, "
                         f"{len(captured.executions)} executions ({waiting} waiting for a person)")
        entries = self.journal.entries()
        for number, entry in enumerate(entries, 1):
            if not self.wait_quiet(QUIET_WAIT_S):
                notes.append(f"journal entry {number}: the system was not quiet after {QUIET_WAIT_S:.0f} s; "
                             "replayed anyway")
            status = replay(inner_app, entry)
            _LOG.info("journal entry %d of %d replayed: %s %s -> %d", number, len(entries), entry["method"],
                      entry["path"].split("?")[0][:80], status)
        if entries:
            notes.append(f"replayed {len(entries)} request(s) made after that")
        if captured is not None or entries:
            self.changed()
            if not self.checkpoint(wait_s=QUIET_WAIT_S):
                notes.append("the restored system did not become quiet: no checkpoint yet (the journal is kept)")
            notes.append(f"restore took {time.monotonic() - started:.1f} s")
        return notes

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="accesswatch-checkpoints", daemon=True)
        self._thread.start()

    def close(self) -> bool:
        """Stop checkpointing; take a last checkpoint if the system gets quiet soon. True if saved."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        saved = self.checkpoint(wait_s=FINAL_CHECKPOINT_WAIT_S)
        self.journal.close()
        return saved

    # -------------------------------------------------------------- quiet, checkpoints
    def _idle(self) -> bool:
        from accesswatch_tools.embedded.adapters import s3 as s3_adapters

        return not self.gate.busy() and not self.aws.invoking() and s3_adapters.deliveries_pending() == 0

    def quiet(self) -> bool:
        return self._idle() and not busy_executions()

    def wait_quiet(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.quiet():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def checkpoint(self, *, wait_s: float = 0.0) -> bool:
        """Save the state if it changed since the last checkpoint and the system is quiet (waiting up to
        ``wait_s`` for it to be); True if the saved state is now current."""
        deadline = time.monotonic() + wait_s
        while True:
            with self._changes_lock:
                changes = self._changes
            if changes == self._saved:
                return True
            if self._idle():
                with self.gate.closed(), self.aws.invocations_held():
                    if self._idle():
                        captured, busy = capture(self.aws.physical, self.skip_buckets)
                        if not busy:
                            write_checkpoint(self.state_dir, captured)
                            self.journal.clear()
                            self._saved = changes
                            self.checkpoints += 1
                            return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _run(self) -> None:
        while not self._stop.wait(CHECK_EVERY_S):
            try:
                self.checkpoint()
            except Exception:  # noqa: BLE001 - a failed checkpoint leaves the journal, which still holds it all
                _LOG.exception("checkpoint failed; the journal keeps every change since the last one")
