"""Minimisation (issue #20, item 2): what a quarantine record and a curated reference copy keep.

A quarantine record says what a person needs to fix the source (file, line, reason, the field that failed,
the names of the fields the line holds) and never a value of the line; the raw text is written only when
``QUARANTINE_RAW_TEXT`` is on, and then under ``quarantine-raw/``. A curated reference copy keeps only the
columns something reads back from it; unknown columns are dropped and named in the snapshot's report.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

from accesswatch.config import IngestSettings
from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
from accesswatch.dal.objects import CuratedLayout
from accesswatch.ingest.pipeline import FileReport, QuarantinedLine, ingest_stream, read_table
from accesswatch.reference.minimise import COMPILED_FROM_RAW, CURATED_FIELDS, PERSONAL_FIELDS, curated_copy
from accesswatch.services.ingest import write_quarantine

HEADER = "event_id,occurred_at,user_id,client_id,action,screen,site,session_id,note"
PERSONAL = "Aroha Wihongi 1963-02-05"


def run(data: bytes, key: str) -> FileReport:
    return ingest_stream([data], key=key, system="cms", partition_rows=1000, max_decompressed_bytes=10**9,
                         sink=lambda s, d, f, n: None)


def records(report: FileReport) -> dict[int | None, dict[str, Any]]:
    return {q.line: q.record(report.key) for q in report.quarantine}


def test_a_csv_quarantine_record_names_the_failed_field_and_the_fields_present_never_a_value():
    lines = [HEADER,
             f"e1,2025-04-01T09:00:00Z,u1,000001,view,summary,Akl,s1,{PERSONAL}",  # accepted
             f"e2,2025-04-01T09:00:00Z,,000001,view,summary,Akl,s1,{PERSONAL}",  # no user
             f"e3,yesterday,u1,000001,view,,,,{PERSONAL}",  # bad timestamp
             f"e4,2025-04-01T09:00:00,u1,000001,view,,,,{PERSONAL}",  # naive timestamp
             f"e5,2025-04-01T09:00:00Z,u1,000001,peek,,,,{PERSONAL}",  # unknown action
             f"e6,2025-04-01T09:00:00Z,u1,000001,view,a,b,c,{PERSONAL},x"]  # a field too many
    report = run(("\n".join(lines) + "\n").encode(), "access-logs/cms/f.csv")
    assert report.lines_read == 6 == report.accepted + report.quarantined and report.accepted == 1
    got = records(report)
    assert {n: (r["reason"], r["field"]) for n, r in got.items()} == {
        3: ("missing required field user_id", "user_id"),
        4: ("unparseable timestamp", "occurred_at"),
        5: ("timestamp without offset", "occurred_at"),
        6: ("unknown action", "action"),
        7: ("10 fields where the header has 9", None),
    }
    assert got[3]["fields"] == ["event_id", "occurred_at", "client_id", "action", "screen", "site", "session_id",
                                "note"]
    assert got[4]["fields"] == ["event_id", "occurred_at", "user_id", "client_id", "action", "note"]
    assert got[7]["fields"] == []
    for record in got.values():
        assert set(record) == {"key", "line", "reason", "field", "fields"}
        assert "Wihongi" not in json.dumps(record) and "1963" not in json.dumps(record)
    # the raw text is still known in memory, for a deployment that keeps it
    assert all(PERSONAL in q.raw for q in report.quarantine)


def test_a_json_lines_record_names_its_unknown_attributes_too():
    lines = [json.dumps({"event_id": "e1", "occurred_at": "2025-04-01T09:00:00Z", "user_id": "u1",
                         "client_id": "000001", "action": "wave", "client_name": PERSONAL, "empty": None}),
             "{not json " + PERSONAL]
    report = run(("\n".join(lines) + "\n").encode(), "access-logs/cms/f.jsonl")
    got = records(report)
    assert (got[1]["reason"], got[1]["field"]) == ("unknown action", "action")
    assert got[1]["fields"] == ["event_id", "occurred_at", "user_id", "client_id", "action", "client_name"]
    assert (got[2]["reason"], got[2]["field"], got[2]["fields"]) == ("not valid JSON", None, [])
    assert PERSONAL not in json.dumps(list(got.values()))


class Store:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "") -> None:
        self.objects[key] = data


LINES = [QuarantinedLine(3, "unknown action", f"e3,...,{PERSONAL}", "action", ("event_id", "action")),
         QuarantinedLine(4, "line is not valid UTF-8")]


@pytest.mark.parametrize("raw_text", [False, True])
def test_raw_text_is_written_only_when_configured_and_only_under_quarantine_raw(raw_text: bool):
    store = Store()
    write_quarantine(store, "cur", "cms", "i1", "access-logs/cms/f.csv", LINES, raw_text=raw_text)  # type: ignore[arg-type]
    plain = store.objects.pop(CuratedLayout.quarantine("cms", "i1")).decode()
    assert [json.loads(line) for line in plain.splitlines()] == [
        {"key": "access-logs/cms/f.csv", "line": 3, "reason": "unknown action", "field": "action",
         "fields": ["event_id", "action"]},
        {"key": "access-logs/cms/f.csv", "line": 4, "reason": "line is not valid UTF-8", "field": None,
         "fields": []},
    ]
    if raw_text:
        raw = store.objects.pop(CuratedLayout.quarantine_raw("cms", "i1")).decode()
        assert CuratedLayout.quarantine_raw("cms", "i1").startswith("quarantine-raw/")
        assert [json.loads(line) for line in raw.splitlines()] == [
            {"key": "access-logs/cms/f.csv", "line": 3, "raw": f"e3,...,{PERSONAL}"}]  # only lines with a text
    assert store.objects == {}


def test_raw_quarantine_text_is_off_unless_the_environment_turns_it_on():
    env = {"RAW_BUCKET": "r", "CURATED_BUCKET": "c", "FINDINGS_TABLE": "f", "CASES_TABLE": "c",
           "LEDGER_TABLE": "l", "IDEMPOTENCY_TABLE": "i", "KNOWN_SYSTEMS": "cms", "PARTITION_ROWS": "10",
           "MAX_DECOMPRESSED_MIB": "1", "DETECTION_STATE_MACHINE_ARN": "arn"}
    assert IngestSettings.from_env(env).quarantine_raw_text is False
    assert IngestSettings.from_env({**env, "QUARANTINE_RAW_TEXT": "true"}).quarantine_raw_text is True


# ------------------------------------------------------------------ curated reference copies
def test_no_curated_copy_keeps_a_personal_contract_column_and_those_kinds_compile_from_raw():
    for kind in ReferenceKind:
        assert set(CURATED_FIELDS[kind]) <= set(REFERENCE_FIELDS[kind])
        assert not set(CURATED_FIELDS[kind]) & set(PERSONAL_FIELDS.get(kind, ()))
    assert COMPILED_FROM_RAW == {ReferenceKind.STAFF, ReferenceKind.CLIENTS}


def test_a_staff_csv_copy_keeps_ids_role_team_and_account_type_and_names_what_it_dropped():
    text = ("user_id,family_name,given_names,date_of_birth,address,role,team,site,manager_user_id,client_id,"
            "status,start_date,end_date,account_type,ird_number\n"
            "u1,Wihongi,Aroha,1963-02-05,49 Kauri St,Case Manager,Team A,Akl,u2,000001,active,2020-01-01,,person,"
            "123-456-789\n")
    table = read_table([text.encode()], key="reference/staff.csv", fields=REFERENCE_FIELDS[ReferenceKind.STAFF],
                       max_decompressed_bytes=10**6)
    copy = curated_copy(ReferenceKind.STAFF, table.rows.drop("__line"))
    assert copy.frame.to_dicts() == [{"user_id": "u1", "role": "Case Manager", "team": "Team A",
                                      "manager_user_id": "u2", "account_type": "person"}]
    assert copy.dropped_unknown_columns == ("ird_number",)
    assert set(copy.dropped_contract_columns) == {"family_name", "given_names", "date_of_birth", "address", "site",
                                                  "client_id", "status", "start_date", "end_date"}


def test_a_clients_json_lines_copy_keeps_the_id_only_and_lists_the_unknown_attribute_names():
    rows = [{"client_id": "000001", "family_name": "Wihongi", "given_names": "Aroha", "date_of_birth": "1963-02-05",
             "address": "49 Kauri St", "flags": "media", "ird_number": "123456789", "notes": None},
            {"client_id": "000002", "phone": "021 555 0101"}]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    table = read_table([data], key="reference/clients.jsonl", fields=REFERENCE_FIELDS[ReferenceKind.CLIENTS],
                       max_decompressed_bytes=10**6)
    copy = curated_copy(ReferenceKind.CLIENTS, table.rows.drop("__line"))
    assert copy.frame.schema == pl.Schema({"client_id": pl.String})
    assert copy.frame["client_id"].to_list() == ["000001", "000002"]
    assert copy.dropped_unknown_columns == ("ird_number", "notes", "phone")
    summary = copy.summary()
    assert summary["dropped_unknown_count"] == 3 and "123456789" not in json.dumps(summary)


def test_a_snapshot_without_a_kept_column_gets_it_as_null_text():
    copy = curated_copy(ReferenceKind.STAFF, pl.DataFrame({"user_id": ["u1"]}))
    assert copy.frame.columns == list(CURATED_FIELDS[ReferenceKind.STAFF])
    assert copy.frame.row(0) == ("u1", None, None, None, None)


@pytest.mark.parametrize("neighbour", ["", 'e9,2025-04-01T09:00:00Z,u1,000001,view,"unclosed\n'])
def test_a_short_csv_line_is_quarantined_whichever_reader_reads_its_block(neighbour: str):
    """polars would fill a short line's missing fields with nulls (a name would become a user id); the exact
    reader quarantines it. Either way the line is quarantined, with the field count as its reason."""
    text = (f"{HEADER}\ne1,2025-04-01T09:00:00Z,u1,000001,view,summary,Akl,s1,\n"
            f"{PERSONAL},2025-04-01T09:00:00Z,u1,000001,view\n{neighbour}")
    report = run(text.encode(), "access-logs/cms/f.csv")
    assert records(report)[3]["reason"] == "5 fields where the header has 9"
    assert report.accepted == 1 and report.lines_read == report.accepted + report.quarantined
