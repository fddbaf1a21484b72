"""A bad-input corpus uploaded through the embedded runtime, beyond tests/unit/ingest/test_ingest_parsing.py's:
every file and line gets its clear reason, conservation holds, no function crashes, values that look
like spreadsheet formulas or hold control characters stay data all the way to the exports."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from support.reliability import assert_sound, tiny_world

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.ingest.pipeline import ingest_stream
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.export import collect_quarantine
from accesswatch_tools.operate.world_run import export_all, reference_files, settle, upload

pytestmark = pytest.mark.e2e

HEADER = "event_id,occurred_at,user_id,client_id,action,screen,site,session_id"
T = "2025-03-31T09:00:00+13:00"  # inside the tiny world's dates


def csv(*lines: str, header: str = HEADER, end: str = "\n") -> bytes:
    return (end.join([header, *lines]) + end).encode("utf-8")


def good(n: int, user: str = "u1", client: str = "000001", screen: str = "summary", site: str = "Akl") -> str:
    return f"bad-{n},{T},{user},{client},view,{screen},{site},s{n}"


@dataclass
class Case:
    key: str
    body: bytes
    status: str  # rejected | ingested | detected
    reason: str | None = None  # a rejected file's reason
    lines: dict[int, str] = field(default_factory=dict)  # quarantined line -> reason
    accepted: int = 0


# Values that a spreadsheet would run, and control characters: data, never executed or stripped.
FORMULA_USERS = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd", "=HYPERLINK(\"http://example.invalid\",\"x\")"]
CONTROL = "a\x07b\x1b[31mc\x7fd\x0be"

CORPUS = [
    # ---- encodings
    Case("access-logs/cms/enc/mixed.csv", csv(good(1)) + f"bad-2,{T},u1,000001,view,summary,Café,s\n".encode("latin-1")
         + csv(good(3), header="").lstrip(b"\n"),
         "detected", lines={3: "line is not valid UTF-8"}, accepted=2),
    Case("access-logs/cms/enc/mixed.csv.gz", gzip.compress(csv(good(4)) + "bad-5,x,é\n".encode("cp1252")),
         "detected", lines={3: "line is not valid UTF-8"}, accepted=1),
    Case("access-logs/cms/enc/latin1.csv", (HEADER + "\n" + f"bad-6,{T},u1,000001,view,summary,Café,s\n" * 3).encode(
        "latin-1"), "rejected", "not UTF-8 text (most lines undecodable)"),
    Case("access-logs/cms/enc/cp1252-header.csv", "event_id,occurred_at,user_id,client_id,action,sïte\n".encode(
        "cp1252") + f"bad-7,{T},u1,000001,view,x\n".encode(), "rejected", "CSV header is not valid UTF-8"),
    Case("access-logs/cms/enc/utf16.csv", (HEADER + "\n" + good(8) + "\n").encode("utf-16"), "rejected",
         "UTF-16 or UTF-32 text (files must be UTF-8)"),
    Case("access-logs/cms/enc/utf16be-nobom.jsonl.gz", gzip.compress(
        json.dumps({"event_id": "bad-9"}).encode("utf-16-be")), "rejected", "UTF-16 or UTF-32 text (files must be UTF-8)"),
    Case("access-logs/cms/enc/bom-crlf.csv", b"\xef\xbb\xbf" + csv(good(10), good(11), end="\r\n"), "detected",
         accepted=2),
    # ---- headers
    Case("access-logs/cms/hdr/duplicate.csv", csv(good(12), header=HEADER.replace("screen", "user_id")), "rejected",
         "CSV header repeats column(s) user_id"),
    Case("access-logs/cms/hdr/missing.csv", csv(f"bad-13,{T},u1,view", header="event_id,occurred_at,user_id,action"),
         "rejected", "CSV header lacks required column(s) client_id"),
    Case("access-logs/cms/hdr/none.csv", (good(14) + "\n" + good(15) + "\n").encode(), "rejected",
         "CSV header lacks required column(s) event_id, occurred_at, user_id, client_id, action"),
    Case("access-logs/cms/hdr/blank-name.csv", csv(f"bad-16,{T},u1,000001,view,x",
                                                   header="event_id,occurred_at,user_id,client_id,action,"),
         "rejected", "CSV header has an empty column name"),
    # ---- JSON that is valid but not an object
    Case("access-logs/cms/json/not-objects.jsonl", "\n".join([
        "[1, 2]", '"a string"', "42", "null", "true",
        json.dumps({"event_id": "bad-17", "occurred_at": T, "user_id": "u1", "client_id": "000001",
                    "action": "view"})]).encode() + b"\n",
         "detected", lines=dict.fromkeys(range(1, 6), "JSON value is not an object"), accepted=1),
    Case("access-logs/cms/json/document.json", json.dumps([{"event_id": "bad-18"}, {"event_id": "bad-19"}],
                                                          indent=1).encode(),
         "ingested", lines={1: "not valid JSON", **{n: "not valid JSON" for n in range(2, 9)}}),
    # ---- formula prefixes and control characters: kept as data
    Case("access-logs/cms/values/formulas.csv", csv(*[
        f'bad-{20 + i},{T},"{u.replace(chr(34), chr(34) * 2)}",{c},view,address,"{s}",{x}'
        for i, (u, c, s, x) in enumerate([
            (FORMULA_USERS[0], "@SUM(A1)", "=cmd|' /C calc'!A0", "+s"),
            (FORMULA_USERS[1], "-000002", CONTROL, "\t=x"),
            (FORMULA_USERS[2], "=000003", "@x", "-s"),
            (FORMULA_USERS[3], "+000004", "plain", "s"),
            (FORMULA_USERS[4], "000005", "tab\there", "s"),
        ])]), "detected", accepted=5),
    Case("access-logs/cms/values/formulas.jsonl", "\n".join(json.dumps(
        {"event_id": f"bad-{30 + i}", "occurred_at": T, "user_id": u, "client_id": "=0001", "action": "view",
         "screen": "ird_number", "site": CONTROL, "note": "=1+1"}) for i, u in enumerate(FORMULA_USERS)).encode()
         + b"\n", "detected", accepted=5),
    # a data line whose first bytes are a zlib / gzip / zstd magic number is still just text
    Case("access-logs/cms/values/magic.csv", csv(f"x\x01,{T},u1,000001,view,,,", f"\x1f\x8b,{T},u1,000001,view,,,",
                                                 f"(\xb5/\xfd,{T},u1,000001,view,,,"),
         "detected", accepted=3),
    # ---- keys
    Case("access-logs/cms/Māori data/100% + sure/日本 😀 file (1).csv", csv(good(40)), "detected", accepted=1),
    Case("access-logs/hr/unknown.csv", csv(good(41)), "rejected",
         "unknown system prefix (known: cms, payment, payments, accesswatch)"),
    Case("access-logs/loose.csv", csv(good(42)), "rejected", "key is not under access-logs/<system>/"),
    # ---- empty files
    Case("access-logs/cms/empty/zero.csv", b"", "rejected", "empty file (no bytes)"),
    Case("access-logs/cms/empty/zero.csv.gz", gzip.compress(b""), "rejected", "empty file (no bytes)"),
    Case("access-logs/cms/empty/header-only.csv", b"\xef\xbb\xbf" + (HEADER + "\r\n").encode(), "ingested"),
    Case("access-logs/cms/empty/bom-only.csv", b"\xef\xbb\xbf", "rejected", "empty file (no header row)"),
    Case("access-logs/cms/empty/blank.csv", b"  \n\n \n", "rejected", "CSV header row is empty"),
    Case("access-logs/cms/empty/empty.jsonl", b"\n\n", "ingested", lines={1: "blank line", 2: "blank line"}),
    # ---- timestamps
    Case("access-logs/cms/time/offsets.csv", csv(
        "bad-50,2025-03-31T09:00:00,u1,000001,view,,,",
        "bad-51,2025-03-31 09:00,u1,000001,view,,,",
        "bad-52,2025-03-31,u1,000001,view,,,",
        "bad-53,2025-03-31T09:00:00+14:00,u1,000001,view,,,",
        "bad-54,2025-03-31T09:00:00+15:00,u1,000001,view,,,",
        "bad-55,2025-03-31T09:00:00.123456z,u1,000001,view,,,",
        "bad-56,2025-02-30T09:00:00Z,u1,000001,view,,,",
        "bad-57,2025-03-31T25:00:00Z,u1,000001,view,,,",
    ), "detected", accepted=3, lines={2: "timestamp without offset", 3: "timestamp without offset",
                                      4: "unparseable timestamp", 8: "unparseable timestamp",
                                      9: "unparseable timestamp"}),
    Case("access-logs/cms/time/far.csv", csv(
        "bad-60,9999-12-31T23:59:59Z,u1,000001,view,,,",
        "bad-61,0001-01-01T00:00:00Z,u1,000001,view,,,",
        "bad-62,1989-12-31T23:59:59Z,u1,000001,view,,,",
        "bad-63,2999-01-01T00:00:00+13:00,u1,000001,view,,,",
        "bad-64,+10000-01-01T00:00:00Z,u1,000001,view,,,",
        good(65),
    ), "detected", accepted=1, lines={2: "timestamp out of range", 3: "timestamp out of range",
                                      4: "timestamp out of range", 5: "timestamp out of range",
                                      6: "timestamp out of range"}),
    # ---- broken structure
    Case("access-logs/cms/struct/stray-quote.csv", csv(f'bad-70,{T},u1,000001,view,,"open,', good(71), good(72)),
         "detected", accepted=2, lines={2: "malformed CSV quoting"}),
    Case("access-logs/cms/struct/corrupt.csv.gz", gzip.compress(csv(good(73)))[:10] + b"\x00garbage" * 8, "rejected",
         "corrupt gzip data (error)"),
    Case("access-logs/cms/struct/nul.csv", csv(good(74)) + b"bad-75,\x00\x00\x00,u1\n", "rejected",
         "binary content (NUL bytes)"),
]


def _reasons(records: list[dict[str, object]], key: str) -> dict[object, object]:
    return {r["line"]: r["reason"] for r in records if r["key"] == key}


def test_the_corpus_is_what_the_pure_pipeline_says():
    """The same corpus through ingest_stream alone (fast to debug when the runtime test fails)."""
    for case in CORPUS:
        if "/hr/" in case.key or case.key == "access-logs/loose.csv":
            continue
        report = ingest_stream([case.body], key=case.key, system="cms", partition_rows=1000,
                               max_decompressed_bytes=10**8, sink=lambda *a: None)
        assert report.rejected_reason == case.reason, case.key
        assert {q.line: q.reason for q in report.quarantine if q.line is not None} == case.lines, case.key
        assert (report.accepted, report.conserved) == (case.accepted, True), case.key


def test_bad_input_corpus_through_the_runtime(tmp_path: Path):
    world = tiny_world(tmp_path / "world")
    with EmbeddedAws() as aws:
        for path in reference_files(world / "reference"):
            upload(aws, path, f"reference/{path.name}")
        s3 = aws.client("s3")
        raw = aws.resource_name("RawBucket")
        for case in CORPUS:
            s3.put_object(Bucket=raw, Key=case.key, Body=case.body)
        settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)
        summary = export_all(aws, tmp_path / "out", {}, {})

        # None crashes a function: every file has its ledger item, settled, with its reason.
        assert aws.invocation_failures() == []
        files = {f["key"]: f for f in Ledger(aws.resource_name("LedgerTable")).all_files() if f["kind"] == "access-log"}
        assert set(files) == {c.key for c in CORPUS}
        records = collect_quarantine(ObjectStore(s3), aws.resource_name("CuratedBucket"), list(files.values()))
        for case in CORPUS:
            item = files[case.key]
            assert item["status"] == case.status, (case.key, item)
            assert item["lines_read"] == item["accepted"] + item["quarantined"], case.key
            if case.status == "rejected":
                assert item["reason"] == case.reason, case.key
                assert _reasons(records, case.key) == {None: case.reason}, case.key
            else:
                assert (item["accepted"], item["quarantined"]) == (case.accepted, len(case.lines)), case.key
                assert _reasons(records, case.key) == case.lines, case.key
        # Reasons name the problem, never the content.
        contents = [*FORMULA_USERS, "Café", "open", CONTROL]
        assert not [r for r in records if any(value in str(r["reason"]) for value in contents)]

        # Formulas and control characters reach the partitions exactly as written...
        store = ObjectStore(s3)
        curated = aws.resource_name("CuratedBucket")
        events = pl.concat([store.get_parquet(curated, k) for k in store.keys(curated, "events/")])
        formulas = events.filter(pl.col("source_key") == "access-logs/cms/values/formulas.csv").sort("line")
        assert formulas["user_id"].to_list() == FORMULA_USERS
        assert formulas["client_id"].to_list() == ["@SUM(A1)", "-000002", "=000003", "+000004", "000005"]
        assert formulas["site"].to_list()[:2] == ["=cmd|' /C calc'!A0", CONTROL]
        assert formulas["session_id"].to_list()[:3] == ["+s", "=x", "-s"]  # surrounding whitespace is trimmed
        as_json = events.filter(pl.col("source_key") == "access-logs/cms/values/formulas.jsonl").sort("line")
        assert as_json["site"].to_list() == [CONTROL] * 5
        assert [json.loads(x) for x in as_json["extra"].to_list()] == [{"note": "=1+1"}] * 5
        magic = events.filter(pl.col("source_key") == "access-logs/cms/values/magic.csv").sort("line")
        assert magic["event_id"].to_list() == ["x\x01", "\x1f\x8b", "(\xb5/\xfd"]

        # ...and to the exports, which stay one valid JSON object per line.
        exported = {}
        for name in ("findings.jsonl", "cases.jsonl", "quarantine.jsonl"):
            lines = (tmp_path / "out" / name).read_text(encoding="utf-8").splitlines()
            exported[name] = [json.loads(line) for line in lines]
            assert all(isinstance(row, dict) for row in exported[name]), name
        flagged = {f["user_id"] for f in exported["findings.jsonl"] if f["rule"] == "SENSITIVE_LOOKUP"}
        assert set(FORMULA_USERS) <= flagged
        assert summary["totals"]["files"] == len(CORPUS)
        assert_sound(aws, export=tmp_path / "out" / "findings.jsonl")


def test_a_stray_quote_early_in_a_big_file_costs_one_line_and_bounded_memory():
    """An unclosed quote would make the rest of the file one field: one line is quarantined instead,
    and no block grows past the block size plus the 1 MiB line cap (never the whole file)."""
    from accesswatch.ingest.source import MAX_LINE_BYTES, FileFormat, record_blocks

    lines = [good(n) for n in range(40_000)]
    lines[1] = f'bad-x,{T},u1,000001,view,summary,"never closed,s'
    data = csv(*lines)
    assert len(data) > 2 * MAX_LINE_BYTES
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    target = 256 * 1024
    sizes = [len(b.data) for b in record_blocks(iter(chunks), FileFormat.CSV, target)]
    assert sum(sizes) == len(data) and max(sizes) <= target + MAX_LINE_BYTES + 65536
    report = ingest_stream(chunks, key="access-logs/cms/big.csv", system="cms", partition_rows=100_000,
                           max_decompressed_bytes=10**9, sink=lambda *a: None, block_bytes=target)
    assert {q.line: q.reason for q in report.quarantine} == {3: "malformed CSV quoting"}
    assert (report.lines_read, report.accepted) == (40_000, 39_999)
