"""One source file from bytes to partitions: the ingest logic, free of AWS.

``ingest_stream`` reads the file block by block, validates its rows, hands full partitions to a
sink as soon as they fill, and returns what it saw. Memory is bounded by the block size and the
partition size, whatever the size of the file.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from accesswatch.contract import EVENT_FIELDS, EVENT_SCHEMA
from accesswatch.ingest.events import missing_required_columns, validate_events
from accesswatch.ingest.identity import KnownEvents
from accesswatch.ingest.records import (
    CsvHeader,
    ParsedBlock,
    RejectedLine,
    parse_csv_block,
    parse_jsonl_block,
    raw_lines,
    split_header,
)
from accesswatch.ingest.source import (
    Block,
    FileFormat,
    FileRejected,
    decompressed,
    kind_from_key,
    record_blocks,
    sniff_format,
)


@dataclass(frozen=True)
class QuarantinedLine:
    """A line that is not an event (or a whole file, ``line`` None), and what a person needs to fix it.

    ``field``: the field the reason is about (None when the line could not be read into fields); ``fields``:
    the names of the fields that hold a value on the line (empty when it could not be read into fields).
    ``raw``: the line's text, kept in memory only; written only where configured (``quarantine_raw_jsonl``).
    """

    line: int | None  # None: the whole file
    reason: str
    raw: str = ""
    field: str | None = None
    fields: tuple[str, ...] = ()

    def record(self, key: str) -> dict[str, object]:
        """The quarantine record: names, numbers and the reason, never a value of the line."""
        return {"key": key, "line": self.line, "reason": self.reason, "field": self.field,
                "fields": list(self.fields)}


@dataclass
class FileReport:
    key: str
    fmt: str | None = None
    lines_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    conflicts: int = 0  # of the quarantined: lines reusing an accepted event_id with other content
    rejected_reason: str | None = None
    partitions: int = 0
    quarantine: list[QuarantinedLine] = field(default_factory=list)

    @property
    def conserved(self) -> bool:
        return self.lines_read == self.accepted + self.quarantined


PartitionSink = Callable[[str, date, pl.DataFrame, int], None]
"""Called with (system, nz_date, events, sequence number) for every full partition."""


class Partitioner:
    """Buffers events per New Zealand date and emits partitions of at most ``rows`` events. With
    ``known``, every partition is first checked for reused event ids (ingest/identity.py): conflicting
    lines leave the partition and are quarantined in ``report``."""

    def __init__(self, system: str, rows: int, sink: PartitionSink, *, known: KnownEvents | None = None,
                 report: FileReport | None = None) -> None:
        self.system = system
        self.rows = rows
        self.sink = sink
        self.known = known
        self.report = report
        self.buffers: dict[date, list[pl.DataFrame]] = {}
        self.sizes: dict[date, int] = {}
        self.emitted = 0

    def add(self, events: pl.DataFrame) -> None:
        if events.is_empty():
            return
        for (day,), group in events.partition_by("nz_date", as_dict=True, maintain_order=True).items():
            self.buffers.setdefault(day, []).append(group)
            self.sizes[day] = self.sizes.get(day, 0) + group.height
            while self.sizes[day] >= self.rows:
                combined = pl.concat(self.buffers[day])
                self._emit(day, combined.head(self.rows))
                rest = combined.slice(self.rows)
                self.buffers[day] = [rest] if rest.height else []
                self.sizes[day] = rest.height

    def flush(self) -> None:
        for day in sorted(self.buffers):
            if self.sizes.get(day):
                self._emit(day, pl.concat(self.buffers[day]))
        self.buffers.clear()
        self.sizes.clear()

    def _emit(self, day: date, frame: pl.DataFrame) -> None:
        if self.known is not None:
            frame, conflicts = self.known.admit(self.system, day, frame)
            if conflicts and self.report is not None:
                self.report.accepted -= len(conflicts)
                self.report.quarantined += len(conflicts)
                self.report.conflicts += len(conflicts)
                self.report.quarantine.extend(QuarantinedLine(c.line, c.reason, c.raw, "event_id", c.fields)
                                              for c in conflicts)
            if frame.is_empty():
                return
        self.sink(self.system, day, frame, self.emitted)
        self.emitted += 1


def ingest_stream(
    chunks: Iterable[bytes],
    *,
    key: str,
    system: str,
    partition_rows: int,
    max_decompressed_bytes: int,
    sink: PartitionSink,
    block_bytes: int = 8 * 1024 * 1024,
    known: KnownEvents | None = None,
) -> FileReport:
    """Read, validate and partition one access-log file. Raises nothing for bad content.

    Reading (the object's chunks, decompression, cutting into blocks) runs one block ahead on a
    worker thread while this thread parses and validates the block before: zlib and polars both
    release the GIL, so the two overlap on a second core. Blocks of 8 MiB keep the peak memory of
    the polars work on a block well under the ingest function's budget, at no cost in speed.
    """
    report = FileReport(key=key)
    partitioner = Partitioner(system, partition_rows, sink, known=known, report=report)
    kind = kind_from_key(key)
    try:
        stream = decompressed(chunks, kind.gzipped, max_decompressed_bytes)
        with _Prefetch(_blocks_with_format(stream, kind.fmt, block_bytes, report)) as blocks:
            _read_blocks(blocks, report, partitioner, key=key, system=system)
        partitioner.flush()
    except FileRejected as rejected:
        # Whole-file problems: nothing of the file counts as accepted.
        return FileReport(key=key, fmt=report.fmt, rejected_reason=rejected.reason,
                          quarantine=[QuarantinedLine(None, rejected.reason)])
    report.partitions = partitioner.emitted
    return report


class _Prefetch:
    """Iterate ``items`` on a worker thread, one item ahead; what the worker raises is raised here,
    in order (after the items produced before it). Leaving the block early stops the worker."""

    _DONE = object()

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = items
        self._queue: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-read-ahead", daemon=True)

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._offer((item, None)):
                    return
        # The worker's boundary: whatever reading raises belongs to the consumer, re-raised there.
        except Exception as exc:  # noqa: BLE001
            self._offer((self._DONE, exc))
            return
        self._offer((self._DONE, None))

    def _offer(self, entry: tuple[object, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self) -> Iterator[Any]:
        self._thread.start()
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        while True:
            item, error = self._queue.get()
            if error is not None:
                raise error
            if item is self._DONE:
                return
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        close = getattr(self._items, "close", None)
        if close is not None:
            close()  # the worker is gone: release what the items hold (the object's stream) now


def _blocks_with_format(stream: Iterable[bytes], fmt: FileFormat | None, block_bytes: int,
                        report: FileReport) -> Iterable[tuple[FileFormat, Block]]:
    iterator = iter(stream)
    first = next(iterator, b"")
    if not first:
        raise FileRejected("empty file (no bytes)")
    if _utf16(first[:4096]):
        raise FileRejected("UTF-16 or UTF-32 text (files must be UTF-8)")
    if b"\x00" in first[:65536]:
        raise FileRejected("binary content (NUL bytes)")
    chosen = fmt or sniff_format(first[:4096])
    report.fmt = chosen.value

    def rejoined() -> Iterable[bytes]:
        yield first
        yield from iterator

    for block in record_blocks(rejoined(), chosen, block_bytes):
        yield chosen, block


def _utf16(head: bytes) -> bool:
    """A UTF-16/32 byte-order mark, or text whose every other byte is NUL (UTF-16 without one)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return True
    odd, even = head[1::2], head[0::2]
    if min(len(odd), len(even)) < 8:
        return False
    for nuls, text in ((odd, even), (even, odd)):
        if nuls.count(0) >= 0.9 * len(nuls) and text.count(0) <= 0.1 * len(text):
            return True
    return False


def _read_blocks(blocks: Iterable[tuple[FileFormat, Block]], report: FileReport, partitioner: Partitioner,
                 *, key: str, system: str) -> None:
    header: CsvHeader | None = None
    for fmt, block in blocks:
        if fmt is FileFormat.CSV:
            if header is None:
                header, block = split_header(block)
                missing = missing_required_columns(header.names)
                if missing:
                    raise FileRejected(f"CSV header lacks required column(s) {', '.join(missing)}")
            parsed = parse_csv_block(block, header)
        else:
            parsed = parse_jsonl_block(block, EVENT_FIELDS)
        _account(parsed, block, report, partitioner, key=key, system=system)
    if header is None and report.fmt == FileFormat.CSV.value and report.lines_read == 0:
        raise FileRejected("empty file (no header row)")


def _account(parsed: ParsedBlock, block: Block, report: FileReport, partitioner: Partitioner,
             *, key: str, system: str) -> None:
    validated = validate_events(parsed.rows, system=system, source_key=key)
    bad = validated.quarantined
    raws = raw_lines(block, bad["line"].to_list())
    lines = [QuarantinedLine(r.line, r.reason, r.raw) for r in parsed.rejected]
    lines += [QuarantinedLine(n, reason, raws.get(n, ""), failed, tuple(names)) for n, reason, failed, names
              in bad.select("line", "reason", "field", "fields").iter_rows()]
    report.quarantine.extend(sorted(lines, key=lambda q: q.line or 0))
    report.lines_read += parsed.lines
    report.accepted += validated.events.height
    report.quarantined += len(lines)
    partitioner.add(validated.events)


def quarantine_jsonl(key: str, lines: Iterable[QuarantinedLine]) -> bytes:
    """A file's quarantine records as JSON Lines (``QuarantinedLine.record``: no text of the line)."""
    return _jsonl(q.record(key) for q in lines)


def quarantine_raw_jsonl(key: str, lines: Iterable[QuarantinedLine]) -> bytes:
    """The raw text of a file's quarantined lines that have one, as ``{key, line, raw}`` JSON Lines: only for
    a deployment configured to keep it (``QUARANTINE_RAW_TEXT``), under its own, stricter prefix."""
    return _jsonl({"key": key, "line": q.line, "raw": q.raw} for q in lines if q.raw)


def _jsonl(records: Iterable[dict[str, object]]) -> bytes:
    out = [json.dumps(record, ensure_ascii=False) for record in records]
    return ("\n".join(out) + "\n").encode("utf-8") if out else b""


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


@dataclass
class Table:
    """A whole small file (a reference snapshot) read as strings, with what could not be read."""

    rows: pl.DataFrame  # every column pl.String; unknown columns kept
    lines_read: int
    rejected: list[RejectedLine]
    # Contract fields the file did not give at all (not in its CSV header, or blank on every row): present in
    # ``rows`` as nulls, so that validation can tell a missing key column from a blank value.
    absent: tuple[str, ...] = ()


def read_table(chunks: Iterable[bytes], *, key: str, fields: tuple[str, ...], max_decompressed_bytes: int) -> Table:
    """Read a CSV or JSON Lines table into memory (raises FileRejected for whole-file problems)."""
    kind = kind_from_key(key)
    stream = decompressed(chunks, kind.gzipped, max_decompressed_bytes)
    report = FileReport(key=key)
    frames: list[pl.DataFrame] = []
    rejected: list[RejectedLine] = []
    lines = 0
    header: CsvHeader | None = None
    for fmt, block in _blocks_with_format(stream, kind.fmt, 16 * 1024 * 1024, report):
        if fmt is FileFormat.CSV:
            if header is None:
                header, block = split_header(block)
            parsed = parse_csv_block(block, header)
        else:
            parsed = parse_jsonl_block(block, fields)
            parsed.rows = _unpack_extra(parsed.rows)
        frames.append(parsed.rows)
        rejected.extend(parsed.rejected)
        lines += parsed.lines
    if not frames:
        raise FileRejected("empty file")
    rows = pl.concat(frames, how="diagonal_relaxed")
    for name in fields:
        if name not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    rows = rows.with_columns(pl.col(n).str.strip_chars().replace("", None) for n in fields)
    absent = tuple(n for n in fields if rows.height and rows[n].null_count() == rows.height)
    return Table(rows, lines, rejected, absent)


def _unpack_extra(rows: pl.DataFrame) -> pl.DataFrame:
    """JSON Lines reference rows: unknown attributes stay as one JSON text column ``extra``."""
    from accesswatch.ingest.records import EXTRA_COLUMN

    return rows.rename({EXTRA_COLUMN: "extra"}) if EXTRA_COLUMN in rows.columns else rows
