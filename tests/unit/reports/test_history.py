"""A staff member's access history (``accesswatch.history``): the rows, the summaries, the team median, the
Athena queries; and the evidence pack's manifest and verification (``accesswatch.evidence``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from accesswatch.evidence import (
    MANIFEST,
    EvidenceError,
    build_manifest,
    check_pack_id,
    new_pack_id,
    pack_prefix,
    sha256,
    verify,
)
from accesswatch.footprint import ClientIdCheck, log_coverage
from accesswatch.history import (
    HistoryMeta,
    build_history,
    by_client,
    by_screen,
    compare_with_team,
    event_stats,
    history_sql,
    team_stats_sql,
)

ASSIGNMENTS_SCHEMA = {"user_id": pl.String, "client_id": pl.String, "valid_from": pl.Date, "valid_to": pl.Date}


def events(rows: list[tuple[str, str, str, str, str]]) -> pl.DataFrame:
    """(event_id, user_id, client_id, screen, occurred_at UTC ISO) rows as curated events."""
    return pl.DataFrame({
        "system": ["cms"] * len(rows),
        "event_id": [r[0] for r in rows],
        "occurred_at": [r[4] for r in rows],
        "occurred_at_utc": [datetime.fromisoformat(r[4]).astimezone(UTC) for r in rows],
        "nz_date": [datetime.fromisoformat(r[4]).astimezone(UTC).date() for r in rows],
        "user_id": [r[1] for r in rows],
        "client_id": [r[2] for r in rows],
        "action": ["view"] * len(rows),
        "screen": [r[3] for r in rows],
        "site": ["WLG"] * len(rows),
    }).with_columns(pl.col("occurred_at_utc").dt.cast_time_unit("us"))


EVENTS = events([
    ("e1", "u1", "c1", "summary", "2025-04-01T01:00:00+00:00"),
    ("e2", "u1", "c1", "address", "2025-04-01T02:00:00+00:00"),
    ("e3", "u1", "c2", "ird_number", "2025-04-01T03:00:00+00:00"),
    ("e3", "u1", "c2", "ird_number", "2025-04-01T03:00:00+00:00"),  # a harmless duplicate: listed once
    ("e4", "u1", "c3", "notes", "2025-03-31T23:30:00+00:00"),  # 2025-04-01 12:30 in New Zealand
])


def test_history_rows_are_one_per_access_oldest_first_with_cover_and_findings() -> None:
    assignments = pl.DataFrame({"user_id": ["u1", "u1"], "client_id": ["c1", "c2"],
                                "valid_from": [date(2025, 1, 1), date(2025, 4, 2)], "valid_to": [None, None]},
                               schema=ASSIGNMENTS_SCHEMA)
    findings = [{"system": "cms", "event_id": "e3", "rule": "SENSITIVE_LOOKUP", "finding_id": "f2", "case_id": "C1"},
                {"system": "cms", "event_id": "e3", "rule": "OUT_OF_HOURS_SENSITIVE", "finding_id": "f1"}]
    frame = build_history(EVENTS, assignments=assignments, findings=findings)
    assert frame["event_id"].to_list() == ["e4", "e1", "e2", "e3"]
    assert frame["occurred_at_nz"][0] == "2025-04-01T12:30:00+13:00"
    # c1 is assigned from January; c2 only from 2 April (after these accesses); c3 never
    assert frame["covered"].to_list() == [False, True, True, False]
    assert frame["sensitive"].to_list() == [False, False, True, True]
    e3 = frame.filter(pl.col("event_id") == "e3").to_dicts()[0]
    assert e3["finding_ids"] == ["f1", "f2"] and e3["findings"] == "OUT_OF_HOURS_SENSITIVE;SENSITIVE_LOOKUP"
    assert e3["case_ids"] == "C1"
    assert frame.filter(pl.col("event_id") == "e1")["finding_ids"].to_list() == [[]]


def test_summaries_by_client_and_by_screen() -> None:
    frame = build_history(EVENTS, assignments=pl.DataFrame(schema=ASSIGNMENTS_SCHEMA),
                          findings=[{"system": "cms", "event_id": "e2", "rule": "R", "finding_id": "f"}])
    clients = by_client(frame).to_dicts()
    assert [(c["client_id"], c["accesses"], c["not_covered"], c["flagged"]) for c in clients] == [
        ("c1", 2, 2, 1), ("c2", 1, 1, 0), ("c3", 1, 1, 0)]
    screens = {s["screen"]: s for s in by_screen(frame).to_dicts()}
    assert screens["address"]["sensitive"] is True and screens["summary"]["sensitive"] is False
    assert sum(s["accesses"] for s in screens.values()) == 4
    empty = build_history(EVENTS.head(0), assignments=pl.DataFrame(schema=ASSIGNMENTS_SCHEMA), findings=[])
    assert by_client(empty).height == 0 and by_screen(empty).height == 0


def test_event_stats_count_accesses_distinct_clients_and_sensitive_screens() -> None:
    stats = {r["user_id"]: r for r in event_stats(EVENTS).to_dicts()}
    assert stats["u1"] == {"user_id": "u1", "accesses": 4, "distinct_clients": 3, "sensitive": 2}


def stats(rows: dict[str, tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame([{"user_id": u, "accesses": a, "distinct_clients": d, "sensitive": s}
                         for u, (a, d, s) in rows.items()])


def test_the_team_median_is_of_the_other_members_and_a_silent_member_counts_as_zero() -> None:
    # u1 and three colleagues; u4 made no access in the period (no row) and counts as 0
    comparison = compare_with_team("u1", "Porirua", ["u1", "u2", "u3", "u4"],
                                   stats({"u1": (100, 40, 10), "u2": (20, 10, 2), "u3": (30, 12, 0)}), 10)
    measures = {m.name: m for m in comparison.measures}
    assert comparison.members == 3 and comparison.days_with_logs == 10
    assert measures["accesses_per_day"].user == 10.0 and measures["accesses_per_day"].team_median == 2.0
    assert measures["accesses_per_day"].ratio == 5.0
    assert measures["distinct_clients"].team_median == 10.0
    assert measures["sensitive"].team_median == 0.0 and measures["sensitive"].ratio is None
    text = "\n".join(comparison.lines())
    assert "team Porirua: compared with the median of its 3 other member(s) over 10 day(s) with logs" in text
    assert "accesses per day with logs: 10 (team median 2, 5.0x the median)" in text
    assert comparison.as_json()["accesses_per_day"] == {"user": 10.0, "team_median": 2.0, "ratio": 5.0}


def test_an_even_team_takes_the_mean_of_the_middle_two_and_a_lone_member_has_no_median() -> None:
    comparison = compare_with_team("u1", "T", ["u1", "u2", "u3"], stats({"u2": (4, 1, 1), "u3": (8, 3, 2)}), 2)
    measures = {m.name: m for m in comparison.measures}
    assert measures["accesses_per_day"].team_median == 3.0 and measures["accesses_per_day"].user == 0.0
    assert measures["distinct_clients"].team_median == 2.0
    alone = compare_with_team("u1", "T", ["u1"], stats({"u1": (5, 2, 0)}), 0)
    assert alone.members == 0 and all(m.team_median is None for m in alone.measures)
    assert "no other member in the team" in "\n".join(alone.lines())
    # no days with logs: per day is per 1 day, never a division by zero
    assert {m.name: m.user for m in alone.measures}["accesses_per_day"] == 5.0
    unknown = compare_with_team("u1", None, [], stats({}), 3)
    assert unknown.measures == () and "no comparison" in unknown.lines()[0]


def test_days_with_logs_are_days_any_system_has_logs() -> None:
    start, end = date(2025, 4, 1), date(2025, 4, 5)
    cover = log_coverage({"cms": {date(2025, 4, 1), date(2025, 4, 2)}, "payment": {date(2025, 4, 2),
                                                                                    date(2025, 4, 4)}}, start, end)
    meta = HistoryMeta(ClientIdCheck("u1", True, True, kind="user"), start, end, tuple(cover))
    assert meta.days_with_logs == 3
    assert HistoryMeta(ClientIdCheck("u1", True, True, kind="user"), start, end, ()).days_with_logs == 0


def test_athena_queries_take_every_value_as_a_parameter() -> None:
    sql, parameters = history_sql("db", "events", "u1'; DROP", date(2025, 4, 1), date(2025, 4, 2), ["cms"])
    assert "u1" not in sql and "user_id = ?" in sql and "nz_date BETWEEN" in sql
    assert parameters == ["'2025-04-01'", "'2025-04-02'", "'cms'", "'u1''; DROP'"]
    sql, parameters = team_stats_sql("db", "events", ["u2", "u3"], date(2025, 4, 1), date(2025, 4, 2))
    assert "user_id IN (?, ?)" in sql and "GROUP BY user_id" in sql and "count_if(screen IN" in sql
    assert parameters[-2:] == ["'u2'", "'u3'"]
    with pytest.raises(ValueError):
        history_sql("db", "events", "u1", date(2025, 4, 2), date(2025, 4, 1))


# ------------------------------------------------------------------------------------------ evidence manifest
def pack() -> tuple[dict[str, bytes], bytes]:
    files = {"case.json": b'{"case_id": "C1"}\n', "findings.jsonl": b'{"finding_id": "f1"}\n'}
    manifest = build_manifest(files, pack_id="20261130T081500Z-1a2b3c4d", case_id="C1", user_id="u1",
                              created_at="2026-11-30T08:15:00.000Z", created_by="investigator",
                              period={"from": "2025-04-01", "to": "2025-04-02"})
    return files, manifest


def check(files: dict[str, bytes], manifest: bytes | None, recorded: str | None) -> list[str]:
    return [p.text() for p in verify("local", manifest, recorded, files.get, sorted(files))]


def test_a_manifest_lists_every_file_with_its_hash_and_verifies() -> None:
    files, manifest = pack()
    content = json.loads(manifest)
    assert content["files"] == [{"name": n, "bytes": len(files[n]), "sha256": sha256(files[n])} for n in sorted(files)]
    assert check(files, manifest, sha256(manifest)) == []
    assert manifest == pack()[1]  # the same content hashes the same


def test_verification_names_each_altered_missing_or_added_file_and_a_replaced_manifest() -> None:
    files, manifest = pack()
    recorded = sha256(manifest)
    altered = {**files, "case.json": b'{"case_id": "C2"}\n'}
    assert check(altered, manifest, recorded) == [
        f"local case.json: altered: its SHA-256 is {sha256(altered['case.json'])}, the manifest has "
        f"{sha256(files['case.json'])}"]
    missing = {"case.json": files["case.json"]}
    assert check(missing, manifest, recorded) == ["local findings.jsonl: missing"]
    added = {**files, "extra.txt": b"x"}
    assert check(added, manifest, recorded) == ["local extra.txt: not in the manifest (added after the pack was "
                                                "written)"]
    # a manifest rewritten to match an altered file no longer has the hash the case history recorded
    forged = build_manifest(altered, pack_id="20261130T081500Z-1a2b3c4d", case_id="C1", user_id="u1",
                            created_at="2026-11-30T08:15:00.000Z", created_by="investigator",
                            period={"from": "2025-04-01", "to": "2025-04-02"})
    problems = check(altered, forged, recorded)
    assert len(problems) == 1 and problems[0].startswith(f"local {MANIFEST}: altered")
    assert check(files, None, recorded) == [f"local {MANIFEST}: missing"]
    assert check(files, b"not json", recorded)[-1] == f"local {MANIFEST}: manifest.json is not JSON"


def test_pack_ids_and_names_are_checked() -> None:
    pid = new_pack_id(datetime(2026, 11, 30, 8, 15, tzinfo=UTC))
    assert pid.startswith("20261130T081500Z-") and check_pack_id(pid) == pid
    assert pack_prefix("CASE-1", pid) == f"evidence/CASE-1/{pid}/"
    for bad in ("../x", "20261130T081500Z-XYZ", ""):
        with pytest.raises(EvidenceError):
            check_pack_id(bad)
    with pytest.raises(EvidenceError):
        pack_prefix("CASE/1", pid)
    bad_files: dict[str, Any] = {"../case.json": b""}
    with pytest.raises(EvidenceError):
        build_manifest(bad_files, pack_id=pid, case_id="C", user_id="u", created_at="", created_by="", period={})


class FakeAthena:
    """AthenaQueries' interface: each query's text and parameters kept, answers as Athena gives them (text)."""

    database = "db"

    def __init__(self) -> None:
        self.queries: list[tuple[str, list[str]]] = []

    def run(self, sql: str, parameters: list[str]) -> pl.DataFrame:
        self.queries.append((sql, parameters))
        if "GROUP BY" in sql:
            return pl.DataFrame({"user_id": ["u2", "u3"], "accesses": ["4", "8"], "distinct_clients": ["1", "3"],
                                 "sensitive": ["1", "2"]})
        return pl.DataFrame({"system": ["cms"], "event_id": ["e1"], "occurred_at": ["2025-04-01T13:00:00+13:00"],
                             "occurred_at_utc": ["2025-04-01 00:00:00.000 UTC"], "nz_date": ["2025-04-01"],
                             "user_id": ["u1"], "client_id": ["c1"], "action": ["view"], "screen": ["address"],
                             "site": ["WLG"]})


def test_the_athena_source_reads_the_user_and_the_teams_counts_in_two_queries() -> None:
    from accesswatch.services.history import AthenaHistoryEvents

    fake = FakeAthena()
    own, team = AthenaHistoryEvents(fake, "events").user_events(  # type: ignore[arg-type]
        "u1", ["u1", "u2", "u3"], date(2025, 4, 1), date(2025, 4, 1))
    assert len(fake.queries) == 2 and fake.queries[1][1][-2:] == ["'u2'", "'u3'"]  # the user is not in the team's
    frame = build_history(own, assignments=pl.DataFrame(schema=ASSIGNMENTS_SCHEMA), findings=[])
    assert frame.to_dicts()[0]["occurred_at_nz"] == "2025-04-01T13:00:00+13:00"
    assert frame["sensitive"].to_list() == [True]
    comparison = compare_with_team("u1", "T", ["u1", "u2", "u3"], pl.concat([team, event_stats(own)]), 1)
    assert {m.name: (m.user, m.team_median) for m in comparison.measures} == {
        "accesses_per_day": (1.0, 6.0), "distinct_clients": (1.0, 2.0), "sensitive": (1.0, 1.5)}
    # a user alone in their team: one query only
    fake = FakeAthena()
    AthenaHistoryEvents(fake, "events").user_events("u1", ["u1"], date(2025, 4, 1), date(2025, 4, 1))  # type: ignore[arg-type]
    assert len(fake.queries) == 1


def test_an_evidence_packs_window_spans_the_cases_findings_and_the_period_it_was_opened_for() -> None:
    from accesswatch_tools.operate.evidence import case_window

    detected = {"first_occurred_at": "2025-03-31T11:30:00+00:00", "last_occurred_at": "2025-04-03T01:00:00+00:00"}
    # 11:30 UTC on 31 March is 00:30 on 1 April in New Zealand: the window is of NZ dates
    assert case_window(detected, []) == (date(2025, 4, 1), date(2025, 4, 3))
    assert case_window(detected, [{"nz_date": "2025-04-06"}]) == (date(2025, 4, 1), date(2025, 4, 6))
    complaint = {"source_from": "2025-03-01", "source_to": "2025-03-15"}
    assert case_window(complaint, []) == (date(2025, 3, 1), date(2025, 3, 15))
    assert case_window({**detected, **complaint}, []) == (date(2025, 3, 1), date(2025, 4, 3))
    assert case_window({}, []) is None
