"""`accesswatch verify`: every invariant holds after a clean run, and each kind of damage is named.

The pure checks are exercised on a small consistent state and one mutation at a time; the whole
command on the embedded runtime (damage done to the stored data itself) and through the CLI on the
local endpoint after `accesswatch demo`.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from support.reliability import logs_subset, tiny_world

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch.findings import finding_id
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.export import export_finding
from accesswatch_tools.operate.stored_state import verify
from accesswatch_tools.operate.world_run import run_world
from accesswatch_tools.verify import Observed, Partition, check

INGEST = "a" * 32
KEY = "access-logs/cms/day 1.csv"
PART = f"events/system=cms/nz_date=2025-04-01/{INGEST}-00000.parquet"
FID = finding_id("cms", "e1", "SELF_RECORD")
CASE = "CASE-0001"


def _rows(*events: tuple[str, int, str, str]) -> pl.DataFrame:
    """Partition rows (verify's PARTITION_COLUMNS): a view at 09:00 NZ plus the line's minutes."""
    return pl.DataFrame(
        [{"system": "cms", "event_id": e, "nz_date": "2025-04-01", "user_id": u, "client_id": c,
          "source_key": KEY, "line": line, "occurred_at_utc": f"2025-03-31T20:{line:02d}:00+00:00",
          "action": "view", "screen": None, "site": None, "session_id": None} for e, line, u, c in events],
        schema={"system": pl.String, "event_id": pl.String, "nz_date": pl.String, "user_id": pl.String,
                "client_id": pl.String, "source_key": pl.String, "line": pl.Int64, "occurred_at_utc": pl.String,
                "action": pl.String, "screen": pl.String, "site": pl.String, "session_id": pl.String},
    ).with_columns(pl.col("nz_date").str.to_date(), pl.col("occurred_at_utc").str.to_datetime(time_zone="UTC"))


def clean() -> Observed:
    finding = {"finding_id": FID, "system": "cms", "event_id": "e1", "rule": "SELF_RECORD", "severity": "high",
               "rule_status": "live", "user_id": "u1", "client_id": "000001", "occurred_at": "2025-04-01T09:00:00Z",
               "explanation": "own record", "evidence": '{"match": "staff.client_id"}', "snapshot_id": "S1",
               "partition_key": PART, "case_id": CASE}
    return Observed(
        files=[{"ingest_id": INGEST, "key": KEY, "kind": "access-log", "status": "detected", "lines_read": 3,
                "accepted": 2, "quarantined": 1, "manifest_key": f"manifests/{INGEST}.json", "snapshot_id": "S1"},
               {"ingest_id": "b" * 32, "key": "reference/staff.csv", "kind": "reference", "status": "ingested",
                "lines_read": 5, "accepted": 5, "quarantined": 0}],
        snapshot_id="S1",
        partitions=[Partition(PART, _rows(("e1", 2, "u1", "000001"), ("e2", 4, "u2", "000002")))],
        manifests={INGEST: [PART]},
        quarantine_records={INGEST: 1},
        index_ids={"S1"},
        findings=[finding],
        export_lines=[json.dumps(export_finding(finding))],
        cases=[{"case_id": CASE, "user_id": "u1", "client_id": "000001", "status": "investigating",
                "source": "detection", "finding_ids": [FID], "finding_count": 1, "rules": ["SELF_RECORD"]}],
        histories={CASE: [{"state": s} for s in ("opened", "triaged", "notified", "investigating")]},
        detection_executions=[{"name": f"{INGEST}-S1", "executionArn": "arn:x", "status": "SUCCEEDED"}],
        case_executions=[{"name": CASE, "executionArn": "arn:c", "status": "RUNNING", "startDate": "1"}],
    )


def test_a_consistent_state_passes():
    report = check(clean())
    assert report.ok, report.problems
    assert report.counted["events"] == 2 and report.counted["findings"] == 1


Mutation = Callable[[Observed], None]


def _set(path: str, value: object) -> Mutation:
    """obs.<attr>[index][key] = value, for the common one-field mutations."""
    attr, index, key = path.split(".")

    def mutate(o: Observed) -> None:
        getattr(o, attr)[int(index)][key] = value
    return mutate


def _decided(entry: dict[str, str] | None = None, **case: str) -> Mutation:
    """The case decided unfounded by ann under claim K1 (entry: changes to its history entry)."""
    def mutate(o: Observed) -> None:
        o.cases[0].update(status="decided", decision="unfounded", decided_by="ann", decision_reason="legitimate_work",
                          decision_note="n", decision_claim_id="K1", **case)
        told = {"state": "decided", "actor": "ann", "decision": "unfounded", "reason": "legitimate_work",
                "note": "n", "claim_id": "K1", **(entry or {})}
        o.histories[CASE].append(told)
    return mutate


def _stale_reference(o: Observed) -> None:
    common = {"key": "reference/staff.csv", "kind": "reference", "status": "ingested", "reference_kind": "staff",
              "lines_read": 1, "accepted": 1, "quarantined": 0}
    o.files += [{**common, "ingest_id": "r1", "reference_digest": "D1", "sequencer": "0A"},
                {**common, "ingest_id": "r2", "reference_digest": "D2", "sequencer": "0B"}]
    o.reference = {"kinds": {"staff": {"digest": "D1", "source_key": "reference/staff.csv", "sequencer": "0A"}}}


def _partition(*events: tuple[str, int, str, str], key: str = PART, **changes: str) -> Mutation:
    def mutate(o: Observed) -> None:
        rows = _rows(*events).with_columns(*[pl.lit(v).alias(k) for k, v in changes.items()])
        if "nz_date" in changes:
            rows = rows.with_columns(pl.col("nz_date").str.to_date())
        o.partitions = [p for p in o.partitions if p.key != key] + [Partition(key, rows)]
    return mutate


def _export(lines: Callable[[list[str]], list[str]]) -> Mutation:
    def mutate(o: Observed) -> None:
        o.export_lines = lines(o.export_lines)
    return mutate


def _history(*states: str) -> Mutation:
    def mutate(o: Observed) -> None:
        o.histories[CASE] = [{"state": s} for s in states]
    return mutate


def _other_finding(o: Observed) -> None:
    other = {**o.findings[0], "finding_id": finding_id("cms", "e2", "SELF_RECORD"), "event_id": "e2",
             "user_id": "u2", "client_id": "000002", "rule_status": "staging", "case_id": None}
    o.findings.append(other)
    o.export_lines.append(json.dumps(export_finding(other)))


MUTATIONS: dict[str, tuple[Mutation, str]] = {
    # files
    "conservation": (_set("files.0.lines_read", 4), f"files: {KEY}: lines_read 4 != accepted 2 + quarantined 1"),
    "reference conservation": (_set("files.1.accepted", 4), "files: reference/staff.csv: lines_read 5 != accepted 4"),
    "quarantine lost": (lambda o: o.quarantine_records.clear(),
                        f"files: {KEY}: quarantine holds 0 records where the ledger counts 1"),
    "failed file": (lambda o: o.files[0].update(status="failed", reason="detection failed: X"),
                    f"files: {KEY}: left failed (detection failed: X)"),
    "stuck ingesting": (_set("files.0.status", "ingesting"), f"files: {KEY}: left ingesting"),
    "waiting though published": (_set("files.0.status", "awaiting_reference"),
                                 f"files: {KEY}: still awaiting reference data, though an index is published"),
    "file failed before it was recorded": (lambda o: o.files.append({"pk": "FILE#zz", "status": "failed",
                                                                      "reason": "KeyError while ingesting"}),
                                           "files: zz: left failed (KeyError while ingesting)"),
    "rejected without reason": (_set("files.1.status", "rejected"), "files: reference/staff.csv: rejected without"),
    # partitions
    "event lost": (_partition(("e1", 2, "u1", "000001")),
                   f"partitions: {KEY}: partitions hold 1 events where the ledger accepted 2"),
    "event doubled": (_partition(("e1", 2, "u1", "000001"), ("e1", 2, "u1", "000001")),
                      f"partitions: {PART}: line 2 of file {INGEST} is stored 2 times"),
    "foreign rows": (_partition(("e1", 2, "u1", "000001"), ("e2", 4, "u2", "000002"), source_key="other.csv"),
                     f"partitions: {PART}: 2 rows come from another file"),
    "misplaced date": (_partition(("e1", 2, "u1", "000001"), ("e2", 4, "u2", "000002"), nz_date="2025-04-02"),
                       f"partitions: {PART}: 2 rows of another system or New Zealand date than its path"),
    "orphan partition": (lambda o: o.partitions.append(Partition(
        f"events/system=cms/nz_date=2025-04-01/{'c' * 32}-00000.parquet", _rows(("e9", 2, "u9", "9")))),
        f"partitions: {'c' * 32}: 1 events in partitions of no ledger file"),
    "manifest": (lambda o: o.manifests[INGEST].append("events/x.parquet"),
                 f"partitions: {KEY}: manifest lists 2 partitions, 1 are stored"),
    "bad partition key": (lambda o: o.partitions.append(Partition("events/loose.parquet", _rows())),
                          "partitions: events/loose.parquet: key is not"),
    "event id reused with other content": (
        lambda o: o.partitions.append(Partition(f"events/system=cms/nz_date=2025-04-01/{'d' * 32}-00000.parquet",
                                                _rows(("e2", 4, "u9", "000009")))),
        "partitions: cms/e2: event_id accepted with different content on 2025-04-01"),
    # actions and reference data
    "decision not as told": (_decided({"actor": "bob"}), f"cases: {CASE}: its 'decided' entry differs from the "
                                                        "case in actor"),
    "decision under another claim": (_decided({"claim_id": "K2"}), f"cases: {CASE}: its 'decided' entry was made "
                                                                    "under claim K2, the case names K1"),
    "decision recorded twice": (lambda o: (_decided()(o), o.histories[CASE].append(dict(o.histories[CASE][-1]))),
                                f"cases: {CASE}: 2 'decided' entries"),
    "claim left behind": (_decided(claim="K9"), f"cases: {CASE}: holds a claim while decided"),
    "stale reference": (_stale_reference, "reference: reference staff: the current snapshot is upload r1"),
    # findings
    "id not derived": (_set("findings.0.rule", "RELATIVE_RECORD"), f"findings: {FID}: id is not derived"),
    "no snapshot": (_set("findings.0.snapshot_id", ""), f"findings: {FID}: names no reference snapshot"),
    "snapshot index missing": (_set("findings.0.snapshot_id", "S9"),
                               f"findings: {FID}: names reference snapshot S9, whose index does not exist"),
    "event missing": (lambda o: o.partitions.clear() or o.files[0].update(accepted=0, lines_read=1),
                      f"findings: {FID}: its partition holds no event with its event_id"),
    "event of another user": (_partition(("e1", 2, "u7", "000001"), ("e2", 4, "u2", "000002")),
                              f"findings: {FID}: its event in the partition has another user, client or system"),
    "case missing": (lambda o: o.cases.clear(), f"findings: {FID}: names case {CASE}, which does not exist"),
    "immediate finding without case": (_set("findings.0.case_id", None),
                                       f"findings: {FID}: immediate-tier finding in no case"),
    "staging finding in a case": (_set("findings.0.rule_status", "staging"),
                                  f"findings: {FID}: staging-rule (record-tier) finding in case {CASE}"),
    # export
    "export missing a finding": (_export(lambda lines: []), f"export: {FID}: appears 0 times in the export"),
    "export doubled": (_export(lambda lines: lines * 2), f"export: {FID}: appears 2 times in the export"),
    "export not JSON": (_export(lambda lines: [*lines, '{"finding_id": "x", ']), "export: line 2: is not valid JSON"),
    "export not an object": (_export(lambda lines: [*lines, "[1, 2]"]), "export: line 2: is not a finding object"),
    "export of no finding": (_export(lambda lines: [*lines, json.dumps({"finding_id": "zz"})]),
                             "export: zz: exported but not in the findings table"),
    "export differs": (_export(lambda lines: [json.dumps({**json.loads(lines[0]), "rule": "X", "evidence": {}})]),
                       f"export: {FID}: differs from the table in rule, evidence"),
    # cases
    "case lists a finding twice": (_set("cases.0.finding_ids", [FID, FID]), f"cases: {CASE}: lists a finding more"),
    "case lists a missing finding": (_set("cases.0.finding_ids", [FID, "f" * 32]),
                                     f"cases: {CASE}: lists finding {'f' * 32}, which does not exist"),
    "case count": (_set("cases.0.finding_count", 3), f"cases: {CASE}: finding_count 3 but lists 1"),
    "case rules": (_set("cases.0.rules", ["PUBLIC_FIGURE"]), f"cases: {CASE}: its rules are not its findings'"),
    "case of another user": (_set("cases.0.user_id", "u2"), f"cases: {CASE}: lists finding {FID} of another user"),
    "finding names another case": (lambda o: (_other_finding(o), o.cases[0]["finding_ids"].append(
        o.findings[1]["finding_id"]), o.cases[0].update(finding_count=2)),
        f"cases: {CASE}: lists finding {finding_id('cms', 'e2', 'SELF_RECORD')}, which names case None"),
    "two cases share a finding": (lambda o: (o.cases.append({**o.cases[0], "case_id": "CASE-0002"}),
                                             o.histories.update({"CASE-0002": o.histories[CASE]}),
                                             o.case_executions.append({**o.case_executions[0], "name": "CASE-0002"})),
                                  f"cases: CASE-0002: shares finding {FID} with case {CASE}"),
    "no history": (_history(), f"cases: {CASE}: status investigating but no history"),
    "opening not recorded": (_history("triaged", "notified", "investigating"),
                             f"cases: {CASE}: history does not record its opening"),
    "status not recorded": (_history("opened", "triaged", "notified"),
                            f"cases: {CASE}: status investigating is not recorded in its history"),
    "history ahead of status": (_history("opened", "triaged", "notified", "investigating", "decided",
                                         "closed_unfounded"),
                                f"cases: {CASE}: status investigating but its history records closed_unfounded, "
                                "decided, not on its way there"),
    "unknown status": (_set("cases.0.status", "limbo"), f"cases: {CASE}: unknown status limbo"),
    "two open cases for one user": (lambda o: (o.cases.append({**o.cases[0], "case_id": "CASE-0002",
                                                                "finding_ids": [], "finding_count": 0}),
                                               o.histories.update({"CASE-0002": o.histories[CASE]}),
                                               o.case_executions.append({**o.case_executions[0], "name": "CASE-0002"})),
                                    f"cases: u1: user has 2 open cases: {CASE}, CASE-0002"),
    "case of a lone accumulate finding": (lambda o: o.findings[0].update(rule="SENSITIVE_LOOKUP", tier="accumulate",
                                                                         severity="medium"),
                                          f"cases: {CASE}: a case of a lone accumulate-tier finding"),
    "suppressed finding in a case": (_set("findings.0.suppressed_by", "EXC-1"),
                                     f"findings: {FID}: suppressed by EXC-1 yet in case {CASE}"),
    "closed without closed_at": (lambda o: (o.cases[0].update(status="closed_unfounded"), _history(
        "opened", "triaged", "notified", "investigating", "decided", "closed_unfounded")(o),
        o.case_executions[0].update(status="SUCCEEDED")), f"cases: {CASE}: status closed_unfounded without closed_at"),
    # executions
    "detection left running": (_set("detection_executions.0.status", "RUNNING"),
                               f"executions: {INGEST}-S1: detection execution left running"),
    "detection failed": (lambda o: (o.detection_executions[0].update(status="FAILED", ingest_id=INGEST),
                                    o.files[0].update(status="detecting")),
                         f"executions: {INGEST}-S1: detection execution FAILED and not redriven"),
    "case without workflow": (lambda o: o.case_executions.clear(), f"executions: {CASE}: case (investigating) has no"),
    "two workflows": (lambda o: o.case_executions.append({**o.case_executions[0], "name": f"{CASE}-redrive-1",
                                                          "startDate": "2"}),
                      f"executions: {CASE}: 2 workflow executions for one case"),
    "workflow failed": (_set("case_executions.0.status", "FAILED"),
                        f"executions: {CASE}: case workflow FAILED at investigating (dead-letter queue"),
    "workflow running, nobody waited on": (_set("cases.0.status", "notified"),
                                           f"executions: {CASE}: case workflow still running at notified"),
    "workflow done, case open": (_set("case_executions.0.status", "SUCCEEDED"),
                                 f"executions: {CASE}: case workflow finished but the case is investigating"),
    "workflow of no case": (lambda o: o.case_executions.append({**o.case_executions[0], "name": "CASE-9"}),
                            "executions: CASE-9: case execution of no case"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_kind_of_damage_is_named(name: str):
    mutate, expected = MUTATIONS[name]
    observed = copy.deepcopy(clean())
    mutate(observed)
    problems = [str(p) for p in check(observed).problems]
    assert any(p.startswith(expected) for p in problems), problems


def test_redriven_detection_and_redriven_case_pass():
    observed = clean()
    observed.detection_executions.append({"name": f"{INGEST}-S0", "executionArn": "arn:old", "status": "FAILED",
                                          "ingest_id": INGEST})  # superseded: the file is detected
    observed.case_executions = [
        {"name": CASE, "executionArn": "arn:c0", "status": "FAILED", "startDate": "1"},
        {"name": f"{CASE}-redrive-1", "executionArn": "arn:c1", "status": "RUNNING", "startDate": "2"},
    ]
    observed.histories[CASE].append({"state": "redriven"})  # annotations are not statuses
    assert check(observed).ok, check(observed).problems


def test_a_reopened_and_amended_case_passes_and_its_current_round_is_checked():
    """A reopened case (cases reopen) is checked from its last reopening: its first decision and finished
    execution are history; an amended outcome agrees with its amendment (cases amend)."""
    observed = clean()
    first_round = ["opened", "triaged", "notified", "investigating", "decided", "closed_unfounded"]
    observed.histories[CASE] = [{"state": s} for s in first_round] + [
        {"state": "reopened"}, {"state": "investigating"},
        {"state": "decided", "decision": "founded", "er_type": "privacy_breach", "claim_id": "k1"},
        {"state": "er_case"}, {"state": "awaiting_outcome"},
        {"state": "outcome_recorded", "outcome": "dismissal", "claim_id": "k2"},
        {"state": "closed_founded"},
        {"state": "amended", "field": "outcome", "from": "dismissal", "to": "final_written_warning"}]
    observed.cases[0].update(status="closed_founded", reopens=1, decision="founded", er_type="privacy_breach",
                             outcome="final_written_warning", closed_at="2025-04-03T00:00:00Z",
                             decision_claim_id="k1", outcome_claim_id="k2")
    observed.case_executions = [
        {"name": CASE, "executionArn": "arn:c0", "status": "SUCCEEDED", "startDate": "1"},
        {"name": f"{CASE}-reopen-1", "executionArn": "arn:c1", "status": "SUCCEEDED", "startDate": "2"},
    ]
    assert check(observed).ok, check(observed).problems
    # The outcome differing from its last amendment, or a second live execution of the round, is named.
    observed.cases[0]["outcome"] = "written_warning"
    assert any("differs from the case in outcome" in str(p) for p in check(observed).problems)
    observed.cases[0]["outcome"] = "final_written_warning"
    observed.case_executions.append({"name": f"{CASE}-reopen-1-redrive-1", "executionArn": "arn:c2",
                                     "status": "RUNNING", "startDate": "3"})
    assert any("2 workflow executions for one case" in str(p) for p in check(observed).problems)
    # Reopened and waiting again: the old decision does not count against its status.
    observed.case_executions = observed.case_executions[:1] + [
        {"name": f"{CASE}-reopen-1", "executionArn": "arn:c1", "status": "RUNNING", "startDate": "2"}]
    observed.histories[CASE] = [{"state": s} for s in first_round] + [{"state": "reopened"},
                                                                      {"state": "investigating"}]
    observed.cases[0] = {**{k: v for k, v in observed.cases[0].items()
                            if k not in ("decision", "er_type", "outcome", "closed_at", "decision_claim_id",
                                         "outcome_claim_id")}, "status": "investigating"}
    assert check(observed).ok, check(observed).problems


# ---------------------------------------------------------------------------------- on the runtime
@pytest.mark.e2e
def test_verify_names_damage_done_to_the_stored_data(tmp_path: Path):
    world = tiny_world(tmp_path / "world")
    with EmbeddedAws() as aws:
        outcome = run_world(aws, world / "reference", logs_subset(world, tmp_path / "logs", 2), tmp_path / "out")
        assert outcome.ok, outcome.problems
        export = tmp_path / "out" / "findings.jsonl"
        report = verify(aws, export)
        assert report.ok, report.problems
        assert report.counted["findings"] == report.counted["export_lines"] > 0

        s3 = aws.client("s3")
        curated = aws.resource_name("CuratedBucket")
        ledger = Ledger(aws.resource_name("LedgerTable"))
        findings = FindingStore(aws.resource_name("FindingsTable"))
        cases = CaseStore(aws.resource_name("CasesTable"))
        # A partition stored twice, a ledger count off by one, a finding deleted, an export line doubled.
        partition = sorted(ObjectStore(s3).keys(curated, "events/"))[0]
        copy_key = partition.replace("-00000.parquet", "-00099.parquet")
        s3.copy_object(Bucket=curated, Key=copy_key, CopySource={"Bucket": curated, "Key": partition})
        ingest_id = partition.rsplit("/", 1)[-1][:32]
        item = ledger.get_file(ingest_id)
        assert item is not None
        other = next(f for f in ledger.all_files() if f["kind"] == "access-log" and f["ingest_id"] != ingest_id)
        ledger.update_file(other["ingest_id"], FileStatus(other["status"]), accepted=other["accepted"] + 1)
        case = next(c for c in cases.scan_cases())
        gone = case["finding_ids"][0]
        findings.table.delete_item(Key={"finding_id": gone})
        lines = export.read_text(encoding="utf-8").splitlines()
        export.write_text("\n".join([*lines, lines[-1]]) + "\n", encoding="utf-8")

        problems = [str(p) for p in verify(aws, export).problems]
        expected = [
            f"partitions: {item['key']}: partitions hold {2 * item['accepted']} events where the ledger accepted",
            f"partitions: {item['key']}: manifest lists",
            f"of file {ingest_id} is stored 2 times",
            f"files: {other['key']}: lines_read {other['lines_read']} != accepted {other['accepted'] + 1}",
            f"cases: {case['case_id']}: lists finding {gone}, which does not exist",
            f"export: {gone}: exported but not in the findings table",
            f"export: {json.loads(lines[-1])['finding_id']}: appears 2 times in the export",
        ]
        for wanted in expected:
            assert any(wanted in p for p in problems), (wanted, problems)


@pytest.mark.e2e
def test_cli_verify_passes_after_demo_on_the_local_endpoint(tmp_path: Path):
    """`accesswatch demo`, then `accesswatch verify` and `accesswatch redrive` as separate commands."""
    env = {**os.environ, "ACCESSWATCH_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "accesswatch_tools.cli.main", *args], env=env, text=True,
                              capture_output=True, timeout=900, check=False)

    try:
        demo = cli("demo", "--out", str(tmp_path / "demo"), "--staff", "20", "--clients", "600", "--days", "2")
        assert demo.returncode == 0, demo.stderr[-3000:]
        checked = cli("verify", "--json", "--export", str(tmp_path / "demo"))
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
        report = json.loads(checked.stdout)
        assert report["ok"] and report["problems"] == []
        assert report["counted"]["findings"] == report["counted"]["export_lines"] > 0
        assert report["counted"]["cases"] > 0 and report["counted"]["events"] > 1000
        nothing = cli("redrive", "--dry-run", "--json")
        assert nothing.returncode == 0 and json.loads(nothing.stdout)["actions"] == []
        assert "nothing failed, nothing to do" in cli("redrive", "--dry-run").stdout
    finally:
        cli("local", "stop")
