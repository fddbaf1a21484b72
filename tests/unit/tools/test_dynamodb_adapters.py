"""Differential tests of the embedded runtime's DynamoDB adapters: the same calls with the adapters
on and off (moto's ordinary path) must give the same answers and the same errors."""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

import boto3
import botocore.exceptions
import pytest
from boto3.dynamodb.conditions import Attr, Key
from moto import mock_aws

from accesswatch_tools.embedded.adapters import dynamodb as adapters
from accesswatch_tools.embedded.template import table_definition

REGION = "ap-southeast-2"
# Not compared: values that differ per request, and the body checksum moto adds to its HTTP
# response (the direct path has no response body to checksum).
UNCOMPARED_HEADERS = {"x-amz-crc32"}


def _metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "keys": sorted(metadata),
        "status": metadata["HTTPStatusCode"],
        "retries": metadata["RetryAttempts"],
        "request_id_is_the_header": metadata["RequestId"] == metadata["HTTPHeaders"]["x-amzn-requestid"],
        "headers": sorted(set(metadata["HTTPHeaders"]) - UNCOMPARED_HEADERS),
        "content_type": metadata["HTTPHeaders"].get("content-type"),
    }


class Recorder:
    """Runs calls and records what each gave back or raised, comparably."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, Any]] = []

    def __call__(self, label: str, call: Callable[[], Any]) -> Any:
        try:
            response = call()
        except botocore.exceptions.ClientError as error:
            body = copy.deepcopy(error.response)
            metadata = body.pop("ResponseMetadata")
            self.outcomes.append((label, ("raised", type(error).__name__, str(error), body, _metadata(metadata))))
            return None
        if isinstance(response, dict) and "ResponseMetadata" in response:
            body = copy.deepcopy(response)
            metadata = body.pop("ResponseMetadata")
            self.outcomes.append((label, ("returned", body, _metadata(metadata))))
        else:
            self.outcomes.append((label, ("returned", copy.deepcopy(response))))
        return response


@contextlib.contextmanager
def _aws(adapted: bool) -> Iterator[None]:
    with mock_aws(), (adapters.adapted() if adapted else contextlib.nullcontext()):
        yield


def _create_tables(client: Any) -> None:
    """The template's FindingsTable and CasesTable (keys and indexes), as "findings" and "cases"."""
    client.create_table(**table_definition("FindingsTable", "findings"))
    client.create_table(**table_definition("CasesTable", "cases"))


def _finding(number: int) -> dict[str, Any]:
    return {
        "finding_id": {"S": f"f-{number:04d}"},
        "user_id": {"S": f"u-{number % 7}"},
        "client_id": {"S": f"c-{number % 5}"},
        "rule_quarter": {"S": f"rule-{number % 3}#2026Q{1 + number % 4}"},
        # Repeats, so that index order falls back to the table key.
        "occurred_at_utc": {"S": f"2026-01-{1 + number % 9:02d}T00:00:00Z"},
        "score": {"N": str(number % 11)},
        "evidence": {"B": bytes([number % 256, 0, 255])},
        "tags": {"SS": [f"t{number % 3}", "all"]},
        "detail": {"M": {"n": {"N": f"{number}.50"}, "l": {"L": [{"BOOL": number % 2 == 0}, {"NULL": True}]}}},
    }


def _case_items(number: int) -> list[dict[str, Any]]:
    case = f"CASE#{number:03d}"
    status = ("open", "triaged", "closed")[number % 3]
    return [
        {"pk": {"S": case}, "sk": {"S": "CASE"}, "status": {"S": status},
         "opened_at": {"S": f"2026-02-{1 + number % 5:02d}"}, "version": {"N": "1"}},
        *({"pk": {"S": case}, "sk": {"S": f"HIST#{step:02d}"}, "note": {"S": f"step {step}"}}
          for step in range(number % 4)),
    ]


