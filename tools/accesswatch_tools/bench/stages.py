"""The measured stages. Each runs in a fresh interpreter (``python -m accesswatch_tools.bench.stages STAGE ARGS``)
so that its peak RSS (``ru_maxrss``) is its own; it prints one ``RESULT {json}`` line.

- ``ceiling``: decompress and split lines, nothing else: what this machine can do at best;
- ``ingest``: :func:`ingest_stream` as the ingest function runs it (partitions encoded to Parquet);
- ``index``: the reference index compiled from the snapshots (the reference function's work);
- ``detect``: the index loaded from bytes, then the rule catalog over the partitions;
- ``pipeline``: ingest and detect in one process (each partition detected as it fills);
- ``cases``: the day's cases, case executions and notifications from the real router and case queue
  on the template's DynamoDB tables (in-process moto), executions recorded, not started;
- ``e2e``: the whole system on the embedded runtime (template.yaml on in-process moto), as
  ``accesswatch run --in-process`` runs it, counting every AWS API call.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import json
import math
import os
import re
import resource
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
MAX_BYTES = 1 << 40  # no gzip-bomb cap while benchmarking: the inputs are ours


def stage(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    STAGES[fn.__name__] = fn
    return fn


class Clock:
    """Wall and CPU seconds of a block (CPU includes every thread: polars runs on all cores)."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def log_files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p])
    return out


def _chunks(path: Path) -> Iterator[bytes]:
    from accesswatch.ingest.source import read_chunks

    with path.open("rb") as handle:
        yield from read_chunks(handle)


# ------------------------------------------------------------------------------------ inputs
@stage
def synth(args: dict[str, Any]) -> dict[str, Any]:
    from accesswatch_tools.bench.data import ministry_day

    sizes = {k: int(args[k]) for k in ("staff", "clients") if k in args}
    with Clock() as clock:
        summary = ministry_day(Path(args["out"]), events=int(args["events"]), seed=int(args.get("seed", 8)), **sizes)
    return {"wall_s": clock.wall, "events": summary["events"], "lines": summary["lines"],
            "users": summary["staff"], "service_accounts": summary["service_accounts"],
            "clients": summary["clients"], "truth": summary["truth"], "files": summary["files"]}


@stage
def synth_world(args: dict[str, Any]) -> dict[str, Any]:
    from accesswatch_tools.bench.data import synth_world as make

    with Clock() as clock:
        summary = make(Path(args["out"]), events=int(args["events"]), seed=int(args.get("seed", 8)))
    return {"wall_s": clock.wall, "events": summary["events"], "lines": summary["lines"], "users": summary["staff"],
            "clients": summary["clients"], "days": summary["days"], "files": summary["files"]}


@stage
def make_csv(args: dict[str, Any]) -> dict[str, Any]:
    from accesswatch_tools.bench.data import day_ids, gzip_csv

    users, clients = day_ids(Path(args["day"]))
    with Clock() as clock:
        made = gzip_csv(Path(args["out"]), lines=int(args["lines"]), users=users, clients=clients)
    return {**made, "wall_s": clock.wall}


# ------------------------------------------------------------------------------------ ceiling
@stage
def ceiling(args: dict[str, Any]) -> dict[str, Any]:
    """Decompress (as ingest does, incrementally) and split into lines; count them."""
    from accesswatch.ingest.source import decompressed

    files = log_files(args["inputs"])
    lines = size = 0
    with Clock() as clock:
        for path in files:
            tail = b""
            for chunk in decompressed(_chunks(path), None, MAX_BYTES):
                size += len(chunk)
                parts = (tail + chunk).split(b"\n")
                tail = parts.pop()
                lines += len(parts)
            lines += 1 if tail else 0
    return {"files": len(files), "lines": lines, "bytes": size, "compressed_bytes": sum(p.stat().st_size for p in files),
            "wall_s": clock.wall, "cpu_s": clock.cpu, "lines_per_s": lines / clock.wall}


# ------------------------------------------------------------------------------------ ingest
def _ingest_files(files: list[Path], sink: Callable[..., None], partition_rows: int,
                  current: dict[str, int] | None = None) -> dict[str, int]:
    from accesswatch.ingest.pipeline import ingest_stream

    totals: Counter[str] = Counter()
    for number, path in enumerate(files):
        if current is not None:
            current["file"] = number
        report = ingest_stream(_chunks(path), key=f"access-logs/cms/{path.name}", system="cms",
                               partition_rows=partition_rows, max_decompressed_bytes=MAX_BYTES, sink=sink)
        if report.rejected_reason is not None:
            raise RuntimeError(f"{path.name} rejected: {report.rejected_reason}")
        totals.update(lines_read=report.lines_read, accepted=report.accepted, quarantined=report.quarantined,
                      partitions=report.partitions)
    return dict(totals)


def _parquet(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)  # as ObjectStore.put_parquet
    return buffer.getvalue()


@stage
def ingest(args: dict[str, Any]) -> dict[str, Any]:
    """ingest_stream over the files; every partition encoded to Parquet (kept on disk if ``keep`` is given)."""
    files = log_files(args["inputs"])
    keep = Path(args["keep"]) if args.get("keep") else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    written = {"bytes": 0, "partitions": 0}

    def sink(system: str, day: Any, frame: Any, seq: int) -> None:
        data = _parquet(frame)
        written["bytes"] += len(data)
        written["partitions"] += 1
        if keep is not None:  # named by file (in order), then partition: the cases stage groups by file
            (keep / f"f{current['file']:03d}-{system}-{day}-{written['partitions']:05d}.parquet").write_bytes(data)

    current = {"file": 0}
    with Clock() as clock:
        totals = _ingest_files(files, sink, int(args.get("partition_rows", 250_000)), current)
    out = {"files": len(files), **totals, "wall_s": clock.wall, "cpu_s": clock.cpu,
           "events_per_s": totals["accepted"] / clock.wall, "parquet_bytes": written["bytes"],
           "input_bytes": sum(p.stat().st_size for p in files)}
    if keep is not None:  # what a footprint query reads: the client_id column alone (after the clock)
        import polars as pl

        out["client_id_parquet_bytes"] = sum(len(_parquet(pl.read_parquet(f, columns=["client_id"])))
                                             for f in keep.glob("*.parquet"))
    return out


# ------------------------------------------------------------------------------------ detect
def reference_index(reference_dir: Path) -> tuple[Any, dict[str, float]]:
    """Read, validate and compile the snapshots as the reference function does (without S3)."""
    import polars as pl

    from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
    from accesswatch.ingest.pipeline import read_table
    from accesswatch.ingest.records import LINE_COLUMN
    from accesswatch.reference import ReferenceIndex, build_index, cross_validate, validate_snapshot
    from accesswatch.rules import CATALOG

    frames: dict[ReferenceKind, pl.DataFrame] = {}
    times: dict[str, float] = {}
    with Clock() as read:
        for path in sorted(reference_dir.iterdir()):
            kind = ReferenceKind(path.name.split(".", 1)[0])
            table = read_table(_chunks(path), key=f"reference/{path.name}", fields=REFERENCE_FIELDS[kind],
                               max_decompressed_bytes=MAX_BYTES)
            rows = table.rows.drop(LINE_COLUMN) if LINE_COLUMN in table.rows.columns else table.rows
            validate_snapshot(kind, rows)
            frames[kind] = rows
        cross_validate(frames)
    times["reference_read_validate_s"] = read.wall
    with Clock() as build:
        index = build_index(frames, "bench", rules=CATALOG)
    times["index_build_s"] = build.wall
    data = index.to_bytes()
    with Clock() as load:
        index = ReferenceIndex.from_bytes(data)
    times["index_load_s"] = load.wall
    times["index_bytes"] = len(data)
    return index, times


