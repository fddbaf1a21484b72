"""The ingest ledger: one item per source file (and the current reference snapshot pointer)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from accesswatch.dal.paging import items

CURRENT_REFERENCE = "REFERENCE#CURRENT"


class FileStatus(StrEnum):
    INGESTING = "ingesting"
    AWAITING_REFERENCE = "awaiting_reference"  # partitioned; detection starts when reference data arrives
    DETECTING = "detecting"
    DETECTED = "detected"
    INGESTED = "ingested"  # read, nothing accepted to detect
    REJECTED = "rejected"  # the file as a whole could not be read; see reason
    FAILED = "failed"  # the system failed on it; see reason (alarmed)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Ledger:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    # ---------------------------------------------------------------- files
    @staticmethod
    def file_pk(ingest_id: str) -> str:
        return f"FILE#{ingest_id}"

    def start_file(self, ingest_id: str, **attrs: Any) -> None:
        stamp = now_iso()
        self.table.put_item(Item={
            "pk": self.file_pk(ingest_id), "ingest_id": ingest_id, "status": FileStatus.INGESTING.value,
            "started_at": stamp, "updated_at": stamp, **attrs,
        })

    def update_file(self, ingest_id: str, status: FileStatus, **attrs: Any) -> None:
        self.note_file(ingest_id, status=status.value, updated_at=now_iso(), **attrs)

    def note_file(self, ingest_id: str, **attrs: Any) -> None:
        """Set attributes of a file's item without touching its status."""
        names = {f"#{k}": k for k in attrs}
        self.table.update_item(
            Key={"pk": self.file_pk(ingest_id)},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in attrs),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": v for k, v in attrs.items()},
        )

    def get_file(self, ingest_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": self.file_pk(ingest_id)}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def files_with_status(self, status: FileStatus) -> list[dict[str, Any]]:
        found = items(self.table.query, IndexName="by_status", KeyConditionExpression=Key("status").eq(status.value))
        return [_plain(i) for i in found if str(i["pk"]).startswith("FILE#")]

    def all_files(self) -> list[dict[str, Any]]:
        return [_plain(i) for i in items(self.table.scan) if str(i["pk"]).startswith("FILE#")]

    # ---------------------------------------------------------------- reference
    def set_reference_kind(self, kind: str, digest: str, snapshot_key: str) -> dict[str, Any]:
        """Record the newest snapshot of one kind; returns the whole pointer after the update.

        Each kind is its own map entry, so snapshots of different kinds landing at once never
        overwrite each other.
        """
        self.table.update_item(
            Key={"pk": CURRENT_REFERENCE},
            UpdateExpression="SET kinds = if_not_exists(kinds, :empty), #status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":empty": {}, ":status": "reference"},
        )
        result = self.table.update_item(
            Key={"pk": CURRENT_REFERENCE},
            UpdateExpression="SET #kinds.#kind = :value, updated_at = :now",
            ExpressionAttributeNames={"#kinds": "kinds", "#kind": kind},
            ExpressionAttributeValues={":value": {"digest": digest, "key": snapshot_key}, ":now": now_iso()},
            ReturnValues="ALL_NEW",
        )
        return dict(_plain(result["Attributes"]))

    def reference_pointer(self) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": CURRENT_REFERENCE}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def publish_index(self, snapshot_id: str, built_from: dict[str, str]) -> bool:
        """Point at a new index, unless a newer snapshot of any kind arrived while it was built."""
        from botocore.exceptions import ClientError

        condition = " AND ".join(f"#kinds.#k{i}.digest = :d{i}" for i in range(len(built_from)))
        names = {"#kinds": "kinds", **{f"#k{i}": kind for i, kind in enumerate(built_from)}}
        values: dict[str, Any] = {f":d{i}": digest for i, digest in enumerate(built_from.values())}
        values[":sid"] = snapshot_id
        values[":now"] = now_iso()
        try:
            self.table.update_item(
                Key={"pk": CURRENT_REFERENCE},
                UpdateExpression="SET snapshot_id = :sid, index_published_at = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def current_snapshot_id(self) -> str | None:
        pointer = self.reference_pointer()
        return pointer.get("snapshot_id") if pointer else None
