"""The cases table: a case item, its append-only history, and the (user, client) open-case pointer.

Keys: ``CASE#<id>`` / ``CASE`` for the case, ``CASE#<id>`` / ``HIST#<time>#<n>`` for each history
entry (never updated), ``PAIR#<user>#<client>`` / ``OPEN`` for the pair's open case.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from accesswatch.cases.grouping import OpenCase
from accesswatch.cases.vocabulary import CaseVocabulary
from accesswatch.dal.ledger import _plain, now_iso
from accesswatch.dal.paging import items


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

    @staticmethod
    def history_item(case_id: str, at: str, *, state: str, actor: str, note: str = "",
                     **extra: Any) -> dict[str, Any]:
        # Sorted by time, then by the clock's nanoseconds within the millisecond, then at random.
        order = f"{time.time_ns() % 1_000_000:06d}{uuid.uuid4().hex[:6]}"
        return {"pk": f"CASE#{case_id}", "sk": f"HIST#{at}#{order}", "case_id": case_id,
                "at": at, "state": state, "actor": actor, "note": note, **extra}

    def append_history(self, case_id: str, *, state: str, actor: str, note: str = "", **extra: Any) -> None:
        self.table.put_item(Item=self.history_item(case_id, now_iso(), state=state, actor=actor, note=note, **extra),
                            ConditionExpression="attribute_not_exists(pk)")

    def record_opened(self, case: Mapping[str, Any]) -> None:
        """The case's first history entry, at its ``opened_at``; written once however often it is retried."""
        case_id = str(case["case_id"])
        entry = {"pk": f"CASE#{case_id}", "sk": f"HIST#{case['opened_at']}#!opened", "case_id": case_id,
                 "at": case["opened_at"], "state": "opened", "actor": "accesswatch",
                 "note": f"opened from {case.get('finding_count', 0)} finding(s)"}
        try:
            self.table.put_item(Item=entry, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def transition(self, case_id: str, *, expected: Collection[str], status: str | None = None,
                   attrs: Mapping[str, Any] | None = None, history: Mapping[str, Any] | None = None,
                   guard: tuple[str, Any] | None = None) -> bool:
        """One state change of a case and its history entry (state, actor, note).

        The case item moves only while its status is one of ``expected`` (and, with
        ``guard=(attr, value)``, while ``attr`` is not already ``value``); the same conditional update
        parks the history entry on the item as ``pending_history``, which is then appended to the
        history and cleared. A step retried after a partial write finds the case moved and calls
        ``flush_history``, so every state change gets exactly one history entry. (One conditional
        update rather than a transaction: DynamoDB Local and moto copy the whole table per transaction.)

        Returns False, writing nothing, when the case is not in an expected status or the guard holds.
        """
        at = now_iso()
        values: dict[str, Any] = {**(attrs or {}), "updated_at": at}
        if status is not None:
            values["status"] = status
        entry = self.history_item(case_id, at, **history) if history is not None else None
        if entry is not None:
            values["pending_history"] = entry
        names = {f"#{k}": k for k in values}
        names["#status"] = "status"
        placeholders = {f":{k}": v for k, v in values.items()}
        expected_keys = []
        for i, value in enumerate(sorted(expected)):
            placeholders[f":expected{i}"] = value
            expected_keys.append(f":expected{i}")
        condition = f"#status IN ({', '.join(expected_keys)})"
        if guard is not None:
            names["#guard"] = guard[0]
            placeholders[":guard"] = guard[1]
            condition += " AND (attribute_not_exists(#guard) OR #guard <> :guard)"
        try:
            self.table.update_item(
                Key=self.case_key(case_id),
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
                ConditionExpression=condition,
                ExpressionAttributeNames=names, ExpressionAttributeValues=placeholders,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        if entry is not None:
            self._append_pending(case_id, entry)
        return True

    def flush_history(self, case: Mapping[str, Any]) -> None:
        """Append the history entry a partial state change left parked on the case item, if any."""
        entry = case.get("pending_history")
        if isinstance(entry, Mapping) and entry.get("sk"):
            self._append_pending(str(case["case_id"]), dict(entry))

    def _append_pending(self, case_id: str, entry: dict[str, Any]) -> None:
        try:
            self.table.put_item(Item=entry, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            # Already appended (a retry) when the condition fails.
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        try:
            self.table.update_item(Key=self.case_key(case_id), UpdateExpression="REMOVE pending_history",
                                   ConditionExpression="pending_history.sk = :sk",
                                   ExpressionAttributeValues={":sk": entry["sk"]})
        except ClientError as exc:
            # Already cleared, or a later state change parked its own entry.
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def history(self, case_id: str) -> list[dict[str, Any]]:
        """The case's history, oldest first."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(f"CASE#{case_id}") & Key("sk").begins_with("HIST#"),
            "ConsistentRead": True,
        }
        entries: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**kwargs)
            entries.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for entry in entries:
            entry.pop("pk", None)
        return sorted(entries, key=lambda e: e["sk"])

    def cases_with_status(self, status: str) -> Iterator[dict[str, Any]]:
        """Whole case items with this status (the by_status index projects every attribute)."""
        for item in items(self.table.query, IndexName="by_status", KeyConditionExpression=Key("status").eq(status)):
            if item.get("sk") == "CASE":
                yield _case(item)

    def ids_with_status(self, statuses: frozenset[str]) -> set[str]:
        """Case ids whose status is one of ``statuses`` (one query of the by_status index each)."""
        found: set[str] = set()
        for status in statuses:
            found.update(i["case_id"] for i in items(self.table.query, IndexName="by_status",
                                                     KeyConditionExpression=Key("status").eq(status),
                                                     ProjectionExpression="case_id") if "case_id" in i)
        return found

    def scan_cases(self) -> Iterator[dict[str, Any]]:
        for item in items(self.table.scan):
            if item.get("sk") == "CASE":
                yield _case(item)


def _case(item: dict[str, Any]) -> dict[str, Any]:
    case = _plain(item)
    case["rules"] = sorted(case.pop("rule_set", set()) or [])
    case.pop("pk", None)
    case.pop("sk", None)
    return dict(case)


class TaskTokenSpent(Exception):
    """The task token no longer names a waiting task (completed, timed out, or its execution ended)."""


_SPENT = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class CaseTasks:
    """Completing the task a waiting case execution holds (``states:SendTaskSuccess``)."""

    def __init__(self, sfn_client: Any) -> None:
        self.sfn = sfn_client

    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        try:
            self.sfn.send_task_success(taskToken=token, output=json.dumps(dict(output)))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _SPENT:
                raise TaskTokenSpent(exc.response["Error"]["Code"]) from None
            raise

    def execution_status(self, execution_arn: str) -> str | None:
        try:
            return str(self.sfn.describe_execution(executionArn=execution_arn)["status"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise


def deployed_vocabulary(lambda_client: Any, function_name: str) -> CaseVocabulary:
    """The ER types and outcomes the deployed case-step function accepts (from its environment)."""
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    return CaseVocabulary.from_mapping(config.get("Environment", {}).get("Variables", {}))
