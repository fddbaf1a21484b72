"""The per-user risk ledger, the case queue, the daily case budget and the weekly random-review draws.

All in the cases table (keys ``pk`` / ``sk``):

- ``RISK#<user>`` / ``LEDGER``: the user's accumulate-tier findings that are in no case yet, as a list of
  entries ``{f: finding_id, r: rule, c: client_id, t: occurred_at_utc, m: modifiers}`` (scored when read,
  with the weights then in force), and a ``version`` that orders concurrent writers;
- ``QUEUE`` / ``<user>``: the user's score crossed the threshold; the case waits for the budget;
- ``BUDGET`` / ``<NZ date>``: how many accumulate-tier cases opened that day (``opened``);
- ``REVIEW`` / ``<ISO week>``: the users drawn for that week's random review.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from accesswatch.dal.cases import PURGE_AT, CaseStore, ConcurrentUpdate, _conditional_failed, decimal
from accesswatch.dal.ledger import _plain, now_iso
from accesswatch.dal.paging import items

# A user's risk ledger that nothing has written for this long expires (the cases table's TTL on ``purge_at``):
# its entries are far outside any scoring window (CaseWindowDays is at most 90), so it holds nothing that
# still counts, only who once had findings (IPP 9). Counted from the last write, not from the entries'
# event times, so that a backfill of old logs keeps its ledgers while it runs.
LEDGER_IDLE_DAYS = 120


@dataclass
class RiskLedger:
    user_id: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    version: int | None = None  # None: not stored yet

    def finding_ids(self) -> set[str]:
        return {str(e["f"]) for e in self.entries}


def ledger_entry(finding: Mapping[str, Any]) -> dict[str, Any]:
    return {"f": str(finding["finding_id"]), "r": str(finding["rule"]), "c": str(finding.get("client_id") or ""),
            "t": str(finding["occurred_at_utc"]), "m": str(finding.get("modifiers") or "")}


def entry_as_finding(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger entry in the shape ``scoring.score_finding`` reads."""
    return {"finding_id": entry["f"], "rule": entry["r"], "client_id": entry["c"],
            "occurred_at_utc": entry["t"], "modifiers": entry.get("m", "")}


class RiskStore:
    def __init__(self, cases: CaseStore) -> None:
        self.table = cases.table

    # ------------------------------------------------------------------ ledger
    @staticmethod
    def ledger_key(user_id: str) -> dict[str, str]:
        return {"pk": f"RISK#{user_id}", "sk": "LEDGER"}

    def ledger(self, user_id: str) -> RiskLedger:
        item = self.table.get_item(Key=self.ledger_key(user_id), ConsistentRead=True).get("Item")
        return self.ledger_of(user_id, _plain(item) if item else None)

    @staticmethod
    def ledger_of(user_id: str, item: Mapping[str, Any] | None) -> RiskLedger:
        """The ledger an item read holds (None: the user has none yet)."""
        if not item:
            return RiskLedger(user_id)
        return RiskLedger(user_id, list(item.get("entries") or []), int(item["version"]))

    def save_ledger(self, ledger: RiskLedger, *, score: float, newest: str) -> None:
        """Write the ledger at the version read (ConcurrentUpdate if another writer came first)."""
        item = {**self.ledger_key(ledger.user_id), "user_id": ledger.user_id, "entries": ledger.entries,
                "version": (ledger.version or 0) + 1, "score": decimal(score), "newest": newest,
                "updated_at": now_iso(), PURGE_AT: int(time.time()) + LEDGER_IDLE_DAYS * 86400}
        condition = "attribute_not_exists(pk)" if ledger.version is None else "version = :v"
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
        if ledger.version is not None:
            kwargs["ExpressionAttributeValues"] = {":v": ledger.version}
        try:
            self.table.put_item(**kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate(f"ledger of {ledger.user_id}") from None
            raise
        ledger.version = (ledger.version or 0) + 1

    def ledgers(self) -> Iterator[RiskLedger]:
        """Every user's ledger (a scan: the weekly draw and the digest)."""
        for item in items(self.table.scan, FilterExpression="sk = :s AND begins_with(pk, :p)",
                          ExpressionAttributeValues={":s": "LEDGER", ":p": "RISK#"}):
            item = _plain(item)
            yield RiskLedger(str(item["user_id"]), list(item.get("entries") or []), int(item["version"]))

    # ------------------------------------------------------------------ queue
    def enqueue(self, user_id: str, score: float, window_end: datetime, findings: int) -> None:
        """Queue (or re-score) the user for an accumulate-tier case; keeps when it first queued."""
        self.table.update_item(
            Key={"pk": "QUEUE", "sk": user_id},
            UpdateExpression="SET user_id = :u, score = :s, window_end = :w, findings = :n, updated_at = :now, "
                             "queued_at = if_not_exists(queued_at, :now)",
            ExpressionAttributeValues={":u": user_id, ":s": decimal(score), ":w": window_end.isoformat(),
                                       ":n": findings, ":now": now_iso()},
        )

    def queued(self) -> list[dict[str, Any]]:
        """Queued users, highest score first (then the longest waiting)."""
        rows = [_plain(i) for i in items(self.table.query, KeyConditionExpression=Key("pk").eq("QUEUE"),
                                         ConsistentRead=True)]
        return sorted(rows, key=lambda r: (-float(r.get("score", 0)), str(r.get("queued_at", "")), r["sk"]))

    def dequeue(self, user_id: str) -> None:
        self.table.delete_item(Key={"pk": "QUEUE", "sk": user_id})

    # ------------------------------------------------------------------ budget
    def give_back_budget(self, day: str) -> None:
        """Undo ``take_budget`` when the case could not be opened after all."""
        try:
            self.table.update_item(Key={"pk": "BUDGET", "sk": day}, UpdateExpression="ADD opened :minus",
                                   ConditionExpression="opened > :zero",
                                   ExpressionAttributeValues={":minus": -1, ":zero": 0})
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def take_budget(self, day: str, cap: int) -> bool:
        """One more accumulate-tier case for the NZ day ``day``, if fewer than ``cap`` opened yet."""
        if cap <= 0:
            return False
        try:
            self.table.update_item(
                Key={"pk": "BUDGET", "sk": day}, UpdateExpression="ADD opened :one SET updated_at = :now",
                ConditionExpression="attribute_not_exists(opened) OR opened < :cap",
                ExpressionAttributeValues={":one": 1, ":cap": cap, ":now": now_iso()})
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def budget_used(self, day: str) -> int:
        item = self.table.get_item(Key={"pk": "BUDGET", "sk": day}, ConsistentRead=True).get("Item")
        return int(item.get("opened", 0)) if item else 0

    # ------------------------------------------------------------------ random review draws
    def record_draw(self, week: str, users: Iterable[str], candidates: int, seed: str) -> dict[str, Any] | None:
        """Record the week's draw once; returns the earlier draw if the week was drawn already."""
        item = {"pk": "REVIEW", "sk": week, "users": sorted(users), "candidates": candidates, "seed": seed,
                "drawn_at": now_iso(), "status": "drawing"}
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _conditional_failed(exc):
                return self.draw(week)
            raise
        return None

    def finish_draw(self, week: str) -> None:
        """Every drawn user has their review case: the week is done."""
        self.table.update_item(Key={"pk": "REVIEW", "sk": week}, UpdateExpression="SET #s = :done, done_at = :now",
                               ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues={":done": "done", ":now": now_iso()})

    def draw(self, week: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": "REVIEW", "sk": week}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None
