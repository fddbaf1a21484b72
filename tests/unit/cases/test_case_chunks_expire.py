"""Part chunks a newer case version replaced expire by the cases table's TTL instead of being deleted: no
role that writes the table may delete a CASE# item (template.yaml), so its history cannot be deleted either."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from accesswatch.dal import cases as cases_module
from accesswatch.dal.cases import PURGE_AT, CaseStore
from accesswatch_tools.embedded.template import load_template, table_definition


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[CaseStore]:
    import boto3
    from moto import mock_aws

    monkeypatch.setattr(cases_module, "INLINE_PARTS", 2)
    monkeypatch.setattr(cases_module, "CHUNK_PARTS", 2)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="ap-southeast-2")
        dynamodb.create_table(**table_definition("CasesTable", "cases"))
        yield CaseStore("cases", dynamodb)


def parts(n: int) -> list[str]:
    return [f"{i:032x}|SELF_RECORD|{i:09d}|10.0000" for i in range(n)]


def test_replaced_chunks_are_marked_to_expire_and_nothing_is_deleted(store: CaseStore) -> None:
    store.save_findings({"case_id": "C1", "user_id": "u1", "status": "investigating", "parts": parts(6)},
                        expected_version=None)
    for n, version in ((7, 1), (8, 2)):
        store.save_findings({"case_id": "C1", "parts": parts(n)}, expected_version=version)
    before = int(time.time())
    every = store._chunk_items("C1", "PARTS#")
    dropped = [c for c in every if PURGE_AT in c]
    assert {int(c["sk"].split("#")[1]) for c in dropped} == {1}, "two versions old: marked"
    assert all(before - 5 <= int(c[PURGE_AT]) <= before for c in dropped)
    assert {int(c["sk"].split("#")[1]) for c in store.live_chunk_items("C1")} == {2, 3}
    case = store.get("C1")
    assert case is not None
    assert case["finding_count"] == 8 and case["finding_ids"] == [p.split("|")[0] for p in parts(8)]
    # the case item and every other item of the case carry no expiry
    items = store.table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "CASE#C1"})["Items"]
    assert [i["sk"] for i in items if PURGE_AT in i and not str(i["sk"]).startswith("PARTS#")] == []


def test_a_chunk_already_marked_is_left_as_it_is(store: CaseStore) -> None:
    store.save_findings({"case_id": "C1", "user_id": "u1", "status": "investigating", "parts": parts(6)},
                        expected_version=None)
    store.save_findings({"case_id": "C1", "parts": parts(7)}, expected_version=1)
    store.save_findings({"case_id": "C1", "parts": parts(8)}, expected_version=2)
    marked = {c["sk"]: int(c[PURGE_AT]) for c in store._chunk_items("C1", "PARTS#") if PURGE_AT in c}
    store._drop_chunks("C1", before_version=2)
    again = {c["sk"]: int(c[PURGE_AT]) for c in store._chunk_items("C1", "PARTS#") if PURGE_AT in c}
    assert again == marked


def test_the_cases_table_expires_items_by_that_attribute() -> None:
    spec = load_template()["Resources"]["CasesTable"]["Properties"]["TimeToLiveSpecification"]
    assert spec == {"AttributeName": PURGE_AT, "Enabled": True}


def test_a_risk_ledger_expires_a_while_after_its_last_write(store: CaseStore) -> None:
    from accesswatch.dal.risk import LEDGER_IDLE_DAYS, RiskLedger, RiskStore

    risk = RiskStore(store)
    before = int(time.time())
    ledger = RiskLedger("u1", [{"f": "f1", "r": "SENSITIVE_LOOKUP", "c": "c1", "t": "2020-01-01T00:00:00Z", "m": ""}])
    risk.save_ledger(ledger, score=2.0, newest="2020-01-01T00:00:00Z")  # an old event (a backfill): from now
    first = store.table.get_item(Key=risk.ledger_key("u1"))["Item"]
    assert before + LEDGER_IDLE_DAYS * 86400 <= int(first[PURGE_AT]) <= int(time.time()) + LEDGER_IDLE_DAYS * 86400
    assert LEDGER_IDLE_DAYS > 90, "longer than the longest scoring window (CaseWindowDays <= 90)"
    risk.save_ledger(risk.ledger("u1"), score=2.0, newest="2020-01-01T00:00:00Z")
    again = store.table.get_item(Key=risk.ledger_key("u1"))["Item"]
    assert int(again[PURGE_AT]) >= int(first[PURGE_AT]) and int(again["version"]) == 2
    assert risk.ledger("u1").entries == ledger.entries
