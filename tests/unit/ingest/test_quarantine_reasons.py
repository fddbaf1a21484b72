"""Every quarantined line gets the right reason, and a line's length is judged first (issue 18, item 6).

A line over the 1 MiB cap is quarantined as "line longer than 1 MiB" whatever else is wrong with it:
a field over the CSV reader's own size limit (4 MiB), a stray quote, bytes that are not UTF-8. The
other reasons are unchanged.
"""

from __future__ import annotations

import gzip
import json

import pytest

from accesswatch.ingest.pipeline import FileReport, ingest_stream, read_table
from accesswatch.ingest.records import LONG_LINE
from accesswatch.ingest.source import MAX_LINE_BYTES

HEADER = "event_id,occurred_at,user_id,client_id,action,screen,site,session_id"
GOOD = "e{n},2025-03-31T23:30:00+13:00,u1,000123,view,address,Akl,s1"
PREFIX = "e2,2025-04-01T09:00:00Z,u1,000001,view,summary,"
FIVE_MB = 5 * 1000 * 1000


def run(data: bytes, key: str = "access-logs/cms/f.csv", chunks: int = 1) -> FileReport:
    size = max(1, len(data) // chunks)
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    return ingest_stream(pieces, key=key, system="cms", partition_rows=1000, max_decompressed_bytes=10**9,
                         sink=lambda s, d, f, n: None)


def csv_bytes(*lines: str | bytes) -> bytes:
    return b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n"
                    for line in (HEADER, *lines))


def reasons(report: FileReport) -> dict[int | None, str]:
    return {q.line: q.reason for q in report.quarantine}


LONG_CSV_LINES = {
    "a 5 MB field": PREFIX + "x" * FIVE_MB + ",s",
    "a 5 MB quoted field": PREFIX + '"' + "x" * FIVE_MB + '",s',
    "a 5 MB field with commas and quotes in it": PREFIX + '"' + 'a,b""c' * (FIVE_MB // 6) + '",s',
    "a 5 MB line with bad quoting": PREFIX + '"abc"def' + "x" * FIVE_MB + ",s",
    "a 2 MiB field (under the reader's limit)": PREFIX + "x" * (2 * MAX_LINE_BYTES) + ",s",
    "a 1 MiB line of multi-byte characters": PREFIX + "ā" * (MAX_LINE_BYTES // 2 + 10) + ",s",
}


@pytest.mark.parametrize("chunks", [1, 7])
@pytest.mark.parametrize("name", sorted(LONG_CSV_LINES))
def test_a_csv_line_over_the_cap_is_quarantined_as_long_whatever_else_is_wrong(name: str, chunks: int):
    report = run(csv_bytes(GOOD.format(n=1), LONG_CSV_LINES[name], GOOD.format(n=3)), chunks=chunks)
    assert reasons(report) == {3: LONG_LINE}, name
    assert report.accepted == 2 and report.conserved
    assert all(q.raw == "" for q in report.quarantine)  # a long line is never kept, not even in part


def test_a_5_mb_field_in_a_gzipped_file_and_at_the_end_of_the_file():
    data = csv_bytes(GOOD.format(n=1), GOOD.format(n=2), PREFIX + "x" * FIVE_MB + ",s")
    report = run(gzip.compress(data), key="access-logs/cms/f.csv.gz", chunks=5)
    assert reasons(report) == {4: LONG_LINE} and report.accepted == 2 and report.conserved


def test_a_long_line_that_is_not_utf8_is_long_first():
    long_latin1 = (PREFIX + "é" * (MAX_LINE_BYTES + 10) + ",s").encode("latin-1")
    short_latin1 = (PREFIX + "Café,s").encode("latin-1")
    report = run(csv_bytes(GOOD.format(n=1), long_latin1, short_latin1, GOOD.format(n=4)))
    assert reasons(report) == {3: LONG_LINE, 4: "line is not valid UTF-8"}
    assert report.accepted == 2 and report.conserved


def test_other_reasons_are_unchanged_next_to_a_long_line():
    lines = [
        GOOD.format(n=1),
        PREFIX + "x" * FIVE_MB + ",s",  # 3
        'e4,2025-04-01T09:00:00Z,u1,000001,view,summary,"abc"def,s',  # a stray quote: malformed CSV quoting
        ",2025-04-01T09:00:00Z,u1,000001,view,,,",  # 5: missing event_id
        "",  # 6
        "e7,2025-04-01T09:00:00Z,u1,000001,view,,,,surplus",  # 7
        'e8,2025-04-01T09:00:00Z,u1,000001,view,summary,"two\nlines",s',  # 8-9: one good record
        GOOD.format(n=10),
    ]
    report = run(csv_bytes(*lines))
    assert reasons(report) == {
        3: LONG_LINE,
        4: "malformed CSV quoting",
        5: "missing required field event_id",
        6: "blank line",
        7: "9 fields where the header has 8",
    }
    assert report.accepted == 3 and report.conserved
    stray = next(q for q in report.quarantine if q.line == 4)
    assert stray.raw == lines[2]  # a short bad line is kept for investigators, as before


def test_a_quoted_record_over_the_cap_across_lines_is_long():
    record = PREFIX + '"' + ("y" * 1000 + "\n") * (2 * MAX_LINE_BYTES // 1000) + '",s'
    report = run(csv_bytes(GOOD.format(n=1), record, GOOD.format(n=3)))
    assert set(reasons(report).values()) == {LONG_LINE} and report.accepted == 2 and report.conserved


def test_jsonl_5_mb_value_is_long_and_other_reasons_unchanged():
    good = json.dumps({"event_id": "e1", "occurred_at": "2025-04-01T09:00:00Z", "user_id": "u1",
                       "client_id": "000001", "action": "view"})
    long_line = json.dumps({"event_id": "e2", "occurred_at": "2025-04-01T09:00:00Z", "user_id": "u1",
                            "client_id": "000001", "action": "view", "site": "x" * FIVE_MB})
    data = "\n".join([good, long_line, "{not json", "[1, 2]", good.replace("e1", "e5")]).encode() + b"\n"
    report = run(data, key="access-logs/cms/f.jsonl")
    assert reasons(report) == {2: LONG_LINE, 3: "not valid JSON", 4: "JSON value is not an object"}
    assert report.accepted == 2 and report.conserved


def test_reference_snapshot_with_a_5_mb_field_quarantines_that_line_as_long():
    data = ("client_id,family_name\n0001,Ng\n0002," + "x" * FIVE_MB + "\n0003,Tane\n").encode()
    table = read_table([data], key="reference/clients.csv", fields=("client_id", "family_name"),
                       max_decompressed_bytes=10**9)
    assert [(r.line, r.reason) for r in table.rejected] == [(3, LONG_LINE)]
    assert table.rows["client_id"].to_list() == ["0001", "0003"]
