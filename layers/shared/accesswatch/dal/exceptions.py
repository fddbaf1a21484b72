"""Exceptions: a scope (user, client and/or rule) whose accumulate-tier findings are recorded and counted
but not routed, until an expiry date. Made after a case was decided ``rule_too_broad``.

Kept in the cases table: ``EXCEPTION`` / ``<exception_id>``; revoking keeps the item (who and when).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from accesswatch.dal.cases import CaseStore, _conditional_failed
from accesswatch.dal.ledger import _plain, now_iso
from accesswatch.dal.paging import items


class ExceptionStore:
    def __init__(self, cases: CaseStore) -> None:
        self.table = cases.table

    def add(self, exception: Mapping[str, Any]) -> bool:
        """Store a new exception; False if one with that id exists."""
        try:
            self.table.put_item(Item={"pk": "EXCEPTION", "sk": exception["exception_id"], **exception},
                                ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def all(self) -> list[dict[str, Any]]:
        out = []
        for item in items(self.table.query, KeyConditionExpression=Key("pk").eq("EXCEPTION"), ConsistentRead=True):
            row = _plain(item)
            row.pop("pk", None)
            row.pop("sk", None)
            out.append(row)
        return sorted(out, key=lambda r: (str(r.get("created_at", "")), str(r["exception_id"])))

    def get(self, exception_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": "EXCEPTION", "sk": exception_id}, ConsistentRead=True).get("Item")
        if not item:
            return None
        row = _plain(item)
        row.pop("pk", None)
        row.pop("sk", None)
        return dict(row)

    def revoke(self, exception_id: str, *, actor: str, note: str) -> bool:
        """Revoke once; False if it does not exist or was revoked already."""
        try:
            self.table.update_item(
                Key={"pk": "EXCEPTION", "sk": exception_id},
                UpdateExpression="SET revoked_at = :now, revoked_by = :a, revoke_note = :n",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":now": now_iso(), ":a": actor, ":n": note})
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def count_suppressed(self, exception_id: str, n: int) -> None:
        if n:
            self.table.update_item(Key={"pk": "EXCEPTION", "sk": exception_id},
                                   UpdateExpression="ADD suppressed :n", ExpressionAttributeValues={":n": n})
