"""The findings table written in batches (``FindingStore.stage`` / ``flush``) on the deployed FindingsTable:
a finding is written once, whole, with what routing marked on it; an existing one is never overwritten;
a finding id repeated within one detection is written once; what the service leaves unprocessed is retried."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accesswatch.dal.findings import FindingStore
from accesswatch_tools.embedded.runtime import EmbeddedAws

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as runtime:
        yield runtime


@pytest.fixture
def findings(aws: EmbeddedAws) -> FindingStore:
    return FindingStore(aws.resource_name("FindingsTable"), aws.resource("dynamodb"))


def finding(finding_id: str, snapshot: str = "snap-1", **extra: Any) -> dict[str, Any]:
    return {"finding_id": finding_id, "system": "cms", "event_id": f"E-{finding_id}", "rule": "own_record",
            "user_id": "U1", "client_id": "C1", "occurred_at_utc": "2025-03-03T22:00:00+00:00",
            "rule_quarter": "own_record#2025-03-31", "snapshot_id": snapshot, **extra}


def test_new_findings_are_written_once_with_their_marks(findings: FindingStore) -> None:
    ids = [f"F-MARK-{n:03d}" for n in range(260)]  # more than a BatchGetItem (100) and a BatchWriteItem (25)
    staged = findings.stage([finding(i) for i in ids])
    assert [written for written, _ in staged.results] == [True] * len(ids)
    assert findings.get(ids[0]) is None  # held, not yet written
    staged.set_case(ids[0], "CASE-A")
    assert staged.set_suppressed(ids[1], "EXC-1") is True
    assert staged.set_suppressed(ids[0], "EXC-1") is False  # in a case already: not suppressed, not counted
    assert staged.set_suppressed(ids[1], "EXC-2") is False  # suppressed once, counted once
    staged.flush()
    stored = findings.get_many(ids)
    assert sorted(stored) == sorted(ids)
    assert stored[ids[0]]["case_id"] == "CASE-A" and "suppressed_by" not in stored[ids[0]]
    assert stored[ids[1]]["suppressed_by"] == "EXC-1" and "case_id" not in stored[ids[1]]
    assert stored[ids[2]]["confirmed_snapshot_id"] == "snap-1" and stored[ids[2]]["detected_at"]


def test_an_existing_finding_is_not_overwritten_and_a_newer_snapshot_is_recorded(findings: FindingStore) -> None:
    findings.put_all([finding("F-OLD-1"), finding("F-OLD-2")])
    findings.set_case("F-OLD-1", "CASE-B")
    staged = findings.stage([finding("F-OLD-1", user_id="OTHER"), finding("F-OLD-2", snapshot="snap-2"),
                             finding("F-NEW-1")])
    assert [written for written, _ in staged.results] == [False, False, True]
    assert staged.results[0][1]["case_id"] == "CASE-B" and staged.results[0][1]["user_id"] == "U1"
    staged.set_case("F-OLD-2", "CASE-C")  # not pending: written at once, as before
    staged.flush()
    assert findings.get("F-OLD-1") == staged.results[0][1]
    old2 = findings.get("F-OLD-2")
    assert old2 is not None and old2["confirmed_snapshot_id"] == "snap-2" and old2["snapshot_id"] == "snap-1"
    assert old2["case_id"] == "CASE-C"


def test_an_id_repeated_within_one_detection_is_written_once(findings: FindingStore) -> None:
    first, repeat = finding("F-TWICE", client_id="C1"), finding("F-TWICE", client_id="C2")
    results = findings.put_all([first, repeat])
    assert [written for written, _ in results] == [True, False]
    assert results[1][1]["client_id"] == "C1"  # the repeat sees what is stored: the caller can tell a conflict
    stored = findings.get("F-TWICE")
    assert stored is not None and stored["client_id"] == "C1"


def test_unprocessed_items_and_keys_are_retried(findings: FindingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB may leave part of a batch unprocessed (throttling): it is sent again, nothing is lost."""
    real = findings._resource_call
    calls: list[str] = []

    def throttling(operation: str, **kwargs: Any) -> dict[str, Any]:
        calls.append(operation)
        request = kwargs["RequestItems"]
        (table, entries), = request.items()
        half = entries[: len(entries) // 2] if operation == "batch_write_item" else None
        if half and calls.count(operation) == 1:
            response = real(operation, RequestItems={table: half})
            return {**response, "UnprocessedItems": {table: entries[len(half):]}}
        if operation == "batch_get_item" and calls.count(operation) == 1:
            keys = entries["Keys"]
            response = real(operation, RequestItems={table: {**entries, "Keys": keys[-1:]}})
            return {**response, "UnprocessedKeys": {table: {**entries, "Keys": keys[:-1]}}}
        return real(operation, **kwargs)

    findings.put_all([finding("F-THROTTLE-0")])  # exists: the key left unprocessed must still be found
    monkeypatch.setattr(findings, "_resource_call", throttling)
    monkeypatch.setattr("accesswatch.dal.paging.backoff", lambda attempt: 0.0)
    ids = [f"F-THROTTLE-{n}" for n in range(10)]
    results = findings.put_all([finding(i) for i in ids])
    assert [written for written, _ in results] == [False] + [True] * 9
    assert calls.count("batch_get_item") == 2 and calls.count("batch_write_item") == 2
    assert sorted(findings.get_many(ids)) == sorted(ids)
