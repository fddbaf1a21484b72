"""What one in-process DynamoDB call costs on moto, with the embedded runtime's DynamoDB adapters off and on.

``python -m accesswatch_tools.bench.moto_calls`` prints CPU milliseconds per call (process time, mean over
the calls made, best of two rounds) for put, get, update (SET + ADD + condition), query (a table partition;
an index partition, 20 items a page), batch_write (25 items) and transact (an update and a put) at 1k and
20k items in a table shaped like the template's cases table (``pk``/``sk``, a ``by_status`` index). The table is loaded
through moto's model directly (not timed). Small on purpose: this machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

REGION = "ap-southeast-2"
TABLE = "cases"
STATUSES = 10


@contextlib.contextmanager
def _aws(adapted: bool) -> Iterator[None]:
    from moto import mock_aws

    from accesswatch_tools.embedded.adapters import dynamodb

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    with mock_aws(), (dynamodb.adapted() if adapted else contextlib.nullcontext()):
        yield


def _item(number: int) -> dict[str, Any]:
    case = number // 5
    item: dict[str, Any] = {
        "pk": {"S": f"CASE#{case:06d}"},
        "sk": {"S": "CASE" if number % 5 == 0 else f"HIST#{number % 5}"},
        "note": {"S": "x" * 40}, "count": {"N": "1"}, "flag": {"BOOL": True}, "blob": {"B": b"\x00\x01"},
    }
    if number % 5 == 0:
        item["status"] = {"S": f"status-{case % STATUSES}"}
        item["opened_at"] = {"S": f"2026-01-{1 + case % 28:02d}T{case % 24:02d}:00:00Z"}
    return item


def _load(client: Any, items: int) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from accesswatch_tools.embedded.template import table_definition

    client.create_table(**table_definition("CasesTable", TABLE))
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(TABLE)
    for number in range(items):
        table.put_item(_item(number))


def _calls(client: Any, items: int) -> dict[str, Callable[[int], Any]]:
    cases = items // 5
    fresh = [items * 10]  # keys never loaded, for puts and transactions

    def new_number() -> int:
        fresh[0] += 1
        return fresh[0]

    def key(i: int) -> dict[str, Any]:
        return {"pk": {"S": f"CASE#{(i * 7919) % cases:06d}"}, "sk": {"S": "CASE"}}

    return {
        "put": lambda i: client.put_item(TableName=TABLE, Item=_item(new_number())),
        "get": lambda i: client.get_item(TableName=TABLE, Key=key(i)),
        "update": lambda i: client.update_item(
            TableName=TABLE, Key=key(i), UpdateExpression="SET note = :n ADD #c :one",
            ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":n": {"S": "y" * 40}, ":one": {"N": "1"}}),
        "query table": lambda i: client.query(
            TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": key(i)["pk"]}),
        "query index": lambda i: client.query(
            TableName=TABLE, IndexName="by_status", Limit=20, KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": f"status-{i % STATUSES}"}}),
        "batch_write (25)": lambda i: client.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": _item(new_number())}} for _ in range(25)]}),
        "transact (2)": lambda i: client.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key(i), "UpdateExpression": "ADD #c :one",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": TABLE, "Item": _item(new_number() * 5 + 1)}}]),
    }


def measure(items: int, adapted: bool, calls: int) -> dict[str, float]:
    """Milliseconds per call of each operation, on a table of ``items`` items."""
    import boto3

    with _aws(adapted):
        client = boto3.client("dynamodb", region_name=REGION)
        _load(client, items)
        results: dict[str, float] = {}
        for name, call in _calls(client, items).items():
            call(0)  # warm: parsers, caches, index maps
            started = time.process_time()
            for i in range(1, calls + 1):
                call(i)
            results[name] = (time.process_time() - started) / calls * 1000
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 20000], help="table sizes")
    parser.add_argument("--calls", type=int, default=10, help="calls per operation, setting and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (off then on); the best round is shown")
    args = parser.parse_args(argv)
    print(f"CPU ms per call (process time: the machine is shared), mean of {args.calls} calls, best of "
          f"{args.rounds} rounds; adapters off = moto's ordinary path")
    print(f"{'call':<18} {'items':>6} {'off':>9} {'on':>9} {'off/on':>7}")
    for items in args.items:
        off: dict[str, float] = {}
        on: dict[str, float] = {}
        for _ in range(args.rounds):
            for best, adapted in ((off, False), (on, True)):
                for name, ms in measure(items, adapted=adapted, calls=args.calls).items():
                    best[name] = min(ms, best.get(name, ms))
        for name in off:
            print(f"{name:<18} {items:>6} {off[name]:>9.2f} {on[name]:>9.2f} {off[name] / on[name]:>6.1f}x")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
