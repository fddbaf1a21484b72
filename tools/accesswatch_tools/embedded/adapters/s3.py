"""Adapters of moto's S3: what it does differently from AWS, or too slowly, for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import shutil
import tempfile
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from accesswatch_tools.embedded.locks import open_lock, try_flock


@contextlib.contextmanager
def s3_events_as_aws_sends_them() -> Iterator[None]:
    """moto's S3 event records carry no ``versionId`` and no ``sequencer``; AWS's carry both (``versionId``
    when the bucket is versioned). The reference function tells a new put of the same bytes from a
    notification delivered again by them, and orders puts by the sequencer: a record here gets the object's
    version id and a sequencer that grows with every put (hex, upper case, like S3's), the same one for
    every notification of that put."""
    from moto.s3 import notifications

    original = notifications._get_s3_event
    lock = threading.Lock()
    last = [0]

    def sequencer(key: Any) -> str:
        with lock:
            value = getattr(key, "_accesswatch_sequencer", None)
            if value is None:
                last[0] = max(last[0] + 1, time.time_ns())
                value = key._accesswatch_sequencer = f"{last[0]:018X}"
            return str(value)

    def event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, list[dict[str, Any]]]:
        body = original(event_name, bucket, key, notification_id)
        for record in body["Records"]:
            obj = record["s3"]["object"]
            if key.version_id and key.version_id != "null":
                obj["versionId"] = key.version_id
            obj["sequencer"] = sequencer(key)
        return body

    with mock.patch.object(notifications, "_get_s3_event", event):
        yield


@contextlib.contextmanager
def linear_chunked_bodies() -> Iterator[None]:
    """botocore's aws-chunked encoding of a put body and moto's decoding are quadratic: join chunks once.

    A put with a file body (``upload`` streams the file) goes aws-chunked with a trailing checksum:
    botocore encodes it by ``bytes +=`` per 1 MB chunk and moto decodes it the same way, both quadratic
    (a 100 MB file: 30 s and 38 s). Both here join the chunks once: the same bytes, in linear time."""
    from botocore.httpchecksum import AwsChunkedWrapper
    from moto.s3.responses import S3Response

    def read(wrapper: Any, size: int | None = None) -> bytes:
        # botocore's AwsChunkedWrapper.read, with the chunks gathered in a list instead of ``+=``.
        if size is not None and size <= 0:
            size = None
        if wrapper._complete and not wrapper._remaining:
            return b""
        parts = [wrapper._remaining]
        have = len(wrapper._remaining)
        while not wrapper._complete and (size is None or size > have):
            chunk = wrapper._make_chunk()
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        if size is None:
            size = len(data)
        wrapper._remaining = data[size:]
        return data[:size]

    def handle_encoded_body(response: Any, body: io.BufferedIOBase | bytes) -> bytes:
        # moto's S3Response._handle_encoded_body, with the chunks gathered in a list instead of ``+=``.
        if not body:
            return b""
        stream = io.BytesIO(body) if isinstance(body, bytes) else body
        parts = []
        length = int(stream.readline().strip(), 16)  # each chunk: '{hex length}\\r\\n{data}\\r\\n'
        while length > 0:
            parts.append(stream.read(length))
            stream.readline()
            length = int(stream.readline().strip(), 16)
        return b"".join(parts)

    with mock.patch.object(AwsChunkedWrapper, "read", read), \
            mock.patch.object(S3Response, "_handle_encoded_body", handle_encoded_body):
        yield


@contextlib.contextmanager
def checksums_in_headers() -> Iterator[None]:
    """In process there is no network to stream over: a put's checksum in a header spares two body copies.

    A put with a file body sends its checksum in a header here, not as an aws-chunked trailer: the file is
    then handed to moto as it is, instead of being encoded into chunks by botocore and decoded by moto (two
    more copies of the whole body in memory)."""
    from botocore import httpchecksum

    resolve = httpchecksum.resolve_request_checksum_algorithm

    def resolve_in_header(request: Any, *args: Any, **kwargs: Any) -> None:
        resolve(request, *args, **kwargs)
        algorithm = request.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algorithm, dict) and algorithm.get("in") == "trailer":
            algorithm["in"] = "header"

    with mock.patch.object(httpchecksum, "resolve_request_checksum_algorithm", resolve_in_header):
        yield


# Calls a thread makes to put objects: they do not wait for the deliveries of its earlier puts.
UPLOADS = frozenset({"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "CopyObject"})

_LOG = logging.getLogger(__name__)


class Deliveries:
    """One FIFO worker that makes S3's deliveries to Lambda, in the order of the puts (ticket order).

    ``add`` is called by the putting thread (inside moto's ``put_object``) and returns at once; the worker
    calls ``deliver`` for each delivery in turn. A delivery that raises is logged (its error type only)
    and the next one is made: moto swallows a failing function's error and the runtime records the
    invocation failure, as before. ``close`` waits for the queue to empty, then stops the worker (a put
    racing it after the last delivery is delivered by the putting thread: none is lost)."""

    def __init__(self, deliver: Callable[..., Any]) -> None:
        self._deliver = deliver
        self._queue: deque[tuple[int, tuple[Any, ...]]] = deque()
        self._changed = threading.Condition()
        self._added = 0  # tickets handed out
        self._done = 0  # deliveries finished (in ticket order: one worker)
        self._closing = False
        self._stopped = False  # the worker has made its last delivery: later puts deliver in their own thread
        # Per thread: .ticket, the last delivery its puts queued; .invoking, how many Lambda invocations
        # it is running (a thread-local dies with its thread: a reused thread id inherits nothing).
        self._local = threading.local()
        self._worker = threading.Thread(target=self._run, name="accesswatch-s3-notifications", daemon=True)
        self._worker.start()

    # -------------------------------------------------------------- the putting side
    def add(self, *args: Any) -> None:
        with self._changed:
            stopped = self._stopped
            if not stopped:
                self._added += 1
                self._queue.append((self._added, args))
                if threading.current_thread() is not self._worker and not self.invoking():
                    self._local.ticket = self._added
                self._changed.notify_all()
        if stopped:  # a put racing the runtime's close, after the worker's last delivery: made here
            self._deliver(*args)

    def pending(self) -> int:
        """Deliveries queued or being made."""
        with self._changed:
            return self._added - self._done

    def wait(self, timeout_s: float | None = None, *, upto: int | None = None) -> bool:
        """Wait until every delivery (or every one up to ticket ``upto``) is made; False on timeout."""
        with self._changed:
            target = self._added if upto is None else upto
            return self._changed.wait_for(lambda: self._done >= target, timeout_s)

    def wait_for_own_uploads(self) -> None:
        """The deliveries of this thread's earlier puts are made (a caller sees its uploads' effects)."""
        ticket = getattr(self._local, "ticket", None)
        if ticket is None or self.invoking():
            return
        self.wait(upto=ticket)
        if getattr(self._local, "ticket", None) == ticket:
            self._local.ticket = None

    # -------------------------------------------------------------- invocations
    def invoking(self) -> bool:
        return bool(getattr(self._local, "invoking", 0))

    @contextlib.contextmanager
    def invocation(self) -> Iterator[None]:
        self._local.invoking = getattr(self._local, "invoking", 0) + 1
        try:
            yield
        finally:
            self._local.invoking -= 1

    # -------------------------------------------------------------- the worker
    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    self._stopped = True
                    return
                ticket, args = self._queue.popleft()
            try:
                self._deliver(*args)
            except Exception as exc:  # noqa: BLE001 - one failed delivery never stops the next ones
                _LOG.error("S3 notification delivery failed: %s", type(exc).__name__)
            finally:
                with self._changed:
                    self._done = ticket
                    self._changed.notify_all()

    def close(self) -> None:
        """Make every queued delivery, then stop the worker."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._worker.join()


_CURRENT: list[Deliveries] = []  # the running runtime's worker (innermost last)


def deliveries_pending() -> int:
    """S3 notifications queued or being delivered by the runtime(s) running in this process."""
    return sum(d.pending() for d in _CURRENT)


def wait_for_deliveries(timeout_s: float | None = None) -> bool:
    """Wait until every S3 notification queued so far in this process is delivered; False on timeout."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    for d in list(_CURRENT):
        if not d.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
            return False
    return True


_NOT_WAITING = threading.local()  # .depth: this thread's puts return before their deliveries


@contextlib.contextmanager
def uploads_not_waiting() -> Iterator[None]:
    """This thread's puts return once stored, before their notifications are delivered (its next call
    other than an upload waits for them). ``world_run.upload`` puts so; a put over HTTP to the local
    endpoint always returns so (no call of the caller's process waits for the endpoint's worker)."""
    _NOT_WAITING.depth = getattr(_NOT_WAITING, "depth", 0) + 1
    try:
        yield
    finally:
        _NOT_WAITING.depth -= 1


@contextlib.contextmanager
def notifications_off_the_uploader() -> Iterator[Deliveries]:
    """moto delivers S3 notifications inside ``put_object``: queue them for one worker instead.

    moto delivers an S3 notification to Lambda inside ``put_object``, so an upload held its caller for the
    whole ingestion of the file. Here the put queues the delivery (the event built at the put, so its
    eventTime and sequencer are the put's) and one worker makes them in the order of the puts; the runtime
    drains the queue before it closes. Within ``uploads_not_waiting`` (and over HTTP) a put returns at once
    and the thread's next call other than an upload waits for the deliveries of its earlier puts, so a
    caller still sees what its uploads caused; any other in-process put returns after its delivery, as
    moto's did (tests observe a handler's effects right after a put). Calls made inside an invocation
    never wait (a handler must not wait on work queued behind it)."""
    import botocore.client
    from moto.awslambda.models import LambdaFunction
    from moto.s3 import notifications

    deliveries = Deliveries(notifications._invoke_awslambda)
    ordering = threading.Lock()  # the sequencer's order is the queue's order
    send_event = notifications.send_event
    invoke_lambda = LambdaFunction._invoke_lambda
    make_api_call = botocore.client.BaseClient._make_api_call

    def ordered_send_event(*args: Any, **kwargs: Any) -> None:
        with ordering:
            send_event(*args, **kwargs)

    def queued(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        deliveries.add(account_id, event_body, fn_arn, region_name)

    def invoking(function: Any, *args: Any, **kwargs: Any) -> Any:
        with deliveries.invocation():
            return invoke_lambda(function, *args, **kwargs)

    def api_call(client: Any, operation_name: str, api_params: Any) -> Any:
        if operation_name not in UPLOADS:
            deliveries.wait_for_own_uploads()
            return make_api_call(client, operation_name, api_params)
        result = make_api_call(client, operation_name, api_params)
        if not getattr(_NOT_WAITING, "depth", 0):
            deliveries.wait_for_own_uploads()
        return result

    _CURRENT.append(deliveries)
    try:
        with mock.patch.object(notifications, "send_event", ordered_send_event), \
                mock.patch.object(notifications, "_invoke_awslambda", queued), \
                mock.patch.object(LambdaFunction, "_invoke_lambda", invoking), \
                mock.patch.object(botocore.client.BaseClient, "_make_api_call", api_call):
            try:
                yield deliveries
            finally:
                deliveries.close()
    finally:
        _CURRENT.remove(deliveries)


SPILL_ABOVE = 64 * 1024  # bytes an object's body may hold in memory; above it the body is kept in a file


class _SpillingBody(io.RawIOBase):
    """An S3 object's body as moto's ``SpooledTemporaryFile`` keeps it (in memory while small, in a file once
    it outgrows ``max_size``), except that the file is opened only for each read or write and closed after, so
    that a run holding thousands of spilled bodies holds no file descriptor for them. The operations moto makes
    on a key's buffer (seek, read, write, truncate, close) answer as the spooled file's do; reading a closed
    body raises ValueError, as moto's ``__getstate__`` expects of a deleted key."""

    def __init__(self, max_size: int = 0, directory: str | None = None) -> None:
        super().__init__()
        self._max_size = max_size
        self._directory = directory
        self._memory: io.BytesIO | None = io.BytesIO()
        self._path: str | None = None
        self._pos = 0

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def _spill(self, data: bytes) -> None:
        handle, path = tempfile.mkstemp(prefix="s3-body-", dir=self._directory)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        self._path, self._memory = path, None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check()
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._size() + offset
        if self._pos < 0:
            raise ValueError(f"negative seek position {self._pos}")
        return self._pos

    def tell(self) -> int:
        self._check()
        return self._pos

    def _size(self) -> int:
        if self._memory is not None:
            return len(self._memory.getbuffer())
        assert self._path is not None  # noqa: S101 - a body is in memory or in its file
        return os.path.getsize(self._path)

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        if self._memory is not None:
            self._memory.seek(self._pos)
            data = self._memory.read(size)
        else:
            assert self._path is not None  # noqa: S101
            with open(self._path, "rb") as handle:
                handle.seek(self._pos)
                data = handle.read(-1 if size is None else size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def write(self, data: Any) -> int:
        self._check()
        data = bytes(data)
        if self._memory is not None:
            self._memory.seek(self._pos)
            self._memory.write(data)
            if self._max_size and len(self._memory.getbuffer()) > self._max_size:
                self._spill(self._memory.getvalue())
        else:
            assert self._path is not None  # noqa: S101
            with open(self._path, "r+b") as handle:
                handle.seek(self._pos)
                handle.write(data)
        self._pos += len(data)
        return len(data)

    def truncate(self, size: int | None = None) -> int:
        self._check()
        size = self._pos if size is None else size
        if self._memory is not None:
            self._memory.truncate(size)
        else:
            assert self._path is not None  # noqa: S101
            os.truncate(self._path, size)
        return size

    def close(self) -> None:
        if not self.closed and self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)
        self._memory = None
        super().close()


