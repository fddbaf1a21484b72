"""Turning record-aligned blocks into string tables, fast where possible and exact always.

The fast path hands a whole block to polars. It is trusted only when it gives exactly one row per
physical line with no line over the size cap; otherwise the block is re-read record by record with
the standard library, which can say precisely which line is wrong and why. Every data line comes
out either as a row (with its line number) or as a ``Rejected`` line with a reason.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import polars as pl

from accesswatch.ingest.source import MAX_LINE_BYTES, Block, FileRejected, has_long_line

# The standard library refuses fields over 128 KiB; the 1 MiB line cap is ours to enforce.
csv.field_size_limit(4 * MAX_LINE_BYTES)

LINE_COLUMN = "__line"
EXTRA_COLUMN = "__extra"


@dataclass
class RejectedLine:
    line: int
    reason: str
    raw: str


@dataclass
class ParsedBlock:
    rows: pl.DataFrame  # every column pl.String, plus LINE_COLUMN (Int64)
    rejected: list[RejectedLine] = field(default_factory=list)
    lines: int = 0  # data lines the block held


class CsvHeader:
    def __init__(self, names: list[str]) -> None:
        cleaned = [n.strip().lstrip("\ufeff").strip() for n in names]
        if not any(cleaned):
            raise FileRejected("CSV header row is empty")
        seen: set[str] = set()
        duplicates = sorted({n for n in cleaned if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
        if duplicates:
            raise FileRejected(f"CSV header repeats column(s) {', '.join(duplicates)}")
        if any(not n for n in cleaned):
            raise FileRejected("CSV header has an empty column name")
        self.names = cleaned


def split_header(block: Block) -> tuple[CsvHeader, Block]:
    """Take the CSV header record off the first block."""
    data = block.data
    # Only the header is read here; a bad line further down is the rows' business, not the header's.
    text_io = io.StringIO(data[: min(len(data), 1024 * 1024)].decode("utf-8", "replace"))
    reader = csv.reader(text_io)
    try:
        names = next(reader)
    except StopIteration:
        raise FileRejected("no header row") from None
    except csv.Error:
        raise FileRejected("CSV header row cannot be parsed") from None
    if any("\ufffd" in name for name in names):
        raise FileRejected("CSV header is not valid UTF-8")
    header_lines = reader.line_num
    # Bytes of the header: find the end of its last physical line.
    cut = 0
    for _ in range(header_lines):
        cut = data.index(b"\n", cut) + 1
    rest = data[cut:]
    return CsvHeader(names), Block(rest, block.first_line + header_lines, rest.count(b"\n"))


def parse_csv_block(block: Block, header: CsvHeader) -> ParsedBlock:
    if not block.data:
        return ParsedBlock(_empty(header.names), [], 0)
    if not has_long_line(block.data):
        try:
            frame = pl.read_csv(
                io.BytesIO(block.data),
                has_header=False,
                new_columns=header.names,
                infer_schema=False,
                truncate_ragged_lines=False,
                quote_char='"',
                encoding="utf8",
            )
        except pl.exceptions.PolarsError:
            frame = None
        if frame is not None and frame.width == len(header.names) and frame.height == block.line_count:
            frame = frame.with_columns(
                pl.int_range(block.first_line, block.first_line + frame.height, dtype=pl.Int64).alias(LINE_COLUMN)
            )
            rejected = _blank_csv_lines(frame, header.names)
            if rejected:
                frame = frame.filter(~pl.col(LINE_COLUMN).is_in([r.line for r in rejected]))
            return ParsedBlock(frame, rejected, block.line_count)
    return _parse_csv_slow(block, header)


def _blank_csv_lines(frame: pl.DataFrame, names: list[str]) -> list[RejectedLine]:
    """polars reads an empty line as an all-null row: it is a line read and quarantined."""
    blank = frame.filter(pl.all_horizontal(pl.col(n).is_null() for n in names))
    return [RejectedLine(int(line), "blank line", "") for line in blank[LINE_COLUMN].to_list()]


_UNDECODABLE = "\ue000"  # stands in for a line that is not UTF-8, so line numbers stay right


def _decode_lines(data: bytes) -> str:
    """The block as text; a line that is not UTF-8 becomes a marker the parser rejects alone."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = []
    bad = 0
    for raw in data.split(b"\n"):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(_UNDECODABLE)
            bad += 1
    if bad * 2 > len(lines):
        raise FileRejected("not UTF-8 text (most lines undecodable)")
    return "\n".join(lines)


