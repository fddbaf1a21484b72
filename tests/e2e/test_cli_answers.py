"""The CLI answers what it can and says so: ``findings list`` shows what detection recorded, staging rules
included, through the findings table's indexes; ``--json`` is one object per line everywhere; people get tables
with New Zealand times, the zone named. The commands run in this process (``main(argv)``) on one embedded
runtime, with findings written straight to the table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from accesswatch.quarters import NZ, quarter_end
from accesswatch_tools.cli.main import main

pytestmark = pytest.mark.e2e


def _finding(n: int, rule: str, status: str, user: str, client: str, nz: str, **extra: Any) -> dict[str, Any]:
    from datetime import UTC

    local = datetime.fromisoformat(nz).replace(tzinfo=NZ)
    day = local.date()
    quarter = quarter_end(day).isoformat()
    severity = {"SELF_RECORD": "high", "SENSITIVE_LOOKUP": "medium"}.get(rule, "low")
    tier = {"SELF_RECORD": "immediate", "SENSITIVE_LOOKUP": "accumulate"}.get(rule, "record")
    return {"finding_id": f"f{n:031d}", "system": "cms", "event_id": f"cms-{n:09d}", "rule": rule,
            "severity": severity, "rule_status": status, "tier": tier if status == "live" else "record",
            "modifiers": "", "user_id": user, "client_id": client, "occurred_at": local.isoformat(),
            "occurred_at_utc": local.astimezone(UTC).isoformat(), "nz_date": day.isoformat(), "quarter": quarter,
            "rule_quarter": f"{rule}#{quarter}", "explanation": f"explained {n}", "evidence": "{}",
            "snapshot_id": "snap-1", "partition_key": "events/system=cms/nz_date=x", **extra}


FINDINGS = [
    _finding(1, "SELF_RECORD", "live", "u1", "010693250", "2025-03-31T09:00:00", case_id="CASE-AAAA"),
    _finding(2, "SENSITIVE_LOOKUP", "live", "u1", "000300", "2025-04-02T10:30:00"),
    _finding(3, "OUT_OF_HOURS_SENSITIVE", "staging", "u2", "010693250", "2025-04-05T22:15:00"),
    _finding(4, "OUT_OF_HOURS_SENSITIVE", "staging", "u1", "000300", "2025-07-01T06:00:00"),
    _finding(5, "INACTIVE_ACCOUNT", "staging", "u2", "000301", "2025-07-02T12:00:00"),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    from accesswatch.dal.findings import FindingStore
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    with EmbeddedAws() as aws:
        store = FindingStore(aws.resource_name("FindingsTable"), aws.resource("dynamodb"))
        for item in FINDINGS:
            store.put_if_new(item)
        yield aws


@pytest.fixture
def cli(stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    from accesswatch_tools.cli.commands import exceptions, findings

    for module in (findings, exceptions):
        monkeypatch.setattr(module, "deployment", lambda args: stack)

    def run(*argv: str, code: int = 0) -> str:
        assert main(list(argv)) == code
        captured = capsys.readouterr()
        return captured.out if code == 0 else captured.err

    return run


def lines(text: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(r, dict) for r in records), "one JSON object per line"
    return records


def ids(text: str) -> list[int]:
    return [int(r["finding_id"][1:]) for r in lines(text)]


def test_findings_list_shows_staging_findings_in_a_table_with_nz_times(cli: Any) -> None:
    table = cli("findings", "list").splitlines()
    assert table[0].split()[:4] == ["OCCURRED", "(NZ)", "RULE", "STATUS"]
    assert table[-1] == "5 finding(s) (2 live, 3 staging), oldest first"
    assert len(table) == 7
    assert table[1].startswith("2025-03-31 09:00 NZDT  SELF_RECORD") and "CASE-AAAA" in table[1]
    assert "risk ledger" in table[2]
    staging = [row for row in table[1:-1] if "  staging  " in row]
    assert len(staging) == 3 and all("recorded only" in row for row in staging)
    assert table[4].startswith("2025-07-01 06:00 NZST  OUT_OF_HOURS_SENSITIVE")
    explained = cli("findings", "list", "--status", "staging", "--explain").splitlines()
    assert "    explained 3" in explained


def test_findings_list_json_is_one_object_per_line(cli: Any) -> None:
    records = lines(cli("findings", "list", "--status", "staging", "--json"))
    assert [r["finding_id"] for r in records] == [f["finding_id"] for f in FINDINGS[2:]]
    assert all(r["rule_status"] == "staging" and r["route"] == "recorded only (staging)" for r in records)
    assert {"finding_id", "event_id", "rule", "severity", "user_id", "client_id", "occurred_at", "explanation",
            "evidence", "system", "snapshot_id", "nz_date", "tier"} <= set(records[0])
    assert records[0]["evidence"] == {}


def test_findings_list_filters(cli: Any) -> None:
    assert ids(cli("findings", "list", "--rule", "self_record", "--json")) == [1]
    assert ids(cli("findings", "list", "--status", "live", "--json")) == [1, 2]
    assert ids(cli("findings", "list", "--user", "u1", "--json")) == [1, 2, 4]
    assert ids(cli("findings", "list", "--user", "u1", "--from", "2025-04-01", "--to", "2025-06-30", "--json")) == [2]
    assert ids(cli("findings", "list", "--client", "010693250", "--json")) == [1, 3]
    assert ids(cli("findings", "list", "--client", "10693250", "--json")) == [], "an id is text, never a number"
    assert ids(cli("findings", "list", "--client", "000300", "--status", "staging", "--json")) == [4]
    # a rule and a period read the rule's quarters only; a period alone, every finding of its days
    assert ids(cli("findings", "list", "--rule", "OUT_OF_HOURS_SENSITIVE", "--from", "2025-04-05", "--to",
                   "2025-07-01", "--json")) == [3, 4]
    assert ids(cli("findings", "list", "--from", "2025-07-01", "--json")) == [4, 5]
    assert ids(cli("findings", "list", "--to", "2025-03-31", "--json")) == [1]
    assert cli("findings", "list", "--user", "u9").splitlines()[-1] == "0 finding(s), oldest first"


def test_exceptions_list_is_a_table_with_nz_times_or_json_lines(cli: Any) -> None:
    expires = (date.today() + timedelta(days=30)).isoformat()
    made = cli("exceptions", "add", "--rule", "sensitive_lookup", "--user", "u1", "--expires", expires,
               "--reason", "front counter")
    assert "rule SENSITIVE_LOOKUP, user u1 suppressed from routing until" in made
    table = cli("exceptions", "list").splitlines()
    assert "MADE (NZ)" in table[0] and ("NZDT" in table[1] or "NZST" in table[1])
    (record,) = lines(cli("exceptions", "list", "--json"))
    assert record["rule"] == "SENSITIVE_LOOKUP" and record["active"] is True


def test_alarms_json_is_one_object_per_alarm_per_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from accesswatch_tools.cli.commands import alarms

    rows = [{"name": "a-errors", "state": "ALARM", "reason": "1 of 1 > 0", "last_change": "2026-11-25T10:15:57Z"},
            {"name": "b-heartbeat", "state": "OK", "reason": "fine", "last_change": "2026-11-25T10:16:19Z"}]
    monkeypatch.setattr(alarms, "deployment", lambda args: None)
    monkeypatch.setattr(alarms, "alarm_rows", lambda dep: rows)
    assert main(["alarms", "--json"]) == 0
    assert lines(capsys.readouterr().out) == rows
    assert main(["alarms"]) == 0
    text = capsys.readouterr().out
    assert "2026-11-25 23:15:57 NZDT" in text and text.splitlines()[-1] == "2 alarms: 1 ALARM, 0 INSUFFICIENT_DATA, 1 OK"


def test_replay_prints_a_table_for_people_and_one_json_line_for_scripts(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from accesswatch_tools.cli.commands import replay

    report = {"partitions": 3, "execution": "SUCCEEDED", "snapshot_id": "snap-2", "new": {"SELF_RECORD": 2},
              "raised_again": {"SELF_RECORD": 5, "SENSITIVE_LOOKUP": 7}, "no_longer_raised": {"SENSITIVE_LOOKUP": 1},
              "no_longer_raised_ids": ["f1"]}
    monkeypatch.setattr(replay, "deployment", lambda args: None)
    monkeypatch.setattr(replay, "replay", lambda dep, start, end, timeout_s: dict(report))
    assert main(["replay", "--from", "2025-04-01", "--to", "2025-04-07", "--json"]) == 0
    (printed,) = lines(capsys.readouterr().out)
    assert printed == {k: v for k, v in report.items() if k != "no_longer_raised_ids"}
    assert main(["replay", "--from", "2025-04-01", "--to", "2025-04-07", "--show-ids"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("replay of 2025-04-01 to 2025-04-07 (New Zealand dates): 3 partition(s)")
    assert text[1].split() == ["RULE", "NEW", "RAISED", "AGAIN", "NO", "LONGER", "RAISED"]
    assert text[2].split() == ["SELF_RECORD", "2", "5", "0"] and text[4].split() == ["total", "2", "12", "1"]
    assert text[-1] == "no longer raised: f1"


def test_case_pages_show_nz_times_and_no_due_date_once_closed() -> None:
    from accesswatch_tools.cli.commands.cases import render_list, render_show

    case = {"case_id": "CASE-1", "status": "closed_founded", "priority": "high", "score": 12.5, "tier": "immediate",
            "user_id": "u1", "client_ids": ["010693250"], "rules": ["SELF_RECORD"], "finding_count": 1,
            "opened_at": "2025-03-30T20:00:00.123Z", "decision_due_at": "2025-04-13T20:00:00Z",
            "closed_at": "2025-04-20T01:00:00Z"}
    listed = render_list([case])
    assert listed[0].endswith("OPENED (NZ)") and listed[1].endswith("2025-03-31 09:00 NZDT")
    shown = {**case, "findings": [{"occurred_at": "2025-03-31T09:00:00+13:00", "rule": "SELF_RECORD",
                                   "severity": "high", "client_id": "010693250", "points": 10.0,
                                   "finding_id": "f1", "explanation": "own record"}],
             "history": [{"at": "2025-03-30T20:00:01Z", "state": "opened", "actor": "accesswatch"}],
             "score_breakdown": {"total": 10.0, "by_rule": {"SELF_RECORD": 10.0}, "by_client_and_rule": []}}
    page = "\n".join(render_show(shown))
    assert "decision_due_at" not in page
    assert "opened_at:         2025-03-31 09:00:00 NZDT" in page and "closed_at:         2025-04-20 13:00:00 NZST" in page
    assert "  2025-03-31 09:00:00 NZDT  SELF_RECORD (high)" in page
    assert "  2025-03-31 09:00:01 NZDT  opened by accesswatch" in page
    open_page = "\n".join(render_show({**shown, "status": "investigating"}))
    assert "decision_due_at:   2025-04-14 08:00:00 NZST" in open_page


def test_redrive_prints_a_table_for_people_and_one_json_line_for_scripts(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from accesswatch.services.redrive import Action, RedriveReport
    from accesswatch_tools.cli.commands import redrive

    report = RedriveReport(actions=[Action("detection", "ingest-1", status="SUCCEEDED")], left=["case CASE-1: decided"])
    monkeypatch.setattr(redrive, "deployment", lambda args: None)
    monkeypatch.setattr(redrive, "redrive", lambda dep, wait, dry_run, timeout_s: report)
    assert main(["redrive", "--json"]) == 1
    (printed,) = lines(capsys.readouterr().out)
    assert printed["actions"][0]["subject"] == "ingest-1" and printed["left"] == ["case CASE-1: decided"]
    assert main(["redrive"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["KIND", "SUBJECT", "STATUS", "DETAIL"]
    assert out[1].split() == ["detection", "ingest-1", "SUCCEEDED", "-"]
    assert out[2] == "needs an operator: case CASE-1: decided"
