"""The measured stages. Each runs in a fresh interpreter (``python -m accesswatch.bench.stages STAGE ARGS``)
so that its peak RSS (``ru_maxrss``) is its own; it prints one ``RESULT {json}`` line.

- ``ceiling``: decompress and split lines, nothing else: what this machine can do at best;
- ``ingest``: :func:`ingest_stream` as the ingest function runs it (partitions encoded to Parquet);
- ``index``: the reference index compiled from the snapshots (the reference function's work);
- ``detect``: the index loaded from bytes, then the rule catalog over the partitions;
- ``pipeline``: ingest and detect in one process (each partition detected as it fills);
- ``e2e``: the whole system on the embedded runtime (template.yaml on in-process moto), as
  ``accesswatch run --in-process`` runs it, counting every AWS API call.
"""

from __future__ import annotations

import io
import json
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
    from accesswatch.bench.data import ministry_day

    with Clock() as clock:
        summary = ministry_day(Path(args["out"]), events=int(args["events"]), seed=int(args.get("seed", 8)))
    return {"wall_s": clock.wall, "events": summary["events"], "lines": summary["lines"],
            "users": summary["staff"], "service_accounts": summary["service_accounts"],
            "clients": summary["clients"], "truth": summary["truth"], "files": summary["files"]}


@stage
def make_csv(args: dict[str, Any]) -> dict[str, Any]:
    from accesswatch.bench.data import day_ids, gzip_csv

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
def _ingest_files(files: list[Path], sink: Callable[..., None], partition_rows: int) -> dict[str, int]:
    from accesswatch.ingest.pipeline import ingest_stream

    totals: Counter[str] = Counter()
    for path in files:
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
        if keep is not None:
            (keep / f"{system}-{day}-{written['partitions']:05d}.parquet").write_bytes(data)

    with Clock() as clock:
        totals = _ingest_files(files, sink, int(args.get("partition_rows", 250_000)))
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
        index = build_index(frames, "bench")
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

    from accesswatch.detect import detect as run_detect

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

    from accesswatch.detect import detect as run_detect

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
        self.tables: Counter[str] = Counter()

    def install(self) -> Callable[[], None]:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
        counter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return original(client, operation, params)
            finally:
                service = client.meta.service_model.service_name
                key = f"{service}:{operation}"
                counter.calls[key] += 1
                counter.seconds[key] += time.perf_counter() - started
                table = params.get("TableName") if service == "dynamodb" else None
                if table:
                    counter.tables[f"{table}:{operation}"] += 1

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign,attr-defined]

        def restore() -> None:
            botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign,attr-defined]

        return restore


DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


@stage
def e2e(args: dict[str, Any]) -> dict[str, Any]:
    """The world through the embedded runtime, as ``accesswatch run --in-process`` does it."""
    from accesswatch.cli.local import run_world
    from accesswatch.local.runtime import EmbeddedAws

    world = Path(args["world"])
    out = Path(args["out"])
    api = ApiCounter()
    restore = api.install()
    handler_s: defaultdict[str, float] = defaultdict(float)
    handler_n: Counter[str] = Counter()

    def timed(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                handler_s[name] += time.perf_counter() - started
                handler_n[name] += 1
        return run

    try:
        with Clock() as start:
            aws = EmbeddedAws(handler_wrapper=timed).__enter__()
        try:
            with Clock() as clock:
                outcome = run_world(aws, world / "reference", world / "logs", out, timeout_s=float(args.get(
                    "timeout_s", 3600)))
            table_names = {aws.resource_name(t): t for t in ("FindingsTable", "CasesTable", "LedgerTable",
                                                               "IdempotencyTable")}
            items = _item_sizes(aws, table_names) if args.get("item_sizes", True) else {}
        finally:
            aws.__exit__(None, None, None)
    finally:
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
    return {
        "startup_s": start.wall, "wall_s": clock.wall, "cpu_s": clock.cpu,
        "events": totals["accepted"], "lines": totals["lines_read"], "files": totals["files"],
        "findings": totals["findings"], "cases": totals["cases"],
        "findings_by_rule": summary.get("findings_by_rule", {}), "executions": summary.get("executions", {}),
        "problems": outcome.problems[:20],
        "api_calls": dict(api.calls.most_common()), "api_seconds": {k: round(v, 3) for k, v in api.seconds.items()},
        "dynamodb_writes": sum(writes_by_table.values()), "dynamodb_reads": sum(reads_by_table.values()),
        "dynamodb_writes_by_table": dict(writes_by_table), "dynamodb_reads_by_table": dict(reads_by_table),
        "handler_seconds": {k: round(v, 3) for k, v in handler_s.items()}, "handler_invocations": dict(handler_n),
        "item_bytes": items, "phases": args.get("phases", {}),
        "events_per_s": totals["accepted"] / clock.wall if clock.wall else 0.0,
    }


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