def _queries(call: Recorder, client: Any, label: str) -> None:
    """A battery of queries: base table and indexes, both directions, pages, ranges, filters."""
    def pages(name: str, **kwargs: Any) -> None:
        start: dict[str, Any] | None = None
        for page in range(50):
            extra = {"ExclusiveStartKey": start} if start else {}
            response = call(f"{label}:{name}:page{page}", functools.partial(client.query, **kwargs, **extra))
            start = (response or {}).get("LastEvaluatedKey")
            if not start:
                return

    for user in ("u-0", "u-3", "u-9"):
        pages(f"by_user {user}", TableName="findings", IndexName="by_user", Limit=4,
              KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": {"S": user}})
    pages("by_client backwards", TableName="findings", IndexName="by_client", Limit=3, ScanIndexForward=False,
          KeyConditionExpression="client_id = :c AND occurred_at_utc BETWEEN :a AND :b",
          ExpressionAttributeValues={":c": {"S": "c-2"}, ":a": {"S": "2026-01-02"}, ":b": {"S": "2026-01-06"}})
    pages("by_rule_quarter filtered", TableName="findings", IndexName="by_rule_quarter", Limit=2,
          KeyConditionExpression="rule_quarter = :r AND begins_with(occurred_at_utc, :p)",
          FilterExpression="score > :s", ProjectionExpression="finding_id, score, evidence",
          ExpressionAttributeValues={":r": {"S": "rule-1#2026Q2"}, ":p": {"S": "2026-01-0"}, ":s": {"N": "3"}})
    call(f"{label}:count", lambda: client.query(
        TableName="findings", IndexName="by_user", Select="COUNT",
        KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": {"S": "u-1"}}))
    call(f"{label}:findings base", lambda: client.query(
        TableName="findings", KeyConditionExpression="finding_id = :f",
        ExpressionAttributeValues={":f": {"S": "f-0010"}}))
    for status in ("open", "triaged", "closed", "reopened"):
        pages(f"by_status {status}", TableName="cases", IndexName="by_status", Limit=5,
              KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
              ExpressionAttributeValues={":s": {"S": status}})
    for case in ("CASE#003", "CASE#007", "CASE#404"):
        pages(f"case {case}", TableName="cases", Limit=2,
              KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": case}})
        pages(f"case {case} history backwards", TableName="cases", ScanIndexForward=False,
              KeyConditionExpression="pk = :p AND begins_with(sk, :h)",
              ExpressionAttributeValues={":p": {"S": case}, ":h": {"S": "HIST#"}})
    call(f"{label}:legacy key conditions", lambda: client.query(
        TableName="cases", KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "CASE#007"}]},
            "sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "HIST#00"}]}}))
    call(f"{label}:unknown index", lambda: client.query(
        TableName="cases", IndexName="by_nothing",
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "x"}}))
    call(f"{label}:scan", lambda: client.scan(TableName="cases"))
    call(f"{label}:scan findings", lambda: client.scan(TableName="findings"))


def _scenario(adapted: bool) -> list[tuple[str, Any]]:
    call = Recorder()
    with _aws(adapted):
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        for start in range(0, 120, 25):
            call(f"batch findings {start}", functools.partial(client.batch_write_item, RequestItems={
                "findings": [{"PutRequest": {"Item": _finding(n)}} for n in range(start, min(start + 25, 120))]}))
        cases = [item for number in range(30) for item in _case_items(number)]
        for start in range(0, len(cases), 25):
            call(f"batch cases {start}", functools.partial(client.batch_write_item, RequestItems={
                "cases": [{"PutRequest": {"Item": item}} for item in cases[start:start + 25]]}))
        _queries(call, client, "loaded")

        # Writes that move items between index partitions, remove them, replace them.
        call("move a finding to another user", lambda: client.update_item(
            TableName="findings", Key={"finding_id": {"S": "f-0003"}}, ReturnValues="ALL_NEW",
            UpdateExpression="SET user_id = :u, occurred_at_utc = :t",
            ExpressionAttributeValues={":u": {"S": "u-0"}, ":t": {"S": "2026-01-05T00:00:00Z"}}))
        call("drop an index key", lambda: client.update_item(
            TableName="findings", Key={"finding_id": {"S": "f-0014"}}, ReturnValues="UPDATED_OLD",
            UpdateExpression="REMOVE client_id"))
        call("new finding by update", lambda: client.update_item(
            TableName="findings", Key={"finding_id": {"S": "f-9000"}}, ReturnValues="UPDATED_NEW",
            UpdateExpression="SET user_id = :u, occurred_at_utc = :t, score = :s",
            ExpressionAttributeValues={":u": {"S": "u-3"}, ":t": {"S": "2026-01-01T00:00:00Z"}, ":s": {"N": "5"}}))
        call("replace a finding", lambda: client.put_item(
            TableName="findings", ReturnValues="ALL_OLD",
            Item={**_finding(21), "user_id": {"S": "u-9"}, "evidence": {"B": b"\x00replaced"}}))
        call("delete a finding", lambda: client.delete_item(
            TableName="findings", Key={"finding_id": {"S": "f-0007"}}, ReturnValues="ALL_OLD"))
        call("delete a missing finding", lambda: client.delete_item(
            TableName="findings", Key={"finding_id": {"S": "f-7777"}}, ReturnValues="ALL_OLD"))
        call("triage a case", lambda: client.update_item(
            TableName="cases", Key={"pk": {"S": "CASE#003"}, "sk": {"S": "CASE"}}, ReturnValues="ALL_NEW",
            UpdateExpression="SET #s = :new ADD version :one", ConditionExpression="#s = :old",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":new": {"S": "triaged"}, ":old": {"S": "open"}, ":one": {"N": "1"}}))
        call("triage it again", lambda: client.update_item(
            TableName="cases", Key={"pk": {"S": "CASE#003"}, "sk": {"S": "CASE"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            UpdateExpression="SET #s = :new", ConditionExpression="#s = :old",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":new": {"S": "triaged"}, ":old": {"S": "open"}}))
        call("batch delete and put", lambda: client.batch_write_item(RequestItems={"cases": [
            {"DeleteRequest": {"Key": {"pk": {"S": "CASE#006"}, "sk": {"S": "CASE"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "CASE#100"}, "sk": {"S": "CASE"}, "status": {"S": "reopened"},
                                     "opened_at": {"S": "2026-03-01"}}}},
        ]}))
        call("transact: close a case, add history", lambda: client.transact_write_items(TransactItems=[
            {"Update": {"TableName": "cases", "Key": {"pk": {"S": "CASE#007"}, "sk": {"S": "CASE"}},
                        "UpdateExpression": "SET #s = :closed", "ConditionExpression": "#s = :triaged",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":closed": {"S": "closed"}, ":triaged": {"S": "triaged"}}}},
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "CASE#007"}, "sk": {"S": "HIST#99"}}}},
            {"Delete": {"TableName": "cases", "Key": {"pk": {"S": "CASE#007"}, "sk": {"S": "HIST#00"}}}},
        ]))
        call("transact cancelled", lambda: client.transact_write_items(TransactItems=[
            {"Update": {"TableName": "cases", "Key": {"pk": {"S": "CASE#010"}, "sk": {"S": "CASE"}},
                        "UpdateExpression": "SET #s = :x", "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":x": {"S": "reopened"}}}},
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "CASE#200"}, "sk": {"S": "CASE"},
                                                    "status": {"S": "open"}, "opened_at": {"S": "2026-04-01"}}}},
            {"Delete": {"TableName": "cases", "Key": {"pk": {"S": "CASE#011"}, "sk": {"S": "CASE"}}}},
            {"ConditionCheck": {"TableName": "cases", "Key": {"pk": {"S": "CASE#004"}, "sk": {"S": "CASE"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "CASE#005"}, "sk": {"S": "CASE"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ]))
        call("transact on one item twice", lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "CASE#300"}, "sk": {"S": "CASE"}}}},
            {"Delete": {"TableName": "cases", "Key": {"pk": {"S": "CASE#300"}, "sk": {"S": "CASE"}}}},
        ]))
        call("transact on a missing table", lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "CASE#301"}, "sk": {"S": "CASE"}}}},
            {"Put": {"TableName": "nothing", "Item": {"pk": {"S": "x"}}}},
        ]))
        _queries(call, client, "after writes")
    return call.outcomes