@stage
def index(args: dict[str, Any]) -> dict[str, Any]:
    """The reference function's work: snapshots read, validated and compiled; the index written to a file."""
    built, times = reference_index(Path(args["reference"]))
    Path(args["out"]).write_bytes(built.to_bytes())
    return times


def load_index(path: Path) -> tuple[Any, float]:
    """The index as the detect function loads it (from bytes), and the seconds that took."""
    from accesswatch.reference import ReferenceIndex

    data = path.read_bytes()
    with Clock() as load:
        loaded = ReferenceIndex.from_bytes(data)
    return loaded, load.wall


@stage
def detect(args: dict[str, Any]) -> dict[str, Any]:
    """The rule catalog (as the detect function runs it) over every kept partition."""
    import polars as pl

    from accesswatch.detection import detect as run_detect

    index, load_s = load_index(Path(args["index"]))
    times = {"index_load_s": load_s}
    partitions = sorted(Path(args["partitions"]).glob("*.parquet"))
    events = findings = live = 0
    by_rule: Counter[str] = Counter()
    read_s = 0.0
    with Clock() as clock:
        for path in partitions:
            started = time.perf_counter()
            frame = pl.read_parquet(io.BytesIO(path.read_bytes()))
            read_s += time.perf_counter() - started
            found = run_detect(frame, index)
            events += frame.height
            findings += found.height
            live += int((found["rule_status"] == "live").sum())
            by_rule.update(found["rule"].to_list())
    detect_s = clock.wall - read_s
    return {**times, "partitions": len(partitions), "events": events, "findings": findings, "live_findings": live,
            "by_rule": dict(sorted(by_rule.items())), "wall_s": clock.wall, "cpu_s": clock.cpu,
            "parquet_read_s": read_s, "detect_s": detect_s, "events_per_s": events / detect_s,
            "events_per_s_with_read": events / clock.wall}


# ------------------------------------------------------------------------------------ pipeline
@stage
def pipeline(args: dict[str, Any]) -> dict[str, Any]:
    """Ingest and detect in one process: each partition is encoded, decoded and detected as it fills."""
    import polars as pl

    from accesswatch.detection import detect as run_detect

    index, load_s = load_index(Path(args["index"]))
    times = {"index_load_s": load_s}
    files = log_files(args["inputs"])
    found = {"findings": 0}

    def sink(system: str, day: Any, frame: Any, seq: int) -> None:
        events = pl.read_parquet(io.BytesIO(_parquet(frame)))
        found["findings"] += run_detect(events, index).height

    with Clock() as clock:
        totals = _ingest_files(files, sink, int(args.get("partition_rows", 250_000)))
    return {**times, "files": len(files), **totals, "findings": found["findings"], "wall_s": clock.wall,
            "cpu_s": clock.cpu, "events_per_s": totals["accepted"] / clock.wall}


# ------------------------------------------------------------------------------------ e2e
class ApiCounter:
    """Every AWS API call made in this process (handlers, the CLI and moto's Step Functions tasks)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        # DynamoDB items read or written, as DynamoDB bills them (``dynamodb_items``), not calls
        self.tables: Counter[str] = Counter()
        self.label = ""  # who is calling now (a handler, a phase): DynamoDB calls are also counted by label
        self.by_label: Counter[str] = Counter()  # "label|table|operation"
        self.kinds: Counter[str] = Counter()  # "label|table|item kind|operation" (kind: the pk/sk prefixes)
        self.split: CpuSplit | None = None  # the counting's own CPU kept apart from the call's (``CpuSplit``)

    def install(self) -> Callable[[], None]:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
        counter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return original(client, operation, params)
            finally:
                if counter.split is not None:
                    counter.split.enter("bench")
                try:
                    counter.count(client, operation, params, time.perf_counter() - started)
                finally:
                    if counter.split is not None:
                        counter.split.leave()

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign,attr-defined]

        def restore() -> None:
            botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign,attr-defined]

        return restore

    def count(self, client: Any, operation: str, params: dict[str, Any], seconds: float) -> None:
        """One call's counts: by operation, its seconds, and DynamoDB's items by table and caller."""
        service = client.meta.service_model.service_name
        key = f"{service}:{operation}"
        self.calls[key] += 1
        self.seconds[key] += seconds
        if service == "dynamodb":
            for table, item_params, units in dynamodb_items(operation, params):
                self.tables[f"{table}:{operation}"] += units
                self.by_label[f"{self.label}|{table}|{operation}"] += units
                self.kinds[f"{self.label}|{table}|{item_kind(item_params)}|{operation}"] += units

    def __enter__(self) -> ApiCounter:
        """Counting for the block's length (``install``, then its restore however the block ends)."""
        self._restore = self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()


