"""A staff member's access history and a case's evidence pack, on the embedded runtime (issue 17 items 2, 3, 5).

The small synthetic world runs through the system; the world's log files are the truth. A user's history
lists exactly that user's accepted events (every line of the raw files minus the lines the run quarantined) in
the period; the evidence pack's manifest verifies, and verification fails when a local or a stored file is
altered; both reads leave an audit record before anything is shown.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from accesswatch.dal.cases import CaseStore
from accesswatch.quarters import nz_date
from accesswatch_tools.cli.commands import cases as cases_command
from accesswatch_tools.cli.commands import evidence as evidence_command
from accesswatch_tools.cli.commands import history as history_command
from accesswatch_tools.cli.context import CliError

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class RawEvent:
    event_id: str
    user_id: str
    day: date


@dataclass
class World:
    aws: Any
    events: list[RawEvent]  # every accepted event of the raw files (quarantined lines left out)
    findings: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    staff: list[dict[str, str]]


def _open_text(path: Path) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def _day(text: str) -> date | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return nz_date(moment) if moment.tzinfo is not None else None


def accepted_events(logs: Path, quarantined: set[tuple[str, int]]) -> list[RawEvent]:
    """The events of the raw files, read independently of the ingest code: each record with its first physical
    line number, minus the (file, line) pairs the run quarantined."""
    out: list[RawEvent] = []
    for path in sorted(logs.iterdir()):
        text = _open_text(path)
        records: list[tuple[int, dict[str, Any]]] = []
        if ".jsonl" in path.name:
            for n, line in enumerate(text.splitlines(), start=1):
                if (path.name, n) in quarantined or not line.strip():
                    continue
                records.append((n, json.loads(line)))
        else:
            reader = csv.reader(io.StringIO(text, newline=""))
            header = next(reader)
            first = reader.line_num + 1
            for row in reader:
                if (path.name, first) not in quarantined and any(cell.strip() for cell in row):
                    records.append((first, dict(zip(header, row, strict=False))))
                first = reader.line_num + 1
        for n, record in records:
            day = _day(str(record.get("occurred_at") or ""))
            assert day is not None, f"{path.name} line {n} was accepted without a readable timestamp"
            out.append(RawEvent(str(record["event_id"]).strip(), str(record["user_id"]).strip(), day))
    return out


@pytest.fixture(scope="module")
def world(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from accesswatch_tools.embedded.runtime import EmbeddedAws
    from accesswatch_tools.operate.world_run import run_world

    base = tmp_path_factory.mktemp("history-world")
    with EmbeddedAws() as aws:
        outcome = run_world(aws, small_world / "reference", small_world / "logs", base / "run")
        assert outcome.ok, outcome.problems
        quarantine = [json.loads(x) for x in (base / "run" / "quarantine.jsonl").read_text().splitlines()]
        quarantined = {(q["key"].rsplit("/", 1)[1], int(q["line"])) for q in quarantine}
        assert quarantined, "the world plants bad lines: the run must quarantine some"
        findings = [json.loads(x) for x in (base / "run" / "findings.jsonl").read_text().splitlines()]
        cases = list(CaseStore(aws.resource_name("CasesTable"), aws.resource("dynamodb")).scan_cases())
        staff = list(csv.DictReader(io.StringIO(_open_text(next((small_world / "reference").glob("staff.*"))))))
        yield World(aws, accepted_events(small_world / "logs", quarantined), findings, cases, staff)


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Any:
    """``accesswatch history|cases ...`` in this process against the world's runtime: (exit, stdout, stderr)."""
    for module in (history_command, evidence_command, cases_command):
        monkeypatch.setattr(module, "deployment", lambda args: world.aws)
    monkeypatch.setenv("ACCESSWATCH_STATE_DIR", str(tmp_path / "state"))
    parser = argparse.ArgumentParser(prog="accesswatch")
    sub = parser.add_subparsers(dest="command", required=True)
    history_command.register(sub)
    cases_command.register(sub)

    def call(*args: str) -> tuple[int, str, str]:
        parsed = parser.parse_args(list(args))
        try:
            code = int(parsed.func(parsed))
        except CliError as exc:
            print(f"accesswatch: {exc}", file=sys.stderr)
            code = 1
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _audit(world: World, action: str) -> list[dict[str, Any]]:
    from accesswatch.dal.audit import AuditStore
    from accesswatch.quarters import nz_today

    store = AuditStore(world.aws.resource_name("AuditTable"), world.aws.resource("dynamodb"))
    return list(store.between(nz_today(), nz_today(), action=action))


