"""Reading findings for reports and footprints through the findings table's indexes (no scans).

``by_rule_quarter`` (``RULE#YYYY-MM-DD``) answers "this rule's findings in this quarter";
``by_client`` answers "every finding about this client".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from accesswatch.dal.ledger import _plain

REPORT_FIELDS = ("finding_id", "rule", "severity", "rule_status", "user_id", "client_id", "nz_date", "quarter",
                 "case_id")
FOOTPRINT_FIELDS = ("finding_id", "system", "event_id", "rule", "severity", "rule_status", "case_id",
                    "occurred_at_utc")


class FindingQueries:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    def _query(self, fields: tuple[str, ...], **kwargs: Any) -> Iterator[dict[str, Any]]:
        names = {f"#f{i}": f for i, f in enumerate(fields)}
        kwargs["ProjectionExpression"] = ", ".join(names)
        kwargs["ExpressionAttributeNames"] = names
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                yield _plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def in_rule_quarter(self, rule: str, quarter_end_iso: str) -> Iterator[dict[str, Any]]:
        return self._query(REPORT_FIELDS, IndexName="by_rule_quarter",
                           KeyConditionExpression=Key("rule_quarter").eq(f"{rule}#{quarter_end_iso}"))

    def for_client(self, client_id: str) -> Iterator[dict[str, Any]]:
        return self._query(FOOTPRINT_FIELDS, IndexName="by_client",
                           KeyConditionExpression=Key("client_id").eq(client_id))
