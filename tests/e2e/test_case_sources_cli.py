"""Cases from every source and working a case as a team does (issue 17, items 1 and 4), in separate
`accesswatch` processes against the local endpoint, as a person would type them: open a case from a complaint
(a new case), a manager's concern that joins a user's open case, assign, note, decide, amend, reopen (the case
waits for a decision again), decide again; `accesswatch verify` passes after."""

from __future__ import annotations

import csv
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.endpoint import cli_runner

from accesswatch_tools.operate.audit import local_actor

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    with cli_runner(tmp_path) as run:
        yield run


def cases(cli: Any, *filters: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cli("cases", "list", "--json", *filters).stdout.splitlines()]


def show(cli: Any, case_id: str) -> dict[str, Any]:
    return dict(json.loads(cli("cases", "show", case_id, "--json", "--all").stdout))


def wait_for(cli: Any, case_id: str, status: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        shown = show(cli, case_id)
        if shown["status"] == status or time.monotonic() > deadline:
            assert shown["status"] == status, (case_id, shown["status"], shown["history"])
            return shown
        time.sleep(0.5)


def staff_ids(world: Path) -> list[str]:
    with (world / "reference" / "staff.csv").open(newline="") as handle:
        return sorted(row["user_id"] for row in csv.DictReader(handle) if row["account_type"] == "person")


def a_client_id(world: Path) -> str:
    with gzip.open(world / "reference" / "clients.csv.gz", "rt", newline="") as handle:
        return str(next(csv.DictReader(handle))["client_id"])


def test_cases_from_every_source_and_worked_as_a_team(cli: Any, small_world: Path, tmp_path: Path) -> None:
    cli("run", "--reference", str(small_world / "reference"), "--logs", str(small_world / "logs"),
        "--out", str(tmp_path / "out"))
    detected = cases(cli)
    assert detected and all(c.get("source") == "detection" for c in detected if c.get("trigger") != "random_review")
    with_case = {c["user_id"] for c in detected}
    free = next(u for u in staff_ids(small_world) if u not in with_case)
    me = local_actor().name
    client = a_client_id(small_world)

    # A complaint about a staff member with no open case opens one, through the same workflow.
    opened = cli("cases", "open", "--user", free, "--source", "complaint", "--client", client,
                 "--from", "2025-04-01", "--to", "2025-04-03", "--note", "complaint ref PC-2291", "--json")
    first = json.loads(opened.stdout)
    assert first["joined"] is False and first["already"] is False
    complaint = first["case_id"]
    shown = wait_for(cli, complaint, "investigating")
    assert shown["source"] == "complaint" and shown["sources"] == ["complaint"] and shown["opened_by"] == me
    assert shown["source_client_ids"] == [client] and shown["source_from"] == "2025-04-01"
    assert [h["state"] for h in shown["history"]] == ["opened", "triaged", "notified", "investigating"]
    assert shown["history"][0]["actor"] == me and shown["history"][0]["source"] == "complaint"
    assert "complaint ref PC-2291" in shown["history"][0]["note"]
    # Sent again (a retry), the same request opens nothing new.
    again = json.loads(cli("cases", "open", "--user", free, "--source", "complaint", "--client", client,
                           "--from", "2025-04-01", "--to", "2025-04-03", "--note", "complaint ref PC-2291",
                           "--json").stdout)
    assert again == {**first, "already": True, "findings_carried": 0}
    assert [c["case_id"] for c in cases(cli, "--source", "complaint")] == [complaint]
    assert "/complaint" in cli("cases", "list", "--user", free).stdout

    # A manager's concern about a user with an open case joins it (one open case per user).
    target = detected[0]
    joined = json.loads(cli("cases", "open", "--user", target["user_id"], "--source", "manager_concern",
                            "--note", "team leader concern TL-7", "--json").stdout)
    assert joined["joined"] is True and joined["case_id"] == target["case_id"]
    held = show(cli, target["case_id"])
    assert held["source"] == "detection" and held["sources"] == ["manager_concern"]
    entry = [h for h in held["history"] if h["state"] == "joined" and h.get("source") == "manager_concern"]
    assert len(entry) == 1 and entry[0]["actor"] == me and "team leader concern TL-7" in entry[0]["note"]
    assert len([c for c in cases(cli) if c["user_id"] == target["user_id"]]) == 1
    assert target["case_id"] in {c["case_id"] for c in cases(cli, "--source", "manager_concern")}

    # Unknown users and bad sources are refused in one line.
    unknown = cli("cases", "open", "--user", free + "x", "--source", "complaint", "--note", "n", ok=False)
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    assert f"{free}x" in unknown.stderr and "reference" in unknown.stderr
    bad = cli("cases", "open", "--user", free, "--source", "rumour", "--note", "n", ok=False)
    assert bad.returncode == 2 and "unknown source 'rumour'" in bad.stderr

    # Assign, list by assignee, note before a decision.
    cli("cases", "assign", complaint, "--to", "investigator.one")
    assert [c["case_id"] for c in cases(cli, "--assignee", "investigator.one")] == [complaint]
    same = cli("cases", "assign", complaint, "--to", "investigator.one", ok=False)
    assert same.returncode == 1 and "already assigned to investigator.one" in same.stderr
    cli("cases", "assign", complaint, "--to", "investigator.two")
    cli("cases", "note", complaint, "--note", "spoke to the client's advocate")
    shown = show(cli, complaint)
    assert shown["assignee"] == "investigator.two" and shown["assigned_by"] == me
    assigned = [h for h in shown["history"] if h["state"] == "assigned"]
    assert [h["assignee"] for h in assigned] == ["investigator.one", "investigator.two"]
    assert assigned[1]["previous_assignee"] == "investigator.one"
    assert [h["note"] for h in shown["history"] if h["state"] == "note"] == ["spoke to the client's advocate"]

    # Decide unfounded, amend the reason, reopen: it waits for a decision again; decide founded; amend the outcome.
    cli("cases", "decide", complaint, "--decision", "unfounded", "--reason", "legitimate_work")
    wait_for(cli, complaint, "closed_unfounded")
    cli("cases", "amend", complaint, "--unfounded-reason", "duplicate", "--reason", "same as complaint PC-2200")
    assert show(cli, complaint)["decision_reason"] == "duplicate"
    flip = cli("cases", "amend", complaint, "--decision", "founded", "--reason", "x", ok=False)
    assert flip.returncode == 1 and "reopen it" in flip.stderr
    reopened = cli("cases", "reopen", complaint, "--reason", "new evidence from the client")
    assert "waiting for a decision again" in reopened.stdout
    shown = show(cli, complaint)
    assert shown["status"] == "investigating" and shown["reopens"] == 1 and "decision" not in shown
    states = [h["state"] for h in shown["history"]]
    assert states[-2:] == ["reopened", "investigating"] and states.count("decided") == 1
    assert [c["case_id"] for c in cases(cli, "--user", free, "--status", "open")] == [complaint]
    cli("cases", "decide", complaint, "--decision", "founded", "--er-type", "privacy_breach", "--note", "re-decided")
    cli("cases", "outcome", complaint, "--outcome", "dismissal")
    wait_for(cli, complaint, "closed_founded")
    cli("cases", "amend", complaint, "--outcome", "final_written_warning", "--reason", "appeal upheld in part")
    shown = show(cli, complaint)
    assert shown["outcome"] == "final_written_warning" and shown["amendments"] == 2
    amended = [h for h in shown["history"] if h["state"] == "amended"]
    assert [(h["field"], h["from"], h["to"]) for h in amended] == [
        ("decision_reason", "legitimate_work", "duplicate"), ("outcome", "dismissal", "final_written_warning")]

    # A reopen is refused while the user has another open case.
    reopen_other = cli("cases", "reopen", target["case_id"], "--reason", "x", ok=False)
    assert reopen_other.returncode == 1 and "only a closed case can be reopened" in reopen_other.stderr

    # A privacy request about a staff member with nothing in their risk ledger for the period: a case with no
    # findings goes the whole way too.
    other = next(u for u in staff_ids(small_world) if u not in with_case | {free})
    bare = json.loads(cli("cases", "open", "--user", other, "--source", "privacy_request", "--from", "2020-01-01",
                          "--to", "2020-01-31", "--note", "privacy request PR-88", "--json").stdout)
    assert bare["findings_carried"] == 0 and bare["joined"] is False
    shown = wait_for(cli, bare["case_id"], "investigating")
    assert shown["finding_ids"] == [] and shown["rules"] == [] and shown["source"] == "privacy_request"
    cli("cases", "decide", bare["case_id"], "--decision", "founded", "--er-type", "privacy_breach")
    cli("cases", "outcome", bare["case_id"], "--outcome", "written_warning")
    wait_for(cli, bare["case_id"], "closed_founded")

    verified = cli("verify", "--json", ok=False)
    report = json.loads(verified.stdout)
    assert verified.returncode == 0, report.get("problems")
