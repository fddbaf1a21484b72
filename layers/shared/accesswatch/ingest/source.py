"""A source file as a stream of record-aligned byte blocks: format, gzip, BOM, size caps.

Nothing here holds a whole file: the object body is read in chunks, decompressed incrementally
(with a cap, the gzip-bomb guard) and cut into blocks that end on a record boundary.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
READ_CHUNK = 8 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024  # a longer line is quarantined, never parsed


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class FileRejected(Exception):
    """The file cannot be read as a whole; ``reason`` says why (no content, ids only)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SourceKind:
    fmt: FileFormat | None  # None: sniff the content
    gzipped: bool | None  # None: sniff the magic bytes


_SUFFIXES = {
    ".csv": FileFormat.CSV,
    ".tsv": None,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
}


def kind_from_key(key: str) -> SourceKind:
    """What the key's suffix says; ``None`` fields are left to sniffing."""
    name = key.rsplit("/", 1)[-1].lower()
    gzipped: bool | None = None
    if name.endswith(".gz") or name.endswith(".gzip"):
        gzipped = True
        name = name.rsplit(".", 1)[0]
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return SourceKind(fmt, gzipped)
    return SourceKind(None, gzipped)


def sniff_format(head: bytes) -> FileFormat:
    text = head.lstrip(BOM).lstrip()
    if text.startswith(b"{") or text.startswith(b"["):
        return FileFormat.JSONL
    return FileFormat.CSV


def decompressed(chunks: Iterable[bytes], gzipped: bool | None, max_bytes: int) -> Iterator[bytes]:
    """The decompressed stream (gzip sniffed when ``gzipped`` is None), capped at ``max_bytes``."""
    iterator = iter(chunks)
    first = b""
    for chunk in iterator:
        if chunk:
            first = chunk
            break
    if not first:
        return
    is_gzip = first[:2] == GZIP_MAGIC if gzipped is None or gzipped else False
    if gzipped and not is_gzip:
        raise FileRejected("named .gz but is not gzip data")
    total = 0
    if not is_gzip:
        for chunk in _chain(first, iterator):
            total += len(chunk)
            if total > max_bytes:
                raise FileRejected(f"larger than the {_size(max_bytes)} cap")
            yield chunk
        return
    inflater = zlib.decompressobj(wbits=31)
    try:
        for chunk in _chain(first, iterator):
            data = chunk
            while data:
                out = inflater.decompress(data, READ_CHUNK)
                total += len(out)
                if total > max_bytes:
                    raise FileRejected(f"decompresses past the {_size(max_bytes)} cap")
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:
                    # A further gzip member (concatenated gzip files are valid gzip).
                    data = inflater.unused_data + data
                    inflater = zlib.decompressobj(wbits=31)
        tail = inflater.flush()
        total += len(tail)
        if total > max_bytes:
            raise FileRejected(f"decompresses past the {_size(max_bytes)} cap")
        if tail:
            yield tail
    except zlib.error as exc:
        raise FileRejected(f"corrupt gzip data ({exc.__class__.__name__})") from None
    if not inflater.eof:
        raise FileRejected("truncated gzip data")


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def read_chunks(body: BinaryIO, size: int = READ_CHUNK) -> Iterator[bytes]:
    while chunk := body.read(size):
        yield chunk


@dataclass
class Block:
    """Whole records of the file: ``data`` ends on a record boundary; lines are 1-based."""

    data: bytes
    first_line: int  # physical line number of the block's first line
    line_count: int  # physical lines (newlines) in the block


def has_long_line(data: bytes) -> bool:
    """Whether some line of ``data`` holds more than ``MAX_LINE_BYTES`` bytes (a run without ``\\n``).

    Jumps from line start to line start by the last newline within the next ``MAX_LINE_BYTES + 1``
    bytes: a window without one is a long line. About one ``rfind`` per MiB, where a regex search
    for ``[^\\n]{N,}`` costs a scan per line (it was most of the CSV ingest time).
    """
    n = len(data)
    start = 0
    while n - start > MAX_LINE_BYTES:
        newline = data.rfind(b"\n", start, start + MAX_LINE_BYTES + 1)
        if newline < 0:
            return True
        start = newline + 1
    return False


def record_blocks(stream: Iterable[bytes], fmt: FileFormat, target: int = 16 * 1024 * 1024) -> Iterator[Block]:
    """Cut the stream into blocks of about ``target`` bytes that end on a record boundary.

    For CSV a newline inside a quoted field is not a boundary: a newline ends a record exactly
    when the number of quote characters before it is even (RFC 4180's doubled quotes keep parity).
    The first line of the file is part of the first block (the caller takes the header off).
    """
    pending = b""
    line = 1
    quoted_parity = 0  # quotes seen in ``pending`` (CSV only), mod 2
    started = False
    for chunk in stream:
        if not started:
            chunk = chunk.removeprefix(BOM)
            started = True
        pending += chunk
        while len(pending) >= target:
            cut = _boundary(pending, fmt, quoted_parity)
            if cut <= 0 and fmt is FileFormat.CSV and len(pending) > target + MAX_LINE_BYTES:
                # A quote still open a MiB on is no field (a record that long is quarantined anyway):
                # its first line goes alone, to be quarantined, and the rest is read as records again,
                # rather than the whole remaining file being held as one record.
                cut = pending.find(b"\n") + 1
            if cut <= 0:
                break  # one record longer than the block: keep reading
            block, pending = pending[:cut], pending[cut:]
            count = block.count(b"\n")
            yield Block(block, line, count)
            line += count
            quoted_parity = 0
    if pending:
        if not pending.endswith(b"\n"):
            pending += b"\n"
        yield Block(pending, line, pending.count(b"\n"))


def _boundary(data: bytes, fmt: FileFormat, parity: int) -> int:
    """Index just past the last record-ending newline in ``data`` (0 if none)."""
    last = data.rfind(b"\n")
    if last < 0 or fmt is FileFormat.JSONL or (data.count(b'"', 0, last) + parity) % 2 == 0:
        return last + 1
    # The last newline is inside a quoted field: one pass forward keeps the quote parity at every
    # newline (searching back from the end recounted the quotes before each newline: quadratic in
    # the block when a stray quote leaves every newline after it inside a "field").
    best, quotes, start = 0, parity, 0
    while (nl := data.find(b"\n", start)) >= 0:
        quotes += data.count(b'"', start, nl)
        if quotes % 2 == 0:
            best = nl + 1
        start = nl + 1
    return best
