"""The findings table: conditional puts (a finding is written once, whatever the retries)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from accesswatch.dal.ledger import _plain, now_iso
from accesswatch.dal.paging import items


class FindingStore:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    def put_if_new(self, item: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Write the finding unless it exists; returns (written, the item as stored)."""
        stored = {**item, "detected_at": now_iso(), "confirmed_snapshot_id": item["snapshot_id"]}
        try:
            self.table.put_item(
                Item=stored,
                ConditionExpression="attribute_not_exists(finding_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old: Any = exc.response.get("Item")
            if old is None:  # the service did not return it: read it
                existing = self.get(item["finding_id"]) or item
            else:
                from boto3.dynamodb.types import TypeDeserializer

                deserializer = TypeDeserializer()
                existing = _plain({k: deserializer.deserialize(v) for k, v in old.items()})
            if existing.get("confirmed_snapshot_id", existing.get("snapshot_id")) != item["snapshot_id"]:
                # A replay against newer reference data raised it again: say so, change nothing else.
                self.table.update_item(Key={"finding_id": item["finding_id"]},
                                       UpdateExpression="SET confirmed_snapshot_id = :s, confirmed_at = :t",
                                       ExpressionAttributeValues={":s": item["snapshot_id"], ":t": now_iso()})
                existing["confirmed_snapshot_id"] = item["snapshot_id"]
            return False, existing
        return True, stored

    def put_all(self, items: list[dict[str, Any]], workers: int = 8) -> list[tuple[bool, dict[str, Any]]]:
        if len(items) < 16:
            return [self.put_if_new(i) for i in items]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self.put_if_new, items))

    def get(self, finding_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"finding_id": finding_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def set_case(self, finding_id: str, case_id: str) -> None:
        self.table.update_item(
            Key={"finding_id": finding_id},
            UpdateExpression="SET case_id = :c",
            ConditionExpression="attribute_exists(finding_id)",
            ExpressionAttributeValues={":c": case_id},
        )

    def set_suppressed(self, finding_id: str, exception_id: str) -> bool:
        """The finding matched an active exception: recorded and counted, not routed. False when it was
        suppressed or routed already (a retry, or a concurrent invocation): count it only once."""
        try:
            self.table.update_item(
                Key={"finding_id": finding_id},
                UpdateExpression="SET suppressed_by = :e, suppressed_at = :t",
                ConditionExpression="attribute_exists(finding_id) AND attribute_not_exists(case_id) "
                                    "AND attribute_not_exists(suppressed_by)",
                ExpressionAttributeValues={":e": exception_id, ":t": now_iso()},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def scan(self) -> Iterator[dict[str, Any]]:
        for item in items(self.table.scan):
            yield _plain(item)

    def find(self, *, user_id: str | None = None, client_id: str | None = None, rule: str | None = None,
             quarters: Sequence[str] | None = None, since_utc: str | None = None,
             until_utc: str | None = None) -> Iterator[dict[str, Any]]:
        """Findings through the narrowest index the filter allows: ``by_user``, ``by_client``, or
        ``by_rule_quarter`` (a rule and the quarter ends, ``YYYY-MM-DD``, to read), else a scan. ``since_utc``
        and ``until_utc`` (ISO instants, inclusive) narrow an index's ``occurred_at_utc`` range. A superset
        when filters are combined: the caller applies every filter exactly."""
        def window(key: Any) -> Any:
            if since_utc and until_utc:
                return key & Key("occurred_at_utc").between(since_utc, until_utc)
            if since_utc:
                return key & Key("occurred_at_utc").gte(since_utc)
            if until_utc:
                return key & Key("occurred_at_utc").lte(until_utc)
            return key

        if user_id is not None:
            queries = [("by_user", window(Key("user_id").eq(user_id)))]
        elif client_id is not None:
            queries = [("by_client", window(Key("client_id").eq(client_id)))]
        elif rule is not None and quarters is not None:
            queries = [("by_rule_quarter", window(Key("rule_quarter").eq(f"{rule}#{q}"))) for q in quarters]
        else:
            yield from self.scan()
            return
        for index, condition in queries:
            for item in items(self.table.query, IndexName=index, KeyConditionExpression=condition):
                yield _plain(item)