def _busiest_person(world: World) -> str:
    people = {s["user_id"] for s in world.staff if s.get("account_type", "person") == "person" and s.get("team")}
    counts = Counter(e.user_id for e in world.events if e.user_id in people)
    return counts.most_common(1)[0][0]


# ------------------------------------------------------------------------------------------ history
def test_a_users_history_lists_exactly_their_accepted_events_in_the_period(cli: Any, world: World) -> None:
    days = sorted({e.day for e in world.events})
    assert len(days) >= 3
    flagged_users = Counter(f["user_id"] for f in world.findings)
    users = [_busiest_person(world), flagged_users.most_common(1)[0][0]]
    for user in users:
        for start, end in ((days[0], days[-1]), (days[1], days[1])):
            expected = {e.event_id for e in world.events if e.user_id == user and start <= e.day <= end}
            assert expected or start == end, "the world gives this user accesses over the whole period"
            code, out, err = cli("history", user, "--from", start.isoformat(), "--to", end.isoformat(), "--json")
            assert code == 0, err
            rows = [json.loads(line) for line in out.splitlines()]
            got = [r["event_id"] for r in rows]
            assert len(got) == len(set(got)), "an access is listed once"
            assert set(got) == expected, (user, start, end, len(got), len(expected))
            assert f"user {user}: {len(expected)} access(es)" in err
            for r in rows:
                assert {"event_id", "occurred_at", "occurred_at_nz", "client_id", "action", "screen", "site",
                        "covered", "finding_ids"} <= set(r)
                assert start.isoformat() <= r["nz_date"] <= end.isoformat()
            # the findings it raised: exactly the user's findings of those events
            raised = {f["finding_id"] for f in world.findings
                      if f["user_id"] == user and f["event_id"] in expected and f.get("system", "cms") == "cms"}
            assert {fid for r in rows for fid in r["finding_ids"]} == raised


def test_the_history_report_has_the_summary_and_team_comparison_and_no_personal_data(
        cli: Any, world: World, tmp_path: Path) -> None:
    user = _busiest_person(world)
    code, out, err = cli("history", user, "--all", "--reason", "concern ref MC-17")
    assert code == 0, err
    assert f"access history of user {user}" in out
    assert "summary:" in out and "by client (most accessed first):" in out and "by screen:" in out
    team = next(s["team"] for s in world.staff if s["user_id"] == user)
    assert f"team {team}: compared with the median of its" in out
    assert "accesses per day with logs:" in out and "distinct clients:" in out
    person = next(s for s in world.staff if s["user_id"] == user)
    for field in ("family_name", "given_names", "date_of_birth", "address"):
        if person.get(field):
            assert person[field] not in out and person[field] not in err
    # .json: the summary, the comparison and every access in one object
    code, _, err = cli("history", user, "--out", str(tmp_path / "h.json"))
    assert code == 0, err
    document = json.loads((tmp_path / "h.json").read_text())
    assert document["history"]["user_id"] == user
    assert document["history"]["accesses"] == len(document["accesses"])
    assert sum(c["accesses"] for c in document["history"]["by_client"]) == len(document["accesses"])
    assert document["history"]["team_comparison"]["team"] == team
    # every history was recorded, with who, whose history, the period and the reason
    records = [r for r in _audit(world, "staff_history") if r["subject"].get("user_id") == user]
    assert records and any(r.get("reason") == "concern ref MC-17" for r in records)
    assert all(r["actor"] and r["subject"].get("from") and r["subject"].get("to") for r in records)


def test_an_unknown_user_is_one_line_with_a_suggestion(cli: Any, world: World) -> None:
    user = _busiest_person(world)
    typo = user[:-1] + next(d for d in "0123456789" if user[:-1] + d not in {s["user_id"] for s in world.staff})
    code, out, err = cli("history", typo)
    assert code == 1 and out == ""
    assert f"user '{typo}' is not in the current staff reference snapshot" in err
    assert "did you mean" in err and user in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli("history", user, "--from", "2025-04-03", "--to", "2025-04-01")
    assert code == 1 and "--to 2025-04-01 is before --from 2025-04-03" in err


