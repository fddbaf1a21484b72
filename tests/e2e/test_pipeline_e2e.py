"""The whole system on the embedded runtime: a synthesised world in, scored findings out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accesswatch.contract import FINDING_EXPORT_FIELDS
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch_tools.embedded.template import function_specs, load_template
from accesswatch_tools.operate.stored_state import verify
from accesswatch_tools.operate.world_run import log_files, run_world, upload
from accesswatch_tools.truth import score

pytestmark = pytest.mark.e2e


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_contract_v2_cases(findings: list[dict], cases: list[dict]) -> None:
    """Data contract v2, "Cases", checked on the export alone (as a reader of OUT/ would)."""
    by_id = {f["finding_id"]: f for f in findings}
    holder: dict[str, str] = {}
    open_by_user: dict[str, int] = {}
    for case in cases:
        for field in ("case_id", "user_id", "status", "priority", "score", "tier", "rules", "client_ids",
                      "finding_ids", "opened_at"):
            assert field in case, (case["case_id"], field)
        assert case["tier"] in ("immediate", "accumulate")
        members = [by_id[fid] for fid in case["finding_ids"]]
        assert members, case["case_id"]
        assert {f["user_id"] for f in members} == {case["user_id"]}, "a case is one staff member's"
        assert sorted({f["client_id"] for f in members}) == sorted(case["client_ids"])
        assert sorted({f["rule"] for f in members}) == sorted(case["rules"])
        assert all(f["rule_status"] == "live" for f in members), "no staging finding in a case"
        if not any(f["severity"] == "high" for f in members):
            assert len(members) >= 2, "no case from a lone accumulate-tier finding"
        for fid in case["finding_ids"]:
            assert fid not in holder, f"{fid} in two cases"
            holder[fid] = case["case_id"]
        if case["status"] in ("opened", "triaged", "notified", "investigating"):
            open_by_user[case["user_id"]] = open_by_user.get(case["user_id"], 0) + 1
    assert all(n == 1 for n in open_by_user.values()), "at most one open case per user"
    for f in findings:
        if f["rule_status"] == "live" and f["severity"] == "high":
            assert f["finding_id"] in holder, "every immediate-tier finding is in a case"
        assert f.get("case_id") == holder.get(f["finding_id"])


def test_world_runs_end_to_end_and_scores_perfectly(aws, small_world: Path, tmp_path: Path):
    outcome = run_world(aws, small_world / "reference", small_world / "logs", tmp_path)
    assert outcome.ok, outcome.problems

    for name in ("findings.jsonl", "cases.jsonl", "quarantine.jsonl", "summary.json"):
        assert (tmp_path / name).is_file(), name
    for rule, result in score(tmp_path / "findings.jsonl", small_world / "truth.jsonl").items():
        assert (result.precision, result.recall) == (1.0, 1.0), (rule, result)

    # Conservation, file by file, against what the generator wrote.
    meta = json.loads((small_world / "truth-meta.json").read_text())
    summary = json.loads((tmp_path / "summary.json").read_text())
    files = {Path(f["key"]).name: f for f in summary["files"] if f["kind"] == "access-log"}
    assert set(files) == set(meta["files"])
    for name, expected in meta["files"].items():
        got = files[name]
        assert got["lines_read"] == got["accepted"] + got["quarantined"], name
        assert (got["lines_read"], got["quarantined"]) == (expected["lines_read"], expected["quarantined"]), name
        assert got["status"] == "detected", name
    quarantine = _jsonl(tmp_path / "quarantine.jsonl")
    assert len(quarantine) == summary["totals"]["quarantined"]
    assert all(set(q) == {"key", "line", "reason", "field", "fields"} for q in quarantine)

    findings = _jsonl(tmp_path / "findings.jsonl")
    assert len({f["finding_id"] for f in findings}) == len(findings)
    for f in findings:
        assert list(f)[: len(FINDING_EXPORT_FIELDS)] == list(FINDING_EXPORT_FIELDS)
        assert f["explanation"] and isinstance(f["evidence"], dict) and f["snapshot_id"] == summary["snapshot_id"]
    cases = _jsonl(tmp_path / "cases.jsonl")
    assert_contract_v2_cases(findings, cases)
    assert summary["executions"]["DetectionStateMachine"] == {"SUCCEEDED": len(files)}

    # The system's invariants hold over what it stored (accesswatch verify), export included.
    report = verify(aws, tmp_path / "findings.jsonl")
    assert report.ok, report

    # Every function the template names that the pipeline drives ran, through the template's wiring
    # (the quarterly report and the weekly digest run on their schedules only, the console for people).
    ran = {i.function for i in aws.invocations}
    assert set(function_specs(load_template())) - ran == {"ReportFunction", "DigestFunction", "ConsoleFunction"}

    # Running the same world again creates nothing new: same finding ids, no duplicates.
    again = run_world(aws, small_world / "reference", small_world / "logs", tmp_path / "again")
    assert again.ok, again.problems
    findings_again = _jsonl(tmp_path / "again" / "findings.jsonl")
    assert [f["finding_id"] for f in findings_again] == [f["finding_id"] for f in findings]
    assert len(_jsonl(tmp_path / "again" / "cases.jsonl")) == len(cases)


def test_logs_that_arrive_before_reference_data_wait_and_are_then_detected(aws, small_world: Path, tmp_path: Path):
    logs = log_files(small_world / "logs", "cms")[:2]
    for path, key in logs:
        upload(aws, path, key)
    ledger = Ledger(aws.resource_name("LedgerTable"))
    waiting = {f["key"]: f["status"] for f in ledger.all_files()}
    assert set(waiting.values()) == {"awaiting_reference"}

    only = tmp_path / "logs"
    only.mkdir()
    outcome = run_world(aws, small_world / "reference", only, tmp_path / "out")
    assert outcome.ok, outcome.problems
    statuses = {f["key"]: f["status"] for f in ledger.all_files() if f["kind"] == "access-log"}
    assert statuses == {key: "detected" for _, key in logs}
    findings = _jsonl(tmp_path / "out" / "findings.jsonl")
    assert findings and {f["snapshot_id"] for f in findings} == {ledger.current_snapshot_id()}


def test_keys_with_spaces_and_unicode_and_unknown_systems(aws, tmp_path: Path):
    s3 = aws.client("s3")
    raw = aws.resource_name("RawBucket")
    body = (b"event_id,occurred_at,user_id,client_id,action\n"
            b"e1,2025-04-01T09:00:00Z,u1,000001,view\n")
    keys = ["access-logs/cms/April 2025/day 1 (late)+ā.csv", "access-logs/unknownsys/x.csv", "access-logs/top.csv"]
    for key in keys:
        s3.put_object(Bucket=raw, Key=key, Body=body)
    files = {f["key"]: f for f in Ledger(aws.resource_name("LedgerTable")).all_files()}
    assert set(files) == set(keys)
    assert files[keys[0]]["status"] == "awaiting_reference" and files[keys[0]]["accepted"] == 1
    assert files[keys[1]]["status"] == "rejected" and files[keys[1]]["reason"].startswith("unknown system prefix")
    assert files[keys[2]]["status"] == "rejected" and "access-logs/<system>/" in files[keys[2]]["reason"]
    quarantined = list(ObjectStore(s3).keys(aws.resource_name("CuratedBucket"), "quarantine/"))
    assert len(quarantined) == 2


def test_redelivered_notification_and_identical_reupload_create_nothing_new(aws, small_world: Path):
    path, key = log_files(small_world / "logs", "cms")[0]
    upload(aws, path, key)
    s3 = aws.client("s3")
    curated = aws.resource_name("CuratedBucket")
    partitions = sorted(ObjectStore(s3).keys(curated, "events/"))
    upload(aws, path, key)  # identical content again: a new version, the same ETag
    head = s3.head_object(Bucket=aws.resource_name("RawBucket"), Key=key)
    notification = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": aws.resource_name("RawBucket")},
        "object": {"key": key.replace(" ", "+"), "eTag": head["ETag"].strip('"'), "size": head["ContentLength"]}}}]}
    for _ in range(2):  # the same notification delivered twice more
        response = aws.client("lambda").invoke(FunctionName=aws.resource_name("IngestFunction"),
                                               Payload=json.dumps(notification))
        assert "FunctionError" not in response
    assert sorted(ObjectStore(s3).keys(curated, "events/")) == partitions
    assert len(Ledger(aws.resource_name("LedgerTable")).all_files()) == 1