def _parse_csv_slow(block: Block, header: CsvHeader) -> ParsedBlock:
    text = _decode_lines(block.data)
    width = len(header.names)
    columns: dict[str, list[str | None]] = {n: [] for n in header.names}
    lines: list[int] = []
    rejected: list[RejectedLine] = []
    physical = text.split("\n")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    consumed = 0
    while True:
        start_line = consumed
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:
            consumed = reader.line_num
            raw = "\n".join(physical[start_line:consumed])
            rejected.append(RejectedLine(block.first_line + start_line, "malformed CSV quoting", raw[:MAX_LINE_BYTES]))
            continue
        consumed = reader.line_num
        line_no = block.first_line + start_line
        raw = "\n".join(physical[start_line:consumed])
        if len(raw.encode("utf-8")) > MAX_LINE_BYTES:
            rejected.append(RejectedLine(line_no, "line longer than 1 MiB", ""))
            continue
        if record == [_UNDECODABLE]:
            rejected.append(RejectedLine(line_no, "line is not valid UTF-8", ""))
            continue
        if not record or all(not f.strip() for f in record) and len(record) <= 1:
            rejected.append(RejectedLine(line_no, "blank line", raw))
            continue
        if len(record) != width:
            rejected.append(RejectedLine(line_no, f"{len(record)} fields where the header has {width}", raw))
            continue
        for name, value in zip(header.names, record, strict=True):
            columns[name].append(value if value != "" else None)
        lines.append(line_no)
    frame = pl.DataFrame(columns, schema={n: pl.String for n in header.names}).with_columns(
        pl.Series(LINE_COLUMN, lines, dtype=pl.Int64)
    )
    # A quoted field may span physical lines: what counts as a line read is a record.
    return ParsedBlock(frame, rejected, len(lines) + len(rejected))


def _empty(names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={**{n: pl.String for n in names}, LINE_COLUMN: pl.Int64})


def parse_jsonl_block(block: Block, fields: tuple[str, ...]) -> ParsedBlock:
    """JSON Lines: one object per line; the contract fields become columns, the rest ``__extra``."""
    text = block.data
    columns: dict[str, list[str | None]] = {n: [] for n in fields}
    extras: list[str | None] = []
    lines: list[int] = []
    rejected: list[RejectedLine] = []
    line_no = block.first_line
    for raw_bytes in text.split(b"\n")[: block.line_count]:
        current = line_no
        line_no += 1
        raw_bytes = raw_bytes.rstrip(b"\r")
        if len(raw_bytes) > MAX_LINE_BYTES:
            rejected.append(RejectedLine(current, "line longer than 1 MiB", ""))
            continue
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError:
            rejected.append(RejectedLine(current, "line is not valid UTF-8", ""))
            continue
        if not raw.strip():
            rejected.append(RejectedLine(current, "blank line", raw))
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            rejected.append(RejectedLine(current, "not valid JSON", raw))
            continue
        if not isinstance(value, dict):
            rejected.append(RejectedLine(current, "JSON value is not an object", raw))
            continue
        for name in fields:
            columns[name].append(_as_text(value.pop(name, None)))
        extras.append(json.dumps(value, ensure_ascii=False, sort_keys=True) if value else None)
        lines.append(current)
    frame = pl.DataFrame(columns, schema={n: pl.String for n in fields}).with_columns(
        pl.Series(EXTRA_COLUMN, extras, dtype=pl.String),
        pl.Series(LINE_COLUMN, lines, dtype=pl.Int64),
    )
    return ParsedBlock(frame, rejected, block.line_count)


def _as_text(value: object) -> str | None:
    """Identifiers stay strings; a JSON number or boolean is kept as its JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def raw_lines(block: Block, line_numbers: list[int]) -> dict[int, str]:
    """The raw text of some physical lines of a block (for quarantine records)."""
    if not line_numbers:
        return {}
    physical = block.data.split(b"\n")
    out = {}
    for n in line_numbers:
        index = n - block.first_line
        if 0 <= index < len(physical):
            out[n] = physical[index].rstrip(b"\r").decode("utf-8", "replace")
    return out