def test_nothing_is_shown_when_the_audit_record_cannot_be_written(
        cli: Any, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from accesswatch_tools.operate import audit as audit_module
    from accesswatch_tools.operate.deployment import OperationError

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationError("not shown: the audit record of this read could not be written (test)")

    monkeypatch.setattr(audit_module, "record_read", refuse)
    code, out, err = cli("history", _busiest_person(world), "--json")
    assert code == 1 and out == "" and "audit record" in err
    case_id = world.cases[0]["case_id"]
    code, out, err = cli("cases", "evidence", case_id, "--out", str(tmp_path / "pack"))
    assert code == 1 and out == "" and not (tmp_path / "pack").exists()
    assert "evidence_pack" not in [e.get("state") for e in
                                   CaseStore(world.aws.resource_name("CasesTable"),
                                             world.aws.resource("dynamodb")).history(case_id)]


# ------------------------------------------------------------------------------------------ evidence
def test_the_evidence_pack_verifies_and_fails_when_a_file_is_altered(cli: Any, world: World, tmp_path: Path) -> None:
    from accesswatch.evidence import sha256

    case = max(world.cases, key=lambda c: len(c.get("finding_ids") or []))
    case_id, user = case["case_id"], case["user_id"]
    pack = tmp_path / "pack"
    code, out, err = cli("cases", "evidence", case_id, "--out", str(pack), "--reason", "ER referral 17")
    assert code == 0, err
    printed = out.strip().removeprefix("manifest SHA-256: ")
    manifest_bytes = (pack / "manifest.json").read_bytes()
    assert sha256(manifest_bytes) == printed
    manifest = json.loads(manifest_bytes)
    assert manifest["case_id"] == case_id and manifest["user_id"] == user
    names = sorted(p.name for p in pack.iterdir())
    assert names == sorted(["case.json", "findings.jsonl", "access-history.jsonl", "access-history-summary.json",
                            "reference.json", "manifest.json"])
    assert [f["name"] for f in manifest["files"]] == [n for n in names if n != "manifest.json"]
    for entry in manifest["files"]:
        assert sha256((pack / entry["name"]).read_bytes()) == entry["sha256"]
    # its content: the case's findings with explanations and evidence, the user's accesses in the window
    findings = [json.loads(x) for x in (pack / "findings.jsonl").read_text().splitlines()]
    assert {f["finding_id"] for f in findings} == set(case["finding_ids"])
    assert all(f["explanation"] and f["snapshot_id"] and f["user_id"] == user for f in findings)
    start, end = date.fromisoformat(manifest["period"]["from"]), date.fromisoformat(manifest["period"]["to"])
    accesses = [json.loads(x) for x in (pack / "access-history.jsonl").read_text().splitlines()]
    assert {a["event_id"] for a in accesses} == {e.event_id for e in world.events
                                                 if e.user_id == user and start <= e.day <= end}
    reference = json.loads((pack / "reference.json").read_text())
    assert set(reference["judged_against"]) == {f["snapshot_id"] for f in findings}
    case_doc = json.loads((pack / "case.json").read_text())
    assert case_doc["case_id"] == case_id and case_doc["history"]
    # the manifest hash is in the case history
    cases = CaseStore(world.aws.resource_name("CasesTable"), world.aws.resource("dynamodb"))
    entry = next(e for e in cases.history(case_id) if e.get("state") == "evidence_pack"
                 and e.get("pack_id") == manifest["pack_id"])
    assert entry["manifest_sha256"] == printed and printed in entry["note"]

    code, out, err = cli("cases", "verify-evidence", case_id, "--dir", str(pack))
    assert code == 0, out + err
    assert out.startswith("verified:") and manifest["pack_id"] in out

    # a local file altered: named
    altered = (pack / "findings.jsonl").read_text().replace(findings[0]["rule"], "NOTHING_TO_SEE", 1)
    (pack / "findings.jsonl").write_text(altered)
    code, out, _ = cli("cases", "verify-evidence", case_id, "--dir", str(pack))
    assert code == 1 and "NOT verified" in out
    assert "local findings.jsonl: altered" in out and "stored" not in out.split("problem(s)):", 1)[1]

    # the stored copy is in the evidence bucket, every object locked (governance) for the bucket's default
    # retention, EvidenceRetentionDays
    s3, bucket = world.aws.client("s3"), world.aws.resource_name("EvidenceBucket")
    assert entry["pack_location"] == f"s3://{bucket}/evidence/{case_id}/{manifest['pack_id']}/"
    days = int(world.aws.template["Parameters"]["EvidenceRetentionDays"]["Default"])
    for name in names:
        head = s3.head_object(Bucket=bucket, Key=f"evidence/{case_id}/{manifest['pack_id']}/{name}")
        assert head["ObjectLockMode"] == "GOVERNANCE", name
        assert abs(head["ObjectLockRetainUntilDate"] - (datetime.now(UTC) + timedelta(days=days))) < timedelta(hours=1)
    assert not s3.list_objects_v2(Bucket=world.aws.resource_name("CuratedBucket"), Prefix="evidence/").get("Contents")

    # the stored copy altered (a new version of one object: the lock keeps the old one): named
    key = f"evidence/{case_id}/{manifest['pack_id']}/access-history.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")
    code, out, _ = cli("cases", "verify-evidence", case_id)
    assert code == 1 and "stored access-history.jsonl: altered" in out

    # a stored file deleted, and a manifest rewritten to match altered files: both caught
    s3.delete_object(Bucket=bucket, Key=f"evidence/{case_id}/{manifest['pack_id']}/reference.json")
    forged = json.loads(manifest_bytes)
    forged["files"] = [f for f in forged["files"] if f["name"] != "reference.json"]
    s3.put_object(Bucket=bucket, Key=f"evidence/{case_id}/{manifest['pack_id']}/manifest.json",
                  Body=json.dumps(forged).encode())
    code, out, _ = cli("cases", "verify-evidence", case_id)
    assert code == 1 and "stored manifest.json: altered" in out and printed in out

    # every evidence request was recorded
    written = [r for r in _audit(world, "evidence_pack") if r["subject"].get("case_id") == case_id]
    assert any(r.get("reason") == "ER referral 17" and r["subject"].get("pack_id") == manifest["pack_id"]
               for r in written)
    assert len([r for r in _audit(world, "evidence_verify") if r["subject"].get("case_id") == case_id]) >= 4


