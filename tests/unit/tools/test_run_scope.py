"""What one run did (operate/run_scope.py) and ``accesswatch export``'s period, target and lines
(operate/export.py, cli/commands/export.py): the pure parts, no AWS."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from accesswatch.contract import FINDING_EXPORT_FIELDS
from accesswatch_tools.cli.main import main
from accesswatch_tools.operate.export import (
    ExportError,
    Period,
    export_finding,
    writable_target,
    write_export,
)
from accesswatch_tools.operate.run_scope import (
    CASE_ALREADY_HELD,
    CASE_JOINED,
    CASE_OPENED,
    RELEASED,
    UPLOADED,
    RunFile,
    case_line,
    case_role,
    combine_events,
    finding_line,
    match_findings,
    new_finding_ids,
    partition_events,
    summarise_run,
    user_windows,
)

T1 = datetime(2025, 3, 31, 8, 18, tzinfo=UTC)
T2 = datetime(2025, 3, 31, 9, 0, 0, 500_000, tzinfo=UTC)


def partition(rows: list[tuple[str, str, str, datetime]], *, system: str = "cms", key: str = "access-logs/cms/a.csv"
              ) -> pl.DataFrame:
    frame = pl.DataFrame({"event_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
                          "client_id": [r[2] for r in rows], "occurred_at_utc": [r[3] for r in rows]},
                         schema={"event_id": pl.String, "user_id": pl.String, "client_id": pl.String,
                                 "occurred_at_utc": pl.Datetime("us", "UTC")})
    return partition_events(frame, system=system, source_key=key)


def finding(fid: str, event_id: str, user: str, client: str, at: datetime, *, system: str = "cms",
            partition_key: str = "events/p1.parquet", **extra: object) -> dict[str, object]:
    return {"finding_id": fid, "system": system, "event_id": event_id, "rule": "SELF_RECORD", "severity": "high",
            "user_id": user, "client_id": client, "occurred_at": at.isoformat(), "occurred_at_utc": at.isoformat(),
            "explanation": "x", "evidence": "{}", "partition_key": partition_key, "snapshot_id": "s1", **extra}


# ------------------------------------------------------------------------------------------ the run's files
@pytest.mark.parametrize(("before", "seen", "judged"), [
    (None, False, True),                 # a new file: judged by this run
    ("detected", True, False),           # an identical re-upload of a finished file: nothing new from it
    ("ingested", True, False),
    ("rejected", True, False),
    ("awaiting_reference", True, True),  # waited for reference data: this run judged it
    ("failed", True, True),              # the system failed on it before: judged again now
])
def test_a_files_status_before_the_run_says_whether_the_run_judged_it(before, seen, judged):
    f = RunFile("id", "access-logs/cms/a.csv", UPLOADED, before)
    assert (f.seen_before, f.judged_by_run) == (seen, judged)


# ------------------------------------------------------------------------------------------ findings
def test_findings_are_tied_to_the_runs_events_by_the_events_identity():
    events = combine_events([partition([("e1", "u1", "001", T1), ("e2", "u1", "002", T2)]),
                             partition([("e1", "u1", "001", T1)], key="access-logs/cms/b.csv")])
    found = match_findings([
        finding("f1", "e1", "u1", "001", T1),
        finding("f2", "e2", "u1", "002", T2),
        finding("other-client", "e1", "u1", "009", T1),       # the same event id with other content
        finding("other-time", "e2", "u1", "002", T1),
        finding("other-system", "e1", "u1", "001", T1, system="payment"),
        finding("not-ours", "e7", "u1", "001", T1),
    ], events)
    assert found == {"f1": ["access-logs/cms/a.csv", "access-logs/cms/b.csv"], "f2": ["access-logs/cms/a.csv"]}
    # What is kept of the run's events: a hash of each identity and its file, not the events themselves.
    assert events.keys.schema == {"_identity": pl.UInt64, "_source": pl.UInt32} and events.keys.height == 3
    assert events.sources == ("access-logs/cms/a.csv", "access-logs/cms/b.csv")


def test_nothing_matches_without_events_or_findings():
    assert match_findings([], combine_events([])) == {}
    assert match_findings([finding("f1", "e1", "u1", "001", T1)], combine_events([])) == {}


def test_each_users_window_holds_every_stored_form_of_their_instants():
    events = combine_events([partition([("e1", "u1", "001", T1), ("e2", "u1", "002", T2), ("e3", "u2", "3", T2)])])
    windows = user_windows(events)
    assert set(windows) == {"u1", "u2"}
    since, until = windows["u1"]
    for stored in (T1.isoformat(), T2.isoformat(), "2025-03-31T09:00:00+00:00"):
        assert since <= stored <= until, stored
    assert not since <= "2025-03-31T08:17:59+00:00" <= until
    assert not since <= "2025-03-31T09:00:01+00:00" <= until


def test_a_finding_is_new_when_the_run_judged_the_partition_it_was_written_from():
    findings = [finding("f1", "e1", "u1", "1", T1, partition_key="events/mine.parquet"),
                finding("f2", "e2", "u1", "1", T1, partition_key="events/earlier.parquet")]
    assert new_finding_ids(findings, {"events/mine.parquet"}) == {"f1"}


def test_a_runs_finding_line_is_the_export_line_then_the_runs_fields():
    item = finding("f1", "e1", "u1", "001", T1, case_id="CASE-1")
    line = finding_line(item, already_known=True, source_keys=["access-logs/cms/a.csv"])
    assert list(line)[: len(FINDING_EXPORT_FIELDS)] == list(FINDING_EXPORT_FIELDS)
    assert {k: v for k, v in line.items() if k not in ("already_known", "source_keys")} == export_finding(item)
    assert (line["already_known"], line["source_keys"]) == (True, ["access-logs/cms/a.csv"])


# ------------------------------------------------------------------------------------------ cases
@pytest.mark.parametrize(("members", "opening", "role"), [
    (["old1", "new1"], ["new1"], CASE_OPENED),
    (["old1", "new1"], ["old1"], CASE_JOINED),
    (["old1", "old2"], ["old1"], CASE_ALREADY_HELD),
])
def test_what_the_run_did_to_a_case(members, opening, role):
    assert case_role(members, {"new1", "new2"}, opening) == role


def test_a_runs_case_line_names_the_runs_findings_in_it():
    case = {"case_id": "CASE-1", "user_id": "u1", "status": "investigating", "score": 3.0, "tier": "immediate",
            "rules": ["SELF_RECORD"], "client_ids": ["001"], "finding_ids": ["f2", "f1", "f9"],
            "opened_at": "2026-11-30T01:00:00.000Z"}
    line = case_line(case, role=CASE_JOINED, run_finding_ids={"f1", "f2", "f3"})
    assert (line["run_role"], line["run_finding_ids"]) == (CASE_JOINED, ["f1", "f2"])
    assert line["finding_ids"] == ["f1", "f2", "f9"]


def test_the_run_summary_counts_this_runs_files_findings_and_cases_only():
    files = [(RunFile("a", "access-logs/cms/a.csv", UPLOADED, "detected"),
              {"key": "access-logs/cms/a.csv", "kind": "access-log", "status": "detected", "lines_read": 3,
               "accepted": 2, "quarantined": 1}),
             (RunFile("b", "access-logs/cms/b.csv", RELEASED, "awaiting_reference"),
              {"key": "access-logs/cms/b.csv", "kind": "access-log", "status": "detected", "lines_read": 1,
               "accepted": 1, "quarantined": 0}),
             (RunFile("r", "reference/staff.csv", UPLOADED), None)]
    findings = [finding("f1", "e1", "u1", "1", T1, case_id="C1"), finding("f2", "e2", "u1", "1", T1)]
    lines = [finding_line(findings[0], already_known=True, source_keys=[]),
             finding_line(findings[1], already_known=False, source_keys=[])]
    cases = [{"case_id": "C1", "status": "investigating", "trigger": "immediate", "finding_ids": ["f1"]}]
    summary = summarise_run(files, findings, lines, cases, [{"run_role": CASE_ALREADY_HELD}],
                            {"DetectionStateMachine": Counter({"SUCCEEDED": 1})}, {"snapshot_id": "s1"})
    assert summary["totals"] == {
        "files": 2, "files_seen_before": 2, "files_released": 1, "lines_read": 4, "accepted": 3, "quarantined": 1,
        "rejected_files": 0, "findings": 2, "new_findings": 1, "already_known_findings": 1, "cases": 1,
        "cases_opened": 0, "cases_joined": 0, "cases_already_held": 1}
    assert [(f["key"], f["origin"], f["seen_before"]) for f in summary["files"]] == [
        ("access-logs/cms/a.csv", UPLOADED, True), ("access-logs/cms/b.csv", RELEASED, True),
        ("reference/staff.csv", UPLOADED, False)]
    assert summary["files"][2]["status"] == "not recorded"
    assert summary["executions"] == {"DetectionStateMachine": {"SUCCEEDED": 1}}
    assert summary["snapshot_id"] == "s1" and summary["scope"].startswith("this run")


# ------------------------------------------------------------------------------------------ export
def test_a_period_is_new_zealand_dates_inclusive():
    period = Period(date(2025, 4, 1), date(2025, 4, 6))
    assert period.holds("2025-04-01") and period.holds("2025-04-06")
    assert not period.holds("2025-03-31") and not period.holds("2025-04-07") and not period.holds("")
    # NZDT (UTC+13) on 1 April, NZST (UTC+12) from 6 April: the bounds are NZ midnights in UTC.
    assert period.instants() == ("2025-03-31T11:00:00.000Z", "2025-04-06T12:00:00.000Z")
    assert Period(None, date(2025, 4, 6)).instants() == (None, "2025-04-06T12:00:00.000Z")
    assert Period().days() == (None, None) and Period().holds("1999-01-01")
    assert Period(date(2025, 4, 1)).describe() == "from 2025-04-01"


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ExportError, match="--from 2025-04-02 is after --to 2025-04-01"):
        Period(date(2025, 4, 2), date(2025, 4, 1))


def test_the_export_target_must_be_a_writable_file(tmp_path: Path):
    assert writable_target(tmp_path / "x.jsonl") == tmp_path / "x.jsonl"
    with pytest.raises(ExportError, match="is a directory"):
        writable_target(tmp_path)
    with pytest.raises(ExportError, match="does not exist"):
        writable_target(tmp_path / "missing" / "x.jsonl")
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


def test_an_export_is_written_whole_or_not_at_all(tmp_path: Path):
    target = tmp_path / "findings.jsonl"
    assert write_export(target, [{"a": 1}, {"a": 2}]) == 2
    assert [json.loads(line) for line in target.read_text().splitlines()] == [{"a": 1}, {"a": 2}]

    def failing():
        yield {"a": 3}
        raise RuntimeError("the table went away")

    with pytest.raises(RuntimeError):
        write_export(target, failing())
    assert [json.loads(line) for line in target.read_text().splitlines()] == [{"a": 1}, {"a": 2}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.jsonl"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--from", "2025-04-02", "--to", "2025-04-01"], "accesswatch: --from 2025-04-02 is after --to 2025-04-01"),
    (["--out-dir"], "is a directory"),
])
def test_export_refuses_bad_requests_in_one_line(argv, message, tmp_path: Path, capsys):
    args = ["export", "findings", *[a for a in argv if a != "--out-dir"], "--out",
            str(tmp_path if "--out-dir" in argv else tmp_path / "f.jsonl"), "--state-dir", str(tmp_path / "none")]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_export_refuses_a_date_that_is_not_one(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "cases", "--from", "2025-04-31", "--out", str(tmp_path / "c.jsonl")])
    assert exit_.value.code == 2
    assert "'2025-04-31' is not a date" in capsys.readouterr().err