_SPILL_PREFIX = "accesswatch-s3-"
_NEW_SPILL_PREFIX = ".accesswatch-s3-new-"  # a directory being made: locked before it takes its name
_SPILL_LOCK = ".owner.lock"
_UNFINISHED_AFTER_S = 3600.0  # a ``_NEW_SPILL_PREFIX`` directory this old was left by a process killed while making it
_spill_directories: set[str] = set()  # this process's, while their runtimes run


def _remove_bodies_of_ended_processes() -> None:
    """The spilled bodies of a runtime that ended without closing (its process killed): removed by the next runtime
    on the machine. A runtime holds an exclusive ``flock`` on a file in its directory while it runs; the kernel drops
    it when the process ends, however it ends. A directory whose lock can be taken has no owner (a process id would
    not say: two containers sharing /tmp see different ones). A directory gets its name only once its lock is held
    (``_locked_spill_directory``), so no directory this looks at is between its making and its locking."""
    now = time.time()
    for path in Path(tempfile.gettempdir()).glob(f"{_SPILL_PREFIX}*-*"):
        _remove_if_unowned(path)
    for path in Path(tempfile.gettempdir()).glob(f"{_NEW_SPILL_PREFIX}*"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > _UNFINISHED_AFTER_S:
                _remove_if_unowned(path)


def _remove_if_unowned(path: Path) -> None:
    try:
        fd = os.open(path / _SPILL_LOCK, os.O_RDWR)
    except OSError:  # not a runtime's directory, or not ours to read
        return
    try:
        if not try_flock(fd, fcntl.LOCK_EX):  # its runtime is running
            return
    finally:
        os.close(fd)
    shutil.rmtree(path, ignore_errors=True)


def _locked_spill_directory() -> tuple[str, int]:
    """A new spill directory and the descriptor whose exclusive ``flock`` says its runtime runs. Made under a name
    ``_remove_bodies_of_ended_processes`` passes over, and renamed once locked."""
    making = tempfile.mkdtemp(prefix=_NEW_SPILL_PREFIX)
    owner = open_lock(Path(making) / _SPILL_LOCK)
    fcntl.flock(owner, fcntl.LOCK_EX)
    directory = str(Path(making).with_name(f"{_SPILL_PREFIX}{os.getpid()}-{Path(making).name.removeprefix(_NEW_SPILL_PREFIX)}"))
    os.rename(making, directory)
    return directory, owner


def remove_spilled_bodies() -> None:
    """Remove this process's spill directories now: for a process about to end by ``os._exit`` (the local
    endpoint after a clean stop), which skips the ``finally`` that removes them."""
    for directory in list(_spill_directories):
        shutil.rmtree(directory, ignore_errors=True)
        _spill_directories.discard(directory)


@contextlib.contextmanager
def bodies_spilled_to_disk(above: int = SPILL_ABOVE) -> Iterator[None]:
    """moto keeps every object body under ~5 MB in memory (a ``SpooledTemporaryFile``) and holds a file
    descriptor open for each larger one: bodies above ``above`` bytes go to a file, opened only to read or write."""
    from moto.s3 import models

    _remove_bodies_of_ended_processes()
    directory, owner = _locked_spill_directory()  # held while this runtime runs
    _spill_directories.add(directory)

    def spooled(max_size: int = 0, *args: Any, **kwargs: Any) -> _SpillingBody:
        return _SpillingBody(min(max_size, above) if max_size else above, directory)

    files = types.SimpleNamespace(**{**vars(tempfile), "SpooledTemporaryFile": spooled})
    try:
        with mock.patch.object(models, "tempfile", files):
            yield
    finally:
        _spill_directories.discard(directory)
        shutil.rmtree(directory, ignore_errors=True)
        os.close(owner)


@contextlib.contextmanager
def adapted() -> Iterator[None]:
    """Every S3 adapter, for as long as the runtime runs."""
    with s3_events_as_aws_sends_them(), linear_chunked_bodies(), checksums_in_headers(), \
            bodies_spilled_to_disk(), notifications_off_the_uploader():
        yield
