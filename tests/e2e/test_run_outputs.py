"""A run's outputs are its own: two worlds run one after the other on one runtime (which keeps everything,
as the local endpoint and a deployed stack do), the same world run again, and ``accesswatch export``
holding everything."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from accesswatch.quarters import nz_date, parse_instant
from accesswatch_tools.operate.export import Period, export_to_file
from accesswatch_tools.operate.stored_state import verify
from accesswatch_tools.operate.world_run import log_files, run_world, upload

pytestmark = pytest.mark.e2e

RUN_FINDING_FIELDS = ("already_known", "source_keys")
RUN_CASE_FIELDS = ("run_role", "run_finding_ids")
SECOND_START = date(2025, 5, 12)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _run(aws, world: Path, out: Path, system: str = "cms") -> tuple[list[dict], list[dict], dict]:
    outcome = run_world(aws, world / "reference", world / "logs", out, system=system)
    assert outcome.ok, outcome.problems
    return _jsonl(out / "findings.jsonl"), _jsonl(out / "cases.jsonl"), json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def second_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another world, on other days (the generator numbers events from 1 in every world: run under the payment
    system its event ids are its own)."""
    from accesswatch_tools.world import generate

    out = tmp_path_factory.mktemp("second-world")
    generate(out, staff=30, clients=1200, days=2, seed=23, start=SECOND_START)
    return out


def test_each_run_writes_only_what_it_did_and_export_holds_everything(aws, small_world: Path, second_world: Path,
                                                                      tmp_path: Path):
    first, first_cases, first_summary = _run(aws, small_world, tmp_path / "first")
    assert first and first_cases
    assert not any(f["already_known"] for f in first)
    assert {c["run_role"] for c in first_cases} == {"opened"}
    assert first_summary["totals"]["new_findings"] == len(first) == first_summary["totals"]["findings"]

    second, second_cases, summary = _run(aws, second_world, tmp_path / "second", system="payment")
    first_ids = {f["finding_id"] for f in first}
    second_ids = {f["finding_id"] for f in second}
    # Only its own findings: none of the first world's, every one from its own files, all new.
    assert second and not first_ids & second_ids
    assert {f["system"] for f in second} == {"payment"}
    assert all(f["source_keys"] and all(k.startswith("access-logs/payment/") for k in f["source_keys"])
               for f in second)
    assert not any(f["already_known"] for f in second)
    assert all(nz_date(parse_instant(f["occurred_at"])) >= SECOND_START for f in second)
    # Only the cases its findings are in: every one of them there, each case naming them.
    in_cases = {f["case_id"] for f in second if f["case_id"]}
    assert {c["case_id"] for c in second_cases} == in_cases
    for case in second_cases:
        assert case["run_finding_ids"] and set(case["run_finding_ids"]) <= second_ids
        # A case of the first run appears only if this run's findings joined it (a staff id both worlds have).
        assert case["run_role"] == ("joined" if case["case_id"] in {c["case_id"] for c in first_cases} else "opened")
    totals = summary["totals"]
    assert (totals["findings"], totals["new_findings"], totals["already_known_findings"]) == (len(second),
                                                                                               len(second), 0)
    assert totals["cases"] == len(second_cases) == totals["cases_opened"] + totals["cases_joined"]
    log_keys = {f["key"] for f in summary["files"] if f["kind"] == "access-log"}
    assert log_keys == {f"access-logs/payment/{p.name}" for p in (second_world / "logs").iterdir() if p.is_file()}
    assert {k for f in second for k in f["source_keys"]} <= log_keys
    assert {f["key"] for f in summary["files"] if f["kind"] == "reference"} == {
        f"reference/{p.name}" for p in (second_world / "reference").iterdir()}
    assert summary["executions"]["DetectionStateMachine"] == {"SUCCEEDED": totals["files"]}

    # The first world again: the same findings, every one already known; its cases already held them.
    again, again_cases, again_summary = _run(aws, small_world, tmp_path / "again")
    assert [f["finding_id"] for f in again] == [f["finding_id"] for f in first]
    assert all(f["already_known"] for f in again)
    assert {c["case_id"] for c in again_cases} == {c["case_id"] for c in first_cases}
    assert {c["run_role"] for c in again_cases} == {"already_held"}
    assert again_summary["totals"]["files_seen_before"] == again_summary["totals"]["files"] > 0
    assert again_summary["totals"]["new_findings"] == 0 and again_summary["totals"]["cases_opened"] == 0

    # accesswatch export: everything the system holds, in the run's line shapes without the run's fields.
    findings_file, cases_file = tmp_path / "all-findings.jsonl", tmp_path / "all-cases.jsonl"
    assert export_to_file(aws, "findings", Period(), findings_file) == len(first) + len(second)
    assert export_to_file(aws, "cases", Period(), cases_file) == len({c["case_id"] for c in first_cases + second_cases})
    exported = {f["finding_id"]: f for f in _jsonl(findings_file)}
    assert set(exported) == first_ids | second_ids
    for line in second:
        assert exported[line["finding_id"]] == {k: v for k, v in line.items() if k not in RUN_FINDING_FIELDS}
    cases = {c["case_id"]: c for c in _jsonl(cases_file)}
    for line in again_cases:
        assert cases[line["case_id"]] == {k: v for k, v in line.items() if k not in RUN_CASE_FIELDS}

    # A period: the NZ date of the access for findings, of the opening for cases.
    assert export_to_file(aws, "findings", Period(SECOND_START), findings_file) == len(second)
    assert {f["finding_id"] for f in _jsonl(findings_file)} == second_ids
    assert export_to_file(aws, "findings", Period(None, SECOND_START - timedelta(days=1)), findings_file) == len(first)
    opened = {nz_date(parse_instant(c["opened_at"])) for c in cases.values()}
    assert export_to_file(aws, "cases", Period(min(opened), max(opened)), cases_file) == len(cases)
    assert export_to_file(aws, "cases", Period(None, date(2025, 1, 1)), cases_file) == 0
    assert cases_file.read_text() == ""

    # accesswatch verify stays whole-system: the whole export checks out against the tables.
    export_to_file(aws, "findings", Period(), findings_file)
    report = verify(aws, findings_file)
    assert report.ok, report
    assert not verify(aws, tmp_path / "second" / "findings.jsonl").ok  # one run's findings are not the whole



