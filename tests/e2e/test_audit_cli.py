"""Audited reads and authenticated actors on the local endpoint, in separate `accesswatch` processes (issue #20
items 3 and 5): a run's outputs, a footprint, an export and a case read each leave exactly one audit record with
the local OS user as actor and ids only (no client's name, address or date of birth); `audit list` reads them and
is recorded too; a decision records the local user, never a free-text --actor or $ACCESSWATCH_ACTOR."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.endpoint import cli_runner
from support.reliability import tiny_world

from accesswatch_tools.operate.audit import local_actor

pytestmark = pytest.mark.e2e

FREE_TEXT = "free.text.actor"


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    # $ACCESSWATCH_ACTOR used to name the actor: it is set here to show it no longer does.
    with cli_runner(tmp_path, {"ACCESSWATCH_ACTOR": FREE_TEXT}) as run:
        yield run


def audit(cli: Any, *filters: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cli("audit", "list", "--json", *filters).stdout.splitlines()]


def personal_values(world: Path) -> set[str]:
    """Every client's and staff member's name, date of birth and address in the world's reference data."""
    values: set[str] = set()
    with gzip.open(world / "reference" / "clients.csv.gz", "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with (world / "reference" / "staff.csv").open(encoding="utf-8") as handle:
        rows += list(csv.DictReader(handle))
    for row in rows:
        for field in ("family_name", "given_names", "date_of_birth", "address"):
            if (row.get(field) or "").strip():
                values.add(row[field].strip())
    return values


def test_reads_leave_one_audit_record_each_and_actors_are_authenticated(cli: Any, tmp_path: Path) -> None:
    world = tiny_world(tmp_path / "world")
    me = local_actor().name
    cli("run", "--reference", str(world / "reference"), "--logs", str(world / "logs"), "--out", str(tmp_path / "out"),
        "--reason", "nightly load")
    [run] = audit(cli, "--action", "run_outputs")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert run["result"]["findings"] == summary["totals"]["findings"] and run["reason"] == "nightly load"

    listed = [json.loads(line) for line in cli("cases", "list", "--json").stdout.splitlines()]
    assert listed, "the tiny world plants immediate-tier violations"
    case = listed[0]
    client = case["client_ids"][0]
    cli("footprint", client, "--out", str(tmp_path / "footprint.csv"), "--reason", "OIA-2025-0042")
    exported = cli("export", "findings", "--out", str(tmp_path / "all.jsonl"), "--reason", "quarterly check")
    assert "written to" in exported.stdout
    cli("cases", "show", case["case_id"], "--reason", "investigation")

    records = audit(cli)
    assert [r["action"] for r in records] == ["run_outputs", "audit_list", "case_list", "footprint", "export_findings",
                                             "case_show"]
    assert {(r["actor"], r["actor_source"], r["source"], r["target"]) for r in records} == {(me, "local", "cli", "local")}
    by_action = {r["action"]: r for r in records}
    footprint = by_action["footprint"]
    assert footprint["subject"]["client_id"] == client and footprint["reason"] == "OIA-2025-0042"
    assert footprint["result"]["accesses"] >= 1
    assert by_action["export_findings"]["result"] == {
        "findings": len((tmp_path / "all.jsonl").read_text().splitlines())}
    assert by_action["case_show"]["subject"]["case_id"] == case["case_id"]
    assert by_action["case_list"]["subject"]["case_ids"] == [c["case_id"] for c in listed]
    assert by_action["case_list"]["result"] == {"cases": len(listed)}
    text = json.dumps(records, ensure_ascii=False)
    leaked = sorted(v for v in personal_values(world) if v in text)
    assert not leaked, f"personal data in audit records: {len(leaked)} value(s)"

    # Reading the audit log is itself a read: the listing above left its own record, and the table shows it.
    table = cli("audit", "list", "--action", "audit_list").stdout.splitlines()
    assert table[0].split()[:4] == ["AT", "(NZ)", "ACTOR", "ACTION"]
    assert [line.split()[3:5] for line in table[1:-1]] == [[me, "audit_list"]] * 2, table  # after NZ date, time, zone
    assert table[-1].startswith("2 audit record(s) of NZ dates "), table
    bad = cli("audit", "list", "--action", "peek", ok=False)
    assert bad.returncode == 2 and "unknown action 'peek'; one of footprint" in bad.stderr
    long_reason = cli("cases", "show", case["case_id"], "--reason", "x" * 501, ok=False)
    assert long_reason.returncode == 2 and "--reason is longer than 500 characters" in long_reason.stderr

    # A decision records who is signed in (locally: the OS user), never free text.
    refused = cli("cases", "decide", case["case_id"], "--decision", "unfounded", "--reason", "legitimate_work",
                  "--actor", "investigator1", ok=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"accesswatch: --actor 'investigator1' is not who is acting: actions are recorded as your local OS user "
        f"(no authentication locally), {me}; drop --actor, or run the command as that person")
    decided = cli("cases", "decide", case["case_id"], "--decision", "unfounded", "--reason", "legitimate_work",
                  "--note", "rostered that day")
    assert f"${'ACCESSWATCH_ACTOR'} is ignored" in decided.stderr
    shown = json.loads(cli("cases", "show", case["case_id"], "--json").stdout)
    assert shown["decided_by"] == me
    [entry] = [h for h in shown["history"] if h["state"] == "decided"]
    assert entry["actor"] == me and FREE_TEXT not in json.dumps(shown)
    if len(listed) > 1:  # --actor naming the signed-in actor itself is accepted (scripts that pass it still run)
        cli("cases", "decide", listed[1]["case_id"], "--decision", "unfounded", "--reason", "duplicate", "--actor", me)
        assert json.loads(cli("cases", "show", listed[1]["case_id"], "--json").stdout)["decided_by"] == me
