"""The findings table: conditional puts (a finding is written once, whatever the retries)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from accesswatch.dal.ledger import _plain, now_iso
from accesswatch.dal.paging import batch_get, batch_put, items


class FindingMarks(Protocol):
    """What routing writes on findings: their case, or the exception that suppressed them; ``flush`` before
    any case's workflow starts."""

    def set_case(self, finding_id: str, case_id: str) -> None: ...

    def set_suppressed(self, finding_id: str, exception_id: str) -> bool: ...

    def flush(self) -> None: ...


class FindingStore:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self._resource = resource or boto3.resource("dynamodb")
        self.table = self._resource.Table(table_name)

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

    def put_all(self, items: list[dict[str, Any]]) -> list[tuple[bool, dict[str, Any]]]:
        """Write each finding unless it exists, in batches; returns (written, the item as stored) per item.
        ``stage`` then ``flush`` at once: for a caller that has nothing to add to the new findings."""
        staged = self.stage(items)
        staged.flush()
        return staged.results

    def stage(self, items: list[dict[str, Any]]) -> StagedFindings:
        """Read which of ``items`` exist (BatchGetItem, 100 keys a call) and hold the new ones, as they will be
        stored, until ``StagedFindings.flush`` writes them (BatchWriteItem, 25 a call): two calls per 25-100
        findings instead of one conditional put each. Routing in between marks staged findings with their case
        (``set_case``) or exception (``set_suppressed``) in memory, so each new finding is written once, whole.

        Not a conditional write: a concurrent writer of the same finding (two detections of one partition at
        once, which the ingest ledger and Step Functions do not start) would put the same content; what it
        could overwrite (``case_id``, ``suppressed_by``) routing sets again on the findings it stores, since a
        finding the case lists already is marked again, not added twice. A finding id repeated within
        ``items`` (an event_id reused with other content in one partition) is written once; the repeat is
        reported as existing, so that the caller can keep it under its conflict id."""
        ids = list(dict.fromkeys(str(i["finding_id"]) for i in items))
        existing = self.get_many(ids)
        now = now_iso()
        staged = StagedFindings(self)
        for item in items:
            finding_id = str(item["finding_id"])
            old = existing.get(finding_id)
            if old is None:
                stored = {**item, "detected_at": now, "confirmed_snapshot_id": item["snapshot_id"]}
                existing[finding_id] = stored
                staged.pending[finding_id] = stored
                staged.results.append((True, stored))
            else:
                staged.results.append((False, self._confirmed(old, item)))
        return staged

    def _confirmed(self, existing: dict[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        """An existing finding raised again: against newer reference data (a replay) it records that, and
        changes nothing else."""
        if existing.get("confirmed_snapshot_id", existing.get("snapshot_id")) != item["snapshot_id"]:
            self.table.update_item(Key={"finding_id": item["finding_id"]},
                                   UpdateExpression="SET confirmed_snapshot_id = :s, confirmed_at = :t",
                                   ExpressionAttributeValues={":s": item["snapshot_id"], ":t": now_iso()})
            existing = {**existing, "confirmed_snapshot_id": item["snapshot_id"]}
        return existing

    def get_many(self, finding_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored findings among ``finding_ids`` (strongly consistent), by id."""
        keys = [{"finding_id": i} for i in finding_ids]
        return {str(item["finding_id"]): _plain(item)
                for item in batch_get(functools.partial(self._resource_call, "batch_get_item"), self.table.name, keys)}

    def write_many(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Put whole items in batches of 25 (BatchWriteItem), retrying what the service leaves unprocessed."""
        batch_put(functools.partial(self._resource_call, "batch_write_item"), self.table.name, items)

    def _resource_call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """A batch call through the service resource (Python values in and out, as the Table's calls)."""
        return dict(getattr(self._resource, operation)(**kwargs))

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

    def flush(self) -> None:
        """Nothing is held: every mark above is written at once."""

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

    def scan(self, *, first_day: str | None = None, last_day: str | None = None) -> Iterator[dict[str, Any]]:
        """Every finding, or those whose New Zealand date of access (``nz_date``, ``YYYY-MM-DD``) is within
        ``first_day..last_day`` (inclusive, either open): still a whole-table scan, filtered by the service so
        that only the chosen findings are sent back."""
        kwargs: dict[str, Any] = {}
        day = Attr("nz_date")
        if first_day and last_day:
            kwargs["FilterExpression"] = day.between(first_day, last_day)
        elif first_day:
            kwargs["FilterExpression"] = day.gte(first_day)
        elif last_day:
            kwargs["FilterExpression"] = day.lte(last_day)
        for item in items(self.table.scan, **kwargs):
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


@dataclass
class StagedFindings:
    """One detection's findings between ``FindingStore.stage`` and ``flush``: ``results`` is (written, the
    item as stored) per staged item, in order; ``pending`` the new findings, by id, not yet written. The
    router marks findings through it (``set_case``, ``set_suppressed``): a pending finding is marked in
    memory and written once, whole; any other goes to the table at once."""

    store: FindingStore
    results: list[tuple[bool, dict[str, Any]]] = field(default_factory=list)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set_case(self, finding_id: str, case_id: str) -> None:
        if finding_id in self.pending:
            self.pending[finding_id]["case_id"] = case_id
        else:
            self.store.set_case(finding_id, case_id)

    def set_suppressed(self, finding_id: str, exception_id: str) -> bool:
        pending = self.pending.get(finding_id)
        if pending is None:
            return self.store.set_suppressed(finding_id, exception_id)
        if pending.get("case_id") or pending.get("suppressed_by"):
            return False
        pending.update(suppressed_by=exception_id, suppressed_at=now_iso())
        return True

    def flush(self) -> None:
        """Write the pending findings (with their marks) and forget them."""
        self.store.write_many(list(self.pending.values()))
        self.pending.clear()