def test_files_released_by_the_runs_reference_data_and_copies_of_known_files(aws, small_world: Path, tmp_path: Path):
    # Two log files arrive before any reference data: they wait; the run that brings reference data judges them.
    waiting = log_files(small_world / "logs", "cms")[:2]
    for path, key in waiting:
        upload(aws, path, key)
    no_logs = tmp_path / "no-logs"
    no_logs.mkdir()
    outcome = run_world(aws, small_world / "reference", no_logs, tmp_path / "released")
    assert outcome.ok, outcome.problems
    findings = _jsonl(tmp_path / "released" / "findings.jsonl")
    summary = outcome.summary
    logs = [f for f in summary["files"] if f["kind"] == "access-log"]
    assert sorted((f["key"], f["origin"], f["seen_before"], f["status"]) for f in logs) == sorted(
        (key, "released", True, "detected") for _, key in waiting)
    assert findings and not any(f["already_known"] for f in findings)
    assert {k for f in findings for k in f["source_keys"]} <= {key for _, key in waiting}
    assert summary["totals"]["files_released"] == 2 and summary["totals"]["new_findings"] == len(findings)

    # The same bytes under another key are another file (new to the ledger) whose events were judged already.
    copies = tmp_path / "copies"
    (copies / "cms").mkdir(parents=True)
    shutil.copy(waiting[0][0], copies / "cms" / f"copy-{waiting[0][0].name}")
    outcome = run_world(aws, small_world / "reference", copies, tmp_path / "copy")
    assert outcome.ok, outcome.problems
    copied = _jsonl(tmp_path / "copy" / "findings.jsonl")
    copy_key = f"access-logs/cms/copy-{waiting[0][0].name}"
    assert copied and all(f["already_known"] and f["source_keys"] == [copy_key] for f in copied)
    assert {f["finding_id"] for f in copied} == {f["finding_id"] for f in findings
                                                 if f["source_keys"] == [waiting[0][1]]}
    files = [f for f in outcome.summary["files"] if f["kind"] == "access-log"]
    assert [(f["key"], f["origin"], f["seen_before"]) for f in files] == [(copy_key, "uploaded", False)]
    assert outcome.summary["totals"]["new_findings"] == 0