def test_retain_days_locks_every_stored_object_for_that_many_days(cli: Any, world: World, tmp_path: Path) -> None:
    case_id = world.cases[0]["case_id"]
    code, out, err = cli("cases", "evidence", case_id, "--out", str(tmp_path / "pack"), "--retain-days", "30")
    assert code == 0, err
    pack_id = json.loads((tmp_path / "pack" / "manifest.json").read_bytes())["pack_id"]
    s3, bucket = world.aws.client("s3"), world.aws.resource_name("EvidenceBucket")
    prefix = f"evidence/{case_id}/{pack_id}/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert sorted(k.removeprefix(prefix) for k in keys) == sorted(p.name for p in (tmp_path / "pack").iterdir())
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)  # (moto's GetObjectRetention answers 500)
        assert head["ObjectLockMode"] == "GOVERNANCE", key
        assert abs(head["ObjectLockRetainUntilDate"] - (datetime.now(UTC) + timedelta(days=30))) < timedelta(hours=1), key
    # a locked version cannot be deleted (governance: only with s3:BypassGovernanceRetention, break-glass only)
    version = s3.head_object(Bucket=bucket, Key=keys[0])["VersionId"]
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=bucket, Key=keys[0], VersionId=version)
    code, out, _ = cli("cases", "verify-evidence", case_id, "--pack", pack_id)
    assert code == 0 and out.startswith("verified:"), out


def test_evidence_commands_refuse_what_they_cannot_do(cli: Any, world: World, tmp_path: Path) -> None:
    code, out, err = cli("cases", "evidence", "CASE-NOPE", "--out", str(tmp_path / "x"))
    assert code == 1 and "no case CASE-NOPE" in err and not (tmp_path / "x").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.txt").write_text("x")
    code, _, err = cli("cases", "evidence", world.cases[0]["case_id"], "--out", str(tmp_path / "full"))
    assert code == 1 and "not an empty directory" in err
    code, _, err = cli("cases", "evidence", world.cases[0]["case_id"], "--out", str(tmp_path / "y"),
                       "--retain-days", "0")
    assert code == 1 and "--retain-days must be at least 1" in err and not (tmp_path / "y").exists()
    unpacked = next(c["case_id"] for c in world.cases
                    if not any(e.get("state") == "evidence_pack" for e in
                               CaseStore(world.aws.resource_name("CasesTable"),
                                         world.aws.resource("dynamodb")).history(c["case_id"])))
    code, _, err = cli("cases", "verify-evidence", unpacked)
    assert code == 1 and "has no evidence pack recorded" in err
    code, _, err = cli("cases", "verify-evidence", world.cases[0]["case_id"], "--pack", "nonsense")
    assert code == 1 and "not an evidence pack id" in err


def test_a_pack_is_read_from_the_bucket_its_history_entry_recorded() -> None:
    """verify-evidence reads a pack where it was written: packs of before the evidence bucket are in the curated one."""
    from accesswatch.dal.evidence import bucket_of

    pack = "20261130T081500Z-1a2b3c4d"
    assert bucket_of(f"s3://evidence-b/evidence/CASE-1/{pack}/", "CASE-1", pack) == "evidence-b"
    assert bucket_of(f"s3://curated-b/evidence/CASE-1/{pack}/", "CASE-1", pack) == "curated-b"
    for other in ("", f"s3:///evidence/CASE-1/{pack}/", f"s3://b/evidence/CASE-2/{pack}/",
                  f"https://b/evidence/CASE-1/{pack}/", f"s3://a/b/evidence/CASE-1/{pack}/"):
        assert bucket_of(other, "CASE-1", pack) is None, other
