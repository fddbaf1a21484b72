"""The audit table: application audit records of reads (``accesswatch.audit``), one item each.

Keys: ``DAY#<NZ date>`` / ``<UTC time>#<audit id>``. Records are only ever added, with a conditional put
(``attribute_not_exists``): this code never updates or deletes one, and a record with the same key is never
replaced. Reading is by day: one query per New Zealand date, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from accesswatch.dal.ledger import _plain
from accesswatch.dal.paging import items


class AuditWriteError(RuntimeError):
    """The audit record could not be stored (the read it records must not go ahead)."""


class AuditStore:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self.table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)

    def add(self, record: Mapping[str, Any]) -> None:
        """Store one new record; AuditWriteError (code and message of the service, no content) if it cannot."""
        try:
            self.table.put_item(Item=dict(record), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AuditWriteError(f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")) from None

    def between(self, first: date, last: date, *, actor: str | None = None,
                action: str | None = None) -> Iterator[dict[str, Any]]:
        """The records of NZ dates ``first`` to ``last`` (inclusive), oldest first; ``actor`` and ``action``
        filter them (exact match, applied by the service)."""
        condition = None
        if actor:
            condition = Attr("actor").eq(actor)
        if action:
            condition = Attr("action").eq(action) if condition is None else condition & Attr("action").eq(action)
        day = first
        while day <= last:
            kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(f"DAY#{day.isoformat()}"),
                                      "ConsistentRead": True}
            if condition is not None:
                kwargs["FilterExpression"] = condition
            for item in items(self.table.query, **kwargs):
                yield dict(_plain(item))
            day += timedelta(days=1)
