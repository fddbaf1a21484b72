"""The README's flow, in separate processes: `accesswatch run` on a small world leaves the local
endpoint running; later commands list, show, decide and close cases against it; the endpoint is
stopped at the end. Each command is its own `accesswatch` process, as a person would type them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accesswatch.quarters import nz_time
from accesswatch_tools.operate.audit import local_actor

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(tmp_path / "state")}
    env.pop("AWS_PROFILE", None)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "accesswatch_tools.cli.main", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=900, check=False)
        if ok:
            assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

    def spawn(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "accesswatch_tools.cli.main", *args], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    run.spawn = spawn  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        run("local", "stop", ok=False)


def cases(cli: Any, *filters: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cli("cases", "list", "--json", *filters).stdout.splitlines()]


def test_run_then_list_decide_and_close_cases_in_separate_commands(cli: Any, small_world: Path,
                                                                   tmp_path: Path) -> None:
    cli("run", "--reference", str(small_world / "reference"), "--logs", str(small_world / "logs"),
        "--out", str(tmp_path / "out"))
    assert "local endpoint http" in cli("local", "status").stdout  # the endpoint outlived the command that started it

    exported = [json.loads(line) for line in (tmp_path / "out" / "cases.jsonl").read_text().splitlines()]
    listed = cases(cli)
    assert {c["case_id"] for c in listed} == {c["case_id"] for c in exported} and listed
    assert all(c["status"] == "investigating" for c in listed)
    for key in ("case_id", "user_id", "status", "priority", "score", "tier", "rules", "client_ids", "finding_ids",
                "opened_at"):
        assert all(key in c for c in listed)
    assert len({c["user_id"] for c in listed}) == len(listed), "one case per staff member"
    ranks = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    order = [(ranks[c["priority"]], -c["score"]) for c in listed]
    assert order == sorted(order), "ranked by priority, then score"
    table = cli("cases", "list").stdout.splitlines()
    assert table[0].split()[:5] == ["CASE", "STATUS", "PRIORITY", "SCORE", "TIER"]
    assert table[-1] == f"{len(listed)} case(s), ranked by priority and score"
    rule = listed[0]["rules"][0]
    assert {c["case_id"] for c in cases(cli, "--rule", rule)} == {c["case_id"] for c in listed if rule in c["rules"]}
    assert cases(cli, "--rule", rule.lower()) == cases(cli, "--rule", rule)  # rule ids in any case
    mistyped = cli("cases", "list", "--rule", "SELF_RECORDS", ok=False)
    assert mistyped.returncode == 2 and "unknown rule 'SELF_RECORDS'; rules: COLLEAGUE_RECORD" in mistyped.stderr
    assert cases(cli, "--status", "closed") == []  # a group: closed_founded and closed_unfounded
    assert cases(cli, "--status", "OPEN") == listed
    unknown = cli("cases", "list", "--status", "shut", ok=False)
    assert unknown.returncode == 2 and "unknown status 'shut'; one of opened, " in unknown.stderr
    client = listed[0]["client_ids"][0]
    assert {c["case_id"] for c in cases(cli, "--client", client)} == {
        c["case_id"] for c in listed if client in c["client_ids"]}
    user = listed[0]["user_id"]
    assert {c["case_id"] for c in cases(cli, "--user", user, "--status", "investigating")} == {
        c["case_id"] for c in listed if c["user_id"] == user}

    fraud, unfounded = listed[0]["case_id"], listed[1]["case_id"]
    shown = json.loads(cli("cases", "show", fraud, "--json", "--all").stdout)
    assert shown["findings"] and all(f["explanation"] for f in shown["findings"])
    assert sorted(f["finding_id"] for f in shown["findings"]) == sorted(listed[0]["finding_ids"])
    points = [f["points"] for f in shown["findings"]]
    assert points == sorted(points, reverse=True), "strongest first"
    assert abs(sum(points) - shown["score_breakdown"]["total"]) < 1e-3 and abs(shown["score"] - sum(points)) < 1e-3
    steps = [h["state"] for h in shown["history"] if h["state"] != "joined"]
    assert steps == ["opened", "triaged", "notified", "investigating"]
    joins = [h for h in shown["history"] if h["state"] == "joined"]
    joined_ids = [fid for h in joins for fid in h["finding_ids"]]
    opened_ids = shown["history"][0].get("finding_ids", [])
    assert sorted(opened_ids + joined_ids) == sorted(listed[0]["finding_ids"]), "the history records every finding"
    text = cli("cases", "show", fraud, "--limit", "1").stdout
    assert f"case {fraud}" in text and "score " in text and "by client and rule" in text
    if len(listed[0]["finding_ids"]) > 1:
        assert f"more: accesswatch cases show {fraud} --all" in text

    refused = cli("cases", "decide", fraud, "--decision", "founded", ok=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().startswith("accesswatch: a founded decision needs an ER case type, one of ")
    assert len(refused.stderr.strip().splitlines()) == 1

    if len(listed[0]["rules"]) > 1:
        unsaid = cli("cases", "decide", fraud, "--decision", "founded", "--er-type", "fraud_or_dishonesty", ok=False)
        assert unsaid.returncode == 1 and "say of each whether it was founded" in unsaid.stderr
    decided = cli("cases", "decide", fraud, "--decision", "founded", "--er-type", "fraud_or_dishonesty",
                  "--all-rules-founded", "--note", "payments screen, no task")
    assert all(f"  {rule}: founded" in decided.stdout for rule in listed[0]["rules"])
    assert "now awaiting the ER outcome" in decided.stdout
    closed = cli("cases", "outcome", fraud, "--outcome", "dismissal", "--note", "panel")
    assert "referred to the Police" in closed.stdout and "now closed_founded" in closed.stdout
    no_reason = cli("cases", "decide", unfounded, "--decision", "unfounded", ok=False)
    assert no_reason.returncode == 1 and "needs a reason, one of legitimate_work" in no_reason.stderr
    # Who acts is who runs the command (locally the OS user): a free-text --actor naming someone else is refused.
    me = local_actor().name
    other = cli("cases", "decide", unfounded, "--decision", "unfounded", "--reason", "legitimate_work", "--actor",
                "someone.else", ok=False)
    assert other.returncode == 1 and "--actor 'someone.else' is not who is acting" in other.stderr
    cli("cases", "decide", unfounded, "--decision", "unfounded", "--reason", "legitimate_work")

    shown = json.loads(cli("cases", "show", fraud, "--json").stdout)
    assert shown["status"] == "closed_founded" and shown["execution_status"] == "SUCCEEDED"
    assert (shown["decision"], shown["er_type"], shown["outcome"], shown["police_referral"]) == (
        "founded", "fraud_or_dishonesty", "dismissal", True)
    assert shown["decided_by"] == me and shown["decision_note"] == "payments screen, no task"
    decided_entry = next(h for h in shown["history"] if h["state"] == "decided")
    assert (decided_entry["actor"], decided_entry["note"]) == (me, "payments screen, no task")
    assert [c["case_id"] for c in cases(cli, "--status", "closed_unfounded")] == [unfounded]
    assert {c["case_id"] for c in cases(cli, "--status", "closed")} == {fraud, unfounded}
    closed_page = cli("cases", "show", fraud).stdout
    assert "decision_due_at" not in closed_page and " NZ" in closed_page  # nothing is due; NZ times, zone named
    assert json.loads(cli("cases", "show", unfounded, "--json").stdout)["decided_by"] == me

    again = cli("cases", "decide", unfounded, "--decision", "unfounded", "--reason", "duplicate", ok=False)
    assert again.returncode == 1
    decided_at = json.loads(cli("cases", "show", unfounded, "--json").stdout)["decided_at"]
    assert again.stderr.strip() == (f"accesswatch: case {unfounded} already decided by {me} at {nz_time(decided_at, seconds=True)}: "
                                    "unfounded (legitimate_work); it is closed_unfounded, not waiting for a "
                                    "decision (it is closed)")
    missing = cli("cases", "show", "CASE-NOPE", ok=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "accesswatch: no case CASE-NOPE"

    precision = {r["rule"]: r for r in map(json.loads, cli("cases", "precision", "--json").stdout.splitlines())}
    for r in listed[0]["rules"]:
        assert precision[r]["founded"] >= 1
    for r in listed[1]["rules"]:
        assert precision[r]["unfounded"] >= 1
    assert "PRECISION" in cli("cases", "precision").stdout.splitlines()[0]

    # A founded decision that is unfounded for one rule, with an exception for that rule and user.
    mixed = next((c for c in listed[2:] if "SENSITIVE_LOOKUP" in c["rules"] and len(c["rules"]) > 1), None)
    assert mixed is not None, "the world plants immediate-tier users with sensitive lookups too"
    out = cli("cases", "decide", mixed["case_id"], "--decision", "founded", "--er-type", "privacy_breach",
              "--unfounded-rule", "SENSITIVE_LOOKUP=rule_too_broad", "--all-rules-founded", "--exception", "user",
              "--expires", "2099-01-01", ok=False)
    assert out.returncode == 1 and "more than 366 days away" in out.stderr, "checked before anything is sent"
    assert json.loads(cli("cases", "show", mixed["case_id"], "--json").stdout)["status"] == "investigating"
    from datetime import date, timedelta
    soon = (date.today() + timedelta(days=30)).isoformat()
    out = cli("cases", "decide", mixed["case_id"], "--decision", "founded", "--er-type", "privacy_breach",
              "--unfounded-rule", "SENSITIVE_LOOKUP=rule_too_broad", "--all-rules-founded", "--exception", "user",
              "--expires", soon)
    assert "  SENSITIVE_LOOKUP: unfounded (rule_too_broad)" in out.stdout and "suppressed until" in out.stdout
    first_exception = out.stdout.split("exception ")[1].split(":")[0]
    cli("exceptions", "revoke", first_exception, "--note", "made by the decision above; test revokes it")
    decided_mixed = json.loads(cli("cases", "show", mixed["case_id"], "--json").stdout)
    assert decided_mixed["rule_decisions"]["SENSITIVE_LOOKUP"] == {"decision": "unfounded", "reason": "rule_too_broad"}
    assert all(v == {"decision": "founded"} for r, v in decided_mixed["rule_decisions"].items() if r != "SENSITIVE_LOOKUP")
    expires = (date.today() + timedelta(days=90)).isoformat()
    added = cli("exceptions", "add", "--rule", "sensitive_lookup", "--user", mixed["user_id"], "--expires", expires,
                "--reason", "front counter: address checks", "--case", mixed["case_id"]).stdout
    exception_id = added.split()[1].rstrip(":")
    listed_exceptions = [json.loads(x) for x in cli("exceptions", "list", "--json").stdout.splitlines()]
    listed_exceptions = [e for e in listed_exceptions if e["exception_id"] != first_exception]
    assert [e["exception_id"] for e in listed_exceptions] == [exception_id] and listed_exceptions[0]["active"]
    refused = cli("exceptions", "add", "--rule", "SELF_RECORD", "--user", user, "--expires", expires, "--reason", "x",
                  ok=False)
    assert "immediate-tier rule" in refused.stderr
    cli("exceptions", "revoke", exception_id, "--note", "moved team")
    assert cli("exceptions", "list", "--json").stdout == ""
    assert "revoked already" in cli("exceptions", "revoke", exception_id, ok=False).stderr
    assert "no exception EXC-NOPE" in cli("exceptions", "revoke", "EXC-NOPE", ok=False).stderr

    # Two decisions on one case at once, in two processes: one wins, the other is told who did and what (exit 1);
    # the history keeps the winner's decision only, and the case goes where it leads. (Both run as the local user:
    # the racers are told apart by what they decided.)
    raced = next(c for c in listed[2:] if c["case_id"] != mixed["case_id"])["case_id"]
    racers = {
        "inv.founded": ["--decision", "founded", "--er-type", "privacy_breach", "--all-rules-founded",
                        "--note", "founded note"],
        "inv.unfounded": ["--decision", "unfounded", "--reason", "legitimate_work", "--note", "unfounded note"],
    }
    procs = {who: cli.spawn("cases", "decide", raced, *argv) for who, argv in racers.items()}
    done = {who: (p.wait(timeout=900), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "")
            for who, p in procs.items()}
    winners = [who for who, (code, _, _) in done.items() if code == 0]
    assert len(winners) == 1, done
    winner = winners[0]
    loser = next(who for who in done if who != winner)
    code, out, err = done[loser]
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1, done[loser]
    assert err.startswith(f"accesswatch: case {raced} already ") and f"decided by {me}" in err, err
    assert ("founded (privacy_breach)" if winner == "inv.founded" else "unfounded (legitimate_work)") in err, err
    shown_raced = json.loads(cli("cases", "show", raced, "--json").stdout)
    decisions = [h for h in shown_raced["history"] if h["state"] == "decided"]
    assert [(h["actor"], h["note"]) for h in decisions] == [(me, f"{winner.split('.')[1]} note")]
    assert shown_raced["decided_by"] == me
    assert not any(h.get("note") == f"{loser.split('.')[1]} note" for h in shown_raced["history"])
    assert shown_raced["status"] == ("awaiting_outcome" if winner == "inv.founded" else "closed_unfounded")
    assert f"decided {shown_raced['decision']}" in done[winner][1], "it prints what the case records"

    # The queue, the drain and the weekly review, as operators run them by hand.
    assert "user(s) queued above the threshold" in cli("cases", "queue").stdout
    assert "case(s) opened" in cli("cases", "drain").stdout
    bad_week = cli("cases", "review", "--week", "2025-14", ok=False)
    assert bad_week.returncode == 1 and "not an ISO week" in bad_week.stderr
    first = cli("cases", "review", "--week", "2025-W14").stdout
    assert "candidate(s) below the threshold" in first
    assert "was drawn already" in cli("cases", "review", "--week", "2025-W14").stdout

    assert "stopped" in cli("local", "stop").stdout
    gone = cli("cases", "list", ok=False)
    assert gone.returncode == 1 and "no local endpoint is running" in gone.stderr
