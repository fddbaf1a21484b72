"""Reading every page of a DynamoDB query or scan (one loop for every table)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def items(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item ``call`` (``table.query`` or ``table.scan``) returns, following LastEvaluatedKey."""
    while True:
        page = call(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
