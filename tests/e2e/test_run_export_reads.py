"""The run's export reads in few calls (cases in batches, execution statuses from listings) and writes the same
files, byte for byte, as with the reads it replaced (one GetItem per case, one DescribeExecution per execution)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch_tools.bench.stages import ApiCounter
from accesswatch_tools.operate import world_run

pytestmark = pytest.mark.e2e

OUTPUTS = ("findings.jsonl", "cases.jsonl", "quarantine.jsonl", "summary.json")


@contextmanager
def per_item_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The export's reads as they were: a GetItem per case, a DescribeExecution each."""
    with monkeypatch.context() as patch:
        patch.setattr(world_run, "_listed_statuses", lambda *_args, **_kwargs: {})
        patch.setattr(CaseStore, "get_cases", lambda self, ids: {
            c: case for c in sorted(set(ids)) if (case := self.get(c)) is not None})
        yield


def test_the_export_writes_the_same_files_as_per_item_reads(aws, small_world: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    scopes: list[tuple[Any, dict[str, Any]]] = []
    real_export = world_run.export_run

    def keep(aws_: Any, out_dir: Path, scope: Any, extra: dict[str, Any]) -> dict[str, Any]:
        scopes.append((scope, extra))
        return real_export(aws_, out_dir, scope, extra)

    monkeypatch.setattr(world_run, "export_run", keep)
    # The same world twice: the second run's findings are already known, its cases already held.
    for n in range(2):
        outcome = world_run.run_world(aws, small_world / "reference", small_world / "logs", tmp_path / f"run-{n}")
        assert outcome.ok, outcome.problems
    monkeypatch.setattr(world_run, "export_run", real_export)
    for n, (scope, extra) in enumerate(scopes):
        for side in ("new", "old"):
            (tmp_path / f"{side}-{n}").mkdir()
        with ApiCounter() as api:
            real_export(aws, tmp_path / f"new-{n}", scope, extra)
        with per_item_reads(monkeypatch):
            real_export(aws, tmp_path / f"old-{n}", scope, extra)
        for name in OUTPUTS:
            assert (tmp_path / f"new-{n}" / name).read_bytes() == (tmp_path / f"old-{n}" / name).read_bytes(), name
        findings = [json.loads(line) for line in (tmp_path / f"new-{n}" / "findings.jsonl").read_text().splitlines()]
        cases = (tmp_path / f"new-{n}" / "cases.jsonl").read_text().splitlines()
        assert findings and cases
        assert {f["already_known"] for f in findings} == {n == 1}
        # The reads that were one per case and execution are gone (one GetItem: the reference pointer); findings are
        # still read one query per user of the run's events (at least every user with a finding).
        assert api.calls["dynamodb:GetItem"] == 1 and api.calls["stepfunctions:DescribeExecution"] == 0
        assert api.calls["dynamodb:Query"] >= len({f["user_id"] for f in findings})


def _finding(finding_id: str, user_id: str, occurred_at_utc: str, rule: str, quarter: str) -> dict[str, Any]:
    return {"finding_id": finding_id, "user_id": user_id, "client_id": "c1", "system": "cms", "event_id": finding_id,
            "rule": rule, "occurred_at_utc": occurred_at_utc, "quarter": quarter, "rule_quarter": f"{rule}#{quarter}"}


def test_candidate_findings_keep_each_users_window_whatever_the_rule(aws):
    from accesswatch.rules import RULES_BY_ID

    rules = list(RULES_BY_ID)
    store = FindingStore(aws.resource_name("FindingsTable"), aws.resource("dynamodb"))
    windows = {"u1": ("2025-03-31T10:00:00", "2025-03-31T12:00:00~"), "u2": ("2025-04-02T00:00:00",
                                                                             "2025-04-02T00:00:05~")}
    store.write_many([
        _finding("a", "u1", "2025-03-31T10:00:00+00:00", rules[0], "2025-03-31"),  # first second of the window
        _finding("b", "u1", "2025-03-31T12:00:00.999999+00:00", rules[1], "2025-06-30"),  # NZ date in April
        _finding("c", "u1", "2025-03-31T09:59:59.999999+00:00", rules[0], "2025-03-31"),  # before u1's window
        _finding("d", "u1", "2025-04-02T00:00:01+00:00", rules[0], "2025-06-30"),  # in u2's window, not u1's
        _finding("e", "u2", "2025-04-02T00:00:05.5+00:00", rules[-1], "2025-06-30"),
        _finding("f", "u2", "2025-04-02T00:00:06+00:00", rules[-1], "2025-06-30"),  # after u2's window
        _finding("g", "u3", "2025-04-01T00:00:00+00:00", rules[0], "2025-06-30"),  # not a user of the run
        _finding("h", "u2", "2025-04-02T00:00:02+00:00", "A_RULE_SINCE_RENAMED", "2025-06-30"),  # not in the catalog
    ])
    assert sorted(world_run._candidate_findings(store, windows)) == ["a", "b", "e", "h"]


def test_listed_statuses_are_the_described_ones_and_bounded(aws, small_world: Path, tmp_path: Path):
    outcome = world_run.run_world(aws, small_world / "reference", small_world / "logs", tmp_path / "run")
    assert outcome.ok, outcome.problems
    sfn = aws.client("stepfunctions")
    machine = aws.resource_name("CaseStateMachine")
    arns = [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    assert len(arns) > 2
    listed = world_run._listed_statuses(sfn, machine, set(arns))
    assert listed == {a: sfn.describe_execution(executionArn=a)["status"] for a in arns}
    # A wanted execution the listing does not hold is left to be described; one missing is not listed for.
    assert world_run._listed_statuses(sfn, machine, {*arns, f"{arns[0]}-absent"}) == listed
    assert world_run._listed_statuses(sfn, machine, {arns[0]}) == {}


class _LaggingListing:
    """Step Functions where ListExecutions still shows an execution that has ended as RUNNING (AWS: eventually
    consistent), and DescribeExecution is current."""

    def __init__(self) -> None:
        self.current = {"arn:case-1": "SUCCEEDED", "arn:case-2": "FAILED", "arn:case-3": "RUNNING",
                        "arn:detect-1": "SUCCEEDED"}
        self.listed = {**self.current, "arn:case-1": "RUNNING"}
        self.described: list[str] = []

    def list_executions(self, stateMachineArn: str, **_kwargs: Any) -> dict[str, Any]:  # noqa: N803 - boto3's name
        return {"executions": [{"executionArn": a, "status": s} for a, s in self.listed.items()
                               if a.startswith(stateMachineArn)]}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        self.described.append(executionArn)
        return {"status": self.current[executionArn]}


@pytest.mark.parametrize("lags", [True, False])
def test_where_the_listing_lags_a_listed_running_execution_is_described(lags: bool) -> None:
    sfn = _LaggingListing()

    class Stack:
        listing_lags = lags

        def client(self, service: str) -> Any:
            return sfn

        def resource_name(self, logical_id: str) -> str:
            return {"CaseStateMachine": "arn:case", "DetectionStateMachine": "arn:detect"}[logical_id]

    # (a single detection execution is described, not listed for: ``_listed_statuses``)
    counts = world_run._run_executions(Stack(), [{"execution_arn": "arn:detect-1"}],  # type: ignore[arg-type]
                                       [{"execution_arn": f"arn:case-{n}"} for n in (1, 2, 3)])
    if lags:  # on AWS: each listed RUNNING is described; final statuses are taken from the listing
        assert counts["CaseStateMachine"] == {"SUCCEEDED": 1, "FAILED": 1, "RUNNING": 1}
        assert sorted(a for a in sfn.described if "case" in a) == ["arn:case-1", "arn:case-3"]
    else:  # the embedded runtime's listing is exact: nothing described
        assert counts["CaseStateMachine"] == {"RUNNING": 2, "FAILED": 1}
        assert [a for a in sfn.described if "case" in a] == []
    assert counts["DetectionStateMachine"] == {"SUCCEEDED": 1}
