"""Ingestion of access-log files: formats, quarantine reasons, whole-file rejection, conservation."""

from __future__ import annotations

import gzip
import json
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accesswatch.contract import EVENT_SCHEMA
from accesswatch.ingest.pipeline import FileReport, ingest_stream, read_table

HEADER = "event_id,occurred_at,user_id,client_id,action,screen,site,session_id"
GOOD = "e{n},2025-03-31T23:30:00+13:00,u1,000123,view,address,Akl,s1"


def run(data: bytes, key: str = "access-logs/cms/f.csv", rows: int = 1000, cap: int = 10**8,
        chunks: int = 1) -> tuple[FileReport, list[pl.DataFrame]]:
    parts: list[pl.DataFrame] = []
    size = max(1, len(data) // chunks)
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    report = ingest_stream(pieces, key=key, system="cms", partition_rows=rows, max_decompressed_bytes=cap,
                           sink=lambda s, d, f, n: parts.append(f))
    return report, parts


def csv(*lines: str, header: str = HEADER, end: str = "\n") -> bytes:
    return (end.join([header, *lines]) + end).encode("utf-8")


def reasons(report: FileReport) -> dict[int | None, str]:
    return {q.line: q.reason for q in report.quarantine}


def test_good_csv_is_accepted_with_leading_zeros_and_nz_date():
    report, parts = run(csv(GOOD.format(n=1), GOOD.format(n=2)))
    assert (report.lines_read, report.accepted, report.quarantined) == (2, 2, 0)
    frame = pl.concat(parts)
    assert frame.schema == EVENT_SCHEMA
    assert frame["client_id"].to_list() == ["000123", "000123"]
    assert frame["nz_date"].to_list() == [date(2025, 3, 31)] * 2  # 10:30 UTC on the 31st is 23:30 NZDT
    assert frame["line"].to_list() == [2, 3]


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_variants(compress: bool, end: str, bom: bytes):
    data = bom + csv(GOOD.format(n=1), GOOD.format(n=2), end=end)
    key = "access-logs/cms/f.csv.gz" if compress else "access-logs/cms/f.csv"
    report, parts = run(gzip.compress(data) if compress else data, key=key, chunks=3)
    assert (report.lines_read, report.accepted, report.quarantined) == (2, 2, 0)
    assert pl.concat(parts)["session_id"].to_list() == ["s1", "s1"]


def test_column_order_is_free_and_unknown_columns_are_kept():
    header = "client_id,terminal,action,user_id,occurred_at,event_id"
    report, parts = run(csv("000007,T9,VIEW,u1,2025-04-01T09:00:00Z,e1", header=header))
    frame = pl.concat(parts)
    assert report.accepted == 1
    assert frame["client_id"][0] == "000007" and frame["action"][0] == "view"
    assert json.loads(frame["extra"][0]) == {"terminal": "T9"}
    assert frame["screen"][0] is None


def test_rfc4180_quoting_with_commas_quotes_and_newlines():
    lines = [
        'e1,2025-04-01T09:00:00Z,u1,000001,view,summary,"Wellington, Level 3",s',
        'e2,2025-04-01T09:00:00Z,u1,000001,view,summary,"Māngere ""Town Centre""",s',
        'e3,2025-04-01T09:00:00Z,u1,000001,view,summary,"two\nlines",s',
        GOOD.format(n=4),
    ]
    report, parts = run(csv(*lines))
    frame = pl.concat(parts).sort("line")
    assert (report.lines_read, report.accepted) == (4, 4)
    assert frame["site"].to_list()[:3] == ["Wellington, Level 3", 'Māngere "Town Centre"', "two\nlines"]
    assert frame.filter(pl.col("event_id") == "e4")["line"][0] == 6  # physical line, after the 2-line record


def test_quarantine_reasons_per_line():
    lines = [
        GOOD.format(n=1),
        ",2025-04-01T09:00:00Z,u1,000001,view,,,",  # missing event_id
        "e3,2025-04-01T09:00:00,u1,000001,view,,,",  # no offset
        "e4,yesterday,u1,000001,view,,,",
        "e5,2025-04-01T09:00:00Z,u1,000001,teleport,,,",
        "e6,1899-04-01T09:00:00Z,u1,000001,view,,,",
        "e7,2999-04-01T09:00:00Z,u1,000001,view,,,",
        "",
        "e9,2025-04-01T09:00:00Z,u1,000001,view,,,,surplus",
        "e10,2025-04-01T09:00:00Z,,000001,view,,,",
    ]
    report, _ = run(csv(*lines))
    assert reasons(report) == {
        3: "missing required field event_id",
        4: "timestamp without offset",
        5: "unparseable timestamp",
        6: "unknown action",
        7: "timestamp out of range",
        8: "timestamp out of range",
        9: "blank line",
        10: "9 fields where the header has 8",
        11: "missing required field user_id",
    }
    assert report.accepted == 1 and report.conserved


def test_long_line_is_quarantined_not_parsed():
    long_line = "e2,2025-04-01T09:00:00Z,u1,000001,view,summary," + "x" * (1024 * 1024 + 10) + ",s"
    report, _ = run(csv(GOOD.format(n=1), long_line, GOOD.format(n=3)))
    assert reasons(report) == {3: "line longer than 1 MiB"}
    assert report.accepted == 2 and report.conserved
    assert all(q.raw == "" for q in report.quarantine)


def test_undecodable_lines_in_mixed_encoding_file():
    data = csv(GOOD.format(n=1)) + "e2,2025-04-01T09:00:00Z,u1,000001,view,summary,Café,s\n".encode("latin-1")
    report, _ = run(data)
    assert reasons(report) == {3: "line is not valid UTF-8"}
    assert report.accepted == 1 and report.conserved


@pytest.mark.parametrize(("data", "key", "reason"), [
    (b"", "access-logs/cms/f.csv", "empty file (no bytes)"),
    (b"\x00\x01\x02binary\x00", "access-logs/cms/f.bin", "binary content (NUL bytes)"),
    (gzip.compress(csv(GOOD.format(n=1)))[:-12], "access-logs/cms/f.csv.gz", "truncated gzip data"),
    (b"not gzip at all", "access-logs/cms/f.csv.gz", "named .gz but is not gzip data"),
    (csv(GOOD.format(n=1), header="event_id,occurred_at,user_id,action"), "access-logs/cms/f.csv",
     "CSV header lacks required column(s) client_id"),
    (csv(GOOD.format(n=1), header="event_id,event_id,user_id,client_id,action,screen,site,occurred_at"),
     "access-logs/cms/f.csv", "CSV header repeats column(s) event_id"),
])
def test_whole_file_rejections(data: bytes, key: str, reason: str):
    report, parts = run(data, key=key)
    assert report.rejected_reason == reason
    assert report.quarantine[0].line is None and parts == []
    assert (report.lines_read, report.accepted, report.quarantined) == (0, 0, 0)


def test_gzip_bomb_guard():
    bomb = gzip.compress(csv(*[GOOD.format(n=i) for i in range(20000)]))
    report, parts = run(bomb, key="access-logs/cms/f.csv.gz", cap=64 * 1024)
    assert report.rejected_reason is not None and "cap" in report.rejected_reason
    assert report.accepted == 0


def test_header_only_file_reads_no_lines():
    report, parts = run(csv())
    assert (report.rejected_reason, report.lines_read, report.accepted) == (None, 0, 0)
    assert parts == []


def test_jsonl_lines_objects_numbers_and_extras():
    lines = [
        {"event_id": "e1", "occurred_at": "2025-04-01T09:00:00Z", "user_id": "u1", "client_id": "000009",
         "action": "view", "screen": "ird_number", "device": {"id": 7}},
        {"event_id": 2, "occurred_at": "2025-04-01T09:00:00.123456+12:00", "user_id": "u1", "client_id": "000009",
         "action": "print"},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n[1,2]\n{not json\n\n\"a string\"\n"
    report, parts = run(text.encode(), key="access-logs/cms/f.jsonl")
    frame = pl.concat(parts)
    assert frame["event_id"].to_list() == ["e1", "2"]
    assert json.loads(frame["extra"][0]) == {"device": {"id": 7}}
    assert reasons(report) == {3: "JSON value is not an object", 4: "not valid JSON", 5: "blank line",
                               6: "JSON value is not an object"}
    assert report.conserved


def test_format_is_sniffed_when_the_key_says_nothing():
    report, _ = run(gzip.compress(b'{"event_id":"e1","occurred_at":"2025-04-01T09:00:00Z","user_id":"u",'
                                  b'"client_id":"1","action":"view"}\n'), key="access-logs/cms/export")
    assert report.fmt == "jsonl" and report.accepted == 1


def test_partitions_split_by_nz_date_and_size():
    lines = [f"e{i},2025-04-0{1 + i % 2}T09:00:00Z,u1,000001,view,,," for i in range(10)]
    report, parts = run(csv(*lines), rows=3)
    assert report.accepted == 10
    assert all(p.height <= 3 for p in parts)
    assert all(p["nz_date"].n_unique() == 1 for p in parts)
    assert sum(p.height for p in parts) == 10


def test_reference_table_reads_csv_and_jsonl_alike():
    fields = ("client_id", "family_name")
    a = read_table([b"family_name,client_id,x\nNg,0001,9\n"], key="reference/clients.csv", fields=fields,
                   max_decompressed_bytes=10**6)
    b = read_table([b'{"client_id": "0001", "family_name": "Ng", "x": 9}\n'], key="reference/clients.jsonl",
                   fields=fields, max_decompressed_bytes=10**6)
    assert a.rows.select(fields).to_dicts() == b.rows.select(fields).to_dicts() == [{"client_id": "0001",
                                                                                     "family_name": "Ng"}]


_field = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.builds(lambda n: GOOD.format(n=n), st.integers(0, 10**6)),
    st.lists(_field, min_size=1, max_size=10).map(lambda fs: ",".join(fs)),
    st.builds(lambda f: f'e1,2025-04-01T09:00:00Z,u1,"{f}",view,,,', _field),
), max_size=30), st.integers(1, 4))
def test_every_line_is_accepted_or_quarantined(lines: list[str], chunks: int):
    report, parts = run(csv(*lines), chunks=chunks)
    if report.rejected_reason is None:
        assert report.conserved
        assert report.accepted == sum(p.height for p in parts)
