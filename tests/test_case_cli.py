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

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(tmp_path / "state"), "ACCESSWATCH_ACTOR": "test.investigator"}
    env.pop("AWS_PROFILE", None)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "accesswatch.cli.main", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=900, check=False)
        if ok:
            assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

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
    assert "url" in cli("local", "status").stdout  # the endpoint outlived the command that started it

    exported = [json.loads(line) for line in (tmp_path / "out" / "cases.jsonl").read_text().splitlines()]
    listed = cases(cli)
    assert {c["case_id"] for c in listed} == {c["case_id"] for c in exported} and listed
    assert all(c["status"] == "investigating" for c in listed)
    for key in ("case_id", "user_id", "client_id", "status", "priority", "rules", "finding_ids", "opened_at"):
        assert all(key in c for c in listed)
    table = cli("cases", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["CASE", "STATUS", "PRIORITY"] and table[-1] == f"{len(listed)} case(s)"
    rule = listed[0]["rules"][0]
    assert {c["case_id"] for c in cases(cli, "--rule", rule)} == {c["case_id"] for c in listed if rule in c["rules"]}
    user = listed[0]["user_id"]
    assert {c["case_id"] for c in cases(cli, "--user", user, "--status", "investigating")} == {
        c["case_id"] for c in listed if c["user_id"] == user}

    fraud, unfounded = listed[0]["case_id"], listed[1]["case_id"]
    shown = json.loads(cli("cases", "show", fraud, "--json").stdout)
    assert shown["findings"] and all(f["explanation"] for f in shown["findings"])
    assert [h["state"] for h in shown["history"]] == ["opened", "triaged", "notified", "investigating"]
    text = cli("cases", "show", fraud).stdout
    assert f"case {fraud}" in text and "history (4):" in text

    refused = cli("cases", "decide", fraud, "--decision", "founded", ok=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().startswith("accesswatch: a founded decision needs an ER case type, one of ")
    assert len(refused.stderr.strip().splitlines()) == 1

    decided = cli("cases", "decide", fraud, "--decision", "founded", "--er-type", "fraud_or_dishonesty",
                  "--note", "payments screen, no task")
    assert "now awaiting the ER outcome" in decided.stdout
    closed = cli("cases", "outcome", fraud, "--outcome", "dismissal", "--note", "panel")
    assert "referred to the Police" in closed.stdout and "now closed_founded" in closed.stdout
    cli("cases", "decide", unfounded, "--decision", "unfounded", "--actor", "someone.else")

    shown = json.loads(cli("cases", "show", fraud, "--json").stdout)
    assert shown["status"] == "closed_founded" and shown["execution_status"] == "SUCCEEDED"
    assert (shown["decision"], shown["er_type"], shown["outcome"], shown["police_referral"]) == (
        "founded", "fraud_or_dishonesty", "dismissal", True)
    assert shown["decided_by"] == "test.investigator" and shown["decision_note"] == "payments screen, no task"
    decided_entry = next(h for h in shown["history"] if h["state"] == "decided")
    assert (decided_entry["actor"], decided_entry["note"]) == ("test.investigator", "payments screen, no task")
    assert [c["case_id"] for c in cases(cli, "--status", "closed_unfounded")] == [unfounded]
    assert json.loads(cli("cases", "show", unfounded, "--json").stdout)["decided_by"] == "someone.else"

    again = cli("cases", "decide", unfounded, "--decision", "unfounded", ok=False)
    assert again.returncode == 1
    assert again.stderr.strip() == (f"accesswatch: case {unfounded} is closed_unfounded, not waiting for a "
                                    "decision (it is closed)")
    missing = cli("cases", "show", "CASE-NOPE", ok=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "accesswatch: no case CASE-NOPE"

    precision = {r["rule"]: r for r in map(json.loads, cli("cases", "precision", "--json").stdout.splitlines())}
    for r in listed[0]["rules"]:
        assert precision[r]["founded"] >= 1
    for r in listed[1]["rules"]:
        assert precision[r]["unfounded"] >= 1
    assert "PRECISION" in cli("cases", "precision").stdout.splitlines()[0]

    assert "stopped" in cli("local", "stop").stdout
    gone = cli("cases", "list", ok=False)
    assert gone.returncode == 1 and "no local endpoint is running" in gone.stderr
