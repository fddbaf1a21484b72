"""Reading every page of a DynamoDB query or scan, and batch reads and writes with what the service leaves
unprocessed sent again (one loop each for every table)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any


def items(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item ``call`` (``table.query`` or ``table.scan``) returns, following LastEvaluatedKey."""
    while True:
        page = call(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


BATCH_GET = 100  # keys per BatchGetItem (the service's limit)
BATCH_WRITE = 25  # items per BatchWriteItem (the service's limit)
BATCH_ATTEMPTS = 8  # calls for one batch while the service leaves part of it unprocessed (throttling)


def backoff(attempt: int) -> float:
    return float(min(0.05 * 2 ** attempt, 2.0))


def batch_get(call: Callable[..., dict[str, Any]], table_name: str,
              keys: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every stored item among ``keys`` (strongly consistent), ``call`` being a service resource's
    ``batch_get_item``: 100 keys a call, unprocessed keys asked again with back-off."""
    for start in range(0, len(keys), BATCH_GET):
        request: dict[str, Any] = {table_name: {"Keys": list(keys[start:start + BATCH_GET]), "ConsistentRead": True}}
        for attempt in range(BATCH_ATTEMPTS):
            response = call(RequestItems=request)
            yield from response.get("Responses", {}).get(table_name, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(backoff(attempt))
        else:
            raise RuntimeError(f"{table_name}: keys still unread after {BATCH_ATTEMPTS} attempts (throttled)")


def batch_put(call: Callable[..., dict[str, Any]], table_name: str, items: Sequence[Mapping[str, Any]]) -> None:
    """Put whole items, ``call`` being a service resource's ``batch_write_item``: 25 a call, unprocessed
    items sent again with back-off."""
    for start in range(0, len(items), BATCH_WRITE):
        request: dict[str, Any] = {table_name: [{"PutRequest": {"Item": dict(i)}} for i in items[start:start + BATCH_WRITE]]}
        for attempt in range(BATCH_ATTEMPTS):
            request = call(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(backoff(attempt))
        else:
            raise RuntimeError(f"{table_name}: items still unwritten after {BATCH_ATTEMPTS} attempts (throttled)")