def _item_calls(adapted: bool) -> list[tuple[str, Any]]:
    call = Recorder()
    with _aws(adapted):
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        key = {"pk": {"S": "CASE#1"}, "sk": {"S": "CASE"}}
        item = {**key, "status": {"S": "open"}, "opened_at": {"S": "2026-01-01"}, "blob": {"B": b"\x00\xff"},
                "blobs": {"BS": [b"a", b"\x01"]}, "n": {"N": "0.10"}, "ns": {"NS": ["1", "2.5"]},
                "map": {"M": {"deep": {"L": [{"S": "x"}, {"B": b"y"}, {"M": {}}]}}}, "yes": {"BOOL": True},
                "none": {"NULL": True}}
        call("put", lambda: client.put_item(TableName="cases", Item=item))
        call("put ALL_OLD", lambda: client.put_item(TableName="cases", Item=item, ReturnValues="ALL_OLD"))
        call("put if absent, ALL_OLD on failure", lambda: client.put_item(
            TableName="cases", Item=item, ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD"))
        call("put if absent", lambda: client.put_item(
            TableName="cases", Item=item, ConditionExpression="attribute_not_exists(pk)"))
        call("put without its range key", lambda: client.put_item(TableName="cases", Item={"pk": {"S": "x"}}))
        call("put with an empty index key", lambda: client.put_item(
            TableName="cases", Item={**key, "status": {"S": ""}}))
        call("put to a missing table", lambda: client.put_item(TableName="nothing", Item=item))
        call("get", lambda: client.get_item(TableName="cases", Key=key))
        call("get projected", lambda: client.get_item(
            TableName="cases", Key=key, ProjectionExpression="#m.deep[1], blob", ExpressionAttributeNames={"#m": "map"},
            ReturnConsumedCapacity="TOTAL"))
        call("get missing", lambda: client.get_item(TableName="cases", Key={"pk": {"S": "no"}, "sk": {"S": "no"}}))
        call("get bad key", lambda: client.get_item(TableName="cases", Key={"pk": {"S": "no"}}))
        call("get missing table", lambda: client.get_item(TableName="nothing", Key=key))
        call("update ALL_NEW", lambda: client.update_item(
            TableName="cases", Key=key, ReturnValues="ALL_NEW",
            UpdateExpression="SET n = n + :d, map.deep[0] = :s REMOVE none ADD ns :ns DELETE blobs :b",
            ExpressionAttributeValues={":d": {"N": "1"}, ":s": {"S": "z"}, ":ns": {"NS": ["3"]},
                                       ":b": {"BS": [b"a"]}}))
        call("update UPDATED_NEW", lambda: client.update_item(
            TableName="cases", Key=key, ReturnValues="UPDATED_NEW", UpdateExpression="SET blob = :b",
            ExpressionAttributeValues={":b": {"B": b"new"}}))
        call("update UPDATED_OLD", lambda: client.update_item(
            TableName="cases", Key=key, ReturnValues="UPDATED_OLD", UpdateExpression="SET blob = :b",
            ExpressionAttributeValues={":b": {"B": b"newer"}}))
        call("update failing its condition", lambda: client.update_item(
            TableName="cases", Key=key, ReturnValuesOnConditionCheckFailure="ALL_OLD",
            UpdateExpression="SET #s = :s", ConditionExpression="#s = :other",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "closed"}, ":other": {"S": "triaged"}}))
        call("update with a syntax error", lambda: client.update_item(
            TableName="cases", Key=key, UpdateExpression="SET = :s", ExpressionAttributeValues={":s": {"S": "x"}}))
        call("update with an unused value", lambda: client.update_item(
            TableName="cases", Key=key, UpdateExpression="SET a = :a",
            ExpressionAttributeValues={":a": {"S": "x"}, ":b": {"S": "y"}}))
        call("update the key", lambda: client.update_item(
            TableName="cases", Key=key, UpdateExpression="SET pk = :a", ExpressionAttributeValues={":a": {"S": "x"}}))
        call("batch write", lambda: client.batch_write_item(RequestItems={"cases": [
            {"PutRequest": {"Item": {"pk": {"S": f"CASE#{n}"}, "sk": {"S": "CASE"}, "b": {"B": bytes([n])}}}}
            for n in range(2, 8)]}))
        for n in range(2, 8):  # one expression, many values and items: no state kept between uses
            call(f"same expression {n}", functools.partial(
                client.update_item, TableName="cases", Key={"pk": {"S": f"CASE#{n % 4}"}, "sk": {"S": "CASE"}},
                ReturnValues="ALL_NEW", UpdateExpression="SET #s = :s, tags = list_append(if_not_exists(tags, :e), :t) "
                "ADD hits :one REMOVE b", ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": f"s{n}"}, ":e": {"L": []}, ":t": {"L": [{"N": str(n)}]},
                                           ":one": {"N": "1"}}))
        call("batch write duplicates", lambda: client.batch_write_item(RequestItems={"cases": [
            {"PutRequest": {"Item": {"pk": {"S": "CASE#2"}, "sk": {"S": "CASE"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "CASE#2"}, "sk": {"S": "CASE"}}}}]}))
        call("batch get", lambda: client.batch_get_item(RequestItems={"cases": {
            "Keys": [{"pk": {"S": f"CASE#{n}"}, "sk": {"S": "CASE"}} for n in range(0, 10)],
            "ProjectionExpression": "pk, b"}}))
        call("transact get", lambda: client.transact_get_items(TransactItems=[
            {"Get": {"TableName": "cases", "Key": key}},
            {"Get": {"TableName": "cases", "Key": {"pk": {"S": "CASE#3"}, "sk": {"S": "CASE"}}}},
            {"Get": {"TableName": "cases", "Key": {"pk": {"S": "none"}, "sk": {"S": "CASE"}}}}]))
        call("transact write", lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "CASE#20"}, "sk": {"S": "CASE"}}}},
            {"Update": {"TableName": "cases", "Key": key, "UpdateExpression": "SET x = :x",
                        "ExpressionAttributeValues": {":x": {"B": b"x"}}}}]))
        call("transact cancelled", lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "CASE#21"}, "sk": {"S": "CASE"}}}},
            {"ConditionCheck": {"TableName": "cases", "Key": key, "ConditionExpression": "attribute_not_exists(x)",
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Delete": {"TableName": "cases", "Key": {"pk": {"S": "CASE#20"}, "sk": {"S": "CASE"}},
                        "ConditionExpression": "attribute_exists(nope)"}}]))
        call("delete failing its condition", lambda: client.delete_item(
            TableName="cases", Key=key, ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD"))
        call("delete ALL_OLD", lambda: client.delete_item(TableName="cases", Key=key, ReturnValues="ALL_OLD"))
        call("scan after", lambda: client.scan(TableName="cases"))
        call("scan filtered", lambda: client.scan(
            TableName="cases", FilterExpression="attribute_exists(b)", Limit=3))

        table = boto3.resource("dynamodb", region_name=REGION).Table("cases")
        call("resource put", lambda: table.put_item(Item={
            "pk": "R#1", "sk": "CASE", "status": "open", "opened_at": "2026-05-01", "n": Decimal("1.5"),
            "b": b"\x00bin", "s": {"a", "b"}, "m": {"l": [1, "two", b"3"]}}))
        call("resource get", lambda: table.get_item(Key={"pk": "R#1", "sk": "CASE"}))
        call("resource update", lambda: table.update_item(
            Key={"pk": "R#1", "sk": "CASE"}, UpdateExpression="SET n = n + :one",
            ExpressionAttributeValues={":one": 1}, ReturnValues="ALL_NEW"))
        call("resource conditional put", lambda: table.put_item(
            Item={"pk": "R#1", "sk": "CASE"}, ConditionExpression=Attr("pk").not_exists(),
            ReturnValuesOnConditionCheckFailure="ALL_OLD"))
        call("resource query", lambda: table.query(
            IndexName="by_status", KeyConditionExpression=Key("status").eq("open")))
        call("resource batch", lambda: _batch(table))
        call("resource query after", lambda: table.query(KeyConditionExpression=Key("pk").eq("R#2")))
    return call.outcomes


def _batch(table: Any) -> str:
    with table.batch_writer() as batch:
        for n in range(2, 5):
            batch.put_item(Item={"pk": f"R#{n}", "sk": "CASE", "blob": bytes([n])})
        batch.delete_item(Key={"pk": "R#1", "sk": "CASE"})
    return "written"


def _assert_same(ordinary: list[tuple[str, Any]], adapted: list[tuple[str, Any]]) -> None:
    assert [label for label, _ in adapted] == [label for label, _ in ordinary]
    for (label, expected), (_, actual) in zip(ordinary, adapted, strict=True):
        assert actual == expected, label


def test_item_calls_answer_as_moto_does() -> None:
    ordinary = _item_calls(adapted=False)
    assert any(outcome[0] == "raised" for _, outcome in ordinary)  # the sequence does exercise errors
    _assert_same(ordinary, _item_calls(adapted=True))


def test_queries_and_writes_answer_as_moto_does() -> None:
    ordinary = _scenario(adapted=False)
    labels = [label for label, _ in ordinary]
    assert sum(":page1" in label for label in labels) > 5  # pagination is exercised
    _assert_same(ordinary, _scenario(adapted=True))


def test_errors_are_the_client_errors_botocore_raises() -> None:
    with _aws(adapted=True):
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_item(TableName="nothing", Key={"pk": {"S": "x"}})
        client.put_item(TableName="cases", Item={"pk": {"S": "a"}, "sk": {"S": "b"}, "v": {"B": b"\x01"}})
        with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failed:
            client.put_item(TableName="cases", Item={"pk": {"S": "a"}, "sk": {"S": "b"}},
                            ConditionExpression="attribute_not_exists(pk)",
                            ReturnValuesOnConditionCheckFailure="ALL_OLD")
        assert failed.value.response["Item"]["v"] == {"B": b"\x01"}
        with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
            client.transact_write_items(TransactItems=[{"ConditionCheck": {
                "TableName": "cases", "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}},
                "ConditionExpression": "attribute_not_exists(pk)"}}])
        assert [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]] == [
            "ConditionalCheckFailed"]


def test_in_process_calls_skip_moto_http_dispatch() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    with _aws(adapted=True), mock.patch.object(
            BotocoreStubber, "process_request", autospec=True, side_effect=BotocoreStubber.process_request) as http:
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)  # CreateTable is not dispatched directly
        created = http.call_count
        assert created == 2
        client.put_item(TableName="cases", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
        client.get_item(TableName="cases", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
        client.query(TableName="cases", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
        assert http.call_count == created
        client.describe_table(TableName="cases")
        assert http.call_count == created + 1


def test_a_client_of_another_endpoint_is_not_intercepted() -> None:
    with _aws(adapted=True):
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url="http://127.0.0.1:9")
        request = {"url": "http://127.0.0.1:9/", "body": b"{}", "headers": {}}
        assert adapters._direct_call(client.meta.service_model.operation_model("GetItem"), request) is None
    off = boto3.client("dynamodb", region_name=REGION)
    request = {"url": "https://dynamodb.ap-southeast-2.amazonaws.com/", "body": b"{}", "headers": {}}
    assert adapters._direct_call(off.meta.service_model.operation_model("GetItem"), request) is None


def test_direct_calls_wait_for_the_one_request_lock() -> None:
    with _aws(adapted=True):
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        done = threading.Event()

        def get() -> None:
            client.get_item(TableName="cases", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
            done.set()

        with adapters._LOCK:
            worker = threading.Thread(target=get)
            worker.start()
            assert not done.wait(0.3)  # held up while another request holds the lock
        worker.join(10)
        assert done.is_set()


def test_queries_do_not_list_the_whole_table() -> None:
    from moto.dynamodb.models.table import Table

    def count_listings(adapted: bool) -> int:
        with _aws(adapted), mock.patch.object(Table, "all_items", autospec=True,
                                              side_effect=Table.all_items) as listing:
            client = boto3.client("dynamodb", region_name=REGION)
            _create_tables(client)
            for number in range(40):
                client.put_item(TableName="findings", Item=_finding(number))
            client.query(TableName="findings", IndexName="by_user", KeyConditionExpression="user_id = :u",
                         ExpressionAttributeValues={":u": {"S": "u-1"}})
            client.update_item(TableName="findings", Key={"finding_id": {"S": "f-0001"}},
                               UpdateExpression="SET user_id = :u", ExpressionAttributeValues={":u": {"S": "u-2"}})
            moved = client.query(TableName="findings", IndexName="by_user", KeyConditionExpression="user_id = :u",
                                 ExpressionAttributeValues={":u": {"S": "u-2"}})
            assert "f-0001" in [item["finding_id"]["S"] for item in moved["Items"]]
            client.query(TableName="findings", KeyConditionExpression="finding_id = :f",
                         ExpressionAttributeValues={":f": {"S": "f-0002"}})
            return int(listing.call_count)

    assert count_listings(adapted=False) == 3
    assert count_listings(adapted=True) == 0


def test_an_update_expression_is_parsed_once() -> None:
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.tokens import ExpressionTokenizer

    trees_copied = []
    real_deepcopy = validators.deepcopy

    def deepcopy(value: Any, memo: Any = None) -> Any:
        trees_copied.append(type(value).__name__)
        return real_deepcopy(value, memo)

    with mock_aws(), mock.patch.object(validators, "deepcopy", deepcopy), adapters.adapted(), mock.patch.object(
            ExpressionTokenizer, "make_list", side_effect=ExpressionTokenizer.make_list) as tokens:
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        for n in range(5):
            client.update_item(TableName="cases", Key={"pk": {"S": f"a{n}"}, "sk": {"S": "b"}},
                               UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": str(n)}})
        assert tokens.call_count == 1
        assert "UpdateExpression" not in trees_copied  # the validator's copy is unpickled
        with pytest.raises(botocore.exceptions.ClientError):
            client.update_item(TableName="cases", Key={"pk": {"S": "a"}, "sk": {"S": "b"}},
                               UpdateExpression="SET = :v", ExpressionAttributeValues={":v": {"N": "1"}})
        assert client.get_item(TableName="cases", Key={"pk": {"S": "a3"}, "sk": {"S": "b"}})["Item"]["v"] == {"N": "3"}


def test_transactions_copy_no_table() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    def tables_copied(adapted: bool) -> int:
        copied = []
        real_deepcopy = copy.deepcopy

        def deepcopy(value: Any, *args: Any) -> Any:
            if isinstance(value, Table):
                copied.append(value.name)
            return real_deepcopy(value, *args)

        with _aws(adapted), mock.patch.object(models.copy, "deepcopy", deepcopy):
            client = boto3.client("dynamodb", region_name=REGION)
            _create_tables(client)
            for ok in (True, False):
                with contextlib.suppress(client.exceptions.TransactionCanceledException):
                    client.transact_write_items(TransactItems=[
                        {"Put": {"TableName": "cases", "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}},
                        {"ConditionCheck": {"TableName": "findings", "Key": {"finding_id": {"S": "x"}},
                                            "ConditionExpression": "attribute_not_exists(finding_id)" if ok
                                            else "attribute_exists(finding_id)"}}])
            assert client.scan(TableName="cases")["Count"] == 1
        return len(copied)

    assert tables_copied(adapted=False) > 0
    assert tables_copied(adapted=True) == 0


def _numeric_index(adapted: bool) -> list[tuple[str, Any]]:
    call = Recorder()
    with _aws(adapted):
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="scores", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                  {"AttributeName": "board", "AttributeType": "S"},
                                  {"AttributeName": "score", "AttributeType": "N"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_score", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                     "KeySchema": [{"AttributeName": "board", "KeyType": "HASH"},
                                                   {"AttributeName": "score", "KeyType": "RANGE"}]}])
        scores = ["10", "9.5", "-1", "1e2", "0.001", "10.0", "-20", "3", "100", "7"]
        for number, score in enumerate(scores * 3):
            item = {"id": {"S": f"i{number:02d}"}, "board": {"S": f"b{number % 2}"}}
            if number % 7:  # some items lack the range key: not in the index
                item["score"] = {"N": score}
            call(f"put {number}", functools.partial(client.put_item, TableName="scores", Item=item))
        for board in ("b0", "b1"):
            for forward in (True, False):
                start: dict[str, Any] | None = None
                for page in range(20):
                    extra = {"ExclusiveStartKey": start} if start else {}
                    response = call(f"{board} {forward} {page}", functools.partial(
                        client.query, TableName="scores", IndexName="by_score", Limit=4, ScanIndexForward=forward,
                        KeyConditionExpression="board = :b AND score > :s",
                        ExpressionAttributeValues={":b": {"S": board}, ":s": {"N": "-5"}}, **extra))
                    start = (response or {}).get("LastEvaluatedKey")
                    if not start:
                        break
    return call.outcomes


def test_numeric_index_keys_sort_and_page_as_moto_does() -> None:
    _assert_same(_numeric_index(adapted=False), _numeric_index(adapted=True))


# Items sized, built and written out in linear time.

def _attribute_values() -> list[dict[str, Any]]:
    """Values of every type: unicode, binary, sets, numbers with many digits, nested maps and lists."""
    entries = {"L": [{"M": {"f": {"S": f"evt-{n:012d}#R1"}, "t": {"S": "2026-01-01T00:00:00Z"}, "m": {"S": ""}}}
                     for n in range(120)]}
    return [
        {"S": ""}, {"S": "ascii"}, {"S": "māori ā ē 漢字 🦉"}, {"N": "0"}, {"N": "-12345678901234567890123456789012345678"},
        {"N": "1.00000000000000000000000000000000000001E+125"}, {"B": b""}, {"B": bytes(range(256))},
        {"BOOL": True}, {"BOOL": False}, {"NULL": True}, {"SS": ["a", "ā", "漢字"]}, {"NS": ["1", "-0.5", "1e10"]},
        {"BS": [b"\x00", b"\xff" * 10]}, {"L": []}, {"M": {}}, entries,
        {"M": {"deep": {"M": {"deeper": {"L": [{"N": "1"}, {"SS": ["x"]}, {"M": {"b": {"B": b"\x01"}}}]}}},
               "ü": {"NULL": True}}},
    ]


def test_sizes_are_moto_sizes() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    def sizes() -> list[Any]:
        values = [DynamoType(value) for value in _attribute_values()]
        attrs = {f"a{n}": value for n, value in enumerate(_attribute_values())}
        item = Item(DynamoType({"S": "h"}), None, attrs)
        return [value.size() for value in values] + [item.size(), item.to_json(), dict(item.attrs.items()) == {
            key: DynamoType(value) for key, value in attrs.items()}, [value.to_regular_json() for value in values]]

    ordinary = sizes()
    moto_size = DynamoType.size
    with adapters.items_in_linear_time():
        assert DynamoType.size is not moto_size  # the adapter is on
        assert sizes() == ordinary
    assert ordinary[:3] == [0, 5, len("māori ā ē 漢字 🦉".encode())]


def _large_item_calls(context: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Items at the size limit, of every attribute type, written and read every way."""
    call = Recorder()
    with mock_aws(), context():
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        key = {"pk": {"S": "BIG"}, "sk": {"S": "CASE"}}
        # moto's size: the names plus the values (pk BIG: 2 + 3, sk CASE: 2 + 4, big: 3 + n).
        for label, length in (("just under", 405000 - 14), ("at most", 405000 - 14), ("just over", 405000 - 13)):
            call(f"put {label}", functools.partial(client.put_item, TableName="cases",
                                                   Item={**key, "big": {"S": "x" * length}}))
        call("grow it over the limit", lambda: client.update_item(
            TableName="cases", Key=key, UpdateExpression="SET more = :m", ExpressionAttributeValues={":m": {"S": "y"}}))
        many = {**key, **{f"attribute_{n:03d}": value for n, value in enumerate(_attribute_values() * 2)}}
        many["filler"] = {"S": "z" * (405000 - 14 - 3 - 8_000)}
        call("put many attributes over the limit", lambda: client.put_item(TableName="cases", Item=many))
        many["filler"] = {"S": "z"}
        call("put many attributes", lambda: client.put_item(TableName="cases", Item=many))
        call("get many", lambda: client.get_item(TableName="cases", Key=key, ReturnConsumedCapacity="TOTAL"))
        call("put many if absent, ALL_OLD", lambda: client.put_item(
            TableName="cases", Item=many, ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD"))
        call("put many ALL_OLD", lambda: client.put_item(TableName="cases", Item=many, ReturnValues="ALL_OLD"))
        call("update failing its condition, ALL_OLD", lambda: client.update_item(
            TableName="cases", Key=key, ReturnValuesOnConditionCheckFailure="ALL_OLD",
            UpdateExpression="SET attribute_000 = :v", ConditionExpression="attribute_not_exists(pk)",
            ExpressionAttributeValues={":v": {"N": "99999999999999999999999999999999999999"}}))
        call("update nested ALL_NEW", lambda: client.update_item(
            TableName="cases", Key=key, ReturnValues="ALL_NEW",
            UpdateExpression="SET attribute_017.deep.deeper[0] = :n, attribute_016[3].f = :s",
            ExpressionAttributeValues={":n": {"N": "1.5"}, ":s": {"S": "ā"}}))
        call("update over the limit", lambda: client.update_item(
            TableName="cases", Key=key, UpdateExpression="SET filler = :f",
            ExpressionAttributeValues={":f": {"S": "z" * 400_000}}))
        call("batch write", lambda: client.batch_write_item(RequestItems={"cases": [
            {"PutRequest": {"Item": {"pk": {"S": f"B#{n}"}, "sk": {"S": "CASE"},
                                     **{f"v{i}": value for i, value in enumerate(_attribute_values())}}}}
            for n in range(5)]}))
        call("batch write over the limit", lambda: client.batch_write_item(RequestItems={"cases": [
            {"PutRequest": {"Item": {"pk": {"S": "B#9"}, "sk": {"S": "CASE"}, "x": {"S": "x" * 405000}}}}]}))
        call("batch get", lambda: client.batch_get_item(RequestItems={"cases": {
            "Keys": [key, *({"pk": {"S": f"B#{n}"}, "sk": {"S": "CASE"}} for n in range(6))]}}))
        call("query", lambda: client.query(TableName="cases", KeyConditionExpression="pk = :p",
                                           ExpressionAttributeValues={":p": {"S": "B#1"}}))
        call("scan", lambda: client.scan(TableName="cases", Limit=3))
        call("transact put over the limit", lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "cases", "Item": {"pk": {"S": "T"}, "sk": {"S": "CASE"}, "x": {"S": "x" * 405000}}}}]))
        call("delete ALL_OLD", lambda: client.delete_item(TableName="cases", Key=key, ReturnValues="ALL_OLD"))
        table = boto3.resource("dynamodb", region_name=REGION).Table("cases")
        call("resource put", lambda: table.put_item(Item={
            "pk": "R", "sk": "CASE", "n": Decimal("-1.2345678901234567890123456789012345678E+100"), "b": b"\x00",
            "ns": {Decimal(1), Decimal("2.5")}, "bs": {b"a", b"b"}, "entries": [{"f": str(n), "m": ""} for n in range(200)]}))
        call("resource get", lambda: table.get_item(Key={"pk": "R", "sk": "CASE"}))
    return call.outcomes


def test_items_at_the_size_limit_answer_as_moto_does() -> None:
    ordinary = _large_item_calls(contextlib.nullcontext)
    outcomes = dict(ordinary)
    assert outcomes["put just under"][0] == "returned"
    assert outcomes["put just over"][0] == "raised" and "Item size" in outcomes["put just over"][2]
    assert outcomes["grow it over the limit"][0] == "raised"
    assert outcomes["put many attributes over the limit"][0] == "raised"
    assert outcomes["put many attributes"][0] == "returned"
    assert outcomes["put many if absent, ALL_OLD"][3]["Item"]["attribute_016"]["L"][119]["M"]["f"] == {
        "S": "evt-000000000119#R1"}
    _assert_same(ordinary, _large_item_calls(adapters.items_in_linear_time))
    _assert_same(ordinary, _large_item_calls(adapters.adapted))


def test_an_item_is_sized_once_per_attribute() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    attrs = {f"a{n}": {"S": "v"} for n in range(100)}
    with mock.patch.object(DynamoType, "size", autospec=True, side_effect=DynamoType.size) as ordinary:
        Item(DynamoType({"S": "h"}), None, attrs)
    assert ordinary.call_count > 100 * 99 / 2  # every attribute added sizes all before it
    with adapters.items_in_linear_time(), mock.patch.object(
            DynamoType, "size", autospec=True, side_effect=DynamoType.size) as adapted:
        Item(DynamoType({"S": "h"}), None, attrs)
    assert adapted.call_count == 100


# UpdateItem: validators without lookups, no whole-item copies.

def _update_calls(context: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Updates of every kind, valid and not, on a table without a stream and on one with (its records read back)."""
    call = Recorder()
    with mock_aws(), context():
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        client.create_table(TableName="streamed", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        values = {f"v{n}": value for n, value in enumerate(_attribute_values())}
        updates: list[tuple[str, dict[str, Any]]] = [
            ("set and add", {"UpdateExpression": "SET #s = :s, v0 = :x ADD version :one",
                             "ExpressionAttributeNames": {"#s": "status"},
                             "ExpressionAttributeValues": {":s": {"S": "open"}, ":x": {"S": "x"}, ":one": {"N": "1"}}}),
            ("nested", {"UpdateExpression": "SET v17.deep.deeper[0] = :n, v16[3].f = :s, v15.#new = :m",
                        "ExpressionAttributeNames": {"#new": "new"},
                        "ExpressionAttributeValues": {":n": {"N": "1.5"}, ":s": {"S": "ā"}, ":m": {"M": {}}}}),
            ("functions", {"UpdateExpression": "SET l = list_append(if_not_exists(l, :e), :t), c = if_not_exists(c, :z) + :one",
                           "ExpressionAttributeValues": {":e": {"L": []}, ":t": {"L": [{"B": b"\x00"}]}, ":z": {"N": "0"},
                                                         ":one": {"N": "1"}}}),
            ("sets", {"UpdateExpression": "ADD v11 :ss, v12 :ns DELETE v13 :bs",
                      "ExpressionAttributeValues": {":ss": {"SS": ["new"]}, ":ns": {"NS": ["-1"]}, ":bs": {"BS": [b"\x00"]}}}),
            ("remove", {"UpdateExpression": "REMOVE v1, v17.deep, v16[0]"}),
            ("condition fails", {"UpdateExpression": "SET v0 = :x", "ConditionExpression": "v0 = :y",
                                 "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                                 "ExpressionAttributeValues": {":x": {"S": "a"}, ":y": {"S": "b"}}}),
            ("condition holds", {"UpdateExpression": "SET v0 = :y", "ConditionExpression": "attribute_exists(v0)",
                                 "ExpressionAttributeValues": {":y": {"S": "b"}}}),
            ("two SET clauses", {"UpdateExpression": "SET a = :a SET b = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}),
            ("overlapping paths", {"UpdateExpression": "SET v15 = :a, v15.x = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}),
            ("type mismatch", {"UpdateExpression": "SET v0 = v0 + :a", "ExpressionAttributeValues": {":a": {"N": "1"}}}),
            ("missing path", {"UpdateExpression": "SET v15.no.where = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}),
            ("missing value", {"UpdateExpression": "SET a = :nothing"}),
            ("empty index key", {"UpdateExpression": "SET #s = :e", "ExpressionAttributeNames": {"#s": "status"},
                                 "ExpressionAttributeValues": {":e": {"S": ""}}}),
            ("set a key", {"UpdateExpression": "SET pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}),
            ("a keyword", {"UpdateExpression": "SET size = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}),
        ]
        for table, key in (("cases", {"pk": {"S": "U"}, "sk": {"S": "CASE"}}), ("streamed", {"pk": {"S": "U"}})):
            client.put_item(TableName=table, Item={**key, **values})
            for label, update in updates:
                for returned in ("NONE", "UPDATED_OLD", "ALL_NEW") if table == "cases" else ("ALL_OLD", "UPDATED_NEW"):
                    call(f"{table} {label} {returned}", functools.partial(
                        client.update_item, TableName=table, Key=key, ReturnValues=returned, **update))
            new_key = {**key, "pk": {"S": "NEW"}}
            call(f"{table} new item", functools.partial(
                client.update_item, TableName=table, Key=new_key, ReturnValues="ALL_OLD", UpdateExpression="SET a = :a",
                ExpressionAttributeValues={":a": {"S": "a"}}))
            call(f"{table} after", functools.partial(client.scan, TableName=table))
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table("streamed").stream_shard
        assert shard is not None
        call("stream records", lambda: [(r.record["eventName"], r.record["dynamodb"].get("OldImage"),
                                         r.record["dynamodb"].get("NewImage")) for r in shard.items])
    return call.outcomes


_ordinary_updates = functools.cache(lambda: _update_calls(contextlib.nullcontext))


@contextlib.contextmanager
def _checks_once() -> Iterator[None]:
    """The structural checks kept per expression (which ``update_expressions_parsed_once`` names by its pickle)."""
    with adapters.update_expressions_parsed_once(), adapters.update_expression_checks_once():
        yield


@pytest.mark.parametrize("adapter", ["update_validation_without_lookups", "update_item_without_item_copies",
                                     "_checks_once", "adapted"])
def test_updates_answer_as_moto_does(adapter: str) -> None:
    ordinary = _ordinary_updates()
    outcomes = dict(ordinary)
    raised = {label for label, outcome in ordinary if outcome[0] == "raised"}
    for label in ("two SET clauses", "overlapping paths", "type mismatch", "missing path", "missing value",
                  "set a key", "a keyword", "condition fails"):
        assert f"cases {label} NONE" in raised and f"streamed {label} ALL_OLD" in raised, label
    assert outcomes["cases condition fails NONE"][3]["Item"]["v0"] == {"S": "x"}
    assert len(outcomes["stream records"][1]) > 10  # the stream holds every update, old and new images
    _assert_same(ordinary, _update_calls(_checks_once if adapter == "_checks_once" else getattr(adapters, adapter)))


def test_an_update_copies_no_item_without_a_stream() -> None:
    from moto.dynamodb.models.dynamo_type import Item

    copied: list[str] = []
    real = Item.__deepcopy__

    def deepcopy(item: Any, memo: Any) -> Any:
        copied.append(item.hash_key.value)
        return real(item, memo)

    with mock_aws(), adapters.update_item_without_item_copies(), mock.patch.object(Item, "__deepcopy__", deepcopy):
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        client.put_item(TableName="cases", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
        client.update_item(TableName="cases", Key={"pk": {"S": "a"}, "sk": {"S": "b"}}, UpdateExpression="SET x = :x",
                           ExpressionAttributeValues={":x": {"S": "x"}}, ReturnValues="UPDATED_OLD")
    assert copied == []
    with mock_aws(), mock.patch.object(Item, "__deepcopy__", deepcopy):
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        client.put_item(TableName="cases", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
        client.update_item(TableName="cases", Key={"pk": {"S": "a"}, "sk": {"S": "b"}}, UpdateExpression="SET x = :x",
                           ExpressionAttributeValues={":x": {"S": "x"}}, ReturnValues="UPDATED_OLD")
    assert copied == ["a", "a"]


def test_the_direct_request_parser_parses_as_moto_does() -> None:
    from botocore.serialize import create_serializer
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model

    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    serializer = create_serializer("json")
    item = {"pk": {"S": "p"}, "sk": {"S": "s"}, **{f"v{n}": value for n, value in enumerate(_attribute_values())}}
    requests = {
        "PutItem": {"TableName": "cases", "Item": item, "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD", "ReturnConsumedCapacity": "TOTAL"},
        "UpdateItem": {"TableName": "cases", "Key": {"pk": {"S": "p"}, "sk": {"S": "s"}}, "ReturnValues": "ALL_NEW",
                       "UpdateExpression": "SET #a = :a", "ExpressionAttributeNames": {"#a": "a"},
                       "ExpressionAttributeValues": {":a": {"M": {"x": {"BS": [b"\x00"]}}}}},
        "Query": {"TableName": "cases", "IndexName": "by_status", "Limit": 5, "ScanIndexForward": False,
                  "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
                  "ExpressionAttributeValues": {":s": {"S": "open"}}, "ExclusiveStartKey": item},
        "BatchWriteItem": {"RequestItems": {"cases": [{"PutRequest": {"Item": item}},
                                                      {"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "s"}}}}]}},
        "BatchGetItem": {"RequestItems": {"cases": {"Keys": [{"pk": {"S": "p"}, "sk": {"S": "s"}}],
                                                    "ProjectionExpression": "pk, v3", "ConsistentRead": True}}},
        "TransactWriteItems": {"TransactItems": [
            {"Put": {"TableName": "cases", "Item": item}},
            {"ConditionCheck": {"TableName": "cases", "Key": {"pk": {"S": "p"}, "sk": {"S": "s"}},
                                "ConditionExpression": "attribute_exists(pk)"}}], "ClientRequestToken": "t"},
    }
    for operation, params in requests.items():
        body = serializer.serialize_to_request(params, client.meta.service_model.operation_model(operation))["body"]
        model = get_service_model("dynamodb").operation_model(operation)
        request: Any = {"body": body, "headers": {}}
        ordinary = PROTOCOL_PARSERS["json"](model, map_type=dict).parse(request)
        direct = adapters._request_parser(PROTOCOL_PARSERS["json"])(model, map_type=dict).parse(request)
        assert direct == ordinary, operation
        assert list(direct) == list(ordinary), operation
    assert ordinary["TransactItems"][0]["Put"]["Item"]["v7"] == {"B": bytes(range(256))}


class _Label(str):
    """A str subclass (an enum's value, say): JSON text holds only its characters."""


def test_a_deferred_body_parses_as_its_json_text_does() -> None:
    """The direct path parses the parameters botocore validated instead of the JSON text it would have written from
    them: the same result for every leaf JSON changes (blobs as bytes, bytearray or str; str subclasses; tuples)."""
    from botocore.serialize import create_serializer
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model

    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    serializer = create_serializer("json", include_validation=False)
    item = {"pk": {"S": _Label("p")}, "sk": {"S": "s"}, "b1": {"B": bytearray(b"\x00\xff")}, "b2": {"B": "text as blob"},
            "bs": {"BS": (b"\x01", bytearray(b"\x02"))}, "ss": {"SS": ("a", _Label("b"))}, "bool": {"BOOL": True},
            **{f"v{n}": value for n, value in enumerate(_attribute_values())}}
    requests = {
        "PutItem": {"TableName": _Label("cases"), "Item": item, "ConditionExpression": "attribute_not_exists(pk)"},
        "UpdateItem": {"TableName": "cases", "Key": {"pk": {"S": "p"}, "sk": {"S": "s"}}, "ReturnValues": "ALL_NEW",
                       "UpdateExpression": "SET #a = :a", "ExpressionAttributeNames": {"#a": _Label("a")},
                       "ExpressionAttributeValues": {":a": {"L": ({"B": b"\x00"}, {"N": "1"})}}},
        "Query": {"TableName": "cases", "Limit": 5, "ScanIndexForward": False, "ConsistentRead": True,
                  "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}},
                  "ExclusiveStartKey": item},
        "BatchWriteItem": {"RequestItems": {"cases": ({"PutRequest": {"Item": item}},)}},
        "TransactWriteItems": {"TransactItems": [{"Put": {"TableName": "cases", "Item": item}}],
                               "ClientRequestToken": "t"},
    }
    for operation, params in requests.items():
        operation_model = client.meta.service_model.operation_model(operation)
        body = serializer.serialize_to_request(params, operation_model)["body"]
        model = get_service_model("dynamodb").operation_model(operation)
        ordinary = PROTOCOL_PARSERS["json"](model, map_type=dict).parse({"body": body, "headers": {}})  # type: ignore[typeddict-item]
        parser = adapters._deferred_parser(PROTOCOL_PARSERS["json"])(model, map_type=dict)
        parser.serializer = serializer
        deferred = adapters._DeferredBody(params, operation_model, serializer)
        direct = parser.parse({"body": deferred, "headers": {}})
        assert direct == ordinary, operation
        assert repr(direct) == repr(ordinary), operation  # the same types too (str, list, bytes), in the same order
        assert deferred.encoded() == body


def test_in_process_calls_write_no_json_and_invalid_ones_fail_as_before() -> None:
    encoded: list[str] = []
    real = adapters._DeferredBody.encoded

    def counted(body: Any) -> bytes:
        encoded.append(body.operation_model.name)
        return real(body)

    invalid: list[str] = []
    for adapted in (False, True):
        with _aws(adapted), mock.patch.object(adapters._DeferredBody, "encoded", counted):
            client = boto3.client("dynamodb", region_name=REGION)
            _create_tables(client)
            client.put_item(TableName="cases", Item={"pk": {"S": "a"}, "sk": {"S": "b"}, "v": {"B": b"\x01"}})
            assert client.get_item(TableName="cases", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})["Item"]["v"] == {"B": b"\x01"}
            assert isinstance(client._serializer, adapters._DeferringSerializer) == adapted
            with pytest.raises(botocore.exceptions.ParamValidationError) as failed:
                client.put_item(TableName="cases", Item={"pk": {"S": 1}})
            invalid.append(str(failed.value))
    assert encoded == []  # no JSON text made for a call the direct path answered
    assert invalid[0] == invalid[1]


def test_a_call_the_direct_path_declines_sends_its_json_text() -> None:
    """A deferred body becomes the JSON text botocore would have sent when the call takes the ordinary path (an
    endpoint moto does not serve, or the runtime stopped between serialising and sending)."""
    with _aws(adapted=True):
        client = boto3.client("dynamodb", region_name=REGION)
        operation_model = client.meta.service_model.operation_model("GetItem")
        params = {"TableName": "cases", "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}}}
        request = client._serializer.serialize_to_request(params, operation_model)
        assert isinstance(request["body"], adapters._DeferredBody)
        request.update(url="http://127.0.0.1:9/", headers={})
        assert adapters._direct_call(operation_model, request) is None
        assert request["body"] == client._serializer.inner.serialize_to_request(params, operation_model)["body"]
    after = client._serializer.serialize_to_request(params, operation_model)  # the runtime stopped: JSON as ever
    assert isinstance(after["body"], bytes)


# Condition and filter expressions parsed once.

def _condition_calls(context: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The same conditions and filters again and again, with other values, names and items; and broken ones."""
    call = Recorder()
    with mock_aws(), context():
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        for number in range(12):
            finding = _finding(number % 6)
            call(f"put if new {number}", functools.partial(
                client.put_item, TableName="findings", Item=finding, ConditionExpression="attribute_not_exists(finding_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD"))
            key = {"finding_id": finding["finding_id"]}
            call(f"update at score {number}", functools.partial(
                client.update_item, TableName="findings", Key=key, ReturnValues="ALL_NEW",
                UpdateExpression="SET score = :new", ConditionExpression="score = :old OR #t = :b",
                ExpressionAttributeNames={"#t": "tags"},
                ExpressionAttributeValues={":new": {"N": str(number)}, ":old": {"N": str(number % 11)},
                                           ":b": {"SS": ["none", f"t{number % 3}"]}}))
            call(f"delete if {number}", functools.partial(
                client.delete_item, TableName="findings", Key=key, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ConditionExpression="contains(#t, :t) AND size(evidence) > :n AND detail.l[0] = :yes",
                ExpressionAttributeNames={"#t": "tags"},
                ExpressionAttributeValues={":t": {"S": f"t{number % 3}"}, ":n": {"N": "2"}, ":yes": {"BOOL": True}}))
            call(f"scan filtered {number}", functools.partial(
                client.scan, TableName="findings", FilterExpression="score BETWEEN :a AND :b OR evidence = :e",
                ExpressionAttributeValues={":a": {"N": str(number % 4)}, ":b": {"N": "8"},
                                           ":e": {"B": bytes([number % 6, 0, 255])}}))
            call(f"query filtered {number}", functools.partial(
                client.query, TableName="findings", IndexName="by_user", KeyConditionExpression="user_id = :u",
                FilterExpression="NOT begins_with(client_id, :c) AND score IN (:a, :b)",
                ExpressionAttributeValues={":u": {"S": f"u-{number % 7}"}, ":c": {"S": "c-1"},
                                           ":a": {"N": "1"}, ":b": {"N": str(number)}}))
        for label, condition, values in (
                ("syntax error", "attribute_not_exists(", {}), ("unknown function", "nothing(a)", {}),
                ("missing value", "a = :missing", {":other": {"S": "x"}}), ("unused value", "a = :a", {":a": {"S": "x"}, ":b": {"S": "y"}}),
                ("missing name", "#missing = :a", {":a": {"S": "x"}}), ("redundant parentheses", "((a = :a))", {":a": {"S": "x"}})):
            for attempt in range(2):
                call(f"{label} {attempt}", functools.partial(_crashed, functools.partial(
                    client.put_item, TableName="findings", Item=_finding(1), ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}))))
        for label, values in (("a value given", {":s": {"N": "1"}}), ("the value missing", {":t": {"N": "1"}}),
                              ("the value given again", {":s": {"N": "2"}})):
            call(label, functools.partial(_crashed, functools.partial(
                client.put_item, TableName="findings", Item=_finding(2), ExpressionAttributeValues=values,
                ConditionExpression="attribute_not_exists(finding_id) OR score = :s")))
    return call.outcomes


def _crashed(call: Callable[[], Any]) -> Any:
    """The call's answer, or what moto raised that is not an AWS error (moto lets a ValueError through)."""
    try:
        return call()
    except botocore.exceptions.ClientError:
        raise
    except Exception as error:  # noqa: BLE001 - recorded to compare
        return ("crashed", type(error).__name__, str(error))


def test_conditions_answer_as_moto_does() -> None:
    ordinary = _condition_calls(contextlib.nullcontext)
    outcomes = dict(ordinary)
    for kind in ("put if new", "update at score", "delete if"):  # conditions that hold and that fail
        assert {outcome[0] for label, outcome in ordinary if label.startswith(kind)} == {"raised", "returned"}, kind
    assert all(outcomes[f"{label} 1"][0] == "raised" or outcomes[f"{label} 1"][1][0] == "crashed"
               for label in ("syntax error", "missing value", "missing name", "unknown function"))
    _assert_same(ordinary, _condition_calls(adapters.condition_expressions_parsed_once))
    _assert_same(ordinary, _condition_calls(adapters.adapted))


def test_a_condition_is_parsed_once() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    with mock_aws(), adapters.condition_expressions_parsed_once(), mock.patch.object(
            ConditionExpressionParser, "_lex_condition_expression", autospec=True,
            side_effect=ConditionExpressionParser._lex_condition_expression) as lexed:
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        for number in range(5):
            client.put_item(TableName="findings", Item=_finding(number),
                            ConditionExpression="attribute_not_exists(finding_id)")
        assert lexed.call_count == 1


def test_a_condition_whose_values_change_at_every_use_is_left_to_moto() -> None:
    """A version check (``version = :v``, another :v each time) is never found kept: after a run of such parses it is
    no longer pickled and kept (its entries would crowd out the expressions that repeat), and answers as before."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    pickled: list[int] = []
    real_dumps = adapters.pickle.dumps

    def counted(value: Any) -> bytes:
        pickled.append(1)
        return real_dumps(value)

    with mock_aws(), adapters.condition_expressions_parsed_once(), mock.patch.object(adapters.pickle, "dumps", counted):
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        key = {"pk": {"S": "a"}, "sk": {"S": "CASE"}}
        client.put_item(TableName="cases", Item={**key, "version": {"N": "0"}})
        runs = adapters._MISSES_BEFORE_GIVING_UP + 10
        for version in range(runs):
            client.update_item(TableName="cases", Key=key, UpdateExpression="SET version = :next",
                               ConditionExpression="version = :v",
                               ExpressionAttributeValues={":v": {"N": str(version)}, ":next": {"N": str(version + 1)}})
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):  # a stale version still fails
            client.update_item(TableName="cases", Key=key, UpdateExpression="SET version = :next",
                               ConditionExpression="version = :v",
                               ExpressionAttributeValues={":v": {"N": "1"}, ":next": {"N": "0"}})
        assert client.get_item(TableName="cases", Key=key)["Item"]["version"] == {"N": str(runs)}
        # Pickled only until the run of misses (each use with values not seen before).
        assert len(pickled) == adapters._MISSES_BEFORE_GIVING_UP
        pickled.clear()
        with mock.patch.object(ConditionExpressionParser, "_lex_condition_expression", autospec=True,
                               side_effect=ConditionExpressionParser._lex_condition_expression) as lexed:
            for number in range(5):  # an expression that repeats is still parsed once
                client.put_item(TableName="findings", Item=_finding(number),
                                ConditionExpression="attribute_not_exists(finding_id)")
        assert lexed.call_count == 1 and len(pickled) == 1


def test_an_update_expressions_structural_checks_run_once_and_failures_every_time() -> None:
    from moto.dynamodb.parsing.validators import ActionCountValidator

    with mock_aws(), _checks_once(), mock.patch.object(
            ActionCountValidator, "verify_action_counts", autospec=True,
            side_effect=ActionCountValidator.verify_action_counts) as counted:
        client = boto3.client("dynamodb", region_name=REGION)
        _create_tables(client)
        key = {"pk": {"S": "a"}, "sk": {"S": "CASE"}}
        checks = []  # calls of the check (one per expression node it looks at) after each update
        for number in range(5):
            client.update_item(TableName="cases", Key=key, UpdateExpression="SET #v = :v, note = :n",
                               ExpressionAttributeNames={"#v": "version"},
                               ExpressionAttributeValues={":v": {"N": str(number)}, ":n": {"S": f"n{number}"}})
            checks.append(counted.call_count)
        assert checks[0] > 0 and checks[1:] == [checks[0]] * 4  # only the first update ran it
        for attempt in range(3):  # a failing check is not kept: it raises every time
            with pytest.raises(botocore.exceptions.ClientError, match="SET"):
                client.update_item(TableName="cases", Key=key, UpdateExpression="SET a = :a SET b = :a",
                                   ExpressionAttributeValues={":a": {"S": "a"}})
            checks.append(counted.call_count)
            assert checks[-1] > checks[-2], attempt
        # The same expression setting the table's key fails on that table although it passed elsewhere.
        client.update_item(TableName="findings", Key={"finding_id": {"S": "f"}}, UpdateExpression="SET #k = :a",
                           ExpressionAttributeNames={"#k": "pk"}, ExpressionAttributeValues={":a": {"S": "a"}})
        with pytest.raises(botocore.exceptions.ClientError, match="part of the key"):
            client.update_item(TableName="cases", Key=key, UpdateExpression="SET #k = :a",
                               ExpressionAttributeNames={"#k": "pk"}, ExpressionAttributeValues={":a": {"S": "a"}})
