"""Turning record-aligned blocks into string tables, fast where possible and exact always.

The fast path hands a whole block to polars. It is trusted only when it gives exactly one row per
physical line with no line over the size cap and no CSV line shorter than the header (polars would fill
its missing fields with nulls); otherwise the block is re-read record by record with
the standard library, which can say precisely which line is wrong and why. Every data line comes
out either as a row (with its line number) or as a ``Rejected`` line with a reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

import polars as pl

from accesswatch.ingest.source import MAX_LINE_BYTES, Block, FileRejected, has_long_line

# The standard library refuses fields over 128 KiB; the 1 MiB line cap is ours to enforce.
csv.field_size_limit(4 * MAX_LINE_BYTES)

LINE_COLUMN = "__line"
EXTRA_COLUMN = "__extra"
# A line's length is judged before anything else about it (quoting, field sizes, encoding, JSON).
LONG_LINE = "line longer than 1 MiB"


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


# polars decompresses input that starts like gzip, zlib or zstd data: such a block is read exactly.
_COMPRESSION_MAGIC = (b"\x1f\x8b", b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x28\xb5\x2f\xfd")


def parse_csv_block(block: Block, header: CsvHeader) -> ParsedBlock:
    if not block.data:
        return ParsedBlock(_empty(header.names), [], 0)
    if not has_long_line(block.data) and not block.data.startswith(_COMPRESSION_MAGIC):
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
        # The fast path's boundary: whatever polars cannot read goes to the exact reader (OSError:
        # polars treats data starting with compression magic bytes as compressed).
        except (pl.exceptions.PolarsError, OSError):
            frame = None
        if frame is not None and frame.width == len(header.names) and frame.height == block.line_count:
            frame = frame.with_columns(
                pl.int_range(block.first_line, block.first_line + frame.height, dtype=pl.Int64).alias(LINE_COLUMN)
            )
            rejected = _blank_csv_lines(frame, header.names)
            if rejected:
                frame = frame.filter(~pl.col(LINE_COLUMN).is_in([r.line for r in rejected]))
            if not _has_short_line(frame, block, len(header.names)):
                return ParsedBlock(frame, rejected, block.line_count)
    return _parse_csv_slow(block, header)


_QUOTED = re.compile(rb'"(?:[^"]|"")*"')


def _has_short_line(frame: pl.DataFrame, block: Block, width: int) -> bool:
    """Whether a line has fewer fields than the header. polars fills a short line's missing fields with
    nulls; the exact reader quarantines it ("N fields where the header has M"), and so must a block that
    polars read, or the same line would be an event or not depending on its neighbours (and its values would
    land in the wrong columns: a name as a user id). Only a line whose last field is null can be short: its
    separators outside quotes are counted (each physical line is one record here, since the frame has one
    row per physical line)."""
    candidates = frame.filter(pl.col(frame.columns[width - 1]).is_null())[LINE_COLUMN]
    if candidates.is_empty():
        return False
    physical = block.data.split(b"\n")
    for line in candidates.to_list():
        text = physical[line - block.first_line]
        if _QUOTED.sub(b"", text).count(b",") + 1 < width:
            return True
    return False


def _blank_csv_lines(frame: pl.DataFrame, names: list[str]) -> list[RejectedLine]:
    """polars reads an empty line as an all-null row: it is a line read and quarantined."""
    blank = frame.filter(pl.all_horizontal(pl.col(n).is_null() for n in names))
    return [RejectedLine(int(line), "blank line", "") for line in blank[LINE_COLUMN].to_list()]


_UNDECODABLE = "\ue000"  # stands in for a line that is not UTF-8, so line numbers stay right
_UNDECODABLE_LONG = "\ue001"  # the same for such a line over the cap (its length is its first fault)


def _longer_than_cap(text: str) -> bool:
    """Whether ``text`` takes more than ``MAX_LINE_BYTES`` bytes as UTF-8 (encoded only when it might)."""
    return len(text) > MAX_LINE_BYTES or (4 * len(text) > MAX_LINE_BYTES
                                          and len(text.encode("utf-8")) > MAX_LINE_BYTES)


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
            lines.append(_UNDECODABLE_LONG if len(raw.rstrip(b"\r")) > MAX_LINE_BYTES else _UNDECODABLE)
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
    # One item per LF-ended line: the reader's line_num then counts physical lines (a CR inside a
    # quoted field is data, not a line end, whatever the platform's universal newlines say).
    items = [line + "\n" for line in physical[:-1]] + ([physical[-1]] if physical[-1] else [])
    reader = csv.reader(iter(items), strict=True)
    base = consumed = 0
    while True:
        start_line = consumed
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:
            # Only the line where the bad record starts is quarantined; reading starts again on the
            # next line. (A stray quote would otherwise make the rest of the block one field.) Its length
            # is judged first: a line over the cap is quarantined for that, whatever the reader made of
            # it (a field over the reader's size limit is a csv.Error too).
            line = physical[start_line]
            if _longer_than_cap(line):
                rejected.append(RejectedLine(block.first_line + start_line, LONG_LINE, ""))
            else:
                rejected.append(RejectedLine(block.first_line + start_line, "malformed CSV quoting", line))
            base = consumed = start_line + 1
            reader = csv.reader(iter(items[base:]), strict=True)
            continue
        consumed = base + reader.line_num
        line_no = block.first_line + start_line
        raw = "\n".join(physical[start_line:consumed])
        if _longer_than_cap(raw):
            rejected.append(RejectedLine(line_no, LONG_LINE, ""))
            continue
        if record == [_UNDECODABLE_LONG]:
            rejected.append(RejectedLine(line_no, LONG_LINE, ""))
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
    fast = _parse_jsonl_fast(block, fields)
    return fast if fast is not None else _parse_jsonl_slow(block, fields)


# The JSON Lines fast path reads a block with polars when every line is a flat object whose keys are
# plain names and whose values are strings (escapes other than \uXXXX allowed) or null: then polars and
# ``json.loads`` cannot disagree (no numbers to re-render, no surrogates, no nesting), and duplicate
# keys (which ``json.loads`` resolves to the last, polars to the first) are detected by counting.
# Anything else, anywhere in the block, sends the whole block to the exact record-by-record reader.
_WS = r"[ \t\r]*"
_PLAIN_KEY = r'"[A-Za-z0-9_.\-]+"'
_PLAIN_VALUE = r'(?:"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt])*"|null)'
_MEMBER = rf"{_PLAIN_KEY}{_WS}:{_WS}{_PLAIN_VALUE}{_WS}"
_FLAT_OBJECT = rf"^{_WS}\{{{_WS}(?:{_MEMBER}(?:,{_WS}{_MEMBER})*)?\}}{_WS}$"
_KEY_END = rf'[A-Za-z0-9_.\-]"{_WS}:'  # a key's closing quote (in a value a quote follows a backslash)
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_KEY_TOKEN = re.compile(rb'"([A-Za-z0-9_.\-]+)"[ \t\r]*:')


def _parse_jsonl_fast(block: Block, fields: tuple[str, ...]) -> ParsedBlock | None:
    """The block through polars, or None when it is not plainly flat (see above).

    A few lines that are not plainly flat (malformed, numbers, nesting, a repeated key...) are read
    one by one by the exact reader and merged back in line order; more than 1 % and the whole block is.
    """
    data = block.data
    if block.line_count == 0 or b"\\u" in data or has_long_line(data) or data.startswith(_COMPRESSION_MAGIC):
        return None
    try:
        # One string per physical line (polars checks the UTF-8; \x1f is not expected in a log line,
        # and if it is there the column count or the height gives it away).
        lines = pl.read_csv(io.BytesIO(data), has_header=False, separator="\x1f", quote_char=None,
                            new_columns=["l"], infer_schema=False, encoding="utf8")["l"]
    except (pl.exceptions.PolarsError, OSError):  # the fast path's boundary: the exact reader decides
        return None
    if lines.len() != block.line_count:
        return None
    limit = lines.len() // 100
    flat = lines.str.contains(_FLAT_OBJECT).fill_null(False)  # an empty line may read as null
    if lines.len() - int(flat.sum()) > limit:
        return None
    # Which keys each line names (in a plainly flat line a ``"name":`` token is a key) and how many
    # members it has: a line with more members than named keys has a key not in ``names`` or repeats
    # one. ``names``: the keys of the first lines, then, if that leaves such lines, of the whole block.
    members = lines.str.count_matches(_KEY_END).cast(pl.Int64)
    head_end = data.find(b"\n", 65536)
    for scope in (data[: head_end + 1] if head_end > 0 else data, data):
        names = sorted({k.decode() for k in _KEY_TOKEN.findall(scope)})
        present = [lines.str.contains(f'"{re.escape(name)}"{_WS}:').alias(f"#present{i}")
                   for i, name in enumerate(names)]
        named = (pl.DataFrame(present).sum_horizontal().cast(pl.Int64) if names
                 else pl.repeat(0, lines.len(), dtype=pl.Int64, eager=True))
        plain = flat & (members == named)
        if lines.len() - int(plain.sum()) <= limit:
            break
    else:
        return None
    numbers = pl.int_range(block.first_line, block.first_line + lines.len(), dtype=pl.Int64, eager=True)
    odd = plain.not_().arg_true().to_list()
    frame = pl.DataFrame([lines.alias("#l"), numbers.alias("#line"), *present])  # "#": never a plain key
    if odd:
        frame = frame.filter(plain)
        data = (frame["#l"].str.join("\n").item() + "\n").encode("utf-8") if frame.height else b""
    frames = []
    if frame.height:
        try:
            values = pl.read_ndjson(io.BytesIO(data), schema={name: pl.String for name in names})
        except (pl.exceptions.PolarsError, OSError):
            return None
        if values.height != frame.height:
            return None
        unknown = sorted(n for n in names if n not in fields)
        if any(values[name].str.contains(_NEEDS_ESCAPE).any() for name in unknown):
            return None  # json.dumps would escape it: left to the exact reader
        frames.append(_as_rows(pl.concat([values, frame.drop("#l")], how="horizontal"), names, unknown, fields))
    physical = block.data.split(b"\n") if odd else []
    rejected: list[RejectedLine] = []
    for index in odd:
        one = _parse_jsonl_slow(Block(physical[index] + b"\n", block.first_line + index, 1), fields)
        frames.append(one.rows)
        rejected.extend(one.rejected)
    rows = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    return ParsedBlock(rows.sort(LINE_COLUMN) if odd else rows, rejected, block.line_count)


def _as_rows(frame: pl.DataFrame, names: list[str], unknown: list[str], fields: tuple[str, ...]) -> pl.DataFrame:
    """Values, presence flags and line numbers -> the exact reader's columns. Unknown keys become one
    JSON text as json.dumps(..., sort_keys=True) writes it: a key given as null is kept as null, an
    absent key is not there."""
    pieces = [
        pl.when(pl.col(f"#present{names.index(name)}")).then(
            pl.lit(f'"{name}": ')
            + pl.when(pl.col(name).is_null()).then(pl.lit("null")).otherwise(pl.lit('"') + pl.col(name) + pl.lit('"'))
        )
        for name in unknown
    ]
    extra = (
        pl.when(pl.any_horizontal(p.is_not_null() for p in pieces))
        .then(pl.lit("{") + pl.concat_str(pieces, separator=", ", ignore_nulls=True) + pl.lit("}"))
        if pieces else pl.lit(None)
    )
    return frame.select(
        *[(pl.col(n) if n in names else pl.lit(None)).cast(pl.String).alias(n) for n in fields],
        extra.cast(pl.String).alias(EXTRA_COLUMN),
        pl.col("#line").alias(LINE_COLUMN),
    )


def _parse_jsonl_slow(block: Block, fields: tuple[str, ...]) -> ParsedBlock:
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
            rejected.append(RejectedLine(current, LONG_LINE, ""))
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
