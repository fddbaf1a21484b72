"""What one in-process DynamoDB call costs on moto, with the embedded runtime's DynamoDB adapters off and on.

``python -m accesswatch_tools.bench.moto_calls`` prints CPU milliseconds per call (process time, mean over
the calls made, best of two rounds) for put, get, update (SET + ADD + condition), query (a table partition;
an index partition, 20 items a page), batch_write (25 items) and transact (an update and a put) at 1k and
20k items in a table shaped like the template's cases table (``pk``/``sk``, a ``by_status`` index). The table is loaded
through moto's model directly (not timed). Small on purpose: this machine is shared.

``--shapes`` measures instead calls through a boto3 Table resource (as the deployed code makes them) on
items shaped like the real tables': a finding (17 attributes, FindingsTable), a risk ledger (a list of 200
map entries, CasesTable ``RISK#``/``LEDGER``) and a case item (CasesTable ``CASE``): put (conditional, as
``put_if_new`` and ``save_ledger``), get, update (SET + condition), batch_get (100 findings), batch_write
(25 findings) and a query of the ledger's partition.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

REGION = "ap-southeast-2"
TABLE = "cases"
STATUSES = 10


_baseline: list[Any] = []  # the adapters module loaded by --baseline


def _load_baseline(path: str) -> Any:
    """An earlier version of the adapters module (e.g. ``git show <rev>:<path> > file``), loaded under its own name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("accesswatch_baseline_dynamodb_adapters", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



def _adapters(adapted: bool | str) -> Any:
    """The DynamoDB adapters off (False), on (True), or those of --baseline ("baseline"), as a context."""
    from accesswatch_tools.embedded.adapters import dynamodb

    if not adapted:
        return contextlib.nullcontext()
    return (_baseline[0] if adapted == "baseline" else dynamodb).adapted()


@contextlib.contextmanager
def _aws(adapted: bool | str) -> Iterator[None]:
    """moto with the adapters off (False), on (True), or those of --baseline ("baseline")."""
    from moto import mock_aws

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    with mock_aws(), _adapters(adapted):
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


def _finding(number: int) -> dict[str, Any]:
    from decimal import Decimal

    return {
        "finding_id": f"evt-{number:012d}#R{number % 9}", "user_id": f"u{number % 400:05d}",
        "client_id": f"c{number % 5000:07d}", "rule": f"R{number % 9}", "rule_quarter": f"R{number % 9}#2026Q1",
        "occurred_at_utc": f"2026-01-{1 + number % 28:02d}T{number % 24:02d}:{number % 60:02d}:00Z",
        "tier": "accumulate", "score": Decimal("12.5"), "weight": Decimal(str(number % 7 + 0.25)),
        "modifiers": "after_hours,no_case", "snapshot_id": "snap-2026-01-01", "event_id": f"evt-{number:012d}",
        "system": "welfare-core", "action": "view_client", "source_key": f"raw/2026/01/01/part-{number % 50:04d}.gz",
        "detected_at": "2026-01-02T00:00:00Z", "confirmed_snapshot_id": "snap-2026-01-01",
    }


def _ledger(number: int) -> dict[str, Any]:
    from decimal import Decimal

    return {
        "pk": f"RISK#u{number:05d}", "sk": "LEDGER", "user_id": f"u{number:05d}", "version": 1,
        "score": Decimal("41.75"), "newest": "2026-01-28T10:00:00Z", "updated_at": "2026-01-29T00:00:00Z",
        "purge_at": 1790000000,
        "entries": [{"f": f"evt-{number * 1000 + e:012d}#R{e % 9}", "r": f"R{e % 9}", "c": f"c{e * 31 % 5000:07d}",
                     "t": f"2026-01-{1 + e % 28:02d}T{e % 24:02d}:00:00Z", "m": "after_hours" if e % 3 else ""}
                    for e in range(200)],
    }


def _case(number: int) -> dict[str, Any]:
    return {
        "pk": f"CASE#{number:08d}", "sk": "CASE", "case_id": f"{number:08d}", "status": "open",
        "opened_at": "2026-01-29T00:00:00Z", "user_id": f"u{number % 400:05d}", "tier": "accumulate",
        "version": 1, "finding_ids": [f"evt-{number * 10 + f:012d}#R1" for f in range(12)],
        "clients": [f"c{number * 7 + c:07d}" for c in range(6)], "score": 37, "assignee": "",
        "updated_at": "2026-01-29T00:00:00Z", "history_count": 1,
    }


def _load_shapes(resource: Any) -> None:
    from accesswatch_tools.embedded.template import table_definition

    client = resource.meta.client
    client.create_table(**table_definition("FindingsTable", "findings"))
    client.create_table(**table_definition("CasesTable", TABLE))
    findings, cases = resource.Table("findings"), resource.Table(TABLE)
    with findings.batch_writer() as writer:
        for number in range(500):
            writer.put_item(Item=_finding(number))
    for number in range(50):
        cases.put_item(Item=_ledger(number))
        cases.put_item(Item=_case(number))


_fresh = [10**6]  # numbers of findings never written, for puts


def _shaped_calls(resource: Any) -> dict[str, Callable[[int], Any]]:
    findings, cases = resource.Table("findings"), resource.Table(TABLE)

    def new_number() -> int:
        _fresh[0] += 1
        return _fresh[0]

    def ledger_put(i: int) -> Any:
        item = _ledger(i % 50)
        item["version"] = 1  # the condition holds: every put replaces version 1 by version 1
        return cases.put_item(Item=item, ConditionExpression="version = :v", ExpressionAttributeValues={":v": 1})

    shaped: dict[str, Callable[[int], Any]] = {
        "finding put": lambda i: findings.put_item(
            Item=_finding(new_number()), ConditionExpression="attribute_not_exists(finding_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        "finding get": lambda i: findings.get_item(Key={"finding_id": _finding(i % 500)["finding_id"]},
                                                   ConsistentRead=True),
        "finding update": lambda i: findings.update_item(
            Key={"finding_id": _finding(i % 500)["finding_id"]},
            UpdateExpression="SET case_id = :c, routed_at = :t", ConditionExpression="attribute_exists(finding_id)",
            ExpressionAttributeValues={":c": f"{i:08d}", ":t": "2026-01-29T00:00:00Z"}),
        "finding batch_get (100)": lambda i: resource.batch_get_item(RequestItems={"findings": {
            "Keys": [{"finding_id": _finding((i * 100 + k) % 500)["finding_id"]} for k in range(100)]}}),
        "finding batch_write (25)": lambda i: resource.batch_write_item(RequestItems={"findings": [
            {"PutRequest": {"Item": _finding(new_number())}} for _ in range(25)]}),
        "ledger put (200 entries)": ledger_put,
        "ledger get (200 entries)": lambda i: cases.get_item(Key={"pk": f"RISK#u{i % 50:05d}", "sk": "LEDGER"},
                                                             ConsistentRead=True),
        "ledger query (200 entries)": lambda i: cases.query(
            KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": f"RISK#u{i % 50:05d}"}),
        "case put": lambda i: cases.put_item(Item=_case(i % 50)),
        "case get": lambda i: cases.get_item(Key={"pk": f"CASE#{i % 50:08d}", "sk": "CASE"}, ConsistentRead=True),
        "case update": lambda i: cases.update_item(
            Key={"pk": f"CASE#{i % 50:08d}", "sk": "CASE"},
            UpdateExpression="SET #s = :s, updated_at = :t ADD version :one", ConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": "open", ":t": "2026-01-30T00:00:00Z", ":one": 1}),
    }
    return shaped


def measure_shapes(settings: list[tuple[str, bool | str]], calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Milliseconds per call of each real-shaped call, through a boto3 Table resource, per setting (adapters
    off, on, baseline): one moto with the tables loaded once, the settings taking turns (each round in
    another order), the best round of each."""
    import boto3
    from moto import mock_aws

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    best: dict[str, dict[str, float]] = {name: {} for name, _ in settings}
    with mock_aws():
        _load_shapes(boto3.resource("dynamodb", region_name=REGION))
        for round_number in range(rounds):
            shift = round_number % len(settings)
            for name, adapted in settings[shift:] + settings[:shift]:
                with _adapters(adapted):
                    resource = boto3.resource("dynamodb", region_name=REGION)  # a client made under the setting
                    for call_name, call in _shaped_calls(resource).items():
                        call(0)
                        gc.collect()
                        started = time.process_time()
                        for i in range(1, calls + 1):
                            call(i)
                        ms = (time.process_time() - started) / calls * 1000
                        best[name][call_name] = min(ms, best[name].get(call_name, ms))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 20000], help="table sizes")
    parser.add_argument("--calls", type=int, default=10, help="calls per operation, setting and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (off then on); the best round is shown")
    parser.add_argument("--baseline", metavar="FILE",
                        help="also measure this earlier adapters module (git show <rev>:tools/accesswatch_tools/"
                             "embedded/adapters/dynamodb.py > FILE), with --shapes")
    parser.add_argument("--shapes", action="store_true",
                        help="real-shaped items through a Table resource (findings, ledger, case) instead")
    args = parser.parse_args(argv)
    if args.baseline:
        _baseline.append(_load_baseline(args.baseline))
    if args.shapes:
        return _main_shapes(args.calls, args.rounds)
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


def _main_shapes(calls: int, rounds: int) -> int:
    settings: list[tuple[str, bool | str]] = [("off", False), *([("baseline", "baseline")] if _baseline else []),
                                             ("on", True)]
    print(f"CPU ms per call through a boto3 Table resource (process time), mean of {calls} calls, best of "
          f"{rounds} rounds, the settings taking turns; load average {os.getloadavg()[0]:.1f} at start; "
          "adapters off = moto's ordinary path" + ("; baseline = the --baseline adapters" if _baseline else ""))
    best = measure_shapes(settings, calls, rounds)
    ratio = "baseline/on" if _baseline else "off/on"
    print(f"{'call':<28} " + " ".join(f"{name:>9}" for name, _ in settings) + f" {ratio:>12}")
    for call in best["off"]:
        divided = best["baseline" if _baseline else "off"][call] / best["on"][call]
        print(f"{call:<28} " + " ".join(f"{best[name][call]:>9.2f}" for name, _ in settings) + f" {divided:>11.1f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
