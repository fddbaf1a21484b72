"""The cases table: a case item, its append-only history, and the (user, client) open-case pointer.

Keys: ``CASE#<id>`` / ``CASE`` for the case, ``CASE#<id>`` / ``HIST#<time>#<n>`` for each history
entry (never updated), ``PAIR#<user>#<client>`` / ``OPEN`` for the pair's open case.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from accesswatch.cases.grouping import OpenCase
from accesswatch.dal.ledger import _plain, now_iso


class ConcurrentUpdate(Exception):
    """Another writer changed the pair's open case first: plan again."""


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] in {"ConditionalCheckFailedException", "TransactionCanceledException"})


class CaseStore:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.resource = resource or boto3.resource("dynamodb")
        self.table = self.resource.Table(table_name)
        self.table_name = table_name

    # ------------------------------------------------------------------ pair pointer
    @staticmethod
    def pair_key(user_id: str, client_id: str) -> dict[str, str]:
        return {"pk": f"PAIR#{user_id}#{client_id}", "sk": "OPEN"}

    def open_case(self, user_id: str, client_id: str) -> OpenCase | None:
        item = self.table.get_item(Key=self.pair_key(user_id, client_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        item = _plain(item)
        return OpenCase(item["case_id"], datetime.fromisoformat(item["first_occurred_at"]),
                        int(item["finding_count"]), int(item["version"]))

    def save_pointer(self, user_id: str, client_id: str, case_id: str, first: datetime, count: int,
                     expected_version: int | None) -> None:
        """Move the pair's pointer; fails with ConcurrentUpdate if someone else moved it first."""
        item = {**self.pair_key(user_id, client_id), "case_id": case_id, "first_occurred_at": first.isoformat(),
                "finding_count": count, "version": (expected_version or 0) + 1, "updated_at": now_iso()}
        condition = "attribute_not_exists(pk)" if expected_version is None else "version = :v"
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
        if expected_version is not None:
            kwargs["ExpressionAttributeValues"] = {":v": expected_version}
        try:
            self.table.put_item(**kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate(case_id) from None
            raise

    def release_pointer(self, user_id: str, client_id: str, case_id: str) -> None:
        """A closed case takes no more findings: the pair's next finding opens a new case."""
        try:
            self.table.delete_item(Key=self.pair_key(user_id, client_id), ConditionExpression="case_id = :c",
                                   ExpressionAttributeValues={":c": case_id})
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    # ------------------------------------------------------------------ cases
    @staticmethod
    def case_key(case_id: str) -> dict[str, str]:
        return {"pk": f"CASE#{case_id}", "sk": "CASE"}

    def create_case(self, case: dict[str, Any]) -> bool:
        try:
            self.table.put_item(Item={**self.case_key(case["case_id"]), **case},
                                ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def add_findings(self, case_id: str, finding_ids: list[str], rules: list[str]) -> None:
        self.table.update_item(
            Key=self.case_key(case_id),
            UpdateExpression="SET finding_ids = list_append(if_not_exists(finding_ids, :empty), :ids), "
                             "updated_at = :now ADD finding_count :n, rule_set :rules",
            ExpressionAttributeValues={":empty": [], ":ids": finding_ids, ":n": len(finding_ids),
                                       ":rules": set(rules), ":now": now_iso()},
        )

    def get(self, case_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key=self.case_key(case_id), ConsistentRead=True).get("Item")
        return _case(item) if item else None

    def update(self, case_id: str, *, expected_status: str | None = None, **attrs: Any) -> None:
        values = {**attrs, "updated_at": now_iso()}
        kwargs: dict[str, Any] = {
            "Key": self.case_key(case_id),
            "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in values),
            "ExpressionAttributeNames": {f"#{k}": k for k in values},
            "ExpressionAttributeValues": {f":{k}": v for k, v in values.items()},
        }
        if expected_status is not None:
            kwargs["ConditionExpression"] = "#status = :expected"
            kwargs["ExpressionAttributeNames"]["#status"] = "status"
            kwargs["ExpressionAttributeValues"][":expected"] = expected_status
        self.table.update_item(**kwargs)

    def append_history(self, case_id: str, *, state: str, actor: str, note: str = "", **extra: Any) -> None:
        stamp = now_iso()
        self.table.put_item(
            Item={"pk": f"CASE#{case_id}", "sk": f"HIST#{stamp}#{uuid.uuid4().hex[:8]}", "case_id": case_id,
                  "at": stamp, "state": state, "actor": actor, "note": note, **extra},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def history(self, case_id: str) -> list[dict[str, Any]]:
        page = self.table.query(KeyConditionExpression=Key("pk").eq(f"CASE#{case_id}") & Key("sk").begins_with("HIST#"),
                                ConsistentRead=True)
        return [_plain(i) for i in page.get("Items", [])]

    def ids_with_status(self, statuses: frozenset[str]) -> set[str]:
        """Case ids whose status is one of ``statuses`` (one query of the by_status index each)."""
        found: set[str] = set()
        for status in statuses:
            kwargs: dict[str, Any] = {"IndexName": "by_status", "KeyConditionExpression": Key("status").eq(status),
                                      "ProjectionExpression": "case_id"}
            while True:
                page = self.table.query(**kwargs)
                found.update(i["case_id"] for i in page.get("Items", []) if "case_id" in i)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found

    def scan_cases(self) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        while True:
            page = self.table.scan(**kwargs)
            for item in page.get("Items", []):
                if item.get("sk") == "CASE":
                    yield _case(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _case(item: dict[str, Any]) -> dict[str, Any]:
    case = _plain(item)
    case["rules"] = sorted(case.pop("rule_set", set()) or [])
    case.pop("pk", None)
    case.pop("sk", None)
    return dict(case)