class CpuSplit:
    """The process's CPU seconds split by whose work it was, from each thread's own CPU clock.

    - ``handler``: a function's own code (its handler, the layer, powertools, pydantic), as on AWS;
    - ``client``: inside a handler's AWS call but outside the service (boto3, botocore's validation and
      serialisation): the part of a call that a Lambda function pays on AWS too;
    - ``service``: the emulated service answering (moto's responses and models, the runtime's direct
      dispatch and its adapters), including when a handler is not the caller (the run's own reads);
    - ``other``: the rest of the process: moto's Step Functions interpreter between its tasks, the runtime's
      threads (delivery, settle), CLI-side code outside calls, and threads no wrapper sees (polars' pool);
    - ``bench``: the benchmark's own counting of calls (``ApiCounter``), kept out of the others;
    - ``gc``: Python's cyclic garbage collector, in whichever thread it ran: its cost grows with every object the
      process holds (moto's items and executions), not with what the code that set it off does, so it is kept
      out of the others.

    ``handler + client`` is the deployed code's own work: no emulation, however fast, takes it away."""

    REGIONS = ("handler", "client", "service", "bench", "gc")

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._local = threading.local()
        # Re-entrant: a garbage collection set off under the lock calls back into ``_add``.
        self._lock = threading.RLock()

    def enter(self, region: str) -> None:
        now = self._clock()
        stack = self._stack()
        if stack:
            outer = stack[-1]
            since, outer[1] = outer[1], now
            self._add(outer[0], now - since)
        stack.append([region, now])

    def leave(self) -> None:
        now = self._clock()
        stack = self._stack()
        region, since = stack.pop()
        if stack:
            stack[-1][1] = now
        self._add(region, now - since)

    def _clock(self) -> float:
        """This thread's CPU clock with its garbage collections taken out, so that it stands still while one runs.

        A collection can run between any two calls: Python 3.12 runs one at the eval breaker, in whichever thread
        checks it next, not at the allocation that set it off. So the regions' bookkeeping cannot be ordered
        around it; instead their clock does not count it. A collection between reading the collections' total
        and the thread's clock changes the total, and the clock is read again."""
        local = self._local
        while True:
            collected: float = getattr(local, "collected", 0.0)
            collecting: float | None = getattr(local, "collecting", None)
            if collecting is not None:  # called during a collection (a finalizer's call): the clock stands still
                return collecting - collected
            now = time.thread_time()
            if getattr(local, "collected", 0.0) == collected:
                return now - collected

    def _stack(self) -> list[list[Any]]:
        stack: list[list[Any]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _add(self, region: str, seconds: float) -> None:
        with self._lock:
            self.seconds[region] += seconds

    def wrapped(self, region: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        split = self

        def run(*args: Any, **kwargs: Any) -> Any:
            split.enter(region)
            try:
                return fn(*args, **kwargs)
            finally:
                split.leave()
        return run

    def client_call(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """An AWS call: ``client`` when a handler (or another region) makes it, left as it is otherwise (a
        call of the run itself counts as ``other`` on its client side)."""
        inside = self.wrapped("client", fn)

        def run(*args: Any, **kwargs: Any) -> Any:
            return (inside if self._stack() else fn)(*args, **kwargs)
        return run

    def _collecting(self, phase: str, _info: dict[str, Any]) -> None:
        """A garbage collection (``gc.callbacks``), charged to ``gc`` and taken out of its thread's ``_clock``."""
        local, now = self._local, time.thread_time()
        if phase == "start":
            local.collecting = now
            return
        started: float | None = getattr(local, "collecting", None)
        if started is not None:
            local.collecting = None
            local.collected = getattr(local, "collected", 0.0) + (now - started)
            self._add("gc", now - started)

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()

    def installed(self) -> contextlib.ExitStack:
        """botocore's calls wrapped (``client_call``; over an ``ApiCounter`` installed before), the service's
        entry points (moto's dispatch, ``BaseResponse.call_action``, and the runtime's direct dispatch,
        ``direct.retried``: DynamoDB and Step Functions), and each garbage collection timed."""
        import gc

        import botocore.client
        from moto.core.botocore_stubber import BotocoreStubber
        from moto.core.responses import BaseResponse

        from accesswatch_tools.embedded.adapters import direct

        stack = contextlib.ExitStack()
        calls = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
        stack.enter_context(mock.patch.object(botocore.client.BaseClient, "_make_api_call", self.client_call(calls)))
        gc.callbacks.append(self._collecting)
        stack.callback(gc.callbacks.remove, self._collecting)
        # moto's ordinary path from botocore's send on (URL matching, its dispatch, S3's own handlers), then the
        # action of every service that has one
        stack.enter_context(mock.patch.object(BotocoreStubber, "__call__", self.wrapped("service", BotocoreStubber.__call__)))
        stack.enter_context(mock.patch.object(BaseResponse, "call_action",
                                              self.wrapped("service", BaseResponse.call_action)))
        stack.enter_context(mock.patch.object(direct, "retried", self.wrapped("service", direct.retried)))
        return stack

    def as_dict(self, process_cpu_s: float) -> dict[str, float]:
        with self._lock:
            split = {region: round(self.seconds.get(region, 0.0), 3) for region in self.REGIONS}
        split["other"] = round(max(0.0, process_cpu_s - sum(split.values())), 3)
        split["deployed_code"] = round(split["handler"] + split["client"], 3)
        return split


def dynamodb_items(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    """(table, the item's parameters, units) for every item a DynamoDB call reads or writes, counted as the
    service bills request units: a batch call counts each of its items, a transaction each item twice
    (TransactWriteItems / TransactGetItems cost two units per item), a query or scan once (its items are
    not known before the response). Calls without a table name (ListTables, ...) count nothing."""
    if operation == "BatchWriteItem":
        return [(table, request.get("PutRequest", {}) or {"Key": request.get("DeleteRequest", {}).get("Key", {})}, 1)
                for table, requests in params.get("RequestItems", {}).items() for request in requests]
    if operation == "BatchGetItem":
        return [(table, {"Key": key}, 1)
                for table, request in params.get("RequestItems", {}).items() for key in request.get("Keys", [])]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for entry in params.get("TransactItems", []):
            (_action, item_params), = entry.items()
            out.append((str(item_params.get("TableName", "")), item_params, 2))
        return out
    table = params.get("TableName")
    return [(str(table), params, 1)] if table else []


def _text(value: Any) -> str:
    if isinstance(value, dict):  # a low-level client's attribute value ({"S": ...})
        value = value.get("S", "")
    return value if isinstance(value, str) else ""


def item_kind(params: dict[str, Any]) -> str:
    """What an item is, from its key: the cases table's ``pk``/``sk`` prefixes (``CASE#/HIST#``,
    ``USER#/OPEN``, ``RISK#/LEDGER``, ``QUEUE/``, ...); other tables' items are all of one kind."""
    key = params.get("Key") or params.get("Item") or {}
    if "pk" not in key:
        return "query" if params.get("KeyConditionExpression") is not None else "item"
    pk, sk = _text(key.get("pk")), _text(key.get("sk"))
    if "#" not in pk:  # QUEUE/<user>, BUDGET/<day>, REVIEW/<week>, RULESTATS/<rule>: the sk is a value
        return f"{pk}/*"
    return f"{pk.split('#', 1)[0]}#/{sk.split('#', 1)[0]}{'#' if '#' in sk else ''}"


DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


# The phases of a run: each function's invocations belong to one (other functions: a phase of their own).
FUNCTION_PHASES = {"ReferenceFunction": "reference", "IngestFunction": "ingest", "DetectFunction": "detect",
                   "DetectionOutcomeFunction": "detect", "CaseQueueFunction": "cases", "CaseStepFunction": "cases"}
PHASE_ORDER = ("upload", "upload_reference", "upload_logs", "reference", "ingest", "detect", "cases", "settle",
               "export")


class RunRecorder:
    """What a run through ``run_world`` has done so far: each upload, the wait and the export timed
    (``run_world``'s own steps, wrapped), and every Lambda invocation the runtime reports
    (``EmbeddedAws(on_invocation=...)``). Read at the end, or by the watchdog when the budget runs out."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.on_step: list[Callable[[], None]] = []  # called at each change of step (``RssTimeline``)
        self.step = "starting the runtime"
        self.uploads: list[tuple[str, float, float]] = []  # (key, start, end), monotonic seconds
        self.steps: dict[str, list[float]] = {}  # settle, export: [start, end or nan while running]
        self.invocations: list[Any] = []  # embedded.runtime.Invocation, appended from any thread
        self.handled: list[tuple[str, float, float]] = []  # (function, monotonic start, end) of each handler run
        self.files = {"reference": 0, "logs": 0}

    @property
    def step(self) -> str:
        """What the run is doing now (an upload, settle, export...)."""
        return self._step

    @step.setter
    def step(self, name: str) -> None:
        self._step = name
        for listener in self.on_step:
            listener()

    def on_invocation(self, record: Any) -> None:
        self.invocations.append(record)

    def busy(self) -> defaultdict[str, float]:
        """Seconds inside each function's handler (its runs, ``handled``)."""
        seconds: defaultdict[str, float] = defaultdict(float)
        for function, began, ended in list(self.handled):
            seconds[function] += ended - began
        return seconds

    def handler_runs(self) -> dict[str, int]:
        return dict(Counter(function for function, _, _ in list(self.handled)))

    def wrap_upload(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def upload(aws: Any, path: Path, key: str, *a: Any, **k: Any) -> Any:
            kind = "reference" if key.startswith("reference/") else "logs"
            self.step = f"uploading {kind} ({path.name})"
            started = time.monotonic()
            try:
                return original(aws, path, key, *a, **k)
            finally:
                self.uploads.append((key, started, time.monotonic()))
        return upload

    def wrap_step(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            self.step = name
            self.steps[name] = [time.monotonic(), math.nan]
            try:
                return original(*a, **k)
            finally:
                self.steps[name][1] = time.monotonic()
        return run

    def phases(self) -> dict[str, dict[str, float]]:
        """Each phase from its first start to its last end (seconds from the run's start; an invocation
        starts when it is invoked, so its span includes any wait for the runtime, which runs one handler
        at a time), the seconds of its own work (busy: in the upload calls, in the handlers) and how many
        uploads, invocations or steps there were."""
        now = time.monotonic()
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        busy: defaultdict[str, float] = defaultdict(float)
        for function, seconds in self.busy().items():
            busy[FUNCTION_PHASES.get(function, function)] += seconds
        for key, started, ended in list(self.uploads):
            spans["upload"].append((started, ended))
            spans["upload_reference" if key.startswith("reference/") else "upload_logs"].append((started, ended))
        for record in list(self.invocations):
            spans[FUNCTION_PHASES.get(record.function, record.function)].append(
                (record.started, record.started + record.duration_s))
        for name, (started, ended) in list(self.steps.items()):
            spans[name].append((started, now if math.isnan(ended) else ended))
        order = {name: i for i, name in enumerate(PHASE_ORDER)}
        return {name: {"start_s": round(min(s for s, _ in got) - self.t0, 3),
                       "end_s": round(max(e for _, e in got) - self.t0, 3),
                       "span_s": round(max(e for _, e in got) - min(s for s, _ in got), 3),
                       "busy_s": round(busy[name] if name in busy else sum(e - s for s, e in got), 3),
                       "count": len(got)}
                for name, got in sorted(spans.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))}

    def by_function(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        busy = self.busy()
        for record in list(self.invocations):
            row = out.setdefault(record.function, {"invocations": 0, "errors": 0, "busy_s": busy[record.function],
                                                   "invoked_s": 0.0, "first_start_s": math.inf, "last_end_s": 0.0})
            row["invocations"] += 1
            row["errors"] += int(record.errored)
            row["invoked_s"] += record.duration_s  # from invoked to returned, any wait for the runtime included
            row["first_start_s"] = min(row["first_start_s"], record.started - self.t0)
            row["last_end_s"] = max(row["last_end_s"], record.started + record.duration_s - self.t0)
        return {name: {k: round(v, 3) for k, v in row.items()} for name, row in sorted(out.items())}

    def progress(self) -> dict[str, Any]:
        """How far the run got: files uploaded, and files and partitions through each function."""
        done = Counter(r.function for r in list(self.invocations) if not r.errored)
        uploads = list(self.uploads)
        return {"step": self.step,
                "reference_uploaded": sum(1 for key, _, _ in uploads if key.startswith("reference/")),
                "reference_files": self.files["reference"],
                "logs_uploaded": sum(1 for key, _, _ in uploads if not key.startswith("reference/")),
                "log_files": self.files["logs"],
                "files_ingested": done.get("IngestFunction", 0), "partitions_detected": done.get("DetectFunction", 0),
                "files_detected": done.get("DetectionOutcomeFunction", 0),
                "case_steps": done.get("CaseStepFunction", 0)}


def resident_mb() -> float:
    """The process's resident memory now (``/proc/self/statm``; 0.0 where there is none), where ``peak_rss_mb``
    is only the highest ever."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssTimeline:
    """When in a run its memory peaks, and what the run was doing then: the resident memory and the number of
    threads sampled every ``interval_s`` by a daemon thread and at each change of the run's step, each sample with
    that step (``RunRecorder.step``); at the end, the handlers that were running at the highest sample. A peak shorter
    than the interval can fall between samples: ``peak_rss_mb`` (the kernel's) is the true height, this is where.
    Handlers are placed by their own runs (``RunRecorder.handled``), not by their invocations, whose spans include
    the wait for the runtime's lock while another handler runs."""

    def __init__(self, recorder: RunRecorder, interval_s: float = 0.25) -> None:
        self.recorder, self.interval_s = recorder, interval_s
        self.samples: list[tuple[float, float, int, str]] = []  # (monotonic s, MB, threads, step)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def __enter__(self) -> RssTimeline:
        self.recorder.on_step.append(self.take)  # every step sampled, however short
        self.take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.recorder.on_step.remove(self.take)
        self.take()

    def take(self) -> None:
        self.samples.append((time.monotonic(), resident_mb(), threading.active_count(), self.recorder.step))

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.take()

    def summary(self, points: int = 40) -> dict[str, Any]:
        samples = sorted(self.samples)  # taken from two threads (the sampler's, and the run's at a change of step)
        if not samples:
            return {}
        t0 = self.recorder.t0
        at, top, threads, step = max(samples, key=lambda s: s[1])
        by_step: dict[str, float] = {}
        for _, mb, _, name in samples:
            name = re.sub(r" \(.*\)$", "", name)  # "uploading logs (file)" -> "uploading logs"
            by_step[name] = max(by_step.get(name, 0.0), round(mb, 1))
        handled = list(self.recorder.handled)
        running = Counter(name for name, began, ended in handled if began <= at <= ended)
        span = max(samples[-1][0] - samples[0][0], 1e-9)
        buckets: dict[int, tuple[float, float, int, str]] = {}
        for sample in samples:  # the highest sample of each of ``points`` equal slices of the run
            index = min(points - 1, int((sample[0] - samples[0][0]) / span * points))
            if index not in buckets or sample[1] > buckets[index][1]:
                buckets[index] = sample
        timeline = [sample for _, sample in sorted(buckets.items())]
        if timeline[-1] is not samples[-1]:
            timeline.append(samples[-1])  # the last sample too, so that the timeline reaches the end
        return {"sampled_peak_mb": round(top, 1), "at_s": round(at - t0, 1), "step": step, "threads": threads,
                "handlers_running": dict(running), "max_mb_by_step": by_step,
                "largest_rise_mb_by_function": self._rises(samples, handled),
                "max_threads": max(s[2] for s in samples), "interval_s": self.interval_s,
                "timeline": [[round(s[0] - t0, 1), round(s[1]), s[2]] for s in timeline]}

    @staticmethod
    def _rises(samples: list[tuple[float, float, int, str]], handled: list[tuple[str, float, float]]) -> dict[str, float]:
        """For each function, the most one of its handler runs raised the resident memory: the highest sample while
        it ran less the last sample before it began. Handlers run one at a time (the runtime's lock), so a rise is
        that handler's, with whatever the runtime's threads allocated meanwhile."""
        times = [sample[0] for sample in samples]
        rises: dict[str, float] = {}
        for name, began, ended in handled:
            first = bisect.bisect_left(times, began)
            last = bisect.bisect_right(times, ended)
            if first == 0 or first >= last:
                continue  # no sample before it, or none while it ran
            rise = max(sample[1] for sample in samples[first:last]) - samples[first - 1][1]
            rises[name] = max(rises.get(name, 0.0), round(rise, 1))
        return dict(sorted(rises.items(), key=lambda kv: -kv[1]))


class Watchdog:
    """The stage's time budget: when it runs out, print what the run did so far as the stage's result
    (``finished: false``) and end the process; nothing is extrapolated."""

    def __init__(self, seconds: float, report: Callable[[], dict[str, Any]]) -> None:
        self.report = report
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def __enter__(self) -> Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()

    def _fire(self) -> None:
        try:
            result = self.report()
        except Exception as exc:  # noqa: BLE001 - the report must be written whatever went wrong
            result = {"finished": False, "report_error": repr(exc)}
        result["peak_rss_mb"] = peak_rss_mb()
        stream = sys.__stdout__ or sys.stdout
        stream.write("RESULT " + json.dumps(result, default=str) + "\n")
        stream.flush()
        os._exit(0)


def sns_notifications() -> Counter[str]:
    """Every message published to the stack's SNS topics (moto keeps them), by its ``event`` field."""
    from moto.sns.models import sns_backends

    from accesswatch_tools.embedded.runtime import ACCOUNT_ID, REGION

    counts: Counter[str] = Counter()
    for topic in list(sns_backends[ACCOUNT_ID][REGION].topics.values()):
        for sent in list(topic.sent_notifications):
            try:
                event = json.loads(sent[1]).get("event", "?")
            except (ValueError, AttributeError):
                event = "?"
            counts[str(event)] += 1
    return counts


def _jsonl_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


@stage
def e2e(args: dict[str, Any]) -> dict[str, Any]:
    """A world through the embedded runtime exactly as ``accesswatch run --in-process`` runs it
    (``EmbeddedAws`` then ``run_world``: every reference snapshot uploaded, then every log file, the
    wait for detection and cases, the export), with a time budget (``timeout_s``): phases from the
    runtime's invocation records, every AWS API call counted, the outputs counted from what the run
    exported and from the SNS topics."""
    from accesswatch_tools.embedded.runtime import EmbeddedAws
    from accesswatch_tools.operate import world_run

    world = Path(args["world"])
    out = Path(args["out"])
    budget = float(args.get("timeout_s", 3600))
    api = ApiCounter()
    split = CpuSplit()
    api.split = split
    recorder = RunRecorder()
    recorder.files = {"reference": len(world_run.reference_files(world / "reference")),
                      "logs": len(world_run.log_files(world / "logs", "cms"))}
    clock = Clock()

    def timed(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(event: Any, context: Any) -> Any:
            began = time.monotonic()
            caller, api.label = api.label, name  # handlers run one at a time (the runtime's lock)
            split.enter("handler")
            try:
                return handler(event, context)
            finally:
                split.leave()
                api.label = caller
                recorder.handled.append((name, began, time.monotonic()))
        return run

    def calls() -> dict[str, Any]:
        made = dict(api.calls)
        by_service: Counter[str] = Counter()
        for key, n in made.items():
            by_service[key.split(":", 1)[0]] += n
        return {"api_calls": dict(Counter(made).most_common()), "api_calls_total": sum(made.values()),
                "api_calls_by_service": dict(by_service.most_common()),
                "api_seconds": {k: round(v, 3) for k, v in dict(api.seconds).items()}}

    def unfinished() -> dict[str, Any]:
        return {"finished": False, "timeout_s": budget,
                "wall_s": time.perf_counter() - clock.wall0, "cpu_s": time.process_time() - clock.cpu0,
                "progress": recorder.progress(), "phases": recorder.phases(), "by_function": recorder.by_function(),
                "handler_invocations": recorder.handler_runs(), "cpu_split": split.as_dict(time.process_time() - clock.cpu0),
                "rss": rss.summary(), **calls()}

    restore = api.install()
    split_installed = split.installed()
    rss = RssTimeline(recorder).__enter__()
    try:
        with Clock() as start:
            aws = EmbeddedAws(handler_wrapper=timed, on_invocation=recorder.on_invocation).__enter__()
        try:
            with contextlib.ExitStack() as patches:
                patches.enter_context(mock.patch.object(world_run, "upload", recorder.wrap_upload(world_run.upload)))
                for name in ("settle", "export_all"):
                    patches.enter_context(mock.patch.object(
                        world_run, name, recorder.wrap_step("settle" if name == "settle" else "export",
                                                            getattr(world_run, name))))
                recorder.t0 = time.monotonic()
                split.reset()  # the run's work only, as clock.cpu
                with clock, Watchdog(budget, unfinished):
                    outcome = world_run.run_world(aws, world / "reference", world / "logs", out, timeout_s=budget)
                cpu_split = split.as_dict(clock.cpu)  # the run's, as clock.cpu (not the reads and close below)
            table_names = {aws.resource_name(t): t for t in ("FindingsTable", "CasesTable", "LedgerTable",
                                                               "IdempotencyTable")}
            recorder.step = "measuring item sizes"
            items = _item_sizes(aws, table_names) if args.get("item_sizes", True) else {}
            recorder.step = "counting notifications"
            notifications = sns_notifications()
        finally:
            recorder.step = "closing the runtime"
            aws.__exit__(None, None, None)
    finally:
        rss.__exit__()
        split_installed.close()
        restore()
    summary = outcome.summary
    totals = summary["totals"]
    writes_by_table: Counter[str] = Counter()
    reads_by_table: Counter[str] = Counter()
    for key, n in api.tables.items():
        table, operation = key.rsplit(":", 1)
        logical = table_names.get(table, table)
        if operation in DYNAMODB_WRITES:
            writes_by_table[logical] += n
        elif operation in DYNAMODB_READS:
            reads_by_table[logical] += n
    executions = summary.get("executions", {})
    return {
        "finished": True, "timeout_s": budget,
        "startup_s": start.wall, "wall_s": clock.wall, "cpu_s": clock.cpu, "cpu_split": cpu_split,
        "phases": recorder.phases(), "by_function": recorder.by_function(), "progress": recorder.progress(),
        "dynamodb_by_handler": _by_label(api, table_names),
        "events": totals["accepted"], "lines": totals["lines_read"], "files": totals["files"],
        "summary_findings": totals["findings"], "summary_cases": totals["cases"],
        # counted from the run's outputs: the exported files and the messages on the topics
        "findings": _jsonl_lines(out / "findings.jsonl"), "cases": _jsonl_lines(out / "cases.jsonl"),
        "quarantined": _jsonl_lines(out / "quarantine.jsonl"),
        "case_executions": sum(executions.get("CaseStateMachine", {}).values()),
        "detection_executions": sum(executions.get("DetectionStateMachine", {}).values()),
        "notifications": sum(notifications.values()), "notifications_by_event": dict(notifications),
        "findings_by_rule": summary.get("findings_by_rule", {}), "cases_by_status": summary.get("cases_by_status", {}),
        "executions": executions, "problems": outcome.problems[:20],
        **calls(),
        "dynamodb_writes": sum(writes_by_table.values()), "dynamodb_reads": sum(reads_by_table.values()),
        "dynamodb_writes_by_table": dict(writes_by_table), "dynamodb_reads_by_table": dict(reads_by_table),
        "handler_seconds": {k: round(v, 3) for k, v in recorder.busy().items()},
        "handler_invocations": recorder.handler_runs(),
        "item_bytes": items, "rss": rss.summary(),
        "events_per_s": totals["accepted"] / clock.wall if clock.wall else 0.0,
    }


def _by_label(api: ApiCounter, table_names: dict[str, str]) -> dict[str, dict[str, dict[str, int]]]:
    """DynamoDB calls by caller (handler or phase): {label: {"writes"|"reads": {logical table: n}}}."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for key, n in sorted(api.by_label.items()):
        label, table, operation = key.split("|")
        kind = "writes" if operation in DYNAMODB_WRITES else "reads" if operation in DYNAMODB_READS else "other"
        tables = out.setdefault(label or "-", {}).setdefault(kind, {})
        logical = table_names.get(table, table)
        tables[logical] = tables.get(logical, 0) + n
    return out


def _item_sizes(aws: Any, table_names: dict[str, str]) -> dict[str, float]:
    """Mean item size per table, roughly as DynamoDB counts it (names plus values), over up to 2,000 items."""
    client = aws.client("dynamodb")
    sizes: dict[str, float] = {}
    for physical, logical in table_names.items():
        page = client.scan(TableName=physical, Limit=2000)
        items = page.get("Items", [])
        if items:
            sizes[logical] = sum(_item_size(i) for i in items) / len(items)
    return sizes


def _item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + len(json.dumps(value, separators=(",", ":")).encode()) - 8
               for name, value in item.items())


# ------------------------------------------------------------------------------------ cases
class _RecordedExecutions:
    """Stands in for ``dal.executions.Executions``: records the case executions the router would start
    (named after the case, so a second start of one name is the same execution) and starts none."""

    def __init__(self) -> None:
        self.starts: list[str] = []

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        self.starts.append(name)
        return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def send_success(self, token: str, output: dict[str, Any]) -> None:  # pragma: no cover - not used here
        raise NotImplementedError


class _LocalPartitions:
    """Stands in for ``dal.objects.ObjectStore`` where detection reads its partition (a local file)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def get_parquet(self, bucket: str, key: str) -> Any:
        import polars as pl

        return pl.read_parquet(io.BytesIO(self.paths[key].read_bytes()))


def template_scoring_environment() -> dict[str, str]:
    """The detect function's ``CASE_*`` variables as deployed with the template's parameter defaults."""
    from accesswatch_tools.embedded.template import load_template

    template = load_template()
    parameters = template.get("Parameters", {})
    variables = template["Resources"]["DetectFunction"]["Properties"]["Environment"]["Variables"]
    out: dict[str, str] = {}
    for name, value in variables.items():
        if not name.startswith("CASE_") or name == "CASE_STATE_MACHINE_ARN":
            continue
        if isinstance(value, dict) and "Ref" in value:
            value = parameters.get(value["Ref"], {}).get("Default", "")
        out[name] = str(value)
    return out


def _timed(totals: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*a: Any, **k: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            totals[name] += time.perf_counter() - started
    return run


@stage
def cases(args: dict[str, Any]) -> dict[str, Any]:
    """The day's cases from the real routing code, on DynamoDB tables made from template.yaml.

    The tables are those of the embedded runtime (template.yaml on in-process moto); the router is
    ``services.detect.case_router`` (``CaseRouter`` with the weights in force) and the queue is
    ``cases.queue.drain``, with the template's default ``Case*`` parameters. Case executions are recorded
    by name, not started (a case execution publishes one notification, in its ``Notify`` state; a
    finding that joins a case starts nothing and publishes nothing). Two modes:

    - ``per_user`` (default; the whole day in minutes): the rules over every partition, the day's findings
      written to the findings table in batches (set-up, not counted as the system's calls: the detect
      function reads and writes them in batches too, ``FindingStore.stage`` / ``flush``), then ``CaseRouter.route`` once over the day's
      findings, which settles each user once with all of the day's findings, then one ``drain``;
    - ``per_partition`` (as deployed, ~10x the calls): every partition through
      ``services.detect.detect_partition`` (rules, ``FindingStore.stage``, ``route``, which flushes them), file by file in
      delivery order, and ``drain`` after each file as the detection state machine's ``OpenQueuedCases``.
    """
    import polars as pl

    import accesswatch.services.partition_detection as detect_service
    from accesswatch.cases.assign import CaseRouter
    from accesswatch.cases.exceptions import active
    from accesswatch.cases.queue import drain
    from accesswatch.cases.scoring import ScoringSettings
    from accesswatch.config import DetectSettings
    from accesswatch.dal.cases import CaseStore
    from accesswatch.dal.exceptions import ExceptionStore
    from accesswatch.dal.findings import FindingStore
    from accesswatch.reference.index import ReferenceIndex
    from accesswatch.rules import TIER_OF
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    mode = str(args.get("mode", "per_user"))
    if mode not in ("per_user", "per_partition"):
        raise ValueError(f"mode {mode!r}: per_user or per_partition")
    day = date.fromisoformat(str(args["day"]))
    scoring_env = template_scoring_environment()
    scoring = ScoringSettings.from_env(scoring_env)
    index_bytes = Path(args["index"]).read_bytes()
    index = ReferenceIndex.from_bytes(index_bytes)
    by_file: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(Path(args["partitions"]).glob("*.parquet")):
        by_file[path.name.split("-", 1)[0]].append(path)
    keys = {f"curated/{path.name}": path for paths in by_file.values() for path in paths}
    api = ApiCounter()
    restore = api.install()
    phase_s: defaultdict[str, float] = defaultdict(float)
    # Timers around the real functions (this process only).
    detect_service.detect = _timed(phase_s, "rules", detect_service.detect)  # type: ignore[attr-defined]
    FindingStore.stage = _timed(phase_s, "findings_put", FindingStore.stage)  # type: ignore[method-assign]
    FindingStore.write_many = _timed(phase_s, "findings_put", FindingStore.write_many)  # type: ignore[method-assign]
    timed_route = _timed(phase_s, "route", CaseRouter.route)
    queued_users: set[str] = set()
    routed: list[dict[str, int]] = []

    def route(self: CaseRouter, *a: Any, **k: Any) -> Any:
        result = timed_route(self, *a, **k)
        queued_users.update(result.queued)
        routed.append(result.counts())
        return result

    CaseRouter.route = route  # type: ignore[method-assign]
    settles: set[tuple[str, str]] = set()  # (user, partition) pairs with routed findings: route's unit when deployed
    pairs: set[tuple[str, str]] = set()  # (user, client) pairs with routed findings: a case each before contract v2
    immediate_ids: set[str] = set()  # every immediate-tier finding must end in exactly one case
    original_items = detect_service.finding_items

    def finding_items(found: Any, partition_key: str) -> list[dict[str, Any]]:
        made = original_items(found, partition_key)
        routed_ = [i for i in made if i["tier"] != "record"]
        immediate_ids.update(str(i["finding_id"]) for i in routed_ if i["tier"] == "immediate")
        settles.update((str(i["user_id"]), partition_key) for i in routed_)
        pairs.update((str(i["user_id"]), str(i["client_id"])) for i in routed_)
        return made

    detect_service.finding_items = finding_items  # type: ignore[assignment]
    drains: list[dict[str, Any]] = []
    by_rule: Counter[str] = Counter()
    findings_total = events = duplicates = 0
    try:
        with Clock() as start:
            aws = EmbeddedAws().__enter__()
        try:
            dynamodb = aws.resource("dynamodb")
            names = {aws.resource_name(t): t for t in ("FindingsTable", "CasesTable")}
            findings = FindingStore(aws.resource_name("FindingsTable"), dynamodb)
            case_store = CaseStore(aws.resource_name("CasesTable"), dynamodb)
            executions = _RecordedExecutions()
            arn = str(aws.outputs.get("CaseStateMachineArn") or "arn:aws:states:::stateMachine:CaseStateMachine")
            settings = DetectSettings.model_validate({
                "raw_bucket": "raw", "curated_bucket": "curated", "findings_table": aws.resource_name("FindingsTable"),
                "cases_table": aws.resource_name("CasesTable"), "ledger_table": "ledger", "idempotency_table": "idem",
                "case_state_machine_arn": arn})

            def router(marks: Any = findings) -> CaseRouter:
                return detect_service.case_router(cases=case_store, findings=marks, executions=executions,  # type: ignore[arg-type]
                                                  case_state_machine_arn=arn, scoring=scoring)

            def drain_now(file_number: int) -> None:
                api.label = "drain"
                with Clock() as drained:
                    drains.append({**drain(router(), day=day).as_dict(), "file": file_number})
                phase_s["drain"] += drained.wall

            with Clock() as clock:
                if mode == "per_partition":
                    store = _LocalPartitions(keys)
                    indexes = detect_service.IndexCache(lambda _snapshot: index_bytes)
                    for file_number, (_file, paths) in enumerate(sorted(by_file.items())):
                        for path in paths:
                            api.label = "detect"
                            key = f"curated/{path.name}"
                            rows = pl.scan_parquet(path).select(pl.len()).collect().item()
                            outcome = detect_service.detect_partition(
                                {"bucket": "curated", "key": key, "rows": rows, "system": "cms",
                                 "nz_date": day.isoformat()}, index.snapshot_id, settings=settings,
                                store=store, indexes=indexes, findings=findings, cases=case_store,  # type: ignore[arg-type]
                                executions=executions, scoring=scoring)  # type: ignore[arg-type]
                            by_rule.update(outcome["by_rule"])
                            findings_total += int(outcome["findings"])
                            events += int(outcome["events"])
                        drain_now(file_number)
                        sys.stderr.write(f"cases: file {file_number + 1}/{len(by_file)} done at"
                                         f" {time.perf_counter() - clock.wall0:.0f}s\n")
                else:
                    stored: list[dict[str, Any]] = []
                    for path in (p for paths in by_file.values() for p in paths):
                        frame = pl.read_parquet(io.BytesIO(path.read_bytes()))
                        found = detect_service.detect(frame, index)
                        events += frame.height
                        stored.extend(detect_service.finding_items(found, f"curated/{path.name}"))
                    findings_total = len(stored)
                    by_rule.update(str(i["rule"]) for i in stored)
                    # A duplicate delivery in a later partition gives the same finding again: deployed, its put
                    # returns the stored item (cased or ledgered already); here it is stored and routed once.
                    unique = {str(i["finding_id"]): i for i in reversed(stored)}
                    duplicates = len(stored) - len(unique)
                    stored = [i for i in stored if unique.get(str(i["finding_id"])) is i]
                    # As the detect function does it (FindingStore.stage, then the router marks them and
                    # flushes), once over the day: each finding read and written once, in batches.
                    api.label = "route"
                    with Clock() as setup:
                        staged = findings.stage(stored)
                    phase_s["findings_stage"] = setup.wall
                    sys.stderr.write(f"cases: {len(stored):,} findings detected and staged at"
                                     f" {time.perf_counter() - clock.wall0:.0f}s; routing\n")
                    exceptions = active(ExceptionStore(case_store).all(), day)
                    router(staged).route([item for _written, item in staged.results], exceptions=exceptions)
                    drain_now(0)
            api.label = "inspect"
            state = _case_state(case_store)
        finally:
            aws.__exit__(None, None, None)
    finally:
        restore()
    cased_immediate = state.pop("immediate_finding_ids_in_cases")
    immediate_findings = len(immediate_ids)  # distinct: a duplicate delivery is the same finding
    live = sum(n for rule, n in by_rule.items() if TIER_OF.get(rule, "record") != "record")
    by_phase = _by_label(api, names)
    # The system's own routing calls (not set-up, not inspection), by what they scale with: a user's
    # pointer and risk ledger are read (and the ledger written) once per user and partition with routed
    # findings; a finding that enters a case gets its case_id; the rest (case items, pointer claims, the
    # queue and the budget) come with the cases opened.
    routing: dict[str, Counter[str]] = {"per_settle": Counter(), "per_case": Counter(), "per_finding": Counter()}
    kinds: Counter[str] = Counter()
    for key, n in api.kinds.items():
        label, table, kind, operation = key.split("|")
        logical = names.get(table, table)
        kinds[f"{label}|{logical}|{kind}|{operation}"] += n
        if label not in ("detect", "route", "drain"):
            continue
        rw = "writes" if operation in DYNAMODB_WRITES else "reads" if operation in DYNAMODB_READS else "other"
        if logical == "FindingsTable":
            if operation not in ("BatchWriteItem", "BatchGetItem"):  # the findings' own reads and writes: not routing
                routing["per_finding"][f"FindingsTable {rw}"] += n
        elif kind == "RISK#/LEDGER" or (kind == "USER#/OPEN" and operation == "GetItem"):
            routing["per_settle"][f"{logical} {rw}"] += n
        else:
            routing["per_case"][f"{logical} {rw}"] += n
    started = executions.starts
    opened = sum(r["cases_opened"] for r in routed)
    from_queue = sum(int(d["opened"]) for d in drains)
    users = len({u for u, _ in settles})
    return {
        "mode": mode,
        "what": (f"{mode}: " + ("CaseRouter.route once over the day's findings (each user settled once) then "
                                "cases.queue.drain" if mode == "per_user" else
                                "services.detect.detect_partition per partition, cases.queue.drain after each file")
                 + ", on the FindingsTable and CasesTable of template.yaml (embedded runtime, in-process moto),"
                 " template's default Case* parameters; case executions recorded by name, not started;"
                 " notifications = case executions (one Notify state each; joins publish nothing)"),
        "day": day.isoformat(), "scoring": scoring.model_dump(mode="json"), "scoring_environment": scoring_env,
        "startup_s": start.wall, "wall_s": clock.wall, "cpu_s": clock.cpu,
        "phase_s": {k: round(v, 3) for k, v in phase_s.items()},
        "files": len(by_file), "partitions": sum(len(v) for v in by_file.values()),
        "events": events, "findings": findings_total, "duplicate_findings": duplicates, "live_findings": live,
        "immediate_findings": immediate_findings,
        "accumulate_findings": sum(n for rule, n in by_rule.items() if TIER_OF.get(rule) == "accumulate"),
        "immediate_findings_not_in_a_case": len(immediate_ids - cased_immediate),
        "by_rule": dict(sorted(by_rule.items())),
        "users_routed": users, "user_partition_settles": len(settles), "user_client_pairs": len(pairs),
        "cases_opened_immediate": opened, "cases_opened_threshold": from_queue, "cases_opened": opened + from_queue,
        "findings_joined": sum(r["findings_joined"] for r in routed),
        "findings_ledgered": sum(r["findings_ledgered"] for r in routed),
        "findings_suppressed": sum(r["findings_suppressed"] for r in routed),
        "users_queued": len(queued_users),
        "queue_joined": sum(int(d["joined"]) for d in drains), "queue_dropped": sum(int(d["dropped"]) for d in drains),
        "queue_waiting_at_end": drains[-1]["waiting"] if drains else 0,
        "budget": scoring.case_daily_budget, "budget_used": drains[-1]["budget_used"] if drains else 0,
        "drains": drains,
        "execution_starts": len(started), "executions": len(set(started)), "notifications": len(set(started)),
        **state,
        "routing_dynamodb_calls": {k: dict(v) for k, v in routing.items()},
        "dynamodb_by_phase": by_phase, "dynamodb_by_item_kind": dict(sorted(kinds.items())),
        "api_calls": dict(api.calls.most_common()),
    }


def _case_state(cases: Any) -> dict[str, Any]:
    """What the cases table holds at the end: cases by trigger, the contract's checks, item sizes by kind."""
    from accesswatch.dal.cases import split_part
    from accesswatch.dal.paging import items
    from accesswatch.rules import TIER_OF

    immediate_rules = {r for r, t in TIER_OF.items() if t == "immediate"}

    by_trigger: Counter[str] = Counter()
    open_per_user: Counter[str] = Counter()
    finding_cases: defaultdict[str, set[str]] = defaultdict(set)
    listed_twice = 0
    sizes: defaultdict[str, list[int]] = defaultdict(list)
    staging_in_case = lone_accumulate = 0
    immediate_ids: set[str] = set()
    findings_per_case: list[int] = []
    users_in_ledger = 0
    for item in items(cases.table.scan):
        kind = item_kind({"Key": {"pk": item["pk"], "sk": item["sk"]}})
        sizes[kind].append(_plain_item_size(item))
        if kind == "RISK#/LEDGER" and item.get("entries"):
            users_in_ledger += 1
        if kind != "CASE#/CASE":
            continue
        by_trigger[str(item.get("trigger"))] += 1
        if item.get("status") in ("opened", "triaged", "notified", "investigating", "reopened"):
            open_per_user[str(item["user_id"])] += 1
        parts = [split_part(str(p)) for p in item.get("parts") or []]
        findings_per_case.append(len(parts))
        rules = {rule for _f, rule, _c, _s in parts}
        staging_in_case += sum(1 for _f, rule, _c, _s in parts if _is_staging(rule))
        if len(parts) == 1 and not rules & immediate_rules and item.get("trigger") != "random_review":
            lone_accumulate += 1
        listed_twice += len(parts) - len({finding_id for finding_id, _r, _c, _s in parts})
        for finding_id, rule, _c, _s in parts:
            if str(item["case_id"]) in finding_cases[finding_id]:
                continue
            finding_cases[finding_id].add(str(item["case_id"]))
            if rule in immediate_rules:
                immediate_ids.add(finding_id)
    findings_per_case.sort()
    return {
        "cases_by_trigger": dict(by_trigger), "users_with_open_case": len(open_per_user),
        "users_with_more_than_one_open_case": sum(1 for n in open_per_user.values() if n > 1),
        "findings_in_more_than_one_case": sum(1 for cases_ in finding_cases.values() if len(cases_) > 1),
        "findings_listed_twice_in_a_case": listed_twice,
        "findings_in_cases": len(finding_cases), "immediate_findings_in_cases": len(immediate_ids),
        "immediate_finding_ids_in_cases": immediate_ids,
        "staging_findings_in_cases": staging_in_case, "cases_from_one_accumulate_finding": lone_accumulate,
        "findings_per_case": {"median": findings_per_case[len(findings_per_case) // 2] if findings_per_case else 0,
                              "max": findings_per_case[-1] if findings_per_case else 0},
        "users_in_ledger": users_in_ledger,
        "items_by_kind": {k: len(v) for k, v in sorted(sizes.items())},
        "item_bytes_by_kind": {k: round(sum(v) / len(v), 1) for k, v in sorted(sizes.items())},
    }


def _plain_item_size(item: dict[str, Any]) -> int:
    """An item read through the resource layer (plain values), sized roughly as DynamoDB counts it."""
    return sum(len(name.encode()) + len(json.dumps(value, separators=(",", ":"), default=str).encode())
               - (2 if isinstance(value, str) else 0) for name, value in item.items())


def _is_staging(rule: str) -> bool:
    from accesswatch.rules import RULES_BY_ID

    found = RULES_BY_ID.get(rule)
    return found is None or found.status != "live"


PHASE = re.compile(r"^(?P<label>[a-z ]+?)\s+\d+/\d+ done in (?P<s>[0-9.]+)s", re.MULTILINE)


def phases_of(stderr: str) -> dict[str, float]:
    """run_world's progress lines ('ingesting logs 13/13 done in 42.0s') as {phase: seconds}."""
    return {m["label"].strip(): float(m["s"]) for m in PHASE.finditer(stderr.replace("\r", "\n"))}


def main(argv: list[str]) -> int:
    name, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = STAGES[name](args)
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
